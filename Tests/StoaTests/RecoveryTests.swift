import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

@Suite struct RecoveryTests {
    let active = "segments/00000000000000000000.jsonl"

    func makeStore(_ directory: TemporaryDirectory, records: Int) throws {
        let store = try Store(at: directory.path)
        for n in 0..<records { try store.append(#"{"ts":\#(1_700_000_000 + n),"n":\#(n)}"#) }
        try store.close()
    }

    func appendRaw(_ bytes: [UInt8], to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(bytes))
        try handle.close()
    }

    @Test func cutsATornTailIntoQuarantine() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 3)
        let segment = directory.appending(active)
        let good = try readBytes(segment)
        let torn = Array(#"{"ts":1700000003,"n":3,"text":"half a rec"#.utf8)
        try appendRaw(torn, to: segment)

        // A reader never serves the partial line, before or after recovery.
        #expect(try StoreReader(at: directory.path).query(Query()).all().count == 3)

        let store = try Store(at: directory.path)
        #expect(store.recovery.cuts.count == 1)
        let cut = try #require(store.recovery.cuts.first)
        #expect(cut.offset == good.count)
        #expect(cut.length == torn.count)
        #expect(cut.reason.contains("no newline"))
        #expect(try readBytes(segment) == good)
        #expect(try readBytes(cut.quarantined) == torn)
        let note = try JSONSerialization.jsonObject(with: Data(readBytes(cut.quarantined + ".json"))) as? [String: Any]
        #expect(note?["offset"] as? Int == good.count)
        #expect(note?["length"] as? Int == torn.count)
        #expect((note?["source"] as? String)?.hasSuffix("00000000000000000000.jsonl") == true)

        // Appends go on from the good end, with the next seq.
        #expect(try store.append(#"{"n":"after"}"#) == 3)
        try store.close()
        let reopened = try Store(at: directory.path)
        #expect(reopened.recovery.isClean)
    }

    @Test func cutsTheInvalidLinesThatNothingValidFollows() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 2)
        let segment = directory.appending(active)
        let good = try readBytes(segment)
        // A torn tail: zeros where a crash lost the data, then a line cut short.
        let tail = [UInt8](repeating: 0, count: 40) + Array("\n{\"ts\":1,\"n\":9\n{\"ts\":1,".utf8)
        try appendRaw(tail, to: segment)
        let store = try Store(at: directory.path)
        let cut = try #require(store.recovery.cuts.first)
        #expect(cut.reason.contains("line 3"))
        #expect(store.recovery.replaced.isEmpty)
        #expect(try readBytes(segment) == good)
        #expect(try readBytes(cut.quarantined) == tail)
        #expect(store.writeStats.nextSeq == 2)
    }

    @Test func aDamagedLineThatValidLinesFollowBecomesATombstone() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 2)
        let segment = directory.appending(active)
        // Zeros where a crash lost a line, then a line that was written.
        let zeros = [UInt8](repeating: 0, count: 40)
        try appendRaw(zeros + Array("\n{\"ts\":1700000009,\"n\":9}\n".utf8), to: segment)
        let store = try Store(at: directory.path)
        #expect(store.recovery.cuts.isEmpty)
        let replaced = try #require(store.recovery.replaced.first)
        #expect(replaced.line == 3)
        #expect(try readBytes(replaced.quarantined) == zeros)
        #expect(store.writeStats.nextSeq == 4)
        try store.close()
        let records = try StoreReader(at: directory.path).query(Query()).all()
        #expect(records.map(\.seq) == [0, 1, 2, 3])
        #expect(records[2].type == "stoa.damaged")
        #expect(records[3].json.contains(#""n":9"#))
    }

    @Test func removesStaleTemporaryFiles() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 1)
        try writeBytes(Array("partial".utf8), to: directory.appending("segments/00000000000000000001.idx.tmp"))
        try writeBytes(Array("{".utf8), to: directory.appending("stoa.json.tmp"))
        let store = try Store(at: directory.path)
        #expect(store.recovery.removedTemporaryFiles.count == 2)
        #expect(listDirectory(directory.path).contains("stoa.json.tmp") == false)
        // The stale .tmp is gone; the checkpoint .idx the last close wrote stays.
        #expect(listDirectory(directory.appending("segments")) == ["00000000000000000000.idx", "00000000000000000000.jsonl"])
    }

    @Test func anEmptyActiveSegmentIsFine() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        let store = try Store(at: directory.path, creating: configuration)
        try store.close()
        let reopened = try Store(at: directory.path)
        #expect(reopened.recovery.isClean)
        #expect(try reopened.append(#"{"n":0}"#) == 0)
    }

    @Test func aReaderSkipsAndReportsADamagedSealedLine() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        let store = try Store(at: directory.path, creating: configuration)
        for n in 0..<200 { try store.append(#"{"ts":\#(1_700_000_000 + n),"n":\#(n)}"#) }
        try store.close()
        let sealed = directory.appending("segments/00000000000000000000.jsonl")
        var bytes = try readBytes(sealed)
        let lineStart = bytes.firstIndex(of: 0x0A)! + 1  // line 2
        bytes[lineStart + 1] = UInt8(ascii: "X")  // {"ts" becomes {Xts": invalid
        try writeBytes(bytes, to: sealed)
        let cursor = try StoreReader(at: directory.path).query(Query())
        let records = try cursor.all()
        #expect(records.count == 199)
        #expect(!records.contains { $0.seq == 1 })
        #expect(cursor.damaged.count == 1)
        #expect(cursor.damaged.first?.line == 2)
        #expect(cursor.damaged.first?.seq == 1)
    }
}

@Suite struct SharedSegmentTests {
    @Test func aHardLinkedLastSegmentIsNeverAppendedTo() throws {
        let source = TemporaryDirectory()
        let store = try Store(at: source.path)
        for n in 0..<10 { try store.append(#"{"ts":1,"n":\#(n)}"#) }
        try store.close()
        let original = try readBytes(source.appending("segments/00000000000000000000.jsonl"))
        // A copy whose last segment is a hard link to the source's.
        let copy = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: copy.appending("segments"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source.appending("stoa.json"), toPath: copy.appending("stoa.json"))
        try FileManager.default.linkItem(
            atPath: source.appending("segments/00000000000000000000.jsonl"),
            toPath: copy.appending("segments/00000000000000000000.jsonl"))
        let writer = try Store(at: copy.path)
        #expect(try writer.append(#"{"ts":1,"n":"copy"}"#) == 10)
        try writer.close()
        #expect(try readBytes(source.appending("segments/00000000000000000000.jsonl")) == original)
        #expect(try StoreReader(at: source.path).verify().isClean)
        #expect(try StoreReader(at: copy.path).query(Query()).all().count == 11)
    }
}
