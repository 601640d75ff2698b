import Dispatch
import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// The real file system, except that writes to chosen paths can be held
/// (they wait until released: the store "hangs", so the logger's buffer
/// fills) or failed, and creating files under a chosen directory can fail.
final class LoggerFileSystem: FileSystem, @unchecked Sendable {
    private struct Rules {
        /// Writes to paths ending so fail with this errno.
        var failingWrites: (suffix: String, errno: Int32)?
        /// Opens that create a file whose path contains this fail with this
        /// errno (this many times; nil: always).
        var failingCreates: (fragment: String, errno: Int32, times: Int?)?
        /// Writes to paths ending so wait until released.
        var heldWrites: String?
    }

    private let real = SystemFileSystem()
    private let rules = Protected(Rules())
    /// Signaled each time a write starts waiting.
    let writeHeld = DispatchSemaphore(value: 0)
    // `holding` is protected by `gate`; the rest is immutable or `Protected`.
    private let gate = NSCondition()
    private var holding = false

    func failWrites(endingWith suffix: String, errno: Int32) { rules.withLock { $0.failingWrites = (suffix, errno) } }
    func failCreates(containing fragment: String, errno: Int32, times: Int? = nil) {
        rules.withLock { $0.failingCreates = (fragment, errno, times) }
    }
    func clearFailures() {
        rules.withLock {
            $0.failingWrites = nil
            $0.failingCreates = nil
        }
    }

    func holdWrites(endingWith suffix: String) {
        gate.withLock { holding = true }
        rules.withLock { $0.heldWrites = suffix }
    }

    func releaseWrites() {
        rules.withLock { $0.heldWrites = nil }
        gate.withLock {
            holding = false
            gate.broadcast()
        }
    }

    func open(_ path: String, flags: Int32, mode: mode_t) throws(StoaError) -> Int32 {
        if flags & O_CREAT != 0 {
            let failure = rules.withLock { (rules) -> Int32? in
                guard let rule = rules.failingCreates, path.contains(rule.fragment) else { return nil }
                if let times = rule.times {
                    rules.failingCreates = times > 1 ? (rule.fragment, rule.errno, times - 1) : nil
                }
                return rule.errno
            }
            if let failure { throw StoaError.syscall("open", errno: failure, path: path) }
        }
        return try real.open(path, flags: flags, mode: mode)
    }
    func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(StoaError) -> Int {
        let (held, failing) = rules.withLock { ($0.heldWrites, $0.failingWrites) }
        if let held, path.hasSuffix(held) {
            writeHeld.signal()
            gate.withLock {
                while holding { gate.wait() }
            }
        }
        if let failing, path.hasSuffix(failing.suffix) {
            throw StoaError.syscall("write", errno: failing.errno, path: path)
        }
        return try real.write(fd, buffer, path: path)
    }
}

@Suite struct EventLoggerTests {
    /// A configuration that never flushes by itself unless the buffer fills,
    /// and retries fast.
    func configuration(
        bufferSize: Int = 100, overflow: EventLogger.OverflowStrategy = .dropOldest
    ) -> EventLogger.Configuration {
        var configuration = EventLogger.Configuration()
        configuration.bufferSize = bufferSize
        configuration.flushInterval = .seconds(3600)
        configuration.overflow = overflow
        configuration.maxRetries = 2
        configuration.initialBackoff = .milliseconds(1)
        configuration.maxBackoff = .milliseconds(4)
        configuration.storeConfiguration.durability = .buffered
        return configuration
    }

    func stored(_ path: String) throws -> [Record] {
        try StoreReader(at: path).query(Query()).all().sorted { $0.seq < $1.seq }
    }

    /// The `n` of each record.
    func numbers(_ records: [Record]) throws -> [Int] {
        try records.map { try number(in: $0.bytes) }
    }

    func number(in line: some Collection<UInt8>) throws -> Int {
        let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
        return try #require(object?["n"] as? Int)
    }

    func record(_ n: Int) -> String { #"{"type":"step","n":\#(n)}"# }

    /// Every record accounted for, nothing in flight.
    func expectBalanced(_ stats: EventLogger.Stats, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(stats.inFlight == 0, sourceLocation: sourceLocation)
        #expect(
            stats.logged == stats.flushed + stats.fellBack + stats.dropped + UInt64(stats.bufferFill),
            "\(stats)", sourceLocation: sourceLocation)
    }

