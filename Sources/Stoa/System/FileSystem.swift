import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The store's door to the disk: every call that creates, writes, syncs,
/// truncates, renames or removes a file goes through one of these, and so
/// does every read (open, `pread`, `fstat`, `mmap`, `stat`, a directory's
/// listing).
///
/// The store uses ``SystemFileSystem``; tests hand it a file system that fails
/// a chosen call with a chosen errno (ENOSPC, EIO, a short write), to prove
/// that acknowledged records survive every failure; the writer reads its
/// active segment (recovery, the checkpoint) through that same file system.
/// Readers, and the writer's other lookups (`stat`, listings, sealed
/// segments), use ``FileReads/fileSystem``, which tests bind to one that
/// fails reads (EIO on a `pread` of one file), to prove that such a failure
/// is reported with the file, never a crash or a wrong record. Threads a
/// reader or the writer starts itself (background indexing, tier moves,
/// timers) read through the real file system, but for verify's workers,
/// which take the caller's.
///
/// Every call has a default implementation, the real call: a test file
/// system implements those it fails, counts or records.
protocol FileSystem: Sendable {
    func open(_ path: String, flags: Int32, mode: mode_t) throws(StoaError) -> Int32
    /// One `write(2)`: it may write fewer bytes than asked.
    func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(StoaError) -> Int
    func fsync(_ fd: Int32, path: String) throws(StoaError)
    func fdatasync(_ fd: Int32, path: String) throws(StoaError)
    func ftruncate(_ fd: Int32, to size: Int, path: String) throws(StoaError)
    func rename(_ from: String, to: String) throws(StoaError)
    func unlink(_ path: String) throws(StoaError)
    func mkdir(_ path: String, mode: mode_t) throws(StoaError)
    func link(_ from: String, to: String) throws(StoaError)
    /// `stat`, or nil when the path does not exist. (Reading changes
    /// nothing; it is here so that tests can count lookups.)
    func status(_ path: String) throws(StoaError) -> stat?
    /// `lstat`, or nil when the path does not exist.
    func linkStatus(_ path: String) throws(StoaError) -> stat?
    /// The names in a directory (not `.` and `..`), or nil when it does not exist.
    func listDirectory(_ path: String) throws(StoaError) -> [String]?
    /// Up to `buffer.count` bytes at `offset`: fewer only at the end of the
    /// file or when interrupted part-way (``OpenFile`` loops).
    func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String) throws(StoaError) -> Int
    func fstat(_ fd: Int32, path: String) throws(StoaError) -> stat
    /// Maps `count` (> 0) bytes of `fd` read-only; ``MappedFile`` unmaps them.
    func mapReadOnly(_ fd: Int32, count: Int, path: String) throws(StoaError) -> UnsafeRawPointer
    /// An exclusive `flock` on `fd` without waiting: false when another open
    /// file description holds one.
    func tryLockExclusive(_ fd: Int32, path: String) throws(StoaError) -> Bool
    /// All of `buffer` written at `offset` (`pwrite` until done).
    func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, at offset: Int, path: String) throws(StoaError)
    /// An inotify feed of changes in `directories`, or nil where inotify is
    /// not available (``ChangeFeed/init(watching:closes:)``): the reader then
    /// looks in full each time.
    func changeFeed(watching directories: [String], closes: Bool) -> ChangeFeed?
}

/// The file system that reads go through: ``SystemFileSystem`` unless a
/// test binds another for what it runs (`FileReads.$fileSystem.withValue`),
/// to fail a read. Read where a file is opened, stat'ed or listed, not per
/// record: an open file keeps the one it was opened with.
///
/// A task-local value rather than a parameter of every reader: a store's
/// files are read from dozens of places (segments, `.idx` files, the
/// checkpoint, `HIGHWATER`, the configuration, backups, verification),
/// and each test binds its own, so tests running at once do not meet.
enum FileReads {
    @TaskLocal static var fileSystem: any FileSystem = SystemFileSystem()
}

/// The real file system: every call as ``FileSystem``'s defaults make it.
struct SystemFileSystem: FileSystem {}

