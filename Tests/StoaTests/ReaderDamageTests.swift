import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// Reads by seq (`last`, following) over segments changed in place after
/// they were sealed: nothing traps, every intact record is served, and each
/// line that cannot be read is named.
@Suite struct ReaderDamageTests {
    /// 200 records in 4 KiB segments, closed; returns the sealed segments' paths.
    func makeStore(_ directory: TemporaryDirectory) throws -> [String] {
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        let store = try Store(at: directory.path, creating: configuration)
        for n in 1...200 {
            try store.append(#"{"ts":\#(1_795_000_000 + n),"n":\#(n),"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxx"}"#)
        }
        try store.close()
        let segments = listDirectory(directory.appending("segments")).filter { $0.hasSuffix(".jsonl") }.sorted()
        return segments.dropLast().map { directory.appending("segments/" + $0) }
    }

    func overwrite(_ path: String, at offset: Int, with byte: UInt8) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: [byte])
        try handle.close()
    }

    @Test func aFollowerPassesASegmentWhoseLastNewlineWasChanged() throws {
        let directory = TemporaryDirectory()
        let sealed = try makeStore(directory)
        let first = try #require(sealed.first)
        let bytes = try #require(FileManager.default.contents(atPath: first))
        let lastSeq = UInt64(bytes.filter { $0 == 0x0A }.count - 1)
        try overwrite(first, at: bytes.count - 1, with: UInt8(ascii: "X"))

        let reader = try StoreReader(at: directory.path)
        let follower = try reader.follow(from: .seq(0))
        var seqs: [UInt64] = []
        while let record = try follower.nextIfAvailable() { seqs.append(record.seq) }
        #expect(seqs == (0..<200).filter { $0 != lastSeq })
        #expect(follower.damaged.map(\.seq) == [lastSeq])
        #expect(follower.damaged.first?.path == first)

        let last = try reader.last(300)
        #expect(try last.all().map(\.seq) == seqs)
        #expect(last.damaged.map(\.seq) == [lastSeq])
    }

    @Test func aFollowerPassesANewlineChangedToASpace() throws {
        let directory = TemporaryDirectory()
        let sealed = try makeStore(directory)
        let second = sealed[1]
        let bytes = try #require(FileManager.default.contents(atPath: second))
        let newline = try #require(bytes.firstIndex(of: 0x0A))
        try overwrite(second, at: newline, with: UInt8(ascii: " "))

        let follower = try StoreReader(at: directory.path).follow(from: .seq(0))
        var seqs: [UInt64] = []
        while let record = try follower.nextIfAvailable() { seqs.append(record.seq) }
        // Served or named, each seq once; and something is named.
        let named = follower.damaged.map(\.seq)
        #expect(!named.isEmpty)
        #expect((seqs + named).sorted() == (0..<200).map { $0 })
    }

    /// A line edited in place to other valid JSON of the same length fails
    /// its block's CRC32C: `last` and a follower name it, never serve it.
    @Test func aLineEditedInPlaceIsNamedNotServed() throws {
        let directory = TemporaryDirectory()
        let sealed = try makeStore(directory)
        let first = try #require(sealed.first)
        let bytes = try #require(FileManager.default.contents(atPath: first))
        let text = String(decoding: bytes, as: UTF8.self)
        let edited = try #require(text.range(of: #""n":20,"pad":"x"#))
        let offset = text.utf8.distance(from: text.startIndex, to: edited.upperBound) - 1
        try overwrite(first, at: offset, with: UInt8(ascii: "y"))  // "pad":"xxx… → "pad":"yxx…

        let reader = try StoreReader(at: directory.path)
        let last = try reader.last(300)
        let served = try last.all()
        #expect(!served.contains { $0.json.contains("y") })
        #expect(served.count == 199)
        #expect(last.damaged.map(\.seq) == [19])

        let follower = try reader.follow(from: .seq(0))
        var seqs: [UInt64] = []
        while let record = try follower.nextIfAvailable() { seqs.append(record.seq) }
        #expect(seqs == (0..<200).filter { $0 != 19 })
        #expect(follower.damaged.map(\.seq) == [19])
    }

    /// The sealed `.idx` of `segment`, loaded as a reader loads it, and the
    /// segment with its line `"n":20` edited in place (still valid JSON, of
    /// the same length), and that line's number.
    func loadThenEdit(_ segment: String) throws -> (file: IndexFile, edited: [UInt8], ordinal: UInt32) {
        let name = try #require(SegmentName(fileName: Path.lastComponent(of: segment)))
        let indexPath = String(segment.dropLast(".jsonl".count)) + ".idx"
        let original = try readBytes(segment)
        let file = try #require(IndexFile.load(indexPath, base: name.base, fileSize: original.count))
        let text = String(decoding: original, as: UTF8.self)
        let edited = try #require(text.range(of: #""n":20,"pad":"x"#))
        let offset = text.utf8.distance(from: text.startIndex, to: edited.upperBound) - 1
        try overwrite(segment, at: offset, with: UInt8(ascii: "y"))
        let ordinal = UInt32(original[..<offset].filter { $0 == 0x0A }.count)
        return (file, try readBytes(segment), ordinal)
    }

    /// A reader does not hold the line checks (a byte a record): it reads
    /// them from the `.idx` when a block fails its CRC32C, and serves the
    /// block's lines that still match theirs.
    @Test func aFailingBlockReadsItsLineChecksFromTheIdxAndServesItsIntactLines() throws {
        let directory = TemporaryDirectory()
        let segment = try #require(try makeStore(directory).first)
        let (file, edited, ordinal) = try loadThenEdit(segment)
        let index = file.index
        #expect(index.hasChecksums)
        #expect(!index.lineChecks.isHeld)
        let block = try #require(index.blocks.first { $0.ordinals.contains(ordinal) })
        let bytes = Array(edited[Int(block.offset)..<(Int(block.offset) + Int(block.length))])
        guard case .changed(let changed) = bytes.withUnsafeBufferPointer({ BlockChecks.check($0, of: block, in: index) }) else {
            Issue.record("the edited block passed its checksum")
            return
        }
        let line = Int(ordinal - block.firstOrdinal)
        #expect(changed.damaged.map(\.ordinal) == [ordinal])
        #expect(changed.lines[line] == nil)
        #expect(changed.lines.enumerated().allSatisfy { $0.offset == line || $0.element != nil })
        #expect(try StoreReader(at: directory.path).last(300).all().count == 199)
    }

    /// Line checks read from an `.idx` replaced since it was loaded (here by
    /// one of the edited segment, whose checks pass the edited line) are not
    /// trusted: the failing block's lines are all named, none is served.
    @Test func lineChecksFromAnIdxReplacedSinceItWasLoadedAreNotTrusted() throws {
        let directory = TemporaryDirectory()
        let segment = try #require(try makeStore(directory).first)
        let (file, edited, ordinal) = try loadThenEdit(segment)
        var builder = SegmentIndexBuilder(base: file.index.base)
        edited.withUnsafeBufferPointer { builder.addLines($0, encoder: RecordEncoder(fields: .default, maxRecordBytes: 1 << 20)) }
        var replacement = file
        replacement.index = builder.snapshot()
        let indexPath = String(segment.dropLast(".jsonl".count)) + ".idx"
        try Data(replacement.encoded()).write(to: URL(fileURLWithPath: indexPath), options: .atomic)

        #expect(file.index.lineChecks.bytes() == nil)
        let block = try #require(file.index.blocks.first { $0.ordinals.contains(ordinal) })
        let bytes = Array(edited[Int(block.offset)..<(Int(block.offset) + Int(block.length))])
        guard case .changed(let changed) = bytes.withUnsafeBufferPointer({ BlockChecks.check($0, of: block, in: file.index) }) else {
            Issue.record("the edited block passed its checksum")
            return
        }
        #expect(changed.lines.allSatisfy { $0 == nil })
        #expect(changed.damaged.map(\.ordinal) == Array(block.ordinals))
        #expect(changed.damaged.allSatisfy { $0.reason.contains("replaced since") })
    }
}
