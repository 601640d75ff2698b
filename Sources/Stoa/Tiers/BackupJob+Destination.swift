#if canImport(Glibc)
import Glibc
#endif

// The backup's own side: where it may go, what it holds, its
// configuration.
extension BackupJob {
    /// Refuses a destination inside the source (or its archive), symlinks
    /// resolved: a backup there would copy itself.
    func checkDestinationIsOutsideSource() throws(StoaError) {
        var roots: [stat] = []
        for root in [source.root, source.archive] {
            if let info = try FileReads.fileSystem.status(root) { roots.append(info) }
        }
        // The nearest part of the destination's path that exists, then up through "..".
        var path = destination.root
        while try FileReads.fileSystem.status(path).map({ $0.st_mode & S_IFMT != S_IFDIR }) ?? true {
            let parent = Path.directory(of: path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path)
            if parent == path { break }
            path = parent
        }
        for _ in 0..<1024 {
            guard let info = try FileReads.fileSystem.status(path) else { return }
            if roots.contains(where: { $0.st_dev == info.st_dev && $0.st_ino == info.st_ino }) {
                throw StoaError(
                    .invalidArgument,
                    "the backup directory must not be the store, nor inside it or its archive (\(source.root))",
                    path: destination.root)
            }
            let parentPath = Path.join(path, "..")
            guard let parent = try FileReads.fileSystem.status(parentPath),
                parent.st_dev != info.st_dev || parent.st_ino != info.st_ino
            else { return }  // reached /
            path = parentPath
        }
    }

    /// Creates the destination, or checks it is empty or a store (an
    /// earlier backup); returns the store's configuration.
    func prepareDestination() throws(StoaError) -> StoreConfiguration? {
        if let info = try FileReads.fileSystem.status(destination.root) {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw StoaError(.invalidArgument, "the backup destination exists and is not a directory", path: destination.root)
            }
        } else {
            try fileSystem.makeDirectory(destination.root)
        }
        if try FileReads.fileSystem.status(destination.configuration) != nil {
            return try StoreConfiguration.load(from: destination.configuration)
        }
        let foreign = (try FileReads.fileSystem.listDirectory(destination.root) ?? []).filter { $0 != "LOCK" && !$0.hasSuffix(".tmp") }
        if !foreign.isEmpty {
            throw StoaError(
                .notAStore,
                "the backup destination has files but no stoa.json: use a new or empty directory, or an earlier backup of this store",
                path: destination.root)
        }
        return nil
    }

    /// Refuses a destination that is another store: its `store_id` differs
    /// from the source's. (When either has none, a store made before ids,
    /// ``checkSameHistory(_:existing:recopy:)`` must find a segment in common.)
    func checkIdentity(of source: StoreConfiguration, against destination: StoreConfiguration?) throws(StoaError) {
        guard let theirs = destination?.storeID, let ours = source.storeID, theirs != ours else { return }
        throw StoaError(
            .invalidArgument,
            "the backup destination is another store (store_id \(theirs); this store's is \(ours)), "
                + "not a backup of this one: it is left as it is; back up into a new or empty directory",
            path: self.destination.root)
    }

    /// Removes the temporary files a killed backup (or a crash) left in the
    /// destination: only Stoa's own (``TemporaryFile``).
    func removeTemporaryFiles() throws(StoaError) {
        _ = try TemporaryFile.removeStale(
            in: [(destination.root, .root), (destination.segments, .segments), (destination.archive, .archive)],
            fileSystem: fileSystem, now: Syscalls.realtimeMicroseconds())
    }

    /// The segments in the destination, each with every form it has there.
    func destinationSegments() throws(StoaError) -> [UInt64: [SegmentFile]] {
        var forms: [UInt64: [SegmentFile]] = [:]
        for name in try destination.listSegments() {
            forms[name.base, default: []].append(SegmentFile(name: name, directory: destination.segments, isCold: false))
        }
        for name in (try FileReads.fileSystem.listDirectory(destination.archive) ?? []).compactMap(SegmentName.init(fileName:))
        where name.kind == .gzip {
            forms[name.base, default: []].append(SegmentFile(name: name, directory: destination.archive, isCold: true))
        }
        return forms
    }

    /// Writes the source's `stoa.json` into the backup, without
    /// `archive_path`: the backup's cold segments live in its own `archive/`.
    func writeConfiguration(_ sourceBytes: [UInt8], _ configuration: StoreConfiguration) throws(StoaError) {
        var bytes = sourceBytes
        if configuration.archivePath != nil {
            var local = configuration
            local.archivePath = nil
            bytes = local.encoded()
        }
        if let current = try? OpenFile(readingAt: destination.configuration).readAll(), current == bytes { return }
        try fileSystem.writeFileAtomically(destination.configuration, bytes: bytes)
    }

    // MARK: Helpers

    /// Where a source segment goes in the backup: the same name, in `segments/` or `archive/`.
    func destinationFile(for file: SegmentFile) -> SegmentFile {
        SegmentFile(name: file.name, directory: file.isCold ? destination.archive : destination.segments, isCold: file.isCold)
    }

    func relativePath(_ file: SegmentFile) -> String {
        (file.isCold ? "archive/" : "segments/") + file.name.fileName
    }

    static func countNewlines(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        var start = 0
        while let newline = SegmentContents.firstNewline(in: bytes, from: start) {
            count += 1
            start = newline + 1
        }
        return count
    }
}
