#!/usr/bin/env python3
"""An independent reference for `stoa query DIR` on a directory of JSONL logs
that Stoa does not own (DESIGN §7): written from the design's words, in
Python's standard library only, sharing no code with Stoa.

    python3 Tools/foreign_reference.py DIR [--since T] [--until T] [--type T]...
        [--conversation C] [--grep TEXT] [--limit N] [--reverse] [--describe | --batch]
        [--time-fields A,B] [--type-fields A,B] [--conversation-fields A,B]

It prints what `stoa query DIR` with the same options must print on stdout:
the matching records, one compact line each, sorted by (time, seq) (newest
first with --reverse). With --describe it prints one JSON object instead:

    {"records": [{"seq": S, "time": US, "type": T, "conversation": C}, ...],
     "skipped": [{"file": NAME, "line": N, "reason": R}, ...]}

(every record of the directory, sorted, without the query's filters), which
a test uses to pick windows whose edges fall exactly on records.

The rules, as DESIGN §3 and §7 state them:

- Files: every regular `*.jsonl` and `*.jsonl.gz` directly in DIR, not hidden,
  in the byte order of their names. A `.gz` may hold several gzip members;
  what inflates before damage is read, and the damage counts as one more
  skipped line after the file's lines.
- Lines: split at `\\n`; a last line without `\\n` counts as a line. A UTF-8
  byte order mark at the start of a file is ignored. A line is a record when
  it is valid UTF-8 and exactly one JSON object (RFC 8259: no NaN, no control
  characters in strings, no lone surrogates; whitespace around it, `\\r`
  included, allowed) with a readable time. Everything else is skipped.
- Time: the first present top-level key among `ts`, `timestamp`, `time`,
  `@timestamp` (or --time-fields), in that order of preference (a key
  repeated in the object counts at its first occurrence). Text: `YYYY-MM-DD`, or that with `T`, `t`
  or a space and `HH:MM[:SS[(.|,)F+]]`, then `Z`, `z`, `±HH`, `±HHMM`,
  `±HH:MM` or nothing (UTC); fractions truncated to µs. Numbers: epoch
  seconds, ms, µs or ns by the magnitude of their integer part (< 1e11, < 1e14,
  < 1e17, else), converted exactly and truncated toward zero to µs. Any other
  value, or text that is not such a time, is unreadable: the line is skipped.
- Type: the first of `type`, `event_type`, `event`, `kind` whose value is a
  string; else the empty type. Conversation: the first of `session`,
  `session_id`, `conversation_id`, `thread_id` whose value is a string or a
  number (the number's text).
- seq: the line's position in the directory: lines of the files before it
  (skipped ones included) plus its line number - 1.
- Output: the line with whitespace outside strings removed.
- Query: [since, until), types (any of), conversation, grep (a substring of
  the output line), limit, reverse (sorted by (time, seq) descending).
  --since / --until take the same time text as records, or @EPOCH (a number
  read as a record's numeric time is).
"""

import argparse
import json
import os
import re
import stat
import sys
import zlib
from datetime import date
from decimal import Decimal, ROUND_DOWN

TIME_FIELDS = ("ts", "timestamp", "time", "@timestamp")
TYPE_FIELDS = ("type", "event_type", "event", "kind")
CONVERSATION_FIELDS = ("session", "session_id", "conversation_id", "thread_id")

TIME_TEXT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?"
    r"(Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?",
    re.ASCII,
)
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class Number:
    """A JSON number, kept as its text."""

    def __init__(self, text):
        self.text = text


def parse_time_text(text):
    match = TIME_TEXT.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        days = date(int(year), int(month), int(day)).toordinal() - EPOCH_ORDINAL
    except ValueError:
        return None
    hour, minute, second = int(hour or 0), int(minute or 0), int(second or 0)
    if hour > 23 or minute > 59 or second > 60:
        return None
    offset = 0
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        zone_hours, zone_minutes = int(digits[:2]), int(digits[2:] or 0)
        if zone_hours > 23 or zone_minutes > 59:
            return None
        offset = (zone_hours * 60 + zone_minutes) * 60 * (-1 if zone[0] == "-" else 1)
    micros = int(((fraction or "") + "000000")[:6])
    return (days * 86400 + hour * 3600 + minute * 60 + second - offset) * 1_000_000 + micros


def parse_time_number(text):
    value = Decimal(text)
    if value == 0:
        return 0
    magnitude = abs(value)
    if magnitude < Decimal(10) ** 11:
        scale = Decimal(1_000_000)
    elif magnitude < Decimal(10) ** 14:
        scale = Decimal(1000)
    elif magnitude < Decimal(10) ** 17:
        scale = Decimal(1)
    else:
        scale = Decimal(1) / Decimal(1000)
    result = int((value * scale).to_integral_value(rounding=ROUND_DOWN))
    if not -(2**63) <= result < 2**63:
        return None
    return result


def has_surrogate(value):
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(has_surrogate(item) for item in value)
    if isinstance(value, tuple):  # an object's (key, value) pairs
        return any(has_surrogate(k) or has_surrogate(v) for k, v in value)
    return False


def reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def compact(text):
    """`text` without whitespace outside strings."""
    out = []
    in_string = False
    escaped = False
    for char in text:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif char not in " \t\r\n":
            out.append(char)
    return "".join(out)


def first(pairs, fields, usable):
    """The value of the preferred field among `pairs` that `usable` accepts."""
    best = None
    for key, value in pairs:
        if key in fields and usable(value):
            rank = fields.index(key)
            if best is None or rank < best[0]:
                best = (rank, value)
    return None if best is None else best[1]


