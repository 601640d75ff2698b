/// A strict, single-pass JSON validator that also finds a record's time, type
/// and conversation fields.
///
/// Why by hand: Foundation's `JSONSerialization` and `JSONDecoder` build a
/// tree of objects for every record and manage 0.1–0.2M lines/s here, and
/// `ISO8601DateFormatter` drops microseconds. This scanner allocates nothing
/// per record, validates RFC 8259 exactly (UTF-8 included), and reads only the
/// few top-level values Stoa needs.
///
/// It never recurses: nesting is tracked in a bit stack, so a hostile
/// `[[[[…` gets an error at the depth limit instead of a stack overflow.
///
/// Two sets of ``Rules``: a record being appended must be one that every
/// common JSON parser reads the same way (``Rules/input``); a line already
/// stored is read by the rules it was appended under (``Rules/stored``), so
/// that a stricter Stoa never calls an older store's lines damaged.
package struct RecordScanner: Sendable {
    /// How deep objects and arrays may nest in a record being appended (the
    /// record itself is level 1): what .NET's System.Text.Json and
    /// Json.NET accept by default (64), and below Ruby's (100) and
    /// serde_json's (127) limits.
    static let maxDepth = 64
    /// How deep a stored line may nest: the limit records were appended
    /// under before ``maxDepth`` was lowered to 64, so that an older store's
    /// deeper lines still read.
    static let storedMaxDepth = 512

    /// What a scan accepts beyond RFC 8259's grammar.
    package struct Rules: Sendable {
        /// Objects and arrays nest at most this deep (the record is level 1).
        var maxDepth: Int
        /// A time, type or conversation name that appears twice at the top
        /// level is an error (parsers disagree on which copy counts).
        var refusesRepeatedFields: Bool
        /// A number too large for a double (`1e999`) is an error (many
        /// parsers refuse it, others read infinity).
        var refusesInfiniteNumbers: Bool

        /// For records being appended: every stored line parses, and means
        /// the same, in every common parser.
        package static let input = Rules(maxDepth: RecordScanner.maxDepth, refusesRepeatedFields: true, refusesInfiniteNumbers: true)
        /// For lines already stored: what any version of Stoa accepted.
        package static let stored = Rules(
            maxDepth: RecordScanner.storedMaxDepth, refusesRepeatedFields: false, refusesInfiniteNumbers: false)
    }

    /// The field names, as bytes, in priority order.
    let names: [[UInt8]]
    /// The same names as strings, for ``Value/key``.
    package let keyNames: [String]
    /// For each entry of `names`: which field it names and its priority.
    let roles: [(field: Field, priority: Int)]
    /// The names, for matching keys without comparing bytes one by one.
    let table: NameTable

    enum Field: Int { case time = 0, type = 1, conversation = 2 }

    package init(fields: FieldNames) {
        var names: [[UInt8]] = []
        var roles: [(Field, Int)] = []
        for (field, list) in [(Field.time, fields.time), (.type, fields.type), (.conversation, fields.conversation)] {
            for (priority, name) in list.enumerated() {
                names.append(Array(name.utf8))
                roles.append((field, priority))
            }
        }
        self.names = names
        self.keyNames = names.map { String(decoding: $0, as: UTF8.self) }
        self.roles = roles
        self.table = NameTable(names)
    }

    /// The field names in a form a key is matched against with a few integer
    /// operations: a small hash table on each name's length and first eight
    /// bytes, so that the many keys of a record that are no field cost one
    /// probe and no byte comparison.
    struct NameTable: Sendable {
        let names: [[UInt8]]
        /// Open addressing, linear probing; `name` is -1 in an empty slot.
        /// Names are inserted in order, so of two equal names the first is
        /// found first.
        private let slots: [(prefix: UInt64, length: Int, name: Int)]
        private let shift: UInt64

        init(_ names: [[UInt8]]) {
            self.names = names
            var bits: UInt64 = 4
            while 1 << bits < 4 * names.count { bits += 1 }
            shift = 64 - bits
            var slots = [(prefix: UInt64, length: Int, name: Int)](
                repeating: (0, 0, -1), count: 1 << Int(bits))
            for (position, name) in names.enumerated() {
                let prefix = name.withUnsafeBufferPointer { Self.prefix($0, 0, name.count) }
                var slot = Self.hash(prefix, name.count, shift: shift)
                while slots[slot].name >= 0 { slot = (slot + 1) & (slots.count - 1) }
                slots[slot] = (prefix, name.count, position)
            }
            self.slots = slots
        }

        /// The first (up to) eight bytes of `bytes[start..<end]`, little-endian, zero-padded.
        @inline(__always)
        private static func prefix(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> UInt64 {
            let length = end - start
            if start + 8 <= bytes.count {
                let word = UInt64(littleEndian: UnsafeRawPointer(bytes.baseAddress! + start).loadUnaligned(as: UInt64.self))
                return length >= 8 ? word : word & ((1 << UInt64(8 * length)) &- 1)
            }
            var word: UInt64 = 0
            for k in 0..<min(length, 8) { word |= UInt64(bytes[start + k]) << UInt64(8 * k) }
            return word
        }

        @inline(__always)
        private static func hash(_ prefix: UInt64, _ length: Int, shift: UInt64) -> Int {
            Int(truncatingIfNeeded: ((prefix &+ UInt64(truncatingIfNeeded: length)) &* 0x9E37_79B9_7F4A_7C15) &>> shift)
        }

        /// Which name the key `bytes[start..<end]` (no escapes) is, if any:
        /// the first in `names`.
        @inline(__always)
        func match(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Int? {
            let length = end - start
            let prefix = Self.prefix(bytes, start, end)
            var slot = Self.hash(prefix, length, shift: shift)
            while true {
                let (slotPrefix, slotLength, name) = slots[slot]
                if name < 0 { return nil }
                if slotPrefix == prefix && slotLength == length && (length <= 8 || sameTail(name, bytes, start)) {
                    return name
                }
                slot = (slot + 1) & (slots.count - 1)
            }
        }

        /// Whether `names[name]` matches the key at `start` past their first eight bytes.
        private func sameTail(_ name: Int, _ bytes: UnsafeBufferPointer<UInt8>, _ start: Int) -> Bool {
            names[name].withUnsafeBufferPointer { name in
                memcmp(name.baseAddress! + 8, bytes.baseAddress! + start + 8, name.count - 8) == 0
            }
        }
    }

    /// A value found for one of the fields.
    package struct Value: Equatable {
        /// `other`: `true`, `false`, `null`, an object or an array. Only a time
        /// field records one (so that it is refused rather than taken as absent).
        package enum Kind: Equatable { case string, number, other }
        package var kind: Kind
        /// The value's bytes: a string's contents without the quotes, or the text of
        /// anything else (a number, a literal, a whole object or array).
        package var range: Range<Int>
        /// A string that contains backslash escapes (decode before use).
        package var escaped: Bool
        /// Which of the scanner's names the key is (``RecordScanner/keyNames``,
        /// for error messages): an index, so that copying a value copies no
        /// reference.
        package var name: Int
    }

    /// What a scan learned about one record.
    package struct Summary {
        package var time: Value?
        package var type: Value?
        package var conversation: Value?
        /// There is whitespace outside strings: compact before storing.
        package var hasWhitespace = false
        /// A type field is present, whether or not its value is a string.
        package var hasTypeKey = false
    }

    /// Validates `bytes` as exactly one JSON object (surrounding whitespace
    /// allowed) and finds the fields.
    ///
    /// With a repeated field name (under ``Rules/stored``), the first copy
    /// counts. Other repeated keys are allowed under both rules (RFC 8259
    /// allows them) and left as they are.
    ///
    /// - Parameter rules: ``Rules/stored`` (the default) for a line read
    ///   back, ``Rules/input`` for a record being appended.
    /// - Throws: `StoaError` with code `.invalidRecord` whose `offset` is the
    ///   byte where the input stops being valid: for input that is no JSON
    ///   at all, where it stops being JSON ("not JSON: …"); for a JSON value
    ///   that is not an object, its first byte.
    /// - Complexity: O(n), one pass, no allocation unless a key has escapes.
    package func scan(_ bytes: UnsafeBufferPointer<UInt8>, rules: Rules = .stored) throws(StoaError) -> Summary {
        var cursor = Cursor(bytes: bytes, rules: rules)
        do {
            return try cursor.scanRecord(table: table, keyNames: keyNames, roles: roles)
        } catch {
            // (Before a value starts: empty input, a byte order mark.)
            guard !cursor.topLevelIsObject && !cursor.topLevelIsValue, cursor.valueStart >= 0 else { throw error }
            let start = cursor.valueStart
            let first = bytes[start]
            let ranOut = (error.offset ?? 0) >= bytes.count
            if cursor.tooDeep || (ranOut && first != UInt8(ascii: "t") && first != UInt8(ascii: "f") && first != UInt8(ascii: "n")) {
                // An array, a string or a number cut short (what it is is
                // clear from its first byte): no need to read on.
                throw StoaError(
                    .invalidRecord, "a record must be a JSON object, found \(describeValue(startingWith: first))", offset: start)
            }
            var error = error
            error.message = "not JSON: " + error.message
            throw error
        }
    }
}

// MARK: - The scan

private let quote = UInt8(ascii: "\"")
private let backslash = UInt8(ascii: "\\")

@inline(__always)
private func isWhitespace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
}

@inline(__always)
private func isDigit(_ byte: UInt8) -> Bool { byte &- 0x30 < 10 }

@inline(__always)
private func hexValue(_ byte: UInt8) -> UInt32? {
    switch byte {
    case 0x30...0x39: UInt32(byte - 0x30)
    case 0x41...0x46: UInt32(byte - 0x41 + 10)
    case 0x61...0x66: UInt32(byte - 0x61 + 10)
    default: nil
    }
}

/// The bytes a string body cannot simply step over: a quote, a backslash,
/// a control character (< 0x20) or a byte ≥ 0x80 (the start of a multi-byte
/// UTF-8 sequence, or a wrong byte).
@inline(__always)
private func isSpecial(_ byte: UInt8) -> Bool {
    byte == quote || byte == backslash || byte &- 0x20 >= 0x60
}

/// The special bytes (``isSpecial(_:)``) of the eight bytes of `word`
/// (little-endian: the first byte is the lowest): each has its high bit set
/// in the result.
///
/// The tests borrow across bytes, so a byte *after* the first special one may
/// be marked wrongly; the lowest mark is always exact (nothing borrows into
/// the first special byte), so its `trailingZeroBitCount / 8` is where the
/// first special byte is.
@inline(__always)
private func specialBytes(_ word: UInt64) -> UInt64 {
    let ones: UInt64 = 0x0101_0101_0101_0101
    let quotes = word ^ 0x2222_2222_2222_2222
    let backslashes = word ^ 0x5C5C_5C5C_5C5C_5C5C
    let control = (word &- 0x2020_2020_2020_2020) & ~word
    let quote = (quotes &- ones) & ~quotes
    let escape = (backslashes &- ones) & ~backslashes
    return (control | quote | escape | word) & 0x8080_8080_8080_8080
}

@inline(__always)
private func loadWord(_ base: UnsafePointer<UInt8>, _ offset: Int) -> UInt64 {
    UInt64(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self))
}

