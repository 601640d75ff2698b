#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory map of a whole file that cannot shrink (a sealed
/// segment). Unmapped in `deinit`.
///
/// Never map a file another process may truncate: touching a page past the
/// new end kills the process with SIGBUS. The active segment and files Stoa
/// does not own are read with `pread` instead.
final class MappedFile: @unchecked Sendable {
    // Immutable after init; the mapping is read-only.
    private let base: UnsafeRawPointer?
    let count: Int
    let path: String

    /// Maps the file at `path`, opened through `fileSystem`.
    init(path: String, fileSystem: any FileSystem = FileReads.fileSystem) throws(StoaError) {
        let file = try OpenFile(readingAt: path, fileSystem: fileSystem)
        let size = try file.size
        self.path = path
        self.count = size
        guard size > 0 else {  // an empty file cannot be mapped
            self.base = nil
            return
        }
        self.base = try fileSystem.mapReadOnly(file.fd, count: size, path: path)
    }

    /// Maps the first `count` bytes of `file`, which is open already.
    init(_ file: OpenFile, count: Int, fileSystem: any FileSystem = FileReads.fileSystem) throws(StoaError) {
        self.path = file.path
        self.count = count
        self.base = count > 0 ? try fileSystem.mapReadOnly(file.fd, count: count, path: file.path) : nil
    }

    /// The first mapped byte (nil when the file is empty): valid while this
    /// object lives.
    var baseAddress: UnsafePointer<UInt8>? { base?.assumingMemoryBound(to: UInt8.self) }

    deinit {
        if let base { Syscalls.unmap(base, count: count) }
    }

    /// Calls `body` with the mapped bytes, which must not escape it.
    func withUnsafeBytes<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        guard let base else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: count))
    }
}
