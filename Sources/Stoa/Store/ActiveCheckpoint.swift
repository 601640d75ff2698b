import Synchronization

/// The writer's index of the active segment, built in the background as the
/// segment grows, written now and then as a checkpoint `.idx`
/// (``IndexFile/isPartial``), and handed to the sealed segment's `.idx` when
/// the segment is sealed.
///
/// A new reader reads the checkpoint and indexes only what was appended
/// after it, instead of the whole active segment (up to `segment_bytes`);
/// sealing needs no second scan of the segment.
///
/// Batches come with the facts their encoding found (``LineFacts``), so
/// their lines are indexed without being scanned again, and hashed for the
/// sealed segment's SHA-256 as they come. Whatever was not handed over that
/// way (small appends, or batches passed over while the background was
/// behind) is read back from the file when it is next needed. Either way it
/// indexes only bytes the writer has acknowledged: those are never cut back,
/// by a failed append or by recovery after a crash. Recovery that does cut
/// the active segment removes its checkpoint anyway, and a reader checks
/// that the segment still holds the checkpoint's last line.
final class ActiveCheckpoint: Sendable {
    private let state = Protected<Progress?>(nil)
    /// Bytes of batches handed to ``addWritten(_:)`` whose jobs have not run yet.
    let queuedBytes = Atomic<Int>(0)
    /// Lines indexed from the facts of their encoding, not scanned (for tests).
    let linesFromFacts = Atomic<Int>(0)
    /// Grown by less than this since the last checkpoint: not worth a new one.
    static let minimumGrowth = 1 << 20
    /// Past this many queued bytes the writer hands over no more batches
    /// (their lines are read back from the file later): memory stays bounded
    /// when the background falls behind.
    static let queueLimit = 64 << 20

    /// One active segment's index so far. (Unchecked: only ever touched
    /// with `state` locked.)
    private final class Progress: @unchecked Sendable {
        let base: UInt64
        var builder: SegmentIndexBuilder
        /// Bytes of the segment indexed, and written to the checkpoint.
        var indexed: Int
        var written: Int
        /// The SHA-256 of the segment's first `indexed` bytes, when this
        /// indexed every one of them (not after resuming from a checkpoint).
        var hasher: SHA256?
        /// The last indexed line (newline included), for the checkpoint's check.
        var lastLine: [UInt8] = []
        /// Known lines are hashed in pieces of about this many bytes, each just before it is indexed.
        static let hashPiece = 64 << 10

        init(base: UInt64, builder: SegmentIndexBuilder, indexed: Int, hashing: Bool) {
            self.base = base
            self.builder = builder
            self.indexed = indexed
            self.written = indexed
            self.hasher = hashing ? SHA256() : nil
        }

        /// Indexes and hashes the lines `bytes` (whole lines, from `indexed`
        /// on). With `known`, the lines are not scanned: `ends` are where each
        /// ends (just past its newline) and `facts` what its encoding found,
        /// both counted from `origin`, where `bytes` starts.
        func add(
            _ bytes: UnsafeBufferPointer<UInt8>, known: (ends: ArraySlice<Int>, facts: ArraySlice<LineFacts>, origin: Int)?,
            encoder: RecordEncoder
        ) {
            guard !bytes.isEmpty else { return }
            if let known {
                // A piece at a time: hashing a piece brings it into the cache
                // for the lines' types and conversations (a large batch is
                // long out of it by the time the background gets to it).
                var line = known.ends.startIndex
                var start = 0
                while line < known.ends.endIndex {
                    var end = line + 1
                    while end < known.ends.endIndex && known.ends[end] - known.origin - start <= Self.hashPiece { end += 1 }
                    let stop = known.ends[end - 1] - known.origin
                    hasher?.update(UnsafeBufferPointer(rebasing: bytes[start..<stop]))
                    for (lineEnd, fact) in zip(known.ends[line..<end], known.facts[line..<end]) {
                        let lineEnd = lineEnd - known.origin
                        let text = UnsafeBufferPointer(rebasing: bytes[start..<(lineEnd - 1)])
                        builder.add(
                            line: UnsafeBufferPointer(rebasing: bytes[start..<lineEnd]), time: fact.time,
                            type: fact.type(in: text), conversation: fact.conversation(in: text))
                        start = lineEnd
                    }
                    line = end
                }
            } else {
                builder.addLines(bytes, encoder: encoder)
                hasher?.update(bytes)
            }
            let body = UnsafeBufferPointer(rebasing: bytes.dropLast())
            let lastStart = body.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
            lastLine = Array(bytes[lastStart...])
            indexed += bytes.count
        }

