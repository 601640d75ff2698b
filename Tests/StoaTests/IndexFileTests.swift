import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

@Suite struct IndexFileTests {
    /// A store of several sealed segments, closed with their .idx written.
    func makeStore(_ directory: TemporaryDirectory, records: Int = 3000) throws {
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 32 << 10
        let store = try Store(at: directory.path, creating: configuration)
        var random = SeededGenerator(seed: 1)
        for n in 0..<records {
            let type = ["a", "b", "c", "error"].randomElement(using: &random)!
            try store.append(
                #"{"ts":\#(1_700_000_000 + n / 3 - Int.random(in: 0...2, using: &random)),"type":"\#(type)","session":"s\#(n % 17)","n":\#(n)}"#)
        }
        try store.waitForIndexes()
        try store.close()
    }

    func sealedSegments(_ directory: TemporaryDirectory) -> [String] {
        let names = listDirectory(directory.appending("segments")).filter { $0.hasSuffix(".jsonl") }
        return Array(names.dropLast()).map { directory.appending("segments/" + $0) }
    }

    func indexPath(_ segment: String) -> String { String(segment.dropLast(".jsonl".count)) + ".idx" }

    func everything(_ directory: TemporaryDirectory) throws -> [Record] {
        try StoreReader(at: directory.path).query(Query()).all()
    }

    @Test func sealedSegmentsGetAValidIndexWithDigestsAndAChain() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory)
        let segments = sealedSegments(directory)
        #expect(segments.count > 3)
        var previous = SHA256.zero
        for segment in segments {
            let bytes = try readBytes(segment)
            let name = try #require(SegmentName(fileName: Path.lastComponent(of: segment)))
            let file = try #require(IndexFile.load(indexPath(segment), base: name.base, fileSize: bytes.count))
            // The same index a fresh scan builds.
            var builder = SegmentIndexBuilder(base: name.base)
            bytes.withUnsafeBufferPointer { builder.addLines($0, encoder: RecordEncoder(fields: .default, maxRecordBytes: 1 << 20)) }
            #expect(file.index == builder.snapshot())
            // The digest is the SHA-256 that sha256sum computes.
            let sum = try run("/usr/bin/sha256sum", [segment])
            #expect(sum.stdout.hasPrefix(file.digest.hexString))
            #expect(file.chain == SHA256.chain(previous: previous, digest: file.digest))
            #expect(file.plainBytes == UInt64(bytes.count))
            previous = file.chain
        }
        #expect(!listDirectory(directory.appending("segments")).contains { $0.hasSuffix(".tmp") })
    }

    @Test func aLoadedIndexFindsEachConversationWithoutADictionary() throws {
        // Names of every length and byte order, non-ASCII included.
        var builder = SegmentIndexBuilder(base: 100)
        let names = ["b", "a", "ab", "", "é", "z" + String(repeating: "x", count: 40), "A", "a b", "日本"]
        for line in 0..<900 {
            let name = names[line * 7 % names.count]
            builder.add(length: 50, time: Int64(line), type: "t", conversation: line % 5 == 0 ? nil : name)
        }
        let built = builder.snapshot()
        let file = IndexFile(
            index: built, plainBytes: 45_000, fileBytes: 45_000, digest: SHA256.zero, chain: SHA256.zero, sealedAt: 0)
        let loaded = try #require(IndexFile.decode(file.encoded())).index
        #expect(loaded == built)
        #expect(loaded.conversations.count == names.count)
        for name in names {
            let expected = try #require(built.conversations[name])
            #expect(loaded.conversations[name] == expected, "\(name)")
            #expect(loaded.conversations[name]?.ordinals(in: 0..<900) == expected.ordinals(in: 0..<900))
        }
        for missing in ["c", "aa", "a ", "日"] { #expect(loaded.conversations[missing] == nil) }

        // A loaded table can grow again (an index resumed by a builder).
        var grown = loaded
        grown.conversations.append(900, to: "new")
        grown.conversations.append(901, to: "a")
        #expect(grown.conversations["new"]?.ordinals(in: 0..<1000) == [900])
        #expect(grown.conversations["a"]?.last == 901)
        #expect(grown.conversations.count == names.count + 1)
    }

    /// Format 6 ends the file with a CRC32C; an `.idx` of format 5 (zlib's
    /// CRC-32), as every store written before holds, is still read as it
    /// is, not rebuilt; one of format 5 ending with a CRC32C is refused.
    @Test func anIndexOfFormat5IsStillRead() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory)
        let expected = try everything(directory)
        let segment = try #require(sealedSegments(directory).dropFirst().first)
        var bytes = try readBytes(indexPath(segment))
        #expect(bytes[8..<12] == [6, 0, 0, 0])
        let current = try #require(IndexFile.decode(bytes))
        bytes.replaceSubrange(8..<12, with: [5, 0, 0, 0])
        bytes.removeLast(4)
        let formatFive = bytes + withUnsafeBytes(of: IndexFile.crc(bytes).littleEndian, Array.init)
        let wrongChecksum = bytes + withUnsafeBytes(of: IndexFile.fileChecksum(bytes[...]).littleEndian, Array.init)
        #expect(IndexFile.decode(wrongChecksum) == nil)
        #expect(IndexFile.decode(formatFive) == current)
        try writeBytes(formatFive, to: indexPath(segment))
        let name = try #require(SegmentName(fileName: Path.lastComponent(of: segment)))
        #expect(IndexFile.load(indexPath(segment), base: name.base, fileSize: try readBytes(segment).count) == current)
        #expect(try everything(directory) == expected)
        #expect(try readBytes(indexPath(segment)) == formatFive)  // not rebuilt
    }

    @Test func anIndexWithConversationsOutOfOrderIsRefused() throws {
        var builder = SegmentIndexBuilder(base: 0)
        builder.add(length: 10, time: 1, type: "t", conversation: "bbbb")
        builder.add(length: 10, time: 2, type: "t", conversation: "aaaa")
        let file = IndexFile(
            index: builder.snapshot(), plainBytes: 20, fileBytes: 20, digest: SHA256.zero, chain: SHA256.zero, sealedAt: 0)
        var bytes = file.encoded()
        #expect(IndexFile.decode(bytes) != nil)
        // Swap the two names (same length), then make the CRC right again: still refused.
        let first = try #require(bytes.firstRange(of: Array("aaaa".utf8)))
        let second = try #require(bytes.firstRange(of: Array("bbbb".utf8)))
        bytes.replaceSubrange(first, with: Array("bbbb".utf8))
        bytes.replaceSubrange(second, with: Array("aaaa".utf8))
        bytes.removeLast(4)
        withUnsafeBytes(of: IndexFile.fileChecksum(bytes[...]).littleEndian) { bytes += $0 }
        #expect(IndexFile.decode(bytes) == nil)
    }

    /// Found by `Tools/fuzz.sh index` (Tools/Fuzz/regressions/index/type-name-not-utf8):
    /// a type name that is not UTF-8 (a file crafted or damaged, its CRC
    /// right) was read with replacement characters, so the index named a
    /// type no record has. Stoa writes only strings: such a name, of a
    /// type, a conversation or a damaged line's reason, refuses the file.
    @Test(arguments: ["type", "conversation", "reason"])
    func anIndexWithANameThatIsNotUTF8IsRefused(_ which: String) throws {
        var builder = SegmentIndexBuilder(base: 0)
        builder.add(length: 10, time: 1, type: "type-t0", conversation: "conversation-c0")
        builder.addDamaged(length: 0, reason: "reason-r0")
        let file = IndexFile(
            index: builder.snapshot(), plainBytes: 10, fileBytes: 10, digest: SHA256.zero, chain: SHA256.zero, sealedAt: 0)
        var bytes = file.encoded()
        #expect(IndexFile.decode(bytes) != nil)
        // The name's last byte made 0xB0 (a continuation byte alone), then the CRCs made right again.
        let name = try #require(bytes.firstRange(of: Array("\(which)-".utf8)))
        bytes[name.upperBound + 1] = 0xB0
        let footer = bytes.count - IndexFile.footerBytes
        bytes.removeLast(4)
        withUnsafeBytes(of: IndexFile.fileChecksum(bytes[...]).littleEndian) { bytes += $0 }
        #expect(bytes.count == footer + IndexFile.footerBytes)
        #expect(IndexFile.decode(bytes) == nil)
    }

    /// Found by `Tools/fuzz.sh index` (Tools/Fuzz/regressions/index/unknown-flag):
    /// flag bits other than compressed (1) and partial (2) were ignored, so
    /// a file this version never writes was taken. Now it is refused.
    @Test func anIndexWithAnUnknownFlagIsRefused() throws {
        var builder = SegmentIndexBuilder(base: 0)
        builder.add(length: 10, time: 1, type: "t", conversation: nil)
        let file = IndexFile(
            index: builder.snapshot(), plainBytes: 10, fileBytes: 10, digest: SHA256.zero, chain: SHA256.zero, sealedAt: 0)
        var bytes = file.encoded()
        #expect(IndexFile.decode(bytes) != nil)
        bytes[15] = 0x80  // the flags' high byte (magic 8, version 4, flags 4)
        bytes.removeLast(4)
        withUnsafeBytes(of: IndexFile.fileChecksum(bytes[...]).littleEndian) { bytes += $0 }
        #expect(IndexFile.decode(bytes) == nil)
    }

    @Test func aRememberedHeaderIsDroppedWhenItsFileChanges() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory)
        let segment = try #require(sealedSegments(directory).first)
        let path = indexPath(segment)
        let name = try #require(SegmentName(fileName: Path.lastComponent(of: segment)))
        let size = try readBytes(segment).count
        // Settled (over a second old): remembered after the first read.
        var old = [timespec(tv_sec: 1_700_000_000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, path, &old, 0) == 0)
        let header = try #require(IndexHeader.load(path, base: name.base, fileSize: size))
        #expect(header == IndexHeader(try #require(IndexFile.load(path, base: name.base, fileSize: size))))
        #expect(IndexHeader.load(path, base: name.base, fileSize: size + 1) == nil)
        #expect(IndexHeader.load(path, base: name.base + 1, fileSize: size) == nil)
        // Changed in place: its time moves on, and the damage is seen.
        var bytes = try readBytes(path)
        bytes[bytes.count / 2] ^= 0x20
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.write(contentsOf: bytes)
        try handle.close()
        #expect(IndexHeader.load(path, base: name.base, fileSize: size) == nil)
        // Rewritten whole: read again.
        let store = try Store(at: directory.path)
        try store.waitForIndexes()
        try store.close()
        #expect(IndexHeader.load(path, base: name.base, fileSize: size) == header)
    }

    @Test func aDamagedIndexIsIgnoredAndRebuilt() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory)
        let expected = try everything(directory)
        let segments = sealedSegments(directory)
        // Flip a byte in one, cut another short, delete a third, and give a fourth another segment's index.
        var flipped = try readBytes(indexPath(segments[0]))
        flipped[flipped.count / 2] ^= 0x40
        try writeBytes(flipped, to: indexPath(segments[0]))
        let truncated = try readBytes(indexPath(segments[1]))
        try writeBytes(Array(truncated.prefix(truncated.count - 9)), to: indexPath(segments[1]))
        try FileManager.default.removeItem(atPath: indexPath(segments[2]))
        try FileManager.default.copyItem(atPath: indexPath(segments[0]), toPath: indexPath(segments[3]) + ".x")
        try FileManager.default.removeItem(atPath: indexPath(segments[3]))
        try FileManager.default.moveItem(atPath: indexPath(segments[3]) + ".x", toPath: indexPath(segments[3]))
        for segment in segments.prefix(4) {
            let name = SegmentName(fileName: Path.lastComponent(of: segment))!
            #expect(IndexFile.load(indexPath(segment), base: name.base, fileSize: try readBytes(segment).count) == nil)
        }
        // Readers give the same answers without them.
        #expect(try everything(directory) == expected)
        #expect(try StoreReader(at: directory.path).query(Query(types: ["error"], limit: 10)).all()
            == expected.filter { $0.type == "error" }.prefix(10).map { $0 })
        // Opening the store writes them again.
        let store = try Store(at: directory.path)
        try store.waitForIndexes()
        try store.close()
        for segment in segments.prefix(4) {
            let name = SegmentName(fileName: Path.lastComponent(of: segment))!
            #expect(IndexFile.load(indexPath(segment), base: name.base, fileSize: try readBytes(segment).count) != nil)
        }
        #expect(try everything(directory) == expected)
    }

    /// The filter of conversation names that lets a query pass over segments
    /// without the conversation: it never says no to a name it holds, and
    /// rarely yes to one it does not.
    @Test func theConversationFilterKnowsEveryNameAndFewOthers() throws {
        var builder = SegmentIndexBuilder(base: 0)
        let names = (0..<3000).map { "conv-agent-\($0 % 50)-\($0)" }
        for (line, name) in names.enumerated() {
            builder.add(length: 100, time: Int64(line) * 1000, type: "message", conversation: name)
        }
        let file = IndexFile(
            index: builder.snapshot(), plainBytes: 300_000, fileBytes: 300_000, digest: Array(repeating: 0, count: 32),
            chain: Array(repeating: 0, count: 32), sealedAt: 0)
        let loaded = try #require(IndexFile.decode(file.encoded()))
        #expect(loaded == file)
        for name in names { #expect(loaded.index.conversations.mayContain(.init(name)), "\(name)") }
        let strangers = (0..<10_000).filter { loaded.index.conversations.mayContain(.init("conv-other-\($0)")) }.count
        #expect(strangers < 300, "\(strangers) of 10,000 absent names pass the filter")
        // While being built, a segment's table answers exactly.
        #expect(builder.snapshot().conversations.mayContain(.init(names[7])))
        #expect(!builder.snapshot().conversations.mayContain(.init("conv-other-1")))
    }

    /// The filter's probes are the format's, `(low + i × step) % bits`,
    /// though found without dividing: `.idx` files written before still read
    /// the same.
    @Test(arguments: [8, 24, 4_000, 1_250_008])
    func theFilterProbesTheFormatsBits(bytes: Int) {
        let filter = NameFilter(IndexBytes([UInt8](repeating: 0, count: bytes)))
        let bits = UInt64(bytes) * 8
        for number in 0..<2_000 {
            let key = ConversationTable.Key("conv-agent-\(number % 50)-\(number)")
            let low = key.hash & 0xFFFF_FFFF
            let step = (key.hash >> 32) | 1
            var probes: [Int] = []
            filter.forEachProbe(key) {
                probes.append($0)
                return true
            }
            #expect(probes == (0..<4).map { Int((low + UInt64($0) * step) % bits) }, "\(key.name)")
        }
    }

    /// Queries pick records by the index's line tables without parsing the
    /// lines, so a sealed segment changed in place (same size, so its `.idx`
    /// is still taken) must not make them serve a line as the record the
    /// index describes: each line is checked as it goes out.
    @Test func aLineChangedInPlaceIsReportedNotServed() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory)
        let expected = try everything(directory)
        let segment = sealedSegments(directory)[1]
        let base = SegmentName(fileName: Path.lastComponent(of: segment))!.base
        var bytes = try readBytes(segment)
        let starts = [0] + bytes.indices.filter { bytes[$0] == 0x0A }.dropLast().map { $0 + 1 }
        // Line 4: its time a second off. Line 9: no longer JSON.
        let time = Array(#""ts":"#.utf8)
        var digit = starts[3] + time.count
        while bytes[digit + 1] != UInt8(ascii: ",") { digit += 1 }
        bytes[digit] = bytes[digit] == UInt8(ascii: "9") ? UInt8(ascii: "8") : bytes[digit] + 1
        bytes[starts[8]] = UInt8(ascii: "x")
        try writeBytes(bytes, to: segment)

        let changed: Set<UInt64> = [base + 3, base + 8]
        for query in [Query(), Query(order: .newestFirst), Query(types: ["a", "b", "c", "error"]),
                      Query(since: expected[0].time, until: expected.last!.time + .microseconds(1))] {
            let cursor = try StoreReader(at: directory.path).query(query)
            let records = try cursor.all()
            let want = expected.filter { !changed.contains($0.seq) }
            #expect(records.map(\.seq) == (query.order == .newestFirst ? want.reversed() : want).map(\.seq))
            #expect(Set(cursor.damaged.map(\.seq)) == changed, "\(cursor.damaged)")
        }
    }

    @Test func anIndexDoesNotOutliveAChangeOfItsSegmentsSize() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory)
        let segment = sealedSegments(directory)[1]
        var bytes = try readBytes(segment)
        bytes += Array(#"{"ts":1,"type":"late","n":-1}"#.utf8) + [0x0A]
        try writeBytes(bytes, to: segment)
        let name = SegmentName(fileName: Path.lastComponent(of: segment))!
        #expect(IndexFile.load(indexPath(segment), base: name.base, fileSize: bytes.count) == nil)
        #expect(try StoreReader(at: directory.path).query(Query(types: ["late"])).all().count == 1)
    }

    @Test func reindexRewritesEveryIndex() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory)
        for segment in sealedSegments(directory) { try FileManager.default.removeItem(atPath: indexPath(segment)) }
        let store = try Store(at: directory.path)
        try store.waitForIndexes()
        let rebuilt = try store.reindex()
        try store.close()
        #expect(rebuilt == sealedSegments(directory).count)
    }

    @Test func indexMemoryStaysSmall() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 20_000)
        let stats = try StoreReader(at: directory.path).stats()
        #expect(stats.records == 20_000)
        // Short records (~60 B) make blocks of ~1000 records: under 8 bytes per
        // record (about 7; each line's check, a byte, is left in the .idx).
        #expect(Double(stats.indexBytes) / Double(stats.records) < 8, "\(stats.indexBytes) bytes")
    }

    @Test func exportWritesPlainAndGzippedJSONL() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 5000)
        let reader = try StoreReader(at: directory.path)
        let query = Query(types: ["error"])
        let expected = try reader.query(query).all().map { $0.json + "\n" }.joined()
        let outside = TemporaryDirectory()  // never inside the store it reads
        let plain = outside.appending("out.jsonl")
        let gzipped = outside.appending("out.jsonl.gz")
        #expect(try reader.export(query, to: plain) == expected.split(separator: "\n").count)
        _ = try reader.export(query, to: gzipped)
        #expect(try String(contentsOfFile: plain, encoding: .utf8) == expected)
        #expect(try run("/bin/zcat", [gzipped]).stdout == expected)
        let python = try run("/usr/bin/env", ["python3", "-c", "import gzip,sys; sys.stdout.write(gzip.open(sys.argv[1]).read().decode())", gzipped])
        #expect(python.stdout == expected)
        #expect(listDirectory(outside.path) == ["out.jsonl", "out.jsonl.gz"])
    }
}
