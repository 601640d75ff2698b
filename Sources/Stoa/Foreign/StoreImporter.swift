#if canImport(Glibc)
import Glibc
#endif

/// What importing one file did.
public struct ImportReport: Sendable, Equatable {
    /// Records stored.
    public var stored = 0
    /// Lines refused (each was reported to `onRejected`).
    public var rejected = 0
    /// Records skipped because the store already held them (`--dedup`).
    public var duplicates = 0
    /// Lines refused because none of the time fields held a time (counted
    /// in `rejected` too).
    public var withoutTime = 0
    /// Records stored with the time of the import because they had none
    /// (``StoreImporter/stampsMissingTimes``).
    public var stamped = 0
    /// The seqs of the stored records (consecutive; empty when none).
    public var seqs: Range<UInt64> = 0..<0
}

/// Copies JSONL files from anywhere — another agent's logs, an export, the
/// logger's fallback files — into a store (`stoa import`).
///
/// Each file is read as `stoa append` reads its input (§3): one JSON object
/// per line (or pretty-printed over several), every bad line reported with
/// the file and its line number and skipped, the others stored. `.gz` files
/// (any gzip) are inflated; plain files are read in chunks with `pread`, up
/// to the size they had when their import began.
///
/// Times are never made up silently. A record's time, type and conversation
/// are read with the store's fields, or with the fields given (as a
/// ``ForeignLogReader`` reads them: python-json-logger's `asctime`, for
/// example); when those are not the store's, the values read are inserted
/// as the record's first members under the store's names, so that the store
/// reads the same.
/// A record in which none of the time fields holds a time is refused
/// (`.missingTime`, reported with its line), unless the importer stamps such
/// records with the time of the import, and counts them.
///
/// With deduplication, a record whose content is already in the store is
/// skipped, so importing the same file twice adds nothing. The content of a
/// record is its stored line; a record without a time matches a stored one
/// that equals it apart from the time Stoa inserted as its first member.
/// The digests are SHA-256 of the line, truncated to 128 bits (a false match
/// is about as likely as a failure of the disk's own checksums).
///
/// - Complexity: with deduplication, opening reads every record of the store
///   once (inflating warm and cold segments) and keeps 16 bytes (about 40 in
///   the hash table) per stored record in memory; each imported record then
///   costs one SHA-256 of its line and a lookup.
///
/// ```swift
/// let store = try Store(at: "logs/agent-7")
/// let importer = try StoreImporter(store: store, deduplicating: true)
/// let report = try importer.importFile(at: "old/conversations_2026-11-20.jsonl") { error in
///     print("\(error.path!):line \(error.line!): \(error.message)")
/// }
/// ```
public final class StoreImporter {
    // Not Sendable: one importer belongs to one task (its digest set changes
    // with every record).
    /// The store records are imported into.
    public let store: Store
    /// Whether a record whose content is already in the store (or was
    /// imported before by this importer) is skipped and counted as a duplicate.
    public let deduplicates: Bool
    /// Where each record's time, type and conversation are read.
    public let fields: FieldNames
    /// Whether a record without a time is stored with the time of the
    /// import (else it is refused).
    public let stampsMissingTimes: Bool
    let encoder: RecordEncoder
    private var digests: Set<ContentDigest> = []
    /// `{"ts":"` (the name Stoa inserts times under), for recognising an inserted time.
    private let timePrefix: [UInt8]

