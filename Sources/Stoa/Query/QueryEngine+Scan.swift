import CStoaSystem
#if canImport(Glibc)
import Glibc
#endif

// The block scan: what a query reads of one block (or one late record),
// from its arguments only.
extension QueryEngine {
    /// What scanning one candidate (or a batch of blocks) found.
    struct BlockScan: Sendable {
        /// Its matches, in seq order (newest-first: in reverse).
        var matches: [Found] = []
        /// For a compressed segment, the inflated member they point into.
        var member: [UInt8] = []
        /// Lines that turned out not to be valid records, with why.
        var damaged: [(ordinal: UInt32, reason: String)] = []
    }

    /// What a block scan works in, kept from one scan to the next so that
    /// each does not allocate it again: the lines wanted and selected, and
    /// the marks passed (see ``LineTable``).
    struct Scratch {
        var selected: [(line: Int, time: Int64)] = []
        var marks: [UInt32] = []
        /// The lines the postings name, by their number in the block.
        var wanted: [UInt32] = []
        /// With several types: their lines, before they are sorted.
        var union: [UInt32] = []
    }

    /// What a scan of a planned segment's blocks needs beyond the query:
    /// the wanted types' numbers in its index, and where the walks through
    /// their postings are (a batch of blocks walks each list once).
    struct BlockFilter {
        var types: [UInt32]?
        /// (Made by the first block that walks the postings.)
        var positions: [Postings.Position?] = []

        init(types: [UInt32]?) { self.types = types }
    }

    /// Finds the matches of a candidate, reading nothing but its arguments.
    ///
    /// A block's records are picked by its line table (time, line starts)
    /// and its postings (type, conversation), and only their lines are read
    /// — found, not parsed; ``hand(_:_:to:)`` parses each as it goes out.
    static func scan(
        _ candidate: Candidate, of segment: IndexedSegment, conversationBlock: (number: Int, lines: ArraySlice<UInt32>)?,
        types: [UInt32]?, query: Query, needle: [UInt8]?, scratch: inout Scratch
    ) -> BlockScan {
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
        var result = BlockScan()
        var filter = BlockFilter(types: types)
        let index = segment.loadedParts
        let block = index.blocks[blockNumber]
        if let late {
            scratch.selected.removeAll(keepingCapacity: true)
            scratch.selected.append((Int(late.ordinal - block.firstOrdinal), candidate.time))
        } else if !pickLines(
            blockNumber, of: segment, conversationLines: conversationBlock?.lines, filter: &filter, query: query,
            scratch: &scratch, into: &result)
        {
            return result
        }
        do throws(StoaError) {
            if segment.contents is SegmentContents {
                try segment.contents.withBlock(block) { all, base in
                    find(
                        in: all, base: base, block: blockNumber, late: late, of: segment, number: candidate.segment, needle: needle,
                        scratch: &scratch, into: &result)
                }
            } else {
                // The records found point into the bytes held: kept (pinned)
                // while they are handed out.
                let held = try segment.contents.bytes(holding: block)
                result.member = held.bytes
                held.bytes.withUnsafeBufferPointer { all in
                    find(
                        in: all, base: held.base, block: blockNumber, late: late, of: segment, number: candidate.segment,
                        needle: needle, scratch: &scratch, into: &result)
                }
            }
        } catch {
            // A damaged member: its records are reported, the query goes on.
            return BlockScan(damaged: block.ordinals.map { ($0, error.description) })
        }
        return result
    }

