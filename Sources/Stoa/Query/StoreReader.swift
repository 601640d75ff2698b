/// Reads a store without taking its lock: from the writer's process or any
/// other, while a writer appends. Every read sees every record acknowledged
/// before it started.
///
/// ```swift
/// let reader = try StoreReader(at: "logs/agent-7")
/// let errors = try reader.query(Query(since: start, types: ["error"]))
/// while let record = try errors.next() { print(record.json) }
/// ```
public final class StoreReader: Sendable {
    public let path: String
    public let configuration: StoreConfiguration
    let layout: StoreLayout
    let encoder: RecordEncoder

    /// Opens the store at `path` for reading.
    ///
    /// - Throws: `.notAStore` when `path` has no `stoa.json`; `.badConfig`.
    public init(at path: String) throws(StoaError) {
        self.path = path
        self.layout = StoreLayout(root: path)
        guard try Syscalls.status(layout.configuration) != nil else {
            throw StoaError(.notAStore, "not a store (no stoa.json)", path: path)
        }
        self.configuration = try StoreConfiguration.load(from: layout.configuration)
        self.encoder = RecordEncoder(fields: configuration.fields, maxRecordBytes: Int(configuration.maxRecordBytes))
    }

    /// The records that match `query`, exactly sorted by (time, seq).
    ///
    /// - Complexity: reads every segment (the index comes with issue 3).
    public func query(_ query: Query) throws(StoaError) -> RecordCursor {
        var records: [Record] = []
        var damaged: [DamagedLine] = []
        let needle = query.contains.map { Array($0.utf8) }
        try scan(damaged: &damaged) { seq, line, facts in
            guard query.includes(time: facts.time) else { return }
            let type = facts.type(in: line)
            if !query.types.isEmpty && !query.types.contains(type) { return }
            let conversation = facts.conversation(in: line)
            if let wanted = query.conversation, conversation != wanted { return }
            if let needle, !Self.contains(line, needle) { return }
            records.append(
                Record(seq: seq, time: facts.time, type: type, conversation: conversation, bytes: Array(line)))
        }
        switch query.order {
        case .oldestFirst: records.sort { ($0.time, $0.seq) < ($1.time, $1.seq) }
        case .newestFirst: records.sort { ($0.time, $0.seq) > ($1.time, $1.seq) }
        }
        if let limit = query.limit, records.count > limit {
            records.removeSubrange(limit...)
        }
        return RecordCursor(records: records, damaged: damaged)
    }

    /// The last `count` records by seq (the most recently appended), oldest first.
    public func last(_ count: Int) throws(StoaError) -> RecordCursor {
        var records: [Record] = []
        var damaged: [DamagedLine] = []
        var ring: [Record] = []
        ring.reserveCapacity(count)
        try scan(damaged: &damaged) { seq, line, facts in
            guard count > 0 else { return }
            if ring.count == count { ring.removeFirst() }
            ring.append(
                Record(
                    seq: seq, time: facts.time, type: facts.type(in: line),
                    conversation: facts.conversation(in: line), bytes: Array(line)))
        }
        records = ring
        return RecordCursor(records: records, damaged: damaged)
    }

    /// Counts of what the store holds.
    public func stats() throws(StoaError) -> StoreStats {
        var stats = StoreStats()
        var damaged: [DamagedLine] = []
        let segments = try layout.listSegments()
        stats.segments = segments.count
        for segment in segments {
            stats.bytes += Int64(try Syscalls.status(layout.path(of: segment))?.st_size ?? 0)
        }
        try scan(damaged: &damaged) { seq, line, facts in
            stats.records += 1
            stats.oldest = min(stats.oldest ?? facts.time, facts.time)
            stats.newest = max(stats.newest ?? facts.time, facts.time)
            stats.types[facts.type(in: line), default: 0] += 1
            stats.nextSeq = seq + 1
        }
        stats.damagedLines = damaged.count
        return stats
    }

    /// Calls `body` for every valid line of every segment, in seq order.
    /// Lines that are not valid records are reported in `damaged` and skipped.
    func scan(
        damaged: inout [DamagedLine], _ body: (UInt64, UnsafeBufferPointer<UInt8>, LineFacts) -> Void
    ) throws(StoaError) {
        let segments = try layout.listSegments()
        for (index, segment) in segments.enumerated() {
            guard segment.kind == .plain else {
                throw StoaError(.io, "reading warm segments is not supported yet", path: layout.path(of: segment))
            }
            let isLast = index == segments.count - 1
            let contents = try SegmentContents(path: layout.path(of: segment), sealed: !isLast)
            contents.forEachLine { number, line in
                let seq = segment.base + UInt64(number)
                do throws(StoaError) {
                    body(seq, line, try encoder.facts(ofLine: line))
                } catch {
                    damaged.append(DamagedLine(path: contents.path, line: number + 1, seq: seq, reason: error.message))
                }
            }
        }
    }

    private static func contains(_ line: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        return needle.withUnsafeBufferPointer { n in
            stoa_memmem(line.baseAddress, line.count, n.baseAddress, n.count) != nil
        }
    }
}

/// Records read from a store, one at a time.
///
/// `damaged` lists lines the read skipped because they are not valid records.
public final class RecordCursor: @unchecked Sendable {
    // Not safe to share between threads while iterating: a cursor belongs to
    // the one task that reads it.
    private var records: [Record]
    private var position = 0
    public let damaged: [DamagedLine]

    init(records: [Record], damaged: [DamagedLine]) {
        self.records = records
        self.damaged = damaged
    }

    /// The next record, or nil at the end.
    public func next() throws(StoaError) -> Record? {
        guard position < records.count else { return nil }
        defer { position += 1 }
        return records[position]
    }

    /// The remaining records.
    public func all() throws(StoaError) -> [Record] {
        var result: [Record] = []
        while let record = try next() { result.append(record) }
        return result
    }
}

/// Counts of what a store holds.
public struct StoreStats: Sendable, Equatable {
    public var records = 0
    public var segments = 0
    /// Bytes of the segment files.
    public var bytes: Int64 = 0
    /// The earliest and latest record times (µs).
    public var oldest: Int64?
    public var newest: Int64?
    /// Records per type ("" for records without one).
    public var types: [String: Int] = [:]
    public var nextSeq: UInt64 = 0
    public var damagedLines = 0
}

import CStoaSystem
