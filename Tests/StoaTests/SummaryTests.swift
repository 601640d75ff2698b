import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// `reader.summarize` (issue 17, item 2) against a brute-force reference:
/// random records over three months (late ones among them), in a store of
/// sealed (hot, warm or cold) and active segments and in a folder of
/// foreign logs; bins worked out with Foundation's calendar, groups and
/// statistics with the plainest code (sort the numbers, take the
/// nearest rank).
@Suite struct SummaryTests {
    /// A generated record: its values as the reference sees them, and its line.
    struct Row {
        var time: Int64
        var seq: Int
        /// nil: no type field.
        var type: String?
        var session: String?
        /// Each field's value (nil: missing), as JSON would decode it.
        var host: JSONValue?
        var ms: JSONValue?
        var region: JSONValue?
        /// The object `tags` (which holds `region`), when present.
        var tags: JSONValue?
        var line: String
    }

    static let start: Int64 = 1_793_000_000_000_000  // 2026-10-26, a Monday 08:53 UTC

    /// A JSON value, spelled at random: a number in one of several
    /// spellings, a string with or without escapes.
    static func spelled(_ value: JSONValue, _ random: inout SeededGenerator) -> String {
        switch value {
        case .int(let n):
            return [String(n), "\(n).0", "\(n)e0", "\(n * 10)e-1"].randomElement(using: &random)!
        case .double(let x):
            return ["\(x)", "\(x * 10)e-1"].randomElement(using: &random)!
        case .string(let text):
            if Bool.random(using: &random) {
                return "\"" + text.unicodeScalars.map { $0.isASCII && $0 != "\"" ? String($0) : String(format: "\\u%04x", $0.value) }.joined() + "\""
            }
            return String(decoding: value.jsonBytes, as: UTF8.self)
        default:
            return String(decoding: value.jsonBytes, as: UTF8.self)
        }
    }

    static func rows(_ count: Int, seed: UInt64) -> [Row] {
        var random = SeededGenerator(seed: seed)
        // Up to 95 days, clustered: some bins hold many records, some none.
        var times = (0..<count).map { _ in
            start + Int64.random(in: 0..<(95 * 86_400_000_000), using: &random) / 1_000_000 * 1_000_000
                + Int64.random(in: 0..<1000, using: &random)
        }
        times.sort()
        for k in 0..<(count - 1) where Int.random(in: 0..<8, using: &random) == 0 {
            times.swapAt(k, k + 1)  // late records
        }
        let hosts: [JSONValue] = ["agent-1", "agent-2", "Réponse", "a\"b", 7, 7.5, .null, .bool(true), .object([.init("x", 1)]), .array([1, "a"])]
        return (0..<count).map { seq in
            let time = times[seq]
            var members: [String] = ["\"ts\":\"\(RecordTime.format(time))\""]
            var row = Row(time: time, seq: seq, line: "")
            if Int.random(in: 0..<6, using: &random) != 0 {
                let type = ["message", "tool_call", "error", "é"].randomElement(using: &random)!
                row.type = type
                members.append("\"type\":" + spelled(.string(type), &random))
            }
            if Int.random(in: 0..<3, using: &random) != 0 {
                let session = "s\(Int.random(in: 0..<4, using: &random))"
                row.session = session
                members.append("\"session\":\"\(session)\"")
            }
            if Int.random(in: 0..<5, using: &random) != 0 {
                let host = hosts.randomElement(using: &random)!
                row.host = host
                members.append("\"host\":" + spelled(host, &random))
            }
            switch Int.random(in: 0..<10, using: &random) {
            case 0: break
            case 1:
                row.ms = "slow"
                members.append("\"ms\":\"slow\"")
            case 2:
                row.ms = .null
                members.append("\"ms\":null")
            default:
                let value: JSONValue =
                    Bool.random(using: &random)
                    ? .int(Int64.random(in: -50...2000, using: &random)) : .double(Double(Int.random(in: -100...4000, using: &random)) / 4)
                row.ms = value
                members.append("\"ms\":" + spelled(value, &random))
            }
            if Bool.random(using: &random) {
                let region: JSONValue = Bool.random(using: &random) ? "eu" : .int(Int64.random(in: 1...3, using: &random))
                row.region = region
                row.tags = .object([.init("zone", 1), .init("region", region)])
                members.append("\"tags\":{\"zone\":1,\"region\":" + spelled(region, &random) + "}")
            }
            members.shuffle(using: &random)
            row.line = "{" + members.joined(separator: ",") + "}"
            return row
        }
    }

