import Foundation
import Synchronization

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// A model of the page cache, to build what a power cut may leave on disk.
///
/// ``PowerLossRecorder`` runs a workload on the real file system and logs,
/// in the order they completed, every change the store made under one root
/// directory (files created, written, truncated; names added, renamed,
/// linked, removed; directories made) and every `fsync`/`fdatasync` the
/// kernel completed (seen through ``SyncObservers``, so a sync skipped at
/// any level is one the model does not see). ``crashState(at:using:)``
/// then builds the files as a power cut after the first `k` changes may
/// leave them, in the spirit of ALICE and CrashMonkey:
///
/// - A change covered by a completed sync is kept: a file's data and size by
///   an `fsync`/`fdatasync` of that file, a directory entry by an `fsync` of
///   its directory. A sync covers what completed before it began.
/// - A change not covered may be lost. Directory entries (create, rename,
///   link, unlink, mkdir) each independently: any subset, in any order
///   across names and directories (a rename within one directory is atomic;
///   across directories it is an add and a remove, each on its own). A
///   file's unsynced writes and truncations persist as a prefix, in order
///   (data reaches the disk in order within one file, as with ext4's
///   `data=ordered`), the last of them maybe torn at any byte, its tail
///   absent or zeros; different files independently.
///
/// Not modeled: unsynced writes within one file reaching the disk out of
/// order (a hole of zeros with later lines after it), and a directory
/// renamed.
final class PowerLossRecorder: FileSystem {
    enum Entry: Hashable, Sendable {
        case file(Int)
        case directory
    }

    /// One change, with paths relative to the root ("" is the root).
    enum Change: Sendable {
        case add(directory: String, name: String, entry: Entry)
        /// Within one directory, atomic; replaces `to` if it is there.
        case rename(directory: String, from: String, to: String)
        case remove(directory: String, name: String)
        case write(inode: Int, offset: Int, bytes: [UInt8])
        case truncate(inode: Int, size: Int)
        /// A completed sync of a file: its changes before `covers` are durable.
        case syncFile(inode: Int, covers: Int)
        case syncDirectory(String, covers: Int)
    }

    /// The root: every path the store is given is under it.
    let root: String
    /// Makes `link` fail with EXDEV, as across file systems: placing a
    /// file then copies it.
    let linksFail: Bool
    /// Syncs the model does not count (a test removing one on purpose).
    let ignoresSync: @Sendable (_ path: String) -> Bool

    private struct Identity: Hashable { var device: UInt64, inode: UInt64 }

    private struct State {
        var changes: [Change] = []
        /// What the real files show now: each directory's entries.
        var directories: [String: [String: Entry]] = ["": [:]]
        var nextInode = 0
        var files: [Identity: Int] = [:]
        var directoryPaths: [Identity: String] = [:]
        /// Where a sync under way began, by thread.
        var syncStarts: [pthread_t: Int] = [:]
        /// The changes that describe what was there at the start.
        var initialChanges = 0
        /// Files written outside the model (none should be).
        var unknownWrites: [String] = []
    }

    private let state = Protected(State())
    private let real = SystemFileSystem()
    private let observer = Protected<Int?>(nil)

    /// - Parameters:
    ///   - root: an existing directory; what is in it already is taken as
    ///     on disk (synced).
    init(root: String, linksFail: Bool = false, ignoresSync: @escaping @Sendable (String) -> Bool = { _ in false }) throws {
        self.root = Self.normalized(root)
        self.linksFail = linksFail
        self.ignoresSync = ignoresSync
        try state.withLock { state in
            state.directoryPaths[try Self.identity(ofPath: root)] = ""
            try snapshot("", into: &state)
            // What was there is durable: one sync of everything.
            let covers = state.changes.count
            for inode in state.files.values {
                state.changes.append(.syncFile(inode: inode, covers: covers))
            }
            for directory in state.directories.keys { state.changes.append(.syncDirectory(directory, covers: covers)) }
        }
        state.withLock { $0.initialChanges = $0.changes.count }
        observer.withLock { $0 = SyncObservers.add { [weak self] fd in self?.synced(fd) } }
    }

    deinit { stop() }

    /// Stops watching syncs (the recording is over).
    func stop() {
        observer.withLock { token in
            if let token { SyncObservers.remove(token) }
            token = nil
        }
    }

