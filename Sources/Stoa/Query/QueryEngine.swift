/// Runs one query over indexed segments and streams its records exactly
/// sorted by (time, seq).
///
/// Work waits in a heap ordered by the earliest (time, seq) it can hold
/// (the latest, newest-first): whole segments not yet looked at, keyed by
/// their index's time span, and the blocks of the segments already planned
/// that can hold a match (time span overlapping the window, holding the
/// wanted type or conversation). A segment's blocks are planned only when
/// the segment reaches the top, so a query that stops early (a limit, a
/// narrow window) looks only at the segments it needs. An opened block's
/// matches are sorted into a run; runs are merged, and a record is handed
/// out once no waiting work can hold an earlier one, so memory holds only
/// the records of blocks whose time spans overlap, never the whole result.
final class QueryEngine {
    /// The segments; one held as a summary is replaced by its loaded self
    /// when the query reaches it.
    private var segments: [IndexedSegment]
    private let query: Query
    private let encoder: RecordEncoder
    private let needle: [UInt8]?
    // The engine belongs to one thread at a time (a cursor is read by one
    // task), and no access to these properties overlaps another: the
    // dynamic exclusivity checks, which cost about 6% of a full scan, are
    // turned off for the ones used once per record.
    @exclusivity(unchecked) private var pending: Heap<Candidate>
    /// The matches of opened blocks, each block's sorted, by their next record.
    @exclusivity(unchecked) private var runs: Heap<Run>
    @exclusivity(unchecked) private var emitted = 0
    /// Lines the query skipped because they are not valid records: those the
    /// indexes know of, and those found damaged while reading (a segment
    /// changed after its `.idx` was written).
    private(set) var damaged: [DamagedLine]

    /// Work that may hold matches: a whole segment not yet planned, a block,
    /// or a single late record.
    struct Candidate: TimeAndSeq {
        /// The earliest (time, seq) it can hold; newest-first, the latest.
        var time: Int64
        var seq: UInt64
        var segment: Int
        /// The block; nil for a whole segment still to plan.
        var block: Int?
        /// A single late record (its line number and where its line starts in
        /// its block), not a whole block.
        var late: UInt32?
        var lateOffset: UInt32 = 0
    }

    /// A matching record waiting for its turn: plain values only, so the
    /// heap moves it without reference counting.
    struct Found: TimeAndSeq {
        var time: Int64
        var seq: UInt64
        var offset: Int
        var length: Int32
        var segment: Int32
        /// Where its type and conversation are in the line.
        var facts: LineFacts
        /// For a record of a compressed segment: the pinned member holding
        /// its line (`offset` is then into that member); -1 otherwise.
        var pin: Int32
    }

    /// The matches of one opened block, sorted by (time, seq), and the next
    /// one to hand out. Blocks are nearly in time order, so most of the time
    /// one run is open and handing out a record is a step along an array.
    struct Run: TimeAndSeq {
        var records: [Found]
        var position = 0
        /// The next record's (time, seq).
        var time: Int64
        var seq: UInt64

        init(_ records: [Found]) {
            self.records = records
            time = records[0].time
            seq = records[0].seq
        }

        /// Steps to the next record; false at the end.
        mutating func advance() -> Bool {
            position += 1
            guard position < records.count else { return false }
            time = records[position].time
            seq = records[position].seq
            return true
        }
    }

    /// Inflated members that found records still point into, with how many.
    @exclusivity(unchecked) private var pins: [(bytes: [UInt8], pending: Int)?] = []
    private var freePins: [Int32] = []
    /// Each planned plain segment's bytes, by segment number (nil for a
    /// compressed one, or one not planned yet): looked up once per segment,
    /// not cast once per record.
    @exclusivity(unchecked) private var plain: [SegmentContents?]

