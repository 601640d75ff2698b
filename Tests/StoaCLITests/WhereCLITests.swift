import Foundation
import StoaTestSupport
import Testing

/// `--where` through the built `stoa` (issue 17, item 1): in query, export,
/// replay, tail and tail -f, on a store and on a folder of logs; repeated
/// means AND; a bad expression is a usage error (64) that says what was
/// expected. (Every operator against a reference: FieldFilterTests.)
@Suite struct WhereCLITests {
    let stoa = builtProduct("stoa")

    static let lines = [
        #"{"ts":"2026-11-23T10:00:00Z","type":"call","tags":{"host":"agent-1"},"latency_ms":80}"#,
        #"{"ts":"2026-11-23T10:00:01Z","type":"call","tags":{"host":"agent-2"},"latency_ms":300}"#,
        #"{"ts":"2026-11-23T10:00:02Z","type":"call","tags":{"host":"agent-1"},"latency_ms":250.0}"#,
        #"{"ts":"2026-11-23T10:00:03Z","type":"error","tags":{"host":"agent-1"},"msg":"R\u00e9ponse"}"#,
        #"{"ts":"2026-11-23T10:00:04Z","type":"call","latency_ms":"400"}"#,
    ]

    func makeStore(_ directory: TemporaryDirectory) throws -> String {
        let store = directory.appending("store")
        #expect(try run(stoa, ["init", store]).status == 0)
        #expect(try run(stoa, ["append", store], input: Self.lines.joined(separator: "\n") + "\n").status == 0)
        return store
    }

    func output(_ arguments: [String]) throws -> [String] {
        let result = try run(stoa, arguments)
        #expect(result.status == 0, "\(arguments): \(result.stderr)")
        return result.stdout.split(separator: "\n").map(String.init)
    }

    @Test func queryExportReplayAndTailKeepTheRecordsThatMatch() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let lines = Self.lines
        // One filter; then two, which must both hold.
        #expect(try output(["query", store, "--where", "tags.host=agent-1"]) == [lines[0], lines[2], lines[3]])
        #expect(try output(["query", store, "--where", "tags.host=agent-1", "--where", "latency_ms>=250"]) == [lines[2]])
        // A number is not a string: "400" is no number >= 250; != keeps it, and the records without the field.
        #expect(try output(["query", store, "--where", "latency_ms!=300"]) == [lines[0], lines[2], lines[3], lines[4]])
        #expect(try output(["query", store, "--where", "msg=Réponse"]) == [lines[3]])
        #expect(try output(["query", store, "--where", "msg?", "--type", "error"]) == [lines[3]])
        #expect(try output(["export", store, "-", "--where", "latency_ms<250"]) == [lines[0]])
        let file = directory.appending("out.jsonl")
        #expect(try run(stoa, ["export", store, file, "--where", "tags.host!=agent-1"]).status == 0)
        #expect(String(decoding: try readBytes(file), as: UTF8.self) == lines[1] + "\n" + lines[4] + "\n")
        #expect(try output(["replay", store, "--where", "latency_ms>100", "--where", "latency_ms<=300"]) == [lines[1], lines[2]])
        #expect(try output(["tail", store, "-n", "2", "--where", "tags.host=agent-1"]) == [lines[2], lines[3]])
        #expect(try output(["query", store, "--where", "latency_ms=250", "--reverse", "--limit", "1"]) == [lines[2]])
        // A folder of the same records as logs.
        let logs = directory.appending("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        try writeBytes(Array((lines.joined(separator: "\n") + "\n").utf8), to: logs + "/agent.jsonl")
        #expect(try output(["query", logs, "--where", "tags.host=agent-1", "--where", "latency_ms>=250"]) == [lines[2]])
        #expect(try output(["tail", logs, "-n", "1", "--where", "latency_ms?"]) == [lines[4]])
    }

    @Test func tailFollowPrintsOnlyNewRecordsThatMatch() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let follower = try FollowCLITests.Follower(
            stoa: stoa, arguments: ["tail", store, "-n", "1", "-f", "--where", "tags.host=agent-2"])
        defer { follower.stop() }
        #expect(follower.wait(for: 1, seconds: 30) == [Self.lines[1]])
        #expect(follower.waitUntilWatching(seconds: 30))
        let new = [
            #"{"ts":"2026-11-23T11:00:00Z","tags":{"host":"agent-1"},"n":1}"#,
            #"{"ts":"2026-11-23T11:00:01Z","tags":{"host":"agent-2"},"n":2}"#,
            #"{"ts":"2026-11-23T11:00:02Z","n":3}"#,
            #"{"ts":"2026-11-23T11:00:03Z","tags":{"host":"agent-2"},"n":4}"#,
        ]
        #expect(try run(stoa, ["append", store], input: new.joined(separator: "\n") + "\n").status == 0)
        #expect(follower.wait(for: 3, seconds: 30) == [Self.lines[1], new[1], new[3]])
    }

    @Test func aBadExpressionIsAUsageErrorThatSaysWhatWasExpected() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(directory)
        let cases: [(String, String)] = [
            ("tags.host", "expected PATH=VALUE, PATH!=VALUE, PATH<VALUE, PATH<=VALUE, PATH>VALUE, PATH>=VALUE or PATH?"),
            ("latency_ms<true", "'<' compares numbers with numbers and strings with strings, found true"),
            ("tags..host=a", "expected a field name between the dots"),
            ("x=", "expected a value after '='"),
        ]
        for command in [["query", store], ["export", store, directory.appending("x.jsonl")], ["replay", store], ["tail", store], ["tail", store, "-f"]] {
            for (expression, message) in cases {
                // A good filter first: the bad one is named, whichever it is.
                let result = try run(stoa, command + ["--where", "type=call", "--where", expression])
                #expect(result.status == 64, "\(command) \(expression): \(result.status) \(result.stderr)")
                #expect(result.stdout.isEmpty)
                #expect(result.stderr.contains("--where: cannot read the filter \"\(expression)\""), "\(result.stderr)")
                #expect(result.stderr.contains(message), "\(command) \(expression): \(result.stderr)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: directory.appending("x.jsonl")))
    }
}
