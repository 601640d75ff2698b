import Foundation
import Dispatch
import StoaTestSupport
import Synchronization
import Testing

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// A store of `records` records `{"ts":…,"n":n}`, closed.
private func makeStore(_ directory: TemporaryDirectory, records: Int, segmentBytes: Int? = nil) throws {
    var configuration = StoreConfiguration()
    if let segmentBytes { configuration.segmentBytes = Int64(segmentBytes) }
    let store = try Store(at: directory.path, creating: configuration)
    try store.append(contentsOf: (0..<records).map { #"{"ts":\#(1_700_000_000 + $0),"n":\#($0)}"# })
    try store.waitForIndexes()
    try store.close()
}

private func makeSymbolicLink(at path: String, to target: String) throws {
    try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
}

private let active = "segments/00000000000000000000.jsonl"

// MARK: Item 1: only Stoa's own temporary files are removed

@Suite struct TemporaryFileTests {
    @Test func namesStoaGivesItsTemporaryFiles() {
        #expect(TemporaryFile.writer(of: "stoa.json.tmp", in: .root) == .writer)
        #expect(TemporaryFile.writer(of: "HIGHWATER.tmp", in: .root) == .writer)
        #expect(TemporaryFile.writer(of: "00000000000000000042.idx.tmp", in: .segments) == .writer)
        #expect(TemporaryFile.writer(of: "00000000000000000042.idx.1234-7.tmp", in: .segments) == .reader)
        #expect(TemporaryFile.writer(of: "00000000000000000042.jsonl.gz.tmp", in: .archive) == .writer)
        #expect(TemporaryFile.writer(of: "00000000000000000042.jsonl.17.bad.tmp", in: .quarantine) == .writer)
        #expect(TemporaryFile.writer(of: "00000000000000000042.jsonl.17.2.bad.json.tmp", in: .quarantine) == .writer)
        for foreign in ["upload.tmp", "x.tmp", ".tmp", "stoa.json.1-.tmp", "42.idx.tmp", "00000000000000000042.idx.a-1.tmp"] {
            #expect(TemporaryFile.writer(of: foreign, in: .segments) == nil, "\(foreign)")
            #expect(TemporaryFile.writer(of: foreign, in: .archive) == nil, "\(foreign)")
        }
        #expect(TemporaryFile.writer(of: "00000000000000000042.idx.tmp", in: .root) == nil)
        #expect(TemporaryFile.writer(of: "stoa.json.tmp", in: .segments) == nil)
    }

    @Test func openingLeavesOtherProgramsFilesInASharedArchive() throws {
        let directory = TemporaryDirectory()
        let shared = directory.appending("shared")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        try writeBytes(Array("keep\n".utf8), to: shared + "/upload.tmp")
        try FileManager.default.createDirectory(atPath: shared + "/incoming.tmp", withIntermediateDirectories: true)
        var configuration = StoreConfiguration()
        configuration.archivePath = shared
        try Store(at: directory.appending("s"), creating: configuration).close()
        // Stoa's own stale temporary file there goes; the others stay.
        try writeBytes(Array("partial".utf8), to: shared + "/00000000000000000000.jsonl.gz.tmp")
        let store = try Store(at: directory.appending("s"))
        try store.close()
        #expect(listDirectory(shared) == ["incoming.tmp", "upload.tmp"])
        #expect(try readBytes(shared + "/upload.tmp") == Array("keep\n".utf8))
        #expect(store.recovery.removedTemporaryFiles == [shared + "/00000000000000000000.jsonl.gz.tmp"])
    }

    @Test func aDirectoryNamedLikeATemporaryFileIsLeftAndAppendsWork() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 3)
        try FileManager.default.createDirectory(atPath: directory.appending("segments/x.tmp"), withIntermediateDirectories: true)
        // Even one with Stoa's name: it is not a file Stoa wrote.
        try FileManager.default.createDirectory(
            atPath: directory.appending("segments/00000000000000000000.idx.tmp"), withIntermediateDirectories: true)
        let store = try Store(at: directory.path)
        #expect(try store.append(#"{"n":3}"#) == 3)
        try store.close()
        #expect(listDirectory(directory.appending("segments")).contains("x.tmp"))
        #expect(listDirectory(directory.appending("segments")).contains("00000000000000000000.idx.tmp"))
    }

    @Test func aReadersTemporaryFileIsRemovedOnlyOnceItIsAMinuteOld() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 3)
        let young = directory.appending("segments/00000000000000000000.idx.999-1.tmp")
        let old = directory.appending("segments/00000000000000000000.idx.999-2.tmp")
        try writeBytes([1, 2, 3], to: young)
        try writeBytes([1, 2, 3], to: old)
        try setModified(old, toSecondsAgo: 120)
        let store = try Store(at: directory.path)
        try store.close()
        #expect(store.recovery.removedTemporaryFiles == [old])
        #expect(FileManager.default.fileExists(atPath: young))
    }

    @Test func aSymbolicLinkWithATemporaryNameIsNotFollowedNorRemoved() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 3)
        let victim = directory.appending("victim")
        try writeBytes(Array("keep".utf8), to: victim)
        try makeSymbolicLink(at: directory.appending("stoa.json.tmp"), to: victim)
        let store = try Store(at: directory.path)
        try store.close()
        #expect(try readBytes(victim) == Array("keep".utf8))
        #expect(store.recovery.removedTemporaryFiles.isEmpty)
    }
}

