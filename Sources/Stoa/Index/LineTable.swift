/// A block's line table: every line's time, and where every eighth line
/// starts, so that a query can pick a block's records by time and go
/// straight to the lines it wants without parsing any.
///
/// A byte `e`: every time in the block is a multiple of 10^e µs (0 to 6:
/// logs that keep milliseconds or seconds); then varints, one line after
/// the other, a damaged line repeating the time before it:
///
/// ```
/// for line i of the block:
///   if i > 0 and i % 8 == 0:  varint (start of line i − start of line i − 8)
///   varint zigzag((time of line i − time of line i − 1) / 10^e)    (time of line −1: 0)
/// ```
///
/// Times take about 2 bytes a line when they keep microseconds, 1 when they
/// keep milliseconds; marks a quarter of a byte. Lines between marks are
/// found with `memchr`, at most seven.
package enum LineTable {
    static let markInterval: UInt32 = 8

    /// Appends the table of a block whose lines have `times`, and whose
    /// every eighth line starts at `marks` (from the block's start; the
    /// first line's mark, 0, left out).
    package static func append(times: [Int64], marks: [UInt32], to bytes: inout IndexBytes) {
        var exponent = 0
        var unit: Int64 = 1
        while exponent < 6 && times.allSatisfy({ $0 % (unit * 10) == 0 }) {
            exponent += 1
            unit *= 10
        }
        bytes.append(UInt8(exponent))
        var last: Int64 = 0
        for (line, time) in times.enumerated() {
            if line > 0 && line % Int(markInterval) == 0 {
                let mark = line / Int(markInterval)
                Varint.append(UInt64(marks[mark - 1] - (mark > 1 ? marks[mark - 2] : 0)), to: &bytes)
            }
            Varint.append(zigzag(time / unit &- last / unit), to: &bytes)
            last = time
        }
    }

    static func zigzag(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }

    static func unzigzag(_ value: UInt64) -> Int64 { Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1) }

    /// Decodes the table of a block of `count` lines. Calls `body` with each
    /// line's number in the block and its time until it returns false, and
    /// puts the marks it passed in `marks` (`marks[k]`: where line `8k`
    /// starts, from the block's start). False when the table is malformed.
    package static func decode(
        _ table: UnsafeBufferPointer<UInt8>, count: Int, marks: inout [UInt32], _ body: (Int, Int64) -> Bool
    ) -> Bool {
        var position = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while position < table.count && shift < 64 {
                let byte = table[position]
                position += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
            return nil
        }
        marks.removeAll(keepingCapacity: true)
        marks.append(0)
        guard position < table.count, table[0] <= 6 else { return false }
        var unit: Int64 = 1
        for _ in 0..<table[0] { unit *= 10 }
        position = 1
        var time: Int64 = 0
        for line in 0..<count {
            if line > 0 && line % Int(markInterval) == 0 {
                guard let delta = varint(), delta <= UInt64(UInt32.max - marks[marks.count - 1]) else { return false }
                marks.append(marks[marks.count - 1] + UInt32(delta))
            }
            guard let delta = varint() else { return false }
            time &+= unzigzag(delta) &* unit
            if !body(line, time) { return true }
        }
        return position == table.count
    }
}
