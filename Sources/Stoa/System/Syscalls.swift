import CStoaSystem
#if canImport(Glibc)
import Glibc
#endif

// Every raw system call Stoa makes, each wrapped once: `EINTR` is retried
// (never for `close`), and `-1` becomes a thrown `StoaError` that names the
// call, the errno and the path.
//
// The calls that change what is on disk (open with O_CREAT, write, fsync,
// fdatasync, ftruncate, rename, unlink, mkdir) are not called from here
// directly by the store: they go through `FileSystem`, so tests can fail any
// of them on purpose.

/// Runs `body` until it returns something other than `-1` with `EINTR`.
@inline(__always)
func retryingOnInterrupt<T: BinaryInteger>(_ body: () -> T) -> (T, Int32) {
    while true {
        let result = body()
        if result == -1 {
            let error = Glibc.errno
            if error == EINTR { continue }
            return (result, error)
        }
        return (result, 0)
    }
}

/// `-1` becomes an error naming the call and the path.
@inline(__always)
func valueOrThrow<T: BinaryInteger>(
    _ call: String, path: String?, _ body: () -> T
) throws(StoaError) -> T {
    let (result, error) = retryingOnInterrupt(body)
    if result == -1 { throw StoaError.syscall(call, errno: error, path: path) }
    return result
}

