// The active segment's checkpoint `.idx`, written off the append path.
extension Store {
    /// Queues ``checkpointJob(force:)`` behind the lines written so far, and
    /// before any written later, so that it finds them indexed.
    func submitCheckpoint() {
        state.withLock { state in
            if let job = checkpointJob(force: false, state: state) { worker.submit(job) }
        }
    }

    /// Writes the active segment's checkpoint `.idx` (when it has grown
    /// enough, or at all with `force`): what it has indexed, acknowledged and
    /// synced. Nil when the writer has failed or the segment is empty.
    func checkpointJob(force: Bool, state: borrowing WriterState) -> (@Sendable () -> Void)? {
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
}
