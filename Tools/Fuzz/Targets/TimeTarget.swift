#if canImport(Glibc)
import Glibc
#endif
import Stoa

/// Time parsing: a record's time as RFC 3339 text and as an epoch number
/// (``Timestamp``), and what the command line takes (``TimeExpression``,
/// ``Units``).
///
/// - Text Stoa reads is checked against glibc's `timegm` on the fields at
///   their fixed places (the calendar arithmetic is Stoa's own), and the
///   time written back (``RecordTime/format(_:)``) reads back the same.
/// - A number is read as JSON grammar and `Double` read it, within a
///   double's precision, its unit chosen by magnitude.
/// - Durations and sizes read back from the form Stoa writes them in; no
///   input traps.
enum TimeTarget {
    static func run(_ input: [UInt8]) throws(FuzzFinding) {
        try checkText(input)
        try checkNumber(input)
        let text = String(decoding: input, as: UTF8.self)
        _ = try? TimeExpression.parse(text, now: Timestamp(microsecondsSinceEpoch: 1_795_438_042_123_456))
        if let duration = try? Units.parseDuration(text) {
            let written = Units.formatDuration(duration)
            try expect((try? Units.parseDuration(written)) == duration, "duration \(text.debugDescription) → \(duration) → \(written) reads back otherwise")
        }
        if let size = try? Units.parseSize(text) {
            _ = Units.formatSizeApproximate(size)
            if size >= 0 {
                let written = Units.formatSize(size)
                try expect((try? Units.parseSize(written)) == size, "size \(text.debugDescription) → \(size) → \(written) reads back otherwise")
            }
        }
        // Any time formats, and a time in years 0…9999 reads back.
        if input.count >= 8 {
            let micros = input.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }
            let written = RecordTime.format(micros)
            if written.utf8.count == 27 {
                try expect(RecordTime.parseText(written) == micros, "\(micros) µs is written \(written), which reads back otherwise")
            }
        }
    }

    static func checkText(_ input: [UInt8]) throws(FuzzFinding) {
        guard let micros = RecordTime.parseText(input) else { return }
        let text = String(decoding: input, as: UTF8.self).debugDescription
        // What Stoa read, from the fields at their places in the forms it
        // accepts: YYYY-MM-DD[(T|t| )HH:MM[:SS[(.|,)f…]]][Z|z|±HH[[:]MM]]
        func number(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= input.count else { return nil }
            return Int(String(decoding: input[start..<(start + count)], as: UTF8.self))
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2) else {
            throw FuzzFinding("Stoa read \(text) as \(micros) µs, but it has no date at its start")
        }
        var hour = 0, minute = 0, second = 0
        var fraction: Int64 = 0
        var offset = 0
        if input.count > 10 {
            guard let h = number(11, 2), let m = number(14, 2) else {
                throw FuzzFinding("Stoa read \(text) as \(micros) µs, but its time of day is not HH:MM")
            }
            (hour, minute) = (h, m)
            var index = 16
            if index < input.count && input[index] == UInt8(ascii: ":") {
                second = number(17, 2) ?? -1
                index = 19
                if index < input.count && (input[index] == UInt8(ascii: ".") || input[index] == UInt8(ascii: ",")) {
                    index += 1
                    var scale: Int64 = 100_000
                    while index < input.count, let digit = Int64(String(UnicodeScalar(input[index]))), input[index] >= 0x30, input[index] <= 0x39 {
                        fraction += digit * scale
                        scale /= 10
                        index += 1
                    }
                }
            }
            if index < input.count && (input[index] == UInt8(ascii: "+") || input[index] == UInt8(ascii: "-")) {
                let digits = input[(index + 1)...].filter { $0 != UInt8(ascii: ":") }
                let hours = Int(String(decoding: digits.prefix(2), as: UTF8.self)) ?? -1
                let minutes = digits.count > 2 ? Int(String(decoding: digits.dropFirst(2), as: UTF8.self)) ?? -1 : 0
                offset = (hours * 60 + minutes) * 60 * (input[index] == UInt8(ascii: "-") ? -1 : 1)
            }
        }
        // glibc's proleptic Gregorian calendar, with its own checks of the fields.
        var fields = tm()
        fields.tm_year = Int32(year - 1900)
        fields.tm_mon = Int32(month - 1)
        fields.tm_mday = Int32(day)
        fields.tm_hour = Int32(hour)
        fields.tm_min = Int32(minute)
        fields.tm_sec = Int32(min(second, 59))
        let seconds = Int64(timegm(&fields))
        try expect(
            fields.tm_mday == Int32(day) && fields.tm_mon == Int32(month - 1) && (0...23).contains(hour) && (0...59).contains(minute)
                && (0...60).contains(second),
            "Stoa read \(text) as \(micros) µs, but its fields are out of range")
        let expected = (seconds + Int64(second == 60 ? 1 : 0) - Int64(offset)) * 1_000_000 + fraction
        try expect(micros == expected, "Stoa read \(text) as \(micros) µs, timegm gives \(expected)")
        if (0...9999).contains(year), let back = RecordTime.parseText(RecordTime.format(micros)) {
            try expect(back == micros, "\(text) → \(micros) → \(RecordTime.format(micros)) reads back as \(back)")
        }
    }

    static func checkNumber(_ input: [UInt8]) throws(FuzzFinding) {
        let parsed = RecordTime.parseNumber(input)
        let text = String(decoding: input, as: UTF8.self)
        // The JSON number grammar, as the scanner reads `{"ts":…}`.
        let isJSONNumber =
            !input.isEmpty && (try? RecordScanner(fields: .default).scan(Array("{\"n\":".utf8) + input + Array("}".utf8), rules: .stored)) != nil
            && (input.first == UInt8(ascii: "-") || (input.first.map { $0 >= 0x30 && $0 <= 0x39 } ?? false))
            && input.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
        guard isJSONNumber else {
            try expect(parsed == nil, "Stoa read \(text.debugDescription), which is no JSON number, as the time \(parsed!)")
            return
        }
        guard let value = Double(text), value.isFinite else { return }
        let magnitude = abs(value)
        for edge in [1e11, 1e14, 1e17] where abs(magnitude / edge - 1) < 1e-9 { return }
        let micros = magnitude < 1e11 ? value * 1e6 : magnitude < 1e14 ? value * 1e3 : magnitude < 1e17 ? value : value / 1e3
        if abs(micros) >= 9.2e18 {
            if abs(micros) >= 9.3e18 { try expect(parsed == nil, "Stoa read \(text) as \(parsed!) µs, which does not fit") }
            return
        }
        guard let parsed else { throw FuzzFinding("Stoa does not read the number \(text) as a time (about \(micros) µs)") }
        try expect(abs(Double(parsed) - micros) <= 2 + abs(micros) * 1e-15, "Stoa read \(text) as \(parsed) µs, Double as \(micros)")
    }
}

extension RecordScanner {
    fileprivate func scan(_ bytes: [UInt8], rules: Rules) throws(StoaError) -> Summary {
        try bytes.withUnsafeBufferPointer { (buffer) throws(StoaError) in try scan(buffer, rules: rules) }
    }
}
