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

    /// A loaded index's line checks are those of the `.idx` it was loaded
    /// from, mapped, even after the file is replaced (here by one of the
    /// edited segment, whose checks would pass the edited line): the
    /// failing block names exactly the edited line.
    @Test func lineChecksStayThoseOfTheIdxLoadedWhenItIsReplaced() throws {
        let directory = TemporaryDirectory()
        let segment = try #require(try makeStore(directory).first)
        let (file, edited, ordinal) = try loadThenEdit(segment)
        var builder = SegmentIndexBuilder(base: file.index.base)
        edited.withUnsafeBufferPointer { builder.addLines($0, encoder: RecordEncoder(fields: .default, maxRecordBytes: 1 << 20)) }
        var replacement = file
        replacement.index = builder.snapshot()
        let indexPath = String(segment.dropLast(".jsonl".count)) + ".idx"
        try Data(replacement.encoded()).write(to: URL(fileURLWithPath: indexPath), options: .atomic)

        #expect(file.index.lineChecks.bytes() != nil)
        let block = try #require(file.index.blocks.first { $0.ordinals.contains(ordinal) })
        let bytes = Array(edited[Int(block.offset)..<(Int(block.offset) + Int(block.length))])
        guard case .changed(let changed) = bytes.withUnsafeBufferPointer({ BlockChecks.check($0, of: block, in: file.index) }) else {
            Issue.record("the edited block passed its checksum")
            return
        }
        #expect(changed.damaged.map(\.ordinal) == [ordinal])
    }

    /// Line checks of a trusted `.idx` (read without its checksums) that
    /// were damaged since are not trusted when a block fails: their CRC32C
    /// is checked then, and the block's lines are all named, none served.
    @Test func damagedLineChecksOfATrustedIdxAreNotTrusted() throws {
        let directory = TemporaryDirectory()
        let segment = try #require(try makeStore(directory).first)
        let (_, edited, ordinal) = try loadThenEdit(segment)
        let indexPath = String(segment.dropLast(".jsonl".count)) + ".idx"
        var bytes = try readBytes(indexPath)
        // The line checks end where the footer (count, their CRC32C, the file's checksum) starts.
        bytes[bytes.count - IndexFile.footerBytes - 1] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: indexPath))
        #expect(IndexFile.read(indexPath) == nil, "checked, the file fails its checksum")
        let file = try #require(IndexFile.decode(IndexBytes(mapping: try MappedFile(path: indexPath)), trusted: true))
        #expect(file.index.lineChecks.bytes() == nil)
        let block = try #require(file.index.blocks.first { $0.ordinals.contains(ordinal) })
        let blockBytes = Array(edited[Int(block.offset)..<(Int(block.offset) + Int(block.length))])
        guard case .changed(let changed) = blockBytes.withUnsafeBufferPointer({ BlockChecks.check($0, of: block, in: file.index) })
        else {
            Issue.record("the edited block passed its checksum")
            return
        }
        #expect(changed.lines.allSatisfy { $0 == nil })
        #expect(changed.damaged.map(\.ordinal) == Array(block.ordinals))
        #expect(changed.damaged.allSatisfy { $0.reason.contains("do not match their checksum") })
    }
}

