import Foundation
import Stoa

/// The record scanner (``RecordScanner``) and the encoder appends go
/// through (``RecordEncoder``), differential against Foundation's
/// `JSONSerialization`:
///
/// - a document Foundation reads as a JSON object is one Stoa accepts
///   under its input rules, unless it breaks one of Stoa's documented
///   stricter rules (nesting past 64, a number too large for a double, a
///   time/type/conversation field named twice, a byte order mark), or
///   uses one of Foundation's own leniencies (a trailing comma; UTF-16 or
///   UTF-32 input);
/// - a document Stoa accepts is a JSON object to Foundation;
/// - the time, type and conversation Stoa finds are those of Foundation's
///   object (the first configured name present; the time read with Stoa's
///   rules: RFC 3339 text through `RecordTime.parseText`, an epoch number
///   by magnitude — exact for integers, within a double's precision for
///   the rest);
/// - the stored line is the same JSON object (compact, a time inserted if
///   it had none), and reading it back — strictly, and with the fast scan
///   of stored lines — gives the same facts;
/// - the stored-line rules accept whatever the input rules accept, with
///   the same fields.
enum ScannerTarget {
    /// The default names, and names longer than eight bytes and with a
    /// quote in them (the scanner's name table compares eight bytes at a
    /// time, and matches escaped keys by decoding them).
    static let configurations: [FieldNames] = [
        .default,
        FieldNames(
            time: ["event_timestamp_utc", "ts"], type: ["t\"ype", "event_type_name"],
            conversation: ["conversation_identifier", "s"]),
    ]
    static let now: Int64 = 1_795_438_042_123_456

    static func run(_ input: [UInt8]) throws(FuzzFinding) {
        let foundation = FoundationReading(input)
        for fields in configurations {
            try check(input, fields: fields, foundation: foundation)
        }
    }

    /// What Foundation makes of the bytes.
    enum FoundationReading {
        case object([String: Any])
        /// Valid JSON to Foundation, but not an object.
        case notObject
        case invalid(String)

        init(_ bytes: [UInt8]) {
            do {
                let value = try JSONSerialization.jsonObject(with: Data(bytes), options: [])
                self = (value as? [String: Any]).map { .object($0) } ?? .notObject
            } catch {
                self = .invalid("\(error)")
            }
        }
    }

    static func check(_ input: [UInt8], fields: FieldNames, foundation: FoundationReading) throws(FuzzFinding) {
        let scanner = RecordScanner(fields: fields)
        let strict = input.withUnsafeBufferPointer { bytes in Result { () throws(StoaError) in try scanner.scan(bytes, rules: .input) } }
        let lax = input.withUnsafeBufferPointer { bytes in Result { () throws(StoaError) in try scanner.scan(bytes, rules: .stored) } }
        // Whatever the bytes, the stored-line scan stays inside them (no trap).
        _ = input.withUnsafeBufferPointer { scanner.scanStored($0) }

        for case .failure(let error) in [strict, lax] {
            try expect(error.code == .invalidRecord, "scan threw \(error.code), not invalidRecord: \(error.message)")
            try expect(
                (error.offset ?? -1) >= 0 && (error.offset ?? -1) <= input.count,
                "scan error offset \(String(describing: error.offset)) outside the input of \(input.count) bytes: \(error.message)")
        }
        if case .success(let summary) = strict {
            guard case .success(let stored) = lax else {
                throw FuzzFinding("the input rules accept what the stored rules refuse: \(shown(input))")
            }
            try expect(
                sameFields(summary, stored), "the stored rules find other fields than the input rules in \(shown(input))")
        }

        switch (foundation, strict) {
        case (.object(let object), .failure(let error)):
            guard isStricterRule(error, input: input, object: object, fields: fields) || isFoundationLeniency(error, input: input)
            else {
                throw FuzzFinding("Foundation reads a JSON object that Stoa refuses (\(error.message) at byte \(error.offset ?? -1)): \(shown(input))")
            }
        case (.notObject, .success), (.invalid, .success):
            var reason = "not an object"
            if case .invalid(let why) = foundation { reason = why }
            throw FuzzFinding("Stoa accepts what Foundation refuses (\(reason)): \(shown(input))")
        case (.object(let object), .success(let summary)):
            try compare(summary, with: object, input: input, scanner: scanner, fields: fields)
            try checkEncoding(input, object: object, fields: fields)
        default:
            break
        }
    }

