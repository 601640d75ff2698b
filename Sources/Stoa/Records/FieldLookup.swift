#if canImport(Glibc)
import Glibc
#endif

/// Finds the value at a path of keys (`tags` then `host`) in one record's
/// line, without building a tree: the keys before it are compared, the
/// values before it stepped over.
///
/// It reads lines a query hands out: stored lines (compact, validated when
/// appended, but read back by the fast scan, which does not check every
/// byte) and foreign ones (compacted when indexed). It never reads outside
/// the line and never traps on bytes that are not what it expects: a line
/// that does not have the shape it looks for has no value at the path. It
/// skips whitespace between tokens all the same.
package enum FieldLookup {
    /// What a value found at a path is.
    package enum Kind: Equatable, Sendable {
        case string, number, `true`, `false`, null, object, array
        /// Bytes that are no JSON value (a damaged line).
        case invalid
    }

    /// A value found at a path.
    package struct Found: Equatable {
        package var kind: Kind
        /// A string's body without its quotes; the text of anything else.
        package var range: Range<Int>
        /// A string with backslash escapes (its bytes are not its value).
        package var escaped: Bool
    }

    /// The value at `path` in the object `line`, or nil when there is none:
    /// a key of the path missing, or a value on the way that is not an
    /// object (arrays are not entered). Of a key repeated in one object,
    /// the first counts (as for the time, type and conversation fields).
    ///
    /// - Complexity: O(n) in the bytes before the value, at most.
    package static func value(at path: [[UInt8]], in line: UnsafeBufferPointer<UInt8>) -> Found? {
        guard !path.isEmpty, line.baseAddress != nil else { return nil }
        let count = line.count
        var index = skipWhitespace(line, from: 0)
        guard index < count, line[index] == openBrace else { return nil }
        for (level, name) in path.enumerated() {
            // At the `{` of the object to look in.
            index = skipWhitespace(line, from: index + 1)
            guard index < count, line[index] != closeBrace else { return nil }
            while true {
                guard index < count, line[index] == quote,
                    let (keyEnd, keyEscaped) = RecordScanner.stringEnd(line, from: index + 1)
                else { return nil }
                let isName = keyMatches(line, (index + 1)..<keyEnd, escaped: keyEscaped, name)
                index = skipWhitespace(line, from: keyEnd + 1)
                guard index < count, line[index] == colon else { return nil }
                index = skipWhitespace(line, from: index + 1)
                guard index < count else { return nil }
                if isName {
                    if level == path.count - 1 { return found(in: line, at: index) }
                    // The path goes on only into an object.
                    guard line[index] == openBrace else { return nil }
                    break
                }
                guard let end = valueEnd(line, from: index) else { return nil }
                index = skipWhitespace(line, from: end)
                guard index < count, line[index] == comma else { return nil }  // `}`: not in this object
                index = skipWhitespace(line, from: index + 1)
            }
        }
        return nil
    }

    /// Whether the key whose body is `line[range]` is `name` (decoded, when
    /// it has escapes; a key whose escapes are not valid JSON is no name).
    @inline(__always)
    private static func keyMatches(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, escaped: Bool, _ name: [UInt8])
        -> Bool
    {
        let key = UnsafeBufferPointer(rebasing: line[range])
        if escaped {
            guard JSONString.hasValidEscapes(key) else { return false }
            return JSONString.decode(key) == name
        }
        return key.count == name.count
            && name.withUnsafeBufferPointer { memcmp($0.baseAddress!, key.baseAddress!, key.count) == 0 }
    }

    /// The value that starts at `start`.
    private static func found(in line: UnsafeBufferPointer<UInt8>, at start: Int) -> Found {
        let first = line[start]
        if first == quote {
            guard let (end, escaped) = RecordScanner.stringEnd(line, from: start + 1) else {
                return Found(kind: .invalid, range: start..<line.count, escaped: false)
            }
            return Found(kind: .string, range: (start + 1)..<end, escaped: escaped)
        }
        guard let end = valueEnd(line, from: start) else { return Found(kind: .invalid, range: start..<line.count, escaped: false) }
        let range = start..<end
        let kind: Kind
        switch first {
        case openBrace: kind = .object
        case openBracket: kind = .array
        case UInt8(ascii: "t"): kind = isLiteral(line, range, "true") ? .true : .invalid
        case UInt8(ascii: "f"): kind = isLiteral(line, range, "false") ? .false : .invalid
        case UInt8(ascii: "n"): kind = isLiteral(line, range, "null") ? .null : .invalid
        default: kind = .number  // checked when compared (JSONDecimal)
        }
        return Found(kind: kind, range: range, escaped: false)
    }

    private static func isLiteral(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        range.count == literal.utf8CodeUnitCount
            && memcmp(line.baseAddress! + range.lowerBound, literal.utf8Start, range.count) == 0
    }

    /// The index just past the value that starts at `start`, nil if it does
    /// not end in the line.
    private static func valueEnd(_ line: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        switch line[start] {
        case quote:
            return RecordScanner.stringEnd(line, from: start + 1).map { $0.0 + 1 }
        case openBrace, openBracket:
            return RecordScanner.containerEnd(line, from: start)
        default:
            var end = start
            while end < line.count {
                let byte = line[end]
                if byte == comma || byte == closeBrace || byte == closeBracket || isWhitespace(byte) { break }
                end += 1
            }
            return end > start ? end : nil
        }
    }

    @inline(__always)
    private static func skipWhitespace(_ line: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var index = start
        while index < line.count && isWhitespace(line[index]) { index += 1 }
        return index
    }

    @inline(__always)
    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}

private let quote = UInt8(ascii: "\"")
private let colon = UInt8(ascii: ":")
private let comma = UInt8(ascii: ",")
private let openBrace = UInt8(ascii: "{")
private let closeBrace = UInt8(ascii: "}")
private let openBracket = UInt8(ascii: "[")
private let closeBracket = UInt8(ascii: "]")
