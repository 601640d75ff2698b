#!/usr/bin/env python3
"""Writes a directory of JSONL logs as agents' Python code leaves them, large
enough that Stoa's foreign reader indexes each file in many ~64 KiB blocks and
reads only some of them: for comparing `stoa query DIR` with
Tools/foreign_reference.py on more than the small fixtures.

    python3 Tools/make_agent_logs.py DIR [--records N] [--seed S]

Files (N records each, seeded, so the same arguments give the same bytes):

| file | how its records look |
|---|---|
| conversations_a.jsonl | `json.dumps` style, `timestamp` with `Z`, `type` or `event` |
| realtime_b.jsonl | CRLF line ends, `timestamp` with `+00:00` |
| decisions_c.jsonl | structlog: `timestamp` without a zone, `event`; no final newline |
| metrics_d.jsonl.gz | `ts` as epoch seconds with 6 decimals, gzip (Python's) |
| pylog_e.jsonl | python-json-logger: `time` as `2026-11-20 10:00:00,123` |

About 3% of the records come late (up to 5 s behind their neighbours, as
from a second writer or a skewed clock), and about 1% of the lines are not
records (a bare value, a blank line, broken JSON). Standard library only.
"""

import argparse
import datetime
import gzip
import os
import random

TYPES = ["user_message", "assistant_message", "tool_call", "tool_result", "error", "llm_request"]
START = 1795168800_000000  # 2026-11-20T10:00:00Z, in µs


def text_time(micros, zone, comma=False):
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=micros)
    if comma:
        return moment.strftime("%Y-%m-%d %H:%M:%S") + ",%03d" % (moment.microsecond // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + zone


def record(rng, micros, number, style):
    if style == "z":
        time = '"timestamp": "%s"' % text_time(micros, "Z")
    elif style == "offset":
        time = '"timestamp": "%s"' % text_time(micros, "+00:00")
    elif style == "no-zone":
        time = '"timestamp": "%s"' % text_time(micros, "")
    elif style == "epoch":
        time = '"ts": %d.%06d' % divmod(micros, 1_000_000)
    else:
        time = '"time": "%s"' % text_time(micros, "", comma=True)
    key = "type" if rng.random() < 0.7 else "event"
    return '{%s, "%s": "%s", "session_id": "conv-%d", "n": %d, "text": "%s"}' % (
        time, key, rng.choice(TYPES), rng.randrange(40), number, "x" * rng.randrange(20, 400))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory")
    parser.add_argument("--records", type=int, default=2000, help="records per file (default 2000)")
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
    os.makedirs(options.directory, exist_ok=True)
    rng = random.Random(options.seed)
    files = {
        "conversations_a.jsonl": "z",
        "realtime_b.jsonl": "offset",
        "decisions_c.jsonl": "no-zone",
        "metrics_d.jsonl.gz": "epoch",
        "pylog_e.jsonl": "comma",
    }
    for name, style in files.items():
        micros = START
        lines = []
        for number in range(options.records):
            micros += rng.randrange(0, 20000)
            late = rng.random() < 0.03
            lines.append(record(rng, micros - rng.randrange(0, 5_000_000) if late else micros, number, style))
            if rng.random() < 0.01:
                lines.append(rng.choice(["42", "null", "[1]", "", "{broken", '"x"']))
        text = "\n".join(lines) + ("" if style == "no-zone" else "\n")
        if style == "offset":
            text = text.replace("\n", "\r\n")
        path = os.path.join(options.directory, name)
        data = text.encode("utf-8")
        with open(path, "wb") as file:
            file.write(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)


if __name__ == "__main__":
    main()
