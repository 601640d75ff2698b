import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

@Suite struct TierTests {
    static let hour: Int64 = 3_600_000_000

    /// A store of many sealed segments with a policy: hot 1h, warm 1d, keep 30d.
    func makeStore(_ directory: TemporaryDirectory, records: Int = 4000, configure: (inout StoreConfiguration) -> Void = { _ in }) throws -> [Record] {
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 64 << 10
        configuration.memberBytes = 64 << 10
        configuration.hotFor = .microseconds(Self.hour)
        configuration.warmFor = .microseconds(24 * Self.hour)
        configuration.retainFor = .microseconds(30 * 24 * Self.hour)
        configure(&configuration)
        let store = try Store(at: directory.path, creating: configuration)
        var random = SeededGenerator(seed: 3)
        var batch: [String] = []
        for n in 0..<records {
            let type = ["message", "tool_call", "error"].randomElement(using: &random)!
            let text = String(repeating: "lorem ipsum ", count: Int.random(in: 1...20, using: &random))
            batch.append(#"{"ts":\#(1_795_000_000 + n - Int.random(in: 0...3, using: &random)),"type":"\#(type)","session":"c\#(n % 13)","n":\#(n),"text":"\#(text)"}"#)
            if batch.count == 50 {
                try store.append(contentsOf: batch)
                batch.removeAll()
            }
        }
        try store.append(contentsOf: batch)
        try store.waitForIndexes()
        try store.close()
        return try StoreReader(at: directory.path).query(Query()).all()
    }

    func files(_ directory: String, _ suffix: String) -> [String] {
        listDirectory(directory).filter { $0.hasSuffix(suffix) }
    }

    func tier(_ path: String, at now: Int64) throws -> TierReport {
        let store = try Store(at: path)
        let report = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: now))
        try store.close()
        return report
    }

    @Test func goesWarmThenColdThenAwayAndReadsTheSameAtEveryStep() throws {
        let directory = TemporaryDirectory()
        let expected = try makeStore(directory)
        let segments = directory.appending("segments")
        let plain = files(segments, ".jsonl")
        #expect(plain.count > 5)
        let originals = try plain.dropLast().map { try readBytes(segments + "/" + $0) }
        let now = Syscalls.realtimeMicroseconds()

        // Not old enough: nothing moves.
        #expect(try tier(directory.path, at: now).isEmpty)

        // Hot → warm.
        let warm = try tier(directory.path, at: now + 2 * Self.hour)
        #expect(warm.warmed.count == plain.count - 1)
        #expect(files(segments, ".jsonl") == [plain.last!])
        let gzipped = files(segments, ".jsonl.gz")
        #expect(gzipped.count == plain.count - 1)
        for (name, original) in zip(gzipped, originals) {
            // zcat and Python's gzip give back the exact bytes.
            #expect(Array(try run("/bin/zcat", [segments + "/" + name]).stdout.utf8) == original)
            let python = try run("/usr/bin/env", ["python3", "-c", "import gzip,sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())", segments + "/" + name])
            #expect(Array(python.stdout.utf8) == original)
        }
        let reader = try StoreReader(at: directory.path)
        #expect(try reader.query(Query()).all() == expected)
        #expect(try reader.query(Query(types: ["error"], limit: 7, order: .newestFirst)).all()
            == Array(expected.filter { $0.type == "error" }.reversed().prefix(7)))
        #expect(try reader.stats().records == expected.count)

        // Warm → cold.
        let cold = try tier(directory.path, at: now + 26 * Self.hour)
        #expect(cold.cooled.count == plain.count - 1)
        #expect(files(segments, ".gz").isEmpty)
        #expect(files(directory.appending("archive"), ".jsonl.gz").count == plain.count - 1)
        #expect(files(directory.appending("archive"), ".idx").count == plain.count - 1)
        let coldReader = try StoreReader(at: directory.path)
        #expect(try coldReader.query(Query()).all() == expected)
        // A reader keeps cold segments as summaries: their indexes and bytes
        // are loaded by the query that reaches them, and let go after it.
        let kept = try coldReader.snapshot()
        #expect(kept.dropLast().allSatisfy { !$0.isLoaded } && kept.last!.isLoaded)
        #expect(try coldReader.stats().records == expected.count)
        let middle = expected[expected.count / 2]
        #expect(try coldReader.query(Query(since: middle.time, until: middle.time + .microseconds(1))).all()
            == expected.filter { $0.time == middle.time })
        #expect(try coldReader.query(Query(conversation: "c5", order: .newestFirst)).all()
            == expected.filter { $0.conversation == "c5" }.reversed())
        let lastThree = try coldReader.last(3).all()
        #expect(lastThree.map(\.seq) == expected.map(\.seq).sorted().suffix(3), "\(lastThree.map(\.seq))")

        // Cold → gone; the active segment stays.
        let gone = try tier(directory.path, at: now + 31 * 24 * Self.hour)
        #expect(gone.expired.count == plain.count - 1)
        let left = try StoreReader(at: directory.path).query(Query()).all()
        #expect(left == expected.filter { $0.seq >= SegmentName(fileName: plain.last!)!.base })
        // And appends go on with the next seq.
        let store = try Store(at: directory.path)
        #expect(try store.append(#"{"n":"after"}"#) == UInt64(expected.count))
    }

    @Test func aNarrowQueryInflatesFewMembers() throws {
        let directory = TemporaryDirectory()
        let expected = try makeStore(directory, records: 6000)
        _ = try tier(directory.path, at: Syscalls.realtimeMicroseconds() + 2 * Self.hour)
        let reader = try StoreReader(at: directory.path)
        let middle = expected[expected.count / 3].time
        let window = Query(since: middle, until: middle + .seconds(2))
        let got = try reader.query(window).all()
        #expect(got == expected.filter { window.includes(time: $0.time.microsecondsSinceEpoch) })
        let inflated = try reader.snapshot().compactMap { $0.contents as? GzipSegmentContents }.map { $0.inflations.withLock { $0 } }
        #expect(inflated.reduce(0, +) <= 2, "\(inflated)")
    }

    @Test func expiresBySizeOldestFirst() throws {
        let directory = TemporaryDirectory()
        // The writer applies the policy in the background as segments are sealed.
        let expected = try makeStore(directory) { $0.maxBytes = 300 << 10; $0.hotFor = nil; $0.retainFor = nil }
        _ = try tier(directory.path, at: Syscalls.realtimeMicroseconds())
        let names = listDirectory(directory.appending("segments")).filter { $0.hasSuffix(".jsonl") }
        let sizes = try names.map { try readBytes(directory.appending("segments/" + $0)).count }
        #expect(sizes.reduce(0, +) <= 300 << 10)
        #expect(SegmentName(fileName: names[0])!.base > 0, "the oldest segments are gone")
        // What is left is the newest records, all of them.
        let left = try StoreReader(at: directory.path).query(Query()).all().map(\.seq).sorted()
        #expect(left == Array(expected.map(\.seq).sorted().suffix(left.count)))
    }

    @Test func ageCountsFromSealingNotFromRecordTimes() throws {
        let directory = TemporaryDirectory()
        // Records stamped in 1990: a policy by record time would drop them at once.
        _ = try makeStore(directory)
        #expect(try tier(directory.path, at: Syscalls.realtimeMicroseconds() + Self.hour / 2).isEmpty)
    }

    @Test func opensAfterACrashInTheMiddleOfAnyMove() throws {
        let directory = TemporaryDirectory()
        let expected = try makeStore(directory)
        let segments = directory.appending("segments")
        let plain = files(segments, ".jsonl")
        let first = segments + "/" + plain[0]
        let second = segments + "/" + plain[1]
        // A warm copy of each, made in a scratch store.
        let scratch = TemporaryDirectory()
        try FileManager.default.removeItem(atPath: scratch.path)
        try FileManager.default.copyItem(atPath: directory.path, toPath: scratch.path)
        _ = try tier(scratch.path, at: Syscalls.realtimeMicroseconds() + 2 * Self.hour)
        // Crash after the rename of the .gz, before its .idx (both forms, the plain .idx).
        try FileManager.default.copyItem(atPath: scratch.appending("segments/" + plain[0] + ".gz"), toPath: first + ".gz")
        // Crash after the new .idx, before the plain file was removed.
        try FileManager.default.copyItem(atPath: scratch.appending("segments/" + plain[1] + ".gz"), toPath: second + ".gz")
        try FileManager.default.removeItem(atPath: String(second.dropLast(6)) + ".idx")
        try FileManager.default.copyItem(atPath: scratch.appending("segments/" + plain[1].dropLast(6) + ".idx"), toPath: String(second.dropLast(6)) + ".idx")
        // And a half-written temporary.
        try writeBytes([1, 2, 3], to: segments + "/" + plain[2] + ".gz.tmp")

        // Readers see each record once while the store is in that state.
        #expect(try StoreReader(at: directory.path).query(Query()).all() == expected)
        let store = try Store(at: directory.path)
        #expect(store.recovery.finishedMoves.count == 2)
        #expect(store.recovery.removedTemporaryFiles.count == 1)
        try store.waitForIndexes()
        try store.close()
        #expect(try StoreReader(at: directory.path).query(Query()).all() == expected)
        #expect(!FileManager.default.fileExists(atPath: first))
    }

    /// A long-lived reader's conversation directory, built by its first
    /// conversation query, misses nothing as segments are sealed after it,
    /// grow, and move warm and cold: every answer is the full query's,
    /// filtered.
    @Test func aLongLivedReaderFindsEveryConversationAsSegmentsAreSealedAndMove() throws {
        let directory = TemporaryDirectory()
        _ = try makeStore(directory)
        let reader = try StoreReader(at: directory.path)
        let now = Syscalls.realtimeMicroseconds()
        func check(_ step: String) throws {
            let all = try reader.query(Query()).all()
            for conversation in (0..<13).map({ "c\($0)" }) + ["new-0", "new-1", "new-2", "absent"] {
                let expected = all.filter { $0.conversation == conversation }
                #expect(try reader.query(Query(conversation: conversation)).all() == expected, "\(step): \(conversation)")
                #expect(
                    try reader.query(Query(conversation: conversation, limit: 3, order: .newestFirst)).all()
                        == Array(expected.reversed().prefix(3)), "\(step): \(conversation), newest first")
            }
        }
        try check("as made")
        // New records: some of old conversations, some of new ones; enough to
        // seal segments the directory has not seen, and then only a few,
        // which stay in the growing segment.
        for (round, count) in [600, 5].enumerated() {
            let store = try Store(at: directory.path)
            try store.append(
                contentsOf: (0..<count).map { n in
                    let text = String(repeating: "dolor sit amet ", count: 1 + n % 17)
                    return #"{"ts":\#(1_795_010_000 + round * 1000 + n),"session":"\#(n % 3 == 0 ? "new-\(round)" : "c\(n % 13)")","text":"\#(text)"}"#
                })
            try store.waitForIndexes()
            try store.close()
            try check("after appending \(count)")
        }
        _ = try tier(directory.path, at: now + 2 * Self.hour)
        try check("warm")
        _ = try tier(directory.path, at: now + 26 * Self.hour)
        try check("cold")
        // New segments sealed while the old ones expire.
        let store = try Store(at: directory.path)
        try store.append(
            contentsOf: (0..<600).map { n in
                #"{"ts":\#(1_795_020_000 + n),"session":"new-2","text":"\#(String(repeating: "consectetur ", count: 1 + n % 23))"}"#
            })
        try store.waitForIndexes()
        try store.close()
        try check("appended again")
        _ = try tier(directory.path, at: now + 31 * 24 * Self.hour)
        try check("expired")
    }

    @Test func aCursorFinishesAcrossAMove() throws {
        let directory = TemporaryDirectory()
        let expected = try makeStore(directory)
        let cursor = try StoreReader(at: directory.path).query(Query())
        var got: [Record] = []
        for _ in 0..<10 { got.append(try cursor.next()!) }
        _ = try tier(directory.path, at: Syscalls.realtimeMicroseconds() + 26 * Self.hour)
        got += try cursor.all()
        #expect(got == expected)
    }
}

