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

    public init() {}

    /// One line of summary, then a line per removed form and one for kept segments.
    public var lines: [String] {
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
public func backup(from source: String, to destination: String) throws(StoaError) -> BackupReport {
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
    ///
    /// - Parameter destination: a new or empty directory (its parent must
    ///   exist), or an earlier backup of this store. It must not be inside
    ///   the store or its archive.
    /// - Returns: what was copied, skipped, removed and kept.
    /// - Throws: `.invalidArgument` when `destination` is inside the store,
    ///   is not a directory, or holds segments of another store (or newer
    ///   ones than the source: something wrote to it); `.notAStore` when it
    ///   has files but no `stoa.json`; `.locked`; `.noSpace`; `.io`.
    /// - Complexity: one hard link, or one copy, per new sealed segment;
    ///   the active segment is copied every time.
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
    }

    mutating func run() throws(StoaError) -> BackupReport {
        try checkDestinationIsOutsideSource()
        try prepareDestination()
        let lock = try StoreLock(directory: destination.root, fileSystem: fileSystem)
        defer { lock.release() }
        try removeTemporaryFiles()

        let existing = try destinationSegments()
        // The source's high-water mark before its listing: every segment it
        // covers is listed (see `StoreReader.verify`).
        let mark = try HighWaterMark.load(source)
        var files = try source.listAllSegments()
        try checkSameStore(files, existing: existing)
        // The configuration first: from here on the backup opens as a store
        // (at first an empty one), so a backup killed at any later moment
        // leaves a store with a prefix of the records. Written last, a
        // killed first backup would leave segments without a stoa.json: a
        // directory that neither opens nor counts as an empty destination.
        try writeConfiguration()
        try fileSystem.mkdir(destination.segments, mode: 0o750)

        // The backup's newest segment, if plain, is the copy of what was then
        // the active segment: it is replaced whatever its size.
        let recopy = existing.keys.max().flatMap { base in
            existing[base]!.contains { $0.name.kind == .plain && !$0.isCold } ? base : nil
        }
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
                // one that should come next is looked for again.
                if let expected = lastEnd, files[position].base > expected,
                    let missed = try source.listAllSegments().first(where: { $0.base == expected })
                {
                    files.insert(missed, at: position)
                }
                let file = files[position]
                let isActive = position == files.count - 1 && file.name.kind == .plain && !file.isCold
                position += 1
                switch try backUp(file, isActive: isActive, recopy: recopy) {
                case .placed(let placed, let end, let isLinkedPlain):
                    done.insert(file.base)
                    lastEnd = end
                    linkedNewest = isLinkedPlain ? placed.path : nil
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
        return report
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
                guard error.errno == ENOENT, try Syscalls.status(file.path) == nil else { throw error }
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
        let target = destinationFile(for: file)
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
                try pending.withUnsafeBufferPointer { (all) throws(StoaError) in
                    let complete = UnsafeBufferPointer(rebasing: all[...last])
                    lines += Self.countNewlines(complete)
                    try fileSystem.writeAll(output, UnsafeRawBufferPointer(complete), path: temporary)
                }
                written += last + 1
                pending.removeSubrange(...last)
            }
        }
        // Not sealed: an .idx left by a Store opened on the backup is stale.
        if try Syscalls.status(target.indexPath) != nil {
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
        guard let info = try Syscalls.status(file.path) else {
            throw StoaError.syscall("stat", errno: ENOENT, path: file.path)
        }
        let size = Int(info.st_size)
        let target = destinationFile(for: file)
        if target.isCold { try fileSystem.mkdir(destination.archive, mode: 0o750) }
        let present = try Syscalls.status(target.path)
        let sameFile = present.map { $0.st_dev == info.st_dev && $0.st_ino == info.st_ino } ?? false
        if let present, sameFile || (Int(present.st_size) == size && file.base != recopy) {
            report.skipped.append(relativePath(target))
        } else {
            try fileSystem.placeCopy(of: file.path, at: target.path)
            let placed = try Syscalls.status(target.path)
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
        let now = try Syscalls.status(target.path)
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
        if try Syscalls.status(target.indexPath) != nil {
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
            guard try Syscalls.status(form.path) != nil else { continue }
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
            if let info = try Syscalls.status(root) { roots.append(info) }
        }
        // The nearest part of the destination's path that exists, then up through "..".
        var path = destination.root
        while try Syscalls.status(path).map({ $0.st_mode & S_IFMT != S_IFDIR }) ?? true {
            let parent = Path.directory(of: path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path)
            if parent == path { break }
            path = parent
        }
        for _ in 0..<1024 {
            guard let info = try Syscalls.status(path) else { return }
            if roots.contains(where: { $0.st_dev == info.st_dev && $0.st_ino == info.st_ino }) {
                throw StoaError(
                    .invalidArgument,
                    "the backup directory must not be the store, nor inside it or its archive (\(source.root))",
                    path: destination.root)
            }
            let parentPath = Path.join(path, "..")
            guard let parent = try Syscalls.status(parentPath),
                parent.st_dev != info.st_dev || parent.st_ino != info.st_ino
            else { return }  // reached /
            path = parentPath
        }
    }

    /// Creates the destination, or checks it is empty or a store (an earlier backup).
    private func prepareDestination() throws(StoaError) {
        if let info = try Syscalls.status(destination.root) {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw StoaError(.invalidArgument, "the backup destination exists and is not a directory", path: destination.root)
            }
        } else {
            try fileSystem.mkdir(destination.root, mode: 0o750)
        }
        if try Syscalls.status(destination.configuration) != nil {
            _ = try StoreConfiguration.load(from: destination.configuration)
            return
        }
        let foreign = (try Syscalls.listDirectory(destination.root) ?? []).filter { $0 != "LOCK" && !$0.hasSuffix(".tmp") }
        if !foreign.isEmpty {
            throw StoaError(
                .notAStore,
                "the backup destination has files but no stoa.json: use a new or empty directory, or an earlier backup of this store",
                path: destination.root)
        }
    }

    /// Removes the temporary files a killed backup (or a crash) left in the
    /// destination: only Stoa's own (``TemporaryFile``).
    private func removeTemporaryFiles() throws(StoaError) {
        let now = Timestamp.now()
        let directories: [(String, TemporaryFile.Directory)] = [
            (destination.root, .root), (destination.segments, .segments), (destination.archive, .archive),
        ]
        for (directory, kind) in directories {
            var removed = false
            for name in try Syscalls.listDirectory(directory) ?? []
            where try TemporaryFile.isStale(name, at: Path.join(directory, name), in: kind, now: now) {
                try fileSystem.unlink(Path.join(directory, name))
                removed = true
            }
            if removed { try fileSystem.syncDirectory(directory) }
        }
    }

    /// The segments in the destination, each with every form it has there.
    private func destinationSegments() throws(StoaError) -> [UInt64: [SegmentFile]] {
        var forms: [UInt64: [SegmentFile]] = [:]
        for name in try destination.listSegments() {
            forms[name.base, default: []].append(SegmentFile(name: name, directory: destination.segments, isCold: false))
        }
        for name in (try Syscalls.listDirectory(destination.archive) ?? []).compactMap(SegmentName.init(fileName:))
        where name.kind == .gzip {
            forms[name.base, default: []].append(SegmentFile(name: name, directory: destination.archive, isCold: true))
        }
        return forms
    }

    /// Refuses to mix two stores: the destination must not hold segments
    /// newer than the source's newest, and a segment both hold (sealed, with
    /// a valid `.idx` on both sides) must have the same SHA-256.
    private func checkSameStore(_ files: [SegmentFile], existing: [UInt64: [SegmentFile]]) throws(StoaError) {
        if let newest = existing.keys.max(), newest > files.last?.base ?? 0 || files.isEmpty {
            throw StoaError(
                .invalidArgument,
                "the backup holds segment \(newest), newer than anything in the store: it was written to after a backup, "
                    + "or it is a backup of another store; back up into a new directory",
                path: destination.root)
        }
        for file in files.dropLast() {
            guard let forms = existing[file.base], let info = try Syscalls.status(file.path),
                let ours = IndexFile.load(file.indexPath, base: file.base, fileSize: Int(info.st_size))
            else { continue }
            for form in forms {
                guard let size = try Syscalls.status(form.path)?.st_size,
                    let theirs = IndexFile.load(form.indexPath, base: form.base, fileSize: Int(size)),
                    theirs.isCompressed == (form.name.kind == .gzip)
                else { continue }
                guard theirs.digest == ours.digest else {
                    throw StoaError(
                        .invalidArgument,
                        "the backup's segment \(form.name.fileName) differs from the store's (another SHA-256): "
                            + "it is a backup of another store, or one of them was changed; back up into a new directory",
                        path: form.path)
                }
                return  // one segment in common is enough to tell the store
            }
        }
    }

    /// Writes the source's `stoa.json` into the backup, without
    /// `archive_path`: the backup's cold segments live in its own `archive/`.
    private func writeConfiguration() throws(StoaError) {
        var bytes = try OpenFile(readingAt: source.configuration).readAll()
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
