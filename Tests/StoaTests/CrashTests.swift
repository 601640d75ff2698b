import Foundation
import StoaTestSupport
import Synchronization
import Testing

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// Real child processes, really killed with SIGKILL while appending with
/// durability `always`.
@Suite(.serialized) struct CrashTests {
    /// Starts the crash writer, lets it acknowledge a random number of
    /// appends, kills it, and returns what it acknowledged (seq → number).
    func runAndKill(directory: String, threads: Int, seed: UInt64, first: Int, kill after: Int) throws -> [UInt64: Int] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: builtProduct("stoa-crash-writer"))
        process.arguments = [directory, String(threads), String(seed), String(first)]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.standardError
        try process.run()
        let reader = stdout.fileHandleForReading
        var received: [UInt8] = []
        var lines = 0
        while lines < after {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            received += chunk
            lines = received.filter { $0 == 0x0A }.count
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        received += reader.readDataToEndOfFile()
        #expect(process.terminationReason == .uncaughtSignal)

        var acknowledged: [UInt64: Int] = [:]
        for line in String(decoding: received, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 3, parts[0] == "ack", let seq = UInt64(parts[1]), let n = Int(parts[2]) else {
                continue  // the kill may cut the last line
            }
            #expect(acknowledged[seq] == nil, "seq \(seq) acknowledged twice")
            acknowledged[seq] = n
        }
        return acknowledged
    }

    /// Checks a killed store: every acknowledged record there exactly once,
    /// at its seq, and no partial line served.
    func check(_ directory: String, acknowledged: [UInt64: Int]) throws {
        // Before any writer repairs it, a reader serves only whole records.
        let before = try StoreReader(at: directory).query(Query())
        _ = try before.all()
        #expect(before.damaged.isEmpty, "\(before.damaged)")

        let store = try Store(at: directory)
        try store.close()
        var seen: [Int: UInt64] = [:]
        let cursor = try StoreReader(at: directory).query(Query())
        for record in try cursor.all() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(record.bytes)) as? [String: Any])
            let n = try #require(object["n"] as? Int)
            #expect(seen[n] == nil, "record \(n) stored twice (seq \(seen[n]!) and \(record.seq))")
            seen[n] = record.seq
        }
        #expect(cursor.damaged.isEmpty)
        for (seq, n) in acknowledged {
            #expect(seen[n] == seq, "acknowledged record \(n) at seq \(seq) is \(seen[n].map { "at seq \($0)" } ?? "missing")")
        }
    }

    @Test func acknowledgedRecordsSurviveSIGKILL() throws {
        var random = SeededGenerator(seed: 20261123)
        for round in 0..<12 {
            let directory = TemporaryDirectory("stoa-crash")
            var acknowledged: [UInt64: Int] = [:]
            // Kill the same store several times: recovery after recovery.
            for life in 0..<3 {
                let threads = [1, 4, 16][(round + life) % 3]
                let after = Int.random(in: 1...400, using: &random)
                let more = try runAndKill(
                    directory: directory.path, threads: threads, seed: random.next(), first: life * 1_000_000,
                    kill: after)
                for (seq, n) in more {
                    #expect(acknowledged[seq] == nil, "seq \(seq) reused after a crash")
                    acknowledged[seq] = n
                }
                try check(directory.path, acknowledged: acknowledged)
            }
            #expect(!acknowledged.isEmpty)
        }
    }

    /// Starts the crash writer on `directory` with `threads` threads; its
    /// acknowledgements come on the pipe. Stop it with ``stop(_:)``.
    /// With `checkpointing`, it writes the active segment's checkpoint
    /// every few hundred appends, and tiers segments once sealed.
    func startWriter(_ directory: String, threads: Int, seed: UInt64, checkpointing: Bool = false) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: builtProduct("stoa-crash-writer"))
        process.arguments = [directory, String(threads), String(seed), "0"] + (checkpointing ? ["checkpointing"] : [])
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()
        return (process, stdout)
    }

    func stop(_ process: Process) {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    @Test func aSecondWriterProcessIsRefusedWithThePid() throws {
        let directory = TemporaryDirectory()
        let (process, stdout) = try startWriter(directory.path, threads: 1, seed: 1)
        defer { stop(process) }
        _ = stdout.fileHandleForReading.availableData  // it holds the lock once it acknowledges
        do {
            _ = try Store(at: directory.path)
            Issue.record("a second writer must be refused")
        } catch {
            #expect(error.code == .locked)
            #expect(error.message.contains("process \(process.processIdentifier)"))
        }
        // While it writes, a reader in this process sees its records.
        let count = try StoreReader(at: directory.path).query(Query()).all().count
        #expect(count > 0)
    }

    /// A long-lived reader in this process sees every record that a writer
    /// in another process acknowledged before the query began, while the
    /// writer appends from four threads and starts a new segment every
    /// 16 KiB; or, `checkpointing`, every 2 MiB, moving each sealed segment
    /// through the tiers and writing the active segment's checkpoint every
    /// 300 appends, so that the reader reads the active segment's
    /// checkpointed blocks from the file when a query needs them
    /// (``ActiveSegmentBytes``) while the writer appends, seals and moves it.
    @Test(arguments: [false, true]) func aReaderSeesEveryRecordAnotherProcessAcknowledged(checkpointing: Bool) throws {
        let directory = TemporaryDirectory()
        let (process, stdout) = try startWriter(directory.path, threads: 4, seed: 7, checkpointing: checkpointing)
        defer { stop(process) }
        var pending: [UInt8] = []
        var acknowledged: [UInt64] = []
        /// The acknowledgements printed so far (whole lines only).
        func readAcknowledgements() {
            pending += stdout.fileHandleForReading.availableData
            guard let end = pending.lastIndex(of: 0x0A) else { return }
            for line in String(decoding: pending[...end], as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 3, let seq = UInt64(parts[1]) { acknowledged.append(seq) }
            }
            pending.removeSubrange(...end)
        }
        readAcknowledgements()
        let reader = try StoreReader(at: directory.path)
        /// Queries that read the active segment from its checkpoint.
        var fromCheckpoint = 0
        /// Segments sealed so far (every tier), and the last one seen.
        var sealed = 0
        var lastSegment: UInt64?
        var round = 0
        // With checkpoints: on until readers have read the active segment
        // from its checkpoint 20 times and seen it sealed twice (the
        // writer's pace under load decides how many rounds that takes).
        rounds: while checkpointing ? (fromCheckpoint < 20 || sealed < 2) && round < 3000 : round < 100 {
            // The long-lived reader, and with checkpoints a new one too (a
            // long-lived reader that saw the active segment start reads it
            // all; a new one reads it from its checkpoint).
            let readers = checkpointing ? [reader, try StoreReader(at: directory.path)] : [reader]
            for (number, reader) in readers.enumerated() {
                readAcknowledgements()
                let known = acknowledged
                let cursor = try reader.query(Query())
                let records = try cursor.all()
                let seen = Set(records.map(\.seq))
                let missing = known.filter { !seen.contains($0) }
                #expect(missing.isEmpty, "round \(round): \(missing.count) acknowledged records not seen, from \(missing.min() ?? 0)")
                #expect(cursor.damaged.isEmpty, "round \(round): \(cursor.damaged.prefix(3))")
                if !missing.isEmpty || !cursor.damaged.isEmpty { break rounds }
                if let last = try reader.snapshot().last, last.isLoaded {
                    if last.contents is ActiveSegmentBytes { fromCheckpoint += 1 }
                    if number == 0, let lastSegment, lastSegment != last.summary.base { sealed += 1 }
                    if number == 0 { lastSegment = last.summary.base }
                }
            }
            round += 1
        }
        #expect(Set(try reader.query(Query()).all().map(\.seq)).count >= acknowledged.count)
        if checkpointing {
            #expect(fromCheckpoint >= 20, "new readers should have read the active segment from its checkpoint")
            #expect(sealed >= 2, "the writer should have sealed segments")
            let archived = try #require(try Syscalls.listDirectory(directory.appending("archive")))
            #expect(!archived.isEmpty, "the writer should have moved sealed segments through the tiers")
        } else {
            let segments = try #require(try Syscalls.listDirectory(directory.appending("segments")))
            #expect(segments.filter { $0.hasSuffix(".jsonl") }.count > 3, "the writer should have started new segments")
        }
    }
}

