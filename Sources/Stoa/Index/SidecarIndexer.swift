#if canImport(Glibc)
import Glibc
#endif

/// Writes the `.idx` of sealed segments: at seal time (in the writer's
/// background), when a store opens with segments lacking a valid one, and
/// for `stoa reindex`.
struct SidecarIndexer: Sendable {
    let layout: StoreLayout
    let encoder: RecordEncoder
    let fileSystem: any FileSystem
    /// What earlier passes learnt of the sealed files, shared with tiering.
    var facts = SealedSegmentFacts()

    /// A just-sealed segment's index as the writer built it while appending
    /// (``ActiveCheckpoint``), and the SHA-256 of its bytes: sealing then
    /// needs no second scan of the segment.
    struct Prepared: Sendable {
        var base: UInt64
        var index: SegmentIndex
        var digest: [UInt8]
    }

    /// Gives every sealed segment below `activeBase` — plain, warm or cold —
    /// a valid `.idx`, in seq order (each chain digest needs the one before).
    ///
    /// - Parameters:
    ///   - rebuild: write every `.idx` again, valid or not. (A rebuilt index
    ///     keeps the seal time of the one it replaces.)
    ///   - prepared: the indexes of segments just sealed, each used for its
    ///     segment when that is still plain and of the size it indexes.
    /// A segment that cannot be read whole (damaged, without a valid `.idx`)
    /// is skipped and named in ``Pass/skipped``; the segments after it are
    /// still indexed, their chain starting again from zeros after it (as
    /// the chain of the oldest segment left after expiry does): the chain
    /// is broken there, and what comes after is chained to what is known.
    ///
    /// - Returns: how many were written, and what was skipped.
    /// - Throws: when an `.idx` cannot be written, or the segments listed.
    @discardableResult
    func indexSealedSegments(below activeBase: UInt64, rebuild: Bool = false, prepared: [Prepared] = []) throws(StoaError) -> Pass {
        let prepared = Dictionary(prepared.map { ($0.base, $0) }, uniquingKeysWith: { _, last in last })
        var previousChain = SHA256.zero
        var pass = Pass()
        let files = try facts.listAllSegments(layout)
        facts.keepOnly(files)
        if let first = files.first { previousChain = Self.chain(before: first, layout: layout) }
        for file in files where file.base < activeBase {
            if rebuild { facts.forget(file.path) }
            guard let known = try facts.facts(of: file) else { continue }  // moved or expired meanwhile
            let size = known.size
            let existing = known.header
            if let existing, !rebuild, existing.isCompressed == (file.name.kind == .gzip) {
                previousChain = existing.chain
                continue
            }
            let modified = known.modified
            let built: (index: SegmentIndex, digest: [UInt8], plainBytes: UInt64)
            if let prepared = prepared[file.base], file.name.kind == .plain,
                prepared.index.byteCount == UInt64(size)
            {
                built = (prepared.index, prepared.digest, UInt64(size))
            } else {
                do throws(StoaError) {
                    built = try Self.build(file, encoder: encoder)
                } catch {
                    pass.skipped.append(error)
                    previousChain = SHA256.zero
                    continue
                }
            }
            // An .idx of another form of this segment (the plain one's, left
            // by a tier move a crash interrupted) still knows the chain and
            // the seal time, when it is of the same bytes.
            let earlier =
                existing
                ?? IndexFile.read(file.indexPath).flatMap { (other: IndexFile) -> IndexHeader? in
                    !other.isPartial && other.index.base == file.base && other.digest == built.digest ? IndexHeader(other) : nil
                }
            let indexFile = Self.indexFile(
                of: file, built: built, fileBytes: size, previousChain: previousChain, existing: earlier, modified: modified)
            try fileSystem.writeFileAtomically(file.indexPath, bytes: indexFile.encoded())
            facts.indexWritten(for: file.path, header: IndexHeader(indexFile))
            previousChain = indexFile.chain
            pass.written += 1
        }
        return pass
    }

    /// The chain digest the oldest segment listed goes on from: zeros,
    /// unless it starts where the newest sealed segment the high-water mark
    /// records ended (the ones before it expired): then that one's, so that
    /// a backup which kept the expired segments still has one unbroken chain.
    static func chain(before oldest: SegmentFile, layout: StoreLayout) -> [UInt8] {
        guard oldest.base > 0, let mark = try? HighWaterMark.load(layout), mark.sealedNext == oldest.base,
            let chain = mark.chain.flatMap({ [UInt8](hexString: $0) }), chain.count == 32
        else { return SHA256.zero }
        return chain
    }

    /// What ``indexSealedSegments(below:rebuild:prepared:)`` did.
    struct Pass: Sendable {
        /// How many `.idx` files were written.
        var written = 0
        /// Why each segment that could not be indexed was not, oldest first.
        var skipped: [StoaError] = []
    }

    /// The `.idx` of a sealed segment file of `fileBytes` bytes, from what
    /// ``build(_:encoder:)`` read of it: chained to `previousChain` (the
    /// chain digest of the segment before it, zeros for the first), sealed
    /// when `existing` (an earlier `.idx` of it) says, else at `modified`
    /// (the file's modification time, µs).
    static func indexFile(
        of file: SegmentFile, built: (index: SegmentIndex, digest: [UInt8], plainBytes: UInt64), fileBytes: Int,
        previousChain: [UInt8], existing: IndexHeader?, modified: Int64
    ) -> IndexFile {
        var indexFile = IndexFile(
            index: built.index, isCompressed: file.name.kind == .gzip, plainBytes: built.plainBytes,
            fileBytes: UInt64(fileBytes), digest: built.digest, chain: SHA256.chain(previous: previousChain, digest: built.digest),
            sealedAt: existing?.sealedAt ?? modified)
        if let existing, existing.digest == built.digest {
            indexFile.chain = existing.chain  // the same bytes: keep the chain it was sealed with
        }
        return indexFile
    }

    /// Reads a segment whole: its index, the SHA-256 and size of its plain bytes.
    static func build(_ file: SegmentFile, encoder: RecordEncoder) throws(StoaError) -> (
        index: SegmentIndex, digest: [UInt8], plainBytes: UInt64
    ) {
        var builder = SegmentIndexBuilder(base: file.base)
        switch file.name.kind {
        case .gzip:
            let mapped = try MappedFile(path: file.path)
            let (digest, damage) = mapped.withUnsafeBytes { all in
                builder.addMembers(all, encoder: encoder, path: file.path)
            }
            if let damage { throw damage }  // no .idx for a damaged segment: verify reports it
            let index = builder.snapshot()
            return (index, digest, index.byteCount)
        case .plain, .index:
            return build(base: file.base, contents: try SegmentContents(path: file.path, sealed: true), encoder: encoder)
        }
    }

    /// Reads a plain segment's bytes whole: its index, the SHA-256 and size
    /// of its complete lines.
    static func build(base: UInt64, contents: SegmentContents, encoder: RecordEncoder) -> (
        index: SegmentIndex, digest: [UInt8], plainBytes: UInt64
    ) {
        var builder = SegmentIndexBuilder(base: base)
        var hasher = SHA256()
        contents.withUnsafeBytes {
            builder.addLines($0, encoder: encoder)
            hasher.update($0)
        }
        return (builder.snapshot(), hasher.finish(), UInt64(contents.count))
    }
}
