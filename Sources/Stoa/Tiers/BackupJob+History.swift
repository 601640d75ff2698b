#if canImport(Glibc)
import Glibc
#endif

// The proof that a backup holds no history the store no longer has: each
// segment both hold the same, the copy of what was active a prefix of the
// store's segment.
extension BackupJob {
    /// Refuses to change a backup that holds records the store no longer
    /// has: the store was cut back (its newest segments removed, its active
    /// segment cut or rewritten) or reset since the last backup, or the
    /// backup was written to. Each segment both hold must be the same (the
    /// same file, or the same SHA-256 of its plain bytes), except the
    /// backup's copy of what was the active segment, which the store's
    /// segment must start with; the backup must hold no segment the store
    /// does not have at or after the store's oldest (older ones expired in
    /// the store, and a backup keeps them).
    ///
    /// - Returns: how many segments were found the same (0 proves nothing
    ///   about which store the backup is of).
    /// - Throws: `.diverged`, naming every difference, before anything is
    ///   written: the backup is left as it is.
    mutating func checkSameHistory(
        _ files: [SegmentFile], existing: [UInt64: [SegmentFile]], recopy: UInt64?
    ) throws(StoaError) -> Int {
        var differences: [String] = []
        var same = 0
        var bases = Set(files.map(\.base))
        if existing.keys.contains(where: { !bases.contains($0) }) {
            // A listing that raced a tier move may miss a segment: list again before calling it gone.
            bases.formUnion(try source.listAllSegments().map(\.base))
        }
        let oldest = files.first?.base
        for (base, forms) in existing.sorted(by: { $0.key < $1.key }) where !bases.contains(base) {
            guard let form = forms.first else { continue }
            if let oldest, base < oldest {
                // Expired in the store: kept, if it ends where the store's oldest begins (or before).
                if let end = try? endSeq(of: form), end > oldest {
                    differences.append(
                        "\(relativePath(form)) holds seqs \(base) to \(end - 1), but the store's oldest segment starts at seq \(oldest)")
                }
            } else {
                differences.append(
                    "\(relativePath(form)) holds seqs from \(base) on, but the store has no segment starting there"
                        + (files.isEmpty ? " (it has no segments)" : " (its newest starts at seq \(files.last!.base))"))
            }
        }
        for file in files {
            guard let forms = existing[file.base] else { continue }
            for form in forms {
                let difference: String?
                if form.base == recopy && form.name.kind == .plain && !form.isCold {
                    difference = try checkExtends(form, by: file)
                } else {
                    difference = try checkSame(form, as: file)
                }
                if let difference {
                    differences.append(difference)
                } else if unreadable[file.base] == nil {
                    same += 1
                }
            }
        }
        if !differences.isEmpty { throw diverged(differences) }
        return same
    }

    /// Nil when the backup's sealed segment `form` holds the same plain
    /// bytes as the store's `file`, or when the store's cannot be read
    /// (then noted in ``unreadable``: nothing proves it the same, so the
    /// backup's copy is kept), else what differs.
    ///
    /// - Parameter readingWhole: whether the store's segment is read whole
    ///   (the proof before the backup's copy is replaced or removed), rather
    ///   than trusted to match the digest in its valid `.idx`.
    mutating func checkSame(
        _ form: SegmentFile, as file: SegmentFile, readingWhole: Bool = false
    ) throws(StoaError) -> String? {
        guard let theirs = try FileReads.fileSystem.status(form.path), let ours = try FileReads.fileSystem.status(file.path) else { return nil }
        if theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino { return nil }
        let a: [UInt8]
        let b: [UInt8]
        do {
            a = try digest(of: form, size: Int(theirs.st_size))
        } catch {
            return "\(relativePath(form)) cannot be read to compare it with the store's: \(error.message)"
        }
        do {
            b = readingWhole
                ? try SidecarIndexer.build(file, encoder: encoder).digest : try digest(of: file, size: Int(ours.st_size))
        } catch {
            noteUnreadable(file, error)
            return nil
        }
        if a == b { return nil }
        return "\(relativePath(form)) differs from the store's \(file.name.fileName) (another SHA-256 of its records)"
    }

    /// The SHA-256 of a segment's plain bytes: from its valid `.idx`, else
    /// computed (a full read).
    private func digest(of file: SegmentFile, size: Int) throws(StoaError) -> [UInt8] {
        if let index = IndexFile.load(file.indexPath, base: file.base, fileSize: size),
            index.isCompressed == (file.name.kind == .gzip)
        {
            return index.digest
        }
        return try SidecarIndexer.build(file, encoder: encoder).digest
    }