/// The real file system, whose first `fdatasync` of a segment waits until
/// `gate` is signalled: the appenders that come meanwhile must wait for the
/// next one, and share it.
final class GatedSyncFileSystem: FileSystem {
    private let real = SystemFileSystem()
    let gate = DispatchSemaphore(value: 0)
    let segmentSyncs = Protected(0)

    func fdatasync(_ fd: Int32, path: String) throws(StoaError) {
        if path.hasSuffix(".jsonl") && segmentSyncs.withLock({ $0 += 1; return $0 }) == 1 { gate.wait() }
        try real.fdatasync(fd, path: path)
    }
}

@Suite struct GroupCommitTests {
    /// Appenders waiting at once share one sync. The first sync is held
    /// until every appender has written its first record, so that the next
    /// one carries all of them but the first whatever the disk's speed (on
    /// a fast disk, or under ThreadSanitizer, few met by chance, and this
    /// test failed now and then when it counted on them).
    @Test func concurrentAlwaysAppendersShareSyncs() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.durability = .always
        let fileSystem = GatedSyncFileSystem()
        let store = try Store(at: directory.path, creating: configuration, fileSystem: fileSystem)
        let threads = 16
        let perThread = 100
        // Real threads: Dispatch would run only as many at once as there are cores.
        let done = DispatchGroup()
        // A failure fails the test (a `try!` here would end the whole run).
        let failure = Protected<StoaError?>(nil)
        for thread in 0..<threads {
            done.enter()
            Thread {
                defer { done.leave() }
                do throws(StoaError) {
                    for n in 0..<perThread {
                        try store.append(#"{"ts":1,"thread":\#(thread),"n":\#(n)}"#)
                    }
                } catch {
                    failure.withLock { $0 = error }
                }
            }.start()
        }
        // Each thread's first record written (its seq handed out), none acknowledged: the first sync is held.
        while store.writeStats.nextSeq < UInt64(threads) && failure.withLock({ $0 }) == nil { Thread.sleep(forTimeInterval: 0.001) }
        fileSystem.gate.signal()
        done.wait()
        #expect(failure.withLock { $0 } == nil)
        let stats = store.writeStats
        #expect(stats.nextSeq == UInt64(threads * perThread))
        // Every append waited for a sync; the 15 that waited behind the held one shared the next.
        #expect(stats.syncs > 0)
        #expect(stats.syncs <= threads * perThread - (threads - 2), "\(stats.syncs) syncs for \(threads * perThread) appends")
        try store.close()
        let records = try StoreReader(at: directory.path).query(Query()).all()
        #expect(Set(records.map(\.json)).count == threads * perThread)
    }

    @Test func oneAlwaysAppenderSyncsEveryAppend() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        for n in 0..<20 { try store.append(#"{"n":\#(n)}"#, durability: .always) }
        #expect(store.writeStats.syncs == 20)
    }

    @Test func intervalDurabilitySyncsInTheBackground() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.durability = .interval
        configuration.fsyncInterval = .microseconds(10_000)
        let store = try Store(at: directory.path, creating: configuration)
        try store.append(#"{"n":1}"#)
        // The timer syncs within 10 ms; the deadline only bounds a hang.
        let deadline = Syscalls.realtimeMicroseconds() + 60_000_000
        while store.writeStats.syncs == 0 && Syscalls.realtimeMicroseconds() < deadline { usleep(1_000) }
        #expect(store.writeStats.syncs >= 1)
        try store.close()
    }
}
