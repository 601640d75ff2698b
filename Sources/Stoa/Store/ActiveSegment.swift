#if canImport(Glibc)
import Glibc
#endif

/// The segment being appended to.
final class ActiveSegment: Sendable {
    let file: OpenFile
    let base: UInt64
    /// When the segment was created (µs), for `segment_age`.
    let createdAt: Int64

    /// - Parameter now: the store's time (µs), taken as the creation time
    ///   where the file system keeps none.
    init(opening path: String, base: UInt64, fileSystem: any FileSystem, now: Int64) throws(StoaError) {
        self.file = try OpenFile(path: path, flags: O_RDWR | O_APPEND | O_NOFOLLOW, fileSystem: fileSystem)
        self.base = base
        self.createdAt = Syscalls.birthTime(file.fd) ?? now
    }

    /// - Parameter now: the store's time (µs): the segment's creation time.
    init(creating layout: StoreLayout, base: UInt64, fileSystem: any FileSystem, now: Int64) throws(StoaError) {
        let path = layout.path(of: SegmentName(base: base, kind: .plain))
        self.file = try OpenFile(path: path, flags: O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW, fileSystem: fileSystem)
        self.base = base
        self.createdAt = now
        try fileSystem.syncDirectory(layout.segments)
    }
}