/// The index of the first special byte (``isSpecial(_:)``) of
/// `base[start..<count]`, or `count` when there is none: sixteen bytes at a
/// time, then eight, then the last few one by one.
///
/// The two words of sixteen bytes are tested in two independent chains of
/// integer operations, which the optimizer turns into SSE2 instructions on
/// x86-64 (the same code as with `SIMD2<UInt64>`, whose generic operators
/// are very slow in debug builds).
@inline(__always)
private func firstSpecial(_ base: UnsafePointer<UInt8>, from start: Int, count: Int) -> Int {
    var i = start
    while i &+ 16 <= count {
        let low = specialBytes(loadWord(base, i))
        let high = specialBytes(loadWord(base, i &+ 8))
        if low | high != 0 {
            return low != 0 ? i &+ low.trailingZeroBitCount &>> 3 : i &+ 8 &+ high.trailingZeroBitCount &>> 3
        }
        i &+= 16
    }
    if i &+ 8 <= count {
        let marks = specialBytes(loadWord(base, i))
        if marks != 0 { return i &+ marks.trailingZeroBitCount &>> 3 }
        i &+= 8
    }
    while i < count && !isSpecial(base[i]) { i &+= 1 }
    return i
}

/// The scanner's position in one input. Holds the pointer only for the
/// duration of `RecordScanner.scan`; it must not escape.
///
/// The hot loops copy `index` into a local and store it back when they
/// return or throw, so that it lives in a register meanwhile.
private struct Cursor {
    let bytes: UnsafeBufferPointer<UInt8>
    let rules: RecordScanner.Rules
    var index = 0
    var sawWhitespace = false
    /// The input starts with `{` (else it is refused, once read: see ``topLevelIsValue``).
    var topLevelIsObject = false
    /// The input is one valid JSON value that is not an object.
    var topLevelIsValue = false
    /// The scan stopped at the nesting limit.
    var tooDeep = false
    /// Where the top-level value starts (after leading whitespace; -1 before).
    var valueStart = -1

