/// A condition on one field of a record: `tags.host=agent-1`,
/// `latency_ms>=250`, `error?`. A ``Query`` keeps the records that meet
/// all of its ``Query/fieldFilters``.
///
/// How a record is matched:
///
/// - The path names a top-level field (`status`) or, through objects, a
///   field inside one (`tags.host`, `data.name`). Arrays are not entered,
///   and a value on the way that is not an object ends the path: the field
///   is missing. Of a key repeated in one object, the first counts.
/// - Values compare as JSON. A number equals a number of the same value
///   (`1`, `1.0`, `1e0` are equal), compared exactly in decimal, not as
///   doubles. A string equals a string with the same characters once its
///   escapes are decoded (`"R\u00e9ponse"` is `Réponse`); no Unicode
///   normalization. `true`, `false` and `null` equal themselves. Values
///   of different kinds are never equal: the number `200` is not the
///   string `"200"`.
/// - `<`, `<=`, `>`, `>=` compare numbers with numbers and strings with
///   strings (by Unicode scalar values, which is the order of their UTF-8
///   bytes); a field of another kind does not match.
/// - A field that is an object or an array equals no value; it matches
///   `!=` and `?`.
/// - A record without the field matches only `!=`. `null` is a value:
///   `x=null` and `x?` match `"x":null`.
///
/// ```swift
/// let errorsOnAgent1 = Query(
///     types: ["error"],
///     where: [try .parse("tags.host=agent-1"), FieldFilter(["latency_ms"], .greaterOrEqual, 250)])
/// ```
public struct FieldFilter: Sendable, Hashable, CustomStringConvertible {
    /// How a field is compared with the filter's value.
    public enum Operator: String, Sendable, Hashable, CaseIterable {
        /// `=`: the field equals the value.
        case equal = "="
        /// `!=`: the field is missing, or does not equal the value.
        case notEqual = "!="
        /// `<`: the field is less than the value (numbers or strings).
        case less = "<"
        /// `<=`: the field is less than or equal to the value.
        case lessOrEqual = "<="
        /// `>`: the field is greater than the value.
        case greater = ">"
        /// `>=`: the field is greater than or equal to the value.
        case greaterOrEqual = ">="
        /// `?`: the field is present, whatever its value (`null` too).
        case present = "?"

        /// Whether it orders values (`<`, `<=`, `>`, `>=`).
        var isOrdering: Bool {
            switch self {
            case .less, .lessOrEqual, .greater, .greaterOrEqual: true
            case .equal, .notEqual, .present: false
            }
        }
    }

    /// The keys from the record's top level down to the field.
    public let path: [String]
    /// How the field is compared.
    public let `operator`: Operator
    /// What the field is compared with; nil for ``Operator/present``.
    ///
    /// A number read by ``parse(_:)`` that neither `Int64` nor `Double`
    /// holds exactly is approximated here; the filter compares with its
    /// exact decimal value all the same.
    public let value: JSONValue?
    /// The value as the filter compares it.
    let operand: Operand
    /// The path as bytes, compared with keys.
    let pathBytes: [[UInt8]]
    /// The value's JSON text, for ``description``.
    private let valueText: String

    /// The value as compared: a number's exact value, a string's UTF-8.
    enum Operand: Hashable, Sendable {
        /// A number, and its value as an integer when it is a small whole one.
        case number(JSONDecimal, Int64?)
        case string([UInt8])
        case `true`, `false`, null
        /// For ``Operator/present``.
        case none

        /// The operand for the number `value`.
        static func numeric(_ value: JSONDecimal) -> Operand { .number(value, value.smallInteger) }
    }