    /// Puts in `scratch.wanted` the lines of block `number` of `segment`
    /// that its postings name (by their number in the block): those of the
    /// wanted types (`filter`), of the wanted conversation
    /// (`conversationLines`, the block's lines of it), or of both; false
    /// when there are none. With neither wanted: true, and none.
    ///
    /// The walks through the types' postings go on from where `filter`
    /// says they are, and are left there.
    static func gatherWanted(
        _ number: Int, of segment: IndexedSegment, conversationLines: ArraySlice<UInt32>?, filter: inout BlockFilter,
        scratch: inout Scratch
    ) -> Bool {
        let index = segment.loadedParts
        let block = index.blocks[number]
        var wanted = scratch.wanted
        scratch.wanted = []
        wanted.removeAll(keepingCapacity: true)
        defer { scratch.wanted = wanted }
        if let conversationLines, conversationLines.isEmpty { return false }
        let first = block.firstOrdinal
        if let types = filter.types {
            if filter.positions.count != types.count { filter.positions = Array(repeating: nil, count: types.count) }
            for (k, type) in types.enumerated() {
                index.typePostings[Int(type)].forEach(in: block.ordinals, resuming: &filter.positions[k]) {
                    wanted.append($0 &- first)
                    return true
                }
            }
            if types.count > 1 { wanted.sort() }
            if let conversationLines {
                // With a conversation as well: its lines of those types (both
                // lists ascend).
                var both = scratch.union
                both.removeAll(keepingCapacity: true)
                var next = 0
                for ordinal in conversationLines {
                    let line = ordinal &- first
                    while next < wanted.count && wanted[next] < line { next += 1 }
                    if next < wanted.count && wanted[next] == line { both.append(line) }
                }
                scratch.union = wanted
                wanted = both
            }
            return !wanted.isEmpty
        } else if let conversationLines {
            for ordinal in conversationLines { wanted.append(ordinal &- first) }
        }
        return true
    }

    /// Selects the lines of block `number` of `segment` that may match
    /// (time in the window, of a wanted type or conversation, neither late
    /// nor damaged) into `scratch.selected`, with their times, and the
    /// block's marks into `scratch.marks`; false when none are (a damaged
    /// line table: its lines are named in `result`).
    ///
    /// `conversationLines`: the block's lines of the wanted conversation;
    /// `filter`: the wanted types, and where the walks through their
    /// postings are (a walk goes on from there when the blocks come in
    /// order).
    static func pickLines(
        _ number: Int, of segment: IndexedSegment, conversationLines: ArraySlice<UInt32>?, filter: inout BlockFilter,
        query: Query, scratch: inout Scratch, into result: inout BlockScan
    ) -> Bool {
        guard gatherWanted(number, of: segment, conversationLines: conversationLines, filter: &filter, scratch: &scratch) else {
            return false
        }
        let sparse = filter.types != nil || conversationLines != nil
        let index = segment.loadedParts
        let block = index.blocks[number]
        // (Taken out of `scratch` and put back, so that the closures below
        // do not reach into it.)
        var selected = scratch.selected
        var marks = scratch.marks
        let wanted = scratch.wanted
        scratch.selected = []
        scratch.marks = []
        selected.removeAll(keepingCapacity: true)
        defer {
            scratch.selected = selected
            scratch.marks = marks
        }

        // Late records are reached through their own candidates; damaged
        // lines are known already.
        let first = block.firstOrdinal
        let skipped = segment.skippedOrdinals
        var nextSkipped = segment.firstSkipped(atOrAfter: first)
        let range = block.lineTable
        // (Each closure below does its own work: a local function they both
        // called would box the variables it takes, checked at each access.)
        let valid = index.lineTables.withUnsafeBufferPointer { tables in
            let table = UnsafeBufferPointer(rebasing: tables[Int(range.lowerBound)..<Int(range.upperBound)])
            if !sparse {
                selected.reserveCapacity(Int(block.count))
                marks.reserveCapacity(Int(block.count) / Int(LineTable.markInterval) + 1)
                return LineTable.decode(table, count: Int(block.count), marks: &marks) { line, time in
                    let ordinal = first + UInt32(line)
                    while nextSkipped < skipped.count && skipped[nextSkipped] < ordinal { nextSkipped += 1 }
                    if nextSkipped < skipped.count && skipped[nextSkipped] == ordinal { return true }
                    if query.includes(time: time) { selected.append((line, time)) }
                    return true
                }
            }
            return wanted.withUnsafeBufferPointer { lines in
                LineTable.decode(table, count: Int(block.count), lines: lines, marks: &marks) { line, time in
                    let ordinal = first + UInt32(line)
                    while nextSkipped < skipped.count && skipped[nextSkipped] < ordinal { nextSkipped += 1 }
                    if nextSkipped < skipped.count && skipped[nextSkipped] == ordinal { return }
                    if query.includes(time: time) { selected.append((line, time)) }
                }
            }
        }
        if !valid {
            result.damaged += block.ordinals.map { ($0, "the index's line table of its block is damaged") }
            return false
        }
        return !selected.isEmpty
    }

