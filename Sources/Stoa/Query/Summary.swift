/// What to count: the records a query selects, cut into time bins
/// (``every``) and groups (``by``), with statistics of numeric fields
/// (``fields``) — Kusto's `summarize count() by bin(time, 1h), type`.
/// ``RecordReader/summarize(_:)`` answers it with one ``SummaryRow`` per bin
/// and group.
///
/// How records are counted:
///
/// - **Bins.** A record falls in the bin that holds its time. Bins of a
///   fixed ``Interval/duration(_:)`` are aligned to multiples of it since
///   the Unix epoch, UTC — except a whole number of weeks, aligned to Monday
///   00:00 UTC (multiples counted from Monday 1970-01-05). Bins of
///   ``Interval/months(_:)`` start on the first of a month, 00:00 UTC,
///   aligned to multiples of that many months since January 1970 (`3mo`:
///   quarters; `12mo`: years). The first and last bins may reach outside
///   the query's window: they are not cut to it.
/// - **Empty bins.** When the query has both ``Query/since`` and
///   ``Query/until``, every bin that overlaps `[since, until)` has a row
///   for each group that has records anywhere in the answer (and, without
///   ``by``, for the one group), with a count of 0 where it has none.
///   Otherwise only bins with records have rows.
/// - **Groups.** Each ``Group`` of ``by`` gives one value per record:
///   ``Group/type`` the record's type and ``Group/conversation`` its
///   conversation, as the index knows them (what ``Query/types`` and
///   ``Query/conversation`` select; a record with no type or conversation
///   has `null`); ``Group/field(_:)`` the value at a path, as
///   ``FieldFilter`` finds it, or `null` when the record has none. Numbers
///   group by their value (`1`, `1.0` and `1e0` are one group, kept as a
///   double unless a whole number an `Int64` holds), strings by their
///   characters once escapes are decoded, objects and arrays by their JSON.
/// - **Statistics.** For each path of ``fields``, over the records of the
///   row where the value there is a number: ``FieldStatistics``.
///
/// ```swift
/// let hourly = try reader.summarize(Summary(
///     query: Query(since: start, until: end),
///     every: .duration(.seconds(3600)), by: [.type], fields: ["latency_ms"]))
/// for row in hourly { print(row.start!, row.groups[0], row.count, row.fields[0].p99 ?? 0) }
/// ```
public struct Summary: Sendable, Equatable {
    /// The records to count: the records ``RecordReader/query(_:)`` gives
    /// for it, its limit included.
    public var query: Query
    /// The width of the time bins; nil for no bins (one row per group).
    public var every: Interval?
    /// What to group by, in the order of ``SummaryRow/groups``.
    public var by: [Group]
    /// The numeric fields to give statistics of, in the order of
    /// ``SummaryRow/fields``.
    public var fields: [FieldPath]

    /// A summary of the records `query` selects, in bins of `every`, by the
    /// groups of `by`, with statistics of `fields`.
    ///
    /// ```swift
    /// Summary(query: Query(types: ["tool_call"]), every: try .parse("1d"), by: ["tool"], fields: ["ms"])
    /// ```
    public init(query: Query = Query(), every: Interval? = nil, by: [Group] = [], fields: [FieldPath] = []) {
        self.query = query
        self.every = every
        self.by = by
        self.fields = fields
    }

    /// What records are grouped by.
    public enum Group: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
        /// The record's type, as the index knows it (`null` for none).
        case type
        /// The record's conversation, as the index knows it, as a string
        /// (`null` for none).
        case conversation
        /// The value at a path of the record.
        case field(FieldPath)

        /// `type`, `conversation`, or else a dotted path (`tags.host`).
        ///
        /// - Throws: ``StoaError/Code/invalidArgument`` for an empty key in a
        ///   path (`tags..host`, `.x`).
        public static func parse(_ text: String) throws(StoaError) -> Group {
            switch text {
            case "type": .type
            case "conversation": .conversation
            default: .field(try FieldPath.parse(text))
            }
        }

        /// A group written as ``parse(_:)`` reads it.
        ///
        /// - Precondition: the text is a valid group.
        public init(stringLiteral text: String) {
            do throws(StoaError) {
                self = try Self.parse(text)
            } catch {
                preconditionFailure(error.message)
            }
        }