    /// A filter on the field at `path`.
    ///
    /// ```swift
    /// FieldFilter(["tags", "host"], .equal, "agent-1")
    /// FieldFilter(["latency_ms"], .greater, 250)
    /// FieldFilter(["error"], .present)
    /// ```
    ///
    /// Each key is taken as it is (a key may hold a dot here, unlike in
    /// ``parse(_:)``).
    ///
    /// - Parameters:
    ///   - path: The keys from the top level down; at least one.
    ///   - operator: How the field is compared.
    ///   - value: For `=` and `!=`, a number, a string, `true`, `false` or
    ///     `null`; for `<`, `<=`, `>`, `>=`, a number or a string; for `?`,
    ///     nothing.
    /// - Precondition: `path` is not empty, and `value` is of a kind the
    ///   operator compares (a finite number).
    public init(_ path: [String], _ operator: Operator, _ value: JSONValue? = nil) {
        precondition(!path.isEmpty, "a field filter needs a path")
        let operand: Operand
        switch (`operator`, value) {
        case (.present, nil): operand = .none
        case (.present, _): preconditionFailure("a presence filter (?) takes no value")
        case (_, .int(let number)?): operand = .numeric(JSONDecimal(String(number))!)
        case (_, .double(let number)?):
            precondition(number.isFinite, "a field filter compares finite numbers")
            operand = .numeric(JSONDecimal(String(decoding: JSONValue.double(number).jsonBytes, as: UTF8.self))!)
        case (_, .string(let text)?): operand = .string(Array(text.utf8))
        case (let op, .bool(let flag)?) where !op.isOrdering: operand = flag ? .true : .false
        case (let op, .null?) where !op.isOrdering: operand = .null
        default:
            preconditionFailure(
                "\(`operator`.rawValue) compares "
                    + (`operator`.isOrdering ? "numbers or strings" : "numbers, strings, true, false or null"))
        }
        self.init(path: path, operator: `operator`, value: value, operand: operand, valueText: value.map { String(decoding: $0.jsonBytes, as: UTF8.self) } ?? "")
    }

    private init(path: [String], operator: Operator, value: JSONValue?, operand: Operand, valueText: String) {
        self.path = path
        self.operator = `operator`
        self.value = value
        self.operand = operand
        self.pathBytes = path.map { Array($0.utf8) }
        self.valueText = valueText
    }

    /// The filter as ``parse(_:)`` reads it back: `tags.host="agent-1"`.
    public var description: String {
        path.joined(separator: ".") + `operator`.rawValue + valueText
    }

    /// Two filters are equal when they match the same records for the same
    /// reason: the same path, operator and compared value (`1` and `1.0`
    /// are the same number).
    public static func == (a: FieldFilter, b: FieldFilter) -> Bool {
        a.path == b.path && a.operator == b.operator && a.operand == b.operand
    }

    /// Hashes what ``==(_:_:)`` compares.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(path)
        hasher.combine(`operator`)
        hasher.combine(operand)
    }

    /// Whether `record` meets the condition.
    public func matches(_ record: Record) -> Bool {
        record.bytes.withUnsafeBufferPointer { matches(line: $0) }
    }

    /// Whether the record whose line is `line` meets the condition.
    ///
    /// - Complexity: O(n) in the bytes of the line before the field, at
    ///   most; allocates only for a key or string with escapes and for a
    ///   number compared.
    func matches(line: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let found = FieldLookup.value(at: pathBytes, in: line) else { return `operator` == .notEqual }
        switch `operator` {
        case .present: return true
        case .equal: return compare(found, line) == 0
        case .notEqual: return compare(found, line) != 0
        case .less: return compare(found, line).map { $0 < 0 } ?? false
        case .lessOrEqual: return compare(found, line).map { $0 <= 0 } ?? false
        case .greater: return compare(found, line).map { $0 > 0 } ?? false
        case .greaterOrEqual: return compare(found, line).map { $0 >= 0 } ?? false
        }
    }

    /// The field against the operand: -1, 0 or 1; nil when they are of
    /// kinds that do not compare.
    private func compare(_ found: FieldLookup.Found, _ line: UnsafeBufferPointer<UInt8>) -> Int? {
        switch operand {
        case .number(let number, let integer):
            guard found.kind == .number else { return nil }
            let text = UnsafeBufferPointer(rebasing: line[found.range])
            // Two small integers (most numbers in logs) compare as integers.
            if let integer, let field = JSONDecimal.plainInteger(text) { return field < integer ? -1 : field > integer ? 1 : 0 }
            guard let field = JSONDecimal(text) else { return nil }
            return field < number ? -1 : number < field ? 1 : 0
        case .string(let text):
            guard found.kind == .string else { return nil }
            let body = UnsafeBufferPointer(rebasing: line[found.range])
            if found.escaped {
                guard JSONString.hasValidEscapes(body) else { return nil }
                return Self.compareBytes(JSONString.decode(body), text)
            }
            return Self.compareBytes(body, text)
        case .true: return found.kind == .true ? 0 : nil
        case .false: return found.kind == .false ? 0 : nil
        case .null: return found.kind == .null ? 0 : nil
        case .none: return nil
        }
    }

    private static func compareBytes<A: Sequence<UInt8>>(_ a: A, _ b: [UInt8]) -> Int {
        var left = a.makeIterator()
        var right = b.makeIterator()
        while true {
            switch (left.next(), right.next()) {
            case (nil, nil): return 0
            case (nil, _): return -1
            case (_, nil): return 1
            case (let x?, let y?): if x != y { return x < y ? -1 : 1 }
            }
        }
    }
}

