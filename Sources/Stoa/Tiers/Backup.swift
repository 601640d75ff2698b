#if canImport(Glibc)
import Glibc
#endif

/// What a backup did (``StoreReader/backup(to:)``).
public struct BackupReport: Sendable, Equatable {
    /// Segment files placed in the backup by this run, as paths relative to
    /// it (`segments/…jsonl`, `archive/…jsonl.gz`), in seq order.
    public var copied: [String] = []
    /// Of ``copied``, how many are hard links to the source's file (same file
    /// system) rather than copies.
    public var linked = 0
    /// Sealed segments the backup already held in the same form and size,
    /// left as they were.
    public var skipped: [String] = []
    /// Bytes written by copying (hard links write none).
    public var bytesCopied: Int64 = 0
    /// Bytes of the segments placed as hard links.
    public var bytesLinked: Int64 = 0
    /// Older forms of segments the source moved to another tier since the
    /// last backup, removed once the new form was in place.
    public var removed: [String] = []
    /// Segments the backup holds that the source no longer has (expired
    /// there): kept, because a backup keeps history.
    public var kept: [String] = []
    /// The seq after the last record in the backup: it holds the source's
    /// records up to `nextSeq - 1`.
    public var nextSeq: UInt64 = 0

    package init() {}

    /// One line of summary, then a line per removed form and one for kept segments.
    package var lines: [String] {
        let total = copied.count + skipped.count
        var summary = "backed up \(total) segment\(total == 1 ? "" : "s"): \(copied.count) copied"
        if linked > 0 { summary += " (\(linked) as hard links)" }
        summary += ", \(skipped.count) already in the backup; \(Units.formatSizeApproximate(bytesCopied)) written"
        summary += nextSeq > 0 ? "; records up to seq \(nextSeq - 1)" : "; no records yet"
        var lines = [summary]
        lines += removed.map { "removed \($0): the source moved that segment to another tier" }
        if !kept.isEmpty {
            lines.append(
                "kept \(kept.count) segment\(kept.count == 1 ? "" : "s") the source no longer has (expired there; a backup keeps history)")
        }
        return lines
    }
}

/// Backs up the store at `source` into `destination`: a consistent copy,
/// taken while a writer may append, seal and move segments.
///
/// The same as `try StoreReader(at: source).backup(to: destination)`; see
/// ``StoreReader/backup(to:)``.
package func backup(from source: String, to destination: String) throws(StoaError) -> BackupReport {
    try StoreReader(at: source).backup(to: destination)
}

