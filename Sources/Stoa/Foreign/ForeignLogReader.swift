#if canImport(Glibc)
import Glibc
#endif

/// Reads a directory of JSONL logs that Stoa does not own (§7) — an agent's
/// `conversations_*.jsonl`, `realtime_*.jsonl`, `decisions_*.jsonl`, a
/// logger's fallback files — with the surface of ``StoreReader``: the same
/// queries, exactly sorted by (time, seq), `last` and `stats`.
///
/// What it reads: every `*.jsonl` and `*.jsonl.gz` file directly in the
/// directory (not in subdirectories; not hidden files), in the byte order of
/// their names. gzip files may be any gzip (Python's, `gzip`, Stoa's).
///
/// How it reads them:
/// - With `pread`, never `mmap`: their writers may truncate them.
/// - Each line must be one JSON object (strictly, as appends are) with a
///   readable time in the first present time field (`ts`, `timestamp`,
///   `time`, `@timestamp` by default): RFC 3339 with `Z`, `±hh:mm` or no
///   zone (taken as UTC, as Python's `datetime.isoformat()` writes it), or
///   epoch numbers. The type is the first present of `type`, `event_type`,
///   `event`, `kind`.
/// - CRLF line ends are accepted. Records come out compacted, as a store
///   keeps them (whitespace outside strings removed); the JSON is unchanged.
/// - A last line without `\n` is a record when it is a complete, valid object
///   (many finished logs lack the final newline); anything else there is a
///   write still under way.
/// - Lines that are not records are skipped and counted, never fatal: bare
///   values (`42`, `"text"`, `[1]`), broken JSON, blank lines, a half-written
///   last line, and records without a time field. Stoa does not invent a time
///   for those (the file's mtime is when the *last* line was written, and
///   "now" would change with every query): they are reported, with the file
///   and line, by ``skippedLines()`` and by each cursor's `damaged`.
///
/// Seqs: a record's seq is its **position** in the directory — the lines of
/// the files before it (in name order, every line counted, skipped ones
/// included) plus its line number − 1. They are not stable ids: a file that
/// grows, or a new file that sorts before others, moves the seqs after it.
/// They do give ties in time a stable order, and `seq - (first seq of its
/// file) + 1` is the record's line in its file. A skipped line's
/// `DamagedLine` has the real file and line, and the seq that line occupies.
///
/// Nothing is written into the directory, unless the cache is
/// ``ForeignIndexCache/inPlace`` (then only `.stoa/`). Indexes are cached
/// (by default outside the directory, see ``ForeignIndexCache``) per file,
/// keyed by device, inode, size and mtime: a later reader (or query) parses
/// only the files that are new or changed (a changed file is parsed whole
/// again). The index says which files, and which ~64 KiB blocks of them, may
/// hold a match: a query reads only those. Of a plain file it needs less
/// than half of, it reads just those blocks' lines (`pread` of their byte
/// ranges); otherwise it reads the file whole (a `.gz` always: it is inflated
/// whole) and keeps the normalised copy for later queries, up to 64 MiB of
/// them per reader (the most recently used).
///
/// - Complexity: the first read of a file validates every byte (about the
///   speed of `stoa append`); later ones only split and compact the lines
///   they need. Memory: the normalised copies of the files (or blocks) the
///   current queries read.
///
/// ```swift
/// let logs = try ForeignLogReader(at: "/var/log/agent")
/// let cursor = try logs.query(Query(since: start, types: ["decision"]))
/// while let record = try cursor.next() { print(record.json) }
/// for line in cursor.damaged { print("skipped \(line.path):\(line.line): \(line.reason)") }
/// ```
public final class ForeignLogReader: Sendable {
    /// The directory read.
    public let path: String
    /// The fields time, type and conversation are read from.
    public let fields: FieldNames
    /// Where the reader keeps its indexes of the directory's files.
    public let cache: ForeignIndexCache
    let encoder: RecordEncoder
    private let cacheStore: ForeignCacheStore?
    private let state = Protected(State())
    /// Normalised copies kept in memory between queries, in bytes at most
    /// (the most recently used files first); the rest is read again when needed.
    static let retainedBytes = 64 << 20

