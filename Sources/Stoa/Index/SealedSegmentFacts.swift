#if canImport(Glibc)
import Glibc
#endif

/// What the writer's background passes (indexing after each seal, then the
/// tier policy) have learnt of sealed segment files: size, modification
/// time, and the header of a valid `.idx`, by path.
///
/// A sealed segment never changes, so once a pass has looked a file up it
/// need not look again: a pass costs a listing of the segment directories
/// and a lookup of each file that is new since the last one, not a `stat` of
/// every file (a number of `stat` calls quadratic in the number of
/// segments, which appends stalled behind when tiny segments were moved at
/// once).
///
/// What a pass changes itself (an `.idx` written, a segment moved or
/// deleted) it tells this, so the next pass needs no lookup for it either.
/// A file that leaves the listing is forgotten. A segment or `.idx` changed
/// in place by something else while the writer runs is not seen here (that
/// is `stoa verify`'s job, and every reader checks an `.idx` before it takes
/// it); an `.idx` that a move finds missing or invalid is forgotten, and
/// written again by the next pass.
final class SealedSegmentFacts: Sendable {
    struct Facts: Sendable {
        var size: Int
        /// Modification time, µs.
        var modified: Int64
        /// The header of its valid `.idx`, when one is known.
        var header: IndexHeader?
    }

    private let known = Protected<[String: Facts]>([:])
    /// The archive's gzip segments as last listed or changed by a pass, and
    /// the archive's modification time (ns) then: listed again only when
    /// that time moves without a pass having moved it.
    private let archive = Protected<(modified: Int64?, cold: [SegmentName])?>(nil)
    private let fileSystem: any FileSystem

    init(fileSystem: any FileSystem = SystemFileSystem()) {
        self.fileSystem = fileSystem
    }

    /// The facts of the sealed segment file at `path`; looked up (a `stat`,
    /// and reading its `.idx` header) the first time only. Nil when the file
    /// is gone.
    func facts(of file: SegmentFile) throws(StoaError) -> Facts? {
        if let facts = known.withLock({ $0[file.path] }) { return facts }
        guard let info = try fileSystem.status(file.path) else { return nil }
        let size = Int(info.st_size)
        let modified = RecordTime.micros(info.st_mtim)
        let facts = Facts(
            size: size, modified: modified, header: IndexHeader.load(file.indexPath, base: file.base, fileSize: size))
        known.withLock { $0[file.path] = facts }
        return facts
    }

    /// Notes the `.idx` just written for the segment file at `path`.
    func indexWritten(for path: String, header: IndexHeader) {
        known.withLock { $0[path]?.header = header }
    }

    /// Notes a segment file just written (a move's target) with its `.idx`.
    func placed(_ path: String, size: Int, modified: Int64, header: IndexHeader?) {
        known.withLock { $0[path] = Facts(size: size, modified: modified, header: header) }
    }

    /// Forgets what is known of the segment file at `path` (gone, or its
    /// `.idx` found wanting): the next pass looks it up again.
    func forget(_ path: String) {
        _ = known.withLock { $0.removeValue(forKey: path) }
    }

    /// Every segment, as ``StoreLayout/listAllSegments()`` lists them, for
    /// a pass: the archive (which only the writer's passes change, and which
    /// holds most segments of an old store) is listed again only when its
    /// time says something else changed it; `segments/` every time.
    func listAllSegments(_ layout: StoreLayout) throws(StoaError) -> [SegmentFile] {
        let modified = try fileSystem.status(layout.archive).map { RecordTime.nanos($0.st_mtim) }
        if let remembered = archive.withLock({ $0 }), remembered.modified == modified {
            return try layout.listAllSegments(cold: remembered.cold)
        }
        let cold = StoreLayout.coldNames(try FileReads.fileSystem.listDirectory(layout.archive) ?? [])
        archive.withLock { $0 = (modified, cold) }
        return try layout.listAllSegments(cold: cold)
    }

    /// Notes a pass's own change to the archive: `added` placed there,
    /// `removed` taken away. Called right after the change, from the one
    /// thread that runs passes.
    func archiveChanged(_ layout: StoreLayout, added: SegmentName? = nil, removed: SegmentName? = nil) {
        archive.withLock { remembered in
            guard var current = remembered,
                let modified = try? fileSystem.status(layout.archive).map({ RecordTime.nanos($0.st_mtim) })
            else {
                remembered = nil
                return
            }
            if let removed { current.cold.removeAll { $0 == removed } }
            if let added, !current.cold.contains(added) { current.cold.append(added) }
            current.modified = modified
            remembered = current
        }
    }

    /// Forgets every file not among `files` (moved or deleted since); only
    /// once enough are gone that it pays (a pass forgets what it moves).
    func keepOnly(_ files: [SegmentFile]) {
        known.withLock { known in
            guard known.count > files.count + 64 else { return }
            let present = Set(files.map(\.path))
            known = known.filter { present.contains($0.key) }
        }
    }
}