        /// Indexes what the segment at `path` holds from `indexed` up to
        /// `size`; false when it does not hold whole lines there.
        func catchUp(_ path: String, to size: Int, encoder: RecordEncoder) -> Bool {
            guard indexed < size else { return indexed == size }
            guard let added = try? OpenFile(readingAt: path).read(fromAbsoluteOffset: indexed, count: size - indexed),
                added.count == size - indexed, added.last == 0x0A  // not what was acknowledged
            else { return false }
            added.withUnsafeBufferPointer { add($0, known: nil, encoder: encoder) }
            return true
        }
    }

    /// Goes on from `file`, the valid checkpoint `.idx` of the active
    /// segment, whose last line (the one the checkpoint ends with) is
    /// `lastLine` (``Store/checkpoint(of:layout:)``).
    func resume(from file: IndexFile, lastLine: [UInt8]) {
        let progress = Progress(
            base: file.index.base, builder: SegmentIndexBuilder(resuming: file.index), indexed: Int(file.plainBytes),
            hashing: false)
        progress.lastLine = lastLine
        state.withLock { $0 = progress }
    }

    /// Lines the writer has just written to the active segment.
    struct Written: Sendable {
        var path: String
        var base: UInt64
        /// The segment's size before them.
        var offset: Int
        /// An encoded batch, its line ends and facts, and which of its lines
        /// were written (`bytes[start..<stop]`, lines `lines`).
        var bytes: [UInt8]
        var lineEnds: [Int]
        var facts: [LineFacts]
        var lines: Range<Int>
    }

    /// Indexes lines the writer wrote (in the writer's background, in the
    /// order they were written), first reading back from the file whatever
    /// came before them that was not handed over.
    func addWritten(_ written: Written, encoder: RecordEncoder) {
        state.withLock { state in
            if state == nil || state!.base != written.base {
                state = Progress(base: written.base, builder: SegmentIndexBuilder(base: written.base), indexed: 0, hashing: true)
            }
            let progress = state!
            guard progress.catchUp(written.path, to: written.offset, encoder: encoder) else { return }
            let start = written.lines.lowerBound == 0 ? 0 : written.lineEnds[written.lines.lowerBound - 1]
            let stop = written.lineEnds[written.lines.upperBound - 1]
            written.bytes.withUnsafeBufferPointer { all in
                progress.add(
                    UnsafeBufferPointer(rebasing: all[start..<stop]),
                    known: (written.lineEnds[written.lines], written.facts[written.lines], start), encoder: encoder)
            }
            linesFromFacts.add(written.lines.count, ordering: .relaxed)
        }
    }

    /// Indexes the active segment `file` (based at seq `base`) up to `size`
    /// acknowledged bytes, which the caller has synced, and writes its
    /// checkpoint when it has grown enough (or at all, with `force`).
    func write(
        _ path: String, indexPath: String, base: UInt64, size: Int, force: Bool, encoder: RecordEncoder,
        fileSystem: any FileSystem
    ) throws(StoaError) {
        try state.withLock { (state) throws(StoaError) in
            if state == nil || state!.base != base {
                state = Progress(base: base, builder: SegmentIndexBuilder(base: base), indexed: 0, hashing: true)
            }
            let progress = state!
            // Indexed past `size`: lines came after the sync; the next checkpoint has them.
            guard progress.indexed <= size, size - progress.written >= (force ? 1 : Self.minimumGrowth),
                progress.catchUp(path, to: size, encoder: encoder)
            else { return }
            let file = IndexFile(
                index: progress.builder.snapshot(), isPartial: true, plainBytes: UInt64(size), fileBytes: UInt64(size),
                digest: progress.lastLine.withUnsafeBufferPointer { SHA256.hash($0) }, chain: SHA256.zero, sealedAt: 0)
            try fileSystem.writeFileAtomically(indexPath, bytes: file.encoded())
            progress.written = size
        }
    }

    /// The index of the segment `base` just sealed at `size` bytes, and the
    /// SHA-256 of those bytes; nil when this does not hold that segment's
    /// whole index. Ends the segment's progress.
    ///
    /// Only an index built here from the segment's first byte is handed on:
    /// one that went on from a checkpoint starts a block where the
    /// checkpoint ended, which a scan of the sealed segment would not.
    func finishSealed(_ path: String, base: UInt64, size: Int, encoder: RecordEncoder) -> SidecarIndexer.Prepared? {
        state.withLock { state in
            guard let progress = state, progress.base == base else { return nil }
            state = nil
            guard progress.hasher != nil, progress.catchUp(path, to: size, encoder: encoder),
                let digest = progress.hasher.take()?.finish()
            else { return nil }
            return SidecarIndexer.Prepared(base: base, index: progress.builder.snapshot(), digest: digest)
        }
    }
}