def read_record(raw, fields):
    """(time, type, conversation, compact line) of a line, or a reason to skip it."""
    if raw.strip(b" \t\r") == b"":
        return "blank line"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not valid UTF-8"
    try:
        value = json.loads(
            text,
            object_pairs_hook=tuple,
            parse_float=Number,
            parse_int=Number,
            parse_constant=reject_constant,
        )
    except ValueError as error:
        return f"not JSON: {error}"
    if not isinstance(value, tuple):
        return "not a JSON object"
    if has_surrogate(value):
        return "a lone surrogate"
    time_fields, type_fields, conversation_fields = fields
    time_value = first(value, time_fields, lambda v: True)
    if time_value is None and not any(key in time_fields for key, _ in value):
        return "no time field"
    if isinstance(time_value, str):
        time = parse_time_text(time_value)
    elif isinstance(time_value, Number):
        time = parse_time_number(time_value.text)
    else:
        time = None
    if time is None:
        return "unreadable time"
    kind = first(value, type_fields, lambda v: isinstance(v, str)) or ""
    conversation = first(value, conversation_fields, lambda v: isinstance(v, (str, Number)))
    if isinstance(conversation, Number):
        conversation = conversation.text
    return (time, kind, conversation, compact(text))


def inflate(data):
    """The plain bytes of every gzip member of `data`, and whether damage stopped it."""
    out = []
    while data:
        inflater = zlib.decompressobj(wbits=31)
        try:
            out.append(inflater.decompress(data))
        except zlib.error:
            return b"".join(out), True
        if not inflater.eof:
            return b"".join(out), True
        data = inflater.unused_data
    return b"".join(out), False


def read_directory(directory, fields=(TIME_FIELDS, TYPE_FIELDS, CONVERSATION_FIELDS)):
    names = []
    for name in os.listdir(directory):
        if name.startswith(".") or not (name.endswith(".jsonl") or name.endswith(".jsonl.gz")):
            continue
        if stat.S_ISREG(os.stat(os.path.join(directory, name)).st_mode):
            names.append(name)
    names.sort(key=lambda n: n.encode("utf-8"))
    records, skipped = [], []
    seq = 0
    for name in names:
        with open(os.path.join(directory, name), "rb") as file:
            data = file.read()
        damaged = False
        if name.endswith(".gz"):
            data, damaged = inflate(data)
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()  # the file ends with a newline
        for number, raw in enumerate(lines, start=1):
            result = read_record(raw, fields)
            if isinstance(result, str):
                skipped.append({"file": name, "line": number, "reason": result})
            else:
                time, kind, conversation, line = result
                records.append({"seq": seq, "time": time, "type": kind, "conversation": conversation, "line": line})
            seq += 1
        if damaged:
            skipped.append({"file": name, "line": len(lines) + 1, "reason": "damaged gzip"})
            seq += 1
    records.sort(key=lambda r: (r["time"], r["seq"]))
    return records, skipped


def window_bound(text):
    if text is None:
        return None
    value = parse_time_number(text[1:]) if text.startswith("@") else parse_time_text(text)
    if value is None:
        sys.exit(f"foreign_reference.py: cannot read time {text!r}")
    return value


def answer(records, options):
    """What `stoa query` prints for `options`, as bytes."""
    since, until = window_bound(options.since), window_bound(options.until)
    kept = [
        r
        for r in records
        if (since is None or r["time"] >= since)
        and (until is None or r["time"] < until)
        and (not options.type or r["type"] in options.type)
        and (options.conversation is None or r["conversation"] == options.conversation)
        and (not options.grep or options.grep in r["line"])
    ]
    if options.reverse:
        kept.reverse()
    if options.limit is not None:
        kept = kept[: options.limit]
    return b"".join(record["line"].encode("utf-8") + b"\n" for record in kept)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory")
    parser.add_argument("--since")
    parser.add_argument("--until")
    parser.add_argument("--type", action="append", default=[])
    parser.add_argument("--conversation")
    parser.add_argument("--grep")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--reverse", action="store_true")
    parser.add_argument("--time-fields", help="comma-separated, as stoa's option")
    parser.add_argument("--type-fields")
    parser.add_argument("--conversation-fields")
    parser.add_argument("--describe", action="store_true")
    parser.add_argument(
        "--batch",
        action="store_true",
        help="read the directory once, then for each line of stdin (a JSON array of query options; "
        "field names come from the command line) print the answer as one JSON string",
    )
    options = parser.parse_args()

    fields = tuple(
        tuple(given.split(",")) if given else default
        for given, default in (
            (options.time_fields, TIME_FIELDS),
            (options.type_fields, TYPE_FIELDS),
            (options.conversation_fields, CONVERSATION_FIELDS),
        )
    )
    records, skipped = read_directory(options.directory, fields)
    if options.describe:
        described = [{k: v for k, v in r.items() if k != "line"} for r in records]
        json.dump({"records": described, "skipped": skipped}, sys.stdout)
        sys.stdout.write("\n")
    elif options.batch:
        for line in sys.stdin:
            if line.strip():
                query = parser.parse_args([options.directory] + json.loads(line))
                sys.stdout.write(json.dumps(answer(records, query).decode("utf-8")) + "\n")
    else:
        sys.stdout.buffer.write(answer(records, options))


if __name__ == "__main__":
    main()
