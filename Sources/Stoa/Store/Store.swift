import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A store opened for writing: the one writer of a directory of segments.
///
/// Opening takes the store's lock (a second writer, in this process or
/// another, fails at once with ``StoaError/Code/locked``), creates the store
/// if the directory is new or empty, and repairs what a crash left (see
/// ``recovery``). The store is safe to share between threads and tasks.
///
/// ```swift
/// let store = try Store(at: "logs/agent-7")
/// let seq = try store.append(#"{"type":"tool_call","tool":"grep"}"#)
/// try store.close()
/// ```
public final class Store: Sendable {
    /// The store's directory.
    public let path: String
    /// The settings read from (or written to) `stoa.json`.
    public let configuration: StoreConfiguration
    /// What opening repaired.
    public let recovery: RecoveryReport

    let layout: StoreLayout
    let fileSystem: any FileSystem
    let encoder: RecordEncoder
    /// With `dedup_window`: the digest ``DedupWindow`` finds repeats by,
    /// taken of each record as its batch is encoded (outside the lock).
    let dedupDigest: DedupWindow.Digester?
    let lock: StoreLock
    let state: Protected<WriterState>
    let commit = GroupCommit()
    let timer: Protected<IntervalTimer?>
    /// Seals an idle segment once it is `segment_age` old and applies the tier policy.
    let maintenance = Protected<IntervalTimer?>(nil)
    /// How often maintenance runs when no segment is sealed.
    static let maintenanceInterval: Duration = .seconds(30)
    /// Writes sealed segments' `.idx` files, off the append path.
    let indexer: SidecarIndexer
    /// Moves sealed segments through the tiers, off the append path.
    let tiering: Tiering
    let worker = BackgroundWorker(name: "stoa-index")
    /// The index of the active segment so far, written as a checkpoint `.idx`.
    let checkpoint = ActiveCheckpoint()
    /// The last failure of background indexing, if any (the `.idx` is a cache:
    /// a missing one is rebuilt later, so this never fails an append).
    let outcome = BackgroundOutcome()
    /// `reindex` and `applyTierPolicy` calls under way, which `close` waits for.
    let operations = OperationGate()
    /// Where tests order events without sleeping.
    let testHooks = StoreTestHooks()
    /// The time of the store's decisions: stamps for records without one,
    /// `segment_age`, `dedup_window`, the tier policy's "now" (tests pass
    /// one they advance by hand).
    let clock: StoaClock

    /// The average length of the lines of the last batch written, to size
    /// the next one's buffer.
    let averageLineBytes = Atomic<Int>(0)

    /// What background maintenance last did, shared with its jobs.
    final class BackgroundOutcome: Sendable {
        let failure = Protected<StoaError?>(nil)
        let tierReport = Protected<TierReport?>(nil)
        /// Seals whose background job has not run yet.
        let pendingSeals = Atomic<Int>(0)
        /// The indexes of segments sealed whose pass has not run yet.
        let prepared = Protected<[SidecarIndexer.Prepared]>([])
    }

    /// Opens the store at `path` for writing, creating it if the directory
    /// does not exist or is empty.
    ///
    /// - Parameters:
    ///   - path: the store's directory.
    ///   - configuration: the settings for a new store; an existing store
    ///     keeps those in its `stoa.json`.
    /// - Throws: `.locked` when another writer holds the store; `.notAStore`
    ///   when the directory has files but no `stoa.json`; `.badConfig`; `.io`.
    public convenience init(at path: String, creating configuration: StoreConfiguration = .init()) throws(StoaError) {
        try self.init(at: path, creating: configuration, fileSystem: SystemFileSystem())
    }

