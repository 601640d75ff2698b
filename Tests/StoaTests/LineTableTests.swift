import StoaTestSupport
import Testing

@testable import Stoa

/// The line tables of an index's blocks: what queries select records by
/// before they read a line.
@Suite struct LineTableTests {
    func roundTrip(_ times: [Int64], marks: [UInt32]) -> (table: [UInt8], times: [Int64], marks: [UInt32], valid: Bool) {
        var table: IndexBytes = []
        LineTable.append(times: times, marks: marks, to: &table)
        var decoded: [Int64] = []
        var decodedMarks: [UInt32] = []
        let valid = table.withUnsafeBufferPointer {
            LineTable.decode($0, count: times.count, marks: &decodedMarks) { line, time in
                #expect(line == decoded.count)
                decoded.append(time)
                return true
            }
        }
        return (Array(table), decoded, decodedMarks, valid)
    }

    @Test(arguments: [(Int64(1), UInt8(0)), (7, 0), (1000, 3), (1_000_000, 6), (60_000_000, 6), (-1000, 3)])
    func timesAndMarksComeBackExactly(unit: Int64, exponent: UInt8) {
        var random = SeededGenerator(seed: 3)
        // Mostly rising by a few units, some going back (clock skew).
        var time = Int64(1_764_000_000_000_000) / unit / 1000 * 1000
        let times = (0..<203).map { _ -> Int64 in
            time += Int64.random(in: -3...5, using: &random)
            return time * unit
        }
        let marks = stride(from: 8, to: times.count, by: 8).map { UInt32($0 * 611) }
        let result = roundTrip(times, marks: marks)
        #expect(result.valid)
        #expect(result.times == times)
        #expect(result.marks == [0] + marks)
        #expect(result.table.first == exponent)
        // Small steps in the block's unit: a byte each, whatever the unit.
        if unit.magnitude <= 1_000_000 {
            #expect(result.table.count < times.count + marks.count * 3 + 16, "\(result.table.count) bytes")
        }
    }

    @Test func microsecondsApartTakeAboutTwoBytesALine() {
        var time: Int64 = 1_764_000_000_000_000
        let times = (0..<1000).map { n -> Int64 in
            time += Int64(1000 + (n * 7919) % 3000)
            return time
        }
        let result = roundTrip(times, marks: stride(from: 8, to: 1000, by: 8).map { UInt32($0 * 500) })
        #expect(result.valid && result.times == times)
        #expect(result.table.count < 2_400, "\(result.table.count) bytes for 1000 lines")
    }

    @Test func aDamagedTableIsRefusedNotMisread() {
        let times: [Int64] = (0..<20).map { 1_764_000_000_000_000 + Int64($0) * 1234 }
        let good = roundTrip(times, marks: [100, 200]).table
        var marks: [UInt32] = []
        func decodes(_ bytes: [UInt8], count: Int = 20) -> Bool {
            bytes.withUnsafeBufferPointer { LineTable.decode($0, count: count, marks: &marks) { _, _ in true } }
        }
        #expect(decodes(good))
        #expect(!decodes(Array(good.dropLast())), "cut short")
        #expect(!decodes(good + [0]), "a byte too many")
        #expect(!decodes(good, count: 21), "more lines than it holds")
        #expect(!decodes([9] + good.dropFirst()), "a unit of 10^9 µs")
        #expect(!decodes([]))
    }

    /// Decoding the table only as far as the lines wanted gives each its
    /// time and the marks passed, as the whole decode does; walking it for
    /// the marks only gives each line its group's mark (and the next
    /// group's, for a line nearer to it).
    @Test func partialWalksAgreeWithTheWholeDecode() {
        var random = SeededGenerator(seed: 5)
        for round in 0..<200 {
            let count = Int.random(in: 1...300, using: &random)
            var time: Int64 = 1_764_000_000_000_000
            let times = (0..<count).map { _ -> Int64 in
                time += Int64.random(in: -2000...(round % 3 == 0 ? 100 : 9_000_000), using: &random)
                return time
            }
            let marks = stride(from: 8, to: count, by: 8).map { UInt32($0 * 300 + Int.random(in: 0...299, using: &random)) }
            let whole = roundTrip(times, marks: marks)
            #expect(whole.valid)
            let lines = (0..<count).filter { _ in Int.random(in: 0..<6, using: &random) == 0 }.map(UInt32.init)
            var partialMarks: [UInt32] = []
            var got: [(Int, Int64)] = []
            var walked: [(Int, UInt32, UInt32?)] = []
            let (valid, marksValid) = whole.table.withUnsafeBufferPointer { table in
                lines.withUnsafeBufferPointer { lines in
                    (
                        LineTable.decode(table, count: count, lines: lines, marks: &partialMarks) { got.append(($0, $1)) },
                        LineTable.forEachMark(table, count: count, lines: lines) { walked.append(($0, $1, $2)) }
                    )
                }
            }
            #expect(valid && marksValid)
            #expect(got.map(\.0) == lines.map(Int.init) && got.map(\.1) == lines.map { times[Int($0)] })
            #expect(walked.map(\.0) == lines.map(Int.init))
            #expect(walked.map(\.1) == lines.map { whole.marks[Int($0) / 8] })
            // The next group's mark, for a line in the second half of a group that has one after it.
            #expect(walked.map(\.2) == lines.map { $0 % 8 >= 4 && Int($0) / 8 + 1 < whole.marks.count ? whole.marks[Int($0) / 8 + 1] : nil })
            #expect(partialMarks == Array(whole.marks.prefix((lines.last.map { Int($0) / 8 } ?? 0) + 1)))
            // A line past the block, or a table cut short, is refused.
            whole.table.withUnsafeBufferPointer { table in
                let past = [UInt32(count)]
                past.withUnsafeBufferPointer { past in
                    #expect(!LineTable.forEachMark(table, count: count, lines: past) { _, _, _ in })
                    #expect(!LineTable.decode(table, count: count, lines: past, marks: &partialMarks) { _, _ in })
                }
                if count > 16 {
                    let last = [UInt32(count - 1)]
                    let cut = UnsafeBufferPointer(rebasing: table[0..<(table.count / 3)])
                    last.withUnsafeBufferPointer { last in
                        #expect(!LineTable.forEachMark(cut, count: count, lines: last) { _, _, _ in })
                        #expect(!LineTable.decode(cut, count: count, lines: last, marks: &partialMarks) { _, _ in })
                    }
                }
            }
        }
    }
}
