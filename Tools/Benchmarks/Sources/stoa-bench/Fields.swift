// What the SQLite event store needs out of each JSONL line: its time, type,
// agent and conversation. An application feeding SQLite would have these at
// hand; here they are taken out of the generated lines before the timed
// inserts, so SQLite's ingest time does not include them.
//
// Written apart from Stoa's own parser on purpose: SQLite's answers are a
// cross-check of Stoa's.

import Foundation
import Stoa

/// A byte range inside a line.
struct Span {
    var start: Int
    var end: Int
    var isEmpty: Bool { start >= end }
}

struct LineFields {
    var time: Int64 = 0
    var type = Span(start: 0, end: 0)
    var agent: Span?
    var conversation: Span?
}

enum FieldError: Error, CustomStringConvertible {
    case malformed(String)
    var description: String {
        switch self {
        case .malformed(let why): "malformed line: \(why)"
        }
    }
}

/// Reads the top-level members `ts`, `type`, `agent` and `session` of one
/// compact JSON object. Values of other members are skipped (strings with
/// their escapes, nested objects and arrays). The four values must be plain
/// strings without escapes (what the generator writes); anything else is an
/// error, never a silent guess.
func scanFields(_ line: UnsafeRawBufferPointer) throws -> LineFields {
    var fields = LineFields()
    var position = 0
    let count = line.count
    var foundTime = false
    var found = 0

    func skipSpace() {
        while position < count, line[position] == 0x20 || line[position] == 0x09 || line[position] == 0x0D || line[position] == 0x0A {
            position += 1
        }
    }
    /// A string at `position` (at its quote): its raw inner span; moves past it.
    func string() throws -> (Span, escaped: Bool) {
        guard position < count, line[position] == UInt8(ascii: "\"") else { throw FieldError.malformed("expected a string") }
        position += 1
        let start = position
        var escaped = false
        while position < count {
            let byte = line[position]
            if byte == UInt8(ascii: "\\") {
                escaped = true
                position += 2
                continue
            }
            if byte == UInt8(ascii: "\"") {
                let span = Span(start: start, end: position)
                position += 1
                return (span, escaped)
            }
            position += 1
        }
        throw FieldError.malformed("unterminated string")
    }
    func skipValue() throws {
        skipSpace()
        guard position < count else { throw FieldError.malformed("missing value") }
        var depth = 0
        repeat {
            guard position < count else { throw FieldError.malformed("unterminated value") }
            let byte = line[position]
            switch byte {
            case UInt8(ascii: "\""): _ = try string(); continue
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 0 { return }
                depth -= 1
            case UInt8(ascii: ","):
                if depth == 0 { return }
            default: break
            }
            position += 1
        } while true
    }
    func equals(_ span: Span, _ text: StaticString) -> Bool {
        guard span.end - span.start == text.utf8CodeUnitCount else { return false }
        let pointer = text.utf8Start
        for offset in 0..<text.utf8CodeUnitCount where line[span.start + offset] != pointer[offset] { return false }
        return true
    }

    skipSpace()
    guard position < count, line[position] == UInt8(ascii: "{") else { throw FieldError.malformed("not an object") }
    position += 1
    while found < 4 {
        skipSpace()
        guard position < count else { throw FieldError.malformed("unterminated object") }
        if line[position] == UInt8(ascii: "}") { break }
        if line[position] == UInt8(ascii: ",") {
            position += 1
            skipSpace()
        }
        let (key, _) = try string()
        skipSpace()
        guard position < count, line[position] == UInt8(ascii: ":") else { throw FieldError.malformed("expected ':'") }
        position += 1
        skipSpace()
        let wanted = equals(key, "ts") || equals(key, "type") || equals(key, "agent") || equals(key, "session")
        guard wanted, position < count, line[position] == UInt8(ascii: "\"") else {
            if wanted && equals(key, "ts") { throw FieldError.malformed("ts is not a string") }
            try skipValue()
            continue
        }
        let (value, escaped) = try string()
        if escaped { throw FieldError.malformed("escaped characters in a key field") }
        if equals(key, "ts") {
            fields.time = try parseTime(UnsafeRawBufferPointer(rebasing: line[value.start..<value.end]))
            foundTime = true
        } else if equals(key, "type") {
            fields.type = value
        } else if equals(key, "agent") {
            fields.agent = value
        } else {
            fields.conversation = value
        }
        found += 1
    }
    guard foundTime else { throw FieldError.malformed("no ts") }
    return fields
}

/// `YYYY-MM-DDTHH:MM:SS[.f…](Z|±hh:mm)` to µs since the epoch (fraction
/// digits past the sixth are dropped, as Stoa does).
func parseTime(_ text: UnsafeRawBufferPointer) throws -> Int64 {
    func digits(_ from: Int, _ length: Int) throws -> Int64 {
        guard from + length <= text.count else { throw FieldError.malformed("short time") }
        var value: Int64 = 0
        for index in from..<(from + length) {
            let digit = Int64(text[index]) - 48
            guard digit >= 0 && digit <= 9 else { throw FieldError.malformed("bad time digit") }
            value = value * 10 + digit
        }
        return value
    }
    guard text.count >= 20, text[4] == UInt8(ascii: "-"), text[7] == UInt8(ascii: "-"),
          text[10] == UInt8(ascii: "T") || text[10] == UInt8(ascii: "t") || text[10] == UInt8(ascii: " "),
          text[13] == UInt8(ascii: ":"), text[16] == UInt8(ascii: ":")
    else { throw FieldError.malformed("time not RFC 3339") }
    let year = try digits(0, 4), month = try digits(5, 2), day = try digits(8, 2)
    let hour = try digits(11, 2), minute = try digits(14, 2), second = try digits(17, 2)
    var position = 19
    var micros: Int64 = 0
    if position < text.count, text[position] == UInt8(ascii: ".") {
        position += 1
        var scale: Int64 = 100_000
        while position < text.count, text[position] >= 48, text[position] <= 57 {
            micros += Int64(text[position] - 48) * scale
            scale /= 10
            position += 1
        }
    }
    guard position < text.count else { throw FieldError.malformed("time without zone") }
    var offset: Int64 = 0
    switch text[position] {
    case UInt8(ascii: "Z"), UInt8(ascii: "z"): position += 1
    case UInt8(ascii: "+"), UInt8(ascii: "-"):
        let sign: Int64 = text[position] == UInt8(ascii: "-") ? -1 : 1
        offset = sign * (try digits(position + 1, 2) * 3600 + digits(position + 4, 2) * 60)
        position += 6
    default: throw FieldError.malformed("bad zone")
    }
    guard position == text.count else { throw FieldError.malformed("trailing bytes after time") }
    // Days from the civil date (H. Hinnant's algorithm).
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let m = month > 2 ? month - 3 : month + 9
    let dayOfYear = (153 * m + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    let days = era * 146_097 + dayOfEra - 719_468
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
    return seconds * 1_000_000 + micros
}
