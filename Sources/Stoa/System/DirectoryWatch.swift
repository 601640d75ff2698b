#if canImport(Glibc)
import Glibc
#endif

/// The modification time of the directory at a path, read through an open
/// descriptor: `fstat` on it is cheaper than a `stat` on the path, which
/// walks every component of the path.
///
/// A reader asks this before every query, to see whether a writer added or
/// moved segment files, so the difference counts in a one-record query.
///
/// A descriptor keeps naming the directory it was opened on, even after that
/// directory is renamed or removed. So the path is looked up again at least
/// once a second, and a directory found in its place is watched from then on.
///
/// While the directory does not exist, its parent is watched instead: the
/// directory is taken as still absent while the parent's time is the one it
/// had before the path was last found missing, and that time is over a
/// second old (directory times tick coarsely: a change within the same tick
/// can leave the same time).
struct DirectoryWatch {
    let path: String
    /// The directory, or its parent while the directory is absent.
    private var file: OpenFile?
    private var watchingParent = false
    /// The parent's time, read just before the path was found missing.
    private var absentAt: Int64?
    /// The directory's device and inode.
    private var identity: (dev_t, ino_t)?
    /// When the path was last looked up (µs of `clock`).
    private var lookedUp: Int64 = .min
    /// How long a descriptor is trusted before the path is looked up again (µs).
    private let lookUpInterval: Int64
    /// When to look the path up again (tests advance one by hand).
    private let clock: StoaClock
    /// The time of day, to tell a directory time over a second old.
    private let wallClock: StoaClock

    init(
        path: String, lookUpInterval: Int64 = 1_000_000, clock: StoaClock = .monotonic,
        wallClock: StoaClock = .system
    ) {
        self.path = path
        self.lookUpInterval = lookUpInterval
        self.clock = clock
        self.wallClock = wallClock
    }

    /// The directory's modification time (ns since the epoch), or nil when
    /// it does not exist.
    mutating func modified() throws(StoaError) -> Int64? {
        let now = clock.now()
        if let file, now - lookedUp < lookUpInterval {
            let time = Self.time(try Syscalls.fstat(file.fd, path: file.path))
            if !watchingParent { return time }
            if let absentAt, time == absentAt, time < (wallClock.now() - 1_000_000) * 1000 { return nil }
        }
        return try lookUp(now: now)
    }

    private mutating func lookUp(now: Int64) throws(StoaError) -> Int64? {
        // The parent's time is read before the path is looked up: a
        // directory created after the lookup gives the parent a newer time.
        var parentTime: Int64?
        if watchingParent, let file { parentTime = Self.time(try Syscalls.fstat(file.fd, path: file.path)) }
        lookedUp = now
        if let info = try Syscalls.status(path) {
            if watchingParent || file == nil || identity.map({ $0 != info.st_dev || $1 != info.st_ino }) ?? true {
                file = try? OpenFile(directoryAt: path)
                identity = file.flatMap { try? Syscalls.fstat($0.fd, path: path) }.map { ($0.st_dev, $0.st_ino) }
                watchingParent = false
            }
            return Self.time(info)
        }
        if !watchingParent {
            // A parent that cannot be opened (absent too) leaves no file:
            // the path is looked up every time.
            file = try? OpenFile(directoryAt: Path.directory(of: path))
            watchingParent = true
        }
        absentAt = parentTime
        return nil
    }

    /// `st_mtim` in ns since the epoch, held at `Int64`'s limits (a
    /// directory's time is set by whoever touched it last).
    private static func time(_ info: stat) -> Int64 {
        let (whole, overflow) = Int64(info.st_mtim.tv_sec).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return info.st_mtim.tv_sec < 0 ? .min : .max }
        let (sum, carry) = whole.addingReportingOverflow(Int64(info.st_mtim.tv_nsec))
        return carry ? .max : sum
    }
}
