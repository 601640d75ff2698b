#if canImport(Glibc)
import Glibc
#endif

// One segment into the backup: the active one copied up to its last
// newline, a sealed one linked or copied, with its `.idx`.
extension BackupJob {
    /// Puts one segment in the backup; follows it when a tier move renames
    /// it meanwhile.
    mutating func backUp(_ listed: SegmentFile, isActive: Bool, recopy: UInt64?) throws(StoaError) -> Outcome {
        var file = listed
        for _ in 0..<8 {
            do {
                if isActive && file.name.kind == .plain && !file.isCold {
                    return try copyActive(file)
                }
                return try placeSealed(file, recopy: recopy)
            } catch {
                // Moved or expired since it was listed: look for it again.
                guard error.errno == ENOENT, try FileReads.fileSystem.status(file.path) == nil else { throw error }
                guard let moved = try source.listAllSegments().first(where: { $0.base == file.base }) else {
                    return .expired
                }
                file = moved
            }
        }
        throw StoaError(.io, "the segment kept moving while it was being copied; run the backup again", path: listed.path)
    }

    /// Copies the active segment up to its last newline, read with `pread`
    /// (it may grow, or be cut back by a writer's recovery: never mapped).
    private mutating func copyActive(_ file: SegmentFile) throws(StoaError) -> Outcome {
        let input = try OpenFile(readingAt: file.path)
        let size = try input.size
        // What is copied is on the store's disk first: a power cut must not
        // take from the store records its backup holds (the store would
        // hand their seqs out again, and the backup would have diverged).
        do {
            try fileSystem.fdatasync(input.fd, path: file.path)
        } catch where error.errno == EINVAL || error.errno == EROFS {
            // A file system that cannot sync (read-only media): nothing of
            // it can be lost to a power cut either.
        }
        let target = destinationFile(for: file)
        // The backup's earlier copy of this segment, if any: what is copied
        // now must start with it (the store may have been cut back since the
        // history was checked), else it is kept and the backup stops.
        let earlier = try FileReads.fileSystem.status(target.path) != nil ? try OpenFile(readingAt: target.path) : nil
        let earlierSize = try earlier?.size ?? 0
        let old = UnsafeMutableRawBufferPointer.allocate(byteCount: earlier == nil ? 0 : 1 << 20, alignment: 16)
        defer { old.deallocate() }  // one buffer for the whole copy: see checkExtends
        var written = 0
        var lines = 0
        try fileSystem.writeFileAtomically(target.path) { (output, temporary) throws(StoaError) in
            var offset = 0
            var pending: [UInt8] = []  // bytes after the last newline read so far
            while offset < size {
                let chunk = try input.read(fromAbsoluteOffset: offset, count: min(1 << 20, size - offset))
                if chunk.isEmpty { break }  // cut back meanwhile
                offset += chunk.count
                pending += chunk
                guard let last = pending.lastIndex(of: UInt8(ascii: "\n")) else { continue }
                var compared = 0  // of the complete lines read, compared with the earlier copy
                while let earlier, written + compared < earlierSize, compared <= last {
                    let count = min(last + 1 - compared, earlierSize - written - compared, old.count)
                    let got = try earlier.read(
                        fromAbsoluteOffset: written + compared, into: UnsafeMutableRawBufferPointer(rebasing: old[..<count]))
                    if let at = pending.withUnsafeBytes({ bytes in
                        Self.firstDifference(
                            UnsafeRawBufferPointer(rebasing: old[..<got]),
                            UnsafeRawBufferPointer(rebasing: bytes[compared..<(compared + got)]))
                    }) {
                        throw diverged([try describeDifference(target, at: written + compared + at, earlierSize: earlierSize)])
                    }
                    if got < count { break }  // the earlier copy is shorter than it was: checked below
                    compared += count
                }
                try pending.withUnsafeBufferPointer { (all) throws(StoaError) in
                    let complete = UnsafeBufferPointer(rebasing: all[...last])
                    lines += Self.countNewlines(complete)
                    try fileSystem.writeAll(output, UnsafeRawBufferPointer(complete), path: temporary)
                }
                written += last + 1
                pending.removeSubrange(...last)
            }
            if written < earlierSize {
                throw diverged([try describeDifference(target, at: written, earlierSize: earlierSize)])
            }
        }
        // Not sealed: an .idx left by a Store opened on the backup is stale.
        if try FileReads.fileSystem.status(target.indexPath) != nil {
            try fileSystem.unlink(target.indexPath)
            try fileSystem.syncDirectory(target.directory)
        }
        try removeOtherForms(of: file.base, keeping: target)
        report.copied.append(relativePath(target))
        report.bytesCopied += Int64(written)
        return .placed(file: target, end: file.base + UInt64(lines), isLinkedPlain: false)
    }