    /// - Parameters:
    ///   - dedupDigest: the digest ``DedupWindow`` finds repeats by (tests
    ///     give a weak one, to check that colliding records are told apart
    ///     by their bytes).
    ///   - afterReadingConfiguration: called once `stoa.json` was read, before
    ///     the lock is taken (tests let another writer run there).
    ///   - clock: the time the store goes by (tests advance one by hand).
    init(
        at path: String, creating newConfiguration: StoreConfiguration, fileSystem: any FileSystem,
        dedupDigest: @escaping DedupWindow.Digester = DedupWindow.sha256,
        afterReadingConfiguration: () throws(StoaError) -> Void = {}, clock: StoaClock = .system
    ) throws(StoaError) {
        self.path = path
        self.fileSystem = fileSystem
        self.clock = clock
        var configuration = try Self.loadOrCreate(StoreLayout(root: path), newConfiguration, fileSystem)
        try afterReadingConfiguration()
        self.lock = try StoreLock(directory: path, fileSystem: fileSystem)
        if configuration.storeID == nil {
            configuration = try Self.addStoreID(StoreLayout(root: path), fileSystem)
        }
        let layout = StoreLayout(root: path, archivePath: configuration.archivePath)
        self.layout = layout
        self.configuration = configuration
        self.encoder = RecordEncoder(fields: configuration.fields, maxRecordBytes: Int(configuration.maxRecordBytes))
        self.dedupDigest = configuration.dedupWindow == nil ? nil : dedupDigest

        let recovery = Recovery(layout: layout, encoder: encoder, fileSystem: fileSystem)
        try recovery.refuseLinkedDirectories()
        try fileSystem.makeDirectory(layout.segments)
        var report = RecoveryReport()
        try recovery.removeTemporaryFiles(report: &report)
        // What the background passes learn of sealed files, shared by both.
        let facts = SealedSegmentFacts(fileSystem: fileSystem)
        let tiering = Tiering(
            layout: layout, encoder: encoder, fileSystem: fileSystem, configuration: configuration, facts: facts)
        try tiering.finishInterruptedMoves(report: &report)
        self.tiering = tiering

        let mark = try HighWaterMark.load(layout)
        let segments = try layout.listAllSegments()
        var count: UInt64 = 0
        var size = 0
        // A last segment with other names (a hard link from a backup, `cp -al`,
        // `rsync --link-dest`) is another store's file too: never append to it.
        let lastIsShared = try segments.last.map { (last) throws(StoaError) in
            (try FileReads.fileSystem.linkStatus(last.path)?.st_nlink ?? 1) > 1
        } ?? false
        // A last segment the high-water mark says was sealed is never
        // appended to again: the segments after it were removed.
        let lastIsSealed = segments.last.map { last in last.base < mark?.sealedNext ?? 0 } ?? false
        // Fewer records than the mark says were acknowledged: the newest
        // segments were removed, or the active one cut short. Their seqs are
        // never handed out again: the next record gets the mark's seq, in a
        // new segment.
        func skipMissing(from end: UInt64) -> UInt64? {
            guard let mark, end < mark.nextSeq else { return nil }
            report.missing = end..<mark.nextSeq
            report.missingDescription = Self.describeMissing(end..<mark.nextSeq, segments: segments.count)
            return mark.nextSeq
        }
        let active: ActiveSegment
        // The writer's checkpoint of the active segment, if it still holds:
        // recovery reads only what follows it when the bytes it indexed are
        // as they were (their blocks' checksums) and all valid records, and
        // indexing goes on from it.
        var checkpointed: (file: IndexFile, lastLine: [UInt8], blocksChecked: Bool)?
        if let last = segments.last, last.name.kind == .plain, !last.isCold, !lastIsShared, !lastIsSealed {
            let acknowledged = mark.map { $0.nextSeq > last.base ? Int(clamping: $0.nextSeq - last.base) : 0 } ?? 0
            checkpointed = Self.checkpoint(of: last, layout: layout, checkingBlocks: true)
            let checked = checkpointed.flatMap { checkpoint in
                checkpoint.blocksChecked && checkpoint.file.index.damaged.isEmpty
                    ? (bytes: Int(checkpoint.file.plainBytes), lines: Int(checkpoint.file.index.lineCount)) : nil
            }
            (count, size) = try recovery.recoverActiveSegment(
                at: last.path, acknowledged: acknowledged, checked: checked, report: &report)
            if let next = skipMissing(from: last.base + count) {
                active = try ActiveSegment(creating: layout, base: next, fileSystem: fileSystem, now: clock.now())
                (count, size) = (0, 0)
            } else {
                active = try ActiveSegment(opening: last.path, base: last.base, fileSystem: fileSystem, now: clock.now())
            }
        } else {
            // A new store, or the last segment went warm or cold (or was sealed): start the next one.
            let encoder = self.encoder
            let end = try segments.last.map { (last) throws(StoaError) in try Self.endSeq(of: last, encoder: encoder) } ?? 0
            active = try ActiveSegment(
                creating: layout, base: skipMissing(from: end) ?? end, fileSystem: fileSystem, now: clock.now())
        }
        // The active segment's checkpoint .idx holds while its segment still
        // starts with what it indexed: not after a repair (this one, or one a
        // crash interrupted before the checkpoint went), so an invalid one
        // goes now, before appends could make it look right again.
        let activeIndex = layout.path(of: SegmentName(base: active.base, kind: .index))
        let repaired =
            report.cuts.contains(where: { $0.segment == active.file.path })
            || report.replaced.contains(where: { $0.segment == active.file.path })
        let resumed = checkpointed.map { $0.file.index.base == active.base } ?? false
        if repaired || !resumed {
            if try FileReads.fileSystem.linkStatus(activeIndex) != nil { try fileSystem.unlink(activeIndex) }
        } else if let checkpointed {
            checkpoint.resume(from: checkpointed.file, lastLine: checkpointed.lastLine)
        }
        self.recovery = report
        var writer = WriterState(active: active, count: count, size: size)
        if let window = configuration.dedupWindow {
            writer.dedup = try DedupWindow.rebuilt(
                window: window.saturatingMicroseconds, digest: dedupDigest, segments: segments, scanner: encoder.scanner,
                now: clock.now())
        }
        self.state = Protected(writer)
        self.timer = Protected(nil)
        self.indexer = SidecarIndexer(layout: layout, encoder: encoder, fileSystem: fileSystem, facts: facts)
        scheduleIndexing(below: active.base, findingMark: true)

        if configuration.durability == .interval {
            startIntervalSync()
        }
        startMaintenance()
    }

    deinit {
        timer.withLock { $0?.stop() }
        maintenance.withLock { $0?.stop() }
        worker.stop()
    }
}

/// The writer's mutable state, protected by the store's mutex.
struct WriterState {
    var active: ActiveSegment
    /// Records in the active segment.
    var count: UInt64
    /// Bytes in the active segment (all complete lines).
    var size: Int
    /// Grows with every write; group commit syncs up to a generation.
    var generation: UInt64 = 0
    var sealedSegments = 0
    var closed = false
    /// A failure that left the active segment in doubt: no appends until reopened.
    var failure: StoaError?
    /// With `dedup_window`: the records appended within it.
    var dedup: DedupWindow?
    /// Records kept out as duplicates since the store was opened.
    var deduplicated = 0
}
