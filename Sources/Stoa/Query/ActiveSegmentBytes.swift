/// The active (growing) segment's bytes when the writer's checkpoint `.idx`
/// indexes its start (``IndexFile/loadCheckpoint(_:base:segment:size:)``):
/// a block of the checkpointed part is read when a query first needs it,
/// with one `pread`; what follows the checkpoint is held in memory, as the
/// reader read it. So a new reader holds the part of the segment that no
/// index covers, not the whole segment (up to `segment_bytes`).
///
/// Read, not mapped: a writer's recovery may cut the active segment while a
/// reader holds it, and a mapped page past the new end is `SIGBUS`. A
/// `pread` there comes back short instead: those bytes fail their block's
/// checksum (``BlockChecks``), so the lines still whole and as indexed are
/// served, checked strictly, and the others are named as damaged lines —
/// never part of a line. A read that fails (`EIO`) throws, and the block's
/// lines are named as damaged with the error, as for a damaged gzip member.
final class ActiveSegmentBytes: SegmentBytes {
    /// The checkpointed part of one active segment file: the file, open,
    /// and its blocks read last. Shared by every snapshot of the segment
    /// that a reader takes while the file is the same.
    final class Checkpointed: Sendable {
        let file: OpenFile
        /// The bytes the checkpoint indexes: the file's first `count`.
        let count: Int
        /// Blocks read, by offset, most recently used last: a scan that
        /// comes back to a block (its late records, `last()` walking back,
        /// a follower) reads it once.
        private let cache = Protected<[(offset: UInt64, bytes: [UInt8])]>([])
        static let cachedBlocks = 4

        init(file: OpenFile, count: Int) {
            self.file = file
            self.count = count
        }

        /// The bytes of `block` as the file holds them now: all of them, or
        /// fewer if the file ends before the block does (it was cut).
        func read(_ block: IndexBlock) throws(StoaError) -> [UInt8] {
            if let hit = cache.withLock({ cache -> [UInt8]? in
                guard let position = cache.firstIndex(where: { $0.offset == block.offset }) else { return nil }
                let entry = cache.remove(at: position)
                cache.append(entry)
                return entry.bytes
            }) {
                return hit
            }
            let length = Int(block.length)
            var failure: StoaError?
            let bytes = [UInt8](unsafeUninitializedCapacity: length) { buffer, initialized in
                do throws(StoaError) {
                    initialized = try file.read(fromAbsoluteOffset: Int(block.offset), into: UnsafeMutableRawBufferPointer(buffer))
                } catch {
                    failure = error
                    initialized = 0
                }
            }
            if let failure { throw failure }
            // A short read (a cut file) is not kept: nothing depends on it
            // being read again the same.
            if bytes.count == length {
                cache.withLock { cache in
                    cache.append((block.offset, bytes))
                    if cache.count > Self.cachedBlocks { cache.removeFirst() }
                }
            }
            return bytes
        }
    }

    let path: String
    /// The bytes read of the file: the checkpointed ones and those after.
    let fileSize: Int
    private let checkpointed: Checkpointed
    /// The bytes after the checkpointed ones, up to the end of the last
    /// complete line read.
    private let rest: [UInt8]

    /// `rest`: the file's bytes from `checkpointed.count` on as read; its
    /// lines up to `count` (counted from the file's start) are complete.
    init(path: String, checkpointed: Checkpointed, rest: [UInt8], count: Int) {
        precondition(count >= checkpointed.count && count <= checkpointed.count + rest.count, "complete lines past the bytes read")
        self.path = path
        self.checkpointed = checkpointed
        self.rest = rest
        self.fileSize = checkpointed.count + rest.count
        self.complete = count - checkpointed.count
    }

    /// Bytes of `rest` that are complete lines.
    private let complete: Int

    func bytes(holding block: IndexBlock) throws(StoaError) -> (bytes: [UInt8], base: Int) {
        let start = Int(block.offset)
        guard start >= checkpointed.count else { return (try checkpointed.read(block), start) }
        return try withBlock(block) { (Array($0), $1) }
    }

    func withBlock<R>(_ block: IndexBlock, _ body: (UnsafeBufferPointer<UInt8>, Int) -> R) throws(StoaError) -> R {
        let start = Int(block.offset)
        guard start >= checkpointed.count else {
            let bytes = try checkpointed.read(block)
            return bytes.withUnsafeBufferPointer { body($0, start) }
        }
        // After the checkpoint: its bytes only (a query copies what it is
        // given of a segment that is not held whole).
        let from = min(start - checkpointed.count, complete)
        let end = min(from + Int(block.length), complete)
        return rest.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[from..<end]), start) }
    }
}
