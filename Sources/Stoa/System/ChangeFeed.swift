#if canImport(Glibc)
import Glibc
#endif

/// Whether anything changed in a store's segment directories since the last
/// look, from inotify: one `read` that finds nothing instead of an `fstat`
/// of each directory and of the growing segment, before every query. systemd's journal readers learn of new entries the same way.
///
/// The kernel queues an event inside the `write`, `rename` or `unlink` that
/// causes it, so a change a writer made before it acknowledged a record is
/// in the queue before any query that starts after. A watch on a directory
/// reports changes to the files in it, so two watches cover the segment and
/// archive directories and the growing segment. While a directory does not
/// exist, its parent is watched for its creation.
///
/// Not every file system reports changes made elsewhere (a network file
/// system, for changes from another machine), so a reader still looks in
/// full at least once a second.
final class ChangeFeed: @unchecked Sendable {
    // Used only under its reader's lock.
    private let fd: Int32
    private let directories: [String]
    /// The watches on the directories, and on the parents of those that did
    /// not exist.
    private var watches: [Int32] = []
    private var parentWatches: [Int32] = []
    private var events = [UInt8](repeating: 0, count: 4096)
    private let mask: UInt32
    /// A watch may no longer stand for its path (a directory was moved,
    /// removed or created, or events were lost): watch again before looking.
    private(set) var needsRewatch = true

    private static let mask = UInt32(IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)
        | UInt32(IN_DELETE_SELF | IN_MOVE_SELF)
    private static let lost = UInt32(IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)

    /// Nil where inotify is not available (or the process has no more
    /// instances): its reader then looks in full before every query.
    ///
    /// - Parameter closes: also report a file closed after writing
    ///   (`IN_CLOSE_WRITE`), as a follower's feed does: the tests that
    ///   wait for a follower in another process to be watching tell its
    ///   watch from its reader's by this.
    init?(watching directories: [String], closes: Bool = false) {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        self.directories = directories
        self.mask = Self.mask | (closes ? UInt32(IN_CLOSE_WRITE) : 0)
    }

    deinit { Syscalls.close(fd) }

    /// Watches each directory, or its parent while it is absent. Call it
    /// before looking at what they hold, so that a change after the look is
    /// reported. False when a watch cannot be added: the feed cannot be used.
    func rewatch() -> Bool {
        for watch in parentWatches { inotify_rm_watch(fd, watch) }
        watches = []
        parentWatches = []
        for directory in directories {
            let watch = inotify_add_watch(fd, directory, mask)
            if watch >= 0 {
                watches.append(watch)
                continue
            }
            guard errno == ENOENT else { return false }
            let parent = inotify_add_watch(fd, Path.directory(of: directory), mask)
            guard parent >= 0 else { return false }
            parentWatches.append(parent)
        }
        needsRewatch = false
        return true
    }

    /// Waits until a change is reported or `micros` µs pass (at least a
    /// millisecond); whether one was. Takes every report off the queue. For
    /// a follower, which waits for records to arrive.
    func wait(upTo micros: Int64) -> Bool {
        if needsRewatch && !rewatch() {
            // A watch cannot be added now: wait the time out, try again next time.
            Syscalls.sleep(micros: max(1_000, micros))
            return true
        }
        _ = Syscalls.waitUntilReadable(fd, milliseconds: Int32(clamping: max(1, micros / 1000)))
        return changed()
    }

    /// Whether any change was reported since the last call; takes every
    /// report off the queue.
    func changed() -> Bool {
        var any = false
        while true {
            let count = events.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno != EAGAIN {
                // Not known: take it as a change.
                needsRewatch = true
                return true
            }
            if count <= 0 { return any }
            any = true
            events.withUnsafeBytes { bytes in
                var offset = 0
                while offset + 16 <= count {
                    let watch = bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                    let mask = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                    let nameLength = bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)
                    // Anything in a parent may be its directory appearing; a
                    // loss counts on a current watch only (a watch removed by
                    // `rewatch` reports IN_IGNORED); an overflow names none.
                    if parentWatches.contains(watch) || (mask & Self.lost != 0 && watches.contains(watch))
                        || mask & UInt32(IN_Q_OVERFLOW) != 0
                    {
                        needsRewatch = true
                    }
                    offset += 16 + Int(nameLength)
                }
            }
        }
    }
}
