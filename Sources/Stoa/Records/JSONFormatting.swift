/// Formatting of JSON text that is already valid (stored records).
package enum JSONFormatting {
    /// `bytes` indented by two spaces per level, `": "` after keys: for people.
    ///
    /// - Precondition: `bytes` is valid JSON (every stored record is).
    package static func pretty(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count * 2)
        var depth = 0
        var inString = false
        var escapeNext = false
        var justOpened = false
        func newline() {
            output.append(0x0A)
            output.append(contentsOf: repeatElement(0x20, count: depth * 2))
        }
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
                continue
            }
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if justOpened { newline() }
                output.append(byte)
                depth += 1
                justOpened = true
                continue
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if !justOpened { newline() }
                output.append(byte)
            case UInt8(ascii: ","):
                output.append(byte)
                newline()
            case UInt8(ascii: ":"):
                output.append(contentsOf: [UInt8(ascii: ":"), 0x20])
            case 0x20, 0x09, 0x0A, 0x0D:
                break
            default:
                if justOpened { newline() }
                if byte == UInt8(ascii: "\"") { inString = true }
                output.append(byte)
            }
            justOpened = false
        }
        return output
    }

    /// `text` as a JSON string, with its quotes.
    package static func quoted(_ text: String) -> String {
        var bytes: [UInt8] = []
        JSONString.appendQuoted(text, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
