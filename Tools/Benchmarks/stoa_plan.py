#!/usr/bin/env python3
"""The query plan `stoa-bench query` gives its Stoa child, for timing Stoa alone.

    python3 Tools/Benchmarks/stoa_plan.py DATA-DIR [full]
    stoa-bench _queries stoa DATA-DIR/stoa "$(python3 Tools/Benchmarks/stoa_plan.py DATA-DIR)"

DATA-DIR is a directory `stoa-bench query --keep` wrote (it reads its
setup.json). The queries are the benchmark's: open, a narrow (0.1%) and a
medium (10%) window, type=error limit 100, the middle record's
conversation; with `full`, the full scan instead. The child prints its
measurements as JSON.
"""
import json
import sys

if len(sys.argv) < 2:
    sys.exit(__doc__.strip())
setup = json.load(open(sys.argv[1] + "/setup.json"))
low, high = setup["minTime"], setup["maxTime"]
span = high - low


def at(percent):
    return low + int(span * percent / 100)


narrow = max(span // 1000, 1)


def query(name, reps=21, budget=5.0, **fields):
    return dict(name=name, maxReps=reps, budget=budget, **fields)


if len(sys.argv) > 2 and sys.argv[2] == "full":
    plan = {"queries": [query("full", reps=3, budget=30)], "seqsMax": 0}
else:
    plan = {
        "queries": [
            query("narrow", since=at(40), until=at(40) + narrow),
            query("medium", since=at(45), until=at(45) + max(span // 10, 1), reps=7, budget=15),
            query("type", type="error", limit=100),
            query("conversation", conversation=setup["middleConversation"]),
        ],
        "open": query("open", since=at(40), until=at(40) + narrow, reps=11),
        "openSecond": query("open-second", since=at(60), until=at(60) + narrow, reps=1, budget=0),
        "seqsMax": 0,
    }
print(json.dumps(plan))
