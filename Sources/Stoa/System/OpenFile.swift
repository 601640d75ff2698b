#if canImport(Glibc)
import Glibc
#endif

/// An open file descriptor, closed in exactly one place: `deinit`.
///
/// `fd` never changes, so the descriptor may be used from any thread; what a
/// caller does with the file's contents is the caller's to protect.
final class OpenFile: Sendable {
    let fd: Int32
    let path: String
    /// What its reads (`pread`, `fstat`) go through.
    let fileSystem: any FileSystem

    init(path: String, flags: Int32, mode: mode_t = 0o640, fileSystem: any FileSystem) throws(StoaError) {
        self.fd = try fileSystem.open(path, flags: flags, mode: mode)
        self.path = path
        self.fileSystem = fileSystem
    }

    /// Opens for reading, through ``FileReads/fileSystem`` unless told
    /// another (reading changes nothing: no write fault applies).
    ///
    /// - Parameter followingLinks: false for a store's own files: a symbolic
    ///   link is then refused (``StoaError/symbolicLink(_:call:)``).
    init(
        readingAt path: String, followingLinks: Bool = true, fileSystem: any FileSystem = FileReads.fileSystem
    ) throws(StoaError) {
        self.fd = try fileSystem.open(path, flags: O_RDONLY | (followingLinks ? 0 : O_NOFOLLOW), mode: 0)
        self.path = path
        self.fileSystem = fileSystem
    }

    /// Opens a directory, to watch it.
    init(directoryAt path: String) throws(StoaError) {
        self.fd = try Syscalls.open(path, flags: O_RDONLY | O_DIRECTORY)
        self.path = path
        self.fileSystem = SystemFileSystem()
    }

    deinit { Syscalls.close(fd) }

    /// `fstat` of the open file.
    func status() throws(StoaError) -> stat { try fileSystem.fstat(fd, path: path) }

    var size: Int {
        get throws(StoaError) { Int(try status().st_size) }
    }

    /// Reads up to `buffer.count` bytes at `offset`; fewer only at the end of the file.
    func read(fromAbsoluteOffset offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(StoaError) -> Int {
        var done = 0
        while done < buffer.count {
            let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[done...])
            let count = try fileSystem.pread(fd, into: rest, at: offset + done, path: path)
            if count == 0 { break }
            done += count
        }
        return done
    }

    /// Reads `count` bytes at `offset` (fewer at the end of the file).
    func read(fromAbsoluteOffset offset: Int, count: Int) throws(StoaError) -> [UInt8] {
        guard count > 0 else { return [] }
        // Not zeroed first: the read fills it (zeroing a 790 KB .idx was a
        // sixth of a new reader's set-up).
        var failure: StoaError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(StoaError) {
                initialized = try read(fromAbsoluteOffset: offset, into: UnsafeMutableRawBufferPointer(buffer))
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return bytes
    }

    /// The whole file as it is now.
    func readAll() throws(StoaError) -> [UInt8] {
        try read(fromAbsoluteOffset: 0, count: try size)
    }
}
