extension RecordScanner {
    /// Finds the fields of a line Stoa stored — compact, and validated when it
    /// was appended — without validating it again: it steps over the values
    /// it does not need (eight bytes at a time to the end of each string)
    /// instead of checking every byte, several times faster than ``scan(_:)``.
    ///
    /// It never reads outside `bytes`. When the line does not have the shape
    /// of a stored record it returns nil, and the caller runs the strict
    /// ``scan(_:)``, which says what is wrong. It does not catch every kind
    /// of damage (a flipped byte inside a string passes): `stoa verify`,
    /// which checks the segments' SHA-256 and every line strictly, does.
    /// Once the time, type and conversation are each found under their
    /// first configured name, it stops: the rest of the line is not read.
    package func scanStored(_ bytes: UnsafeBufferPointer<UInt8>) -> Summary? {
        let count = bytes.count
        guard count >= 2, bytes[0] == UInt8(ascii: "{"), bytes[count - 1] == UInt8(ascii: "}") else { return nil }
        var summary = Summary()
        if count == 2 { return summary }
        var best = (Int.max, Int.max, Int.max)
        var index = 1
        while true {
            // A key.
            guard index < count, bytes[index] == quoteByte,
                let (keyEnd, keyEscaped) = Self.stringEnd(bytes, from: index + 1)
            else { return nil }
            // Escapes are decoded only once checked: the line is not validated.
            if keyEscaped && !JSONString.hasValidEscapes(UnsafeBufferPointer(rebasing: bytes[(index + 1)..<keyEnd])) {
                return nil
            }
            let role = matchKey(bytes, (index + 1)..<keyEnd, escaped: keyEscaped)
            index = keyEnd + 1
            guard index + 1 < count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            // Its value.
            let first = bytes[index]
            let kind: Value.Kind
            let range: Range<Int>
            var escaped = false
            if first == quoteByte {
                guard let (end, hasEscapes) = Self.stringEnd(bytes, from: index + 1) else { return nil }
                kind = .string
                range = (index + 1)..<end
                escaped = hasEscapes
                index = end + 1
            } else if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
                guard let end = Self.containerEnd(bytes, from: index) else { return nil }
                kind = .other
                range = index..<end
                index = end
            } else {
                var end = index
                while end < count && bytes[end] != UInt8(ascii: ",") && bytes[end] != UInt8(ascii: "}") { end += 1 }
                guard end > index else { return nil }
                kind = first == UInt8(ascii: "-") || (first >= 0x30 && first <= 0x39) ? .number : .other
                range = index..<end
                index = end
            }
            if let role {
                // A field's string is decoded later (its type, its conversation, its time).
                if escaped && !JSONString.hasValidEscapes(UnsafeBufferPointer(rebasing: bytes[range])) { return nil }
                let value = Value(kind: kind, range: range, escaped: escaped, name: role)
                let (field, priority) = roles[role]
                switch field {
                case .time:
                    if priority < best.0 {
                        best.0 = priority
                        summary.time = value
                    }
                case .type:
                    summary.hasTypeKey = true
                    if kind == .string && priority < best.1 {
                        best.1 = priority
                        summary.type = value
                    }
                case .conversation:
                    if kind != .other && priority < best.2 {
                        best.2 = priority
                        summary.conversation = value
                    }
                }
            }
            // Each field found under its first name: no later key can win, so
            // the rest of the line is not read.
            if best == (0, 0, 0) { return summary }
            guard index < count else { return nil }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            return bytes[index] == UInt8(ascii: "}") && index == count - 1 ? summary : nil
        }
    }

    /// Which configured name the key in `range` is, if any.
    @inline(__always)
    private func matchKey(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, escaped: Bool) -> Int? {
        if escaped {
            let decoded = JSONString.decode(UnsafeBufferPointer(rebasing: bytes[range]))
            return names.firstIndex(of: decoded)
        }
        return table.match(bytes, range.lowerBound, range.upperBound)
    }

    /// The index of the quote that closes the string whose body starts at
    /// `start`, and whether the body has a backslash.
    ///
    /// One pass, eight bytes at a time: stored strings are mostly short, so
    /// this beats a `memchr` for the quote followed by one for a backslash.
    @inline(__always)
    static func stringEnd(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> (Int, Bool)? {
        let base = bytes.baseAddress!
        let count = bytes.count
        var index = start
        var escaped = false
        while true {
            // Eight bytes at a time to the next quote or backslash…
            while index &+ 8 <= count {
                let marks = quotesAndBackslashes(UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)))
                if marks != 0 {
                    index &+= marks.trailingZeroBitCount &>> 3
                    break
                }
                index &+= 8
            }
            // …then byte by byte near the end.
            while index < count && base[index] != quoteByte && base[index] != backslashByte { index &+= 1 }
            guard index < count else { return nil }
            if base[index] == quoteByte { return (index, escaped) }
            // A backslash: the byte after it is escaped, whatever it is.
            escaped = true
            index &+= 2
        }
    }

    /// The quotes and backslashes of the eight bytes of `word` (little-endian):
    /// each has its high bit set. Borrows can mark a byte after the first
    /// mark wrongly, never before it, so the lowest mark is exact.
    @inline(__always)
    private static func quotesAndBackslashes(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quotes = word ^ 0x2222_2222_2222_2222
        let backslashes = word ^ 0x5C5C_5C5C_5C5C_5C5C
        return (((quotes &- ones) & ~quotes) | ((backslashes &- ones) & ~backslashes)) & 0x8080_8080_8080_8080
    }

    /// The index just past the object or array that opens at `start`.
    static func containerEnd(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var depth = 0
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case quoteByte:
                guard let (end, _) = stringEnd(bytes, from: index + 1) else { return nil }
                index = end
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > storedMaxDepth { return nil }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return index + 1 }
            default:
                break
            }
            index += 1
        }
        return nil
    }
}

private let quoteByte = UInt8(ascii: "\"")
private let backslashByte = UInt8(ascii: "\\")
