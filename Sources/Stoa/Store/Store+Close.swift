extension Store {
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

    /// What the writer has done since it opened: seqs, syncs, records deduplicated.
    public var writeStats: WriteStats {
        let syncs = commit.syncCount
        return state.withLock {
            WriteStats(
                nextSeq: $0.active.base + $0.count, activeRecords: $0.count, activeBytes: $0.size,
                sealedSinceOpen: $0.sealedSegments, syncs: syncs, deduplicated: $0.deduplicated)
        }
    }
}
