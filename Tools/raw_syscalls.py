#!/usr/bin/env python3
"""Lists raw system calls made outside Sources/Stoa/System/ (in Sources/Stoa,
Sources/stoa and Sources/StoaLogging), and fails if there is one.

    python3 Tools/raw_syscalls.py            # exit 0 when there is none, 1 otherwise

Every raw call lives in System/, wrapped once (EINTR retried, errno and path
in the error), behind the `FileSystem` seam. Other folders (and the CLI) call
those wrappers; they may still use Glibc's constants and types (`ENOENT`,
`O_RDONLY`, `stat`), which are not calls.

The check is lexical: comments and string literals are removed, then it
looks for
  - any `Glibc.name(` or `Glibc.errno`;
  - a bare call (not `x.name(`, not `func name(`) of a C function whose name
    Swift code does not otherwise use (`pread`, `flock`, `inotify_add_watch`,
    `usleep`, `clock_gettime`, `getenv`...);
  - a bare call of a C function whose name is also a Swift method here
    (`read`, `write`, `close`, `open`, `stat`, `poll`, `sleep`) when its
    arguments look like C's: a descriptor (`fd`, a number), a pointer
    (`&x`, `.baseAddress`);
  - `errno` read as a bare name (not `error.errno`, not an `errno:` label)
    in a file that does not declare its own `errno`.
"""
import os
import re
import sys

ROOTS = ["Sources/Stoa", "Sources/stoa", "Sources/StoaLogging"]
ALLOWED = "Sources/Stoa/System/"

UNAMBIGUOUS = """
    pread pwrite preadv pwritev fsync fdatasync ftruncate truncate flock stoa_flock lockf fcntl
    fstat lstat statx statvfs fstatvfs stoa_stat stoa_birth_time_micros stoa_rename_noreplace
    renameat renameat2 unlink unlinkat rmdir mkdir mkdirat link linkat symlink readlink realpath
    opendir readdir closedir fdopendir scandir
    inotify_init inotify_init1 inotify_add_watch inotify_rm_watch epoll_create1 epoll_wait ppoll select
    usleep nanosleep clock_nanosleep clock_gettime gettimeofday
    mmap munmap madvise msync mremap
    getenv setenv unsetenv isatty kill getpid getppid lseek dup dup2 pipe fork execve waitpid
    sigaction sigprocmask pthread_sigmask raise
""".split()
AMBIGUOUS = "open read write close stat poll sleep time".split()

# An unlabeled argument that is a descriptor, a number or a pointer.
C_LIKE_ARGUMENT = re.compile(r"^\s*(\d|&|\w*fd\b|[\w.]*\.fd\b|watch\b)|baseAddress")


def strip(source):
    """The source with comments and string literals blanked (lengths and
    newlines kept, so that line numbers stay)."""
    out = []
    i, n = 0, len(source)
    depth = 0  # block comment nesting
    while i < n:
        c = source[i]
        if depth:
            if source.startswith("*/", i):
                depth -= 1
                out.append("  ")
                i += 2
            elif source.startswith("/*", i):
                depth += 1
                out.append("  ")
                i += 2
            else:
                out.append("\n" if c == "\n" else " ")
                i += 1
        elif source.startswith("//", i):
            end = source.find("\n", i)
            end = n if end == -1 else end
            out.append(" " * (end - i))
            i = end
        elif source.startswith("/*", i):
            depth = 1
            out.append("  ")
            i += 2
        elif source.startswith('"""', i):
            end = source.find('"""', i + 3)
            end = n if end == -1 else end + 3
            out.append("".join("\n" if ch == "\n" else " " for ch in source[i:end]))
            i = end
        elif c == '"':
            # A one-line literal; interpolations `\( … )` are blanked too
            # (they hold no system calls here).
            j = i + 1
            while j < n and source[j] not in '"\n':
                j += 2 if source[j] == "\\" else 1
            out.append(" " * (min(j + 1, n) - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def arguments(text, open_paren):
    depth, j = 0, open_paren
    while j < len(text):
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            depth -= 1
            if depth == 0:
                return text[open_paren + 1:j]
        j += 1
    return text[open_paren + 1:]


def top_level(args):
    """The arguments of a call, split at its own commas."""
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(args):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(args[start:k])
            start = k + 1
    parts.append(args[start:])
    return [p for p in parts if p.strip()]


def findings(path):
    text = strip(open(path, encoding="utf-8").read())
    found = []

    def report(offset, what):
        found.append((text.count("\n", 0, offset) + 1, what))

    for m in re.finditer(r"\bGlibc\s*\.\s*(\w+)", text):
        report(m.start(), "Glibc." + m.group(1))
    bare = r"(?<![\w.])(?<!func )(?<!Glibc\.)({})\s*\("
    for m in re.finditer(bare.format("|".join(UNAMBIGUOUS)), text):
        report(m.start(), m.group(1) + "(")
    for m in re.finditer(bare.format("|".join(AMBIGUOUS)), text):
        args = arguments(text, m.end() - 1)
        if any(C_LIKE_ARGUMENT.search(a) for a in top_level(args) if not re.match(r"\s*\w+\s*:", a)):
            report(m.start(), m.group(1) + "(" + " ".join(args.split())[:40] + ")")
    if not re.search(r"\b(var|let)\s+errno\b|\berrno\s*:\s*Int32", text):
        for m in re.finditer(r"(?<![\w.])errno\b(?!\s*:)", text):
            report(m.start(), "errno")
    return found


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    total = 0
    for root in ROOTS:
        for directory, _, files in sorted(os.walk(root)):
            for name in sorted(files):
                path = os.path.join(directory, name)
                if not name.endswith(".swift") or path.startswith(ALLOWED):
                    continue
                for line, what in findings(path):
                    print(f"{path}:{line}: raw call {what} outside {ALLOWED}")
                    total += 1
    if total:
        print(f"{total} raw system call(s) outside {ALLOWED}: call a wrapper in System/ instead", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
