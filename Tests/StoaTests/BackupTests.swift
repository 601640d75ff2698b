import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// The real file system, except that hard links fail as across file
/// systems (EXDEV) and writes to chosen paths fail with ENOSPC.
final class BackupFileSystem: FileSystem {
    private let real = SystemFileSystem()
    let noLinks: Bool
    /// Writes to paths ending so fail with ENOSPC.
    let failWritesTo: String?

    /// Called once, before the first hard link of a file whose name ends so.
    let beforeFirstLink: (suffix: String, action: @Sendable () -> Void)?
    private let linked = Protected(false)

    init(noLinks: Bool = false, failWritesTo: String? = nil, beforeFirstLink: (suffix: String, action: @Sendable () -> Void)? = nil) {
        self.noLinks = noLinks
        self.failWritesTo = failWritesTo
        self.beforeFirstLink = beforeFirstLink
    }
    func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(StoaError) -> Int {
        if let failWritesTo, temporaryPattern(path).hasSuffix(failWritesTo) { throw StoaError.syscall("write", errno: ENOSPC, path: path) }
        return try real.write(fd, buffer, path: path)
    }
    func link(_ from: String, to: String) throws(StoaError) {
        if let (suffix, action) = beforeFirstLink, from.hasSuffix(suffix),
            linked.withLock({ (done: inout Bool) -> Bool in defer { done = true }; return !done })
        {
            action()
        }
        if noLinks { throw StoaError.syscall("link", errno: EXDEV, path: "\(from) -> \(to)") }
        try real.link(from, to: to)
    }
}

/// The real file system for reads, calling `afterListing` with each
/// listing's number (from 1) of a directory under `prefix`, right after it
/// is read: to move a store's segments between two directory reads.
final class MovingFileSystem: FileSystem {
    private let real = SystemFileSystem()
    let prefix: String
    let afterListing: @Sendable (Int) -> Void
    /// How many listings under `prefix` so far; those made by `afterListing` do not count.
    let listings = Protected(0)
    private let moving = Protected(false)

    init(under prefix: String, afterListing: @escaping @Sendable (Int) -> Void) {
        self.prefix = prefix
        self.afterListing = afterListing
    }

    func listDirectory(_ path: String) throws(StoaError) -> [String]? {
        let names = try real.listDirectory(path)
        guard path.hasPrefix(prefix), !moving.withLock({ $0 }) else { return names }
        let listing = listings.withLock { (count: inout Int) -> Int in
            count += 1
            return count
        }
        moving.withLock { $0 = true }
        afterListing(listing)
        moving.withLock { $0 = false }
        return names
    }
}

@Suite(.serialized) struct BackupTests {
    static let hour: Int64 = 3_600_000_000

