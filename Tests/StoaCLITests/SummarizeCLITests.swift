import Foundation
import StoaTestSupport
import Testing

/// `stoa summarize` through the built binary (issue 17, item 2): json lines
/// (the default on a pipe), csv, a table with NO_COLOR, on a store and on a
/// folder of logs; bad options are usage errors (64) that say what was
/// expected. (Rows against a reference: SummaryTests.)
@Suite struct SummarizeCLITests {
    let stoa = builtProduct("stoa")

    static let lines = [
        #"{"ts":"2026-11-23T10:05:00Z","type":"call","tags":{"host":"agent-1"},"latency_ms":80}"#,
        #"{"ts":"2026-11-23T10:20:00Z","type":"call","tags":{"host":"agent-2"},"latency_ms":300}"#,
        #"{"ts":"2026-11-23T12:10:00Z","type":"call","tags":{"host":"agent-1"},"latency_ms":250.5}"#,
        #"{"ts":"2026-11-23T10:30:00Z","type":"error","tags":{"host":"agent-1"},"msg":"x, \"y\""}"#,
        #"{"ts":"2026-11-23T12:40:00Z","latency_ms":"400"}"#,
    ]

    func output(_ arguments: [String], environment: [String: String]? = nil) throws -> [String] {
        let result = try run(stoa, arguments, environment: environment)
        #expect(result.status == 0, "\(arguments): \(result.stderr)")
        return result.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    /// A store and a folder of logs holding ``lines``.
    func places(in directory: TemporaryDirectory) throws -> [String] {
        let store = directory.appending("store")
        #expect(try run(stoa, ["init", store]).status == 0)
        #expect(try run(stoa, ["append", store], input: Self.lines.joined(separator: "\n") + "\n").status == 0)
        let logs = directory.appending("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        try writeBytes(Array((Self.lines.joined(separator: "\n") + "\n").utf8), to: logs + "/agent.jsonl")
        return [store, logs]
    }

    @Test func jsonLinesAreTheDefaultOnAPipe() throws {
        let directory = TemporaryDirectory()
        let places = try places(in: directory)
        for place in places {
            #expect(
                try output(["summarize", place, "--every", "1h", "--by", "type"]) == [
                    #"{"start":"2026-11-23T10:00:00Z","end":"2026-11-23T11:00:00Z","type":"call","count":2}"#,
                    #"{"start":"2026-11-23T10:00:00Z","end":"2026-11-23T11:00:00Z","type":"error","count":1}"#,
                    #"{"start":"2026-11-23T12:00:00Z","end":"2026-11-23T13:00:00Z","type":"call","count":1}"#,
                    #"{"start":"2026-11-23T12:00:00Z","end":"2026-11-23T13:00:00Z","type":null,"count":1}"#,
                ], "\(place)")
            // Empty bins within --since/--until; a filter; a field's statistics.
            #expect(
                try output([
                    "summarize", place, "--every", "1h", "--since", "2026-11-23 10:00", "--until", "2026-11-23 13:00",
                    "--where", "tags.host=agent-1", "--field", "latency_ms", "--output", "json",
                ]) == [
                    #"{"start":"2026-11-23T10:00:00Z","end":"2026-11-23T11:00:00Z","count":2,"latency_ms":{"count":1,"min":80,"max":80,"sum":80,"avg":80,"p50":80,"p90":80,"p99":80}}"#,
                    #"{"start":"2026-11-23T11:00:00Z","end":"2026-11-23T12:00:00Z","count":0,"latency_ms":{"count":0,"min":null,"max":null,"sum":0,"avg":null,"p50":null,"p90":null,"p99":null}}"#,
                    #"{"start":"2026-11-23T12:00:00Z","end":"2026-11-23T13:00:00Z","count":1,"latency_ms":{"count":1,"min":250.5,"max":250.5,"sum":250.5,"avg":250.5,"p50":250.5,"p90":250.5,"p99":250.5}}"#,
                ], "\(place)")
            // No bins: one row per group.
            #expect(
                try output(["summarize", place, "--by", "tags.host", "--by", "type"]) == [
                    #"{"tags.host":"agent-1","type":"call","count":2}"#,
                    #"{"tags.host":"agent-1","type":"error","count":1}"#,
                    #"{"tags.host":"agent-2","type":"call","count":1}"#,
                    #"{"tags.host":null,"type":null,"count":1}"#,
                ], "\(place)")
        }
    }

    @Test func csvFlattensTheStatisticsAndQuotesWhatItMust() throws {
        let directory = TemporaryDirectory()
        let places = try places(in: directory)
        for place in places {
            #expect(
                try output(["summarize", place, "--by", "msg", "--field", "latency_ms", "--output", "csv", "--type", "call", "--type", "error"]) == [
                    "msg,count,latency_ms.count,latency_ms.min,latency_ms.max,latency_ms.sum,latency_ms.avg,latency_ms.p50,latency_ms.p90,latency_ms.p99",
                    #""x, ""y""",1,0,,,0,,,,"#,
                    // null is an empty cell; the rows sort by JSON text: "x… before null.
                    ",3,3,80,300,630.5,210.16666666666666,250.5,300,300",
                ], "\(place)")
        }
    }

    @Test func aTableHasABarPerRowAndNoColorWithNoColor() throws {
        let directory = TemporaryDirectory()
        let places = try places(in: directory)
        let table = try output(["summarize", places[0], "--every", "1h", "--output", "table"], environment: ["NO_COLOR": "1"])
        #expect(table.count == 3)
        #expect(table[0].hasPrefix("start") && table[0].contains("count"))
        #expect(table[1].hasPrefix("2026-11-23T10:00:00Z") && table[1].hasSuffix(String(repeating: "█", count: 30)))
        #expect(table[2].hasSuffix(String(repeating: "█", count: 20)))
        #expect(!table.joined().contains("\u{1B}"))
    }

    @Test func badOptionsAreUsageErrorsThatSayWhatWasExpected() throws {
        let directory = TemporaryDirectory()
        let places = try places(in: directory)
        for (arguments, expected) in [
            (["--every", "2x"], "expected a duration such as 1m, 1h, 1d, 1w"),
            (["--every", "0s"], "at least 1us"),
            (["--every", "0mo"], "whole number of months"),
            (["--by", "tags..host"], "expected keys joined by dots"),
            (["--field", ""], "expected keys joined by dots"),
            (["--by", "type", "--by", "type"], "\"type\" is given twice"),
            (["--by", "count"], "the rows have a column of that name"),
            (["--where", "x"], "--where"),
            (["--output", "xml"], "xml"),
            (["--since", "2026-11-24", "--until", "2026-11-23"], "is after --until"),
        ] {
            let result = try run(stoa, ["summarize", places[0]] + arguments)
            #expect(result.status == 64, "\(arguments)")
            #expect(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
    }
}
