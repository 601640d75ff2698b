import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// The real file system, counting the bytes `pread` returns of segment files.
final class SegmentReadCounter: FileSystem {
    private let real = SystemFileSystem()
    /// Bytes read, and `pread` calls, of `.jsonl` files.
    let counts = Protected((bytes: 0, calls: 0))

    func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String) throws(StoaError) -> Int {
        let count = try real.pread(fd, into: buffer, at: offset, path: path)
        if path.hasSuffix(".jsonl") { counts.withLock { $0 = ($0.bytes + count, $0.calls + 1) } }
        return count
    }
}

/// Issue 16: a reader reads of the active segment only what its checkpoint
/// `.idx` does not index, and the checkpointed blocks a query needs, one
/// `pread` each (``ActiveSegmentBytes``).
@Suite struct ActiveSegmentReadTests {
    /// Record `n`: its time is second `n` after 1_800_000_000, about 300 bytes.
    static func line(_ n: Int) -> String {
        #"{"ts":\#(1_800_000_000 + n),"type":"\#(n % 5 == 0 ? "error" : "info")","session":"s\#(n % 11)","n":\#(n),"pad":"\#(String(repeating: "x", count: 220))"}"#
    }

    /// A store of `count` records in its active segment, closed (which
    /// writes the segment's checkpoint); its active segment's path.
    func makeStore(_ directory: TemporaryDirectory, count: Int) throws -> String {
        let store = try Store(at: directory.path)
        var next = 0
        while next < count {
            let end = min(next + 5000, count)
            try store.append(contentsOf: (next..<end).map(Self.line))
            next = end
        }
        try store.close()
        let segments = listDirectory(directory.appending("segments")).filter { $0.hasSuffix(".jsonl") }
        #expect(segments.count == 1)
        let active = directory.appending("segments/" + (segments.last ?? ""))
        #expect(FileManager.default.fileExists(atPath: String(active.dropLast(".jsonl".count)) + ".idx"))
        return active
    }

    static func time(_ n: Int) -> Timestamp { Timestamp(microsecondsSinceEpoch: Int64(1_800_000_000 + n) * 1_000_000) }

    /// Each record whole: its bytes are the line appended for its seq.
    func expectWhole(_ records: [Record], sourceLocation: SourceLocation = #_sourceLocation) {
        for record in records {
            #expect(String(decoding: record.bytes, as: UTF8.self) == Self.line(Int(record.seq)), sourceLocation: sourceLocation)
        }
    }