    /// Finds the lines ``pickLines(_:of:conversationLines:filter:query:scratch:into:)``
    /// selected of block `blockNumber` (or the late record `late` of it) in
    /// `all`, the bytes holding the block, whose first byte is at plain
    /// offset `base`, and appends them to `result` as matches of segment
    /// `number`: each from the mark at or before it, or from the end of
    /// the line before, whichever is nearer.
    ///
    /// The block's bytes are checked against its checksum first, once per
    /// reader: a block that fails gives the lines that are as they were,
    /// each checked strictly as it goes out, and names the others.
    static func find(
        in all: UnsafeBufferPointer<UInt8>, base: Int, block blockNumber: Int, late: (ordinal: UInt32, offset: UInt32)?,
        of segment: IndexedSegment, number: Int, needle: [UInt8]?, scratch: inout Scratch, into result: inout BlockScan
    ) {
        let index = segment.loadedParts
        let block = index.blocks[blockNumber]
        let blockStart = Int(block.offset) - base
        let blockEnd = min(blockStart + Int(block.length), all.count)
        let outcome = index.checks?.outcome(of: blockNumber) { check(blockNumber, of: segment, in: all, base: base) } ?? .intact
        let firstSeq = index.base + UInt64(block.firstOrdinal)
        if case .changed(let changed) = outcome {
            result.damaged += changed.damaged
            for (line, time) in scratch.selected {
                guard let range = changed.lines[line] else { continue }  // named above
                let start = blockStart + range.lowerBound
                let end = blockStart + range.upperBound
                if let needle, !Self.contains(UnsafeBufferPointer(rebasing: all[start..<end]), needle) { continue }
                result.matches.append(
                    Found(
                        time: time, seq: firstSeq + UInt64(line), offset: start, length: Int32(end - start),
                        segment: Int32(number), pin: -1, strict: true))
            }
            return
        }
        // Room for them all at once (a block's hundred records, for a window).
        let needed = result.matches.count + scratch.selected.count
        if result.matches.capacity < needed { result.matches.reserveCapacity(max(needed, result.matches.capacity * 2)) }
        var at = (line: 0, offset: blockStart)
        if let late { at = (Int(late.ordinal - block.firstOrdinal), blockStart + Int(late.offset)) }
        let marks = scratch.marks
        let interval = Int(LineTable.markInterval)
        for (line, time) in scratch.selected {
            let mark = line / interval
            if mark < marks.count && mark * interval > at.line {
                at = (mark * interval, blockStart + Int(marks[mark]))
            }
            guard let end = Self.walk(to: line, from: &at, in: all, before: blockEnd) else {
                result.damaged.append((block.firstOrdinal + UInt32(line), "the segment ends before the line its index places here"))
                continue
            }
            let start = at.offset
            at = (line + 1, end + 1)
            if let needle, !Self.contains(UnsafeBufferPointer(rebasing: all[start..<end]), needle) { continue }
            result.matches.append(
                Found(
                    time: time, seq: firstSeq + UInt64(line), offset: start, length: Int32(end - start), segment: Int32(number),
                    pin: -1))
        }
    }

