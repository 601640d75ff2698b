import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// A sealed segment's `.idx` crafted to pass its CRC with values out of
/// range (blocks past the segment, ordinals past the lines, counts no file
/// could hold…) never crashes a reader: it is refused, ignored and rebuilt,
/// and every record is served as stored — or, where what it says cannot be
/// told wrong without the segment's bytes (a line's time or where it
/// starts), the lines it misplaces are named, never served wrong. Each query runs in a `stoa` child
/// process, so that a trap is seen as a signal, not the end of the tests.
@Suite struct HostileIndexTests {
    let stoa = builtProduct("stoa")

    /// Sealed 8 KiB segments with several types, conversations, and one
    /// record in twenty late by a second (the late list).
    func makeStore(_ directory: TemporaryDirectory) throws {
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 8 << 10
        let store = try Store(at: directory.path, creating: configuration)
        for n in 0..<600 {
            let ts = 1_795_000_000_000 + n * 10 - (n % 20 == 19 ? 1000 : 0)
            try store.append(#"{"ts":\#(ts),"type":"t\#(n % 3)","session":"s\#(n % 5)","n":\#(n)}"#)
        }
        try store.close()
    }

    /// `bytes` with `width` bytes at `offset` set to `value` (little-endian), and its CRC made right again.
    func mutated(_ bytes: [UInt8], at offset: Int, width: Int, to value: UInt64) -> [UInt8] {
        var bytes = bytes
        for byte in 0..<width where offset + byte < bytes.count - 4 {
            bytes[offset + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(byte)))
        }
        let crc = IndexFile.fileChecksum(bytes[..<(bytes.count - 4)])
        for byte in 0..<4 { bytes[bytes.count - 4 + byte] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(byte))) }
        return bytes
    }

    @Test func aHostileIndexWithARightCRCNeverCrashesAQuery() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory)
        let segments = listDirectory(directory.appending("segments")).filter { $0.hasSuffix(".idx") }.sorted()
        try #require(segments.count >= 3)
        let indexPath = directory.appending("segments/" + segments[1])
        let original = try readBytes(indexPath)
        let file = try #require(IndexFile.decode(original))
        let queries = [[String](), ["--type", "t1"], ["--conversation", "s2", "--reverse"]]
        let expected = try queries.map { try run(stoa, ["query", directory.path] + $0).stdout }
        #expect(expected[0].split(separator: "\n").count == 600)

        // Each field of the header and of the first and last blocks (76
        // bytes each, from byte 144), then fields at random, each set to 0,
        // to all ones, past the file's end and past the segment's.
        let header: [(Int, Int)] = [(12, 4), (16, 8), (24, 8), (32, 8), (112, 4), (116, 8), (124, 8), (132, 8), (140, 4)]
        let blockFields: [(Int, Int)] = [(0, 4), (4, 4), (8, 8), (16, 4), (20, 8), (28, 8), (36, 8), (44, 8), (52, 4), (56, 8), (64, 4), (68, 4), (72, 4)]
        var fields = header
        for block in [0, file.index.blocks.count - 1] { fields += blockFields.map { (144 + 76 * block + $0.0, $0.1) } }
        let head = original.count - IndexFile.footerBytes - file.index.lineChecks.count
        var random = SeededGenerator(seed: 13)
        for _ in 0..<30 { fields.append((Int.random(in: 144..<(head - 4), using: &random), [1, 4, 8].randomElement(using: &random)!)) }
        let values: [UInt64] = [0, .max, UInt64(original.count), file.plainBytes + 1, 1]

        var refused = 0
        var damageNamed = 0
        for (offset, width) in fields {
            for value in values {
                let bytes = mutated(original, at: offset, width: width, to: value)
                // A file refused at load is ignored whatever the query: one is enough.
                let isRefused = IndexFile.decode(bytes) == nil
                if isRefused { refused += 1 }
                for (query, want) in zip(queries, expected).prefix(isRefused ? 1 : queries.count) {
                    try Data(bytes).write(to: URL(fileURLWithPath: indexPath))
                    let result = try run(stoa, ["query", directory.path] + query)
                    #expect(result.signal == nil, "byte \(offset) (\(width)) = \(value), \(query): killed by signal \(result.signal ?? 0)")
                    if result.signal != nil { return }
                    if result.status == 0 {
                        #expect(result.stdout == want, "byte \(offset) (\(width)) = \(value), \(query)")
                    } else {
                        // What the index says no longer matches the segment: a line
                        // is served only as stored, and each one not served is named.
                        #expect(result.status == 1, "byte \(offset) (\(width)) = \(value), \(query): \(result.stderr)")
                        let named = Set(
                            result.stderr.split(separator: "\n").compactMap { line -> Int? in
                                guard let open = line.range(of: "(seq ") else { return nil }
                                return Int(line[open.upperBound...].prefix { $0.isNumber })
                            })
                        let printed = result.stdout.split(separator: "\n")
                        #expect(Set(printed).count == printed.count && Set(printed).isSubset(of: want.split(separator: "\n")))
                        for line in Set(want.split(separator: "\n")).subtracting(printed) {
                            let seq = try #require(Int(line.split(separator: #""n":"#).last!.prefix { $0.isNumber }))
                            #expect(named.contains(seq), "byte \(offset) (\(width)) = \(value), \(query): seq \(seq) neither served nor named")
                        }
                        named.count > 0 ? (damageNamed += 1) : ()
                    }
                }
            }
        }
        // Most are refused at load; the rest (line tables that decode but
        // no longer match their segment) are named line by line.
        #expect(refused > fields.count * values.count / 2, "\(refused) refused, \(damageNamed) named damage")
    }

    /// Found by `Tools/fuzz.sh index` (Tools/Fuzz/regressions/index/conversation-filter-bit):
    /// the conversations' Bloom filter was checked for its size only, so a
    /// filter that misses a name (a file crafted or written wrong, its CRC
    /// right) was trusted, and a query for that conversation passed over the
    /// segment and printed nothing, with exit 0. Now the filter must be the
    /// one of the names: the file is refused, ignored and rebuilt, and the
    /// query finds every record.
    @Test func aConversationFilterThatMissesANameIsRefused() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory)
        let segments = listDirectory(directory.appending("segments")).filter { $0.hasSuffix(".idx") }.sorted()
        let indexPath = directory.appending("segments/" + segments[1])
        let original = try readBytes(indexPath)
        let file = try #require(IndexFile.decode(original))
        let query = ["--conversation", "s2"]
        let expected = try run(stoa, ["query", directory.path] + query).stdout
        #expect(expected.split(separator: "\n").count == 120)

        // The filter: its length, then its bytes, then the damaged lines' count (0).
        let names = file.index.conversations.sorted().map(\.0)
        let filter = ConversationTable.filter(of: names)
        let stored = withUnsafeBytes(of: UInt32(filter.count).littleEndian, Array.init) + filter + [0, 0, 0, 0]
        let at = try #require(original.firstRange(of: stored)).lowerBound + 4
        // Every bit of the filter cleared: no name is in it.
        let bytes = mutated(original, at: at, width: filter.count, to: 0)
        #expect(IndexFile.decode(bytes) == nil)
        try Data(bytes).write(to: URL(fileURLWithPath: indexPath))
        let result = try run(stoa, ["query", directory.path] + query)
        #expect(result.status == 0)
        #expect(result.stdout == expected)
    }
}