/// The real calls, for what a file system does not replace: a test's file
/// system implements only the calls it fails, counts or records.
extension FileSystem {
    func open(_ path: String, flags: Int32, mode: mode_t) throws(StoaError) -> Int32 {
        try Syscalls.open(path, flags: flags, mode: mode)
    }
    func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(StoaError) -> Int {
        try Syscalls.write(fd, buffer, path: path)
    }
    func fsync(_ fd: Int32, path: String) throws(StoaError) { try Syscalls.fsync(fd, path: path) }
    func fdatasync(_ fd: Int32, path: String) throws(StoaError) { try Syscalls.fdatasync(fd, path: path) }
    func ftruncate(_ fd: Int32, to size: Int, path: String) throws(StoaError) {
        try Syscalls.ftruncate(fd, to: size, path: path)
    }
    func rename(_ from: String, to: String) throws(StoaError) { try Syscalls.rename(from, to: to) }
    func unlink(_ path: String) throws(StoaError) { try Syscalls.unlink(path) }
    func mkdir(_ path: String, mode: mode_t) throws(StoaError) { try Syscalls.mkdir(path, mode: mode) }
    func link(_ from: String, to: String) throws(StoaError) { try Syscalls.link(from, to: to) }
    func tryLockExclusive(_ fd: Int32, path: String) throws(StoaError) -> Bool {
        try Syscalls.tryLockExclusive(fd, path: path)
    }
    func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, at offset: Int, path: String) throws(StoaError) {
        try Syscalls.writeAll(fd, buffer, at: offset, path: path)
    }
    func changeFeed(watching directories: [String], closes: Bool) -> ChangeFeed? {
        ChangeFeed(watching: directories, closes: closes)
    }
    func status(_ path: String) throws(StoaError) -> stat? { try Syscalls.status(path) }
    func linkStatus(_ path: String) throws(StoaError) -> stat? { try Syscalls.linkStatus(path) }
    func listDirectory(_ path: String) throws(StoaError) -> [String]? { try Syscalls.listDirectory(path) }
    func pread(
        _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String
    ) throws(StoaError) -> Int {
        try Syscalls.pread(fd, into: buffer, at: offset, path: path)
    }
    func fstat(_ fd: Int32, path: String) throws(StoaError) -> stat { try Syscalls.fstat(fd, path: path) }
    func mapReadOnly(_ fd: Int32, count: Int, path: String) throws(StoaError) -> UnsafeRawPointer {
        try Syscalls.mapReadOnly(fd, count: count, path: path)
    }

    /// Writes every byte of `buffer`, looping over short writes.
    ///
    /// When it throws, some prefix of `buffer` may be in the file: the caller
    /// cuts the file back to where it was.
    func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(StoaError) {
        var done = 0
        while done < buffer.count {
            let rest = UnsafeRawBufferPointer(rebasing: buffer[done...])
            let written = try write(fd, rest, path: path)
            if written == 0 {
                throw StoaError(.io, "write made no progress", path: path, call: "write")
            }
            done += written
        }
    }

    /// Creates `path` and its missing parents (`0750`), syncing the parent of
    /// each it creates, so that a new directory's name survives a crash.
    func makeDirectories(_ path: String) throws(StoaError) {
        if try status(path) != nil { return }
        let parent = Path.directory(of: path)
        if parent != path && parent != "." && parent != "/" { try makeDirectories(parent) }
        try makeDirectory(path)
    }

    /// Creates the directory `path` (`0750`) unless it exists, and syncs
    /// its parent, which must exist, so that its name survives a crash.
    func makeDirectory(_ path: String) throws(StoaError) {
        if try status(path) != nil { return }
        try mkdir(path, mode: 0o750)
        try syncDirectory(Path.directory(of: path))
    }

    /// Syncs a directory, so that a rename or a new file in it survives a crash.
    func syncDirectory(_ path: String) throws(StoaError) {
        let fd = try open(path, flags: O_RDONLY | O_DIRECTORY, mode: 0)
        defer { Syscalls.close(fd) }
        try fsync(fd, path: path)
    }

    /// Gives the immutable file `source` a second name `destination`,
    /// atomically and durably: a hard link when both are on one file system,
    /// else a copy (`destination.tmp`, write, fsync), then a rename and a
    /// sync of the destination's directory. The source stays.
    func placeCopy(of source: String, at destination: String) throws(StoaError) {
        let temporary = destination + ".tmp"
        try unlink(temporary)
        do {
            try link(source, to: temporary)
        } catch where error.errno == EXDEV {
            let input = try OpenFile(readingAt: source)
            let output = try open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: 0o640)
            defer { Syscalls.close(output) }
            var offset = 0
            while true {
                let chunk = try input.read(fromAbsoluteOffset: offset, count: 1 << 20)
                if chunk.isEmpty { break }
                try chunk.withUnsafeBufferPointer { (buffer) throws(StoaError) in
                    try writeAll(output, UnsafeRawBufferPointer(buffer), path: temporary)
                }
                offset += chunk.count
            }
            try fsync(output, path: temporary)
        }
        try rename(temporary, to: destination)
        try syncDirectory(Path.directory(of: destination))
    }

    /// Publishes `bytes` at `path` atomically: a new temporary file beside
    /// it (``TemporaryName/writer(for:)``, unique to the call, so that
    /// two writes to one path at once never write into the same file),
    /// write, fsync, rename, fsync the directory. A crash leaves the old
    /// file or the new one, never a mix (and maybe a stale `.tmp`, which
    /// opening removes).
    func writeFileAtomically(_ path: String, bytes: [UInt8], mode: mode_t = 0o640) throws(StoaError) {
        try writeFileAtomically(path, mode: mode) { (fd, temporary) throws(StoaError) in
            try bytes.withUnsafeBufferPointer { (buffer) throws(StoaError) in
                try writeAll(fd, UnsafeRawBufferPointer(buffer), path: temporary)
            }
        }
    }

    /// Publishes at `path` what `body` writes to the file descriptor it is
    /// given (of its temporary file, the second argument), atomically as
    /// above. When `body` or the sync fails, the temporary file is removed
    /// and `path` is untouched.
    func writeFileAtomically(
        _ path: String, mode: mode_t = 0o640, _ body: (Int32, String) throws(StoaError) -> Void
    ) throws(StoaError) {
        let temporary = TemporaryName.writer(for: path)
        // A new file (O_EXCL): never another write's, never through a link
        // planted at the name (it would truncate what it points to).
        let fd = try open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
        do {
            try body(fd, temporary)
            try fsync(fd, path: temporary)
        } catch {
            Syscalls.close(fd)
            try? unlink(temporary)
            throw error
        }
        Syscalls.close(fd)
        try rename(temporary, to: path)
        try syncDirectory(Path.directory(of: path))
    }
}

/// The temporary names of the writer's atomic publishing
/// (``FileSystem/writeFileAtomically(_:bytes:mode:)``):
/// `<path>.<pid>-w<n>.tmp`, `n` counting this process's writes, so that two
/// writes to one path at once never write into the same file.
/// `TemporaryFile` (Segments) recognises them, to remove stale ones.
enum TemporaryName {
    private static let written = Atomic<UInt64>(0)

    static func writer(for path: String) -> String {
        let number = written.add(1, ordering: .relaxed).newValue
        return "\(path).\(Syscalls.processID())-w\(number).tmp"
    }
}
