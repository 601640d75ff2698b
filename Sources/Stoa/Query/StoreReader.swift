#if canImport(Glibc)
import Glibc
#endif

/// Reads a store without taking its lock: from the writer's process or any
/// other, while a writer appends. Every read sees every record acknowledged
/// before it started.
///
/// A reader keeps the index of each sealed segment once built, so that a
/// long-lived reader answers later queries without reading segments again.
///
/// ```swift
/// let reader = try StoreReader(at: "logs/agent-7")
/// let errors = try reader.query(Query(since: start, types: ["error"]))
/// while let record = try errors.next() { print(record.json) }
/// ```
public final class StoreReader: Sendable {
    public let path: String
    /// The store's settings, read from its `stoa.json` when the reader opened.
    public let configuration: StoreConfiguration
    let layout: StoreLayout
    let encoder: RecordEncoder
    /// Where the `.idx` of sealed segments that lack one are found and put.
    let indexes: ReaderIndexes
    /// Indexed segments by base seq, kept between queries.
    private let cache = Protected<[UInt64: IndexedSegment]>([:])
    /// The last segment as read so far, and its index so far: when it grows,
    /// only the new bytes are read and indexed.
    private let growing = Protected<GrowingSegment?>(nil)
    /// The segment directories, watched, and the last listing of them.
    private let listing: Protected<Listing>
    /// The files last loaded, and what they gave.
    private let loaded = Protected<(files: [SegmentFile], snapshot: Snapshot)?>(nil)
    /// The sealed segments' summaries this reader knows, by the identity of
    /// their files: read from the store's ``SegmentCatalog`` when the reader
    /// first looks, and written back when it had to read others whole. nil
    /// until then.
    private let catalog = Protected<SegmentCatalog?>(nil)
    /// Which sealed segments hold which conversation: built by the second
    /// conversation query.
    private let conversations = ConversationDirectory()
    /// What reports changes to the segment directories, and when the reader
    /// last looked in full. Held through each snapshot: a query that finds
    /// no change reported must not return while another that took the
    /// reports is still looking.
    private let watching = Protected(Watching())

    private struct Watching {
        /// Made at the reader's second look, not its first: a short process
        /// that queries once has no use for it, and an inotify instance
        /// costs its process about 10 ms when it closes (Linux waits for an
        /// SRCU grace period), more than the whole of a small query.
        var feed: ChangeFeed?
        /// Monotonic µs; `.min` before the first look, or when the last failed.
        var lookedAt: Int64 = .min
        var views = 0
    }

    /// How long a snapshot is reused while no change is reported (µs).
    static let fullLookInterval: Int64 = 1_000_000

    private struct Listing {
        var segmentsDirectory: DirectoryWatch
        var archiveDirectory: DirectoryWatch
        /// The last listing, with the directories' modification times (ns)
        /// it was taken at; reused while neither has changed.
        var last: (segments: Int64, archive: Int64?, files: [SegmentFile])?
    }

    private struct GrowingSegment {
        /// Whether the bytes read past the last record are still in the
        /// file: a writer's recovery cuts a torn or damaged tail in place
        /// and appends new records there, so the file may have grown past
        /// what was read with other bytes at that place. One read of at most
        /// the unsettled bytes (usually part of one line a writer is
        /// writing).
        func stillHoldsUnsettledBytes() -> Bool {
            let count = end - settled
            guard let now = try? handle.read(fromAbsoluteOffset: settled, count: count) else { return false }
            return now.count == count && now.elementsEqual(bytes[(settled - start)...])
        }

        var file: SegmentFile
        /// The file, open: while the listing is unchanged it is still the
        /// one at its path, and its size is read from it.
        var handle: OpenFile
        var inode: UInt64
        /// The file's bytes from `start` on, as read.
        var bytes: [UInt8] = []
        /// Where `bytes` start in the file: 0, or where the part the
        /// writer's checkpoint indexes ends (that part is read by blocks
        /// when a query needs them: `checkpointed`).
        var start = 0
        var checkpointed: ActiveSegmentBytes.Checkpointed?
        /// The checkpoint `.idx` read, when one was (for the catalog).
        var checkpointIndex: FileIdentity?
        /// Where the bytes read end in the file.
        var end: Int { start + bytes.count }
        /// Where the lines indexed end in the file.
        var indexed = 0
        /// Where the last line indexed as a record ends. What was read past
        /// it (a torn line, damaged lines) is all a writer's recovery may
        /// cut: checked again at each look (``refreshGrowing(_:unchanged:)``).
        var settled = 0
        var builder: SegmentIndexBuilder
        var segment: IndexedSegment?
    }