        /// The group's name: the key of its value in JSON rows.
        public var description: String {
            switch self {
            case .type: "type"
            case .conversation: "conversation"
            case .field(let path): path.description
            }
        }
    }

    /// The width of a time bin.
    public enum Interval: Sendable, Hashable, CustomStringConvertible {
        /// A fixed span of at least 1 µs: bins aligned to its multiples since
        /// the epoch; a whole number of weeks aligned to Mondays.
        case duration(Duration)
        /// Calendar months (at least 1), from the first of a month, UTC.
        case months(Int)

        /// Reads `1m`, `1h`, `1d`, `1w` and any duration `stoa.json` takes
        /// (`15m`, `90s`, `500ms`), or months: `1mo` (`3mo`, `1month`), and
        /// years as 12 months: `1y`.
        ///
        /// - Throws: ``StoaError/Code/invalidArgument`` for text that is no
        ///   interval, or zero.
        public static func parse(_ text: String) throws(StoaError) -> Interval {
            let trimmed = text.trimmingSpaces.lowercased()
            for (suffix, factor) in [("months", 1), ("month", 1), ("mo", 1), ("years", 12), ("year", 12), ("y", 12)]
            where trimmed.hasSuffix(suffix) {
                // (`1day` ends in `y`: a duration, not years.)
                guard let count = Int(String(trimmed.dropLast(suffix.count)).trimmingSpaces) else { continue }
                guard count > 0, count <= 120_000 / factor else {
                    throw StoaError(
                        .invalidArgument,
                        "cannot read the interval \"\(text)\": expected a whole number of months or years (1mo, 3mo, 1y)")
                }
                return .months(count * factor)
            }
            let duration: Duration
            do throws(StoaError) {
                duration = try Units.parseDuration(text)
            } catch {
                throw StoaError(
                    .invalidArgument,
                    "cannot read the interval \"\(text)\": expected a duration such as 1m, 1h, 1d, 1w (units us, ms, s, m, h, d, w), or months: 1mo")
            }
            guard duration.saturatingMicroseconds > 0 else {
                throw StoaError(.invalidArgument, "the interval \"\(text)\" is empty: bins must be at least 1us wide")
            }
            return .duration(duration)
        }

        /// The interval as ``parse(_:)`` reads it back (`1h`, `7d`, `3mo`).
        public var description: String {
            switch self {
            case .duration(let duration): Units.formatDuration(duration)
            case .months(let count): "\(count)mo"
            }
        }
    }
}

/// A path of keys into a record: `latency_ms`, `tags.host`.
public struct FieldPath: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The keys from the record's top level down; at least one.
    public let keys: [String]
    /// The keys as bytes, compared with keys.
    let keyBytes: [[UInt8]]

    /// The path of `keys`, each taken as it is (a key may hold a dot).
    ///
    /// - Precondition: `keys` is not empty.
    public init(_ keys: [String]) {
        precondition(!keys.isEmpty, "a field path needs a key")
        self.keys = keys
        self.keyBytes = keys.map { Array($0.utf8) }
    }

    /// Reads a dotted path: `latency_ms`, `tags.host`.
    ///
    /// - Throws: ``StoaError/Code/invalidArgument`` for the empty text or an
    ///   empty key between dots.
    public static func parse(_ text: String) throws(StoaError) -> FieldPath {
        let keys = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !text.isEmpty, !keys.contains("") else {
            throw StoaError(.invalidArgument, "cannot read the field path \"\(text)\": expected keys joined by dots, such as tags.host")
        }
        return FieldPath(keys)
    }

    /// A path written as ``parse(_:)`` reads it.
    ///
    /// - Precondition: the text is a valid path.
    public init(stringLiteral text: String) {
        do throws(StoaError) {
            self = try Self.parse(text)
        } catch {
            preconditionFailure(error.message)
        }
    }

    /// The keys joined by dots.
    public var description: String { keys.joined(separator: ".") }

    /// Two paths are equal when their keys are.
    public static func == (a: FieldPath, b: FieldPath) -> Bool { a.keys == b.keys }

    /// Hashes the keys.
    public func hash(into hasher: inout Hasher) { hasher.combine(keys) }
}

/// One row of a ``Summary``: a time bin and a group, how many records are
/// in it, and statistics of the summary's fields over them.
public struct SummaryRow: Sendable, Hashable {
    /// Where the bin starts; nil without ``Summary/every``.
    public var start: Timestamp?
    /// Where the bin ends (its first instant past it); nil without ``Summary/every``.
    public var end: Timestamp?
    /// The group's value for each of ``Summary/by``, in order (`.null` for
    /// a record without it).
    public var groups: [JSONValue]
    /// How many records are in the bin and group.
    public var count: Int
    /// The statistics of each of ``Summary/fields``, in order.
    public var fields: [FieldStatistics]

