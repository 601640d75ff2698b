// stoa-bench query: Stoa's read path next to SQLite set up as an event store,
// a plain Python reader, and the floor (cat, wc -l), over the same records,
// side by side in one run.
//
//     stoa-bench query [--records N] [--full-active] [--dir D] [--keep] [--skip-python] [--python LIST]
//                      [--stoa PATH] [--process-runs K]
//
// Every system runs in a child process of its own (this executable again,
// with a hidden subcommand), so that its peak RSS is its own. Whole short
// processes of the real `stoa` CLI (query, stats, tail, --version) are
// timed from exec to exit beside them (ProcessBench.swift).

import CSQLite
import Foundation
import Stoa
import StoaWorkload

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Options

struct QueryOptions {
    var records = 1_000_000
    var directory: String?
    var keep = false
    var seed: UInt64 = 42
    /// Which queries the Python reader runs.
    var python: Set<String> = Set(QueryName.pythonDefault)
    var pythonScript: String?
    var batches = [100, 10_000]
    var seqsMax = 1000
    /// More records than `records` if needed, so that the active segment
    /// ends nearly full (``FullActive``).
    var fullActive = false
    /// The `stoa` executable the process rows run; nil: the root package's release build.
    var stoaExecutable: String?
    /// Runs of each process, after one untimed run.
    var processRuns = 11
}

enum QueryName {
    static let narrow = "narrow"
    static let medium = "medium"
    static let type = "type"
    static let conversation = "conversation"
    static let full = "full"
    static let open = "open"
    static let openSecond = "open-second"
    static let pythonDefault = [narrow, medium, type, conversation, full]
}

func queryUsage(_ message: String? = nil) -> Never {
    if let message { printError("stoa-bench: \(message)") }
    printError(
        """
        usage: stoa-bench query [--records N] [--full-active] [--dir D] [--keep] [--skip-python] [--python LIST]
                                [--batches LIST] [--seed X] [--python-script PATH] [--stoa PATH] [--process-runs K]

          Writes N generated events (default 1000000) into a Stoa store and two SQLite
          databases (WAL, synchronous=NORMAL, payloads over 1 KiB gzip'd; one with an index
          per column (time, type, agent), one with its best indexes for these queries), then
          times the same queries on each, on the Python reader (Tools/reference_reader.py)
          and on cat / wc -l, each system in a child process of its own, and prints one table.

          --full-active    write more than N events if needed: the smallest count >= N that leaves
                           Stoa's active segment nearly full (>= 63 MiB of segment_bytes, 64 MiB),
                           as a store in use has it; the count used is printed
          --dir D          where the data goes (default /tmp/stoa-bench-query-N, with
                           -full-active appended for --full-active)
          --keep           keep the data afterwards, and reuse it when it is already there
                           with the same N, seed and --full-active (ingest figures then come
                           from the run that wrote it)
          --skip-python    no runs of the Python reader (same as --python none; the python3 +
                           sqlite3 process rows still run)
          --python LIST    which queries Python runs: all, none, or a comma list of
                           narrow,medium,type,conversation,full (default all)
          --batches LIST   records per append / transaction at ingest (default 100,10000);
                           the data queried is the one written with the last
          --stoa PATH      the `stoa` executable whose whole processes are timed (stoa query for
                           the narrow window, stoa stats, stoa tail -n 20, stoa --version; default
                           the repository's release build, .build/release/stoa: build it at the
                           repository's root with `swift build -c release --static-swift-stdlib --product stoa`); when
                           it is missing those rows are skipped, the rest runs
          --process-runs K runs of each process, the median shown (default 11, after one untimed run)
        """)
    exit(64)
}

