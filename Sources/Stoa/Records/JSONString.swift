#if canImport(Glibc)
import Glibc
#endif

/// Helpers for JSON text that the scanner has already validated.
package enum JSONString {
    /// Decodes the body of a valid JSON string (between the quotes) to UTF-8.
    static func decode(_ body: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(body.count)
        var index = 0
        func hex4(at position: Int) -> UInt32 {
            var value: UInt32 = 0
            for k in position..<(position + 4) {
                let byte = body[k]
                let digit: UInt32 =
                    switch byte {
                    case 0x30...0x39: UInt32(byte - 0x30)
                    case 0x41...0x46: UInt32(byte - 0x41 + 10)
                    default: UInt32(byte - 0x61 + 10)
                    }
                value = value << 4 | digit
            }
            return value
        }
        while index < body.count {
            let byte = body[index]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                index += 1
                continue
            }
            let kind = body[index + 1]
            index += 2
            switch kind {
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(at: index)
                index += 4
                if scalar >= 0xD800 && scalar <= 0xDBFF {
                    let low = hex4(at: index + 2)
                    index += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                output.append(contentsOf: UTF8.encode(Unicode.Scalar(scalar)!)!)
            default: output.append(kind)  // " \ /
            }
        }
        return output
    }

    /// Whether every backslash escape of a string body is one ``decode(_:)``
    /// reads: `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, or `\u` and
    /// four hex digits that are not a surrogate, or a high surrogate and a
    /// low one. For bodies not validated by the scanner (a stored line read
    /// by the fast scan), before they are decoded: `decode` traps on others.
    ///
    /// - Complexity: O(n), a `memchr` for each backslash.
    static func hasValidEscapes(_ body: UnsafeBufferPointer<UInt8>) -> Bool {
        func hex4(at position: Int) -> UInt32? {
            guard position + 4 <= body.count else { return nil }
            var value: UInt32 = 0
            for k in position..<(position + 4) {
                let byte = body[k]
                let digit: UInt32
                switch byte {
                case 0x30...0x39: digit = UInt32(byte - 0x30)
                case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
                case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
                default: return nil
                }
                value = value << 4 | digit
            }
            return value
        }
        guard let base = body.baseAddress else { return true }
        var index = 0
        while index < body.count, let hit = memchr(base + index, Int32(UInt8(ascii: "\\")), body.count - index) {
            index = base.distance(to: hit.assumingMemoryBound(to: UInt8.self)) + 1
            guard index < body.count else { return false }
            switch body[index] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                index += 1
            case UInt8(ascii: "u"):
                guard let unit = hex4(at: index + 1), !(0xDC00...0xDFFF).contains(unit) else { return false }
                index += 5
                if (0xD800...0xDBFF).contains(unit) {
                    guard index + 1 < body.count, body[index] == UInt8(ascii: "\\"), body[index + 1] == UInt8(ascii: "u"),
                        let low = hex4(at: index + 2), (0xDC00...0xDFFF).contains(low)
                    else { return false }
                    index += 6
                }
            default:
                return false
            }
        }
        return true
    }

    /// Decodes a valid JSON string body to a Swift string.
    package static func decodeString(_ body: UnsafeBufferPointer<UInt8>, escaped: Bool) -> String {
        escaped ? String(decoding: decode(body), as: UTF8.self) : String(decoding: body, as: UTF8.self)
    }

    /// Appends `bytes` (valid JSON) without the whitespace outside strings.
    package static func appendCompacted(_ bytes: UnsafeBufferPointer<UInt8>, to output: inout [UInt8]) {
        var inString = false
        var escapeNext = false
        for byte in bytes {
            if inString {
                output.append(byte)
                if escapeNext {
                    escapeNext = false
                } else if byte == UInt8(ascii: "\\") {
                    escapeNext = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else {
                switch byte {
                case 0x20, 0x0A, 0x0D, 0x09: continue
                case UInt8(ascii: "\""): inString = true; output.append(byte)
                default: output.append(byte)
                }
            }
        }
    }

    /// Appends `text` as a JSON string, quotes included, escaping what JSON requires.
    ///
    /// Runs of bytes that need no escape are copied whole (most text is one
    /// such run): appending byte by byte cost a check of the array's
    /// uniqueness and capacity per byte.
    static func appendQuoted(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for (index, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                appendEscaped(byte, to: &output)
                start = index + 1
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
        output.append(UInt8(ascii: "\""))
    }

    /// Appends the escape of `byte`: a quote, a backslash or a control character.
    private static func appendEscaped(_ byte: UInt8, to output: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): output.append(contentsOf: [0x5C, 0x22])
        case UInt8(ascii: "\\"): output.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
        case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
        case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
        default:
            let digits = Array("0123456789abcdef".utf8)
            output.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, digits[Int(byte >> 4)], digits[Int(byte & 15)]])
        }
    }
}
