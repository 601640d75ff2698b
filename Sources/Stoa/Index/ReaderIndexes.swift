#if canImport(Glibc)
import Glibc
#endif

/// Where a ``StoreReader`` finds and puts the `.idx` of sealed segments that
/// lack a valid one: without it, every query by every new reader reads such
/// segments whole again.
///
/// A reader that indexes a sealed segment because its `.idx` is missing or
/// invalid writes the `.idx` it built, the one the writer would have
/// written (same index, SHA-256 and chain digest, sealed at the file's
/// modification time): beside the segment when this process may write
/// there, else in a cache outside the store (under ``CacheRoot/automatic``,
/// `stores/<digest of the store's path>/<base>.<device>-<inode>-<mtime
/// ns>-<size>.idx`: an entry is taken only for the very file it was built
/// of), where the next reader looks for it. Failing to write is not an
/// error: the index is in memory for this reader either way.
///
/// Only where there is no `.idx` or an unusable one: a sealed `.idx` of
/// this segment that disagrees with the file is the evidence of a change,
/// never replaced (see ``StoreReader/sealedRecord(of:)``). Nor where the
/// file indexed was replaced meanwhile (a tier move): it is checked again,
/// same inode, size and time, just before the rename.
///
/// Written as `<name>.idx.<pid>-<n>.tmp`, synced, renamed into place, the
/// directory synced: readers and the writer may race to place the same
/// `.idx`; the last rename wins, and every candidate is whole and equal.
/// The active segment's `.idx` is never written by a reader (it is the
/// writer's checkpoint), nor that of a segment sealed in the last
/// ``settleTime`` (the writer's background is about to write it).
struct ReaderIndexes: Sendable {
    /// The cache folder of this store's segments, when a cache root is known.
    let cacheDirectory: String?
    /// Whether to try beside the segments first (tests turn it off to take
    /// the cache path where the process could write anyway, as root can).
    let writesInStore: Bool

    /// A segment modified this recently (µs) is left to the writer.
    static let settleTime: Int64 = 10_000_000
    /// Distinguishes the temporary names of concurrent writes in one process.
    private static let counter = Protected(0)

    /// The store's layout, for the high-water mark's chain (``publish``).
    let layout: StoreLayout

    init(storePath: String, writesInStore: Bool = true, cacheRoot: String? = CacheRoot.automatic) {
        self.writesInStore = writesInStore
        self.layout = StoreLayout(root: storePath)
        self.cacheDirectory = cacheRoot.map { root in
            let identity = CacheRoot.identity(of: storePath)
            let digest = Array(SHA256.hash(Array(identity.utf8)).prefix(16)).hexString
            return Path.join(Path.join(root, "stores"), digest)
        }
    }

    /// Where the cache keeps the `.idx` of `file` as it is now: the name
    /// holds the file's identity (device, inode, modification time, size),
    /// so that an entry left by another store once at this path (deleted and
    /// recreated, another backup restored), or by this segment before it
    /// changed or moved tier, is never taken for this file's.
    /// `<base>.<device>-<inode>-<mtime ns>-<size>.idx`; nil without a cache
    /// or when the file is gone.
    func cachedIndexPath(of file: SegmentFile) -> String? {
        guard let cacheDirectory, let info = try? FileReads.fileSystem.status(file.path) else { return nil }
        return Path.join(cacheDirectory, Self.cachedName(of: file, info))
    }

    /// The cache entry's name of `file`, whose status is `info`.
    static func cachedName(of file: SegmentFile, _ info: stat) -> String {
        let identity = "\(UInt64(info.st_dev))-\(UInt64(info.st_ino))-\(RecordTime.nanos(info.st_mtim))-\(Int64(info.st_size))"
        return "\(cachedPrefix(of: file))\(identity).idx"
    }

    /// What the names of all cache entries of `file`'s base start with.
    static func cachedPrefix(of file: SegmentFile) -> String {
        String(SegmentName(base: file.base, kind: .index).fileName.dropLast(4)) + "."
    }

    /// The valid `.idx` of a sealed segment file of `fileSize` bytes: beside
    /// it, else in the cache (the entry of the file as it is now).
    func load(_ file: SegmentFile, fileSize: Int) -> IndexFile? { load(file, fileSize: fileSize, trusting: nil)?.file }

    /// ``load(_:fileSize:)``, and the identity of the `.idx` read; `trusted`:
    /// an `.idx` found consistent before (see ``IndexFile/read(_:trusting:)``).
    func load(_ file: SegmentFile, fileSize: Int, trusting trusted: FileIdentity?) -> (file: IndexFile, identity: FileIdentity)? {
        if let read = IndexFile.load(file.indexPath, base: file.base, fileSize: fileSize, trusting: trusted),
            read.file.isCompressed == (file.name.kind == .gzip)
        {
            return read
        }
        guard let cached = cachedIndexPath(of: file),
            let read = IndexFile.load(cached, base: file.base, fileSize: fileSize, trusting: trusted),
            read.file.isCompressed == (file.name.kind == .gzip)
        else { return nil }
        return read
    }

