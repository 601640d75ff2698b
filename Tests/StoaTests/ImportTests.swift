import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// `StoreImporter` never makes a time up silently: it reads times, types and
/// conversations as the reader of foreign directories does, with the same
/// field names, and refuses a record without a time unless asked to stamp it.
@Suite struct ImportTests {
    /// What `Tools/foreign_reference.py` (Python, written apart from Stoa)
    /// reads in a directory: (seq, time, type, conversation) of each record
    /// by seq, and (file, line) of each skipped line.
    static func reference(_ directory: String, options: [String]) throws
        -> (records: [(seq: Int, time: Int64, type: String, conversation: String?)], skipped: [String])
    {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path + "/Tools/foreign_reference.py"
        let result = try run("/usr/bin/env", ["python3", script, directory, "--describe"] + options)
        try #require(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let records = try #require(object["records"] as? [[String: Any]]).map {
            (
                seq: $0["seq"] as! Int, time: ($0["time"] as! NSNumber).int64Value, type: $0["type"] as! String,
                conversation: $0["conversation"] as? String
            )
        }
        let skipped = try #require(object["skipped"] as? [[String: Any]]).map { "\($0["file"]!):\($0["line"]!)" }
        return (records.sorted { $0.seq < $1.seq }, skipped)
    }

    /// Field names from `--time-fields`-style options, over the defaults.
    static func fields(_ options: [String]) -> FieldNames {
        var fields = FieldNames.default
        for (option, value) in zip(options, options.dropFirst()) {
            let names = value.split(separator: ",").map(String.init)
            switch option {
            case "--time-fields": fields.time = names
            case "--type-fields": fields.type = names
            case "--conversation-fields": fields.conversation = names
            default: break
            }
        }
        return fields
    }

    static let cases: [(directory: String, options: [String])] = [
        ("python-json-logger", ["--time-fields", "asctime", "--type-fields", "levelname"]),
        ("python-logging", []),
        ("structlog", ["--time-fields", "timestamp", "--type-fields", "level", "--conversation-fields", "user,conversation_id"]),
        ("claude-code", ["--conversation-fields", "sessionId"]),
        ("openai", []),
        ("agent-logs", ["--time-fields", "timestamp", "--type-fields", "event,type"]),
    ]

    @Test("an import reads each record's time, type and conversation as the reference does", arguments: 0..<cases.count)
    func importAgreesWithTheReference(index: Int) throws {
        let (name, options) = Self.cases[index]
        let logs = foreignFixture(name)
        let expected = try Self.reference(logs, options: options)
        #expect(!expected.records.isEmpty)

        let directory = TemporaryDirectory()
        let store = try Store(at: directory.appending("store"), creating: StoreConfiguration())
        let importer = try StoreImporter(store: store, fields: Self.fields(options))
        var refused: [String] = []
        var stored = 0
        let files = try ForeignLogReader.logFileNames(in: logs)
        for file in files {
            let report = try importer.importFile(at: logs + "/" + file) { error in
                refused.append("\(file):\(error.line ?? 0)")
            }
            stored += report.stored
            #expect(report.stamped == 0)
        }
        try store.close()

        // Every record the reference reads is stored, in file order, and the
        // store reads the same time, type and conversation in it.
        let records = try StoreReader(at: directory.appending("store")).query(Query()).all().sorted { $0.seq < $1.seq }
        #expect(records.count == expected.records.count)
        for (record, reference) in zip(records, expected.records) {
            #expect(record.time.microsecondsSinceEpoch == reference.time, "\(name) seq \(reference.seq): \(record.json)")
            #expect(record.type == reference.type, "\(name) seq \(reference.seq): \(record.json)")
            #expect(record.conversation == reference.conversation, "\(name) seq \(reference.seq): \(record.json)")
        }
        // Every line the import refused is one the reference skips (the
        // reference also counts blank lines, which an import passes over).
        #expect(Set(refused).isSubset(of: Set(expected.skipped)), "\(refused) vs \(expected.skipped)")
        #expect(stored == records.count)
    }

    /// One JSONL file in a fresh directory.
    static func file(_ lines: [String], in directory: TemporaryDirectory, name: String = "in.jsonl") throws -> String {
        let path = directory.appending(name)
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    @Test func aRecordWithoutATimeIsRefusedByLineUnlessStampingIsAsked() throws {
        let directory = TemporaryDirectory()
        let input = try Self.file(
            [
                #"{"asctime": "2026-11-20 10:00:00,123", "message": "a"}"#,
                #"{"message": "b"}"#,
                #"{"ts": "2026-11-20T10:00:01Z", "message": "c"}"#,
                #"{"message": "d"}"#,
            ], in: directory)
        let clock = TestClock()
        let store = try Store(
            at: directory.appending("store"), creating: StoreConfiguration(), fileSystem: SystemFileSystem(), clock: clock.clock)
        defer { try? store.close() }

        // The store's fields (ts, timestamp, time, @timestamp): only line 3 has a time.
        var errors: [StoaError] = []
        let plain = try StoreImporter(store: store).importFile(at: input) { errors.append($0) }
        #expect(plain.stored == 1)
        #expect(plain.rejected == 3)
        #expect(plain.withoutTime == 3)
        #expect(errors.map(\.line) == [1, 2, 4])
        #expect(errors.allSatisfy { $0.code == .missingTime && $0.path == input })
        #expect(errors.first?.message == "record has no time field (ts, timestamp, time, @timestamp)")

        // Stamping: each is stored with the time of the import (the store's
        // clock's), and counted.
        clock.advance(by: 1_234_567)
        let stamping = try StoreImporter(store: store, stampingMissingTimes: true)
        let stamped = try stamping.importFile(at: input) { Issue.record("refused: \($0)") }
        #expect(stamped.stored == 4)
        #expect(stamped.stamped == 3)
        let records = try StoreReader(at: store.path).query(Query()).all().filter { stamped.seqs.contains($0.seq) }
        #expect(records.filter { $0.time.microsecondsSinceEpoch == clock.now }.count == 3)
        #expect(records.filter { $0.json.hasPrefix(#"{"ts":""#) }.count == 4)
    }

    @Test func timesReadFromOtherFieldsAreInsertedUnderTheStoresNames() throws {
        let directory = TemporaryDirectory()
        let input = try Self.file(
            [
                #"{"asctime": "2026-11-20 10:00:00,123", "levelname": "INFO", "message": "a"}"#,
                // The store reads "time" second: here it is no time, and must not matter.
                #"{"asctime": "2026-11-20 10:00:01,500", "levelname": "ERROR", "time": "later"}"#,
                // Already what the store reads: kept as it is.
                #"{"ts": "2026-11-20T10:00:02Z", "asctime": "2026-11-20 10:00:02,000", "type": "WARNING", "levelname": "WARNING"}"#,
                // The store's own "type" with another value: ambiguous, refused.
                #"{"asctime": "2026-11-20 10:00:03,000", "levelname": "INFO", "type": "lifecycle"}"#,
                #"{}"#,
                // A "type" the store passes over (not a string): the type goes under its next name.
                #"{"asctime": "2026-11-20 10:00:04,000", "levelname": "DEBUG", "type": 3}"#,
            ], in: directory)
        let store = try Store(at: directory.appending("store"), creating: StoreConfiguration())
        let importer = try StoreImporter(
            store: store, deduplicating: true, fields: FieldNames(time: ["asctime"], type: ["levelname"]))
        var errors: [StoaError] = []
        let report = try importer.importFile(at: input) { errors.append($0) }
        #expect(report.stored == 4)
        #expect(errors.map(\.line) == [4, 5])
        #expect(errors.first?.code == .invalidRecord)
        #expect(errors.first?.message.contains(#"its type is read from "levelname", but the store reads the type from "type", which this record holds with another value"#) == true)
        #expect(errors.last?.code == .missingTime)
        // Importing the same file again adds nothing (the insertions are the same each time).
        let again = try importer.importFile(at: input) { _ in }
        #expect(again.stored == 0)
        #expect(again.duplicates == 4)
        try store.close()

        let lines = try String(contentsOfFile: directory.appending("store/segments/00000000000000000000.jsonl"), encoding: .utf8)
        #expect(
            lines.split(separator: "\n") == [
                #"{"ts":"2026-11-20T10:00:00.123000Z","type":"INFO","asctime":"2026-11-20 10:00:00,123","levelname":"INFO","message":"a"}"#,
                #"{"ts":"2026-11-20T10:00:01.500000Z","type":"ERROR","asctime":"2026-11-20 10:00:01,500","levelname":"ERROR","time":"later"}"#,
                #"{"ts":"2026-11-20T10:00:02Z","asctime":"2026-11-20 10:00:02,000","type":"WARNING","levelname":"WARNING"}"#,
                #"{"ts":"2026-11-20T10:00:04.000000Z","event_type":"DEBUG","asctime":"2026-11-20 10:00:04,000","levelname":"DEBUG","type":3}"#,
            ])
        let reader = try StoreReader(at: directory.appending("store"))
        #expect(try reader.query(Query(types: ["ERROR"])).all().map(\.time.microsecondsSinceEpoch) == [1_795_168_801_500_000])
        #expect(try reader.query(Query(types: ["DEBUG"])).all().map(\.time.microsecondsSinceEpoch) == [1_795_168_804_000_000])
    }
}
