#!/usr/bin/env python3
"""Crash matrix: real `stoa` processes killed with SIGKILL at random points
of every phase of a store's life, with `stoa tail -f` followers and `stoa
query` processes racing them, and the store checked after every trial.

    python3 Tools/crash_matrix.py --stoa .build/debug/stoa --trials 520 --seed 1
    python3 Tools/crash_matrix.py --stoa PATH --phase warm --trial-seed S   # replay one trial
    python3 Tools/crash_matrix.py --stoa PATH --phase append-always --trials 1 --plant drop-acked

Phases (`--phase`, repeatable; default all):

  append-always, append-interval, append-none
      `stoa append --durability D --print-seqs`, fed records through a pipe
      in random chunks, killed after a random delay, right after its k-th
      acknowledgement, or not at all; one to three lives per store.
  rotation        4 KiB segments: also killed when a `*.tmp` (an .idx or
                  HIGHWATER being published) or a new segment appears.
  idx-checkpoint  killed while closing (the active segment's checkpoint, the
                  last .idx, HIGHWATER), when an `.idx` temporary appears,
                  and `stoa reindex` killed as it rewrites every .idx.
  highwater       many short lives on 4 KiB segments, killed as they close or
                  when `HIGHWATER`'s temporary appears.
  warm            hot_for 0 (the writer compresses in the background), or
                  `stoa tier --now` (ages judged days ahead) killed mid-way.
  cold-link       as warm, and on to archive/ (a hard link).
  cold-copy       as warm, and on to an archive_path on /dev/shm (another
                  file system: a synced copy).
  retention       max_bytes (the writer deletes the oldest) or retain_for
                  and `stoa tier --now`: a prefix of the seqs goes.
  backup          `stoa backup` killed at random while a writer appends, then
                  a backup run to its end.
  recovery        a large active segment left by a killed writer, with a
                  torn tail (and sometimes a damaged line) planted after it;
                  writers (`append`, `tier`, `reindex`) killed while they
                  open and recover it, again and again.

In every phase one `stoa tail -f` follower runs from the start of the trial,
and a thread runs `stoa query` (all records, one type, or newest first) and
`stoa tail -n` over and over while the lives run.

Checked after every trial (each failure is a violation, with the trial's
seed; the store is kept under --keep):

  - every record `stoa append` acknowledged (`--print-seqs`) is in the store
    at its seq, byte for byte (SIGKILL keeps the page cache, so this holds
    for `interval` and `none` too; what a power cut may lose is the
    power-loss model's job, not this harness's), except seqs below the oldest
    kept segment in the retention phase;
  - a reader before any repair serves only whole records, each one that was
    sent, none twice, and every acknowledged one;
  - seqs are contiguous (read from the files directly: segment name + line
    number, .jsonl, .jsonl.gz and the archive) and no record is stored twice;
  - a writer opened afterwards gives its first record a seq above every one
    acknowledged and every one stored;
  - `stoa query` afterwards serves exactly the lines the files hold, and
    `stoa verify` exits 0;
  - the follower never crashes (SIGTERM ends it with whole lines), and
    prints every record once, in seq order, up to the last one (seqs that
    retention expired excepted), and never names a missing seq;
  - every racing query exits 0 (1 only where damage was planted, and then it
    names it), never prints a partial or unknown line or a record twice, and
    prints every record acknowledged before it started;
  - backup: a killed backup holds records identical to the store's at the
    same seqs, opens and verifies; a completed one holds exactly the store;
  - recovery: the planted torn bytes are in quarantine/ exactly once.

`--plant drop-acked` (cut the last acknowledged record out of its segment)
and `--plant corrupt-acked` (change one byte of one) make violations on
purpose: the harness must report them and exit 1.

Prints a table per phase: trials, kills, records acknowledged, how many of
them survived, expired (retention), records followers delivered, racing
queries, violations; exit 0 only when there are none. Standard library only.
"""

import argparse
import gzip
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib

PHASES = [
    "append-always", "append-interval", "append-none", "rotation", "idx-checkpoint", "highwater",
    "warm", "cold-link", "cold-copy", "retention", "backup", "recovery",
]
SEGMENT_NAME = re.compile(r"^(\d{20})\.jsonl(\.gz)?$")
TIER_PHASES = {"warm", "cold-link", "cold-copy", "retention"}
DAY = 86400


