#if canImport(Glibc)
import Glibc
#endif

/// Where a ``ForeignLogReader`` keeps the indexes of the files it reads, so
/// that the next reader (another `stoa query`) does not parse them again.
///
/// The cache is only a cache: a missing, stale or damaged entry is rebuilt
/// from the file, and a cache that cannot be written is not an error.
public enum ForeignIndexCache: Sendable, Equatable {
    /// `$STOA_CACHE_DIR`, else `$XDG_CACHE_HOME/stoa`, else `~/.cache/stoa`:
    /// outside the log directory, which is never written to.
    case automatic
    /// Under this directory (in `foreign/<digest of the log directory's path>/`).
    case directory(String)
    /// In `.stoa/` inside the log directory: the one thing written there,
    /// and only when asked (`--cache-in-place`).
    case inPlace
    /// No cache on disk: a new reader reads every file again.
    case disabled

    /// The cache root ``automatic`` stands for now, if the environment names one.
    public static var automaticRoot: String? { CacheRoot.automatic }
}

/// The cache entries of one log directory: one file per log file, named
/// after it, holding the log file's identity (device, inode, size, mtime)
/// and the index of its normalised copy.
///
/// ```
/// "STOAFRN\n"  u32 version
/// u64 device  u64 inode  i64 size  i64 mtime s  i64 mtime ns  i64 ctime s  i64 ctime ns
/// string name   u32 length + the index as an .idx file (IndexFile, its own CRC)
/// u32 block count, then per block: u64 start, u64 end of its lines in the file
/// u32 CRC-32 of everything before it
/// ```
///
/// Entries are written to a unique `*.tmp` and renamed into place, so
/// readers in several processes never see half an entry; they are not
/// fsynced (a torn entry fails its CRC and is rebuilt).
final class ForeignCacheStore: Sendable {
    static let magic = Array("STOAFRN\n".utf8)
    /// Raised whenever the entry's layout or what counts as a record changes
    /// (the index says which lines were skipped). 2: the key holds the
    /// ctime, and times with a comma before the fraction (Python logging's
    /// `asctime`) are read.
    static let version: UInt32 = 2

    /// The folder of this log directory's entries.
    let directory: String
    /// Whether the folder is known to exist (made once, on the first write).
    private let made = Protected(false)
    /// Distinguishes the temporary names of concurrent writers in one process.
    private static let counter = Protected(0)

    init(directory: String) {
        self.directory = directory
    }

    /// The cache of the log directory `logDirectory` read with `fields`, as
    /// `cache` says; nil when disabled or when no cache root is known.
    ///
    /// An index depends on the field names it was made with (which lines
    /// have a time, each record's type and conversation): a reader with
    /// other fields than the default keeps its entries apart (in a folder
    /// named by a digest of them), so that neither takes the other's.
    static func make(
        for cache: ForeignIndexCache, logDirectory: String, fields: FieldNames = .default
    ) -> ForeignCacheStore? {
        let fieldsDigest: String? =
            fields == .default
            ? nil
            : digest([fields.time, fields.type, fields.conversation].map { $0.joined(separator: "\u{0}") }.joined(separator: "\u{1}"))
        let root: String
        switch cache {
        case .disabled:
            return nil
        case .inPlace:
            let directory = Path.join(logDirectory, ".stoa")
            return ForeignCacheStore(directory: fieldsDigest.map { Path.join(directory, "fields-" + $0) } ?? directory)
        case .directory(let directory):
            root = directory
        case .automatic:
            guard let directory = ForeignIndexCache.automaticRoot else { return nil }
            root = directory
        }
        var identity = CacheRoot.identity(of: logDirectory)
        if let fieldsDigest { identity += "\u{0}" + fieldsDigest }
        return ForeignCacheStore(directory: Path.join(Path.join(root, "foreign"), digest(identity)))
    }

    /// 32 hex digits of the SHA-256 of `text`.
    private static func digest(_ text: String) -> String {
        Array(SHA256.hash(Array(text.utf8)).prefix(16)).hexString
    }

    /// Where the entry of log file `name` is.
    func entryPath(for name: String) -> String {
        // Names longer than a file system takes once suffixed: by digest.
        let fileName = name.utf8.count <= 200 ? name : Array(SHA256.hash(Array(name.utf8))).hexString
        return Path.join(directory, fileName + ".idx")
    }

    /// The index cached for log file `name`, if there is a valid entry for
    /// exactly this version of it (`key`).
    func load(name: String, key: ForeignFileKey) -> ForeignFileIndex? {
        guard let bytes = try? OpenFile(readingAt: entryPath(for: name)).readAll() else { return nil }
        return Self.decode(bytes, name: name, key: key)
    }

