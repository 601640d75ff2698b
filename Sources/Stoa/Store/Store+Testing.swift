// Entry points for the crash tests' child process, which imports Stoa
// without `@testable` (it is built in release too) and so reaches only
// what is public: `@_spi(Testing) import Stoa`. Not for use outside tests.

extension Store {
    /// Opens the store at `path` for writing as ``init(at:creating:)`` does,
    /// with every file system call of the writer (but `stat`) first reported
    /// to `beforeEachCall`: its name (`open`, `write`, `fsync`, `rename`,
    /// `link`, `unlink`…) and path.
    @_spi(Testing)
    public convenience init(
        at path: String, beforeEachCall: @escaping @Sendable (_ call: String, _ path: String) -> Void
    ) throws(StoaError) {
        try self.init(
            at: path, creating: StoreConfiguration(),
            fileSystem: ObservedFileSystem(real: SystemFileSystem(), before: beforeEachCall))
    }

    /// Queues the writing of the active segment's checkpoint `.idx` behind
    /// the lines written so far, however little it has grown (as
    /// ``close()`` writes it): a test's writer makes checkpoints as often as
    /// it likes, not every `maintenanceInterval`.
    @_spi(Testing)
    public func checkpointInTheBackground() {
        state.withLock { state in
            if let job = checkpointJob(force: true, state: state) { worker.submit(job) }
        }
    }
}