// MARK: Item 3: a damaged line is replaced, not everything after it cut

@Suite struct TombstoneTests {
    @Test func oneBadByteInTheFirstLineCostsOneRecord() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 1000)
        let segment = directory.appending(active)
        var bytes = try readBytes(segment)
        let firstLine = bytes.firstIndex(of: 0x0A)!
        bytes[0] = UInt8(ascii: "z")  // `{` becomes `z`
        try writeBytes(bytes, to: segment)

        let store = try Store(at: directory.path)
        #expect(store.recovery.cuts.isEmpty)
        let replaced = try #require(store.recovery.replaced.first)
        #expect(store.recovery.replaced.count == 1)
        #expect((replaced.line, replaced.offset, replaced.length) == (1, 0, firstLine))
        #expect(try readBytes(replaced.quarantined) == Array(bytes[..<firstLine]))
        let note = try JSONSerialization.jsonObject(with: Data(readBytes(replaced.quarantined + ".json"))) as? [String: Any]
        #expect(note?["offset"] as? Int == 0)
        #expect(note?["length"] as? Int == firstLine)
        #expect(store.writeStats.nextSeq == 1000)
        #expect(try store.append(#"{"ts":1700001000,"n":1000}"#) == 1000)
        try store.close()

        let records = try StoreReader(at: directory.path).query(Query()).all()
        #expect(records.count == 1001)
        #expect(records.map(\.seq) == Array(0...1000))
        let tombstone = records[0]
        #expect(tombstone.type == "stoa.damaged")
        // Its time is the nearest valid line's (after it: it is the first).
        #expect(tombstone.time == records[1].time)
        let fields = try JSONSerialization.jsonObject(with: Data(tombstone.bytes)) as? [String: Any]
        #expect(fields?["quarantine"] as? String == "quarantine/" + Path.lastComponent(of: replaced.quarantined))
        #expect(fields?["offset"] as? Int == 0)
        #expect(fields?["length"] as? Int == firstLine)
        // Every other record keeps its seq.
        for record in records.dropFirst() {
            let n = try JSONSerialization.jsonObject(with: Data(record.bytes)) as? [String: Any]
            #expect(n?["n"] as? Int == Int(record.seq))
        }
        #expect(try StoreReader(at: directory.path).verify().isClean)
    }

    @Test func theLastLineDamagedAfterACloseIsReplacedNotCut() throws {
        // The high-water mark says its seq was handed out: not a torn tail.
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 10)
        let segment = directory.appending(active)
        var bytes = try readBytes(segment)
        bytes[bytes.count - 3] = UInt8(ascii: "x")  // the last number: `9}` becomes `x}`
        try writeBytes(bytes, to: segment)
        let store = try Store(at: directory.path)
        #expect(store.recovery.cuts.isEmpty)
        #expect(store.recovery.replaced.map(\.line) == [10])
        #expect(try store.append(#"{"n":10}"#) == 10)
        try store.close()
    }

    @Test func twoRecoveriesAtTheSameOffsetKeepBothInQuarantine() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 3)
        let segment = directory.appending(active)
        let good = try readBytes(segment)
        var kept: [String] = []
        for torn in [#"{"ts":1,"first"#, #"{"ts":2,"second"#] {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: segment))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(torn.utf8))
            try handle.close()
            let store = try Store(at: directory.path)
            let cut = try #require(store.recovery.cuts.first)
            #expect(cut.offset == good.count)
            #expect(try readBytes(cut.quarantined) == Array(torn.utf8))
            kept.append(cut.quarantined)
            try store.close()
        }
        #expect(Set(kept).count == 2)
        #expect(try kept.map { try readBytes($0) } == [Array(#"{"ts":1,"first"#.utf8), Array(#"{"ts":2,"second"#.utf8)])
        #expect(listDirectory(directory.appending("quarantine")).count == 4)  // two files, two notes
    }

    @Test func aRecoveryRepeatedAfterACrashNeitherLosesNorDuplicates() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 20)
        let segment = directory.appending(active)
        var bytes = try readBytes(segment)
        bytes[1] = 0  // a raw NUL in line 1
        try writeBytes(bytes, to: segment)
        // The first recovery stops (as a crash would) before the repaired
        // segment takes the damaged one's place.
        let faulty = FaultyFileSystem()
        faulty.inject(.init(call: .rename, after: 0, errno: EIO, pathSuffix: ".jsonl.tmp"))
        #expect(throws: StoaError.self) { try Store(at: directory.path, creating: .init(), fileSystem: faulty) }
        #expect(try readBytes(segment) == bytes)
        let quarantined = listDirectory(directory.appending("quarantine"))
        #expect(quarantined.count == 2)

        let store = try Store(at: directory.path)
        #expect(store.recovery.replaced.count == 1)
        #expect(listDirectory(directory.appending("quarantine")) == quarantined)
        #expect(store.writeStats.nextSeq == 20)
        try store.close()
        #expect(try StoreReader(at: directory.path).query(Query()).all().count == 20)
    }
}

