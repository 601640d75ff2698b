import Foundation
import Testing

@testable import Stoa

// Reference time: 2026-11-23T12:47:22Z = 1_795_438_042 s
// (`date -u -d 2026-11-23T12:47:22Z +%s`, as in TimeTests).
private let encoderNowSeconds: Int64 = 1_795_438_042
private let encoderNow: Int64 = encoderNowSeconds * 1_000_000
private let encoderNowText = "2026-11-23T12:47:22.000000Z"

private let defaultEncoder = RecordEncoder(fields: .default, maxRecordBytes: 1 << 20)

/// Encodes `input`, appending to `output`.
private func encodeRecord(
    _ input: [UInt8], with encoder: RecordEncoder = defaultEncoder, into output: inout [UInt8], at time: Int64 = encoderNow
) throws(StoaError) -> LineFacts {
    try input.withUnsafeBufferPointer { (buffer) throws(StoaError) in
        try encoder.encode(buffer, into: &output, now: time)
    }
}

/// Encodes `text` alone: the stored line as text, and its facts.
private func encodeRecord(
    _ text: String, with encoder: RecordEncoder = defaultEncoder, at time: Int64 = encoderNow
) throws(StoaError) -> (line: String, facts: LineFacts) {
    var output: [UInt8] = []
    let facts = try encodeRecord(Array(text.utf8), with: encoder, into: &output, at: time)
    return (String(decoding: output, as: UTF8.self), facts)
}

/// The error encoding `text` throws, or nil.
private func encodeRecordError(_ text: String, with encoder: RecordEncoder = defaultEncoder) -> StoaError? {
    do {
        _ = try encodeRecord(text, with: encoder)
        return nil
    } catch {
        return error
    }
}

private func lineFacts(ofLine line: [UInt8], with encoder: RecordEncoder = defaultEncoder) throws(StoaError) -> LineFacts {
    try line.withUnsafeBufferPointer { (buffer) throws(StoaError) in try encoder.facts(ofLine: buffer) }
}

