#if canImport(Glibc)
import Glibc
#endif

extension RecordReader {
    /// Writes the records matching `query` to `path` as JSON lines, gzipped
    /// when the path ends in `.gz` (members of about 1 MiB, readable by
    /// `zcat`). From a foreign directory the records are written compacted,
    /// as `stoa query` prints them.
    ///
    /// What it never does:
    /// - write inside what it reads: a `path` in the store (its directory or
    ///   its archive) or in the foreign directory, at any depth and however
    ///   it is reached (symbolic links, `..`, another mount), is refused;
    /// - replace a file that exists, unless `replacing` (and never a
    ///   directory, a device or a pipe);
    /// - write through a name it did not create: the records go to a new
    ///   temporary file beside `path` (`path.<pid>.tmp`, created exclusively,
    ///   so an existing file or symbolic link of that name is never opened),
    ///   which is synced, then renamed to `path`, and the directory synced.
    ///   The file appears whole or not at all; if the process dies first, the
    ///   temporary file stays (remove it).
    ///
    /// ```swift
    /// let logs = try ForeignLogReader(at: "/var/log/agent")
    /// let count = try logs.export(Query(types: ["error"]), to: "errors.jsonl.gz")
    /// ```
    ///
    /// - Parameters:
    ///   - query: the records to write, in its order.
    ///   - path: the file to write (`.gz`: gzipped).
    ///   - replacing: replace `path` when it is an existing file.
    /// - Returns: how many records were written.
    /// - Throws: `.invalidArgument` naming `path` when it is inside what is
    ///   read, is a directory or another file than a regular one, or exists
    ///   and `replacing` is false (nothing
    ///   is written then); `.io` naming the file when it cannot be written
    ///   (nothing is left behind then); what the query throws.
    public func export(_ query: Query, to path: String, replacing: Bool = false) throws(StoaError) -> Int {
        try checkExportDestination(path, replacing: replacing)
        let gzip = path.hasSuffix(".gz")
        let fileSystem = SystemFileSystem()
        let (fd, temporary) = try Self.createTemporary(beside: path)
        defer { Syscalls.close(fd) }
        var written = 0
        do {
            let cursor = try self.query(query)
            var buffer: [UInt8] = []
            buffer.reserveCapacity(1 << 20 + (1 << 16))
            func flush() throws(StoaError) {
                guard !buffer.isEmpty else { return }
                let bytes = gzip ? Gzip.member(buffer) : buffer
                try bytes.withUnsafeBufferPointer { (out) throws(StoaError) in
                    try fileSystem.writeAll(fd, UnsafeRawBufferPointer(out), path: temporary)
                }
                buffer.removeAll(keepingCapacity: true)
            }
            try cursor.forEach { (record) throws(StoaError) in
                record.withUnsafeBytes { buffer.append(contentsOf: $0) }
                buffer.append(0x0A)
                written += 1
                if buffer.count >= 1 << 20 { try flush() }
            }
            try flush()
            try fileSystem.fsync(fd, path: temporary)
            try Self.publish(temporary, at: path, replacing: replacing)
            try fileSystem.syncDirectory(Path.directory(of: path))
        } catch {
            try? fileSystem.unlink(temporary)
            throw error
        }
        return written
    }

    /// Refuses a destination inside what this reader reads, a directory, or
    /// an existing file when not `replacing`.
    func checkExportDestination(_ path: String, replacing: Bool) throws(StoaError) {
        if let directory = try Containment.directory(holding: path, among: sourceDirectories) {
            throw StoaError(
                .invalidArgument,
                "is inside \(directory), which this export reads; export never writes there: choose a path outside it",
                path: path)
        }
        let directory = Path.directory(of: path)
        guard let parent = try FileReads.fileSystem.status(directory), parent.st_mode & S_IFMT == S_IFDIR else {
            throw StoaError(.io, "no such directory: \(directory)", path: path)
        }
        guard let existing = try FileReads.fileSystem.status(path) else { return }
        if existing.st_mode & S_IFMT == S_IFDIR {
            throw StoaError(.invalidArgument, "is a directory: give the name of the file to write", path: path)
        }
        if existing.st_mode & S_IFMT != S_IFREG {
            // Renaming over a device or a pipe would replace it, not write to it.
            throw StoaError(
                .invalidArgument, "is not a regular file (a device, a pipe…): give a file name, or - for standard output",
                path: path)
        }
        if !replacing {
            throw StoaError(
                .invalidArgument, "already exists: choose another name, or replace it (stoa export --force)",
                path: path)
        }
    }

    /// A new file beside `path`, created exclusively: `path.<pid>.tmp`, or
    /// `path.<pid>-<n>.tmp` when that name is taken.
    static func createTemporary(beside path: String) throws(StoaError) -> (fd: Int32, path: String) {
        let stem = "\(path).\(Syscalls.processID())"
        var attempt = 0
        while true {
            let temporary = attempt == 0 ? "\(stem).tmp" : "\(stem)-\(attempt).tmp"
            if let fd = try Syscalls.createNew(temporary) { return (fd, temporary) }
            attempt += 1
        }
    }

    /// Renames the finished `temporary` to `path`: over an existing file
    /// only when `replacing`, else never, even one that appeared meanwhile.
    static func publish(_ temporary: String, at path: String, replacing: Bool) throws(StoaError) {
        if replacing {
            try Syscalls.rename(temporary, to: path)
            return
        }
        do {
            try Syscalls.renameNoReplace(temporary, to: path)
        } catch where error.errno == EEXIST {
            throw StoaError(
                .invalidArgument, "already exists (it appeared during the export); nothing was replaced", path: path)
        } catch where error.errno == EINVAL || error.errno == ENOSYS {
            // A file system that cannot rename without replacing: look, then rename.
            if try FileReads.fileSystem.status(path) != nil {
                throw StoaError(
                    .invalidArgument, "already exists (it appeared during the export); nothing was replaced", path: path)
            }
            try Syscalls.rename(temporary, to: path)
        }
    }
}