    /// A row with these parts.
    public init(start: Timestamp?, end: Timestamp?, groups: [JSONValue], count: Int, fields: [FieldStatistics]) {
        self.start = start
        self.end = end
        self.groups = groups
        self.count = count
        self.fields = fields
    }
}

/// Statistics of a field over the records of a row where it is a number,
/// as doubles. Percentiles are exact, by the nearest-rank rule: `p`-th
/// percentile of `n` values is the `⌈p·n/100⌉`-th smallest (p50 of 1, 2, 3, 4
/// is 2; every percentile of one value is that value).
public struct FieldStatistics: Sendable, Hashable {
    /// How many of the records have a number there.
    public var count: Int
    /// The smallest number; nil when ``count`` is 0.
    public var min: Double?
    /// The largest number; nil when ``count`` is 0.
    public var max: Double?
    /// Their sum (0 when ``count`` is 0), added in time order.
    public var sum: Double
    /// ``sum`` / ``count``; nil when ``count`` is 0.
    public var average: Double?
    /// The median (nearest rank); nil when ``count`` is 0.
    public var p50: Double?
    /// The 90th percentile (nearest rank); nil when ``count`` is 0.
    public var p90: Double?
    /// The 99th percentile (nearest rank); nil when ``count`` is 0.
    public var p99: Double?

    /// Statistics with these values.
    public init(
        count: Int, min: Double?, max: Double?, sum: Double, average: Double?, p50: Double?, p90: Double?, p99: Double?
    ) {
        self.count = count
        self.min = min
        self.max = max
        self.sum = sum
        self.average = average
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
    }

    /// The statistics of `values`, which it sorts.
    init(sorting values: inout [Double], sum: Double) {
        values.sort()
        let n = values.count
        func percentile(_ p: Int) -> Double? { n == 0 ? nil : values[(p * n + 99) / 100 - 1] }
        self.init(
            count: n, min: values.first, max: values.last, sum: sum, average: n == 0 ? nil : sum / Double(n),
            p50: percentile(50), p90: percentile(90), p99: percentile(99))
    }

    /// The statistics' names, in the order of JSON rows.
    public static let names = ["count", "min", "max", "sum", "avg", "p50", "p90", "p99"]

    /// The statistics as a JSON object, keys in the order of ``names``;
    /// a missing (or non-finite) value is `null`.
    public var json: JSONValue {
        func number(_ value: Double?) -> JSONValue { value.map(JSONValue.number) ?? .null }
        return .object([
            .init("count", .int(Int64(count))), .init("min", number(min)), .init("max", number(max)),
            .init("sum", number(sum)), .init("avg", number(average)), .init("p50", number(p50)),
            .init("p90", number(p90)), .init("p99", number(p99)),
        ])
    }
}

extension Summary {
    /// `row` as a JSON object, keys in this order: `start` and `end` (RFC
    /// 3339 in UTC, `Z`; only with ``every``), each group's name
    /// (``Group/description``) with its value, `count`, then each field's
    /// path with its ``FieldStatistics/json``. What `stoa summarize
    /// --output json` prints, one per line.
    public func json(_ row: SummaryRow) -> JSONValue {
        var members: [JSONValue.Member] = []
        if every != nil, let start = row.start, let end = row.end {
            members.append(.init("start", .string(Summary.timeText(start))))
            members.append(.init("end", .string(Summary.timeText(end))))
        }
        for (group, value) in zip(by, row.groups) { members.append(.init(group.description, value)) }
        members.append(.init("count", .int(Int64(row.count))))
        for (field, statistics) in zip(fields, row.fields) { members.append(.init(field.description, statistics.json)) }
        return .object(members)
    }

    /// An instant as RFC 3339 in UTC: whole seconds without a fraction
    /// (`2026-12-07T22:00:00Z`), else with six digits.
    public static func timeText(_ time: Timestamp) -> String {
        var text = time.description
        if text.hasSuffix(".000000Z") { text.removeLast(8); text += "Z" }
        return text
    }
}

extension JSONValue {
    /// A double as JSON holds it: an `.int` when it is a whole number an
    /// `Int64` holds, else a `.double`.
    package static func number(_ value: Double) -> JSONValue {
        if value == value.rounded(), value >= -9.2e18, value <= 9.2e18 { return .int(Int64(value)) }
        return .double(value)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
