import Foundation
import StoaTestSupport
import Synchronization
import Testing

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// The real file system, noting every file opened.
final class OpenNotingFileSystem: FileSystem {
    private let real = SystemFileSystem()
    private let opened = Mutex<[String]>([])

    func open(_ path: String, flags: Int32, mode: mode_t) throws(StoaError) -> Int32 {
        opened.withLock { $0.append(path) }
        return try real.open(path, flags: flags, mode: mode)
    }

    /// The files opened so far whose names end with `suffix`.
    func opened(endingWith suffix: String) -> [String] { opened.withLock { $0.filter { $0.hasSuffix(suffix) } } }
}

/// Issue 16: a new reader starts from the store's catalog of sealed
/// segments and reads the `.idx` of only the segments a query reaches.
@Suite struct SegmentCatalogTests {
    /// The records of `lines` numbered `range` (each line's `n`).
    func expectRecords(_ records: [Record], _ lines: [String], _ range: Range<Int>, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(records.count == range.count, "\(records.count) records", sourceLocation: sourceLocation)
        let wrong = zip(records, range).filter { $0.seq != UInt64($1) || $0.json != lines[$1] }.map(\.1)
        #expect(wrong.isEmpty, "records not as stored: \(wrong.prefix(5))…", sourceLocation: sourceLocation)
    }

    func window(_ range: Range<Int>) -> Query {
        Query(
            since: Timestamp(microsecondsSinceEpoch: Int64(1_795_000_000 + range.lowerBound) * 1_000_000),
            until: Timestamp(microsecondsSinceEpoch: Int64(1_795_000_000 + range.upperBound) * 1_000_000))
    }

    var catalogPath: (TemporaryDirectory) -> String { { $0.appending("segments/CATALOG") } }

    @Test func aNewReaderReadsTheIndexOfOnlyTheSegmentsAQueryReaches() throws {
        let directory = TemporaryDirectory()
        let lines = try makeSealedStore(directory)
        let sealed = segmentFiles(directory, ".idx").count - 1  // the active segment's checkpoint aside
        #expect(sealed >= 6)
        // The first reader reads every .idx, and writes the catalog.
        let first = try StoreReader(at: directory.path).stats()
        #expect(FileManager.default.fileExists(atPath: catalogPath(directory)))

        let files = OpenNotingFileSystem()
        try FileReads.$fileSystem.withValue(files) {
            let reader = try StoreReader(at: directory.path)
            #expect(try reader.stats().records == first.records)
            #expect(files.opened(endingWith: ".idx").count <= 1, "\(files.opened(endingWith: ".idx"))")  // the checkpoint's
            expectRecords(try reader.query(window(1500..<1510)).all(), lines, 1500..<1510)
        }
        // The segment holding them, and the active segment's checkpoint.
        #expect(files.opened(endingWith: ".idx").count <= 2, "\(files.opened(endingWith: ".idx"))")

        // Without the catalog, every sealed segment's .idx is read.
        try FileManager.default.removeItem(atPath: catalogPath(directory))
        let without = OpenNotingFileSystem()
        try FileReads.$fileSystem.withValue(without) {
            expectRecords(try StoreReader(at: directory.path).query(window(1500..<1510)).all(), lines, 1500..<1510)
        }
        #expect(without.opened(endingWith: ".idx").count >= sealed)
    }

    @Test func statsFromTheCatalogAreTheStatsOfTheIndexes() throws {
        let directory = TemporaryDirectory()
        _ = try makeSealedStore(directory, warm: true)
        var fromIndexes = try StoreReader(at: directory.path).stats()
        var fromCatalog = try StoreReader(at: directory.path).stats()
        #expect(fromIndexes.indexBytes > fromCatalog.indexBytes)
        fromIndexes.indexBytes = 0
        fromCatalog.indexBytes = 0
        #expect(fromCatalog == fromIndexes)
        #expect(fromCatalog.records == 3000)
    }

    @Test func aSegmentMovedToAnotherTierIsReadAgainAndTheCatalogWrittenAnew() throws {
        let directory = TemporaryDirectory()
        let lines = try makeSealedStore(directory)
        _ = try StoreReader(at: directory.path).stats()
        let before = try #require(SegmentCatalog.load(catalogPath(directory)))
        #expect(before.entries.values.allSatisfy { $0.name.kind == .plain })

        try warmEverySealedSegment(directory)
        let reader = try StoreReader(at: directory.path)
        expectRecords(try reader.query(Query()).all(), lines, 0..<3000)
        let after = try #require(SegmentCatalog.load(catalogPath(directory)))
        #expect(after.entries.count == before.entries.count)
        #expect(after.entries.values.allSatisfy { $0.name.kind == .gzip })
    }