    /// Walks forward from `at` (a line of the block and where it starts in
    /// `all`) to line `line`, newline by newline, leaving `at` at its start;
    /// where its newline is, or nil when the block (its bytes end at
    /// `blockEnd`) ends first.
    @inline(__always)
    static func walk(
        to line: Int, from at: inout (line: Int, offset: Int), in all: UnsafeBufferPointer<UInt8>, before blockEnd: Int
    ) -> Int? {
        while at.offset < blockEnd, let newline = SegmentContents.firstNewline(in: all, from: at.offset), newline < blockEnd {
            if at.line == line { return newline }
            at = (at.line + 1, newline + 1)
        }
        return nil
    }

    /// Checks the bytes of block `number` of `segment` in `all`, whose first
    /// byte is at plain offset `base`, against its checksum
    /// (``BlockChecks/check(_:of:in:lineChecks:)``).
    static func check(_ number: Int, of segment: IndexedSegment, in all: UnsafeBufferPointer<UInt8>, base: Int = 0)
        -> BlockChecks.Outcome
    {
        let index = segment.loadedParts
        let block = index.blocks[number]
        let start = min(Int(block.offset) - base, all.count)
        let end = min(Int(block.offset) - base + Int(block.length), all.count)
        return BlockChecks.check(UnsafeBufferPointer(rebasing: all[start..<max(start, end)]), of: block, in: index.index)
    }

    /// A batch's reading of a plain segment's blocks for the few lines of
    /// each that are of the wanted types, parsed as they are found: what
    /// it needs of the segment, taken once for the batch, not once a block.
    ///
    /// Their times are read from the lines, which are parsed anyway, so a
    /// block's line table is walked for its marks only and its times are
    /// not decoded (``LineTable/forEachMark(_:count:lines:_:)``). Only for
    /// blocks that matched their checksums: a line is then the record it
    /// was when indexed.
    struct TypedLines {
        let segment: IndexedSegment
        /// Its number in the query.
        let number: Int
        let blocks: [IndexBlock]
        let base: UInt64
        /// Its lines passed over: the late records, reached through their
        /// own candidates, and the damaged lines, known already.
        let skipped: [UInt32]
        /// The wanted types' postings, and where the walk through each is.
        let postings: [Postings]
        var positions: [Postings.Position?]
        var nextSkipped = 0
        /// The lines of the block at hand that are of the wanted types.
        var lines: [UInt32]
        /// What a line found is checked by, held by reference: each block
        /// copied them (their arrays and strings) for its closure, 5% of a
        /// type query.
        let checks: Checks

        final class Checks {
            let wanted: Wanted
            let encoder: RecordEncoder
            let needle: [UInt8]?

            init(wanted: Wanted, encoder: RecordEncoder, needle: [UInt8]?) {
                self.wanted = wanted
                self.encoder = encoder
                self.needle = needle
            }
        }

        /// `postings`: the wanted types'.
        init(
            _ segment: IndexedSegment, number: Int, postings: [Postings], wanted: Wanted, encoder: RecordEncoder,
            needle: [UInt8]?, lines: [UInt32]
        ) {
            let parts = segment.loadedParts
            self.segment = segment
            self.number = number
            blocks = parts.blocks
            base = parts.base
            skipped = parts.skippedOrdinals
            self.postings = postings
            positions = postings.count == 1 ? [nil] : Array(repeating: nil, count: postings.count)
            self.lines = lines
            checks = Checks(wanted: wanted, encoder: encoder, needle: needle)
        }