    /// The changes so far, in the order they completed.
    var changes: [Change] { state.withLock { $0.changes } }
    /// How many changes have completed: a point to crash at.
    var count: Int { state.withLock { $0.changes.count } }
    var unknownWrites: [String] { state.withLock { $0.unknownWrites } }
    /// The changes that describe what was there at the start (all synced):
    /// a cut comes after them.
    var initialChanges: Int { state.withLock { $0.initialChanges } }

    private func snapshot(_ directory: String, into state: inout State) throws {
        let full = absolute(directory)
        for name in try FileManager.default.contentsOfDirectory(atPath: full).sorted() {
            let path = directory.isEmpty ? name : directory + "/" + name
            let identity = try Self.identity(ofPath: absolute(path))
            var info = stat()
            guard lstat(absolute(path), &info) == 0 else { throw POSIXError(.ENOENT) }
            if info.st_mode & S_IFMT == S_IFDIR {
                state.directories[directory]![name] = .directory
                state.changes.append(.add(directory: directory, name: name, entry: .directory))
                state.directories[path] = [:]
                state.directoryPaths[identity] = path
                try snapshot(path, into: &state)
            } else if info.st_mode & S_IFMT == S_IFREG {
                let inode: Int
                if let known = state.files[identity] {
                    inode = known
                } else {
                    inode = state.nextInode
                    state.nextInode += 1
                    state.files[identity] = inode
                    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: absolute(path))))
                    state.changes.append(.write(inode: inode, offset: 0, bytes: bytes))
                }
                state.directories[directory]![name] = .file(inode)
                state.changes.append(.add(directory: directory, name: name, entry: .file(inode)))
            }
        }
    }

    // MARK: Paths

    /// `path` without `.`, `..` and repeated slashes (the tests' paths have no symbolic links).
    private static func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." { parts.removeLast() } else { parts.append(part) }
        }
        return "/" + parts.joined(separator: "/")
    }

    private func relative(_ path: String) -> String {
        let path = Self.normalized(path)
        if path == root { return "" }
        precondition(path.hasPrefix(root + "/"), "\(path) is outside the power-loss model's root \(root)")
        return String(path.dropFirst(root.count + 1))
    }

    private func absolute(_ relative: String) -> String { relative.isEmpty ? root : root + "/" + relative }

    private static func split(_ relative: String) -> (directory: String, name: String) {
        guard let slash = relative.lastIndex(of: "/") else { return ("", relative) }
        return (String(relative[..<slash]), String(relative[relative.index(after: slash)...]))
    }

    private static func identity(ofPath path: String) throws -> Identity {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    private static func identity(of fd: Int32) -> (Identity, isDirectory: Bool)? {
        var info = stat()
        guard Glibc.fstat(fd, &info) == 0 else { return nil }
        return (Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)), info.st_mode & S_IFMT == S_IFDIR)
    }

    // MARK: FileSystem

    func open(_ path: String, flags: Int32, mode: mode_t) throws(StoaError) -> Int32 {
        let fd = try real.open(path, flags: flags, mode: mode)
        guard flags & (O_CREAT | O_TRUNC) != 0, let (identity, isDirectory) = Self.identity(of: fd), !isDirectory else {
            return fd
        }
        let (directory, name) = Self.split(relative(path))
        state.withLock { state in
            if state.directories[directory]?[name] == nil {
                let inode = state.nextInode
                state.nextInode += 1
                state.files[identity] = inode
                state.directories[directory]?[name] = .file(inode)
                state.changes.append(.add(directory: directory, name: name, entry: .file(inode)))
            }
            if flags & O_TRUNC != 0, let inode = state.files[identity] {
                state.changes.append(.truncate(inode: inode, size: 0))
            }
        }
        return fd
    }

    func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(StoaError) -> Int {
        let written = try real.write(fd, buffer, path: path)
        let end = Int(lseek(fd, 0, SEEK_CUR))
        let bytes = [UInt8](UnsafeRawBufferPointer(rebasing: buffer[..<written]))
        let identity = Self.identity(of: fd)?.0
        state.withLock { state in
            guard let identity, let inode = state.files[identity] else {
                state.unknownWrites.append(path)
                return
            }
            state.changes.append(.write(inode: inode, offset: end - written, bytes: bytes))
        }
        return written
    }

    func ftruncate(_ fd: Int32, to size: Int, path: String) throws(StoaError) {
        try real.ftruncate(fd, to: size, path: path)
        let identity = Self.identity(of: fd)?.0
        state.withLock { state in
            guard let identity, let inode = state.files[identity] else {
                state.unknownWrites.append(path)
                return
            }
            state.changes.append(.truncate(inode: inode, size: size))
        }
    }

    func fsync(_ fd: Int32, path: String) throws(StoaError) {
        try syncing(path) { () throws(StoaError) in try real.fsync(fd, path: path) }
    }

    func fdatasync(_ fd: Int32, path: String) throws(StoaError) {
        try syncing(path) { () throws(StoaError) in try real.fdatasync(fd, path: path) }
    }

    /// Notes where a sync began, for ``synced(_:)``, which the kernel's
    /// completion reaches through ``SyncObservers``.
    private func syncing(_ path: String, _ body: () throws(StoaError) -> Void) throws(StoaError) {
        let thread = pthread_self()
        state.withLock { $0.syncStarts[thread] = ignoresSync(path) ? -1 : $0.changes.count }
        defer { _ = state.withLock { $0.syncStarts.removeValue(forKey: thread) } }
        try body()
    }

    private func synced(_ fd: Int32) {
        guard let (identity, isDirectory) = Self.identity(of: fd) else { return }
        let thread = pthread_self()
        state.withLock { state in
            // A sync through another door (not this file system) covers
            // what completed before it completed.
            let covers = state.syncStarts[thread] ?? state.changes.count
            if covers < 0 { return }  // ignored on purpose
            if isDirectory {
                if let directory = state.directoryPaths[identity] {
                    state.changes.append(.syncDirectory(directory, covers: covers))
                }
            } else if let inode = state.files[identity] {
                state.changes.append(.syncFile(inode: inode, covers: covers))
            }
        }
    }

    func rename(_ from: String, to: String) throws(StoaError) {
        try real.rename(from, to: to)
        let (source, destination) = (Self.split(relative(from)), Self.split(relative(to)))
        state.withLock { state in
            guard let entry = state.directories[source.directory]?.removeValue(forKey: source.name) else { return }
            state.directories[destination.directory]?[destination.name] = entry
            if source.directory == destination.directory {
                state.changes.append(.rename(directory: source.directory, from: source.name, to: destination.name))
            } else {
                precondition(entry != .directory, "a directory renamed is not modeled")
                state.changes.append(.add(directory: destination.directory, name: destination.name, entry: entry))
                state.changes.append(.remove(directory: source.directory, name: source.name))
            }
        }
    }

    func unlink(_ path: String) throws(StoaError) {
        try real.unlink(path)
        let (directory, name) = Self.split(relative(path))
        state.withLock { state in
            if state.directories[directory]?.removeValue(forKey: name) != nil {
                state.changes.append(.remove(directory: directory, name: name))
            }
        }
    }

    func mkdir(_ path: String, mode: mode_t) throws(StoaError) {
        // Existing directories are fine to the store (it checks EEXIST itself).
        let existed = (try? Self.identity(ofPath: path)) != nil
        try real.mkdir(path, mode: mode)
        guard !existed, let identity = try? Self.identity(ofPath: path) else { return }
        let relative = relative(path)
        let (directory, name) = Self.split(relative)
        state.withLock { state in
            state.directories[directory]?[name] = .directory
            state.directories[relative] = [:]
            state.directoryPaths[identity] = relative
            state.changes.append(.add(directory: directory, name: name, entry: .directory))
        }
    }

    func link(_ from: String, to: String) throws(StoaError) {
        if linksFail { throw StoaError.syscall("link", errno: EXDEV, path: to) }
        try real.link(from, to: to)
        let (source, destination) = (Self.split(relative(from)), Self.split(relative(to)))
        state.withLock { state in
            guard let entry = state.directories[source.directory]?[source.name] else { return }
            state.directories[destination.directory]?[destination.name] = entry
            state.changes.append(.add(directory: destination.directory, name: destination.name, entry: entry))
        }
    }
}

