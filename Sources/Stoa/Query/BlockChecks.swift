import Synchronization

/// What a reader found when it checked a segment's blocks against the
/// CRC32C their `.idx` records, kept for as long as it holds the segment.
///
/// A query trusts a block's lines to be the valid records they were when
/// the segment was indexed — and reads them with the fast scan that does
/// not validate (``RecordScanner/scanStored(_:)``) — only once the block's
/// bytes have matched its checksum. Checking 64 KiB costs a few µs, so each
/// block is checked once per reader, the first time a query reads it, not
/// by every query.
///
/// What this guards against: a sealed segment changed on disk before the
/// reader first read the block (a flipped byte, a line edited in place, a
/// newline removed, bytes cut off, a file replaced). What it does not: a
/// segment changed in place after the reader checked the block (sealed
/// segments never change; `stoa verify` reads every byte again), and the
/// one change in 2^32 that leaves the CRC32C as it was.
///
/// A block that fails is laid out again line by line, with each line's own
/// check (``CRC32C/lineCheck(_:)``): its lines that still match are found
/// where they are now (a newline replaced by a space damages the two lines
/// it joined, not the ones after), each is checked strictly before it is
/// handed out, and the others are damaged lines, named, never served.
final class BlockChecks: Sendable {
    enum Outcome: Sendable {
        case intact
        case changed(ChangedBlock)
    }

    /// A block that failed its checksum, as it is now.
    struct ChangedBlock: Sendable {
        /// Each line's bytes (newline left out), from the block's start;
        /// nil for a line that is not as it was indexed.
        var lines: [Range<Int>?]
        /// The lines not as they were, and why; when none can be singled
        /// out, one note on the block's first line.
        var damaged: [(ordinal: UInt32, reason: String)]
    }

    private let outcomes: Protected<[Outcome?]>
    /// How many checks were computed, not remembered (for tests).
    let computed = Atomic<Int>(0)

    /// `keeping`: the checks of the same bytes under an earlier index, and
    /// how many of its first blocks this one shares (a growing segment read
    /// again: its blocks but the last are as they were).
    init(blocks: Int, keeping kept: (checks: BlockChecks, blocks: Int)? = nil) {
        var outcomes = [Outcome?](repeating: nil, count: blocks)
        if let kept {
            let known = kept.checks.outcomes.withLock { $0 }
            for number in 0..<min(kept.blocks, blocks, known.count) { outcomes[number] = known[number] }
        }
        self.outcomes = Protected(outcomes)
    }

    /// The outcome of block `number`: remembered, or found now by `check`.
    func outcome(of number: Int, _ check: () -> Outcome) -> Outcome {
        if let known = outcomes.withLock({ $0[number] }) { return known }
        // Checked outside the lock: two queries may both check a block, and
        // find the same.
        let found = check()
        computed.add(1, ordering: .relaxed)
        outcomes.withLock { $0[number] = found }
        return found
    }