    static func sameFields(_ a: RecordScanner.Summary, _ b: RecordScanner.Summary) -> Bool {
        a.time == b.time && a.type == b.type && a.conversation == b.conversation && a.hasTypeKey == b.hasTypeKey
    }

    /// Stoa's documented rules stricter than RFC 8259 (README "Files").
    static func isStricterRule(_ error: StoaError, input: [UInt8], object: [String: Any], fields: FieldNames) -> Bool {
        let message = error.message
        if message.contains("nesting deeper than") || message.contains("too large for a double")
            || message.contains("byte order mark")
        {
            return true
        }
        if message.contains("appears twice") {
            // Only a field name: Foundation's object has it (the last copy).
            let names = fields.time + fields.type + fields.conversation
            return names.contains { message.contains("\"\($0)\"") && object[$0] != nil }
        }
        return false
    }

    /// What Foundation reads that is not RFC 8259 JSON: a comma before `}`
    /// or `]`, and input in UTF-16 or UTF-32 (recognised by its zero bytes
    /// or its byte order mark).
    static func isFoundationLeniency(_ error: StoaError, input: [UInt8]) -> Bool {
        if input.prefix(4).contains(0) || input.first == 0xFE || input.first == 0xFF { return true }
        guard let offset = error.offset, offset < input.count,
            input[offset] == UInt8(ascii: "}") || input[offset] == UInt8(ascii: "]")
        else { return false }
        var before = offset - 1
        while before >= 0, [0x20, 0x09, 0x0A, 0x0D].contains(input[before]) { before -= 1 }
        return before >= 0 && input[before] == UInt8(ascii: ",")
    }

    // MARK: The fields