    // MARK: The reference

    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        calendar.firstWeekday = 2  // Monday
        calendar.minimumDaysInFirstWeek = 4
        return calendar
    }()

    static func date(_ micros: Int64) -> Date { Date(timeIntervalSince1970: Double(micros) / 1e6) }
    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1e6).rounded()) }

    /// The bin of `time` by the calendar: `[start, end)`.
    static func referenceBin(_ time: Int64, _ every: String) -> (Int64, Int64) {
        switch every {
        case "1w":
            let interval = utc.dateInterval(of: .weekOfYear, for: date(time))!
            return (micros(interval.start), micros(interval.end))
        case "1mo", "3mo":
            let months = every == "1mo" ? 1 : 3
            let parts = utc.dateComponents([.year, .month], from: date(time))
            let first = (parts.month! - 1) / months * months + 1
            let start = utc.date(from: DateComponents(year: parts.year!, month: first, day: 1))!
            return (micros(start), micros(utc.date(byAdding: .month, value: months, to: start)!))
        default:
            let width: Int64 = ["1m": 60_000_000, "1h": 3_600_000_000, "15m": 900_000_000, "1d": 86_400_000_000][every]!
            let start = Int64((Double(time) / Double(width)).rounded(.down)) * width
            return (start, start + width)
        }
    }

    /// A value as it groups: numbers as a double, or an integer when whole.
    static func normalized(_ value: JSONValue?) -> JSONValue {
        switch value {
        case nil: .null
        case .double(let x)? where x == x.rounded(): .int(Int64(x))
        case .object(let members)?: .object(members.map { .init($0.key, normalized($0.value)) })
        case .array(let elements)?: .array(elements.map { normalized($0) })
        case let value?: value
        }
    }

    static func number(_ value: JSONValue?) -> Double? {
        switch value {
        case .int(let n)?: Double(n)
        case .double(let x)?: x
        default: nil
        }
    }

    static func referenceStatistics(_ values: [Double]) -> FieldStatistics {
        let sorted = values.sorted()
        let n = sorted.count
        func rank(_ p: Double) -> Double? { n == 0 ? nil : sorted[Int((p / 100 * Double(n)).rounded(.up)) - 1] }
        let sum = values.reduce(0, +)
        return FieldStatistics(
            count: n, min: sorted.first, max: sorted.last, sum: sum, average: n == 0 ? nil : sum / Double(n), p50: rank(50),
            p90: rank(90), p99: rank(99))
    }

    /// What a summary of `rows` must give, worked out on the values.
    static func reference(_ rows: [Row], _ summary: Summary, every: String?) -> [SummaryRow] {
        let selected = rows.filter { row in
            summary.query.includes(time: row.time)
                && (summary.query.types.isEmpty || summary.query.types.contains(row.type ?? ""))
                && (summary.query.conversation == nil || summary.query.conversation == row.session)
        }.sorted { ($0.time, $0.seq) < ($1.time, $1.seq) }
        func groups(_ row: Row) -> [JSONValue] {
            summary.by.map { group in
                switch group {
                case .type: row.type.map(JSONValue.string) ?? .null
                case .conversation: row.session.map(JSONValue.string) ?? .null
                case .field(let path):
                    switch path.description {
                    case "host": normalized(row.host)
                    case "ms": normalized(row.ms)
                    case "tags.region": normalized(row.region)
                    case "tags": normalized(row.tags)
                    default: .null
                    }
                }
            }
        }
        func value(_ row: Row, _ field: FieldPath) -> Double? {
            switch field.description {
            case "ms": number(row.ms)
            case "host": number(row.host)
            case "tags.region": number(row.region)
            default: nil
            }
        }
        struct Key: Hashable {
            var bin: Int64?
            var end: Int64?
            var groups: [JSONValue]
        }
        var cells: [Key: [Row]] = [:]
        for row in selected {
            let bin = every.map { referenceBin(row.time, $0) }
            cells[Key(bin: bin?.0, end: bin?.1, groups: groups(row)), default: []].append(row)
        }
        if let every, let since = summary.query.sinceMicros, let until = summary.query.untilMicros, since < until {
            var seen = Set(cells.keys.map(\.groups))
            if summary.by.isEmpty { seen.insert([]) }
            var bin = referenceBin(since, every)
            while bin.0 < until {
                for groups in seen where cells[Key(bin: bin.0, end: bin.1, groups: groups)] == nil {
                    cells[Key(bin: bin.0, end: bin.1, groups: groups)] = []
                }
                bin = referenceBin(bin.1, every)
            }
        }
        let text = { (groups: [JSONValue]) in groups.map { String(decoding: $0.jsonBytes, as: UTF8.self) } }
        return cells.sorted { a, b in
            if a.key.bin != b.key.bin { return a.key.bin! < b.key.bin! }
            let (x, y) = (text(a.key.groups), text(b.key.groups))
            for (p, q) in zip(x, y) where p != q { return Array(p.utf8).lexicographicallyPrecedes(Array(q.utf8)) }
            return false
        }.map { key, rows in
            SummaryRow(
                start: key.bin.map { Timestamp(microsecondsSinceEpoch: $0) }, end: key.end.map { Timestamp(microsecondsSinceEpoch: $0) },
                groups: key.groups, count: rows.count,
                fields: summary.fields.map { field in referenceStatistics(rows.compactMap { value($0, field) }) })
        }
    }

    // MARK: Readers

    enum Tier: String, CaseIterable { case hot, warm, cold }

    /// A store holding `rows` in small segments (sealed in `tier`, and an
    /// active one), and a folder of the same lines as foreign logs.
    static func readers(_ rows: [Row], tier: Tier, in directory: TemporaryDirectory) throws -> [(String, any RecordReader)] {
        let storePath = directory.appending("store")
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 16 << 10
        if tier != .hot {
            configuration.hotFor = .seconds(3600)
            configuration.warmFor = tier == .warm ? .seconds(86_400 * 365) : .seconds(3600)
            configuration.memberBytes = 64 << 10
        }
        let store = try Store(at: storePath, creating: configuration)
        for chunk in stride(from: 0, to: rows.count, by: 50) {
            try store.append(contentsOf: rows[chunk..<min(chunk + 50, rows.count)].map(\.line))
        }
        if tier != .hot {
            let later = Syscalls.realtimeMicroseconds() + 3 * 3_600_000_000
            var report = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: later))
            if tier == .cold {
                let again = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: later + 3_600_000_000))
                report.cooled += again.cooled
                #expect(!report.cooled.isEmpty, "cold segments")
            } else {
                #expect(!report.warmed.isEmpty, "warm segments")
            }
        }
        try store.close()
        let logs = directory.appending("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let half = rows.count / 2
        try writeBytes(Array((rows[..<half].map(\.line).joined(separator: "\n") + "\n").utf8), to: logs + "/a.jsonl")
        try writeBytes(Array((rows[half...].map(\.line).joined(separator: "\n") + "\n").utf8), to: directory.appending("b.jsonl"))
        try gzipWithPython(directory.appending("b.jsonl"), to: logs + "/b.jsonl.gz")
        let store_ = try StoreReader(at: storePath)
        let segments = try store_.snapshot()
        #expect(segments.count > 5 && !segments.last!.isSealed, "sealed segments and an active one")
        return [("store", store_), ("folder", try ForeignLogReader(at: logs, cache: .disabled))]
    }

    // MARK: Tests

    /// Random summaries — every interval, one to three groups of each kind,
    /// zero to two fields, with and without a window (empty bins), types and
    /// a conversation — give the reference's rows exactly, in a store
    /// (hot, warm or cold sealed segments and an active one) and in a folder.
    @Test(arguments: Tier.allCases)
    func summariesMatchTheReference(tier: Tier) throws {
        let rows = Self.rows(2500, seed: 170 + UInt64(tier.rawValue.count))
        let directory = TemporaryDirectory()
        let readers = try Self.readers(rows, tier: tier, in: directory)
        var random = SeededGenerator(seed: 1702)
        let times = rows.map(\.time).sorted()
        let groupChoices: [Summary.Group] = [.type, .conversation, "host", "tags.region", "ms", "missing", "tags"]
        let fieldChoices: [FieldPath] = ["ms", "host", "tags.region", "missing"]
        var filled = 0
        for round in 0..<40 {
            let every = [nil, "1m", "15m", "1h", "1d", "1w", "1mo", "3mo"][round % 8]
            var query = Query()
            if round % 3 != 0 {
                let edges = [times.randomElement(using: &random)!, times.randomElement(using: &random)!].sorted()
                query.since = Timestamp(microsecondsSinceEpoch: edges[0] - Int64.random(in: 0...3_600_000_000, using: &random))
                query.until = Timestamp(microsecondsSinceEpoch: edges[1])
                if every == "1m" { query.until = Timestamp(microsecondsSinceEpoch: min(edges[1], edges[0] + 2 * 86_400_000_000)) }
            }
            if round % 5 == 1 { query.types = ["error", "é"] }
            if round % 7 == 2 { query.conversation = "s1" }
            var by: [Summary.Group] = []
            for _ in 0..<Int.random(in: 0...3, using: &random) {
                let group = groupChoices.randomElement(using: &random)!
                if !by.contains(group) { by.append(group) }
            }
            if every == "1m" || every == "15m" { by = Array(by.prefix(1)) }
            var fields: [FieldPath] = []
            for _ in 0..<Int.random(in: 0...2, using: &random) {
                let field = fieldChoices.randomElement(using: &random)!
                if !fields.contains(field) { fields.append(field) }
            }
            let summary = Summary(query: query, every: try every.map { try Summary.Interval.parse($0) }, by: by, fields: fields)
            let expected = Self.reference(rows, summary, every: every)
            if every != nil && query.since != nil { filled += expected.filter { $0.count == 0 }.count }
            for (name, reader) in readers {
                let got = try reader.summarize(summary)
                #expect(got.count == expected.count, "\(name), round \(round): \(got.count) rows, expected \(expected.count)")
                for (a, b) in zip(got, expected) where a != b {
                    Issue.record("\(name), round \(round) (every \(every ?? "-"), by \(by), fields \(fields)): \(a) != \(b)")
                    break
                }
            }
        }
        #expect(filled > 0, "some empty bins were filled")
    }

    /// Counts by type and/or conversation (or none) with only time, type
    /// and conversation filters come from the store's index (no record
    /// read) and equal the rows the records give, in hot, warm and cold segments and the active one, with late
    /// records, windows that cut segments and bins, and empty bins.
    @Test(arguments: Tier.allCases)
    func countsFromTheIndexEqualCountsFromTheRecords(tier: Tier) throws {
        let rows = Self.rows(3000, seed: 271 + UInt64(tier.rawValue.count))
        let directory = TemporaryDirectory()
        let store = try Self.readers(rows, tier: tier, in: directory)[0].1 as! StoreReader
        var random = SeededGenerator(seed: 2718)
        let times = rows.map(\.time).sorted()
        for round in 0..<48 {
            let every = [nil, "1m", "1h", "1d", "1w", "1mo"][round % 6]
            var query = Query()
            if round % 4 != 0 {
                let edges = [times.randomElement(using: &random)!, times.randomElement(using: &random)!].sorted()
                query.since = Timestamp(microsecondsSinceEpoch: edges[0])
                query.until = Timestamp(microsecondsSinceEpoch: every == "1m" ? min(edges[1], edges[0] + 86_400_000_000) : edges[1])
            }
            if round % 3 == 1 { query.types = ["error", "é", "absent"] }
            if round % 4 == 1 { query.conversation = ["s1", "s3", "absent"][round % 3] }
            let by: [Summary.Group] = [[], [.type], [.conversation], [.conversation, .type], [.type, .conversation]][round % 5]
            let summary = Summary(query: query, every: try every.map { try Summary.Interval.parse($0) }, by: by)
            var fromIndex = try Summarizer(summary)
            #expect(fromIndex.isAnsweredByIndex)
            #expect(try store.summarizeFromIndex(&fromIndex) != nil)
            var fromRecords = try Summarizer(summary)
            try store.query(query).forEach { fromRecords.add($0) }
            let expected = try fromRecords.rows()
            #expect(try fromIndex.rows() == expected, "round \(round): every \(every ?? "-"), \(query)")
            #expect(try store.summarize(summary) == expected)
        }
        // Anything else reads the records.
        for summary in [
            Summary(by: ["host"]), Summary(by: [.type, "host"]), Summary(fields: ["ms"]),
            Summary(query: Query(contains: "x")), Summary(query: Query(where: [try .parse("ms>1")])), Summary(query: Query(limit: 5)),
        ] {
            #expect(try !Summarizer(summary).isAnsweredByIndex, "\(summary)")
        }
    }

    /// Bins by hand: weeks start on Monday 00:00 UTC, months on the first,
    /// 3mo on quarters; fixed widths on multiples since the epoch (times
    /// before 1970 too).
    @Test func binsAreAlignedAsDocumented() throws {
        func bin(_ text: String, _ every: String) throws -> (String, String) {
            let time = Timestamp(text)!.microsecondsSinceEpoch
            let (start, end) = SummaryBins(interval: try .parse(every)).bin(containing: time)
            return (Summary.timeText(Timestamp(microsecondsSinceEpoch: start)), Summary.timeText(Timestamp(microsecondsSinceEpoch: end)))
        }
        #expect(try bin("2026-12-10T15:30:00Z", "1w") == ("2026-12-07T00:00:00Z", "2026-12-14T00:00:00Z"))
        #expect(try bin("2026-12-07T00:00:00Z", "1w") == ("2026-12-07T00:00:00Z", "2026-12-14T00:00:00Z"))
        #expect(try bin("2026-12-06T23:59:59.999999Z", "7d") == ("2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"))
        #expect(try bin("1970-01-01T00:00:00Z", "1w") == ("1969-12-29T00:00:00Z", "1970-01-05T00:00:00Z"))
        #expect(try bin("2024-02-29T12:00:00Z", "1mo") == ("2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"))
        #expect(try bin("2026-12-31T23:59:59Z", "1mo") == ("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"))
        #expect(try bin("2026-08-15T00:00:00Z", "3mo") == ("2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z"))
        #expect(try bin("2026-08-15T00:00:00Z", "1y") == ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"))
        #expect(try bin("1969-12-31T23:59:59Z", "1mo") == ("1969-12-01T00:00:00Z", "1970-01-01T00:00:00Z"))
        #expect(try bin("1969-12-31T23:59:59Z", "1h") == ("1969-12-31T23:00:00Z", "1970-01-01T00:00:00Z"))
        #expect(try bin("2026-12-07T22:47:13.5Z", "15m") == ("2026-12-07T22:45:00Z", "2026-12-07T23:00:00Z"))
        #expect(try bin("2026-12-07T22:47:13.5Z", "1d") == ("2026-12-07T00:00:00Z", "2026-12-08T00:00:00Z"))
        #expect(try bin("2026-12-07T22:47:13.5Z", "500ms") == ("2026-12-07T22:47:13.500000Z", "2026-12-07T22:47:14Z"))
        #expect(try Summary.Interval.parse("1day") == .duration(.seconds(86_400)))
        #expect(try Summary.Interval.parse("2 months") == .months(2))
        for bad in ["0s", "0mo", "-1h", "1x", "", "mo"] {
            #expect(throws: StoaError.self, "\(bad)") { try Summary.Interval.parse(bad) }
        }
    }

    /// Nearest rank: p50 of 1…4 is 2, p90 of 1…10 is 9, p99 of 1…100 is 99,
    /// p99 of 1…101 is 100; one value is every percentile.
    @Test func percentilesTakeTheNearestRank() {
        func statistics(_ values: [Double]) -> FieldStatistics {
            var values = values.shuffled()
            return FieldStatistics(sorting: &values, sum: values.reduce(0, +))
        }
        #expect(statistics([1, 2, 3, 4]).p50 == 2)
        #expect(statistics((1...10).map(Double.init)).p90 == 9)
        #expect(statistics((1...100).map(Double.init)).p99 == 99)
        #expect(statistics((1...101).map(Double.init)).p99 == 100)
        #expect(statistics((1...101).map(Double.init)).p50 == 51)
        let one = statistics([7.5])
        #expect(one == FieldStatistics(count: 1, min: 7.5, max: 7.5, sum: 7.5, average: 7.5, p50: 7.5, p90: 7.5, p99: 7.5))
        #expect(statistics([]) == FieldStatistics(count: 0, min: nil, max: nil, sum: 0, average: nil, p50: nil, p90: nil, p99: nil))
    }

    /// A JSON row has its keys in the documented order; a group's value is
    /// its JSON (numbers by value, strings with escapes decoded).
    @Test func jsonRowsHaveTheirKeysInOrder() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.appending("s"), creating: StoreConfiguration())
        try store.append(contentsOf: [
            #"{"ts":"2026-12-07T10:05:00Z","type":"a","n":1,"h":"R\u00e9","ms":4}"#,
            #"{"ts":"2026-12-07T10:06:00Z","type":"a","n":1.0,"h":"Ré","ms":2}"#,
            #"{"ts":"2026-12-07T10:07:00Z","n":1e0,"h":{"b":[1,2.50]},"ms":"x"}"#,
        ])
        try store.close()
        let reader = try StoreReader(at: directory.appending("s"))
        let summary = Summary(every: try .parse("1h"), by: ["n", .type, "h"], fields: ["ms"])
        let lines = try reader.summarize(summary).map { String(decoding: summary.json($0).jsonBytes, as: UTF8.self) }
        #expect(
            lines == [
                #"{"start":"2026-12-07T10:00:00Z","end":"2026-12-07T11:00:00Z","n":1,"type":"a","h":"Ré","count":2,"ms":{"count":2,"min":2,"max":4,"sum":6,"avg":3,"p50":2,"p90":4,"p99":4}}"#,
                #"{"start":"2026-12-07T10:00:00Z","end":"2026-12-07T11:00:00Z","n":1,"type":null,"h":{"b":[1,2.5]},"count":1,"ms":{"count":0,"min":null,"max":null,"sum":0,"avg":null,"p50":null,"p90":null,"p99":null}}"#,
            ])
    }
}