    /// Nil when the store's segment `file` starts with the bytes of the
    /// backup's copy `form` of what was then the active segment, else what differs.
    mutating func checkExtends(_ form: SegmentFile, by file: SegmentFile) throws(StoaError) -> String? {
        guard let theirs = try FileReads.fileSystem.status(form.path), let ours = try FileReads.fileSystem.status(file.path) else { return nil }
        if theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino { return nil }
        let earlier = try OpenFile(readingAt: form.path)
        let size = try earlier.size
        if file.name.kind == .gzip {
            let plain: [UInt8]
            do {
                plain = try GzipSegmentContents(path: file.path).inflateAll()
            } catch {
                noteUnreadable(file, error)  // nothing proves it extends the backup's copy: that is kept
                return nil
            }
            let old = try earlier.readAll()
            let common = min(plain.count, old.count)
            if let at = old.withUnsafeBytes({ a in plain.withUnsafeBytes { b in
                Self.firstDifference(UnsafeRawBufferPointer(rebasing: a[..<common]), UnsafeRawBufferPointer(rebasing: b[..<common]))
            } }) {
                return try describeDifference(form, at: at, earlierSize: size)
            }
            return plain.count < old.count ? try describeDifference(form, at: plain.count, earlierSize: size) : nil
        }
        let current = try OpenFile(readingAt: file.path)
        // Two buffers for the whole walk: a fresh array per chunk costs more
        // in page faults than the reads.
        let old = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        let new = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer {
            old.deallocate()
            new.deallocate()
        }
        var offset = 0
        while offset < size {
            let count = min(1 << 20, size - offset)
            let oldCount = try earlier.read(fromAbsoluteOffset: offset, into: UnsafeMutableRawBufferPointer(rebasing: old[..<count]))
            let newCount = try current.read(fromAbsoluteOffset: offset, into: UnsafeMutableRawBufferPointer(rebasing: new[..<count]))
            let common = min(oldCount, newCount)
            if let at = Self.firstDifference(
                UnsafeRawBufferPointer(rebasing: old[..<common]), UnsafeRawBufferPointer(rebasing: new[..<common]))
            {
                return try describeDifference(form, at: offset + at, earlierSize: size)
            }
            if newCount < oldCount { return try describeDifference(form, at: offset + newCount, earlierSize: size) }
            offset += count
        }
        return nil
    }

    /// What the store no longer has of the backup's `form`, which differs
    /// from the store's from byte `offset` on: the seqs from there.
    func describeDifference(_ form: SegmentFile, at offset: Int, earlierSize: Int) throws(StoaError) -> String {
        let bytes = try OpenFile(readingAt: form.path).read(fromAbsoluteOffset: 0, count: earlierSize)
        let line = bytes[..<min(offset, bytes.count)].reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        let lines = bytes.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        let first = form.base + UInt64(line)
        let last = form.base + UInt64(max(lines, line + 1) - 1)
        let seqs = first == last ? "seq \(first)" : "seqs \(first) to \(last)"
        return "\(relativePath(form)) holds \(seqs) that the store no longer has "
            + "(the store's segment differs from byte \(offset) on: it was cut back or rewritten)"
    }

    /// The error that stops a backup which would lose the backup's history.
    func diverged(_ differences: [String]) -> StoaError {
        let shown = differences.prefix(5).joined(separator: "; ")
        let more = differences.count > 5 ? "; and \(differences.count - 5) more" : ""
        return StoaError(
            .diverged,
            "the backup holds records the store no longer has, so it is left as it is (the store was cut back or "
                + "reset since the last backup, or the backup was written to"
                + (sameID ? "" : ", or it is a backup of another store: one of them has no store_id to tell")
                + "): \(shown)\(more). Back up into a new directory to keep both",
            path: destination.root)
    }

    /// The seq after the last record of a segment in the backup.
    func endSeq(of file: SegmentFile) throws(StoaError) -> UInt64 {
        let size = Int(try FileReads.fileSystem.status(file.path)?.st_size ?? 0)
        if let index = IndexFile.load(file.indexPath, base: file.base, fileSize: size) {
            return file.base + UInt64(index.index.lineCount)
        }
        return file.base + UInt64(try SidecarIndexer.build(file, encoder: encoder).index.lineCount)
    }

    /// The offset of the first byte where `a` and `b` differ within their
    /// common length, if any.
    static func firstDifference(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int? {
        let common = min(a.count, b.count)
        if common == 0 || memcmp(a.baseAddress!, b.baseAddress!, common) == 0 { return nil }
        var offset = 0
        while a[offset] == b[offset] { offset += 1 }
        return offset
    }
}
