#if canImport(Glibc)
import Glibc
#endif

/// Tells Stoa's own temporary files from anyone else's, so that opening a
/// store removes only what a crash of Stoa left behind (§2, §4).
///
/// Stoa writes a file it publishes under one of two temporary names, beside
/// the name it will get:
///
/// - `<name>.<pid>-w<n>.tmp`: the writer's (``TemporaryName``), unique to its process and
///   write (two of its threads may publish one name at once: a seal's
///   background pass and `reindex`); it holds the store's lock, so a stale
///   one is never another live writer's. (`<name>.tmp`, the name before
///   that, is the writer's too.)
/// - `<name>.<pid>-<n>.tmp`: a reader's, unique to its process and write
///   (readers take no lock, so several may write at once).
///
/// `<name>` is one Stoa gives files in that directory: `stoa.json` and
/// `SEALED` at the root, segment and `.idx` names in `segments/` and in the
/// archive (which may be a folder shared with other programs:
/// `archive_path`), quarantine names in `quarantine/`. Anything else —
/// another program's `upload.tmp`, a directory, a symbolic link — is not
/// Stoa's and is left alone.
enum TemporaryFile {
    /// The directories of a store, each with the names Stoa owns there.
    enum Directory: Sendable {
        case root, segments, archive, quarantine

        /// Whether Stoa gives files in this directory the name `name`.
        func owns(_ name: String) -> Bool {
            switch self {
            case .root: return name == "stoa.json" || name == StoreLayout.highWaterMarkName
            case .segments, .archive: return SegmentName(fileName: name) != nil
            case .quarantine: return Quarantine.isOwnName(name)
            }
        }
    }

    /// Who writes a temporary file, as its name tells.
    enum Writer: Equatable, Sendable {
        /// `<name>.tmp` or `<name>.<pid>-w<n>.tmp`.
        case writer
        /// `<name>.<pid>-<n>.tmp`.
        case reader
    }

    /// Whose temporary file `name` is in `directory`, or nil when it is not
    /// one of Stoa's temporary names.
    static func writer(of name: String, in directory: Directory) -> Writer? {
        guard name.hasSuffix(".tmp") else { return nil }
        let target = String(name.dropLast(4))
        if directory.owns(target) { return .writer }
        // `<name>.<digits>-<digits>` or `<name>.<digits>-w<digits>`
        guard let dot = target.lastIndex(of: ".") else { return nil }
        let unique = target[target.index(after: dot)...].split(separator: "-", omittingEmptySubsequences: false)
        guard unique.count == 2 else { return nil }
        let isWriter = unique[1].first == "w"
        let numbers = [unique[0], isWriter ? unique[1].dropFirst() : unique[1]]
        guard numbers.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else { return nil }
        guard directory.owns(String(target[..<dot])) else { return nil }
        return isWriter ? .writer : .reader
    }

    /// A reader's unique temporary file younger than this may still be
    /// being written: it is left for a later opening.
    static let readerGrace: Int64 = 60_000_000

    /// Whether opening a store removes the file `name` of `directory`:
    /// one of Stoa's temporary names, a regular file (not a directory nor a
    /// symbolic link), and, for a reader's, older than ``readerGrace``.
    static func isStale(_ name: String, at path: String, in directory: Directory, now: Int64) throws(StoaError) -> Bool {
        guard let writer = writer(of: name, in: directory), let info = try FileReads.fileSystem.linkStatus(path),
            info.st_mode & S_IFMT == S_IFREG
        else { return false }
        if writer == .reader {
            let modified = RecordTime.micros(info.st_mtim)
            return RecordTime.span(from: modified, to: now) >= readerGrace
        }
        return true
    }

    /// Removes the stale temporary files (``isStale(_:at:in:now:)``) in
    /// each of `directories`, and syncs each directory it removed any from.
    ///
    /// - Returns: the paths removed.
    static func removeStale(
        in directories: [(path: String, kind: Directory)], fileSystem: any FileSystem, now: Int64
    ) throws(StoaError) -> [String] {
        var removed: [String] = []
        for (directory, kind) in directories {
            let before = removed.count
            for name in try FileReads.fileSystem.listDirectory(directory) ?? [] {
                let path = Path.join(directory, name)
                guard try isStale(name, at: path, in: kind, now: now) else { continue }
                try fileSystem.unlink(path)
                removed.append(path)
            }
            if removed.count > before { try fileSystem.syncDirectory(directory) }
        }
        return removed
    }
}
