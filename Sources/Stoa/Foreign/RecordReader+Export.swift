#if canImport(Glibc)
import Glibc
#endif

extension RecordReader {
    /// Writes the records matching `query` to `path` as JSON lines, gzipped
    /// when the path ends in `.gz` (members of about 1 MiB, readable by
    /// `zcat`). The file appears whole or not at all: it is written as
    /// `path.tmp`, synced, then renamed. From a foreign directory the records
    /// are written compacted, as `stoa query` prints them.
    ///
    /// ```swift
    /// let logs = try ForeignLogReader(at: "/var/log/agent")
    /// let count = try logs.export(Query(types: ["error"]), to: "errors.jsonl.gz")
    /// ```
    ///
    /// - Returns: how many records were written.
    /// - Throws: `.io` naming the file when it cannot be written (nothing is
    ///   left behind then); what the query throws.
    public func export(_ query: Query, to path: String) throws(StoaError) -> Int {
        let gzip = path.hasSuffix(".gz")
        let fileSystem = SystemFileSystem()
        let temporary = path + ".tmp"
        let file = try OpenFile(path: temporary, flags: O_WRONLY | O_CREAT | O_TRUNC, fileSystem: fileSystem)
        var written = 0
        do {
            let cursor = try self.query(query)
            var buffer: [UInt8] = []
            buffer.reserveCapacity(1 << 20 + (1 << 16))
            func flush() throws(StoaError) {
                guard !buffer.isEmpty else { return }
                let bytes = gzip ? Gzip.member(buffer) : buffer
                try bytes.withUnsafeBufferPointer { (out) throws(StoaError) in
                    try fileSystem.writeAll(file.fd, UnsafeRawBufferPointer(out), path: temporary)
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
            try fileSystem.fsync(file.fd, path: temporary)
            try fileSystem.rename(temporary, to: path)
            try fileSystem.syncDirectory(Path.directory(of: path))
        } catch {
            try? fileSystem.unlink(temporary)
            throw error
        }
        return written
    }
}
