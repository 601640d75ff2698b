import Stoa

/// The gzip member reader (``Gzip``, and a foreign `.gz`'s
/// ``ForeignLogFile/inflate(_:path:)``). No input traps; a damaged member
/// is a `.damaged` error naming an offset inside the input, and what
/// inflated before it is what the foreign reader keeps; any bytes, made a
/// member, inflate back to themselves, alone and after the input's members.
enum GzipTarget {
    static func run(_ input: [UInt8]) throws(FuzzFinding) {
        var plain: [UInt8] = []
        let whole = input.withUnsafeBufferPointer { bytes in
            Result { () throws(StoaError) in try Gzip.decompress(bytes, into: &plain, path: "fuzz.gz") }
        }
        let (kept, damage) = ForeignLogFile.inflate(input, path: "fuzz.gz")
        switch whole {
        case .success:
            try expect(damage == nil && kept == plain, "the foreign reader and the segment reader inflate the input otherwise")
        case .failure(let error):
            try expect(error.code == .damaged, "a bad member threw \(error.code): \(error.message)")
            try expect((0..<input.count).contains(error.offset ?? -1), "a bad member's offset \(String(describing: error.offset)) is outside the input")
            try expect(damage?.offset == error.offset, "the foreign reader stops at another member")
            try expect(kept.count <= plain.count && plain.starts(with: kept), "the foreign reader keeps other bytes than inflated")
        }
        // A member of the input's bytes reads back, alone and after its members.
        let member = Gzip.member(input, level: Int32(input.first.map { $0 % 9 } ?? 0) + 1)
        var back: [UInt8] = []
        let alone = member.withUnsafeBufferPointer { bytes in
            Result { () throws(StoaError) in try Gzip.decompress(bytes, into: &back, path: "fuzz.gz") }
        }
        try expect((try? alone.get()) != nil && back == input, "a member of \(input.count) bytes does not inflate back to them")
        if case .success = whole {
            var both: [UInt8] = []
            try? (input + member).withUnsafeBufferPointer { (bytes) throws(StoaError) in try Gzip.decompress(bytes, into: &both, path: "fuzz.gz") }
            try expect(both == plain + input, "a member after the input's members does not inflate back")
        }
    }
}
