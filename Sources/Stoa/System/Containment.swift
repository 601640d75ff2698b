#if canImport(Glibc)
import Glibc
#endif

/// Whether a path lies inside directories a command must keep out of — an
/// export must not write into what it reads, an import must not read the
/// store it writes — judged on the file system, not on how the paths are
/// spelled.
enum Containment {
    /// The first of `directories` that is `path` or holds it, at any depth.
    ///
    /// `path` is resolved (symbolic links, `.`, `..`: realpath), or the
    /// nearest of its directories that exists when `path` does not. Then it and every directory
    /// above it, up to `/`, is compared with each of `directories` by device
    /// and inode, so that another way to the same directory (a symbolic
    /// link, a bind mount, a relative path) is seen through. A directory of
    /// `directories` that does not exist holds nothing.
    ///
    /// - Returns: the directory, as given, that holds `path`; nil when none does.
    /// - Throws: when a directory cannot be examined for another reason than
    ///   not existing.
    ///
    /// ```swift
    /// Containment.directory(holding: "x/segments/../segments/0.jsonl", among: ["x"])  // "x"
    /// ```
    static func directory(holding path: String, among directories: [String]) throws(StoaError) -> String? {
        var identities: [(device: UInt64, inode: UInt64, directory: String)] = []
        for directory in directories {
            guard let info = try Syscalls.status(directory), info.st_mode & S_IFMT == S_IFDIR else { continue }
            identities.append((UInt64(info.st_dev), UInt64(info.st_ino), directory))
        }
        guard !identities.isEmpty else { return nil }
        // The path resolved, or else the nearest of its directories that exists.
        var existing = path
        var resolved = try Syscalls.realPath(existing)
        while resolved == nil {
            let parent = Path.directory(of: existing)
            if parent == existing { return nil }
            existing = parent
            resolved = try Syscalls.realPath(existing)
        }
        guard var current = resolved else { return nil }
        while true {
            if let info = try Syscalls.status(current),
                let match = identities.first(where: {
                    $0.device == UInt64(info.st_dev) && $0.inode == UInt64(info.st_ino)
                })
            {
                return match.directory
            }
            if current == "/" { return nil }
            current = Path.directory(of: current)
        }
    }
}
