import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// `dedup_window` across processes, and repeats told by their bytes, not a
/// 64-bit hash (issue 13).
@Suite struct DedupWindowTests {
    let hour: Int64 = 3_600_000_000

    func configuration() -> StoreConfiguration {
        var configuration = StoreConfiguration()
        configuration.dedupWindow = .microseconds(hour)
        return configuration
    }

    func stored(_ path: String) throws -> [String] {
        try StoreReader(at: path).query(Query()).all().map(\.json)
    }

    /// A store opened again (another `stoa append`) rebuilds the window from
    /// the segments written within it: the same line is stored once. A
    /// record without a time is a repeat of one this process stamped; after
    /// a reopen the stamp cannot be told from a time the record carried, so
    /// its copy is stored again rather than a different record dropped.
    @Test func aRepeatIsKeptOutByTheNextProcessToo() throws {
        let directory = TemporaryDirectory()
        let first = try Store(at: directory.path, creating: configuration())
        #expect(try first.append(#"{"ts":1,"n":1}"#) == 0)
        #expect(try first.append(#"{"n":2}"#) == 1, "a record without a time: stamped")
        #expect(try first.append(#"{"n":2}"#) == 1, "its repeat, though it would get another stamp")
        try first.close()

        let second = try Store(at: directory.path)
        #expect(try second.append(#"{"ts":1,"n":1}"#) == 0)
        #expect(try second.append(contentsOf: [#"{"ts":1,"n":1}"#, #"{"ts":1,"n":3}"#]) == 2..<3)
        #expect(try second.append(#"{"n":2}"#) == 3, "stamped before the reopen: stored again")
        #expect(try second.append(#"{"n":2}"#) == 3, "stamped by this process: a repeat")
        #expect(second.writeStats.deduplicated == 3)
        try second.close()
        let lines = try stored(directory.path)
        #expect(lines.count == 4)
        #expect(lines[0...1] == [#"{"ts":1,"n":1}"#, #"{"ts":1,"n":3}"#])
    }

    /// The window counts a stored record as appended when its segment was
    /// last written: a segment last written before the window is not read.
    @Test func aSegmentWrittenBeforeTheWindowIsNotRemembered() throws {
        let directory = TemporaryDirectory()
        var configuration = configuration()
        configuration.segmentBytes = 4096
        let first = try Store(at: directory.path, creating: configuration)
        let pad = String(repeating: "x", count: 3000)
        #expect(try first.append(#"{"ts":1,"n":1,"pad":"\#(pad)"}"#) == 0)
        #expect(try first.append(#"{"ts":1,"n":2,"pad":"\#(pad)"}"#) == 1)  // seals the first segment
        try first.close()
        try setModified(directory.appending("segments/00000000000000000000.jsonl"), toSecondsAgo: 2 * 3600)

        let second = try Store(at: directory.path)
        #expect(try second.append(#"{"ts":1,"n":2,"pad":"\#(pad)"}"#) == 1, "in the window")
        #expect(try second.append(#"{"ts":1,"n":1,"pad":"\#(pad)"}"#) == 2, "written two hours ago: stored again")
        try second.close()
    }

    /// With every digest the same, records are still told apart by their
    /// bytes: a different record is stored, a true repeat is not, in this
    /// process and the next (whose window reads the bytes back from the
    /// segments, a sealed one too).
    @Test func recordsWhoseDigestsCollideAreBothStored() throws {
        let directory = TemporaryDirectory()
        let weak: DedupWindow.Digester = { _ in DedupWindow.Digest(high: 7, low: 7) }
        var configuration = configuration()
        configuration.segmentBytes = 4096
        let pad = String(repeating: "y", count: 2500)
        let (a, b, c) = (#"{"ts":1,"n":"a","pad":"\#(pad)"}"#, #"{"ts":1,"n":"b"}"#, #"{"ts":1,"n":"c"}"#)
        let first = try Store(at: directory.path, creating: configuration, fileSystem: SystemFileSystem(), dedupDigest: weak)
        #expect(try first.append(a) == 0)
        #expect(try first.append(b) == 1)
        #expect(try first.append(a) == 0)
        #expect(try first.append(b) == 1)
        #expect(try first.append(contentsOf: [c, c, a]) == 2..<3)
        #expect(try first.append(String(repeating: " ", count: 3) + b) == 1, "whitespace does not count")
        try first.close()

        let second = try Store(at: directory.path, creating: configuration, fileSystem: SystemFileSystem(), dedupDigest: weak)
        #expect(try second.append(b) == 1)
        let e = #"{"ts":1,"n":"e","pad":"\#(pad)"}"#
        #expect(try second.append(e) == 3)  // seals the first segment
        #expect(second.writeStats.sealedSinceOpen == 1)
        #expect(try second.append(a) == 0, "read back from the sealed segment")
        #expect(try second.append(#"{"ts":1,"n":"d"}"#) == 4)
        #expect(try second.append(e) == 3)
        try second.close()
        #expect(try stored(directory.path) == [a, b, c, e, #"{"ts":1,"n":"d"}"#])
    }

    /// A record that came with a time in exactly Stoa's stamp form keeps
    /// it in its key: a record without a time is not its repeat, in this
    /// process or after a reopen (the window rebuilt from the file took
    /// such a line both with and without its time, and dropped the second).
    @Test func aGivenTimeInStoasStampFormIsNotTakenForAStamp() throws {
        let timed = #"{"ts":"2026-11-23T10:00:00.000000Z","msg":"hb"}"#
        func appendPair(reopening: Bool) throws -> [UInt64] {
            let directory = TemporaryDirectory()
            var store = try Store(at: directory.path, creating: configuration())
            let first = try store.append(timed)
            if reopening {
                try store.close()
                store = try Store(at: directory.path)
            }
            let second = try store.append(#"{"msg":"hb"}"#)
            let again = try store.append(timed)
            try store.close()
            #expect(try stored(directory.path).count == 2)
            return [first, second, again]
        }
        let inProcess = try appendPair(reopening: false)
        #expect(inProcess == [0, 1, 0])
        #expect(try appendPair(reopening: true) == inProcess)
    }

    /// Opening takes only lines that are valid records into the window: a
    /// line changed in place in a sealed segment is passed over (and still
    /// counts its seq).
    @Test func aDamagedLineIsNotTakenIntoTheWindow() throws {
        let directory = TemporaryDirectory()
        var configuration = configuration()
        configuration.segmentBytes = 4096
        let pad = String(repeating: "z", count: 1500)
        let first = try Store(at: directory.path, creating: configuration)
        for n in 0..<3 { #expect(try first.append(#"{"ts":1,"n":\#(n),"pad":"\#(pad)"}"#) == UInt64(n)) }
        try first.close()
        let segment = directory.appending("segments/00000000000000000000.jsonl")
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: segment)))
        let second = bytes.firstIndex(of: UInt8(ascii: "\n"))! + 1
        #expect(String(decoding: bytes[second..<(second + 22)], as: UTF8.self) == #"{"ts":1,"n":1,"pad":"z"#)
        bytes[second + 20] = UInt8(ascii: "y")  // "pad":"zz… → "pad":yzz…
        try Data(bytes).write(to: URL(fileURLWithPath: segment))

        let window = try DedupWindow.rebuilt(
            window: hour, segments: try StoreLayout(root: directory.path).listAllSegments(),
            scanner: RecordScanner(fields: FieldNames()), now: Syscalls.realtimeMicroseconds())
        #expect(window.count == 2, "seqs 0 and 2, not the damaged 1")
    }