def record_bytes(n, life, rng):
    """A compact record: stored exactly as sent (it has a time and no spaces)."""
    micros = 1_796_000_000_000_000 + n * 1000
    seconds, fraction = divmod(micros, 1_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%06dZ" % fraction
    pad = "x" * rng.randint(0, 300)
    return ('{"ts":"%s","type":"t%d","n":%d,"life":%d,"pad":"%s"}' % (stamp, n % 4, n, life, pad)).encode()


class Violation(Exception):
    pass


LIVE = set()  # child processes that may still run, killed if the harness is stopped
LIVE_LOCK = threading.Lock()


def spawn(command, **options):
    process = subprocess.Popen(command, **options)
    with LIVE_LOCK:
        LIVE.add(process)
    return process


def kill_children():
    with LIVE_LOCK:
        for process in LIVE:
            if process.poll() is None:
                try:
                    os.kill(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        LIVE.clear()


class Collector:
    """Reads a pipe to its end on a thread."""

    def __init__(self, stream):
        self.data = bytearray()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                return
            with self.lock:
                self.data += chunk

    def value(self):
        with self.lock:
            return bytes(self.data)

    def finish(self, timeout=30):
        self.thread.join(timeout)
        return self.value()


class Trial:
    def __init__(self, harness, phase, trial_seed, directory):
        self.h = harness
        self.stoa = harness.stoa
        self.phase = phase
        self.seed = trial_seed
        self.rng = random.Random(trial_seed)
        self.dir = directory
        self.store = os.path.join(directory, "store")
        self.archive = None
        self.lock = threading.Lock()
        self.sent = {}  # n -> bytes
        self.acked = {}  # n -> seq
        self.acked_seqs = {}  # seq -> n
        self.next_n = 0
        self.kills = 0
        self.moment_kills = 0
        self.moments_seen = {}
        self.violations = []
        self.queries = 0
        self.followed = 0
        self.allow_damage = False
        self.allow_expiry = phase == "retention"
        self.planted = None
        self.stop_racing = threading.Event()

    # -- bookkeeping

    def violation(self, text):
        with self.lock:
            if len(self.violations) < 50:
                self.violations.append(text)

    def new_record(self, life, rng):
        with self.lock:
            n = self.next_n
            self.next_n += 1
        line = record_bytes(n, life, rng)
        with self.lock:
            self.sent[n] = line
        return n, line

    def run(self, command, timeout=120, input=None):
        try:
            return subprocess.run(
                [self.stoa] + command, input=input, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.violation("hung: stoa %s (over %d s)" % (" ".join(command), timeout))
            return None

    # -- processes and kills

    def watch_and_kill(self, process, pattern, directories, deadline, why):
        """Kills `process` the moment a name matching `pattern` is seen in
        one of `directories` (polled), or at `deadline`."""
        regex = re.compile(pattern)

        def watch():
            while process.poll() is None:
                for directory in directories:
                    try:
                        names = os.listdir(directory)
                    except OSError:
                        continue
                    if any(regex.search(name) for name in names):
                        self.kill(process, moment=why)
                        return
                if time.monotonic() > deadline:
                    self.kill(process)
                    return
                time.sleep(0.0003)

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        return thread

    def kill(self, process, moment=None):
        """Sends SIGKILL once; `moment` names an observed moment (counted
        when the kill lands on a live process)."""
        if process.poll() is not None or getattr(process, "kill_sent", None) is not None:
            return False
        process.kill_sent = moment or "delay"
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True

    def finish_process(self, process, name, stderr, killed_ok=True):
        try:
            process.wait(timeout=180)
        except subprocess.TimeoutExpired:
            self.kill(process)
            process.wait()
            self.violation("hung: %s" % name)
            return False
        code = process.returncode
        if code == -signal.SIGKILL and killed_ok:
            moment = getattr(process, "kill_sent", None)
            with self.lock:
                self.kills += 1
                if moment != "delay":
                    self.moment_kills += 1
                    self.moments_seen[moment] = self.moments_seen.get(moment, 0) + 1
            return True
        if code != 0:
            self.violation("%s exited %d: %s" % (name, code, stderr.finish()[-600:].decode(errors="replace")))
        return False

    def writer_life(self, life, durability, plan, count):
        """One `stoa append --print-seqs` process, fed `count` records and
        killed as `plan` says. Records what it acknowledged."""
        rng = random.Random(self.rng.getrandbits(64))
        process = spawn(
            [self.stoa, "append", self.store, "--print-seqs", "--durability", durability],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stderr = Collector(process.stderr)
        line_ns = []
        fed_all = threading.Event()
        acks = [0]
        kind = plan[0]

        def feed():
            try:
                done = 0
                while done < count and process.poll() is None:
                    chunk = []
                    for _ in range(min(count - done, rng.randint(1, 40))):
                        n, line = self.new_record(life, rng)
                        line_ns.append(n)
                        chunk.append(line + b"\n")
                    done += len(chunk)
                    process.stdin.write(b"".join(chunk))
                    process.stdin.flush()
                    if rng.random() < 0.5:
                        time.sleep(rng.random() * 0.003)
                process.stdin.close()
                fed_all.set()
            except (BrokenPipeError, OSError, ValueError):
                pass

        def acknowledge():
            while True:
                line = process.stdout.readline()
                if not line.endswith(b"\n"):
                    return  # end, or a line the kill cut
                try:
                    seq, number = (int(part) for part in line.split())
                    n = line_ns[number - 1]
                except (ValueError, IndexError):
                    self.violation("life %d: unreadable acknowledgement %r" % (life, line))
                    continue
                with self.lock:
                    if n in self.acked:
                        self.violation("record %d acknowledged twice (seq %d and %d)" % (n, self.acked[n], seq))
                    if seq in self.acked_seqs:
                        self.violation("seq %d acknowledged twice (records %d and %d)" % (seq, self.acked_seqs[seq], n))
                    self.acked[n] = seq
                    self.acked_seqs[seq] = n
                acks[0] += 1
                if kind == "acks" and acks[0] >= plan[1]:
                    self.kill(process, moment="acknowledgement")

        threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=acknowledge, daemon=True)]
        for thread in threads:
            thread.start()
        if kind == "delay":
            time.sleep(plan[1])
            self.kill(process)
        elif kind == "close":
            fed_all.wait(120)
            time.sleep(plan[1])
            self.kill(process, moment="closing")
        elif kind == "watch":
            self.watch_and_kill(process, plan[1], plan[2], time.monotonic() + 30, "file " + plan[1])
        killed = self.finish_process(process, "stoa append (life %d)" % life, stderr)
        for thread in threads:
            thread.join(30)
        if not killed and process.returncode == 0 and acks[0] != count:
            self.violation("life %d: stoa append ended 0 but acknowledged %d of %d records" % (life, acks[0], count))
        return killed

    def tool_life(self, command, plan):
        """`stoa COMMAND…` killed as `plan` says (a delay, or a name seen)."""
        process = spawn([self.stoa] + command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdout, stderr = Collector(process.stdout), Collector(process.stderr)
        if plan[0] == "delay":
            time.sleep(plan[1])
            self.kill(process)
        elif plan[0] == "watch":
            self.watch_and_kill(process, plan[1], plan[2], time.monotonic() + 30, "file " + plan[1])
        killed = self.finish_process(process, "stoa " + " ".join(command[:1]), stderr)
        stdout.finish()
        return killed

    # -- racing readers

    def start_follower(self):
        process = spawn(
            [self.stoa, "tail", self.store, "-f", "-n", "100000000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return process, Collector(process.stdout), Collector(process.stderr)

    def race_queries(self, seed):
        rng = random.Random(seed)
        while not self.stop_racing.is_set():
            with self.lock:
                acked = dict(self.acked)
            variant = rng.randrange(4)
            if variant == 0:
                command, kind = ["query", self.store, "--type", "t%d" % rng.randrange(4)], "type"
            elif variant == 1:
                command, kind = ["query", self.store, "--reverse"], "all"
            elif variant == 2:
                command, kind = ["tail", self.store, "-n", str(rng.randint(1, 50))], "tail"
            else:
                command, kind = ["query", self.store], "all"
            result = self.run(command)
            if result is None:
                continue
            with self.lock:
                self.queries += 1
            self.check_output(result, "racing stoa %s" % " ".join(command[:1] + command[2:]), acked, kind, command)
            self.stop_racing.wait(rng.random() * 0.05)

    def check_output(self, result, name, acked, kind, command):
        """A reading command's output: whole lines, each a record that was
        sent (or a tombstone where damage is allowed), none twice, and every
        acknowledged record (of the type asked for)."""
        if result.returncode < 0:
            self.violation("%s crashed by signal %d: %s" % (name, -result.returncode, result.stderr[-600:]))
            return None
        if result.returncode != 0 and not (self.allow_damage and result.returncode == 1):
            self.violation("%s exited %d: %s" % (name, result.returncode, result.stderr[-600:]))
            return None
        out = result.stdout
        if out and not out.endswith(b"\n"):
            self.violation("%s: output ends inside a line: %r" % (name, out[-80:]))
        seen = set()
        for line in out.split(b"\n")[:-1] if out else []:
            n = self.identify(line, name)
            if n is None:
                continue
            if n in seen:
                self.violation("%s: record %d served twice" % (name, n))
            seen.add(n)
        if kind in ("all", "type"):
            wanted = {n for n in acked if kind == "all" or "t%d" % (n % 4) == command[3]}
            missing = sorted(acked[n] for n in wanted - seen)
            if missing:
                present = [acked[n] for n in wanted & seen]
                if not (self.allow_expiry and (not present or missing[-1] < min(present))):
                    self.violation("%s: %d acknowledged records missing (seqs %s…)" % (name, len(missing), missing[:5]))
        return seen

    @staticmethod
    def is_json_object(line):
        try:
            return isinstance(json.loads(line), dict)
        except ValueError:
            return False

    def identify(self, line, name):
        """The record number of a served line (None for a tombstone); a
        line that is not a record that was sent is a violation."""
        try:
            value = json.loads(line)
        except ValueError:
            self.violation("%s: served a line that is not JSON: %r" % (name, line[:120]))
            return None
        if not isinstance(value, dict):
            self.violation("%s: served a non-object: %r" % (name, line[:120]))
            return None
        if value.get("type") == "stoa.damaged":
            return None
        n = value.get("n")
        with self.lock:
            expected = self.sent.get(n) if isinstance(n, int) else None
        if expected != line:
            self.violation("%s: served a line that was never sent as it is: %r" % (name, line[:120]))
            return None
        return n

    # -- reading the files directly

    def read_files(self, store, archive=None):
        """seq -> line bytes, from the segment files themselves (base seq in
        the name, line numbers), in segments/ and the archive."""
        lines = {}
        places = {}
        folders = [os.path.join(store, "segments"), archive or os.path.join(store, "archive")]
        for folder in folders:
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                continue
            for name in names:
                match = SEGMENT_NAME.match(name)
                if not match:
                    continue
                path = os.path.join(folder, name)
                with open(path, "rb") as file:
                    data = file.read()
                if match.group(2):
                    try:
                        data = gzip.decompress(data)
                    except (OSError, EOFError, zlib.error) as error:
                        self.violation("%s: cannot be decompressed: %s" % (path, error))
                        continue
                base = int(match.group(1))
                segment = data.split(b"\n")
                if segment[-1] != b"":
                    segment.pop()  # an unfinished last line: not a record
                else:
                    segment.pop()
                if base in places:
                    earlier = places[base]
                    if earlier[1] != segment[: len(earlier[1])] and segment != earlier[1][: len(segment)]:
                        self.violation("segment %d is in %s and %s with other records" % (base, earlier[0], path))
                    if len(segment) <= len(earlier[1]):
                        continue
                places[base] = (path, segment)
        for base, (path, segment) in places.items():
            for number, line in enumerate(segment):
                seq = base + number
                if seq in lines:
                    self.violation("seq %d is in two segments (%s)" % (seq, path))
                lines[seq] = line
        return lines

    def check_files(self, lines, name):
        """Contiguous seqs, whole valid lines, no record twice; returns n -> seq."""
        where = {}
        if not lines:
            return where
        low, high = min(lines), max(lines)
        gaps = [seq for seq in range(low, high + 1) if seq not in lines]
        if gaps:
            self.violation("%s: seqs missing between %d and %d: %s…" % (name, low, high, gaps[:5]))
        for seq in sorted(lines):
            n = self.identify(lines[seq], "%s seq %d" % (name, seq))
            if n is None:
                continue
            if n in where:
                self.violation("%s: record %d stored twice (seq %d and %d)" % (name, n, where[n], seq))
            where[n] = seq
        return where

    # -- the checks after a trial

    def plant(self):
        """Makes a violation on purpose (--plant): the harness must see it."""
        if not self.acked:
            return
        lines = self.read_files(self.store, self.archive)
        seq = max(self.acked_seqs)
        folder = os.path.join(self.store, "segments")
        for name in sorted(os.listdir(folder), reverse=True):
            match = SEGMENT_NAME.match(name)
            if match and not match.group(2) and int(match.group(1)) <= seq:
                path = os.path.join(folder, name)
                with open(path, "rb") as file:
                    data = file.read()
                offset = sum(len(lines[s]) + 1 for s in range(int(match.group(1)), seq))
                if self.h.plant == "drop-acked":
                    data = data[:offset]
                else:
                    at = offset + len(lines[seq]) - 4
                    data = data[:at] + (b"y" if data[at:at + 1] != b"y" else b"z") + data[at + 1:]
                with open(path, "wb") as file:
                    file.write(data)
                self.planted = self.h.plant
                return

    def final_check(self, follower):
        if self.h.plant:
            self.plant()
        with self.lock:
            acked = dict(self.acked)
        # A reader first, before any writer repairs what the kills left.
        before = self.run(["query", self.store])
        if before is not None:
            self.check_output(before, "stoa query before repair", acked, "all", None)
        # A writer next: recovery, and a seq above every one handed out.
        stored_before = self.read_files(self.store, self.archive)
        n, marker = self.new_record(99, self.rng)
        result = self.run(["append", self.store, "--print-seqs"], input=marker + b"\n")
        marker_seq = None
        if result is None or result.returncode != 0:
            self.violation("reopening: stoa append exited %s: %s" % (
                result and result.returncode, result and result.stderr[-600:]))
        else:
            try:
                marker_seq = int(result.stdout.split()[0])
            except (ValueError, IndexError):
                self.violation("reopening: no seq printed: %r" % result.stdout)
        # A damaged line past the last record is a torn write, cut by recovery: its seq was never handed out.
        records_before = [seq for seq, line in stored_before.items() if self.is_json_object(line)]
        ceiling = max(list(acked.values()) + records_before, default=-1)
        if marker_seq is not None:
            if marker_seq <= ceiling:
                self.violation("seq reused: the next append got seq %d, but seq %d was acknowledged or stored" % (
                    marker_seq, ceiling))
            with self.lock:
                self.acked[n] = marker_seq
            acked[n] = marker_seq
        lines = self.read_files(self.store, self.archive)
        where = self.check_files(lines, "files")
        low = min(lines) if lines else 0
        survived = expired = 0
        for number, seq in sorted(acked.items(), key=lambda item: item[1]):
            if where.get(number) == seq:
                survived += 1
            elif self.allow_expiry and number not in where and seq < low:
                expired += 1
            else:
                self.violation("acknowledged record %d (seq %d) is %s" % (
                    number, seq, "at seq %d" % where[number] if number in where else "missing"))
        if marker_seq is not None and (not lines or max(lines) != marker_seq):
            self.violation("the record appended last (seq %d) is not the store's last (%s)" % (
                marker_seq, max(lines) if lines else None))
        # A reader after: exactly the lines the files hold.
        after = self.run(["query", self.store])
        if after is not None:
            if after.returncode != 0:
                self.violation("stoa query after repair exited %d: %s" % (after.returncode, after.stderr[-600:]))
            elif sorted(after.stdout.split(b"\n")[:-1]) != sorted(lines.values()):
                self.violation("stoa query after repair serves %d lines, the files hold %d" % (
                    len(after.stdout.split(b"\n")) - 1, len(lines)))
        verify = self.run(["verify", self.store])
        if verify is not None and verify.returncode != 0:
            self.violation("stoa verify exited %d: %s %s" % (
                verify.returncode, verify.stdout[-600:], verify.stderr[-400:]))
        if follower:
            self.check_follower(follower, where, n, low)
        return survived, expired

    def check_follower(self, follower, where, marker, low):
        process, stdout, stderr = follower
        deadline = time.monotonic() + self.h.follower_wait
        needle = b'"n":%d,' % marker
        while needle not in stdout.value() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill(process)
            process.wait()
            self.violation("the follower did not stop on SIGTERM")
        out, err = stdout.finish(), stderr.finish()
        with open(os.path.join(self.dir, "follower.out"), "wb") as file:
            file.write(out)
        with open(os.path.join(self.dir, "follower.err"), "wb") as file:
            file.write(err)
        if process.returncode not in (0, -signal.SIGTERM):
            self.violation("the follower ended with %d: %s" % (process.returncode, err[-600:]))
        if needle not in out:
            self.violation("the follower did not deliver the last record within %g s" % self.h.follower_wait)
        # Damage planted on purpose may be named (its seq is cut and given to a new record, which must come);
        # anything else named is a loss.
        named = [line for line in err.split(b"\n") if b"skipped" in line or b"missing" in line]
        if named and not (self.allow_damage and all(b"skipped damaged line" in line for line in named)):
            self.violation("the follower named losses: %s" % b"\n".join(named)[-600:])
        if out and not out.endswith(b"\n"):
            self.violation("the follower's output ends inside a line")
        seqs = []
        for line in out.split(b"\n")[:-1] if out else []:
            n = self.identify(line, "the follower")
            if n is not None:
                if n not in where:
                    if not self.allow_expiry:
                        self.violation("the follower printed record %d, which the store does not hold" % n)
                    continue
                seqs.append(where[n])
        with self.lock:
            self.followed += len(seqs)
        for earlier, later in zip(seqs, seqs[1:]):
            if later <= earlier:
                self.violation("the follower printed seq %d after seq %d" % (later, earlier))
                break
        if seqs and where and not self.allow_expiry and seqs[0] != min(where.values()):
            self.violation("the follower started at seq %d, the store's first is %d" % (seqs[0], min(where.values())))
        if seqs:
            kept = {seq for seq in where.values() if seqs[0] <= seq <= seqs[-1]}
            missed = sorted(kept - set(seqs))
            if missed:
                self.violation("the follower missed %d records (seqs %s…)" % (len(missed), missed[:5]))

    # -- phases

    def configure(self):
        phase, rng = self.phase, self.rng
        options = []
        self.tier_by_command = False
        if phase in ("rotation", "highwater", "backup") or phase in TIER_PHASES:
            options += ["--segment-bytes", "4KiB"]
        elif phase == "idx-checkpoint":
            options += ["--segment-bytes", rng.choice(["4KiB", "16KiB", "64MiB"])]
        if phase in TIER_PHASES:
            self.tier_by_command = rng.random() < 0.5
            age = "1h" if self.tier_by_command else "0s"
            if phase == "warm":
                options += ["--hot-for", age]
            elif phase in ("cold-link", "cold-copy"):
                options += ["--hot-for", age, "--warm-for", age]
            else:
                if self.tier_by_command:
                    options += ["--retain-for", "1h"]
                else:
                    options += ["--max-bytes", "24KiB"]
                if rng.random() < 0.5:
                    options += ["--hot-for", age]
            if phase == "cold-copy":
                self.archive = tempfile.mkdtemp(prefix="stoa-crash-archive-", dir="/dev/shm")
                options += ["--archive-path", self.archive]
        if phase == "append-interval":
            options += ["--fsync-interval", rng.choice(["10ms", "100ms"])]
        result = self.run(["init", self.store] + options)
        if result is None or result.returncode != 0:
            raise Violation("stoa init %s failed: %s" % (options, result and result.stderr))

    def durability(self):
        if self.phase.startswith("append-"):
            return self.phase[len("append-"):]
        return self.rng.choice(["always", "interval", "none"])

    def writer_plan(self):
        rng, phase = self.rng, self.phase
        choices = ["delay", "acks", "acks", "none"]
        segments = os.path.join(self.store, "segments")
        if phase in ("rotation", "highwater", "idx-checkpoint") or phase in TIER_PHASES:
            choices += ["watch", "watch"]
        if phase in ("idx-checkpoint", "highwater"):
            choices += ["close", "close"]
        kind = rng.choice(choices)
        if kind == "delay":
            return ("delay", rng.random() * 0.8)
        if kind == "acks":
            return ("acks", rng.randint(1, 300))
        if kind == "close":
            return ("close", rng.random() * 0.05)
        if kind == "watch":
            patterns = {
                "rotation": [r"\.tmp$", r"^\d{20}\.idx$"],
                "highwater": [r"^HIGHWATER\..*tmp$", r"\.tmp$"],
                "idx-checkpoint": [r"\.idx.*\.tmp$", r"\.tmp$"],
            }.get(phase, [r"\.gz.*\.tmp$", r"\.tmp$", r"\.jsonl\.gz$"])
            folders = [self.store, segments, self.archive or os.path.join(self.store, "archive")]
            return ("watch", rng.choice(patterns), folders)
        return ("none",)

    def lives(self):
        rng, phase = self.rng, self.phase
        if phase == "highwater":
            count = rng.randint(3, 7)
        elif phase == "recovery":
            count = rng.randint(2, 5)
        elif phase == "backup":
            count = rng.randint(2, 3)
        else:
            count = rng.randint(1, 3)
        for life in range(count):
            self.life(life)

    def records_per_life(self):
        if self.phase == "highwater":
            return self.rng.randint(5, 80)
        return self.rng.randint(50, 300 if self.h.quick else 1500)

    def life(self, life):
        rng, phase = self.rng, self.phase
        segments = os.path.join(self.store, "segments")
        if phase == "idx-checkpoint" and life > 0 and rng.random() < 0.4:
            plan = rng.choice([("delay", rng.random() * 0.3), ("watch", r"\.idx.*\.tmp$", [segments])])
            self.tool_life(["reindex", self.store], plan)
            return
        if phase in TIER_PHASES and self.tier_by_command and life > 0 and rng.random() < 0.5:
            ahead = int(time.time()) + 3 * DAY
            folders = [segments, self.archive or os.path.join(self.store, "archive")]
            plan = rng.choice([("delay", rng.random() * 0.3), ("watch", r"\.tmp$", folders)])
            self.tool_life(["tier", self.store, "--now", "@%d" % ahead], plan)
            return
        if phase == "recovery":
            command = rng.choice([["tier", self.store], ["reindex", self.store], ["append", self.store]])
            plan = rng.choice([
                ("delay", rng.random() * 0.25),
                ("watch", r"\.(bad|json)$", [os.path.join(self.store, "quarantine")]),
            ])
            if command[0] == "append":
                self.writer_life(life, self.durability(), plan, rng.randint(1, 50))
            else:
                self.tool_life(command, plan)
            return
        if phase == "backup" and life > 0:
            self.backup_during_life(life)
            return
        plan = self.writer_plan()
        if self.h.plant and life == 0:
            plan = ("acks", rng.randint(1, 300))  # something acknowledged, to take away
        self.writer_life(life, self.durability(), plan, self.records_per_life())

    def backup_during_life(self, life):
        rng = self.rng
        destination = os.path.join(self.dir, "backup")
        plan = rng.choice([("delay", rng.random() * 0.4), ("watch", r"\.tmp$", [
            os.path.join(destination, "segments"), destination])])
        started = rng.random() * 0.2

        def backup():
            time.sleep(started)
            self.tool_life(["backup", self.store, destination], plan)

        thread = threading.Thread(target=backup, daemon=True)
        thread.start()
        self.writer_life(life, self.durability(), self.writer_plan(), self.records_per_life())
        thread.join(240)

    def check_backup(self):
        destination = os.path.join(self.dir, "backup")
        source = self.read_files(self.store, self.archive)
        if os.path.exists(os.path.join(destination, "stoa.json")):
            copy = self.read_files(destination)
            for seq, line in copy.items():
                if source.get(seq) != line:
                    self.violation("backup: seq %d differs from the store's" % seq)
                    break
            if copy and min(copy) != 0:
                self.violation("backup: starts at seq %d, not at the store's first" % min(copy))
            for command in (["query", destination], ["verify", destination]):
                result = self.run(command)
                if result is not None and result.returncode != 0:
                    self.violation("backup: stoa %s on a killed backup exited %d: %s" % (
                        command[0], result.returncode, result.stderr[-600:]))
        result = self.run(["backup", self.store, destination])
        if result is None or result.returncode != 0:
            self.violation("backup to the end exited %s: %s" % (result and result.returncode, result and result.stderr[-600:]))
            return
        copy = self.read_files(destination)
        if copy != source:
            differ = sorted(set(copy) ^ set(source))[:5] or [s for s in source if copy.get(s) != source[s]][:5]
            self.violation("backup: a completed backup differs from the store (seqs %s)" % differ)
        verify = self.run(["verify", destination])
        if verify is not None and verify.returncode != 0:
            self.violation("backup: stoa verify exited %d: %s" % (verify.returncode, verify.stdout[-600:]))

    def prepare_recovery(self):
        """A large active segment left by a killed writer, and a torn tail
        planted after it (sometimes a damaged whole line before that)."""
        preload = 3000 if self.h.quick else 20000
        self.writer_life(0, "none", ("acks", self.rng.randint(preload // 7, preload * 3 // 5)), preload)
        segments = os.path.join(self.store, "segments")
        active = max(name for name in os.listdir(segments) if SEGMENT_NAME.match(name))
        token = "%016x" % self.rng.getrandbits(64)
        torn = b'{"ts":"2026-12-07T00:00:00Z","type":"torn","planted":"%s","pad":"' % token.encode()
        torn += b"z" * self.rng.randint(0, 200)
        with open(os.path.join(segments, active), "rb") as file:
            ends_whole = file.read().endswith(b"\n") or os.path.getsize(os.path.join(segments, active)) == 0
        planted = b"" if ends_whole else b"\n"
        if self.rng.random() < 0.4:
            planted += b'{"damaged": tru\n'
            self.allow_damage = True
        planted += torn
        with open(os.path.join(segments, active), "ab") as file:
            file.write(planted)
        self.torn_token = token.encode()

    def check_quarantine(self):
        folder = os.path.join(self.store, "quarantine")
        found = 0
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            if name.endswith(".bad"):
                with open(os.path.join(folder, name), "rb") as file:
                    found += file.read().count(self.torn_token)
        if found != 1:
            self.violation("recovery: the planted torn tail is in quarantine/ %d times, not once" % found)

    def execute(self):
        self.configure()
        if self.phase == "recovery":
            self.prepare_recovery()
        follower = self.start_follower()
        racer = threading.Thread(target=self.race_queries, args=(self.rng.getrandbits(64),), daemon=True)
        racer.start()
        try:
            self.lives()
        finally:
            self.stop_racing.set()
            racer.join(180)
        survived, expired = self.final_check(follower)
        if self.phase == "backup":
            self.check_backup()
        if self.phase == "recovery":
            self.check_quarantine()
        return survived, expired


class Harness:
    def __init__(self, arguments):
        self.stoa = os.path.abspath(arguments.stoa)
        self.plant = arguments.plant
        self.keep = os.path.abspath(arguments.keep)
        self.quiet = arguments.quiet
        self.quick = arguments.quick
        self.follower_wait = arguments.follower_wait

    def trial(self, phase, trial_seed, work):
        directory = tempfile.mkdtemp(prefix="%s-" % phase, dir=work)
        trial = Trial(self, phase, trial_seed, directory)
        survived = expired = 0
        try:
            survived, expired = trial.execute()
        except Violation as error:
            trial.violation(str(error))
        except Exception as error:  # a harness failure is a failed trial too, never a pass
            trial.violation("harness error: %r" % error)
        kept = None
        if trial.violations:
            kept = os.path.join(self.keep, os.path.basename(directory))
            os.makedirs(self.keep, exist_ok=True)
            shutil.copytree(directory, kept, symlinks=True, dirs_exist_ok=True)
            if trial.archive:
                shutil.copytree(trial.archive, kept + "/archive-path", dirs_exist_ok=True)
        shutil.rmtree(directory, ignore_errors=True)
        if trial.archive:
            shutil.rmtree(trial.archive, ignore_errors=True)
        return trial, survived, expired, kept


def trial_seeds(seed, phase, count):
    rng = random.Random("%d:%s" % (seed, phase))
    return [rng.getrandbits(63) for _ in range(count)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stoa", required=True, help="the stoa executable")
    parser.add_argument("--trials", type=int, default=len(PHASES), help="trials in all, shared out over the phases")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--phase", action="append", choices=PHASES, help="only this phase (repeatable)")
    parser.add_argument("--trial-seed", type=int, help="run one trial of --phase with this seed")
    parser.add_argument("--plant", choices=["drop-acked", "corrupt-acked"], help="make a violation on purpose")
    parser.add_argument("--keep", default="crash-matrix-failures", help="where failed trials' stores are copied")
    parser.add_argument("--work", default=None, help="where trials run (default: a temporary directory)")
    parser.add_argument("--quiet", action="store_true", help="no line per trial")
    parser.add_argument("--quick", action="store_true", help="fewer records per trial (the slice `swift test` runs)")
    parser.add_argument("--follower-wait", type=float, default=60, help="seconds a follower has to deliver the last record")
    arguments = parser.parse_args()
    phases = arguments.phase or PHASES
    harness = Harness(arguments)
    work = tempfile.mkdtemp(prefix="stoa-crash-matrix-", dir=arguments.work)
    if arguments.trial_seed is not None:
        if len(phases) != 1:
            parser.error("--trial-seed needs one --phase")
        plan = [(phases[0], [arguments.trial_seed])]
    else:
        plan = []
        for index, phase in enumerate(phases):
            count = arguments.trials // len(phases) + (1 if index < arguments.trials % len(phases) else 0)
            plan.append((phase, trial_seeds(arguments.seed, phase, count)))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        run_plan(harness, plan, work)
    finally:
        kill_children()
        shutil.rmtree(work, ignore_errors=True)


def run_plan(harness, plan, work):
    print("# %s" % " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]), flush=True)
    rows = []
    failures = []
    started = time.monotonic()
    for phase, seeds in plan:
        row = {"phase": phase, "trials": 0, "kills": 0, "moments": 0, "acked": 0, "survived": 0, "expired": 0,
               "followed": 0, "queries": 0, "violations": 0, "seconds": 0.0}
        phase_started = time.monotonic()
        for trial_seed in seeds:
            trial, survived, expired, kept = harness.trial(phase, trial_seed, work)
            row["trials"] += 1
            row["kills"] += trial.kills
            row["moments"] += trial.moment_kills
            row["acked"] += len(trial.acked)
            row["survived"] += survived
            row["expired"] += expired
            row["followed"] += trial.followed
            row["queries"] += trial.queries
            row["violations"] += len(trial.violations)
            if trial.violations:
                failures.append((phase, trial_seed, kept, trial.violations))
                print("VIOLATION %s --trial-seed %d (store kept in %s):" % (phase, trial_seed, kept), flush=True)
                for text in trial.violations[:10]:
                    print("  - %s" % text, flush=True)
            elif not harness.quiet:
                print("ok %s seed %d: %d kills %s, %d acked, %d survived, %d expired, %d queries" % (
                    phase, trial_seed, trial.kills, trial.moments_seen or "", len(trial.acked), survived, expired,
                    trial.queries), flush=True)
        row["seconds"] = time.monotonic() - phase_started
        rows.append(row)
    total = time.monotonic() - started
    columns = ["phase", "trials", "kills", "moments", "acked", "survived", "expired", "followed", "queries",
               "violations", "seconds"]
    print()
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    sums = {column: sum(row[column] for row in rows) for column in columns[1:]}
    for row in rows + [dict(sums, phase="all")]:
        print("| " + " | ".join(
            ("%.0f" % row[c]) if c == "seconds" else str(row[c]) for c in columns) + " |")
    print("\nwall time %.0f s; kills: SIGKILLs that landed on a live process (moments: of them, at an "
          "observed moment: an acknowledgement, a temporary file, a quarantine file)" % total)
    if failures:
        print("\n%d trials with violations; replay one with --phase PHASE --trial-seed SEED" % len(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