    /// Prepares imports into `store`.
    ///
    /// - Parameters:
    ///   - store: the store to import into; the importer writes through it.
    ///   - deduplicating: skip records already in the store (or imported
    ///     before by this importer). Reads the whole store now.
    ///   - fields: where to read each record's time, type and conversation
    ///     (default: the store's fields).
    ///   - stampingMissingTimes: store a record without a time with the time
    ///     of the import, instead of refusing it.
    /// - Throws: when the store cannot be read.
    public init(
        store: Store, deduplicating: Bool = false, fields: FieldNames? = nil, stampingMissingTimes: Bool = false
    ) throws(StoaError) {
        self.store = store
        self.deduplicates = deduplicating
        self.fields = fields ?? store.configuration.fields
        self.stampsMissingTimes = stampingMissingTimes
        self.encoder = RecordEncoder(
            reading: self.fields, storingFor: store.configuration.fields,
            maxRecordBytes: Int(store.configuration.maxRecordBytes), stampsMissingTime: stampingMissingTimes)
        var prefix: [UInt8] = [UInt8(ascii: "{")]
        JSONString.appendQuoted(store.configuration.fields.insertedTimeName, to: &prefix)
        prefix += Array(":\"".utf8)
        self.timePrefix = prefix
        if deduplicating {
            let records = try StoreReader(at: store.path).query(Query())
            while let record = try records.next() {
                record.bytes.withUnsafeBufferPointer { noteStored($0) }
            }
        }
    }

    /// Appends the records of the file at `path` (plain JSONL, or gzip when
    /// the name ends in `.gz`).
    ///
    /// - Parameters:
    ///   - path: the file to read.
    ///   - defaultType: a type given to records that have none.
    ///   - durability: how the records are synced (default: the store's).
    ///   - onRejected: called for each refused line; the error's `path` is
    ///     `path` and its `line` the 1-based line number in the (inflated)
    ///     file; its code `.missingTime` for a record without a time.
    /// - Throws: `.invalidArgument` for a file of the store itself
    ///   (``checkSource(_:for:)``); when the file cannot be read or the store
    ///   cannot be written; what was stored until then stays stored.
    public func importFile(
        at path: String, defaultType: String? = nil, durability: Durability? = nil,
        onRejected: (StoaError) -> Void
    ) throws(StoaError) -> ImportReport {
        try Self.checkSource(path, for: store)
        var withoutTime = 0
        func counting(_ error: StoaError) {
            if error.code == .missingTime { withoutTime += 1 }
            onRejected(error)
        }
        var session = Session(importer: self, source: path, defaultType: defaultType, durability: durability)
        let file = try OpenFile(readingAt: path)
        if path.hasSuffix(".gz") {
            let (plain, damage) = ForeignLogFile.inflate(try file.readAll(), path: path)
            try session.feed(plain, onRejected: counting)
            try session.finish(onRejected: counting)
            if let damage {
                let lines = plain.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
                session.report.rejected += 1
                counting(
                    StoaError(.damaged, ForeignLogFile.describe(gzipDamage: damage), path: path, line: lines))
            }
        } else {
            // What a file holds now: one that grows meanwhile is imported up to
            // here. Anything else is read to its end (a pipe cannot be: pread
            // fails, naming it).
            let info = try file.status()
            let size = info.st_mode & S_IFMT == S_IFREG ? Int(info.st_size) : Int.max
            var offset = 0
            while offset < size {
                let chunk = try file.read(fromAbsoluteOffset: offset, count: min(1 << 20, size - offset))
                if chunk.isEmpty { break }
                offset += chunk.count
                try session.feed(chunk, onRejected: counting)
            }
            try session.finish(onRejected: counting)
        }
        session.report.withoutTime = withoutTime
        return session.report
    }

    /// Refuses to import a file of the store itself: one inside its
    /// directory or its archive (`archive_path` included) — a segment, the
    /// active one that the import would grow while reading it, an index, a
    /// quarantined tail — however the path is spelled (symbolic links, `..`,
    /// another mount), or another name (a hard link) of one of its segments.
    ///
    /// - Throws: `.invalidArgument` naming `path`.
    /// - Complexity: O(1), and one `stat` per segment of the store when
    ///   `path` has more than one name.
    public static func checkSource(_ path: String, for store: Store) throws(StoaError) {
        if let directory = try Containment.directory(holding: path, among: [store.path, store.layout.archive]) {
            throw StoaError(
                .invalidArgument,
                "is inside the store \(directory == store.path ? "" : "archive ")\(directory) that it would be imported "
                    + "into: a store's own files are never imported (to copy a store, use stoa backup)",
                path: path)
        }
        guard let info = try FileReads.fileSystem.status(path), info.st_nlink > 1 else { return }
        for segment in try store.layout.listAllSegments() {
            guard let other = try FileReads.fileSystem.status(segment.path) else { continue }
            if other.st_dev == info.st_dev && other.st_ino == info.st_ino {
                throw StoaError(
                    .invalidArgument,
                    "is another name (a hard link) of the store's segment \(segment.path): "
                        + "a store's own files are never imported",
                    path: path)
            }
        }
    }