    static func isBoolean(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

    /// A number Foundation read, as Stoa would take it: exactly for
    /// integers, approximately for the rest.
    enum Number {
        case integer(Int64)
        case unsigned(UInt64)
        case approximate(Double)

        init?(_ value: Any) {
            guard let number = value as? NSNumber, !isBoolean(number) else { return nil }
            if number is NSDecimalNumber {
                self = .approximate(number.doubleValue)
                return
            }
            switch String(cString: number.objCType) {
            case "c", "s", "i", "l", "q": self = .integer(number.int64Value)
            case "C", "S", "I", "L", "Q": self = .unsigned(number.uint64Value)
            default: self = .approximate(number.doubleValue)
            }
        }
    }

    /// The time Stoa should find in a time field's value: exact, within
    /// a tolerance, or none (unreadable); `nil` when it cannot be told (at
    /// the edge between two units, or of Int64).
    enum ExpectedTime {
        case exact(Int64?)
        case near(Double)
    }

    static func expectedTime(_ value: Any) -> ExpectedTime? {
        if let text = value as? String { return .exact(RecordTime.parseText(Array(text.utf8))) }
        guard let number = Number(value) else { return .exact(nil) }
        switch number {
        case .integer(let value):
            return .exact(epochMicros(magnitude: value.magnitude, negative: value < 0))
        case .unsigned(let value):
            return .exact(epochMicros(magnitude: value, negative: false))
        case .approximate(let value):
            let magnitude = abs(value)
            for edge in [1e11, 1e14, 1e17] where abs(magnitude / edge - 1) < 1e-9 { return nil }
            let micros =
                magnitude < 1e11 ? value * 1e6 : magnitude < 1e14 ? value * 1e3 : magnitude < 1e17 ? value : value / 1e3
            if abs(micros) > 9.2e18 && abs(micros) < 9.3e18 { return nil }
            return abs(micros) >= 9.3e18 ? .exact(nil) : .near(micros)
        }
    }

    /// An integer epoch time in µs by its magnitude (s, ms, µs, ns), or nil
    /// when it does not fit an Int64.
    static func epochMicros(magnitude: UInt64, negative: Bool) -> Int64? {
        let micros: UInt64
        switch magnitude {
        case ..<100_000_000_000:
            micros = magnitude * 1_000_000
        case ..<100_000_000_000_000:
            micros = magnitude * 1_000
        case ..<100_000_000_000_000_000:
            micros = magnitude
        default:
            micros = magnitude / 1_000
        }
        guard micros <= UInt64(Int64.max) else { return nil }
        return negative ? -Int64(micros) : Int64(micros)
    }

    /// The bytes of a string body the scanner found.
    static func text(_ value: RecordScanner.Value, in input: [UInt8]) -> [UInt8] {
        input.withUnsafeBufferPointer { all in
            Array(JSONString.decodeString(UnsafeBufferPointer(rebasing: all[value.range]), escaped: value.escaped).utf8)
        }
    }

    static func compare(
        _ summary: RecordScanner.Summary, with object: [String: Any], input: [UInt8], scanner: RecordScanner,
        fields: FieldNames
    ) throws(FuzzFinding) {
        // Time: the first time name present, whatever its value.
        let timeName = fields.time.first { object[$0] != nil }
        try expect(
            summary.time.map { scanner.keyNames[$0.name] } == timeName,
            "time field: Stoa found \(String(describing: summary.time.map { scanner.keyNames[$0.name] })), Foundation \(String(describing: timeName)) in \(shown(input))"
        )
        // Type: the first type name whose value is a string.
        try expect(
            summary.hasTypeKey == fields.type.contains { object[$0] != nil },
            "a type key is present to one and not the other in \(shown(input))")
        let typeName = fields.type.first { object[$0] is String }
        try expect(
            summary.type.map { scanner.keyNames[$0.name] } == typeName,
            "type field: Stoa found \(String(describing: summary.type.map { scanner.keyNames[$0.name] })), Foundation \(String(describing: typeName)) in \(shown(input))"
        )
        if let type = summary.type, let typeName, let expected = object[typeName] as? String {
            try expect(
                text(type, in: input) == Array(expected.utf8),
                "type: Stoa read \(shown(text(type, in: input))), Foundation \(expected.debugDescription) in \(shown(input))")
        }
        // Conversation: the first name whose value is a string or a number.
        let conversationName = fields.conversation.first { object[$0] is String || Number(object[$0] as Any) != nil }
        try expect(
            summary.conversation.map { scanner.keyNames[$0.name] } == conversationName,
            "conversation field: Stoa found \(String(describing: summary.conversation.map { scanner.keyNames[$0.name] })), Foundation \(String(describing: conversationName)) in \(shown(input))"
        )
        if let conversation = summary.conversation, let conversationName, let value = object[conversationName] {
            if let expected = value as? String {
                try expect(
                    conversation.kind == .string && text(conversation, in: input) == Array(expected.utf8),
                    "conversation: Stoa read \(shown(text(conversation, in: input))), Foundation \(expected.debugDescription)")
            } else if let number = Number(value) {
                let found = String(decoding: input[conversation.range], as: UTF8.self)
                try expect(conversation.kind == .number, "conversation: Stoa read \(found) as a \(conversation.kind)")
                switch number {
                case .integer(let expected):
                    try expect(
                        Int64(found) == expected || Double(found) == Double(expected),
                        "conversation: Stoa read \(found), Foundation \(expected)")
                case .unsigned(let expected):
                    try expect(
                        UInt64(found) == expected || Double(found) == Double(expected),
                        "conversation: Stoa read \(found), Foundation \(expected)")
                case .approximate(let expected):
                    let read = Double(found) ?? .nan
                    try expect(
                        read == expected || abs(read - expected) <= abs(expected) * 1e-12,
                        "conversation: Stoa read \(found), Foundation \(expected)")
                }
            }
        }
    }

    /// Whether two values Foundation read are the same JSON: strings by
    /// their bytes, numbers by value (a boolean only as a boolean).
    static func same(_ a: Any, _ b: Any) -> Bool {
        switch (a, b) {
        case (let a as [String: Any], let b as [String: Any]):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { same(value, $0) } ?? false }
        case (let a as [Any], let b as [Any]):
            return a.count == b.count && zip(a, b).allSatisfy { same($0, $1) }
        case (let a as String, let b as String):
            return Array(a.utf8) == Array(b.utf8)
        case (let a as NSNumber, let b as NSNumber):
            return isBoolean(a) == isBoolean(b) && a.isEqual(to: b)
        case (is NSNull, is NSNull):
            return true
        default:
            return false
        }
    }

