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

    /// The varint at `position` in `table`, moving `position` past it; nil
    /// when the table ends inside it or it is longer than 64 bits.
    @inline(__always)
    static func readVarint(_ table: UnsafeBufferPointer<UInt8>, at position: inout Int) -> UInt64? {
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
        func varint() -> UInt64? { readVarint(table, at: &position) }
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

    /// Decodes the table of a block of `count` lines as far as the last of
    /// `lines` (line numbers in the block, ascending, each below `count`):
    /// calls `body` with each of them and its time, and
    /// puts the marks passed in `marks`, as ``decode(_:count:marks:_:)``
    /// does. False when the part of the table read is malformed, or a line
    /// is not in the block.
    ///
    /// What a query reads to pick a few lines of a block: no call for the
    /// lines between, and none of the table after the last one.
    ///
    /// - Complexity: O(the last line's number).
    package static func decode(
        _ table: UnsafeBufferPointer<UInt8>, count: Int, lines: UnsafeBufferPointer<UInt32>, marks: inout [UInt32],
        _ body: (Int, Int64) -> Void
    ) -> Bool {
        marks.removeAll(keepingCapacity: true)
        marks.append(0)
        guard let lastLine = lines.last else { return true }
        guard Int(lastLine) < count, table.count > 0, table[0] <= 6 else { return false }
        var unit: Int64 = 1
        for _ in 0..<table[0] { unit *= 10 }
        let end = table.count
        var position = 1
        // A varint: most take one or two bytes.
        @inline(__always) func varint() -> UInt64? {
            guard position < end else { return nil }
            let first = table[position]
            if first < 0x80 {
                position += 1
                return UInt64(first)
            }
            if position + 1 < end && table[position + 1] < 0x80 {
                let value = UInt64(first & 0x7F) | UInt64(table[position + 1]) << 7
                position += 2
                return value
            }
            return readVarint(table, at: &position)
        }
        var time: Int64 = 0
        var mark: UInt32 = 0
        var next = 0
        var wanted = Int(lines[0])
        for line in 0...Int(lastLine) {
            if line & Int(markInterval - 1) == 0 && line > 0 {
                guard let delta = varint(), delta <= UInt64(UInt32.max - mark) else { return false }
                mark += UInt32(delta)
                marks.append(mark)
            }
            guard let delta = varint() else { return false }
            time &+= unzigzag(delta) &* unit
            if line == wanted {
                body(line, time)
                next += 1
                // (Ascending: a line named twice is handed out once.)
                while next < lines.count && Int(lines[next]) <= line { next += 1 }
                if next == lines.count { break }
                wanted = Int(lines[next])
            }
        }
        return true
    }

    /// Walks the table of a block of `count` lines as far as the last of
    /// `lines` (line numbers in the block, ascending, each below `count`)
    /// without decoding its times: calls `body` with each of them, its
    /// mark (where line `8 × (line / 8)` starts, from the block's start),
    /// and, for a line in the second half of its group of eight when a
    /// group follows, the next group's mark (nil otherwise): the line is
    /// then found sooner from there, backwards. False when the part of the
    /// table walked ends too soon or a mark does not fit, or a line is not
    /// in the block.
    ///
    /// For a query that takes each line's time from the line itself: the
    /// times it passes are skipped eight bytes at a time, not decoded.
    ///
    /// - Complexity: O(the last line's number), a few operations for each
    ///   eight bytes of the table before it.
    @inline(__always)
    package static func forEachMark(
        _ table: UnsafeBufferPointer<UInt8>, count: Int, lines: UnsafeBufferPointer<UInt32>,
        _ body: (Int, UInt32, UInt32?) -> Void
    ) -> Bool {
        guard let lastLine = lines.last else { return true }
        guard Int(lastLine) < count, table.count > 0, table[0] <= 6 else { return false }
        let bytes = table.baseAddress!
        let end = table.count
        let interval = Int(markInterval)
        var position = 1
        // Steps over `n` varints: the bytes below 0x80 end them.
        @inline(__always) func skip(_ n: Int) -> Bool {
            var n = n
            while n > 0 {
                if end - position >= 8 {
                    let word = UInt64(littleEndian: UnsafeRawPointer(bytes + position).loadUnaligned(as: UInt64.self))
                    // Byte i of `counts`: how many varints end in bytes 0...i
                    // (a multiply, not a population count, which the
                    // baseline x86-64 lacks).
                    let ends = (~word & 0x8080_8080_8080_8080) >> 7
                    let counts = ends &* 0x0101_0101_0101_0101
                    let total = Int(counts >> 56)
                    if total < n {
                        n -= total
                        position += 8
                        continue
                    }
                    // The first byte whose count reaches n.
                    let reached = ((counts | 0x8080_8080_8080_8080) &- UInt64(n) &* 0x0101_0101_0101_0101) & 0x8080_8080_8080_8080
                    position += (reached.trailingZeroBitCount >> 3) + 1
                    return true
                }
                guard position < end else { return false }
                if bytes[position] < 0x80 { n -= 1 }
                position += 1
            }
            return true
        }
        // The mark of group `group`, whose times start at `position`, and
        // the mark of the group before.
        var group = 0
        var mark: UInt32 = 0
        var previous: UInt32 = 0
        // Steps to the next group: over this one's times, then its mark.
        @inline(__always) func advance() -> Bool {
            guard skip(interval) else { return false }
            var delta: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard position < end, shift < 35 else { return false }
                let byte = bytes[position]
                position += 1
                delta |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { break }
                shift += 7
            }
            guard delta <= UInt64(UInt32.max - mark) else { return false }
            previous = mark
            mark += UInt32(delta)
            group += 1
            return true
        }
        for line in lines {
            let wanted = Int(line) / interval
            if wanted == group - 1 {
                // Its group's end is known already (a line before it wanted it).
                body(Int(line), previous, mark)
                continue
            }
            while group < wanted {
                guard advance() else { return false }
            }
            if Int(line) % interval >= interval / 2 && (wanted + 1) * interval < count {
                guard advance() else { return false }
                body(Int(line), previous, mark)
            } else {
                body(Int(line), mark, nil)
            }
        }
        return true
    }
}
