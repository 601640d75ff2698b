import CStoaSystem
#if canImport(Glibc)
import Glibc
#endif

extension Syscalls {
    /// The absolute path of `path` with every symbolic link, `.` and `..`
    /// resolved (realpath(3)); nil when it does not exist.
    static func realPath(_ path: String) throws(StoaError) -> String? {
        guard let resolved = Glibc.realpath(path, nil) else {
            let error = Glibc.errno
            if error == ENOENT || error == ENOTDIR { return nil }
            throw StoaError.syscall("realpath", errno: error, path: path)
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Renames `from` to `to` unless `to` exists (then the error's errno is
    /// `EEXIST` and nothing changed); `EINVAL` where the file system cannot
    /// tell (renameat2 with `RENAME_NOREPLACE`).
    static func renameNoReplace(_ from: String, to: String) throws(StoaError) {
        _ = try valueOrThrow("rename", path: "\(from) -> \(to)") { stoa_rename_noreplace(from, to) }
    }

    /// Creates `path` for writing only if no file, directory or symbolic link
    /// has that name (`O_CREAT | O_EXCL`); nil when one has.
    static func createNew(_ path: String, mode: mode_t = 0o640) throws(StoaError) -> Int32? {
        let (fd, error) = retryingOnInterrupt { Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode) }
        if fd == -1 {
            if error == EEXIST { return nil }
            throw StoaError.syscall("open", errno: error, path: path)
        }
        return fd
    }
}
