import Foundation
import StoaTestSupport
import Testing

/// A bounded slice of `Tools/crash_matrix.py` against the built `stoa`:
/// one trial of each phase (real processes killed with SIGKILL, a follower
/// and racing queries, every invariant checked), and proof that the
/// harness reports a violation planted on purpose.
@Suite(.serialized) struct CrashMatrixCLITests {
    let stoa = builtProduct("stoa")

    /// `Tools/crash_matrix.py` of this package (this file is
    /// Tests/StoaCLITests/CrashMatrixCLITests.swift).
    static func harness(filePath: String = #filePath) -> String {
        URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Tools/crash_matrix.py").path
    }

    func runHarness(_ arguments: [String], in directory: TemporaryDirectory) throws -> ProcessResult {
        try run(
            "/usr/bin/env",
            ["python3", Self.harness(), "--stoa", stoa, "--quick", "--quiet", "--keep", directory.appending("kept"),
             "--work", directory.path] + arguments)
    }

    @Test func oneTrialOfEachPhaseHasNoViolation() throws {
        let directory = TemporaryDirectory("stoa-crash-matrix")
        let result = try runHarness(["--trials", "12", "--seed", "20261207"], in: directory)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        let total = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("| all |") })
        let cells = total.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        // | all | trials | kills | moments | acked | survived | expired | followed | queries | violations | seconds |
        #expect(cells[1] == "12")
        #expect(cells[9] == "0", "\(result.stdout)")
        #expect(Int(cells[4]) ?? 0 > 0, "records were acknowledged")
        #expect(cells[4] == String((Int(cells[5]) ?? -1) + (Int(cells[6]) ?? -1)), "each acknowledged record survived or expired")
    }

    /// The harness can fail: an acknowledged record cut out of its segment,
    /// or changed by one byte, after the kill is reported, with the trial's
    /// seed, and the run exits 1.
    @Test(arguments: ["drop-acked", "corrupt-acked"])
    func aPlantedViolationIsReported(plant: String) throws {
        let directory = TemporaryDirectory("stoa-crash-matrix")
        let result = try runHarness(
            ["--phase", "append-always", "--trials", "1", "--seed", "3", "--plant", plant, "--follower-wait", "5"], in: directory)
        #expect(result.status == 1, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("VIOLATION append-always --trial-seed "))
        #expect(result.stdout.contains("acknowledged record"))
        #expect(!listDirectory(directory.appending("kept")).isEmpty, "the store is kept for a repro")
    }
}
