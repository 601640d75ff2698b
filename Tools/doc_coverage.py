#!/usr/bin/env python3
"""Lists the public symbols of a module that have no doc comment.

Usage: Tools/doc_coverage.py SYMBOLS.json...  (from swift-symbolgraph-extract;
Tools/docs.sh makes them). Exits 1 when a symbol is undocumented. Symbols that
implement a protocol requirement documented elsewhere (`description`, `==`,
`hash(into:)`, literal initializers, `makeIterator`...) inherit that
protocol's documentation, as DocC shows them, and are not listed.
"""
import json
import sys

missing = []
total = 0
for path in sys.argv[1:]:
    graph = json.load(open(path))
    symbols = {s["identifier"]["precise"]: s for s in graph["symbols"]}
    # Members that fulfil a requirement of a protocol: they carry its documentation.
    inherited = {
        r["source"]
        for r in graph.get("relationships", [])
        if r["kind"] in ("requirementOf", "defaultImplementationOf", "overrides")
    }
    for precise, s in symbols.items():
        total += 1
        if s.get("docComment") or precise in inherited:
            continue
        # Synthesized members (Hashable's, literal initializers) have no place in the source.
        where = s.get("location")
        if s.get("sourceOrigin") or where is None:
            continue
        uri = where.get("uri", "?").split("/Sources/")[-1]
        line = where.get("position", {}).get("line", 0) + 1
        missing.append(f"{uri}:{line}: {s['kind']['displayName'].lower()} {'.'.join(s['pathComponents'])}")

for line in sorted(missing):
    print(line)
print(f"{total} public symbols, {len(missing)} without a doc comment", file=sys.stderr)
sys.exit(1 if missing else 0)