    /// A narrow query of a new reader on a store with a full active segment
    /// (63 MiB of the 64 at which it is sealed) reads a few blocks of it,
    /// not the segment; a full scan, the last records and the stats of the
    /// same reader are what the store holds. (Before: the reader read all of
    /// it into memory.)
    @Test func aNarrowQueryReadsAFewBlocksOfAFullActiveSegment() throws {
        let directory = TemporaryDirectory()
        let count = 230_000
        let active = try makeStore(directory, count: count)
        let size = try #require(try Syscalls.status(active)).st_size
        #expect(size > 62 << 20 && size < 64 << 20)
        // Appended after the checkpoint: read and held by the reader.
        let writer = try Store(at: directory.path)
        try writer.append(contentsOf: (count..<(count + 100)).map(Self.line))
        defer { try? writer.close() }

        let counter = SegmentReadCounter()
        let (reader, narrow, last) = try FileReads.$fileSystem.withValue(counter) {
            let reader = try StoreReader(at: directory.path)
            let narrow = try reader.query(Query(since: Self.time(60_000), until: Self.time(60_040))).all()
            let last = try reader.last(20).all()
            return (reader, narrow, last)
        }
        #expect(narrow.map(\.seq) == Array(60_000..<60_040))
        #expect(last.map(\.seq) == Array(UInt64(count + 80)..<UInt64(count + 100)))
        expectWhole(narrow + last)
        let (bytes, calls) = counter.counts.withLock { $0 }
        // The checkpoint's last line, what follows the checkpoint (100
        // records), and one or two 64 KiB blocks: not the segment.
        #expect(bytes < 4 * 65_536, "\(bytes) bytes read of a \(size)-byte active segment, in \(calls) preads")
        #expect(try reader.snapshot().last?.contents is ActiveSegmentBytes)

        // The rest reads as the store holds it: one pread a block.
        let all = try FileReads.$fileSystem.withValue(counter) { try reader.query(Query()).all() }
        #expect(all.count == count + 100)
        #expect(all.map(\.seq) == Array(0..<UInt64(count + 100)))
        let (_, scanCalls) = counter.counts.withLock { $0 }
        #expect(scanCalls - calls <= Int(size) / 60_000, "\(scanCalls - calls) preads for a full scan")
        expectWhole(Array(all.prefix(1000)) + all.suffix(1000))
        #expect(try reader.query(Query(types: ["error"], limit: 3, order: .newestFirst)).all().map(\.seq)
            == [UInt64(count + 95), UInt64(count + 90), UInt64(count + 85)])
        #expect(try reader.query(Query(since: Self.time(99), until: Self.time(200), conversation: "s3")).all().map(\.seq)
            == (99..<200).filter { $0 % 11 == 3 }.map(UInt64.init))
        let stats = try reader.stats()
        #expect(stats.records == count + 100 && stats.nextSeq == UInt64(count + 100) && stats.damagedLines == 0)
    }

    /// A writer's recovery cuts a torn tail (and appends where it was) while
    /// a reader holds a cursor and the last records: the cursor serves every
    /// record from before the cut, whole, and names no damage; the reader's
    /// next query sees what was appended since.
    @Test func aWriterCuttingATornTailWhileAReaderQueries() throws {
        let directory = TemporaryDirectory()
        let count = 20_000
        let active = try makeStore(directory, count: count)
        let handle = try #require(FileHandle(forWritingAtPath: active))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"ts":1800000001,"type":"torn","pad":"xxxxxxxxx"#.utf8))
        try handle.close()

        let reader = try StoreReader(at: directory.path)
        let cursor = try reader.query(Query())
        var served: [Record] = []
        for _ in 0..<10 { served.append(try #require(try cursor.next())) }
        let newestFirst = try reader.query(Query(order: .newestFirst))
        let last = try reader.last(5).all()
        #expect(try reader.snapshot().last?.contents is ActiveSegmentBytes)

        let store = try Store(at: directory.path)
        #expect(store.recovery.cuts.count == 1)
        try store.append(contentsOf: (count..<(count + 10)).map(Self.line))
        try store.close()

        served += try cursor.all()
        #expect(served.map(\.seq) == Array(0..<UInt64(count)))
        #expect(cursor.damaged.isEmpty, "\(cursor.damaged.prefix(3))")
        let backwards = try newestFirst.all()
        #expect(backwards.map(\.seq) == Array((0..<UInt64(count)).reversed()))
        #expect(newestFirst.damaged.isEmpty)
        #expect(last.map(\.seq) == Array(UInt64(count - 5)..<UInt64(count)))
        expectWhole(served + backwards + last)

        let after = try reader.query(Query())
        let now = try after.all()
        #expect(now.map(\.seq) == Array(0..<UInt64(count + 10)))
        #expect(after.damaged.isEmpty)
        expectWhole(now)
    }

    /// The active segment cut inside the part its checkpoint indexes, under
    /// a reader holding a cursor (the file shorter than the blocks the
    /// cursor has still to read): no crash, every line still whole in the
    /// file served, and every other named as a damaged line — none served
    /// in part.
    @Test(arguments: [false, true]) func aCutUnderTheCheckpointedBlocksNamesTheLinesGone(newestFirst: Bool) throws {
        let directory = TemporaryDirectory()
        let count = 20_000
        let active = try makeStore(directory, count: count)
        let bytes = try readBytes(active)
        // In the middle of a line, in the last tenth of the segment.
        let middle = try #require(bytes[(bytes.count * 9 / 10)...].firstIndex(of: 0x0A)) + 40
        let whole = bytes[..<middle].filter { $0 == 0x0A }.count

        let reader = try StoreReader(at: directory.path)
        let cursor = try reader.query(Query(order: newestFirst ? .newestFirst : .oldestFirst))
        var served: [Record] = []
        // A block's worth before the cut is reached (oldest first), or none
        // of what the cut leaves (newest first: the first records are past it).
        if !newestFirst { for _ in 0..<200 { served.append(try #require(try cursor.next())) } }
        #expect(truncate(active, off_t(middle)) == 0)

        served += try cursor.all()
        expectWhole(served)
        let seqs = Set(served.map(\.seq))
        #expect(seqs == Set(0..<UInt64(whole)))
        let damaged = Set(cursor.damaged.map(\.seq))
        #expect(damaged == Set(UInt64(whole)..<UInt64(count)), "\(cursor.damaged.prefix(2))")
        #expect(cursor.damaged.allSatisfy { $0.reason.contains("shorter than its index says") }, "\(cursor.damaged.prefix(2))")

        // A new look finds the segment cut: read again from its start (the
        // checkpoint no longer matches it), its whole lines served.
        let again = try reader.query(Query())
        let now = try again.all()
        #expect(now.map(\.seq) == Array(0..<UInt64(whole)))
        expectWhole(now)
    }

    /// EIO on reading a checkpointed block of the active segment: its lines
    /// are named as damaged with the file and the call, as a sealed
    /// segment's would be, and every other record is served.
    @Test func eioOnACheckpointedBlockNamesItsLines() throws {
        let directory = TemporaryDirectory()
        let count = 2000
        let active = try makeStore(directory, count: count)
        let fileSystem = FirstBlockFailing()
        let cursor = try FileReads.$fileSystem.withValue(fileSystem) { try StoreReader(at: directory.path).query(Query()) }
        let records = try FileReads.$fileSystem.withValue(fileSystem) { try cursor.all() }
        #expect(fileSystem.failures.withLock { $0 } >= 1)
        let first = try #require(records.first?.seq)
        #expect(first > 0 && records.map(\.seq) == Array(first..<UInt64(count)))
        expectWhole(records)
        #expect(cursor.damaged.map(\.seq) == Array(0..<first))
        #expect(cursor.damaged.allSatisfy { $0.path == active && $0.reason.contains("pread failed") },
            "\(cursor.damaged.prefix(2))")
    }
}

/// The real file system, but a `pread` of a segment file at offset 0 fails
/// with EIO.
final class FirstBlockFailing: FileSystem {
    private let real = SystemFileSystem()
    let failures = Protected(0)

    func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String) throws(StoaError) -> Int {
        if offset == 0 && path.hasSuffix(".jsonl") {
            failures.withLock { $0 += 1 }
            throw StoaError.syscall("pread", errno: EIO, path: path)
        }
        return try real.pread(fd, into: buffer, at: offset, path: path)
    }
}
