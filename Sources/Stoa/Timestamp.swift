import Foundation

/// An instant: a count of microseconds since the Unix epoch
/// (1970-01-01T00:00:00Z), UTC, as a store keeps a record's time.
///
/// Every instant in Stoa's API is a `Timestamp` and every span a
/// `Duration`. Inside, the store, its indexes and its files keep the same
/// count as an `Int64`: a `Timestamp` is that `Int64` and nothing more, so it
/// costs nothing on the paths that read millions of records.
///
/// - Precision: one microsecond. A `Date` (a `Double` of seconds) is rounded
///   to the nearest microsecond, halves away from zero; a `Duration` added to
///   or subtracted from a timestamp is first truncated toward zero to whole
///   microseconds.
/// - Range: that of an `Int64` of microseconds, about 292,000 years either
///   side of 1970; times before 1970 are negative counts. Arithmetic that
///   leaves the range traps, as `Int64` arithmetic does; a `Date` beyond it
///   is held at its limits.
/// - Text: ``description`` is the text the store writes into records,
///   `2026-11-23T12:47:22.000000Z`, and the `Codable` form is that string.
///   Decoding accepts what the store accepts in a record's time field: RFC
///   3339 text with any fraction and zone, or an epoch number (seconds,
///   milliseconds, microseconds or nanoseconds, told apart by magnitude).
///
/// ```swift
/// let since = Timestamp(Date()) - .seconds(3600)
/// for record in try reader.query(Query(since: since)) {
///     print(record.time, record.time.date)
/// }
/// ```
public struct Timestamp: Sendable, Hashable, Comparable {
    /// Microseconds since 1970-01-01T00:00:00Z; negative before it.
    public var microsecondsSinceEpoch: Int64

    /// The instant `microsecondsSinceEpoch` µs after the Unix epoch.
    @inlinable
    public init(microsecondsSinceEpoch: Int64) {
        self.microsecondsSinceEpoch = microsecondsSinceEpoch
    }

    /// The Unix epoch, 1970-01-01T00:00:00Z.
    public static let epoch = Timestamp(microsecondsSinceEpoch: 0)

    /// Whether `lhs` is earlier than `rhs`.
    @inlinable
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.microsecondsSinceEpoch < rhs.microsecondsSinceEpoch
    }
}

// MARK: Date

extension Timestamp {
    /// Microseconds from the Unix epoch to `Date`'s reference date
    /// (2001-01-01T00:00:00Z).
    static let referenceDateMicroseconds: Int64 = 978_307_200_000_000

    /// The instant of `date`, rounded to the nearest microsecond (halves away
    /// from zero); a date beyond ±292,000 years is held at the limits.
    ///
    /// A `Date` holds a `Double` of seconds since 2001, which resolves
    /// microseconds within 2³² seconds (136 years) of 2001, from 1865 through
    /// 2136: there, `Timestamp(t.date) == t` for every `t`. Farther away a
    /// `Date` is coarser, and the round trip may be a microsecond off.
    ///
    /// - Precondition: `date` is not NaN.
    public init(_ date: Date) {
        let seconds = date.timeIntervalSinceReferenceDate
        precondition(!seconds.isNaN, "Timestamp(Date): the date is NaN")
        let micros = (seconds * 1_000_000).rounded(.toNearestOrAwayFromZero)
        // 2^63 as a Double: every Double below it converts to Int64.
        let limit = 9_223_372_036_854_775_808.0
        guard micros > -limit, micros < limit else {
            self.init(microsecondsSinceEpoch: micros < 0 ? .min : .max)
            return
        }
        self.init(
            microsecondsSinceEpoch: Self.saturating(Int64(micros), plus: Self.referenceDateMicroseconds))
    }

    /// The same instant as a `Date` (exact to the microsecond from 1865
    /// through 2136; see `init(_ date:)`).
    public var date: Date {
        // The integer difference is exact, so only one rounding happens: the division.
        let sinceReference = microsecondsSinceEpoch.subtractingReportingOverflow(Self.referenceDateMicroseconds)
        let seconds =
            sinceReference.overflow
            ? (Double(microsecondsSinceEpoch) - Double(Self.referenceDateMicroseconds)) / 1_000_000
            : Double(sinceReference.partialValue) / 1_000_000
        return Date(timeIntervalSinceReferenceDate: seconds)
    }

    private static func saturating(_ a: Int64, plus b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        if overflow { return b < 0 ? .min : .max }
        return sum
    }
}

// MARK: Arithmetic with Duration

extension Timestamp {
    /// `timestamp` moved later by `duration` (truncated toward zero to whole
    /// microseconds).
    ///
    /// - Precondition: the result fits (traps otherwise, as `Int64` does).
    public static func + (timestamp: Timestamp, duration: Duration) -> Timestamp {
        Timestamp(microsecondsSinceEpoch: timestamp.microsecondsSinceEpoch + duration.wholeMicroseconds)
    }

    /// `timestamp` moved earlier by `duration` (truncated toward zero to
    /// whole microseconds).
    ///
    /// - Precondition: the result fits (traps otherwise, as `Int64` does).
    public static func - (timestamp: Timestamp, duration: Duration) -> Timestamp {
        Timestamp(microsecondsSinceEpoch: timestamp.microsecondsSinceEpoch - duration.wholeMicroseconds)
    }

    /// Moves `timestamp` later by `duration`.
    public static func += (timestamp: inout Timestamp, duration: Duration) { timestamp = timestamp + duration }

    /// Moves `timestamp` earlier by `duration`.
    public static func -= (timestamp: inout Timestamp, duration: Duration) { timestamp = timestamp - duration }

    /// The span from `rhs` to `lhs`: negative when `lhs` is earlier. Never
    /// overflows (a `Duration` holds any difference of two timestamps).
    ///
    /// ```swift
    /// let age = Timestamp.now() - record.time
    /// ```
    public static func - (lhs: Timestamp, rhs: Timestamp) -> Duration {
        // Each count fits a Duration on its own; Duration's own subtraction is exact.
        .microseconds(lhs.microsecondsSinceEpoch) - .microseconds(rhs.microsecondsSinceEpoch)
    }
}

// MARK: Duration in microseconds

extension Duration {
    /// This span in whole microseconds, truncated toward zero.
    ///
    /// - Precondition: it fits an `Int64` of microseconds (about 292,000
    ///   years; traps otherwise).
    var wholeMicroseconds: Int64 {
        guard let micros = exactMicroseconds else {
            preconditionFailure("\(self) does not fit an Int64 of microseconds (about 292,000 years)")
        }
        return micros
    }

    /// This span in whole microseconds, truncated toward zero, held at
    /// `Int64`'s limits: for spans a caller may set to anything (a store's
    /// `retainFor`, a follower's wait).
    var saturatingMicroseconds: Int64 {
        exactMicroseconds ?? (self < .zero ? .min : .max)
    }

    /// Whole microseconds truncated toward zero, or nil if they do not fit an
    /// `Int64`.
    private var exactMicroseconds: Int64? {
        let (seconds, attoseconds) = components
        // Components have the same sign (or are zero), so truncating each truncates the sum.
        let (whole, overflowMultiply) = seconds.multipliedReportingOverflow(by: 1_000_000)
        let (sum, overflowAdd) = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000)
        return overflowMultiply || overflowAdd ? nil : sum
    }
}
