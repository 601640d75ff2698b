import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

@Suite struct StoreTests {
    /// Every record of a store, read back by seq.
    func allRecords(_ path: String) throws -> [Record] {
        try StoreReader(at: path).query(Query()).all().sorted { $0.seq < $1.seq }
    }

    @Test func appendsAndReadsBack() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        let first = try store.append(#"{"ts":"2026-11-23T10:00:00Z","type":"message","text":"hi"}"#)
        let second = try store.append(#"{"type":"tool_call"}"#)
        let batch = try store.append(contentsOf: [
            #"{"ts":1795000000,"type":"a"}"#, #"{"ts":"2026-11-23T10:00:01.5+01:00","type":"b"}"#,
        ])
        #expect(first == 0)
        #expect(second == 1)
        #expect(batch == 2..<4)
        try store.close()

        let records = try allRecords(directory.path)
        #expect(records.map(\.seq) == [0, 1, 2, 3])
        #expect(records[0].json == #"{"ts":"2026-11-23T10:00:00Z","type":"message","text":"hi"}"#)
        #expect(records[0].time.microsecondsSinceEpoch == RecordTime.parseText("2026-11-23T10:00:00Z"))
        #expect(records[0].type == "message")
        // A record without a time gets one, first.
        #expect(records[1].json.hasPrefix(#"{"ts":""#))
        #expect(records[1].json.hasSuffix(#"Z","type":"tool_call"}"#))
        #expect(records[1].type == "tool_call")
        #expect(records[2].time.microsecondsSinceEpoch == 1_795_000_000_000_000)
        #expect(records[3].time.microsecondsSinceEpoch == RecordTime.parseText("2026-11-23T09:00:01.5Z"))
    }

    @Test func compactsPrettyPrintedRecords() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        try store.append("{\n  \"ts\": \"2026-01-01T00:00:00Z\",\n  \"msg\": \"a  b\"\n}\n")
        try store.close()
        let segment = directory.appending("segments/00000000000000000000.jsonl")
        #expect(try String(contentsOfFile: segment, encoding: .utf8) == "{\"ts\":\"2026-01-01T00:00:00Z\",\"msg\":\"a  b\"}\n")
    }

