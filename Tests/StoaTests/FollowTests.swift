import Foundation
import StoaTestSupport
import Synchronization
import Testing

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

@Suite struct FollowTests {
    @Test func followsAppendsFromTheEnd() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        try store.append(#"{"n":"before"}"#)
        let follower = try StoreReader(at: directory.path).follow()
        #expect(try follower.nextIfAvailable() == nil)
        try store.append(#"{"n":1}"#)
        try store.append(#"{"n":2}"#)
        #expect(try follower.next(waitingUpTo: .microseconds(1_000_000))?.seq == 1)
        #expect(try follower.next(waitingUpTo: .microseconds(1_000_000))?.seq == 2)
        #expect(try follower.next(waitingUpTo: .microseconds(10_000)) == nil)
        let fromStart = try StoreReader(at: directory.path).follow(from: .seq(0))
        #expect(try fromStart.nextIfAvailable()?.json.contains("before") == true)
    }

    /// `stoa tail -f` on a store being written: records appended between
    /// reading the last ones and starting to follow were passed over when
    /// the follower started at the end taken after the read (found by
    /// `Tools/crash_matrix.py`: a follower started as a writer began gave
    /// its first record at seq 20).
    @Test func lastThenFollowPassesOverNoRecordAppendedBetweenItsReads() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        let reader = try StoreReader(at: directory.path)
        var n = 0
        func appendTwo() {
            for _ in 0..<2 {
                _ = try? store.append(#"{"ts":\#(1_795_000_000 + n),"n":\#(n)}"#)
                n += 1
            }
        }
        // The store is empty when the follow starts, and when it comes to read the last records.
        var (recent, _, follower) = try reader.lastThenFollow(5, betweenReads: appendTwo)
        var seqs = recent.map(\.seq)
        while let record = try follower.nextIfAvailable() { seqs.append(record.seq) }
        #expect(seqs == [0, 1])

        // With records: the last one (of the two appended meanwhile), then the two appended after.
        (recent, _, follower) = try reader.lastThenFollow(1, betweenReads: appendTwo)
        seqs = recent.map(\.seq)
        appendTwo()
        while seqs.last != 5, let record = try follower.next(waitingUpTo: .microseconds(10_000_000)) { seqs.append(record.seq) }
        #expect(seqs == [3, 4, 5], "the last record, then each new one once, in order, none passed over")
        try store.close()
    }

    @Test func neitherSkipsNorRepeatsAcrossRotationsAndTierMoves() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        configuration.memberBytes = 64 << 10
        configuration.hotFor = .microseconds(1)
        configuration.warmFor = .microseconds(1)
        let store = try Store(at: directory.path, creating: configuration)
        let follower = try StoreReader(at: directory.path).follow(from: .seq(0))
        let total = 3000
        // A failure fails the test (a `try!` here would end the whole run).
        let failure = Protected<StoaError?>(nil)
        let writer = Thread {
            do throws(StoaError) {
                for n in 0..<total {
                    try store.append(#"{"ts":\#(1_795_000_000 + n),"n":\#(n),"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#)
                    if n % 250 == 0 { _ = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: Syscalls.realtimeMicroseconds() + 10_000_000)) }
                }
            } catch {
                failure.withLock { $0 = error }
            }
        }
        writer.start()
        var seen: [UInt64] = []
        // The deadline only bounds a hang: a record comes as soon as it is appended.
        while seen.count < total, let record = try follower.next(waitingUpTo: .microseconds(60_000_000)) {
            seen.append(record.seq)
        }
        #expect(failure.withLock { $0 } == nil)
        #expect(seen == (0..<UInt64(total)).map { $0 })
        try store.close()
        let files = listDirectory(directory.appending("archive"))
        #expect(files.contains { $0.hasSuffix(".jsonl.gz") }, "segments moved while following")
    }

    @Test func followsAnotherProcess() throws {
        let directory = TemporaryDirectory()
        // Create the store first, so the follower can open it.
        try Store(at: directory.path).close()
        let follower = try StoreReader(at: directory.path).follow(from: .seq(0))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: builtProduct("stoa-crash-writer"))
        process.arguments = [directory.path, "2", "9", "0"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        var seen: [UInt64] = []
        while seen.count < 300, let record = try follower.next(waitingUpTo: .microseconds(10_000_000)) {
            seen.append(record.seq)
        }
        #expect(seen == (0..<300).map { UInt64($0) })
    }

