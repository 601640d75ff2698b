import Foundation
import StoaTestSupport
import Synchronization
import Testing

@testable import Stoa

/// What the power-loss model found, each shown without it.
@Suite struct PowerLossFindingsTests {
    /// Appends records `range`, about 90 bytes each (45 to a 4 KiB segment).
    static func append(_ range: Range<Int>, to store: Store) throws {
        for n in range { try store.append(#"{"ts":"2026-12-07T10:00:00Z","n":\#(n),"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#) }
    }

    /// An active segment cut to nothing (a power cut before its first sync)
    /// stays as an empty segment once the next writer starts at the
    /// high-water mark. A backup took the empty segment for one its listing
    /// had missed, before every later segment, again and again: it never
    /// ended (found by the power-loss model).
    @Test func aBackupPassesAnEmptySegmentBeforeAGap() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        var store = try Store(at: source, creating: configuration)
        for n in 0..<100 { try store.append(#"{"ts":"2026-12-07T10:00:00Z","n":\#(n),"pad":"xxxxxxxxxxxxxxxxxxxxxxxx"}"#) }
        try store.close()
        let active = try #require(listDirectory(source + "/segments").filter { $0.hasSuffix(".jsonl") }.max())
        #expect(truncate(source + "/segments/" + active, 0) == 0)
        store = try Store(at: source)
        #expect(store.recovery.missing != nil)
        let next = try store.append(#"{"ts":"2026-12-07T11:00:00Z","n":"after"}"#)
        try store.close()
        #expect(listDirectory(source + "/segments").contains(active), "the empty segment stays")

        // Bounded only so that a backup that never ends fails the test
        // instead of hanging the run.
        let done = DispatchSemaphore(value: 0)
        let outcome = Protected<Result<BackupReport, StoaError>?>(nil)
        Thread.detachNewThread {
            let result = Result { () throws(StoaError) in try StoreBackup(of: StoreReader(at: source)).copy(to: directory.appending("backup")) }
            outcome.withLock { $0 = result }
            done.signal()
        }
        try #require(done.wait(timeout: .now() + 120) == .success, "the backup never ended")
        let report = try #require(outcome.withLock { $0 }).get()
        #expect(report.nextSeq == next + 1)
        let backedUp = try StoreReader(at: directory.appending("backup")).query(Query()).all().map(\.seq)
        #expect(backedUp == (try StoreReader(at: source).query(Query()).all().map(\.seq)))
    }

    /// The first segment sealed after the oldest ones expired started its
    /// chain of digests again from zeros: a backup that kept the expired
    /// segments (as backups do) failed `verify` there, "the chain of
    /// digests is broken" (found by the power-loss model).
    @Test func aBackupThatKeptExpiredSegmentsVerifiesClean() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        let backup = directory.appending("backup")
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        configuration.retainFor = .microseconds(3_600_000_000)
        let store = try Store(at: source, creating: configuration)
        try Self.append(0..<300, to: store)
        _ = try StoreBackup(of: StoreReader(at: source)).copy(to: backup)
        let report = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: Syscalls.realtimeMicroseconds() + 2 * 3_600_000_000))
        #expect(report.expired.count > 2)
        try Self.append(300..<600, to: store)
        try store.waitForIndexes()
        _ = try StoreBackup(of: StoreReader(at: source)).copy(to: backup)
        try store.close()
        let verified = try StoreReader(at: backup).verify()
        #expect(verified.isClean, "\(verified.problems)")
        #expect(try StoreReader(at: source).verify().isClean)
        #expect(try StoreReader(at: backup).query(Query()).all().map(\.seq) == Array(0..<600))
    }

    /// A tier move cut after the compressed form was in place but before
    /// its `.idx`: recovery removes the plain form, and the `.idx` is
    /// written again for the compressed one. For the oldest segment left
    /// after expiry, its chain then started again from zeros, and the next
    /// segment's no longer followed from it: `verify` failed ("the chain of
    /// digests is broken"). The plain form's `.idx`, of the same bytes,
    /// knows the chain.
    @Test func aCompressionCutBeforeItsIndexKeepsTheChain() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("store")
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        configuration.hotFor = .microseconds(3_600_000_000)
        configuration.retainFor = .microseconds(3 * 3_600_000_000)
        var store = try Store(at: path, creating: configuration)
        try Self.append(0..<300, to: store)
        #expect(try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: Syscalls.realtimeMicroseconds() + 4 * 3_600_000_000)).expired.count > 2)
        try Self.append(300..<600, to: store)
        try store.waitForIndexes()
        let segments = path + "/segments/"
        let oldest = try #require(listDirectory(segments).filter { $0.hasSuffix(".jsonl") }.min())
        let index = String(oldest.dropLast(".jsonl".count)) + ".idx"
        let plain = try Data(contentsOf: URL(fileURLWithPath: segments + oldest))
        let plainIndex = try Data(contentsOf: URL(fileURLWithPath: segments + index))
        #expect(try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: Syscalls.realtimeMicroseconds() + 2 * 3_600_000_000)).warmed.count > 0)
        try store.close()
        // The state the cut left: both forms, and the plain form's .idx.
        try plain.write(to: URL(fileURLWithPath: segments + oldest))
        try plainIndex.write(to: URL(fileURLWithPath: segments + index))
        store = try Store(at: path)
        #expect(!store.recovery.finishedMoves.isEmpty)
        try store.waitForIndexes()
        try store.close()
        let report = try StoreReader(at: path).verify()
        #expect(report.isClean, "\(report.problems)")
    }

    /// A reader that writes the `.idx` of the oldest segment left after
    /// expiry (the writer killed before it could) chains it as the writer
    /// does, from the sealed segment the high-water mark records: it
    /// started from zeros (found by review, after the writer's fix above).
    @Test func aReaderIndexesTheOldestSegmentAfterExpiryAsTheWriterDoes() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("store")
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        configuration.retainFor = .microseconds(3_600_000_000)
        let store = try Store(at: path, creating: configuration)
        try Self.append(0..<300, to: store)
        #expect(try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: Syscalls.realtimeMicroseconds() + 2 * 3_600_000_000)).expired.count > 2)
        let mark = try Data(contentsOf: URL(fileURLWithPath: path + "/HIGHWATER"))
        try Self.append(300..<600, to: store)
        try store.waitForIndexes()
        try store.close()
        let segments = path + "/segments/"
        let oldest = try #require(listDirectory(segments).filter { $0.hasSuffix(".jsonl") }.min())
        let index = segments + String(oldest.dropLast(".jsonl".count)) + ".idx"
        let written = try #require(IndexFile.read(index))
        #expect(written.chain != SHA256.chain(previous: SHA256.zero, digest: written.digest), "the writer chains it on")
        // As a writer killed before the .idx left it: the mark still names
        // the expired segment, no .idx, the segment settled.
        try mark.write(to: URL(fileURLWithPath: path + "/HIGHWATER"))
        try FileManager.default.removeItem(atPath: index)
        let old = Date(timeIntervalSinceNow: -3600)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: segments + oldest)
        _ = try StoreReader(at: path).query(Query()).all()
        let published = try #require(IndexFile.read(index), "the reader writes the .idx")
        #expect(published.chain == written.chain)
    }
}
