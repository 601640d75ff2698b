import CStoaSystem
#if canImport(Glibc)
import Glibc
#endif

// The block scan: what a query reads of one block (or one late record),
// from its arguments only.
extension QueryEngine {
    /// What scanning one candidate found.
    struct BlockScan: Sendable {
        /// Its matches, in seq order.
        var matches: [Found] = []
        /// For a compressed segment, the inflated member they point into.
        var member: [UInt8] = []
        /// Lines that turned out not to be valid records, with why.
        var damaged: [(ordinal: UInt32, reason: String)] = []
    }

    /// What a block scan works in, kept from one scan to the next so that
    /// each does not allocate it again: the lines selected, and the marks
    /// passed (see ``LineTable``).
    struct Scratch {
        var selected: [(line: Int, time: Int64)] = []
        var marks: [UInt32] = []
    }

    /// Finds the matches of a candidate, reading nothing but its arguments.
    ///
    /// A block's records are picked by its line table (time, line starts)
    /// and its postings (type, conversation), and only their lines are read
    /// — found, not parsed; ``hand(_:_:to:)`` parses each as it goes out.
    static func scan(
        _ candidate: Candidate, of segment: IndexedSegment, conversationBlock: (number: Int, lines: ArraySlice<UInt32>)?,
        query: Query, needle: [UInt8]?, scratch: inout Scratch
    ) -> BlockScan {
        let index = segment.loadedParts
        let blockNumber: Int
        var late: (ordinal: UInt32, offset: UInt32)?
        switch candidate.work {
        case .block(let number): blockNumber = number
        case .conversationBlock: blockNumber = conversationBlock!.number
        case .late(let ordinal, let number, let offset):
            blockNumber = number
            late = (ordinal, offset)
        default: preconditionFailure("only blocks and late records are scanned")
        }
        let block = index.blocks[blockNumber]
        var result = BlockScan()

        // The lines wanted: (line number in the block, time), in line order.
        // (Taken out of `scratch` and put back, so that the closures below
        // do not reach into it.)
        var selected = scratch.selected
        var marks = scratch.marks
        scratch = Scratch()
        selected.removeAll(keepingCapacity: true)
        defer { scratch = Scratch(selected: selected, marks: marks) }
        if let late {
            selected.append((Int(late.ordinal - block.firstOrdinal), candidate.time))
        } else {
            // With a type or a conversation, only the lines the postings name.
            var wanted: ArraySlice<UInt32>?
            if let conversationBlock, conversationBlock.lines.isEmpty { return result }
            if !query.types.isEmpty {
                var union: [UInt32] = []
                for type in query.types {
                    if let number = index.typeNumber(type) { union += index.typePostings[number].ordinals(in: block.ordinals) }
                }
                wanted = query.types.count > 1 ? union.sorted()[...] : union[...]
            }
            if let conversationBlock {
                // With types as well: the conversation's lines of those types
                // (both lists ascend).
                if let ofTypes = wanted {
                    var both: [UInt32] = []
                    var next = ofTypes.startIndex
                    for line in conversationBlock.lines {
                        while next < ofTypes.endIndex && ofTypes[next] < line { next += 1 }
                        if next < ofTypes.endIndex && ofTypes[next] == line { both.append(line) }
                    }
                    wanted = both[...]
                } else {
                    wanted = conversationBlock.lines
                }
            }
            if let wanted, wanted.isEmpty { return result }
            selected.reserveCapacity(wanted?.count ?? Int(block.count))
            var nextWanted = wanted?.startIndex ?? 0
            let skipped = segment.skippedOrdinals
            var nextSkipped = segment.firstSkipped(atOrAfter: block.firstOrdinal)
            let table = block.lineTable
            marks.reserveCapacity(Int(block.count) / Int(LineTable.markInterval) + 1)
            let valid = index.lineTables.withUnsafeBufferPointer { tables in
                LineTable.decode(
                    UnsafeBufferPointer(rebasing: tables[Int(table.lowerBound)..<Int(table.upperBound)]),
                    count: Int(block.count), marks: &marks
                ) { line, time in
                    let ordinal = block.firstOrdinal + UInt32(line)
                    if let wanted {
                        guard nextWanted < wanted.endIndex else { return false }
                        if wanted[nextWanted] != ordinal { return true }
                        nextWanted += 1
                    }
                    // Late records are reached through their own candidates;
                    // damaged lines are known already.
                    while nextSkipped < skipped.count && skipped[nextSkipped] < ordinal { nextSkipped += 1 }
                    if nextSkipped < skipped.count && skipped[nextSkipped] == ordinal { return true }
                    if query.includes(time: time) { selected.append((line, time)) }
                    return true
                }
            }
            if !valid {
                return BlockScan(damaged: block.ordinals.map { ($0, "the index's line table of its block is damaged") })
            }
            if selected.isEmpty { return result }
        }

        // Where each selected line is: from the mark at or before it, or
        // from the end of the line before, whichever is nearer.
        result.matches.reserveCapacity(selected.count)
        let compressed = !(segment.contents is SegmentContents)
        // Finds the selected lines in `all`, whose first byte is at plain offset `base`.
        func find(in all: UnsafeBufferPointer<UInt8>, base: Int) {
            do {
                let blockStart = Int(block.offset) - base
                let blockEnd = min(blockStart + Int(block.length), all.count)
                // Its bytes against its checksum, once per reader: a block
                // that fails gives the lines that are as they were, each
                // checked strictly as it goes out, and names the others.
                let outcome =
                    index.checks?.outcome(of: blockNumber) {
                        let start = min(blockStart, all.count)
                        return BlockChecks.check(
                            UnsafeBufferPointer(rebasing: all[start..<max(start, blockEnd)]), of: block, in: index.index)
                    } ?? .intact
                if case .changed(let changed) = outcome {
                    result.damaged += changed.damaged
                    for (line, time) in selected {
                        guard let range = changed.lines[line] else { continue }  // named above
                        let start = blockStart + range.lowerBound
                        let end = blockStart + range.upperBound
                        if let needle, !Self.contains(UnsafeBufferPointer(rebasing: all[start..<end]), needle) { continue }
                        result.matches.append(
                            Found(
                                time: time, seq: index.base + UInt64(block.firstOrdinal) + UInt64(line), offset: start,
                                length: Int32(end - start), segment: Int32(candidate.segment), pin: -1, strict: true))
                    }
                    return
                }
                var at = (line: 0, offset: blockStart)
                if let late { at = (Int(late.ordinal - block.firstOrdinal), blockStart + Int(late.offset)) }
                for (line, time) in selected {
                    let mark = line / Int(LineTable.markInterval)
                    if mark < marks.count && mark * Int(LineTable.markInterval) > at.line {
                        at = (mark * Int(LineTable.markInterval), blockStart + Int(marks[mark]))
                    }
                    var end = -1
                    while true {
                        guard at.offset < blockEnd, let newline = SegmentContents.firstNewline(in: all, from: at.offset),
                            newline < blockEnd
                        else { break }
                        if at.line == line {
                            end = newline
                            break
                        }
                        at = (at.line + 1, newline + 1)
                    }
                    let ordinal = block.firstOrdinal + UInt32(line)
                    guard end >= 0 else {
                        result.damaged.append((ordinal, "the segment ends before the line its index places here"))
                        continue
                    }
                    let start = at.offset
                    at = (line + 1, end + 1)
                    if let needle, !Self.contains(UnsafeBufferPointer(rebasing: all[start..<end]), needle) { continue }
                    result.matches.append(
                        Found(
                            time: time, seq: index.base + UInt64(ordinal), offset: start, length: Int32(end - start),
                            segment: Int32(candidate.segment), pin: -1))
                }
            }
        }
        do throws(StoaError) {
            if compressed {
                // The records found point into the bytes held: kept (pinned)
                // while they are handed out.
                let held = try segment.contents.bytes(holding: block)
                result.member = held.bytes
                held.bytes.withUnsafeBufferPointer { find(in: $0, base: held.base) }
            } else {
                try segment.contents.withBlock(block, find)
            }
        } catch {
            // A damaged member: its records are reported, the query goes on.
            return BlockScan(damaged: block.ordinals.map { ($0, error.description) })
        }
        return result
    }

    static func contains(_ line: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        needle.withUnsafeBufferPointer { n in
            stoa_memmem(line.baseAddress, line.count, n.baseAddress, n.count) != nil
        }
    }
}
