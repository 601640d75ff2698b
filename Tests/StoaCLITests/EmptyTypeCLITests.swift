import Foundation
import StoaTestSupport
import Testing

/// `--type ''` would select records without a type and, with them, those
/// whose type is `null` or a number (the index files them alike): every
/// reading command refuses it, saying why.
@Suite struct EmptyTypeCLITests {
    let stoa = builtProduct("stoa")

    @Test func anEmptyTypeIsAUsageError() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("store")
        let input = [
            #"{"ts":1,"type":5}"#, #"{"ts":2,"type":null}"#, #"{"ts":3}"#, #"{"ts":4,"type":""}"#, #"{"ts":5,"type":"a"}"#,
        ]
        #expect(try run(stoa, ["append", store], input: input.joined(separator: "\n") + "\n").status == 0)
        for command in [
            ["query", store], ["query", store, "--type", "a"], ["export", store, directory.appending("out.jsonl")],
            ["replay", store],
        ] {
            let result = try run(stoa, command + ["--type", ""])
            #expect(result.status == 64, "\(command): \(result.status) \(result.stderr)")
            #expect(result.stdout.isEmpty, "\(command)")
            #expect(result.stderr.contains("--type \"\" selects nothing: a type is a non-empty string"), "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.appending("out.jsonl")))
        // What stats calls (none): the four records above without a string type.
        #expect(try run(stoa, ["stats", store]).stdout.contains("(none)  4"))
        #expect(try run(stoa, ["query", store, "--type", "a"]).stdout == input[4] + "\n")
    }
}
