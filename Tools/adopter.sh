#!/usr/bin/env bash
# Stoa as a new user meets it: a throwaway Swift package in a temp directory
# that depends on this checkout by path and uses
#   1. the swift-log backend, exactly as the README shows it;
#   2. a Codable round trip with a `Date` (append(encoding:), decode);
#   3. `for try await` over a query;
# then builds it, runs it, and checks what `stoa query DIR --type error`
# prints. Slow (a fresh build of Stoa and swift-log); not part of CI.
#
#     Tools/adopter.sh            # keeps nothing
#     KEEP=1 Tools/adopter.sh     # keeps the package and the store, says where
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/stoa-adopter.XXXXXX")"
if [[ -z "${KEEP:-}" ]]; then trap 'rm -rf "$work"' EXIT; fi
fail() { echo "adopter: FAIL: $*" >&2; exit 1; }

mkdir -p "$work/Sources/Adopter"
cat >"$work/Package.swift" <<EOF
// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Adopter",
    dependencies: [
        .package(name: "Stoa", path: "$root"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "Adopter",
            dependencies: [
                .product(name: "Stoa", package: "Stoa"),
                .product(name: "StoaLogging", package: "Stoa"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
EOF

cat >"$work/Sources/Adopter/main.swift" <<'EOF'
import Foundation
import Logging
import Stoa
import StoaLogging

let dir = CommandLine.arguments[1]

// 1. The swift-log backend, exactly as the README shows it.
let events = EventLogger(storePath: dir)
LoggingSystem.bootstrap { label in StoaLogHandler(label: label, logger: events) }
Logger(label: "checkout").error("payment failed", metadata: ["order": "42"])
events.stop()   // flushes

// 2. Codable both ways, a Date included.
struct Payment: Codable {
    var ts: Date
    var type = "payment"
    var order: String
    var cents: Int
    var refunded: Date?
}
let paid = Payment(ts: Date(), order: "42", cents: 1250, refunded: nil)
let store = try Store(at: dir)
try store.append(encoding: paid)
try store.close()

let reader = try StoreReader(at: dir)
guard let stored = try reader.query(Query(types: ["payment"])).next() else { fatalError("no payment stored") }
let back = try stored.decode(Payment.self)
print("stored:  \(stored.json)")
print("decoded: ts \(back.ts.timeIntervalSince1970), order \(back.order), cents \(back.cents), refunded \(String(describing: back.refunded))")
precondition(abs(back.ts.timeIntervalSince(paid.ts)) < 0.000_001 && back.order == "42" && back.cents == 1250 && back.refunded == nil)
print("codable round trip: ok")

// 3. Results in a loop.
var types: [String] = []
for try await record in try reader.query(Query()) {
    types.append(record.type)
}
print("for try await: \(types)")
precondition(types.sorted() == ["error", "payment"])
EOF

store="$work/store"
cd "$work"
echo "adopter: building in $work (a fresh build: several minutes)"
swift build --product Adopter 2>&1 | tail -n 3
swift build --product stoa 2>&1 | tail -n 1
bin="$(swift build --show-bin-path)"

echo "adopter: running"
"$bin/Adopter" "$store"

echo "adopter: stoa query $store --type error"
output="$("$bin/stoa" query "$store" --type error)"
echo "$output"
[[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]] || fail "expected one error record"
for want in '"type":"error"' '"label":"checkout"' '"message":"payment failed"' '"metadata":{"order":"42"}'; do
    [[ "$output" == *"$want"* ]] || fail "no $want in the record"
done
echo "adopter: ok"
if [[ -n "${KEEP:-}" ]]; then echo "adopter: kept $work"; fi
