/// Durations and byte sizes as people write them: `90s`, `1h30m`, `64MiB`.
///
/// Used by `stoa.json` and the command line. Durations are `Int64`
/// microseconds; sizes are `Int64` bytes. Formatting is exact, so a value
/// written by ``formatDuration(_:)`` or ``formatSize(_:)`` reads back to the
/// same value.
///
/// ```swift
/// try Units.parseDuration("1h30m")      // .seconds(5400)
/// Units.formatDuration(.seconds(5400)) // "1h30m"
/// try Units.parseSize("64MiB")       // 67_108_864
/// Units.formatSizeApproximate(1_500_000_000) // "1.4 GiB"
/// ```
package enum Units {
    // MARK: Durations

    static let durationForms =
        "expected a duration like 90s, 15m, 1h, 7d, 2w, 500ms or 1h30m"
        + " (units us, ms, s, m, h, d, w; a bare number is seconds)"

    /// Reads a duration.
    ///
    /// One or more groups of a number and a unit, optionally separated by
    /// spaces: `90s`, `15m`, `1h`, `7d`, `2w`, `500ms`, `1h30m`, `1h 30m`,
    /// `1.5h`, `2 hours`. Units, case-insensitive: `us`/`µs`, `ms`, `s`/`sec`/
    /// `second`, `m`/`min`/`minute`, `h`/`hr`/`hour`, `d`/`day`, `w`/`wk`/`week`
    /// (words with an optional plural `s`). A bare number is seconds; `0` is
    /// zero. A fraction finer than a microsecond is truncated.
    ///
    /// - Parameter text: The duration.
    /// - Returns: The duration, a whole number of microseconds.
    /// - Throws: ``StoaError/Code/invalidArgument`` if the text is negative,
    ///   not a duration, or too long to count in microseconds.
    package static func parseDuration(_ text: String) throws(StoaError) -> Duration {
        .microseconds(try parseDurationMicroseconds(text))
    }

    /// ``parseDuration(_:)`` in µs.
    static func parseDurationMicroseconds(_ text: String) throws(StoaError) -> Int64 {
        let bytes = trimmed(Array(text.utf8))
        if bytes.first == UInt8(ascii: "-") {
            throw StoaError(
                .invalidArgument,
                "cannot read duration \"\(text)\": a duration cannot be negative; \(durationForms)")
        }
        switch readDuration(bytes, bareNumberIsSeconds: true) {
        case .value(let micros):
            return micros
        case .overflow:
            throw StoaError(
                .invalidArgument,
                "duration \"\(text)\" is too long (the longest is about 292,000 years)")
        case .invalid:
            throw StoaError(.invalidArgument, "cannot read duration \"\(text)\": \(durationForms)")
        }
    }

    /// Writes a duration in its shortest exact compound form.
    ///
    /// The rule: from the largest unit down (`d`, `h`, `m`, `s`, `ms`, `us`),
    /// each nonzero part once. Zero is `0s`; a negative duration starts with
    /// `-`. A part finer than a microsecond is truncated, and a duration
    /// beyond about 292,000 years is written as that limit. For every
    /// non-negative whole number of microseconds `x`,
    /// `parseDuration(formatDuration(x)) == x`.
    ///
    /// ```swift
    /// Units.formatDuration(.seconds(90))         // "1m30s"
    /// Units.formatDuration(.seconds(604_800))    // "7d"
    /// Units.formatDuration(.microseconds(1_500)) // "1ms500us"
    /// ```
    package static func formatDuration(_ duration: Duration) -> String {
        formatDuration(microseconds: duration.saturatingMicroseconds)
    }

    /// ``formatDuration(_:)`` of a count of µs.
    static func formatDuration(microseconds micros: Int64) -> String {
        if micros == 0 { return "0s" }
        var rest = micros.magnitude
        var text = micros < 0 ? "-" : ""
        for (unit, name) in formatUnits where rest >= unit {
            text += "\(rest / unit)\(name)"
            rest %= unit
        }
        return text
    }

    private static let formatUnits: [(UInt64, String)] = [
        (86_400_000_000, "d"), (3_600_000_000, "h"), (60_000_000, "m"),
        (1_000_000, "s"), (1_000, "ms"), (1, "us"),
    ]

    /// The result of reading a duration.
    enum DurationReading: Equatable {
        case value(Int64)
        case invalid
        case overflow
    }

    /// Reads the duration grammar of ``parseDuration(_:)`` from `bytes`
    /// (already trimmed, no sign). Shared with ``TimeExpression``.
    ///
    /// - Parameter bareNumberIsSeconds: Whether a lone number without a unit
    ///   is accepted, as seconds.
    static func readDuration(_ bytes: [UInt8], bareNumberIsSeconds: Bool) -> DurationReading {
        var index = 0
        var total: Int64 = 0
        var groups = 0
        while true {
            skipSpaces(bytes, &index)
            if index == bytes.count { break }
            guard let number = readDecimal(bytes, &index) else { return .invalid }
            skipSpaces(bytes, &index)
            let unitStart = index
            while index < bytes.count, isUnitByte(bytes[index]) { index += 1 }
            let unit: Int64
            if index == unitStart {
                // A bare number: only alone, and only where allowed.
                guard bareNumberIsSeconds, groups == 0, index == bytes.count else { return .invalid }
                unit = 1_000_000
            } else {
                guard let named = durationUnit(lowercased(bytes[unitStart..<index])) else {
                    return .invalid
                }
                unit = named
            }
            guard let micros = number.times(unit) else { return .overflow }
            let (sum, overflow) = total.addingReportingOverflow(micros)
            if overflow { return .overflow }
            total = sum
            groups += 1
        }
        return groups == 0 ? .invalid : .value(total)
    }

    private static func durationUnit(_ name: String) -> Int64? {
        switch name {
        case "us", "µs", "usec", "usecs", "microsecond", "microseconds": 1
        case "ms", "msec", "msecs", "millisecond", "milliseconds": 1_000
        case "s", "sec", "secs", "second", "seconds": 1_000_000
        case "m", "min", "mins", "minute", "minutes": 60_000_000
        case "h", "hr", "hrs", "hour", "hours": 3_600_000_000
        case "d", "day", "days": 86_400_000_000
        case "w", "wk", "wks", "week", "weeks": 604_800_000_000
        default: nil
        }
    }

    // MARK: Sizes

    static let sizeForms =
        "expected a byte count like 1000, 64KiB, 64MiB, 1GiB or 1TiB (1024-based),"
        + " 64KB, 64MB or 1GB (1000-based), or 64K, 64M or 1G (1024-based)"

    /// Reads a size in bytes.
    ///
    /// A number, an optional space, and an optional case-insensitive unit:
    /// `B`; `KiB`, `MiB`, `GiB`, `TiB`, `PiB` (1024-based); `KB`, `MB`, `GB`,
    /// `TB`, `PB` (1000-based); `K`, `M`, `G`, `T`, `P` (1024-based, as `dd`
    /// and `ls` use them). A fraction is allowed (`1.5GiB`) and truncated to
    /// whole bytes.
    ///
    /// - Parameter text: The size.
    /// - Returns: The size in bytes.
    /// - Throws: ``StoaError/Code/invalidArgument`` if the text is negative,
    ///   not a size, or larger than `Int64.max` bytes.
    package static func parseSize(_ text: String) throws(StoaError) -> Int64 {
        let bytes = trimmed(Array(text.utf8))
        var index = 0
        if let number = readDecimal(bytes, &index) {
            skipSpaces(bytes, &index)
            let unitStart = index
            while index < bytes.count, isUnitByte(bytes[index]) { index += 1 }
            if index == bytes.count, let unit = sizeUnit(lowercased(bytes[unitStart..<index])) {
                guard let size = number.times(unit) else {
                    throw StoaError(
                        .invalidArgument, "size \"\(text)\" is too large (the largest is 8 EiB)")
                }
                return size
            }
        }
        let reason = bytes.first == UInt8(ascii: "-") ? "a size cannot be negative; " : ""
        throw StoaError(.invalidArgument, "cannot read size \"\(text)\": \(reason)\(sizeForms)")
    }

    private static func sizeUnit(_ name: String) -> Int64? {
        switch name {
        case "", "b", "byte", "bytes": 1
        case "k", "kib": 1 << 10
        case "m", "mib": 1 << 20
        case "g", "gib": 1 << 30
        case "t", "tib": 1 << 40
        case "p", "pib": 1 << 50
        case "kb": 1_000
        case "mb": 1_000_000
        case "gb": 1_000_000_000
        case "tb": 1_000_000_000_000
        case "pb": 1_000_000_000_000_000
        default: nil
        }
    }

    private static let binaryUnits: [(Int64, String)] = [
        (1 << 50, "PiB"), (1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"),
    ]

    /// Writes a size exactly: in the largest 1024-based unit that divides it,
    /// else as a plain byte count.
    ///
    /// ```swift
    /// Units.formatSize(67_108_864) // "64MiB"
    /// Units.formatSize(1_000)      // "1000"
    /// ```
    package static func formatSize(_ bytes: Int64) -> String {
        if bytes != 0 {
            for (unit, name) in binaryUnits where bytes % unit == 0 {
                return "\(bytes / unit)\(name)"
            }
        }
        return "\(bytes)"
    }

    /// Writes a size for people to read, rounded: `512 B`, `1.4 GiB`, `64 MiB`.
    ///
    /// Below 1 KiB the exact count of bytes; above, the largest fitting
    /// 1024-based unit with one decimal below 10 and none from 10 up.
    package static func formatSizeApproximate(_ bytes: Int64) -> String {
        let sign = bytes < 0 ? "-" : ""
        let magnitude = bytes.magnitude
        if magnitude < 1024 { return "\(bytes) B" }
        let names = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(magnitude) / 1024
        var unit = 0
        while value >= 1024, unit < names.count - 1 {
            value /= 1024
            unit += 1
        }
        let tenths = Int((value * 10).rounded())
        if tenths < 100 { return "\(sign)\(tenths / 10).\(tenths % 10) \(names[unit])" }
        let whole = Int(value.rounded())
        if whole >= 1024, unit < names.count - 1 { return "\(sign)1.0 \(names[unit + 1])" }
        return "\(sign)\(whole) \(names[unit])"
    }

    // MARK: Reading helpers

    /// A non-negative decimal number: whole part and up to 18 fraction digits.
    struct DecimalAmount {
        var whole: Int64
        var fraction: UInt64
        /// 10 to the number of fraction digits kept.
        var fractionScale: UInt64

        /// `self × unit`, truncated toward zero; `nil` on overflow.
        func times(_ unit: Int64) -> Int64? {
            let (product, overflow) = whole.multipliedReportingOverflow(by: unit)
            if overflow { return nil }
            // fraction < fractionScale, so the quotient is below `unit`.
            let wide = fraction.multipliedFullWidth(by: UInt64(unit))
            let part = fractionScale.dividingFullWidth(wide).quotient
            let (sum, overflowAdd) = product.addingReportingOverflow(Int64(part))
            return overflowAdd ? nil : sum
        }
    }

    /// Reads `[0-9]+(\.[0-9]+)?` at `index`, moving past it; `nil` (index
    /// unchanged) if there is none or the whole part overflows.
    static func readDecimal(_ bytes: [UInt8], _ index: inout Int) -> DecimalAmount? {
        var position = index
        var whole: Int64 = 0
        let wholeStart = position
        while position < bytes.count, let digit = digitValue(bytes[position]) {
            let (product, overflowMultiply) = whole.multipliedReportingOverflow(by: 10)
            let (sum, overflowAdd) = product.addingReportingOverflow(Int64(digit))
            if overflowMultiply || overflowAdd { return nil }
            whole = sum
            position += 1
        }
        guard position > wholeStart else { return nil }
        var fraction: UInt64 = 0
        var scale: UInt64 = 1
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            let fractionStart = position
            while position < bytes.count, let digit = digitValue(bytes[position]) {
                if scale < 1_000_000_000_000_000_000 {  // keep 18 digits; the rest are below 1 µs
                    fraction = fraction * 10 + UInt64(digit)
                    scale *= 10
                }
                position += 1
            }
            guard position > fractionStart else { return nil }
        }
        index = position
        return DecimalAmount(whole: whole, fraction: fraction, fractionScale: scale)
    }

    @inline(__always)
    private static func digitValue(_ byte: UInt8) -> UInt8? {
        let digit = byte &- UInt8(ascii: "0")
        return digit <= 9 ? digit : nil
    }

    /// ASCII letters, and the two bytes of `µ` (U+00B5, UTF-8 C2 B5).
    @inline(__always)
    private static func isUnitByte(_ byte: UInt8) -> Bool {
        (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
            || byte == 0xC2 || byte == 0xB5
    }

    static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
            || byte == UInt8(ascii: "\r")
    }

    static func skipSpaces(_ bytes: [UInt8], _ index: inout Int) {
        while index < bytes.count, isSpace(bytes[index]) { index += 1 }
    }

    /// `bytes` without leading and trailing ASCII whitespace.
    static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        var start = 0
        var end = bytes.count
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        return Array(bytes[start..<end])
    }

    /// The bytes as a string with ASCII letters lowercased.
    static func lowercased(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
