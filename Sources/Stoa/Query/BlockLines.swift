/// One line of a block as a walk in seq order finds it: a record, or a line
/// that is not one (and why).
enum BlockLine {
    case record(Record)
    case damaged(DamagedLine)
}

extension IndexedSegment {
    /// The lines of block `number` with seq at or after `first`, in seq order, as
    /// records or as damaged lines: for reads that walk a store by seq
    /// (``StoreReader/last(_:)``, following), not by time.
    ///
    /// Nothing read from the segment file is trusted to match its index: a
    /// line the index places past the end of the file, or whose newline is
    /// not where the block ends (bytes changed in place after sealing), is a
    /// damaged line, as is a line that is not a valid record; a gzip member
    /// that cannot be inflated makes every line of its block damaged.
    ///
    /// Only for a loaded segment (see ``loaded()``).
    func lines(ofBlock number: Int, from first: UInt64, encoder: RecordEncoder) throws(StoaError) -> [BlockLine] {
        let parts = loadedParts
        let index = parts.index
        let block = index.blocks[number]
        let path = self.path
        let known = Dictionary(index.damaged.map { ($0.ordinal, $0.reason) }, uniquingKeysWith: { first, _ in first })
        func damaged(_ ordinal: UInt32, _ reason: String) -> BlockLine {
            .damaged(DamagedLine(path: path, line: Int(ordinal) + 1, seq: index.base + UInt64(ordinal), reason: reason))
        }
        /// The line as a record, or why it is not one. `strictly`: its block
        /// failed its checksum, so the line is checked by the scanner appends
        /// use; otherwise it is the valid record it was when indexed, and
        /// read by the fast scan, as a query reads it.
        func record(_ ordinal: UInt32, _ line: UnsafeBufferPointer<UInt8>, strictly: Bool) -> BlockLine {
            do throws(StoaError) {
                let facts = try strictly ? encoder.facts(ofLine: line) : encoder.facts(ofStoredLine: line)
                return .record(Record(seq: index.base + UInt64(ordinal), facts: facts, bytes: Array(line)))
            } catch {
                return damaged(ordinal, "not a valid record: \(error.message)")
            }
        }
        // The block's lines from `first` on: a range, so that `contains` is cheap.
        let skipped = first > index.base ? min(first - index.base, UInt64(block.ordinals.upperBound)) : 0
        let wanted = max(block.ordinals.lowerBound, UInt32(skipped))..<block.ordinals.upperBound
        guard !wanted.isEmpty else { return [] }
        let read: [BlockLine]
        do throws(StoaError) {
            read = try contents.withBlock(block) { all, base in
                var result: [BlockLine] = []
                result.reserveCapacity(wanted.count)
                let blockStart = Int(block.offset) - base
                let blockEnd = min(blockStart + Int(block.length), all.count)
                // Its bytes against its checksum (once per reader, as a query
                // checks them): a block that fails gives the lines that are
                // as they were, and names the others.
                let outcome =
                    parts.checks?.outcome(of: number) {
                        let start = min(max(blockStart, 0), all.count)
                        return BlockChecks.check(
                            UnsafeBufferPointer(rebasing: all[start..<max(start, blockEnd)]), of: block, in: index)
                    } ?? .intact
                if case .changed(let changed) = outcome {
                    let reasons = Dictionary(changed.damaged.map { ($0.ordinal, $0.reason) }, uniquingKeysWith: { a, _ in a })
                    for (line, range) in changed.lines.enumerated() {
                        let ordinal = block.firstOrdinal + UInt32(line)
                        guard wanted.contains(ordinal) else { continue }
                        guard let range else {
                            result.append(damaged(ordinal, reasons[ordinal] ?? "not as it was when the segment was indexed"))
                            continue
                        }
                        let bytes = UnsafeBufferPointer(rebasing: all[(blockStart + range.lowerBound)..<(blockStart + range.upperBound)])
                        result.append(record(ordinal, bytes, strictly: true))
                    }
                    return result
                }
                var start = blockStart
                for ordinal in block.ordinals {
                    guard start >= 0, start < blockEnd,
                        let newline = SegmentContents.firstNewline(in: all, from: start), newline < blockEnd
                    else {
                        // The bytes end (or the block's newlines end) before
                        // the lines the index counts: the rest is not readable.
                        for rest in ordinal..<block.ordinals.upperBound where wanted.contains(rest) {
                            result.append(damaged(rest, "the segment ends before the line its index places here"))
                        }
                        break
                    }
                    defer { start = newline + 1 }
                    guard wanted.contains(ordinal) else { continue }
                    if let reason = known[ordinal] {
                        result.append(damaged(ordinal, reason))
                        continue
                    }
                    result.append(record(ordinal, UnsafeBufferPointer(rebasing: all[start..<newline]), strictly: false))
                }
                return result
            }
        } catch {
            // A damaged gzip member: its lines are reported, the walk goes on.
            return wanted.map { damaged($0, error.description) }
        }
        return read
    }
}
