#!/usr/bin/env bash
# Fuzzing with libFuzzer (see Tools/Fuzz/README.md).
#
#   Tools/fuzz.sh --list                 the targets, one a line
#   Tools/fuzz.sh TARGET SECONDS [FLAG…]  build if needed, then fuzz TARGET for SECONDS;
#                                         extra flags go to libFuzzer (-jobs, -seed, -max_len…)
#
# The build: the stoa-fuzz product, release mode (-O, every precondition and
# bounds check kept), with AddressSanitizer and SanitizerCoverage, linked with
# the toolchain's libFuzzer, in its own scratch path (.build-fuzz; FUZZ_CONFIG=debug
# for a debug build). The corpus: Tools/Fuzz/corpus/TARGET and
# Tools/Fuzz/regressions/TARGET are copied to a scratch corpus
# (.build-fuzz/corpus/TARGET, kept between runs); the repo's corpus is never
# written. A finding (a failed property, a trap, an address error, a leak, a
# timeout) stops the run, exits non-zero, and leaves the input that made it in
# .build-fuzz/findings/TARGET/; replay it with
#   swift run stoa-fuzz TARGET FILE     (no sanitizer) or   .build-fuzz/…/stoa-fuzz TARGET FILE
# and add it to Tools/Fuzz/regressions/TARGET/ with its fix.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch=.build-fuzz
config=${FUZZ_CONFIG:-release}

usage() {
    echo "usage: Tools/fuzz.sh --list | Tools/fuzz.sh TARGET SECONDS [libFuzzer flags…]" >&2
    exit 64
}

runtime_library() {
    local clang_dir
    clang_dir=$(dirname "$(dirname "$(command -v swiftc)")")/lib/clang
    local library
    library=$(ls "$clang_dir"/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -n 1)
    if [ -z "$library" ]; then
        echo "fuzz.sh: libclang_rt.fuzzer_no_main-x86_64.a not found under $clang_dir (a Swift toolchain for Linux ships it)" >&2
        exit 1
    fi
    echo "$library"
}

build() {
    local library
    library=$(runtime_library)
    echo "fuzz.sh: building stoa-fuzz ($config, ASan + SanitizerCoverage, libFuzzer) in $scratch" >&2
    swift build --scratch-path "$scratch" -c "$config" --product stoa-fuzz \
        -Xswiftc -sanitize=address \
        -Xswiftc -sanitize-coverage=edge,indirect-calls,trace-cmp,inline-8bit-counters,pc-table \
        -Xcc -fsanitize=address -Xcc -fsanitize=fuzzer-no-link \
        -Xlinker "$library" -Xlinker -u -Xlinker LLVMFuzzerRunDriver \
        -Xlinker --export-dynamic-symbol=LLVMFuzzerRunDriver -Xlinker -lstdc++ \
        2>&1 | grep -v "Cannot export local symbol" >&2
    test "${PIPESTATUS[0]}" -eq 0
}

[ $# -ge 1 ] || usage
if [ "$1" = "--list" ]; then
    # The names, from the targets themselves (a plain build is enough).
    swift build --product stoa-fuzz >/dev/null 2>&1 || swift build --product stoa-fuzz >&2
    "$(swift build --show-bin-path)/stoa-fuzz" --list | cut -f1
    exit 0
fi
[ $# -ge 2 ] || usage
target=$1
seconds=$2
shift 2
[ -d "Tools/Fuzz/corpus/$target" ] || { echo "fuzz.sh: no target $target (Tools/fuzz.sh --list)" >&2; exit 64; }
[[ "$seconds" =~ ^[0-9]+$ ]] || usage

build
binary="$(swift build --scratch-path "$scratch" -c "$config" --show-bin-path)/stoa-fuzz"

corpus="$scratch/corpus/$target"
findings="$scratch/findings/$target"
mkdir -p "$corpus" "$findings"
cp -n Tools/Fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
if [ -d "Tools/Fuzz/regressions/$target" ]; then
    cp -n Tools/Fuzz/regressions/"$target"/* "$corpus"/ 2>/dev/null || true
fi

# A finding is reported by libFuzzer's own handler (a trap is SIGILL), not
# Swift's backtracer, which would race it.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:handle_abort=1:handle_sigill=1}
log="$findings/last-run.log"
echo "fuzz.sh: $target for ${seconds}s; corpus $corpus; log $log" >&2
set +e
"$binary" "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
    -artifact_prefix="$findings/" -print_final_stats=1 "$@" "$corpus" 2>&1 | tee "$log" | grep -v "^#[0-9]*.*\(NEW\|REDUCE\)" >&2
status=${PIPESTATUS[0]}
set -e
# The figures: executions, and coverage (edges, features) at the end.
executions=$(grep -o "stat::number_of_executed_units: *[0-9]*" "$log" | grep -o "[0-9]*$" || true)
coverage=$(grep -E "^#[0-9]+" "$log" | tail -n 1 | grep -oE "cov: [0-9]+ ft: [0-9]+" || true)
echo "fuzz.sh: $target: ${executions:-?} executions, ${coverage:-no coverage line}, exit $status" >&2
if [ "$status" -ne 0 ]; then
    echo "fuzz.sh: FINDING in $target: $(ls -t "$findings" | grep -v last-run.log | head -n 1 | sed "s|^|$findings/|")" >&2
fi
exit "$status"
