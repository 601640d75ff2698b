import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// The reader of directories Stoa does not own (§7), against an independent
/// reference (Python's `json`, run as a child process), and `stoa import`'s
/// library side.
@Suite struct ForeignLogTests {
    // MARK: Fixtures and the reference

    /// What the reference says a directory holds.
    struct Reference: Decodable {
        /// seq, time (µs), the compact line, the type.
        var records: [Row]
        /// File name and line number of each skipped line.
        var skipped: [Skipped]

        struct Row: Decodable, Equatable, CustomStringConvertible {
            var seq: UInt64
            var time: Int64
            var line: String
            var type: String
            var description: String { "\(seq) \(time) \(line)" }
        }

        struct Skipped: Decodable, Equatable {
            var file: String
            var line: Int
        }
    }

    /// Written separately from Stoa, with Python's `json` and `datetime`: every
    /// `*.jsonl(.gz)` by name; every line counted for seqs; a line is a record
    /// when `json.loads` gives a dict whose first present time field reads;
    /// records sorted by (time, seq).
    static let referenceScript = #"""
        import gzip, json, os, sys
        from datetime import datetime, timezone, timedelta

        EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
        TIME = ("ts", "timestamp", "time", "@timestamp")
        TYPE = ("type", "event_type", "event", "kind")