    @Test func aCatalogThatDoesNotDecodeIsIgnoredAndWrittenAnew() throws {
        let directory = TemporaryDirectory()
        let lines = try makeSealedStore(directory)
        _ = try StoreReader(at: directory.path).stats()
        let path = catalogPath(directory)
        var bytes = try readBytes(path)
        let whole = bytes
        bytes[bytes.count / 2] ^= 0x01
        try writeBytes(bytes, to: path)
        expectRecords(try StoreReader(at: directory.path).query(window(100..<2900)).all(), lines, 100..<2900)
        #expect(try readBytes(path) == whole)

        try writeBytes(Array(whole.prefix(whole.count / 3)), to: path)
        expectRecords(try StoreReader(at: directory.path).query(Query()).all(), lines, 0..<3000)
        #expect(try readBytes(path) == whole)
    }

    /// A segment the reader knew by its catalog entry, moved warm before a
    /// query reached it: the query reads it in its new form (it found
    /// nothing at the old path and took the segment for expired).
    @Test func aSegmentMovedBetweenTheSnapshotAndTheQueryIsFoundInItsNewForm() throws {
        let directory = TemporaryDirectory()
        let lines = try makeSealedStore(directory)
        _ = try StoreReader(at: directory.path).stats()
        let reader = try StoreReader(at: directory.path)
        let snapshot = try reader.view()
        #expect(snapshot.briefs.dropLast().allSatisfy { !$0.isLoaded })

        try warmEverySealedSegment(directory)
        let cursor = RecordCursor(QueryEngine(snapshot, query: Query(), encoder: reader.encoder))
        expectRecords(try cursor.all(), lines, 0..<3000)
        #expect(cursor.damaged.isEmpty, "\(cursor.damaged)")
    }

    @Test func aSegmentReadWholeByAQueryIsKeptByTheReader() throws {
        let directory = TemporaryDirectory()
        let lines = try makeSealedStore(directory)
        _ = try StoreReader(at: directory.path).stats()
        let files = OpenNotingFileSystem()
        try FileReads.$fileSystem.withValue(files) {
            let reader = try StoreReader(at: directory.path)
            for _ in 0..<3 { expectRecords(try reader.query(window(1500..<1510)).all(), lines, 1500..<1510) }
            #expect(try reader.view().briefs.filter(\.isLoaded).count == 2)  // that segment and the active one
        }
        #expect(files.opened(endingWith: ".idx").count <= 2, "\(files.opened(endingWith: ".idx"))")
    }

    /// The catalog notes each `.idx` a reader found consistent, and the next
    /// reader spares that check for the very same file only: one written
    /// since (here crafted, its CRC right, its first block's time span moved
    /// a year on) is checked and refused, and the segment indexed again.
    @Test func anIndexChangedSinceTheCatalogFoundItConsistentIsCheckedAgain() throws {
        let directory = TemporaryDirectory()
        let lines = try makeSealedStore(directory)
        _ = try StoreReader(at: directory.path).stats()
        let catalog = try #require(SegmentCatalog.load(catalogPath(directory)))
        let sealed = segmentFiles(directory, ".idx").dropLast()
        #expect(catalog.entries.count == sealed.count && catalog.entries.values.allSatisfy { $0.index != nil })

        let path = try #require(sealed.dropFirst().first)
        let range = try moveFirstBlockAYearOn(inIndexAt: path)
        expectRecords(try StoreReader(at: directory.path).query(window(range)).all(), lines, range)
    }

    /// The same for the active segment's checkpoint `.idx`.
    @Test func aCheckpointChangedSinceTheCatalogFoundItConsistentIsCheckedAgain() throws {
        let directory = TemporaryDirectory()
        let lines = try makeSealedStore(directory)
        _ = try StoreReader(at: directory.path).stats()
        let catalog = try #require(SegmentCatalog.load(catalogPath(directory)))
        let path = try #require(segmentFiles(directory, ".idx").last)
        #expect(try #require(IndexFile.decode(try readBytes(path))).isPartial)
        let range = try moveFirstBlockAYearOn(inIndexAt: path)
        #expect(catalog.checkpoint?.base == UInt64(range.lowerBound))
        expectRecords(try StoreReader(at: directory.path).query(window(range)).all(), lines, range)
    }

    /// A conversation query of a new reader loads only the segments whose
    /// names' filter, in the catalog, says they may hold it.
    @Test func aConversationQueryReadsTheIndexOfOnlyTheSegmentsThatMayHoldIt() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 64 << 10
        let store = try Store(at: directory.path, creating: configuration)
        var lines: [String] = []
        for n in 0..<3000 {
            // 250 records a conversation: one or two segments each.
            let line = #"{"ts":\#(1_795_000_000 + n),"type":"t","session":"c\#(n / 250)","n":\#(n),"pad":"\#(String(repeating: "y", count: 150))"}"#
            lines.append(line)
            try store.append(line)
        }
        try store.waitForIndexes()
        try store.close()
        let sealed = segmentFiles(directory, ".idx").count - 1
        #expect(sealed >= 6)
        _ = try StoreReader(at: directory.path).stats()

