#!/usr/bin/env python3
"""How small can gzip members make these JSONL files?

    python3 Tools/deflate_ceiling.py FILE.jsonl [FILE.jsonl ...]

Compresses the files' lines with zlib (the library Stoa's warm tier uses) in
line-aligned gzip members of 1 MiB and 4 MiB, at levels 6 and 9, and prints
the ratio of plain to compressed bytes for each. This is the ceiling for a
warm segment of the same bytes: Stoa's members are whole index blocks up to
`member_bytes`, so its ratio can only be a little lower.
"""
import sys
import zlib


def ratio(data, member, level):
    compressed = 0
    start = 0
    while start < len(data):
        end = data.find(b"\n", min(start + member, len(data)) - 1)
        end = len(data) if end < 0 else end + 1
        # Members end on a line: extend to the newline at or after the size.
        packer = zlib.compressobj(level, zlib.DEFLATED, 31)
        compressed += len(packer.compress(data[start:end]) + packer.flush())
        start = end
    return len(data) / compressed


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip())
    data = b"".join(open(path, "rb").read() for path in sys.argv[1:])
    print(f"{len(data):,} bytes of JSONL from {len(sys.argv) - 1} file(s)")
    for member in (1 << 20, 4 << 20):
        for level in (6, 9):
            print(f"members of {member >> 20} MiB, level {level}: {ratio(data, member, level):.2f}x")


if __name__ == "__main__":
    main()
