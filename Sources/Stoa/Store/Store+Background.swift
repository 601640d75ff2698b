// Background work on sealed segments: their `.idx` files, the high-water
// mark and the tier policy, on the store's worker.
extension Store {
    /// Writes missing `.idx` files of segments below `base`, then applies
    /// the tier policy if there is one: in the background.
    ///
    /// - Parameters:
    ///   - sealed: the segment just sealed, whose index the background
    ///     built as it was appended to (``ActiveCheckpoint``).
    ///   - findingMark: whether to bring the high-water mark to the newest
    ///   sealed segment found (at opening: a store may have none yet).
    func scheduleIndexing(
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

    var hasTierPolicy: Bool {
        let c = configuration
        return c.hotFor != nil || c.retainFor != nil || c.maxBytes != nil || c.keepFree != nil
    }

    /// Applies the tier and retention policy now (`stoa tier`): compresses,
    /// archives and deletes sealed segments by their seal time, as of `now`.
    ///
    /// - Parameter now: the time to judge ages by; now by default.
    /// - Throws: `.closed` after ``close()``.
    public func applyTierPolicy(now: Timestamp? = nil) throws(StoaError) -> TierReport {
        try operations.run(path: path) { () throws(StoaError) -> TierReport in
            let base = state.withLock { $0.active.base }
            let result = Protected<Result<TierReport, StoaError>?>(nil)
            worker.submit { [self] in
                let outcome = Result { () throws(StoaError) -> TierReport in
                    testHooks.call(.workBegins)
                    let pass = try indexer.indexSealedSegments(below: base)
                    try HighWaterMark.advance(layout, below: base, fileSystem: fileSystem)
                    if let problem = pass.skipped.first { throw problem }
                    return try tiering.apply(now: now?.microsecondsSinceEpoch ?? clock.now(), activeBase: base)
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
}
