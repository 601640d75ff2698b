import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// Field filters (issue 17, item 1) against a brute-force reference: random
/// records, built as values and written with random escapes, and random
/// filters of every operator, evaluated on the values by the plainest code
/// (look the path up member by member, compare numbers as doubles, strings
/// by their UTF-8 bytes).
@Suite struct FieldFilterTests {
    // MARK: The reference

    /// A JSON value as the reference sees it: numbers as doubles (the
    /// generator picks only values a double holds exactly), objects as
    /// ordered members.
    indirect enum Model: Equatable {
        case number(Double)
        case string(String)
        case bool(Bool)
        case null
        case array([Model])
        case object([(String, Model)])

        static func == (a: Model, b: Model) -> Bool {
            switch (a, b) {
            case (.number(let x), .number(let y)): x == y
            case (.string(let x), .string(let y)): x.utf8.elementsEqual(y.utf8)
            case (.bool(let x), .bool(let y)): x == y
            case (.null, .null): true
            default: false
            }
        }

        /// The first member named `key`, the way the filter reads repeated keys.
        func member(_ key: String) -> Model? {
            guard case .object(let members) = self else { return nil }
            return members.first { $0.0.utf8.elementsEqual(key.utf8) }?.1
        }
    }

    /// Whether the record `record` meets `(path, op, value)`, worked out on values.
    static func reference(_ record: Model, _ path: [String], _ op: FieldFilter.Operator, _ value: Model?) -> Bool {
        var field: Model? = record
        for key in path { field = field?.member(key) }
        guard let field else { return op == .notEqual }
        switch op {
        case .present: return true
        case .equal: return field == value!
        case .notEqual: return field != value!
        default:
            let order: Int
            switch (field, value!) {
            case (.number(let x), .number(let y)): order = x < y ? -1 : x > y ? 1 : 0
            case (.string(let x), .string(let y)):
                let (a, b) = (Array(x.utf8), Array(y.utf8))
                order = a == b ? 0 : a.lexicographicallyPrecedes(b) ? -1 : 1
            default: return false
            }
            switch op {
            case .less: return order < 0
            case .lessOrEqual: return order <= 0
            case .greater: return order > 0
            default: return order >= 0
            }
        }
    }

    // MARK: The generator

    /// Numbers: each value with several spellings a double reads exactly.
    static let numbers: [(Double, [String])] = [
        (0, ["0", "-0", "0.0", "0e5", "-0.0E-2"]),
        (1, ["1", "1.0", "1e0", "10e-1", "0.1e1", "1.000"]),
        (-1, ["-1", "-1.0", "-1E0"]),
        (2, ["2", "2.0", "20e-1"]),
        (0.5, ["0.5", "5e-1", "0.50", "50E-2"]),
        (-2.25, ["-2.25", "-225e-2"]),
        (100, ["100", "1e2", "1E+2", "100.0", "0.001e5"]),
        (250, ["250", "2.5e2"]),
        (1e6, ["1000000", "1e6"]),
        (-1e6, ["-1000000", "-1e6"]),
    ]

    /// Strings, including characters written in a decomposed form, an
    /// empty one, quotes, backslashes, and one that reads as a number.
    static let strings = [
        "agent-1", "agent-2", "agent-10", "Réponse", "Re\u{301}ponse", "", "a b", "zeta", "Zeta", "日本", "a\"q",
        "x\\y", "200", "1", "true", "tab\there", "😀", "é",
    ]

