#if canImport(Glibc)
import Glibc
#endif

/// A file as `stat` tells it from any other, and from itself before a
/// change: device, inode, size, and the modification and status-change
/// times. The status-change time moves on every write, rename, link and
/// `chmod`, and no system call sets it back, so a file with the same
/// identity is the very file seen before, unchanged (a copy, an extracted
/// archive or a restored backup has another).
struct FileIdentity: Sendable, Equatable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modifiedNanos: Int64
    var changedNanos: Int64

    init(device: UInt64, inode: UInt64, size: Int64, modifiedNanos: Int64, changedNanos: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modifiedNanos = modifiedNanos
        self.changedNanos = changedNanos
    }

    init(_ info: stat) {
        self.init(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modifiedNanos: RecordTime.nanos(info.st_mtim), changedNanos: RecordTime.nanos(info.st_ctim))
    }

    /// Five little-endian 64-bit integers.
    static let encodedBytes = 40

    func encode(into out: inout ByteWriter) {
        out.u64(device)
        out.u64(inode)
        out.i64(size)
        out.i64(modifiedNanos)
        out.i64(changedNanos)
    }

    init?(reading input: inout ByteReader) {
        guard let device = input.u64(), let inode = input.u64(), let size = input.i64(), size >= 0,
            let modified = input.i64(), let changed = input.i64()
        else { return nil }
        self.init(device: device, inode: inode, size: size, modifiedNanos: modified, changedNanos: changed)
    }
}