    /// Opens the store at `path` for reading.
    ///
    /// - Throws: `.notAStore` when `path` has no `stoa.json`; `.badConfig`.
    public convenience init(at path: String) throws(StoaError) {
        try self.init(at: path, indexes: nil)
    }

    /// Opens the store at `path` for reading; `indexes` says where rebuilt
    /// `.idx` files go (by default beside the segments, else the cache).
    init(at path: String, indexes: ReaderIndexes?) throws(StoaError) {
        self.path = path
        self.indexes = indexes ?? ReaderIndexes(storePath: path)
        let root = StoreLayout(root: path)
        guard try FileReads.fileSystem.status(root.configuration) != nil else {
            throw StoaError(.notAStore, "not a store (no stoa.json)", path: path)
        }
        self.configuration = try StoreConfiguration.load(from: root.configuration)
        self.layout = StoreLayout(root: path, archivePath: configuration.archivePath)
        self.encoder = RecordEncoder(fields: configuration.fields, maxRecordBytes: Int(configuration.maxRecordBytes))
        self.listing = Protected(
            Listing(
                segmentsDirectory: DirectoryWatch(path: layout.segments),
                archiveDirectory: DirectoryWatch(path: layout.archive)))
    }

    /// The records that match `query`, exactly sorted by (time, seq), as a
    /// stream.
    ///
    /// - Complexity: reads only the blocks (about 64 KiB each) whose time
    ///   span overlaps the window and that hold a wanted type or
    ///   conversation; memory grows with the overlap of those blocks, not
    ///   with the number of results.
    public func query(_ query: Query) throws(StoaError) -> RecordCursor {
        let snapshot = try view()
        let holders = query.conversation.flatMap {
            conversations.holders(of: ConversationTable.Key.hash(of: $0), in: snapshot)
        }
        let engine = QueryEngine(snapshot, query: query, encoder: encoder, holders: holders)
        return RecordCursor(engine)
    }

    /// The last `count` records by seq (the most recently appended), oldest first.
    ///
    /// The cursor's `damaged` names every damaged line of the store, and the
    /// lines found damaged on the way (bytes that no longer match the index).
    public func last(_ count: Int) throws(StoaError) -> RecordCursor {
        try last(count, where: [])
    }

    /// The last `count` records by seq that meet every filter of
    /// `fieldFilters` (``Query/fieldFilters``), oldest first: what `stoa
    /// tail --where` prints.
    ///
    /// - Complexity: reads blocks back from the newest until `count` records
    ///   match: with a rare match, much of the store.
    public func last(_ count: Int, where fieldFilters: [FieldFilter]) throws(StoaError) -> RecordCursor {
        let filter = Query(where: fieldFilters)
        let segments = try snapshot()
        var records: [Record] = []
        var found: [DamagedLine] = []
        outer: for summarized in segments.reversed() where count > 0 {
            let segment = try summarized.loaded()
            for number in segment.index.blocks.indices.reversed() {
                var lines: [Record] = []
                for line in try segment.lines(ofBlock: number, from: 0, encoder: encoder) {
                    switch line {
                    case .record(let record):
                        if record.bytes.withUnsafeBufferPointer(filter.matchesFields) { lines.append(record) }
                    case .damaged(let damaged): found.append(damaged)
                    }
                }
                records = lines.suffix(count - records.count) + records
                if records.count >= count { break outer }
            }
        }
        var position = 0
        let known = segments.flatMap(\.damagedLines)
        let seqs = Set(known.map(\.seq))
        let damaged = known + found.filter { !seqs.contains($0.seq) }.sorted { $0.seq < $1.seq }
        return RecordCursor(damaged: { damaged }) {
            guard position < records.count else { return nil }
            defer { position += 1 }
            return records[position]
        }
    }