// MARK: - Reading an expression

extension FieldFilter {
    /// What `--where` takes, for error messages.
    static let forms = "PATH=VALUE, PATH!=VALUE, PATH<VALUE, PATH<=VALUE, PATH>VALUE, PATH>=VALUE or PATH?"

    /// Reads a filter written as `stoa --where` takes it: `PATH=VALUE`,
    /// `PATH!=VALUE`, `PATH<VALUE`, `PATH<=VALUE`, `PATH>VALUE`,
    /// `PATH>=VALUE`, or `PATH?` (present).
    ///
    /// - PATH is a key or keys joined by dots (`tags.host`); it ends at the
    ///   first `=`, `!=`, `<` or `>`. Keys holding a dot or one of those
    ///   cannot be named here (the initializer takes them).
    /// - VALUE is JSON when it is exactly a JSON number, string, `true`,
    ///   `false` or `null` (`200`, `-1.5e3`, `"agent-1"`, `null`); anything
    ///   else is a string as written (`agent-1`, `01`, `True`, `a b`).
    ///   Write the empty string, or a string that reads as JSON (`"200"`),
    ///   in quotes.
    ///
    /// ```swift
    /// let filter = try FieldFilter.parse("tags.host=agent-1")
    /// // filter.path == ["tags", "host"], filter.value == "agent-1"
    /// ```
    ///
    /// - Throws: ``StoaError/Code/invalidArgument``, with a message that
    ///   says what was expected: no operator, an empty key, no value, a
    ///   JSON object or array as the value, a value `<`… cannot order
    ///   (`true`, `null`), a quoted value that is not a valid JSON string.
    public static func parse(_ expression: String) throws(StoaError) -> FieldFilter {
        func refuse(_ why: String) -> StoaError {
            StoaError(.invalidArgument, "cannot read the filter \"\(expression)\": \(why)")
        }
        let characters = Array(expression.unicodeScalars)
        // The operator: the first `=`, `!=`, `<`, `<=`, `>`, `>=`.
        var found: (operator: Operator, start: Int, end: Int)?
        var k = 0
        while k < characters.count && found == nil {
            let next = k + 1 < characters.count ? characters[k + 1] : nil
            switch characters[k] {
            case "=": found = (.equal, k, k + 1)
            case "!" where next == "=": found = (.notEqual, k, k + 2)
            case "<": found = next == "=" ? (.lessOrEqual, k, k + 2) : (.less, k, k + 1)
            case ">": found = next == "=" ? (.greaterOrEqual, k, k + 2) : (.greater, k, k + 1)
            default: k += 1
            }
        }
        let pathText: String
        if let found {
            pathText = String(String.UnicodeScalarView(characters[..<found.start]))
        } else {
            guard characters.last == "?" else { throw refuse("expected \(forms), with PATH a field name or a dotted path such as tags.host") }
            pathText = String(String.UnicodeScalarView(characters.dropLast()))
        }
        let operatorName = found?.operator.rawValue ?? "?"
        guard !pathText.isEmpty else { throw refuse("expected a field name before '\(operatorName)' (\(forms))") }
        let path = pathText.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !path.contains("") else {
            throw refuse("expected a field name between the dots of \"\(pathText)\" (a path such as tags.host)")
        }
        guard let found else { return FieldFilter(path, .present) }

        let valueText = String(String.UnicodeScalarView(characters[found.end...]))
        let expectedValue = found.operator.isOrdering ? "a number or a string" : "a number, a string, true, false or null"
        guard !valueText.isEmpty else {
            throw refuse("expected a value after '\(found.operator.rawValue)': \(expectedValue) (\"\" for the empty string)")
        }
        if found.operator == .equal && valueText.hasPrefix("=") {
            throw refuse("expected one '=' for equality, found '==' (quote the value if it starts with '=': a=\"=b\")")
        }
        let value = try readValue(valueText, refuse: refuse)
        switch value {
        case .bool, .null:
            if found.operator.isOrdering {
                throw refuse("'\(found.operator.rawValue)' compares numbers with numbers and strings with strings, found \(valueText)")
            }
        case .array, .object:
            throw refuse(
                "expected \(expectedValue) after '\(found.operator.rawValue)', found a JSON \(valueText.hasPrefix("[") ? "array" : "object"): "
                    + "objects and arrays are not compared (quote it to compare a string with that text)")
        case .int, .double, .string:
            break
        }
        let operand: Operand
        switch value {
        case .bool(let flag): operand = flag ? .true : .false
        case .null: operand = .null
        case .string(let text): operand = .string(Array(text.utf8))
        default: operand = .numeric(JSONDecimal(valueText)!)
        }
        // (A number as written: its JSONValue may be approximate.)
        return FieldFilter(
            path: path, operator: found.operator, value: value, operand: operand,
            valueText: value.isNumber ? valueText : String(decoding: value.jsonBytes, as: UTF8.self))
    }

    /// VALUE as JSON if it is a JSON scalar, else as a string; an object or
    /// an array as such (refused by the caller).
    private static func readValue(_ text: String, refuse: (String) -> StoaError) throws(StoaError) -> JSONValue {
        switch text {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "null": return .null
        default: break
        }
        if let number = JSONDecimal(text) {
            if let integer = Int64(text) { return .int(integer) }
            return .double(Double(text) ?? 0)  // (the grammar is Double's; only the exact value may be lost)
        }
        let first = text.unicodeScalars.first!
        guard first == "\"" || first == "{" || first == "[" else { return .string(text) }
        if first == "\"" && (text.unicodeScalars.count < 2 || text.unicodeScalars.last != "\"") {
            throw refuse("expected a JSON string after the quote, ending with a quote (or leave out the quotes for a plain word)")
        }
        // Quoted, or what may be an object or array: checked as JSON by the
        // strict scanner, as the member of an object.
        let wrapped = Array(("{\"v\":" + text + "}").utf8)
        let scanner = RecordScanner(fields: FieldNames(time: ["v"], type: [], conversation: []))
        let summary: RecordScanner.Summary
        do throws(StoaError) {
            summary = try wrapped.withUnsafeBufferPointer { bytes throws(StoaError) in try scanner.scan(bytes, rules: .input) }
        } catch {
            if first != "\"" { return .string(text) }  // `[WARN]`: a word, not JSON
            throw refuse("expected a JSON string after the quote: \(error.message) (or leave out the quotes for a plain word)")
        }
        guard first == "\"", let found = summary.time else { return first == "[" ? .array([]) : .object([]) }
        let decoded = wrapped.withUnsafeBufferPointer {
            JSONString.decodeString(UnsafeBufferPointer(rebasing: $0[found.range]), escaped: found.escaped)
        }
        return .string(decoded)
    }
}

extension JSONValue {
    fileprivate var isNumber: Bool {
        switch self {
        case .int, .double: true
        default: false
        }
    }
}