        /// Finds the lines of block `number` that are of the wanted types,
        /// in `all` (the segment's bytes), and appends those that match to
        /// `result`, each with its facts (``Found/parsed``). `tables`: the
        /// index's line tables.
        ///
        /// A line is a match if its time is in the window (and it holds the
        /// needle). One that does not parse, or whose time is not in its
        /// block's span, or whose type is not the one its postings say, is
        /// not the record the index describes, and is named in `result`; so
        /// are the block's lines when its line table is damaged.
        mutating func find(
            _ number: Int, in all: UnsafeBufferPointer<UInt8>, tables: UnsafeBufferPointer<UInt8>, into result: inout BlockScan
        ) {
            let block = blocks[number]
            let first = block.firstOrdinal
            // (Taken out of `self` and put back: the closures below reach
            // into them, not into `self`.)
            var lines = self.lines
            self.lines = []
            defer { self.lines = lines }
            lines.removeAll(keepingCapacity: true)
            let postings = self.postings
            for k in postings.indices {
                postings[k].forEach(in: block.ordinals, resuming: &positions[k]) {
                    lines.append($0 &- first)
                    return true
                }
            }
            if lines.isEmpty { return }
            if postings.count > 1 { lines.sort() }
            // (The walks through the skipped lines go on from block to
            // block, oldest first; newest first, each starts again.)
            let skipped = self.skipped
            var nextSkipped = self.nextSkipped
            defer { self.nextSkipped = nextSkipped }
            if nextSkipped > 0 && (nextSkipped > skipped.count || skipped[nextSkipped - 1] >= first) { nextSkipped = 0 }
            nextSkipped = gallop(from: nextSkipped, to: skipped.count) { skipped[$0] < first }
            let blockStart = Int(block.offset)
            let blockEnd = min(blockStart + Int(block.length), all.count)
            let firstSeq = base + UInt64(first)
            let checks = self.checks
            let query = checks.wanted.query
            var at = (line: 0, offset: blockStart)
            let found = result.matches.count
            let table = UnsafeBufferPointer(rebasing: tables[Int(block.lineTable.lowerBound)..<Int(block.lineTable.upperBound)])
            let segmentNumber = Int32(self.number)
            let valid = lines.withUnsafeBufferPointer { lines in
                LineTable.forEachMark(table, count: Int(block.count), lines: lines) { line, mark, nextMark in
                    let ordinal = first + UInt32(line)
                    while nextSkipped < skipped.count && skipped[nextSkipped] < ordinal { nextSkipped += 1 }
                    if nextSkipped < skipped.count && skipped[nextSkipped] == ordinal { return }
                    // From its mark, or from the end of the line before,
                    // whichever is nearer; or back from the next mark.
                    let interval = Int(LineTable.markInterval)
                    let markLine = line & ~(interval - 1)
                    if markLine > at.line { at = (markLine, blockStart + Int(mark)) }
                    var start = -1
                    var end = -1
                    if let nextMark, markLine + interval - line < line - at.line + 1,
                        let (first, newline) = Self.lineBack(
                            interval - (line - markLine), from: blockStart + Int(nextMark), after: blockStart + Int(mark), in: all)
                    {
                        (start, end) = (first, newline)
                    } else {
                        guard let newline = QueryEngine.walk(to: line, from: &at, in: all, before: blockEnd) else {
                            result.damaged.append((ordinal, "the segment ends before the line its index places here"))
                            return
                        }
                        (start, end) = (at.offset, newline)
                    }
                    at = (line + 1, end + 1)
                    // Parsed now: kept if it is a match.
                    let text = UnsafeBufferPointer(rebasing: all[start..<end])
                    let facts: LineFacts
                    do throws(StoaError) {
                        facts = try checks.encoder.facts(ofStoredLine: text)
                    } catch {
                        result.damaged.append((ordinal, error.message))
                        return
                    }
                    guard facts.time >= block.minTime && facts.time <= block.maxTime && checks.wanted.hasType(facts, text) else {
                        result.damaged.append(
                            (ordinal, "not the record the segment's index describes (changed since it was indexed?)"))
                        return
                    }
                    guard query.includes(time: facts.time) else { return }
                    if let needle = checks.needle, !QueryEngine.contains(text, needle) { return }
                    result.matches.append(
                        Found(
                            time: facts.time, seq: firstSeq + UInt64(line), offset: start, length: Int32(end - start),
                            segment: segmentNumber, pin: -1, parsed: ParsedFacts(facts)))
                }
            }
            if !valid {
                result.matches.removeSubrange(found...)
                result.damaged += block.ordinals.map { ($0, "the index's line table of its block is damaged") }
            }
        }

