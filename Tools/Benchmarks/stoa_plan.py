#!/usr/bin/env python3
"""The query plan `stoa-bench query` gives its Stoa child, for timing Stoa alone.

    python3 Tools/Benchmarks/stoa_plan.py DATA-DIR [full] [--reps N]
    stoa-bench _queries stoa DATA-DIR/stoa "$(python3 Tools/Benchmarks/stoa_plan.py DATA-DIR)"

DATA-DIR is a directory `stoa-bench query --keep` wrote (it reads its
setup.json). The queries are the benchmark's: open, a narrow (0.1%) and a
medium (10%) window, type=error limit 100, the middle record's
conversation; with `full`, the full scan instead. With `--reps N`, each
query (but open) runs N times instead of the benchmark's 21 (7 for the
medium window, 3 for the full scan), for medians of warm runs. The child
prints its measurements as JSON.
"""
import json
import sys

arguments = sys.argv[1:]
reps = None
if "--reps" in arguments:
    at_flag = arguments.index("--reps")
    reps = int(arguments[at_flag + 1])
    del arguments[at_flag:at_flag + 2]
if len(arguments) < 1:
    sys.exit(__doc__.strip())
setup = json.load(open(arguments[0] + "/setup.json"))
low, high = setup["minTime"], setup["maxTime"]
span = high - low


def at(percent):
    return low + int(span * percent / 100)


narrow = max(span // 1000, 1)


def query(name, reps=21, budget=5.0, **fields):
    if reps_override is not None and name not in ("open", "open-second"):
        reps, budget = reps_override, max(budget, 10.0)
    return dict(name=name, maxReps=reps, budget=budget, **fields)


reps_override = reps
if len(arguments) > 1 and arguments[1] == "full":
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