// MARK: Item 9: symbolic links inside a store are not followed

@Suite struct SymbolicLinkTests {
    func expectRefused(_ directory: TemporaryDirectory, naming name: String) {
        #expect {
            try Store(at: directory.path)
        } throws: { error in
            let error = error as? StoaError
            return error?.message.contains("symbolic link") == true && error?.path?.hasSuffix(name) == true
        }
    }

    @Test func aLinkedLockIsRefusedAndItsTargetKept() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 2)
        let victim = directory.appending("victim")
        try writeBytes(Array("precious".utf8), to: victim)
        try FileManager.default.removeItem(atPath: directory.appending("LOCK"))
        try makeSymbolicLink(at: directory.appending("LOCK"), to: victim)
        expectRefused(directory, naming: "LOCK")
        #expect(try readBytes(victim) == Array("precious".utf8))
    }

    @Test func aLinkedActiveSegmentIsNeitherCutNorAppendedTo() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 2)
        let outside = directory.appending("outside.jsonl")
        // Records, then a torn tail: followed, recovery would cut the file it points to.
        let content = try readBytes(directory.appending(active)) + Array("{\"ts\":1,\"torn".utf8)
        try writeBytes(content, to: outside)
        try FileManager.default.removeItem(atPath: directory.appending(active))
        try makeSymbolicLink(at: directory.appending(active), to: outside)
        expectRefused(directory, naming: active)
        #expect(try readBytes(outside) == content)
    }

    @Test(arguments: ["segments", "quarantine", "archive"])
    func aLinkedDirectoryIsRefused(_ name: String) throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 2)
        let outside = directory.appending("outside-\(name)")
        if FileManager.default.fileExists(atPath: directory.appending(name)) {
            try FileManager.default.moveItem(atPath: directory.appending(name), toPath: outside)
        } else {
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        }
        try makeSymbolicLink(at: directory.appending(name), to: outside)
        expectRefused(directory, naming: name)
    }

    @Test func aConfiguredArchivePathMayBeALink() throws {
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.appending("disk"), withIntermediateDirectories: true)
        try makeSymbolicLink(at: directory.appending("cold"), to: directory.appending("disk"))
        var configuration = StoreConfiguration()
        configuration.archivePath = directory.appending("cold")
        let store = try Store(at: directory.appending("s"), creating: configuration)
        #expect(try store.append(#"{"n":0}"#) == 0)
        try store.close()
    }
}

// MARK: Item 10: the high-water mark

