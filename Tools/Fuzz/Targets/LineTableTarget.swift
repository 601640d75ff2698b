import Stoa

/// A block's line table (``LineTable``). The input's first two bytes give
/// the block's line count, the rest is the table. No input traps; a table
/// that decodes whole, encoded again from its times and marks, decodes to
/// the same times and marks; and a decode stopped early (`body` returning
/// false) sees the same first lines.
enum LineTableTarget {
    static func run(_ input: [UInt8]) throws(FuzzFinding) {
        guard input.count >= 2 else { return }
        let count = Int(input[0]) | Int(input[1]) << 8
        let table = Array(input.dropFirst(2))
        var marks: [UInt32] = []
        var times: [Int64] = []
        let whole = table.withUnsafeBufferPointer { buffer in
            LineTable.decode(buffer, count: count, marks: &marks) { line, time in
                times.append(time)
                return true
            }
        }
        // Stopped after the first line: never more lines than asked for.
        var seen = 0
        var early: [UInt32] = []
        _ = table.withUnsafeBufferPointer { buffer in
            LineTable.decode(buffer, count: count, marks: &early) { _, _ in
                seen += 1
                return false
            }
        }
        try expect(seen <= 1, "a line table decode went on after its body returned false")
        guard whole else { return }
        try expect(times.count == count, "a line table of \(count) lines decoded \(times.count) times")
        try expect(marks.count == (count + 7) / 8 || (count == 0 && marks.count == 1), "a line table of \(count) lines has \(marks.count) marks")
        try expect(zip(marks, marks.dropFirst()).allSatisfy { $0 <= $1 }, "a line table's marks go backwards: \(marks.prefix(16))")
        var encoded: IndexBytes = []
        LineTable.append(times: times, marks: Array(marks.dropFirst()), to: &encoded)
        var marksAgain: [UInt32] = []
        var timesAgain: [Int64] = []
        let again = encoded.withUnsafeBufferPointer { buffer in
            LineTable.decode(buffer, count: count, marks: &marksAgain) { _, time in
                timesAgain.append(time)
                return true
            }
        }
        try expect(again && timesAgain == times && marksAgain == marks, "a line table encoded again decodes otherwise")
    }
}
