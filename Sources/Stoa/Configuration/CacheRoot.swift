#if canImport(Glibc)
import Glibc
#endif

/// Where Stoa keeps what it caches outside the directories it reads: the
/// `.idx` of a store's sealed segments that a reader could not write beside
/// them (``ReaderIndexes``), and the indexes of foreign logs
/// (``ForeignIndexCache``).
enum CacheRoot {
    /// `$STOA_CACHE_DIR`, else `$XDG_CACHE_HOME/stoa`, else `~/.cache/stoa`;
    /// nil when the environment names none of them.
    static var automatic: String? {
        func variable(_ name: String) -> String? { Syscalls.environment(name) }
        if let directory = variable("STOA_CACHE_DIR") { return directory }
        if let directory = variable("XDG_CACHE_HOME") { return Path.join(directory, "stoa") }
        if let home = variable("HOME") { return Path.join(home, ".cache/stoa") }
        return nil
    }

    /// The absolute path of `path` with symbolic links resolved, so that
    /// two spellings of one directory share a cache; `path` when it cannot
    /// be resolved.
    static func identity(of path: String) -> String {
        ((try? Syscalls.realPath(path)) ?? nil) ?? path
    }
}
