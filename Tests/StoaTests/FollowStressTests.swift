import Foundation
import Synchronization
import StoaTestSupport
import Testing

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// A follower racing a writer whose segments are tiny and move through the
/// tiers as soon as they are sealed (`hot_for` and `warm_for` 0): every
/// record must arrive once, in seq order, and nothing may throw or crash.
///
/// Issue 13, item 19: `stoa tail -f` during such appends died about once in
/// 100 runs. The suite's version is small enough to run in seconds; set
/// `STOA_STRESS_ITERATIONS` (and `STOA_STRESS_RECORDS`) to run it longer,
/// e.g. under ThreadSanitizer:
///
/// ```
/// swift build --build-tests --sanitize=thread --scratch-path .build-tsan
/// STOA_STRESS_ITERATIONS=50 swift test --skip-build --sanitize=thread \
///     --scratch-path .build-tsan --filter FollowStressTests
/// ```
@Suite struct FollowStressTests {
    static func setting(_ name: String, default value: Int) -> Int {
        guard let text = ProcessInfo.processInfo.environment[name], let number = Int(text), number > 0 else { return value }
        return number
    }

    static var iterations: Int { setting("STOA_STRESS_ITERATIONS", default: 3) }
    static var records: Int { setting("STOA_STRESS_RECORDS", default: 1500) }

    static func tinyImmediatelyTiered() -> StoreConfiguration {
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        configuration.hotFor = .microseconds(0)
        configuration.warmFor = .microseconds(0)
        return configuration
    }

    @Test func aFollowerGetsEveryRecordOnceWhileSegmentsMoveAtOnce() throws {
        for iteration in 0..<Self.iterations {
            let directory = TemporaryDirectory()
            let store = try Store(at: directory.path, creating: Self.tinyImmediatelyTiered())
            let follower = try StoreReader(at: directory.path).follow(from: .seq(0))
            let total = Self.records
            let failure = Protected<StoaError?>(nil)
            let writer = Thread {
                do throws(StoaError) {
                    for n in 0..<total {
                        try store.append(#"{"ts":\#(1_795_000_000 + n),"n":\#(n),"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#)
                    }
                } catch {
                    failure.withLock { $0 = error }
                }
            }
            writer.start()
            var seen: [UInt64] = []
            seen.reserveCapacity(total)
            while seen.count < total, let record = try follower.next(waitingUpTo: .microseconds(30_000_000)) {
                seen.append(record.seq)
            }
            #expect(failure.withLock { $0 } == nil)
            #expect(seen == (0..<UInt64(total)).map { $0 }, "iteration \(iteration)")
            try store.close()
            #expect(follower.damaged.isEmpty, "iteration \(iteration): \(follower.damaged)")
        }
    }

    /// Many readers, each taking a full snapshot, while segments are sealed
    /// and moved: no read fails, and each sees a gapless run of seqs.
    @Test func snapshotsTakenDuringMovesHaveNoGapsAndNoErrors() throws {
        for _ in 0..<Self.iterations {
            let directory = TemporaryDirectory()
            let store = try Store(at: directory.path, creating: Self.tinyImmediatelyTiered())
            let total = Self.records
            let done = Atomic<Bool>(false)
            let writer = Thread {
                for n in 0..<total {
                    _ = try? store.append(#"{"ts":\#(1_795_000_000 + n),"n":\#(n)}"#)
                }
                done.store(true, ordering: .releasing)
            }
            writer.start()
            var looks = 0
            while !done.load(ordering: .acquiring) || looks == 0 {
                let reader = try StoreReader(at: directory.path)
                let records = try reader.query(Query()).all()
                let seqs = records.map(\.seq).sorted()
                #expect(seqs == (0..<UInt64(seqs.count)).map { $0 })
                looks += 1
            }
            try store.close()
            #expect(try StoreReader(at: directory.path).query(Query()).all().count == total)
        }
    }

    /// Seqs missing between two segments (a segment removed, or a listing
    /// that missed one being moved) are not skipped at once: the follower
    /// waits for a later look, and only passes them (named) once they stay
    /// missing.
    @Test func aFollowerWaitsAtAGapBeforePassingIt() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        let store = try Store(at: directory.path, creating: configuration)
        for n in 0..<200 { try store.append(#"{"ts":\#(1_795_000_000 + n),"n":\#(n),"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxx"}"#) }
        try store.close()
        let segments = listDirectory(directory.appending("segments")).filter { $0.hasSuffix(".jsonl") }.sorted()
        try #require(segments.count >= 3)
        let missing = try #require(SegmentName(fileName: segments[1]))
        let after = try #require(SegmentName(fileName: segments[2]))
        try FileManager.default.removeItem(atPath: directory.appending("segments/" + segments[1]))

        let clock = TestClock()
        let follower = try StoreReader(at: directory.path).follow(from: .seq(0), clock: clock.clock)
        var seqs: [UInt64] = []
        while let record = try follower.nextIfAvailable() { seqs.append(record.seq) }
        // Up to the gap at once, and no further yet: not while the gap is
        // as old as two full looks of the reader.
        #expect(seqs == (0..<missing.base).map { $0 })
        clock.advance(by: Follower.gapWait)
        #expect(try follower.nextIfAvailable() == nil)
        #expect(follower.damaged.isEmpty)
        // Then, the gap still there, past it, with the missing seqs named.
        clock.advance(by: 1)
        while let record = try follower.nextIfAvailable() { seqs.append(record.seq) }
        #expect(seqs == (0..<missing.base).map { $0 } + (after.base..<200).map { $0 })
        #expect(follower.damaged.map(\.seq) == [missing.base])
        #expect(follower.damaged.first?.reason.contains("missing") == true)
    }
}
