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
    private let lock: StoreLock
    private let state: Protected<WriterState>
    private let commit = GroupCommit()
    private let timer: Protected<IntervalTimer?>
    /// Seals an idle segment once it is `segment_age` old and applies the tier policy.
    private let maintenance = Protected<IntervalTimer?>(nil)
    /// How often maintenance runs when no segment is sealed (µs).
    static let maintenanceInterval: Int64 = 30_000_000
    /// Writes sealed segments' `.idx` files, off the append path.
    private let indexer: SidecarIndexer
    /// Moves sealed segments through the tiers, off the append path.
    private let tiering: Tiering
    private let worker = BackgroundWorker(name: "stoa-index")
    /// The index of the active segment so far, written as a checkpoint `.idx`.
    let checkpoint = ActiveCheckpoint()
    /// The last failure of background indexing, if any (the `.idx` is a cache:
    /// a missing one is rebuilt later, so this never fails an append).
    private let outcome = BackgroundOutcome()
    /// `reindex` and `applyTierPolicy` calls under way, which `close` waits for.
    private let operations = OperationGate()
    /// Where tests order events without sleeping.
    let testHooks = StoreTestHooks()
    /// The time of the store's decisions: stamps for records without one,
    /// `segment_age`, `dedup_window`, the tier policy's "now" (tests pass
    /// one they advance by hand).
    let clock: StoaClock

    /// What background maintenance last did, shared with its jobs.
    private final class BackgroundOutcome: Sendable {
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
        if let last = segments.last, last.name.kind == .plain, !last.isCold, !lastIsShared, !lastIsSealed {
            let acknowledged = mark.map { $0.nextSeq > last.base ? Int(clamping: $0.nextSeq - last.base) : 0 } ?? 0
            (count, size) = try recovery.recoverActiveSegment(at: last.path, acknowledged: acknowledged, report: &report)
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
        if repaired || !checkpoint.resume(active.file.path, indexPath: activeIndex, base: active.base) {
            if try FileReads.fileSystem.linkStatus(activeIndex) != nil { try fileSystem.unlink(activeIndex) }
        }
        self.recovery = report
        var writer = WriterState(active: active, count: count, size: size)
        if let window = configuration.dedupWindow {
            writer.dedup = try DedupWindow.rebuilt(
                window: window, digest: dedupDigest, segments: segments, scanner: encoder.scanner,
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

    /// Writes missing `.idx` files of segments below `base`, then applies
    /// the tier policy if there is one: in the background.
    ///
    /// - Parameters:
    ///   - sealed: the segment just sealed, whose index the background
    ///     built as it was appended to (``ActiveCheckpoint``).
    ///   - findingMark: whether to bring the high-water mark to the newest
    ///   sealed segment found (at opening: a store may have none yet).
    private func scheduleIndexing(
        below base: UInt64, sealed: (path: String, base: UInt64, size: Int, count: UInt64)? = nil, findingMark: Bool = false
    ) {
        // The job holds what it needs, not the store: a store that goes away
        // is not kept alive (and locked) by its background work.
        let (indexer, tiering, tiered, outcome) = (self.indexer, self.tiering, hasTierPolicy, self.outcome)
        let (checkpoint, encoder, layout, fileSystem) = (self.checkpoint, self.encoder, self.layout, self.fileSystem)
        let clock = self.clock
        if sealed != nil { outcome.pendingSeals.add(1, ordering: .relaxed) }
        worker.submit {
            // Whether no later seal is queued behind this one.
            let isLastSeal = sealed != nil && outcome.pendingSeals.subtract(1, ordering: .relaxed).newValue == 0
            do throws(StoaError) {
                if let sealed, let prepared = checkpoint.finishSealed(sealed.path, base: sealed.base, size: sealed.size, encoder: encoder) {
                    outcome.prepared.withLock { $0.append(prepared) }
                }
                // A pass looks at every segment of the store: while seals come
                // faster than passes (tiny segments moved at once), one pass
                // after the last seal queued does the work of all, with the
                // indexes built of each segment as it was appended to.
                if sealed != nil && !isLastSeal { return }
                let prepared = outcome.prepared.withLock { (prepared) -> [SidecarIndexer.Prepared] in
                    defer { prepared = [] }
                    return prepared
                }
                // A segment that cannot be indexed is reported (below) and
                // passed over: the segments after it still get their .idx,
                // and the mark still moves on.
                let pass = try indexer.indexSealedSegments(below: base, prepared: prepared)
                defer { if let problem = pass.skipped.last { outcome.failure.withLock { $0 = problem } } }
                // The high-water mark moves to the segment just sealed, once its
                // .idx (which holds its chain digest) is written. During a burst
                // of seals only the last one queued writes it: each write costs
                // two fsyncs, and the newest seal covers the ones before.
                if let sealed, isLastSeal,
                    let header = IndexHeader.load(
                        layout.path(of: SegmentName(base: sealed.base, kind: .index)), base: sealed.base, fileSize: sealed.size)
                {
                    let end = sealed.base + sealed.count
                    try HighWaterMark(nextSeq: end, sealedBase: sealed.base, sealedNext: end, chain: header.chain.hexString,
                        digest: header.digest.hexString)
                        .publish(layout, fileSystem: fileSystem)
                }
                if findingMark { try HighWaterMark.advance(layout, below: base, fileSystem: fileSystem) }
                if tiered {
                    let report = try tiering.apply(now: clock.now(), activeBase: base)
                    if !report.isEmpty { outcome.tierReport.withLock { $0 = report } }
                }
            } catch {
                outcome.failure.withLock { $0 = error }
            }
        }
    }

    private var hasTierPolicy: Bool {
        let c = configuration
        return c.hotFor != nil || c.retainFor != nil || c.maxBytes != nil || c.keepFree != nil
    }

    /// Applies the tier and retention policy now (`stoa tier`): compresses,
    /// archives and deletes sealed segments by their seal time, as of `now`.
    ///
    /// - Parameter now: the time to judge ages by (µs); now by default.
    /// - Throws: `.closed` after ``close()``.
    public func applyTierPolicy(now: Int64? = nil) throws(StoaError) -> TierReport {
        try operations.run(path: path) { () throws(StoaError) -> TierReport in
            let base = state.withLock { $0.active.base }
            let result = Protected<Result<TierReport, StoaError>?>(nil)
            worker.submit { [self] in
                let outcome = Result { () throws(StoaError) -> TierReport in
                    testHooks.call(.workBegins)
                    let pass = try indexer.indexSealedSegments(below: base)
                    try HighWaterMark.advance(layout, below: base, fileSystem: fileSystem)
                    if let problem = pass.skipped.first { throw problem }
                    return try tiering.apply(now: now ?? clock.now(), activeBase: base)
                }
                result.withLock { $0 = outcome }
            }
            worker.waitUntilIdle()
            return try result.withLock { $0! }.get()
        }
    }

    /// What the last background pass of the tier policy did, if anything.
    public var lastTierReport: TierReport? { outcome.tierReport.withLock { $0 } }

    /// Writes every sealed segment's `.idx` again (`stoa reindex`).
    ///
    /// - Returns: how many were written.
    /// - Throws: `.closed` after ``close()``.
    public func reindex() throws(StoaError) -> Int {
        try operations.run(path: path) { () throws(StoaError) -> Int in
            // On the background worker, like the seal jobs: two passes at once
            // would write the same .idx files and HIGHWATER over each other.
            let base = state.withLock { $0.active.base }
            let result = Protected<Result<Int, StoaError>?>(nil)
            worker.submit { [self] in
                let outcome = Result { () throws(StoaError) -> Int in
                    testHooks.call(.workBegins)
                    defer { testHooks.call(.workEnds) }
                    let pass = try indexer.indexSealedSegments(below: base, rebuild: true)
                    try HighWaterMark.advance(layout, below: base, fileSystem: fileSystem)
                    if let problem = pass.skipped.first { throw problem }
                    return pass.written
                }
                result.withLock { $0 = outcome }
            }
            worker.waitUntilIdle()
            return try result.withLock { $0! }.get()
        }
    }

    /// Waits until the `.idx` of every segment sealed so far is written.
    ///
    /// - Throws: the last failure to write one, if any.
    public func waitForIndexes() throws(StoaError) {
        worker.waitUntilIdle()
        if let error = outcome.failure.withLock({ $0 }) { throw error }
    }

    // MARK: Appending

    /// Appends one record: a JSON object, compact or pretty-printed.
    ///
    /// - Parameters:
    ///   - json: the record's UTF-8 bytes.
    ///   - durability: overrides the store's default for this append.
    /// - Returns: the record's seq.
    /// - Throws: `.invalidRecord` or `.recordTooLarge` (nothing stored);
    ///   `.noSpace` or `.io` when the write failed (nothing stored);
    ///   `.closed` after ``close()``.
    // Inlinable, so that it is specialized in the caller's module: there the
    // bytes become one buffer (without a copy when they are contiguous) and
    // everything after that is the non-generic `appendRecord`.
    @inlinable
    @discardableResult
    public func append<Bytes: Collection<UInt8>>(json: Bytes, durability: Durability? = nil) throws(StoaError) -> UInt64 {
        let stored = json.withContiguousStorageIfAvailable { record in
            Result { () throws(StoaError) in try appendRecord(record, durability: durability) }
        } ?? Array(json).withUnsafeBufferPointer { record in
            Result { () throws(StoaError) in try appendRecord(record, durability: durability) }
        }
        return try stored.get()
    }

    /// ``append(json:durability:)`` for bytes in one buffer.
    @usableFromInline
    func appendRecord(_ record: UnsafeBufferPointer<UInt8>, durability: Durability?) throws(StoaError) -> UInt64 {
        var batch = EncodedBatch(digest: dedupDigest)
        batch.reserve(records: 1, bytes: record.count + EncodedBatch.insertionRoom)
        try batch.add(record, encoder: encoder, now: clock.now())
        let (seqs, duplicateOf) = try write(batch, durability: durability)
        return duplicateOf ?? seqs.lowerBound
    }

    /// Appends one record given as JSON text.
    @discardableResult
    public func append(_ json: String, durability: Durability? = nil) throws(StoaError) -> UInt64 {
        try append(json: json.utf8, durability: durability)
    }

    /// Appends records together: either all are stored or, when one is
    /// invalid, none (the error's `line` is the 1-based position of the bad
    /// record in `records`).
    ///
    /// - Returns: the seqs of the records, in order.
    /// - Complexity: one `write(2)` per segment the batch lands in.
    // Inlinable for the same reason as `append(json:)`: a generic that runs
    // unspecialized (as it does when called from another module) pays for
    // metadata lookups and witness calls on every record; specialized, each
    // record reaches the non-generic `encode(_:into:)` as one buffer.
    @inlinable
    @discardableResult
    public func append<Bytes: Collection<UInt8>>(
        contentsOf records: some Sequence<Bytes>, durability: Durability? = nil
    ) throws(StoaError) -> Range<UInt64> {
        var batch = beginBatch(expecting: records.underestimatedCount)
        for record in records {
            let added = record.withContiguousStorageIfAvailable { bytes in
                Result { () throws(StoaError) in try encode(bytes, into: &batch) }
            } ?? Array(record).withUnsafeBufferPointer { bytes in
                Result { () throws(StoaError) in try encode(bytes, into: &batch) }
            }
            try added.get()
        }
        return try write(batch.encoded, durability: durability).seqs
    }

    /// The average length of the lines of the last batch written, to size
    /// the next one's buffer.
    private let averageLineBytes = Atomic<Int>(0)
    /// At most this much is reserved ahead for a batch (it grows past it if it must).
    static let batchReserveLimit = 64 << 20

    /// A new batch for ``append(contentsOf:durability:)``, with room for
    /// `count` records.
    @usableFromInline
    func beginBatch(expecting count: Int) -> BatchInProgress {
        var batch = BatchInProgress(encoded: EncodedBatch(digest: dedupDigest), now: clock.now())
        // Room for `count` lines as long as the last batch's: a batch that
        // outgrows its array is copied whole each time it doubles.
        let lineBytes = max(1, averageLineBytes.load(ordering: .relaxed) * 9 / 8)
        let room = count >= Self.batchReserveLimit / lineBytes ? Self.batchReserveLimit : count * lineBytes
        batch.encoded.reserve(records: count, bytes: room)
        return batch
    }

    /// Encodes the next record of a batch; an error names its position.
    @usableFromInline
    func encode(_ record: UnsafeBufferPointer<UInt8>, into batch: inout BatchInProgress) throws(StoaError) {
        batch.line += 1
        do {
            try batch.encoded.add(record, encoder: encoder, now: batch.now)
        } catch {
            throw error.at(line: batch.line)
        }
    }

    /// Appends records given as JSON text, all or none.
    @discardableResult
    public func append(contentsOf records: [String], durability: Durability? = nil) throws(StoaError) -> Range<UInt64> {
        try append(contentsOf: records.lazy.map(\.utf8), durability: durability)
    }

    /// Writes encoded records: the one place bytes reach a segment.
    ///
    /// - Returns: the seqs of the records stored, and, for a lone record that
    ///   `dedup_window` kept out, the seq of its earlier copy.
    @usableFromInline
    func write(_ batch: EncodedBatch, durability: Durability?) throws(StoaError) -> (seqs: Range<UInt64>, duplicateOf: UInt64?) {
        var progress = WriteProgress()
        do {
            return try write(batch, durability: durability, progress: &progress)
        } catch {
            var error = error
            if let stored = progress.stored, !stored.isEmpty {
                error.message += "; the first \(stored.count) records of this append were stored (seq \(stored.lowerBound) to \(stored.upperBound - 1))"
            } else {
                error.message += "; nothing of this append was stored"
            }
            throw error
        }
    }

    /// ``write(_:durability:)``, saying in `progress` how far it got, so
    /// that when it throws the caller knows which records are stored.
    func write(
        _ batch: EncodedBatch, durability: Durability?, progress: inout WriteProgress
    ) throws(StoaError) -> (seqs: Range<UInt64>, duplicateOf: UInt64?) {
        guard !batch.lineEnds.isEmpty else {
            let next = state.withLock { $0.active.base + $0.count }
            return (next..<next, nil)
        }
        let durability = durability ?? configuration.durability
        averageLineBytes.store(batch.bytes.count / batch.lineEnds.count, ordering: .relaxed)
        let (seqs, generation, duplicateOf) = try state.withLock { (state) throws(StoaError) in
            var batch = batch
            var duplicateOf: UInt64?
            if state.dedup != nil, batch.keyStarts != nil {
                (batch, duplicateOf) = removeDuplicates(batch, state: &state)
                if batch.lineEnds.isEmpty {
                    let next = state.active.base + state.count
                    return (next..<next, state.generation, duplicateOf)
                }
            }
            let (seqs, generation) = try writeLocked(batch, state: &state, progress: &progress)
            return (seqs, generation, duplicateOf)
        }
        if durability == .always {
            try commit.waitUntilDurable(generation) { () throws(StoaError) in try syncActive() }
        }
        return (seqs, duplicateOf)
    }

    private func writeLocked(
        _ batch: EncodedBatch, state: inout WriterState, progress: inout WriteProgress
    ) throws(StoaError) -> (Range<UInt64>, UInt64) {
        if state.closed { throw StoaError(.closed, "the store is closed", path: path) }
        if let failure = state.failure {
            throw StoaError(
                .closed, "the store stopped accepting appends after an earlier failure (\(failure)); reopen it to recover",
                path: path)
        }
        let first = state.active.base + state.count
        var written = 0  // records of this batch already in a segment
        var start = 0  // byte offset of the first unwritten record
        let now = clock.now()
        while written < batch.lineEnds.count {
            let firstLength = batch.lineEnds[written] - start
            let tooOld = now - state.active.createdAt >= configuration.segmentAge
            if state.count > 0 && (state.size + firstLength > configuration.segmentBytes || tooOld) {
                try seal(&state)
            }
            // As many records as fit in this segment (at least one).
            var end = written + 1
            while end < batch.lineEnds.count && state.size + batch.lineEnds[end] - start <= configuration.segmentBytes {
                end += 1
            }
            let stop = batch.lineEnds[end - 1]
            do {
                try batch.bytes.withUnsafeBufferPointer { (buffer) throws(StoaError) in
                    try fileSystem.writeAll(
                        state.active.file.fd, UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[start..<stop])),
                        path: state.active.file.path)
                }
            } catch {
                try undoPartialWrite(&state, error: error)
            }
            indexInBackground(batch, lines: written..<end, bytes: stop - start, active: state.active, offset: state.size)
            if state.dedup != nil {
                Self.remember(
                    batch, lines: written..<end, firstSeq: state.active.base + state.count, segment: state.active.base,
                    offset: state.size, now: now, in: &state.dedup!)
            }
            state.count += UInt64(end - written)
            state.size += stop - start
            state.generation += 1
            written = end
            start = stop
            progress.stored = first..<(first + UInt64(written))
            if batch.sourceLines.count == batch.lineEnds.count {
                progress.lastSourceLine = batch.sourceLines[written - 1]
                progress.storedSourceLines = batch.sourceLines[..<written]
            }
        }
        return (first..<(first + UInt64(written)), state.generation)
    }

    /// Hands lines just written to the active segment at `offset` (`lines`
    /// of `batch`, `bytes` long) to the background, which
    /// indexes them from the facts their encoding found instead of scanning
    /// them again. Called with the state locked, so that the background
    /// gets them in the order they were written.
    ///
    /// Not for small writes (a job per record would cost more than it
    /// saves) nor while the background is behind: what is not handed over
    /// is read back from the file when it is needed.
    private func indexInBackground(
        _ batch: EncodedBatch, lines: Range<Int>, bytes: Int, active: ActiveSegment, offset: Int
    ) {
        guard batch.facts.count == batch.lineEnds.count, bytes >= Self.minimumBackgroundBytes,
            checkpoint.queuedBytes.load(ordering: .relaxed) < ActiveCheckpoint.queueLimit
        else { return }
        let written = ActiveCheckpoint.Written(
            path: active.file.path, base: active.base, offset: offset, bytes: batch.bytes,
            lineEnds: batch.lineEnds, facts: batch.facts, lines: lines)
        let (checkpoint, encoder) = (self.checkpoint, self.encoder)
        checkpoint.queuedBytes.add(bytes, ordering: .relaxed)
        worker.submit {
            checkpoint.addWritten(written, encoder: encoder)
            checkpoint.queuedBytes.subtract(bytes, ordering: .relaxed)
        }
    }

    /// Writes smaller than this are left for the background to read back.
    static let minimumBackgroundBytes = 32 << 10

    /// Cuts the active segment back after a failed write, so that no partial
    /// line stays behind, and throws the write's error.
    private func undoPartialWrite(_ state: inout WriterState, error: StoaError) throws(StoaError) -> Never {
        do {
            try fileSystem.ftruncate(state.active.file.fd, to: state.size, path: state.active.file.path)
        } catch let truncateError {
            // The segment may end in a partial line: stop here; reopening cuts it.
            state.failure = truncateError
        }
        throw error
    }

    /// Seals the active segment and starts the next one. Called with the
    /// state locked.
    private func seal(_ state: inout WriterState) throws(StoaError) {
        let old = state.active
        // Once the next segment exists, this one must be whole on disk.
        try fileSystem.fsync(old.file.fd, path: old.file.path)
        commit.markDurable(state.generation)
        // Its checkpoint .idx is not a sealed segment's: the indexer writes that.
        let checkpointPath = layout.path(of: SegmentName(base: old.base, kind: .index))
        // (Left behind, it is harmless: no sealed-segment reader takes it.)
        if (try? FileReads.fileSystem.status(checkpointPath)) != nil { try? fileSystem.unlink(checkpointPath) }
        let next = try ActiveSegment(creating: layout, base: old.base + state.count, fileSystem: fileSystem, now: clock.now())
        let sealed = (path: old.file.path, base: old.base, size: state.size, count: state.count)
        state.active = next
        state.count = 0
        state.size = 0
        state.sealedSegments += 1
        scheduleIndexing(below: next.base, sealed: sealed)
    }

    /// Syncs the active segment; returns the generation that is now on disk.
    private func syncActive() throws(StoaError) -> UInt64 {
        let (file, generation) = state.withLock { ($0.active.file, $0.generation) }
        do {
            try fileSystem.fdatasync(file.fd, path: file.path)
        } catch {
            state.withLock { $0.failure = $0.failure ?? error }
            throw error
        }
        return generation
    }

    private func startIntervalSync() {
        let timer = IntervalTimer(interval: configuration.fsyncInterval, name: "stoa-fsync") { [weak self] in
            try? self?.intervalSync()
        }
        self.timer.withLock { $0 = timer }
    }

    /// What the `interval` timer does at each tick: syncs the active
    /// segment if anything was written since the last sync. (Tests call it
    /// to tick the timer themselves.)
    func intervalSync() throws(StoaError) {
        let generation = state.withLock { $0.generation }
        guard !commit.isDurable(generation) else { return }
        try commit.waitUntilDurable(generation) { () throws(StoaError) in try syncActive() }
    }

    /// Every `maintenanceInterval`: seal the active segment if it is old
    /// enough and has records (appends seal it too, but an idle store must
    /// age as well), then run the indexer and the tier policy.
    private func startMaintenance() {
        let timer = IntervalTimer(interval: Self.maintenanceInterval, name: "stoa-maintenance") { [weak self] in
            self?.sealIfOld()
            if let self, self.hasTierPolicy { self.scheduleIndexing(below: self.state.withLock { $0.active.base }) }
            self?.submitCheckpoint()
        }
        maintenance.withLock { $0 = timer }
    }

    /// Queues ``checkpointJob(force:)`` behind the lines written so far, and
    /// before any written later, so that it finds them indexed.
    private func submitCheckpoint() {
        state.withLock { state in
            if let job = checkpointJob(force: false, state: state) { worker.submit(job) }
        }
    }

    /// Writes the active segment's checkpoint `.idx` (when it has grown
    /// enough, or at all with `force`): what it has indexed, acknowledged and
    /// synced. Nil when the writer has failed or the segment is empty.
    private func checkpointJob(force: Bool, state: borrowing WriterState) -> (@Sendable () -> Void)? {
        guard state.failure == nil, state.size > 0 else { return nil }
        let (active, size) = (state.active, state.size)
        let (checkpoint, layout, encoder, fileSystem) = (self.checkpoint, self.layout, self.encoder, self.fileSystem)
        return {
            // A cache: a checkpoint not written now is written later, or never needed.
            try? fileSystem.fdatasync(active.file.fd, path: active.file.path)
            try? checkpoint.write(
                active.file.path, indexPath: layout.path(of: SegmentName(base: active.base, kind: .index)),
                base: active.base, size: size, force: force, encoder: encoder, fileSystem: fileSystem)
        }
    }

    /// Seals the active segment when it has records and is `segment_age` old
    /// as of `now` (µs; the store's clock by default).
    func sealIfOld(now: Int64? = nil) {
        let now = now ?? clock.now()
        try? state.withLock { (state) throws(StoaError) in
            guard !state.closed, state.failure == nil, state.count > 0,
                now - state.active.createdAt >= configuration.segmentAge
            else { return }
            try seal(&state)
        }
    }

    // MARK: Closing and state

    /// Syncs everything to disk and releases the lock. Appends after this fail
    /// with `.closed`, and so do ``reindex()`` and ``applyTierPolicy(now:)``.
    /// Closing twice is harmless.
    ///
    /// Waits for the background (indexing, the tier policy) and for a
    /// `reindex` or `applyTierPolicy` under way on another thread: once it
    /// returns, nothing of this writer touches the store.
    public func close() throws(StoaError) {
        // No new appends (nor seals, which queue background work) from here.
        let (wasOpen, generation) = state.withLock { (state) -> (Bool, UInt64) in
            guard !state.closed else { return (false, 0) }
            state.closed = true
            return (true, state.generation)
        }
        timer.withLock {
            $0?.stop()
            $0 = nil
        }
        maintenance.withLock {
            $0?.stop()
            $0 = nil
        }
        operations.close(whileWaiting: { testHooks.call(.closeWaits) })
        // Runs what is queued, then stops: a job submitted later is dropped.
        worker.stop()
        // The lock goes even when the last sync fails: the next writer's recovery takes over.
        defer { lock.release() }
        if generation > 0 && !commit.isDurable(generation) {
            try commit.waitUntilDurable(generation) { () throws(StoaError) in try syncActive() }
        }
        // The next reader indexes only what comes after this.
        state.withLock { checkpointJob(force: true, state: $0) }?()
        // How far seqs went, for the next writer and `stoa verify`
        // (written only when it moves: a read of a small file otherwise).
        if wasOpen {
            let next = state.withLock { $0.active.base + $0.count }
            try HighWaterMark(nextSeq: next).publish(layout, fileSystem: fileSystem)
        }
    }

    /// Counters of the write path.
    public struct WriteStats: Sendable, Equatable {
        /// The seq the next record will get.
        public var nextSeq: UInt64
        /// Records in the active segment.
        public var activeRecords: UInt64
        /// Bytes in the active segment.
        public var activeBytes: Int
        /// Segments sealed since the store was opened.
        public var sealedSinceOpen: Int
        /// `fdatasync` calls made for durability (group commit shares them).
        public var syncs: Int
        /// Records acknowledged but not stored again (`dedup_window`).
        public var deduplicated: Int
    }

    public var writeStats: WriteStats {
        let syncs = commit.syncCount
        return state.withLock {
            WriteStats(
                nextSeq: $0.active.base + $0.count, activeRecords: $0.count, activeBytes: $0.size,
                sealedSinceOpen: $0.sealedSegments, syncs: syncs, deduplicated: $0.deduplicated)
        }
    }

    // MARK: Opening

    /// Gives a store made before store ids one, under the lock, so that its
    /// backups can tell it from another store (``BackupJob``). `stoa.json`
    /// is read again here: the copy read before the lock may be stale (a
    /// writer that held the lock meanwhile may have added an id, which its
    /// backups carry), and an id is never replaced.
    private static func addStoreID(_ layout: StoreLayout, _ fileSystem: any FileSystem) throws(StoaError) -> StoreConfiguration {
        var configuration = try StoreConfiguration.load(from: layout.configuration)
        if configuration.storeID == nil {
            configuration.storeID = StoreConfiguration.newStoreID()
            try fileSystem.writeFileAtomically(layout.configuration, bytes: configuration.encoded())
        }
        return configuration
    }

    private static func loadOrCreate(
        _ layout: StoreLayout, _ configuration: StoreConfiguration, _ fileSystem: any FileSystem
    ) throws(StoaError) -> StoreConfiguration {
        if try FileReads.fileSystem.status(layout.configuration) != nil {
            return try StoreConfiguration.load(from: layout.configuration)
        }
        // Checked before anything is created: a refused store leaves no directory behind.
        var configuration = configuration
        if configuration.storeID == nil { configuration.storeID = StoreConfiguration.newStoreID() }
        do {
            try configuration.validate()
        } catch {
            throw StoaError(.badConfig, error.message, path: layout.configuration)
        }
        if let names = try FileReads.fileSystem.listDirectory(layout.root) {
            let foreign = names.filter { $0 != "LOCK" && !$0.hasSuffix(".tmp") }
            if !foreign.isEmpty {
                throw StoaError(
                    .notAStore,
                    "the directory has files but no stoa.json, so it is not a store; "
                        + "use an empty or new directory (read-only commands also work on a folder of JSONL logs)",
                    path: layout.root)
            }
        } else {
            try fileSystem.makeDirectory(layout.root)
        }
        try fileSystem.writeFileAtomically(layout.configuration, bytes: configuration.encoded())
        return configuration
    }

    /// What opening found when the segments end before the high-water mark.
    static func describeMissing(_ missing: Range<UInt64>, segments: Int) -> String {
        "seqs \(missing.lowerBound) to \(missing.upperBound - 1) were acknowledged (\(HighWaterMark.fileName) records how far seqs went) "
            + "but no segment holds them: the newest segments were removed or cut short"
            + (segments == 0 ? " (none is left)" : "")
            + "; new records start at seq \(missing.upperBound), so that no seq is used twice "
            + "(a backup's segments can be copied back into the gap)"
    }

    /// The seq after the last record of a sealed segment.
    private static func endSeq(of file: SegmentFile, encoder: RecordEncoder) throws(StoaError) -> UInt64 {
        let size = Int(try FileReads.fileSystem.status(file.path)?.st_size ?? 0)
        if let index = IndexFile.load(file.indexPath, base: file.base, fileSize: size) {
            return file.base + UInt64(index.index.lineCount)
        }
        return file.base + UInt64(try SidecarIndexer.build(file, encoder: encoder).index.lineCount)
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

/// How far a write got before it failed.
struct WriteProgress {
    /// The seqs of the batch's records that are in a segment (nil: none).
    var stored: Range<UInt64>?
    /// For a stream: the input line the last of them ends on.
    var lastSourceLine: Int?
    /// For a stream: the input line each of them ends on, in seq order.
    var storedSourceLines: ArraySlice<Int> = []
}

/// The segment being appended to.
final class ActiveSegment: Sendable {
    let file: OpenFile
    let base: UInt64
    /// When the segment was created (µs), for `segment_age`.
    let createdAt: Int64

    /// - Parameter now: the store's time (µs), taken as the creation time
    ///   where the file system keeps none.
    init(opening path: String, base: UInt64, fileSystem: any FileSystem, now: Int64) throws(StoaError) {
        self.file = try OpenFile(path: path, flags: O_RDWR | O_APPEND | O_NOFOLLOW, fileSystem: fileSystem)
        self.base = base
        self.createdAt = Syscalls.birthTime(file.fd) ?? now
    }

    /// - Parameter now: the store's time (µs): the segment's creation time.
    init(creating layout: StoreLayout, base: UInt64, fileSystem: any FileSystem, now: Int64) throws(StoaError) {
        let path = layout.path(of: SegmentName(base: base, kind: .plain))
        self.file = try OpenFile(path: path, flags: O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW, fileSystem: fileSystem)
        self.base = base
        self.createdAt = now
        try fileSystem.syncDirectory(layout.segments)
    }
}

/// An ``Store/append(contentsOf:durability:)`` under way: the records
/// encoded so far, the time given to those without one, and how many were
/// added (for the line number of an error).
@usableFromInline
struct BatchInProgress {
    @usableFromInline var encoded: EncodedBatch
    let now: Int64
    var line = 0
}

/// Records encoded for storage, back to back, each ending in `\n`.
@usableFromInline
struct EncodedBatch {
    var bytes: [UInt8] = []
    /// Where each record ends in `bytes` (just after its newline).
    var lineEnds: [Int] = []
    /// With `dedup_window`: where each line's key starts (``DedupWindow``),
    /// and the keys' digests.
    var keyStarts: [Int]?
    var digests: [DedupWindow.Digest]?
    private var digest: DedupWindow.Digester?
    /// The stamp given to records without a time, as text, to find it in
    /// their lines (with `dedup_window`).
    private var stamp: (time: Int64, text: [UInt8])?
    /// For a stream: the input line each record ends on (empty otherwise).
    var sourceLines: [Int] = []
    /// What encoding found in each line, for the active segment's index
    /// (``ActiveCheckpoint``). Whoever removes lines without removing their
    /// facts leaves more facts than lines: then they are not used.
    var facts: [LineFacts] = []

    /// - Parameter digest: with `dedup_window`, the digest repeats are
    ///   found by (each record's is taken as it is added).
    init(digest: DedupWindow.Digester? = nil) {
        self.digest = digest
        if digest != nil {
            keyStarts = []
            digests = []
        }
    }

    /// Bytes an encoded line may need beyond its input once compact: the
    /// newline and an inserted `"ts":"…",` (a longer default type just
    /// makes the array grow once).
    static let insertionRoom = 48

    /// Makes room for `records` more lines of `bytes` in all.
    mutating func reserve(records: Int, bytes count: Int) {
        lineEnds.reserveCapacity(lineEnds.count + records)
        facts.reserveCapacity(facts.count + records)
        bytes.reserveCapacity(bytes.count + count)
        if keyStarts != nil {
            keyStarts!.reserveCapacity(keyStarts!.count + records)
            digests!.reserveCapacity(digests!.count + records)
        }
    }

    /// Encodes `record` and adds it at the end.
    ///
    /// - Throws: what ``RecordEncoder/encode(_:into:now:defaultType:)``
    ///   throws; the batch is then unchanged.
    mutating func add(
        _ record: UnsafeBufferPointer<UInt8>, encoder: RecordEncoder, now: Int64, defaultType: String? = nil
    ) throws(StoaError) {
        facts.append(try encoder.encode(record, into: &bytes, now: now, defaultType: defaultType))
        lineEnds.append(bytes.count)
        if let digest {
            let start = lineEnds.count == 1 ? 0 : lineEnds[lineEnds.count - 2]
            // Only a stamp Stoa inserted is left out of the key: a record
            // that came with the same time keeps it (``DedupWindow``).
            if facts.last!.timeInserted && stamp?.time != now {
                var text: [UInt8] = []
                Timestamp.append(now, to: &text)
                stamp = (now, text)
            }
            let keyStart = bytes.withUnsafeBufferPointer { all in
                let line = UnsafeBufferPointer(rebasing: all[start..<(bytes.count - 1)])
                let keyStart =
                    facts.last!.timeInserted
                    ? DedupWindow.keyStart(of: line, member: encoder.insertedTimeMember, stamp: stamp!.text) : 1
                digests!.append(digest(UnsafeBufferPointer(rebasing: line[keyStart...])))
                return keyStart
            }
            keyStarts!.append(keyStart)
        }
    }

    /// The same batch without the records at `dropped`.
    func removing(_ dropped: Set<Int>) -> EncodedBatch {
        var kept = EncodedBatch(digest: digest)
        let hasFacts = facts.count == lineEnds.count
        var start = 0
        for (position, end) in lineEnds.enumerated() {
            if !dropped.contains(position) {
                kept.bytes += bytes[start..<end]
                kept.lineEnds.append(kept.bytes.count)
                if hasFacts { kept.facts.append(facts[position]) }
                if let keyStarts { kept.keyStarts!.append(keyStarts[position]) }
                if let digests { kept.digests!.append(digests[position]) }
                if sourceLines.count == lineEnds.count { kept.sourceLines.append(sourceLines[position]) }
            }
            start = end
        }
        return kept
    }
}
