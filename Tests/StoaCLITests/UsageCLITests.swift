import Foundation
import StoaTestSupport
import Testing

/// Hostile numbers and usage mistakes, from the outside (issue 13, items 17
/// and 21): a clear error and its exit code, never a trap, nothing left behind.
@Suite struct UsageCLITests {
    let stoa = builtProduct("stoa")

    /// A store of three records a second apart.
    func makeStore(_ path: String) throws {
        #expect(try run(stoa, ["init", path]).status == 0)
        let input = (0..<3).map { #"{"ts":"2026-11-23T10:00:0\#($0)Z","type":"t","n":\#($0)}"# }.joined(separator: "\n") + "\n"
        #expect(try run(stoa, ["append", path], input: input).status == 0)
    }

    func expectRefused(_ result: ProcessResult, status: Int32, _ texts: [String], _ comment: String) {
        #expect(result.status == status, "\(comment): \(result.status) \(result.stderr)")
        #expect(result.signal == nil, "\(comment)")
        #expect(result.stdout.isEmpty, "\(comment)")
        for text in texts { #expect(result.stderr.contains(text), "\(comment): \(result.stderr)") }
    }

    @Test func aRefusedInitLeavesNothingAndNamesTheOption() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("y")
        for (arguments, option) in [
            (["--segment-bytes", "10"], "--segment-bytes must be at least 4096, got 10"),
            (["--segment-age", "0s"], "--segment-age must be at least 1s"),
            (["--max-record-bytes", "1GiB"], "--max-record-bytes must be between 64 and 256MiB"),
            (["--fsync-interval", "15000000w"], "--fsync-interval must be between 1ms and 1d"),
            (["--time-fields", ""], "--time-fields must name at least one field"),
            (["--segment-bytes", "9999999999 PiB"], "--segment-bytes"),
        ] {
            expectRefused(try run(stoa, ["init", store] + arguments), status: 64, [option], "\(arguments)")
            #expect(!FileManager.default.fileExists(atPath: store), "\(arguments)")
        }
        #expect(try run(stoa, ["init", store, "--segment-bytes", "4096"]).status == 0)
    }

    @Test func sinceNotBeforeUntilIsAUsageError() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("s")
        try makeStore(store)
        for command in ["query", "replay"] {
            for (since, until) in [("2026-11-24", "2026-11-23"), ("@1795000000.000001", "@1795000000")] {
                expectRefused(
                    try run(stoa, [command, store, "--since", since, "--until", until]), status: 64,
                    ["--since \(since) (", "is after --until \(until) ("], "\(command) \(since) \(until)")
            }
            // Equal times are the empty range [t, t): nothing, and no error.
            let empty = try run(stoa, [command, store, "--since", "2026-11-23T10:00:01Z", "--until", "2026-11-23T10:00:01Z"])
            #expect(empty.status == 0 && empty.stdout.isEmpty, "\(empty.stderr)")
        }
        let export = try run(stoa, ["export", store, directory.appending("out.jsonl"), "--since", "now", "--until", "1h ago"])
        #expect(export.status == 64, "\(export.stderr)")
        #expect(export.stderr.contains("is after --until 1h ago"), "\(export.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.appending("out.jsonl")))
        // A range that holds time still answers.
        let ok = try run(stoa, ["query", store, "--since", "2026-11-23T10:00:01Z", "--until", "2026-11-23T10:00:02Z"])
        #expect(ok.status == 0 && ok.stdout.split(separator: "\n").count == 1, "\(ok.stderr)")
    }

    @Test(arguments: ["1e-18", "1e-300", "4.9e-324", "0", "-0", "-1", "nan", "inf", "-inf", "0.0000009"])
    func replaySpeedsBelowTheSlowestAreUsageErrors(speed: String) throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("s")
        try makeStore(store)
        expectRefused(try run(stoa, ["replay", store, "--speed=\(speed)"]), status: 64, ["--speed must be max or a number from 0.000001"], speed)
    }

    @Test func replayAtTheSlowestAndFastestSpeedsRuns() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("s")
        try makeStore(store)
        for speed in ["1e308", "0.000001"] {
            // At the slowest, --max-gap 0s keeps the test from waiting.
            let result = try run(stoa, ["replay", store, "--speed", speed, "--max-gap", "0s"])
            #expect(result.status == 0 && result.signal == nil, "\(speed): \(result.stderr)")
            #expect(result.stdout.split(separator: "\n").count == 3)
        }
    }

    /// `stoa.json` with `key` set to the raw JSON `value`.
    func setConfiguration(_ store: String, _ key: String, _ value: String) throws {
        var text = try String(contentsOfFile: store + "/stoa.json", encoding: .utf8)
        let start = text.index(after: text.firstIndex(of: "{")!)
        text.insert(contentsOf: "\n  \"\(key)\" : \(value),", at: start)
        try text.write(toFile: store + "/stoa.json", atomically: true, encoding: .utf8)
    }

    @Test(arguments: [
        ("hot_for", "10000000000000", "hot_for: 10000000000000 seconds is out of range"),
        ("retain_for", "1e308", "retain_for: 1e+308 seconds is out of range"),
        ("fsync_interval", "\"15000000w\"", "fsync_interval must be between 1ms and 1d"),
        ("segment_bytes", "9223372036854775808", "segment_bytes"),
        ("hot_forr", "\"1d\"", "unknown key \"hot_forr\" (did you mean \"hot_for\"?)"),
    ])
    func aHostileSettingFailsEveryCommandClearly(key: String, value: String, message: String) throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("s")
        try makeStore(store)
        try setConfiguration(store, key, value)
        for arguments in [["append", store], ["query", store], ["tier", store], ["stats", store]] {
            let result = try run(stoa, arguments, input: "{\"n\":9}\n")
            #expect(result.status == 1 && result.signal == nil, "\(arguments): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains("stoa.json: \(message)"), "\(arguments): \(result.stderr)")
        }
    }

    @Test func theLongestSettingsThatFitWork() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("s")
        let created = try run(stoa, [
            "init", store, "--hot-for", "15000000w", "--warm-for", "15000000w", "--retain-for", "15250000w",
            "--segment-age", "15250000w", "--max-bytes", "8191PiB", "--fsync-interval", "1d",
        ])
        #expect(created.status == 0, "\(created.stderr)")
        try setConfiguration(store, "dedup_window", "9223372036854")
        #expect(try run(stoa, ["append", store], input: "{\"n\":1}\n").status == 0)
        for arguments in [["tier", store], ["query", store], ["stats", store]] {
            let result = try run(stoa, arguments)
            #expect(result.status == 0 && result.signal == nil, "\(arguments): \(result.stderr)")
        }
    }
}