    /// Counts of what the store holds, from the indexes.
    public func stats() throws(StoaError) -> StoreStats {
        let segments = try snapshot()
        var stats = StoreStats()
        stats.segments = segments.count
        for segment in segments {
            let summary = segment.summary
            stats.bytes += Int64(segment.fileSize)
            stats.records += summary.recordCount
            stats.damagedLines += summary.damaged.count
            stats.nextSeq = summary.end
            if summary.minTime <= summary.maxTime {
                let minTime = Timestamp(microsecondsSinceEpoch: summary.minTime)
                let maxTime = Timestamp(microsecondsSinceEpoch: summary.maxTime)
                stats.oldest = min(stats.oldest ?? minTime, minTime)
                stats.newest = max(stats.newest ?? maxTime, maxTime)
            }
            for (type, count) in summary.types { stats.types[type, default: 0] += count }
            stats.indexBytes += segment.memoryBytes
        }
        stats.indexBytes += conversations.memoryBytes
        return stats
    }

    /// The segments as they are now, indexed. Sealed segments' indexes are
    /// built once and kept; the last segment (which a writer may still be
    /// appending to) is read again whenever it has grown.
    ///
    /// While the change feed reports nothing and the last full look is under
    /// a second old, the last snapshot stands without a system call but the
    /// feed's one `read`.
    func snapshot() throws(StoaError) -> [IndexedSegment] { try view().segments }

    /// The segments as ``snapshot()`` gives them, with what a query's set-up
    /// reads of each.
    func view() throws(StoaError) -> Snapshot {
        try watching.withLock { (watching) throws(StoaError) -> Snapshot in
            let now = Syscalls.monotonicMicroseconds()
            let fresh = watching.lookedAt != .min && now - watching.lookedAt < Self.fullLookInterval
            watching.views += 1
            if watching.views == 2 {
                watching.feed = FileReads.fileSystem.changeFeed(watching: [layout.segments, layout.archive], closes: false)
            }
            if let feed = watching.feed {
                if !feed.changed() && !feed.needsRewatch && fresh, let last = loaded.withLock({ $0 }) {
                    return last.snapshot
                }
                // Watch again before looking, so that what changes after is reported.
                if (feed.needsRewatch || !fresh) && !feed.rewatch() { watching.feed = nil }
            }
            watching.lookedAt = .min
            let result = try lookInFull()
            watching.lookedAt = now
            return result
        }
    }

    /// The segments as they are now, looked at in full: the segment
    /// directories' times, and the growing segment's size.
    ///
    /// A directory listing is not atomic: a file renamed into place while it
    /// is taken may be missing from it, and one removed may still be in it.
    /// So a listing taken during a tier move may miss a segment (its plain
    /// file removed and its gzip file renamed in while `segments/` was
    /// read), or name a file gone by the time it is opened (the last one
    /// listed taken for the growing segment when the new one was missed).
    /// Each is looked at again: a file gone before it was opened, seqs that
    /// skip, and a first segment other than the last look's (a missed first
    /// segment looks like expiry), which is trusted once two looks agree.
    private func lookInFull() throws(StoaError) -> Snapshot {
        let previousFirst = loaded.withLock { $0?.snapshot.briefs.first?.base }
        var result = Snapshot([])
        var firstOfLastLook: UInt64??
        for attempt in 1...Self.looksAtMost {
            let (files, unchanged) = try segmentFiles(fresh: attempt > 1)
            do {
                result = try load(files, unchanged: unchanged)
            } catch where error.errno == ENOENT && attempt < Self.looksAtMost {
                continue  // moved or removed since it was listed
            }
            let briefs = result.briefs
            guard briefs.indices.dropFirst().allSatisfy({ briefs[$0 - 1].end == briefs[$0].base }) else { continue }
            let first = briefs.first?.base
            if first == previousFirst || firstOfLastLook == .some(first) { break }
            firstOfLastLook = .some(first)
        }
        return result
    }

    /// How many times ``lookInFull()`` looks for a listing that holds together.
    static let looksAtMost = 8

    /// The segment files, listed again only when a directory of them has
    /// changed since the last listing; and whether it was the last listing.
    ///
    /// Directory times tick coarsely (a few ms), so two changes can leave the
    /// same time: a listing is reused only when the directories' times are
    /// over a second old, so that any later change gives a newer time.
    private func segmentFiles(fresh: Bool) throws(StoaError) -> (files: [SegmentFile], unchanged: Bool) {
        try listing.withLock { (listing) throws(StoaError) in
            let segments = try listing.segmentsDirectory.modified() ?? 0
            let archive = try listing.archiveDirectory.modified()
            if !fresh, let last = listing.last, last.segments == segments, last.archive == archive {
                return (last.files, true)
            }
            let files = try layout.listAllSegments()
            let settled = (Syscalls.realtimeMicroseconds() - 1_000_000) * 1000
            listing.last = segments < settled && (archive ?? .min) < settled ? (segments, archive, files) : nil
            return (files, false)
        }
    }