    // MARK: Content digests

    /// 128 bits of a SHA-256.
    struct ContentDigest: Hashable {
        var high: UInt64
        var low: UInt64

        init(_ line: UnsafeBufferPointer<UInt8>) {
            let digest = SHA256.hash(line)
            var high: UInt64 = 0
            var low: UInt64 = 0
            for index in 0..<8 {
                high = high << 8 | UInt64(digest[index])
                low = low << 8 | UInt64(digest[8 + index])
            }
            self.high = high
            self.low = low
        }
    }

    /// Notes a stored line: its digest, and that of the line without its
    /// first member when that member looks like a time Stoa inserted.
    func noteStored(_ line: UnsafeBufferPointer<UInt8>) {
        digests.insert(ContentDigest(line))
        if let stripped = withoutInsertedTime(line, exactly: nil) {
            _ = stripped.withUnsafeBufferPointer { digests.insert(ContentDigest($0)) }
        }
    }

    /// Whether a line about to be stored is already in the store. `now` is
    /// the time the encoder inserted into records without one.
    func isPresent(_ line: UnsafeBufferPointer<UInt8>, now: Int64) -> Bool {
        if let stripped = withoutInsertedTime(line, exactly: now) {
            return stripped.withUnsafeBufferPointer { digests.contains(ContentDigest($0)) }
        }
        return digests.contains(ContentDigest(line))
    }

    /// `line` without its first member, when that member is `"ts":"<time>"`
    /// as Stoa inserts it (27 bytes, `YYYY-MM-DDTHH:MM:SS.ffffffZ`) — the
    /// time `exactly` when given.
    private func withoutInsertedTime(_ line: UnsafeBufferPointer<UInt8>, exactly: Int64?) -> [UInt8]? {
        let timeStart = timePrefix.count
        let timeEnd = timeStart + RecordTime.formattedCount
        guard line.count > timeEnd + 1, line.starts(with: timePrefix), line[timeEnd] == UInt8(ascii: "\""),
            line[timeEnd + 1] == UInt8(ascii: ",") || line[timeEnd + 1] == UInt8(ascii: "}")
        else { return nil }
        let time = UnsafeBufferPointer(rebasing: line[timeStart..<timeEnd])
        if let exactly {
            var expected: [UInt8] = []
            RecordTime.append(exactly, to: &expected)
            guard time.elementsEqual(expected) else { return nil }
        } else {
            guard time[10] == UInt8(ascii: "T"), time[19] == UInt8(ascii: "."), time[26] == UInt8(ascii: "Z"),
                RecordTime.parseText(time) != nil
            else { return nil }
        }
        var stripped: [UInt8] = [UInt8(ascii: "{")]
        if line[timeEnd + 1] == UInt8(ascii: ",") {
            stripped += line[(timeEnd + 2)...]
        } else {
            stripped.append(UInt8(ascii: "}"))
        }
        return stripped
    }

    // MARK: Reading a file

    /// The lines of one file on their way into the store, as
    /// `Store.appendLines(fromFileDescriptor:)` takes a stream.
    private struct Session {
        let importer: StoreImporter
        let source: String
        let durability: Durability?
        var splitter: RecordSplitter
        var report = ImportReport()
        /// An unfinished line from the previous chunk.
        var carry: [UInt8] = []
        /// Dropping the rest of an overlong line.
        var discarding = false
        /// The line the last stored record ends on.
        var lastLine = 0

        init(importer: StoreImporter, source: String, defaultType: String?, durability: Durability?) {
            self.importer = importer
            self.source = source
            self.durability = durability
            self.splitter = RecordSplitter(encoder: importer.encoder, defaultType: defaultType)
        }

