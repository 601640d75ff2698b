// Sealing: the active segment gives way to the next one when it is full
// or old.
extension Store {
    /// Seals the active segment and starts the next one. Called with the
    /// state locked.
    func seal(_ state: inout WriterState) throws(StoaError) {
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

    /// Seals the active segment when it has records and is `segment_age` old
    /// as of `now` (µs; the store's clock by default).
    func sealIfOld(now: Int64? = nil) {
        let now = now ?? clock.now()
        try? state.withLock { (state) throws(StoaError) in
            guard !state.closed, state.failure == nil, state.count > 0,
                now - state.active.createdAt >= configuration.segmentAge.saturatingMicroseconds
            else { return }
            try seal(&state)
        }
    }

    /// Every `maintenanceInterval`: seal the active segment if it is old
    /// enough and has records (appends seal it too, but an idle store must
    /// age as well), then run the indexer and the tier policy.
    func startMaintenance() {
        let timer = IntervalTimer(interval: Self.maintenanceInterval, name: "stoa-maintenance") { [weak self] in
            self?.sealIfOld()
            if let self, self.hasTierPolicy { self.scheduleIndexing(below: self.state.withLock { $0.active.base }) }
            self?.submitCheckpoint()
        }
        maintenance.withLock { $0 = timer }
    }
}
