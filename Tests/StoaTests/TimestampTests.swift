import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

// Reference values were computed independently with GNU `date -u -d … +%s`,
// not with the code under test.

/// The `Timestamp` value type: `Date`, text, `Codable`, order, and arithmetic
/// with `Duration`.
@Suite("Timestamp")
struct TimestampTests {
    /// 2026-11-23T12:47:22Z (`date -u -d 2026-11-23T12:47:22Z +%s`).
    static let reference = Timestamp(microsecondsSinceEpoch: 1_795_438_042_000_000)

    @Test("a Date converts to the same microsecond and back, 1865 to 2136, before 1970 too")
    func dateRoundTrip() {
        var random = SeededGenerator(seed: 15)
        // 1865-01-01 to 2137-01-01 (`date -u -d 1865-01-01 +%s` = -3_313_440_000, 2137-01-01 = 5_270_054_400).
        let range: Range<Int64> = -3_313_440_000_000_000..<5_270_054_400_000_000
        for _ in 0..<20_000 {
            let time = Timestamp(microsecondsSinceEpoch: Int64.random(in: range, using: &random))
            #expect(Timestamp(time.date) == time, "\(time)")
        }
        for micros: Int64 in [0, 1, -1, 999_999, -999_999, 1_795_438_042_123_456, -86_400_000_001] {
            let time = Timestamp(microsecondsSinceEpoch: micros)
            #expect(Timestamp(time.date) == time)
        }
    }

    @Test("a Date is rounded to the nearest microsecond")
    func dateRounding() {
        #expect(Timestamp(Date(timeIntervalSince1970: 1.000_000_3)).microsecondsSinceEpoch == 1_000_000)
        #expect(Timestamp(Date(timeIntervalSince1970: 1.000_000_7)).microsecondsSinceEpoch == 1_000_001)
        #expect(Timestamp(Date(timeIntervalSince1970: -1.000_000_3)).microsecondsSinceEpoch == -1_000_000)
        #expect(Timestamp(Date(timeIntervalSince1970: -1.000_000_7)).microsecondsSinceEpoch == -1_000_001)
        #expect(Timestamp(Date(timeIntervalSince1970: 1_795_438_042)) == Self.reference)
        // Before 1970: 1969-12-31T00:00:00Z minus a quarter second.
        #expect(Timestamp(Date(timeIntervalSince1970: -86_400.25)).microsecondsSinceEpoch == -86_400_250_000)
        #expect(Timestamp.epoch.date == Date(timeIntervalSince1970: 0))
    }

    @Test("a Date beyond an Int64 of microseconds is held at the limits")
    func dateOutOfRange() {
        #expect(Timestamp(Date(timeIntervalSinceReferenceDate: 1e300)).microsecondsSinceEpoch == .max)
        #expect(Timestamp(Date(timeIntervalSinceReferenceDate: -1e300)).microsecondsSinceEpoch == .min)
        #expect(Timestamp(Date(timeIntervalSinceReferenceDate: .infinity)).microsecondsSinceEpoch == .max)
        // 9_223_372_036_854.775807 s after 1970 is the largest; past it, the limit.
        #expect(Timestamp(Date(timeIntervalSince1970: 9.3e12)).microsecondsSinceEpoch == .max)
        #expect(Timestamp(Date.distantFuture) < Timestamp(microsecondsSinceEpoch: .max))
    }

    @Test("its text is the store's: RFC 3339 in UTC with six fraction digits, and it reads back")
    func text() {
        #expect(Self.reference.description == "2026-11-23T12:47:22.000000Z")
        #expect(Timestamp(microsecondsSinceEpoch: -1).description == "1969-12-31T23:59:59.999999Z")
        #expect(Timestamp("2026-11-23T12:47:22Z") == Self.reference)
        #expect(Timestamp("2026-11-23 13:47:22.5+01:00") == Self.reference + .milliseconds(500))
        #expect(Timestamp("1969-12-31T23:59:59.999999Z") == Timestamp(microsecondsSinceEpoch: -1))
        #expect(Timestamp("yesterday") == nil)
        #expect(Timestamp("2026-02-30") == nil)
        var random = SeededGenerator(seed: 16)
        // Years 0000 to 9999 (`date -u -d 0000-01-01 +%s` = -62_167_219_200; 10000-01-01 = 253_402_300_800).
        for _ in 0..<5_000 {
            let time = Timestamp(
                microsecondsSinceEpoch: Int64.random(
                    in: -62_167_219_200_000_000..<253_402_300_800_000_000, using: &random))
            #expect(Timestamp(time.description) == time)
        }
    }

