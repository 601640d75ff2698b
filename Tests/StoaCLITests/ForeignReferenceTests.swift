import Foundation
import StoaTestSupport
import Testing

/// `stoa query DIR` on directories of agent logs that Stoa does not own,
/// compared record for record with `Tools/foreign_reference.py`, a reader
/// written separately in Python from DESIGN §3 and §7 alone.
///
/// Each directory is queried many ways: everything, newest first, limits,
/// time windows whose edges fall exactly on records (and a microsecond on
/// either side), each type, each conversation, and mixes of them. Both
/// programs must print the same bytes.
@Suite struct ForeignReferenceTests {
    let stoa = builtProduct("stoa")

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let reference = root + "/Tools/foreign_reference.py"

    /// What the reference says a directory holds.
    struct Description {
        struct Record {
            var seq: Int
            var time: Int64
            var type: String
            var conversation: String?
        }
        var records: [Record]
        /// (file name, line number) of every line that is not a record.
        var skipped: [(file: String, line: Int)]
    }

    static func describe(_ directory: String, options: [String] = []) throws -> Description {
        let result = try run("/usr/bin/env", ["python3", reference, directory, "--describe"] + options)
        try #require(result.status == 0, "\(result.stderr)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let records = try #require(object["records"] as? [[String: Any]]).map { record in
            Description.Record(
                seq: record["seq"] as! Int, time: (record["time"] as! NSNumber).int64Value,
                type: record["type"] as! String, conversation: record["conversation"] as? String)
        }
        let skipped = try #require(object["skipped"] as? [[String: Any]]).map {
            (file: $0["file"] as! String, line: $0["line"] as! Int)
        }
        return Description(records: records, skipped: skipped)
    }

    /// The reference's answers to `queries` (each a list of `stoa query` options).
    static func expected(_ directory: String, _ queries: [[String]], options: [String] = []) throws -> [String] {
        let input = try queries.map {
            String(decoding: try JSONSerialization.data(withJSONObject: $0 + options), as: UTF8.self)
        }
        let result = try run(
            "/usr/bin/env", ["python3", reference, directory, "--batch"] + options, input: input.joined(separator: "\n") + "\n")
        try #require(result.status == 0, "\(result.stderr)")
        let answers = try result.stdout.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8), options: .fragmentsAllowed) as? String)
        }
        try #require(answers.count == queries.count)
        return answers
    }

    /// `@SECONDS.MICROS`, exact.
    static func epoch(_ micros: Int64) -> String {
        let seconds = micros / 1_000_000
        let fraction = String(micros % 1_000_000)
        return "@\(seconds).\(String(repeating: "0", count: 6 - fraction.count))\(fraction)"
    }

    /// RFC 3339 with µs and `Z`, as a user would type it.
    static func rfc3339(_ micros: Int64) -> String {
        var seconds = time_t(micros / 1_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let fraction = String(micros % 1_000_000)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%@Z", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
            parts.tm_hour, parts.tm_min, parts.tm_sec, String(repeating: "0", count: 6 - fraction.count) + fraction)
    }

    /// The queries to compare on a directory holding `description`.
    static func queries(for description: Description, edges: Int = 8) -> [[String]] {
        let times = Array(Set(description.records.map(\.time))).sorted()
        var queries: [[String]] = [[], ["--reverse"], ["--limit", "3"], ["--reverse", "--limit", "3"], ["--limit", "0"]]
        // Window edges on records' times (ties included), and a µs either side.
        let picked = times.count <= edges ? times : (0..<edges).map { times[$0 * (times.count - 1) / (edges - 1)] }
        for (number, time) in picked.enumerated() {
            for shift: Int64 in [-1, 0, 1] {
                let at = number % 2 == 0 ? epoch(time + shift) : rfc3339(time + shift)
                queries += [["--since", at], ["--until", at], ["--since", at, "--reverse", "--limit", "2"]]
            }
        }
        for (index, since) in picked.enumerated() {
            for until in picked[index...] { queries.append(["--since", epoch(since), "--until", epoch(until)]) }
        }
        let types = Array(Set(description.records.map(\.type))).sorted()
        for type in types.prefix(12) { queries += [["--type", type], ["--type", type, "--reverse", "--limit", "2"]] }
        for pair in zip(types, types.dropFirst()).prefix(6) { queries.append(["--type", pair.0, "--type", pair.1]) }
        let conversations = Array(Set(description.records.compactMap(\.conversation))).sorted()
        let middle = times.isEmpty ? "@0" : epoch(times[times.count / 2])
        for conversation in conversations.prefix(8) {
            queries += [
                ["--conversation", conversation], ["--conversation", conversation, "--reverse", "--limit", "1"],
                ["--conversation", conversation, "--since", middle],
                ["--conversation", conversation, "--type", types.first ?? ""],
            ]
        }
        return queries
    }

    /// Runs every query through `stoa query` and the reference; each must
    /// print the same. `options` go to both with every query (field names).
    func compare(_ directory: String, cache: String, edges: Int = 8, options: [String] = []) throws {
        var environment = ProcessInfo.processInfo.environment
        environment["STOA_CACHE_DIR"] = cache
        let description = try Self.describe(directory, options: options)
        let queries = Self.queries(for: description, edges: edges)
        let answers = try Self.expected(directory, queries, options: options)
        var differences = 0
        for (query, answer) in zip(queries, answers) {
            let result = try run(stoa, ["query", directory] + query + options, environment: environment)
            #expect(result.status == 0, "\(query): \(result.stderr)")
            if result.stdout != answer {
                differences += 1
                Issue.record("stoa query \(directory) \(query.joined(separator: " ")):\n\(result.stdout)\nreference:\n\(answer)")
                if differences >= 5 { return }
            }
        }

        // The lines skipped, each with its file and line, and the counts.
        let skipped = try run(stoa, ["stats", directory, "--skipped"] + options, environment: environment)
        #expect(skipped.status == 0, "\(skipped.stderr)")
        let listed = skipped.stdout.split(separator: "\n").map { line -> String in
            let text = String(line.dropFirst(directory.count + 1))
            return String(text.prefix(upTo: text.range(of: ": ")!.lowerBound))
        }
        #expect(listed == description.skipped.map { "\($0.file):line \($0.line)" })
        let stats = try run(stoa, ["stats", directory, "--json"] + options, environment: environment)
        let counts = try #require(try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any])
        #expect(counts["records"] as? Int == description.records.count)
        #expect(counts["damaged_lines"] as? Int == description.skipped.count)
    }

    static let fixtures = ["agent-logs", "python-logging", "structlog", "claude-code", "openai", "messy"]

    @Test("stoa query agrees with the reference on each fixture directory", arguments: fixtures)
    func fixtureDirectory(name: String) throws {
        let directory = TemporaryDirectory()
        let logs = Self.root + "/Fixtures/foreign/" + name
        let before = ForeignCLITests.fingerprint(logs)
        try compare(logs, cache: directory.appending("cache"))
        // The same again from the cache the first run wrote.
        try compare(logs, cache: directory.appending("cache"), edges: 3)
        #expect(ForeignCLITests.fingerprint(logs) == before)
    }

    @Test("other field names: Claude Code's sessionId as the conversation; structlog's level as the type")
    func otherFieldNames() throws {
        let directory = TemporaryDirectory()
        let cache = directory.appending("cache")
        let transcripts = Self.root + "/Fixtures/foreign/claude-code"
        try compare(transcripts, cache: cache, options: ["--conversation-fields", "sessionId"])
        // Each set of field names has its own cache entries: neither takes the other's.
        try compare(transcripts, cache: cache, edges: 3)
        try compare(transcripts, cache: cache, edges: 3, options: ["--conversation-fields", "sessionId"])
        try compare(
            Self.root + "/Fixtures/foreign/structlog", cache: cache, edges: 4,
            options: ["--time-fields", "timestamp", "--type-fields", "level", "--conversation-fields", "user,conversation_id"])
        #expect(listDirectory(cache + "/foreign").count == 3)
    }

    @Test("stoa query agrees with the reference on large generated logs (many blocks, late records)")
    func generatedDirectory() throws {
        let directory = TemporaryDirectory()
        let logs = directory.appending("logs")
        let made = try run("/usr/bin/env", ["python3", Self.root + "/Tools/make_agent_logs.py", logs, "--records", "1500"])
        try #require(made.status == 0, "\(made.stderr)")
        try compare(logs, cache: directory.appending("cache"), edges: 6)
    }

    @Test("a file that changes between queries is read again, even with its size and mtime put back")
    func changedFiles() throws {
        let directory = TemporaryDirectory()
        let logs = directory.appending("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let file = logs + "/live.jsonl"
        let cache = directory.appending("cache")
        func check() throws { try compare(logs, cache: cache, edges: 3) }

        // A writer mid-line, then finishing it and going on.
        try writeBytes(Array(#"{"ts":"2026-11-20T10:00:01Z","type":"a"}"#.utf8) + [0x0A] + Array(#"{"ts":"2026-11-20T10:00:02Z","ty"#.utf8), to: file)
        try check()
        let handle = try #require(FileHandle(forWritingAtPath: file))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((#"pe":"b"}"# + "\n" + #"{"ts":"2026-11-20T09:00:00Z","type":"c"}"#).utf8))
        try handle.close()
        try check()
        // Rewritten in place with the same size and the old mtime (cp -p, rsync -t do this).
        var info = stat()
        #expect(stat(file, &info) == 0)
        let mtime = info.st_mtim
        let old = try readBytes(file)
        let rewritten = Array(String(decoding: old, as: UTF8.self).replacingOccurrences(of: #""type":"a""#, with: #""type":"z""#).utf8)
        #expect(rewritten.count == old.count)
        let rewriter = try #require(FileHandle(forWritingAtPath: file))
        try rewriter.truncate(atOffset: 0)
        try rewriter.write(contentsOf: Data(rewritten))
        try rewriter.close()
        var times = [mtime, mtime]
        #expect(utimensat(AT_FDCWD, file, &times, 0) == 0)
        var after = stat()
        #expect(stat(file, &after) == 0)
        #expect(after.st_ino == info.st_ino && after.st_size == info.st_size)
        #expect(after.st_mtim.tv_sec == mtime.tv_sec && after.st_mtim.tv_nsec == mtime.tv_nsec)
        try check()
        var environment = ProcessInfo.processInfo.environment
        environment["STOA_CACHE_DIR"] = cache
        let byType = try run(stoa, ["query", logs, "--type", "z"], environment: environment)
        #expect(byType.stdout == #"{"ts":"2026-11-20T10:00:01Z","type":"z"}"# + "\n")
        // Truncated to nothing.
        try writeBytes([], to: file)
        try check()
    }
}
