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

    /// Appends a value encoded with `encoder`. By default `Date`s become
    /// RFC 3339 text with microseconds (`JSONEncoder.forStoaRecords()`), so
    /// a `Date` in a time field is read exactly, and ``Record/decode(_:decoder:)``
    /// reads them back.
    ///
    /// ```swift
    /// struct ToolCall: Codable { var ts = Date(); var type = "tool_call"; var tool: String }
    /// try store.append(encoding: ToolCall(tool: "grep"))
    /// ```
    ///
    /// - Parameters:
    ///   - value: a value that encodes to a JSON object.
    ///   - encoder: the encoder; one made by `JSONEncoder.forStoaRecords()`
    ///     unless given (decode with a decoder of the same date strategy).
    ///     Mind its date strategy when a `Date` is the record's time: a plain
    ///     `JSONEncoder()` writes seconds since 2001, which the store reads as
    ///     seconds since 1970 (31 years early); `.iso8601`, `.secondsSince1970`
    ///     and `.millisecondsSince1970` are read right.
    ///   - durability: as for ``append(json:durability:)``.
    /// - Throws: `.invalidRecord` when the value does not encode to a JSON
    ///   object (or cannot be encoded at all).
    @discardableResult
    public func append<Value: Encodable>(
        encoding value: Value, encoder: JSONEncoder = .forStoaRecords(), durability: Durability? = nil
    ) throws(StoaError) -> UInt64 {
        try append(json: try Self.encodeRecord(value, encoder: encoder), durability: durability)
    }

    /// `value` as `encoder` writes it, for a record. Shared by
    /// ``append(encoding:encoder:durability:)`` and ``EventLogger/log(encoding:encoder:)``.
    ///
    /// - Throws: `.invalidRecord` naming the type when it cannot be encoded.
    static func encodeRecord<Value: Encodable>(_ value: Value, encoder: JSONEncoder) throws(StoaError) -> [UInt8] {
        do {
            return Array(try encoder.encode(value))
        } catch {
            throw StoaError(.invalidRecord, "cannot encode \(Value.self): \(error)")
        }
    }
}
