#!/usr/bin/env bash
# Builds the library's documentation with DocC, warnings as errors, and lists
# every public symbol without a doc comment (Tools/doc_coverage.py).
#
#   Tools/docs.sh            # check only
#   Tools/docs.sh --open     # also print where the archive is
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(Stoa)
[[ -d Sources/StoaLogging ]] && targets+=(StoaLogging)

for target in "${targets[@]}"; do
    swift package --disable-sandbox generate-documentation --target "$target" --warnings-as-errors
done

# The symbol graphs DocC was given: one per module, public symbols only.
graphs=()
for target in "${targets[@]}"; do
    graph=$(find .build/*/extracted-symbols -path "*/$target/*" -name "$target.symbols.json" | head -1)
    [[ -n "$graph" ]] || { echo "docs.sh: no symbol graph for $target" >&2; exit 1; }
    graphs+=("$graph")
done
python3 Tools/doc_coverage.py "${graphs[@]}"
[[ "${1:-}" == --open ]] && find .build/plugins/Swift-DocC/outputs -maxdepth 1 -name '*.doccarchive'
exit 0
