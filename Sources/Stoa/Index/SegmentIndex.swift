/// Something holding records from `minTime` to `maxTime` (empty when min > max).
protocol TimeSpan {
    var minTime: Int64 { get }
    var maxTime: Int64 { get }
}

extension TimeSpan {
    /// Whether its time span overlaps `[since, until)`.
    func overlaps(since: Int64?, until: Int64?) -> Bool {
        guard minTime <= maxTime else { return false }
        if let since, maxTime < since { return false }
        if let until, minTime >= until { return false }
        return true
    }
}

/// What the index knows of one block of about 64 KiB of a segment.
package struct IndexBlock: Sendable, Equatable, TimeSpan {
    /// The line number (within the segment) of the block's first line.
    var firstOrdinal: UInt32
    /// Lines in the block (damaged ones included).
    var count: UInt32
    /// Where the block starts and how long it is, in the segment's plain bytes.
    var offset: UInt64
    package var length: UInt32
    /// The time span of the block's valid records; empty blocks have min > max.
    var minTime: Int64
    var maxTime: Int64
    /// Bit `t` is set when the block has a record of type number `t`; types
    /// numbered 63 and up share bit 63.
    var typeMask: UInt64
    /// In a warm segment: the gzip member holding the block — where it is in
    /// the file, how long, and the plain offset its bytes start at. Zero in a
    /// plain segment.
    var memberOffset: UInt64 = 0
    var memberLength: UInt32 = 0
    var memberStart: UInt64 = 0
    /// Where the block's line table is in its index's ``SegmentIndex/lineTables``.
    var lineTable: Range<UInt32> = 0..<0
    /// The CRC32C of the block's plain bytes (when its index has
    /// ``SegmentIndex/lineChecks``): a query checks it before it trusts the
    /// block's lines to be the valid records they were when indexed.
    var checksum: UInt32 = 0

    var ordinals: Range<UInt32> { firstOrdinal..<(firstOrdinal + count) }

    static func bit(forType number: Int) -> UInt64 { 1 << UInt64(min(number, 63)) }
}

