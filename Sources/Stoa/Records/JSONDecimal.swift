/// The exact value of a JSON number, for comparing numbers as numbers:
/// `1`, `1.0`, `1e0` and `10e-1` are equal, and `9007199254740993` is
/// greater than `9007199254740992` (doubles would call them equal).
///
/// Kept as a sign, the significant digits (no leading or trailing zeros)
/// and an exponent: the value is 0.d₁d₂… × 10^exponent. Zero has no digits
/// and no sign (`-0` is `0`).
package struct JSONDecimal: Hashable, Sendable, Comparable {
    package private(set) var negative: Bool
    /// The significant digits, as values 0–9.
    package private(set) var digits: [UInt8]
    package private(set) var exponent: Int

    /// Exponents past this many digits are held at it: a number's digits
    /// are far fewer than that, so the order of values is kept.
    private static let exponentLimit = 1 << 40

    /// The value of `text` if it is a JSON number (RFC 8259's grammar, the
    /// whole text), else nil.
    package init?(_ text: UnsafeBufferPointer<UInt8>) {
        let count = text.count
        var i = 0
        var negative = false
        if i < count && text[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        // The integer part: 0, or digits without a leading zero.
        let integerStart = i
        guard i < count, isDigit(text[i]) else { return nil }
        if text[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while i < count && isDigit(text[i]) { i += 1 }
        }
        let integerEnd = i
        var fractionStart = i
        var fractionEnd = i
        if i < count && text[i] == UInt8(ascii: ".") {
            i += 1
            fractionStart = i
            guard i < count, isDigit(text[i]) else { return nil }
            while i < count && isDigit(text[i]) { i += 1 }
            fractionEnd = i
        }
        var exponent = 0
        if i < count && (text[i] == UInt8(ascii: "e") || text[i] == UInt8(ascii: "E")) {
            i += 1
            var exponentNegative = false
            if i < count && (text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-")) {
                exponentNegative = text[i] == UInt8(ascii: "-")
                i += 1
            }
            guard i < count, isDigit(text[i]) else { return nil }
            while i < count && isDigit(text[i]) {
                exponent = min(exponent * 10 + Int(text[i] - 0x30), Self.exponentLimit)
                i += 1
            }
            if exponentNegative { exponent = -exponent }
        }
        guard i == count else { return nil }
        // The digits of both parts, leading zeros dropped (each moves the
        // point one place), then trailing zeros.
        var digits: [UInt8] = []
        digits.reserveCapacity(integerEnd - integerStart + fractionEnd - fractionStart)
        var leadingZeros = 0
        for k in integerStart..<integerEnd {
            if digits.isEmpty && text[k] == UInt8(ascii: "0") {
                leadingZeros += 1
            } else {
                digits.append(text[k] - 0x30)
            }
        }
        for k in fractionStart..<fractionEnd {
            if digits.isEmpty && text[k] == UInt8(ascii: "0") {
                leadingZeros += 1
            } else {
                digits.append(text[k] - 0x30)
            }
        }
        while digits.last == 0 { digits.removeLast() }
        self.digits = digits
        if digits.isEmpty {
            self.negative = false
            self.exponent = 0
        } else {
            self.negative = negative
            self.exponent = (integerEnd - integerStart) - leadingZeros + exponent
        }
    }

    /// The value of `text` if it is a JSON number, else nil.
    package init?(_ text: String) {
        var text = text
        guard let value = text.withUTF8({ JSONDecimal($0) }) else { return nil }
        self = value
    }

    package var isZero: Bool { digits.isEmpty }

    /// The value as an integer, when it is a whole number of at most 18
    /// digits: compared with ``plainInteger(_:)`` without building a decimal.
    package var smallInteger: Int64? {
        if isZero { return 0 }
        guard exponent >= digits.count && exponent <= 18 else { return nil }
        var value: Int64 = 0
        for digit in digits { value = value * 10 + Int64(digit) }
        for _ in digits.count..<exponent { value *= 10 }
        return negative ? -value : value
    }

    /// `text` as an integer when it is written as one (`-?[0-9]+`, no
    /// fraction or exponent) of at most 18 digits, else nil: the common
    /// case, read without allocating.
    @inline(__always)
    package static func plainInteger(_ text: UnsafeBufferPointer<UInt8>) -> Int64? {
        var i = 0
        let negative = text.count > 0 && text[0] == UInt8(ascii: "-")
        if negative { i = 1 }
        let digits = text.count - i
        guard digits >= 1 && digits <= 18 && (digits == 1 || text[i] != UInt8(ascii: "0")) else { return nil }
        var value: Int64 = 0
        while i < text.count {
            let digit = text[i] &- 0x30
            guard digit < 10 else { return nil }
            value = value &* 10 &+ Int64(digit)
            i += 1
        }
        return negative ? -value : value
    }

    package static func < (a: JSONDecimal, b: JSONDecimal) -> Bool {
        if a.isZero || b.isZero {
            if a.isZero && b.isZero { return false }
            return a.isZero ? !b.negative : a.negative
        }
        if a.negative != b.negative { return a.negative }
        let magnitudeLess =
            a.exponent != b.exponent
            ? a.exponent < b.exponent
            : a.digits.lexicographicallyPrecedes(b.digits)
        let magnitudeEqual = a.exponent == b.exponent && a.digits == b.digits
        if magnitudeEqual { return false }
        return a.negative ? !magnitudeLess : magnitudeLess
    }
}

@inline(__always)
private func isDigit(_ byte: UInt8) -> Bool { byte &- 0x30 < 10 }
