/// One segment as a query sees it: its index, and its bytes.
final class IndexedSegment: Sendable {
    let name: SegmentName
    let index: SegmentIndex
    /// The segment's bytes, at least up to `index.byteCount`.
    let contents: any SegmentBytes
    /// Read as a sealed segment: it cannot change any more.
    let isSealed: Bool
    /// Damage found while indexing that no line number covers (the rest of a
    /// segment after a damaged gzip member).
    let notes: [DamagedLine]
    /// The line numbers of the index's late records: a block's walk skips
    /// them, a query reaches them through the late list.
    let lateOrdinals: Set<UInt32>

    init(name: SegmentName, index: SegmentIndex, contents: any SegmentBytes, isSealed: Bool, notes: [DamagedLine] = []) {
        self.name = name
        self.index = index
        self.contents = contents
        self.isSealed = isSealed
        self.notes = notes
        self.lateOrdinals = Set(index.late.map(\.ordinal))
    }

    var path: String { contents.path }
}

/// Runs one query over indexed segments and streams its records exactly
/// sorted by (time, seq).
///
/// The blocks that can hold a match (time span overlapping the window, and
/// holding the wanted type or conversation) are visited in order of their
/// earliest time (latest, for newest-first). A record found in an open block
/// is handed out once no block still unvisited can hold an earlier one, so
/// memory holds only the records of blocks whose time spans overlap, never
/// the whole result.
final class QueryEngine {
    private let segments: [IndexedSegment]
    private let query: Query
    private let encoder: RecordEncoder
    private let needle: [UInt8]?
    private var candidates: [Candidate] = []
    private var nextCandidate = 0
    private var heap: RecordHeap
    private var emitted = 0
    /// Lines the query skipped because they are not valid records: those the
    /// indexes know of, and those found damaged while reading (a segment
    /// changed after its `.idx` was written).
    private(set) var damaged: [DamagedLine]

    /// A block that may hold matches.
    struct Candidate {
        var segment: Int
        var block: Int
        var minTime: Int64
        var maxTime: Int64
        var firstSeq: UInt64
        var lastSeq: UInt64
        /// A single late record (its line number and where its line starts in
        /// its block), not a whole block.
        var late: UInt32?
        var lateOffset: UInt32 = 0
    }

    /// A matching record waiting for its turn: plain values only, so the
    /// heap moves it without reference counting.
    struct Found {
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

    /// Inflated members that found records still point into, with how many.
    private var pins: [(bytes: [UInt8], pending: Int)?] = []
    private var freePins: [Int32] = []

    init(segments: [IndexedSegment], query: Query, encoder: RecordEncoder) {
        self.segments = segments
        self.query = query
        self.encoder = encoder
        self.needle = query.contains.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        self.damaged = segments.flatMap { segment in
            segment.index.damaged.map {
                DamagedLine(
                    path: segment.path, line: Int($0.ordinal) + 1, seq: segment.index.base + UInt64($0.ordinal),
                    reason: $0.reason)
            } + segment.notes
        }
        heap = RecordHeap(descending: query.order == .newestFirst)
        plan()
    }

