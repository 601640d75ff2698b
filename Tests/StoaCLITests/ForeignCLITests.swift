import Foundation
import StoaTestSupport
import Testing

/// `stoa query|tail|import` on directories and files Stoa does not own, run
/// from the outside.
@Suite struct ForeignCLITests {
    let stoa = builtProduct("stoa")

    func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    /// The environment, with the cache of foreign directories in `cache`.
    static func environment(cache: String) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["STOA_CACHE_DIR"] = cache
        return environment
    }

    /// Names, sizes and mtimes (to the nanosecond) of a directory and its files.
    static func fingerprint(_ directory: String) -> [String] {
        ([""] + listDirectory(directory)).compactMap { name in
            var info = stat()
            guard stat(name.isEmpty ? directory : directory + "/" + name, &info) == 0 else { return nil }
            return "\(name) \(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        }
    }

    /// Compact lines of the fixture records, by (time, position): hand-computed.
    static let allRecords = [
        #"{"timestamp":"2026-11-19T22:15:00.000000Z","type":"user_message","session_id":"conv-z","text":"Good night"}"#,
        #"{"timestamp":"2026-11-19T22:15:01.400000Z","type":"assistant_message","session_id":"conv-z","text":"Good night!"}"#,
        #"{"timestamp":"2026-11-20T09:59:59.999999Z","type":"user_message","session_id":"conv-y","text":"Morning"}"#,
        #"{"timestamp":"2026-11-20T10:00:00.120000Z","type":"user_message","session_id":"conv-a","text":"Find the flaky test in CI"}"#,
        #"{"timestamp":"2026-11-20T10:00:00.500000+00:00","type":"audio_chunk","session_id":"conv-a","bytes":3200}"#,
        #"{"timestamp":"2026-11-20T10:00:01.000000+00:00","type":"transcript_delta","session_id":"conv-a","text":"find the"}"#,
        #"{"event":"route_selected","route":"search","level":"info","logger":"planner","timestamp":"2026-11-20T10:00:01.200000"}"#,
        #"{"timestamp":"2026-11-20T10:00:01.500000Z","type":"assistant_message","session_id":"conv-a","text":"Looking at the last CI runs."}"#,
        #"{"timestamp":"2026-11-20T10:00:02.000000Z","type":"user_message","session_id":"conv-b","text":"A second conversation, its clock a little behind"}"#,
        #"{"timestamp":"2026-11-20T11:00:02.000000+01:00","type":"transcript_delta","session_id":"conv-a","text":"flaky test"}"#,
        #"{"event":"tool_chosen","tool":"grep","confidence":0.82,"level":"info","logger":"planner","timestamp":"2026-11-20T10:00:02.900000"}"#,
        #"{"timestamp":"2026-11-20T10:00:03.000000+00:00","type":"audio_chunk","session_id":"conv-a","bytes":1600}"#,
        #"{"timestamp":"2026-11-20T10:00:03.010000Z","type":"tool_call","session_id":"conv-a","tool":"grep","args":{"pattern":"FAIL","path":"ci/logs"}}"#,
        #"{"event":"retry_scheduled","attempt":2,"level":"warning","logger":"executor","timestamp":"2026-11-20T10:00:03.250000"}"#,
        #"{"timestamp":1795168804.75,"type":"vad_end","session_id":"conv-a"}"#,
        #"{"timestamp":"2026-11-20T10:00:06.250000Z","type":"assistant_message","session_id":"conv-a","text":"It is test_upload: caf\u00e9 \"timeout\", 3 of 20 runs"}"#,
        #"{"event":"answer_committed","level":"info","logger":"planner","timestamp":"2026-11-20T10:00:06.250000"}"#,
    ]

    @Test func queryReadsADirectoryOfLogs() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let cache = directory.appending("cache")
        let before = Self.fingerprint(logs)
        let result = try run(stoa, ["query", logs], environment: Self.environment(cache: cache))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(lines(result.stdout) == Self.allRecords)
        // A count, then the first few skipped lines with file and line.
        let errors = lines(result.stderr)
        #expect(errors.first == "stoa: skipped 8 lines that are not records")
        #expect(errors.dropFirst().first?.hasPrefix("stoa:   \(logs)/conversations_2026-11-19.jsonl.gz:line 3: ") == true)
        #expect(errors.contains { $0.hasPrefix("stoa:   \(logs)/conversations_2026-11-20.jsonl:line 3: ") })
        #expect(errors.last == "stoa:   … and 3 more")
        #expect(errors.count == 7)

        // Windows: no-zone times in the files are UTC; so are the command line's.
        let window = try run(
            stoa, ["query", logs, "--since", "2026-11-20 10:00:02", "--until", "2026-11-20T10:00:03.25Z"],
            environment: Self.environment(cache: cache))
        #expect(lines(window.stdout) == Array(Self.allRecords[8..<13]))
        let newest = try run(
            stoa, ["query", logs, "--type", "audio_chunk", "--type", "retry_scheduled", "--reverse", "--limit", "2"],
            environment: Self.environment(cache: cache))
        #expect(lines(newest.stdout) == [Self.allRecords[13], Self.allRecords[11]])
        let json = try run(stoa, ["query", logs, "--conversation", "conv-b", "--output", "json"], environment: Self.environment(cache: cache))
        #expect(json.stdout == "[\n\(Self.allRecords[8])\n]\n")

        // The cache is where STOA_CACHE_DIR says; the directory is untouched.
        #expect(listDirectory(cache) == ["foreign"])
        #expect(Self.fingerprint(logs) == before)
    }

    @Test func tailGivesTheNewestRecordsByTime() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let result = try run(stoa, ["tail", logs, "-n", "3"], environment: Self.environment(cache: directory.appending("cache")))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(lines(result.stdout) == Array(Self.allRecords.suffix(3)))
        #expect(result.stderr.hasPrefix("stoa: skipped 8 lines"))
        let follow = try run(stoa, ["tail", logs, "-f"], environment: Self.environment(cache: directory.appending("cache")))
        #expect(follow.status == 64)
    }

    @Test func cacheInPlaceWritesOnlyDotStoa() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let cache = directory.appending("cache")
        let names = listDirectory(logs)
        let result = try run(stoa, ["query", logs, "--cache-in-place"], environment: Self.environment(cache: cache))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(lines(result.stdout) == Self.allRecords)
        #expect(listDirectory(logs) == (names + [".stoa"]).sorted())
        #expect(listDirectory(logs + "/.stoa").count == 4)
        #expect(!FileManager.default.fileExists(atPath: cache))
    }

    @Test func aDirectoryWithoutLogsIsNotAStore() throws {
        let directory = TemporaryDirectory()
        try "not json\n".write(toFile: directory.appending("notes.txt"), atomically: false, encoding: .utf8)
        let result = try run(stoa, ["query", directory.path], environment: Self.environment(cache: directory.appending("cache")))
        #expect(result.status == 1)
        #expect(result.stderr.contains("not a store (no stoa.json), and no *.jsonl or *.jsonl.gz files to read"))
    }

    @Test func importReportsBadLinesWithFileAndLine() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let store = directory.appending("store")
        let conversations = logs + "/conversations_2026-11-20.jsonl"
        let gzip = logs + "/conversations_2026-11-19.jsonl.gz"
        let result = try run(stoa, ["import", store, conversations, gzip])
        #expect(result.status == 65, "\(result.stderr)")
        let errors = lines(result.stderr).filter { !$0.hasPrefix("stoa:") }
        #expect(errors.map { String($0.prefix(while: { $0 != " " })) } == [
            "\(conversations):line", "\(conversations):line", "\(conversations):line", "\(conversations):line",
            "\(conversations):line", "\(gzip):line",
        ])
        #expect(errors.map { $0.split(separator: ":")[1] } == ["line 3", "line 5", "line 7", "line 8", "line 9", "line 3"])
        #expect(errors[4].hasSuffix("record has no time field (ts, timestamp, time, @timestamp)"))
        #expect(errors[0].contains("a record must be a JSON object"))
        #expect(result.stderr.contains("stoa: imported 5 records from \(conversations) (seq 0-4), refused 5 lines"))
        #expect(result.stderr.contains("stoa: imported 3 records from \(gzip) (seq 5-7), refused 1 line"))
        let query = try run(stoa, ["query", store])
        #expect(lines(query.stdout).count == 8)
    }

    @Test func importWithDedupTwiceAddsNothing() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let store = directory.appending("store")
        let fallback = foreignFixture("fallback/fallback-2026-11-23T10-47-22.123456Z-000001.jsonl")
        let files = [fallback, logs + "/realtime_2026-11-20.jsonl"]
        let first = try run(stoa, ["import", store, "--dedup"] + files)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("imported 3 records from \(fallback) (seq 0-2)"))
        #expect(first.stderr.contains("imported 5 records from \(logs)/realtime_2026-11-20.jsonl (seq 3-7)"))
        let stored = try run(stoa, ["query", store]).stdout
        #expect(lines(stored).count == 8)

        let second = try run(stoa, ["import", store, "--dedup"] + files)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("imported 0 records from \(fallback), skipped 3 already in the store"))
        #expect(second.stderr.contains("skipped 5 already in the store"))
        #expect(try run(stoa, ["query", store]).stdout == stored)

        // Without --dedup they are added again.
        let third = try run(stoa, ["import", store, fallback])
        #expect(third.status == 0)
        #expect(lines(try run(stoa, ["query", store]).stdout).count == 11)
    }

    @Test func importGoesOnPastAnUnreadableFile() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("store")
        let fallback = foreignFixture("fallback/fallback-2026-11-23T10-47-22.123456Z-000001.jsonl")
        let result = try run(stoa, ["import", store, directory.appending("missing.jsonl"), fallback, "--type", "x"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("missing.jsonl"))
        #expect(result.stderr.contains("imported 3 records from \(fallback)"))
        let usage = try run(stoa, ["import", store])
        #expect(usage.status == 64)
    }

    @Test func importIntoALockedStoreExits75() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("store")
        let holder = try StoreHolder(stoa: stoa, store: store)
        let result = try run(stoa, ["import", store, foreignFixture("fallback/fallback-2026-11-23T10-47-22.123456Z-000001.jsonl")])
        #expect(try holder.release() == 0)
        #expect(result.status == 75, "\(result.stderr)")
    }

    @Test func replayReadsADirectoryOfLogs() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let environment = Self.environment(cache: directory.appending("cache"))
        let before = Self.fingerprint(logs)
        let all = try run(stoa, ["replay", logs], environment: environment)
        #expect(all.status == 0, "\(all.stderr)")
        #expect(lines(all.stdout) == Self.allRecords)
        #expect(all.stderr.hasPrefix("stoa: skipped 8 lines that are not records\n"))
        let conversation = try run(stoa, ["replay", logs, "--conversation", "conv-z"], environment: environment)
        #expect(lines(conversation.stdout) == Array(Self.allRecords[0..<2]))
        let newest = try run(stoa, ["replay", logs, "--type", "audio_chunk", "--reverse"], environment: environment)
        #expect(lines(newest.stdout) == [Self.allRecords[11], Self.allRecords[4]])

        // At a pace: 10:00:00.12 to 10:00:01.5 in conv-a's user and assistant
        // messages and the tool call (2.89 s of original time) at 10x: about 0.29 s.
        let started = Date()
        let paced = try run(
            stoa, ["replay", logs, "--speed", "10", "--since", "2026-11-20T10:00:00.12Z", "--until", "2026-11-20T10:00:03.02Z",
                   "--conversation", "conv-a", "--type", "user_message", "--type", "tool_call"],
            environment: environment)
        let elapsed = Date().timeIntervalSince(started)
        #expect(paced.status == 0, "\(paced.stderr)")
        #expect(lines(paced.stdout) == [Self.allRecords[3], Self.allRecords[12]])
        #expect(elapsed >= 0.28, "\(elapsed)")
        #expect(Self.fingerprint(logs) == before)
    }

    @Test func exportWritesTheRecordsOfADirectoryOfLogs() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let environment = Self.environment(cache: directory.appending("cache"))
        let before = Self.fingerprint(logs)
        let plain = directory.appending("all.jsonl")
        let result = try run(stoa, ["export", logs, plain], environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(lines(result.stderr).first == "stoa: exported 17 records to \(plain)")
        #expect(result.stderr.contains("stoa: skipped 8 lines that are not records"))
        #expect(try String(contentsOfFile: plain, encoding: .utf8) == Self.allRecords.joined(separator: "\n") + "\n")

        // gzip, with a window: zcat gives the same as stoa query.
        let gzip = directory.appending("window.jsonl.gz")
        let window = ["--since", "2026-11-20 10:00:02", "--until", "2026-11-20T10:00:03.25Z"]
        let exported = try run(stoa, ["export", logs, gzip] + window, environment: environment)
        #expect(exported.status == 0, "\(exported.stderr)")
        let unzipped = try run("/usr/bin/env", ["gzip", "-dc", gzip])
        #expect(unzipped.stdout == (try run(stoa, ["query", logs] + window, environment: environment)).stdout)
        #expect(lines(unzipped.stdout) == Array(Self.allRecords[8..<13]))
        #expect(Self.fingerprint(logs) == before)

        // Where it cannot write: an error naming the file; nothing left behind.
        let nowhere = directory.appending("missing/out.jsonl")
        let failed = try run(stoa, ["export", logs, nowhere], environment: environment)
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("missing/out.jsonl"))
        #expect(!FileManager.default.fileExists(atPath: directory.appending("missing")))
    }

    @Test func statsSaysWhichLinesWereSkippedAndWhere() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let environment = Self.environment(cache: directory.appending("cache"))
        let stats = try run(stoa, ["stats", logs], environment: environment)
        #expect(stats.status == 0, "\(stats.stderr)")
        #expect(stats.stdout.contains("records   17\n"))
        #expect(stats.stdout.contains("skipped   8 lines that are not records (stoa stats \(logs) --skipped lists them)\n"))
        #expect(!stats.stdout.contains("verify"))
        #expect(!stats.stdout.contains("damaged"))

        let skipped = try run(stoa, ["stats", logs, "--skipped"], environment: environment)
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect(lines(skipped.stdout).map { String($0[..<$0.range(of: ": ")!.lowerBound]) } == [
            "\(logs)/conversations_2026-11-19.jsonl.gz:line 3",
            "\(logs)/conversations_2026-11-20.jsonl:line 3", "\(logs)/conversations_2026-11-20.jsonl:line 5",
            "\(logs)/conversations_2026-11-20.jsonl:line 7", "\(logs)/conversations_2026-11-20.jsonl:line 8",
            "\(logs)/conversations_2026-11-20.jsonl:line 9",
            "\(logs)/decisions_2026-11-20.jsonl:line 5", "\(logs)/realtime_2026-11-20.jsonl:line 4",
        ])
        #expect(lines(skipped.stdout)[5].hasSuffix("record has no time field (ts, timestamp, time, @timestamp)"))
        #expect(lines(skipped.stdout)[7].hasSuffix(": blank line"))

        // One line: singular.
        let one = directory.appending("one")
        try FileManager.default.createDirectory(atPath: one, withIntermediateDirectories: true)
        try "{\"ts\":\"2026-11-20T10:00:00Z\"}\n42\n".write(toFile: one + "/a.jsonl", atomically: false, encoding: .utf8)
        let single = try run(stoa, ["stats", one], environment: environment)
        #expect(single.stdout.contains("skipped   1 line that is not a record (stoa stats \(one) --skipped lists them)\n"))
        let query = try run(stoa, ["query", one], environment: environment)
        #expect(query.stderr.hasPrefix("stoa: skipped 1 line that is not a record\n"))

        // A store: --skipped is for directories of logs; damage is stoa verify's.
        let store = directory.appending("store")
        #expect(try run(stoa, ["append", store], input: "{\"type\":\"x\"}\n").status == 0)
        let refused = try run(stoa, ["stats", store, "--skipped"])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("stoa verify"))
    }

    @Test func aFileOrAMissingDirectoryIsSaidClearly() throws {
        let directory = TemporaryDirectory()
        let environment = Self.environment(cache: directory.appending("cache"))
        let file = foreignFixture("structlog/audit_2026-11-20.jsonl")
        for command in ["query", "tail", "stats", "replay"] {
            let result = try run(stoa, [command, file], environment: environment)
            #expect(result.status == 64, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("\(file): a file, not a directory: give the directory that holds it"))
        }
        // A folder of folders of logs (like ~/.claude/projects): say where they are.
        let projects = directory.appending("projects")
        for project in ["app", "site"] {
            try FileManager.default.createDirectory(atPath: projects + "/" + project, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: foreignFixture("structlog/audit_2026-11-20.jsonl"), toPath: projects + "/" + project + "/s.jsonl")
        }
        try FileManager.default.createDirectory(atPath: projects + "/empty", withIntermediateDirectories: true)
        let folders = try run(stoa, ["query", projects], environment: environment)
        #expect(folders.status == 1)
        #expect(folders.stderr.contains(
            "no *.jsonl or *.jsonl.gz files to read (subdirectories are not read; these hold logs: \(projects)/app, \(projects)/site)"))
        let missing = try run(stoa, ["query", directory.appending("nope")], environment: environment)
        #expect(missing.status == 1)
        #expect(missing.stderr == "stoa: \(directory.appending("nope")): no such directory\n")
    }

    @Test func fieldNamesForADirectoryOfLogs() throws {
        let directory = TemporaryDirectory()
        let environment = Self.environment(cache: directory.appending("cache"))
        let transcripts = foreignFixture("claude-code")
        let session = "9c41d7e0-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
        // Claude Code calls it sessionId: not a default conversation field.
        #expect(try run(stoa, ["query", transcripts, "--conversation", session], environment: environment).stdout == "")
        let named = try run(
            stoa, ["query", transcripts, "--conversation-fields", "sessionId", "--conversation", session], environment: environment)
        #expect(named.status == 0, "\(named.stderr)")
        #expect(lines(named.stdout).count == 2)
        #expect(lines(named.stdout).allSatisfy { $0.contains(#""sessionId":"\#(session)""#) })

        let bad = try run(stoa, ["query", transcripts, "--type-fields", "type,,kind"], environment: environment)
        #expect(bad.status == 64)
        #expect(bad.stderr.contains(#"--type-fields takes field names separated by commas, got "type,,kind""#))
        // A store reads the fields of its stoa.json.
        let store = directory.appending("store")
        #expect(try run(stoa, ["append", store], input: "{\"type\":\"x\"}\n").status == 0)
        let refused = try run(stoa, ["query", store, "--conversation-fields", "sessionId"])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("a store reads the fields its stoa.json names"))
    }
}
