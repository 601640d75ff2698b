/// A JSON value, for building records in code and reading them back.
///
/// ```swift
/// try store.append(type: "tool_call", ["tool": "grep", "ms": 12, "ok": true])
/// ```
public enum JSONValue: Sendable, Hashable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A whole number, written without a fraction or exponent.
    case int(Int64)
    /// A number written as Swift prints it: the shortest text that reads back the same.
    case double(Double)
    /// A string, escaped as JSON needs (quotes, backslashes, control characters).
    case string(String)
    /// An array, in order.
    case array([JSONValue])
    /// Members in the order given.
    case object([Member])

    /// One member of an object: a key and its value. An object is a list of
    /// them, not a dictionary, so that a record keeps the order it was given.
    public struct Member: Sendable, Hashable {
        /// The member's name.
        public var key: String
        /// The member's value.
        public var value: JSONValue
        /// A member named `key` holding `value`.
        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// Compact JSON text. Non-finite doubles (which JSON cannot hold) become `null`.
    public var jsonBytes: [UInt8] {
        var output: [UInt8] = []
        append(to: &output)
        return output
    }

    func append(to output: inout [UInt8]) {
        switch self {
        case .null: output += "null".utf8
        case .bool(let value): output += (value ? "true" : "false").utf8
        case .int(let value): output += String(value).utf8
        case .double(let value):
            if value.isFinite {
                // Swift prints the shortest text that reads back as the same double.
                var text = "\(value)"
                if text.hasSuffix(".0") { text.removeLast(2) }
                output += text.utf8
            } else {
                output += "null".utf8
            }
        case .string(let value): JSONString.appendQuoted(value, to: &output)
        case .array(let values):
            output.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                value.append(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                JSONString.appendQuoted(member.key, to: &output)
                output.append(UInt8(ascii: ":"))
                member.value.append(to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(elements.map { Member($0.0, $0.1) })
    }
}