    /// The listed segments, indexed.
    ///
    /// `unchanged`: the listing is the last one, taken while the directories
    /// have not changed (so a file open from it is still the one at its path).
    private func load(_ files: [SegmentFile], unchanged: Bool) throws(StoaError) -> Snapshot {
        // The same files as last time: every segment but a growing last one
        // is as it was (only the last segment of a store grows; a segment
        // with a newer one after it is complete), so the last result is
        // reused without a lookup per segment.
        if let previous = loaded.withLock({ $0 }), previous.files == files {
            guard let last = files.last, Self.isGrowing(last, position: files.count - 1, of: files.count) else {
                return previous.snapshot
            }
            let grown = try refreshGrowing(last, unchanged: unchanged)
            if grown === previous.snapshot.segments.last { return previous.snapshot }
            var result = previous.snapshot
            result.replaceLast(with: grown)
            loaded.withLock { $0 = (files, result) }
            return result
        }
        let result = Snapshot(try loadEach(files))
        // (A segment that expired while it was read is missing: not kept.)
        loaded.withLock { $0 = result.segments.count == files.count ? (files, result) : nil }
        return result
    }

    /// Whether the segment file at `position` may still be appended to: the
    /// last one, plain and in `segments/`.
    private static func isGrowing(_ file: SegmentFile, position: Int, of count: Int) -> Bool {
        position == count - 1 && file.name.kind == .plain && !file.isCold
    }

    private func loadEach(_ files: [SegmentFile]) throws(StoaError) -> [IndexedSegment] {
        var result: [IndexedSegment] = []
        result.reserveCapacity(files.count)
        var known: SegmentCatalog
        if let read = catalog.withLock({ $0 }) {
            known = read
        } else {
            known = loadCatalog()
            catalog.withLock { $0 = known }  // for the growing segment's checkpoint
        }
        var catalogued = false
        for (position, file) in files.enumerated() {
            let isLast = Self.isGrowing(file, position: position, of: files.count)
            if isLast {
                result.append(try refreshGrowing(file, unchanged: false))
                continue
            }
            if let cached = cache.withLock({ $0[file.base] }), cached.name == file.name, cached.path == file.path {
                // Read while it was the last segment, it may have grown since.
                let size = cached.isSealed ? cached.fileSize : Int(try FileReads.fileSystem.status(file.path)?.st_size ?? 0)
                if size == cached.fileSize {
                    result.append(cached)
                    continue
                }
            }
            // Known from the catalog: its summary now, its index when a query reaches it.
            let identity = try? FileReads.fileSystem.status(file.path).map(FileIdentity.init)
            if let identity, let entry = known.entries[file.base], entry.describes(file, identity: identity) {
                let segment = summarized(file, entry, previous: position > 0 ? files[position - 1] : nil)
                cache.withLock { $0[file.base] = segment }
                result.append(segment)
                continue
            }
            // A tier move may take the file away between the listing and the
            // open: look for the segment again, in its new form or place.
            var current = file
            for attempt in 1...3 {
                do throws(StoaError) {
                    let segment = try load(current, isLast: isLast, previous: position > 0 ? files[position - 1] : nil)
                    cache.withLock { $0[current.base] = segment }
                    result.append(segment)
                    // Read whole and found whole: the next reader takes its summary from the catalog.
                    if current == file, let identity, segment.isSealed, segment.notes.isEmpty {
                        known.entries[file.base] = SegmentCatalog.Entry(
                            name: file.name, isCold: file.isCold, identity: identity, summary: segment.summary,
                            index: segment.indexFile, conversations: segment.conversations)
                        catalogued = true
                    }
                    break
                } catch where error.errno == ENOENT && attempt < 3 {
                    listing.withLock { $0.last = nil }
                    guard let moved = try layout.listAllSegments().first(where: { $0.base == current.base }) else {
                        break  // expired
                    }
                    current = moved
                } catch where error.errno != ENOENT {
                    // Unreadable (permissions, an I/O error): its records are
                    // named as lost, the others served. Not kept: read again
                    // by the next look.
                    result.append(Self.unreadable(current, error))
                    break
                }
            }
        }
        cache.withLock { cache in
            if cache.count > files.count {
                let present = Set(files.map(\.base))
                cache = cache.filter { present.contains($0.key) }
            }
        }
        // The growing segment's checkpoint, found consistent: the next reader spares the check.
        if let last = files.last, let index = growing.withLock({ $0?.file == last ? $0?.checkpointIndex : nil }),
            known.checkpoint.map({ $0.base != last.base || $0.index != index }) ?? true
        {
            known.checkpoint = (last.base, index)
            catalogued = true
        }
        let present = Set(files.map(\.base))
        let gone = known.entries.keys.filter { !present.contains($0) }
        for base in gone { known.entries[base] = nil }
        if catalogued || !gone.isEmpty { writeCatalog(known) }
        catalog.withLock { $0 = known }
        return result
    }

