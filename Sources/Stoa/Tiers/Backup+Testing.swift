// An entry point for the crash tests' child process (`@_spi(Testing) import
// Stoa`), as ``Store/init(at:beforeEachCall:)`` is. Not for use outside tests.

extension StoreReader {
    /// ``backup(to:)`` with every file system call of the backup (but
    /// `stat`) first reported to `beforeEachCall`, as
    /// ``Store/init(at:beforeEachCall:)`` does.
    @_spi(Testing)
    public func backup(
        to destination: String, beforeEachCall: @escaping @Sendable (_ call: String, _ path: String) -> Void
    ) throws(StoaError) -> BackupReport {
        try backup(to: destination, fileSystem: ObservedFileSystem(real: SystemFileSystem(), before: beforeEachCall))
    }
}