    /// Writes the entry of log file `name`. Best effort: returns whether it was written.
    @discardableResult
    func save(name: String, key: ForeignFileKey, index: ForeignFileIndex) -> Bool {
        let bytes = Self.encode(name: name, key: key, index: index)
        do throws(StoaError) {
            try makeDirectory()
            let path = entryPath(for: name)
            let number = Self.counter.withLock { counter in
                counter += 1
                return counter
            }
            let temporary = "\(path).\(Syscalls.processID())-\(number).tmp"
            let fileSystem = SystemFileSystem()
            let fd = try fileSystem.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o640)
            do {
                try bytes.withUnsafeBufferPointer { (buffer) throws(StoaError) in
                    try fileSystem.writeAll(fd, UnsafeRawBufferPointer(buffer), path: temporary)
                }
            } catch {
                Syscalls.close(fd)
                try? fileSystem.unlink(temporary)
                throw error
            }
            Syscalls.close(fd)
            do {
                try fileSystem.rename(temporary, to: path)
            } catch {
                try? fileSystem.unlink(temporary)
                throw error
            }
            return true
        } catch {
            return false
        }
    }

    /// Removes the entries of log files that are gone (names not in
    /// `names`), and temporary files older than a minute. Best effort.
    func prune(keeping names: Set<String>) {
        guard let present = try? Syscalls.listDirectory(directory) else { return }
        let wanted = Set(names.map { Path.lastComponent(of: entryPath(for: $0)) })
        let now = Syscalls.realtimeMicroseconds() / 1_000_000
        for file in present {
            let path = Path.join(directory, file)
            if file.hasSuffix(".idx") && !wanted.contains(file) {
                try? Syscalls.unlink(path)
            } else if file.hasSuffix(".tmp"), let info = try? Syscalls.status(path), Int64(info.st_mtim.tv_sec) < now - 60 {
                try? Syscalls.unlink(path)
            }
        }
    }

    private func makeDirectory() throws(StoaError) {
        if made.withLock({ $0 }) { return }
        try SystemFileSystem().makeDirectories(directory)
        made.withLock { $0 = true }
    }

    // MARK: The entry format

    static func encode(name: String, key: ForeignFileKey, index fileIndex: ForeignFileIndex) -> [UInt8] {
        let index = fileIndex.index
        var out = ByteWriter()
        out.bytes += magic
        out.u32(version)
        out.u64(key.device)
        out.u64(key.inode)
        out.i64(key.size)
        out.i64(key.modifiedSeconds)
        out.i64(key.modifiedNanoseconds)
        out.i64(key.changedSeconds)
        out.i64(key.changedNanoseconds)
        out.string(name)
        let file = IndexFile(
            index: index, plainBytes: index.byteCount, fileBytes: UInt64(key.size), digest: SHA256.zero,
            chain: SHA256.zero, sealedAt: 0)
        let blob = file.encoded()
        out.u32(UInt32(blob.count))
        out.bytes += blob
        out.u32(UInt32(fileIndex.sources.count))
        for source in fileIndex.sources {
            out.u64(UInt64(source.lowerBound))
            out.u64(UInt64(source.upperBound))
        }
        out.u32(IndexFile.crc(out.bytes))
        return out.bytes
    }

    /// The index in an entry, when the entry is whole and is for exactly
    /// this version of log file `name`.
    static func decode(_ bytes: [UInt8], name: String, key: ForeignFileKey) -> ForeignFileIndex? {
        guard bytes.count >= magic.count + 8, Array(bytes[..<magic.count]) == magic else { return nil }
        let body = bytes[..<(bytes.count - 4)]
        var tail = ByteReader(bytes[(bytes.count - 4)...])
        guard let stored = tail.u32(), stored == IndexFile.crc(Array(body)) else { return nil }
        var input = ByteReader(body.dropFirst(magic.count))
        guard input.u32() == version, let device = input.u64(), let inode = input.u64(), let size = input.i64(),
            let seconds = input.i64(), let nanoseconds = input.i64(), let changedSeconds = input.i64(),
            let changedNanoseconds = input.i64(), let storedName = input.string(),
            let length = input.u32(), let blob = input.take(Int(length)), let sourceCount = input.u32()
        else { return nil }
        var sources: [Range<Int>] = []
        sources.reserveCapacity(Int(sourceCount))
        for _ in 0..<sourceCount {
            guard let start = input.u64(), let end = input.u64(), start <= end, end <= UInt64(Int.max) else { return nil }
            sources.append(Int(start)..<Int(end))
        }
        guard input.isAtEnd else { return nil }
        let storedKey = ForeignFileKey(
            device: device, inode: inode, size: size, modifiedSeconds: seconds, modifiedNanoseconds: nanoseconds,
            changedSeconds: changedSeconds, changedNanoseconds: changedNanoseconds)
        guard storedKey == key, storedName == name, let file = IndexFile.decode(blob),
            file.index.blocks.count == sources.count
        else { return nil }
        return ForeignFileIndex(index: file.index, sources: sources)
    }
}
