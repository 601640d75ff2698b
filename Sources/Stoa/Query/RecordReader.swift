/// What reads records out of a directory: a store (``StoreReader``) or a
/// directory of JSONL logs Stoa does not own (``ForeignLogReader``, §7).
/// Both answer the same queries, exactly sorted by (time, seq).
///
/// ```swift
/// let reader: any RecordReader =
///     (try? StoreReader(at: path)) ?? (try ForeignLogReader(at: path))
/// let cursor = try reader.query(Query(since: start, types: ["error"]))
/// ```
public protocol RecordReader: AnyObject, Sendable {
    /// The directory read.
    var path: String { get }
    /// Every directory whose files are read: a store's directory and its
    /// archive (`archive_path` may be elsewhere); a foreign directory. An
    /// export never writes into them.
    var sourceDirectories: [String] { get }
    /// The records that match `query`, exactly sorted by (time, seq).
    func query(_ query: Query) throws(StoaError) -> RecordCursor
    /// The last `count` records (a store: by seq; a foreign directory: by time), oldest first.
    func last(_ count: Int) throws(StoaError) -> RecordCursor
    /// The last `count` records that meet every filter of `fieldFilters`
    /// (a store: by seq; a foreign directory: by time), oldest first.
    func last(_ count: Int, where fieldFilters: [FieldFilter]) throws(StoaError) -> RecordCursor
    /// Counts of what the directory holds.
    func stats() throws(StoaError) -> StoreStats
}

extension StoreReader: RecordReader {
    public var sourceDirectories: [String] { [path, layout.archive] }
}
