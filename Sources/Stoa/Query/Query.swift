/// What to read: a time window, types, a conversation, a substring, field
/// filters, a limit and an order. Every part is optional; the empty query
/// reads everything.
public struct Query: Sendable, Equatable {
    /// The order records come out in.
    public enum Order: Sendable, Equatable {
        /// By (time, seq), ascending.
        case oldestFirst
        /// By (time, seq), descending.
        case newestFirst
    }

    /// Records at or after this time, if set.
    public var since: Timestamp?
    /// Records before this time, if set.
    public var until: Timestamp?
    /// Records of any of these types; empty means every type.
    ///
    /// A record's type is the first string among its type fields (§3). The
    /// empty string `""` stands for the records that have none — no type
    /// field, or only ones whose value is not a string (`null`, `5`), or the
    /// string `""` — as ``StoreStats/types`` counts them under `""`; the
    /// index does not tell these apart. `stoa query --type ''` refuses it
    /// rather than let it mean "no type field".
    public var types: Set<String>
    /// Records of this conversation only, if set.
    public var conversation: String?
    /// Records whose stored line contains these bytes, if set.
    public var contains: String?
    /// Conditions on fields that every record must meet (all of them: AND);
    /// empty means no condition. See ``FieldFilter`` for how a field is
    /// matched. The index does not hold fields: each record the other parts
    /// select is read to test them.
    public var fieldFilters: [FieldFilter]
    /// At most this many records, if set.
    public var limit: Int?
    /// Oldest first (the default) or newest first; with a `limit`, the first
    /// records in that order (`.newestFirst` and `limit: 20`: the last 20).
    public var order: Order

    /// A query; every part left out matches everything.
    ///
    /// ```swift
    /// let lastHour = Query(since: .now() - .seconds(3600), types: ["error", "warning"])
    /// let latest = Query(conversation: "conv-42", limit: 20, order: .newestFirst)
    /// let slowOnAgent1 = Query(where: [try .parse("tags.host=agent-1"), try .parse("latency_ms>250")])
    /// ```
    public init(
        since: Timestamp? = nil, until: Timestamp? = nil, types: Set<String> = [], conversation: String? = nil,
        contains: String? = nil, where fieldFilters: [FieldFilter] = [], limit: Int? = nil, order: Order = .oldestFirst
    ) {
        self.fieldFilters = fieldFilters
        self.since = since
        self.until = until
        self.types = types
        self.conversation = conversation
        self.contains = contains
        self.limit = limit
        self.order = order
    }

    /// ``since`` in µs since the epoch, as the index keeps times.
    var sinceMicros: Int64? { since?.microsecondsSinceEpoch }
    /// ``until`` in µs since the epoch, as the index keeps times.
    var untilMicros: Int64? { until?.microsecondsSinceEpoch }

    /// Whether the record whose line is `line` meets every field filter.
    @inline(__always)
    func matchesFields(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        fieldFilters.isEmpty || fieldFilters.allSatisfy { $0.matches(line: line) }
    }

    @inline(__always)
    func includes(time: Int64) -> Bool {
        if let since, time < since.microsecondsSinceEpoch { return false }
        if let until, time >= until.microsecondsSinceEpoch { return false }
        return true
    }
}