    /// A sealed segment known by its summary (from the catalog): read whole
    /// when a query first reaches it, and then kept by this reader (but a
    /// cold one, read again by each query that reaches it).
    private func summarized(_ file: SegmentFile, _ entry: SegmentCatalog.Entry, previous: SegmentFile?) -> IndexedSegment {
        let (encoder, indexes, layout) = (self.encoder, self.indexes, self.layout)
        return IndexedSegment(
            name: file.name, path: file.path, summary: entry.summary, indexFile: entry.index,
            conversations: entry.conversations
        ) {
            [weak self] () throws(StoaError) in
            // A tier move may have taken the file away since the listing: look
            // for the segment again, in its new form or place.
            var current = file
            var attempt = 1
            while true {
                do throws(StoaError) {
                    let whole = try Self.open(
                        current, isLast: false, encoder: encoder, indexes: indexes, previous: previous, trusting: entry.index)
                    if !current.isCold { self?.adopt(whole) }
                    return whole
                } catch where error.errno == ENOENT && attempt < 3 {
                    attempt += 1
                    guard let moved = try layout.listAllSegments().first(where: { $0.base == file.base }) else { throw error }
                    current = moved
                }
            }
        }
    }

    /// Keeps `whole`, a sealed segment a query read whole after the reader
    /// knew it by its summary only, in the reader's cache and snapshot, so
    /// that later queries do not read it again.
    private func adopt(_ whole: IndexedSegment) {
        let base = whole.summary.base
        cache.withLock { cache in
            if let known = cache[base], !known.isLoaded, known.path == whole.path { cache[base] = whole }
        }
        loaded.withLock { state in
            guard var snapshot = state?.snapshot, let position = snapshot.position(ofBase: base),
                !snapshot.segments[position].isLoaded, snapshot.segments[position].path == whole.path
            else { return }
            snapshot.replace(at: position, with: whole)
            state?.snapshot = snapshot
        }
    }

    /// The catalog of the store's sealed segments (``SegmentCatalog``):
    /// the newer of the one beside them and the one in the reader cache (a
    /// reader that may not write beside them writes to the cache, and the
    /// one beside them may be older); empty when there is none.
    private func loadCatalog() -> SegmentCatalog {
        let written = catalogPaths.compactMap { path in
            (try? FileReads.fileSystem.status(path)).flatMap { $0 }.map { (path, RecordTime.nanos($0.st_mtim)) }
        }
        for (path, _) in written.sorted(by: { $0.1 > $1.1 }) {
            if let catalog = SegmentCatalog.load(path) { return catalog }
        }
        return SegmentCatalog()
    }

    /// Writes `catalog` where the next reader looks for it, beside the
    /// segments when this process may write there, else in the reader
    /// cache. Not synced: a catalog torn by a crash does not decode, and
    /// the next reader reads the segments' summaries again.
    private func writeCatalog(_ catalog: SegmentCatalog) {
        let bytes = catalog.encoded()
        for path in catalogPaths {
            if let cacheDirectory = indexes.cacheDirectory, Path.directory(of: path) == cacheDirectory {
                guard (try? SystemFileSystem().makeDirectories(cacheDirectory)) != nil else { return }
            }
            if ReaderIndexes.write(bytes, to: path, durable: false, if: { true }) { return }
        }
    }

    /// Where the catalog is: beside the segments, then in the reader cache.
    private var catalogPaths: [String] {
        var paths: [String] = []
        if indexes.writesInStore { paths.append(Path.join(layout.segments, SegmentCatalog.fileName)) }
        if let cacheDirectory = indexes.cacheDirectory { paths.append(Path.join(cacheDirectory, SegmentCatalog.fileName)) }
        return paths
    }