extension StoreReader {
    /// Copies this store into `destination`, consistently, while a writer
    /// may be appending, sealing and moving segments between tiers; a second
    /// backup into the same directory copies only what is new.
    ///
    /// The backup opens as a store (with ``Store`` or ``StoreReader``) and
    /// holds exactly the records the source held at one moment during the
    /// backup: every segment up to the active one, and the active segment up
    /// to its last complete record.
    ///
    /// - Sealed segments never change, so each is hard-linked into the
    ///   backup when both are on one file system, else copied and synced.
    ///   The active segment is read with `pread` up to its last newline.
    ///   Valid `.idx` files are copied too (a missing one is rebuilt when
    ///   the backup is opened); cold segments go to the backup's own
    ///   `archive/`, and its `stoa.json` has no `archive_path`.
    /// - No lock is taken on the source. A segment that a tier move renames
    ///   between the listing and the copy is copied in its new form; one
    ///   that expires meanwhile is left out.
    /// - Every file lands atomically (`*.tmp`, fsync, rename, directory
    ///   fsync), in seq order, with `stoa.json` first: a backup killed at
    ///   any moment leaves a store holding a prefix of the records, which
    ///   the next backup completes.
    /// - Incremental: a sealed segment already in the backup in the same
    ///   form and size is skipped; the previous copy of what was then the
    ///   active segment is replaced; a segment the source moved to another
    ///   tier ends in the backup in its new form only.
    /// - Segments that expired in the source stay in the backup: it keeps
    ///   history. (Opening the backup with ``Store`` applies its tier and
    ///   retention policy, which may expire them there too.)
    /// - The backup takes its own writer lock: a ``Store`` open on it, or a
    ///   second backup into it, fails with `.locked`.
    /// - A backup is of one store: it carries the store's `store_id`
    ///   (``StoreConfiguration/storeID``), and a store with another id is
    ///   refused, untouched. (A store made before ids gets one from its next
    ///   writer; until then, a destination without an id, or a source
    ///   without one, must share a segment with the other.)
    /// - Nothing of the backup's history is overwritten or removed: every
    ///   segment both hold must be the same, and the backup's copy of what
    ///   was the active segment must be where the store's segment starts.
    ///   When the store was cut back or reset since (or the backup was
    ///   written to), the backup is left as it is and the error names each
    ///   segment, and the seqs, that the store no longer has.
    /// - A copy the backup holds is replaced or removed (a new form after a
    ///   tier move, another size) only once the store's segment, read whole,
    ///   proves the same records (the same SHA-256 of its plain bytes). A
    ///   store segment that cannot be read (cut short, damaged) leaves the
    ///   backup's copy as it is; the rest is backed up, then the backup fails
    ///   with `.damaged`, naming each such segment and why. (A segment new to
    ///   the backup is copied as it is, unread.)
    ///
    /// - Parameter destination: a new or empty directory (its parent must
    ///   exist), or an earlier backup of this store. It must not be inside
    ///   the store or its archive.
    /// - Returns: what was copied, skipped, removed and kept.
    /// - Throws: `.invalidArgument` when `destination` is inside the store,
    ///   is not a directory, or is another store (another `store_id`; or,
    ///   when one has no id, no segment in common); `.diverged` when it
    ///   holds records the store no longer has; `.damaged` when a segment
    ///   of the store that the backup holds cannot be read (everything else
    ///   was backed up); `.notAStore` when it has
    ///   files but no `stoa.json`; `.locked`; `.noSpace`; `.io`.
    /// - Complexity: one hard link, or one copy, per new sealed segment;
    ///   the active segment is copied every time; a segment whose form in
    ///   the backup is replaced (a tier move since) is read whole once.
    ///
    /// ```swift
    /// let report = try StoreReader(at: "logs/agent-7").backup(to: "/backup/agent-7")
    /// print(report.lines.joined(separator: "\n"))
    /// ```
    public func backup(to destination: String) throws(StoaError) -> BackupReport {
        try backup(to: destination, fileSystem: SystemFileSystem())
    }

    func backup(to destination: String, fileSystem: any FileSystem) throws(StoaError) -> BackupReport {
        var job = BackupJob(
            source: layout, configuration: configuration, encoder: encoder,
            destination: StoreLayout(root: destination), fileSystem: fileSystem)
        return try job.run()
    }
}

/// One run of a backup: the source's segments, in seq order, into the
/// destination store.
struct BackupJob {
    let source: StoreLayout
    let configuration: StoreConfiguration
    let encoder: RecordEncoder
    /// The backup's layout: cold segments in its own `archive/`.
    let destination: StoreLayout
    let fileSystem: any FileSystem
    var report = BackupReport()
    /// Whether the source and the backup have the same `store_id` (when
    /// either has none, a difference may also mean another store's backup).
    private var sameID = false
    /// The store's segments that cannot be read (by base), each with why,
    /// whose copy in the backup could not be proven the same records: the
    /// backup's copy is kept, the rest is backed up, and the backup fails.
    private var unreadable: [UInt64: String] = [:]

    init(
        source: StoreLayout, configuration: StoreConfiguration, encoder: RecordEncoder, destination: StoreLayout,
        fileSystem: any FileSystem
    ) {
        self.source = source
        self.configuration = configuration
        self.encoder = encoder
        self.destination = destination
        self.fileSystem = fileSystem
    }

    /// How one segment went.
    private enum Outcome {
        /// In the backup as `file`; `end` is the seq after its last record, when known.
        case placed(file: SegmentFile, end: UInt64?, isLinkedPlain: Bool)
        /// Gone from the source (expired) before it could be copied.
        case expired
        /// The store's segment cannot be read (see ``unreadable``): the
        /// backup's copy is kept as it is; `end` is the seq after its last record.
        case kept(end: UInt64?)
    }