    @Test func rejectsBadRecordsAndKeepsTheRest() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        try store.append(#"{"n":1}"#)
        #expect(throws: StoaError.self) { try store.append(#"{"n":2"#) }
        #expect(throws: StoaError.self) { try store.append(#"[1]"#) }
        #expect(throws: StoaError.self) { try store.append(#"{"ts":"yesterday-ish"}"#) }
        do {
            try store.append(contentsOf: [#"{"n":3}"#, #"{"n":4}"#, #"{"n":5"#])
            Issue.record("a batch with a bad record must fail")
        } catch {
            #expect(error.code == .invalidRecord)
            #expect(error.line == 3)
        }
        try store.append(#"{"n":6}"#)
        try store.close()
        let records = try allRecords(directory.path)
        #expect(records.map(\.seq) == [0, 1])
        #expect(records[1].json.hasSuffix(#""n":6}"#))
    }

    /// `append(contentsOf:)` and `append(json:)` are inlined into the caller
    /// and hand each record on as one buffer: contiguous bytes without a
    /// copy, any other collection through an array. Whatever the element
    /// type, the stored bytes, the seqs and the errors are the same.
    @Test func everyKindOfByteCollectionStoresTheSameBytes() throws {
        let texts = [
            #"{"ts":"2026-11-23T10:00:00Z","type":"a","n":1}"#, "{\n  \"ts\": 1795000000,\n  \"n\": 2\n}",
            #"{"ts":3,"type":"c","s":"é\n"}"#,
        ]
        let arrays = texts.map { Array($0.utf8) }
        // (The same bytes, but not contiguous: a lazy map has no buffer.)
        let batches: [(String, (Store) throws(StoaError) -> Range<UInt64>)] = [
            ("strings", { (store) throws(StoaError) in try store.append(contentsOf: texts) }),
            ("utf8 views", { (store) throws(StoaError) in try store.append(contentsOf: texts.map(\.utf8)) }),
            ("arrays", { (store) throws(StoaError) in try store.append(contentsOf: arrays) }),
            ("slices", { (store) throws(StoaError) in try store.append(contentsOf: arrays.map { $0[...] }) }),
            ("lazy non-contiguous", { (store) throws(StoaError) in
                try store.append(contentsOf: arrays.lazy.map { $0.lazy.map { $0 } })
            }),
            ("buffers", { (store) throws(StoaError) in
                let copies = arrays.map { bytes in
                    let copy = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: bytes.count)
                    _ = copy.initialize(from: bytes)
                    return copy
                }
                defer { for copy in copies { copy.deallocate() } }
                return try store.append(contentsOf: copies.lazy.map { UnsafeBufferPointer($0) })
            }),
        ]
        var stored: [[UInt8]] = []
        for (name, appendBatch) in batches {
            let directory = TemporaryDirectory()
            let store = try Store(at: directory.path)
            #expect(try appendBatch(store) == 0..<3, "\(name)")
            #expect(try store.append(json: arrays[0].lazy.map { $0 }) == 3, "\(name)")
            #expect(try store.append(json: arrays[2][...]) == 4, "\(name)")
            try store.close()
            stored.append(try readBytes(directory.appending("segments/00000000000000000000.jsonl")))
        }
        let expected = #"{"ts":"2026-11-23T10:00:00Z","type":"a","n":1}"# + "\n" + #"{"ts":1795000000,"n":2}"# + "\n"
            + #"{"ts":3,"type":"c","s":"é\n"}"# + "\n" + #"{"ts":"2026-11-23T10:00:00Z","type":"a","n":1}"# + "\n"
            + #"{"ts":3,"type":"c","s":"é\n"}"# + "\n"
        for (position, bytes) in stored.enumerated() {
            #expect(String(decoding: bytes, as: UTF8.self) == expected, "\(batches[position].0)")
        }

        // A bad record: its position in the batch, and nothing stored, whatever the element type.
        let bad = [arrays[0], Array(#"{"ts":1,"n":}"#.utf8), arrays[2]]
        let badBatches: [(String, (Store) throws(StoaError) -> Range<UInt64>)] = [
            ("arrays", { (store) throws(StoaError) in try store.append(contentsOf: bad) }),
            ("lazy non-contiguous", { (store) throws(StoaError) in
                try store.append(contentsOf: bad.lazy.map { $0.lazy.map { $0 } })
            }),
        ]
        for (name, appendBatch) in badBatches {
            let directory = TemporaryDirectory()
            let store = try Store(at: directory.path)
            do {
                _ = try appendBatch(store)
                Issue.record("\(name): a batch with a bad record must fail")
            } catch {
                #expect(error.code == .invalidRecord, "\(name)")
                #expect(error.line == 2, "\(name)")
                #expect(error.offset == 12, "\(name)")
            }
            #expect { try store.append(json: bad[1].lazy.map { $0 }) } throws: {
                ($0 as? StoaError)?.code == .invalidRecord && ($0 as? StoaError)?.line == nil
            }
            #expect(store.writeStats.nextSeq == 0, "\(name)")
            try store.close()
        }
    }

    @Test func enforcesMaxRecordBytes() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.maxRecordBytes = 100
        let store = try Store(at: directory.path, creating: configuration)
        let big = #"{"ts":1,"x":""# + String(repeating: "a", count: 100) + #""}"#
        #expect { try store.append(big) } throws: { ($0 as? StoaError)?.code == .recordTooLarge }
        try store.append(#"{"ts":1,"x":"small"}"#)
        #expect(store.writeStats.nextSeq == 1)
    }

    @Test func rotatesBySizeAndNamesSegmentsByBaseSeq() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        let store = try Store(at: directory.path, creating: configuration)
        var expected: [String] = []
        for n in 0..<500 {
            let line = #"{"ts":\#(1_700_000_000 + n),"type":"t\#(n % 3)","n":\#(n),"pad":"\#(String(repeating: "p", count: n % 50))"}"#
            expected.append(line)
            if n % 7 == 0 {
                try store.append(line)
            } else {
                try store.append(contentsOf: [line])
            }
        }
        // And a batch that spans several segments.
        let batch = (500..<800).map { #"{"ts":\#(1_700_000_000 + $0),"n":\#($0)}"# }
        expected += batch
        #expect(try store.append(contentsOf: batch) == 500..<800)
        try store.close()

        let names = listDirectory(directory.appending("segments")).filter { $0.hasSuffix(".jsonl") }
        #expect(names.count > 10)
        var seq: UInt64 = 0
        for name in names {
            let segment = try #require(SegmentName(fileName: name))
            #expect(segment.base == seq, "segment \(name) must start at seq \(seq)")
            let bytes = try readBytes(directory.appending("segments/" + name))
            #expect(bytes.count <= 4096)
            #expect(bytes.last == 0x0A)
            seq += UInt64(bytes.filter { $0 == 0x0A }.count)
        }
        #expect(seq == 800)
        #expect(try allRecords(directory.path).map(\.json) == expected)
    }

    @Test func rotatesByAge() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentAge = .microseconds(1_000_000)
        let clock = TestClock()
        let store = try Store(at: directory.path, creating: configuration, fileSystem: SystemFileSystem(), clock: clock.clock)
        try store.append(#"{"n":1}"#)
        clock.advance(by: 999_999)
        try store.append(#"{"n":2}"#)
        clock.advance(by: 1)
        try store.append(#"{"n":3}"#)
        try store.close()
        #expect(listDirectory(directory.appending("segments")).filter { $0.hasSuffix(".jsonl") } == [
            "00000000000000000000.jsonl", "00000000000000000002.jsonl",
        ])
    }

    @Test func reopeningContinuesTheSeqs() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        for round in 0..<3 {
            let store = try Store(at: directory.path, creating: configuration)
            #expect(store.recovery.isClean)
            let seqs = try store.append(contentsOf: (0..<100).map { #"{"round":\#(round),"n":\#($0)}"# })
            #expect(seqs == UInt64(round * 100)..<UInt64(round * 100 + 100))
            try store.close()
        }
        #expect(try allRecords(directory.path).count == 300)
    }

    @Test func createsPrivateFilesAndDirectories() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("store")
        let store = try Store(at: path)
        try store.append(#"{"n":1}"#)
        try store.close()
        #expect(permissions(path) == 0o750)
        #expect(permissions(path + "/segments") == 0o750)
        #expect(permissions(path + "/stoa.json") == 0o640)
        #expect(permissions(path + "/segments/00000000000000000000.jsonl") == 0o640)
    }

    @Test func writesAndReadsItsConfiguration() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 1 << 20
        configuration.segmentAge = .microseconds(15 * 60_000_000)
        configuration.durability = .always
        configuration.retainFor = .microseconds(7 * 86_400_000_000)
        configuration.fields.time = ["when"]
        try Store(at: directory.path, creating: configuration).close()
        let text = try String(contentsOfFile: directory.appending("stoa.json"), encoding: .utf8)
        #expect(text.contains(#""segment_age" : "15m""#))
        #expect(text.contains(#""retain_for" : "7d""#))
        // An existing store keeps its own settings.
        let reopened = try Store(at: directory.path, creating: StoreConfiguration())
        // With the id it was given at creation.
        configuration.storeID = try #require(reopened.configuration.storeID)
        #expect(reopened.configuration == configuration)
        try reopened.append(#"{"when":"2026-01-01T00:00:00Z","ts":"not a time, and not the time field"}"#)
    }

    @Test func refusesABadConfiguration() throws {
        let directory = TemporaryDirectory()
        try Data(#"{"format_version":1,"segment_bytes":"12 parsecs"}"#.utf8).write(to: URL(fileURLWithPath: directory.appending("stoa.json")))
        #expect { try Store(at: directory.path) } throws: {
            let error = $0 as? StoaError
            return error?.code == .badConfig && error?.path?.hasSuffix("stoa.json") == true
        }
        try Data(#"{"format_version":9}"#.utf8).write(to: URL(fileURLWithPath: directory.appending("stoa.json")))
        #expect { try StoreReader(at: directory.path) } throws: { ($0 as? StoaError)?.code == .badConfig }
    }

    @Test func refusesADirectoryOfOtherFiles() throws {
        let directory = TemporaryDirectory()
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: directory.appending("notes.txt")))
        #expect { try Store(at: directory.path) } throws: { ($0 as? StoaError)?.code == .notAStore }
        #expect(listDirectory(directory.path) == ["notes.txt"])
    }

    @Test func oneWriterPerStoreInOneProcess() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        do {
            _ = try Store(at: directory.path)
            Issue.record("a second writer must be refused")
        } catch {
            #expect(error.code == .locked)
            #expect(error.message.contains("process \(getpid())"))
        }
        try store.append(#"{"n":1}"#)
        // Readers need no lock.
        #expect(try StoreReader(at: directory.path).query(Query()).all().count == 1)
    }

    @Test func theLockIsReleasedWhenTheStoreGoesAway() throws {
        let directory = TemporaryDirectory()
        do {
            let store = try Store(at: directory.path)
            try store.append(#"{"n":1}"#)
        }
        let again = try Store(at: directory.path)
        #expect(again.writeStats.nextSeq == 1)
    }

    @Test func closedStoreRefusesAppends() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        try store.close()
        try store.close()
        #expect { try store.append(#"{"n":1}"#) } throws: { ($0 as? StoaError)?.code == .closed }
    }

    @Test func queriesFilterAndSortByTimeThenSeq() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        // Out of order on purpose; two records share a time.
        let times = [5, 3, 9, 3, 1, 7]
        for (n, t) in times.enumerated() {
            try store.append(#"{"ts":\#(1_700_000_000 + t),"type":"\#(n % 2 == 0 ? "even" : "odd")","session":"c\#(n % 3)","n":\#(n)}"#)
        }
        let reader = try StoreReader(at: directory.path)
        func ns(_ query: Query) throws -> [UInt64] { try reader.query(query).all().map(\.seq) }
        #expect(try ns(Query()) == [4, 1, 3, 0, 5, 2])
        #expect(try ns(Query(order: .newestFirst)) == [2, 5, 0, 3, 1, 4])
        let second: Int64 = 1_000_000
        #expect(try ns(Query(since: Timestamp(microsecondsSinceEpoch: 1_700_000_003 * second), until: Timestamp(microsecondsSinceEpoch: 1_700_000_007 * second))) == [1, 3, 0])
        #expect(try ns(Query(types: ["odd"])) == [1, 3, 5])
        #expect(try ns(Query(conversation: "c0")) == [3, 0])
        #expect(try ns(Query(contains: #""n":5"#)) == [5])
        #expect(try ns(Query(limit: 2)) == [4, 1])
        #expect(try ns(Query(limit: 2, order: .newestFirst)) == [2, 5])
        #expect(try reader.last(2).all().map(\.seq) == [4, 5])
        let stats = try reader.stats()
        #expect(stats.records == 6)
        #expect(stats.types == ["even": 3, "odd": 3])
        #expect(stats.oldest?.microsecondsSinceEpoch == 1_700_000_001 * second)
        #expect(stats.newest?.microsecondsSinceEpoch == 1_700_000_009 * second)
    }

    @Test func defaultTypeIsGivenToRecordsWithoutOne() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        let input = directory.appending("input.jsonl")
        try Data("{\"ts\":1,\"type\":\"own\"}\n{\"ts\":2}\n{}\n{\"ts\":3,\"type\":5}\n{\"ts\":4,\"type\":{\"a\":1}}\n".utf8)
            .write(to: URL(fileURLWithPath: input))
        let fd = open(input, O_RDONLY)
        defer { close(fd) }
        let report = try store.appendLines(fromFileDescriptor: fd, defaultType: "note") { _ in }
        #expect(report.stored == 5)
        let records = try allRecords(directory.path)
        #expect(records.map(\.type) == ["own", "note", "note", "", ""])
        // A type field that is not a string is left alone: no second "type".
        #expect(records[3].json == #"{"ts":3,"type":5}"#)
        #expect(records[4].json == #"{"ts":4,"type":{"a":1}}"#)
        #expect(records[1].json == #"{"type":"note","ts":2}"#)
        #expect(records[2].json.hasPrefix(#"{"ts":""#) && records[2].json.hasSuffix(#"Z","type":"note"}"#))
    }
}

@Suite struct ConvenienceAppendTests {
    struct Call: Codable, Equatable {
        var ts: Date
        var type: String
        var tool: String
        var ms: Int
    }

    @Test func appendsATypeAndFields() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        let seq = try store.append(
            type: "tool_call", ["tool": "grep", "args": ["-r", "TODO"], "ms": 12, "ok": true, "ratio": 0.25, "none": nil])
        let record = try #require(try StoreReader(at: directory.path).query(Query()).next())
        #expect(record.seq == seq)
        #expect(record.type == "tool_call")
        #expect(record.json.hasSuffix(#","type":"tool_call","tool":"grep","args":["-r","TODO"],"ms":12,"ok":true,"ratio":0.25,"none":null}"#))
    }

    @Test func appendsEncodableValuesWithExactTimes() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        let date = Date(timeIntervalSince1970: 1_795_438_042.123456)
        try store.append(encoding: Call(ts: date, type: "tool_call", tool: "grep", ms: 12))
        let record = try #require(try StoreReader(at: directory.path).query(Query()).next())
        #expect(record.time.microsecondsSinceEpoch == 1_795_438_042_123_456)
        #expect(record.json.contains(#""ts":"2026-11-23T12:47:22.123456Z""#))
        #expect(record.type == "tool_call")
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            return Date(timeIntervalSince1970: Double(RecordTime.parseText(text)!) / 1_000_000)
        }
        let back = try decoder.decode(Call.self, from: Data(record.bytes))
        #expect(back.tool == "grep")
        #expect(abs(back.ts.timeIntervalSince(date)) < 0.000_001)
        #expect { try store.append(encoding: [1, 2, 3]) } throws: { ($0 as? StoaError)?.code == .invalidRecord }
    }
}