func parseQueryOptions(_ arguments: [String]) -> QueryOptions {
    var options = QueryOptions()
    var arguments = ArraySlice(arguments)
    while let argument = arguments.popFirst() {
        func value() -> String {
            guard let value = arguments.popFirst() else { queryUsage("\(argument) needs a value") }
            return value
        }
        func number<N: LosslessStringConvertible>(_: N.Type) -> N {
            let text = value().replacingOccurrences(of: "_", with: "")
            guard let number = N(text) else { queryUsage("\(argument): not a number: \(text)") }
            return number
        }
        switch argument {
        case "--records": options.records = number(Int.self)
        case "--full-active": options.fullActive = true
        case "--stoa": options.stoaExecutable = value()
        case "--process-runs":
            options.processRuns = number(Int.self)
            if options.processRuns < 1 { queryUsage("--process-runs must be at least 1") }
        case "--dir": options.directory = value()
        case "--keep": options.keep = true
        case "--seed": options.seed = number(UInt64.self)
        case "--skip-python": options.python = []
        case "--python":
            let list = value()
            switch list {
            case "all": options.python = Set(QueryName.pythonDefault)
            case "none": options.python = []
            default:
                options.python = Set(list.split(separator: ",").map(String.init))
                for name in options.python where !QueryName.pythonDefault.contains(name) {
                    queryUsage("--python: unknown query \(name)")
                }
            }
        case "--python-script": options.pythonScript = value()
        case "--batches":
            options.batches = value().split(separator: ",").map {
                guard let batch = Int($0.replacingOccurrences(of: "_", with: "")), batch > 0 else {
                    queryUsage("--batches: not a positive number: \($0)")
                }
                return batch
            }
            if options.batches.isEmpty { queryUsage("--batches: empty") }
        case "-h", "--help": queryUsage()
        default: queryUsage("unknown option \(argument)")
        }
    }
    if options.records < 1000 { queryUsage("--records must be at least 1000") }
    return options
}

// MARK: - What children are asked and answer

/// One query, for every system.
struct QuerySpec: Codable, Sendable {
    var name: String
    var since: Int64?
    var until: Int64?
    var type: String?
    var conversation: String?
    var limit: Int?
    /// Repetitions: at most `maxReps`, and no new one once `budget` seconds are spent.
    var maxReps: Int
    var budget: Double

    var stoaQuery: Query {
        Query(
            since: since.map(Timestamp.init(microsecondsSinceEpoch:)), until: until.map(Timestamp.init(microsecondsSinceEpoch:)),
            types: type.map { [$0] } ?? [], conversation: conversation, limit: limit)
    }

    /// The same query in SQL, and how to bind it.
    var sql: (text: String, bind: (SQLiteStatement) -> Void) {
        var conditions: [String] = []
        var binders: [(SQLiteStatement, Int32) -> Void] = []
        if let since {
            conditions.append("time >= ?\(binders.count + 1)")
            binders.append { $0.bind($1, since) }
        }
        if let until {
            conditions.append("time < ?\(binders.count + 1)")
            binders.append { $0.bind($1, until) }
        }
        if let type {
            conditions.append("type = ?\(binders.count + 1)")
            binders.append { $0.bind($1, type) }
        }
        if let conversation {
            conditions.append("conversation = ?\(binders.count + 1)")
            binders.append { $0.bind($1, conversation) }
        }
        var text = "SELECT seq, time, type, conversation, size, line FROM events"
        if !conditions.isEmpty { text += " WHERE " + conditions.joined(separator: " AND ") }
        text += " ORDER BY time, seq"
        if let limit {
            text += " LIMIT ?\(binders.count + 1)"
            binders.append { $0.bind($1, Int64(limit)) }
        }
        let all = binders
        return (text, { statement in for (index, bind) in all.enumerated() { bind(statement, Int32(index + 1)) } })
    }

    /// Arguments for reference_reader.py.
    var pythonArguments: [String] {
        var arguments: [String] = []
        if let since { arguments += ["--since", String(since)] }
        if let until { arguments += ["--until", String(until)] }
        if let type { arguments += ["--type", type] }
        if let conversation { arguments += ["--conversation", conversation] }
        if let limit { arguments += ["--limit", String(limit)] }
        return arguments
    }
}

struct QueryPlan: Codable {
    var queries: [QuerySpec]
    /// Measure opening: a new reader, `open`'s first result, then `second`'s on the same reader.
    var open: QuerySpec?
    var openSecond: QuerySpec?
    var seqsMax: Int
}

/// What one system answered to one query, and how fast.
struct Measurement: Codable {
    var name: String
    var reps: Int
    /// Median seconds to the first record (nil: none came).
    var first: Double?
    /// Median seconds to the last record.
    var total: Double
    var count: Int
    var bytes: Int
    var fieldBytes: Int
    var hash: UInt64
    var seqs: [UInt64]?
    var plan: String?
    var firstSamples: [Double] = []
    var totalSamples: [Double] = []
    /// Set when repetitions disagreed with each other.
    var unstable: String?
}