    mutating func run() throws(StoaError) -> BackupReport {
        try checkDestinationIsOutsideSource()
        // Read now, not when the reader opened: a writer may have added the
        // store's id since (a store made before ids gets one at its next open).
        let sourceBytes = try OpenFile(readingAt: source.configuration).readAll()
        let sourceConfiguration = try StoreConfiguration.decode(sourceBytes, path: source.configuration)
        let destinationConfiguration = try prepareDestination()
        try checkIdentity(of: sourceConfiguration, against: destinationConfiguration)
        sameID = sourceConfiguration.storeID != nil && sourceConfiguration.storeID == destinationConfiguration?.storeID
        let lock = try StoreLock(directory: destination.root, fileSystem: fileSystem)
        defer { lock.release() }
        try removeTemporaryFiles()

        let existing = try destinationSegments()
        // The source's high-water mark before its listing: every segment it
        // covers is listed (see `StoreReader.verify`).
        let mark = try HighWaterMark.load(source)
        var files = try source.listAllSegments()
        // The backup's newest segment, if plain, is the copy of what was then
        // the active segment: it is replaced by the source's segment, which
        // must start with it.
        let recopy = existing.keys.max().flatMap { base in
            existing[base]!.contains { $0.name.kind == .plain && !$0.isCold } ? base : nil
        }
        let proven = try checkSameHistory(files, existing: existing, recopy: recopy)
        if destinationConfiguration != nil, proven == 0, !existing.isEmpty,
            sourceConfiguration.storeID == nil || destinationConfiguration?.storeID == nil
        {
            throw StoaError(
                .invalidArgument,
                "the backup destination is a store that has no segment in common with this one, and one of them "
                    + "has no store_id to tell: it may be another store's; back up into a new or empty directory",
                path: destination.root)
        }
        // The configuration first: from here on the backup opens as a store
        // (at first an empty one), so a backup killed at any later moment
        // leaves a store with a prefix of the records. Written last, a
        // killed first backup would leave segments without a stoa.json: a
        // directory that neither opens nor counts as an empty destination.
        try writeConfiguration(sourceBytes, sourceConfiguration)
        try fileSystem.makeDirectory(destination.segments)
        var done = Set<UInt64>()
        var lastEnd: UInt64?
        // The last placed segment, if it is a hard link to a sealed plain
        // segment of the source: the backup's newest segment, which a
        // `Store` on the backup would append to. The next segment placed
        // covers it; a failure before that removes it (see `rollBack`).
        var linkedNewest: String?
        var position = 0
        do {
            while position < files.count {
                // A directory read racing a tier move may miss a segment
                // (gone from one name, not yet seen under the other): the
                // one that should come next is looked for again, unless it
                // was backed up (an empty segment ends where it starts).
                if let expected = lastEnd, files[position].base > expected, !done.contains(expected),
                    let missed = try source.listAllSegments().first(where: { $0.base == expected })
                {
                    files.insert(missed, at: position)
                }
                let file = files[position]
                let isActive = position == files.count - 1 && file.name.kind == .plain && !file.isCold
                position += 1
                let outcome =
                    unreadable[file.base] == nil
                    ? try backUp(file, isActive: isActive, recopy: recopy) : .kept(end: try keptEnd(of: file.base))
                switch outcome {
                case .placed(let placed, let end, let isLinkedPlain):
                    done.insert(file.base)
                    lastEnd = end
                    linkedNewest = isLinkedPlain ? placed.path : nil
                case .kept(let end):
                    done.insert(file.base)
                    lastEnd = end
                    linkedNewest = nil
                case .expired:
                    lastEnd = nil
                }
            }
            // Every segment the mark covers is in the backup now: so is the mark.
            try mark?.publish(destination, fileSystem: fileSystem)
        } catch {
            rollBack(linkedNewest)
            throw error
        }

        report.kept = existing.filter { !done.contains($0.key) }.sorted { $0.key < $1.key }
            .flatMap { $0.value.map(relativePath) }
        if let end = lastEnd {
            report.nextSeq = end
        } else if let last = try destinationSegments().max(by: { $0.key < $1.key })?.value.first {
            report.nextSeq = last.base + UInt64(try SidecarIndexer.build(last, encoder: encoder).index.lineCount)
        }
        if !unreadable.isEmpty {
            rollBack(linkedNewest)
            throw unreadableError()
        }
        return report
    }

