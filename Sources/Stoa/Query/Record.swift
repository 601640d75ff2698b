import Foundation

/// One stored record: where it is, its time and type, and its raw bytes. The
/// JSON is parsed only when asked (``decode(_:decoder:)``).
public struct Record: Sendable, Hashable {
    /// Its position in the store, never reused.
    public let seq: UInt64
    /// Its time (the store's reading of its time field, or when it was appended).
    public let time: Timestamp
    /// The stored line, without its newline: compact JSON, UTF-8.
    public let bytes: [UInt8]
    /// Where the type and conversation are in `bytes`: read when asked.
    let facts: LineFacts?

    /// A record with these parts, for tests and for programs that carry
    /// records of their own; `bytes` is not checked.
    public init(seq: UInt64, time: Timestamp, bytes: [UInt8]) {
        self.seq = seq
        self.time = time
        self.bytes = bytes
        self.facts = nil
    }

    init(seq: UInt64, facts: LineFacts, bytes: [UInt8]) {
        self.seq = seq
        self.time = Timestamp(microsecondsSinceEpoch: facts.time)
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
    public var timeText: String { time.description }

    /// Decodes the record with `decoder`: by default one that reads back
    /// what ``Store/append(encoding:encoder:durability:)`` wrote, `Date`s
    /// included (`JSONDecoder.forStoaRecords()`).
    ///
    /// ```swift
    /// struct ToolCall: Codable { var ts: Date; var type: String; var tool: String }
    /// let call = try record.decode(ToolCall.self)
    /// ```
    ///
    /// - Throws: the decoder's `DecodingError`.
    public func decode<T: Decodable>(_ type: T.Type = T.self, decoder: JSONDecoder = .forStoaRecords()) throws -> T {
        try decoder.decode(T.self, from: Data(bytes))
    }
}

/// A record as ``RecordCursor/forEach(_:)`` hands it out: its bytes are
/// read where they lie (in the mapped segment or an inflated member), not
/// copied into an array of its own.
///
/// It is non-copyable and lent for one call only, so it cannot outlive the
/// bytes it points into. Take ``record`` to keep a copy.
public struct RecordView: ~Copyable {
    /// Its position in the store, never reused.
    public let seq: UInt64
    /// Its time.
    public let time: Timestamp
    private let facts: LineFacts?
    private let line: UnsafeBufferPointer<UInt8>

    init(seq: UInt64, time: Int64, facts: LineFacts?, line: UnsafeBufferPointer<UInt8>) {
        self.seq = seq
        self.time = Timestamp(microsecondsSinceEpoch: time)
        self.facts = facts
        self.line = line
    }

    /// Its type ("" when it has none).
    public var type: String { facts?.type(in: line) ?? "" }

    /// Its conversation, if it has one.
    public var conversation: String? { facts?.conversation(in: line) }

    /// The length of the stored line, without its newline.
    public var count: Int { line.count }

    /// Calls `body` with the stored line (compact JSON, UTF-8, no newline);
    /// the pointer must not escape the call.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        try body(line)
    }

    /// A copy that may be kept.
    public var record: Record {
        facts.map { Record(seq: seq, facts: $0, bytes: Array(line)) } ?? Record(seq: seq, time: time, bytes: Array(line))
    }
}

/// A line a read had to skip: damaged bytes in a segment. Reads go on past
/// it; `stoa verify` reports it too.
public struct DamagedLine: Sendable, Equatable, CustomStringConvertible {
    /// The segment file.
    public var path: String
    /// 1-based line number in the segment.
    public var line: Int
    /// The seq the line occupies.
    public var seq: UInt64
    /// Why it is not a record, in a few words.
    public var reason: String

    public var description: String { "\(path):line \(line) (seq \(seq)): \(reason)" }
}
