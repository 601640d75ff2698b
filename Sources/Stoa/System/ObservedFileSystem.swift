#if canImport(Glibc)
import Glibc
#endif

/// The real file system, telling an observer of each call before it is
/// made: for crash tests that stop a child process at a chosen call and
/// kill it there (`Tests/CrashWriter`), so that the kill lands at the same
/// point on a fast machine and a loaded one.
struct ObservedFileSystem: FileSystem {
    let real: any FileSystem
    /// Called before each call but `status` (which changes nothing), with
    /// the call's name and path.
    let before: @Sendable (_ call: String, _ path: String) -> Void

    func open(_ path: String, flags: Int32, mode: mode_t) throws(StoaError) -> Int32 {
        before("open", path)
        return try real.open(path, flags: flags, mode: mode)
    }
    func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(StoaError) -> Int {
        before("write", path)
        return try real.write(fd, buffer, path: path)
    }
    func fsync(_ fd: Int32, path: String) throws(StoaError) {
        before("fsync", path)
        try real.fsync(fd, path: path)
    }
    func fdatasync(_ fd: Int32, path: String) throws(StoaError) {
        before("fdatasync", path)
        try real.fdatasync(fd, path: path)
    }
    func ftruncate(_ fd: Int32, to size: Int, path: String) throws(StoaError) {
        before("ftruncate", path)
        try real.ftruncate(fd, to: size, path: path)
    }
    func rename(_ from: String, to: String) throws(StoaError) {
        before("rename", to)
        try real.rename(from, to: to)
    }
    func unlink(_ path: String) throws(StoaError) {
        before("unlink", path)
        try real.unlink(path)
    }
    func mkdir(_ path: String, mode: mode_t) throws(StoaError) {
        before("mkdir", path)
        try real.mkdir(path, mode: mode)
    }
    func link(_ from: String, to: String) throws(StoaError) {
        before("link", to)
        try real.link(from, to: to)
    }
}