    /// Finds the candidate blocks and orders them.
    private func plan() {
        if query.limit == 0 { return }
        for (number, segment) in segments.enumerated() {
            let index = segment.index
            guard index.overlaps(since: query.since, until: query.until) else { continue }
            var mask = UInt64.max
            var wantedTypes: Set<UInt32>?
            if !query.types.isEmpty {
                let wanted = query.types.compactMap(index.typeNumber)
                if wanted.isEmpty { continue }
                mask = wanted.reduce(0) { $0 | IndexBlock.bit(forType: $1) }
                wantedTypes = Set(wanted.map(UInt32.init))
            }
            var conversationBlocks: Set<Int>?
            var conversationOrdinals: Set<UInt32>?
            if let conversation = query.conversation {
                guard let postings = index.conversations[conversation] else { continue }
                var blocks = Set<Int>()
                var ordinals = Set<UInt32>()
                postings.forEach(in: 0..<index.lineCount) { ordinal in
                    ordinals.insert(ordinal)
                    if !segment.lateOrdinals.contains(ordinal), let block = index.block(containing: ordinal) {
                        blocks.insert(block)
                    }
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
                if let conversationOrdinals, !conversationOrdinals.contains(record.ordinal) { continue }
                guard let block = index.block(containing: record.ordinal) else { continue }
                let seq = index.base + UInt64(record.ordinal)
                candidates.append(
                    Candidate(
                        segment: number, block: block, minTime: record.time, maxTime: record.time, firstSeq: seq,
                        lastSeq: seq, late: record.ordinal, lateOffset: record.offset))
            }
            for (blockNumber, block) in index.blocks.enumerated() {
                guard block.overlaps(since: query.since, until: query.until), block.typeMask & mask != 0 else { continue }
                if let conversationBlocks, !conversationBlocks.contains(blockNumber) { continue }
                candidates.append(
                    Candidate(
                        segment: number, block: blockNumber, minTime: block.minTime, maxTime: block.maxTime,
                        firstSeq: index.base + UInt64(block.firstOrdinal),
                        lastSeq: index.base + UInt64(block.firstOrdinal + block.count) - 1))
            }
        }
        if query.order == .newestFirst {
            candidates.sort { ($0.maxTime, $0.lastSeq) > ($1.maxTime, $1.lastSeq) }
        } else {
            candidates.sort { ($0.minTime, $0.firstSeq) < ($1.minTime, $1.firstSeq) }
        }
    }

    /// The next record, or nil when there are no more.
    func next() -> Record? {
        if let limit = query.limit, emitted >= limit { return nil }
        while true {
            if let top = heap.first, mayHandOut(top) {
                let found = heap.popFirst()!
                emitted += 1
                let range = found.offset..<(found.offset + Int(found.length))
                let bytes: [UInt8]
                if found.pin >= 0 {
                    bytes = Array(pins[Int(found.pin)]!.bytes[range])
                    pins[Int(found.pin)]!.pending -= 1
                    if pins[Int(found.pin)]!.pending == 0 {
                        pins[Int(found.pin)] = nil
                        freePins.append(found.pin)
                    }
                } else {
                    // A plain segment: its bytes are all there (mapped or read).
                    bytes = (segments[Int(found.segment)].contents as! SegmentContents).withUnsafeBytes { Array($0[range]) }
                }
                return Record(seq: found.seq, facts: found.facts, bytes: bytes)
            }
            guard nextCandidate < candidates.count else { return nil }
            open(candidates[nextCandidate])
            nextCandidate += 1
        }
    }

    /// Whether no unvisited block can hold a record that goes before `found`.
    private func mayHandOut(_ found: Found) -> Bool {
        guard nextCandidate < candidates.count else { return true }
        let next = candidates[nextCandidate]
        if query.order == .newestFirst {
            return found.time > next.maxTime || (found.time == next.maxTime && found.seq > next.lastSeq)
        }
        return found.time < next.minTime || (found.time == next.minTime && found.seq < next.firstSeq)
    }

    /// Reads a candidate block and keeps its matching records.
    private func open(_ candidate: Candidate) {
        let segment = segments[candidate.segment]
        let index = segment.index
        let block = index.blocks[candidate.block]

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
        if let wanted, wanted.isEmpty { return }

        var matches: [Found] = []
        let compressed = !(segment.contents is SegmentContents)
        var member: [UInt8] = []
        do throws(StoaError) {
            try segment.contents.withBlock(block) { all, base in
                if compressed { member = Array(all) }
                var start = Int(block.offset) - base
                let end = start + Int(block.length)
                var ordinal = block.firstOrdinal
                if let only = candidate.late {
                    // Straight to its line.
                    start += Int(candidate.lateOffset)
                    ordinal = only
                }
                var nextWanted = 0
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
                        if segment.lateOrdinals.contains(ordinal) { continue }
                    }
                    let line = UnsafeBufferPointer(rebasing: all[start..<newline])
                    let facts: LineFacts
                    do throws(StoaError) {
                        facts = try encoder.facts(ofStoredLine: line)
                    } catch {
                        noteDamaged(segment, ordinal: ordinal, reason: error.message)
                        continue
                    }
                    guard query.includes(time: facts.time) else { continue }
                    if let needle, !Self.contains(line, needle) { continue }
                    if !query.types.isEmpty && !query.types.contains(facts.type(in: line)) { continue }
                    if let wantedConversation = query.conversation, facts.conversation(in: line) != wantedConversation { continue }
                    matches.append(
                        Found(
                            time: facts.time, seq: index.base + UInt64(ordinal), offset: start,
                            length: Int32(newline - start), segment: Int32(candidate.segment), facts: facts, pin: -1))
                }
            }
        } catch {
            // A damaged member: its records are reported, the query goes on.
            for ordinal in block.ordinals { noteDamaged(segment, ordinal: ordinal, reason: error.description) }
            return
        }
        if compressed && !matches.isEmpty {
            let pin: Int32
            if let free = freePins.popLast() {
                pin = free
            } else {
                pin = Int32(pins.count)
                pins.append(nil)
            }
            pins[Int(pin)] = (member, matches.count)
            for index in matches.indices { matches[index].pin = pin }
        }
        for found in matches { heap.insert(found) }
    }

    private func noteDamaged(_ segment: IndexedSegment, ordinal: UInt32, reason: String) {
        let seq = segment.index.base + UInt64(ordinal)
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