@Suite struct HighWaterMarkTests {
    /// A store of several sealed segments; the names of its segments, oldest first.
    func makeSegmentedStore(_ directory: TemporaryDirectory) throws -> [String] {
        try makeStore(directory, records: 1000, segmentBytes: 4096)
        let names = listDirectory(directory.appending("segments")).filter { $0.hasSuffix(".jsonl") }
        #expect(names.count > 3)
        return names
    }

    func remove(_ directory: TemporaryDirectory, segment name: String) throws {
        try FileManager.default.removeItem(atPath: directory.appending("segments/" + name))
        try? FileManager.default.removeItem(atPath: directory.appending("segments/" + name.replacingOccurrences(of: ".jsonl", with: ".idx")))
    }

    @Test func removingTheNewestSegmentsIsReportedAndNoSeqIsUsedTwice() throws {
        let directory = TemporaryDirectory()
        let names = try makeSegmentedStore(directory)
        #expect(try StoreReader(at: directory.path).verify().isClean)
        let newestSealed = try #require(SegmentName(fileName: names[names.count - 2]))
        try remove(directory, segment: names[names.count - 1])
        try remove(directory, segment: names[names.count - 2])

        let report = try StoreReader(at: directory.path).verify()
        #expect(!report.isClean)
        #expect(report.problems.contains { $0.message.contains("seqs \(newestSealed.base) to 999 are missing") })

        let store = try Store(at: directory.path)
        #expect(store.recovery.missing == newestSealed.base..<1000)
        #expect(store.recovery.lines.contains { $0.contains("new records start at seq 1000") })
        #expect(try store.append(#"{"n":"new"}"#) == 1000)
        try store.close()
        // One new segment, at the mark: none at the end of what is left.
        let after = listDirectory(directory.appending("segments")).filter { $0.hasSuffix(".jsonl") }
        #expect(after == names.dropLast(2) + ["00000000000000001000.jsonl"])
        // The gap stays reported: the seqs in it are lost.
        #expect(try StoreReader(at: directory.path).verify().problems.contains { $0.message.contains("are missing") })
    }

    @Test func removingOnlyTheActiveSegmentIsReported() throws {
        let directory = TemporaryDirectory()
        let names = try makeSegmentedStore(directory)
        try remove(directory, segment: names[names.count - 1])
        #expect(!(try StoreReader(at: directory.path).verify().isClean))
        let store = try Store(at: directory.path)
        #expect(try store.append(#"{"n":"new"}"#) == 1000)
        try store.close()
    }

    @Test func aStoreWithoutAMarkOpensAndGetsOne() throws {
        let directory = TemporaryDirectory()
        _ = try makeSegmentedStore(directory)
        let mark = directory.appending(HighWaterMark.fileName)
        let written = try readBytes(mark)
        try FileManager.default.removeItem(atPath: mark)
        let store = try Store(at: directory.path)
        #expect(store.recovery.isClean)
        try store.waitForIndexes()
        try store.close()
        #expect(try readBytes(mark) == written)
    }

    @Test func aDamagedMarkIsNeverGuessedPast() throws {
        let directory = TemporaryDirectory()
        _ = try makeSegmentedStore(directory)
        try writeBytes(Array("{\"next_seq\":".utf8), to: directory.appending(HighWaterMark.fileName))
        #expect { try Store(at: directory.path) } throws: { ($0 as? StoaError)?.code == .damaged }
        #expect(!(try StoreReader(at: directory.path).verify().isClean))
    }

    @Test func expiringTheOldestSegmentsIsNotLoss() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        configuration.maxBytes = 12_000
        let store = try Store(at: directory.path, creating: configuration)
        try store.append(contentsOf: (0..<1000).map { #"{"ts":\#(1_700_000_000 + $0),"n":\#($0)}"# })
        try store.waitForIndexes()
        _ = try store.applyTierPolicy()
        try store.close()
        // (The background applies the policy at each seal, too.)
        #expect(!FileManager.default.fileExists(atPath: directory.appending(active)))
        let report = try StoreReader(at: directory.path).verify()
        #expect(!report.problems.contains { $0.path.hasSuffix(HighWaterMark.fileName) })
    }

    @Test func aBackupGetsTheMark() throws {
        let directory = TemporaryDirectory()
        _ = try makeSegmentedStore(directory)
        let destination = TemporaryDirectory()
        _ = try StoreBackup(of: StoreReader(at: directory.path)).copy(to: destination.appending("b"))
        #expect(
            try readBytes(destination.appending("b/" + HighWaterMark.fileName))
                == readBytes(directory.appending(HighWaterMark.fileName)))
        #expect(try StoreReader(at: destination.appending("b")).verify().isClean)
    }
}