/// How a crash state keeps what was not synced.
enum PowerCut: String, CaseIterable, Sendable {
    /// Only what a sync covered.
    case syncedOnly
    /// Everything (as when only the process died).
    case everything
    /// Each directory entry kept or not at random; each file a random
    /// prefix of its unsynced writes, the last maybe torn.
    case random
}

/// What a power cut left: directories and files, to be written out.
struct CrashState {
    var directories: [String: [String: PowerLossRecorder.Entry]] = ["": [:]]
    var files: [Int: [UInt8]] = [:]
    /// Changes not covered by a sync and lost, and writes torn.
    var dropped = 0
    var torn = 0

    /// Writes the state out under `destination` (an empty directory);
    /// names of one file become hard links.
    func materialize(at destination: String) throws {
        var placed: [Int: String] = [:]
        func write(_ directory: String) throws {
            for (name, entry) in directories[directory] ?? [:] {
                let relative = directory.isEmpty ? name : directory + "/" + name
                let path = destination + "/" + relative
                switch entry {
                case .directory:
                    guard directories[relative] != nil else { continue }
                    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
                    try write(relative)
                case .file(let inode):
                    if let first = placed[inode] {
                        try FileManager.default.linkItem(atPath: first, toPath: path)
                    } else {
                        try Data(files[inode] ?? []).write(to: URL(fileURLWithPath: path))
                        placed[inode] = path
                    }
                }
            }
        }
        try write("")
    }
}

