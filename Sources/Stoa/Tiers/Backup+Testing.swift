// An entry point for the crash tests' child process (`@_spi(Testing) import
// Stoa`), as ``Store/init(at:beforeEachCall:)`` is. Not for use outside tests.

extension StoreBackup {
    /// ``copy(to:)`` with every file system call of the backup (but
    /// `stat`) first reported to `beforeEachCall`, as
    /// ``Store/init(at:beforeEachCall:)`` does.
    @_spi(Testing)
    public func copy(
        to destination: String, beforeEachCall: @escaping @Sendable (_ call: String, _ path: String) -> Void
    ) throws(StoaError) -> BackupReport {
        try copy(to: destination, fileSystem: ObservedFileSystem(real: SystemFileSystem(), before: beforeEachCall))
    }
}