struct StoaStatsSummary: Codable {
    var records: Int
    var segments: Int
    var bytes: Int64
    var indexBytes: Int
    var damagedLines: Int
    var oldest: Int64?
    var newest: Int64?
}

struct QueriesReport: Codable {
    var system: String
    var measurements: [Measurement]
    var memory: MemoryUse
    var stats: StoaStatsSummary?
    var notes: [String] = []
}

struct IngestReport: Codable {
    var system: String
    var records: Int
    var batch: Int
    /// Appends or transactions, and then closing (Stoa: its .idx files written too).
    var seconds: Double
    var writeSeconds: Double
    var closeSeconds: Double
    var analyzeSeconds: Double?
    var compressed: Int?
    /// SQLite: of `writeSeconds`, the time spent in gzip.
    var compressSeconds: Double?
    var minTime: Int64?
    var maxTime: Int64?
    var middleConversation: String?
    var memory: MemoryUse
    var rate: Double { Double(records) / seconds }
}

/// What was written, kept in the data directory so that --keep can reuse it.
struct SetupRecord: Codable {
    /// Records written (with --full-active, possibly more than asked for).
    var records: Int
    /// --records as given (nil in a setup written before --full-active: then `records`).
    var requestedRecords: Int?
    /// Whether --full-active chose the count (nil in an older setup: no).
    var fullActive: Bool?
    /// Bytes the active segment was predicted to hold, from the generated lines.
    var predictedActiveBytes: Int64?
    var seed: UInt64
    var written: String
    var workloadBytes: Int
    var generationSeconds: Double
    var ingests: [IngestReport]
    var minTime: Int64
    var maxTime: Int64
    var middleConversation: String
}

// MARK: - Collecting answers

/// Counts, sizes and an order-sensitive digest of a result (FNV-1a style
/// over the seqs, as reference_reader.py computes it).
struct ResultDigest {
    var count = 0
    var bytes = 0
    /// UTF-8 bytes of the records' types and conversations, summed.
    var fieldBytes = 0
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    var seqs: [UInt64] = []
    let seqsMax: Int

    init(seqsMax: Int) { self.seqsMax = seqsMax }

    @inline(__always)
    mutating func add(seq: UInt64, bytes: Int, type: String, conversation: String?) {
        count += 1
        self.bytes += bytes
        fieldBytes += type.utf8.count + (conversation?.utf8.count ?? 0)
        hash = (hash ^ seq) &* 0x100_0000_01B3
        if seqs.count <= seqsMax { seqs.append(seq) }
    }
}

struct Sample {
    var first: Double?
    var total: Double
    var digest: ResultDigest
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// Runs `body` up to `spec.maxReps` times (at least once, no new run past
/// `spec.budget` seconds) and keeps the medians.
func measure(_ spec: QuerySpec, plan: String? = nil, _ body: () throws -> Sample) rethrows -> Measurement {
    var samples: [Sample] = []
    let start = ContinuousClock.now
    repeat {
        samples.append(try body())
    } while samples.count < spec.maxReps && elapsed(since: start) < spec.budget
    let reference = samples[0].digest
    var unstable: String?
    for sample in samples.dropFirst()
    where sample.digest.count != reference.count || sample.digest.hash != reference.hash {
        unstable = "repetitions disagree: \(reference.count) records, then \(sample.digest.count)"
    }
    let firsts = samples.compactMap(\.first)
    return Measurement(
        name: spec.name, reps: samples.count, first: firsts.isEmpty ? nil : median(firsts),
        total: median(samples.map(\.total)), count: reference.count, bytes: reference.bytes,
        fieldBytes: reference.fieldBytes, hash: reference.hash,
        seqs: reference.count <= reference.seqsMax ? reference.seqs : nil, plan: plan,
        firstSamples: firsts, totalSamples: samples.map(\.total), unstable: unstable)
}

// MARK: - The workload file

/// The generated JSONL, mapped, with where each line ends.
final class MappedFile {
    let base: UnsafeRawPointer
    let size: Int
    /// Offsets just past each line's newline.
    let lineEnds: [Int]

