#!/usr/bin/env python3
"""The layer check: code in Sources/Stoa uses only folders to its left.

    python3 Tools/layers.py            # exit 0, or 1 listing every upward use
    python3 Tools/layers.py --list     # also print each folder's types

The folders of the library, lowest first:

    System < Records < Compression < Configuration < Segments < Index
        < Query < Tiers < Store < Foreign < Logger

A file in one folder may use the types of its own folder and of the folders
to its left, never of a folder to its right. The files at the root of
Sources/Stoa (StoaError.swift, Timestamp.swift) are for every layer, so
they may use only System, as if they sat beside it.

What counts, kept simple on purpose (a heuristic, not a compiler):
- A folder's types are the names its files declare at column 0 (`struct`,
  `enum`, `class`, `actor`, `protocol`, `typealias`, with any attributes
  and modifiers before): nested types (an `Element`, a `State`) do not
  count, and an `extension` declares nothing.
- A name that a folder also declares as a nested type (indented) is, in
  that folder, taken to be its own nested type.
- A use is the name as a word in code, comments and the text of string
  literals left out (the code of an interpolation `\\(...)` counts).
A folder not in the list above, or a type declared in two folders, fails
the check too: each must be given its place.
"""

import os
import re
import sys

LAYERS = [
    "System", "Records", "Compression", "Configuration", "Segments", "Index",
    "Query", "Tiers", "Store", "Foreign", "Logger",
]
ROOT = "Sources/Stoa"
# The root files are for every layer: they may use what System may.
ROOT_RANK = 0

DECLARATION = re.compile(
    r"^(?:@[\w.]+(?:\([^)]*\))?\s+)*"
    r"(?:(?:public|package|internal|fileprivate|private|final|indirect|nonisolated|open)\s+)*"
    r"(?:struct|enum|class|actor|protocol|typealias)\s+([A-Za-z_]\w*)"
)
WORD = re.compile(r"\b[A-Za-z_]\w*\b")
STRING_START = re.compile(r'(#*)("""|")')
CODE_PLAIN = re.compile(r'[^/"#()]*')
STRING_PLAIN = re.compile(r'[^\\"#]*')


def code_only(text):
    """`text` with comments and the text of string literals blanked
    (newlines kept, so that line numbers hold); the code inside string
    interpolations is kept."""
    out = []
    i, n = 0, len(text)
    # A stack of what we are in: "code" (with the parenthesis depth of an
    # interpolation), or a string with its closing delimiter.
    stack = [("code", 0)]
    while i < n:
        kind, info = stack[-1]
        # Copy plain stretches at once: only these characters matter.
        plain = (CODE_PLAIN if kind == "code" else STRING_PLAIN).match(text, i).end()
        if plain > i:
            out.append(text[i:plain] if kind == "code" else re.sub(r"[^\n]", " ", text[i:plain]))
            i = plain
            continue
        c = text[i]
        if kind == "code":
            if text.startswith("//", i):
                end = text.find("\n", i)
                end = n if end == -1 else end
                i = end
                continue
            if text.startswith("/*", i):
                depth, j = 1, i + 2
                while j < n and depth:
                    if text.startswith("/*", j):
                        depth, j = depth + 1, j + 2
                    elif text.startswith("*/", j):
                        depth, j = depth - 1, j + 2
                    else:
                        j += 1
                out.append("\n" * text.count("\n", i, j))
                i = j
                continue
            # A string, with its raw `#` delimiters if any.
            m = STRING_START.match(text, i)
            if m:
                hashes, quote = m.group(1), m.group(2)
                stack.append(("string", (quote + hashes, "\\" + hashes + "(")))
                out.append(" ")
                i += len(m.group(0))
                continue
            if c == "(" and len(stack) > 1:
                stack[-1] = ("code", info + 1)
            elif c == ")" and len(stack) > 1:
                if info == 0:
                    stack.pop()  # the end of an interpolation: back in the string
                    i += 1
                    continue
                stack[-1] = ("code", info - 1)
            out.append(c)
            i += 1
        else:
            close, interpolation = info
            if text.startswith(interpolation, i):
                stack.append(("code", 0))
                i += len(interpolation)
                continue
            if c == "\\":
                i += 2
                continue
            if text.startswith(close, i):
                stack.pop()
                i += len(close)
                continue
            out.append("\n" if c == "\n" else " ")
            i += 1
    return "".join(out)


def swift_files(directory):
    for folder, _, names in sorted(os.walk(directory)):
        for name in sorted(names):
            if name.endswith(".swift"):
                yield os.path.join(folder, name)


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    problems = []
    files = {}  # path -> rank (ROOT_RANK for the root files)
    for path in swift_files(ROOT):
        parts = os.path.relpath(path, ROOT).split(os.sep)
        if len(parts) == 1:
            files[path] = ROOT_RANK
        elif parts[0] in LAYERS:
            files[path] = LAYERS.index(parts[0])
        else:
            problems.append(f"{path}: folder {parts[0]}/ has no place in the layers ({' < '.join(LAYERS)})")

    sources = {path: open(path, encoding="utf-8").read() for path in files}
    owner = {}  # type name -> folder that declares it (None for the root)
    nested = {}  # folder -> names it declares as nested types
    for path, text in sources.items():
        parts = os.path.relpath(path, ROOT).split(os.sep)
        folder = parts[0] if len(parts) > 1 else None
        for line in code_only(text).split("\n"):
            m = DECLARATION.match(line)
            if not m:
                indented = DECLARATION.match(line.lstrip())
                if indented and line[:1].isspace():
                    nested.setdefault(folder, set()).add(indented.group(1))
                continue
            name = m.group(1)
            if name in owner and owner[name] != folder:
                problems.append(f"{path}: {name} is also declared in {owner[name] or 'the root'}")
            owner.setdefault(name, folder)

    if "--list" in sys.argv:
        for layer in LAYERS:
            print(f"{layer}: {' '.join(sorted(n for n, f in owner.items() if f == layer))}")

    for path, text in sorted(sources.items()):
        rank = files[path]
        place = os.path.relpath(path, ROOT).split(os.sep)[0] if rank or os.sep in os.path.relpath(path, ROOT) else "root"
        for number, line in enumerate(code_only(text).split("\n"), 1):
            for word in sorted(set(WORD.findall(line))):
                folder = owner.get(word, None)
                if folder is None or LAYERS.index(folder) <= rank:
                    continue
                # A name the file's own folder declares as a nested type
                # (RecordScanner.Summary) is that type.
                if word in nested.get(place if place != "root" else None, ()):
                    continue
                problems.append(f"{path}:{number}: {place} uses {word} of {folder}/, a layer above it")

    if problems:
        print("Upward uses between layers (" + " < ".join(LAYERS) + "):", file=sys.stderr)
        for problem in problems:
            print("  " + problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
