/// One segment as a query sees it: its index, and its bytes.
///
/// A cold segment is kept as its ``SegmentSummary`` only: its index and its
/// bytes are loaded by ``loaded()`` when a query reaches it, and let go with
/// that query.
final class IndexedSegment: Sendable {
    let name: SegmentName
    let path: String
    /// What every reader keeps: its seqs, time span and counts.
    let summary: SegmentSummary
    /// Read as a sealed segment: it cannot change any more.
    let isSealed: Bool
    /// Damage found while indexing that no line number covers (the rest of a
    /// segment after a damaged gzip member).
    let notes: [DamagedLine]
    private let parts: Parts?
    /// The Bloom filter of its conversations' names, if its index has one:
    /// a copy of the index's, held here because a conversation query asks
    /// it of every segment (reaching it through the index is one more
    /// pointer followed, a cache miss, for each).
    private let nameFilter: NameFilter?
    /// Held as its summary: known to hold no conversation at all.
    private let holdsNoConversation: Bool
    private let loader: (@Sendable () throws(StoaError) -> IndexedSegment)?
    /// The `.idx` its index was read from, if it was (see ``SegmentCatalog/Entry/index``).
    let indexFile: FileIdentity?

    /// (A class: a query reads a field of it, such as the index's late
    /// list, without copying the whole index, as reading through an
    /// optional struct did.)
    final class Parts: Sendable {
        let index: SegmentIndex
        /// The segment's bytes, at least up to `index.byteCount`.
        let contents: any SegmentBytes
        /// The line numbers of the index's late records, ascending: a query
        /// reaches them through the late list.
        let lateOrdinals: [UInt32]
        /// For each of `lateOrdinals`, where its record is in the late list.
        let latePositions: [Int]
        /// The line numbers a block's walk passes over, ascending: the late
        /// records and the damaged lines.
        let skippedOrdinals: [UInt32]
        /// By block: the earliest time of it and every block after it, and
        /// the latest time of it and every block before it. Both only grow
        /// with the block number, so a query finds where its window starts by
        /// binary search and plans the blocks one at a time.
        let earliestFrom: [Int64]
        let latestUpTo: [Int64]
        /// Which blocks have been checked against their CRC32C, and what was
        /// found; nil when the index has no checksums (a foreign file's,
        /// read from a copy checked strictly when indexed).
        let checks: BlockChecks?

        /// `previous`: the parts of the same segment read before, over a
        /// prefix of these bytes (a growing segment): what its checks found
        /// of the blocks the two indexes share is kept.
        init(index: SegmentIndex, contents: any SegmentBytes, previous: Parts? = nil) {
            self.index = index
            self.contents = contents
            if index.hasChecksums {
                let kept = previous.flatMap { previous in
                    previous.checks.map { checks in
                        (checks, zip(previous.index.blocks, index.blocks).prefix { $0 == $1 }.count)
                    }
                }
                checks = BlockChecks(blocks: index.blocks.count, keeping: kept)
            } else {
                checks = nil
            }
            // By line number: each late record's number and place in one
            // integer, sorted by number (a sort through the list by a
            // closure was a tenth of a new reader's first result, a sort of
            // the integers still 7%, a radix sort next to nothing).
            var byOrdinal = index.late.enumerated().map { UInt64($1.ordinal) << 32 | UInt64($0) }
            Self.sortByHighHalf(&byOrdinal, below: index.lineCount)
            latePositions = byOrdinal.map { Int($0 & 0xFFFF_FFFF) }
            let lateOrdinals = byOrdinal.map { UInt32($0 >> 32) }
            self.lateOrdinals = lateOrdinals
            skippedOrdinals = index.damaged.isEmpty ? lateOrdinals : (lateOrdinals + index.damaged.map(\.ordinal)).sorted()
            var earliestFrom = Array(repeating: Int64.max, count: index.blocks.count)
            var latestUpTo = Array(repeating: Int64.min, count: index.blocks.count)
            var earliest = Int64.max
            var latest = Int64.min
            for number in index.blocks.indices.reversed() {
                earliest = min(earliest, index.blocks[number].minTime)
                earliestFrom[number] = earliest
            }
            for (number, block) in index.blocks.enumerated() {
                latest = max(latest, block.maxTime)
                latestUpTo[number] = latest
            }
            self.earliestFrom = earliestFrom
            self.latestUpTo = latestUpTo
        }

