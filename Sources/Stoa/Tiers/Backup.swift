#if canImport(Glibc)
import Glibc
#endif

/// Backs up the store at `source` into `destination`: a consistent copy,
/// taken while a writer may append, seal and move segments.
///
/// The same as `try StoreBackup(of: StoreReader(at: source)).copy(to: destination)`;
/// see ``StoreBackup/copy(to:)``.
package func backup(from source: String, to destination: String) throws(StoaError) -> BackupReport {
    try StoreBackup(of: StoreReader(at: source)).copy(to: destination)
}

/// A backup of one store: what ``copy(to:)`` copies, consistently, while a
/// writer may append, seal and move segments.
///
/// A backup reads the store through a ``StoreReader`` (its layout and
/// settings) and takes no lock on it.
public struct StoreBackup: Sendable {
    /// The store backed up.
    public let store: StoreReader

    /// A backup of the store `store` reads.
    public init(of store: StoreReader) {
        self.store = store
    }

    /// Copies the store into `destination`, consistently, while a writer
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
    /// let store = try StoreReader(at: "logs/agent-7")
    /// let report = try StoreBackup(of: store).copy(to: "/backup/agent-7")
    /// print(report.lines.joined(separator: "\n"))
    /// ```
    public func copy(to destination: String) throws(StoaError) -> BackupReport {
        try copy(to: destination, fileSystem: SystemFileSystem())
    }

    func copy(to destination: String, fileSystem: any FileSystem) throws(StoaError) -> BackupReport {
        var job = BackupJob(
            source: store.layout, configuration: store.configuration, encoder: store.encoder,
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
    var sameID = false
    /// The store's segments that cannot be read (by base), each with why,
    /// whose copy in the backup could not be proven the same records: the
    /// backup's copy is kept, the rest is backed up, and the backup fails.
    var unreadable: [UInt64: String] = [:]

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
    enum Outcome {
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
    func keptEnd(of base: UInt64) throws(StoaError) -> UInt64? {
        guard let form = try destinationSegments()[base]?.first else { return nil }
        return try? endSeq(of: form)
    }

    /// Records that the store's segment `file` cannot be read, and why.
    mutating func noteUnreadable(_ file: SegmentFile, _ error: StoaError) {
        unreadable[file.base] = "\(file.path) cannot be read (\(error.message))"
    }
}