/// The index of one segment (§5): its blocks with their time spans and
/// types, and per type and per conversation the line numbers of their
/// records.
///
/// About 3–4 bytes per record: a block's 48 bytes are shared by its ~100
/// records, and postings take a byte or two per record each.
package struct SegmentIndex: Sendable, Equatable, TimeSpan {
    /// The segment's base seq.
    var base: UInt64
    /// Lines indexed (damaged ones included).
    package var lineCount: UInt32 = 0
    /// Plain bytes indexed: the offset just past the last indexed line.
    package var byteCount: UInt64 = 0
    package var blocks: [IndexBlock] = []
    /// Type names by number; "" is the type of records without one.
    var types: [String] = []
    var typePostings: [Postings] = []
    var conversations = ConversationTable()
    /// Lines that are not valid records: their line number and why.
    var damaged: [DamagedOrdinal] = []
    /// Each block's line table, one after the other (see ``LineTable``):
    /// every line's time, and where every eighth line starts, so that a
    /// query selects a block's records by time and goes straight to a line
    /// without parsing any (about 2.3 bytes per record).
    var lineTables: IndexBytes = []
    /// Records that arrived more than ``lateTolerance`` behind the latest
    /// time before them, sorted by (time, ordinal). They do not widen their
    /// block's time span — a query finds them here instead — so blocks stay
    /// narrow when a few records come late (clock skew, a slow agent).
    var late: [LateRecord] = []
    /// Every line's check (``CRC32C/lineCheck(_:)``), a byte a line, by line
    /// number; empty when the index was built without
    /// the lines' bytes (a foreign file's), and then its blocks have no
    /// checksums either. When a block fails its checksum, these tell which
    /// of its lines changed. An index loaded from an `.idx` leaves them in
    /// the file until a block fails (see ``LineChecks``).
    var lineChecks: LineChecks = []

    /// How far behind the latest time so far a record may be and still count
    /// in its block's span (µs).
    static let lateTolerance: Int64 = 100_000

    struct LateRecord: Sendable, Equatable {
        var time: Int64
        var ordinal: UInt32
        var type: UInt32
        /// Where its line starts, from the start of its block.
        var offset: UInt32
    }
    var minTime: Int64 = .max
    var maxTime: Int64 = .min

    struct DamagedOrdinal: Sendable, Equatable {
        var ordinal: UInt32
        var reason: String
    }

    init(base: UInt64) { self.base = base }

    var recordCount: Int { Int(lineCount) - damaged.count }

    /// Whether its blocks and lines have checksums.
    var hasChecksums: Bool { lineCount > 0 && lineChecks.count == Int(lineCount) }

    func typeNumber(_ type: String) -> Int? { types.firstIndex(of: type) }

    func count(ofType number: Int) -> Int { typePostings[number].count }

    /// The block holding line `ordinal`.
    func block(containing ordinal: UInt32) -> Int? {
        var low = 0
        var high = blocks.count - 1
        guard high >= 0, ordinal < lineCount else { return nil }
        while low < high {
            let middle = (low + high + 1) / 2
            if blocks[middle].firstOrdinal <= ordinal { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// Memory held by this index, in bytes (approximate).
    var memoryBytes: Int {
        var total = blocks.capacity * MemoryLayout<IndexBlock>.stride
        total += typePostings.reduce(0) { $0 + $1.memoryBytes }
        total += late.capacity * MemoryLayout<LateRecord>.stride
        total += conversations.memoryBytes
        total += lineTables.count + lineChecks.memoryBytes
        return total
    }
}

/// Builds a ``SegmentIndex`` one line at a time, as a segment is scanned or
/// appended to.
struct SegmentIndexBuilder: Sendable {
    static let blockBytes = 64 << 10

    private(set) var index: SegmentIndex
    private var typeNumbers: [String: Int] = [:]
    private var open: IndexBlock?
    /// The open block's line times, and where each of its eighth lines
    /// starts: its line table, written when it closes.
    private var openTimes: [Int64] = []
    private var openMarks: [UInt32] = []
    /// The CRC32C of the open block's bytes so far.
    private var openChecksum: UInt32 = 0
    /// Whether every line came with its bytes, so that blocks and lines get
    /// checksums.
    private var checksummed = true

    init(base: UInt64) { index = SegmentIndex(base: base) }

    /// Goes on from `index` (a checkpoint of a segment that has grown since):
    /// the next line starts a new block.
    init(resuming index: SegmentIndex) {
        self.index = index
        // Checks left in their mapped file stay there; those of the lines
        // added follow them (``LineChecks``).
        checksummed = index.lineCount == 0 || index.hasChecksums
        for (number, type) in index.types.enumerated() { typeNumbers[type] = number }
    }

    /// Adds the next line of the segment: `line` is its bytes, newline
    /// included, checksummed for the block's CRC32C and the line's check.
    mutating func add(line: UnsafeBufferPointer<UInt8>, time: Int64, type: String, conversation: String?) {
        add(length: line.count, time: time, type: type, conversation: conversation, bytes: line)
    }

    /// Adds the next line of the segment (of `length` bytes, newline
    /// included) without its bytes: the index then has no checksums (a
    /// foreign file's, whose lines are read from a copy checked strictly).
    mutating func add(length: Int, time: Int64, type: String, conversation: String?) {
        add(length: length, time: time, type: type, conversation: conversation, bytes: nil)
    }

    private mutating func add(length: Int, time: Int64, type: String, conversation: String?, bytes: UnsafeBufferPointer<UInt8>?) {
        let ordinal = startLine(length: length, time: time, bytes: bytes)
        // At most one record in sixteen goes to the late list (24 bytes each):
        // past that, times are too mixed for it to pay, and blocks widen instead.
        let isLate =
            index.maxTime != .min && time < index.maxTime - SegmentIndex.lateTolerance
            && index.late.count * 16 < Int(index.lineCount)
        if !isLate {
            open!.minTime = Swift.min(open!.minTime, time)
            open!.maxTime = Swift.max(open!.maxTime, time)
        }
        index.minTime = Swift.min(index.minTime, time)
        index.maxTime = Swift.max(index.maxTime, time)
        let number: Int
        if let known = typeNumbers[type] {
            number = known
        } else {
            number = index.types.count
            typeNumbers[type] = number
            index.types.append(type)
            index.typePostings.append(Postings())
        }
        index.typePostings[number].append(ordinal)
        open!.typeMask |= IndexBlock.bit(forType: number)
        if isLate {
            let record = SegmentIndex.LateRecord(
                time: time, ordinal: ordinal, type: UInt32(number), offset: open!.length - UInt32(length))
            // Nearly always at the end: late records are few and mostly in order among themselves.
            var position = index.late.count
            while position > 0 && (index.late[position - 1].time, index.late[position - 1].ordinal) > (time, ordinal) {
                position -= 1
            }
            index.late.insert(record, at: position)
        }
        if let conversation {
            index.conversations.append(ordinal, to: conversation)
        }
    }

    /// Adds a line that is not a valid record: it keeps its line number (and
    /// so its seq) but is found by no query. `line`: its bytes, newline
    /// included.
    mutating func addDamaged(line: UnsafeBufferPointer<UInt8>, reason: String) {
        let ordinal = startLine(length: line.count, time: openTimes.last ?? 0, bytes: line)
        index.damaged.append(SegmentIndex.DamagedOrdinal(ordinal: ordinal, reason: reason))
    }

    /// ``addDamaged(line:reason:)`` without its bytes (see ``add(length:time:type:conversation:)``).
    mutating func addDamaged(length: Int, reason: String) {
        let ordinal = startLine(length: length, time: openTimes.last ?? 0, bytes: nil)
        index.damaged.append(SegmentIndex.DamagedOrdinal(ordinal: ordinal, reason: reason))
    }

    private mutating func startLine(length: Int, time: Int64, bytes: UnsafeBufferPointer<UInt8>?) -> UInt32 {
        if let block = open, Int(block.length) + length > Self.blockBytes {
            closeBlock()
        }
        if open == nil {
            open = IndexBlock(
                firstOrdinal: index.lineCount, count: 0, offset: index.byteCount, length: 0, minTime: .max,
                maxTime: .min, typeMask: 0)
        }
        if open!.count > 0 && open!.count % LineTable.markInterval == 0 { openMarks.append(open!.length) }
        openTimes.append(time)
        if let bytes, checksummed {
            openChecksum = CRC32C.checksum(bytes, continuing: openChecksum)
            index.lineChecks.append(CRC32C.lineCheck(bytes))
        } else if checksummed {
            checksummed = false
            index.lineChecks = []
        }
        let ordinal = index.lineCount
        open!.count += 1
        open!.length += UInt32(length)
        index.lineCount += 1
        index.byteCount += UInt64(length)
        return ordinal
    }

    /// Ends the open block, so that the next line starts a new one.
    mutating func closeBlock() {
        if let open { index.blocks.append(withLineTable(open, in: &index.lineTables)) }
        open = nil
        openChecksum = 0
        openTimes.removeAll(keepingCapacity: true)
        openMarks.removeAll(keepingCapacity: true)
    }

    /// The open block with its line table, appended to `tables`.
    private func withLineTable(_ block: IndexBlock, in tables: inout IndexBytes) -> IndexBlock {
        var block = block
        let start = UInt32(tables.count)
        LineTable.append(times: openTimes, marks: openMarks, to: &tables)
        block.lineTable = start..<UInt32(tables.count)
        block.checksum = checksummed ? openChecksum : 0
        return block
    }

    /// Records that the blocks from `first` on lie in one gzip member.
    mutating func setMember(ofBlocksFrom first: Int, offset: UInt64, length: UInt32, plainStart: UInt64) {
        for position in first..<index.blocks.count {
            index.blocks[position].memberOffset = offset
            index.blocks[position].memberLength = length
            index.blocks[position].memberStart = plainStart
        }
    }

    /// Indexes a compressed segment member by member; blocks never span
    /// members. Returns the SHA-256 of the plain bytes, and the error that
    /// stopped it at a damaged member, if one did (what came before is indexed).
    mutating func addMembers(
        _ file: UnsafeBufferPointer<UInt8>, encoder: RecordEncoder, path: String
    ) -> (digest: [UInt8], damage: StoaError?) {
        var hasher = SHA256()
        var offset = 0
        var plain: [UInt8] = []
        while offset < file.count {
            plain.removeAll(keepingCapacity: true)
            let end: Int
            do throws(StoaError) {
                end = try Gzip.inflateMember(file, at: offset, into: &plain, path: path)
            } catch {
                closeBlock()
                return (hasher.finish(), error)
            }
            closeBlock()
            let first = index.blocks.count
            let plainStart = index.byteCount
            plain.withUnsafeBufferPointer {
                addLines($0, encoder: encoder)
                hasher.update($0)
            }
            closeBlock()
            setMember(ofBlocksFrom: first, offset: UInt64(offset), length: UInt32(end - offset), plainStart: plainStart)
            offset = end
        }
        return (hasher.finish(), nil)
    }

    /// The index so far, the open block included. The builder can go on.
    func snapshot() -> SegmentIndex {
        var result = index
        if let open { result.blocks.append(withLineTable(open, in: &result.lineTables)) }
        return result
    }

    /// Indexes every complete line of `bytes`, which start at the builder's
    /// current byte count in the segment. Each line is checked strictly, by
    /// the scanner appends use: an index built here (a segment without a
    /// valid `.idx`, the active segment a reader reads) holds as records only
    /// lines that are valid JSON.
    ///
    /// - Returns: where in `bytes` the last line indexed as a record ends
    ///   (past its newline); nil when none was.
    @discardableResult
    mutating func addLines(_ bytes: UnsafeBufferPointer<UInt8>, encoder: RecordEncoder) -> Int? {
        var start = 0
        var lastRecordEnd: Int?
        while let newline = SegmentContents.firstNewline(in: bytes, from: start) {
            let line = UnsafeBufferPointer(rebasing: bytes[start..<newline])
            let whole = UnsafeBufferPointer(rebasing: bytes[start...newline])
            do throws(StoaError) {
                let facts = try encoder.facts(ofLine: line)
                add(line: whole, time: facts.time, type: facts.type(in: line), conversation: facts.conversation(in: line))
                lastRecordEnd = newline + 1
            } catch {
                addDamaged(line: whole, reason: error.message)
            }
            start = newline + 1
        }
        return lastRecordEnd
    }
}
