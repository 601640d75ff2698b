import StoaTestSupport
import Testing

@testable import Stoa

// Reference values were computed independently with GNU `date -u -d … +%s` and
// Python's `datetime` (proleptic Gregorian, astronomical year 0), not with the
// code under test.

/// Times, durations and sizes: `Timestamp`, `TimeExpression`, `Units`.
@Suite("Time and units")
struct TimeTests {
    /// ``TimeExpression/parse(_:now:)`` in µs, as these tables count.
    static func parseTime(_ text: String, now: Int64) throws(StoaError) -> Int64 {
        try TimeExpression.parse(text, now: Timestamp(microsecondsSinceEpoch: now)).microsecondsSinceEpoch
    }

    /// 2026-11-23T12:47:22Z, in seconds (`date -u -d 2026-11-23T12:47:22Z +%s`).
    static let referenceSeconds: Int64 = 1_795_438_042
    static let reference: Int64 = referenceSeconds * 1_000_000

    // MARK: - RecordTime.parseText

    @Suite("RecordTime.parseText")
    struct TimestampTextTests {
        @Test(
            "reads known times",
            arguments: [
                ("2026-11-23T12:47:22Z", reference),
                ("2026-11-23t12:47:22z", reference),
                ("2026-11-23 12:47:22Z", reference),
                ("2026-11-23T12:47:22", reference),
                ("2026-11-23T12:47:22+00:00", reference),
                ("2026-11-23T12:47:22-00:00", reference),
                ("2026-11-23T12:47:22+0000", reference),
                ("2026-11-23T12:47:22+00", reference),
                ("2026-11-23T12:47:22+05:30", 1_795_418_242_000_000),
                ("2026-11-23T12:47:22+0530", 1_795_418_242_000_000),
                ("2026-11-23T12:47:22-08:00", 1_795_466_842_000_000),
                ("2026-11-23T12:47:22-0800", 1_795_466_842_000_000),
                ("2026-11-23T12:47:22-08", 1_795_466_842_000_000),
                ("2026-11-23T12:47Z", reference - 22_000_000),
                ("2026-11-23T12:47", reference - 22_000_000),
                ("2026-11-23 12:47", reference - 22_000_000),
                ("2026-11-23T12:47+01:00", reference - 22_000_000 - 3_600_000_000),
                ("2026-11-23", 1_795_392_000_000_000),
                ("1970-01-01", 0),
                ("1970-01-01T00:00:00Z", 0),
                ("1970-01-01T00:00:00.000001Z", 1),
                ("1969-12-31T23:59:59.999999Z", -1),
                ("1969-07-20T20:17:40Z", -14_182_940_000_000),
                ("1900-01-01", -2_208_988_800_000_000),
                ("0000-01-01", -62_167_219_200_000_000),
                ("0000-01-01T00:00:00Z", -62_167_219_200_000_000),
                ("0001-01-01T00:00:00Z", -62_135_596_800_000_000),
                ("9999-12-31T23:59:59.999999Z", 253_402_300_799_999_999),
                ("9999-12-31T23:59:59.999999999", 253_402_300_799_999_999),
                ("2024-01-01T00:00:00.5+01:00", 1_704_063_600_500_000),
                ("2024-01-01T00:30:00+01:00", 1_704_067_200_000_000 - 1_800_000_000),
            ] as [(String, Int64)])
        func knownTimes(text: String, micros: Int64) {
            #expect(RecordTime.parseText(text) == micros)
        }

