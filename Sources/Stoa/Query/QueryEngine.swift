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
    /// The wanted types and conversation, to check a record's against.
    private let wanted: Wanted
    /// The wanted conversation, hashed once for every segment's filter.
    private let conversationKey: ConversationTable.Key?
    // The engine belongs to one thread at a time (a cursor is read by one
    // task), and no access to these properties overlaps another: the
    // dynamic exclusivity checks, a measurable part of a full scan, are
    // turned off for the ones used once per record.
    @exclusivity(unchecked) private var pending: Heap<Candidate>
    /// The matches of opened blocks, each block's sorted, by their next record.
    @exclusivity(unchecked) private var runs: Heap<Run>
    @exclusivity(unchecked) private var emitted = 0
    /// Lines the query skipped because they are not valid records: those the
    /// indexes know of, and those found damaged while reading (a segment
    /// changed after its `.idx` was written).
    private(set) var damaged: [DamagedLine]

    /// Work that may hold matches, keyed by the earliest (time, seq) it can
    /// hold (newest-first, the latest).
    struct Candidate: TimeAndSeq {
        var time: Int64
        var seq: UInt64
        var segment: Int
        var work: Work
    }

    enum Work {
        /// A whole segment, not planned yet.
        case segment
        /// One block.
        case block(Int)
        /// The blocks from this one on (newest-first: from this one back),
        /// not looked at yet: one is planned each time this reaches the top.
        case blocks(from: Int)
        /// One late record: its line number, its block, and where its line
        /// starts in the block.
        case late(ordinal: UInt32, block: Int, offset: UInt32)
        /// The late records from this one in the late list on (newest-first:
        /// from this one back).
        case lates(from: Int)
        /// One block holding records of the wanted conversation: the `k`th
        /// of its segment's ``ConversationLines``.
        case conversationBlock(Int)
        /// The blocks holding records of the wanted conversation from the
        /// `k`th on (newest-first: from it back), not looked at yet.
        case conversationBlocks(from: Int)
    }

    /// A planned segment's lines of the wanted conversation, late ones left
    /// out, and the blocks holding them, found once from its postings.
    struct ConversationLines {
        var ordinals: [UInt32] = []
        /// Each block's number, and the end of its lines in `ordinals` (they
        /// start where the block before ends).
        var blocks: [(number: Int, end: Int)] = []

        func lines(ofBlock k: Int) -> ArraySlice<UInt32> {
            ordinals[(k == 0 ? 0 : blocks[k - 1].end)..<blocks[k].end]
        }
    }

    /// What a planned segment's blocks and late records must have to be looked at.
    struct SegmentFilter {
        /// Type bits a block must have one of.
        var mask = UInt64.max
        /// The wanted types' numbers, if types are wanted.
        var types: [UInt32]?
        /// Their postings, taken once for the segment.
        var postings: [Postings] = []
    }

    /// A matching record waiting for its turn: plain values only, so the
    /// heap moves it without reference counting.
    struct Found: TimeAndSeq {
        var time: Int64
        var seq: UInt64
        var offset: Int
        var length: Int32
        var segment: Int32
        /// For a record of a compressed segment: the pinned member holding
        /// its line (`offset` is then into that member); -1 otherwise.
        var pin: Int32
        /// Its block failed its checksum: the line is checked strictly
        /// before it goes out.
        var strict = false
        /// Its line's facts, when it was parsed (and checked) as it was
        /// found; nil when it is parsed as it goes out.
        var parsed: ParsedFacts? = nil
    }

    /// Where a found record's type and conversation are in its line, and
    /// how they are written: its ``LineFacts`` but the time, in plain
    /// values (-1: none).
    struct ParsedFacts {
        var typeStart: Int32
        var typeEnd: Int32
        var conversationStart: Int32
        var conversationEnd: Int32
        var typeEscaped: Bool
        var conversationEscaped: Bool

        init(_ facts: LineFacts) {
            typeStart = Int32(facts.type?.lowerBound ?? -1)
            typeEnd = Int32(facts.type?.upperBound ?? -1)
            conversationStart = Int32(facts.conversation?.lowerBound ?? -1)
            conversationEnd = Int32(facts.conversation?.upperBound ?? -1)
            typeEscaped = facts.typeEscaped
            conversationEscaped = facts.conversationEscaped
        }

        func facts(time: Int64) -> LineFacts {
            var facts = LineFacts(time: time)
            if typeStart >= 0 { facts.type = Int(typeStart)..<Int(typeEnd) }
            facts.typeEscaped = typeEscaped
            if conversationStart >= 0 { facts.conversation = Int(conversationStart)..<Int(conversationEnd) }
            facts.conversationEscaped = conversationEscaped
            return facts
        }
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
    /// What planning each segment settled, by segment number (nil: not
    /// planned).
    @exclusivity(unchecked) private var planned: [PlannedSegment?]

    /// What planning a segment settled.
    final class PlannedSegment {
        /// Its bytes, for a plain segment (nil for a compressed one): looked
        /// up once per segment, not cast once per record.
        let plain: SegmentContents?
        let filter: SegmentFilter
        /// With a conversation: the segment's lines of it.
        let conversation: ConversationLines?

        init(plain: SegmentContents?, filter: SegmentFilter, conversation: ConversationLines? = nil) {
            self.plain = plain
            self.filter = filter
            self.conversation = conversation
        }
    }

    /// `holders`: with a conversation, the segments a reader's
    /// ``ConversationDirectory`` says to look at.
    init(_ snapshot: Snapshot, query: Query, encoder: RecordEncoder, holders: ConversationDirectory.Holders? = nil) {
        let segments = snapshot.segments
        self.segments = segments
        self.query = query
        self.encoder = encoder
        self.needle = query.contains.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        self.wanted = Wanted(query)
        self.conversationKey = query.conversation.map(ConversationTable.Key.init)
        self.damaged = []
        for number in snapshot.damaged { damaged += segments[number].damagedLines }
        for number in snapshot.gaps {
            let gap = DamagedLine(gapAfter: segments[number - 1], before: segments[number])
            if !damaged.contains(where: { $0.seq == gap.seq }) { damaged.append(gap) }  // not named already
        }
        self.planned = Array(repeating: nil, count: segments.count)
        let descending = query.order == .newestFirst
        runs = Heap(descending: descending)
        var candidates: [Candidate] = []
        guard query.limit != 0 else {
            pending = Heap(descending: descending)
            return
        }
        // A segment is looked at through its brief, and through the segment
        // itself only for its Bloom filter.
        let briefs = snapshot.briefs
        let conversationKey = self.conversationKey
        func consider(_ number: Int, askingFilter: Bool) {
            let brief = briefs[number]
            guard brief.overlaps(since: query.sinceMicros, until: query.untilMicros) else { return }
            // A segment that certainly holds no record of the conversation is
            // not looked at (what a cold one holds is known once it is
            // loaded; one known by its catalog entry, by the filter there).
            if askingFilter, let conversationKey, !segments[number].mayHold(conversationKey) { return }
            candidates.append(
                descending
                    ? Candidate(time: brief.maxTime, seq: brief.end - 1, segment: number, work: .segment)
                    : Candidate(time: brief.minTime, seq: brief.base, segment: number, work: .segment))
        }
        if let holders {
            candidates.reserveCapacity(holders.holding.count + holders.uncovered.count)
            for number in holders.holding { consider(number, askingFilter: false) }
            for number in holders.uncovered { consider(number, askingFilter: true) }
        } else {
            candidates.reserveCapacity(segments.count)
            for number in briefs.indices { consider(number, askingFilter: true) }
        }
        pending = Heap(descending: descending, items: candidates)
    }

    /// Plans segment `number`: puts in the pending heap what of it may hold
    /// matches — its first candidate block and late record (the others follow
    /// one at a time), or with a conversation, its late records and the first
    /// block holding its others (the rest follow one at a time).
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
        // (A cold segment is a new object once loaded. Writing a segment
        // back only then spares copying the array, which the reader shares.)
        // What a cold one holds is known now; a loaded one was asked at set-up.
        if segment !== segments[number] {
            segments[number] = segment
            // Damage found only now (its .idx gone bad since the catalog was written).
            for note in segment.notes where !damaged.contains(where: { $0.seq == note.seq && $0.reason == note.reason }) {
                damaged.append(note)
            }
            if let conversationKey, !segment.mayHold(conversationKey) { return }
        }
        let plain = segment.contents as? SegmentContents
        let index = segment.loadedParts
        var filter = SegmentFilter()
        if !query.types.isEmpty {
            let wanted = query.types.compactMap(index.typeNumber)
            if wanted.isEmpty { return }
            filter.mask = wanted.reduce(0) { $0 | IndexBlock.bit(forType: $1) }
            filter.types = wanted.map(UInt32.init)
            let typePostings = index.typePostings
            filter.postings = wanted.map { typePostings[$0] }
        }
        let descending = query.order == .newestFirst

        // With a conversation: its late records, each planned now, and the
        // blocks holding its other records, one at a time.
        if let conversation = query.conversation {
            guard let postings = index.postings(of: conversation) else { return }
            var lines = ConversationLines()
            lines.ordinals.reserveCapacity(postings.count)
            lines.blocks.reserveCapacity(postings.count)
            let lateOrdinals = segment.lateOrdinals
            let latePositions = segment.latePositions
            let blocks = index.blocks
            var nextLate = 0
            var nextLateOrdinal = lateOrdinals.first ?? .max
            var block = 0
            // The lines of the block the last one was in.
            var blockLines: Range<UInt32> = 0..<0
            // Its line numbers ascend: so do their blocks. (An index may hold
            // only some of its segment's blocks: a foreign file read in part.)
            // Each is galloped to: a conversation has a few records in a
            // segment of hundreds of late ones and blocks. (Each block's
            // start in `ordinals` is kept here, its end set after.)
            postings.forEach(in: 0..<index.lineCount) { ordinal in
                if ordinal >= nextLateOrdinal {
                    nextLate = gallop(from: nextLate, to: lateOrdinals.count) { lateOrdinals[$0] < ordinal }
                    nextLateOrdinal = nextLate < lateOrdinals.count ? lateOrdinals[nextLate] : .max
                    if nextLateOrdinal == ordinal {
                        addLate(latePositions[nextLate], of: number, filter)
                        return true
                    }
                }
                if !blockLines.contains(ordinal) {
                    block = gallop(from: block, to: blocks.count) { blocks[$0].ordinals.upperBound <= ordinal }
                    guard block < blocks.count && blocks[block].ordinals.contains(ordinal) else { return true }
                    blockLines = blocks[block].ordinals
                    lines.blocks.append((block, lines.ordinals.count))
                }
                lines.ordinals.append(ordinal)
                return true
            }
            for k in lines.blocks.indices {
                lines.blocks[k].end = k + 1 < lines.blocks.count ? lines.blocks[k + 1].end : lines.ordinals.count
            }
            planned[number] = PlannedSegment(plain: plain, filter: filter, conversation: lines)
            addConversationBlocks(from: descending ? lines.blocks.count - 1 : 0, of: number)
            return
        }
        planned[number] = PlannedSegment(plain: plain, filter: filter)

        // The late records in the window, one at a time from the first
        // (newest first, the last one before the window's end).
        var low = 0
        var high = index.late.count
        if let bound = descending ? query.untilMicros : query.sinceMicros {
            while low < high {
                let middle = (low + high) / 2
                if index.late[middle].time < bound { low = middle + 1 } else { high = middle }
            }
        } else if descending {
            low = high
        }
        addLates(from: descending ? low - 1 : low, of: number)

        low = 0
        high = index.blocks.count
        // The first block that can reach into the window: its end (oldest
        // first) or its start (newest first) is the first on the window's side.
        if descending {
            if let until = query.untilMicros {
                let earliest = segment.earliestFrom
                while low < high {
                    let middle = (low + high) / 2
                    if earliest[middle] < until { low = middle + 1 } else { high = middle }
                }
            } else {
                low = high
            }
            addBlocks(from: low - 1, of: number)
        } else {
            if let since = query.sinceMicros {
                let latest = segment.latestUpTo
                while low < high {
                    let middle = (low + high) / 2
                    if latest[middle] < since { low = middle + 1 } else { high = middle }
                }
            }
            addBlocks(from: low, of: number)
        }
    }

    /// Whether a block may hold matches.
    private func accepts(_ block: IndexBlock, _ filter: SegmentFilter) -> Bool {
        block.overlaps(since: query.sinceMicros, until: query.untilMicros) && block.typeMask & filter.mask != 0
    }

    /// The candidate for block `number` of segment `segment`, to do `work`
    /// (by default, to read the block).
    private func candidate(block number: Int, of segment: Int, as work: Work? = nil) -> Candidate {
        let index = segments[segment].loadedParts
        let block = index.blocks[number]
        let firstSeq = index.base + UInt64(block.firstOrdinal)
        let work = work ?? .block(number)
        return query.order == .newestFirst
            ? Candidate(time: block.maxTime, seq: firstSeq + UInt64(block.count) - 1, segment: segment, work: work)
            : Candidate(time: block.minTime, seq: firstSeq, segment: segment, work: work)
    }

    /// Puts the blocks of segment `segment` from block `first` on (newest
    /// first: from it back) in the pending heap as one candidate, keyed by
    /// the earliest (latest) time any of them can hand out; to do `work`
    /// (by default, to plan them).
    private func addBlocks(from first: Int, of segment: Int, as work: Work? = nil) {
        let index = segments[segment].loadedParts
        guard first >= 0 && first < index.blocks.count else { return }
        let block = index.blocks[first]
        let firstSeq = index.base + UInt64(block.firstOrdinal)
        if query.order == .newestFirst {
            var time = segments[segment].latestUpTo[first]
            if let since = query.sinceMicros, time < since { return }
            if let until = query.untilMicros { time = min(time, until - 1) }
            pending.insert(
                Candidate(
                    time: time, seq: firstSeq + UInt64(block.count) - 1, segment: segment, work: work ?? .blocks(from: first)))
        } else {
            var time = segments[segment].earliestFrom[first]
            if time == .max { return }  // no records from here on
            if let until = query.untilMicros, time >= until { return }
            if let since = query.sinceMicros { time = max(time, since) }
            pending.insert(Candidate(time: time, seq: firstSeq, segment: segment, work: work ?? .blocks(from: first)))
        }
    }

    /// Puts the blocks holding the conversation of segment `segment`, from
    /// the `k`th on (newest first: from it back), in the pending heap as one
    /// candidate, keyed as all the blocks from its block on: they include them.
    private func addConversationBlocks(from k: Int, of segment: Int) {
        guard let blocks = planned[segment]!.conversation?.blocks, k >= 0 && k < blocks.count else { return }
        addBlocks(from: blocks[k].number, of: segment, as: .conversationBlocks(from: k))
    }

    /// Plans the next block of segment `segment` from block `first` on that
    /// may hold matches, and puts the rest back.
    ///
    /// A block of a plain segment that no waiting work goes before is read
    /// now, not put in the pending heap to come back at once, and so are
    /// the blocks after it that no waiting work goes before either, up to a
    /// batch (see ``scanBatch(from:of:_:_:)``).
    private func planBlocks(from first: Int, of segment: Int) {
        let blocks = segments[segment].loadedParts.blocks
        let planned = self.planned[segment]!
        let filter = planned.filter
        let step = query.order == .newestFirst ? -1 : 1
        var number = first
        while number >= 0 && number < blocks.count && !accepts(blocks[number], filter) { number += step }
        guard number >= 0 && number < blocks.count else { return }
        let candidate = candidate(block: number, of: segment)
        if let plain = planned.plain, pending.first.map({ !runs.before($0, candidate) }) ?? true {
            scanBatch(from: number, of: segment, plain, filter)
            return
        }
        pending.insert(candidate)
        addBlocks(from: number + step, of: segment)
    }

    /// How many matches a batch of blocks may gather: one until the first
    /// record is out (it out soon), twice as many for each batch after, up
    /// to ``batchMatches``, and no more than the limit still wants.
    @exclusivity(unchecked) private var batchBudget = 1
    static let batchMatches = 256
    /// How many blocks a batch reads at most.
    static let batchBlocks = 64

    /// Reads block `first` of plain segment `segment` (one that may hold
    /// matches, and that no waiting work goes before) and the blocks after
    /// it (newest first: before it) that may hold matches, as long as no
    /// waiting work goes before the next one either and the batch's budget
    /// (``batchBudget``) is not spent; their matches make one run, and the
    /// rest of the blocks go back in the pending heap.
    ///
    /// A query that picks a few records of each block (a rare type) so pays
    /// once per batch, not once per block, for the pending heap, the run
    /// and its array, the segment's bytes and the walks through the type's
    /// postings. Reading a block before its turn changes no result: its
    /// records wait in their run until no waiting work can hold an earlier
    /// one, as every block's do; the batch bounds what they hold.
    private func scanBatch(from first: Int, of number: Int, _ plain: SegmentContents, _ filter: SegmentFilter) {
        let segment = segments[number]
        let blocks = segment.loadedParts.blocks
        let descending = query.order == .newestFirst
        let step = descending ? -1 : 1
        var budget = batchBudget
        if let limit = query.limit { budget = max(1, min(budget, limit - emitted)) }
        // (Until the first record is out, a batch is a block or so: the
        // first record may wait for the block after its own.)
        if emitted > 0 { batchBudget = min(batchBudget * 2, Self.batchMatches) }
        var result = BlockScan()
        result.matches.reserveCapacity(min(budget, Self.batchMatches))
        var blockFilter = BlockFilter(types: filter.types)
        var block = first
        var scanned = 0
        let index = segment.loadedParts
        // With types: the few lines of each block that matched its checksum
        // are parsed as they are found (their times read from them).
        var typed =
            filter.types == nil
            ? nil
            : TypedLines(
                segment, number: number, postings: filter.postings, wanted: wanted, encoder: encoder, needle: needle,
                lines: scratch.wanted)
        plain.withUnsafeBytes { all in
            index.lineTables.withUnsafeBufferPointer { tables in
                while true {
                    let start = result.matches.count
                    if typed != nil,
                        case .intact = index.checks?.outcome(of: block, { Self.check(block, of: segment, in: all) }) ?? .intact
                    {
                        typed!.find(block, in: all, tables: tables, into: &result)
                    } else if Self.pickLines(
                        block, of: segment, conversationLines: nil, filter: &blockFilter, query: query,
                        scratch: &scratch, into: &result)
                    {
                        Self.find(
                            in: all, base: 0, block: block, late: nil, of: segment, number: number, needle: needle,
                            scratch: &scratch, into: &result)
                    }
                    if descending { result.matches[start...].reverse() }
                    scanned += 1
                    block += step
                    while block >= 0 && block < blocks.count && !accepts(blocks[block], filter) { block += step }
                    guard block >= 0 && block < blocks.count, result.matches.count < budget, scanned < Self.batchBlocks else {
                        break
                    }
                    if let waiting = pending.first, runs.before(waiting, candidate(block: block, of: number)) { break }
                }
            }
        }
        if let typed { scratch.wanted = typed.lines }
        take(result, of: number, inOrder: true)
        addBlocks(from: block, of: number)
    }

    /// Plans the next block holding the conversation of segment `segment`,
    /// from the `k`th on, that may hold matches, and puts the rest back.
    private func planConversationBlocks(from k: Int, of segment: Int) {
        let blocks = planned[segment]!.conversation!.blocks
        let indexBlocks = segments[segment].loadedParts.blocks
        let filter = planned[segment]!.filter
        let step = query.order == .newestFirst ? -1 : 1
        var k = k
        while k >= 0 && k < blocks.count && !accepts(indexBlocks[blocks[k].number], filter) { k += step }
        guard k >= 0 && k < blocks.count else { return }
        pending.insert(candidate(block: blocks[k].number, of: segment, as: .conversationBlock(k)))
        addConversationBlocks(from: k + step, of: segment)
    }

    /// Puts late record `position` of segment `segment`'s late list in the
    /// pending heap as the candidate for it and those after it (newest
    /// first: before it), if it is in the window.
    private func addLates(from position: Int, of segment: Int) {
        let late = segments[segment].loadedParts.late
        guard position >= 0 && position < late.count else { return }
        let record = late[position]
        if let until = query.untilMicros, record.time >= until { return }
        if let since = query.sinceMicros, record.time < since { return }
        pending.insert(
            Candidate(
                time: record.time, seq: segments[segment].loadedParts.base + UInt64(record.ordinal), segment: segment,
                work: .lates(from: position)))
    }

    /// Plans the next late record from `position` on (newest first: back)
    /// that matches, and puts the rest back.
    private func planLates(from position: Int, of segment: Int) {
        let late = segments[segment].loadedParts.late
        let filter = planned[segment]!.filter
        let step = query.order == .newestFirst ? -1 : 1
        var position = position
        while position >= 0 && position < late.count {
            let record = late[position]
            if let until = query.untilMicros, record.time >= until { return }
            if let since = query.sinceMicros, record.time < since { return }
            // (Of a type not wanted: passed over without a call.)
            if filter.mask & IndexBlock.bit(forType: Int(record.type)) != 0 && addLate(position, of: segment, filter) {
                addLates(from: position + step, of: segment)
                return
            }
            position += step
        }
    }

    /// Plans late record `position` of segment `segment` if it is in the
    /// window and of a wanted type; whether it was.
    @discardableResult
    private func addLate(_ position: Int, of segment: Int, _ filter: SegmentFilter) -> Bool {
        let index = segments[segment].loadedParts
        let record = index.late[position]
        guard query.includes(time: record.time), filter.types.map({ $0.contains(record.type) }) ?? true,
            let block = index.block(containing: record.ordinal)
        else { return false }
        pending.insert(
            Candidate(
                time: record.time, seq: index.base + UInt64(record.ordinal), segment: segment,
                work: .late(ordinal: record.ordinal, block: block, offset: record.offset)))
        return true
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
        try visit(atMost: 1, body) == 1
    }

    /// Lends the remaining records to `body`, one after the other, their
    /// bytes where they lie.
    func visitAll<E: Error>(_ body: (borrowing RecordView) throws(E) -> Void) throws(E) {
        _ = try visit(atMost: .max, body)
    }

    /// Lends the next records to `body`, `count` at most; how many it lent
    /// (fewer when there are no more).
    ///
    /// Records of a plain segment that come one after the other are handed
    /// out under one look at the segment's bytes.
    private func visit<E: Error>(atMost count: Int, _ body: (borrowing RecordView) throws(E) -> Void) throws(E) -> Int {
        var lent = 0
        // Whether the first run's next record goes out now: no waiting work
        // can hold a record before it.
        func isReady() -> Bool {
            guard let top = runs.firstKey else { return false }
            return pending.first.map { runs.before(top, $0) } ?? true
        }
        while lent < count {
            if let limit = query.limit, emitted >= limit { break }
            if isReady() {
                let next = runs.withFirst { $0.records[$0.position] }
                if next.pin >= 0 {
                    let found = runs.updateFirst { run in (run.records[run.position], run.advance()) }
                    let range = found.offset..<(found.offset + Int(found.length))
                    // Held in a local, so that the pin can go before `body` runs.
                    let member = pins[Int(found.pin)]!.bytes
                    unpin(found.pin)
                    if try member.withUnsafeBufferPointer({ (member) throws(E) in
                        try hand(found, UnsafeBufferPointer(rebasing: member[range]), to: body)
                    }) {
                        lent += 1
                    }
                    continue
                }
                // A plain segment: its bytes are all there (mapped or read).
                let segment = next.segment
                let contents = planned[Int(segment)]!.plain!
                try contents.withUnsafeBytes { (all) throws(E) in
                    repeat {
                        let found = runs.updateFirst { run in (run.records[run.position], run.advance()) }
                        let range = found.offset..<(found.offset + Int(found.length))
                        if try hand(found, UnsafeBufferPointer(rebasing: all[range]), to: body) { lent += 1 }
                        if lent == count { break }
                        if let limit = query.limit, emitted >= limit { break }
                    } while isReady()
                        && runs.withFirst({ $0.records[$0.position].segment == segment && $0.records[$0.position].pin < 0 })
                }
                continue
            }
            guard let candidate = pending.popFirst() else { break }
            switch candidate.work {
            case .segment: plan(segment: candidate.segment)
            case .blocks(let first): planBlocks(from: first, of: candidate.segment)
            case .lates(let first): planLates(from: first, of: candidate.segment)
            case .conversationBlocks(let first): planConversationBlocks(from: first, of: candidate.segment)
            case .block, .late, .conversationBlock: open(candidate)
            }
        }
        return lent
    }

    /// Reads the facts of a found record's line and lends it to `body`; false
    /// when the line is not the record the index says it is (the segment
    /// changed after it was indexed), which is reported as damaged instead,
    /// and when it fails the query's field filters.
    ///
    /// Blocks are selected by their line tables, without parsing: this is
    /// where each record handed out is parsed, and checked against its index.
    /// A line of a block that matched its checksum is the valid record it
    /// was when indexed, and is read by the fast scan; one of a block that
    /// did not is checked strictly, by the scanner appends use
    /// (``BlockChecks``).
    @inline(__always)
    private func hand<E: Error>(
        _ found: Found, _ line: UnsafeBufferPointer<UInt8>, to body: (borrowing RecordView) throws(E) -> Void
    ) throws(E) -> Bool {
        if let parsed = found.parsed {
            // Parsed and checked when it was found; the field filters are tested here, as below.
            if !query.matchesFields(line) { return false }
            emitted += 1
            try body(RecordView(seq: found.seq, time: found.time, facts: parsed.facts(time: found.time), line: line))
            return true
        }
        let facts: LineFacts
        do throws(StoaError) {
            facts = try found.strict ? encoder.facts(ofLine: line) : encoder.facts(ofStoredLine: line)
        } catch {
            noteDamaged(found, reason: error.message)
            return false
        }
        guard facts.time == found.time && wanted.hasType(facts, line) && wanted.hasConversation(facts, line) else {
            noteDamaged(found, reason: "not the record the segment's index describes (changed since it was indexed?)")
            return false
        }
        // Field filters: the index holds no fields, so they are tested here, on the line.
        if !query.matchesFields(line) { return false }
        emitted += 1
        try body(RecordView(seq: found.seq, time: found.time, facts: facts, line: line))
        return true
    }

    private func noteDamaged(_ found: Found, reason: String) {
        let segment = segments[Int(found.segment)]
        noteDamaged(segment, ordinal: UInt32(found.seq - segment.summary.base), reason: reason)
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

    /// Reads a candidate block now and keeps its matching records.
    private func open(_ candidate: Candidate) {
        var conversationBlock: (number: Int, lines: ArraySlice<UInt32>)?
        if case .conversationBlock(let k) = candidate.work, let lines = planned[candidate.segment]!.conversation {
            conversationBlock = (lines.blocks[k].number, lines.lines(ofBlock: k))
        }
        take(
            Self.scan(
                candidate, of: segments[candidate.segment], conversationBlock: conversationBlock,
                types: planned[candidate.segment]!.filter.types, query: query, needle: needle, scratch: &scratch),
            of: candidate.segment)
    }

    @exclusivity(unchecked) private var scratch = Scratch()

    /// Puts what a scan of segment `segment` found where ``visitNext(_:)``
    /// hands it out; `inOrder`: its matches are in the query's order of
    /// seqs already (newest-first: descending), not ascending.
    private func take(_ scan: BlockScan, of segment: Int, inOrder: Bool = false) {
        for (ordinal, reason) in scan.damaged { noteDamaged(segments[segment], ordinal: ordinal, reason: reason) }
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
        if query.order == .newestFirst && !inOrder { matches.reverse() }
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
}

import CStoaSystem

#if canImport(Glibc)
import Glibc
#endif