@Suite struct DedupTests {
    @Test func aRepeatWithinTheWindowIsAcknowledgedButNotStored() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.dedupWindow = .microseconds(200_000)
        let clock = TestClock()
        let store = try Store(at: directory.path, creating: configuration, fileSystem: SystemFileSystem(), clock: clock.clock)
        let first = try store.append(#"{"ts":1,"n":1}"#)
        #expect(try store.append(#"{"ts":1,"n":1}"#) == first, "acknowledged with the seq of the stored copy")
        #expect(try store.append(#"{"ts":1,"n":2}"#) == first + 1)
        // In a batch: duplicates of earlier records and within the batch are kept out.
        #expect(try store.append(contentsOf: [#"{"ts":1,"n":2}"#, #"{"ts":1,"n":3}"#, #"{"ts":1,"n":3}"#]) == 2..<3)
        #expect(store.writeStats.deduplicated == 3)
        clock.advance(by: 200_000)
        #expect(try store.append(#"{"ts":1,"n":1}"#) == first, "still within the window at its last µs")
        clock.advance(by: 1)
        #expect(try store.append(#"{"ts":1,"n":1}"#) == 3, "past the window it is stored again")
        try store.close()
        #expect(try StoreReader(at: directory.path).query(Query()).all().count == 4)
    }

    @Test func offByDefault() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        try store.append(#"{"ts":1,"n":1}"#)
        #expect(try store.append(#"{"ts":1,"n":1}"#) == 1)
        #expect(store.writeStats.deduplicated == 0)
    }
}