    init(segments: [IndexedSegment], query: Query, encoder: RecordEncoder) {
        self.segments = segments
        self.query = query
        self.encoder = encoder
        self.needle = query.contains.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        self.damaged = segments.flatMap(\.damagedLines)
        self.plain = Array(repeating: nil, count: segments.count)
        let descending = query.order == .newestFirst
        runs = Heap(descending: descending)
        pending = Heap(descending: descending)
        if query.limit == 0 { return }
        for (number, segment) in segments.enumerated() {
            let summary = segment.summary
            guard summary.overlaps(since: query.since, until: query.until) else { continue }
            pending.insert(
                descending
                    ? Candidate(time: summary.maxTime, seq: summary.end - 1, segment: number, block: nil)
                    : Candidate(time: summary.minTime, seq: summary.base, segment: number, block: nil))
        }
    }

    /// Puts the blocks and late records of segment `number` that may hold
    /// matches in the pending heap.
    private func plan(segment number: Int) {
        let segment: IndexedSegment
        do throws(StoaError) {
            segment = try segments[number].loaded()
        } catch {
            // A cold segment that cannot be read now (expired since the query
            // began is not damage: its records are gone).
            if error.errno != ENOENT {
                let summary = segments[number].summary
                damaged.append(
                    DamagedLine(
                        path: segments[number].path, line: 1, seq: summary.base,
                        reason: "\(error.description); its \(summary.recordCount) records cannot be read"))
            }
            return
        }
        segments[number] = segment
        plain[number] = segment.contents as? SegmentContents
        let index = segment.index
        let descending = query.order == .newestFirst
        var mask = UInt64.max
        var wantedTypes: Set<UInt32>?
        if !query.types.isEmpty {
            let wanted = query.types.compactMap(index.typeNumber)
            if wanted.isEmpty { return }
            mask = wanted.reduce(0) { $0 | IndexBlock.bit(forType: $1) }
            wantedTypes = Set(wanted.map(UInt32.init))
        }
        // With a conversation, only the blocks holding its records (ascending)
        // and its line numbers (ascending, for the late records).
        var conversationBlocks: [Int]?
        var conversationOrdinals: [UInt32]?
        if let conversation = query.conversation {
            guard let postings = index.conversations[conversation] else { return }
            var blocks: [Int] = []
            var ordinals: [UInt32] = []
            let lateOrdinals = segment.lateOrdinals
            var nextLate = 0
            postings.forEach(in: 0..<index.lineCount) { ordinal in
                ordinals.append(ordinal)
                while nextLate < lateOrdinals.count && lateOrdinals[nextLate] < ordinal { nextLate += 1 }
                let isLate = nextLate < lateOrdinals.count && lateOrdinals[nextLate] == ordinal
                if !isLate, let block = index.block(containing: ordinal), blocks.last != block { blocks.append(block) }
                return true
            }
            conversationBlocks = blocks
            conversationOrdinals = ordinals
        }
        // Late records in the window, each its own candidate.
        var low = 0
        var high = index.late.count
        if let since = query.since {
            while low < high {
                let middle = (low + high) / 2
                if index.late[middle].time < since { low = middle + 1 } else { high = middle }
            }
        }
        for record in index.late[low...] {
            if let until = query.until, record.time >= until { break }
            if let wantedTypes, !wantedTypes.contains(record.type) { continue }
            if let conversationOrdinals, !Self.sortedContains(conversationOrdinals, record.ordinal) { continue }
            guard let block = index.block(containing: record.ordinal) else { continue }
            pending.insert(
                Candidate(
                    time: record.time, seq: index.base + UInt64(record.ordinal), segment: number, block: block,
                    late: record.ordinal, lateOffset: record.offset))
        }
        func consider(_ blockNumber: Int) {
            let block = index.blocks[blockNumber]
            guard block.overlaps(since: query.since, until: query.until), block.typeMask & mask != 0 else { return }
            let firstSeq = index.base + UInt64(block.firstOrdinal)
            pending.insert(
                descending
                    ? Candidate(time: block.maxTime, seq: firstSeq + UInt64(block.count) - 1, segment: number, block: blockNumber)
                    : Candidate(time: block.minTime, seq: firstSeq, segment: number, block: blockNumber))
        }
        if let conversationBlocks {
            for blockNumber in conversationBlocks { consider(blockNumber) }
        } else {
            for blockNumber in index.blocks.indices { consider(blockNumber) }
        }
    }