        @Test(
            "reads 0 to 9 fraction digits, truncating past six",
            arguments: [
                ("", 0),
                (".0", 0),
                (".1", 100_000),
                (".12", 120_000),
                (".123", 123_000),
                (".1234", 123_400),
                (".12345", 123_450),
                (".123456", 123_456),
                (".1234567", 123_456),
                (".12345678", 123_456),
                (".123456789", 123_456),
                (".999999999", 999_999),
                (".000000999", 0),
                (".000001", 1),
                (".0000019", 1),
                (".12345678901234567890", 123_456),
            ] as [(String, Int64)])
        func fractions(fraction: String, micros: Int64) {
            #expect(RecordTime.parseText("2026-11-23T12:47:22\(fraction)Z") == reference + micros)
            #expect(RecordTime.parseText("2026-11-23T12:47:22\(fraction)") == reference + micros)
            #expect(
                RecordTime.parseText("2026-11-23T12:47:22\(fraction)+05:30")
                    == 1_795_418_242_000_000 + micros)
            // Before 1970 the fraction still counts forward from the second.
            #expect(RecordTime.parseText("1969-12-31T23:59:59\(fraction)Z") == -1_000_000 + micros)
        }

        @Test(
            "leap years",
            arguments: [
                ("2024-02-29", 1_709_164_800_000_000),
                ("2000-02-29", 951_782_400_000_000),
                ("0000-02-29", -62_162_121_600_000_000),
                ("2023-02-29", nil),
                ("1900-02-29", nil),
                ("2100-02-29", nil),
                ("2024-02-30", nil),
                ("2023-02-28", 1_677_542_400_000_000),
            ] as [(String, Int64?)])
        func leapYears(text: String, micros: Int64?) {
            #expect(RecordTime.parseText(text) == micros)
        }

        @Test("the last day of every month, and the day after it", arguments: [2023, 2024, 1900, 2000])
        func monthLengths(year: Int) {
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
            let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            for (index, length) in lengths.enumerated() {
                let month = index + 1
                let prefix = "\(year)-\(month < 10 ? "0" : "")\(month)-"
                let last = RecordTime.parseText("\(prefix)\(length)")
                #expect(last != nil, "\(prefix)\(length)")
                #expect(RecordTime.parseText("\(prefix)\(length + 1)") == nil, "\(prefix)\(length + 1)")
                // The day after the last is the first of the next month.
                let next =
                    month == 12
                    ? "\(year + 1)-01-01" : "\(year)-\(month + 1 < 10 ? "0" : "")\(month + 1)-01"
                #expect(last.map { $0 + 86_400_000_000 } == RecordTime.parseText(next), "\(next)")
            }
        }

        @Test("a leap second is one more second")
        func leapSecond() {
            // 2016-12-31 ended with a leap second; 2017-01-01T00:00:00Z is 1483228800.
            #expect(RecordTime.parseText("2016-12-31T23:59:60Z") == 1_483_228_800_000_000)
            #expect(RecordTime.parseText("2016-12-31T23:59:60.5Z") == 1_483_228_800_500_000)
            #expect(RecordTime.parseText("2016-12-31T23:59:59Z") == 1_483_228_799_000_000)
        }

        @Test(
            "refuses what is not a time",
            arguments: [
                "", "2026", "2026-11", "2026-1-23", "2026-11-3", "26-11-23", "2026/11/23",
                "20261123", "20261123T124722Z", "+2026-11-23", "-2026-11-23", " 2026-11-23",
                "2026-11-23 ", "2026-11-23Z", "2026-11-23T", "2026-11-23T12", "2026-11-23T12Z",
                "2026-11-23T12:4", "2026-11-23T12:47:", "2026-11-23T12:47:2", "2026-11-23T12:47:2Z",
                "2026-11-23T12:47:22.", "2026-11-23T12:47:22.Z", "2026-11-23T12:47:22,", "2026-11-23 12:47:22,Z",
                "2026-11-23 12:47:22,,123", "2026-11-23 12:47:22.,123", "2026-11-23 12:47:22,1.5",
                "2026-11-23 12:47,123", "2026-11-23,12:47:22", "2026-11-23 12:47:22;123",
                "2026-11-23 12:47:22, 123", "2026-11-23 12:47:22,123 +0000",
                "2026-11-23T12:47:22.12a", "2026-11-23T12:47:22ZZ", "2026-11-23T12:47:22 Z",
                "2026-11-23T12:47:22Zjunk", "2026-11-23T12:47:22+5:30", "2026-11-23T12:47:22+05:3",
                "2026-11-23T12:47:22+05:", "2026-11-23T12:47:22+053", "2026-11-23T12:47:22+0530Z",
                "2026-11-23T12:47:22+05-30", "2026-11-23T12:47:22+", "2026-11-23T12:47:22+24:00",
                "2026-11-23T12:47:22+05:60", "2026-11-23T12:47:22UTC", "2026-11-23T12:47:22 +05:30",
                "2026-11-23X12:47:22Z", "2026-11-23_12:47:22Z", "2026-11-23T12-47-22Z",
                "2026-13-01", "2026-00-10", "2026-01-00", "2026-01-32", "2026-04-31", "2026-06-31",
                "2026-09-31", "2026-11-31", "2026-11-23T24:00:00Z", "2026-11-23T25:00Z",
                "2026-11-23T12:60:00Z", "2026-11-23T12:47:61Z", "2026-11-23T12:47:99Z",
                "2O26-11-23", "2026-1a-23", "2026-11-2a", "2026-11-23T1a:47:22Z", "２０２６-11-23",
                "2026-11-23T12:47:22.\u{0663}Z",
            ])
        func refuses(text: String) {
            #expect(RecordTime.parseText(text) == nil)
        }

