extension StoreReader {
    /// What a sealed segment read without a valid `.idx` has lost, as notes
    /// a query names: an unfinished last line (the file cut short), lines
    /// its `.idx` — stale now, of another size — says it held and it no
    /// longer does, an empty compressed file.
    ///
    /// - Parameters:
    ///   - index: what reading the segment found.
    ///   - unfinishedBytes: bytes after its last newline.
    static func losses(of file: SegmentFile, read index: SegmentIndex, unfinishedBytes: Int, fileSize: Int) -> [DamagedLine] {
        var notes: [DamagedLine] = []
        var lines = index.lineCount
        if unfinishedBytes > 0 {
            notes.append(
                DamagedLine(
                    path: file.path, line: Int(lines) + 1, seq: file.base + UInt64(lines),
                    reason: "unfinished last line (\(unfinishedBytes) bytes, no newline): the sealed segment was cut short or changed"))
            lines += 1
        }
        // The .idx the segment had, whatever its size: how many lines it held.
        let stale = (try? OpenFile(readingAt: file.indexPath).readAll()).flatMap { IndexFile.decode($0) }
        let expected = stale.flatMap { $0.index.base == file.base && !$0.isPartial ? $0.index.lineCount : nil }
        if let expected, expected > lines {
            let first = file.base + UInt64(lines)
            let last = file.base + UInt64(expected) - 1
            notes.append(
                DamagedLine(
                    path: file.path, line: Int(lines) + 1, seq: first,
                    reason: "the segment holds \(index.lineCount) lines, its .idx says \(expected): "
                        + (first == last ? "seq \(first) is" : "seqs \(first)–\(last) are")
                        + " missing (lines cut off or removed; after a removed line, seqs are off by as many)"))
        } else if fileSize == 0 && file.name.kind == .gzip {
            notes.append(
                DamagedLine(
                    path: file.path, line: 1, seq: file.base,
                    reason: "the file is empty (a compressed segment never is): its records are lost"))
        }
        return notes
    }
}

extension StoreReader {
    /// The `.idx` beside a sealed segment read without a valid one, when it
    /// is the record of what was sealed: it decodes (its CRC, this format
    /// version), is whole (not a checkpoint), and is of this segment (its
    /// base, its tier). Such an `.idx` that disagrees with the file is the
    /// evidence of a change since sealing: a reader never replaces it. nil
    /// when there is none or it is unusable for other reasons (a reader may
    /// then write the `.idx` it rebuilt).
    static func sealedRecord(of file: SegmentFile) -> IndexFile? {
        guard let bytes = try? OpenFile(readingAt: file.indexPath).readAll(), let record = IndexFile.decode(bytes),
            !record.isPartial, record.index.base == file.base, record.isCompressed == (file.name.kind == .gzip)
        else { return nil }
        return record
    }

    /// The note naming a segment that differs from its sealed `.idx`
    /// (`record`); nil when they agree. `digest`: the SHA-256 of its plain
    /// bytes, when it was computed.
    static func changedSinceSealing(
        _ file: SegmentFile, record: IndexFile, fileSize: Int, read index: SegmentIndex, digest: [UInt8]?
    ) -> DamagedLine? {
        let sameDigest = digest.map { $0 == record.digest } ?? true
        guard record.fileBytes != UInt64(fileSize) || record.index.lineCount != index.lineCount || !sameDigest else { return nil }
        func short(_ digest: [UInt8]) -> String { Array(digest.prefix(8)).hexString + "…" }
        let has = "\(fileSize) bytes" + (digest.map { " / digest \(short($0))" } ?? "") + ", \(index.lineCount) lines"
        return DamagedLine(
            path: file.path, line: 1, seq: file.base,
            reason: "changed since it was sealed: its .idx says \(record.fileBytes) bytes / digest \(short(record.digest)), "
                + "\(record.index.lineCount) lines, the file has \(has) (the .idx is kept as the evidence; "
                + "the lines that pass their checks are served)")
    }
}

extension StoreReader {
    /// A sealed segment that cannot be read, in a query's place: no records,
    /// and a note of why (the seqs it held are named as missing too, up to
    /// the next segment).
    static func unreadable(_ file: SegmentFile, _ error: StoaError) -> IndexedSegment {
        let note = DamagedLine(path: file.path, line: 1, seq: file.base, reason: "\(error.description); its records cannot be read")
        return IndexedSegment(
            name: file.name, index: SegmentIndex(base: file.base), contents: SegmentContents(path: file.path, bytes: [], count: 0),
            isSealed: true, notes: [note])
    }
}

/// A gap in the seqs between two segments, as a query names it.
extension DamagedLine {
    /// The seqs from the end of `before` to the base of `after` are in no segment.
    init(gapAfter before: IndexedSegment, before after: IndexedSegment) {
        let first = before.summary.end
        let last = after.summary.base - 1
        self.init(
            path: before.path, line: Int(before.summary.lineCount) + 1, seq: first,
            reason: (first == last ? "seq \(first) is" : "seqs \(first)–\(last) are")
                + " missing: in no segment between this one and \(Path.lastComponent(of: after.path)) (a segment or lines removed)")
    }
}
