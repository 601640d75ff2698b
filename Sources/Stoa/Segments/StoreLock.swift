import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one-writer lock: an exclusive `flock` on `LOCK`, which holds the
/// writer's pid. Released when this object goes away (or the process dies:
/// the kernel drops a dead process's `flock`s, so a crash never leaves a
/// store locked).
///
/// `flock` locks belong to an open file description, so a second `Store` on
/// the same directory in the same process is refused too.
final class StoreLock: Sendable {
    private let file: OpenFile

    init(directory: String, fileSystem: any FileSystem) throws(StoaError) {
        let path = Path.join(directory, "LOCK")
        let file = try OpenFile(path: path, flags: O_RDWR | O_CREAT | O_NOFOLLOW, fileSystem: fileSystem)
        guard try fileSystem.tryLockExclusive(file.fd, path: path) else {
            let holder = (try? file.readAll()).map { String(decoding: $0, as: UTF8.self) } ?? ""
            let pid = holder.trimmingCharacters(in: .whitespacesAndNewlines)
            let who = pid.isEmpty ? "another process" : "process \(pid)"
            throw StoaError(
                .locked, "the store is locked by \(who): one writer at a time (readers need no lock)",
                path: directory)
        }
        // Ours now: record who holds it. Only a hint for the error above.
        let pid = Array("\(Syscalls.processID())\n".utf8)
        try fileSystem.ftruncate(file.fd, to: 0, path: path)
        try pid.withUnsafeBufferPointer { (buffer) throws(StoaError) in
            try fileSystem.writeAll(file.fd, UnsafeRawBufferPointer(buffer), at: 0, path: path)
        }
        self.file = file
    }

    /// Lets another writer in. (Closing the descriptor, in `deinit`, would too.)
    func release() {
        Syscalls.unlock(file.fd)
    }
}
