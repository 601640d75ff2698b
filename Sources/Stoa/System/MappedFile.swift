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

    init(path: String) throws(StoaError) {
        let file = try OpenFile(readingAt: path)
        let size = try file.size
        self.path = path
        self.count = size
        guard size > 0 else {  // an empty file cannot be mapped
            self.base = nil
            return
        }
        let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, file.fd, 0)
        guard let address, address != MAP_FAILED else {
            throw StoaError.syscall("mmap", errno: errno, path: path)
        }
        _ = madvise(address, size, MADV_SEQUENTIAL)
        self.base = UnsafeRawPointer(address)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// Calls `body` with the mapped bytes, which must not escape it.
    func withUnsafeBytes<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        guard let base else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: count))
    }
}
