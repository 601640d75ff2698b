/// A timestamp as text: as the store writes it into records, and as
/// `Codable` carries it.
extension Timestamp: CustomStringConvertible, LosslessStringConvertible, Codable {
    /// RFC 3339 in UTC with six fraction digits, as the store writes a
    /// record's time: `2026-11-23T12:47:22.000000Z`. Years outside
    /// 0000...9999 are written as ISO 8601's expanded years (`+10000-…`
    /// without the `+`, `-0001-…`), which `init?(_ text:)` and decoding do not
    /// read back.
    public var description: String { RecordTime.format(microsecondsSinceEpoch) }

    /// Reads `text` as the store reads a record's time field when it is a
    /// string: RFC 3339 / ISO 8601, with any fraction (truncated to
    /// microseconds) and zone (`Z`, `±HH:MM`; none means UTC); nil otherwise.
    ///
    /// ```swift
    /// Timestamp("2026-11-23T12:47:22Z")          // 1_795_438_042_000_000 µs
    /// Timestamp("2026-11-23 13:47:22.5+01:00")   // 1_795_438_042_500_000 µs
    /// ```
    public init?(_ text: String) {
        guard let micros = RecordTime.parseText(text) else { return nil }
        self.init(microsecondsSinceEpoch: micros)
    }

    /// Decodes the text ``description`` writes, or anything a record's time
    /// field may hold: RFC 3339 text (see `init?(_ text:)`) or an epoch
    /// number, its unit told by its magnitude (seconds, milliseconds,
    /// microseconds or nanoseconds, as the store reads `"ts": 1700000000`).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            guard let micros = RecordTime.parseText(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "\"\(text)\" is not an RFC 3339 time")
            }
            self.init(microsecondsSinceEpoch: micros)
            return
        }
        // A number: read its exact digits where the decoder allows (an Int64
        // count), else through a Double.
        let digits: String
        if let whole = try? container.decode(Int64.self) {
            digits = String(whole)
        } else {
            let value = try container.decode(Double.self)
            guard value.isFinite else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(value) is not a time")
            }
            digits = "\(value)"
        }
        guard let micros = RecordTime.parseNumber(Array(digits.utf8)) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "\(digits) is out of range for a time")
        }
        self.init(microsecondsSinceEpoch: micros)
    }

    /// Encodes ``description``.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