        @Test(
            "reads Python logging's asctime: a comma before the fraction, a space before the time",
            arguments: [
                // logging.Formatter's default: "%Y-%m-%d %H:%M:%S" + ",%03d" milliseconds.
                ("2026-11-23 12:47:22,123", 123_000),
                ("2026-11-23 12:47:22,000", 0),
                ("2026-11-23 12:47:22,999", 999_000),
                // datefmt with %f: microseconds, after a point or a comma.
                ("2026-11-23 12:47:22.123456", 123_456),
                ("2026-11-23 12:47:22,123456", 123_456),
                // With a zone: %z writes ±HHMM; isoformat-style ±HH:MM; Z.
                ("2026-11-23 12:47:22,123+0000", 123_000),
                ("2026-11-23 18:17:22,123+05:30", 123_000),
                ("2026-11-23 04:47:22,123-0800", 123_000),
                ("2026-11-23 12:47:22,123Z", 123_000),
                ("2026-11-23T12:47:22,5Z", 500_000),
                ("2026-11-23T12:47:22,123456789+00:00", 123_456),
            ])
        func pythonLogging(text: String, micros: Int64) {
            #expect(RecordTime.parseText(text) == reference + micros, "\(text)")
        }

        @Test("the byte and string overloads agree")
        func overloads() {
            let text = "2026-11-23T12:47:22.123456Z"
            #expect(RecordTime.parseText(Array(text.utf8)) == reference + 123_456)
            #expect(RecordTime.parseText(text[...]) == reference + 123_456)
            let bytes = Array("\"\(text)\"".utf8)
            let inner = bytes.withUnsafeBufferPointer {
                RecordTime.parseText(UnsafeBufferPointer(rebasing: $0[1..<($0.count - 1)]))
            }
            #expect(inner == reference + 123_456)
        }
    }

    // MARK: - RecordTime.parseNumber

    @Suite("RecordTime.parseNumber")
    struct TimestampNumberTests {
        @Test(
            "chooses the unit by magnitude and keeps fraction digits exactly",
            arguments: [
                // Seconds: |integer part| < 1e11.
                ("0", 0),
                ("-0", 0),
                ("0.0", 0),
                ("0.000001", 1),
                ("0.0000009", 0),
                ("1", 1_000_000),
                ("1700000000", 1_700_000_000_000_000),
                ("1700000000.5", 1_700_000_000_500_000),
                ("1700000000.123456", 1_700_000_000_123_456),
                ("1700000000.1234567", 1_700_000_000_123_456),
                ("1700000000.999999999", 1_700_000_000_999_999),
                ("1795438042", reference),
                ("99999999999", 99_999_999_999_000_000),
                ("99999999999.999999", 99_999_999_999_999_999),
                // Milliseconds: < 1e14.
                ("100000000000", 100_000_000_000_000),
                ("1700000000123", 1_700_000_000_123_000),
                ("1700000000123.456", 1_700_000_000_123_456),
                ("1700000000123.4569", 1_700_000_000_123_456),
                ("99999999999999", 99_999_999_999_999_000),
                // Microseconds: < 1e17.
                ("100000000000000", 100_000_000_000_000),
                ("1700000000123456", 1_700_000_000_123_456),
                ("1700000000123456.9", 1_700_000_000_123_456),
                ("99999999999999999", 99_999_999_999_999_999),
                // Nanoseconds: the rest.
                ("100000000000000000", 100_000_000_000_000),
                ("1700000000123456789", 1_700_000_000_123_456),
                ("9223372036854775807", 9_223_372_036_854_775),
                ("92233720368547758079", 92_233_720_368_547_758),
                // Before 1970.
                ("-1", -1_000_000),
                ("-1.5", -1_500_000),
                ("-1.0000009", -1_000_000),
                ("-14182940", -14_182_940_000_000),
                ("-1700000000123", -1_700_000_000_123_000),
                ("-1700000000123456", -1_700_000_000_123_456),
                ("-1700000000123456789", -1_700_000_000_123_456),
                // Exponents, exact.
                ("1.7e9", 1_700_000_000_000_000),
                ("1.7E9", 1_700_000_000_000_000),
                ("1.7e+9", 1_700_000_000_000_000),
                ("17e8", 1_700_000_000_000_000),
                ("1.700000000123456e9", 1_700_000_000_123_456),
                ("1700000000123e-3", 1_700_000_000_123_000),
                ("1.7e12", 1_700_000_000_000_000),
                ("1e11", 100_000_000_000_000),
                ("1.7e18", 1_700_000_000_000_000),
                ("-1.7e9", -1_700_000_000_000_000),
                ("0e5", 0),
                ("1e-6", 1),
                ("1e-7", 0),
                ("5e-1000000000", 0),
                ("0.00017e4", 1_700_000),
            ] as [(String, Int64)])
        func magnitudes(text: String, micros: Int64) {
            #expect(RecordTime.parseNumber(text) == micros)
        }

        @Test(
            "refuses what is not a JSON number or does not fit",
            arguments: [
                "", "-", "+1", "01", "-01", "00", "1.", ".5", "1.e5", "1e", "1e+", "1e-", "e5",
                "1.5.5", "--1", "1 ", " 1", "0x10", "NaN", "Infinity", "-Infinity", "1_000",
                "1,5", "١",
                // Too large for Int64 microseconds.
                "1e30", "-1e30", "1e1000000000",
                "9223372036854775808000",
            ])
        func refuses(text: String) {
            #expect(RecordTime.parseNumber(text) == nil)
        }

        @Test("the largest times in each direction")
        func limits() {
            // 9223372036854775807999 ns = Int64.max µs.
            #expect(RecordTime.parseNumber("9223372036854775807999") == Int64.max)
            #expect(RecordTime.parseNumber("9223372036854775808000") == nil)
            #expect(RecordTime.parseNumber("-9223372036854775807999") == -Int64.max)
        }
    }

    // MARK: - RecordTime.format

    @Suite("RecordTime.format")
    struct TimestampFormatTests {
        @Test(
            "writes known times",
            arguments: [
                (0, "1970-01-01T00:00:00.000000Z"),
                (1, "1970-01-01T00:00:00.000001Z"),
                (-1, "1969-12-31T23:59:59.999999Z"),
                (-1_000_000, "1969-12-31T23:59:59.000000Z"),
                (reference + 123_456, "2026-11-23T12:47:22.123456Z"),
                (1_709_164_800_000_000, "2024-02-29T00:00:00.000000Z"),
                (951_782_400_000_000, "2000-02-29T00:00:00.000000Z"),
                (-14_182_940_000_000, "1969-07-20T20:17:40.000000Z"),
                (-2_208_988_800_000_000, "1900-01-01T00:00:00.000000Z"),
                (-62_167_219_200_000_000, "0000-01-01T00:00:00.000000Z"),
                (-62_162_121_600_000_000, "0000-02-29T00:00:00.000000Z"),
                (253_402_300_799_999_999, "9999-12-31T23:59:59.999999Z"),
                // Outside years 0000...9999 (`date -u -d @9223372036854`, `@-9223372036855`).
                (Int64.max, "294247-01-10T04:00:54.775807Z"),
                (Int64.min, "-290308-12-21T19:59:05.224192Z"),
            ] as [(Int64, String)])
        func knownTimes(micros: Int64, text: String) {
            #expect(RecordTime.format(micros) == text)
        }

        @Test("is always 27 bytes in years 0000...9999, and append adds to the buffer")
        func length() {
            for micros: Int64 in [0, -1, reference, -62_167_219_200_000_000, 253_402_300_799_999_999] {
                #expect(RecordTime.format(micros).utf8.count == RecordTime.formattedCount)
            }
            var output = Array("ts=".utf8)
            RecordTime.append(reference, to: &output)
            RecordTime.append(-1, to: &output)
            #expect(
                String(decoding: output, as: UTF8.self)
                    == "ts=2026-11-23T12:47:22.000000Z1969-12-31T23:59:59.999999Z")
        }

        @Test("parse(format(x)) == x across years 0000...9999")
        func roundTrips() {
            let low: Int64 = -62_167_219_200_000_000
            let high: Int64 = 253_402_300_799_999_999
            var values: [Int64] = [
                low, high, 0, 1, -1, 999_999, -999_999, 1_000_000, -1_000_000, reference,
                86_400_000_000, -86_400_000_000, 951_782_400_000_000, -2_208_988_800_000_000,
            ]
            var generator = SeededGenerator(seed: 0x5104)
            for _ in 0..<20_000 {
                values.append(Int64.random(in: low...high, using: &generator))
            }
            for micros in values {
                let text = RecordTime.format(micros)
                #expect(RecordTime.parseText(text) == micros, "\(micros) → \(text)")
            }
        }

        @Test("days and dates agree: every day of two 400-year eras, every month of 0000...9999")
        func calendar() {
            #expect(RecordTime.daysFromCivil(year: 0, month: 1, day: 1) == -719_528)
            #expect(RecordTime.daysFromCivil(year: 9999, month: 12, day: 31) == 2_932_896)
            #expect(RecordTime.daysFromCivil(year: 1970, month: 1, day: 1) == 0)

            // Day by day, stepping the date by counting, independently of the algorithm.
            // The algorithm repeats every 400 years, so two whole eras cover it.
            var (year, month, day): (Int64, Int64, Int64) = (1600, 1, 1)
            var mismatches = 0
            let first = RecordTime.daysFromCivil(year: 1600, month: 1, day: 1)
            let last = RecordTime.daysFromCivil(year: 2399, month: 12, day: 31)
            for days in first...last {
                let civil = RecordTime.civilFromDays(days)
                if civil.year != year || civil.month != month || civil.day != day { mismatches += 1 }
                day += 1
                if day > Int64(RecordTime.daysInMonth(year: Int(year), month: Int(month))) {
                    day = 1
                    month += 1
                    if month > 12 {
                        month = 1
                        year += 1
                    }
                }
            }
            #expect(mismatches == 0)
            #expect((year, month, day) == (2400, 1, 1))

            // Month by month across every supported year.
            var expected = RecordTime.daysFromCivil(year: 0, month: 1, day: 1)
            for year in 0...9999 {
                for month in 1...12 {
                    let days = RecordTime.daysFromCivil(year: Int64(year), month: Int64(month), day: 1)
                    let civil = RecordTime.civilFromDays(days)
                    if days != expected || civil.year != Int64(year) || civil.month != Int64(month)
                        || civil.day != 1
                    {
                        mismatches += 1
                    }
                    expected = days + Int64(RecordTime.daysInMonth(year: year, month: month))
                }
            }
            #expect(mismatches == 0)
            #expect(expected == RecordTime.daysFromCivil(year: 10000, month: 1, day: 1))
        }

        @Test("now is the current time")
        func now() {
            let now = Syscalls.realtimeMicroseconds()
            // After 2025-01-01 and before 2100-01-01.
            #expect(now > 1_735_689_600_000_000)
            #expect(now < 4_102_444_800_000_000)
            #expect(Syscalls.realtimeMicroseconds() >= now)
        }
    }

    // MARK: - TimeExpression

    @Suite("TimeExpression")
    struct TimeExpressionTests {
        /// 2026-11-23T12:47:22.123456Z.
        static let now = reference + 123_456
        static let today: Int64 = 1_795_392_000_000_000
        static let minute: Int64 = 60_000_000
        static let hour: Int64 = 3_600_000_000
        static let day: Int64 = 86_400_000_000

        @Test(
            "reads every form",
            arguments: [
                // Absolute.
                ("2026-11-23T12:47:22Z", reference),
                ("2026-11-23T12:47:22.5Z", reference + 500_000),
                ("2026-11-23T12:47:22+05:30", 1_795_418_242_000_000),
                ("2026-11-23", today),
                ("2026-11-23 12:47", reference - 22_000_000),
                ("2026-11-23 12:47:22", reference),
                ("  2026-11-23 12:47:22  ", reference),
                ("1969-07-20 20:17:40", -14_182_940_000_000),
                // Epoch.
                ("@1795438042", reference),
                ("@1700000000.5", 1_700_000_000_500_000),
                ("@1700000000123", 1_700_000_000_123_000),
                ("@1700000000123456", 1_700_000_000_123_456),
                ("@-1", -1_000_000),
                ("@0", 0),
                // Words.
                ("now", now),
                (" NOW ", now),
                ("today", today),
                ("Today", today),
                ("yesterday", today - day),
                // Relative.
                ("-15m", now - 15 * minute),
                ("+2h", now + 2 * hour),
                ("- 15m", now - 15 * minute),
                ("15m ago", now - 15 * minute),
                ("2h ago", now - 2 * hour),
                ("1d ago", now - day),
                ("2w ago", now - 14 * day),
                ("90s ago", now - 90_000_000),
                ("-90s", now - 90_000_000),
                ("500ms ago", now - 500_000),
                ("-1h30m", now - 90 * minute),
                ("1h30m ago", now - 90 * minute),
                ("1h 30m ago", now - 90 * minute),
                ("1.5h ago", now - 90 * minute),
                ("2 hours ago", now - 2 * hour),
                ("1 hour ago", now - hour),
                ("5 mins ago", now - 5 * minute),
                ("10 seconds ago", now - 10_000_000),
                ("3 days ago", now - 3 * day),
                ("1 week ago", now - 7 * day),
                ("+30 sec", now + 30_000_000),
                ("-1 minute", now - minute),
                ("2H AGO", now - 2 * hour),
                ("0s ago", now),
            ] as [(String, Int64)])
        func forms(text: String, micros: Int64) throws {
            #expect(try parseTime(text, now: Self.now) == micros)
        }

        @Test("today and yesterday before 1970 are still midnights")
        func negativeNow() throws {
            #expect(try parseTime("today", now: -1) == -Self.day)
            #expect(try parseTime("yesterday", now: -1) == -2 * Self.day)
            #expect(try parseTime("today", now: -Self.day) == -Self.day)
            #expect(try parseTime("today", now: 0) == 0)
        }

        @Test(
            "refuses anything else",
            arguments: [
                "", "   ", "15m", "1h30m", "90", "-15m ago", "+15m ago", "-15", "15 ago", "soon",
                "tomorrow", "now now", "@", "@abc", "@ 1700000000", "@1.", "@+1", "2026-02-30",
                "2026-11-23 24:00", "2026-11-23 12", "-15x", "-", "+", "ago", " ago", "2h ag",
                "2hago", "1h30 ago", "+-5m", "--5m", "-9999999999w",
            ])
        func refuses(text: String) {
            #expect(throws: StoaError.self) { try parseTime(text, now: Self.now) }
        }

        @Test("errors name the text and the accepted forms")
        func errorMessage() {
            do {
                _ = try parseTime("soon", now: Self.now)
                Issue.record("expected an error")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(
                    error.message
                        == "cannot read time \"soon\": expected RFC 3339, YYYY-MM-DD [HH:MM[:SS]],"
                        + " @EPOCH, now, today, yesterday, or a relative time like -15m or 2h ago")
            }
        }

        @Test("a relative time beyond Int64 is an error, not a wrap")
        func overflow() throws {
            #expect(throws: StoaError.self) { try parseTime("+1s", now: Int64.max) }
            #expect(throws: StoaError.self) { try parseTime("1s ago", now: Int64.min) }
            #expect(try parseTime("-1s", now: Int64.max) == Int64.max - 1_000_000)
        }
    }

    // MARK: - Durations

    @Suite("Units durations")
    struct DurationTests {
        @Test(
            "reads durations",
            arguments: [
                ("0", 0),
                ("0s", 0),
                ("90", 90_000_000),
                ("1.5", 1_500_000),
                ("90s", 90_000_000),
                ("15m", 900_000_000),
                ("1h", 3_600_000_000),
                ("7d", 604_800_000_000),
                ("2w", 1_209_600_000_000),
                ("500ms", 500_000),
                ("250us", 250),
                ("250µs", 250),
                ("1h30m", 5_400_000_000),
                ("1h 30m", 5_400_000_000),
                ("1m30s", 90_000_000),
                ("1.5h", 5_400_000_000),
                ("0.5s", 500_000),
                ("0.0000001s", 0),
                ("2 hours", 7_200_000_000),
                ("1 minute", 60_000_000),
                ("10 SECONDS", 10_000_000),
                ("3 days", 259_200_000_000),
                ("1 week", 604_800_000_000),
                ("  5m  ", 300_000_000),
                ("1H", 3_600_000_000),
                ("1d2h3m4s5ms6us", 93_784_005_006),
            ] as [(String, Int64)])
        func parses(text: String, micros: Int64) throws {
            #expect(try Units.parseDuration(text) == .microseconds(micros))
        }

        @Test(
            "refuses negatives and garbage",
            arguments: [
                "", "  ", "-5m", "-0", "+5m", "5x", "m", "5m5", "1h30", "abc", "5 m m", "1.", ".5",
                "5mins ago", "1,5h", "5 y", "5 months", "9223372036854775807h",
                "99999999999999999999",
            ])
        func refuses(text: String) {
            #expect(throws: StoaError.self) { try Units.parseDuration(text) }
        }

        @Test("errors name the text and the accepted forms")
        func errorMessage() {
            do {
                _ = try Units.parseDuration("5 fortnights")
                Issue.record("expected an error")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains("\"5 fortnights\""))
                #expect(error.message.contains("90s, 15m, 1h, 7d, 2w, 500ms or 1h30m"))
            }
            do {
                _ = try Units.parseDuration("-5m")
                Issue.record("expected an error")
            } catch {
                #expect(error.message.contains("cannot be negative"))
            }
        }

        @Test(
            "writes the shortest exact compound form",
            arguments: [
                (0, "0s"),
                (1, "1us"),
                (1_000, "1ms"),
                (1_500, "1ms500us"),
                (500_000, "500ms"),
                (1_000_000, "1s"),
                (90_000_000, "1m30s"),
                (3_600_000_000, "1h"),
                (5_400_000_000, "1h30m"),
                (86_400_000_000, "1d"),
                (604_800_000_000, "7d"),
                (90_061_001_001, "1d1h1m1s1ms1us"),
                (-90_000_000, "-1m30s"),
            ] as [(Int64, String)])
        func formats(micros: Int64, text: String) {
            #expect(Units.formatDuration(.microseconds(micros)) == text)
        }

        @Test("parseDuration(formatDuration(x)) == x")
        func roundTrips() throws {
            var values: [Int64] = [0, 1, 999, 1_000, 59_999_999, 60_000_000, Int64.max]
            var generator = SeededGenerator(seed: 0xD0)
            for _ in 0..<2_000 {
                values.append(Int64.random(in: 0...Int64.max, using: &generator))
                values.append(Int64.random(in: 0...1_000_000_000_000, using: &generator))
            }
            for micros in values {
                #expect(try Units.parseDuration(Units.formatDuration(.microseconds(micros))) == .microseconds(micros))
            }
        }
    }

    // MARK: - Sizes

    @Suite("Units sizes")
    struct SizeTests {
        @Test(
            "reads sizes",
            arguments: [
                ("0", 0),
                ("1000", 1_000),
                ("100B", 100),
                ("100 bytes", 100),
                ("64KiB", 65_536),
                ("64MiB", 67_108_864),
                ("1GiB", 1_073_741_824),
                ("1TiB", 1_099_511_627_776),
                ("1PiB", 1_125_899_906_842_624),
                ("64KB", 64_000),
                ("64MB", 64_000_000),
                ("1GB", 1_000_000_000),
                ("1TB", 1_000_000_000_000),
                ("64K", 65_536),
                ("64M", 67_108_864),
                ("1G", 1_073_741_824),
                ("1T", 1_099_511_627_776),
                ("64 MiB", 67_108_864),
                ("64mib", 67_108_864),
                ("64kb", 64_000),
                ("64k", 65_536),
                ("1.5GiB", 1_610_612_736),
                ("0.5K", 512),
                ("  2G ", 2_147_483_648),
                ("8191PiB", 9_222_246_136_947_933_184),
                ("9223372036854775807", Int64.max),
            ] as [(String, Int64)])
        func parses(text: String, bytes: Int64) throws {
            #expect(try Units.parseSize(text) == bytes)
        }

        @Test(
            "refuses negatives, garbage and overflow",
            arguments: [
                "", "-1", "-1KiB", "64X", "64 K B", "KiB", "1.5.5K", "64KiBs", "1e3", "1,000",
                "64 KiB extra", "8192PiB", "9223372036854775808", "99999999999999999999",
            ])
        func refuses(text: String) {
            #expect(throws: StoaError.self) { try Units.parseSize(text) }
        }

        @Test("errors name the text and the accepted forms")
        func errorMessage() {
            do {
                _ = try Units.parseSize("64X")
                Issue.record("expected an error")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains("\"64X\""))
                #expect(error.message.contains("64KiB"))
            }
        }

        @Test(
            "writes sizes exactly",
            arguments: [
                (0, "0"),
                (1_000, "1000"),
                (1_536, "1536"),
                (64_000, "64000"),
                (1_024, "1KiB"),
                (65_536, "64KiB"),
                (67_108_864, "64MiB"),
                (1_073_741_824, "1GiB"),
                (3_298_534_883_328, "3TiB"),
                (1_125_899_906_842_624, "1PiB"),
                (1_152_921_504_606_846_976, "1024PiB"),
            ] as [(Int64, String)])
        func formats(bytes: Int64, text: String) throws {
            #expect(Units.formatSize(bytes) == text)
            #expect(try Units.parseSize(text) == bytes)
        }

        @Test(
            "writes sizes for people",
            arguments: [
                (0, "0 B"),
                (512, "512 B"),
                (1_023, "1023 B"),
                (1_024, "1.0 KiB"),
                (1_536, "1.5 KiB"),
                (10_239, "10 KiB"),
                (1_048_575, "1.0 MiB"),
                (67_108_864, "64 MiB"),
                (1_500_000_000, "1.4 GiB"),
                (Int64.max, "8.0 EiB"),
                (-2_048, "-2.0 KiB"),
            ] as [(Int64, String)])
        func approximates(bytes: Int64, text: String) {
            #expect(Units.formatSizeApproximate(bytes) == text)
        }
    }
}
