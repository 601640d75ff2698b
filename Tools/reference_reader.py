#!/usr/bin/env python3
"""The plain reader Stoa is measured against: what a script over a folder of
JSONL logs does without any index.

It globs the JSONL files (sorted by name), json.loads every line, skips the
lines that are not JSON objects, parses each record's time, keeps those in
the window (and of the type / conversation asked for), sorts them by time and
prints a summary as one JSON object on stdout:

    {"count": N, "bytes": B, "fields": F, "hash": H, "bad": K, "seqs": [...]}

`bytes` is the sum of the kept lines' lengths (without their newline);
`fields` the sum of the UTF-8 lengths of their types and conversations;
`hash` is FNV-1a (64-bit) over the kept records' seqs in order, the same as
stoa-bench computes for every system, so a different order or a different set
shows up; `seqs` is there only when count <= --seqs-max. A record's seq is
what Stoa gives it: the file's base seq (its name, for Stoa segments) plus its
line number; ties in time keep that order.

    python3 Tools/reference_reader.py STORE/segments [--since US] [--until US]
        [--type T] [--conversation C] [--limit N] [--seqs-max K]

Times are microseconds since the epoch (UTC); the window is [since, until).
Standard library only.
"""

import argparse
import glob
import gzip
import json
import os
import sys
from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_MICROSECOND = timedelta(microseconds=1)
TIME_FIELDS = ("ts", "timestamp", "time", "@timestamp")
TYPE_FIELDS = ("type", "event_type", "event", "kind")
CONVERSATION_FIELDS = ("session", "session_id", "conversation_id", "thread_id")
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK = 0xFFFFFFFFFFFFFFFF


def first_present(record, fields):
    for field in fields:
        if field in record:
            return record[field]
    return None


def micros(value):
    """A record's time in µs (UTC), or None when it has none we can read."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return (moment - EPOCH) // ONE_MICROSECOND
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        magnitude = abs(value)
        if magnitude >= 1e17:
            return int(value // 1000)  # ns
        if magnitude >= 1e14:
            return int(value)  # µs
        if magnitude >= 1e11:
            return int(value * 1000)  # ms
        return int(value * 1_000_000)  # s
    return None


def base_seq(path):
    name = os.path.basename(path).split(".")[0]
    return int(name) if name.isdigit() else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory")
    parser.add_argument("--since", type=int)
    parser.add_argument("--until", type=int)
    parser.add_argument("--type")
    parser.add_argument("--conversation")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--seqs-max", type=int, default=1000)
    options = parser.parse_args()

    paths = sorted(glob.glob(os.path.join(options.directory, "*.jsonl"))
                   + glob.glob(os.path.join(options.directory, "*.jsonl.gz")))
    since, until = options.since, options.until
    kept = []  # (time, seq, line)
    bad = 0
    next_seq = 0
    for path in paths:
        seq = base_seq(path) if base_seq(path) or next_seq == 0 else next_seq
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as file:
            for line in file:
                this_seq = seq
                seq += 1
                if line.endswith(b"\n"):
                    line = line[:-1]
                try:
                    record = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                if not isinstance(record, dict):
                    bad += 1
                    continue
                time = micros(first_present(record, TIME_FIELDS))
                if time is None:
                    bad += 1
                    continue
                if since is not None and time < since:
                    continue
                if until is not None and time >= until:
                    continue
                if options.type is not None and first_present(record, TYPE_FIELDS) != options.type:
                    continue
                if options.conversation is not None and \
                        first_present(record, CONVERSATION_FIELDS) != options.conversation:
                    continue
                kind = first_present(record, TYPE_FIELDS)
                conversation = first_present(record, CONVERSATION_FIELDS)
                fields = (len(kind.encode()) if isinstance(kind, str) else 0) + \
                    (len(conversation.encode()) if isinstance(conversation, str) else 0)
                kept.append((time, this_seq, line, fields))
        next_seq = seq

    kept.sort(key=lambda entry: (entry[0], entry[1]))
    if options.limit is not None:
        kept = kept[:options.limit]

    digest = FNV_OFFSET
    size = 0
    field_bytes = 0
    for _, seq, line, fields in kept:
        digest = ((digest ^ seq) * FNV_PRIME) & MASK
        size += len(line)
        field_bytes += fields
    summary = {"count": len(kept), "bytes": size, "fields": field_bytes, "hash": digest, "bad": bad}
    if len(kept) <= options.seqs_max:
        summary["seqs"] = [seq for _, seq, _, _ in kept]
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