    /// The chain digest of `file`'s valid `.idx` (beside it or cached).
    func chain(of file: SegmentFile) -> [UInt8]? {
        guard let info = try? FileReads.fileSystem.status(file.path) else { return nil }
        return load(file, fileSize: Int(info.st_size))?.chain
    }

    /// Whether `file` (of modification time `modified`, µs) was sealed long
    /// enough ago that the writer has had its chance to index it.
    static func isSettled(modified: Int64, now: Int64 = Syscalls.realtimeMicroseconds()) -> Bool {
        now - modified > settleTime
    }

    /// Builds the `.idx` of a sealed segment from what was read of it and
    /// writes it where it may. Returns it, written or not.
    ///
    /// - Parameters:
    ///   - built: its index, the SHA-256 and size of its plain bytes.
    ///   - previous: the segment before it, if any: its `.idx` gives the chain.
    func publish(
        _ file: SegmentFile, built: (index: SegmentIndex, digest: [UInt8], plainBytes: UInt64), fileSize: Int,
        modified: Int64, previous: SegmentFile?
    ) -> IndexFile? {
        // Without the chain of the segment before, the .idx would not be the
        // writer's: leave it in memory.
        let previousChain: [UInt8]
        if let previous {
            guard let chain = chain(of: previous) else { return nil }
            previousChain = chain
        } else {
            previousChain = SidecarIndexer.chain(before: file, layout: layout)
        }
        let indexFile = SidecarIndexer.indexFile(
            of: file, built: built, fileBytes: fileSize, previousChain: previousChain, existing: nil, modified: modified)
        let bytes = indexFile.encoded()
        // The file indexed, as it is now: if a tier move or a rewrite
        // replaces it before the rename, the .idx built is not its.
        guard let indexed = try? FileReads.fileSystem.status(file.path), Int(indexed.st_size) == fileSize else { return indexFile }
        let isStillIndexed = { () -> Bool in
            guard let now = try? FileReads.fileSystem.status(file.path) else { return false }
            return now.st_dev == indexed.st_dev && now.st_ino == indexed.st_ino && now.st_size == indexed.st_size
                && RecordTime.nanos(now.st_mtim) == RecordTime.nanos(indexed.st_mtim)
        }
        if writesInStore, Self.write(bytes, to: file.indexPath, if: isStillIndexed) { return indexFile }
        if let cacheDirectory {
            let name = Self.cachedName(of: file, indexed)
            let cached = Path.join(cacheDirectory, name)
            if (try? SystemFileSystem().makeDirectories(cacheDirectory)) != nil, Self.write(bytes, to: cached, if: isStillIndexed) {
                // Entries of this base for the file as it was (or another
                // store's) are of no use any more.
                let prefix = Self.cachedPrefix(of: file)
                for other in (try? FileReads.fileSystem.listDirectory(cacheDirectory)) ?? []
                where other != name && other.hasPrefix(prefix) && other.hasSuffix(".idx") {
                    try? SystemFileSystem().unlink(Path.join(cacheDirectory, other))
                }
            }
        }
        return indexFile
    }

    /// Writes `bytes` at `path` atomically under a name of this process's
    /// own; false when it could not (a directory this process may not write,
    /// a full disk: the caller tries elsewhere).
    /// `isStillIndexed` is asked just before the rename: false leaves `path` as it is.
    ///
    /// `durable`: synced before the rename, and the directory after it.
    static func write(_ bytes: [UInt8], to path: String, durable: Bool = true, if isStillIndexed: () -> Bool) -> Bool {
        let number = counter.withLock { counter in
            counter += 1
            return counter
        }
        let temporary = "\(path).\(Syscalls.processID())-\(number).tmp"
        let fileSystem = SystemFileSystem()
        guard let fd = try? fileSystem.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o640) else { return false }
        var written = true
        do throws(StoaError) {
            try bytes.withUnsafeBufferPointer { (buffer) throws(StoaError) in
                try fileSystem.writeAll(fd, UnsafeRawBufferPointer(buffer), path: temporary)
            }
            if durable { try fileSystem.fsync(fd, path: temporary) }
        } catch {
            written = false
        }
        Syscalls.close(fd)
        guard written, isStillIndexed(), (try? fileSystem.rename(temporary, to: path)) != nil else {
            try? fileSystem.unlink(temporary)
            return false
        }
        if durable { try? fileSystem.syncDirectory(Path.directory(of: path)) }
        return true
    }
}