extension Array where Element == PowerLossRecorder.Change {
    /// The indexes of completed syncs: the points worth crashing at.
    var syncPoints: [Int] {
        indices.filter {
            switch self[$0] {
            case .syncFile, .syncDirectory: true
            default: false
            }
        }
    }

    /// What a power cut after the first `count` changes may leave.
    func crashState(at count: Int, cut: PowerCut, using random: inout some RandomNumberGenerator) -> CrashState {
        // What the syncs before the cut cover: per file and per directory,
        // the changes before this index.
        var fileCovered: [Int: Int] = [:]
        var directoryCovered: [String: Int] = [:]
        for change in self[..<count] {
            switch change {
            case .syncFile(let inode, let covers): fileCovered[inode] = Swift.max(fileCovered[inode] ?? 0, covers)
            case .syncDirectory(let directory, let covers):
                directoryCovered[directory] = Swift.max(directoryCovered[directory] ?? 0, covers)
            default: break
            }
        }
        var state = CrashState()
        // Each file's writes in order: the synced ones, then a prefix of the rest.
        var writes: [Int: [(index: Int, change: PowerLossRecorder.Change)]] = [:]
        for (index, change) in self[..<count].enumerated() {
            switch change {
            case .write(let inode, _, _), .truncate(let inode, _): writes[inode, default: []].append((index, change))
            default: break
            }
        }
        for (inode, changes) in writes.sorted(by: { $0.key < $1.key }) {
            let synced = changes.prefix { $0.index < fileCovered[inode] ?? 0 }.count
            let kept: Int
            var tear = false
            switch cut {
            case .syncedOnly: kept = synced
            case .everything: kept = changes.count
            case .random:
                kept = Int.random(in: synced...changes.count, using: &random)
                tear = kept > synced && Bool.random(using: &random)
            }
            state.dropped += changes.count - kept
            var bytes: [UInt8] = []
            for (position, (_, change)) in changes[..<kept].enumerated() {
                switch change {
                case .write(_, let offset, var data):
                    if tear && position == kept - 1 {
                        let length = Int.random(in: 0..<Swift.max(1, data.count), using: &random)
                        if Bool.random(using: &random) {
                            data = [UInt8](data[..<length])
                        } else {
                            for i in length..<data.count { data[i] = 0 }
                        }
                        state.torn += 1
                    }
                    if bytes.count < offset + data.count { bytes += [UInt8](repeating: 0, count: offset + data.count - bytes.count) }
                    bytes.replaceSubrange(offset..<(offset + data.count), with: data)
                case .truncate(_, let size):
                    if size < bytes.count { bytes.removeLast(bytes.count - size) } else { bytes += [UInt8](repeating: 0, count: size - bytes.count) }
                default: break
                }
            }
            state.files[inode] = bytes
        }
        // Directory entries: the synced ones, and any of the rest.
        for (index, change) in self[..<count].enumerated() {
            let directory: String
            switch change {
            case .add(let d, _, _), .rename(let d, _, _), .remove(let d, _): directory = d
            default: continue
            }
            let synced = index < directoryCovered[directory] ?? 0
            let keep =
                switch cut {
                case .syncedOnly: synced
                case .everything: true
                case .random: synced || Bool.random(using: &random)
                }
            if !keep {
                state.dropped += 1
                continue
            }
            switch change {
            case .add(let directory, let name, let entry):
                state.directories[directory, default: [:]][name] = entry
                if entry == .directory {
                    let path = directory.isEmpty ? name : directory + "/" + name
                    if state.directories[path] == nil { state.directories[path] = [:] }
                }
            case .rename(let directory, let from, let to):
                if let entry = state.directories[directory]?.removeValue(forKey: from) {
                    state.directories[directory]![to] = entry
                }
            case .remove(let directory, let name):
                state.directories[directory]?.removeValue(forKey: name)
            default: break
            }
        }
        return state
    }
}