        /// Sorts `values` by their high 32 bits, each below `limit`, keeping
        /// the order of equal ones (here: as `sort()` orders them, the low
        /// halves of equal ones being in order already): a radix sort, 11
        /// bits a pass (two passes for a segment of up to 4M lines).
        static func sortByHighHalf(_ values: inout [UInt64], below limit: UInt32) {
            guard values.count > 64 else { return values.sort() }
            let bits = UInt64(32 - limit.leadingZeroBitCount)
            var scratch = [UInt64](repeating: 0, count: values.count)
            var starts = [Int](repeating: 0, count: 2048)
            var shift: UInt64 = 32
            while shift < 32 + bits {
                values.withUnsafeMutableBufferPointer { values in
                    scratch.withUnsafeMutableBufferPointer { scratch in
                        starts.withUnsafeMutableBufferPointer { starts in
                            starts.update(repeating: 0)
                            for value in values { starts[Int((value >> shift) & 0x7FF)] += 1 }
                            var total = 0
                            for digit in 0..<starts.count {
                                let count = starts[digit]
                                starts[digit] = total
                                total += count
                            }
                            for value in values {
                                let digit = Int((value >> shift) & 0x7FF)
                                scratch[starts[digit]] = value
                                starts[digit] += 1
                            }
                        }
                    }
                }
                swap(&values, &scratch)
                shift += 11
            }
        }

        // The index's fields a query reads, each read in place.
        var base: UInt64 { index.base }
        var lineCount: UInt32 { index.lineCount }
        var blocks: [IndexBlock] { index.blocks }
        var late: [SegmentIndex.LateRecord] { index.late }
        var lineTables: IndexBytes { index.lineTables }
        func postings(of conversation: String) -> Postings? { index.conversations[conversation] }
        func forEachNameHash(_ body: (UInt64) -> Void) { index.conversations.forEachNameHash(body) }
        var conversationCount: Int { index.conversations.count }
        var typePostings: [Postings] { index.typePostings }
        func typeNumber(_ name: String) -> Int? { index.typeNumber(name) }
        func block(containing ordinal: UInt32) -> Int? { index.block(containing: ordinal) }
    }

    /// A segment held whole. `previous`: the same segment read before, over
    /// a prefix of these bytes (see ``Parts/init(index:contents:previous:)``).
    init(
        name: SegmentName, index: SegmentIndex, contents: any SegmentBytes, isSealed: Bool, notes: [DamagedLine] = [],
        previous: IndexedSegment? = nil, indexFile: FileIdentity? = nil
    ) {
        self.indexFile = indexFile
        self.name = name
        self.path = contents.path
        var summary = SegmentSummary(index)
        summary.fileSize = contents.fileSize
        self.summary = summary
        self.isSealed = isSealed
        self.notes = notes
        self.parts = Parts(index: index, contents: contents, previous: previous?.parts)
        self.nameFilter = index.conversations.nameFilter
        self.holdsNoConversation = false
        self.loader = nil
    }

    /// A sealed segment held as its summary; `loader` reads it whole when
    /// needed. `conversations`: how many it holds and their names' Bloom
    /// filter, when known (a conversation query then passes over it without
    /// loading it).
    init(
        name: SegmentName, path: String, summary: SegmentSummary, notes: [DamagedLine] = [], indexFile: FileIdentity? = nil,
        conversations: SegmentCatalog.Conversations? = nil, loader: @escaping @Sendable () throws(StoaError) -> IndexedSegment
    ) {
        self.indexFile = indexFile
        self.name = name
        self.path = path
        self.summary = summary
        self.isSealed = true
        self.notes = notes
        self.parts = nil
        self.nameFilter = conversations.flatMap { $0.count > 0 ? NameFilter($0.filter) : nil }
        self.holdsNoConversation = conversations?.count == 0
        self.loader = loader
    }

