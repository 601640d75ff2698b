import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// Codable both ways: what `append(encoding:)` writes, `decode` reads back.
@Suite struct RecordCodingTests {
    struct Step: Codable, Equatable {
        var tool: String
        var at: Date?
        var exitCode: Int?
    }

    struct Session: Codable {
        var ts: Date
        var type = "session"
        var user: String
        var note: String?
        var ended: Date?
        var steps: [Step]
        var tags: [String: [Int]]
    }

    /// Within 0.75 µs: a stored time is the nearest microsecond (0.5 µs),
    /// worked out and turned back into a `Date` in doubles, each of which
    /// rounds by up to 1/16 µs at today's dates (measured up to 0.596 µs).
    /// Half a microsecond made the test fail now and then with `Date()`.
    func close(_ a: Date?, _ b: Date?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        return abs(a.timeIntervalSince(b)) <= 0.000_000_75
    }

    func expectSame(_ back: Session, _ session: Session) {
        #expect(close(back.ts, session.ts))
        #expect(back.type == session.type && back.user == session.user && back.note == session.note)
        #expect(close(back.ended, session.ended))
        #expect(back.tags == session.tags)
        #expect(back.steps.count == session.steps.count)
        for (got, want) in zip(back.steps, session.steps) {
            #expect(got.tool == want.tool && got.exitCode == want.exitCode && close(got.at, want.at))
        }
    }

    @Test func whatAppendEncodingWroteDecodeReadsBackDatesIncluded() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        let ts = Date(timeIntervalSince1970: 1_795_438_042.123456)
        let sessions = [
            Session(
                ts: ts, user: "ada", note: nil, ended: Date(timeIntervalSince1970: 1_795_438_100.5),
                steps: [Step(tool: "grep", at: ts, exitCode: 0), Step(tool: "sed", at: nil, exitCode: nil)],
                tags: ["a": [1, 2], "b": []]),
            // A fraction of a microsecond that comes back 0.596 µs away
            // (as `Date()` may give); before 1970.
            Session(
                ts: Date(timeIntervalSinceReferenceDate: 818_228_762.221_270_4), user: "bob", note: "slash/and \"quotes\"",
                ended: nil, steps: [], tags: [:]),
            Session(ts: Date(timeIntervalSince1970: -86_400.25), user: "old", steps: [], tags: [:]),
        ]
        for session in sessions { try store.append(encoding: session) }
        let records = try StoreReader(at: directory.path).query(Query(order: .oldestFirst)).all()
        try #require(records.count == 3)
        let ordered = records.sorted { $0.seq < $1.seq }
        #expect(ordered[0].time.microsecondsSinceEpoch == 1_795_438_042_123_456)
        #expect(ordered[0].json.contains(#""ts":"2026-11-23T12:47:22.123456Z""#))
        #expect(ordered[2].time.microsecondsSinceEpoch == -86_400_250_000)
        for (record, session) in zip(ordered, sessions) {
            let back = try record.decode(Session.self)
            expectSame(back, session)
            // The decoded time is the record's time.
            #expect(RecordDates.micros(of: back.ts) == record.time.microsecondsSinceEpoch)
            // Written again, it is the same JSON (its keys perhaps in another
            // order: Foundation's encoder keeps none): a fixed point.
            let again = try Store.encodeRecord(back, encoder: .forStoaRecords())
            let parsed = try JSONSerialization.jsonObject(with: Data(again)) as? NSDictionary
            let stored = try JSONSerialization.jsonObject(with: Data(record.bytes)) as? NSDictionary
            #expect(parsed != nil && parsed == stored, "\(String(decoding: again, as: UTF8.self)) vs \(record.json)")
        }
    }

    @Test func theLoggersEncodingDecodesToo() throws {
        let directory = TemporaryDirectory()
        let logger = EventLogger(storePath: directory.path)
        let step = Step(tool: "make", at: Date(timeIntervalSince1970: 1_700_000_000.000_001), exitCode: 2)
        logger.log(encoding: step)
        logger.stop()
        let record = try #require(try StoreReader(at: directory.path).query(Query()).next())
        let back = try record.decode(Step.self)
        #expect(back.tool == "make" && back.exitCode == 2 && close(back.at, step.at))
    }

    @Test func aCustomStrategyBothWays() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        let encoder = JSONEncoder.forStoaRecords()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let step = Step(tool: "cargo", at: Date(timeIntervalSince1970: 1_795_438_042.5), exitCode: 101)
        try store.append(encoding: step, encoder: encoder)
        let record = try #require(try StoreReader(at: directory.path).query(Query()).next())
        #expect(record.json.contains(#""at":1795438042500"#))
        #expect(record.json.contains(#""exit_code":101"#))

        let decoder = JSONDecoder.forStoaRecords()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        #expect(try record.decode(Step.self, decoder: decoder) == step)
        // The default decoder reads an epoch number by its magnitude, as the store reads a time field.
        let snake = JSONDecoder.forStoaRecords()
        snake.keyDecodingStrategy = .convertFromSnakeCase
        #expect(try record.decode(Step.self, decoder: snake) == step)
    }

    @Test func aTimeThatIsNotOneSaysWhatItFound() throws {
        let record = Record(seq: 0, time: .epoch, bytes: Array(#"{"tool":"x","at":"yesterday"}"#.utf8))
        #expect {
            try record.decode(Step.self)
        } throws: { error in
            guard case DecodingError.dataCorrupted(let context) = error else { return false }
            return context.debugDescription.contains(#"found "yesterday""#) && context.codingPath.last?.stringValue == "at"
        }
    }

    @Test func secondsMillisMicrosAndNanosAsTheStoreReadsThem() throws {
        for (number, micros) in [
            ("1795438042.25", Int64(1_795_438_042_250_000)), ("1795438042250", 1_795_438_042_250_000),
            ("1795438042250001", 1_795_438_042_250_001), ("1795438042250001000", 1_795_438_042_250_001),
        ] {
            let record = Record(seq: 0, time: .epoch, bytes: Array(#"{"tool":"x","at":\#(number)}"#.utf8))
            let at = try #require(try record.decode(Step.self).at)
            #expect(RecordDates.micros(of: at) == micros, "\(number)")
            #expect(RecordTime.parseNumber(number) == micros)
        }
    }
}