private func asText(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

/// The type and conversation of a line, decoded, as `LineFacts` reports them.
private func decodedFields(_ facts: LineFacts, in line: String) -> (type: String, conversation: String?) {
    Array(line.utf8).withUnsafeBufferPointer { (facts.type(in: $0), facts.conversation(in: $0)) }
}

// MARK: - Compaction and passthrough

@Suite("RecordEncoder output")
struct RecordEncoderOutputTests {
    @Test("pretty-printed input is compacted; whitespace inside strings is kept")
    func compaction() throws {
        let pretty = #"""
            {
              "ts" : "2026-11-23T12:47:22Z",
              "msg":	"two  spaces\tand tab" ,
              "esc" : "quote \" then space, backslash \\" ,
              "list" : [ 1 ,	2 , { "k" : "v v" } , [ ] ],
              "empty" : { },
              "lit" : [ true , false , null ]
            }

            """#
        let compact =
            #"{"ts":"2026-11-23T12:47:22Z","msg":"two  spaces\tand tab","esc":"quote \" then space, backslash \\","list":[1,2,{"k":"v v"},[]],"empty":{},"lit":[true,false,null]}"#
        #expect(try encodeRecord(pretty).line == compact + "\n")
        // Windows line ends and leading whitespace too.
        let crlf = pretty.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(try encodeRecord("\r\n \t" + crlf).line == compact + "\n")
    }

    @Test(
        "compact input is stored byte for byte",
        arguments: [
            #"{"ts":"2026-11-23T12:47:22Z"}"#,
            #"{"ts":"2026-11-23T12:47:22.123456789+05:30","type":"x","session":"s","a":[1,{"b":null}]}"#,
            #"{"timestamp":1795438042,"text":"  spaced  \t  out  ","u":"\u00e9\ud83d\ude00é😀"}"#,
            #"{"@timestamp":"2026-11-23T12:47:22Z","n":-0.0e-0,"big":123456789012345678901234567890}"#,
            #"{"a":"b","ts":"2026-11-23T12:47:22Z","a":"c","":""}"#,
        ])
    func passthrough(_ input: String) throws {
        var output: [UInt8] = [0x01, 0x02]
        _ = try encodeRecord(Array(input.utf8), into: &output)
        #expect(output == [0x01, 0x02] + Array(input.utf8) + [0x0A])
    }

    @Test("a record without a time gets \"ts\" as its first member")
    func insertedTime() throws {
        #expect(try encodeRecord("{}").line == #"{"ts":"\#(encoderNowText)"}"# + "\n")
        #expect(try encodeRecord(" { \n } \n").line == #"{"ts":"\#(encoderNowText)"}"# + "\n")
        #expect(try encodeRecord(#"{"a":1}"#).line == #"{"ts":"\#(encoderNowText)","a":1}"# + "\n")
        #expect(try encodeRecord("{\n  \"a\" : [ 1 ]\n}").line == #"{"ts":"\#(encoderNowText)","a":[1]}"# + "\n")
        #expect(try encodeRecord(#"{"a":1}"#).facts.time == encoderNow)
        // Microseconds and times before 1970 are written in full.
        #expect(try encodeRecord("{}", at: encoderNow + 123_456).line == #"{"ts":"2026-11-23T12:47:22.123456Z"}"# + "\n")
        #expect(try encodeRecord("{}", at: -1).line == #"{"ts":"1969-12-31T23:59:59.999999Z"}"# + "\n")
        // A time below the top level is not the record's time.
        let decoy = try encodeRecord(#"{"payload":{"ts":"2020-01-01T00:00:00Z","type":"inner"}}"#)
        #expect(decoy.line == #"{"ts":"\#(encoderNowText)","payload":{"ts":"2020-01-01T00:00:00Z","type":"inner"}}"# + "\n")
        #expect(decoy.facts.time == encoderNow)
        #expect(decoy.facts.type == nil)
    }

    @Test("the inserted time takes the first configured time name")
    func insertedCustomName() throws {
        let encoder = RecordEncoder(fields: FieldNames(time: ["when", "ts"]), maxRecordBytes: 1 << 20)
        #expect(try encodeRecord(#"{"a":1}"#, with: encoder).line == #"{"when":"\#(encoderNowText)","a":1}"# + "\n")
        // A name that JSON must escape is escaped, and found again when read back.
        let odd = RecordEncoder(fields: FieldNames(time: ["t\"s\\"]), maxRecordBytes: 1 << 20)
        let (line, facts) = try encodeRecord(#"{"a":1}"#, with: odd)
        #expect(line == #"{"t\"s\\":"\#(encoderNowText)","a":1}"# + "\n")
        #expect(throws: Never.self) { _ = try RecordScanner(fields: odd.fields).scan(line) }
        #expect(try factsOfLine(line, with: odd) == facts)
    }
}

private extension RecordScanner {
    func scan(_ text: String) throws(StoaError) -> Summary {
        try Array(text.utf8).withUnsafeBufferPointer { (buffer) throws(StoaError) in try scan(buffer) }
    }
}

private func factsOfLine(_ line: String, with encoder: RecordEncoder = defaultEncoder) throws(StoaError) -> LineFacts {
    try lineFacts(ofLine: Array(line.utf8), with: encoder)
}

// MARK: - Facts

@Suite("RecordEncoder facts")
struct RecordEncoderFactsTests {
    @Test("ranges point at the right bytes after insertion and compaction")
    func rangesAfterInsertionAndCompaction() throws {
        let pretty = #"""
            {
              "payload" : { "type" : "decoy" },
              "type" : "tool_call",
              "session" : "s-\u00e9 \"q\"",
              "thread_id": 7
            }
            """#
        var output: [UInt8] = Array("previous line\n".utf8)
        let start = output.count
        let facts = try encodeRecord(Array(pretty.utf8), into: &output)
        let line = Array(output[start...])
        #expect(
            asText(line[...])
                == #"{"ts":"\#(encoderNowText)","payload":{"type":"decoy"},"type":"tool_call","session":"s-\u00e9 \"q\"","thread_id":7}"#
                + "\n")
        #expect(facts.time == encoderNow)
        // Ranges are relative to the start of the line.
        let type = try #require(facts.type)
        #expect(asText(line[type]) == "tool_call")
        #expect(line[type.lowerBound - 1] == UInt8(ascii: "\"") && line[type.upperBound] == UInt8(ascii: "\""))
        #expect(facts.typeEscaped == false)
        let conversation = try #require(facts.conversation)
        #expect(asText(line[conversation]) == #"s-\u00e9 \"q\""#)
        #expect(facts.conversationEscaped == true)
        let decoded = decodedFields(facts, in: asText(line[...]))
        #expect(decoded.type == "tool_call")
        #expect(decoded.conversation == "s-é \"q\"")
    }

    @Test("a conversation number is kept as its text")
    func conversationNumber() throws {
        let (line, facts) = try encodeRecord(#"{ "ts": 1795438042, "session_id" : 42 }"#)
        #expect(line == #"{"ts":1795438042,"session_id":42}"# + "\n")
        #expect(decodedFields(facts, in: line).conversation == "42")
        #expect(decodedFields(facts, in: line).type == "")
        #expect(facts.type == nil)
    }

    @Test(
        "times are read from strings and epoch numbers",
        arguments: [
            (#""2026-11-23T12:47:22Z""#, encoderNow),
            (#""2026-11-23T13:47:22+01:00""#, encoderNow),
            (#""2026-11-23T12:47:22.123456789Z""#, encoderNow + 123_456),
            (#""2026-11-23T12\u003a47:22Z""#, encoderNow),  // escaped
            ("1795438042", encoderNow),  // seconds
            ("1795438042.5", encoderNow + 500_000),
            ("1.795438042e9", encoderNow),
            ("1795438042123", encoderNow + 123_000),  // milliseconds
            ("1795438042123456", encoderNow + 123_456),  // microseconds
            ("1795438042123456789", encoderNow + 123_456),  // nanoseconds, truncated
            ("0", 0),
            ("-1", -1_000_000),
        ] as [(String, Int64)])
    func times(_ value: String, _ expected: Int64) throws {
        let input = #"{"type":"t","ts":\#(value)}"#
        let (line, facts) = try encodeRecord(input)
        #expect(facts.time == expected)
        #expect(line == input + "\n", "the time is stored as written")
        #expect(try factsOfLine(line).time == expected)
    }

    @Test("the first configured time field wins, not the first in the record")
    func timePriority() throws {
        let (_, facts) = try encodeRecord(#"{"@timestamp":"2001-01-01T00:00:00Z","timestamp":"2020-01-01T00:00:00Z","ts":"2026-11-23T12:47:22Z"}"#)
        #expect(facts.time == encoderNow)
        let (_, second) = try encodeRecord(#"{"time":0,"timestamp":"2026-11-23T12:47:22Z"}"#)
        #expect(second.time == encoderNow)
    }

    @Test("facts(ofLine:) gives back what encode returned")
    func roundTrip() throws {
        var inputs: [[UInt8]] = jsonMustAccept.map(\.bytes)
        inputs += [
            #"{"ts":"2026-11-23T12:47:22Z","type":"a","session":"s"}"#,
            #"{"type":"\u0074ool \"x\"","conversation_id":-7.5,"time":1795438042123}"#,
            "{\n  \"kind\" : \"k\",\n  \"thread_id\" : \"t\\n\"\n}",
            #"{"event":"e","payload":{"ts":1,"type":"no"},"@timestamp":"2026-11-23T12:47:22.5+00:00"}"#,
            #"{"type":7,"event_type":"fallback","session":null,"session_id":"real"}"#,
        ].map { Array($0.utf8) }
        var output: [UInt8] = []
        var expected: [(Range<Int>, LineFacts)] = []
        for (k, input) in inputs.enumerated() {
            let start = output.count
            let encoded = try encodeRecord(input, into: &output, at: encoderNow + Int64(k))
            expected.append((start..<output.count, encoded))
        }
        for (range, encoded) in expected {
            let line = Array(output[range])
            #expect(line.last == 0x0A)
            #expect(line.dropLast().contains(0x0A) == false, "one line per record")
            #expect(try lineFacts(ofLine: line) == encoded, "\(asText(line[...]))")
            #expect(try lineFacts(ofLine: Array(line.dropLast())) == encoded)
            // Stored lines are compact.
            let summary = try Array(line.dropLast()).withUnsafeBufferPointer { (buffer) throws(StoaError) in
                try defaultEncoder.scanner.scan(buffer)
            }
            #expect(summary.hasWhitespace == false, "\(asText(line[...]))")
        }
        // Type and conversation of the hand-written records.
        let last = Array(output[expected[expected.count - 1].0])
        let lastFacts = expected[expected.count - 1].1
        #expect(decodedFields(lastFacts, in: asText(last[...])) == ("fallback", "real"))
        let escaped = Array(output[expected[expected.count - 4].0])
        #expect(decodedFields(expected[expected.count - 4].1, in: asText(escaped[...])) == ("tool \"x\"", "-7.5"))
        #expect(expected[expected.count - 4].1.time == encoderNow + 123_000)
    }

    @Test("facts(ofLine:) refuses a line without a time")
    func factsNeedATime() {
        for line in [#"{"a":1}"#, #"{"payload":{"ts":"2026-11-23T12:47:22Z"}}"#] {
            let error = #expect(throws: StoaError.self) { _ = try factsOfLine(line) }
            #expect(error?.code == .invalidRecord)
            #expect(error?.message.contains("no time field") == true)
        }
        #expect(throws: StoaError.self) { _ = try factsOfLine(#"{"ts":"2026-11-23T12:47:22Z"} x"#) }
    }
}

// MARK: - Errors

@Suite("RecordEncoder errors")
struct RecordEncoderErrorTests {
    @Test(
        "an unreadable time is an error naming the field, at the value's offset in the input",
        arguments: [
            (#"{"ts":"yesterday"}"#, "ts", 7),
            (#"{"a":1,"timestamp":"2026-13-01T00:00:00Z"}"#, "timestamp", 20),
            (#"{"time":""}"#, "time", 9),
            (#"{"ts":"bad","timestamp":"2026-11-23T12:47:22Z"}"#, "ts", 7),  // the first present counts
            (#"{"@timestamp":"2026-11-23T12:47:22Zjunk"}"#, "@timestamp", 15),
            // Not a string or a number: refused rather than taken as absent, which
            // would insert a second "ts" member.
            (#"{"ts":null}"#, "ts", 6),
            (#"{"ts":true}"#, "ts", 6),
            (#"{"ts":{"at":"2026-11-23T12:47:22Z"}}"#, "ts", 6),
            (#"{"ts":[],"timestamp":"2026-11-23T12:47:22Z"}"#, "ts", 6),
            // Pretty-printed: the offset is still into the input as given.
            ("{\n  \"type\" : \"x\",\n  \"ts\" : \"yesterday\"\n}", "ts", 28),
            ("{\n  \"ts\" :\n    null\n}", "ts", 15),
        ] as [(String, String, Int)])
    func unreadableTime(_ input: String, _ field: String, _ offset: Int) {
        let error = encodeRecordError(input)
        #expect(error?.code == .invalidRecord)
        #expect(error?.message.contains("time field \"\(field)\"") == true, "\(String(describing: error))")
        #expect(error?.offset == offset, "\(String(describing: error))")
    }

    @Test("invalid JSON is refused with its offset in the input")
    func invalidJSON() {
        let error = encodeRecordError("{\n  \"a\" : 01\n}")
        #expect(error?.code == .invalidRecord)
        #expect(error?.offset == 11)
        #expect(encodeRecordError("[]")?.code == .invalidRecord)
        // A time beyond a double's range is refused as a number first.
        let infinite = encodeRecordError(#"{"ts":1e400}"#)
        #expect(infinite?.offset == 6)
        #expect(infinite?.message.contains("too large for a double") == true)
        #expect(encodeRecordError("")?.code == .invalidRecord)
    }

    @Test("a line longer than max_record_bytes is refused")
    func tooLarge() throws {
        let encoder = RecordEncoder(fields: .default, maxRecordBytes: 64)
        // Exactly 64 bytes with its newline fits; one more does not.
        let base = #"{"ts":"2026-11-23T12:47:22Z","p":""}"#
        let fits = #"{"ts":"2026-11-23T12:47:22Z","p":"\#(String(repeating: "x", count: 63 - base.utf8.count))"}"#
        #expect(try encodeRecord(fits, with: encoder).line.utf8.count == 64)
        let over = #"{"ts":"2026-11-23T12:47:22Z","p":"\#(String(repeating: "x", count: 64 - base.utf8.count))"}"#
        let error = encodeRecordError(over, with: encoder)
        #expect(error?.code == .recordTooLarge)
        #expect(error?.message.contains("max_record_bytes") == true)

        // The inserted time counts.
        let small = #"{"p":"\#(String(repeating: "x", count: 30))"}"#
        #expect(small.utf8.count + 1 <= 64)
        #expect(encodeRecordError(small, with: encoder)?.code == .recordTooLarge)

        // The size is that of the compacted line, not of the input...
        let padded = "{" + String(repeating: " ", count: 300) + #""ts":"2026-11-23T12:47:22Z"}"#
        #expect(try encodeRecord(padded, with: encoder).line == #"{"ts":"2026-11-23T12:47:22Z"}"# + "\n")
        // ...except that an input more than 8 times the limit is refused unread.
        let limit = 8 * 64
        #expect(try encodeRecord("{}" + String(repeating: " ", count: limit - 2), with: encoder).line.utf8.count < 64)
        #expect(encodeRecordError("{}" + String(repeating: " ", count: limit - 1), with: encoder)?.code == .recordTooLarge)
    }

    @Test("after any error the output is unchanged")
    func outputUnchanged() throws {
        let small = RecordEncoder(fields: .default, maxRecordBytes: 64)
        let failing: [(String, RecordEncoder)] = [
            (#"{"a":01}"#, defaultEncoder),
            ("{\n  \"a\" : 01\n}", defaultEncoder),
            (#"{"a":1} x"#, defaultEncoder),
            (#"{"ts":"yesterday"}"#, defaultEncoder),
            ("{\n  \"ts\" : \"yesterday\"\n}", defaultEncoder),
            (#"{"ts":null}"#, defaultEncoder),
            (#"{"ts":"2026-11-23T12:47:22Z","p":"\#(String(repeating: "x", count: 40))"}"#, small),
            ("{\n  \"p\" : \"\(String(repeating: "x", count: 40))\"\n}", small),  // too large only once "ts" is inserted
            (String(repeating: " ", count: 600), small),
        ]
        let previous: [UInt8] = Array(#"{"ts":"2026-11-23T12:47:22Z"}"#.utf8) + [0x0A]
        var output = previous
        for (input, encoder) in failing {
            #expect(throws: StoaError.self, "\(input)") {
                _ = try encodeRecord(Array(input.utf8), with: encoder, into: &output)
            }
            #expect(output == previous, "after \(input)")
        }
        // And a good record still goes right after the previous line.
        _ = try encodeRecord(Array("{ }".utf8), into: &output)
        #expect(output == previous + Array(#"{"ts":"\#(encoderNowText)"}"#.utf8) + [0x0A])
    }

    @Test("every table input is refused by the encoder as by the scanner", arguments: jsonMustReject)
    func refusesTheTable(_ input: ScanCase) {
        var output: [UInt8] = [0x7B, 0x7D, 0x0A]
        #expect(throws: StoaError.self) { _ = try encodeRecord(input.bytes, into: &output) }
        #expect(output == [0x7B, 0x7D, 0x0A])
    }
}