    /// Waits (up to 10 s) until `condition` holds.
    func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: 10)
        while !condition() {
            if Date() > deadline { return false }
            usleep(1000)
        }
        return true
    }

    // MARK: Writing

    @Test func everythingIsFlushedInOrderWithConsecutiveSeqs() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("store")
        // `block`: a burst faster than the flusher waits instead of dropping.
        let logger = EventLogger(storePath: path, configuration: configuration(bufferSize: 10, overflow: .block))
        for n in 0..<250 { logger.log(record(n)) }
        let stats = logger.stop()
        #expect(stats.logged == 250)
        #expect(stats.flushed == 250)
        #expect(stats.dropped == 0 && stats.fellBack == 0 && stats.retried == 0)
        #expect(stats.flushes >= 25)
        #expect(stats.bufferCapacity == 10)
        expectBalanced(stats)
        let records = try stored(path)
        #expect(records.map(\.seq) == Array(0..<250))
        #expect(try numbers(records) == Array(0..<250))
        // The time was inserted first, as the store does.
        #expect(records.allSatisfy { $0.json.hasPrefix(#"{"ts":""#) })
        #expect(listDirectory(directory.path) == ["store"])  // no fallback directory
    }

    @Test func aRecordGetsItsTimeWhenLoggedNotWhenFlushed() throws {
        let directory = TemporaryDirectory()
        let clock = TestClock()
        let logger = EventLogger(
            storePath: directory.path, configuration: configuration(), fileSystem: SystemFileSystem(), clock: clock.clock)
        let logged = clock.now
        logger.log(record(0))
        clock.advance(by: 30_000)
        logger.flush()
        let records = try stored(directory.path)
        #expect(records.count == 1)
        #expect(records[0].time.microsecondsSinceEpoch == logged)
        // A record's own time is kept.
        logger.log(#"{"ts":"2026-01-02T03:04:05Z","n":1}"#)
        logger.stop()
        #expect(try stored(directory.path).last?.timeText == "2026-01-02T03:04:05.000000Z")
    }

    @Test func typedEncodedAndInvalidRecords() throws {
        struct ToolCall: Encodable {
            var type = "tool_call"
            var tool: String
            var at: Date
        }
        let directory = TemporaryDirectory()
        let logger = EventLogger(storePath: directory.path, configuration: configuration())
        logger.log(type: "tool_call", ["tool": "grep", "ms": 12, "ok": true])
        logger.log(encoding: ToolCall(tool: "sed", at: Date(timeIntervalSince1970: 1)))
        logger.log(Array(#"{"type":"bytes","n":1}"#.utf8))
        logger.log("not json")
        logger.log("[1, 2]")
        logger.log(encoding: [1, 2])  // encodes, but to an array
        logger.log(#"{"ts":"yesterday-ish"}"#)  // an unreadable time
        var stats = logger.stats
        #expect(stats.rejected == 4)
        #expect(stats.lastError?.code == .invalidRecord)
        stats = logger.stop()
        #expect(stats.logged == 7)
        #expect(stats.flushed == 3)
        expectBalanced(stats)
        let records = try stored(directory.path)
        #expect(records.map(\.type) == ["tool_call", "tool_call", "bytes"])
        #expect(records[0].json.contains(#""type":"tool_call","tool":"grep","ms":12,"ok":true"#))
        #expect(records[1].json.contains(#""at":"1970-01-01T00:00:01.000000Z""#))
    }

    @Test func theIntervalFlushes() throws {
        let directory = TemporaryDirectory()
        let clock = TestClock()
        // An hour, by the clock the logger was given.
        let logger = EventLogger(
            storePath: directory.path, configuration: configuration(), fileSystem: SystemFileSystem(), clock: clock.clock)
        for n in 0..<3 { logger.log(record(n)) }
        clock.advance(by: 3_600_000_000 - 1)
        logger.wake()
        #expect(logger.stats.flushed == 0)
        clock.advance(by: 1)
        logger.wake()
        #expect(eventually { logger.stats.flushed == 3 })
        #expect(try numbers(stored(directory.path)) == [0, 1, 2])
        logger.stop()
    }

    @Test func stopFlushesEverythingAndRefusesLaterRecords() throws {
        let directory = TemporaryDirectory()
        let logger = EventLogger(storePath: directory.path, configuration: configuration(bufferSize: 1000))
        for n in 0..<50 { logger.log(record(n)) }
        #expect(logger.stats.bufferFill == 50)
        var stats = logger.stop()
        #expect(stats.flushed == 50 && stats.bufferFill == 0)
        for n in 50..<53 { logger.log(record(n)) }
        logger.flush()  // returns at once
        stats = logger.stop()  // again: harmless
        #expect(stats.droppedAfterStop == 3)
        #expect(stats.logged == 53)
        expectBalanced(stats)
        // The logger closed the store it opened: another writer may open it.
        let store = try Store(at: directory.path)
        #expect(store.writeStats.nextSeq == 50)
        try store.close()
    }

    @Test func aBorrowedStoreStaysOpen() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        let logger = EventLogger(store: store, configuration: configuration())
        #expect(logger.fallbackDirectory == directory.path + ".fallback")
        logger.log(record(0))
        logger.stop()
        try store.append(record(1))
        try store.close()
        #expect(try numbers(stored(directory.path)) == [0, 1])
    }

    // MARK: Overflow

    /// A logger whose store hangs in its first write, holding a first batch
    /// of `capacity` records (0..<capacity) in flight, with an empty buffer.
    func hungLogger(
        _ directory: TemporaryDirectory, capacity: Int, overflow: EventLogger.OverflowStrategy
    ) -> (EventLogger, LoggerFileSystem) {
        let fileSystem = LoggerFileSystem()
        fileSystem.holdWrites(endingWith: ".jsonl")
        let logger = EventLogger(
            storePath: directory.path, configuration: configuration(bufferSize: capacity, overflow: overflow),
            fileSystem: fileSystem)
        for n in 0..<capacity { logger.log(record(n)) }
        // The full buffer started a flush, which now waits inside the store.
        #expect(fileSystem.writeHeld.wait(timeout: .now() + .seconds(10)) == .success)
        return (logger, fileSystem)
    }

    @Test(arguments: [EventLogger.OverflowStrategy.dropOldest, .dropNewest])
    func aFullBufferDropsByItsStrategy(overflow: EventLogger.OverflowStrategy) throws {
        let directory = TemporaryDirectory()
        let capacity = 8
        let (logger, fileSystem) = hungLogger(directory, capacity: capacity, overflow: overflow)
        #expect(logger.stats.inFlight == capacity)
        #expect(logger.stats.bufferFill == 0)
        // 8 fill the buffer again, 5 more overflow.
        for n in capacity..<(2 * capacity + 5) { logger.log(record(n)) }
        var stats = logger.stats
        #expect(stats.logged == 21)
        #expect(stats.bufferFill == capacity && stats.inFlight == capacity)
        #expect(stats.droppedOverflow == 5)
        #expect(stats.logged == stats.flushed + stats.dropped + UInt64(stats.bufferFill + stats.inFlight))

        fileSystem.releaseWrites()
        stats = logger.stop()
        #expect(stats.flushed == 16)
        #expect(stats.droppedOverflow == 5)
        #expect(stats.dropped == 5)
        expectBalanced(stats)
        let kept = overflow == .dropOldest ? Array(13..<21) : Array(8..<16)
        #expect(try numbers(stored(directory.path)) == Array(0..<8) + kept)
    }

    @Test func blockWaitsForRoomAndLosesNothing() throws {
        let directory = TemporaryDirectory()
        let capacity = 4
        let (logger, fileSystem) = hungLogger(directory, capacity: capacity, overflow: .block)
        for n in capacity..<(2 * capacity) { logger.log(record(n)) }
        #expect(logger.stats.bufferFill == capacity)

        let done = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            logger.log(record(8))
            logger.log(record(9))
            done.signal()
        }
        thread.start()
        // The logging thread is stuck in `log`, not dropping anything.
        #expect(eventually { logger.stats.waiting == 1 })
        #expect(done.wait(timeout: .now()) == .timedOut)
        var stats = logger.stats
        #expect(stats.logged == 8 && stats.dropped == 0)

        fileSystem.releaseWrites()
        #expect(done.wait(timeout: .now() + .seconds(10)) == .success)
        stats = logger.stop()
        #expect(stats.logged == 10 && stats.flushed == 10 && stats.dropped == 0 && stats.waiting == 0)
        expectBalanced(stats)
        #expect(try numbers(stored(directory.path)) == Array(0..<10))
    }

    @Test func stopLetsInARecordThatWasWaitingForRoom() throws {
        let directory = TemporaryDirectory()
        let (logger, fileSystem) = hungLogger(directory, capacity: 2, overflow: .block)
        logger.log(record(2))
        logger.log(record(3))
        let done = DispatchSemaphore(value: 0)
        Thread { [self] in
            logger.log(record(4))
            done.signal()
        }.start()
        #expect(eventually { logger.stats.waiting == 1 })
        let stopped = DispatchSemaphore(value: 0)
        Thread {
            logger.stop()
            stopped.signal()
        }.start()
        #expect(eventually { logger.isStopping })
        // Once stopping, new records are refused at once (never blocked).
        logger.log(record(99))
        #expect(logger.stats.droppedAfterStop == 1)
        #expect(logger.stats.waiting == 1)
        fileSystem.releaseWrites()
        #expect(done.wait(timeout: .now() + .seconds(10)) == .success)
        #expect(stopped.wait(timeout: .now() + .seconds(10)) == .success)
        let stats = logger.stats
        #expect(stats.flushed == 5)
        expectBalanced(stats)
        #expect(try numbers(stored(directory.path)) == [0, 1, 2, 3, 4])
    }

    // MARK: Failures

    @Test func aFailingStoreIsRetriedThenTheBatchFallsBackThenTheStoreRecovers() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("store")
        let fileSystem = LoggerFileSystem()
        let clock = TestClock()
        let logger = EventLogger(storePath: path, configuration: configuration(), fileSystem: fileSystem, clock: clock.clock)
        fileSystem.failWrites(endingWith: ".jsonl", errno: ENOSPC)
        for n in 0..<10 { logger.log(record(n)) }
        logger.flush()
        var stats = logger.stats
        #expect(stats.retried == 2)  // maxRetries
        // Backing off 1 ms, then twice that (by the clock: no real wait).
        #expect(clock.waits.withLock { $0 } == [1_000, 2_000])
        #expect(stats.fellBack == 10 && stats.fallbackFiles == 1)
        #expect(stats.flushed == 0 && stats.dropped == 0)
        #expect(stats.lastError?.code == .noSpace)
        expectBalanced(stats)

        // One fallback file, private, holding exactly the batch as valid JSONL.
        let fallback = path + ".fallback"
        #expect(logger.fallbackDirectory == fallback)
        let files = listDirectory(fallback)
        #expect(files.count == 1)
        let name = try #require(files.first)
        #expect(name.wholeMatch(of: /fallback-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{6}Z-000001\.jsonl/) != nil)
        #expect(permissions(fallback + "/" + name) == 0o640)
        #expect(permissions(fallback) == 0o750)
        let text = try String(contentsOfFile: fallback + "/" + name, encoding: .utf8)
        #expect(text.hasSuffix("\n"))
        let lines = text.split(separator: "\n")
        #expect(try lines.map { try number(in: Array($0.utf8)) } == Array(0..<10))
        #expect(lines.allSatisfy { $0.hasPrefix(#"{"ts":""#) })  // the time of logging is kept

        // The store works again: later batches go to it.
        fileSystem.clearFailures()
        for n in 10..<15 { logger.log(record(n)) }
        stats = logger.stop()
        #expect(stats.flushed == 5 && stats.fellBack == 10 && stats.logged == 15)
        expectBalanced(stats)
        #expect(try numbers(stored(path)) == Array(10..<15))
        #expect(listDirectory(fallback).count == 1)

        // The fallback file goes back into the store (as `stoa import` does),
        // with the times the records were logged at.
        let store = try Store(at: path)
        try store.append(contentsOf: lines.map(String.init))
        try store.close()
        let all = try stored(path)
        #expect(try numbers(all) == Array(10..<15) + Array(0..<10))
        #expect(Set(all.suffix(10).map(\.json)) == Set(lines.map(String.init)))
    }

    @Test func whenEvenTheFallbackFailsTheRecordsAreCountedAsDropped() throws {
        let directory = TemporaryDirectory()
        let fileSystem = LoggerFileSystem()
        var configuration = configuration()
        configuration.fallbackDirectory = directory.appending("spill")
        let logger = EventLogger(
            storePath: directory.appending("store"), configuration: configuration, fileSystem: fileSystem)
        fileSystem.failWrites(endingWith: ".jsonl", errno: EIO)
        fileSystem.failCreates(containing: "/spill/", errno: EACCES)
        for n in 0..<7 { logger.log(record(n)) }
        logger.flush()
        var stats = logger.stats
        #expect(stats.retried == 2)
        #expect(stats.droppedUnwritable == 7 && stats.fellBack == 0 && stats.flushed == 0)
        #expect(stats.lastError?.errno == EACCES)
        expectBalanced(stats)
        #expect(listDirectory(directory.appending("spill")).isEmpty)

        // Only the fallback fails now: the next batch falls back.
        fileSystem.clearFailures()
        fileSystem.failWrites(endingWith: ".jsonl", errno: EIO)
        logger.log(record(7))
        stats = logger.stop()
        #expect(stats.fellBack == 1 && stats.fallbackFiles == 1 && stats.retried == 4)
        expectBalanced(stats)
    }

    @Test func aBadRecordInABatchIsDroppedAloneAndAStoreThatWasMissingIsOpenedLater() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("later/store")
        // The store's parent directory is missing: opening fails for now.
        let logger = EventLogger(storePath: path, configuration: configuration())
        #expect(logger.stats.lastError?.code == .io)
        // The store appears, with a record limit the logger did not know of.
        try FileManager.default.createDirectory(
            atPath: directory.appending("later"), withIntermediateDirectories: false)
        var storeConfiguration = StoreConfiguration()
        storeConfiguration.maxRecordBytes = 128
        try Store(at: path, creating: storeConfiguration).close()

        let large = #"{"type":"step","n":2,"pad":"\#(String(repeating: "x", count: 200))"}"#
        for n in 0..<5 { logger.log(n == 2 ? large : record(n)) }
        logger.flush()
        let stats = logger.stop()
        #expect(stats.flushed == 4 && stats.rejected == 1)
        #expect(stats.retried == 0 && stats.fellBack == 0)
        #expect(stats.lastError?.code == .recordTooLarge)
        expectBalanced(stats)
        #expect(try numbers(stored(path)) == [0, 1, 3, 4])
    }

    @Test func aBatchThatFailsHalfwayIsResumedWithoutDuplicates() throws {
        let directory = TemporaryDirectory()
        let fileSystem = LoggerFileSystem()
        var configuration = configuration(bufferSize: 1000)
        configuration.storeConfiguration.segmentBytes = 4096
        let logger = EventLogger(storePath: directory.path, configuration: configuration, fileSystem: fileSystem)
        // The batch spans segments; creating the second one fails once, after
        // the first segment took its share of the batch.
        fileSystem.failCreates(containing: "/segments/", errno: ENOSPC, times: 1)
        let pad = String(repeating: "x", count: 60)
        for n in 0..<100 { logger.log(#"{"type":"step","n":\#(n),"pad":"\#(pad)"}"#) }
        let stats = logger.stop()
        #expect(stats.retried == 1 && stats.lastError?.code == .noSpace)
        #expect(stats.flushed == 100 && stats.fellBack == 0 && stats.dropped == 0)
        expectBalanced(stats)
        #expect(try numbers(stored(directory.path)) == Array(0..<100))
        #expect(listDirectory(directory.appending("segments")).filter { $0.hasSuffix(".jsonl") }.count > 1)
    }

    @Test func aLockedStoreFallsBackUntilItIsFree() throws {
        let directory = TemporaryDirectory()
        let other = try Store(at: directory.path)
        var configuration = configuration()
        configuration.maxRetries = 1
        let logger = EventLogger(storePath: directory.path, configuration: configuration)
        #expect(logger.stats.lastError?.code == .locked)
        for n in 0..<3 { logger.log(record(n)) }
        logger.flush()
        #expect(logger.stats.fellBack == 3 && logger.stats.retried == 1)
        try other.close()
        for n in 3..<5 { logger.log(record(n)) }
        let stats = logger.stop()
        #expect(stats.flushed == 2 && stats.fellBack == 3)
        expectBalanced(stats)
        #expect(try numbers(stored(directory.path)) == [3, 4])
    }

    // MARK: Concurrency

    @Test func manyThreadsLoggingAtOnceAddUp() throws {
        let directory = TemporaryDirectory()
        var configuration = configuration(bufferSize: 4096, overflow: .dropNewest)
        configuration.flushInterval = .milliseconds(50)
        let logger = EventLogger(storePath: directory.path, configuration: configuration)
        let threads = 8
        let perThread = 10_000
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for n in 0..<perThread {
                logger.log(#"{"type":"step","thread":\#(thread),"n":\#(n)}"#)
            }
        }
        let stats = logger.stop()
        #expect(stats.logged == UInt64(threads * perThread))
        #expect(stats.logged == stats.flushed + stats.droppedOverflow)
        #expect(stats.fellBack == 0 && stats.rejected == 0)
        expectBalanced(stats)

        // Every flushed record is in the store exactly once, each thread's in
        // order. (Read from the segment files: the query engine is slow in
        // debug builds, and order by seq is the order in the files.)
        let segments = directory.appending("segments")
        var count = 0
        var last = [Int](repeating: -1, count: threads)
        var inOrder = true
        for name in listDirectory(segments) where name.hasSuffix(".jsonl") {
            // Lines end `"thread":T,"n":N}`: read N, then T, backwards.
            var pairs: [(thread: Int, n: Int)] = []
            try readBytes(segments + "/" + name).withUnsafeBufferPointer { bytes in
                var end = bytes.count - 1  // at a newline
                while end > 0 {
                    var position = end - 2  // the last digit of N
                    func number() -> Int {
                        var value = 0
                        var scale = 1
                        while bytes[position] != UInt8(ascii: ":") {
                            value += Int(bytes[position] - UInt8(ascii: "0")) * scale
                            scale *= 10
                            position -= 1
                        }
                        return value
                    }
                    let n = number()
                    position -= 5  // `,"n":` → the last digit of T
                    pairs.append((number(), n))
                    while position >= 0 && bytes[position] != UInt8(ascii: "\n") { position -= 1 }
                    end = position
                }
            }
            for (thread, n) in pairs.reversed() {
                if n <= last[thread] { inOrder = false }
                last[thread] = n
                count += 1
            }
        }
        #expect(count == Int(stats.flushed))
        #expect(inOrder)
    }

    // MARK: Defaults

    @Test func defaults() {
        let configuration = EventLogger.Configuration()
        #expect(configuration.bufferSize == 100)
        #expect(configuration.flushInterval == .seconds(10))
        #expect(configuration.overflow == .dropOldest)
        #expect(configuration.maxRetries == 3)
        #expect(configuration.fallbackDirectory == nil)
        // The fallback directory is a sibling of the store's.
        #expect(EventLogger.fallbackDirectory(configuration, storePath: "logs/a/") == "logs/a.fallback")
        #expect(EventLogger.fallbackDirectory(configuration, storePath: "/var/log/a") == "/var/log/a.fallback")
        let here = FileManager.default.currentDirectoryPath
        #expect(EventLogger.fallbackDirectory(configuration, storePath: ".") == here + ".fallback")
        var custom = configuration
        custom.fallbackDirectory = "/spill"
        #expect(EventLogger.fallbackDirectory(custom, storePath: "logs/a") == "/spill")
    }

    @Test func theSharedLoggerIsConfiguredOnce() throws {
        let directory = TemporaryDirectory()
        var configuration = configuration()
        configuration.bufferSize = 5
        #expect(EventLogger.bootstrap(storePath: directory.path, configuration: configuration))
        #expect(!EventLogger.bootstrap(storePath: directory.appending("other")))
        EventLogger.shared.log(type: "hello", ["n": 0])
        EventLogger.shared.flush()
        #expect(EventLogger.shared.configuration.bufferSize == 5)
        #expect(try stored(directory.path).map(\.type) == ["hello"])
        EventLogger.shared.stop()
    }
}