    /// How many conversations it holds and their names' Bloom filter; nil
    /// when not loaded.
    var conversations: SegmentCatalog.Conversations? {
        guard let parts else { return nil }
        return SegmentCatalog.Conversations(count: UInt32(parts.conversationCount), filter: nameFilter?.bytes ?? [])
    }

    /// A segment held as its summary; `loader` reads it whole when needed.
    convenience init(summarizing whole: IndexedSegment, loader: @escaping @Sendable () throws(StoaError) -> IndexedSegment) {
        self.init(
            name: whole.name, path: whole.path, summary: whole.summary, notes: whole.notes, indexFile: whole.indexFile,
            loader: loader)
    }

    /// Whether its index and bytes are in memory.
    var isLoaded: Bool { parts != nil }

    /// This segment with its index and bytes: itself, or for a segment held
    /// as a summary, a new one read now.
    func loaded() throws(StoaError) -> IndexedSegment {
        if parts != nil { return self }
        return try loader!()
    }

    /// Its index. Only for a loaded segment (see ``loaded()``).
    var index: SegmentIndex { parts!.index }
    /// Its index and what is derived from it, to read a field of in place
    /// (`index` is a copy of the whole: about ten arrays retained and
    /// released). Only for a loaded segment.
    var loadedParts: Parts { parts! }
    /// Its bytes. Only for a loaded segment.
    var contents: any SegmentBytes { parts!.contents }
    var lateOrdinals: [UInt32] { parts!.lateOrdinals }
    var latePositions: [Int] { parts!.latePositions }
    var skippedOrdinals: [UInt32] { parts!.skippedOrdinals }
    var earliestFrom: [Int64] { parts!.earliestFrom }
    var latestUpTo: [Int64] { parts!.latestUpTo }

    /// False when the segment certainly holds no record of the conversation
    /// (one held as its summary without its names' filter: true).
    func mayHold(_ conversation: ConversationTable.Key) -> Bool {
        if let nameFilter { return nameFilter.mayContain(conversation) }
        if let parts { return parts.index.conversations.mayContain(conversation) }
        return !holdsNoConversation
    }

    /// Bytes of the segment file.
    var fileSize: Int { summary.fileSize }

    /// Memory this reader holds for it (approximate).
    var memoryBytes: Int {
        if let parts {
            let ordinals = (parts.lateOrdinals.capacity + parts.skippedOrdinals.capacity) * 4
            let positionsAndTimes = (parts.latePositions.capacity + parts.earliestFrom.capacity + parts.latestUpTo.capacity) * 8
            return parts.index.memoryBytes + ordinals + positionsAndTimes
        }
        return 96 + summary.types.reduce(0) { $0 + 24 + $1.name.utf8.count }
    }

    /// The position in `skippedOrdinals` of the first at or after `ordinal`.
    func firstSkipped(atOrAfter ordinal: UInt32) -> Int {
        let skipped = parts!.skippedOrdinals
        return gallop(from: 0, to: skipped.count) { skipped[$0] < ordinal }
    }

    /// The lines of this segment that are not valid records.
    var damagedLines: [DamagedLine] {
        summary.damaged.map {
            DamagedLine(path: path, line: Int($0.ordinal) + 1, seq: summary.base + UInt64($0.ordinal), reason: $0.reason)
        } + notes
    }
}