    @Test("Codable as the store's text; decoding takes what a record's time field may hold")
    func codable() throws {
        struct Event: Codable, Equatable {
            var at: Timestamp
            var until: Timestamp?
        }
        let event = Event(at: Self.reference + .microseconds(123_456), until: Timestamp(microsecondsSinceEpoch: -1))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(event)
        #expect(
            String(decoding: data, as: UTF8.self)
                == #"{"at":"2026-11-23T12:47:22.123456Z","until":"1969-12-31T23:59:59.999999Z"}"#)
        #expect(try JSONDecoder().decode(Event.self, from: data) == event)

        func decode(_ json: String) throws -> Timestamp {
            try JSONDecoder().decode([Timestamp].self, from: Data("[\(json)]".utf8))[0]
        }
        #expect(try decode(#""2026-11-23T13:47:22+01:00""#) == Self.reference)
        #expect(try decode("1795438042") == Self.reference)  // seconds
        #expect(try decode("1795438042000") == Self.reference)  // milliseconds
        #expect(try decode("1795438042000000") == Self.reference)  // microseconds
        #expect(try decode("1795438042000000000") == Self.reference)  // nanoseconds
        #expect(try decode("1795438042.25") == Self.reference + .milliseconds(250))
        #expect(throws: DecodingError.self) { try decode(#""next tuesday""#) }
        #expect(throws: DecodingError.self) { try decode("true") }
        #expect(throws: DecodingError.self) { try decode("1e300") }
    }

    @Test("ordered and hashed by the instant")
    func order() {
        var random = SeededGenerator(seed: 17)
        let counts = (0..<1_000).map { _ in Int64.random(in: -1_000_000...1_000_000, using: &random) }
        let times = counts.map(Timestamp.init(microsecondsSinceEpoch:))
        #expect(times.sorted().map(\.microsecondsSinceEpoch) == counts.sorted())
        #expect(Set(times).count == Set(counts).count)
        #expect(Timestamp(microsecondsSinceEpoch: -1) < .epoch)
        #expect(Timestamp(microsecondsSinceEpoch: .min) < Timestamp(microsecondsSinceEpoch: .max))
    }

    @Test("adds and subtracts a Duration, truncated toward zero to whole microseconds")
    func arithmetic() {
        let time = Self.reference
        #expect((time + .seconds(1)).microsecondsSinceEpoch == 1_795_438_043_000_000)
        #expect((time - .milliseconds(1)).microsecondsSinceEpoch == 1_795_438_041_999_000)
        #expect(time + .nanoseconds(1_999) == time + .microseconds(1))
        #expect(time - .nanoseconds(1_999) == time - .microseconds(1))
        #expect(time + .nanoseconds(-1_999) == time - .microseconds(1))
        #expect(time + .nanoseconds(999) == time)
        var moved = time
        moved += .seconds(3600)
        moved -= .seconds(1800)
        #expect(moved - time == .seconds(1800))
        #expect(time - moved == .seconds(-1800))
        #expect(Timestamp.epoch - Timestamp(microsecondsSinceEpoch: 1) == .microseconds(-1))
        // Any two timestamps have a difference a Duration holds.
        let widest = Timestamp(microsecondsSinceEpoch: .max) - Timestamp(microsecondsSinceEpoch: .min)
        #expect(widest == .microseconds(Int64.max) + .microseconds(Int64.max) + .microseconds(1))
    }

    @Test("a Duration's microseconds: held at Int64's limits where a caller may set anything")
    func durationMicroseconds() {
        #expect(Duration.seconds(90).wholeMicroseconds == 90_000_000)
        #expect(Duration.nanoseconds(-1_999).wholeMicroseconds == -1)
        #expect(Duration.seconds(Int64.max).saturatingMicroseconds == .max)
        #expect(Duration.seconds(Int64.min).saturatingMicroseconds == .min)
        #expect(Duration.microseconds(Int64.min).saturatingMicroseconds == .min)
    }

    @Test("arithmetic that leaves the range traps, as Int64 arithmetic does")
    func overflowTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = Timestamp(microsecondsSinceEpoch: .max) + .microseconds(1)
        }
        await #expect(processExitsWith: .failure) {
            _ = Timestamp(microsecondsSinceEpoch: .min) - .microseconds(1)
        }
        await #expect(processExitsWith: .failure) {
            _ = Timestamp.epoch + .seconds(Int64.max)
        }
    }
}
