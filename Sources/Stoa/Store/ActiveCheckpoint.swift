import Synchronization

/// The writer's index of the active segment, written now and then as a
/// checkpoint `.idx` (``IndexFile/isPartial``), so that a new reader reads
/// the checkpoint and indexes only what was appended after it, instead of
/// the whole active segment (up to `segment_bytes`).
///
/// It indexes only bytes the writer has acknowledged and synced: those are
/// never cut back, by a failed append or by recovery after a crash. Recovery
/// that does cut the active segment removes its checkpoint anyway, and a
/// reader checks that the segment still holds the checkpoint's last line.
final class ActiveCheckpoint: Sendable {
    private let state = Mutex<Progress?>(nil)
    /// Grown by less than this since the last checkpoint: not worth a new one.
    static let minimumGrowth = 1 << 20

    private struct Progress {
        var base: UInt64
        var builder: SegmentIndexBuilder
        /// Bytes of the segment indexed, and written to the checkpoint.
        var indexed: Int
        var written: Int
    }

    /// Goes on from the checkpoint `.idx` of the active segment at `path`,
    /// if it has a valid one; returns whether it did.
    func resume(_ path: String, indexPath: String, base: UInt64) -> Bool {
        guard let bytes = try? OpenFile(readingAt: path).readAll(),
            let file = IndexFile.loadCheckpoint(indexPath, base: base, segment: bytes)
        else { return false }
        let size = Int(file.plainBytes)
        state.withLock {
            $0 = Progress(base: base, builder: SegmentIndexBuilder(resuming: file.index), indexed: size, written: size)
        }
        return true
    }

    /// Indexes the active segment `file` (based at seq `base`) up to `size`
    /// acknowledged bytes, which the caller has synced, and writes its
    /// checkpoint when it has grown enough (or at all, with `force`).
    func write(
        _ path: String, indexPath: String, base: UInt64, size: Int, force: Bool, encoder: RecordEncoder,
        fileSystem: any FileSystem
    ) throws(StoaError) {
        try state.withLock { (state) throws(StoaError) in
            if state == nil || state!.base != base || state!.indexed > size {
                state = Progress(base: base, builder: SegmentIndexBuilder(base: base), indexed: 0, written: 0)
            }
            guard size - state!.written >= (force ? 1 : Self.minimumGrowth) else { return }
            let added = try OpenFile(readingAt: path).read(fromAbsoluteOffset: state!.indexed, count: size - state!.indexed)
            guard added.count == size - state!.indexed, added.last == 0x0A else { return }  // not what was acknowledged
            added.withUnsafeBufferPointer { state!.builder.addLines($0, encoder: encoder) }
            state!.indexed = size
            // `added` starts on a line: its last line is whole in it.
            let index = state!.builder.snapshot()
            let file = IndexFile(
                index: index, isPartial: true, plainBytes: UInt64(size), fileBytes: UInt64(size),
                digest: IndexFile.lastLineDigest(added[...]), chain: SHA256.zero, sealedAt: 0)
            try fileSystem.writeFileAtomically(indexPath, bytes: file.encoded())
            state!.written = size
        }
    }
}
