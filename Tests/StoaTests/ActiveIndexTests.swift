import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// The writer's background index of the active segment, built from the
/// facts that encoding found (``ActiveCheckpoint/addWritten(_:encoder:)``)
/// and handed to the sealed segment's `.idx`: it must be exactly the index
/// and digest that scanning the segment gives.
@Suite struct ActiveIndexTests {
    let encoder = RecordEncoder(fields: .default, maxRecordBytes: 1 << 20)

    /// Records whose facts take every turn of the encoder: a time inserted,
    /// a pretty-printed record compacted, escaped and non-string types,
    /// numeric and escaped conversations, a type field of lower priority
    /// (alone, and before one of higher priority; a field named twice is
    /// refused at append),
    /// multi-byte text.
    func record(_ n: Int) -> String {
        let pad = String(repeating: "x", count: 200 + n % 300)
        switch n % 9 {
        case 0: return #"{"type":"no_time","n":\#(n),"pad":"\#(pad)"}"#
        case 1: return "{\n  \"ts\": \(1_800_000_000 + n),\n  \"type\": \"pretty\",\n  \"n\": \(n), \"pad\": \"\(pad)\"\n}"
        case 2: return #"{"ts":\#(1_800_000_000 + n),"type":"esc\"aped\u00e9","session":"s\#(n % 5)","pad":"\#(pad)"}"#
        case 3: return #"{"ts":\#(1_800_000_000 + n),"type":5,"event":"from_event","thread_id":\#(n % 4),"pad":"\#(pad)"}"#
        case 4: return #"{"ts":"2027-01-15T10:00:00.\#(n % 1_000_000)Z","kind":"k","conversation_id":"c\\\#(n % 3)","pad":"\#(pad)"}"#
        case 5: return #"{"ts":\#(1_800_000_000 - n * 1000),"type":"late","session":"s1","pad":"\#(pad)"}"#
        case 6: return #"{"ts":\#(1_800_000_000 + n),"text":"naïve résumé \u2603 \#(pad)","type":"utf8"}"#
        case 7: return #"{"ts":\#(1_800_000_000 + n),"kind":"lower","type":"first_name","session":"s2","pad":"\#(pad)"}"#
        default: return #"{"ts":\#(1_800_000_000 + n),"type":"plain","session":"s\#(n % 5)","pad":"\#(pad)"}"#
        }
    }

    /// Every `.idx` of the store, by file name.
    func indexFiles(_ directory: TemporaryDirectory) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for name in listDirectory(directory.appending("segments")) where name.hasSuffix(".idx") {
            files[name] = try readBytes(directory.appending("segments/" + name))
        }
        return files
    }

    @Test func sealedIndexesFromTheWritersFactsEqualAScan() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 256 << 10
        let store = try Store(at: directory.path, creating: configuration)
        var n = 0
        // Batches large enough to be indexed from their facts, single
        // records and small batches read back from the file, interleaved,
        // and batches that span segments.
        for round in 0..<40 {
            let size = [150, 1, 3, 400, 90][round % 5]
            let seqs = try store.append(contentsOf: (n..<(n + size)).map(record))
            #expect(seqs == UInt64(n)..<UInt64(n + size))
            n += size
            if round % 7 == 0 {
                try store.append(record(n))
                n += 1
            }
        }
        try store.waitForIndexes()
        #expect(store.writeStats.sealedSinceOpen > 5)
        // Most lines came from the facts, the rest were read back.
        let fromFacts = store.checkpoint.linesFromFacts.load(ordering: .relaxed)
        #expect(fromFacts > n / 2 && fromFacts < n)
        try store.close()

        // Each sealed segment's .idx: the index and digest of a scan.
        let layout = StoreLayout(root: directory.path)
        let segments = try layout.listAllSegments()
        try expectIndexesOfAScan(segments.dropLast())
        let sealed = segments.count - 1
        // The active segment's checkpoint: the index of a scan too.
        let active = try #require(segments.last)
        let bytes = try readBytes(active.path)
        let checkpoint = try #require(IndexFile.loadCheckpoint(active.indexPath, base: active.base, segment: bytes))
        var builder = SegmentIndexBuilder(base: active.base)
        bytes.withUnsafeBufferPointer { builder.addLines($0, encoder: encoder) }
        #expect(checkpoint.index == builder.snapshot())

        // Rebuilding every .idx from the files changes no byte of them, and verify is clean.
        let before = try indexFiles(directory)
        let reopened = try Store(at: directory.path, creating: configuration)
        #expect(try reopened.reindex() == sealed)
        try reopened.close()
        #expect(try indexFiles(directory) == before)
        let report = try StoreReader(at: directory.path).verify()
        #expect(report.problems.isEmpty, "\(report.problems)")
        #expect(try StoreReader(at: directory.path).query(Query()).all().count == n)
    }

    @Test func aWriterThatResumesFromACheckpointSealsTheSameIndex() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 256 << 10
        var n = 0
        // Three writers one after the other: the second and third go on
        // from the checkpoint the one before left (their digest then comes
        // from the file), and seal segments they only partly wrote.
        for _ in 0..<3 {
            let store = try Store(at: directory.path, creating: configuration)
            for _ in 0..<6 {
                try store.append(contentsOf: (n..<(n + 120)).map(record))
                n += 120
            }
            // The background indexes what was handed to it when it gets to
            // it: wait for that, not for the machine to be idle enough.
            try store.waitForIndexes()
            #expect(store.checkpoint.linesFromFacts.load(ordering: .relaxed) > 0)
            try store.close()
        }
        let layout = StoreLayout(root: directory.path)
        let segments = try layout.listAllSegments()
        #expect(segments.count > 3)
        try expectIndexesOfAScan(segments.dropLast())
        let report = try StoreReader(at: directory.path).verify()
        #expect(report.problems.isEmpty, "\(report.problems)")
    }
    /// Each segment's `.idx` holds the index and the digest that a scan of
    /// the segment gives.
    func expectIndexesOfAScan(_ files: some Sequence<SegmentFile>) throws {
        for file in files {
            let size = try readBytes(file.path).count
            let stored = try #require(IndexFile.load(file.indexPath, base: file.base, fileSize: size))
            let scanned = try SidecarIndexer.build(file, encoder: encoder)
            #expect(stored.index == scanned.index, "\(file.path)")
            #expect(stored.digest == scanned.digest, "\(file.path)")
        }
    }
}
