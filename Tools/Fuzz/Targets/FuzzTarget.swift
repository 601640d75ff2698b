/// The fuzz targets: each takes any bytes and either returns, or reports
/// a finding (a property of Stoa that the bytes break). A crash inside
/// Stoa (a trap, an address error) is a finding too; the driver
/// (`Tools/fuzz.sh`, `stoa-fuzz`) and the corpus test
/// (`Tests/StoaTests/FuzzCorpusTests.swift`) run the same functions.
package struct FuzzTarget: Sendable {
    /// The name `Tools/fuzz.sh` takes, and the folder of its corpus under
    /// `Tools/Fuzz/corpus/` and of its regression inputs under
    /// `Tools/Fuzz/regressions/`.
    package let name: String
    /// What it checks, for `Tools/fuzz.sh --list`.
    package let summary: String
    /// Runs the target on one input.
    package let run: @Sendable ([UInt8]) throws(FuzzFinding) -> Void

    /// Every target, in the order `--list` prints them.
    package static let all: [FuzzTarget] = [
        FuzzTarget(
            name: "scanner",
            summary: "record scanner and encoder, differential against Foundation's JSONSerialization",
            run: ScannerTarget.run),
        FuzzTarget(name: "time", summary: "RFC 3339 and epoch-number time parsing, against timegm and Double", run: TimeTarget.run),
        FuzzTarget(name: "index", summary: ".idx decoding (CRCs fixed up), round trip and self-consistency", run: IndexTarget.run),
        FuzzTarget(name: "linetable", summary: "a block's line table: decode, re-encode, decode again", run: LineTableTarget.run),
        FuzzTarget(name: "gzip", summary: "gzip member reader: damaged members, round trip", run: GzipTarget.run),
        FuzzTarget(name: "foreign", summary: "foreign log lines: indexing, normalising and reading blocks agree", run: ForeignTarget.run),
        FuzzTarget(name: "recovery", summary: "recovery of an arbitrary active segment tail", run: RecoveryTarget.run),
        FuzzTarget(name: "config", summary: "stoa.json decoding: loads, or .badConfig; round trip", run: ConfigTarget.run),
    ]

    package static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// A property of Stoa that an input breaks: what was expected, what was found.
package struct FuzzFinding: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// Throws a finding unless `condition` holds.
@inline(__always)
func expect(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String
) throws(FuzzFinding) {
    if !condition() { throw FuzzFinding(message()) }
}

/// Up to `limit` bytes of `bytes` as text, for a finding's message.
func shown(_ bytes: some Collection<UInt8>, limit: Int = 200) -> String {
    let text = String(decoding: bytes.prefix(limit), as: UTF8.self).debugDescription
    return bytes.count > limit ? text + "…(\(bytes.count) bytes)" : text
}
