// Durability: the group commit's sync, and the `interval` timer's.
extension Store {
    /// Syncs the active segment; returns the generation that is now on disk.
    func syncActive() throws(StoaError) -> UInt64 {
        let (file, generation) = state.withLock { ($0.active.file, $0.generation) }
        do {
            try fileSystem.fdatasync(file.fd, path: file.path)
        } catch {
            state.withLock { $0.failure = $0.failure ?? error }
            throw error
        }
        return generation
    }

    func startIntervalSync() {
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
}