/// A reader's segments at one moment, ascending by base seq.
struct Snapshot: Sendable {
    private(set) var segments: [IndexedSegment]
    /// What a query's set-up reads of every segment, in one array: read from
    /// the segment objects, scattered in memory, it was a cache miss a
    /// segment.
    private(set) var briefs: [SegmentBrief]
    /// The positions of the segments with damaged lines or notes.
    private(set) var damaged: [Int]
    /// The positions of the segments whose seqs do not start where the
    /// segment before ends: seqs in no segment (a segment or lines removed).
    private(set) var gaps: [Int]
    /// New with every change: what was worked out for one snapshot holds
    /// while its identity is the same.
    private(set) var identity = Identity()

    final class Identity: Sendable {}

    init(_ segments: [IndexedSegment]) {
        let briefs = segments.indices.map { SegmentBrief(segments[$0]) }
        self.segments = segments
        self.briefs = briefs
        damaged = briefs.indices.filter { briefs[$0].hasDamage }
        gaps = briefs.indices.dropFirst().filter { briefs[$0 - 1].end < briefs[$0].base }
    }

    mutating func replaceLast(with segment: IndexedSegment) { replace(at: segments.count - 1, with: segment) }

    /// Puts `segment` in the place of the segment at `position`, which has
    /// the same seqs (the same segment read again, or grown).
    mutating func replace(at position: Int, with segment: IndexedSegment) {
        segments[position] = segment
        briefs[position] = SegmentBrief(segment)
        damaged.removeAll { $0 == position }
        if briefs[position].hasDamage {
            damaged.insert(position, at: damaged.firstIndex { $0 > position } ?? damaged.endIndex)
        }
        gaps.removeAll { $0 == position }
        if position > 0 && briefs[position - 1].end < briefs[position].base { gaps.append(position) }
        gaps.sort()
        identity = Identity()
    }

    /// The position of the segment with base seq `base`, if there is one.
    func position(ofBase base: UInt64) -> Int? {
        let position = gallop(from: 0, to: briefs.count) { briefs[$0].base < base }
        return position < briefs.count && briefs[position].base == base ? position : nil
    }
}

/// What a query's set-up reads of a segment.
struct SegmentBrief: Sendable, TimeSpan {
    let base: UInt64
    /// The seq after its last line.
    let end: UInt64
    let minTime: Int64
    let maxTime: Int64
    let isLoaded: Bool
    /// Whether it has damaged lines or notes.
    let hasDamage: Bool

    init(_ segment: IndexedSegment) {
        base = segment.summary.base
        end = segment.summary.end
        minTime = segment.summary.minTime
        maxTime = segment.summary.maxTime
        isLoaded = segment.isLoaded
        hasDamage = !segment.summary.damaged.isEmpty || !segment.notes.isEmpty
    }
}

/// What a reader keeps of every segment, loaded or not: enough to plan a
/// query, continue a follower and count for `stats`.
struct SegmentSummary: Sendable, TimeSpan {
    var base: UInt64
    var lineCount: UInt32
    var minTime: Int64
    var maxTime: Int64
    /// Records per type name.
    var types: [(name: String, count: Int)]
    var damaged: [SegmentIndex.DamagedOrdinal]
    var fileSize = 0

    init(
        base: UInt64, lineCount: UInt32, minTime: Int64, maxTime: Int64, types: [(name: String, count: Int)],
        damaged: [SegmentIndex.DamagedOrdinal], fileSize: Int
    ) {
        self.base = base
        self.lineCount = lineCount
        self.minTime = minTime
        self.maxTime = maxTime
        self.types = types
        self.damaged = damaged
        self.fileSize = fileSize
    }

    init(_ index: SegmentIndex) {
        base = index.base
        lineCount = index.lineCount
        minTime = index.minTime
        maxTime = index.maxTime
        types = zip(index.types, index.typePostings).map { ($0, $1.count) }
        damaged = index.damaged
    }

    /// The seq after its last line.
    var end: UInt64 { base + UInt64(lineCount) }
    var recordCount: Int { Int(lineCount) - damaged.count }
}