    // MARK: The stored line

    static func checkEncoding(_ input: [UInt8], object: [String: Any], fields: FieldNames) throws(FuzzFinding) {
        let encoder = RecordEncoder(fields: fields, maxRecordBytes: 1 << 20)
        var line: [UInt8] = []
        let encoded = input.withUnsafeBufferPointer { bytes in
            Result { () throws(StoaError) in try encoder.encode(bytes, into: &line, now: now) }
        }
        let timeName = fields.time.first { object[$0] != nil }
        let expected = timeName.map { object[$0] as Any }.map(expectedTime) ?? .exact(now)
        let facts: LineFacts
        switch encoded {
        case .failure(let error):
            try expect(line.isEmpty, "a refused record left \(line.count) bytes in the output")
            if case .exact(let time)? = expected, time != nil {
                throw FuzzFinding("encode refused a record whose time Foundation and Stoa's rules read (\(error.message)): \(shown(input))")
            }
            if case .near? = expected {
                throw FuzzFinding("encode refused a record with a readable epoch time (\(error.message)): \(shown(input))")
            }
            return
        case .success(let found):
            facts = found
        }
        switch expected {
        case .exact(let time)?:
            try expect(facts.time == time, "time: Stoa read \(facts.time), expected \(String(describing: time)) in \(shown(input))")
        case .near(let time)?:
            try expect(
                abs(Double(facts.time) - time) <= 2 + abs(time) * 1e-15,
                "time: Stoa read \(facts.time), expected about \(time) in \(shown(input))")
        case nil:
            break
        }
        try expect(facts.timeInserted == (timeName == nil), "timeInserted is \(facts.timeInserted) for \(shown(input))")

        // One line, compact, ending in a newline.
        try expect(line.last == 0x0A && line.dropLast().allSatisfy { $0 != 0x0A }, "the stored line is not one line: \(shown(line))")
        let body = Array(line.dropLast())
        // Read back as a stored line is: strictly, and with the fast scan.
        let strict = body.withUnsafeBufferPointer { bytes in Result { () throws(StoaError) in try encoder.facts(ofLine: bytes) } }
        let fast = body.withUnsafeBufferPointer { bytes in Result { () throws(StoaError) in try encoder.facts(ofStoredLine: bytes) } }
        guard case .success(let reread) = strict else {
            throw FuzzFinding("the stored line does not read back: \(shown(line))")
        }
        try expect(reread == facts, "the stored line reads back with other facts (\(reread) ≠ \(facts)): \(shown(line))")
        try expect((try? fast.get()) == facts, "the fast scan of the stored line gives other facts: \(shown(line))")
        let scanner = RecordScanner(fields: fields)
        let summary = body.withUnsafeBufferPointer { try? scanner.scan($0) }
        let stored = body.withUnsafeBufferPointer { scanner.scanStored($0) }
        try expect(stored != nil, "the fast scan refuses a stored line: \(shown(line))")
        if let summary, let stored {
            try expect(sameFields(summary, stored), "the fast scan finds other fields than the strict one in \(shown(line))")
        }
        // The same object to Foundation, with the time Stoa inserted.
        guard case .object(var storedObject) = FoundationReading(body) else {
            throw FuzzFinding("Foundation does not read the stored line as an object: \(shown(line))")
        }
        if facts.timeInserted, let name = fields.time.first {
            try expect(
                storedObject[name] as? String == RecordTime.format(now), "the inserted time is not \(RecordTime.format(now))")
            storedObject[name] = nil
        }
        try expect(
            same(storedObject, object),
            "the stored line is another object than the input: \(shown(input)) → \(shown(line))")
    }
}
