import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// Issue 13, item 14: a reader rebuilds a missing `.idx` and writes it —
/// beside the segment where it may, else in the cache the next reader
/// looks in — so that queries stop reading the segment whole every time.
@Suite struct ReaderIndexTests {
    /// A closed store of a few 4 KiB segments (some warm) whose files were
    /// sealed a minute ago; returns the sealed segments' `.idx` paths and
    /// their bytes, after removing them.
    func storeWithoutIndexes(_ directory: TemporaryDirectory) throws -> [(path: String, bytes: [UInt8])] {
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        let store = try Store(at: directory.path, creating: configuration)
        for n in 0..<300 {
            try store.append(#"{"ts":\#(1_795_000_000 + n),"type":"t\#(n % 3)","n":\#(n),"pad":"xxxxxxxxxxxxxxxxxxxx"}"#)
        }
        try store.waitForIndexes()
        // One segment warm, so that both kinds are rebuilt.
        let segments = directory.appending("segments")
        let first = try #require(listDirectory(segments).first { $0.hasSuffix(".jsonl") })
        let file = SegmentFile(name: try #require(SegmentName(fileName: first)), directory: segments, isCold: false)
        let size = try #require(try Syscalls.status(file.path)).st_size
        let index = try #require(IndexFile.load(file.indexPath, base: file.base, fileSize: Int(size)))
        try Tiering(layout: StoreLayout(root: directory.path), encoder: RecordEncoder(fields: configuration.fields, maxRecordBytes: Int(configuration.maxRecordBytes)), fileSystem: SystemFileSystem(), configuration: configuration)
            .makeWarm(file, index: index)
        try store.close()
        var removed: [(String, [UInt8])] = []
        let names = listDirectory(segments)
        let active = try #require(names.filter { $0.hasSuffix(".jsonl") }.last)
        for name in names where name.hasSuffix(".jsonl") || name.hasSuffix(".jsonl.gz") {
            // Sealed a minute ago: long enough for the writer to have indexed it.
            var times = [timespec(tv_sec: time(nil) - 60, tv_nsec: 0), timespec(tv_sec: time(nil) - 60, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, segments + "/" + name, &times, 0) == 0)
        }
        for name in names where name.hasSuffix(".idx") && !active.hasPrefix(String(name.dropLast(4))) {
            let path = segments + "/" + name
            removed.append((path, try readBytes(path)))
            try FileManager.default.removeItem(atPath: path)
        }
        #expect(removed.count >= 3)
        return removed
    }

    /// The parts of an `.idx` that do not depend on when it was written.
    func essence(_ bytes: [UInt8]) throws -> (SegmentIndex, [UInt8], [UInt8], Bool) {
        let file = try #require(IndexFile.decode(bytes))
        return (file.index, file.digest, file.chain, file.isCompressed)
    }

    @Test func aQueryRebuildsMissingIndexesBesideTheSegments() throws {
        let directory = TemporaryDirectory()
        let removed = try storeWithoutIndexes(directory)
        let reader = try StoreReader(at: directory.path, indexes: ReaderIndexes(storePath: directory.path, cacheRoot: nil))
        #expect(try reader.query(Query()).all().count == 300)
        for (path, original) in removed {
            // Back, valid, and the writer's index (same index, digest and chain).
            let rebuilt = try readBytes(path)
            let (index, digest, chain, compressed) = try essence(rebuilt)
            let expected = try essence(original)
            #expect(index == expected.0, "\(path)")
            #expect(digest == expected.1 && chain == expected.2 && compressed == expected.3, "\(path)")
        }
        // No temporary file left behind.
        #expect(!listDirectory(directory.appending("segments")).contains { $0.hasSuffix(".tmp") })
        // And the store's own checks take them.
        let report = try StoreReader(at: directory.path).verify()
        #expect(report.isClean, "\(report.problems)")
    }

    @Test func whereTheStoreCannotBeWrittenTheCacheHoldsThem() throws {
        let directory = TemporaryDirectory()
        let removed = try storeWithoutIndexes(directory)
        let cache = directory.appending("cache")
        let indexes = ReaderIndexes(storePath: directory.path, writesInStore: false, cacheRoot: cache)
        #expect(try StoreReader(at: directory.path, indexes: indexes).query(Query()).all().count == 300)
        for (path, _) in removed { #expect(!FileManager.default.fileExists(atPath: path)) }
        let cached = try removed.map { (index, _) in
            let segment = try #require(segmentFile(forIndex: index))
            return try #require(indexes.cachedIndexPath(of: segment))
        }
        var inodes: [UInt64] = []
        for path in cached {
            let info = try #require(try Syscalls.status(path), "\(path)")
            inodes.append(UInt64(info.st_ino))
        }
        // A second reader takes them from the cache: it writes none again.
        #expect(try StoreReader(at: directory.path, indexes: indexes).query(Query(types: ["t1"])).all().count == 100)
        #expect(try cached.map { UInt64(try #require(try Syscalls.status($0)).st_ino) } == inodes)
    }

    func segmentFile(forIndex path: String) -> SegmentFile? {
        let directory = Path.directory(of: path)
        guard let name = SegmentName(fileName: Path.lastComponent(of: path)) else { return nil }
        let kind: SegmentName.Kind = FileManager.default.fileExists(atPath: path.dropLast(4) + ".jsonl.gz") ? .gzip : .plain
        return SegmentFile(name: SegmentName(base: name.base, kind: kind), directory: directory, isCold: false)
    }

    @Test func theActiveSegmentAndJustSealedOnesAreLeftToTheWriter() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        let store = try Store(at: directory.path, creating: configuration)
        for n in 0..<300 { try store.append(#"{"ts":\#(1_795_000_000 + n),"n":\#(n),"pad":"xxxxxxxxxxxxxxxxxxxxxxxxx"}"#) }
        try store.waitForIndexes()
        try store.close()
        let segments = directory.appending("segments")
        for name in listDirectory(segments) where name.hasSuffix(".idx") {
            try FileManager.default.removeItem(atPath: segments + "/" + name)
        }
        let reader = try StoreReader(at: directory.path, indexes: ReaderIndexes(storePath: directory.path, cacheRoot: nil))
        #expect(try reader.query(Query()).all().count == 300)
        #expect(!listDirectory(segments).contains { $0.hasSuffix(".idx") })
    }

    /// A sealed segment that lost its last line: the stale `.idx` that says
    /// so is kept (a rebuilt one would hide the loss from the next reader).
    @Test func aStaleIndexThatRecordsALossIsNotReplaced() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        let store = try Store(at: directory.path, creating: configuration)
        for n in 0..<200 { try store.append(#"{"ts":\#(1_795_000_000 + n),"n":\#(n),"pad":"xxxxxxxxxxxxxxxxxxxxxxxxx"}"#) }
        try store.waitForIndexes()
        try store.close()
        let segments = directory.appending("segments")
        let first = segments + "/" + (try #require(listDirectory(segments).first { $0.hasSuffix(".jsonl") }))
        var bytes = try readBytes(first)
        bytes.removeLast()
        bytes.removeSubrange((try #require(bytes.lastIndex(of: 0x0A)) + 1)...)  // the last line, whole
        try writeBytes(bytes, to: first)
        var times = [timespec(tv_sec: time(nil) - 60, tv_nsec: 0), timespec(tv_sec: time(nil) - 60, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, first, &times, 0) == 0)
        let indexPath = String(first.dropLast(6)) + ".idx"
        let stale = try readBytes(indexPath)

        for _ in 0..<2 {
            let reader = try StoreReader(at: directory.path, indexes: ReaderIndexes(storePath: directory.path, cacheRoot: nil))
            let cursor = try reader.query(Query())
            _ = try cursor.all()
            #expect(cursor.damaged.contains { $0.path == first && $0.reason.contains("missing") }, "\(cursor.damaged)")
            #expect(try readBytes(indexPath) == stale)
        }
    }

    /// Sets a file's modification time to `seconds` before now.
    func age(_ path: String, by seconds: Int) {
        var times = [timespec(tv_sec: time(nil) - seconds, tv_nsec: 0), timespec(tv_sec: time(nil) - seconds, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
    }

    /// A sealed line edited to valid JSON of another length: the line count
    /// still matches the `.idx`, but its size does not. That `.idx` is the
    /// evidence of the edit: a reader (beside the segment, or through the
    /// cache) never puts a rebuilt one in its place, and names the segment
    /// as changed each time.
    @Test func aSealedIndexThatDisagreesWithAnEditedSegmentIsKeptAndNamed() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        let store = try Store(at: directory.path, creating: configuration)
        for n in 0..<200 { try store.append(#"{"ts":\#(1_795_000_000 + n),"n":\#(n),"pad":"xxxxxxxxxxxxxxxxxxxxxxxxx"}"#) }
        try store.waitForIndexes()
        try store.close()
        let segments = directory.appending("segments")
        let first = segments + "/" + (try #require(listDirectory(segments).first { $0.hasSuffix(".jsonl") }))
        let text = try String(contentsOfFile: first, encoding: .utf8)
        try #require(text.contains(#""n":8,"#))
        try text.replacingOccurrences(of: #""n":8,"#, with: #""n":9780,"#).write(toFile: first, atomically: false, encoding: .utf8)
        age(first, by: 60)
        let indexPath = String(first.dropLast(6)) + ".idx"
        let stale = try readBytes(indexPath)
        let cache = directory.appending("cache")

        for indexes in [
            ReaderIndexes(storePath: directory.path, cacheRoot: nil),
            ReaderIndexes(storePath: directory.path, writesInStore: false, cacheRoot: cache),
            ReaderIndexes(storePath: directory.path, cacheRoot: nil),
        ] {
            let cursor = try StoreReader(at: directory.path, indexes: indexes).query(Query())
            let records = try cursor.all()
            // Every line passes its own checks: all are served, the edit too.
            #expect(records.count == 200)
            #expect(
                cursor.damaged.contains { $0.path == first && $0.reason.contains("changed since it was sealed") },
                "\(cursor.damaged)")
            #expect(try readBytes(indexPath) == stale)
        }
        // Nothing rebuilt went to the cache either (but the readers' catalog).
        let stores = cache + "/stores"
        for folder in listDirectory(stores) { #expect(listDirectory(stores + "/" + folder).filter { $0 != "CATALOG" }.isEmpty) }
        // verify blames this segment, not the next one's chain.
        let report = try StoreReader(at: directory.path).verify()
        #expect(!report.isClean)
        #expect(report.problems.contains { $0.path == indexPath }, "\(report.problems)")
        #expect(report.problems.allSatisfy { $0.path == indexPath || $0.path == first }, "\(report.problems)")
    }

    /// A store deleted and recreated at the same path, its segments of the
    /// same bases and sizes: the cache's `.idx` of the old store's segments
    /// is not taken for theirs (every block would fail its check, good
    /// records named damaged, for ever on a read-only store).
    @Test func aCachedIndexOfAnotherStoreOnceAtThisPathIsNotTaken() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("store")
        let cache = directory.appending("cache")
        func fill(_ pad: String) throws -> [String] {
            var configuration = StoreConfiguration()
            configuration.segmentBytes = 4096
            let store = try Store(at: path, creating: configuration)
            for n in 0..<200 { try store.append(#"{"ts":\#(1_795_000_000 + n),"n":\#(n),"pad":"\#(pad)"}"#) }
            try store.waitForIndexes()
            try store.close()
            let segments = path + "/segments"
            let names = listDirectory(segments)
            let plain = names.filter { $0.hasSuffix(".jsonl") }.sorted()
            for name in plain { age(segments + "/" + name, by: 60) }
            // The sealed segments' .idx gone: readers rebuild them into the cache.
            for name in plain.dropLast() { try FileManager.default.removeItem(atPath: segments + "/" + name.dropLast(6) + ".idx") }
            return plain.map { segments + "/" + $0 }
        }
        let indexes = ReaderIndexes(storePath: path, writesInStore: false, cacheRoot: cache)
        let before = try fill(String(repeating: "x", count: 25))
        var cursor = try StoreReader(at: path, indexes: indexes).query(Query())
        #expect(try cursor.all().count == 200 && cursor.damaged.isEmpty)
        let cachedFolder = try #require(listDirectory(cache + "/stores").first)
        #expect(listDirectory(cache + "/stores/" + cachedFolder).filter { $0.hasSuffix(".idx") }.count == before.count - 1)

        // Another store at the same path: same bases, same sizes, other bytes.
        try FileManager.default.removeItem(atPath: path)
        let after = try fill(String(repeating: "y", count: 25))
        let sizes = { (paths: [String]) in paths.map { try? #require(try Syscalls.status($0)).st_size } }
        #expect(sizes(after) == sizes(before))
        // Told apart by the file's identity (its modification time here,
        // whether or not the inode number came back).
        for path in after { age(path, by: 120) }

        cursor = try StoreReader(at: path, indexes: indexes).query(Query())
        let records = try cursor.all()
        #expect(records.count == 200)
        #expect(cursor.damaged.isEmpty, "\(cursor.damaged)")
        #expect(records.allSatisfy { String(decoding: $0.bytes, as: UTF8.self).contains("yyyy") })
        // The old store's entries were replaced, not kept beside.
        #expect(listDirectory(cache + "/stores/" + cachedFolder).filter { $0.hasSuffix(".idx") }.count == after.count - 1)
    }

    /// A reader that indexed a plain segment while a tier move turned it
    /// warm: the `.idx` it built is the plain file's, and must not replace
    /// the warm `.idx` the move placed (the file indexed is checked again,
    /// same inode, size and time, just before the rename).
    @Test func anIndexBuiltOfASegmentThatTurnedWarmMeanwhileIsNotPlaced() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        let store = try Store(at: directory.path, creating: configuration)
        for n in 0..<200 { try store.append(#"{"ts":\#(1_795_000_000 + n),"n":\#(n),"pad":"xxxxxxxxxxxxxxxxxxxxxxxxx"}"#) }
        try store.waitForIndexes()
        try store.close()
        let segments = directory.appending("segments")
        let first = try #require(listDirectory(segments).first { $0.hasSuffix(".jsonl") })
        let file = SegmentFile(name: try #require(SegmentName(fileName: first)), directory: segments, isCold: false)
        let encoder = RecordEncoder(fields: configuration.fields, maxRecordBytes: Int(configuration.maxRecordBytes))
        // The reader's reading of the plain file…
        let contents = try SegmentContents(path: file.path, sealed: true)
        let built = SidecarIndexer.build(base: file.base, contents: contents, encoder: encoder)
        // …then the move: the warm file and its .idx in place, the plain file gone.
        let index = try #require(IndexFile.load(file.indexPath, base: file.base, fileSize: contents.fileSize))
        try Tiering(layout: StoreLayout(root: directory.path), encoder: encoder, fileSystem: SystemFileSystem(), configuration: configuration)
            .makeWarm(file, index: index)
        #expect(!FileManager.default.fileExists(atPath: file.path))
        let warm = try readBytes(file.indexPath)
        #expect(try #require(IndexFile.decode(warm)).isCompressed)

        let cache = directory.appending("cache")
        for indexes in [
            ReaderIndexes(storePath: directory.path, cacheRoot: nil),
            ReaderIndexes(storePath: directory.path, writesInStore: false, cacheRoot: cache),
        ] {
            _ = indexes.publish(file, built: built, fileSize: contents.fileSize, modified: Syscalls.realtimeMicroseconds() - 60_000_000, previous: nil)
            #expect(try readBytes(file.indexPath) == warm)
        }
        #expect(!FileManager.default.fileExists(atPath: cache))
        #expect(!listDirectory(segments).contains { $0.hasSuffix(".tmp") })
    }
}
