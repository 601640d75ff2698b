#!/usr/bin/env bash
# Builds and runs the test suite under one sanitizer, in a build directory of
# its own (.build-asan, .build-tsan: the plain .build is left alone), and
# exits non-zero on any finding, in the test process or in a child.
#
#     Tools/sanitize.sh address                    # the whole suite under ASan (+ LeakSanitizer)
#     Tools/sanitize.sh thread --filter 'Follow'   # extra arguments go to `swift test`
#
# The CLI and crash tests run the `stoa` and `stoa-crash-writer` built next
# to the test bundle, so they are sanitized too (checked below). Every
# process writes its reports to a file of its own under $SANITIZE_LOGS
# (default: <build dir>/sanitizer-logs, emptied first), so that a report of
# a child is not lost in a pipe the test reads, nor with a child the test
# kills with SIGKILL (a report is written when it is found). A process with
# a report also exits 66 (so a CLI test that checks the exit status fails
# there and then); this script then prints every report and exits 1.
#
# Suppressions: Tools/tsan.supp, Tools/asan.supp, Tools/lsan.supp (each entry
# says why the report is not ours). Extra sanitizer options can be added with
# SANITIZE_OPTIONS, e.g. SANITIZE_OPTIONS=halt_on_error=1 to stop a process
# at its first report.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: Tools/sanitize.sh address|thread [swift test arguments…]" >&2
    exit 64
}
[ $# -ge 1 ] || usage
sanitizer="$1"
shift
case "$sanitizer" in
    address) short=asan; runtime=__asan_init ;;
    thread) short=tsan; runtime=__tsan_init ;;
    *) usage ;;
esac

scratch=".build-$short"
logs="${SANITIZE_LOGS:-$PWD/$scratch/sanitizer-logs}"
tools="$PWD/Tools"

started=$(date +%s)
swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch"
built=$(date +%s)

# The executables the tests start must be the sanitized ones.
bin="$(swift build --sanitize="$sanitizer" --scratch-path "$scratch" --show-bin-path)"
for product in stoa stoa-crash-writer; do
    # (grep -c, not -q: nm killed by SIGPIPE would fail the pipeline.)
    if [ "$(nm "$bin/$product" 2>/dev/null | grep -c " $runtime\$")" -eq 0 ]; then
        echo "sanitize.sh: $bin/$product is not built with the $sanitizer sanitizer" >&2
        exit 1
    fi
done

rm -rf "$logs"
mkdir -p "$logs"
extra="${SANITIZE_OPTIONS:-}"
case "$sanitizer" in
    thread)
        # history_size: longer memory of earlier accesses, for the second
        # stack of a race (the default forgets it in long tests).
        export TSAN_OPTIONS="log_path=$logs/tsan exitcode=66 suppressions=$tools/tsan.supp history_size=4 $extra"
        ;;
    address)
        # Leaks are checked at a normal exit (a SIGKILLed child is never checked).
        export ASAN_OPTIONS="log_path=$logs/asan exitcode=66 suppressions=$tools/asan.supp detect_leaks=1 detect_stack_use_after_return=1 $extra"
        export LSAN_OPTIONS="suppressions=$tools/lsan.supp exitcode=66"
        ;;
esac

status=0
swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" "$@" || status=$?
finished=$(date +%s)

# (A process whose reports were all suppressed may still write a file: the
# table of suppressions used. Only a file with a report counts.)
reports=$(grep -l -E "^(WARNING: ThreadSanitizer|==[0-9]+==ERROR: )" -r "$logs" | sort || true)
if [ -n "$reports" ]; then
    for report in $reports; do
        echo "==== $report"
        cat "$report"
    done
    echo "sanitize.sh: $(echo "$reports" | wc -l) process(es) with $sanitizer sanitizer reports (above)" >&2
    [ "$status" -ne 0 ] || status=1
fi
echo "sanitize.sh: $sanitizer: build $((built - started)) s, tests $((finished - built)) s, exit $status" >&2
exit "$status"