    /// The last segment, with what was appended since the last look read and
    /// indexed (and nothing else read again). When the writer's checkpoint
    /// `.idx` matches the segment, the part it indexes is not read now: its
    /// blocks are read when a query needs them (``ActiveSegmentBytes``).
    ///
    /// `unchanged`: no file was created, renamed or removed in the segment
    /// directory since the file was listed, so the file open from the last
    /// look is still the one at its path: its size is read from it, without
    /// looking the path up.
    private func refreshGrowing(_ file: SegmentFile, unchanged: Bool) throws(StoaError) -> IndexedSegment {
        try growing.withLock { (state) throws(StoaError) -> IndexedSegment in
            var size: Int
            var current: GrowingSegment
            if unchanged, let known = state, known.file == file {
                size = Int(try known.handle.status().st_size)
                current = known
            } else {
                guard let info = try FileReads.fileSystem.status(file.path) else {
                    throw StoaError.syscall("stat", errno: ENOENT, path: file.path)
                }
                size = Int(info.st_size)
                if let known = state, known.file == file, known.inode == UInt64(info.st_ino) {
                    // The same file.
                    current = known
                } else {
                    let handle = try OpenFile(readingAt: file.path)
                    let opened = try handle.status()
                    size = Int(opened.st_size)
                    current = GrowingSegment(
                        file: file, handle: handle, inode: UInt64(opened.st_ino), builder: SegmentIndexBuilder(base: file.base))
                }
            }
            // Taken out, so that its bytes have one owner and grow in place;
            // put back however this ends.
            state = nil
            defer { state = current }
            if size < current.end || (current.settled < current.end && !current.stillHoldsUnsettledBytes()) {
                // Cut back by a writer's recovery (and maybe grown again since): start over.
                current = GrowingSegment(
                    file: file, handle: current.handle, inode: current.inode, builder: SegmentIndexBuilder(base: file.base))
            }
            if let segment = current.segment, size == current.end { return segment }
            let trusted = catalog.withLock { $0?.checkpoint }.flatMap { $0.base == file.base ? $0.index : nil }
            if current.indexed == 0 && current.checkpointed == nil,
                let (checkpoint, identity) = IndexFile.loadCheckpoint(
                    file.indexPath, base: file.base, segment: current.handle, size: size, trusting: trusted)
            {
                current.checkpointIndex = identity
                // The writer's index of the segment's start: its blocks are
                // read when a query needs them; only what follows is read
                // and indexed now.
                let checkpointed = Int(checkpoint.plainBytes)
                current.builder = SegmentIndexBuilder(resuming: checkpoint.index)
                current.bytes = current.end > checkpointed ? Array(current.bytes[checkpointed...]) : []
                current.start = checkpointed
                current.indexed = checkpointed
                current.settled = checkpointed
                current.checkpointed = ActiveSegmentBytes.Checkpointed(file: current.handle, count: checkpointed)
            }
            let added = try current.handle.read(fromAbsoluteOffset: current.end, count: size - current.end)
            current.bytes += added
            let encoder = self.encoder
            current.bytes.withUnsafeBufferPointer { all in
                let fresh = UnsafeBufferPointer(rebasing: all[(current.indexed - current.start)...])
                guard let last = fresh.lastIndex(of: 0x0A) else { return }
                if let end = current.builder.addLines(UnsafeBufferPointer(rebasing: fresh[...last]), encoder: encoder) {
                    current.settled = current.indexed + end
                }
                current.indexed += last + 1
            }
            let contents: any SegmentBytes =
                current.checkpointed.map {
                    ActiveSegmentBytes(path: file.path, checkpointed: $0, rest: current.bytes, count: current.indexed)
                } ?? SegmentContents(path: file.path, bytes: current.bytes, count: current.indexed)
            // Its blocks' checks so far are kept: the bytes read before are these bytes' start.
            let segment = IndexedSegment(
                name: file.name, index: current.builder.snapshot(), contents: contents, isSealed: false, previous: current.segment)
            current.segment = segment
            return segment
        }
    }

    /// Opens one segment with its index. A cold one is kept as its summary
    /// only, and read again when a query reaches it.
    ///
    /// `previous`: the segment file before it, whose `.idx` chains to the
    /// one rebuilt for this one if it has none.
    private func load(_ file: SegmentFile, isLast: Bool, previous: SegmentFile?) throws(StoaError) -> IndexedSegment {
        let whole = try Self.open(file, isLast: isLast, encoder: encoder, indexes: indexes, previous: previous)
        guard file.isCold else { return whole }
        let (encoder, indexes) = (self.encoder, self.indexes)
        return IndexedSegment(summarizing: whole) { () throws(StoaError) in
            try Self.open(file, isLast: false, encoder: encoder, indexes: indexes, previous: nil)
        }
    }