    /// Appends `count` records numbered from `first`, in batches of 50.
    func append(_ store: Store, count: Int, first: Int = 0) throws {
        var random = SeededGenerator(seed: UInt64(first) &+ 17)
        var batch: [String] = []
        for n in first..<(first + count) {
            let type = ["message", "tool_call", "error"].randomElement(using: &random)!
            let text = String(repeating: "lorem ipsum ", count: Int.random(in: 1...20, using: &random))
            batch.append(
                #"{"ts":\#(1_795_000_000 + n - Int.random(in: 0...3, using: &random)),"type":"\#(type)","session":"c\#(n % 13)","n":\#(n),"text":"\#(text)"}"#)
            if batch.count == 50 {
                try store.append(contentsOf: batch)
                batch.removeAll()
            }
        }
        try store.append(contentsOf: batch)
    }

    /// A store with small segments and a policy: hot 1h, warm 1d (and an
    /// archive outside the store when `archive` is given).
    func makeStore(_ path: String, records: Int = 3000, archive: String? = nil, configure: (inout StoreConfiguration) -> Void = { _ in }) throws {
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 32 << 10
        configuration.memberBytes = 64 << 10
        configuration.hotFor = .microseconds(Self.hour)
        configuration.warmFor = .microseconds(24 * Self.hour)
        configuration.archivePath = archive
        configure(&configuration)
        let store = try Store(at: path, creating: configuration)
        try append(store, count: records)
        try store.waitForIndexes()
        try store.close()
    }

    func tier(_ path: String, at now: Int64) throws -> TierReport {
        let store = try Store(at: path)
        let report = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: now))
        try store.close()
        return report
    }

    func appendMore(_ path: String, count: Int, first: Int) throws {
        let store = try Store(at: path)
        try append(store, count: count, first: first)
        try store.waitForIndexes()
        try store.close()
    }

    func all(_ path: String) throws -> [Record] {
        try StoreReader(at: path).query(Query()).all()
    }

    func bySeq(_ path: String) throws -> [Record] {
        try all(path).sorted { $0.seq < $1.seq }
    }

    func names(_ directory: String, _ suffix: String) -> [String] {
        listDirectory(directory).filter { $0.hasSuffix(suffix) }
    }

    /// Runs `body` where it cannot throw (a file system's hook): an error
    /// fails the test instead of ending the whole run, as `try!` would.
    func expectNoError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try body()
        } catch {
            Issue.record(error, sourceLocation: sourceLocation)
        }
    }

    /// Each segment of the backup is there in one form only.
    func expectOneFormEach(_ path: String) {
        let hot = listDirectory(path + "/segments").compactMap { SegmentName(fileName: $0) }.filter { $0.kind != .index }
        let cold = listDirectory(path + "/archive").compactMap { SegmentName(fileName: $0) }.filter { $0.kind == .gzip }
        let bases = hot.map(\.base) + cold.map(\.base)
        #expect(Set(bases).count == bases.count, "\(hot) \(cold)")
    }

    /// `records` are exactly the source's first records by seq, each identical.
    func expectPrefix(_ records: [Record], of source: [Record], _ comment: Comment? = nil) {
        let sorted = records.sorted { $0.seq < $1.seq }
        #expect(sorted.map(\.seq) == Array(0..<UInt64(sorted.count)), comment)
        #expect(sorted.count <= source.count, comment)
        for (record, original) in zip(sorted, source) where record != original {
            Issue.record("seq \(record.seq) differs: \(record.json) vs \(original.json)")
            break
        }
    }

    func inode(_ path: String) -> UInt64 {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_ino) : 0
    }

    // MARK: A store at rest

    @Test func aBackupOfHotWarmAndColdSegmentsAnswersTheSame() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        let coldDisk = directory.appending("cold")
        let now = Syscalls.realtimeMicroseconds()
        // Cold, then warm, then hot segments, and the active one.
        try makeStore(source, archive: coldDisk)
        #expect(try tier(source, at: now + 26 * Self.hour).cooled.count > 2)
        try appendMore(source, count: 2000, first: 3000)
        #expect(try tier(source, at: now + 2 * Self.hour).warmed.count > 2)
        try appendMore(source, count: 2000, first: 5000)
        let segments = names(source + "/segments", ".jsonl")
        #expect(segments.count > 3)
        #expect(!names(source + "/segments", ".jsonl.gz").isEmpty)
        let expected = try all(source)

        let backupPath = directory.appending("backup")
        let report = try backup(from: source, to: backupPath)

        // Cold segments in the backup's own archive; its stoa.json knows no other.
        #expect(names(backupPath + "/archive", ".jsonl.gz") == names(coldDisk, ".jsonl.gz"))
        #expect(names(backupPath + "/archive", ".idx") == names(coldDisk, ".idx"))
        #expect(names(backupPath + "/segments", ".jsonl.gz") == names(source + "/segments", ".jsonl.gz"))
        #expect(names(backupPath + "/segments", ".jsonl") == segments)
        // Sealed segments' .idx files; not the active segment's checkpoint.
        let active = String(try #require(segments.last).dropLast(".jsonl".count)) + ".idx"
        #expect(names(backupPath + "/segments", ".idx") == names(source + "/segments", ".idx").filter { $0 != active })
        let configuration = try String(contentsOfFile: backupPath + "/stoa.json", encoding: .utf8)
        #expect(!configuration.contains("archive_path"))
        #expect(try StoreReader(at: backupPath).configuration.hotFor == .microseconds(Self.hour))

        // The same answers.
        let reader = try StoreReader(at: backupPath)
        #expect(try reader.query(Query()).all() == expected)
        #expect(try reader.query(Query(types: ["error"], limit: 9, order: .newestFirst)).all()
            == Array(expected.filter { $0.type == "error" }.reversed().prefix(9)))
        let middle = expected[expected.count / 2].time
        #expect(try reader.query(Query(since: middle, until: middle + .seconds(500), conversation: "c3")).all()
            == expected.filter { $0.time >= middle && $0.time < middle + .seconds(500) && $0.conversation == "c3" })
        #expect(try reader.stats().records == expected.count)

        // Every segment placed; the sealed ones as hard links (one file system).
        let total = listDirectory(backupPath + "/segments").filter { $0.contains(".jsonl") }.count
            + names(backupPath + "/archive", ".gz").count
        #expect(report.copied.count == total)
        #expect(report.linked == total - 1)
        #expect(report.skipped.isEmpty && report.removed.isEmpty && report.kept.isEmpty)
        #expect(report.nextSeq == 7000)
        #expect(report.lines[0].contains("backed up \(total) segments: \(total) copied (\(total - 1) as hard links)"))
        #expect(inode(backupPath + "/segments/" + segments[0]) == inode(source + "/segments/" + segments[0]))
        #expect(inode(backupPath + "/segments/" + segments.last!) != inode(source + "/segments/" + segments.last!))

        // Private: directories 0750, files 0640.
        for path in [backupPath, backupPath + "/segments", backupPath + "/archive"] {
            #expect(permissions(path) == 0o750, "\(path)")
        }
        for path in [backupPath + "/stoa.json", backupPath + "/segments/" + segments.last!,
                     backupPath + "/segments/" + names(backupPath + "/segments", ".idx")[0]] {
            #expect(permissions(path) == 0o640, "\(path)")
        }

        // It opens as a store and goes on from the next seq.
        let store = try Store(at: backupPath)
        #expect(store.recovery.isClean)
        #expect(try store.append(#"{"n":"after"}"#) == 7000)
        try store.close()
        // The source did not change.
        #expect(try all(source) == expected)
    }

    @Test func copiesAndSyncsWhenHardLinksAreImpossible() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source)
        _ = try tier(source, at: Syscalls.realtimeMicroseconds() + 2 * Self.hour)
        let expected = try all(source)
        let backupPath = directory.appending("backup")
        let report = try StoreBackup(of: StoreReader(at: source)).copy(to: backupPath, fileSystem: BackupFileSystem(noLinks: true))
        #expect(report.linked == 0)
        #expect(report.bytesLinked == 0)
        let sizes = try listDirectory(backupPath + "/segments").filter { !$0.hasSuffix(".idx") }
            .map { try readBytes(backupPath + "/segments/" + $0).count }
        #expect(report.bytesCopied == Int64(sizes.reduce(0, +)))
        for name in names(source + "/segments", ".gz") {
            #expect(inode(backupPath + "/segments/" + name) != inode(source + "/segments/" + name))
            #expect(try readBytes(backupPath + "/segments/" + name) == readBytes(source + "/segments/" + name))
            #expect(permissions(backupPath + "/segments/" + name) == 0o640)
        }
        #expect(try all(backupPath) == expected)
    }

    // MARK: Incremental

    @Test func aSecondBackupCopiesOnlyWhatIsNew() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source)
        let backupPath = directory.appending("backup")
        let first = try backup(from: source, to: backupPath)
        let before = names(source + "/segments", ".jsonl")
        #expect(first.copied.count == before.count)
        #expect(try all(backupPath) == all(source))

        try appendMore(source, count: 2000, first: 3000)
        let after = names(source + "/segments", ".jsonl")
        let second = try backup(from: source, to: backupPath)
        // The old sealed ones stay; the old active one (sealed since) and the new ones are placed.
        #expect(second.skipped == before.dropLast().map { "segments/" + $0 })
        #expect(second.copied == after.suffix(after.count - before.count + 1).map { "segments/" + $0 })
        #expect(second.linked == after.count - before.count)
        #expect(second.nextSeq == 5000)
        #expect(try all(backupPath) == all(source))

        // Nothing new: only the active segment is copied again.
        let third = try backup(from: source, to: backupPath)
        #expect(third.copied == ["segments/" + after.last!])
        #expect(third.skipped.count == after.count - 1)
        #expect(third.lines[0].contains("1 copied, \(after.count - 1) already in the backup"))
        #expect(try all(backupPath) == all(source))
        #expect(names(backupPath + "/segments", ".jsonl") == after)
    }

    @Test func followsTierMovesBetweenBackups() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source)
        let backupPath = directory.appending("backup")
        _ = try backup(from: source, to: backupPath)
        let plain = names(source + "/segments", ".jsonl")
        let now = Syscalls.realtimeMicroseconds()

        // Hot → warm in the source: the backup ends with the .gz only.
        _ = try tier(source, at: now + 2 * Self.hour)
        let warm = try backup(from: source, to: backupPath)
        #expect(warm.removed == plain.dropLast().map { "segments/" + $0 })
        #expect(warm.copied.filter { $0.hasSuffix(".gz") }.count == plain.count - 1)
        #expect(names(backupPath + "/segments", ".jsonl") == [plain.last!])
        #expect(names(backupPath + "/segments", ".jsonl.gz") == names(source + "/segments", ".jsonl.gz"))
        expectOneFormEach(backupPath)
        #expect(try all(backupPath) == all(source))
        // Their .idx now describe the .gz files (valid, compressed).
        for name in names(backupPath + "/segments", ".gz") {
            let segment = SegmentName(fileName: name)!
            let size = try readBytes(backupPath + "/segments/" + name).count
            let index = IndexFile.load(
                backupPath + "/segments/" + SegmentName(base: segment.base, kind: .index).fileName, base: segment.base, fileSize: size)
            #expect(index?.isCompressed == true)
        }

        // Warm → cold.
        _ = try tier(source, at: now + 26 * Self.hour)
        let cold = try backup(from: source, to: backupPath)
        #expect(cold.removed.count == plain.count - 1)
        #expect(names(backupPath + "/segments", ".gz").isEmpty)
        #expect(names(backupPath + "/segments", ".idx").isEmpty)
        #expect(names(backupPath + "/archive", ".jsonl.gz").count == plain.count - 1)
        #expect(names(backupPath + "/archive", ".idx").count == plain.count - 1)
        expectOneFormEach(backupPath)
        #expect(try all(backupPath) == all(source))
        let store = try Store(at: backupPath)
        #expect(store.recovery.isClean)
        try store.close()
    }

    @Test func keepsSegmentsThatExpiredInTheSource() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source) { $0.retainFor = .microseconds(30 * 24 * Self.hour) }
        let original = try all(source)
        let backupPath = directory.appending("backup")
        _ = try backup(from: source, to: backupPath)

        let gone = try tier(source, at: Syscalls.realtimeMicroseconds() + 31 * 24 * Self.hour)
        #expect(!gone.expired.isEmpty)
        try appendMore(source, count: 1000, first: 3000)
        let report = try backup(from: source, to: backupPath)
        #expect(report.kept.count == gone.expired.count)
        #expect(report.lines.contains { $0.contains("kept \(gone.expired.count) segments the source no longer has") })
        // The backup holds the history and everything new.
        let now = try bySeq(backupPath)
        #expect(now.map(\.seq) == Array(0..<4000))
        expectPrefix(original, of: now)
        let left = try bySeq(source)
        #expect(Array(now.suffix(left.count)) == left)
    }

    @Test func followsASegmentThatMovesOrExpiresBetweenTheListingAndTheCopy() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source) { $0.retainFor = .microseconds(30 * 24 * Self.hour) }
        let plain = names(source + "/segments", ".jsonl")
        let expected = try all(source)
        let now = Syscalls.realtimeMicroseconds()
        // Listed plain; warm by the time the backup links them.
        let warming = BackupFileSystem(beforeFirstLink: (".jsonl", { self.expectNoError { _ = try self.tier(source, at: now + 2 * Self.hour) } }))
        let warm = directory.appending("warm")
        let report = try StoreBackup(of: StoreReader(at: source)).copy(to: warm, fileSystem: warming)
        #expect(report.copied == plain.dropLast().map { "segments/" + $0 + ".gz" } + ["segments/" + plain.last!])
        #expect(names(warm + "/segments", ".jsonl") == [plain.last!])
        expectOneFormEach(warm)
        #expect(try all(warm) == expected)

        // Listed warm; expired by the time the backup links them.
        let expiring = BackupFileSystem(
            beforeFirstLink: (".gz", { self.expectNoError { _ = try self.tier(source, at: now + 31 * 24 * Self.hour) } }))
        let gone = directory.appending("gone")
        let left = try StoreBackup(of: StoreReader(at: source)).copy(to: gone, fileSystem: expiring)
        #expect(left.copied == ["segments/" + plain.last!])
        #expect(try all(gone) == all(source))
        #expect(try all(gone) == expected.filter { $0.seq >= SegmentName(fileName: plain.last!)!.base })
    }

    @Test func aSegmentMovedColdBetweenTheTwoDirectoryReadsOfAListingIsBackedUp() throws {
        let directory = TemporaryDirectory()
        let now = Syscalls.realtimeMicroseconds()
        // A listing reads `segments/` and the archive one after the other; a
        // tier pass moves segments from the first to the second (linked in
        // the archive, then unlinked from `segments/`). Here all of them move,
        // warm then cold, right after the first directory read of the
        // backup's first listing; or warm after its first listing, and cold
        // right after the first read of the listing that looks again for the
        // segment that went.
        for (number, moves) in [[1: 26 * Self.hour], [2: 2 * Self.hour, 3: 26 * Self.hour]].enumerated() {
            let source = directory.appending("store\(number)")
            try makeStore(source, records: 1200) { $0.segmentBytes = 8192 }
            let expected = try bySeq(source)
            let reads = MovingFileSystem(under: source + "/") { listing in
                guard let age = moves[listing] else { return }
                self.expectNoError { _ = try self.tier(source, at: now + age) }
            }
            let backupPath = directory.appending("backup\(number)")
            let reader = try StoreReader(at: source)
            let report = try FileReads.$fileSystem.withValue(reads) { try StoreBackup(of: reader).copy(to: backupPath) }
            #expect(reads.listings.withLock { $0 } > moves.keys.max()!, "every move made")
            #expect(names(source + "/segments", ".gz").isEmpty && names(source + "/segments", ".jsonl").count == 1)
            let held = try bySeq(backupPath)
            #expect(report.nextSeq == UInt64(held.count), "moves \(moves)")
            #expect(held == expected, "moves \(moves)")
            expectOneFormEach(backupPath)
        }
    }

    // MARK: While a writer works

    @Test func aBackupWhileAnotherThreadAppendsSealsAndMovesIsAPrefix() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 8192
        configuration.memberBytes = 64 << 10
        configuration.durability = .buffered
        // Every sealed segment goes warm, then cold, at once, in the background.
        configuration.hotFor = .microseconds(0)
        configuration.warmFor = .microseconds(0)
        let store = try Store(at: source, creating: configuration)
        try append(store, count: 200)
        // The writer appends 10 records for each permit: each round lets it
        // append 300 more while it backs up, so that the store grows between
        // backups whatever the machine's speed (and stays small enough for a
        // debug build, which indexes and moves every small segment).
        let (rounds, batchesPerRound) = (4, 30)
        let permits = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        // A failure fails the test (a `try!` here would end the whole run).
        let failure = Protected<String?>(nil)
        let writer = Thread {
            defer { finished.signal() }
            for batch in 0..<(rounds * batchesPerRound) {
                permits.wait()
                do {
                    try self.append(store, count: 10, first: 200 + batch * 10)
                } catch {
                    failure.withLock { $0 = "\(error)" }
                    return
                }
            }
        }
        writer.start()
        let incremental = directory.appending("incremental")
        var snapshots: [[Record]] = []
        for round in 0..<rounds {
            for _ in 0..<batchesPerRound { permits.signal() }
            let fresh = directory.appending("fresh\(round)")
            let report = try backup(from: source, to: fresh)
            snapshots.append(try all(fresh))
            #expect(report.nextSeq == UInt64(snapshots.last!.count))
            _ = try backup(from: source, to: incremental)
            snapshots.append(try all(incremental))
            expectOneFormEach(incremental)
        }
        finished.wait()
        #expect(failure.withLock { $0 } == nil)
        try store.close()
        let final = try bySeq(source)
        #expect(final.count == 200 + rounds * batchesPerRound * 10)
        // The first backup saw at most the first round's records.
        #expect(snapshots.first!.count <= 200 + batchesPerRound * 10)
        for (number, snapshot) in snapshots.enumerated() {
            #expect(!snapshot.isEmpty)
            expectPrefix(snapshot, of: final, "snapshot \(number)")
        }
        // Each opens as a store, with nothing to repair.
        for path in [incremental, directory.appending("fresh3")] {
            let reopened = try Store(at: path)
            #expect(reopened.recovery.cuts.isEmpty)
            try reopened.close()
        }
        // And a last backup, the writer stopped, is the whole store.
        _ = try backup(from: source, to: incremental)
        #expect(try bySeq(incremental) == final)
    }

    /// The crash writer appending to a store from 4 threads in another
    /// process, and how many appends it has acknowledged so far.
    final class AppendingProcess {
        private let process = Process()
        private let stdout = Pipe()
        /// Acknowledgements read so far (each record is in the store before).
        private(set) var acks = 0

        init(_ directory: String, seed: UInt64) throws {
            process.executableURL = URL(fileURLWithPath: builtProduct("stoa-crash-writer"))
            process.arguments = [directory, "4", String(seed), "0"]
            process.standardOutput = stdout
            process.standardError = FileHandle.standardError
            try process.run()
        }

        /// Reads acknowledgements until `count` have come; false if the writer ended first.
        @discardableResult
        func waitForAcks(_ count: Int) -> Bool {
            while acks < count {
                let chunk = stdout.fileHandleForReading.availableData
                if chunk.isEmpty { return false }
                acks += chunk.filter { $0 == 0x0A }.count
            }
            return true
        }

        func kill() {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            _ = stdout.fileHandleForReading.readDataToEndOfFile()
        }
    }

    /// Starts the crash writer on `directory`; returns it once it has acknowledged `acks` appends.
    func startCrashWriter(_ directory: String, seed: UInt64, acks: Int) throws -> AppendingProcess {
        let writer = try AppendingProcess(directory, seed: seed)
        #expect(writer.waitForAcks(acks), "the crash writer ended")
        return writer
    }

    @Test func aBackupWhileAnotherProcessAppendsIsAPrefix() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        let writer = try startCrashWriter(source, seed: 7, acks: 300)
        let incremental = directory.appending("incremental")
        var snapshots: [[Record]] = []
        for round in 0..<4 {
            let fresh = directory.appending("fresh\(round)")
            _ = try backup(from: source, to: fresh)
            snapshots.append(try all(fresh))
            _ = try backup(from: source, to: incremental)
            snapshots.append(try all(incremental))
            // More records acknowledged than the last backup holds: the next
            // one must hold more.
            #expect(writer.waitForAcks(max(writer.acks, snapshots.last!.count) + 100), "the crash writer ended")
        }
        writer.kill()
        let final = try bySeq(source)
        for (number, snapshot) in snapshots.enumerated() {
            #expect(!snapshot.isEmpty)
            expectPrefix(snapshot, of: final, "snapshot \(number)")
        }
        #expect(snapshots.last!.count > snapshots.first!.count)
        for round in 0..<4 {
            let reopened = try Store(at: directory.appending("fresh\(round)"))
            #expect(reopened.recovery.cuts.isEmpty)
            try reopened.close()
        }
    }

    @Test func aPlainCopyOfALiveStoreOpens() throws {
        for round in 0..<3 {
            let directory = TemporaryDirectory()
            let source = directory.appending("store")
            let writer = try startCrashWriter(source, seed: UInt64(round) + 11, acks: 200 + round * 300)
            let copy = directory.appending("copy")
            let result = try run("/bin/cp", ["-r", source, copy])
            writer.kill()
            // cp complains about files that vanish while it copies (a .tmp
            // renamed into place); it copies the rest, and that is harmless.
            let complaints = result.stderr.split(separator: "\n").filter { !$0.contains("No such file or directory") }
            #expect(result.status == 0 || complaints.isEmpty, "\(result.stderr)")

            // Opening repairs what the copy caught mid-write.
            let store = try Store(at: copy)
            try store.close()
            let final = try bySeq(source)
            let bySeqInSource = Dictionary(uniqueKeysWithValues: final.map { ($0.seq, $0) })
            let cursor = try StoreReader(at: copy).query(Query())
            let copied = try cursor.all()
            // `cp -r` copies a directory in no set order, so the copy may lack
            // records: a segment copied while it grew, then sealed, with the
            // next one copied whole; or HIGHWATER copied after later seals
            // (opening then starts after the mark). Whatever it lacks is
            // named, from the first seq of each gap, and never filled with
            // other records under the store's seqs.
            #expect(!copied.isEmpty)
            let served = copied.map(\.seq).sorted()
            let named = Set(cursor.damaged.map(\.seq))
            #expect(named.isDisjoint(with: served), "\(cursor.damaged)")
            for (before, after) in zip(served, served.dropFirst()) where after > before + 1 {
                #expect(named.contains(before + 1), "round \(round): seqs \(before + 1)..<\(after) are missing unnamed: \(cursor.damaged)")
            }
            if let missing = store.recovery.missing, !missing.isEmpty {
                #expect(served.allSatisfy { !missing.contains($0) })
            }
            for record in copied where bySeqInSource[record.seq] != record {
                Issue.record("round \(round): seq \(record.seq) differs from the source: \(record.json)")
                break
            }
        }
    }

    @Test func aBackupKilledAtAnyMomentLeavesAPrefix() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        let store = try Store(at: source, creating: configuration)
        try append(store, count: 4000)
        try store.waitForIndexes()
        try store.close()
        let expected = try bySeq(source)
        #expect(names(source + "/segments", ".jsonl").count > 150)

        // How many file system calls a whole backup makes, to kill the
        // others all along it: the crash writer does what `stoa backup`
        // does, and stops before a chosen call (see Tests/CrashWriter).
        let whole = try StoppedChild.run(["backup", source, directory.appending("counting"), "0"])
        guard case .done(let calls) = whole else {
            Issue.record("a whole backup: \(whole)")
            return
        }
        #expect(calls > 300)

        var random = SeededGenerator(seed: 99)
        let reused = directory.appending("reused")
        var (opened, killed) = (0, 0)
        for round in 0..<8 {
            let destination = round % 2 == 0 ? reused : directory.appending("fresh\(round)")
            // A backup into `reused` makes fewer calls once it holds some:
            // then a late stop may come after its end.
            let child = try StoppedChild.run(["backup", source, destination, String(Int.random(in: 1...calls, using: &random))])
            if case .failed(let what) = child { Issue.record("round \(round): the backup failed: \(what)") }
            if child.wasKilled { killed += 1 }
            guard FileManager.default.fileExists(atPath: destination + "/stoa.json") else { continue }
            opened += 1
            expectPrefix(try bySeq(destination), of: expected, "round \(round)")
            let reopened = try Store(at: destination)
            #expect(reopened.recovery.cuts.isEmpty)
            try reopened.close()
            expectPrefix(try bySeq(destination), of: expected, "round \(round), reopened")
        }
        #expect(opened > 0)
        #expect(killed > 0)
        // `stoa backup` run to the end completes what the killed ones began.
        let last = try run(builtProduct("stoa"), ["backup", source, reused])
        #expect(last.status == 0, "\(last.stderr)")
        #expect(try bySeq(reused) == expected)
        expectOneFormEach(reused)
    }

    @Test func aFailedBackupLeavesAPrefixWithoutALinkAsItsNewestSegment() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source)
        let backupPath = directory.appending("backup")
        // The copy of the active segment fails: disk full.
        do {
            _ = try StoreBackup(of: StoreReader(at: source)).copy(to: backupPath, fileSystem: BackupFileSystem(failWritesTo: ".jsonl.tmp"))
            Issue.record("the backup should fail")
        } catch {
            #expect(error.code == .noSpace)
        }
        let plain = names(source + "/segments", ".jsonl")
        // The last sealed segment (a hard link) was taken back: a Store on the
        // backup must not append to a file the source shares.
        #expect(names(backupPath + "/segments", ".jsonl") == Array(plain.dropLast(2)))
        #expect(names(backupPath + "/segments", ".tmp").isEmpty)
        expectPrefix(try bySeq(backupPath), of: try bySeq(source))
        // Run again, it completes.
        _ = try backup(from: source, to: backupPath)
        #expect(try all(backupPath) == all(source))
    }

    // MARK: Refusals

    @Test func refusesDestinationsInsideTheStoreOrNotEmptyOrOfAnotherStore() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source, records: 500)
        func expectError(_ destination: String, _ code: StoaError.Code, _ text: String) {
            do {
                _ = try backup(from: source, to: destination)
                Issue.record("\(destination) should be refused")
            } catch {
                #expect(error.code == code, "\(error)")
                #expect(error.description.contains(text), "\(error)")
                #expect(error.path == destination)
            }
        }
        expectError(source, .invalidArgument, "must not be the store")
        expectError(source + "/segments", .invalidArgument, "must not be the store")
        expectError(source + "/new/", .invalidArgument, "must not be the store")
        #expect(!FileManager.default.fileExists(atPath: source + "/new"))
        try FileManager.default.createSymbolicLink(atPath: directory.appending("link"), withDestinationPath: source)
        expectError(directory.appending("link") + "/backup", .invalidArgument, "must not be the store")

        let full = directory.appending("full")
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: false)
        try writeBytes(Array("hello".utf8), to: full + "/notes.txt")
        expectError(full, .notAStore, "has files but no stoa.json")
        try writeBytes([], to: directory.appending("file"))
        expectError(directory.appending("file"), .invalidArgument, "not a directory")

        // A backup of another store.
        let other = directory.appending("other")
        try makeStore(other, records: 800)
        let backupPath = directory.appending("backup")
        _ = try backup(from: other, to: backupPath)
        var before = try snapshot(backupPath)
        expectError(backupPath, .invalidArgument, "is another store")
        #expect(try snapshot(backupPath) == before)
        // Another store itself, as young as this one (its segments no newer):
        // refused by its id, its records untouched.
        let young = directory.appending("young")
        try makeStore(young, records: 100)
        before = try snapshot(young)
        let records = try all(young)
        expectError(young, .invalidArgument, "is another store")
        #expect(try snapshot(young) == before)
        #expect(try all(young) == records)

        // Locked while a Store has it open.
        let mine = directory.appending("mine")
        _ = try backup(from: source, to: mine)
        let writer = try Store(at: mine)
        expectError(mine, .locked, "locked")
        try writer.close()
        #expect(throws: StoaError.self) { try backup(from: directory.appending("nothing"), to: directory.appending("b2")) }
    }

    /// Every file under `path` with its bytes, but the lock file.
    func snapshot(_ path: String) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let name = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            // The lock, and the readers' catalog (a cache: a reader rewrites it
            // when a segment's file changed status, as a hard link shared with
            // the store does when the store removes its own).
            guard name != "LOCK", name != "segments/CATALOG",
                FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &isDirectory),
                !isDirectory.boolValue
            else { continue }
            files[name] = try readBytes(path + "/" + name)
        }
        return files
    }

    /// `stoa.json` of the store at `path` without its `store_id`, as a store
    /// made before ids has it.
    func removeStoreID(_ path: String) throws {
        let object = try JSONSerialization.jsonObject(with: Data(readBytes(path + "/stoa.json"))) as! [String: Any]
        #expect(object["store_id"] != nil)
        let stripped = object.filter { $0.key != "store_id" }
        try writeBytes(Array(JSONSerialization.data(withJSONObject: stripped)), to: path + "/stoa.json")
    }

    func storeID(_ path: String) throws -> String? {
        try StoreConfiguration.load(from: path + "/stoa.json").storeID
    }

    // MARK: Identity and history

    @Test func aStoreHasAnIDFromItsCreationThatItsBackupCarries() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source, records: 200)
        let id = try #require(try storeID(source))
        #expect(id.count == 32 && id.allSatisfy(\.isHexDigit))
        let backupPath = directory.appending("backup")
        _ = try backup(from: source, to: backupPath)
        #expect(try storeID(backupPath) == id)
        // A writer opened on the backup keeps it; a second store gets its own.
        try appendMore(backupPath, count: 1, first: 200)
        #expect(try storeID(backupPath) == id)
        let other = directory.appending("other")
        try makeStore(other, records: 1)
        #expect(try storeID(other) != id)
    }

    @Test func aStoreMadeBeforeIDsGetsOneFromItsNextWriterAndStillBacksUp() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source, records: 1000)
        try removeStoreID(source)
        // Readers never write; the backup of an id-less store carries no id,
        // and a second backup into it is recognised by its segments.
        let backupPath = directory.appending("backup")
        _ = try backup(from: source, to: backupPath)
        #expect(try storeID(source) == nil)
        #expect(try storeID(backupPath) == nil)
        _ = try backup(from: source, to: backupPath)

        // The next writer adds an id, atomically; the next backup adopts it.
        try appendMore(source, count: 500, first: 1000)
        let id = try #require(try storeID(source))
        #expect(try StoreReader(at: source).configuration.storeID == id)
        _ = try backup(from: source, to: backupPath)
        #expect(try storeID(backupPath) == id)
        #expect(try all(backupPath) == all(source))

        // Two id-less stores that share no segment: the other one is refused, untouched.
        let first = directory.appending("first")
        let second = directory.appending("second")
        try makeStore(first, records: 300)
        try makeStore(second, records: 0)
        try appendMore(second, count: 300, first: 7000)
        try removeStoreID(first)
        try removeStoreID(second)
        let before = try snapshot(second)
        #expect {
            _ = try backup(from: first, to: second)
        } throws: { error in
            let error = error as! StoaError
            return error.code == .diverged && error.message.contains("backup of another store")
        }
        #expect(try snapshot(second) == before)
    }

    @Test func keepsTheBackupsHistoryWhenTheStoreWasCutBack() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source, records: 3000)
        let backupPath = directory.appending("backup")
        _ = try backup(from: source, to: backupPath)
        let backedUp = try all(backupPath)
        let kept = try snapshot(backupPath)

        func expectDiverged(_ text: String, _ comment: Comment) throws {
            do {
                _ = try backup(from: source, to: backupPath)
                Issue.record("should be refused: \(comment)")
            } catch {
                #expect(error.code == .diverged, "\(error)")
                #expect(error.path == backupPath)
                #expect(error.message.contains(text), "\(error)")
            }
            #expect(try snapshot(backupPath) == kept, comment)
            #expect(try all(backupPath) == backedUp, comment)
        }

        // The active segment's last line rewritten in place (same length):
        // the backup's copy of it is not overwritten.
        let plain = names(source + "/segments", ".jsonl")
        let active = source + "/segments/" + plain.last!
        let original = try readBytes(active)
        var edited = original
        let lastLine = edited.dropLast().lastIndex(of: UInt8(ascii: "\n"))! + 1
        let n = edited[lastLine...].firstRange(of: Array(#""n":"#.utf8))!.upperBound
        edited[n] = edited[n] == UInt8(ascii: "1") ? UInt8(ascii: "2") : UInt8(ascii: "1")
        try writeBytes(edited, to: active)
        try expectDiverged("segments/\(plain.last!) holds seq 2999 that the store no longer has", "rewritten line")

        // The active segment cut back by two records.
        let cut = original[..<(original.dropLast().lastIndex(of: UInt8(ascii: "\n"))! + 1)]
        try writeBytes(Array(cut.dropLast().prefix(through: cut.dropLast().lastIndex(of: UInt8(ascii: "\n"))!)), to: active)
        try expectDiverged("holds seqs 2998 to 2999 that the store no longer has", "cut back")

        // The newest sealed segment and the active one removed, new records appended.
        try writeBytes(original, to: active)
        let sealed = source + "/segments/" + plain[plain.count - 2]
        try FileManager.default.removeItem(atPath: sealed)
        try FileManager.default.removeItem(atPath: active)
        for suffix in [plain[plain.count - 2], plain.last!] {
            try? FileManager.default.removeItem(atPath: source + "/segments/" + suffix.replacingOccurrences(of: ".jsonl", with: ".idx"))
        }
        try appendMore(source, count: 10, first: 5000)
        try expectDiverged("but the store has no segment starting there", "newest segments replaced")

        // Reset: every segment gone, the same stoa.json.
        try FileManager.default.removeItem(atPath: source + "/segments")
        try FileManager.default.createDirectory(atPath: source + "/segments", withIntermediateDirectories: false)
        try expectDiverged("but the store has no segment starting there (it has no segments)", "reset")
    }

    @Test func anIDIsAddedUnderTheLockFromStoaJSONReadThereNeverReplacingAnother() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source, records: 10)
        try removeStoreID(source)
        // Another writer opens and closes between this one's read of
        // stoa.json (no id yet) and its lock: it adds the id, and this
        // writer keeps it (backups made under it stay this store's).
        var added: String?
        let store = try Store(
            at: source, creating: StoreConfiguration(), fileSystem: SystemFileSystem(),
            afterReadingConfiguration: { () throws(StoaError) in
                try Store(at: source).close()
                added = try StoreConfiguration.load(from: source + "/stoa.json").storeID
            })
        let id = try #require(added)
        #expect(store.configuration.storeID == id)
        try store.close()
        #expect(try storeID(source) == id)
    }

    /// A backup that fails because the store has a segment that cannot be
    /// read: it names the segment, and the backup's copy is kept.
    func expectUnreadable(_ source: String, _ backupPath: String, _ segment: String) {
        do {
            _ = try StoreBackup(of: StoreReader(at: source)).copy(to: backupPath, fileSystem: BackupFileSystem(noLinks: true))
            Issue.record("a backup from a store with a damaged segment should fail")
        } catch {
            #expect(error.code == .damaged, "\(error)")
            #expect(error.message.contains("\(source)/segments/\(segment) cannot be read"), "\(error)")
            #expect(error.message.contains("the backup keeps its own copy"), "\(error)")
        }
    }

    @Test func aStoreSegmentThatCannotBeReadNeverReplacesTheBackupsCopy() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source)
        _ = try tier(source, at: Syscalls.realtimeMicroseconds() + 2 * Self.hour)
        // Copies, not hard links (which would share the damage done below).
        let backupPath = directory.appending("backup")
        _ = try StoreBackup(of: StoreReader(at: source)).copy(to: backupPath, fileSystem: BackupFileSystem(noLinks: true))
        try appendMore(source, count: 1000, first: 3000)
        let expected = try bySeq(source)

        // The store's warm segment cut short: its .idx no longer matches, it cannot be read.
        let warm = names(source + "/segments", ".jsonl.gz")[1]
        let kept = try readBytes(backupPath + "/segments/" + warm)
        let whole = try readBytes(source + "/segments/" + warm)
        try writeBytes(Array(whole.prefix(whole.count - 100)), to: source + "/segments/" + warm)
        expectUnreadable(source, backupPath, warm)
        #expect(try readBytes(backupPath + "/segments/" + warm) == kept)
        // Everything else was backed up: the new records too.
        #expect(try bySeq(backupPath) == expected)
        expectOneFormEach(backupPath)
    }

    @Test func aStoreSegmentThatCannotBeReadNeverReplacesTheBackupsHotCopy() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source)
        let backupPath = directory.appending("backup")
        _ = try StoreBackup(of: StoreReader(at: source)).copy(to: backupPath, fileSystem: BackupFileSystem(noLinks: true))
        // The active segment, copied while hot, is sealed and copied whole by the next backup.
        let hot = names(source + "/segments", ".jsonl").last!
        try appendMore(source, count: 1000, first: 3000)
        _ = try StoreBackup(of: StoreReader(at: source)).copy(to: backupPath, fileSystem: BackupFileSystem(noLinks: true))
        let kept = try readBytes(backupPath + "/segments/" + hot)
        let expected = try bySeq(source)

        // The store moves it to warm, then its .jsonl.gz is cut short.
        _ = try tier(source, at: Syscalls.realtimeMicroseconds() + 2 * Self.hour)
        let warm = hot + ".gz"
        let whole = try readBytes(source + "/segments/" + warm)
        try writeBytes(Array(whole.prefix(whole.count - 100)), to: source + "/segments/" + warm)
        expectUnreadable(source, backupPath, warm)
        // The intact plain copy stays, and the damaged form is not copied in.
        #expect(try readBytes(backupPath + "/segments/" + hot) == kept)
        #expect(!FileManager.default.fileExists(atPath: backupPath + "/segments/" + warm))
        // The other segments' moves were followed (each proven the same first).
        #expect(names(backupPath + "/segments", ".jsonl.gz").count == names(source + "/segments", ".jsonl.gz").count - 1)
        #expect(try bySeq(backupPath) == expected)
        expectOneFormEach(backupPath)
    }

    @Test func aStoreSegmentThatCannotBeReadNeverReplacesTheBackupsCopyOfWhatWasActive() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source)
        let backupPath = directory.appending("backup")
        _ = try StoreBackup(of: StoreReader(at: source)).copy(to: backupPath, fileSystem: BackupFileSystem(noLinks: true))
        // The backup's newest segment is its copy of the then active one,
        // which the store seals, moves to warm, and then loses the end of.
        let hot = names(source + "/segments", ".jsonl").last!
        let kept = try readBytes(backupPath + "/segments/" + hot)
        try appendMore(source, count: 1000, first: 3000)
        let expected = try bySeq(source)
        _ = try tier(source, at: Syscalls.realtimeMicroseconds() + 2 * Self.hour)
        let warm = hot + ".gz"
        let whole = try readBytes(source + "/segments/" + warm)
        try writeBytes(Array(whole.prefix(whole.count - 100)), to: source + "/segments/" + warm)
        expectUnreadable(source, backupPath, warm)
        #expect(try readBytes(backupPath + "/segments/" + hot) == kept)
        #expect(!FileManager.default.fileExists(atPath: backupPath + "/segments/" + warm))
        // The segments after it were backed up.
        #expect(try bySeq(backupPath).last == expected.last)
    }

    @Test func anActiveSegmentRewrittenDuringTheBackupIsNotCopiedOverTheEarlierCopy() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source)
        let backupPath = directory.appending("backup")
        _ = try backup(from: source, to: backupPath)
        let backedUp = try all(backupPath)
        let active = names(source + "/segments", ".jsonl").last!
        let earlierCopy = try readBytes(backupPath + "/segments/" + active)
        // The sealed segments go warm, so the next backup links their new
        // forms first; before the first link (after the history was checked),
        // the store's active segment gets its last line rewritten in place.
        _ = try tier(source, at: Syscalls.realtimeMicroseconds() + 2 * Self.hour)
        let rewrite: @Sendable () -> Void = {
            self.expectNoError {
                var bytes = try readBytes(source + "/segments/" + active)
                let lastLine = bytes.dropLast().lastIndex(of: UInt8(ascii: "\n"))! + 1
                let n = bytes[lastLine...].firstRange(of: Array(#""n":"#.utf8))!.upperBound
                bytes[n] = bytes[n] == UInt8(ascii: "1") ? UInt8(ascii: "2") : UInt8(ascii: "1")
                try writeBytes(bytes, to: source + "/segments/" + active)
            }
        }
        do {
            _ = try StoreBackup(of: StoreReader(at: source)).copy(
                to: backupPath, fileSystem: BackupFileSystem(beforeFirstLink: (".jsonl.gz", rewrite)))
            Issue.record("the rewritten active segment must not replace the backup's copy")
        } catch {
            #expect(error.code == .diverged, "\(error)")
            #expect(error.message.contains("segments/\(active) holds seq 2999 that the store no longer has"), "\(error)")
        }
        #expect(try readBytes(backupPath + "/segments/" + active) == earlierCopy)
        #expect(names(backupPath + "/segments", ".tmp").isEmpty)
        #expect(try all(backupPath) == backedUp)
    }
}