    /// In this process too, only a stamp Stoa inserted is left out of a
    /// key: a record that came with the very time of the append, in the
    /// stamp's form, keeps it.
    @Test func aGivenTimeEqualToTheStampIsPartOfTheKey() throws {
        let encoder = RecordEncoder(fields: FieldNames(), maxRecordBytes: 1 << 20)
        let now = Syscalls.realtimeMicroseconds()
        var text: [UInt8] = []
        RecordTime.append(now, to: &text)
        var batch = EncodedBatch(digest: DedupWindow.sha256)
        for record in [#"{"msg":"hb"}"#, #"{"ts":"\#(String(decoding: text, as: UTF8.self))","msg":"hb"}"#] {
            try Array(record.utf8).withUnsafeBufferPointer { try batch.add($0, encoder: encoder, now: now) }
        }
        #expect(batch.bytes.split(separator: UInt8(ascii: "\n")).map { Array($0) }.allSatisfy { $0 == batch.bytes.prefix(batch.lineEnds[0] - 1).map { $0 } })
        #expect(batch.keyStarts == [1 + 5 + RecordTime.formattedCount + 3, 1], "the stamp left out of the first key only")
        #expect(batch.digests?[0] != batch.digests?[1])
    }

    @Test func recordsLeaveTheWindowWhenItsTimeIsPast() {
        var window = DedupWindow(window: 1000)
        let key = Array(#""n":1}"#.utf8)
        let digest = key.withUnsafeBufferPointer { window.digest($0) }
        let line = Array(#"{"n":1}"#.utf8)
        window.remember(.init(seq: 5, segment: 0, offset: 0, length: Int32(line.count), keyStart: 1), digest: digest, time: 10_000)
        func find() -> UInt64? { key.withUnsafeBufferPointer { window.find($0, digest: digest, line: { _ in line }) } }
        window.expire(now: 11_000)
        #expect(find() == 5)
        window.expire(now: 11_001)
        #expect(find() == nil)
        #expect(window.count == 0)
    }
}

/// File times far in the future do not trap opening a writer: a reader's
/// temporary file and a segment the window reads, dated 2^62 s after the
/// epoch (past Int64 in µs). ext4 holds file times at 2446 (µs fit), tmpfs
/// and btrfs keep them: the store is made on /dev/shm (tmpfs).
@Suite struct DedupFileTimeTests {
    @Test(.enabled(if: FileManager.default.isWritableFile(atPath: "/dev/shm")))
    func filesDatedPastInt64MicrosecondsDoNotTrapOpeningTheWriter() throws {
        var template = Array("/dev/shm/stoa-test.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        let root = String(cString: try #require(made))
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = root + "/store"
        var configuration = StoreConfiguration()
        configuration.dedupWindow = .microseconds(3_600_000_000)
        let first = try Store(at: path, creating: configuration)
        #expect(try first.append(#"{"ts":1,"n":1}"#) == 0)
        try first.close()
        let segment = path + "/segments/00000000000000000000.jsonl"
        let temporary = path + "/segments/00000000000000000000.idx.4242-1.tmp"
        #expect(FileManager.default.createFile(atPath: temporary, contents: Data("x".utf8)))
        let future = timespec(tv_sec: 1 << 62, tv_nsec: 0)
        for file in [segment, temporary] {
            let result = withUnsafePointer(to: (future, future)) {
                $0.withMemoryRebound(to: timespec.self, capacity: 2) { utimensat(AT_FDCWD, file, $0, 0) }
            }
            #expect(result == 0)
            var info = stat()
            #expect(stat(file, &info) == 0 && info.st_mtim.tv_sec == 1 << 62, "the file system kept the time")
        }
        let second = try Store(at: path)
        #expect(try second.append(#"{"ts":1,"n":1}"#) == 0, "the window read the segment")
        try second.close()
        #expect(FileManager.default.fileExists(atPath: temporary), "dated in the future: not stale")
    }
}