    init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BenchError(description: "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_size > 0 else { throw BenchError(description: "\(path): empty") }
        size = Int(status.st_size)
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw BenchError(description: "mmap \(path): \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(mapped)
        var ends: [Int] = []
        var offset = 0
        while offset < size, let newline = memchr(base + offset, 0x0A, size - offset) {
            offset = UnsafeRawPointer(newline) - base + 1
            ends.append(offset)
        }
        lineEnds = ends
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }

    /// Line `index` without its newline.
    @inline(__always)
    func line(_ index: Int) -> UnsafeRawBufferPointer {
        let start = index == 0 ? 0 : lineEnds[index - 1]
        return UnsafeRawBufferPointer(start: base + start, count: lineEnds[index] - 1 - start)
    }
}

/// How Stoa lays records into segments, replayed over the generated lines
/// to choose a record count that leaves the active segment nearly full.
///
/// It follows `Store.writeLocked` (Sources/Stoa/Store/Store+Append.swift)
/// and `seal` (Store+Rotation.swift): a record goes into the active segment
/// unless that segment has records and the record would take it past
/// `segment_bytes`; then the segment is sealed and a new, empty one takes
/// the record. A batch is split record by record at that boundary, so the
/// ingest child's batch size does not move it; `segment_age` (an hour by
/// default) never seals during an ingest. A line is stored as it is given,
/// plus its newline: the generated lines are compact JSON with a `ts`, so
/// the encoder inserts nothing (checked after ingest against the file).
struct FullActive {
    /// `segment_bytes` of the stores the ingest child makes (the default).
    static let segmentBytes = StoreConfiguration().segmentBytes
    /// Nearly full: at least this much of the active segment holds records.
    static let threshold = segmentBytes - (1 << 20)

    /// Bytes in the active segment, and segments sealed before it.
    private(set) var activeBytes: Int64 = 0
    private(set) var activeRecords = 0
    private(set) var sealed = 0

    /// A record of `bytes` (newline included) is appended.
    mutating func append(_ bytes: Int) {
        if activeRecords > 0 && activeBytes + Int64(bytes) > Self.segmentBytes {
            sealed += 1
            activeBytes = 0
            activeRecords = 0
        }
        activeBytes += Int64(bytes)
        activeRecords += 1
    }