    /// What is known of one log file.
    private struct Entry {
        var key: ForeignFileKey
        /// Its index (base seq 0) and where its blocks are in the file.
        var file: ForeignFileIndex
        /// Its whole normalised copy, when held.
        var contents: SegmentContents?
        var lastUse = 0
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var clock = 0
        var counters = ForeignReadCounters()
        /// What the last look at the directory passed over.
        var unreadable: [UnreadableLogFile] = []
    }

    /// One file as a query sees it.
    struct FileView {
        var name: String
        var path: String
        var fileSize: Int64
        /// Its index with its base seq.
        var index: SegmentIndex
        /// What a query reads, when it needs the file: the whole normalised
        /// copy with `index`, or some blocks with an index of just those.
        var segment: (index: SegmentIndex, contents: SegmentContents)?
    }

    /// Opens the directory at `path` for reading. Reads nothing yet.
    ///
    /// - Parameters:
    ///   - path: the directory; its `*.jsonl` and `*.jsonl.gz` files are read.
    ///   - fields: where time, type and conversation are (default: Stoa's).
    ///   - cache: where indexes are cached (default: outside the directory;
    ///     apart for each set of `fields`).
    /// - Throws: `.io` when `path` does not exist or cannot be read;
    ///   `.invalidArgument` when it is not a directory, or is a store (it
    ///   has a `stoa.json`: read it with ``StoreReader``).
    public init(at path: String, fields: FieldNames = .default, cache: ForeignIndexCache = .automatic) throws(StoaError) {
        guard let info = try FileReads.fileSystem.status(path) else {
            throw StoaError.syscall("stat", errno: ENOENT, path: path)
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw StoaError(.invalidArgument, "not a directory", path: path)
        }
        if try FileReads.fileSystem.status(Path.join(path, "stoa.json")) != nil {
            throw StoaError(.invalidArgument, "this is a store (it has a stoa.json): read it as a store", path: path)
        }
        self.path = path
        self.fields = fields
        self.cache = cache
        self.encoder = RecordEncoder(fields: fields, maxRecordBytes: Int(Int32.max))
        self.cacheStore = ForeignCacheStore.make(for: cache, logDirectory: path, fields: fields)
    }