    init(bytes: UnsafeBufferPointer<UInt8>, rules: RecordScanner.Rules) {
        self.bytes = bytes
        self.rules = rules
    }

    @inline(__always) var atEnd: Bool { index >= bytes.count }
    @inline(__always) var current: UInt8 { bytes[index] }

    func fail(_ message: String) -> StoaError {
        StoaError(.invalidRecord, message, offset: index)
    }

    func failUnexpected(_ expected: String) -> StoaError {
        if atEnd { return fail("unexpected end of input, expected \(expected)") }
        return fail("unexpected \(describe(current)), expected \(expected)")
    }

    @inline(__always)
    mutating func skipWhitespace() {
        guard index < bytes.count && isWhitespace(bytes[index]) else { return }
        skipWhitespaceRun()
    }

    mutating func skipWhitespaceRun() {
        sawWhitespace = true
        var i = index
        while i < bytes.count && isWhitespace(bytes[i]) { i += 1 }
        index = i
    }

    mutating func scanRecord(
        table: RecordScanner.NameTable, keyNames: [String], roles: [(field: RecordScanner.Field, priority: Int)]
    ) throws(StoaError) -> RecordScanner.Summary {
        var summary = RecordScanner.Summary()
        var best = (Int.max, Int.max, Int.max)  // best priority seen per field

        skipWhitespace()
        if index + 2 < bytes.count && bytes[index] == 0xEF && bytes[index + 1] == 0xBB && bytes[index + 2] == 0xBF {
            throw fail("a byte order mark (BOM) is not allowed before a record")
        }
        if atEnd { throw fail("empty input, expected a JSON object") }
        // Anything else is read as a JSON value all the same, so that the
        // error says what it is ("a boolean") only when it is one, and
        // otherwise where it stops being JSON.
        topLevelIsObject = current == UInt8(ascii: "{")
        valueStart = index

        // Nesting: bit i of the stack is 1 when level i is an object. The
        // first 64 levels live in a register; deeper ones (rare) in an array
        // made when first needed.
        var shallow: UInt64 = 0
        var deep: [UInt64] = []
        var depth = 0

        // The top-level key whose value is being read, if it names a field.
        var pendingRole: (field: RecordScanner.Field, priority: Int, key: Int)? = nil
        // The field names met at the top level so far (``Rules/refusesRepeatedFields``):
        // a bit per name, and a set for names past the 64th.
        var namesSeen: UInt64 = 0
        var moreNamesSeen = Set<Int>()
        // A time field whose value is an object or an array: where it opened.
        var timeContainer: (start: Int, role: (field: RecordScanner.Field, priority: Int, key: Int))? = nil

        /// Keeps `value` for `role` when it is usable and outranks what was found.
        func note(
            _ role: (field: RecordScanner.Field, priority: Int, key: Int),
            _ kind: RecordScanner.Value.Kind, _ range: Range<Int>, escaped: Bool
        ) {
            func value() -> RecordScanner.Value {
                RecordScanner.Value(
                    kind: kind, range: range, escaped: escaped, name: role.key)
            }
            switch role.field {
            case .time:
                // Any value counts: one that is not a time is an error, not an absence.
                if role.priority < best.0 {
                    best.0 = role.priority
                    summary.time = value()
                }
            case .type:
                if kind == .string && role.priority < best.1 {
                    best.1 = role.priority
                    summary.type = value()
                }
            case .conversation:
                if kind != .other && role.priority < best.2 {
                    best.2 = role.priority
                    summary.conversation = value()
                }
            }
        }

        /// Reads a key of an object at `depth` and notes whether it names a field.
        func key() throws(StoaError) {
            pendingRole = nil
            let keyStart = index
            guard let k = try readKey(matching: depth == 1 ? table : nil) else { return }
            if rules.refusesRepeatedFields {
                let repeated = k < 64 ? namesSeen & (1 << UInt64(k)) != 0 : !moreNamesSeen.insert(k).inserted
                if repeated {
                    throw StoaError(
                        .invalidRecord,
                        "the field \"\(keyNames[k])\" appears twice: JSON parsers disagree on which one counts "
                            + "(most take the last, some the first), so the record is ambiguous; keep one",
                        offset: keyStart)
                }
                if k < 64 { namesSeen |= 1 << UInt64(k) }
            }
            pendingRole = (roles[k].field, roles[k].priority, k)
            if roles[k].field == .type { summary.hasTypeKey = true }
        }

        // States: expecting a value, or just after a value.
        var expectingValue = true
        while true {
            if expectingValue {
                skipWhitespace()
                guard !atEnd else { throw failUnexpected("a value") }
                let start = index
                let byte = current
                let kind: RecordScanner.Value.Kind
                var escaped = false
                switch byte {
                case quote:
                    index += 1
                    escaped = try readString()
                    kind = .string
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard depth < rules.maxDepth else {
                        tooDeep = true
                        throw fail(
                            "nesting deeper than \(rules.maxDepth) levels (some JSON parsers refuse deeper records)")
                    }
                    if let role = pendingRole, role.field == .time { timeContainer = (start, role) }
                    let isObject = byte == UInt8(ascii: "{")
                    let bit: UInt64 = 1 << UInt64(depth & 63)
                    if depth < 64 {
                        shallow = isObject ? shallow | bit : shallow & ~bit
                    } else {
                        if deep.isEmpty { deep = [UInt64](repeating: 0, count: (rules.maxDepth + 63) / 64) }
                        deep[depth >> 6] = isObject ? deep[depth >> 6] | bit : deep[depth >> 6] & ~bit
                    }
                    depth += 1
                    index += 1
                    skipWhitespace()
                    if !atEnd && current == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        depth -= 1
                        index += 1
                        if depth == 1, let open = timeContainer {
                            note(open.role, .other, open.start..<index, escaped: false)
                            timeContainer = nil
                        }
                        pendingRole = nil
                        expectingValue = false
                        continue
                    }
                    if isObject {
                        try key()
                    } else {
                        pendingRole = nil
                    }
                    continue  // still expecting a value
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    try readNumber()
                    kind = .number
                case UInt8(ascii: "t"):
                    try readLiteral("true")
                    kind = .other
                case UInt8(ascii: "f"):
                    try readLiteral("false")
                    kind = .other
                case UInt8(ascii: "n"):
                    try readLiteral("null")
                    kind = .other
                default:
                    throw failUnexpected("a value")
                }
                if let role = pendingRole {
                    note(role, kind, kind == .string ? (start + 1)..<(index - 1) : start..<index, escaped: escaped)
                    pendingRole = nil
                }
                expectingValue = false
            } else {
                skipWhitespace()
                guard depth > 0 else { break }
                let level = depth - 1
                let inObject =
                    level < 64
                    ? shallow & (1 << UInt64(level)) != 0
                    : deep[level >> 6] & (1 << UInt64(level & 63)) != 0
                guard !atEnd else { throw failUnexpected(inObject ? "',' or '}'" : "',' or ']'") }
                switch current {
                case UInt8(ascii: ","):
                    index += 1
                    if inObject {
                        skipWhitespace()
                        try key()
                    }
                    expectingValue = true
                case UInt8(ascii: "}") where inObject, UInt8(ascii: "]") where !inObject:
                    index += 1
                    depth -= 1
                    if depth == 1, let open = timeContainer {
                        note(open.role, .other, open.start..<index, escaped: false)
                        timeContainer = nil
                    }
                default:
                    throw failUnexpected(inObject ? "',' or '}'" : "',' or ']'")
                }
            }
        }
        if !atEnd {
            throw fail("unexpected \(describe(current)) after the end of the \(topLevelIsObject ? "object" : "value")")
        }
        guard topLevelIsObject else {
            topLevelIsValue = true
            index = valueStart
            throw fail("a record must be a JSON object, found \(describeValue(startingWith: bytes[valueStart]))")
        }
        summary.hasWhitespace = sawWhitespace
        return summary
    }

    /// Reads `"key"` and the `:` after it (whitespace skipped before the key
    /// by the caller). Returns which name of `table` the key is, if a table
    /// is given (for the top level only).
    @inline(__always)
    mutating func readKey(matching table: RecordScanner.NameTable?) throws(StoaError) -> Int? {
        guard !atEnd, current == quote else { throw failUnexpected("a string key") }
        index += 1
        let start = index
        let escaped = try readString()
        let end = index - 1
        var match: Int? = nil
        if let table {
            if escaped {
                let decoded = JSONString.decode(UnsafeBufferPointer(rebasing: bytes[start..<end]))
                match = table.names.firstIndex(of: decoded)
            } else {
                match = table.match(bytes, start, end)
            }
        }
        if index < bytes.count && bytes[index] == UInt8(ascii: ":") {
            index += 1  // the compact form
            return match
        }
        skipWhitespace()
        guard !atEnd, current == UInt8(ascii: ":") else { throw failUnexpected("':' after a key") }
        index += 1
        return match
    }

    /// Reads a string body after its opening quote, through its closing quote.
    /// Returns whether it had escapes.
    ///
    /// Plain ASCII goes sixteen bytes at a time; the first byte that needs a
    /// look (a quote, a backslash, a control character or a byte ≥ 0x80) is
    /// found in the word without stepping through it.
    @inline(__always)
    mutating func readString() throws(StoaError) -> Bool {
        let base = bytes.baseAddress!
        let i = firstSpecial(base, from: index, count: bytes.count)
        if i < bytes.count && base[i] == quote {
            index = i &+ 1
            return false
        }
        index = i
        return try readStringRest()
    }

    /// The rest of ``readString()`` from its first special byte (or the end
    /// of input).
    mutating func readStringRest() throws(StoaError) -> Bool {
        let base = bytes.baseAddress!
        let count = bytes.count
        var escaped = false
        var i = index
        while true {
            guard i < count else {
                index = i
                throw fail("unterminated string")
            }
            let byte = base[i]
            if byte == quote {
                index = i &+ 1
                return escaped
            } else if byte >= 0x80 {
                index = i
                try readMultibyteCharacters()
            } else if byte == backslash {
                escaped = true
                index = i
                try readEscape()
            } else {
                index = i
                throw fail("raw control character \(describe(byte)) in a string (escape it as \\u00\(hex2(byte)))")
            }
            i = firstSpecial(base, from: index, count: count)
        }
    }

    mutating func readEscape() throws(StoaError) {
        index += 1  // the backslash
        guard !atEnd else { throw fail("unterminated escape") }
        switch current {
        case quote, backslash, UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 1
        case UInt8(ascii: "u"):
            let escapeStart = index - 1
            index += 1
            let unit = try readHex4()
            if unit >= 0xDC00 && unit <= 0xDFFF {
                throw StoaError(.invalidRecord, "lone low surrogate \\u\(hex4(unit))", offset: escapeStart)
            }
            if unit >= 0xD800 && unit <= 0xDBFF {
                // The input may end here or after the backslash: it ran out, it is not wrong yet.
                guard !atEnd, current == backslash, index + 1 >= bytes.count || bytes[index + 1] == UInt8(ascii: "u")
                else { throw fail("lone high surrogate \\u\(hex4(unit)) (not followed by a low surrogate)") }
                guard index + 1 < bytes.count else {
                    throw StoaError(.invalidRecord, "unterminated escape", offset: bytes.count)
                }
                let lowStart = index
                index += 2
                let low = try readHex4()
                guard low >= 0xDC00 && low <= 0xDFFF else {
                    throw StoaError(
                        .invalidRecord,
                        "high surrogate \\u\(hex4(unit)) followed by \\u\(hex4(low)), not a low surrogate",
                        offset: lowStart)
                }
            }
        default:
            throw fail("invalid escape \\\(describeRaw(current))")
        }
    }

    mutating func readHex4() throws(StoaError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard !atEnd, let digit = hexValue(current) else {
                throw fail("\\u must be followed by four hex digits")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    /// Validates a run of UTF-8 sequences of 2–4 bytes (RFC 3629: no
    /// overlongs, no surrogates, nothing past U+10FFFF), starting at a byte
    /// ≥ 0x80 and stopping at the first byte < 0x80.
    mutating func readMultibyteCharacters() throws(StoaError) {
        let base = bytes.baseAddress!
        let count = bytes.count
        var i = index
        repeat {
            let lead = base[i]
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default:
                index = i
                throw fail("invalid UTF-8 byte 0x\(hex2(lead))")
            }
            // An invalid sequence is reported at its lead byte; one cut short by
            // the end of input at the end (the input ran out, it is not wrong yet).
            for k in 1..<length {
                guard i + k < count else {
                    throw StoaError(.invalidRecord, "truncated UTF-8 sequence", offset: count)
                }
                let byte = base[i + k]
                let valid = k == 1 ? byte >= low && byte <= high : byte & 0xC0 == 0x80
                guard valid else {
                    index = i
                    throw fail("invalid UTF-8 sequence at byte 0x\(hex2(lead))")
                }
            }
            i += length
        } while i < count && base[i] >= 0x80
        index = i
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    ///
    /// Under ``RecordScanner/Rules/refusesInfiniteNumbers``, a number too
    /// large for a double is refused too.
    mutating func readNumber() throws(StoaError) {
        let base = bytes.baseAddress!
        let count = bytes.count
        let start = index
        var i = index
        defer { index = i }
        if base[i] == UInt8(ascii: "-") {
            i += 1
            guard i < count, isDigit(base[i]) else {
                index = i
                throw fail("'-' must be followed by a digit")
            }
        }
        if base[i] == UInt8(ascii: "0") {
            i += 1
            if i < count && isDigit(base[i]) {
                index = i
                throw fail("numbers must not have leading zeros")
            }
        } else {
            while i < count && isDigit(base[i]) { i += 1 }
        }
        let integerDigits = i - start
        if i < count && base[i] == UInt8(ascii: ".") {
            i += 1
            guard i < count, isDigit(base[i]) else {
                index = i
                throw fail("a '.' in a number must be followed by a digit")
            }
            while i < count && isDigit(base[i]) { i += 1 }
        }
        if i < count && (base[i] == UInt8(ascii: "e") || base[i] == UInt8(ascii: "E")) {
            i += 1
            if i < count && (base[i] == UInt8(ascii: "+") || base[i] == UInt8(ascii: "-")) { i += 1 }
            guard i < count, isDigit(base[i]) else {
                index = i
                throw fail("an exponent must have digits")
            }
            let negative = base[i - 1] == UInt8(ascii: "-")
            var exponent = 0
            while i < count && isDigit(base[i]) {
                exponent = min(exponent * 10 + Int(base[i] &- 0x30), 1_000_000)
                i += 1
            }
            if rules.refusesInfiniteNumbers && !negative && integerDigits + exponent > 308 {
                try checkFinite(start..<i)
            }
        } else if rules.refusesInfiniteNumbers && integerDigits > 308 {
            try checkFinite(start..<i)
        }
    }

    /// Refuses the number at `range` when it is too large for a double.
    /// Called only for numbers that may be (ten to the power of their
    /// integer digits and exponent is past 1e308), so rarely.
    mutating func checkFinite(_ range: Range<Int>) throws(StoaError) {
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        guard let value = Double(text), !value.isFinite else { return }
        throw StoaError(
            .invalidRecord,
            "the number \(text.prefix(24))\(text.count > 24 ? "…" : "") is too large for a double "
                + "(many JSON parsers refuse it, others read infinity)",
            offset: range.lowerBound)
    }

    /// Reads `true`, `false` or `null`. A mismatch is reported at the first
    /// wrong byte (or the end of input), like every other error.
    mutating func readLiteral(_ literal: StaticString) throws(StoaError) {
        let count = literal.utf8CodeUnitCount
        let start = literal.utf8Start
        for k in 0..<count {
            guard !atEnd, current == start[k] else {
                throw failUnexpected("'\(literal)'")
            }
            index += 1
        }
    }
}

// MARK: - Describing bytes in errors

private func hex2(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
}

private func hex4(_ value: UInt32) -> String {
    hex2(UInt8(value >> 8)) + hex2(UInt8(value & 0xFF))
}

private func describeRaw(_ byte: UInt8) -> String {
    byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "0x" + hex2(byte)
}

/// What a JSON value that starts with `byte` is, for an error that says
/// what was found instead of an object ("a number", not "'4'").
func describeValue(startingWith byte: UInt8) -> String {
    switch byte {
    case UInt8(ascii: "\""): return "a string"
    case UInt8(ascii: "["): return "an array"
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return "a number"
    case UInt8(ascii: "t"), UInt8(ascii: "f"): return "a boolean"
    case UInt8(ascii: "n"): return "null"
    default: return describe(byte)
    }
}

private func describe(_ byte: UInt8) -> String {
    switch byte {
    case 0x0A: "newline"
    case 0x0D: "carriage return"
    case 0x09: "tab"
    case 0x20..<0x7F: "'\(String(UnicodeScalar(byte)))'"
    default: "byte 0x\(hex2(byte))"
    }
}

#if canImport(Glibc)
import Glibc
#endif