/// A tier run really killed with SIGKILL in the middle of its moves: the
/// crash writer does what `stoa tier` does, and stops before a chosen file
/// system call of the pass (see Tests/CrashWriter), where it is killed. So
/// every run is cut, at the same calls on any machine; `stoa tier` itself
/// then finishes the work.
@Suite(.serialized) struct TierCrashTests {
    @Test func aTierRunKilledAtAnyCallLosesNothing() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 16 << 10
        configuration.memberBytes = 64 << 10
        configuration.hotFor = .microseconds(TierTests.hour)
        configuration.warmFor = .microseconds(24 * TierTests.hour)
        let store = try Store(at: directory.path, creating: configuration)
        for n in 0..<6000 {
            try store.append(#"{"ts":\#(1_795_000_000 + n),"type":"t\#(n % 3)","n":\#(n),"text":"words and more words"}"#)
        }
        try store.waitForIndexes()
        try store.close()
        let expected = try StoreReader(at: directory.path).query(Query()).all()
        #expect(expected.count == 6000)
        #expect(listDirectory(directory.appending("segments")).filter { $0.hasSuffix(".jsonl") }.count > 20)

        var random = SeededGenerator(seed: 8)
        let now = Syscalls.realtimeMicroseconds()
        var stoppedAt: [String] = []
        for round in 0..<8 {
            // Alternately to warm and to cold, so that both kinds of move get
            // cut; a move makes about 15 calls, so each run is cut within
            // its first three moves, at any call of them.
            let hours: Int64 = round % 2 == 0 ? 2 : 30
            let at = now + hours * TierTests.hour * (Int64(round) + 1)
            let stop = Int.random(in: 1...40, using: &random)
            let child = try StoppedChild.run(["tier", directory.path, String(at), String(stop)])
            guard case .killed(let call, _) = child else {
                Issue.record("round \(round): the pass was to be killed before its call \(stop): \(child)")
                continue
            }
            stoppedAt.append(call)

            // Readers see every record exactly once, before and after a writer repairs.
            #expect(try StoreReader(at: directory.path).query(Query()).all() == expected, "round \(round), before reopening")
            let reopened = try Store(at: directory.path)
            try reopened.waitForIndexes()
            try reopened.close()
            #expect(try StoreReader(at: directory.path).query(Query()).all() == expected, "round \(round)")
            let report = try StoreReader(at: directory.path).verify()
            #expect(report.isClean, "round \(round): \(report.problems)")
        }
        // Cut before a link or rename (a new form not yet in place) and
        // before an unlink (both forms in place) at least once each.
        #expect(stoppedAt.contains { $0 == "rename" || $0 == "link" }, "\(stoppedAt)")
        #expect(stoppedAt.contains("unlink"), "\(stoppedAt)")

        // `stoa tier` itself takes every segment on to the archive.
        let finished = try run(builtProduct("stoa"), ["tier", directory.path, "--now", "@\((now + 400 * TierTests.hour) / 1_000_000)"])
        #expect(finished.status == 0, "\(finished.stderr)")
        #expect(listDirectory(directory.appending("segments")).filter { $0.hasSuffix(".gz") }.isEmpty)
        #expect(try StoreReader(at: directory.path).query(Query()).all() == expected)
        #expect(try StoreReader(at: directory.path).verify().isClean)
    }
}

