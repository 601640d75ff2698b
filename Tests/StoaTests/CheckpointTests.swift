import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// The writer's checkpoint `.idx` of the active segment.
@Suite struct CheckpointTests {
    let encoder = RecordEncoder(fields: .default, maxRecordBytes: 1 << 20)

    func fill(_ directory: TemporaryDirectory, from first: Int = 0, count: Int = 400) throws {
        let store = try Store(at: directory.path)
        for n in first..<(first + count) {
            try store.append(#"{"ts":\#(1_800_000_000 + n),"type":"\#(n % 3 == 0 ? "aaa" : "ccc")","session":"s\#(n % 7)","n":\#(n)}"#)
        }
        try store.close()
    }

    func activeSegment(_ directory: TemporaryDirectory) throws -> (segment: String, index: String) {
        let name = try #require(listDirectory(directory.appending("segments")).filter { $0.hasSuffix(".jsonl") }.last)
        let segment = directory.appending("segments/" + name)
        return (segment, String(segment.dropLast(".jsonl".count)) + ".idx")
    }

    @Test func closeWritesACheckpointThatANewReaderGoesOnFrom() throws {
        let directory = TemporaryDirectory()
        try fill(directory)
        let (segment, index) = try activeSegment(directory)
        let bytes = try readBytes(segment)
        let name = try #require(SegmentName(fileName: Path.lastComponent(of: segment)))
        let checkpoint = try #require(IndexFile.loadCheckpoint(index, base: name.base, segment: bytes))
        #expect(checkpoint.isPartial && checkpoint.plainBytes == UInt64(bytes.count))
        // Not a sealed segment's .idx.
        #expect(IndexFile.load(index, base: name.base, fileSize: bytes.count) == nil)
        // The same index a scan builds.
        var builder = SegmentIndexBuilder(base: name.base)
        bytes.withUnsafeBufferPointer { builder.addLines($0, encoder: encoder) }
        #expect(checkpoint.index == builder.snapshot())

        // More records (so a reader indexes the checkpoint's part from it and
        // the rest by reading), and every query answers as with a scan.
        let store = try Store(at: directory.path)
        for n in 400..<450 { try store.append(#"{"ts":\#(1_800_000_000 + n),"type":"ccc","n":\#(n)}"#) }
        let reader = try StoreReader(at: directory.path)
        let all = try reader.query(Query()).all()
        #expect(all.map(\.seq) == Array(0..<450))
        #expect(try reader.query(Query(types: ["aaa"])).all() == all.filter { $0.type == "aaa" })
        #expect(try reader.query(Query(conversation: "s3", order: .newestFirst)).all()
            == all.filter { $0.conversation == "s3" }.reversed())
        try store.close()
    }

    /// An index resumed from a checkpoint read mapped leaves the
    /// checkpoint's line checks in the file and holds those of the lines
    /// added after them: together they are every line's, as a scan makes
    /// them, and a line changed after the checkpoint is named alone.
    @Test func aResumedIndexAddsLineChecksAfterThoseOfTheMappedCheckpoint() throws {
        let directory = TemporaryDirectory()
        try fill(directory)
        let (segment, index) = try activeSegment(directory)
        let name = try #require(SegmentName(fileName: Path.lastComponent(of: segment)))
        let checkpoint = try #require(IndexFile.read(index))
        #expect(!checkpoint.index.lineChecks.isHeld, "left in the mapped file")
        var more = try readBytes(segment)
        let checkpointed = more.count
        for n in 400..<450 { more += Array(#"{"ts":\#(1_800_000_000 + n),"type":"ccc","n":\#(n)}"#.utf8) + [0x0A] }
        var resumed = SegmentIndexBuilder(resuming: checkpoint.index)
        more[checkpointed...].withUnsafeBufferPointer { _ = resumed.addLines($0, encoder: encoder) }
        var scanned = SegmentIndexBuilder(base: name.base)
        more.withUnsafeBufferPointer { scanned.addLines($0, encoder: encoder) }
        let grown = resumed.snapshot()
        #expect(grown.hasChecksums)
        #expect(grown.lineChecks.bytes() == scanned.snapshot().lineChecks.bytes())
        #expect(grown.lineChecks == scanned.snapshot().lineChecks)

        // A line of the part added changes: its block names it alone.
        let ordinal = UInt32(grown.lineCount - 3)
        let block = try #require(grown.blocks.first { $0.ordinals.contains(ordinal) })
        var changed = Array(more[Int(block.offset)..<(Int(block.offset) + Int(block.length))])
        let text = String(decoding: changed, as: UTF8.self)
        let at = try #require(text.range(of: #""n":447"#)).upperBound
        changed[text.utf8.distance(from: text.startIndex, to: at) - 1] = UInt8(ascii: "8")
        guard case .changed(let outcome) = changed.withUnsafeBufferPointer({ BlockChecks.check($0, of: block, in: grown) }) else {
            Issue.record("the changed block passed its checksum")
            return
        }
        #expect(outcome.damaged.map(\.ordinal) == [ordinal])
    }

    /// A writer opening a store reads of its active segment only what
    /// follows the checkpoint: the bytes before are checked by their
    /// blocks' checksums (mapped, not read with `pread`). Records written
    /// after the checkpoint are kept, a torn line after them is cut where
    /// a full read would cut it. (Before: recovery read and parsed the
    /// whole segment at every open, 150 ms for a 63 MiB one.)
    @Test func aWriterOpeningReadsOnlyWhatFollowsTheCheckpoint() throws {
        let directory = TemporaryDirectory()
        try fill(directory, count: 3000)
        let (segment, _) = try activeSegment(directory)
        let checkpointed = try readBytes(segment).count
        // A writer killed after writing more, before its next checkpoint: whole lines, then a torn one.
        var after = (3000..<3010).map { #"{"ts":\#(1_800_000_000 + $0),"type":"ccc","n":\#($0)}"# + "\n" }.joined()
        let keptEnd = checkpointed + after.utf8.count
        after += #"{"ts":1800003010,"type":"c"#
        let handle = try #require(FileHandle(forWritingAtPath: segment))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(after.utf8))
        try handle.close()

        let counter = SegmentReadCounter()
        let store = try FileReads.$fileSystem.withValue(counter) {
            try Store(at: directory.path, creating: StoreConfiguration(), fileSystem: counter)
        }
        let read = counter.counts.withLock { $0.bytes }
        // What follows the checkpoint, and the line it ends with (a 4 KiB piece, twice).
        #expect(checkpointed > 100_000)
        #expect(read <= (keptEnd + 30 - checkpointed) + (8 << 10), "\(read) bytes read of a \(keptEnd + 30)-byte segment")
        #expect(store.recovery.cuts.map(\.offset) == [keptEnd])
        #expect(store.recovery.replaced.isEmpty)
        try store.append(#"{"ts":1800003011,"type":"ccc","n":3011}"#)
        try store.close()
        let all = try StoreReader(at: directory.path).query(Query()).all()
        #expect(all.map(\.seq) == Array(0..<3011))
        #expect(all.last?.json == #"{"ts":1800003011,"type":"ccc","n":3011}"#)
    }

    @Test func aReaderTakesTheCheckpointInsteadOfRereading() throws {
        let directory = TemporaryDirectory()
        try fill(directory)
        let (segment, _) = try activeSegment(directory)
        // Change a type inside the checkpointed part (not its last line),
        // behind the index's back: a reader that trusted the checkpoint
        // still files the record under its old type.
        var bytes = try readBytes(segment)
        let old = Array(#""n":3}"#.utf8)
        let line = try #require(bytes.firstRange(of: old))
        let typeRange = try #require(bytes[..<line.lowerBound].lastRange(of: Array(#""type":"aaa""#.utf8)))
        bytes.replaceSubrange(typeRange, with: Array(#""type":"bbb""#.utf8))
        try Data(bytes).write(to: URL(fileURLWithPath: segment))
        #expect(try StoreReader(at: directory.path).query(Query(types: ["bbb"])).all().isEmpty)

        // Its last line changed: the checkpoint no longer matches, and is not used.
        let last = try #require(bytes.lastRange(of: Array(#""type":"#.utf8)))
        bytes[last.upperBound + 1] ^= 0x01  // "ccc" → "bcc" or "aaa" → "`aa"
        try Data(bytes).write(to: URL(fileURLWithPath: segment))
        #expect(try StoreReader(at: directory.path).query(Query(types: ["bbb"])).all().map(\.seq) == [3])
    }

    @Test func aCutAtOpeningRemovesTheCheckpoint() throws {
        let directory = TemporaryDirectory()
        try fill(directory)
        let (segment, index) = try activeSegment(directory)
        #expect(FileManager.default.fileExists(atPath: index))
        // A torn tail, as a crash leaves it.
        let handle = try #require(FileHandle(forWritingAtPath: segment))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"ts":1,"type":"torn"#.utf8))
        try handle.close()
        let store = try Store(at: directory.path)
        #expect(store.recovery.cuts.count == 1)
        #expect(!FileManager.default.fileExists(atPath: index))
        try store.append(#"{"ts":1900000000,"n":"after"}"#)
        try store.close()
        // Written again at close, for what the segment holds now.
        let bytes = try readBytes(segment)
        let name = try #require(SegmentName(fileName: Path.lastComponent(of: segment)))
        #expect(IndexFile.loadCheckpoint(index, base: name.base, segment: bytes)?.plainBytes == UInt64(bytes.count))
        #expect(try StoreReader(at: directory.path).query(Query()).all().count == 401)
    }

    @Test func aCheckpointThatNoLongerMatchesGoesAtOpening() throws {
        // As a crash between recovery's cut and the checkpoint's removal
        // leaves it: the segment ends on a line, before the checkpoint's end.
        let directory = TemporaryDirectory()
        try fill(directory)
        let (segment, index) = try activeSegment(directory)
        let bytes = try readBytes(segment)
        let cut = try #require(bytes[..<(bytes.count / 2)].lastIndex(of: 0x0A)) + 1
        #expect(truncate(segment, off_t(cut)) == 0)
        // (Recovery cuts only lines past the high-water mark: without it, the
        // lines cut here count as never acknowledged.)
        try FileManager.default.removeItem(atPath: directory.appending(HighWaterMark.fileName))
        let store = try Store(at: directory.path)
        #expect(store.recovery.cuts.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: index))
        try store.close()
        let name = try #require(SegmentName(fileName: Path.lastComponent(of: segment)))
        #expect(IndexFile.loadCheckpoint(index, base: name.base, segment: Array(bytes[..<cut]))?.plainBytes == UInt64(cut))
    }

    @Test func aSealedSegmentGetsItsOwnIndexNotTheCheckpoint() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 16 << 10
        _ = try Store(at: directory.path, creating: configuration).close()
        try fill(directory, count: 100)
        let first = try activeSegment(directory)
        try fill(directory, from: 100, count: 600)  // seals the first segment, and more
        let store = try Store(at: directory.path)
        try store.waitForIndexes()
        try store.close()
        let bytes = try readBytes(first.segment)
        let name = try #require(SegmentName(fileName: Path.lastComponent(of: first.segment)))
        let sealed = try #require(IndexFile.load(first.index, base: name.base, fileSize: bytes.count))
        #expect(!sealed.isPartial && sealed.digest == SHA256.hash(bytes))
        #expect(try StoreReader(at: directory.path).verify().isClean)
    }
}
