#if canImport(Glibc)
import Glibc
#endif

/// The one error type Stoa throws.
///
/// Every error says what went wrong and where: the file, and the byte offset or
/// line number when there is one. Match on ``code`` to react to a kind of error:
///
/// ```swift
/// do {
///     let store = try Store(at: "/var/log/agent")
/// } catch let error as StoaError where error.code == .locked {
///     print("another writer holds the store: \(error)")
/// }
/// ```
public struct StoaError: Error, Sendable, CustomStringConvertible {
    /// What kind of error this is. New codes may be added; match the ones you handle.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, as ``description`` and the CLI print it (`locked`, `damaged`…).
        public let name: String
        init(_ name: String) { self.name = name }
        /// A symbolic link where a store keeps its own files: Stoa does not
    /// follow it, because it would write (or cut) the file it points to.
    static func symbolicLink(_ path: String, call: String? = nil) -> StoaError {
        StoaError(
            .io,
            "is a symbolic link: Stoa does not follow links inside a store (it would write to what the link points to); "
                + "put the file or directory itself there (only archive_path may point elsewhere)",
            path: path, call: call, errno: ELOOP)
    }

    public var description: String { name }

        /// A system call failed (see ``StoaError/errno``).
        public static let io = Code("io")
        /// The disk is full (ENOSPC, EDQUOT) or the file too large (EFBIG).
        public static let noSpace = Code("noSpace")
        /// A record is not a valid JSON object, or a field in it is unreadable.
        public static let invalidRecord = Code("invalidRecord")
        /// A record has no time where one is required (`stoa import`, unless
        /// asked to stamp records with the time of the import).
        public static let missingTime = Code("missingTime")
        /// A record is larger than `max_record_bytes`.
        public static let recordTooLarge = Code("recordTooLarge")
        /// Another writer holds the store's lock.
        public static let locked = Code("locked")
        /// `stoa.json` is missing, unreadable or has a value out of range.
        public static let badConfig = Code("badConfig")
        /// The directory is not a store (and was not asked to become one).
        public static let notAStore = Code("notAStore")
        /// Stored bytes are damaged: a line, a file or the chain of digests.
        public static let damaged = Code("damaged")
        /// The store was closed, or an earlier write failure stopped it.
        public static let closed = Code("closed")
        /// An argument is out of range: a time, a duration, a size, a seq.
        public static let invalidArgument = Code("invalidArgument")
        /// A backup holds records its store no longer has (the store was cut
        /// back or reset since, or the backup was written to): the backup is
        /// left as it is.
        public static let diverged = Code("diverged")
    }

    /// What kind of error: match on it (``Code/locked``, ``Code/damaged``…).
    public var code: Code
    /// What went wrong, in a sentence; ``description`` adds where.
    public var message: String
    /// The file or directory concerned, if any.
    public var path: String?
    /// The byte offset in ``path`` (or in the input), if known.
    public var offset: Int?
    /// The 1-based line number in the input or file, if known.
    public var line: Int?
    /// The system call that failed, if any.
    public var call: String?
    /// The `errno` of the failed system call, if any.
    public var errno: Int32?

    /// An error of kind `code` saying `message`, with where it happened when known.
    public init(
        _ code: Code, _ message: String, path: String? = nil, offset: Int? = nil,
        line: Int? = nil, call: String? = nil, errno: Int32? = nil
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.offset = offset
        self.line = line
        self.call = call
        self.errno = errno
    }

    /// A failed system call, classified by its errno.
    static func syscall(_ call: String, errno: Int32, path: String?) -> StoaError {
        let code: Code =
            switch errno {
            case ENOSPC, EDQUOT, EFBIG: .noSpace
            default: .io
            }
        let reason = String(cString: strerror(errno))
        return StoaError(
            code, "\(call) failed: \(reason)", path: path, call: call, errno: errno)
    }

    /// A symbolic link where a store keeps its own files: Stoa does not
    /// follow it, because it would write (or cut) the file it points to.
    static func symbolicLink(_ path: String, call: String? = nil) -> StoaError {
        StoaError(
            .io,
            "is a symbolic link: Stoa does not follow links inside a store (it would write to what the link points to); "
                + "put the file or directory itself there (only archive_path may point elsewhere)",
            path: path, call: call, errno: ELOOP)
    }

    public var description: String {
        var text = ""
        if let path { text += path }
        if let line { text += (text.isEmpty ? "" : ":") + "line \(line)" }
        if let offset { text += (text.isEmpty ? "" : ":") + "offset \(offset)" }
        return text.isEmpty ? message : "\(text): \(message)"
    }

    /// The same error, with a line number and (for streams) a source name added.
    func at(line: Int, path: String? = nil) -> StoaError {
        var copy = self
        copy.line = line
        if let path { copy.path = path }
        return copy
    }
}