    /// Opens one segment with its index: from its `.idx` (beside it, or in
    /// the reader's cache) when that is valid, else by reading the segment —
    /// and then, for a sealed segment, the `.idx` is written for the next
    /// reader (see ``ReaderIndexes``).
    ///
    /// `trusted`: an `.idx` of it found consistent before (see ``IndexFile/read(_:trusting:)``).
    private static func open(
        _ file: SegmentFile, isLast: Bool, encoder: RecordEncoder, indexes: ReaderIndexes, previous: SegmentFile?,
        trusting trusted: FileIdentity? = nil
    ) throws(StoaError) -> IndexedSegment {
        switch file.name.kind {
        case .gzip:
            let contents = try GzipSegmentContents(path: file.path)
            if let read = indexes.load(file, fileSize: contents.fileSize, trusting: trusted) {
                return IndexedSegment(
                    name: file.name, index: read.file.index, contents: contents, isSealed: true, indexFile: read.identity)
            }
            let mapped = try MappedFile(path: file.path)
            var builder = SegmentIndexBuilder(base: file.base)
            let (digest, damage) = mapped.withUnsafeBytes { all in
                builder.addMembers(all, encoder: encoder, path: file.path)
            }
            var index = builder.snapshot()
            // A damaged member: what comes before it is read; the rest is reported.
            let notes = damage.map {
                [DamagedLine(
                    path: file.path, line: Int(index.lineCount) + 1, seq: file.base + UInt64(index.lineCount),
                    reason: "\($0.description); the rest of the segment cannot be read")]
            } ?? []
            var losses = damage == nil ? Self.losses(of: file, read: index, unfinishedBytes: 0, fileSize: contents.fileSize) : []
            // A sealed .idx that disagrees with the file is the evidence of
            // a change: it stays, and the change is named each time (by the
            // loss, when one was named already).
            let record = Self.sealedRecord(of: file)
            if let record, notes.isEmpty, losses.isEmpty, let changed = Self.changedSinceSealing(
                file, record: record, fileSize: contents.fileSize, read: index, digest: damage == nil ? digest : nil)
            {
                losses.append(changed)
            }
            // Whole, and no such evidence: the next reader takes the .idx written now.
            if damage == nil, losses.isEmpty, record == nil, let modified = settledModificationTime(file),
                let rebuilt = indexes.publish(
                    file, built: (index, digest, index.byteCount), fileSize: contents.fileSize, modified: modified,
                    previous: previous)
            {
                index = rebuilt.index
            }
            return IndexedSegment(name: file.name, index: index, contents: contents, isSealed: true, notes: notes + losses)
        case .plain, .index:
            let contents = try SegmentContents(path: file.path, sealed: !isLast)
            if !isLast, let read = indexes.load(file, fileSize: contents.fileSize, trusting: trusted) {
                return IndexedSegment(
                    name: file.name, index: read.file.index, contents: contents, isSealed: true, indexFile: read.identity)
            }
            // No valid .idx (or the segment may still grow): index it now.
            let modified = isLast ? nil : settledModificationTime(file)
            // A sealed .idx that disagrees with the file is the evidence of a
            // change (see ``sealedRecord(of:)``): it stays, and the change is
            // named each time (by the loss, when one was named already).
            let record = isLast ? nil : Self.sealedRecord(of: file)
            let built: (index: SegmentIndex, digest: [UInt8], plainBytes: UInt64)?
            var index: SegmentIndex
            if modified != nil || record != nil {
                let whole = SidecarIndexer.build(base: file.base, contents: contents, encoder: encoder)
                built = whole
                index = whole.index
            } else {
                built = nil
                var builder = SegmentIndexBuilder(base: file.base)
                _ = contents.withUnsafeBytes { builder.addLines($0, encoder: encoder) }
                index = builder.snapshot()
            }
            var losses =
                isLast
                ? [] : Self.losses(of: file, read: index, unfinishedBytes: contents.fileSize - contents.count, fileSize: contents.fileSize)
            if let record, losses.isEmpty, let changed = Self.changedSinceSealing(
                file, record: record, fileSize: contents.fileSize, read: index, digest: built?.digest)
            {
                losses.append(changed)
            }
            // Sealed, whole, and no evidence to keep: the next reader takes
            // the .idx written now.
            if let built, let modified, losses.isEmpty, record == nil,
                let rebuilt = indexes.publish(file, built: built, fileSize: contents.fileSize, modified: modified, previous: previous)
            {
                index = rebuilt.index
            }
            return IndexedSegment(name: file.name, index: index, contents: contents, isSealed: !isLast, notes: losses)
        }
    }
}