    /// The names of the log files in `directory`, in the order they are
    /// read: `*.jsonl` and `*.jsonl.gz`, not hidden, by byte order.
    ///
    /// - Throws: `.io` when the directory cannot be listed (nil-free: a
    ///   missing directory gives the error `opendir` gave).
    public static func logFileNames(in directory: String) throws(StoaError) -> [String] {
        guard let names = try FileReads.fileSystem.listDirectory(directory) else {
            throw StoaError.syscall("opendir", errno: ENOENT, path: directory)
        }
        return names.filter(ForeignLogFile.isLogFileName).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// The paths of the subdirectories of `directory` (not hidden) that
    /// hold log files, in byte order: for saying where the logs are when
    /// `directory` is a folder of folders (`~/.claude/projects`), since
    /// subdirectories are not read. Empty when it cannot be listed.
    public static func subdirectoriesHoldingLogs(in directory: String) -> [String] {
        guard let names = try? FileReads.fileSystem.listDirectory(directory) else { return [] }
        return names.filter { !$0.hasPrefix(".") }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            .map { Path.join(directory, $0) }
            .filter { path in
                guard let info = try? FileReads.fileSystem.status(path), info.st_mode & S_IFMT == S_IFDIR else { return false }
                return !((try? logFileNames(in: path)) ?? []).isEmpty
            }
    }

    /// The records that match `query`, exactly sorted by (time, seq), as a
    /// stream. The cursor's `damaged` lists every line of the directory
    /// that is not a record (not only those in the window).
    ///
    /// - Complexity: parses only files not seen (or changed) since they were
    ///   last indexed; reads only the files whose index says they may hold
    ///   a match, and in them only the matching blocks' records.
    public func query(_ query: Query) throws(StoaError) -> RecordCursor {
        let views = try snapshot { Self.blocks(of: $0, matching: query) }
        let segments = views.compactMap { view -> IndexedSegment? in
            guard let (index, contents) = view.segment else { return nil }
            return IndexedSegment(
                name: SegmentName(base: index.base, kind: .plain), index: index, contents: contents, isSealed: true)
        }
        let skipped = Self.skippedLines(in: views)
        let known = Set(skipped.map(\.seq))
        let engine = QueryEngine(Snapshot(segments), query: query, encoder: encoder)
        return RecordCursor(engine, damaged: { skipped + engine.damaged.filter { !known.contains($0.seq) } })
    }

    /// The `count` newest records by (time, seq), oldest first.
    ///
    /// Unlike a store's, a directory's files have no one order of appending
    /// (`realtime_*` and `decisions_*` are written side by side), so "last"
    /// here is by time, not by seq.
    public func last(_ count: Int) throws(StoaError) -> RecordCursor {
        try last(count, where: [])
    }

    /// The `count` newest records by (time, seq) that meet every filter of
    /// `fieldFilters` (``Query/fieldFilters``), oldest first.
    public func last(_ count: Int, where fieldFilters: [FieldFilter]) throws(StoaError) -> RecordCursor {
        let newest = try query(Query(where: fieldFilters, limit: count, order: .newestFirst))
        let records = Array(try newest.all().reversed())
        let damaged = newest.damaged
        var position = 0
        return RecordCursor(damaged: { damaged }) {
            guard position < records.count else { return nil }
            defer { position += 1 }
            return records[position]
        }
    }

    /// Counts of what the directory holds, from the indexes: `segments` is
    /// the number of log files, `bytes` their size on disk, `nextSeq` the
    /// number of lines, `damagedLines` the lines skipped.
    public func stats() throws(StoaError) -> StoreStats {
        let views = try snapshot { _ in [] }
        var stats = StoreStats()
        stats.segments = views.count
        for view in views {
            let index = view.index
            stats.bytes += view.fileSize
            stats.records += index.recordCount
            stats.damagedLines += index.damaged.count
            stats.nextSeq = index.base + UInt64(index.lineCount)
            if index.minTime <= index.maxTime {
                let minTime = Timestamp(microsecondsSinceEpoch: index.minTime)
                let maxTime = Timestamp(microsecondsSinceEpoch: index.maxTime)
                stats.oldest = min(stats.oldest ?? minTime, minTime)
                stats.newest = max(stats.newest ?? maxTime, maxTime)
            }
            for (number, type) in index.types.enumerated() {
                stats.types[type, default: 0] += index.count(ofType: number)
            }
            stats.indexBytes += index.memoryBytes
        }
        return stats
    }

    /// Every line of the directory that is not a record, with its file,
    /// line number and reason, in file and line order.
    public func skippedLines() throws(StoaError) -> [DamagedLine] {
        Self.skippedLines(in: try snapshot { _ in [] })
    }

    /// The entries of the directory named as log files that the last read
    /// (query, `last`, `stats`, `skippedLines`) passed over because they
    /// cannot be read: a file without read permission, a symbolic link to
    /// nothing or in a loop, a directory, a FIFO or a device, an I/O error.
    /// The rest of the directory is read as if they were not there.
    public var unreadableFiles: [UnreadableLogFile] { state.withLock { $0.unreadable } }

    /// What this reader did so far: how many files it parsed, how many
    /// indexes it took from the cache.
    package var counters: ForeignReadCounters { state.withLock { $0.counters } }

    // MARK: Reading the directory

    /// Every log file of the directory with its index (cached, or made now),
    /// and what a query reads of the blocks `needed` names.
    ///
    /// A file of which a query needs most is read whole (and its normalised
    /// copy kept, within ``retainedBytes``); of a large plain file it needs
    /// little of, only the lines of the blocks it needs are read.
    func snapshot(loading needed: (SegmentIndex) -> [Int]) throws(StoaError) -> [FileView] {
        let names = try Self.logFileNames(in: path)
        return try state.withLock { (state) throws(StoaError) -> [FileView] in
            state.clock += 1
            var views: [FileView] = []
            var base: UInt64 = 0
            var present = Set<String>()
            var wroteCache = false
            state.unreadable = []
            for name in names {
                let filePath = Path.join(path, name)
                guard let info = try Self.regularFile(at: filePath, unreadable: &state.unreadable) else { continue }
                let key = ForeignFileKey(info)
                var entry: Entry
                var segment: (index: SegmentIndex, contents: SegmentContents)?
                var blocks: [Int] = []
                do throws(StoaError) {
                    if let known = state.entries[name], known.key == key {
                        entry = known
                    } else if let file = cacheStore?.load(name: name, key: key) {
                        entry = Entry(key: key, file: file)
                        state.counters.cacheHits += 1
                    } else {
                        entry = try scan(filePath, name: name, counters: &state.counters, wroteCache: &wroteCache)
                    }
                    blocks = needed(entry.file.index)
                    if !blocks.isEmpty && entry.contents == nil {
                        let wanted = blocks.reduce(0) { $0 + Int(entry.file.index.blocks[$1].length) }
                        if !name.hasSuffix(".gz") && wanted < Int(entry.file.index.byteCount) / 2,
                            let (index, bytes) = try ForeignLogFile.readBlocks(
                                blocks, of: entry.file, path: filePath, key: entry.key)
                        {
                            state.counters.blockReads += 1
                            segment = (index, SegmentContents(path: filePath, bytes: bytes, count: bytes.count))
                        } else {
                            entry = try load(
                                filePath, name: name, entry: entry, counters: &state.counters, wroteCache: &wroteCache)
                        }
                    }
                } catch where error.errno == ENOENT {
                    continue  // gone since the listing (rotated away)
                } catch {
                    state.unreadable.append(UnreadableLogFile(path: filePath, reason: error.message))
                    continue
                }
                present.insert(name)
                entry.lastUse = state.clock
                state.entries[name] = entry
                var index = entry.file.index
                index.base = base
                if let (partial, contents) = segment {
                    var rebased = partial
                    rebased.base = base
                    segment = (rebased, contents)
                } else if let contents = entry.contents, !blocks.isEmpty {
                    segment = (index, contents)
                }
                base += UInt64(index.lineCount)
                views.append(FileView(name: name, path: filePath, fileSize: entry.key.size, index: index, segment: segment))
            }
            state.entries = state.entries.filter { present.contains($0.key) }
            Self.release(&state.entries)
            if wroteCache { cacheStore?.prune(keeping: present) }
            return views
        }
    }

    /// The `stat` of the log file at `path` when it is a regular file (or a
    /// symbolic link to one). Nil when it is gone since the listing (rotated
    /// away: not a fault), or cannot be read: then it is named in `unreadable`.
    private static func regularFile(
        at path: String, unreadable: inout [UnreadableLogFile]
    ) throws(StoaError) -> stat? {
        let info: stat
        do throws(StoaError) {
            guard let found = try FileReads.fileSystem.status(path) else {
                if let link = try? FileReads.fileSystem.linkStatus(path), link.st_mode & S_IFMT == S_IFLNK {
                    unreadable.append(UnreadableLogFile(path: path, reason: "a symbolic link to nothing"))
                }
                return nil
            }
            info = found
        } catch {
            let reason = error.errno == ELOOP ? "a symbolic link in a loop" : error.message
            unreadable.append(UnreadableLogFile(path: path, reason: reason))
            return nil
        }
        let kind: String? =
            switch info.st_mode & S_IFMT {
            case S_IFREG: nil
            case S_IFDIR: "a directory, not a file (subdirectories are not read)"
            case S_IFIFO: "a FIFO, not a file"
            case S_IFSOCK: "a socket, not a file"
            case S_IFCHR, S_IFBLK: "a device, not a file"
            default: "not a regular file"
            }
        if let kind {
            unreadable.append(UnreadableLogFile(path: path, reason: kind))
            return nil
        }
        return info
    }

    /// Reads and indexes one file.
    private func scan(
        _ filePath: String, name: String, counters: inout ForeignReadCounters, wroteCache: inout Bool
    ) throws(StoaError) -> Entry {
        try index(ForeignLogFile.read(filePath), path: filePath, name: name, counters: &counters, wroteCache: &wroteCache)
    }

    private func index(
        _ contents: ForeignLogFile.Contents, path filePath: String, name: String, counters: inout ForeignReadCounters,
        wroteCache: inout Bool
    ) -> Entry {
        let (normalised, file) = ForeignLogFile.index(contents, encoder: encoder)
        counters.scans += 1
        // A file that shrank while it was read is indexed as read, but not
        // cached: its key does not describe those bytes.
        if contents.isComplete, let cacheStore, cacheStore.save(name: name, key: contents.key, index: file) {
            wroteCache = true
        }
        return Entry(
            key: contents.key, file: file,
            contents: SegmentContents(path: filePath, bytes: normalised, count: normalised.count))
    }

    /// Reads the whole normalised copy of a file whose index is known,
    /// without parsing it; indexes it again if it changed.
    private func load(
        _ filePath: String, name: String, entry: Entry, counters: inout ForeignReadCounters, wroteCache: inout Bool
    ) throws(StoaError) -> Entry {
        let contents = try ForeignLogFile.read(filePath)
        if contents.key == entry.key, let normalised = ForeignLogFile.normalise(contents, index: entry.file.index) {
            var loaded = entry
            loaded.contents = SegmentContents(path: filePath, bytes: normalised, count: normalised.count)
            counters.loads += 1
            return loaded
        }
        return index(contents, path: filePath, name: name, counters: &counters, wroteCache: &wroteCache)
    }

    /// Keeps the most recently used normalised copies, up to ``retainedBytes``.
    private static func release(_ entries: inout [String: Entry]) {
        var total = 0
        for (name, entry) in entries.sorted(by: { $0.value.lastUse > $1.value.lastUse }) {
            guard let contents = entry.contents else { continue }
            total += contents.count
            if total > retainedBytes { entries[name]!.contents = nil }
        }
    }

    /// The blocks of a file with this index that may hold a record `query`
    /// wants, in order: those the query engine may visit — time span
    /// overlapping the window, holding a wanted type or a record of the
    /// conversation — and those holding a late record in the window (the
    /// index keeps records that came late apart, so that they do not widen
    /// their block's span).
    static func blocks(of index: SegmentIndex, matching query: Query) -> [Int] {
        if query.limit == 0 || index.recordCount == 0 { return [] }
        guard index.overlaps(since: query.sinceMicros, until: query.untilMicros) else { return [] }
        var mask = UInt64.max
        var wantedTypes: Set<UInt32>?
        if !query.types.isEmpty {
            let wanted = query.types.compactMap(index.typeNumber)
            if wanted.isEmpty { return [] }
            mask = wanted.reduce(0) { $0 | IndexBlock.bit(forType: $1) }
            wantedTypes = Set(wanted.map(UInt32.init))
        }
        var conversationBlocks: Set<Int>?
        if let conversation = query.conversation {
            guard let postings = index.conversations[conversation] else { return [] }
            var blocks = Set<Int>()
            postings.forEach(in: 0..<index.lineCount) { ordinal in
                if let block = index.block(containing: ordinal) { blocks.insert(block) }
                return true
            }
            conversationBlocks = blocks
        }
        var chosen = Set(
            index.blocks.indices.filter { number in
                let block = index.blocks[number]
                return block.length > 0 && block.overlaps(since: query.sinceMicros, until: query.untilMicros)
                    && block.typeMask & mask != 0 && conversationBlocks.map { $0.contains(number) } ?? true
            })
        for record in index.late where query.includes(time: record.time) {
            if let wantedTypes, !wantedTypes.contains(record.type) { continue }
            if let block = index.block(containing: record.ordinal) {
                if let conversationBlocks, !conversationBlocks.contains(block) { continue }
                chosen.insert(block)
            }
        }
        return chosen.sorted()
    }

    static func skippedLines(in views: [FileView]) -> [DamagedLine] {
        views.flatMap { view in
            view.index.damaged.map {
                DamagedLine(
                    path: view.path, line: Int($0.ordinal) + 1, seq: view.index.base + UInt64($0.ordinal),
                    reason: $0.reason)
            }
        }
    }
}

/// An entry of a foreign directory, named as a log file, that could not be
/// read; see ``ForeignLogReader/unreadableFiles``.
public struct UnreadableLogFile: Sendable, Equatable, CustomStringConvertible {
    /// The entry's path.
    public var path: String
    /// Why, in a few words ("a symbolic link in a loop", "permission denied").
    public var reason: String

    public var description: String { "\(path): \(reason)" }
}

/// What a ``ForeignLogReader`` did, for tests and diagnostics.
package struct ForeignReadCounters: Sendable, Equatable {
    /// Files parsed and indexed (new, changed, or not in the cache).
    package var scans = 0
    /// Indexes taken from the cache on disk instead of parsing a file.
    package var cacheHits = 0
    /// Files read again whole (not parsed) for the records a query needed.
    package var loads = 0
    /// Files of which only the lines of some blocks were read, for a query.
    package var blockReads = 0
}

extension ForeignLogReader: RecordReader {
    public var sourceDirectories: [String] { [path] }
}
