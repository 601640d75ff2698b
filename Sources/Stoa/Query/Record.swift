import Foundation

/// One stored record: where it is, its time and type, and its raw bytes. The
/// JSON is parsed only when asked (``decode(_:)``).
public struct Record: Sendable, Hashable {
    /// Its position in the store, never reused.
    public let seq: UInt64
    /// Microseconds since the epoch, UTC.
    public let time: Int64
    /// The stored line, without its newline: compact JSON, UTF-8.
    public let bytes: [UInt8]
    /// Where the type and conversation are in `bytes`: read when asked.
    private let facts: LineFacts?

    public init(seq: UInt64, time: Int64, bytes: [UInt8]) {
        self.seq = seq
        self.time = time
        self.bytes = bytes
        self.facts = nil
    }

    init(seq: UInt64, facts: LineFacts, bytes: [UInt8]) {
        self.seq = seq
        self.time = facts.time
        self.bytes = bytes
        self.facts = facts
    }

    /// Its type ("" when it has none).
    public var type: String {
        guard let facts else { return "" }
        return bytes.withUnsafeBufferPointer { facts.type(in: $0) }
    }

    /// Its conversation, if it has one.
    public var conversation: String? {
        guard let facts else { return nil }
        return bytes.withUnsafeBufferPointer { facts.conversation(in: $0) }
    }

    /// The stored line as text.
    public var json: String { String(decoding: bytes, as: UTF8.self) }

    /// The time as RFC 3339 text with microseconds, in UTC.
    public var timeText: String { Timestamp.format(time) }

    /// Decodes the record.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(bytes))
    }
}

/// A line a read had to skip: damaged bytes in a segment. Reads go on past
/// it; `stoa verify` reports it too.
public struct DamagedLine: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    /// 1-based line number in the segment.
    public var line: Int
    /// The seq the line occupies.
    public var seq: UInt64
    public var reason: String

    public var description: String { "\(path):line \(line) (seq \(seq)): \(reason)" }
}