    /// The error that ends a backup which kept its copies of segments the
    /// store cannot read: everything else was backed up, but the source is
    /// damaged, and a backup that says nothing of it would hide that.
    private func unreadableError() -> StoaError {
        let named = unreadable.sorted { $0.key < $1.key }.map(\.value)
        let shown = named.prefix(5).joined(separator: "; ")
        let more = named.count > 5 ? "; and \(named.count - 5) more" : ""
        return StoaError(
            .damaged,
            "the store has segments that cannot be read, so the backup keeps its own copy of each, "
                + "unchanged (run `stoa verify` on the store): \(shown)\(more). Everything else was backed up: "
                + report.lines.joined(separator: "; "),
            path: source.root)
    }

    /// The seq after the last record of the backup's copy of segment `base`, if it has one.
    private func keptEnd(of base: UInt64) throws(StoaError) -> UInt64? {
        guard let form = try destinationSegments()[base]?.first else { return nil }
        return try? endSeq(of: form)
    }

    /// Records that the store's segment `file` cannot be read, and why.
    private mutating func noteUnreadable(_ file: SegmentFile, _ error: StoaError) {
        unreadable[file.base] = "\(file.path) cannot be read (\(error.message))"
    }

    // MARK: One segment

    /// Puts one segment in the backup; follows it when a tier move renames
    /// it meanwhile.
    private mutating func backUp(_ listed: SegmentFile, isActive: Bool, recopy: UInt64?) throws(StoaError) -> Outcome {
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
    private func rollBack(_ linkedNewest: String?) {
        guard let path = linkedNewest else { return }
        try? fileSystem.unlink(path)
        try? fileSystem.syncDirectory(Path.directory(of: path))
    }

    // MARK: The destination

    /// Refuses a destination inside the source (or its archive), symlinks
    /// resolved: a backup there would copy itself.
    private func checkDestinationIsOutsideSource() throws(StoaError) {
        var roots: [stat] = []
        for root in [source.root, source.archive] {
            if let info = try FileReads.fileSystem.status(root) { roots.append(info) }
        }
        // The nearest part of the destination's path that exists, then up through "..".
        var path = destination.root
        while try FileReads.fileSystem.status(path).map({ $0.st_mode & S_IFMT != S_IFDIR }) ?? true {
            let parent = Path.directory(of: path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path)
            if parent == path { break }
            path = parent
        }
        for _ in 0..<1024 {
            guard let info = try FileReads.fileSystem.status(path) else { return }
            if roots.contains(where: { $0.st_dev == info.st_dev && $0.st_ino == info.st_ino }) {
                throw StoaError(
                    .invalidArgument,
                    "the backup directory must not be the store, nor inside it or its archive (\(source.root))",
                    path: destination.root)
            }
            let parentPath = Path.join(path, "..")
            guard let parent = try FileReads.fileSystem.status(parentPath),
                parent.st_dev != info.st_dev || parent.st_ino != info.st_ino
            else { return }  // reached /
            path = parentPath
        }
    }

    /// Creates the destination, or checks it is empty or a store (an
    /// earlier backup); returns the store's configuration.
    private func prepareDestination() throws(StoaError) -> StoreConfiguration? {
        if let info = try FileReads.fileSystem.status(destination.root) {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw StoaError(.invalidArgument, "the backup destination exists and is not a directory", path: destination.root)
            }
        } else {
            try fileSystem.makeDirectory(destination.root)
        }
        if try FileReads.fileSystem.status(destination.configuration) != nil {
            return try StoreConfiguration.load(from: destination.configuration)
        }
        let foreign = (try FileReads.fileSystem.listDirectory(destination.root) ?? []).filter { $0 != "LOCK" && !$0.hasSuffix(".tmp") }
        if !foreign.isEmpty {
            throw StoaError(
                .notAStore,
                "the backup destination has files but no stoa.json: use a new or empty directory, or an earlier backup of this store",
                path: destination.root)
        }
        return nil
    }