    /// Places a sealed segment (hard link or copy), unless the backup holds
    /// it already, then its `.idx`, then removes its other forms.
    private mutating func placeSealed(_ file: SegmentFile, recopy: UInt64?) throws(StoaError) -> Outcome {
        guard let info = try FileReads.fileSystem.status(file.path) else {
            throw StoaError.syscall("stat", errno: ENOENT, path: file.path)
        }
        let size = Int(info.st_size)
        let target = destinationFile(for: file)
        if target.isCold { try fileSystem.makeDirectory(destination.archive) }
        let present = try FileReads.fileSystem.status(target.path)
        let sameFile = present.map { $0.st_dev == info.st_dev && $0.st_ino == info.st_ino } ?? false
        let skip = present.map { sameFile || (Int($0.st_size) == size && file.base != recopy) } ?? false
        // The backup's forms of this segment that placing it replaces or
        // removes: each must be proven the same records first, right before
        // (the history was checked at the start; the store may have been
        // cut back, or a tier move may have given it a form not checked).
        var replaced: [SegmentFile] = []
        for form in try destinationSegments()[file.base] ?? [] {
            guard let status = try FileReads.fileSystem.status(form.path) else { continue }
            let isSource = status.st_dev == info.st_dev && status.st_ino == info.st_ino
            if !isSource && (form.path != target.path || !skip) { replaced.append(form) }
        }
        for form in replaced {
            let difference: String?
            if form.base == recopy && form.name.kind == .plain && !form.isCold {
                // The backup's copy of what was the active segment: the store's must start with it.
                difference = try checkExtends(form, by: file)
            } else {
                difference = try checkSame(form, as: file, readingWhole: true)
            }
            if let difference { throw diverged([difference]) }
            if unreadable[file.base] != nil { return .kept(end: try keptEnd(of: file.base)) }
        }
        if skip {
            report.skipped.append(relativePath(target))
        } else {
            try fileSystem.placeCopy(of: file.path, at: target.path)
            let placed = try FileReads.fileSystem.status(target.path)
            let linked = placed.map { $0.st_dev == info.st_dev && $0.st_ino == info.st_ino } ?? false
            report.copied.append(relativePath(target))
            if linked {
                report.linked += 1
                report.bytesLinked += Int64(size)
            } else {
                report.bytesCopied += Int64(size)
            }
        }
        let index = try placeIndex(of: file, at: target, size: size)
        try removeOtherForms(of: file.base, keeping: target)
        let now = try FileReads.fileSystem.status(target.path)
        let isLinkedPlain = file.name.kind == .plain && now?.st_dev == info.st_dev && now?.st_ino == info.st_ino
        return .placed(file: target, end: index.map { file.base + UInt64($0.index.lineCount) }, isLinkedPlain: isLinkedPlain)
    }

    /// Gives the placed segment a valid `.idx`: the backup's own if it has
    /// one, else the source's if that one is valid for the placed file,
    /// else none (a stale one is removed; opening rebuilds it).
    private func placeIndex(of file: SegmentFile, at target: SegmentFile, size: Int) throws(StoaError) -> IndexFile? {
        let compressed = file.name.kind == .gzip
        if let current = IndexFile.load(target.indexPath, base: file.base, fileSize: size), current.isCompressed == compressed {
            return current
        }
        // Read whole and checked before it is written: the source may replace
        // its .idx (a tier move, a reindex) at any moment.
        if let bytes = try? OpenFile(readingAt: file.indexPath).readAll(), let index = IndexFile.decode(bytes),
            !index.isPartial, index.index.base == file.base, index.fileBytes == UInt64(size), index.isCompressed == compressed
        {
            try fileSystem.writeFileAtomically(target.indexPath, bytes: bytes)
            return index
        }
        if try FileReads.fileSystem.status(target.indexPath) != nil {
            try fileSystem.unlink(target.indexPath)
            try fileSystem.syncDirectory(target.directory)
        }
        return nil
    }

    /// Removes the forms of segment `base` other than `target` from the
    /// backup (the source moved it to another tier since the last backup),
    /// after `target` is in place: a crash in between leaves both forms,
    /// which readers and opening handle as an interrupted move.
    private mutating func removeOtherForms(of base: UInt64, keeping target: SegmentFile) throws(StoaError) {
        let forms = [
            SegmentFile(name: SegmentName(base: base, kind: .plain), directory: destination.segments, isCold: false),
            SegmentFile(name: SegmentName(base: base, kind: .gzip), directory: destination.segments, isCold: false),
            SegmentFile(name: SegmentName(base: base, kind: .gzip), directory: destination.archive, isCold: true),
        ]
        var touched: [String] = []
        for form in forms where form.path != target.path {
            guard try FileReads.fileSystem.status(form.path) != nil else { continue }
            try fileSystem.unlink(form.path)
            // The .idx beside the new form is the new form's.
            if form.directory != target.directory { try fileSystem.unlink(form.indexPath) }
            if !touched.contains(form.directory) { touched.append(form.directory) }
            report.removed.append(relativePath(form))
        }
        for directory in touched { try fileSystem.syncDirectory(directory) }
    }

    /// After a failure: a hard link to a sealed plain segment must not stay
    /// the backup's newest segment, which a `Store` opened on the backup
    /// would append to (writing into the source's sealed file). Removing the
    /// newest segment leaves a prefix. (A backup killed at that moment cannot
    /// do this; the next backup covers the link with newer segments.)
    func rollBack(_ linkedNewest: String?) {
        guard let path = linkedNewest else { return }
        try? fileSystem.unlink(path)
        try? fileSystem.syncDirectory(Path.directory(of: path))
    }
}
