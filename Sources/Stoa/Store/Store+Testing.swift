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
}