    @Test(.timeLimit(.minutes(1))) func anAsyncSequenceOfNewRecords() async throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        let sequence = try StoreReader(at: directory.path).followAsync()
        let (arrivals, arrived) = AsyncStream.makeStream(of: Int.self)
        let reading = Task {
            var got: [String] = []
            for try await record in sequence {
                got.append(record.json)
                arrived.yield(got.count)
                if got.count == 3 { break }
            }
            return got
        }
        // Each record is appended once the one before has arrived: the
        // sequence waits for every one of them.
        var counts = arrivals.makeAsyncIterator()
        for n in 0..<3 {
            try store.append(#"{"ts":1,"n":\#(n)}"#)
            #expect(await counts.next() == n + 1)
        }
        #expect(try await reading.value == [#"{"ts":1,"n":0}"#, #"{"ts":1,"n":1}"#, #"{"ts":1,"n":2}"#])
    }

    /// Each loop over one `FollowSequence` reads every record from where the
    /// sequence starts: the loops shared one follower, so a second loop went
    /// on where the first stopped.
    @Test(.timeLimit(.minutes(1))) func eachLoopOverOneFollowSequenceStartsAtItsStart() async throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        for n in 0..<6 { try store.append(#"{"ts":1,"n":\#(n)}"#) }
        let sequence = try StoreReader(at: directory.path).followAsync(from: .seq(0))
        var first: [UInt64] = []
        for try await record in sequence {
            first.append(record.seq)
            if first.count == 3 { break }
        }
        var second: [UInt64] = []
        for try await record in sequence {
            second.append(record.seq)
            if second.count == 3 { break }
        }
        #expect(first == [0, 1, 2])
        #expect(second == [0, 1, 2])
    }

    /// Two loops over one `FollowSequence` at once each get every record, in
    /// order (they raced for one follower: each got some, and they used it
    /// from two threads at once).
    @Test(.timeLimit(.minutes(1))) func twoLoopsAtOnceEachGetEveryRecord() async throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        let sequence = try StoreReader(at: directory.path).followAsync(from: .seq(0))
        @Sendable func read(_ count: Int) async throws -> [UInt64] {
            var seqs: [UInt64] = []
            for try await record in sequence {
                seqs.append(record.seq)
                if seqs.count == count { break }
            }
            return seqs
        }
        async let a = read(200)
        async let b = read(200)
        for n in 0..<200 { try store.append(#"{"ts":1,"n":\#(n)}"#) }
        let expected = (0..<200).map { UInt64($0) }
        #expect(try await a == expected)
        #expect(try await b == expected)
    }
}

@Suite struct ReplayTests {
    func makeStore(_ directory: TemporaryDirectory, gaps: [Int64]) throws {
        let store = try Store(at: directory.path)
        var time: Int64 = 1_795_000_000_000_000
        // Appended out of order: replay must sort by time.
        var lines: [String] = []
        for (n, gap) in ([0] + gaps).enumerated() {
            time += gap
            lines.append(#"{"ts":"\#(RecordTime.format(time))","n":\#(n),"session":"\#(n % 2 == 0 ? "a" : "b")"}"#)
        }
        try store.append(contentsOf: lines.reversed())
        try store.close()
    }

    @Test func replaysInTimeOrderAtTheOriginalPaceScaled() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, gaps: [200_000, 200_000, 200_000])  // 0.6 s in all
        let reader = try StoreReader(at: directory.path)
        let clock = TestClock()
        let started = clock.now
        var order: [Int] = []
        var times: [Int64] = []
        let count = try reader.replay(Query(), speed: .factor(2), maxGap: nil, clock: clock.clock) { record in
            let object = try JSONSerialization.jsonObject(with: Data(record.bytes)) as! [String: Any]
            order.append(object["n"] as! Int)
            times.append(clock.now - started)
            return true
        }
        #expect(count == 4)
        #expect(order == [0, 1, 2, 3])
        // 0.2 s gaps at speed 2: each record 0.1 s after the one before.
        #expect(times == [0, 100_000, 200_000, 300_000])
        #expect(clock.waits.withLock { $0 } == [100_000, 100_000, 100_000])

        // As fast as it can: no wait at all.
        #expect(try reader.replay(Query(), speed: .max, maxGap: nil, clock: clock.clock) { _ in true } == 4)
        #expect(clock.waits.withLock { $0 }.count == 3)
    }

    @Test func capsLongGapsAndReplaysOneConversation() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, gaps: [3_600_000_000, 50_000, 3_600_000_000])  // hours apart
        let reader = try StoreReader(at: directory.path)
        let clock = TestClock()
        var sessions: [String?] = []
        let count = try reader.replay(Query(conversation: "a"), speed: .factor(1), maxGap: .microseconds(100_000), clock: clock.clock) { record in
            sessions.append(record.conversation)
            return true
        }
        #expect(count == 2)
        #expect(sessions == ["a", "a"])
        // An hour and 50 ms apart, capped at 0.1 s.
        #expect(clock.waits.withLock { $0 } == [100_000])
        // Stopping early.
        #expect(try reader.replay(Query(), speed: .max) { _ in false } == 1)
    }
}