    /// Refuses a destination that is another store: its `store_id` differs
    /// from the source's. (When either has none, a store made before ids,
    /// ``checkSameHistory(_:existing:recopy:)`` must find a segment in common.)
    private func checkIdentity(of source: StoreConfiguration, against destination: StoreConfiguration?) throws(StoaError) {
        guard let theirs = destination?.storeID, let ours = source.storeID, theirs != ours else { return }
        throw StoaError(
            .invalidArgument,
            "the backup destination is another store (store_id \(theirs); this store's is \(ours)), "
                + "not a backup of this one: it is left as it is; back up into a new or empty directory",
            path: self.destination.root)
    }

    /// Removes the temporary files a killed backup (or a crash) left in the
    /// destination: only Stoa's own (``TemporaryFile``).
    private func removeTemporaryFiles() throws(StoaError) {
        _ = try TemporaryFile.removeStale(
            in: [(destination.root, .root), (destination.segments, .segments), (destination.archive, .archive)],
            fileSystem: fileSystem, now: Timestamp.now())
    }

    /// The segments in the destination, each with every form it has there.
    private func destinationSegments() throws(StoaError) -> [UInt64: [SegmentFile]] {
        var forms: [UInt64: [SegmentFile]] = [:]
        for name in try destination.listSegments() {
            forms[name.base, default: []].append(SegmentFile(name: name, directory: destination.segments, isCold: false))
        }
        for name in (try FileReads.fileSystem.listDirectory(destination.archive) ?? []).compactMap(SegmentName.init(fileName:))
        where name.kind == .gzip {
            forms[name.base, default: []].append(SegmentFile(name: name, directory: destination.archive, isCold: true))
        }
        return forms
    }

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
    private mutating func checkSameHistory(
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
    private mutating func checkSame(
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
    private mutating func checkExtends(_ form: SegmentFile, by file: SegmentFile) throws(StoaError) -> String? {
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
    private func describeDifference(_ form: SegmentFile, at offset: Int, earlierSize: Int) throws(StoaError) -> String {
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
    private func diverged(_ differences: [String]) -> StoaError {
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
    private func endSeq(of file: SegmentFile) throws(StoaError) -> UInt64 {
        let size = Int(try FileReads.fileSystem.status(file.path)?.st_size ?? 0)
        if let index = IndexFile.load(file.indexPath, base: file.base, fileSize: size) {
            return file.base + UInt64(index.index.lineCount)
        }
        return file.base + UInt64(try SidecarIndexer.build(file, encoder: encoder).index.lineCount)
    }

    /// The offset of the first byte where `a` and `b` differ within their
    /// common length, if any.
    private static func firstDifference(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int? {
        let common = min(a.count, b.count)
        if common == 0 || memcmp(a.baseAddress!, b.baseAddress!, common) == 0 { return nil }
        var offset = 0
        while a[offset] == b[offset] { offset += 1 }
        return offset
    }

    /// Writes the source's `stoa.json` into the backup, without
    /// `archive_path`: the backup's cold segments live in its own `archive/`.
    private func writeConfiguration(_ sourceBytes: [UInt8], _ configuration: StoreConfiguration) throws(StoaError) {
        var bytes = sourceBytes
        if configuration.archivePath != nil {
            var local = configuration
            local.archivePath = nil
            bytes = local.encoded()
        }
        if let current = try? OpenFile(readingAt: destination.configuration).readAll(), current == bytes { return }
        try fileSystem.writeFileAtomically(destination.configuration, bytes: bytes)
    }

    // MARK: Helpers

    /// Where a source segment goes in the backup: the same name, in `segments/` or `archive/`.
    private func destinationFile(for file: SegmentFile) -> SegmentFile {
        SegmentFile(name: file.name, directory: file.isCold ? destination.archive : destination.segments, isCold: file.isCold)
    }

    private func relativePath(_ file: SegmentFile) -> String {
        (file.isCold ? "archive/" : "segments/") + file.name.fileName
    }

    private static func countNewlines(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        var start = 0
        while let newline = SegmentContents.firstNewline(in: bytes, from: start) {
            count += 1
            start = newline + 1
        }
        return count
    }
}
