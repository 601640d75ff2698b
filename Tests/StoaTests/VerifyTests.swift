import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

@Suite struct VerifyTests {
    /// A store of many sealed segments; with `warm`, all but the active one compressed.
    func makeStore(_ directory: TemporaryDirectory, warm: Bool = false) throws -> [Record] {
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 32 << 10
        configuration.memberBytes = 64 << 10
        configuration.hotFor = warm ? .microseconds(1) : nil
        let store = try Store(at: directory.path, creating: configuration)
        for n in 0..<3000 {
            try store.append(#"{"ts":\#(1_795_000_000 + n),"type":"t\#(n % 5)","n":\#(n),"text":"some words here"}"#)
        }
        try store.waitForIndexes()
        if warm { _ = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: Syscalls.realtimeMicroseconds() + 1_000_000_000)) }
        try store.close()
        return try StoreReader(at: directory.path).query(Query()).all()
    }

    func segments(_ directory: TemporaryDirectory, _ suffix: String) -> [String] {
        listDirectory(directory.appending("segments")).filter { $0.hasSuffix(suffix) }.map { directory.appending("segments/" + $0) }
    }

    func verify(_ directory: TemporaryDirectory) throws -> VerifyReport {
        try StoreReader(at: directory.path).verify()
    }

    @Test func aCleanStoreIsClean() throws {
        let directory = TemporaryDirectory()
        _ = try makeStore(directory)
        let report = try verify(directory)
        #expect(report.isClean, "\(report.problems)")
        #expect(report.records == 3000)
        let warm = TemporaryDirectory()
        _ = try makeStore(warm, warm: true)
        let warmReport = try verify(warm)
        #expect(warmReport.isClean, "\(warmReport.problems)")
        #expect(warmReport.records == 3000)
    }

    @Test func anEditThatKeepsTheJSONValidIsFoundByTheDigest() throws {
        let directory = TemporaryDirectory()
        _ = try makeStore(directory)
        let segment = segments(directory, ".jsonl")[1]
        var bytes = try readBytes(segment)
        let at = try #require(bytes.firstRange(of: Array("some".utf8)))
        bytes[at.lowerBound] = UInt8(ascii: "S")
        try writeBytes(bytes, to: segment)
        let report = try verify(directory)
        #expect(report.problems.contains { $0.path == segment && $0.message.contains("SHA-256") })
        #expect(report.problems.contains { $0.message.contains("chain") } == false)
    }

    @Test func aBrokenLineIsReportedWithItsLine() throws {
        let directory = TemporaryDirectory()
        let expected = try makeStore(directory)
        let segment = segments(directory, ".jsonl")[0]
        var bytes = try readBytes(segment)
        let thirdLine = bytes.indices.filter { bytes[$0] == 0x0A }[1] + 1
        bytes[thirdLine + 2] = UInt8(ascii: "#")  // {"ts" → {"#s": still a key, so break the syntax instead:
        bytes[thirdLine] = UInt8(ascii: "[")
        try writeBytes(bytes, to: segment)
        let report = try verify(directory)
        #expect(report.problems.contains { $0.path == segment && $0.line == 3 })
        // Queries return every other record and name the damaged one.
        let cursor = try StoreReader(at: directory.path).query(Query())
        let records = try cursor.all()
        #expect(records.count == expected.count - 1)
        #expect(cursor.damaged.map(\.line) == [3])
    }

    @Test func aTruncatedSegmentIsFound() throws {
        let directory = TemporaryDirectory()
        _ = try makeStore(directory)
        let segment = segments(directory, ".jsonl")[2]
        let bytes = try readBytes(segment)
        try writeBytes(Array(bytes.prefix(bytes.count - 10)), to: segment)
        let report = try verify(directory)
        #expect(report.problems.contains { $0.path == segment && $0.message.contains("unfinished last line") })
        #expect(report.problems.contains { $0.message.contains("seqs") && $0.message.contains("missing") })
    }

    @Test func aRemovedSegmentBreaksTheSeqsAndTheChain() throws {
        let directory = TemporaryDirectory()
        _ = try makeStore(directory)
        let victim = segments(directory, ".jsonl")[2]
        try FileManager.default.removeItem(atPath: victim)
        try FileManager.default.removeItem(atPath: String(victim.dropLast(6)) + ".idx")
        let report = try verify(directory)
        #expect(report.problems.contains { $0.message.contains("missing") })
        #expect(report.problems.contains { $0.message.contains("chain of digests is broken") })
    }

    @Test func aDamagedGzipMemberIsFoundAndQueriesGoOn() throws {
        let directory = TemporaryDirectory()
        let expected = try makeStore(directory, warm: true)
        let segment = segments(directory, ".jsonl.gz")[1]
        var bytes = try readBytes(segment)
        bytes[bytes.count / 2] ^= 0xFF
        try writeBytes(bytes, to: segment)
        let report = try verify(directory)
        #expect(report.problems.contains { $0.path == segment && $0.offset != nil })
        let cursor = try StoreReader(at: directory.path).query(Query())
        let records = try cursor.all()
        #expect(records.count < expected.count)
        #expect(records.count > expected.count / 2)
        #expect(!cursor.damaged.isEmpty)
        #expect(cursor.damaged.allSatisfy { $0.path == segment })
        // Without its .idx, the segment is read up to the damaged member.
        try FileManager.default.removeItem(atPath: String(segment.dropLast(".jsonl.gz".count)) + ".idx")
        let again = try StoreReader(at: directory.path).query(Query())
        let recordsAgain = try again.all()
        #expect(recordsAgain.count < expected.count)
        #expect(recordsAgain.count >= expected.count / 2)
        #expect(again.damaged.contains { $0.path == segment && $0.reason.contains("cannot be read") })
    }

    /// Segments are checked on several threads; the report must not depend
    /// on how many, nor on which finished first.
    @Test(arguments: [false, true])
    func theReportIsTheSameOnAnyNumberOfThreads(warm: Bool) throws {
        let directory = TemporaryDirectory()
        _ = try makeStore(directory, warm: warm)
        let suffix = warm ? ".jsonl.gz" : ".jsonl"
        let files = segments(directory, suffix).sorted()
        try #require(files.count > 4)
        // Damage of several kinds, in several segments.
        var first = try readBytes(files[1])
        first[first.count / 2] ^= 0x20
        try writeBytes(first, to: files[1])
        var second = try readBytes(files[2])
        second[second.count / 3] = warm ? second[second.count / 3] ^ 0xFF : 0x01
        try writeBytes(second, to: files[2])
        try FileManager.default.removeItem(atPath: files[3])
        try writeBytes(Array("not an index".utf8), to: String(files[4].dropLast(suffix.count)) + ".idx")
        let reader = try StoreReader(at: directory.path)
        let one = try reader.verify(threads: 1)
        #expect(one.problems.count >= 4)
        for threads in [2, 3, 8] {
            let many = try reader.verify(threads: threads)
            #expect(many.problems.map(\.description) == one.problems.map(\.description), "\(threads) threads")
            #expect(many.notes.map(\.description) == one.notes.map(\.description))
            #expect((many.segments, many.records, many.bytes) == (one.segments, one.records, one.bytes))
        }
    }

    @Test func anEmptyStoreIsClean() throws {
        let directory = TemporaryDirectory()
        try Store(at: directory.path, creating: StoreConfiguration()).close()
        let report = try verify(directory)
        #expect(report.isClean)
        #expect(report.records == 0)
    }

    @Test func theCommandLineExitsOneOnDamage() throws {
        let directory = TemporaryDirectory()
        _ = try makeStore(directory)
        let stoa = builtProduct("stoa")
        let clean = try run(stoa, ["verify", directory.path])
        #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
        #expect(clean.stderr.contains("clean"))
        let segment = segments(directory, ".jsonl")[0]
        var bytes = try readBytes(segment)
        bytes[0] = UInt8(ascii: "x")
        try writeBytes(bytes, to: segment)
        let damaged = try run(stoa, ["verify", directory.path])
        #expect(damaged.status == 1)
        #expect(damaged.stdout.contains(segment + ":line 1"))
    }
}