// MARK: Item 10, review: the mark's writes, a bad segment, expiry

@Suite struct HighWaterMarkReviewTests {
    func segmentNames(_ directory: TemporaryDirectory, _ suffix: String) -> [String] {
        listDirectory(directory.appending("segments")).filter { $0.hasSuffix(suffix) }.sorted()
    }

    /// Two writes to one path at once: the first one's rename must publish
    /// what it wrote, not the file the second one opened (with one fixed
    /// `.tmp` name, the second truncated it, and the first renamed it empty).
    @Test func twoWritesToOnePathNeverPublishAnEmptyFile() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending(HighWaterMark.fileName)
        let fileSystem = SystemFileSystem()
        let (firstWrote, secondOpened, firstDone) = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
        let published = Protected<[UInt8]?>(nil)
        DispatchQueue.global().async {
            try? fileSystem.writeFileAtomically(path) { (fd, temporary) throws(StoaError) in
                try Array("first\n".utf8).withUnsafeBufferPointer { (buffer) throws(StoaError) in
                    try fileSystem.writeAll(fd, UnsafeRawBufferPointer(buffer), path: temporary)
                }
                firstWrote.signal()
                secondOpened.wait()
            }
            published.withLock { $0 = try? readBytes(path) }
            firstDone.signal()
        }
        firstWrote.wait()
        try? fileSystem.writeFileAtomically(path) { (fd, temporary) throws(StoaError) in
            secondOpened.signal()
            firstDone.wait()
            try Array("second\n".utf8).withUnsafeBufferPointer { (buffer) throws(StoaError) in
                    try fileSystem.writeAll(fd, UnsafeRawBufferPointer(buffer), path: temporary)
                }
        }
        #expect(published.withLock { $0 } == Array("first\n".utf8))
        #expect(try readBytes(path) == Array("second\n".utf8))
        #expect(!listDirectory(directory.path).contains { $0.hasSuffix(".tmp") })
    }

    /// The writer's unique temporary names are the writer's: a stale one is
    /// removed at opening however young (the lock says no writer is live).
    @Test func aWritersUniqueTemporaryFileIsRemovedAtOpening() throws {
        #expect(TemporaryFile.writer(of: "00000000000000000042.idx.1234-w7.tmp", in: .segments) == .writer)
        #expect(TemporaryFile.writer(of: "HIGHWATER.1234-w7.tmp", in: .root) == .writer)
        for foreign in ["HIGHWATER.1234-w.tmp", "HIGHWATER.w1-2.tmp", "upload.1-w2.tmp"] {
            #expect(TemporaryFile.writer(of: foreign, in: .root) == nil, "\(foreign)")
        }
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 3)
        let leftover = directory.appending("HIGHWATER.999-w3.tmp")
        try writeBytes(Array("{".utf8), to: leftover)
        let store = try Store(at: directory.path)
        try store.close()
        #expect(store.recovery.removedTemporaryFiles == [leftover])
        #expect(try HighWaterMark.load(StoreLayout(root: directory.path)) != nil)
    }

    @Test func reindexWhileSealsRunLeavesAReadableMark() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        let store = try Store(at: directory.path, creating: configuration)
        let failures = Protected<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for round in 0..<20 {
                do {
                    if thread == 0 {
                        try store.append(contentsOf: (0..<40).map { #"{"ts":\#(1_700_000_000 + round),"n":\#($0)}"# })
                    } else {
                        _ = try store.reindex()
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        try store.waitForIndexes()
        try store.close()
        #expect(failures.withLock { $0 } == [])
        let mark = try #require(try HighWaterMark.load(StoreLayout(root: directory.path)))
        #expect(mark.nextSeq > 0)
        let reopened = try Store(at: directory.path)
        try reopened.close()
        #expect(try StoreReader(at: directory.path).verify().isClean)
    }

    @Test func aSegmentThatCannotBeIndexedDoesNotStopTheMark() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        configuration.hotFor = .microseconds(0)
        configuration.warmFor = .microseconds(1 << 50)
        let store = try Store(at: directory.path, creating: configuration)
        try store.append(contentsOf: (0..<1000).map { #"{"ts":\#(1_700_000_000 + $0),"n":\#($0)}"# })
        try store.waitForIndexes()
        _ = try store.applyTierPolicy()
        try store.close()
        let warm = segmentNames(directory, ".jsonl.gz")
        #expect(warm.count > 2)
        let bad = try #require(SegmentName(fileName: warm[1]))
        let badPath = directory.appending("segments/" + warm[1])
        var bytes = try readBytes(badPath)
        for i in bytes.count / 3..<bytes.count / 2 { bytes[i] ^= 0x5A }
        try writeBytes(bytes, to: badPath)
        try FileManager.default.removeItem(atPath: directory.appending("segments/" + SegmentName(base: bad.base, kind: .index).fileName))
        let before = try #require(try HighWaterMark.load(StoreLayout(root: directory.path)))

        let reopened = try Store(at: directory.path)
        try reopened.append(contentsOf: (1000..<2000).map { #"{"ts":\#(1_700_000_000 + $0),"n":\#($0)}"# })
        // The bad segment is reported ...
        #expect { try reopened.waitForIndexes() } throws: { ($0 as? StoaError)?.path == badPath }
        try? reopened.close()
        // ... and the later ones are indexed, the mark moved on.
        let indexed = Set(segmentNames(directory, ".idx").compactMap { SegmentName(fileName: $0)?.base })
        let sealed = segmentNames(directory, ".jsonl.gz").compactMap { SegmentName(fileName: $0)?.base }.filter { $0 > bad.base }
        #expect(sealed.count > 2)
        #expect(sealed.allSatisfy { indexed.contains($0) })
        let after = try #require(try HighWaterMark.load(StoreLayout(root: directory.path)))
        #expect(after.sealedBase! > before.sealedBase!)
        #expect(after.sealedBase == sealed.last)
    }

    @Test func rebuiltIndexesAfterExpiryAreNotAReplacement() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        configuration.maxBytes = 12_000
        let store = try Store(at: directory.path, creating: configuration)
        try store.append(contentsOf: (0..<1000).map { #"{"ts":\#(1_700_000_000 + $0),"n":\#($0 + 1000)}"# })
        try store.waitForIndexes()
        _ = try store.applyTierPolicy()
        try store.close()
        #expect(!FileManager.default.fileExists(atPath: directory.appending(active)))  // expired
        func rebuildIndexes() throws {
            for name in segmentNames(directory, ".idx") { try FileManager.default.removeItem(atPath: directory.appending("segments/" + name)) }
            let reopened = try Store(at: directory.path)
            try reopened.waitForIndexes()
            try reopened.close()
        }
        try rebuildIndexes()
        let report = try StoreReader(at: directory.path).verify()
        #expect(report.isClean, "\(report.problems)")
        #expect(report.notes.contains { $0.message.contains("could not be checked back to this mark") })

        // A newest sealed segment really replaced (same length, other bytes) is still found.
        let mark = try #require(try HighWaterMark.load(StoreLayout(root: directory.path)))
        let newest = directory.appending("segments/" + SegmentName(base: mark.sealedBase!, kind: .plain).fileName)
        var bytes = try readBytes(newest)
        let digit = try #require(bytes.lastIndex { $0 >= UInt8(ascii: "1") && $0 <= UInt8(ascii: "8") })
        bytes[digit] += 1
        try writeBytes(bytes, to: newest)
        try rebuildIndexes()
        let replaced = try StoreReader(at: directory.path).verify()
        #expect(replaced.problems.contains { $0.message.contains("it was replaced") }, "\(replaced.problems)")
    }
}

// MARK: Item 16: an unfinished tier move is named as one

@Suite struct UnfinishedMoveTests {
    @Test func verifyNamesAKilledWarmMoveAndOpeningFinishesIt() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 300, segmentBytes: 4096)
        let plain = directory.appending("segments/00000000000000000000.jsonl")
        let bytes = try readBytes(plain)
        // Warm the first segments, then put one plain form back: as a
        // `stoa tier` killed after the new .idx, before removing the plain file.
        var configuration = try StoreConfiguration.load(from: directory.appending("stoa.json"))
        configuration.hotFor = .microseconds(0)
        try writeBytes(configuration.encoded(), to: directory.appending("stoa.json"))
        let store = try Store(at: directory.path)
        _ = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: Syscalls.realtimeMicroseconds() + 1_000_000))
        try store.close()
        #expect(FileManager.default.fileExists(atPath: plain + ".gz"))
        try writeBytes(bytes, to: plain)

        let report = try StoreReader(at: directory.path).verify()
        #expect(report.isClean, "\(report.problems)")
        #expect(report.notes.contains { $0.path == plain && $0.message.contains("unfinished tier move") })

        let reopened = try Store(at: directory.path)
        #expect(reopened.recovery.finishedMoves == [plain])
        try reopened.close()
        let after = try StoreReader(at: directory.path).verify()
        #expect(after.isClean && !after.notes.contains { $0.message.contains("unfinished tier move") })
    }
}

extension UnfinishedMoveTests {
    @Test func verifyNamesAKilledColdMove() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 300, segmentBytes: 4096)
        var configuration = try StoreConfiguration.load(from: directory.appending("stoa.json"))
        configuration.hotFor = .microseconds(0)
        try writeBytes(configuration.encoded(), to: directory.appending("stoa.json"))
        let store = try Store(at: directory.path)
        _ = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: Syscalls.realtimeMicroseconds() + 1_000_000))
        try store.close()
        // As a move to the archive killed after both copies, before removing the warm form.
        let warm = directory.appending("segments/00000000000000000000.jsonl.gz")
        try FileManager.default.createDirectory(atPath: directory.appending("archive"), withIntermediateDirectories: true)
        for name in ["00000000000000000000.jsonl.gz", "00000000000000000000.idx"] {
            try FileManager.default.copyItem(atPath: directory.appending("segments/" + name), toPath: directory.appending("archive/" + name))
        }
        let report = try StoreReader(at: directory.path).verify()
        #expect(report.isClean, "\(report.problems)")
        #expect(report.notes.contains { $0.path == warm && $0.message.contains("archived (cold)") })
        let reopened = try Store(at: directory.path)
        #expect(reopened.recovery.finishedMoves == [warm])
        try reopened.close()
    }
}