    /// Whether the ascending `values` hold `value`.
    private static func sortedContains(_ values: [UInt32], _ value: UInt32) -> Bool {
        var low = 0
        var high = values.count
        while low < high {
            let middle = (low + high) / 2
            if values[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low < values.count && values[low] == value
    }

    /// The next record, or nil when there are no more.
    func next() -> Record? {
        var record: Record?
        _ = visitNext { view in record = view.record }
        return record
    }

    /// Lends the next record to `body`, its bytes where they lie; false when
    /// there are no more.
    func visitNext<E: Error>(_ body: (borrowing RecordView) throws(E) -> Void) throws(E) -> Bool {
        if let limit = query.limit, emitted >= limit { return false }
        while true {
            if let top = runs.firstKey, pending.first.map({ runs.before(top, $0) }) ?? true {
                // No waiting work can hold a record before it.
                let found = runs.updateFirst { run in (run.records[run.position], run.advance()) }
                emitted += 1
                let range = found.offset..<(found.offset + Int(found.length))
                if found.pin >= 0 {
                    // Held in a local, so that the pin can go before `body` runs.
                    let member = pins[Int(found.pin)]!.bytes
                    unpin(found.pin)
                    try member.withUnsafeBufferPointer { (member) throws(E) in
                        try body(
                            RecordView(
                                seq: found.seq, time: found.time, facts: found.facts,
                                line: UnsafeBufferPointer(rebasing: member[range])))
                    }
                } else {
                    // A plain segment: its bytes are all there (mapped or read).
                    let contents = plain[Int(found.segment)]!
                    try contents.withUnsafeBytes { (all) throws(E) in
                        try body(
                            RecordView(
                                seq: found.seq, time: found.time, facts: found.facts,
                                line: UnsafeBufferPointer(rebasing: all[range])))
                    }
                }
                return true
            }
            guard let candidate = pending.popFirst() else { return false }
            if candidate.block == nil {
                plan(segment: candidate.segment)
            } else {
                open(candidate)
            }
        }
    }

    /// One record of an inflated member handed out: the member goes once
    /// none are left.
    private func unpin(_ pin: Int32) {
        pins[Int(pin)]!.pending -= 1
        if pins[Int(pin)]!.pending == 0 {
            pins[Int(pin)] = nil
            freePins.append(pin)
        }
    }

    /// What scanning one candidate found.
    struct BlockScan: Sendable {
        /// Its matches, in seq order.
        var matches: [Found] = []
        /// For a compressed segment, the inflated member they point into.
        var member: [UInt8] = []
        /// Lines that turned out not to be valid records, with why.
        var damaged: [(ordinal: UInt32, reason: String)] = []
    }

    /// Reads a candidate block now and keeps its matching records.
    private func open(_ candidate: Candidate) {
        take(
            Self.scan(candidate, of: segments[candidate.segment], query: query, encoder: encoder, needle: needle),
            of: candidate)
    }

    /// Finds the matches of a candidate, reading nothing but its arguments.
    private static func scan(
        _ candidate: Candidate, of segment: IndexedSegment, query: Query, encoder: RecordEncoder, needle: [UInt8]?
    ) -> BlockScan {
        let index = segment.index
        let block = index.blocks[candidate.block!]

        // With a type or a conversation, only the lines the postings name are read.
        var wanted: [UInt32]?
        if candidate.late != nil {
            // One line: no postings needed.
        } else if let conversation = query.conversation {
            wanted = index.conversations[conversation]?.ordinals(in: block.ordinals) ?? []
        } else if !query.types.isEmpty {
            var union: [UInt32] = []
            for type in query.types {
                if let number = index.typeNumber(type) { union += index.typePostings[number].ordinals(in: block.ordinals) }
            }
            wanted = query.types.count > 1 ? union.sorted() : union
        }
        var result = BlockScan()
        if let wanted, wanted.isEmpty { return result }
        result.matches.reserveCapacity(wanted?.count ?? (candidate.late == nil ? Int(block.count) : 1))
        let compressed = !(segment.contents is SegmentContents)
        do throws(StoaError) {
            try segment.contents.withBlock(block) { all, base in
                if compressed { result.member = Array(all) }
                var start = Int(block.offset) - base
                let end = start + Int(block.length)
                var ordinal = block.firstOrdinal
                if let only = candidate.late {
                    // Straight to its line.
                    start += Int(candidate.lateOffset)
                    ordinal = only
                }
                var nextWanted = 0
                let lateOrdinals = segment.lateOrdinals
                var nextLate = segment.firstLate(atOrAfter: ordinal)
                while start < end {
                    let newline = SegmentContents.newline(in: all, from: start)
                    defer {
                        start = newline + 1
                        ordinal += 1
                    }
                    if let only = candidate.late {
                        if ordinal < only { continue }
                        if ordinal > only { break }
                    } else {
                        if let wanted {
                            guard nextWanted < wanted.count else { break }
                            if wanted[nextWanted] != ordinal { continue }
                            nextWanted += 1
                        }
                        // Late records are reached through their own candidates.
                        while nextLate < lateOrdinals.count && lateOrdinals[nextLate] < ordinal { nextLate += 1 }
                        if nextLate < lateOrdinals.count && lateOrdinals[nextLate] == ordinal { continue }
                    }
                    let line = UnsafeBufferPointer(rebasing: all[start..<newline])
                    let facts: LineFacts
                    do throws(StoaError) {
                        facts = try encoder.facts(ofStoredLine: line)
                    } catch {
                        result.damaged.append((ordinal, error.message))
                        continue
                    }
                    guard query.includes(time: facts.time) else { continue }
                    if let needle, !Self.contains(line, needle) { continue }
                    if !query.types.isEmpty && !query.types.contains(facts.type(in: line)) { continue }
                    if let wantedConversation = query.conversation, facts.conversation(in: line) != wantedConversation { continue }
                    result.matches.append(
                        Found(
                            time: facts.time, seq: index.base + UInt64(ordinal), offset: start,
                            length: Int32(newline - start), segment: Int32(candidate.segment), facts: facts, pin: -1))
                }
            }
        } catch {
            // A damaged member: its records are reported, the query goes on.
            return BlockScan(damaged: block.ordinals.map { ($0, error.description) })
        }
        return result
    }

    /// Puts what a candidate's scan found where ``visitNext(_:)`` hands it out.
    private func take(_ scan: BlockScan, of candidate: Candidate) {
        for (ordinal, reason) in scan.damaged { noteDamaged(segments[candidate.segment], ordinal: ordinal, reason: reason) }
        var matches = scan.matches
        if matches.isEmpty { return }
        if !scan.member.isEmpty {
            let pin: Int32
            if let free = freePins.popLast() {
                pin = free
            } else {
                pin = Int32(pins.count)
                pins.append(nil)
            }
            pins[Int(pin)] = (scan.member, matches.count)
            for index in matches.indices { matches[index].pin = pin }
        }
        // Read in seq order, a block's records are nearly in time order (or
        // reversed, newest-first): sorted by insertion, which is linear then;
        // a block of mixed times is sorted outright.
        if query.order == .newestFirst { matches.reverse() }
        let descents = zip(matches, matches.dropFirst()).reduce(0) { $0 + (runs.before($1.1, $1.0) ? 1 : 0) }
        if descents > matches.count / 8 + 1 {
            matches.sort { runs.before($0, $1) }
        } else if descents > 0 {
            for end in 1..<matches.count {
                let item = matches[end]
                var position = end
                while position > 0 && runs.before(item, matches[position - 1]) {
                    matches[position] = matches[position - 1]
                    position -= 1
                }
                if position != end { matches[position] = item }
            }
        }
        runs.insert(Run(matches))
    }

    private func noteDamaged(_ segment: IndexedSegment, ordinal: UInt32, reason: String) {
        let seq = segment.summary.base + UInt64(ordinal)
        if !damaged.contains(where: { $0.seq == seq }) {
            damaged.append(DamagedLine(path: segment.path, line: Int(ordinal) + 1, seq: seq, reason: reason))
        }
    }

    static func contains(_ line: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        needle.withUnsafeBufferPointer { n in
            stoa_memmem(line.baseAddress, line.count, n.baseAddress, n.count) != nil
        }
    }
}

import CStoaSystem

#if canImport(Glibc)
import Glibc
#endif