@Suite struct MaintenanceTests {
    @Test func anIdleSegmentIsSealedOnceOld() throws {
        let directory = TemporaryDirectory()
        let clock = TestClock()
        let store = try Store(at: directory.path, creating: StoreConfiguration(), fileSystem: SystemFileSystem(), clock: clock.clock)
        try store.append(#"{"n":1}"#)
        clock.advance(by: store.configuration.segmentAge.wholeMicroseconds - 1)
        store.sealIfOld()
        #expect(store.writeStats.sealedSinceOpen == 0, "not old yet")
        clock.advance(by: 1)
        store.sealIfOld()
        #expect(store.writeStats.sealedSinceOpen == 1)
        clock.advance(by: store.configuration.segmentAge.wholeMicroseconds)
        store.sealIfOld()
        #expect(store.writeStats.sealedSinceOpen == 1, "an empty segment is not sealed")
        #expect(try store.append(#"{"n":2}"#) == 1)
        try store.waitForIndexes()
        try store.close()
        // The sealed segment's .idx, and the active one's checkpoint, written at close.
        #expect(listDirectory(directory.appending("segments")) == [
            "00000000000000000000.idx", "00000000000000000000.jsonl", "00000000000000000001.idx",
            "00000000000000000001.jsonl",
        ])
    }
}
