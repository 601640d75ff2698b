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

    /// Gives every sealed plain segment below `activeBase` a valid `.idx`,
    /// in seq order (each chain digest needs the one before).
    ///
    /// - Parameter rebuild: write every `.idx` again, valid or not.
    /// - Returns: how many were written.
    @discardableResult
    func indexSealedSegments(below activeBase: UInt64, rebuild: Bool = false) throws(StoaError) -> Int {
        var previousChain = SHA256.zero
        var written = 0
        for name in try layout.listSegments() where name.base < activeBase && name.kind == .plain {
            let path = layout.path(of: name)
            let indexPath = layout.path(of: SegmentName(base: name.base, kind: .index))
            guard let info = try Syscalls.status(path) else { continue }  // expired meanwhile
            let size = Int(info.st_size)
            let existing = IndexFile.load(indexPath, base: name.base, fileSize: size)
            if let existing, !rebuild {
                previousChain = existing.chain
                continue
            }
            let contents = try SegmentContents(path: path, sealed: true)
            var builder = SegmentIndexBuilder(base: name.base)
            var hasher = SHA256()
            contents.withUnsafeBytes {
                builder.addLines($0, encoder: encoder)
                hasher.update($0)
            }
            let digest = hasher.finish()
            let modified = Int64(info.st_mtim.tv_sec) * 1_000_000 + Int64(info.st_mtim.tv_nsec) / 1000
            let file = IndexFile(
                index: builder.snapshot(), plainBytes: UInt64(contents.count), fileBytes: UInt64(size),
                digest: digest, chain: SHA256.chain(previous: previousChain, digest: digest),
                sealedAt: existing?.sealedAt ?? modified)
            try fileSystem.writeFileAtomically(indexPath, bytes: file.encoded())
            previousChain = file.chain
            written += 1
        }
        return written
    }
}
