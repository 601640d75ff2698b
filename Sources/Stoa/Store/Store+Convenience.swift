import Foundation

extension Store {
    /// Appends a record of `type` with `fields`, in the order given. The
    /// time is added (as `ts`, first) unless `fields` has one.
    ///
    /// ```swift
    /// try store.append(type: "tool_call", ["tool": "grep", "args": ["-r", "TODO"], "ms": 12])
    /// ```
    ///
    /// - Returns: the record's seq.
    @discardableResult
    public func append(
        type: String, _ fields: KeyValuePairs<String, JSONValue> = [:], durability: Durability? = nil
    ) throws(StoaError) -> UInt64 {
        let typeField = configuration.fields.type.first ?? "type"
        var members = [JSONValue.Member(typeField, .string(type))]
        members += fields.filter { $0.key != typeField }.map { JSONValue.Member($0.key, $0.value) }
        return try append(json: JSONValue.object(members).jsonBytes, durability: durability)
    }

    /// Appends a value encoded with `JSONEncoder`. `Date`s become RFC 3339
    /// text with microseconds, so a `Date` in a time field is read exactly.
    ///
    /// ```swift
    /// struct ToolCall: Encodable { var ts = Date(); var type = "tool_call"; var tool: String }
    /// try store.append(encoding: ToolCall(tool: "grep"))
    /// ```
    ///
    /// - Throws: `.invalidRecord` when the value does not encode to a JSON
    ///   object (or cannot be encoded at all).
    @discardableResult
    public func append<Value: Encodable>(encoding value: Value, durability: Durability? = nil) throws(StoaError) -> UInt64 {
        try append(json: try Self.encodeRecord(value), durability: durability)
    }

    /// `value` as `JSONEncoder` writes it for a record: `Date`s as RFC 3339
    /// text with microseconds (so a `Date` in a time field is read exactly),
    /// slashes unescaped. Shared by ``append(encoding:durability:)`` and
    /// ``EventLogger/log(encoding:)``.
    ///
    /// - Throws: `.invalidRecord` naming the type when it cannot be encoded.
    static func encodeRecord<Value: Encodable>(_ value: Value) throws(StoaError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down))
            try container.encode(Timestamp.format(micros))
        }
        do {
            return Array(try encoder.encode(value))
        } catch {
            throw StoaError(.invalidRecord, "cannot encode \(Value.self): \(error)")
        }
    }
}