        /// Takes a chunk of the file and stores the records it completes.
        mutating func feed(_ chunk: [UInt8], onRejected: (StoaError) -> Void) throws(StoaError) {
            var batch = EncodedBatch()
            let now = importer.store.clock.now()
            chunk.withUnsafeBufferPointer { bytes in
                var start = 0
                while let newline = SegmentContents.firstNewline(in: bytes, from: start) {
                    if discarding {
                        discarding = false
                        splitter.skipLine()
                    } else if carry.isEmpty {
                        take(UnsafeBufferPointer(rebasing: bytes[start..<newline]), into: &batch, now: now, onRejected: onRejected)
                    } else {
                        carry.append(contentsOf: bytes[start..<newline])
                        let line = carry
                        line.withUnsafeBufferPointer { take($0, into: &batch, now: now, onRejected: onRejected) }
                        carry.removeAll(keepingCapacity: true)
                    }
                    start = newline + 1
                }
                if !discarding { carry.append(contentsOf: bytes[start...]) }
            }
            if carry.count > Int(importer.store.configuration.maxRecordBytes) * 8 {
                // A line this long can never be a record: refuse it now rather than hold it.
                splitter.refuseOverlongLine(
                    length: carry.count, rejected: &report.rejected, onRejected: onRejected, source: source)
                carry.removeAll()
                discarding = true
            }
            try flush(&batch)
        }

        /// The end of the file: a last line without a newline is taken, an
        /// unfinished record refused.
        mutating func finish(onRejected: (StoaError) -> Void) throws(StoaError) {
            var batch = EncodedBatch()
            let now = importer.store.clock.now()
            if !carry.isEmpty && !discarding {
                let line = carry
                line.withUnsafeBufferPointer { take($0, into: &batch, now: now, onRejected: onRejected) }
                carry.removeAll()
            }
            splitter.finish(rejected: &report.rejected, onRejected: onRejected, source: source)
            try flush(&batch)
        }

        /// Takes one line; drops the record it completes when deduplicating
        /// finds it present.
        private mutating func take(
            _ line: UnsafeBufferPointer<UInt8>, into batch: inout EncodedBatch, now: Int64,
            onRejected: (StoaError) -> Void
        ) {
            let before = batch.lineEnds.count
            splitter.take(
                line: line, into: &batch, now: now, rejected: &report.rejected, onRejected: onRejected, source: source)
            guard batch.lineEnds.count > before else { return }
            // The facts of the record just added are the last ones (a removed
            // duplicate leaves its facts behind, so they are not by position).
            let stamped = batch.facts.last?.timeInserted == true
            defer { if stamped && batch.lineEnds.count > before { report.stamped += 1 } }
            guard importer.deduplicates else { return }
            let start = before == 0 ? 0 : batch.lineEnds[before - 1]
            let end = batch.lineEnds[before] - 1  // without the newline
            let present = batch.bytes.withUnsafeBufferPointer { all in
                let record = UnsafeBufferPointer(rebasing: all[start..<end])
                if importer.isPresent(record, now: now) { return true }
                importer.noteStored(record)
                return false
            }
            if present {
                batch.bytes.removeSubrange(start...)
                batch.lineEnds.removeLast()
                if batch.sourceLines.count > batch.lineEnds.count { batch.sourceLines.removeLast() }
                report.duplicates += 1
            }
        }

        private mutating func flush(_ batch: inout EncodedBatch) throws(StoaError) {
            guard !batch.lineEnds.isEmpty else { return }
            var progress = WriteProgress()
            var failure: StoaError?
            do {
                _ = try importer.store.write(batch, durability: durability, progress: &progress)
            } catch {
                failure = error
            }
            if let seqs = progress.stored, !seqs.isEmpty {
                report.seqs = report.stored == 0 ? seqs : report.seqs.lowerBound..<seqs.upperBound
                report.stored += seqs.count
                lastLine = progress.lastSourceLine ?? lastLine
            }
            if let failure {
                throw failure.afterWriting(stored: report.stored, seqs: report.seqs, lastLine: lastLine, of: source)
            }
            batch = EncodedBatch()
        }
    }
}