        let files = OpenNotingFileSystem()
        let records = try FileReads.$fileSystem.withValue(files) {
            try StoreReader(at: directory.path).query(Query(conversation: "c5")).all()
        }
        expectRecords(records, lines, 1250..<1500)
        // The segments holding it (at most two), and the active segment's checkpoint.
        #expect(files.opened(endingWith: ".idx").count <= 3, "\(files.opened(endingWith: ".idx"))")
    }

    /// A reader that may not write beside the segments writes the catalog
    /// to its cache (making the cache's folder: it did not, and such readers
    /// read every `.idx` each time), and the next one takes it; the older
    /// catalog beside the segments is left as it is.
    @Test func aReaderThatMayNotWriteTheStoreKeepsItsCatalogInTheCache() throws {
        let directory = TemporaryDirectory()
        let lines = try makeSealedStore(directory)
        _ = try StoreReader(at: directory.path).stats()
        try warmEverySealedSegment(directory)  // the catalog beside them is stale now
        let stale = try readBytes(catalogPath(directory))
        let indexes = ReaderIndexes(storePath: directory.path, writesInStore: false, cacheRoot: directory.appending("cache"))
        expectRecords(try StoreReader(at: directory.path, indexes: indexes).query(Query()).all(), lines, 0..<3000)
        #expect(try readBytes(catalogPath(directory)) == stale)

        let files = OpenNotingFileSystem()
        let stats = try FileReads.$fileSystem.withValue(files) { try StoreReader(at: directory.path, indexes: indexes).stats() }
        #expect(stats.records == 3000)
        #expect(files.opened(endingWith: ".idx").count <= 1, "\(files.opened(endingWith: ".idx"))")  // the checkpoint's
    }

    /// A reader that may write both beside the segments and in its cache
    /// takes the newer of the two catalogs: here one of them is empty (as a
    /// stale one would miss segments), and the reader reads every `.idx`
    /// only when that one is the newer.
    @Test func aReaderTakesTheNewerOfTheTwoCatalogs() throws {
        let directory = TemporaryDirectory()
        _ = try makeSealedStore(directory)
        let sealed = segmentFiles(directory, ".idx").count - 1
        _ = try StoreReader(at: directory.path).stats()
        let full = try readBytes(catalogPath(directory))
        let indexes = ReaderIndexes(storePath: directory.path, writesInStore: true, cacheRoot: directory.appending("cache"))
        let cacheDirectory = try #require(indexes.cacheDirectory)
        try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        let cachePath = Path.join(cacheDirectory, SegmentCatalog.fileName)
        let empty = SegmentCatalog().encoded()

        func indexFilesRead(store: [UInt8], cache: [UInt8], newer: String) throws -> Int {
            try writeBytes(store, to: catalogPath(directory))
            try writeBytes(cache, to: cachePath)
            let older = newer == cachePath ? catalogPath(directory) : cachePath
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: older)
            let files = OpenNotingFileSystem()
            let stats = try FileReads.$fileSystem.withValue(files) { try StoreReader(at: directory.path, indexes: indexes).stats() }
            #expect(stats.records == 3000)
            return files.opened(endingWith: ".idx").count
        }
        #expect(try indexFilesRead(store: empty, cache: full, newer: cachePath) <= 1)  // the checkpoint's
        #expect(try indexFilesRead(store: full, cache: empty, newer: catalogPath(directory)) <= 1)
        #expect(try indexFilesRead(store: full, cache: empty, newer: cachePath) >= sealed)
        #expect(try indexFilesRead(store: empty, cache: full, newer: catalogPath(directory)) >= sealed)
    }

    /// Rewrites the `.idx` at `path` with its first block's time span moved
    /// a year on and its checksum made right: it decodes no more (not
    /// consistent); returns the seqs of that block's lines.
    func moveFirstBlockAYearOn(inIndexAt path: String) throws -> Range<Int> {
        var bytes = try readBytes(path)
        let original = try #require(IndexFile.decode(bytes))
        let first = original.index.blocks[0]
        let year: Int64 = 365 * 86_400 * 1_000_000
        for (offset, value) in [(144 + 20, first.minTime + year), (144 + 28, first.maxTime + year)] {
            for byte in 0..<8 { bytes[offset + byte] = UInt8(truncatingIfNeeded: value >> (8 * Int64(byte))) }
        }
        let checksum = IndexFile.fileChecksum(bytes[..<(bytes.count - 4)])
        for byte in 0..<4 { bytes[bytes.count - 4 + byte] = UInt8(truncatingIfNeeded: checksum >> (8 * UInt32(byte))) }
        #expect(IndexFile.decode(bytes) == nil)  // inconsistent, though its checksum is right
        try writeBytes(bytes, to: path)
        let base = Int(original.index.base)
        return base..<(base + Int(first.count))
    }

    /// Moves every sealed segment warm, as a writer's tier policy does.
    func warmEverySealedSegment(_ directory: TemporaryDirectory) throws {
        var configuration = try StoreConfiguration.load(from: directory.appending("stoa.json"))
        configuration.hotFor = .microseconds(1)
        try writeBytes(configuration.encoded(), to: directory.appending("stoa.json"))
        let store = try Store(at: directory.path)
        _ = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: Syscalls.realtimeMicroseconds() + 1_000_000_000))
        try store.close()
        #expect(segmentFiles(directory, ".jsonl").count == 1)
    }
}