    /// Checks `bytes` — those the segment holds now where block `block` of
    /// `index` was — against the block's checksum and, when it fails,
    /// against each line's check. The index's line checks are read only
    /// when the block fails (an index loaded from an `.idx` leaves them in
    /// the file), by `lineChecks` if given; when they cannot be read as they
    /// were loaded, none of the block's lines is served.
    static func check(
        _ bytes: UnsafeBufferPointer<UInt8>, of block: IndexBlock, in index: SegmentIndex,
        lineChecks: (() -> IndexBytes?)? = nil
    ) -> Outcome {
        if bytes.count == Int(block.length) && CRC32C.checksum(bytes) == block.checksum { return .intact }
        let count = Int(block.count)
        var changed = ChangedBlock(lines: Array(repeating: nil, count: count), damaged: [])
        let checks = lineChecks.map { $0() } ?? index.lineChecks.bytes()
        // Where every eighth line started: byte offsets, which an edit in
        // place does not move. Each group of eight is matched from its start
        // and from its end.
        var marks: [UInt32] = []
        let table = block.lineTable
        let valid = index.lineTables.withUnsafeBufferPointer { tables in
            LineTable.decode(
                UnsafeBufferPointer(rebasing: tables[Int(table.lowerBound)..<Int(table.upperBound)]), count: count,
                marks: &marks
            ) { _, _ in true }
        }
        if valid, let checks, checks.count == Int(index.lineCount),
            UInt64(block.firstOrdinal) + UInt64(block.count) <= UInt64(checks.count)
        {
            let interval = Int(LineTable.markInterval)
            for group in marks.indices {
                let first = group * interval
                let end = min(first + interval, count)
                let start = Int(marks[group])
                let stop = min(group + 1 < marks.count ? Int(marks[group + 1]) : Int(block.length), bytes.count)
                guard start < stop else { continue }
                // The group's bytes, cut after each newline (the last piece
                // may lack one).
                var pieces: [Range<Int>] = []
                var at = start
                while at < stop {
                    let newline = SegmentContents.firstNewline(in: UnsafeBufferPointer(rebasing: bytes[..<stop]), from: at)
                    let pieceEnd = newline.map { $0 + 1 } ?? stop
                    pieces.append(at..<pieceEnd)
                    at = pieceEnd
                }
                func matches(_ piece: Range<Int>, _ line: Int) -> Bool {
                    bytes[piece.upperBound - 1] == 0x0A
                        && CRC32C.lineCheck(UnsafeBufferPointer(rebasing: bytes[piece])) == checks[checks.startIndex + Int(block.firstOrdinal) + line]
                }
                var forward = 0
                while forward < pieces.count && first + forward < end && matches(pieces[forward], first + forward) {
                    changed.lines[first + forward] = pieces[forward].lowerBound..<(pieces[forward].upperBound - 1)
                    forward += 1
                }
                var backward = 0
                while backward < pieces.count - forward && end - 1 - backward >= first + forward
                    && matches(pieces[pieces.count - 1 - backward], end - 1 - backward)
                {
                    let piece = pieces[pieces.count - 1 - backward]
                    changed.lines[end - 1 - backward] = piece.lowerBound..<(piece.upperBound - 1)
                    backward += 1
                }
            }
        }
        let damaged = index.damaged.map(\.ordinal)
        for line in 0..<count where changed.lines[line] == nil {
            let ordinal = block.firstOrdinal + UInt32(line)
            if damaged.contains(ordinal) { continue }  // damaged when indexed: named already
            let where_ =
                bytes.count < Int(block.length)
                ? "the segment is shorter than its index says (its block ends \(Int(block.length) - bytes.count) bytes early)"
                : "it changed since the segment was indexed (its checksum differs)"
            let reason =
                !valid
                ? "its block's line table is damaged"
                : checks == nil
                    ? "its block fails its checksum (CRC32C), and its index's line checks, needed to tell which lines "
                        + "changed, do not match their checksum in the .idx (damaged since it was checked): not served"
                    : "not the line its index describes: \(where_)"
            changed.damaged.append((ordinal, reason))
        }
        if changed.damaged.isEmpty {
            changed.damaged.append(
                (block.firstOrdinal,
                 "lines \(block.firstOrdinal + 1)–\(block.firstOrdinal + block.count) fail their block's checksum (CRC32C), "
                    + "but each passes its own check: served as they are (stoa verify reads them all)"))
        }
        return .changed(changed)
    }

    /// The lines of a segment whose plain bytes are `plain` that are not as
    /// `index` describes them, by ``check(_:of:in:)`` block by block: what a
    /// query names when it reads them (for `stoa verify`, so that both name
    /// the same lines).
    static func changedLines(in plain: UnsafeBufferPointer<UInt8>, index: SegmentIndex) -> [(ordinal: UInt32, reason: String)] {
        guard index.hasChecksums else { return [] }
        var changed: [(ordinal: UInt32, reason: String)] = []
        // Read once, when the first block fails.
        var checks: IndexBytes?? = nil
        let lineChecks = { () -> IndexBytes? in
            if checks == nil { checks = index.lineChecks.bytes() }
            return checks!
        }
        for block in index.blocks {
            let start = min(Int(block.offset), plain.count)
            let end = min(start + Int(block.length), plain.count)
            if case .changed(let found) = check(UnsafeBufferPointer(rebasing: plain[start..<end]), of: block, in: index, lineChecks: lineChecks) {
                changed += found.damaged
            }
        }
        return changed
    }
}
