import Foundation
import StoaFuzzTargets
import Testing

/// The fuzz targets (Tools/Fuzz, Tools/fuzz.sh) without libFuzzer or
/// sanitizers: every seed of the corpus and every input a fuzzer once
/// found a defect with (Tools/Fuzz/regressions) goes through every target,
/// and none may report a finding. This is the slice of fuzzing CI runs.
@Suite struct FuzzCorpusTests {
    /// `Tools/Fuzz/FOLDER/TARGET/*` for every target, with the target's name.
    static func inputs(in folder: String, filePath: String = #filePath) -> [(target: String, path: String)] {
        // This file is Tests/StoaTests/FuzzCorpusTests.swift: the package is three levels up.
        let root = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Tools/Fuzz/\(folder)")
        return FuzzTarget.all.flatMap { target in
            let directory = root.appendingPathComponent(target.name).path
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            return names.sorted().map { (target.name, directory + "/" + $0) }
        }
    }

    static func read(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test func everyTargetHasSeeds() {
        let seeds = Self.inputs(in: "corpus")
        for target in FuzzTarget.all {
            #expect(seeds.contains { $0.target == target.name }, "no seed for \(target.name)")
        }
    }

    @Test func everySeedAndRegressionInputPassesEveryTarget() throws {
        let inputs = Self.inputs(in: "corpus") + Self.inputs(in: "regressions")
        #expect(inputs.count >= 40)
        for (_, path) in inputs {
            let bytes = try Self.read(path)
            for target in FuzzTarget.all {
                do throws(FuzzFinding) {
                    try target.run(bytes)
                } catch {
                    Issue.record("\(target.name) on \(path): \(error.description)")
                }
            }
        }
    }
}
