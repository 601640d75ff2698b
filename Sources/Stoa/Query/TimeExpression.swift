/// Times as people type them on the command line: `2026-11-23`, `-15m`,
/// `2h ago`, `@1700000000`, `yesterday`.
///
/// ```swift
/// let now = Timestamp.now()
/// let since = try TimeExpression.parse("2h ago", now: now) // now - .seconds(7200)
/// ```
package enum TimeExpression {
    static func error(_ text: String) -> StoaError {
        StoaError(
            .invalidArgument,
            "cannot read time \"\(text)\": expected RFC 3339, YYYY-MM-DD [HH:MM[:SS]], @EPOCH,"
                + " now, today, yesterday, or a relative time like -15m or 2h ago")
    }

    /// Reads a time expression.
    ///
    /// Accepted (surrounding whitespace ignored, words case-insensitive):
    ///
    /// - RFC 3339 / ISO 8601: `2026-11-23T12:47:22.5Z`, `2026-11-23T12:47:22+05:30`;
    ///   no zone means UTC.
    /// - `YYYY-MM-DD`, `YYYY-MM-DD HH:MM`, `YYYY-MM-DD HH:MM:SS` (UTC).
    /// - `@EPOCH`: an epoch number, seconds unless its magnitude says
    ///   milliseconds, microseconds or nanoseconds (`@1700000000.5`,
    ///   `@1700000000000`).
    /// - `now`; `today` and `yesterday` (UTC midnight).
    /// - Relative to `now`: a sign or a trailing `ago` and a duration, `-15m`,
    ///   `+2h`, `15m ago`, `1h30m ago`, `-90s`, `2 hours ago`, `1.5d ago`.
    ///   Units: `us`, `ms`, `s`, `m`, `h`, `d`, `w` and their words
    ///   (`sec`, `min`, `hour`, `day`, `week`, with an optional plural `s`).
    ///   A duration without a sign or `ago` (`15m`) is refused as ambiguous.
    ///
    /// - Parameters:
    ///   - text: The expression.
    ///   - now: The current time, for `now`, `today`, `yesterday` and
    ///     relative forms.
    /// - Returns: The time, to the microsecond.
    /// - Throws: ``StoaError/Code/invalidArgument`` if the text is none of the
    ///   forms, or the time is out of ``Timestamp``'s range.
    package static func parse(_ text: String, now: Timestamp) throws(StoaError) -> Timestamp {
        Timestamp(microsecondsSinceEpoch: try parseMicroseconds(text, now: now.microsecondsSinceEpoch))
    }

    /// ``parse(_:now:)`` in µs since the epoch.
    private static func parseMicroseconds(_ text: String, now: Int64) throws(StoaError) -> Int64 {
        let bytes = Units.trimmed(Array(text.utf8))
        guard let first = bytes.first else { throw error(text) }

        switch Units.lowercased(bytes[...]) {
        case "now":
            return now
        case "today":
            return RecordTime.floorDivide(now, RecordTime.microsPerDay).quotient * RecordTime.microsPerDay
        case "yesterday":
            let today = RecordTime.floorDivide(now, RecordTime.microsPerDay).quotient
            return (today - 1) * RecordTime.microsPerDay
        default:
            break
        }

        if first == UInt8(ascii: "@") {
            guard let time = RecordTime.parseNumber(Array(bytes.dropFirst())) else { throw error(text) }
            return time
        }

        // Relative: a sign in front, or a trailing " ago".
        var sign: Int64 = 0
        var duration = bytes
        if first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            sign = first == UInt8(ascii: "-") ? -1 : 1
            duration = Units.trimmed(Array(bytes.dropFirst()))
        } else if bytes.count > 4, Units.lowercased(bytes.suffix(3)) == "ago",
            Units.isSpace(bytes[bytes.count - 4])
        {
            sign = -1
            duration = Units.trimmed(Array(bytes.dropLast(3)))
        }
        if sign != 0 {
            guard case .value(let micros) = Units.readDuration(duration, bareNumberIsSeconds: false)
            else { throw error(text) }
            let (time, overflow) = now.addingReportingOverflow(sign * micros)
            if overflow { throw error(text) }
            return time
        }

        guard let time = RecordTime.parseText(bytes) else { throw error(text) }
        return time
    }
}