package enum Syscalls {
    /// Opens `path`. With `O_NOFOLLOW`, a symbolic link is refused with an
    /// error that says so (the kernel's ELOOP reads "too many levels of
    /// symbolic links").
    static func open(_ path: String, flags: Int32, mode: mode_t = 0o640) throws(StoaError) -> Int32 {
        let (fd, error) = retryingOnInterrupt { Glibc.open(path, flags | O_CLOEXEC, mode) }
        if fd == -1 {
            if error == ELOOP && flags & O_NOFOLLOW != 0 { throw StoaError.symbolicLink(path, call: "open") }
            throw StoaError.syscall("open", errno: error, path: path)
        }
        return fd
    }

    /// Closes `fd`. Never retried: on Linux the descriptor is gone even when close reports EINTR.
    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// One `read(2)` into `buffer`: it may read fewer bytes than asked; 0 at
    /// the end of the input.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws(StoaError) -> Int {
        try valueOrThrow("read", path: path) { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// One `write(2)`: it may write fewer bytes than asked. What the store
    /// writes goes through ``FileSystem``; the command line writes its
    /// output with this.
    package static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(StoaError) -> Int {
        try valueOrThrow("write", path: path) { Glibc.write(fd, buffer.baseAddress, buffer.count) }
    }

    /// Writes every byte of `buffer` at `offset` (`pwrite`, looping over
    /// short writes). For the lock file's hint only: what the store keeps
    /// goes through ``FileSystem``.
    static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, at offset: Int, path: String) throws(StoaError) {
        var done = 0
        while done < buffer.count {
            let rest = UnsafeRawBufferPointer(rebasing: buffer[done...])
            let written = try valueOrThrow("pwrite", path: path) {
                Glibc.pwrite(fd, rest.baseAddress, rest.count, off_t(offset + done))
            }
            if written == 0 { throw StoaError(.io, "write made no progress", path: path, call: "pwrite") }
            done += written
        }
    }

    static func pread(
        _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String
    ) throws(StoaError) -> Int {
        try valueOrThrow("pread", path: path) {
            Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
        }
    }

    static func fsync(_ fd: Int32, path: String) throws(StoaError) {
        _ = try valueOrThrow("fsync", path: path) { Glibc.fsync(fd) }
        SyncObservers.synced(fd)
    }

    static func fdatasync(_ fd: Int32, path: String) throws(StoaError) {
        _ = try valueOrThrow("fdatasync", path: path) { Glibc.fdatasync(fd) }
        SyncObservers.synced(fd)
    }

    static func ftruncate(_ fd: Int32, to size: Int, path: String) throws(StoaError) {
        _ = try valueOrThrow("ftruncate", path: path) { Glibc.ftruncate(fd, off_t(size)) }
    }

    static func fstat(_ fd: Int32, path: String) throws(StoaError) -> stat {
        var info = stat()
        _ = try valueOrThrow("fstat", path: path) { Glibc.fstat(fd, &info) }
        return info
    }

    /// Maps the first `count` bytes (> 0) of the open file `fd` read-only,
    /// for reading in order (`madvise(MADV_SEQUENTIAL)`). Undo with ``unmap(_:count:)``.
    static func mapReadOnly(_ fd: Int32, count: Int, path: String) throws(StoaError) -> UnsafeRawPointer {
        let address = Glibc.mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw StoaError.syscall("mmap", errno: Glibc.errno, path: path)
        }
        _ = Glibc.madvise(address, count, MADV_SEQUENTIAL)
        return UnsafeRawPointer(address)
    }

    static func unmap(_ address: UnsafeRawPointer, count: Int) {
        _ = Glibc.munmap(UnsafeMutableRawPointer(mutating: address), count)
    }

    /// Microseconds since the epoch (`CLOCK_REALTIME`, a vDSO call).
    static func realtimeMicroseconds() -> Int64 {
        var spec = timespec()
        let result = clock_gettime(CLOCK_REALTIME, &spec)
        precondition(result == 0, "clock_gettime(CLOCK_REALTIME) failed")
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
    }

    /// Waits `micros` µs (any length; nothing for 0 or less). A signal may
    /// end a step early: the waits are for pacing, never for correctness.
    static func sleep(micros: Int64) {
        var rest = micros
        while rest > 0 {
            let step = min(rest, 1_000_000_000)  // usleep takes a UInt32
            _ = usleep(UInt32(step))
            rest -= step
        }
    }

    /// Waits until `fd` has something to read or `milliseconds` pass;
    /// whether it has. A signal ends the wait early (false): the callers
    /// loop until their own deadline.
    static func waitUntilReadable(_ fd: Int32, milliseconds: Int32) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return Glibc.poll(&descriptor, 1, max(0, milliseconds)) > 0
    }

    /// Whether the descriptor `fd` is a terminal.
    package static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// The value of the environment variable `name`; nil when it is unset or empty.
    package static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    /// Microseconds of the monotonic clock (for intervals; a vDSO call, no
    /// trap into the kernel).
    static func monotonicMicroseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
    }

    /// `stat`, or nil when the path does not exist.
    package static func status(_ path: String) throws(StoaError) -> Glibc.stat? {
        var info = Glibc.stat()
        let (result, error) = retryingOnInterrupt { stoa_stat(path, &info) }
        if result == -1 {
            if error == ENOENT { return nil }
            throw StoaError.syscall("stat", errno: error, path: path)
        }
        return info
    }

    /// `lstat`: the file itself, not what a symbolic link points to; nil
    /// when the path does not exist.
    static func linkStatus(_ path: String) throws(StoaError) -> Glibc.stat? {
        var info = Glibc.stat()
        let (result, error) = retryingOnInterrupt { Glibc.lstat(path, &info) }
        if result == -1 {
            if error == ENOENT { return nil }
            throw StoaError.syscall("lstat", errno: error, path: path)
        }
        return info
    }

    static func rename(_ from: String, to: String) throws(StoaError) {
        _ = try valueOrThrow("rename", path: "\(from) -> \(to)") { Glibc.rename(from, to) }
    }

    /// A second name for a file. Throws with errno EXDEV across file systems.
    static func link(_ from: String, to: String) throws(StoaError) {
        _ = try valueOrThrow("link", path: "\(from) -> \(to)") { Glibc.link(from, to) }
    }

    /// Free bytes for unprivileged users on the file system holding `path`.
    static func freeBytes(_ path: String) throws(StoaError) -> Int64 {
        var info = statvfs()
        _ = try valueOrThrow("statvfs", path: path) { statvfs(path, &info) }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// Removes a file; a file already gone is not an error.
    static func unlink(_ path: String) throws(StoaError) {
        let (result, error) = retryingOnInterrupt { Glibc.unlink(path) }
        if result == -1 && error != ENOENT { throw StoaError.syscall("unlink", errno: error, path: path) }
    }

    /// Creates a directory; one that already exists is not an error.
    static func mkdir(_ path: String, mode: mode_t = 0o750) throws(StoaError) {
        let (result, error) = retryingOnInterrupt { Glibc.mkdir(path, mode) }
        if result == -1 && error != EEXIST { throw StoaError.syscall("mkdir", errno: error, path: path) }
    }

    /// Takes an exclusive `flock` without waiting. Returns false when another
    /// open file description holds it.
    static func tryLockExclusive(_ fd: Int32, path: String) throws(StoaError) -> Bool {
        let (result, error) = retryingOnInterrupt { stoa_flock(fd, LOCK_EX | LOCK_NB) }
        if result == -1 {
            if error == EWOULDBLOCK { return false }
            throw StoaError.syscall("flock", errno: error, path: path)
        }
        return true
    }

    /// Gives up the `flock` on `fd`. (Closing the descriptor would too.)
    static func unlock(_ fd: Int32) {
        _ = retryingOnInterrupt { stoa_flock(fd, LOCK_UN) }
    }

    /// The names in a directory, without `.` and `..`; nil when it does not exist.
    static func listDirectory(_ path: String) throws(StoaError) -> [String]? {
        guard let dir = opendir(path) else {
            let error = Glibc.errno
            if error == ENOENT { return nil }
            throw StoaError.syscall("opendir", errno: error, path: path)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// When the file was created (statx birth time) in µs, if the file system keeps it.
    static func birthTime(_ fd: Int32) -> Int64? {
        let micros = stoa_birth_time_micros(fd)
        return micros < 0 ? nil : micros
    }

    static func processID() -> Int32 { getpid() }
}

/// Who is told of each `fsync`/`fdatasync` that completed: the power-loss
/// tests, whose model of the page cache makes writes durable only when the
/// kernel was really asked to sync them (a sync skipped anywhere on the way,
/// in the store or here, is one their model does not see).
///
/// Costs one uncontended lock per sync, next to a sync's milliseconds.
enum SyncObservers {
    typealias Observer = @Sendable (Int32) -> Void
    private static let observers = Protected<(next: Int, all: [Int: Observer])>((0, [:]))

    /// Calls `observer` with the descriptor of every sync completed from
    /// now on, in the thread that made it, until ``remove(_:)``.
    static func add(_ observer: @escaping Observer) -> Int {
        observers.withLock { observers in
            observers.next += 1
            observers.all[observers.next] = observer
            return observers.next
        }
    }

    static func remove(_ token: Int) {
        _ = observers.withLock { $0.all.removeValue(forKey: token) }
    }

    static func synced(_ fd: Int32) {
        let all = observers.withLock { $0.all }
        for observer in all.values { observer(fd) }
    }
}
