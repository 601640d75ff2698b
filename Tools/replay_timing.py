#!/usr/bin/env python3
"""How closely `stoa replay --speed X` keeps the original pace, measured from
the outside: the real binary as a child process, each output line timed as
it arrives on a pipe.

    python3 Tools/replay_timing.py [--stoa PATH] [--records N] [--speeds 1,10,100]
        [--max-gap-ms G] [--seed S] [--kind foreign|store]

It writes N records whose gaps are drawn from what an agent's log shows
(mostly 1–50 ms, some 100 ms–2 s pauses), into a directory of JSONL logs (or
a store, with `stoa append`), then for each speed runs `stoa replay DIR
--speed X` and compares:

- gap error: each actual gap between two consecutive lines against the
  original gap / X (positive: late);
- schedule error: each line's arrival since the first line against the
  original offset / X (the drift that accumulates, if any).

It prints the median, p99 and max of the absolute errors in milliseconds,
and the total time against the expected total. The first line's arrival
includes starting the process and is not counted. Standard library only.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def make_gaps(rng, count):
    gaps = []
    for _ in range(count - 1):
        roll = rng.random()
        if roll < 0.85:
            gaps.append(rng.randrange(1_000, 50_000))  # µs: tool calls, deltas
        elif roll < 0.97:
            gaps.append(rng.randrange(50_000, 200_000))
        else:
            gaps.append(rng.randrange(200_000, 2_000_000))  # a user thinking
    return gaps


def write_records(directory, kind, stoa, times):
    lines = ['{"ts": %d.%06d, "type": "tick", "n": %d}' % (*divmod(t, 1_000_000), n) for n, t in enumerate(times)]
    text = "\n".join(lines) + "\n"
    if kind == "foreign":
        os.makedirs(directory)
        with open(os.path.join(directory, "events.jsonl"), "w") as file:
            file.write(text)
    else:
        subprocess.run([stoa, "append", directory], input=text.encode(), check=True, capture_output=True)


def measure(stoa, directory, speed, times, max_gap, environment):
    command = [stoa, "replay", directory, "--speed", str(speed)]
    if max_gap is not None:
        command += ["--max-gap", "%dms" % max_gap]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
    arrivals = []
    for line in process.stdout:
        arrivals.append(time.monotonic())
        record = json.loads(line)
        assert record["n"] == len(arrivals) - 1, "out of order: %r" % line
    process.wait()
    if process.returncode != 0 or len(arrivals) != len(times):
        sys.exit("stoa replay failed (%d lines): %s" % (len(arrivals), process.stderr.read().decode()))
    original = [b - a for a, b in zip(times, times[1:])]
    if max_gap is not None:
        original = [min(g, max_gap * 1000) for g in original]
    expected_gaps = [g / speed / 1000 for g in original]  # ms
    actual_gaps = [(b - a) * 1000 for a, b in zip(arrivals, arrivals[1:])]
    gap_errors = [a - e for a, e in zip(actual_gaps, expected_gaps)]
    expected_offsets, offset = [], 0.0
    for gap in expected_gaps:
        offset += gap
        expected_offsets.append(offset)
    actual_offsets = [(a - arrivals[0]) * 1000 for a in arrivals[1:]]
    schedule_errors = [a - e for a, e in zip(actual_offsets, expected_offsets)]
    return gap_errors, schedule_errors, expected_offsets[-1], actual_offsets[-1]


def summary(label, errors):
    absolute = [abs(e) for e in errors]
    return "%s |err| median %.3f ms, p99 %.3f ms, max %.3f ms (mean signed %+.3f ms)" % (
        label, statistics.median(absolute), percentile(absolute, 0.99), max(absolute), statistics.mean(errors))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stoa", default=os.path.join(ROOT, ".build/release/stoa"))
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--speeds", default="1,10,100")
    parser.add_argument("--max-gap-ms", type=int, help="pass --max-gap to stoa replay")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kind", choices=["foreign", "store"], default="foreign")
    options = parser.parse_args()
    if not os.access(options.stoa, os.X_OK):
        sys.exit("no stoa binary at %s (build it, or give --stoa)" % options.stoa)

    rng = random.Random(options.seed)
    start = 1795168800_000000
    times = [start]
    for gap in make_gaps(rng, options.records):
        times.append(times[-1] + gap)
    span = (times[-1] - times[0]) / 1e6
    print("$ python3 Tools/replay_timing.py " + " ".join(sys.argv[1:]))
    print("%d records, %.1f s of original time, %s; nproc %d, load %.2f" % (
        options.records, span, options.kind, os.cpu_count(), os.getloadavg()[0]))
    with tempfile.TemporaryDirectory() as scratch:
        directory = os.path.join(scratch, "logs")
        write_records(directory, options.kind, options.stoa, times)
        environment = dict(os.environ, STOA_CACHE_DIR=os.path.join(scratch, "cache"))
        for speed in [float(s) for s in options.speeds.split(",")]:
            gaps, schedule, expected, actual = measure(
                options.stoa, directory, speed, times, options.max_gap_ms, environment)
            print("--speed %g: total %.1f ms (expected %.1f ms)" % (speed, actual, expected))
            print("  " + summary("gap     ", gaps))
            print("  " + summary("schedule", schedule))


if __name__ == "__main__":
    main()
