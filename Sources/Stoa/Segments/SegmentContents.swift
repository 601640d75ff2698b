#if canImport(Glibc)
import Glibc
#endif

/// The complete lines of one plain segment, for reading.
///
/// A sealed segment never changes, so it is mapped. The active segment (or
/// any file another process may still write or truncate) is read with
/// `pread` up to its last newline: mapping a file that shrinks kills the
/// reader with SIGBUS, and bytes after the last newline are a write still
/// under way.
final class SegmentContents: @unchecked Sendable {
    // Immutable after init.
    private enum Storage {
        case mapped(MappedFile)
        case copied([UInt8])
    }
    private let storage: Storage
    let path: String
    /// Bytes of complete lines.
    let count: Int
    /// The file's size when it was read (complete lines and any unfinished tail).
    let fileSize: Int

    init(path: String, sealed: Bool) throws(StoaError) {
        self.path = path
        if sealed {
            let mapped = try MappedFile(path: path)
            storage = .mapped(mapped)
            fileSize = mapped.count
            count = mapped.withUnsafeBytes { Self.completeLength($0) }
        } else {
            let bytes = try OpenFile(readingAt: path).readAll()
            storage = .copied(bytes)
            fileSize = bytes.count
            count = bytes.withUnsafeBufferPointer { Self.completeLength($0) }
        }
    }

    /// Bytes already read (of a segment that is still growing): the first
    /// `count` are complete lines.
    init(path: String, bytes: [UInt8], count: Int) {
        self.path = path
        self.storage = .copied(bytes)
        self.count = count
        self.fileSize = bytes.count
    }

    private static func completeLength(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        guard let last = bytes.lastIndex(of: UInt8(ascii: "\n")) else { return 0 }
        return last + 1
    }

    /// Calls `body` with the bytes of the complete lines; they must not escape.
    func withUnsafeBytes<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        switch storage {
        case .mapped(let file):
            return try file.withUnsafeBytes { (all) throws(E) in try body(UnsafeBufferPointer(rebasing: all[..<count])) }
        case .copied(let bytes):
            return try bytes.withUnsafeBufferPointer { (all) throws(E) in try body(UnsafeBufferPointer(rebasing: all[..<count])) }
        }
    }

    /// Calls `body` with each line (without its newline) and its 0-based number.
    func forEachLine(_ body: (Int, UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
        try withUnsafeBytes { all in
            var start = 0
            var number = 0
            while start < all.count {
                let end = Self.newline(in: all, from: start)
                try body(number, UnsafeBufferPointer(rebasing: all[start..<end]))
                number += 1
                start = end + 1
            }
        }
    }

    /// The number of complete lines.
    var lineCount: Int {
        withUnsafeBytes { all in
            var lines = 0
            var start = 0
            while start < all.count {
                start = Self.newline(in: all, from: start) + 1
                lines += 1
            }
            return lines
        }
    }

    /// The index of the first newline at or after `start`, if there is one.
    @inline(__always)
    static func firstNewline(in all: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        guard start < all.count, let found = memchr(all.baseAddress! + start, 0x0A, all.count - start) else {
            return nil
        }
        return all.baseAddress!.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }

    /// The index of the next newline at or after `start` (there is always one: the bytes end with it).
    @inline(__always)
    static func newline(in all: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        let found = memchr(all.baseAddress! + start, 0x0A, all.count - start)!
        return all.baseAddress!.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }
}