/// A reader racing a writer's recovery of the active segment: what a crash
/// left past the last valid line (a torn line, a damaged last line) is cut
/// by the next writer, and the seqs there are given to new records. A
/// reader that read the old bytes must serve the new records, and a
/// follower must not pass their seqs as damaged. (Found by
/// `Tools/crash_matrix.py`, phase recovery.)
@Suite struct ReaderRecoveryRaceTests {
    /// Three records in a closed store, then `tail` written after them into
    /// the active segment as a crash would leave it.
    func makeStore(_ directory: TemporaryDirectory, tail: String) throws -> String {
        let store = try Store(at: directory.path)
        for n in 0..<3 { try store.append(#"{"ts":\#(1_795_000_000 + n),"n":\#(n)}"#) }
        try store.close()
        let active = directory.appending("segments/" + listDirectory(directory.appending("segments")).last { $0.hasSuffix(".jsonl") }!)
        let handle = try #require(FileHandle(forUpdatingAtPath: active))
        try handle.seekToEnd()
        try handle.write(contentsOf: Array(tail.utf8))
        try handle.close()
        return active
    }

    /// The record the next writer appends after recovering: longer than what
    /// it cut, so the segment grows past the size a reader last saw.
    func recoverAndAppend(_ directory: TemporaryDirectory) throws {
        let store = try Store(at: directory.path)
        #expect(store.recovery.cuts.count == 1)
        #expect(try store.append(#"{"ts":1795000003,"n":3,"pad":"after recovery, longer than the cut bytes"}"#) == 3)
        try store.close()
    }

    @Test func aFollowerWaitsAtADamagedLastLineThatRecoveryCuts() throws {
        let directory = TemporaryDirectory()
        _ = try makeStore(directory, tail: "{\"damaged\": tru\n")
        let reader = try StoreReader(at: directory.path)
        let follower = try reader.follow(from: .seq(0))
        var seqs: [UInt64] = []
        while let record = try follower.nextIfAvailable() { seqs.append(record.seq) }
        #expect(seqs == [0, 1, 2])
        // Nothing valid after it yet: a torn write the next writer may cut, not a seq to pass.
        #expect(follower.damaged.isEmpty)
        #expect(follower.nextSeq == 3)

        try recoverAndAppend(directory)
        let next = try follower.next(waitingUpTo: .microseconds(10_000_000))
        #expect(next?.seq == 3)
        #expect(next?.json.contains("after recovery") == true)
        #expect(follower.damaged.isEmpty)
    }

    @Test func aDamagedLineWithAValidLineAfterItIsNamedAndPassed() throws {
        let directory = TemporaryDirectory()
        _ = try makeStore(directory, tail: "{\"damaged\": tru\n{\"ts\":1795000004,\"n\":4}\n")
        let follower = try StoreReader(at: directory.path).follow(from: .seq(0))
        var seqs: [UInt64] = []
        while let record = try follower.nextIfAvailable() { seqs.append(record.seq) }
        #expect(seqs == [0, 1, 2, 4])
        #expect(follower.damaged.map(\.seq) == [3])
    }

    /// `last` and a follower read blocks through one walker
    /// (``IndexedSegment/lines(ofBlock:from:encoder:)``): over a damaged
    /// line and a torn tail they serve the same records and name the same
    /// line, and the torn tail is neither.
    @Test func lastAndAFollowerAgreeOverADamagedLineAndATornTail() throws {
        let directory = TemporaryDirectory()
        _ = try makeStore(directory, tail: "{\"damaged\": tru\n{\"ts\":1795000004,\"n\":4}\n{\"ts\":1795000005,\"n\":\"tor")
        let reader = try StoreReader(at: directory.path)
        let follower = try reader.follow(from: .seq(0))
        var seqs: [UInt64] = []
        while let record = try follower.nextIfAvailable() { seqs.append(record.seq) }
        #expect(seqs == [0, 1, 2, 4])
        #expect(follower.damaged.map(\.seq) == [3])
        #expect(follower.nextSeq == 5)

        let all = try reader.last(10)
        #expect(try all.all().map(\.seq) == seqs)
        #expect(all.damaged.map(\.seq) == [3])
        #expect(try reader.last(2).all().map(\.seq) == [2, 4])
    }

    @Test func aReaderThatHeldATornTailServesTheRecordWrittenInItsPlace() throws {
        let directory = TemporaryDirectory()
        _ = try makeStore(directory, tail: #"{"ts":1795000003,"n":"tor"#)
        let reader = try StoreReader(at: directory.path)
        let follower = try reader.follow(from: .seq(0))
        var seqs: [UInt64] = []
        while let record = try follower.nextIfAvailable() { seqs.append(record.seq) }
        #expect(seqs == [0, 1, 2])
        #expect(try reader.query(Query()).all().count == 3)

        try recoverAndAppend(directory)
        let next = try follower.next(waitingUpTo: .microseconds(10_000_000))
        #expect(next?.seq == 3)
        #expect(next?.json.contains("after recovery") == true)
        #expect(follower.damaged.isEmpty, "\(follower.damaged)")
        let cursor = try reader.query(Query())
        #expect(try cursor.all().map(\.seq) == [0, 1, 2, 3])
        #expect(cursor.damaged.isEmpty, "\(cursor.damaged)")
    }
}
