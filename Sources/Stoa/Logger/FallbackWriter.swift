#if canImport(Glibc)
import Glibc
#endif

/// Writes batches the store could not take to a directory of JSONL files,
/// one file per batch, for `stoa import` to take back later.
///
/// Files are named `fallback-<time>-<counter>.jsonl`, the time being when the
/// file was written in RFC 3339 with `-` for `:` (so the name is safe on every
/// file system) and the counter growing within the logger:
/// `fallback-2026-11-23T10-47-22.123456Z-000001.jsonl`. Names sort in the
/// order the files were written.
///
/// A file is published atomically: written as `<name>.tmp` (created
/// exclusively, `0640`), fsynced, given its final name with a hard link that
/// never replaces an existing file (another process logging to the same
/// directory), then the `.tmp` name is removed and the directory fsynced. A
/// crash leaves whole files and maybe a stale `*.jsonl.tmp`, which readers
/// ignore and which can be deleted. Missing directories are created `0750`.
final class FallbackWriter: Sendable {
    let directory: String
    private let fileSystem: any FileSystem
    /// The counter of the next file's name.
    private let counter = Protected(1)

    init(directory: String, fileSystem: any FileSystem) {
        self.directory = directory
        self.fileSystem = fileSystem
    }

    /// Writes `records` (encoded, without their newlines) as one new file.
    ///
    /// - Returns: the file's path.
    /// - Throws: `.io` or `.noSpace`; nothing is left behind but maybe a `.tmp`.
    @discardableResult
    func write(_ records: [[UInt8]], now: Int64 = Syscalls.realtimeMicroseconds()) throws(StoaError) -> String {
        try fileSystem.makeDirectories(directory)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(records.reduce(0) { $0 + $1.count + 1 })
        for record in records {
            bytes += record
            bytes.append(UInt8(ascii: "\n"))
        }
        let stamp = String(RecordTime.format(now).map { $0 == ":" ? "-" : $0 })

        // The temporary file, created exclusively under a name no one else uses.
        var temporary = ""
        var fd: Int32 = -1
        while fd < 0 {
            temporary = fileName(stamp: stamp) + ".tmp"
            do {
                fd = try fileSystem.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode: 0o640)
            } catch where error.errno == EEXIST {
                continue
            }
        }
        do {
            try bytes.withUnsafeBufferPointer { (buffer) throws(StoaError) in
                try fileSystem.writeAll(fd, UnsafeRawBufferPointer(buffer), path: temporary)
            }
            try fileSystem.fsync(fd, path: temporary)
        } catch {
            Syscalls.close(fd)
            try? fileSystem.unlink(temporary)
            throw error
        }
        Syscalls.close(fd)

        // The final name: a link never replaces a file; where links are not
        // supported, a rename (the name holds the time to the µs and a counter).
        var path = String(temporary.dropLast(4))
        do {
            while true {
                do {
                    try fileSystem.link(temporary, to: path)
                    try fileSystem.unlink(temporary)
                    break
                } catch where error.errno == EEXIST {
                    path = fileName(stamp: stamp)
                } catch where error.errno == EPERM || error.errno == EOPNOTSUPP || error.errno == EMLINK {
                    try fileSystem.rename(temporary, to: path)
                    break
                }
            }
            try fileSystem.syncDirectory(directory)
        } catch {
            try? fileSystem.unlink(temporary)
            throw error
        }
        return path
    }

    /// The next name, for the file's time `stamp`.
    private func fileName(stamp: String) -> String {
        let number = counter.withLock { counter in
            defer { counter += 1 }
            return counter
        }
        let digits = String(number)
        let padded = String(repeating: "0", count: max(0, 6 - digits.count)) + digits
        return Path.join(directory, "fallback-\(stamp)-\(padded).jsonl")
    }
}
