#if canImport(Glibc)
import Glibc
#endif

/// Record times: reading them from JSON values and writing them back.
///
/// Inside Stoa every instant is an `Int64` count of microseconds since the Unix
/// epoch, UTC (``Timestamp`` in the API, that count and nothing more). This
/// namespace turns the two forms a record's time field may take (an
/// RFC 3339 string or an epoch number) into that count, and writes the count
/// back as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
///
/// It works on raw bytes, without Foundation or a calendar library: the date
/// arithmetic is Howard Hinnant's `days_from_civil` / `civil_from_days`
/// (proleptic Gregorian calendar).
///
/// ```swift
/// RecordTime.parseText("2026-11-23T12:47:22Z")   // 1_795_438_042_000_000
/// RecordTime.parseNumber("1700000000.123456")    // 1_700_000_000_123_456
/// RecordTime.format(0)                           // "1970-01-01T00:00:00.000000Z"
/// ```
package enum RecordTime {
    static let microsPerSecond: Int64 = 1_000_000
    static let microsPerMinute: Int64 = 60 * microsPerSecond
    static let microsPerHour: Int64 = 60 * microsPerMinute
    static let microsPerDay: Int64 = 24 * microsPerHour

    /// The length of ``format(_:)``'s output for a year in 0000...9999.
    static let formattedCount = 27

    // MARK: Reading text

    /// Reads the contents of a JSON string (without its quotes) as an RFC 3339 /
    /// ISO 8601 time.
    ///
    /// Accepted, with `T`, `t` or a space between date and time:
    ///
    /// - `YYYY-MM-DD` (midnight UTC)
    /// - `YYYY-MM-DDTHH:MM` and `YYYY-MM-DDTHH:MM:SS`
    /// - `YYYY-MM-DDTHH:MM:SS.f…` with one or more fraction digits, truncated
    ///   (not rounded) to microseconds; the fraction may also follow a comma
    ///   (ISO 8601's other decimal sign), as Python logging's default
    ///   `asctime` writes it: `2026-11-20 10:00:00,123`
    ///
    /// each of the forms with a time optionally followed by a zone: `Z`, `z`,
    /// `±HH:MM`, `±HHMM` or `±HH`. No zone means UTC. Fields are range-checked
    /// (day within its month, hour 0–23, minute 0–59, second 0–60, offset hours
    /// 0–23); a leap second (`:60`) counts as one more second.
    ///
    /// - Parameter bytes: The string's UTF-8 bytes; the caller guarantees there
    ///   are no backslash escapes. The pointer must not escape the call.
    /// - Returns: Microseconds since the epoch, or `nil` if the text is not such
    ///   a time.
    /// - Complexity: O(*n*) in the length of the text.
    static func parseText(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        let count = bytes.count
        // YYYY-MM-DD
        guard count >= 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else {
            return nil
        }
        let year = digits(bytes, 0, 4)
        let month = digits(bytes, 5, 2)
        let day = digits(bytes, 8, 2)
        guard year >= 0, month >= 1, month <= 12, day >= 1,
            day <= daysInMonth(year: year, month: month)
        else { return nil }
        let days = daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day))
        if count == 10 { return days * microsPerDay }

        // [Tt ]HH:MM
        guard count >= 16 else { return nil }
        let separator = bytes[10]
        guard separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t")
            || separator == UInt8(ascii: " "), bytes[13] == UInt8(ascii: ":")
        else { return nil }
        let hour = digits(bytes, 11, 2)
        let minute = digits(bytes, 14, 2)
        guard hour >= 0, hour <= 23, minute >= 0, minute <= 59 else { return nil }

        // [:SS[.f…]]
        var second = 0
        var fraction: Int64 = 0
        var index = 16
        if index < count, bytes[index] == UInt8(ascii: ":") {
            guard index + 3 <= count else { return nil }
            second = digits(bytes, index + 1, 2)
            guard second >= 0, second <= 60 else { return nil }
            index += 3
            if index < count, bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: ",") {
                index += 1
                let start = index
                var scale: Int64 = 100_000
                while index < count {
                    let digit = bytes[index] &- UInt8(ascii: "0")
                    guard digit <= 9 else { break }
                    fraction += Int64(digit) * scale
                    scale /= 10  // reaches 0 after six digits: the rest are truncated
                    index += 1
                }
                guard index > start else { return nil }
            }
        }

        // [Z | ±HH[[:]MM]]
        var offsetSeconds = 0
        if index < count {
            let zone = bytes[index]
            if zone == UInt8(ascii: "Z") || zone == UInt8(ascii: "z") {
                index += 1
            } else if zone == UInt8(ascii: "+") || zone == UInt8(ascii: "-") {
                let rest = count - index - 1
                var offsetHours = -1
                var offsetMinutes = 0
                switch rest {
                case 2:
                    offsetHours = digits(bytes, index + 1, 2)
                case 4:
                    offsetHours = digits(bytes, index + 1, 2)
                    offsetMinutes = digits(bytes, index + 3, 2)
                case 5 where bytes[index + 3] == UInt8(ascii: ":"):
                    offsetHours = digits(bytes, index + 1, 2)
                    offsetMinutes = digits(bytes, index + 4, 2)
                default:
                    return nil
                }
                guard offsetHours >= 0, offsetHours <= 23, offsetMinutes >= 0, offsetMinutes <= 59
                else { return nil }
                offsetSeconds = (offsetHours * 60 + offsetMinutes) * 60
                if zone == UInt8(ascii: "-") { offsetSeconds = -offsetSeconds }
                index = count
            } else {
                return nil
            }
        }
        guard index == count else { return nil }

        // Years 0000...9999 keep every term far from Int64's limits.
        let seconds =
            days * 86_400 + Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
        return seconds * microsPerSecond + fraction
    }

    /// Reads `text` as ``parseText(_:)`` does.
    package static func parseText(_ text: some StringProtocol) -> Int64? {
        var string = String(text)
        return string.withUTF8 { parseText($0) }
    }

    /// Reads `bytes` as ``parseText(_:)`` does.
    package static func parseText(_ bytes: [UInt8]) -> Int64? {
        bytes.withUnsafeBufferPointer { parseText($0) }
    }

    // MARK: Reading numbers

    /// Reads the text of a JSON number as an epoch time, its unit chosen by the
    /// magnitude of its integer part.
    ///
    /// | integer part `|v|` | unit          |
    /// |--------------------|---------------|
    /// | < 10¹¹             | seconds       |
    /// | < 10¹⁴             | milliseconds  |
    /// | < 10¹⁷             | microseconds  |
    /// | otherwise          | nanoseconds   |
    ///
    /// The conversion is exact decimal arithmetic, exponents included:
    /// `1700000000.123456` gives exactly `1_700_000_000_123_456`, `1.7e9` gives
    /// `1_700_000_000_000_000`. Digits finer than a microsecond are truncated
    /// toward zero (so `-1.0000009` gives `-1_000_000`). Negative values are
    /// times before 1970.
    ///
    /// - Parameter bytes: The number's bytes, in RFC 8259 grammar
    ///   (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`). The pointer must not
    ///   escape the call.
    /// - Returns: Microseconds since the epoch, or `nil` if the text is not a
    ///   JSON number or the time does not fit an `Int64` of microseconds.
    /// - Complexity: O(*n*) in the length of the text.
    static func parseNumber(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        let count = bytes.count
        var index = 0
        var negative = false
        if index < count, bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        // Integer part: 0 or [1-9][0-9]*.
        let integerStart = index
        guard index < count, isDigit(bytes[index]) else { return nil }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < count, isDigit(bytes[index]) { index += 1 }
        }
        let integerCount = index - integerStart
        // Fraction.
        var fractionStart = index
        var fractionCount = 0
        if index < count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            fractionStart = index
            while index < count, isDigit(bytes[index]) { index += 1 }
            fractionCount = index - fractionStart
            guard fractionCount > 0 else { return nil }
        }
        // Exponent, clamped: anything past a million digits is out of range anyway.
        var exponent = 0
        if index < count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var exponentNegative = false
            if index < count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            let start = index
            while index < count, isDigit(bytes[index]) {
                exponent = min(exponent * 10 + Int(bytes[index] &- UInt8(ascii: "0")), 1_000_000)
                index += 1
            }
            guard index > start else { return nil }
            if exponentNegative { exponent = -exponent }
        }
        guard index == count else { return nil }

        // The digits of integer and fraction read as one sequence D; the decimal
        // point sits after `integerCount + exponent` of them.
        let digitCount = integerCount + fractionCount
        func digit(_ position: Int) -> Int64 {
            let byte =
                position < integerCount
                ? bytes[integerStart + position] : bytes[fractionStart + position - integerCount]
            return Int64(byte &- UInt8(ascii: "0"))
        }
        var firstSignificant = 0
        while firstSignificant < digitCount, digit(firstSignificant) == 0 { firstSignificant += 1 }
        if firstSignificant == digitCount { return 0 }
        // Digits of the integer part, counted from the first nonzero digit.
        let integerDigits = integerCount + exponent - firstSignificant
        let shift: Int =
            switch integerDigits {
            case ...11: 6  // seconds
            case ...14: 3  // milliseconds
            case ...17: 0  // microseconds
            default: -3  // nanoseconds
            }
        let resultDigits = integerDigits + shift
        if resultDigits <= 0 { return 0 }
        if resultDigits > 19 { return nil }  // at least 10^19 > Int64.max
        var value: Int64 = 0
        for position in firstSignificant..<(firstSignificant + resultDigits) {
            let next = position < digitCount ? digit(position) : 0
            let (product, overflowMultiply) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowAdd) = product.addingReportingOverflow(next)
            if overflowMultiply || overflowAdd { return nil }
            value = sum
        }
        return negative ? -value : value
    }

    /// Reads `text` as ``parseNumber(_:)`` does.
    static func parseNumber(_ text: some StringProtocol) -> Int64? {
        var string = String(text)
        return string.withUTF8 { parseNumber($0) }
    }

    /// Reads `bytes` as ``parseNumber(_:)`` does.
    package static func parseNumber(_ bytes: [UInt8]) -> Int64? {
        bytes.withUnsafeBufferPointer { parseNumber($0) }
    }

    // MARK: Writing

    /// Writes `micros` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    ///
    /// Always six fraction digits, so the text is 27 bytes for years
    /// 0000...9999. Times before year 0 are written with a `-` and times after
    /// 9999 with more year digits (ISO 8601's expanded years), which
    /// ``parseText(_:)`` does not read back; every time it reads, it writes
    /// back to the same value.
    ///
    /// ```swift
    /// RecordTime.format(-1)   // "1969-12-31T23:59:59.999999Z"
    /// ```
    package static func format(_ micros: Int64) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(formattedCount)
        append(micros, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Appends `micros` to `output` as ``format(_:)`` writes it.
    static func append(_ micros: Int64, to output: inout [UInt8]) {
        let (seconds, fraction) = floorDivide(micros, microsPerSecond)
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = civilFromDays(days)
        if year < 0 { output.append(UInt8(ascii: "-")) }
        let yearMagnitude = year.magnitude
        if yearMagnitude > 9999 {
            output.append(contentsOf: String(yearMagnitude).utf8)
        } else {
            appendDigits(Int64(yearMagnitude), count: 4, to: &output)
        }
        output.append(UInt8(ascii: "-"))
        appendDigits(month, count: 2, to: &output)
        output.append(UInt8(ascii: "-"))
        appendDigits(day, count: 2, to: &output)
        output.append(UInt8(ascii: "T"))
        appendDigits(secondOfDay / 3600, count: 2, to: &output)
        output.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay / 60 % 60, count: 2, to: &output)
        output.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay % 60, count: 2, to: &output)
        output.append(UInt8(ascii: "."))
        appendDigits(fraction, count: 6, to: &output)
        output.append(UInt8(ascii: "Z"))
    }

    // MARK: Checked arithmetic

    /// A file time (`st_mtim`, `st_ctim`) in microseconds since the epoch,
    /// held at `Int64`'s limits: a file's time is set by whoever wrote it
    /// (`touch -d 2300-01-01`), so its arithmetic must not trap.
    static func micros(_ time: timespec) -> Int64 {
        let (whole, overflow) = Int64(time.tv_sec).multipliedReportingOverflow(by: microsPerSecond)
        if overflow { return time.tv_sec < 0 ? .min : .max }
        return adding(whole, Int64(time.tv_nsec) / 1000)
    }

    /// A file time in nanoseconds since the epoch, held at `Int64`'s
    /// limits (past the year 2262 for the largest).
    static func nanos(_ time: timespec) -> Int64 {
        let (whole, overflow) = Int64(time.tv_sec).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return time.tv_sec < 0 ? .min : .max }
        return adding(whole, Int64(time.tv_nsec))
    }

    /// `a - b`, held at `Int64`'s limits: for spans between times read
    /// from files, records or indexes, which may lie far apart.
    static func span(from b: Int64, to a: Int64) -> Int64 {
        let (difference, overflow) = a.subtractingReportingOverflow(b)
        if overflow { return b < 0 ? .max : .min }
        return difference
    }

    /// `a + b`, held at `Int64`'s limits: for sums of durations from
    /// `stoa.json` (`hot_for` + `warm_for`).
    static func adding(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        if overflow { return b < 0 ? .min : .max }
        return sum
    }

    // MARK: Calendar arithmetic

    /// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's
    /// `days_from_civil`). `month` is 1...12.
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400  // 0...399
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1  // 0...365
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear  // 0...146096
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01 (Hinnant's
    /// `civil_from_days`).
    static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097  // 0...146096
        let yearOfEra =
            (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365  // 0...399
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // 0...365
        let shiftedMonth = (5 * dayOfYear + 2) / 153  // 0...11, March first
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    static func isLeapYear(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// `value` divided by `divisor` rounded toward negative infinity, and the
    /// (non-negative) remainder. `divisor` must be positive.
    @inline(__always)
    static func floorDivide(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let quotient = value / divisor
        let remainder = value % divisor
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }

    // MARK: Helpers

    @inline(__always)
    private static func isDigit(_ byte: UInt8) -> Bool {
        byte &- UInt8(ascii: "0") <= 9
    }

    /// The decimal value of `count` digits at `start`, or -1 if one is not a
    /// digit. The caller checks the bounds.
    @inline(__always)
    private static func digits(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ count: Int) -> Int {
        var value = 0
        for index in start..<(start + count) {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit <= 9 else { return -1 }
            value = value * 10 + Int(digit)
        }
        return value
    }

    /// Appends a non-negative `value` as exactly `count` digits, zero-padded.
    @inline(__always)
    private static func appendDigits(_ value: Int64, count: Int, to output: inout [UInt8]) {
        var divisor: Int64 = 1
        for _ in 1..<count { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            output.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}