/// The modification time (µs) of a sealed segment file that was sealed long
/// enough ago for the writer to have indexed it (see
/// ``ReaderIndexes/settleTime``); nil for one sealed just now.
private func settledModificationTime(_ file: SegmentFile) -> Int64? {
    guard let info = try? FileReads.fileSystem.status(file.path) else { return nil }
    let modified = RecordTime.micros(info.st_mtim)
    return ReaderIndexes.isSettled(modified: modified) ? modified : nil
}

/// Records read from a store, one at a time, in the order the query asked.
///
/// Read it with ``next()``, ``forEach(_:)`` (the fastest: records are lent
/// in place) or ``all()``, or in a `for try await` loop:
///
/// ```swift
/// for try await record in try reader.query(Query(types: ["error"])) {
///     print(record.json)
/// }
/// ```
///
/// A cursor is read once: a loop takes the records the cursor has not yet
/// handed out, and a second loop goes on where the first stopped. It keeps
/// the segments it reads open until it goes away. ``damaged`` lists lines
/// skipped because they are not valid records.
///
/// A cursor is not thread-safe, and not `Sendable`: it belongs to the task
/// or thread that made it.
public final class RecordCursor {
    // Either an engine, which lends records in place for ``forEach(_:)``, or
    // a source of records. (A query's cursor holds its engine itself: the two
    // closures it took instead cost an allocation each, a query.)
    private let engine: QueryEngine?
    private let source: (() -> Record?)?
    /// The damaged lines, when not the engine's own.
    private let damagedSoFar: (() -> [DamagedLine])?

    init(damaged: @escaping () -> [DamagedLine], next: @escaping () -> Record?) {
        self.engine = nil
        self.source = next
        self.damagedSoFar = damaged
    }

    /// A cursor over what `engine` finds; `damaged`, when given, lists the
    /// damaged lines instead of the engine.
    init(_ engine: QueryEngine, damaged: (() -> [DamagedLine])? = nil) {
        self.engine = engine
        self.source = nil
        self.damagedSoFar = damaged
    }

    /// Lines skipped so far because they are not valid records (complete once
    /// the cursor has reached its end).
    public var damaged: [DamagedLine] { damagedSoFar?() ?? engine!.damaged }

    /// The next record, or nil at the end.
    public func next() throws(StoaError) -> Record? {
        if let engine { return engine.next() }
        return source!()
    }

    /// Calls `body` with each remaining record, without copying its bytes:
    /// the fastest way through many records. A record `body` wants to keep
    /// is ``RecordView/record``.
    public func forEach<E: Error>(_ body: (borrowing RecordView) throws(E) -> Void) throws(E) {
        if let engine {
            try engine.visitAll(body)
            return
        }
        while let record = source!() {
            try record.bytes.withUnsafeBufferPointer { (line) throws(E) in
                try body(RecordView(seq: record.seq, time: record.time.microsecondsSinceEpoch, facts: record.facts, line: line))
            }
        }
    }

    /// The remaining records.
    public func all() throws(StoaError) -> [Record] {
        var result: [Record] = []
        while let record = try next() { result.append(record) }
        return result
    }
}

// Not thread-safe: it must not cross threads (as GRDB's cursors).
@available(*, unavailable)
extension RecordCursor: Sendable {}

/// Counts of what a store holds.
public struct StoreStats: Sendable, Equatable {
    /// Records readable, every tier (damaged lines not counted).
    public var records = 0
    /// Segment files, every tier.
    public var segments = 0
    /// Bytes of the segment files.
    public var bytes: Int64 = 0
    /// The earliest record time.
    public var oldest: Timestamp?
    /// The latest record time.
    public var newest: Timestamp?
    /// Records per type ("" for records without one).
    public var types: [String: Int] = [:]
    /// The seq the next appended record will have, as far as the files tell.
    public var nextSeq: UInt64 = 0
    /// Lines the reader had to skip (``DamagedLine``); `stoa verify` names them.
    public var damagedLines = 0
    /// Memory the reader's indexes take.
    public var indexBytes = 0
}