    /// `text` as a JSON string, each character written raw or escaped at random.
    static func quoted(_ text: String, _ random: inout SeededGenerator) -> String {
        var output = "\""
        for scalar in text.unicodeScalars {
            let escape = Int.random(in: 0..<4, using: &random) == 0
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\t": output += escape ? "\\t" : "\\u0009"
            case "/": output += escape ? "\\/" : "/"
            default:
                if escape || scalar.value < 0x20 {
                    for unit in String(scalar).utf16 { output += String(format: "\\u%04x", unit) }
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        return output + "\""
    }

    /// A random value with its JSON text.
    static func scalar(_ random: inout SeededGenerator) -> (Model, String) {
        switch Int.random(in: 0..<10, using: &random) {
        case 0..<4:
            let (value, spellings) = numbers.randomElement(using: &random)!
            return (.number(value), spellings.randomElement(using: &random)!)
        case 4..<8:
            let text = strings.randomElement(using: &random)!
            return (.string(text), quoted(text, &random))
        case 8: let flag = Bool.random(using: &random); return (.bool(flag), flag ? "true" : "false")
        default: return (.null, "null")
        }
    }

    /// An object's members as values and as text (keys written with random escapes).
    static func object(_ members: [(String, (Model, String))], _ random: inout SeededGenerator) -> (Model, String) {
        let text = "{" + members.map { quoted($0.0, &random) + ":" + $0.1.1 }.joined(separator: ",") + "}"
        return (.object(members.map { ($0.0, $0.1.0) }), text)
    }

    /// A field's value: usually a scalar, at times an object, an array, or
    /// a nested object (for the paths that go deeper).
    static func fieldValue(_ random: inout SeededGenerator) -> (Model, String) {
        switch Int.random(in: 0..<12, using: &random) {
        case 0:
            return (.array([.number(1)]), "[1,{\"x\":1}]")
        case 1:
            var members: [(String, (Model, String))] = [("x", scalar(&random))]
            if Bool.random(using: &random) { members.append(("x", scalar(&random))) }  // repeated: the first counts
            return object(members, &random)
        default:
            return scalar(&random)
        }
    }

    struct Row {
        var time: Int64
        var type: String
        var model: Model
        var line: String
    }

    /// `count` records with unique times, some out of order, with fields
    /// present or missing at random: `n`, `s`, `flag`, `tags.host`,
    /// `tags.region`, `data.name`, `data.inner.x`, and values of every kind.
    static func rows(_ count: Int, seed: UInt64) -> [Row] {
        var random = SeededGenerator(seed: seed)
        var times = (0..<count).map { 1_795_000_000_000_000 + Int64($0) * 1_000 }
        for k in stride(from: 0, to: count - 1, by: 1) where Int.random(in: 0..<10, using: &random) == 0 {
            times.swapAt(k, k + 1)  // late records
        }
        let types = ["message", "tool_call", "error"]
        return (0..<count).map { n in
            let time = times[n]
            let type = types.randomElement(using: &random)!
            var members: [(String, (Model, String))] = [
                ("ts", (.string(RecordTime.format(time)), "\"\(RecordTime.format(time))\"")),
                ("type", (.string(type), "\"\(type)\"")),
            ]
            for name in ["n", "s", "flag", "nul", "arr"] where Int.random(in: 0..<4, using: &random) != 0 {
                members.append((name, fieldValue(&random)))
            }
            if Int.random(in: 0..<5, using: &random) != 0 {
                var tags: [(String, (Model, String))] = []
                if Int.random(in: 0..<5, using: &random) != 0 { tags.append(("host", scalar(&random))) }
                if Bool.random(using: &random) { tags.append(("region", scalar(&random))) }
                tags.shuffle(using: &random)
                members.append(("tags", Int.random(in: 0..<8, using: &random) == 0 ? scalar(&random) : object(tags, &random)))
            }
            if Int.random(in: 0..<3, using: &random) != 0 {
                var data: [(String, (Model, String))] = [("name", scalar(&random))]
                if Bool.random(using: &random) { data.append(("inner", object([("x", scalar(&random))], &random))) }
                members.append(("data", object(data, &random)))
            }
            members.shuffle(using: &random)
            let (model, line) = object(members, &random)
            return Row(time: time, type: type, model: model, line: line)
        }
    }

    static let paths: [[String]] = [
        ["n"], ["s"], ["flag"], ["nul"], ["arr"], ["arr", "x"], ["tags"], ["tags", "host"], ["tags", "region"],
        ["tags", "missing"], ["data", "name"], ["data", "inner", "x"], ["data", "inner"], ["s", "x"], ["missing"],
        ["type"],
    ]

    /// A random filter, as ``FieldFilter/parse(_:)`` or the initializer
    /// makes it, and what the reference compares with.
    static func filter(_ random: inout SeededGenerator) -> (FieldFilter, [String], FieldFilter.Operator, Model?) {
        let path = paths.randomElement(using: &random)!
        let op = FieldFilter.Operator.allCases.randomElement(using: &random)!
        if op == .present {
            let filter = Bool.random(using: &random) ? try! FieldFilter.parse(path.joined(separator: ".") + "?") : FieldFilter(path, .present)
            return (filter, path, op, nil)
        }
        var value: Model
        var text: String
        repeat {
            (value, text) = scalar(&random)
        } while op.isOrdering && (value == .null || value == .bool(true) || value == .bool(false))
        // A string that reads as no JSON value may also be written bare.
        if case .string(let string) = value, !string.isEmpty, (try? JSONSerialization.jsonObject(with: Data(string.utf8), options: .fragmentsAllowed)) == nil,
            !string.hasPrefix("="), !string.hasPrefix("\""), Bool.random(using: &random)
        {
            text = string
        }
        let expression = path.joined(separator: ".") + op.rawValue + text
        let filter: FieldFilter
        if Bool.random(using: &random) {
            filter = try! FieldFilter.parse(expression)
        } else {
            let json: JSONValue =
                switch value {
                case .number(let number): number == number.rounded() ? .int(Int64(number)) : .double(number)
                case .string(let string): .string(string)
                case .bool(let flag): .bool(flag)
                default: .null
                }
            filter = FieldFilter(path, op, json)
        }
        return (filter, path, op, value)
    }

    // MARK: Tests

    /// Every operator on every path, each filter alone on each record
    /// (through ``FieldFilter/matches(_:)``): what the reference says. Run
    /// with many filters, so that each operator meets each kind of field.
    @Test func eachFilterMatchesTheReferenceOnEachRecord() throws {
        let rows = Self.rows(400, seed: 17)
        var random = SeededGenerator(seed: 1701)
        var seen = Set<String>()
        for round in 0..<600 {
            let (filter, path, op, value) = Self.filter(&random)
            var matched = 0
            var wrong: [String] = []
            for row in rows {
                let record = Record(seq: 0, time: Timestamp(microsecondsSinceEpoch: row.time), bytes: Array(row.line.utf8))
                let expected = Self.reference(row.model, path, op, value)
                if filter.matches(record) != expected { wrong.append(row.line) }
                if expected { matched += 1 }
            }
            #expect(wrong.isEmpty, "round \(round): \(filter) on \(wrong.count) records, such as \(wrong.prefix(3))")
            seen.insert("\(op.rawValue) \(matched == 0 ? "none" : matched == rows.count ? "all" : "some")")
        }
        // Each operator selected some records and passed over others.
        for op in FieldFilter.Operator.allCases { #expect(seen.contains("\(op.rawValue) some"), "\(op)") }
    }

    /// Queries with one to three filters (AND), with and without a window,
    /// types, an order and a limit, through a store of sealed segments (hot,
    /// or gzipped warm) and its active segment, and through a folder of the
    /// same records as foreign logs: the records the reference finds, in
    /// (time, seq) order.
    @Test(arguments: [false, true])
    func queriesMatchTheReferenceInAStoreAndAFolder(compressed: Bool) throws {
        let rows = Self.rows(3000, seed: compressed ? 3 : 4)
        let directory = TemporaryDirectory()
        let storePath = directory.appending("store")
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 16 << 10
        if compressed {
            configuration.hotFor = .microseconds(3_600_000_000)
            configuration.warmFor = .microseconds(86_400_000_000)
            configuration.memberBytes = 64 << 10
        }
        let store = try Store(at: storePath, creating: configuration)
        for chunk in stride(from: 0, to: rows.count, by: 50) {
            try store.append(contentsOf: rows[chunk..<min(chunk + 50, rows.count)].map(\.line))
        }
        if compressed {
            let report = try store.applyTierPolicy(
                now: Timestamp(microsecondsSinceEpoch: Syscalls.realtimeMicroseconds() + 2 * 3_600_000_000))
            #expect(!report.warmed.isEmpty)
        }
        try store.close()
        // The same lines as a folder of logs: two files, one gzipped.
        let logs = directory.appending("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let half = rows.count / 2
        try writeBytes(Array((rows[..<half].map(\.line).joined(separator: "\n") + "\n").utf8), to: logs + "/a.jsonl")
        try writeBytes(Array((rows[half...].map(\.line).joined(separator: "\n") + "\n").utf8), to: directory.appending("b.jsonl"))
        try gzipWithPython(directory.appending("b.jsonl"), to: logs + "/b.jsonl.gz")

        let storeReader = try StoreReader(at: storePath)
        let segments = try storeReader.snapshot()
        #expect(segments.count > 5 && !segments.last!.isSealed && segments.dropLast().allSatisfy(\.isSealed), "sealed segments and an active one")
        let readers: [(String, any RecordReader)] = [("store", storeReader), ("folder", try ForeignLogReader(at: logs, cache: .disabled))]
        var random = SeededGenerator(seed: compressed ? 33 : 34)
        let times = rows.map(\.time).sorted()
        for round in 0..<80 {
            var query = Query()
            var filters: [([String], FieldFilter.Operator, Model?)] = []
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let (filter, path, op, value) = Self.filter(&random)
                query.fieldFilters.append(filter)
                filters.append((path, op, value))
            }
            if round % 3 == 1 {
                let edges = [times.randomElement(using: &random)!, times.randomElement(using: &random)!].sorted()
                query.since = Timestamp(microsecondsSinceEpoch: edges[0])
                query.until = Timestamp(microsecondsSinceEpoch: edges[1])
            }
            if round % 5 == 2 { query.types = ["error", "message"] }
            if round % 4 == 3 { query.order = .newestFirst }
            if round % 6 == 5 { query.limit = Int.random(in: 0...40, using: &random) }
            var expected = rows.filter { row in
                query.includes(time: row.time) && (query.types.isEmpty || query.types.contains(row.type))
                    && filters.allSatisfy { Self.reference(row.model, $0.0, $0.1, $0.2) }
            }
            expected.sort { query.order == .newestFirst ? $0.time > $1.time : $0.time < $1.time }
            if let limit = query.limit { expected = Array(expected.prefix(limit)) }
            for (name, reader) in readers {
                let cursor = try reader.query(query)
                let got = try cursor.all().map(\.json)
                #expect(got == expected.map(\.line), "\(name), round \(round): \(query.fieldFilters)")
                if name == "store" { #expect(cursor.damaged.isEmpty) }
            }
        }
        // The last records that match, by seq (a store) and by time (a folder).
        for round in 0..<20 {
            let (filter, path, op, value) = Self.filter(&random)
            let count = Int.random(in: 1...30, using: &random)
            let matching = rows.filter { Self.reference($0.model, path, op, value) }
            let bySeq = matching.suffix(count).map(\.line)
            let byTime = matching.sorted { $0.time < $1.time }.suffix(count).map(\.line)
            #expect(try storeReader.last(count, where: [filter]).all().map(\.json) == Array(bySeq), "round \(round): \(filter)")
            #expect(try readers[1].1.last(count, where: [filter]).all().map(\.json) == Array(byTime), "round \(round): \(filter)")
        }
    }

    /// A follower with filters hands out only matching records, and one
    /// stored past thousands that do not match arrives without waiting for
    /// another change: the follower reads on while what it read held none
    /// (it read 4096 records a look, and stopped at the first look's empty
    /// answer before).
    @Test func aFollowerWithFiltersReadsOnPastRecordsThatDoNotMatch() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 64 << 10
        let store = try Store(at: directory.path, creating: configuration)
        let filler = (0..<5000).map { #"{"ts":"2026-11-23T10:00:00Z","tags":{"host":"agent-2"},"n":\#($0)}"# }
        try store.append(contentsOf: filler)
        try store.append(#"{"ts":"2026-11-23T10:00:01Z","tags":{"host":"agent-1"},"n":"wanted"}"#)
        try store.append(contentsOf: Array(filler.prefix(10)))
        try store.append(#"{"ts":"2026-11-23T10:00:02Z","tags":{"host":"agent-1"},"n":"second"}"#)
        // A reader opened now sees every record: its first look must find the match.
        let reader = try StoreReader(at: directory.path)
        let follower = try reader.follow(from: .seq(0), where: [try .parse("tags.host=agent-1")])
        let first = try follower.nextIfAvailable()
        #expect(first?.json.contains(#""n":"wanted""#) == true)
        let second = try follower.nextIfAvailable()
        #expect(second?.json.contains(#""n":"second""#) == true)
        #expect(try follower.nextIfAvailable() == nil)

        // The last matching records, then the follower of the next ones.
        let (recent, _, next) = try reader.lastThenFollow(1, where: [try .parse("n=wanted")])
        #expect(recent.map(\.json) == [#"{"ts":"2026-11-23T10:00:01Z","tags":{"host":"agent-1"},"n":"wanted"}"#])
        try store.append(#"{"ts":"2026-11-23T10:00:03Z","n":"other"}"#)
        try store.append(#"{"ts":"2026-11-23T10:00:04Z","n":"wanted"}"#)
        #expect(try next.next(waitingUpTo: .seconds(10))?.json == #"{"ts":"2026-11-23T10:00:04Z","n":"wanted"}"#)
        try store.close()
    }

    /// The follower as an `AsyncSequence` takes the filters too.
    @Test func anAsyncFollowerWithFiltersHandsOutOnlyMatches() async throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        try store.append(contentsOf: (0..<20).map { #"{"ts":"2026-11-23T10:00:00Z","n":\#($0)}"# })
        try store.close()
        let reader = try StoreReader(at: directory.path)
        var seen: [UInt64] = []
        for try await record in try reader.followAsync(from: .seq(0), where: [try .parse("n>=15"), try .parse("n!=17")]) {
            seen.append(record.seq)
            if seen.count == 4 { break }
        }
        #expect(seen == [15, 16, 18, 19])
    }

    // MARK: Reading expressions

    @Test func expressionsReadAsDocumented() throws {
        let cases: [(String, [String], FieldFilter.Operator, JSONValue?)] = [
            ("tags.host=agent-1", ["tags", "host"], .equal, "agent-1"),
            ("status=200", ["status"], .equal, 200),
            ("status=\"200\"", ["status"], .equal, "200"),
            ("ok=true", ["ok"], .equal, true),
            ("ok=True", ["ok"], .equal, "True"),
            ("x=null", ["x"], .equal, nil),
            ("code=01", ["code"], .equal, "01"),
            ("latency_ms>=2.5e2", ["latency_ms"], .greaterOrEqual, 250.0),
            ("n<-1", ["n"], .less, -1),
            ("n<=0.5", ["n"], .lessOrEqual, 0.5),
            ("name>Zeta", ["name"], .greater, "Zeta"),
            ("a!=b c", ["a"], .notEqual, "b c"),
            ("msg=[WARN] disk", ["msg"], .equal, "[WARN] disk"),
            ("msg=\"R\\u00e9ponse\"", ["msg"], .equal, "Réponse"),
            ("empty=\"\"", ["empty"], .equal, ""),
            ("data.name?", ["data", "name"], .present, nil),
            ("why?=yes", ["why?"], .equal, "yes"),
            ("a!b=1", ["a!b"], .equal, 1),
            ("url=http://x/?a=b", ["url"], .equal, "http://x/?a=b"),
        ]
        for (expression, path, op, value) in cases {
            let filter = try FieldFilter.parse(expression)
            #expect(filter.path == path, "\(expression)")
            #expect(filter.operator == op, "\(expression)")
            if op != .present { #expect(filter.value == (value ?? .null), "\(expression)") }
            // Its description reads back as the same filter.
            #expect(try FieldFilter.parse(filter.description) == filter, "\(expression) → \(filter)")
        }
        // 1 and 1.0 are the same number, so the same filter.
        #expect(try FieldFilter.parse("n=1") == FieldFilter.parse("n=1.0"))
        #expect(try FieldFilter.parse("n=1") == FieldFilter(["n"], .equal, .double(1)))
        #expect(try FieldFilter.parse("n=1") != FieldFilter.parse("n=\"1\""))
    }

    @Test func badExpressionsSayWhatWasExpected() {
        let cases: [(String, String)] = [
            ("tags.host", "expected PATH=VALUE, PATH!=VALUE, PATH<VALUE, PATH<=VALUE, PATH>VALUE, PATH>=VALUE or PATH?"),
            ("", "expected PATH=VALUE"),
            ("=1", "expected a field name before '='"),
            ("?", "expected a field name before '?'"),
            ("tags..host=1", "expected a field name between the dots of \"tags..host\""),
            (".a=1", "expected a field name between the dots"),
            ("a.=1", "expected a field name between the dots"),
            ("a=", "expected a value after '=': a number, a string, true, false or null"),
            ("a<", "expected a value after '<': a number or a string"),
            ("a==1", "expected one '=' for equality"),
            ("a<true", "'<' compares numbers with numbers and strings with strings, found true"),
            ("a>=null", "'>=' compares numbers with numbers and strings with strings, found null"),
            ("a={\"b\":1}", "found a JSON object: objects and arrays are not compared"),
            ("a=[1,2]", "found a JSON array"),
            ("a=\"open", "expected a JSON string after the quote"),
            ("a=\"bad \\x escape\"", "expected a JSON string after the quote"),
            ("a?b", "expected PATH=VALUE"),
        ]
        for (expression, message) in cases {
            do {
                _ = try FieldFilter.parse(expression)
                Issue.record("\(expression) was read")
            } catch {
                #expect(error.code == .invalidArgument, "\(expression)")
                #expect(error.message.contains(message), "\(expression): \(error.message)")
                #expect(error.message.contains("\"\(expression)\""), "names the expression: \(error.message)")
            }
        }
    }

    // MARK: Numbers and lines

    @Test func numbersCompareByTheirExactValue() throws {
        func decimal(_ text: String) -> JSONDecimal { JSONDecimal(text)! }
        #expect(decimal("9007199254740993") > decimal("9007199254740992"))  // equal as doubles
        #expect(decimal("1") == decimal("1.0") && decimal("1") == decimal("10e-1") && decimal("1") == decimal("0.001e3"))
        #expect(decimal("-0") == decimal("0") && decimal("0e999") == decimal("0"))
        #expect(decimal("1e400") > decimal("1e399") && decimal("-1e400") < decimal("-1e399"))
        #expect(decimal("1e-400") > decimal("0") && decimal("-1e-400") < decimal("0"))
        #expect(decimal("0.1") == decimal("1e-1") && decimal("0.12") < decimal("0.125") && decimal("-0.12") > decimal("-0.125"))
        #expect(decimal("1e99999999999999999999") > decimal("1e9999"))
        for bad in ["", "-", "01", "1.", ".5", "+1", "1e", "1e+", "0x10", "1 ", "NaN", "--1"] {
            #expect(JSONDecimal(bad) == nil, "\(bad)")
        }
        for text in ["0", "-0", "7", "-7", "123456789012345678", "-123456789012345678", "1234567890123456789", "01", "-", "", "1.0", "1e2", "12a"] {
            let plain = text.utf8.withContiguousStorageIfAvailable { JSONDecimal.plainInteger($0) } ?? nil
            let whole = JSONDecimal(text).flatMap { $0.exponent <= 18 ? $0.smallInteger : nil }
            let written = text.count <= 19 && !text.contains(".") && !text.contains("e") ? whole : nil
            #expect(plain == (text.count - (text.hasPrefix("-") ? 1 : 0) <= 18 ? written : nil), "\(text)")
        }
        #expect(JSONDecimal("1e2")!.smallInteger == 100 && JSONDecimal("2.5e1")!.smallInteger == 25 && JSONDecimal("2.5")!.smallInteger == nil && JSONDecimal("-3.0")!.smallInteger == -3)
        #expect(JSONDecimal("1e17")!.smallInteger == 100_000_000_000_000_000 && JSONDecimal("1e18")!.smallInteger == nil)
        let big = Record(seq: 0, time: Timestamp(microsecondsSinceEpoch: 0), bytes: Array(#"{"id":9007199254740993}"#.utf8))
        #expect(try FieldFilter.parse("id=9007199254740993").matches(big))
        #expect(try !FieldFilter.parse("id=9007199254740992").matches(big))
        #expect(try FieldFilter.parse("id>9007199254740992").matches(big))
    }

    /// The lookup skips whitespace (a line not compacted) and, on a damaged
    /// line (cut short, an invalid escape, a value that is no JSON), finds
    /// nothing rather than trapping or reading past the line.
    @Test func theLookupReadsWhitespaceAndSurvivesDamage() throws {
        func matches(_ expression: String, _ line: String) throws -> Bool {
            try FieldFilter.parse(expression).matches(
                Record(seq: 0, time: Timestamp(microsecondsSinceEpoch: 0), bytes: Array(line.utf8)))
        }
        #expect(try matches("tags.host=a", "{ \"x\" : [1, 2] ,\n\t\"tags\" : { \"host\" : \"a\" } }"))
        #expect(try matches("n>=2", "{ \"n\" : 2 }"))
        #expect(try matches("a=1", #"{"\u0061":1}"#))
        let line = #"{"s":"abc\u00e9","t":{"u":[1,{"v":2}],"w":"x"},"n":-1.5e2}"#
        for expression in ["s=abcé", "t.w=x", "n=-150", "t.u?", "t.w!=y", "n<0"] {
            #expect(try matches(expression, line), "\(expression)")
        }
        for end in 0..<line.utf8.count {
            let cut = String(decoding: Array(line.utf8)[..<end], as: UTF8.self)
            for expression in ["s=abcé", "t.w=x", "n=-150", "t.u?", "zz!=1"] {
                _ = try matches(expression, cut)
            }
        }
        #expect(try !matches("s=x", #"{"s":"bad \q escape"}"#))
        #expect(try !matches("n=1", #"{"n":1x}"#))
        #expect(try matches("n!=1", #"{"n":tru}"#))
    }
}