        def micros(value):
            if isinstance(value, str):
                try:
                    moment = datetime.fromisoformat(value)
                except ValueError:
                    return None
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=timezone.utc)
                return (moment - EPOCH) // timedelta(microseconds=1)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return int(round(value * 1_000_000)) if abs(value) < 1e11 else None
            return None

        def compact(text):
            out, in_string, escaped = [], False, False
            for char in text:
                if in_string:
                    out.append(char)
                    if escaped: escaped = False
                    elif char == "\\": escaped = True
                    elif char == '"': in_string = False
                elif char in " \t\r\n":
                    continue
                else:
                    if char == '"': in_string = True
                    out.append(char)
            return "".join(out)

        directory = sys.argv[1]
        since = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != "-" else None
        until = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] != "-" else None
        names = sorted(n for n in os.listdir(directory)
                       if (n.endswith(".jsonl") or n.endswith(".jsonl.gz")) and not n.startswith("."))
        records, skipped, seq = [], [], 0
        for name in names:
            data = open(os.path.join(directory, name), "rb").read()
            if name.endswith(".gz"):
                data = gzip.decompress(data)
            lines = data.split(b"\n")
            if lines and lines[-1] == b"":
                lines.pop()
            for number, raw in enumerate(lines, start=1):
                this, seq = seq, seq + 1
                try:
                    record = json.loads(raw.decode("utf-8"))
                except ValueError:
                    record = None
                time = None
                if isinstance(record, dict):
                    present = [record[f] for f in TIME if f in record]
                    time = micros(present[0]) if present else None
                if time is None:
                    skipped.append({"file": name, "line": number})
                    continue
                line = compact(raw.decode("utf-8"))
                assert json.loads(line) == record
                kind = next((record[f] for f in TYPE if isinstance(record.get(f), str)), "")
                if (since is None or time >= since) and (until is None or time < until):
                    records.append({"seq": this, "time": time, "line": line, "type": kind})
        records.sort(key=lambda r: (r["time"], r["seq"]))
        json.dump({"records": records, "skipped": skipped}, sys.stdout)
        """#

    static func reference(_ directory: String, since: Int64? = nil, until: Int64? = nil) throws -> Reference {
        let result = try run(
            "/usr/bin/env",
            ["python3", "-c", referenceScript, directory, since.map(String.init) ?? "-", until.map(String.init) ?? "-"])
        try #require(result.status == 0, "\(result.stderr)")
        return try JSONDecoder().decode(Reference.self, from: Data(result.stdout.utf8))
    }

    static func rows(_ cursor: RecordCursor) throws -> [Reference.Row] {
        try cursor.all().map { Reference.Row(seq: $0.seq, time: $0.time.microsecondsSinceEpoch, line: $0.json, type: $0.type) }
    }

    static func time(_ text: String) -> Int64 { RecordTime.parseText(text)! }

    /// Names, sizes and mtimes (to the nanosecond) of a directory and its files.
    static func fingerprint(_ directory: String) -> [String] {
        var entries: [String] = []
        for name in [""] + listDirectory(directory) {
            var info = stat()
            let path = name.isEmpty ? directory : directory + "/" + name
            guard stat(path, &info) == 0 else { continue }
            entries.append("\(name) \(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec) \(info.st_ino)")
        }
        return entries
    }

    // MARK: Reading

    @Test func queriesMatchTheReference() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let reader = try ForeignLogReader(at: logs, cache: .directory(directory.appending("cache")))

        let everything = try Self.reference(logs)
        #expect(everything.records.count == 17)
        #expect(try Self.rows(reader.query(Query())) == everything.records)
        #expect(try Self.rows(reader.query(Query(order: .newestFirst))) == everything.records.reversed())

        // Windows, with times in every zone form the files use.
        let windows: [(Int64?, Int64?)] = [
            (Self.time("2026-11-20T10:00:01Z"), Self.time("2026-11-20T10:00:04Z")),
            (Self.time("2026-11-20T10:00:03.25Z"), nil),
            (nil, Self.time("2026-11-20T10:00:00.5Z")),
            (Self.time("2026-11-20T10:00:06.25Z"), Self.time("2026-11-20T10:00:06.250001Z")),
            (Self.time("2026-11-21T00:00:00Z"), nil),
        ]
        for (since, until) in windows {
            let expected = try Self.reference(logs, since: since, until: until).records
            let found = try Self.rows(reader.query(Query(since: since.map(Timestamp.init(microsecondsSinceEpoch:)), until: until.map(Timestamp.init(microsecondsSinceEpoch:)))))
            #expect(found == expected, "window \(since.map(RecordTime.format) ?? "-") … \(until.map(RecordTime.format) ?? "-")")
            let limited = try Self.rows(reader.query(Query(since: since.map(Timestamp.init(microsecondsSinceEpoch:)), until: until.map(Timestamp.init(microsecondsSinceEpoch:)), limit: 2, order: .newestFirst)))
            #expect(limited == Array(expected.reversed().prefix(2)))
        }

        // Types: `type` in some files, `event` (structlog) in others.
        for type in ["user_message", "retry_scheduled", "audio_chunk"] {
            let expected = everything.records.filter { $0.type == type }
            #expect(!expected.isEmpty)
            #expect(try Self.rows(reader.query(Query(types: [type]))) == expected)
        }
        // A conversation and a substring.
        let conversationB = try reader.query(Query(conversation: "conv-b")).all()
        #expect(conversationB.map(\.json) == everything.records.filter { $0.line.contains("conv-b") }.map(\.line))
        let greps = try reader.query(Query(contains: "flaky")).all().map(\.json)
        #expect(greps == everything.records.map(\.line).filter { $0.contains("flaky") })
    }

    @Test func conventionsOfAgentLogDirectories() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let reader = try ForeignLogReader(at: logs, cache: .disabled)
        let records = try reader.query(Query()).all()
        func record(_ needle: String) throws -> Record {
            try #require(records.first { $0.json.contains(needle) }, "no record with \(needle)")
        }
        // No zone is UTC; +01:00 is converted; epoch seconds are read.
        #expect(try record("retry_scheduled").timeText == "2026-11-20T10:00:03.250000Z")
        #expect(try record("retry_scheduled").type == "retry_scheduled")
        #expect(try record(#""text":"flaky test""#).time.microsecondsSinceEpoch == Self.time("2026-11-20T10:00:02Z"))
        #expect(try record("vad_end").timeText == "2026-11-20T10:00:04.750000Z")
        // CRLF is gone, and the records are compact; escapes are kept as written.
        #expect(!records.contains { $0.bytes.contains(0x0D) || $0.json.contains(", \"") })
        #expect(try record("test_upload").json.contains(#"caf\u00e9 \"timeout\", 3 of 20"#))
        // The last line without a newline is a record (the file's line 10 = seq 4 + 9).
        let noNewline = try record("second conversation")
        #expect(noNewline.seq == 4 + 9)
        #expect(noNewline.conversation == "conv-b")
        // The half-written last line of decisions_ is not.
        #expect(!records.contains { $0.json.contains("budget_check") })
        // Ties in time go by position: conversations_ sorts before decisions_.
        let tie = records.filter { $0.time.microsecondsSinceEpoch == Self.time("2026-11-20T10:00:06.25Z") }
        #expect(tie.map(\.type) == ["assistant_message", "answer_committed"])
    }

    @Test func malformedLinesAreSkippedAndCountedExactly() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let reader = try ForeignLogReader(at: logs, cache: .disabled)
        let reference = try Self.reference(logs)
        let skipped = try reader.skippedLines()
        #expect(skipped.map { Reference.Skipped(file: Path.lastComponent(of: $0.path), line: $0.line) } == reference.skipped)
        #expect(skipped.count == 8)
        func reason(_ file: String, _ line: Int) -> String {
            skipped.first { $0.path.hasSuffix("/" + file) && $0.line == line }?.reason ?? "(not skipped)"
        }
        #expect(reason("conversations_2026-11-20.jsonl", 3).contains("must be a JSON object"))
        #expect(reason("conversations_2026-11-20.jsonl", 9).contains("no time field"))
        #expect(reason("realtime_2026-11-20.jsonl", 4) == "blank line")
        #expect(reason("decisions_2026-11-20.jsonl", 5).hasPrefix("unfinished last line"))
        // A skipped line's seq is the position it holds.
        #expect(skipped.first { $0.path.hasSuffix("/realtime_2026-11-20.jsonl") }?.seq == 4 + 10 + 5 + 3)

        // Every cursor reports them all, whatever its window.
        let cursor = try reader.query(Query(since: Timestamp(microsecondsSinceEpoch: Self.time("2026-11-21T00:00:00Z"))))
        #expect(try cursor.all().isEmpty)
        #expect(cursor.damaged == skipped)

        let stats = try reader.stats()
        #expect(stats.records == 17)
        #expect(stats.damagedLines == 8)
        #expect(stats.segments == 4)
        #expect(stats.nextSeq == 4 + 10 + 5 + 6)
        #expect(stats.oldest?.microsecondsSinceEpoch == Self.time("2026-11-19T22:15:00Z"))
        #expect(stats.newest?.microsecondsSinceEpoch == Self.time("2026-11-20T10:00:06.25Z"))
        #expect(stats.types["transcript_delta"] == 2)
        #expect(stats.types["route_selected"] == 1)
    }

    @Test func lastIsTheNewestByTime() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let reader = try ForeignLogReader(at: logs, cache: .disabled)
        let reference = try Self.reference(logs).records
        #expect(try Self.rows(reader.last(3)) == Array(reference.suffix(3)))
        #expect(try Self.rows(reader.last(100)) == reference)
        #expect(try reader.last(0).all().isEmpty)
    }

    @Test func theCacheSavesRescans() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let cache = directory.appending("cache")
        let first = try ForeignLogReader(at: logs, cache: .directory(cache))
        let expected = try Self.rows(first.query(Query()))
        #expect(first.counters.scans == 4)
        // The same reader: nothing parsed, nothing read again.
        #expect(try Self.rows(first.query(Query())) == expected)
        #expect(first.counters == ForeignReadCounters(scans: 4, cacheHits: 0, loads: 0))

        // A new reader (another `stoa query`): indexes from the cache; files read, not parsed.
        let second = try ForeignLogReader(at: logs, cache: .directory(cache))
        #expect(try Self.rows(second.query(Query())) == expected)
        #expect(second.counters == ForeignReadCounters(scans: 0, cacheHits: 4, loads: 4))
        // Stats and a query whose window holds no file read nothing but the cache.
        let third = try ForeignLogReader(at: logs, cache: .directory(cache))
        _ = try third.stats()
        #expect(try third.query(Query(since: Timestamp(microsecondsSinceEpoch: Self.time("2026-11-21T00:00:00Z")))).all().isEmpty)
        #expect(try third.query(Query(until: Timestamp(microsecondsSinceEpoch: Self.time("2026-11-20T00:00:00Z")))).all().count == 2)
        #expect(third.counters == ForeignReadCounters(scans: 0, cacheHits: 4, loads: 1))
        // The cache is outside the log directory, one entry per file.
        let entries = try #require(listDirectory(cache + "/foreign").first.map { listDirectory(cache + "/foreign/" + $0) })
        #expect(entries.filter { $0.hasSuffix(".idx") }.count == 4)

        // A writer appends (completing the half-written line): that file alone is parsed again.
        let handle = try #require(FileHandle(forWritingAtPath: logs + "/decisions_2026-11-20.jsonl"))
        handle.seekToEndOfFile()
        handle.write(Data(#"amp": "2026-11-20T10:00:07.000000"}"#.utf8 + [0x0A]))
        try handle.close()
        let after = try Self.rows(second.query(Query()))
        #expect(after == (try Self.reference(logs)).records)
        #expect(after.last?.line.contains("budget_check") == true)
        #expect(second.counters.scans == 1)
        let fourth = try ForeignLogReader(at: logs, cache: .directory(cache))
        #expect(try Self.rows(fourth.query(Query())) == after)
        #expect(fourth.counters.scans == 0)
    }

    @Test func aNarrowQueryOfALargeFileReadsOnlyItsBlocks() throws {
        let directory = TemporaryDirectory()
        let logs = directory.appending("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        // ~3 MB each, times in order with a little jitter and some late, CRLF in one, blank and bad lines here and there.
        var generator = SeededGenerator(seed: 7)
        for (name, lineEnd) in [("a_2026-11-21.jsonl", "\n"), ("b_2026-11-21.jsonl", "\r\n")] {
            var text = ""
            for number in 0..<20_000 {
                var micros = Int64(number) * 10_000 + Int64.random(in: 0..<30_000, using: &generator)
                if number % 50 == 7 { micros -= 2_000_000 }  // late: kept apart by the index
                let time = RecordTime.format(Self.time("2026-11-21T08:00:00Z") + micros)
                if number % 997 == 0 { text += "{\"broken\": " + lineEnd }
                if number % 1999 == 0 { text += lineEnd }
                let type = ["message", "tool_call", "tool_result"][Int.random(in: 0..<3, using: &generator)]
                text += #"{"timestamp": "\#(time)", "type": "\#(type)", "session_id": "c\#(number % 37)", "n": \#(number), "pad": "\#(String(repeating: "z", count: number % 90))"}"# + lineEnd
            }
            try text.write(toFile: logs + "/" + name, atomically: false, encoding: .utf8)
        }
        let cache = directory.appending("cache")
        let full = try ForeignLogReader(at: logs, cache: .directory(cache))
        let queries = [
            Query(since: Timestamp(microsecondsSinceEpoch: Self.time("2026-11-21T08:01:00Z")), until: Timestamp(microsecondsSinceEpoch: Self.time("2026-11-21T08:01:03Z"))),
            Query(since: Timestamp(microsecondsSinceEpoch: Self.time("2026-11-21T08:02:00Z")), until: Timestamp(microsecondsSinceEpoch: Self.time("2026-11-21T08:02:10Z")), types: ["tool_call"]),
            Query(since: Timestamp(microsecondsSinceEpoch: Self.time("2026-11-21T08:00:30Z")), until: Timestamp(microsecondsSinceEpoch: Self.time("2026-11-21T08:00:40Z")), conversation: "c5"),
            Query(until: Timestamp(microsecondsSinceEpoch: Self.time("2026-11-21T08:00:01Z")), order: .newestFirst),
            // Records that came late, whose blocks' spans are past the window.
            Query(since: Timestamp(microsecondsSinceEpoch: Self.time("2026-11-21T08:03:00Z")), until: Timestamp(microsecondsSinceEpoch: Self.time("2026-11-21T08:03:05Z"))),
        ]
        #expect(try full.snapshot { _ in [] }.allSatisfy { $0.index.late.count > 300 })
        #expect(try full.query(queries[4]).all().contains { $0.json.contains(#""n":18607,"#) })
        for query in queries {
            let fresh = try ForeignLogReader(at: logs, cache: .directory(cache))
            let expected = try Self.reference(logs, since: query.since?.microsecondsSinceEpoch, until: query.until?.microsecondsSinceEpoch).records.filter { row in
                (query.types.isEmpty || query.types.contains(row.type))
                    && (query.conversation.map { row.line.contains("\"session_id\":\"\($0)\"") } ?? true)
            }.reversed(if: query.order == .newestFirst)
            #expect(!expected.isEmpty)
            #expect(try Self.rows(full.query(query)) == expected)
            #expect(try Self.rows(fresh.query(query)) == expected)
            #expect(try Self.rows(fresh.query(query)) == expected)
            #expect(fresh.counters.scans == 0 && fresh.counters.loads == 0 && fresh.counters.blockReads == 4)
        }
        // The whole of it, through the reference.
        #expect(try Self.rows(full.query(Query())) == (try Self.reference(logs)).records)
        #expect(try full.skippedLines().count == 2 * (21 + 11))
    }

    @Test func aDamagedCacheEntryIsRebuilt() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let cache = directory.appending("cache")
        let expected = try Self.rows(ForeignLogReader(at: logs, cache: .directory(cache)).query(Query()))
        let folder = cache + "/foreign/" + listDirectory(cache + "/foreign")[0]
        for name in listDirectory(folder) {
            var bytes = try readBytes(folder + "/" + name)
            bytes[bytes.count / 2] ^= 0xFF
            try writeBytes(bytes, to: folder + "/" + name)
        }
        let reader = try ForeignLogReader(at: logs, cache: .directory(cache))
        #expect(try Self.rows(reader.query(Query())) == expected)
        #expect(reader.counters.scans == 4)
    }

    @Test func readingNeverWritesIntoTheDirectory() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let before = Self.fingerprint(logs)
        for cache in [ForeignIndexCache.directory(directory.appending("cache")), .disabled] {
            for _ in 0..<2 {
                let reader = try ForeignLogReader(at: logs, cache: cache)
                _ = try reader.query(Query()).all()
                _ = try reader.query(Query(since: Timestamp(microsecondsSinceEpoch: Self.time("2026-11-20T10:00:03Z")), types: ["audio_chunk"])).all()
                _ = try reader.last(5).all()
                _ = try reader.stats()
                _ = try reader.skippedLines()
            }
        }
        #expect(Self.fingerprint(logs) == before)

        // In place, when asked: `.stoa/` and nothing else.
        let reader = try ForeignLogReader(at: logs, cache: .inPlace)
        _ = try reader.query(Query()).all()
        let after = Self.fingerprint(logs)
        #expect(after.filter { !$0.hasPrefix(" ") && !$0.hasPrefix(".stoa ") } == before.filter { !$0.hasPrefix(" ") })
        #expect(listDirectory(logs + "/.stoa").filter { $0.hasSuffix(".idx") }.count == 4)
        // …which the next reader in place uses.
        let again = try ForeignLogReader(at: logs, cache: .inPlace)
        _ = try again.query(Query()).all()
        #expect(again.counters.scans == 0)
    }

    @Test func filesThatChangeUnderTheReader() throws {
        let directory = TemporaryDirectory()
        let logs = directory.appending("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let file = logs + "/realtime_2026-11-21.jsonl"
        let lines = (0..<50).map { #"{"timestamp": "2026-11-21T08:00:\#(String(format: "%02d", $0))Z", "type": "tick", "n": \#($0)}"# }
        try lines.joined(separator: "\n").appending("\n").write(toFile: file, atomically: false, encoding: .utf8)
        let reader = try ForeignLogReader(at: logs, cache: .directory(directory.appending("cache")))
        #expect(try reader.query(Query()).all().count == 50)

        // Truncated by its writer (log rotation by copy-truncate): read again, no crash.
        try lines.prefix(10).joined(separator: "\n").appending("\n").write(toFile: file, atomically: false, encoding: .utf8)
        #expect(try reader.query(Query()).all().map(\.seq) == Array(0..<UInt64(10)))
        // Rotated away: the directory is empty, and that is not an error.
        try FileManager.default.removeItem(atPath: file)
        #expect(try reader.query(Query()).all().isEmpty)
        #expect(try reader.stats().segments == 0)
        // A file with nothing but damage.
        try writeBytes(Array("\u{FEFF}{\"ts\": 1}\n\n{\"nope\"\n".utf8), to: logs + "/odd.jsonl")
        let odd = try reader.query(Query())
        #expect(try odd.all().map(\.json) == [#"{"ts":1}"#])
        #expect(odd.damaged.map(\.line) == [2, 3])
    }

    @Test func aDamagedGzipFileKeepsWhatCameBefore() throws {
        let directory = TemporaryDirectory()
        let logs = directory.appending("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let text = (0..<400).map { #"{"ts":"2026-11-21T08:00:00.\#(String(format: "%06d", $0))Z","type":"t","pad":"\#(String(repeating: "x", count: $0 % 50))"}"# }
            .joined(separator: "\n") + "\n"
        try writeBytes(Array(text.utf8), to: directory.appending("plain.jsonl"))
        try gzipWithPython(directory.appending("plain.jsonl"), to: directory.appending("whole.jsonl.gz"))
        let whole = try readBytes(directory.appending("whole.jsonl.gz"))
        // Cut short, as a gzip stream still being written is.
        try writeBytes(Array(whole.prefix(whole.count * 2 / 3)), to: logs + "/cut.jsonl.gz")
        // Not gzip at all, despite its name.
        try writeBytes(Array(#"{"ts":1}"#.utf8), to: logs + "/fake.jsonl.gz")

        let reader = try ForeignLogReader(at: logs, cache: .directory(directory.appending("cache")))
        let cursor = try reader.query(Query())
        let records = try cursor.all()
        #expect(records.count > 0 && records.count < 400)
        #expect(records.map(\.seq) == Array(0..<UInt64(records.count)))
        let notes = cursor.damaged.filter { $0.reason.contains("the rest of it cannot be read") }
        #expect(notes.map { Path.lastComponent(of: $0.path) } == ["cut.jsonl.gz", "fake.jsonl.gz"])
        // The same from the cache.
        let again = try ForeignLogReader(at: logs, cache: .directory(directory.appending("cache")))
        #expect(try again.query(Query()).all() == records)
        #expect(again.counters.scans == 0)
    }

    @Test func fastCompactionAgreesWithTheEncoders() throws {
        let lines = [
            #"{"a": 1, "b" : [1, 2, {"c": "d e"}]}"#, "\t{ \"x\" :\"\\\"\" , \"y\":\"\\\\\" }\r",
            #"{"s": "quote \" inside, \\\" and \\\\", "t": " spaced "}"#, #"{"unterminated": "a b"#, "", "   ",
            #"{"e":"\u00e9 \n"}"#, #""\\"#, #"{"k":"v"} trailing"#,
        ]
        for line in lines {
            var expected: [UInt8] = []
            Array(line.utf8).withUnsafeBufferPointer { JSONString.appendCompacted($0, to: &expected) }
            expected.append(0x0A)
            let bytes = Array(line.utf8)
            let found = [UInt8](unsafeUninitializedCapacity: bytes.count + 3) { output, count in
                output[0] = 0x2A
                count = 1 + bytes.withUnsafeBufferPointer { ForeignLogFile.appendCompacted($0, to: output, at: 1) }
            }
            #expect(Array(found.dropFirst()) == expected, "\(line)")
        }
    }

    @Test func aStoreOrAFileIsRefused() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.appending("store"))
        try store.close()
        #expect { try ForeignLogReader(at: directory.appending("store")) } throws: {
            ($0 as? StoaError)?.code == .invalidArgument
        }
        try writeBytes([], to: directory.appending("file.jsonl"))
        #expect { try ForeignLogReader(at: directory.appending("file.jsonl")) } throws: {
            ($0 as? StoaError)?.code == .invalidArgument
        }
        #expect { try ForeignLogReader(at: directory.appending("missing")) } throws: {
            ($0 as? StoaError)?.errno == ENOENT
        }
    }

    // MARK: Importing

    static func storedLines(_ store: String) throws -> [String] {
        try StoreReader(at: store).query(Query()).all().map(\.json)
    }

    @Test func importReportsBadLinesAndStoresTheRest() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let store = try Store(at: directory.appending("store"))
        let importer = try StoreImporter(store: store)
        var rejected: [StoaError] = []
        let file = logs + "/conversations_2026-11-20.jsonl"
        let report = try importer.importFile(at: file) { rejected.append($0) }
        // Line 9 has no time: refused too (an import never makes a time up unless asked).
        #expect(rejected.map(\.line) == [3, 5, 7, 8, 9])
        #expect(rejected.last?.code == .missingTime)
        #expect(rejected.allSatisfy { $0.path == file })
        #expect(report.stored == 5)
        #expect(report.rejected == 5)
        #expect(report.withoutTime == 1)
        #expect(report.seqs == 0..<5)

        // The gzip file (Python's), and the CRLF one.
        let gzip = try importer.importFile(at: logs + "/conversations_2026-11-19.jsonl.gz") { rejected.append($0) }
        #expect(gzip.stored == 3)
        #expect(rejected.last?.line == 3)
        let crlf = try importer.importFile(at: logs + "/realtime_2026-11-20.jsonl") { rejected.append($0) }
        #expect(crlf.stored == 5)
        #expect(crlf.rejected == 0)  // a blank line is no record, and no error either (as for `stoa append`)
        try store.close()
        let lines = try Self.storedLines(directory.appending("store"))
        #expect(lines.count == 13)
        #expect(lines.contains(#"{"timestamp":1795168804.75,"type":"vad_end","session_id":"conv-a"}"#))
        #expect(!lines.contains { $0.contains("\r") })
    }

    @Test func importingTwiceWithDedupAddsNothing() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let files = [
            logs + "/conversations_2026-11-20.jsonl", logs + "/conversations_2026-11-19.jsonl.gz",
            logs + "/decisions_2026-11-20.jsonl", foreignFixture("fallback/fallback-2026-11-23T10-47-22.123456Z-000001.jsonl"),
        ]
        let storePath = directory.appending("store")
        func importAll(type: String? = nil) throws -> [ImportReport] {
            let store = try Store(at: storePath)
            defer { try? store.close() }
            let importer = try StoreImporter(store: store, deduplicating: true, stampingMissingTimes: true)
            return try files.map { try importer.importFile(at: $0, defaultType: type) { _ in } }
        }
        let first = try importAll()
        #expect(first.map(\.stored) == [6, 3, 4, 3])
        #expect(first.map(\.stamped) == [1, 0, 0, 0])
        let stored = try Self.storedLines(storePath)
        let second = try importAll()
        #expect(second.map(\.stored) == [0, 0, 0, 0])
        // Every record is found, the one without a time (stamped at import) included.
        #expect(second.map(\.duplicates) == [6, 3, 4, 3])
        #expect(second.map(\.stamped) == [0, 0, 0, 0])
        #expect(try Self.storedLines(storePath) == stored)

        // Without --dedup, a second import does add them all.
        let store = try Store(at: storePath)
        let plain = try StoreImporter(store: store)
        #expect(try plain.importFile(at: files[3]) { _ in }.stored == 3)
        try store.close()
        #expect(try Self.storedLines(storePath).count == stored.count + 3)
    }

    @Test func dedupSkipsCopiesWithinAFileAndKeepsNearMisses() throws {
        let directory = TemporaryDirectory()
        let file = directory.appending("in.jsonl")
        let lines = [
            #"{"ts":"2026-11-21T08:00:00Z","type":"heartbeat"}"#,
            #"{"ts":"2026-11-21T08:00:00Z","type":"heartbeat"}"#,
            #"{"ts": "2026-11-21T08:00:00Z", "type": "heartbeat"}"#,  // the same record, compacted
            #"{"ts":"2026-11-21T08:01:00Z","type":"heartbeat"}"#,  // another time: another record
            #"{"type":"no time"}"#,
            #"{"type":"no time"}"#,
            #"{"ts":"2026-11-21T08:02:00.000000Z","type":"a"}"#,  // Stoa's own time form, first
            #"{"ts":"2026-11-21T08:03:00.000000Z","type":"a"}"#,  // the same apart from the time
            #"{"type":"a"}"#,  // without a time: matches those two apart from the time
        ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: false, encoding: .utf8)
        let store = try Store(at: directory.appending("store"))
        let importer = try StoreImporter(store: store, deduplicating: true, stampingMissingTimes: true)
        let report = try importer.importFile(at: file) { _ in }
        #expect(report.stored == 5)
        #expect(report.duplicates == 4)
        #expect(report.stamped == 1)
        try store.close()
    }

    @Test func importOfAMissingFileThrowsNamingIt() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.appending("store"))
        defer { try? store.close() }
        let importer = try StoreImporter(store: store)
        #expect { try importer.importFile(at: directory.appending("nope.jsonl")) { _ in } } throws: {
            ($0 as? StoaError)?.path == directory.appending("nope.jsonl")
        }
    }

    // MARK: Replay and export

    @Test func replayAndExportReadAForeignDirectory() throws {
        let directory = TemporaryDirectory()
        let logs = directory.appending("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        // Two files written side by side, times interleaved, 100 ms apart.
        let a: String = #"{"timestamp": "2026-11-20T10:00:00.000000Z", "type": "a", "n": 0}"# + "\r\n"
            + #"{"timestamp": "2026-11-20T10:00:00.200000Z", "type": "a", "n": 2}"# + "\r\n"
        let b: String = #"{"time": "2026-11-20 10:00:00,100", "event": "b", "n": 1}"# + "\n42\n"
            + #"{"time": "2026-11-20 10:00:00,300", "event": "b", "n": 3}"#
        try writeBytes(Array(a.utf8), to: logs + "/a.jsonl")
        try writeBytes(Array(b.utf8), to: logs + "/b.jsonl")
        let reader = try ForeignLogReader(at: logs, cache: .disabled)

        var order: [Int] = []
        var calls: [Int64] = []
        let clock = TestClock()
        let count = try reader.replay(Query(), speed: .factor(2), maxGap: nil, clock: clock.clock) { record in
            calls.append(clock.now)
            let object = try JSONSerialization.jsonObject(with: Data(record.bytes)) as! [String: Any]
            order.append(object["n"] as! Int)
            return true
        }
        #expect(count == 4)
        #expect(order == [0, 1, 2, 3])
        // Each gap is 100 ms of original time, 50 ms at speed 2, across the two files.
        #expect(calls.map { $0 - calls[0] } == [0, 50_000, 100_000, 150_000])
        #expect(clock.waits.withLock { $0 } == [50_000, 50_000, 50_000])

        let out = directory.appending("b.jsonl.gz")
        #expect(try reader.export(Query(types: ["b"]), to: out) == 2)
        let unzipped = try run("/usr/bin/env", ["gzip", "-dc", out])
        let expected: String = #"{"time":"2026-11-20 10:00:00,100","event":"b","n":1}"# + "\n"
            + #"{"time":"2026-11-20 10:00:00,300","event":"b","n":3}"# + "\n"
        #expect(unzipped.stdout == expected)
        #expect(listDirectory(logs) == ["a.jsonl", "b.jsonl"])
        #expect(try reader.skippedLines().map { "\(Path.lastComponent(of: $0.path)):\($0.line)" } == ["b.jsonl:2"])
    }
}

extension Array {
    func reversed(if condition: Bool) -> [Element] { condition ? reversed() : self }
}