        /// The line `back` lines before `end` (the start of a line, or the
        /// end of the block) in `all`, found backwards: where it starts and
        /// where its newline is; nil when the newlines are not there, none
        /// before `floor` (the start of a line) counted.
        static func lineBack(_ back: Int, from end: Int, after floor: Int, in all: UnsafeBufferPointer<UInt8>) -> (Int, Int)? {
            guard end > floor, end <= all.count, all[end - 1] == UInt8(ascii: "\n") else { return nil }
            let base = all.baseAddress!
            var newline = end - 1
            for _ in 1..<max(back, 1) {
                guard let found = stoa_memrchr(base + floor, 0x0A, newline - floor) else { return nil }
                newline = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
            }
            guard let found = stoa_memrchr(base + floor, 0x0A, newline - floor) else { return (floor, newline) }
            return (base.distance(to: found.assumingMemoryBound(to: UInt8.self)) + 1, newline)
        }
    }

    /// The types and conversation a query wants, to check a record's
    /// against by their bytes, without making strings of them.
    struct Wanted {
        let query: Query
        /// The wanted types' and conversation's UTF-8 bytes.
        let typeNames: [[UInt8]]
        let conversationName: [UInt8]?

        init(_ query: Query) {
            self.query = query
            typeNames = query.types.map { Array($0.utf8) }
            conversationName = query.conversation.map { Array($0.utf8) }
        }

        /// Whether the record of `line` is of a wanted type (with no types
        /// wanted, yes).
        @inline(__always)
        func hasType(_ facts: LineFacts, _ line: UnsafeBufferPointer<UInt8>) -> Bool {
            if typeNames.isEmpty { return true }
            if !facts.typeEscaped {
                let type = facts.type.map { UnsafeBufferPointer(rebasing: line[$0]) } ?? UnsafeBufferPointer(start: nil, count: 0)
                var undecided = false
                for name in typeNames {
                    switch Self.spells(type, name) {
                    case true?: return true
                    case false?: continue
                    case nil: undecided = true
                    }
                }
                if !undecided { return false }
            }
            return query.types.contains(facts.type(in: line))
        }

        /// Whether the record of `line` is of the wanted conversation (with
        /// none wanted, yes).
        @inline(__always)
        func hasConversation(_ facts: LineFacts, _ line: UnsafeBufferPointer<UInt8>) -> Bool {
            guard let conversationName else { return true }
            guard let range = facts.conversation else { return false }
            if !facts.conversationEscaped, let same = Self.spells(UnsafeBufferPointer(rebasing: line[range]), conversationName) {
                return same
            }
            return facts.conversation(in: line) == query.conversation
        }

        /// Whether the UTF-8 bytes `text` make the string `name` (UTF-8), as
        /// `String`'s `==` says, when the bytes alone tell: when they are the
        /// same, or both ASCII (`==` compares by canonical equivalence, so
        /// other bytes may make the same string: U+212A KELVIN SIGN is "K").
        /// Nil when they do not tell.
        @inline(__always)
        static func spells(_ text: UnsafeBufferPointer<UInt8>, _ name: [UInt8]) -> Bool? {
            name.withUnsafeBufferPointer { name in
                if text.count == name.count && (text.count == 0 || memcmp(text.baseAddress!, name.baseAddress!, text.count) == 0) {
                    return true
                }
                for byte in text where byte >= 0x80 { return nil }
                for byte in name where byte >= 0x80 { return nil }
                return false
            }
        }
    }

    static func contains(_ line: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        needle.withUnsafeBufferPointer { n in
            stoa_memmem(line.baseAddress, line.count, n.baseAddress, n.count) != nil
        }
    }
}