    var isNearlyFull: Bool { activeBytes >= Self.threshold }
}

/// Writes `records` generated events as JSONL to `path`; with `fullActive`,
/// goes on past `records` until the active segment would be nearly full.
func writeWorkload(
    path: String, records: Int, seed: UInt64, fullActive: Bool = false
) throws -> (bytes: Int, seconds: Double, records: Int, layout: FullActive) {
    let start = ContinuousClock.now
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
    guard fd >= 0 else { throw BenchError(description: "open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var generator = EventGenerator(seed: seed, start: Timestamp(microsecondsSinceEpoch: 1_767_225_600_000_000))  // 2026-01-01
    var buffer: [UInt8] = []
    buffer.reserveCapacity(1 << 21)
    var total = 0
    var layout = FullActive()
    var written = 0
    func flush() throws {
        try buffer.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw BenchError(description: "write \(path): \(String(cString: strerror(errno)))")
                }
                offset += written
            }
        }
        total += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }
    while written < records || (fullActive && !layout.isNearlyFull) {
        let before = buffer.count
        generator.nextLine(into: &buffer)
        layout.append(buffer.count - before)
        written += 1
        if buffer.count >= 1 << 20 { try flush() }
    }
    try flush()
    return (total, elapsed(since: start), written, layout)
}

// MARK: - Ingest (children)

func ingestStoa(workload: String, output: String, batch: Int) throws -> IngestReport {
    let file = try MappedFile(path: workload)
    var configuration = StoreConfiguration()
    configuration.durability = .buffered
    let store = try Store(at: output, creating: configuration)
    let count = file.lineEnds.count
    let start = ContinuousClock.now
    var index = 0
    while index < count {
        let end = min(index + batch, count)
        let seqs = try store.append(
            contentsOf: (index..<end).lazy.map { file.line($0).assumingMemoryBound(to: UInt8.self) },
            durability: .buffered)
        guard seqs == UInt64(index)..<UInt64(end) else {
            throw BenchError(description: "stoa gave seqs \(seqs) to records \(index)..<\(end)")
        }
        index = end
    }
    let written = elapsed(since: start)
    let closing = ContinuousClock.now
    try store.waitForIndexes()
    try store.close()
    let closeSeconds = elapsed(since: closing)
    return IngestReport(
        system: "stoa", records: count, batch: batch, seconds: written + closeSeconds, writeSeconds: written,
        closeSeconds: closeSeconds, memory: .now())
}

func ingestSQLite(_ schema: SQLiteSchema, workload: String, output: String, batch: Int) throws -> IngestReport {
    let file = try MappedFile(path: workload)
    let count = file.lineEnds.count
    for suffix in ["", "-wal", "-shm"] { unlink(output + suffix) }
    let db = try SQLiteDatabase(path: output, readOnly: false)
    _ = try db.rows("PRAGMA journal_mode=WAL")
    try db.execute("PRAGMA synchronous=NORMAL")
    try db.execute(SQLiteSchema.table)
    for index in schema.indexes { try db.execute(index) }
    var minTime = Int64.max, maxTime = Int64.min
    var middleConversation: String?
    var compressed = 0
    var compressingTime = 0.0
    var written = 0.0

    // The statements live in here, so that they are finalized before close.
    func load() throws {
        let insert = try db.prepare(
            "INSERT INTO events(seq, time, type, agent, conversation, size, line) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
        let begin = try db.prepare("BEGIN")
        let commit = try db.prepare("COMMIT")
        let gzip = Gzip()
        var fields: [LineFields] = []
        fields.reserveCapacity(batch)
        var index = 0
        while index < count {
            let end = min(index + batch, count)
            // Not timed: what the application would already have at hand.
            fields.removeAll(keepingCapacity: true)
            for record in index..<end {
                let line = file.line(record)
                let found = try scanFields(line)
                minTime = min(minTime, found.time)
                maxTime = max(maxTime, found.time)
                if record == count / 2, let conversation = found.conversation {
                    middleConversation = String(decoding: line[conversation.start..<conversation.end], as: UTF8.self)
                }
                fields.append(found)
            }
            // Timed: one transaction of `batch` inserts, payloads over 1 KiB gzip'd.
            let start = ContinuousClock.now
            _ = try begin.step()
            sqlite3_reset(begin.handle)
            for record in index..<end {
                let line = file.line(record)
                let found = fields[record - index]
                func text(_ column: Int32, _ span: Span?) {
                    if let span {
                        sqlite3_bind_text(
                            insert.handle, column, (line.baseAddress! + span.start).assumingMemoryBound(to: CChar.self),
                            Int32(span.end - span.start), nil)
                    } else {
                        sqlite3_bind_null(insert.handle, column)
                    }
                }
                insert.bind(1, Int64(record))
                insert.bind(2, found.time)
                text(3, found.type)
                text(4, found.agent)
                text(5, found.conversation)
                insert.bind(6, Int64(line.count))
                if line.count > 1024 {
                    let compressing = ContinuousClock.now
                    try gzip.compress(line) { packed in
                        compressingTime += elapsed(since: compressing)
                        sqlite3_bind_blob(insert.handle, 7, packed.baseAddress, Int32(packed.count), nil)
                        _ = try insert.step()
                    }
                    compressed += 1
                } else {
                    sqlite3_bind_blob(insert.handle, 7, line.baseAddress, Int32(line.count), nil)
                    _ = try insert.step()
                }
                sqlite3_reset(insert.handle)
            }
            _ = try commit.step()
            sqlite3_reset(commit.handle)
            written += elapsed(since: start)
            index = end
        }
    }
    try load()
    // Closing checkpoints the WAL into the database file (timed, as Stoa's close is).
    let closing = ContinuousClock.now
    try db.close()
    let closeSeconds = elapsed(since: closing)
    return IngestReport(
        system: schema.rawValue, records: count, batch: batch, seconds: written + closeSeconds, writeSeconds: written,
        closeSeconds: closeSeconds, compressed: compressed, compressSeconds: compressingTime, minTime: minTime, maxTime: maxTime,
        middleConversation: middleConversation, memory: .now())
}

/// ANALYZE, so that the planner knows the data (not timed as ingest).
func analyzeSQLite(path: String) throws -> Double {
    let start = ContinuousClock.now
    let db = try SQLiteDatabase(path: path, readOnly: false)
    try db.execute("ANALYZE")
    return elapsed(since: start)
}

// MARK: - Queries (children)

func runStoaQueries(path: String, plan: QueryPlan) throws -> QueriesReport {
    var measurements: [Measurement] = []
    func run(_ reader: StoreReader, _ query: Query) throws -> Sample {
        var digest = ResultDigest(seqsMax: plan.seqsMax)
        let start = ContinuousClock.now
        let cursor = try reader.query(query)
        var first: Double?
        // Records lent in place, as a program reading many records would take them.
        cursor.forEach { record in
            if first == nil { first = elapsed(since: start) }
            digest.add(seq: record.seq, bytes: record.count, type: record.type, conversation: record.conversation)
        }
        let total = elapsed(since: start)
        if !cursor.damaged.isEmpty {
            throw BenchError(description: "stoa: damaged lines in the store: \(cursor.damaged.prefix(3))")
        }
        return Sample(first: first, total: total, digest: digest)
    }
    if let open = plan.open, let second = plan.openSecond {
        // A new reader each time: its first result, then a second query on it.
        var seconds: [Double] = []
        let firstMeasurement = try measure(open) {
            var digest = ResultDigest(seqsMax: 0)
            let start = ContinuousClock.now
            let reader = try StoreReader(at: path)
            let cursor = try reader.query(open.stoaQuery)
            let record = try cursor.next()
            let first = elapsed(since: start)
            if let record {
                digest.add(seq: record.seq, bytes: record.bytes.count, type: record.type, conversation: record.conversation)
            }
            let again = ContinuousClock.now
            let secondRecord = try reader.query(second.stoaQuery).next()
            seconds.append(elapsed(since: again))
            if secondRecord == nil { throw BenchError(description: "stoa: the second query found nothing") }
            return Sample(first: first, total: first, digest: digest)
        }
        measurements.append(firstMeasurement)
        var secondMeasurement = firstMeasurement
        secondMeasurement.name = QueryName.openSecond
        secondMeasurement.first = median(seconds)
        secondMeasurement.total = median(seconds)
        secondMeasurement.firstSamples = seconds
        secondMeasurement.totalSamples = seconds
        measurements.append(secondMeasurement)
    }
    let reader = try StoreReader(at: path)
    let stats = try reader.stats()  // loads every index: what follows is a warm reader
    for spec in plan.queries {
        measurements.append(try measure(spec) { try run(reader, spec.stoaQuery) })
    }
    // Index memory after the queries: the second conversation query builds
    // the reader's conversation directory.
    let indexBytes = try reader.stats().indexBytes
    let summary = StoaStatsSummary(
        records: stats.records, segments: stats.segments, bytes: stats.bytes, indexBytes: indexBytes,
        damagedLines: stats.damagedLines, oldest: stats.oldest?.microsecondsSinceEpoch, newest: stats.newest?.microsecondsSinceEpoch)
    return QueriesReport(system: "stoa", measurements: measurements, memory: .now(), stats: summary)
}

func runSQLiteQueries(_ schema: SQLiteSchema, path: String, plan: QueryPlan) throws -> QueriesReport {
    let gzip = Gzip()
    var measurements: [Measurement] = []
    /// One row as a record, as Stoa hands it out (type, conversation, bytes).
    @inline(__always)
    func row(_ statement: SQLiteStatement, into digest: inout ResultDigest) throws {
        let seq = UInt64(statement.int64(0))
        _ = statement.int64(1)
        let type = statement.text(2)
        let conversation = statement.text(3)
        let size = Int(statement.int64(4))
        let stored = statement.blob(5)
        // Read in place, as Stoa's forEach lends its records; a payload
        // stored gzip'd has to be inflated.
        let count = stored.count == size ? stored.count : try gzip.decompress(stored, size: size).count
        digest.add(
            seq: seq, bytes: count, type: type,
            conversation: sqlite3_column_type(statement.handle, 3) == SQLITE_NULL ? nil : conversation)
    }
    if let open = plan.open, let second = plan.openSecond {
        var seconds: [Double] = []
        let firstMeasurement = try measure(open) {
            var digest = ResultDigest(seqsMax: 0)
            let start = ContinuousClock.now
            let db = try SQLiteDatabase(path: path, readOnly: true)
            let (text, bind) = open.sql
            let statement = try db.prepare(text)
            bind(statement)
            if try statement.step() { try row(statement, into: &digest) }
            let first = elapsed(since: start)
            let again = ContinuousClock.now
            let (secondText, secondBind) = second.sql
            let secondStatement = try db.prepare(secondText)
            secondBind(secondStatement)
            var secondDigest = ResultDigest(seqsMax: 0)
            guard try secondStatement.step() else { throw BenchError(description: "sqlite: the second query found nothing") }
            try row(secondStatement, into: &secondDigest)
            seconds.append(elapsed(since: again))
            return Sample(first: first, total: first, digest: digest)
        }
        measurements.append(firstMeasurement)
        var secondMeasurement = firstMeasurement
        secondMeasurement.name = QueryName.openSecond
        secondMeasurement.first = median(seconds)
        secondMeasurement.total = median(seconds)
        secondMeasurement.firstSamples = seconds
        secondMeasurement.totalSamples = seconds
        measurements.append(secondMeasurement)
    }
    let db = try SQLiteDatabase(path: path, readOnly: true)
    for spec in plan.queries {
        let (text, bind) = spec.sql
        let statement = try db.prepare(text)
        let queryPlan = try db.plan(text)
        measurements.append(
            try measure(spec, plan: queryPlan) {
                var digest = ResultDigest(seqsMax: plan.seqsMax)
                let start = ContinuousClock.now
                statement.reset()
                bind(statement)
                var first: Double?
                while try statement.step() {
                    try row(statement, into: &digest)
                    if first == nil { first = elapsed(since: start) }
                }
                return Sample(first: first, total: elapsed(since: start), digest: digest)
            })
    }
    return QueriesReport(system: schema.rawValue, measurements: measurements, memory: .now())
}

/// The hidden subcommands the parent runs as children.
func runHiddenCommand(_ arguments: [String]) throws {
    guard let command = arguments.first else { queryUsage() }
    switch command {
    case "_ingest":
        guard arguments.count == 5, let batch = Int(arguments[4]) else { queryUsage("_ingest SYSTEM WORKLOAD OUT BATCH") }
        let report: IngestReport
        if arguments[1] == "stoa" {
            report = try ingestStoa(workload: arguments[2], output: arguments[3], batch: batch)
        } else if let schema = SQLiteSchema(rawValue: arguments[1]) {
            report = try ingestSQLite(schema, workload: arguments[2], output: arguments[3], batch: batch)
        } else {
            queryUsage("_ingest: unknown system \(arguments[1])")
        }
        try emitReport(report)
    case "_reindex":
        // Writes every sealed segment's .idx again (after a change of the .idx
        // format, before reusing a --keep directory).
        guard arguments.count == 2 else { queryUsage("_reindex STORE") }
        let start = ContinuousClock.now
        let store = try Store(at: arguments[1])
        let written = try store.reindex()
        try store.close()
        printError(String(format: "reindexed %d segments in %.1f s", written, elapsed(since: start)))
    case "_analyze":
        guard arguments.count == 2 else { queryUsage("_analyze DB") }
        try emitReport(["seconds": try analyzeSQLite(path: arguments[1])])
    case "_queries":
        guard arguments.count == 4 else { queryUsage("_queries SYSTEM PATH PLAN-JSON") }
        let plan = try JSONDecoder().decode(QueryPlan.self, from: Data(arguments[3].utf8))
        if arguments[1] == "stoa" {
            try emitReport(try runStoaQueries(path: arguments[2], plan: plan))
        } else if let schema = SQLiteSchema(rawValue: arguments[1]) {
            try emitReport(try runSQLiteQueries(schema, path: arguments[2], plan: plan))
        } else {
            queryUsage("_queries: unknown system \(arguments[1])")
        }
    default:
        queryUsage("unknown command \(command)")
    }
}
