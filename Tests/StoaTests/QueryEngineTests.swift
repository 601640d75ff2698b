import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// The query engine against the plainest possible reference: read every
/// line, filter, sort.
@Suite struct QueryEngineTests {
    struct Row {
        var seq: UInt64
        var time: Int64
        var type: String
        var conversation: String?
        var line: String
    }

    /// A store with skewed types, conversations, and times out of order
    /// (clock skew, bursts, duplicates), over many segments.
    func makeStore(
        _ directory: TemporaryDirectory, records: Int, seed: UInt64, segmentBytes: Int64 = 64 << 10, tiered: Bool = false
    ) throws -> [Row] {
        var configuration = StoreConfiguration()
        configuration.segmentBytes = segmentBytes
        if tiered {
            configuration.hotFor = .microseconds(3_600_000_000)  // 1 h
            configuration.warmFor = .microseconds(86_400_000_000)  // 1 day
            configuration.memberBytes = 64 << 10
        }
        let store = try Store(at: directory.path, creating: configuration)
        var random = SeededGenerator(seed: seed)
        let types = ["message", "message", "message", "tool_call", "tool_result", "error", "", "thought"]
        var rows: [Row] = []
        var clock: Int64 = 1_795_000_000_000_000
        var batch: [String] = []
        for n in 0..<records {
            clock += Int64.random(in: 0...3_000_000, using: &random)
            var time = clock
            if Int.random(in: 0..<20, using: &random) == 0 { time -= Int64.random(in: 0...60_000_000, using: &random) }
            if Int.random(in: 0..<50, using: &random) == 0, let previous = rows.last { time = previous.time }
            let type = types.randomElement(using: &random)!
            let conversation = Int.random(in: 0..<10, using: &random) == 0 ? nil : "c\(Int.random(in: 0..<40, using: &random))"
            var fields = [#""ts":"\#(RecordTime.format(time))""#]
            if !type.isEmpty { fields.append(#""type":"\#(type)""#) }
            if let conversation { fields.append(#""session":"\#(conversation)""#) }
            fields.append(#""n":\#(n)"#)
            fields.append(#""text":"\#(String(repeating: "w", count: Int.random(in: 0...400, using: &random)))""#)
            fields.shuffle(using: &random)
            let line = "{" + fields.joined(separator: ",") + "}"
            batch.append(line)
            rows.append(Row(seq: UInt64(n), time: time, type: type, conversation: conversation, line: line))
            if batch.count == 37 {
                try store.append(contentsOf: batch)
                batch.removeAll()
            }
        }
        try store.append(contentsOf: batch)
        try store.close()
        return rows
    }

    func reference(_ rows: [Row], _ query: Query) -> [UInt64] {
        var matching = rows.filter { row in
            query.includes(time: row.time) && (query.types.isEmpty || query.types.contains(row.type))
                && (query.conversation == nil || row.conversation == query.conversation)
                && (query.contains == nil || row.line.contains(query.contains!))
        }
        matching.sort {
            query.order == .newestFirst ? ($0.time, $0.seq) > ($1.time, $1.seq) : ($0.time, $0.seq) < ($1.time, $1.seq)
        }
        if let limit = query.limit { matching = Array(matching.prefix(limit)) }
        return matching.map(\.seq)
    }

    /// Every combination of time window, types, conversation, grep, order
    /// and limit, each with random values, over plain and compressed
    /// segments: the records the reference finds, and no line named damaged
    /// (the store is undamaged).
    @Test(arguments: [false, true])
    func matchesTheReferenceOnRandomQueries(compressed: Bool) throws {
        let directory = TemporaryDirectory()
        let rows = try makeStore(directory, records: 6000, seed: 7, tiered: compressed)
        if compressed {
            let store = try Store(at: directory.path)
            let report = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: Syscalls.realtimeMicroseconds() + 2 * 3_600_000_000))
            try store.close()
            #expect(!report.warmed.isEmpty)
        }
        let reader = try StoreReader(at: directory.path)
        #expect(try reader.snapshot().count > 20, "the data must span many segments")
        var random = SeededGenerator(seed: compressed ? 98 : 99)
        let times = rows.map(\.time).sorted()
        // The six parts a query can have, each on or off: every combination,
        // several times with random values.
        for combination in 0..<64 {
            for round in 0..<6 {
                var query = Query()
                // Window edges on exact record times, so that [since, until) is tested where it matters.
                if combination & 1 != 0 {
                    switch Int.random(in: 0..<3, using: &random) {
                    case 0: query.since = Timestamp(microsecondsSinceEpoch: times.randomElement(using: &random)!)
                    case 1: query.until = Timestamp(microsecondsSinceEpoch: times.randomElement(using: &random)! + Int64.random(in: 0...1, using: &random))
                    default:
                        let edges = [times.randomElement(using: &random)!, times.randomElement(using: &random)!].sorted()
                        query.since = Timestamp(microsecondsSinceEpoch: edges[0])
                        query.until = Timestamp(microsecondsSinceEpoch: edges[1] + Int64.random(in: 0...1, using: &random))
                    }
                }
                if combination & 2 != 0 {
                    query.types = Set((0..<Int.random(in: 1...3, using: &random)).map { _ in
                        ["message", "tool_call", "tool_result", "error", "", "nothing", "thought"].randomElement(using: &random)!
                    })
                }
                if combination & 4 != 0 { query.conversation = "c\(Int.random(in: 0..<42, using: &random))" }
                if combination & 8 != 0 { query.contains = ["\"n\":1", "ww", "\"error\"", "absent"].randomElement(using: &random)! }
                if combination & 16 != 0 { query.order = .newestFirst }
                if combination & 32 != 0 { query.limit = Int.random(in: 0...120, using: &random) }
                let cursor = try reader.query(query)
                let got = try cursor.all()
                #expect(got.map(\.seq) == reference(rows, query), "combination \(combination), round \(round): \(query)")
                #expect(cursor.damaged.isEmpty, "combination \(combination), round \(round): \(query): \(cursor.damaged.prefix(3))")
                // Each record carries its own line, time, type and conversation.
                for record in got.prefix(5) {
                    let row = rows[Int(record.seq)]
                    #expect(record.json == row.line)
                    #expect(record.time.microsecondsSinceEpoch == row.time)
                    #expect(record.type == row.type)
                    #expect(record.conversation == row.conversation)
                }
            }
        }
    }

    /// ``RecordCursor/forEach(_:)`` lends records in place, ``RecordCursor/next()``
    /// copies them: both hand out what the reference finds, over segments
    /// of one block and of many, plain and compressed (whose members are
    /// pinned while their records wait).
    @Test(arguments: [(Int64(64 << 10), false), (8 << 20, false), (1 << 20, true)])
    func longScansLentOrCopiedMatchTheReference(segmentBytes: Int64, compressed: Bool) throws {
        let directory = TemporaryDirectory()
        let rows = try makeStore(directory, records: 12_000, seed: 21, segmentBytes: segmentBytes, tiered: compressed)
        if compressed {
            let store = try Store(at: directory.path)
            let report = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: Syscalls.realtimeMicroseconds() + 2 * 3_600_000_000))
            try store.close()
            #expect(!report.warmed.isEmpty)
        }
        let reader = try StoreReader(at: directory.path)
        let times = rows.map(\.time).sorted()
        var queries = [Query(), Query(order: .newestFirst), Query(since: Timestamp(microsecondsSinceEpoch: times[times.count / 3]))]
        queries.append(Query(types: ["message", "error"]))
        queries.append(Query(contains: "\"n\":1"))
        for query in queries {
            let expected = reference(rows, query)
            let copied = try reader.query(query).all()
            #expect(copied.map(\.seq) == expected, "\(query)")
            var lent: [UInt64] = []
            var wrong: [UInt64] = []
            try reader.query(query).forEach { record in
                lent.append(record.seq)
                let row = rows[Int(record.seq)]
                let line = record.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
                if record.time.microsecondsSinceEpoch != row.time || record.type != row.type || record.conversation != row.conversation
                    || line != row.line || record.count != row.line.utf8.count || record.record.json != row.line
                {
                    wrong.append(record.seq)
                }
            }
            #expect(lent == expected, "\(query)")
            #expect(wrong.isEmpty, "\(query): \(wrong.prefix(5))")
        }
    }

    @Test func statsComeFromTheIndex() throws {
        let directory = TemporaryDirectory()
        let rows = try makeStore(directory, records: 2000, seed: 3)
        let stats = try StoreReader(at: directory.path).stats()
        #expect(stats.records == 2000)
        #expect(stats.nextSeq == 2000)
        #expect(stats.oldest?.microsecondsSinceEpoch == rows.map(\.time).min())
        #expect(stats.newest?.microsecondsSinceEpoch == rows.map(\.time).max())
        #expect(stats.types == Dictionary(grouping: rows, by: \.type).mapValues(\.count))
    }

    @Test func lastRecordsBySeq() throws {
        let directory = TemporaryDirectory()
        let rows = try makeStore(directory, records: 1500, seed: 5)
        let reader = try StoreReader(at: directory.path)
        for count in [0, 1, 7, 300, 1500, 2000] {
            #expect(try reader.last(count).all().map(\.seq) == rows.suffix(count).map(\.seq))
        }
    }

    /// With `listingReused`, the directories' times are made over a second
    /// old before the reader looks, so that it takes its listing as unchanged
    /// and reads the growing segment's size from the file it holds open.
    @Test(arguments: [false, true])
    func aLongLivedReaderSeesNewRecords(listingReused: Bool) throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        let store = try Store(at: directory.path, creating: configuration)
        let reader = try StoreReader(at: directory.path)
        var expected: [UInt64] = []
        for round in 0..<30 {
            if listingReused {
                // Each round's time later than the last, as a change would give.
                try setModified(directory.appending("segments"), toSecondsAgo: 100 - round)
                try setModified(directory.path, toSecondsAgo: 100 - round)
            }
            #expect(try reader.query(Query()).all().map(\.seq) == expected)
            // The segment grows; a new one starts now and then.
            for n in 0..<(round % 5) * 7 {
                expected.append(try store.append(#"{"ts":\#(1_700_000_000 + round),"n":\#(n)}"#))
            }
            #expect(try reader.query(Query()).all().map(\.seq) == expected)
        }
    }

    @Test func gallopFindsTheFirstPositionNotBefore() {
        var random = SeededGenerator(seed: 17)
        for _ in 0..<500 {
            let values = (0..<Int.random(in: 0...300, using: &random)).map { _ in Int.random(in: 0...1000, using: &random) }.sorted()
            let start = Int.random(in: 0...values.count, using: &random)
            let target = Int.random(in: -5...1005, using: &random)
            let expected = values[start...].firstIndex { $0 >= target } ?? values.count
            var calls = 0
            let found = gallop(from: start, to: values.count) { calls += 1; return values[$0] < target }
            #expect(found == expected)
            // About 2 log d calls for an answer d positions on.
            let distance = Double(found - start + 2)
            #expect(Double(calls) <= 2 * log2(distance) + 2)
        }
    }

    @Test(arguments: [false, true])
    func aHeapBuiltInOnePassPopsInOrder(descending: Bool) {
        struct Item: TimeAndSeq {
            var time: Int64
            var seq: UInt64
        }
        var random = SeededGenerator(seed: 23)
        for count in [0, 1, 2, 3, 7, 64, 333] {
            let items = (0..<count).map { _ in
                Item(time: Int64.random(in: 0...50, using: &random), seq: UInt64.random(in: 0...1000, using: &random))
            }
            var heap = Heap(descending: descending, items: items)
            var popped: [Item] = []
            while let item = heap.popFirst() { popped.append(item) }
            let sorted = items.sorted { ($0.time, $0.seq) < ($1.time, $1.seq) }
            #expect(popped.map { [$0.time, Int64($0.seq)] } == (descending ? sorted.reversed() : sorted).map { [$0.time, Int64($0.seq)] })
        }
    }

    @Test func postingsRoundTrip() {
        var random = SeededGenerator(seed: 11)
        var postings = Postings()
        var ordinals: [UInt32] = []
        var value: UInt32 = 0
        for _ in 0..<5000 {
            value += UInt32.random(in: 1...(Bool.random(using: &random) ? 3 : 100_000), using: &random)
            ordinals.append(value)
            postings.append(value)
        }
        #expect(postings.ordinals(in: 0..<UInt32.max) == ordinals)
        for _ in 0..<200 {
            let a = UInt32.random(in: 0...value, using: &random)
            let b = UInt32.random(in: a...value &+ 10, using: &random)
            #expect(postings.ordinals(in: a..<b) == ordinals.filter { $0 >= a && $0 < b })
        }
    }

    /// A walk through postings that goes on from where the last one stopped
    /// finds what a walk from a skip entry finds, for ranges that follow one
    /// another (a query reading a segment's blocks in order), that leave
    /// gaps, that go back, and that stop early.
    @Test func postingsWalksGoOnFromWhereTheyStopped() {
        var random = SeededGenerator(seed: 12)
        var postings = Postings()
        var ordinals: [UInt32] = []
        var value: UInt32 = 0
        for _ in 0..<3000 {
            value += UInt32.random(in: 1...(Bool.random(using: &random) ? 2 : 300), using: &random)
            ordinals.append(value)
            postings.append(value)
        }
        for round in 0..<50 {
            var position: Postings.Position?
            var start = UInt32.random(in: 0...value / 2, using: &random)
            for step in 0..<40 {
                let length = UInt32.random(in: 0...(round % 2 == 0 ? 100 : 3000), using: &random)
                let range = start..<(start &+ length)
                let stopAfter = step % 7 == 6 ? 2 : Int.max
                var got: [UInt32] = []
                postings.forEach(in: range, resuming: &position) {
                    got.append($0)
                    return got.count < stopAfter
                }
                let expected = ordinals.filter { range.contains($0) }.prefix(stopAfter)
                #expect(got == Array(expected), "round \(round), step \(step): \(range)")
                // Mostly on from the end; now and then a gap, or back.
                switch Int.random(in: 0..<10, using: &random) {
                case 0: start = range.upperBound &+ UInt32.random(in: 0...5000, using: &random)
                case 1: start = UInt32.random(in: 0...range.upperBound, using: &random)
                default: start = range.upperBound
                }
            }
        }
    }

    /// Queries for a few types over segments of many blocks (where blocks
    /// are read in batches, their lines parsed as they are found): the
    /// records the reference finds, with their own times, types and
    /// conversations, lent or copied, in both orders, with windows, limits
    /// and a needle; no line named damaged.
    @Test func typeQueriesOverManyBlocksMatchTheReference() throws {
        let directory = TemporaryDirectory()
        let rows = try makeStore(directory, records: 12_000, seed: 23, segmentBytes: 1 << 20)
        let reader = try StoreReader(at: directory.path)
        #expect(try reader.snapshot().count > 1)
        var random = SeededGenerator(seed: 24)
        let times = rows.map(\.time).sorted()
        let typeSets: [Set<String>] = [["error"], ["error", "tool_call"], ["thought", ""], ["message"], ["nothing"], ["error", "nothing"]]
        for round in 0..<120 {
            var query = Query(types: typeSets[round % typeSets.count])
            if round % 4 >= 2 { query.order = .newestFirst }
            if Int.random(in: 0..<3, using: &random) == 0 {
                let edges = [times.randomElement(using: &random)!, times.randomElement(using: &random)!].sorted()
                query.since = Timestamp(microsecondsSinceEpoch: edges[0])
                query.until = Timestamp(microsecondsSinceEpoch: edges[1] + 1)
            }
            if Int.random(in: 0..<2, using: &random) == 0 { query.limit = Int.random(in: 1...400, using: &random) }
            if Int.random(in: 0..<6, using: &random) == 0 { query.contains = "ww" }
            let expected = reference(rows, query)
            let cursor = try reader.query(query)
            #expect(try cursor.all().map(\.seq) == expected, "round \(round): \(query)")
            #expect(cursor.damaged.isEmpty, "round \(round): \(cursor.damaged.prefix(3))")
            var lent: [UInt64] = []
            var wrong: [UInt64] = []
            try reader.query(query).forEach { record in
                lent.append(record.seq)
                let row = rows[Int(record.seq)]
                let line = record.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
                if record.time.microsecondsSinceEpoch != row.time || record.type != row.type || record.conversation != row.conversation
                    || line != row.line || record.record.type != row.type || record.record.conversation != row.conversation
                {
                    wrong.append(record.seq)
                }
            }
            #expect(lent == expected, "round \(round): \(query)")
            #expect(wrong.isEmpty, "round \(round): \(wrong.prefix(5))")
        }
    }

    /// A record's type and conversation are checked by their bytes when the
    /// bytes tell, and as strings (canonical equivalence) when they do not:
    /// U+212A KELVIN SIGN is the string "K", so a query for "K" wants it.
    @Test func wantedTypesAndConversationsAreComparedAsStrings() throws {
        let encoder = RecordEncoder(fields: .default, maxRecordBytes: 1 << 20)
        let wanted = QueryEngine.Wanted(Query(types: ["K", "error"], conversation: "c\u{212A}"))
        func check(_ line: String) throws -> (type: Bool, conversation: Bool) {
            let bytes = Array(line.utf8)
            return try bytes.withUnsafeBufferPointer { line in
                let facts = try encoder.facts(ofLine: line)
                return (wanted.hasType(facts, line), wanted.hasConversation(facts, line))
            }
        }
        #expect(try check(#"{"ts":1,"type":"error","session":"cK"}"#) == (true, true))
        #expect(try check(#"{"ts":1,"type":"\#u{212A}","session":"c\#u{212A}"}"#) == (true, true))
        #expect(try check(#"{"ts":1,"type":"\u212A","session":"c\u212a"}"#) == (true, true))
        #expect(try check(#"{"ts":1,"type":"errors","session":"ck"}"#) == (false, false))
        #expect(try check(#"{"ts":1,"type":"k","session":"c"}"#) == (false, false))
        #expect(try check(#"{"ts":1,"session":5}"#) == (false, false))
        #expect(QueryEngine.Wanted.spells(UnsafeBufferPointer(start: nil, count: 0), []) == true)
    }
}