// MARK: Item 25: after close() returns, nothing of the writer touches the store

@Suite struct CloseTests {
    /// Events in the order they happened.
    final class Events: Sendable {
        let list = Protected<[String]>([])
        func add(_ event: String) { list.withLock { $0.append(event) } }
        var all: [String] { list.withLock { $0 } }
    }

    /// (A tier pass runs on the writer's background thread, which close
    /// already waited for; `reindex` runs on the caller's.)
    @Test func closeWaitsForAReindexUnderWayOnAnotherThread() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 300, segmentBytes: 4096)
        let store = try Store(at: directory.path)
        try store.waitForIndexes()
        let events = Events()
        let finished = DispatchSemaphore(value: 0)
        let workBegan = DispatchSemaphore(value: 0)
        let mayGoOn = DispatchSemaphore(value: 0)
        // Signalled when close waits for the work, or (without waiting) returns.
        let closeWaitedOrReturned = DispatchSemaphore(value: 0)
        store.testHooks.set(.workBegins) {
            workBegan.signal()
            mayGoOn.wait()
        }
        store.testHooks.set(.workEnds) { events.add("work finished") }
        store.testHooks.set(.closeWaits) { closeWaitedOrReturned.signal() }

        let worker = Thread {
            _ = try? store.reindex()
            finished.signal()
        }
        worker.start()
        workBegan.wait()
        let closer = Thread {
            try? store.close()
            events.add("close returned")
            closeWaitedOrReturned.signal()
            finished.signal()
        }
        closer.start()
        closeWaitedOrReturned.wait()
        mayGoOn.signal()
        finished.wait()
        finished.wait()
        #expect(events.all == ["work finished", "close returned"])
    }

    @Test func workAskedForAfterCloseIsRefused() throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, records: 300, segmentBytes: 4096)
        let store = try Store(at: directory.path)
        try store.close()
        let before = listDirectory(directory.appending("segments"))
        #expect { try store.reindex() } throws: { ($0 as? StoaError)?.code == .closed }
        #expect { try store.applyTierPolicy() } throws: { ($0 as? StoaError)?.code == .closed }
        // And another writer has the store.
        let next = try Store(at: directory.path)
        try next.close()
        #expect(listDirectory(directory.appending("segments")) == before)
    }
}
