// stoa-bench query, the parent: writes the data once, runs every system in
// children, checks that they agree, prints one table.

import Foundation
import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// The columns of the table.
enum System: Int, CaseIterable {
    case stoa, sqliteSingle, sqliteBest, python, floor

    var title: String {
        switch self {
        case .stoa: "Stoa"
        case .sqliteSingle: "SQLite 1-col"
        case .sqliteBest: "SQLite best"
        case .python: "Python"
        case .floor: "cat / wc -l"
        }
    }
}

struct DataLayout {
    let root: String
    var setup: String { root + "/setup.json" }
    var workload: String { root + "/workload.jsonl" }
    var stoa: String { root + "/stoa" }
    var segments: String { root + "/stoa/segments" }
    func sqlite(_ schema: SQLiteSchema) -> String { root + "/\(schema.rawValue).db" }
    /// Everything this tool may put in `root` (and so may remove).
    func isOurs(_ name: String) -> Bool {
        name == "setup.json" || name == "workload.jsonl" || name == "stoa" || name.hasPrefix("stoa-b")
            || name.hasPrefix("sqlite-")
    }
}

func log(_ message: String) { printError("  " + message) }

func fileSize(_ path: String) -> Int64 {
    var status = stat()
    return stat(path, &status) == 0 ? Int64(status.st_size) : 0
}

/// Bytes of every regular file under `path`.
func treeSize(_ path: String) -> Int64 {
    guard let walker = FileManager.default.enumerator(atPath: path) else { return fileSize(path) }
    var total: Int64 = 0
    while let name = walker.nextObject() as? String {
        var status = stat()
        if stat(path + "/" + name, &status) == 0, status.st_mode & S_IFMT == S_IFREG { total += Int64(status.st_size) }
    }
    return total
}

func sqliteSize(_ path: String) -> Int64 { fileSize(path) + fileSize(path + "-wal") + fileSize(path + "-shm") }

func segmentFiles(_ layout: DataLayout, suffix: String = ".jsonl") -> [String] {
    segmentFiles(inStore: layout.stoa, suffix: suffix)
}

/// The files of the store at `store` whose names end in `suffix`, in order
/// of their first seq (the names are zero-padded seqs): the last .jsonl is
/// the active segment.
func segmentFiles(inStore store: String, suffix: String = ".jsonl") -> [String] {
    let directory = store + "/segments"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return names.filter { $0.hasSuffix(suffix) }.sorted().map { directory + "/" + $0 }
}

/// The store's active segment (its last .jsonl): name, size, and how full.
func activeSegmentDescription(_ layout: DataLayout) -> String {
    let segments = segmentFiles(layout)
    guard let last = segments.last else { return "no segment" }
    let size = fileSize(last)
    return "\((last as NSString).lastPathComponent), \(size) bytes = "
        + String(format: "%.1f MiB of segment_bytes %lld MiB (%.1f%%)", Double(size) / 1_048_576,
                 FullActive.segmentBytes >> 20, Double(size) / Double(FullActive.segmentBytes) * 100)
        + ", after \(segments.count - 1) sealed segments"
}

/// Reads files once through the page cache (cat > /dev/null), so that every
/// system starts warm.
func warm(_ paths: [String]) throws {
    guard !paths.isEmpty else { return }
    _ = try runChild(["cat"] + paths, captureOutput: false)
}

// MARK: - Writing the data

func prepareData(_ options: QueryOptions, _ layout: DataLayout) throws -> (SetupRecord, reused: Bool) {
    let files = FileManager.default
    if options.keep, let data = files.contents(atPath: layout.setup),
       let setup = try? JSONDecoder().decode(SetupRecord.self, from: data),
       (setup.requestedRecords ?? setup.records) == options.records, setup.seed == options.seed,
       (setup.fullActive ?? false) == options.fullActive,
       files.fileExists(atPath: layout.stoa), SQLiteSchema.allCases.allSatisfy({ files.fileExists(atPath: layout.sqlite($0)) })
    {
        return (setup, true)
    }
    try files.createDirectory(atPath: layout.root, withIntermediateDirectories: true)
    for name in (try? files.contentsOfDirectory(atPath: layout.root)) ?? [] where layout.isOurs(name) {
        try files.removeItem(atPath: layout.root + "/" + name)
    }

    log("generating \(options.records) events\(options.fullActive ? " or more (--full-active)" : "") into \(layout.workload)")
    let (workloadBytes, generation, records, predicted) = try writeWorkload(
        path: layout.workload, records: options.records, seed: options.seed, fullActive: options.fullActive)
    if records != options.records {
        log("  \(records) events: the active segment will hold \(predicted.activeBytes) bytes after \(predicted.sealed) sealed segments")
    }
    try warm([layout.workload])

    var ingests: [IngestReport] = []
    for (number, batch) in options.batches.enumerated() {
        let kept = number == options.batches.count - 1
        let targets: [(system: String, path: String)] = [
            ("stoa", kept ? layout.stoa : layout.root + "/stoa-b\(batch)"),
            (SQLiteSchema.single.rawValue, kept ? layout.sqlite(.single) : layout.root + "/sqlite-single-b\(batch).db"),
            (SQLiteSchema.best.rawValue, kept ? layout.sqlite(.best) : layout.root + "/sqlite-best-b\(batch).db"),
        ]
        for (system, path) in targets {
            log("ingest: \(system), batches of \(batch)")
            let (report, _) = try runSelf(
                ["_ingest", system, layout.workload, path, String(batch)], as: IngestReport.self)
            log(String(format: "  %.2f s, %@ records/s", report.seconds, formatRate(report.rate)))
            ingests.append(report)
            if system == "stoa" && options.fullActive {
                // The prediction of FullActive, against the file the store wrote.
                let segments = segmentFiles(inStore: path)
                let active = segments.last.map(fileSize) ?? 0
                guard active == predicted.activeBytes, segments.count == predicted.sealed + 1 else {
                    throw BenchError(description: """
                        --full-active: the store at \(path) has \(segments.count) segments, the last of \(active) bytes; \
                        FullActive predicted \(predicted.sealed + 1) segments, the last of \(predicted.activeBytes) bytes \
                        (has the store's rotation or encoding changed? see FullActive in QueryBench.swift)
                        """)
                }
            }
            if !kept {
                try files.removeItem(atPath: path)
                for suffix in ["-wal", "-shm"] { try? files.removeItem(atPath: path + suffix) }
            }
        }
    }
    for schema in SQLiteSchema.allCases {
        log("ANALYZE \(schema.rawValue)")
        let (result, _) = try runSelf(["_analyze", layout.sqlite(schema)], as: [String: Double].self)
        if let index = ingests.lastIndex(where: { $0.system == schema.rawValue }) {
            ingests[index].analyzeSeconds = result["seconds"]
        }
    }
    try files.removeItem(atPath: layout.workload)

    guard let facts = ingests.last(where: { $0.system == SQLiteSchema.single.rawValue }),
          let minTime = facts.minTime, let maxTime = facts.maxTime, let conversation = facts.middleConversation
    else { throw BenchError(description: "ingest did not report the data's time span") }
    let setup = SetupRecord(
        records: records, requestedRecords: options.records, fullActive: options.fullActive,
        predictedActiveBytes: predicted.activeBytes, seed: options.seed, written: Timestamp.now().description,
        workloadBytes: workloadBytes, generationSeconds: generation, ingests: ingests, minTime: minTime,
        maxTime: maxTime, middleConversation: conversation)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(setup).write(to: URL(fileURLWithPath: layout.setup))
    return (setup, false)
}

// MARK: - Running

struct SystemRun {
    var measurements: [String: Measurement] = [:]
    var rssQueriesKiB: Int?
    var rssScanKiB: Int?
    var memoryAtEnd: [String: MemoryUse] = [:]
    var stats: StoaStatsSummary?
}

func pythonScriptPath(_ options: QueryOptions) -> String {
    if let path = options.pythonScript { return path }
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { url.deleteLastPathComponent() }  // Sources/stoa-bench/X.swift → Tools
    return url.appendingPathComponent("reference_reader.py").path
}

func runQueryBench(_ options: QueryOptions) throws {
    let root = options.directory ?? "/tmp/stoa-bench-query-\(options.records)" + (options.fullActive ? "-full-active" : "")
    let layout = DataLayout(root: root)
    print(machineDescription(directory: root))
    print("cwd:       \(FileManager.default.currentDirectoryPath)")
    print("sources:   \(sourceVersion())")
    print("load:      \(loadAverage()) at the start (other work on the machine skews every figure)")
    let script = pythonScriptPath(options)
    if !options.python.isEmpty && !FileManager.default.fileExists(atPath: script) {
        throw BenchError(description: "no Python reader at \(script) (--python-script PATH, or --skip-python)")
    }

    let stoaCLI = locateStoa(options)
    print("stoa CLI:  \(stoaCLI.description)")
    if !stoaCLI.found { log("stoa CLI: \(stoaCLI.description)") }

    let (setup, reused) = try prepareData(options, layout)
    let span = setup.maxTime - setup.minTime
    print(
        "data:      \(setup.records) events"
            + (setup.fullActive == true
                ? " (--full-active: the fewest >= --records \(setup.requestedRecords ?? setup.records) that leave the active segment >= \(FullActive.threshold >> 20) MiB)"
                : "")
            + ", EventGenerator(seed: \(setup.seed)), "
            + String(format: "%.1f MB of JSONL", Double(setup.workloadBytes) / 1e6)
            + ", \(Timestamp(microsecondsSinceEpoch: setup.minTime).description) … \(Timestamp(microsecondsSinceEpoch: setup.maxTime).description)"
            + (reused ? " (reused: written \(setup.written) with --keep)" : " (written now)"))
    print("active:    " + activeSegmentDescription(layout))
    let cpu = bindToOneCPU()
    print("cpu:       " + (cpu.map { "queries (every system's) and the floor run bound to CPU \($0)" } ?? "not bound"))
    print("")

    // The queries.
    func at(_ percent: Double) -> Int64 { setup.minTime + Int64(Double(span) * percent / 100) }
    let narrowWidth = max(span / 1000, 1)
    let fast = (reps: 21, budget: 5.0)
    let narrow = QuerySpec(
        name: QueryName.narrow, since: at(40), until: at(40) + narrowWidth, maxReps: fast.reps, budget: fast.budget)
    let second = QuerySpec(
        name: QueryName.openSecond, since: at(60), until: at(60) + narrowWidth, maxReps: 1, budget: 0)
    let open = QuerySpec(
        name: QueryName.open, since: narrow.since, until: narrow.until, maxReps: 11, budget: fast.budget)
    let medium = QuerySpec(
        name: QueryName.medium, since: at(45), until: at(45) + max(span / 10, 1), maxReps: 7, budget: 15)
    let type = QuerySpec(name: QueryName.type, type: "error", limit: 100, maxReps: fast.reps, budget: fast.budget)
    let conversation = QuerySpec(
        name: QueryName.conversation, conversation: setup.middleConversation, maxReps: fast.reps, budget: fast.budget)
    let full = QuerySpec(name: QueryName.full, maxReps: 5, budget: 30)
    let queries = [narrow, medium, type, conversation]
    let queriesPlan = QueryPlan(queries: queries, open: open, openSecond: second, seqsMax: options.seqsMax)
    let scanPlan = QueryPlan(queries: [full], seqsMax: options.seqsMax)
    let planJSON = { (plan: QueryPlan) in String(decoding: try JSONEncoder().encode(plan), as: UTF8.self) }

    var runs = [System: SystemRun]()
    var notes: [String] = []

    // Stoa and the two SQLite databases: one child for the queries, one for the full scan.
    let children: [(System, String, String, [String])] = [
        (.stoa, "stoa", layout.stoa, segmentFiles(layout) + segmentFiles(layout, suffix: ".idx")),
        (.sqliteSingle, SQLiteSchema.single.rawValue, layout.sqlite(.single), [layout.sqlite(.single)]),
        (.sqliteBest, SQLiteSchema.best.rawValue, layout.sqlite(.best), [layout.sqlite(.best)]),
    ]
    for (system, name, path, files) in children {
        var run = SystemRun()
        for (label, plan) in [("queries", queriesPlan), ("full scan", scanPlan)] {
            try warm(files)
            log("\(name): \(label)")
            let (report, child) = try runSelf(["_queries", name, path, try planJSON(plan)], as: QueriesReport.self)
            for measurement in report.measurements { run.measurements[measurement.name] = measurement }
            if label == "queries" { run.rssQueriesKiB = child.maxRSSKiB } else { run.rssScanKiB = child.maxRSSKiB }
            run.memoryAtEnd[label] = report.memory
            run.stats = run.stats ?? report.stats
            notes += report.notes
        }
        runs[system] = run
    }

    // The plain reader: one Python process per query, one run each.
    var python = SystemRun()
    let segmentsDirectory = layout.segments
    for spec in queries + [full] where options.python.contains(spec.name) {
        try warm(segmentFiles(layout))
        log("python: \(spec.name)")
        let child = try runChild(
            ["python3", script, segmentsDirectory, "--seqs-max", String(options.seqsMax)] + spec.pythonArguments)
        guard child.status == 0 else { throw BenchError(description: "python (\(spec.name)) exited \(child.status)") }
        struct Answer: Decodable {
            var count: Int
            var bytes: Int
            var fields: Int
            var hash: UInt64
            var bad: Int
            var seqs: [UInt64]?
        }
        let answer = try JSONDecoder().decode(Answer.self, from: Data(child.output))
        if answer.bad > 0 { notes.append("Python skipped \(answer.bad) bad lines in `\(spec.name)`") }
        python.measurements[spec.name] = Measurement(
            name: spec.name, reps: 1, first: child.seconds, total: child.seconds, count: answer.count,
            bytes: answer.bytes, fieldBytes: answer.fields, hash: answer.hash, seqs: answer.seqs)
        if spec.name == QueryName.full {
            python.rssScanKiB = child.maxRSSKiB
        } else {
            python.rssQueriesKiB = max(python.rssQueriesKiB ?? 0, child.maxRSSKiB)
        }
    }
    runs[.python] = python

    // The floor: cat and wc -l over the same segment files.
    let jsonl = segmentFiles(layout)
    try warm(jsonl)
    log("floor: cat, wc -l")
    var catTimes: [Double] = [], wcTimes: [Double] = []
    var lineCount = -1
    var floorRSS = 0
    for _ in 0..<5 {
        let cat = try runChild(["cat"] + jsonl, captureOutput: false)
        catTimes.append(cat.seconds)
        let wc = try runChild(["wc", "-l"] + jsonl)
        wcTimes.append(wc.seconds)
        floorRSS = max(floorRSS, cat.maxRSSKiB, wc.maxRSSKiB)
        let last = String(decoding: wc.output, as: UTF8.self).split(separator: "\n").last ?? ""
        lineCount = Int(last.split(separator: " ").first ?? "") ?? -1
    }
    var floor = SystemRun()
    floor.rssScanKiB = floorRSS
    runs[.floor] = floor
    let jsonlBytes = jsonl.reduce(Int64(0)) { $0 + fileSize($1) }

    // Whole processes of the stoa CLI, and python3 + sqlite3 beside them.
    var processes: [String: ProcessResult] = [:]
    if let narrowAnswer = runs[.stoa]?.measurements[QueryName.narrow] {
        let inputs = ProcessInputs(
            store: layout.stoa, sqliteBest: layout.sqlite(.best), since: narrow.since!, until: narrow.until!,
            narrowCount: narrowAnswer.count, narrowBytes: narrowAnswer.bytes, records: setup.records)
        let (specs, processNotes) = processSpecs(inputs, stoa: stoaCLI)
        notes += processNotes
        try warm(segmentFiles(layout) + segmentFiles(layout, suffix: ".idx") + [layout.sqlite(.best)])
        log("processes: " + specs.map(\.name).joined(separator: ", ") + " (\(options.processRuns) runs each)")
        let scratch = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        processes = runProcesses(specs, runs: options.processRuns, scratch: scratch)
    }

    printResults(
        options: options, setup: setup, layout: layout, runs: runs,
        specs: (narrow: narrow, medium: medium, type: type, conversation: conversation, second: second),
        floor: (cat: median(catTimes), wc: median(wcTimes), lines: lineCount, bytes: jsonlBytes),
        processes: processes, stoaCLI: stoaCLI, notes: notes)

    if !options.keep {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where layout.isOurs(name) {
            try? FileManager.default.removeItem(atPath: root + "/" + name)
        }
        try? FileManager.default.removeItem(atPath: root)  // only if now empty
    }
}

// MARK: - Printing

func formatSeconds(_ seconds: Double) -> String {
    switch seconds {
    case ..<1e-3: String(format: "%.1f µs", seconds * 1e6)
    case ..<1e-2: String(format: "%.3f ms", seconds * 1e3)
    case ..<1: String(format: "%.1f ms", seconds * 1e3)
    default: String(format: "%.2f s", seconds)
    }
}

func formatBytes(_ bytes: Double) -> String {
    switch bytes {
    case 1e9...: String(format: "%.2f GB", bytes / 1e9)
    case 1e6...: String(format: "%.1f MB", bytes / 1e6)
    default: String(format: "%.1f kB", bytes / 1e3)
    }
}

func formatRatio(_ ratio: Double) -> String {
    guard ratio.isFinite, ratio > 0 else { return "" }
    switch ratio {
    case 100...: return String(format: "%.0f×", ratio)
    case 10...: return String(format: "%.1f×", ratio)
    default: return String(format: "%.2f×", ratio)
    }
}

enum RowKind {
    /// Seconds: smaller is better.
    case time
    /// Per second: larger is better.
    case rate(unit: String)
    /// Bytes: smaller is better.
    case bytes
}

struct TableRow {
    var name: String
    var kind: RowKind
    var values: [System: Double] = [:]
    /// Text shown instead of a value.
    var texts: [System: String] = [:]

    func cell(_ system: System) -> String {
        if let text = texts[system] { return text }
        guard let value = values[system] else { return "—" }
        switch kind {
        case .time: return formatSeconds(value)
        case .rate(let unit): return unit == "GB/s" ? String(format: "%.2f GB/s", value) : formatRate(value) + unit
        case .bytes: return formatBytes(value)
        }
    }

    /// How many times better Stoa is than `system` (> 1: Stoa better).
    func ratio(_ system: System) -> String {
        guard let stoa = values[.stoa], let other = values[system], stoa > 0, other > 0 else { return "" }
        switch kind {
        case .time, .bytes: return formatRatio(other / stoa)
        case .rate: return formatRatio(stoa / other)
        }
    }
}

func printResults(
    options: QueryOptions, setup: SetupRecord, layout: DataLayout, runs: [System: SystemRun],
    specs: (narrow: QuerySpec, medium: QuerySpec, type: QuerySpec, conversation: QuerySpec, second: QuerySpec),
    floor: (cat: Double, wc: Double, lines: Int, bytes: Int64),
    processes: [String: ProcessResult], stoaCLI: StoaExecutable, notes: [String]
) {
    var rows: [TableRow] = []
    let stoaStats = runs[.stoa]?.stats
    let measured: [System] = [.stoa, .sqliteSingle, .sqliteBest]
    let systemNames: [System: String] = [
        .stoa: "stoa", .sqliteSingle: SQLiteSchema.single.rawValue, .sqliteBest: SQLiteSchema.best.rawValue,
    ]

    // Ingest.
    for batch in options.batches {
        var row = TableRow(name: "ingest, \(batch) per append/txn", kind: .rate(unit: " rec/s"))
        for system in measured {
            if let report = setup.ingests.first(where: { $0.system == systemNames[system] && $0.batch == batch }) {
                row.values[system] = report.rate
            }
        }
        rows.append(row)
    }
    var disk = TableRow(name: "bytes on disk", kind: .bytes)
    disk.values[.stoa] = Double(treeSize(layout.stoa))
    disk.values[.sqliteSingle] = Double(sqliteSize(layout.sqlite(.single)))
    disk.values[.sqliteBest] = Double(sqliteSize(layout.sqlite(.best)))
    disk.values[.floor] = Double(floor.bytes)
    disk.texts[.floor] = formatBytes(Double(floor.bytes)) + " JSONL"
    rows.append(disk)

    func timeRow(_ name: String, _ query: String, first: Bool, python: Bool = true) -> TableRow {
        var row = TableRow(name: name, kind: .time)
        for system in measured {
            if let measurement = runs[system]?.measurements[query] {
                if first {
                    if let value = measurement.first { row.values[system] = value } else { row.texts[system] = "(none)" }
                } else {
                    row.values[system] = measurement.total
                }
            }
        }
        if python, let measurement = runs[.python]?.measurements[query] { row.values[.python] = measurement.total }
        return row
    }
    func count(_ query: String) -> Int? { runs[.stoa]?.measurements[query]?.count }
    rows.append(timeRow("open: new reader → 1st result (narrow)", QueryName.open, first: true, python: false))
    rows.append(timeRow("   then 2nd query, same reader → 1st", QueryName.openSecond, first: true, python: false))
    let percent = { (spec: QuerySpec) -> String in
        String(format: "%.2g%%", Double((spec.until ?? 0) - (spec.since ?? 0)) / Double(setup.maxTime - setup.minTime) * 100)
    }
    for (spec, label) in [
        (specs.narrow, "narrow \(percent(specs.narrow)) window"), (specs.medium, "medium \(percent(specs.medium)) window"),
        (specs.type, "type=error, limit 100"), (specs.conversation, "one conversation"),
    ] {
        rows.append(timeRow("\(label): 1st result", spec.name, first: true))
        rows.append(timeRow("   all \(count(spec.name).map(String.init) ?? "?") records", spec.name, first: false))
    }
    rows.append(timeRow("full scan, (time, seq) order: 1st", QueryName.full, first: true))
    var all = timeRow("   all \(count(QueryName.full).map(String.init) ?? "?") records", QueryName.full, first: false)
    all.values[.floor] = floor.wc
    all.texts[.floor] = formatSeconds(floor.wc) + " (wc)"
    rows.append(all)
    var throughput = TableRow(name: "full scan throughput (JSONL bytes)", kind: .rate(unit: "GB/s"))
    for system: System in [.stoa, .sqliteSingle, .sqliteBest, .python] {
        if let total = runs[system]?.measurements[QueryName.full]?.total {
            throughput.values[system] = Double(floor.bytes) / total / 1e9
        }
    }
    throughput.values[.floor] = Double(floor.bytes) / floor.cat / 1e9
    throughput.texts[.floor] = String(format: "%.2f GB/s (cat)", Double(floor.bytes) / floor.cat / 1e9)
    rows.append(throughput)
    var rssQueries = TableRow(name: "peak RSS, process running the queries", kind: .bytes)
    var rssScan = TableRow(name: "peak RSS, process running the full scan", kind: .bytes)
    for system in System.allCases {
        if let kib = runs[system]?.rssQueriesKiB { rssQueries.values[system] = Double(kib) * 1024 }
        if let kib = runs[system]?.rssScanKiB { rssScan.values[system] = Double(kib) * 1024 }
    }
    rows.append(rssQueries)
    rows.append(rssScan)

    // Whole processes: the stoa CLI's in the Stoa column; python3 + sqlite3 in SQLite best's.
    for (stoaName, sqliteName, label) in [
        (ProcessName.query, ProcessName.sqliteQuery, "process `stoa query` narrow, exec → exit"),
        (ProcessName.stats, nil, "process `stoa stats`, exec → exit"),
        (ProcessName.tail, nil, "process `stoa tail -n 20`, exec → exit"),
        (ProcessName.version, ProcessName.pythonFloor, "process floor: `stoa --version`"),
    ] {
        let results = [(System.stoa, processes[stoaName]), (System.sqliteBest, sqliteName.flatMap { processes[$0] })]
        guard results.contains(where: { $0.1 != nil }) else { continue }
        var wall = TableRow(name: label, kind: .time)
        var rss = TableRow(name: "   its max RSS", kind: .bytes)
        for case let (system, result?) in results {
            if result.problem != nil {
                wall.texts[system] = "(wrong output)"
                rss.texts[system] = "—"
            } else {
                wall.values[system] = result.median
                rss.values[system] = Double(result.maxRSSKiB) * 1024
            }
        }
        rows.append(wall)
        rows.append(rss)
    }

    // The table.
    let nameWidth = max(40, rows.map(\.name.count).max() ?? 0)
    let valueWidth = 16
    let ratioWidth = 9
    print("Stoa: \(setup.records) records; active segment " + activeSegmentDescription(layout)
        + (setup.fullActive == true ? " (--full-active)" : ""))
    var header = pad("measurement", nameWidth)
    for system in System.allCases { header += " " + pad(system.title, valueWidth, right: true) }
    header += "  " + ["/SQL-1", "/SQL-b", "/Python", "/floor"].map { pad($0, ratioWidth, right: true) }.joined(separator: " ")
    print(header)
    print(String(repeating: "-", count: header.count))
    for row in rows {
        var line = pad(row.name, nameWidth)
        for system in System.allCases { line += " " + pad(row.cell(system), valueWidth, right: true) }
        line += "  " + [System.sqliteSingle, .sqliteBest, .python, .floor].map { pad(row.ratio($0), ratioWidth, right: true) }
            .joined(separator: " ")
        print(line)
    }
    print("")
    print("""
        ratio columns: how many times better Stoa is than that column (time, bytes, RSS: theirs / Stoa's; \
        rates: Stoa's / theirs); below 1× that column is better.
        """)

    // Agreement.
    print("")
    print("results (count, seq digest) — every system must agree:")
    var mismatches: [String] = []
    for name in [QueryName.open, QueryName.narrow, QueryName.medium, QueryName.type, QueryName.conversation,
                 QueryName.full] {
        var line = "  " + pad(name, 13)
        guard let reference = runs[.stoa]?.measurements[name] else { continue }
        for system in [System.stoa, .sqliteSingle, .sqliteBest, .python] {
            guard let measurement = runs[system]?.measurements[name] else { continue }
            let same = measurement.count == reference.count && measurement.hash == reference.hash
                && measurement.bytes == reference.bytes && measurement.fieldBytes == reference.fieldBytes
            line += "  \(system.title): \(measurement.count)" + (same ? "" : " ≠")
            if let unstable = measurement.unstable { mismatches.append("\(system.title) `\(name)`: \(unstable)") }
            if !same {
                var detail = "\(system.title) `\(name)`: \(measurement.count) records, \(measurement.bytes) bytes, "
                    + "\(measurement.fieldBytes) bytes of type+conversation, digest \(String(measurement.hash, radix: 16)) "
                    + "— Stoa: \(reference.count) records, \(reference.bytes) bytes, \(reference.fieldBytes) bytes of "
                    + "type+conversation, digest \(String(reference.hash, radix: 16))"
                if let theirs = measurement.seqs, let ours = reference.seqs {
                    let missing = Set(theirs).subtracting(ours).sorted()
                    let extra = Set(ours).subtracting(theirs).sorted()
                    detail += "; seqs only in \(system.title): \(missing.prefix(10)), only in Stoa: \(extra.prefix(10))"
                    if missing.isEmpty && extra.isEmpty,
                       let position = zip(theirs, ours).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                        detail += "; same seqs, order differs at position \(position): \(system.title) "
                            + "\(Array(theirs[position..<min(position + 5, theirs.count)])), Stoa "
                            + "\(Array(ours[position..<min(position + 5, ours.count)]))"
                    }
                }
                mismatches.append(detail)
            }
        }
        print(line)
    }
    if floor.lines != (runs[.stoa]?.measurements[QueryName.full]?.count ?? -1) {
        mismatches.append("wc -l counted \(floor.lines) lines; Stoa's full scan gave \(count(QueryName.full) ?? -1)")
    } else {
        print("  wc -l: \(floor.lines) lines")
    }
    if let stats = stoaStats, stats.records != setup.records {
        mismatches.append("Stoa's stats count \(stats.records) records; \(setup.records) were written")
    }
    let processOrder = [
        ProcessName.query, ProcessName.sqliteQuery, ProcessName.stats, ProcessName.tail, ProcessName.version,
        ProcessName.pythonFloor,
    ]
    var processesChecked: [String] = []
    for name in processOrder {
        guard let result = processes[name] else { continue }
        if let problem = result.problem {
            mismatches.append("process `\(name)` (\(result.arguments.joined(separator: " ").prefix(200))): \(problem)")
        } else {
            processesChecked.append(name)
        }
    }
    if !processesChecked.isEmpty {
        print("  processes, output checked on every run (query: the narrow answer's lines and bytes; stats: its record "
            + "count; tail: 20 JSON lines): " + processesChecked.joined(separator: ", "))
    }
    if mismatches.isEmpty {
        print("  all agree (counts, line bytes, type + conversation bytes, seqs in order)")
    } else {
        let banner = "!!! MISMATCH: systems disagree !!!"
        print("")
        print(banner)
        for mismatch in mismatches { print("  " + mismatch) }
        print(banner)
        printError(banner)
        for mismatch in mismatches { printError("  " + mismatch) }
    }

    // What each query was, and which plan SQLite chose.
    print("")
    print("queries (windows are [since, until), µs UTC; every result sorted by (time, seq)):")
    let describe = { (spec: QuerySpec) -> String in
        var parts: [String] = []
        if let since = spec.since { parts.append("since \(Timestamp(microsecondsSinceEpoch: since).description)") }
        if let until = spec.until { parts.append("until \(Timestamp(microsecondsSinceEpoch: until).description)") }
        if let type = spec.type { parts.append("type \(type)") }
        if let conversation = spec.conversation { parts.append("conversation \(conversation)") }
        if let limit = spec.limit { parts.append("limit \(limit)") }
        return parts.isEmpty ? "everything" : parts.joined(separator: ", ")
    }
    for spec in [specs.narrow, specs.second, specs.medium, specs.type, specs.conversation] {
        print("  \(pad(spec.name, 13)) \(describe(spec))")
        for system in [System.sqliteSingle, .sqliteBest] {
            if let plan = runs[system]?.measurements[spec.name]?.plan { print("      \(pad(system.title, 13)) plan: \(plan)") }
        }
    }
    for system in [System.sqliteSingle, .sqliteBest] {
        if let plan = runs[system]?.measurements[QueryName.full]?.plan {
            print("  \(pad("full", 13)) \(system.title) plan: \(plan)")
        }
    }
    print("  schemas: SQLite 1-col = \(SQLiteSchema.single.indexSummary); SQLite best = \(SQLiteSchema.best.indexSummary)")
    var repetitions: [String] = []
    for system in [System.stoa, .sqliteSingle, .sqliteBest] {
        let counts = [QueryName.open, QueryName.narrow, QueryName.medium, QueryName.type, QueryName.conversation, QueryName.full]
            .compactMap { name in runs[system]?.measurements[name].map { "\(name) \($0.reps)" } }
        repetitions.append("\(system.title): " + counts.joined(separator: ", "))
    }
    print("  repetitions (medians shown): " + repetitions.joined(separator: "; ") + "; Python: 1 run each; cat, wc: 5")

    // Targets.
    print("")
    print("targets (the issue's, stated for 10M records; this run has \(setup.records)):")
    func verdict(_ ok: Bool) -> String { ok ? "PASS" : "FAIL" }
    let stoa = runs[.stoa]?.measurements ?? [:]
    for name in [QueryName.narrow, QueryName.conversation] {
        guard let ours = stoa[name] else { continue }
        let first = ours.first ?? .infinity
        print("  \(pad(name, 13)) 1st result < 1 ms: \(verdict(first < 1e-3)) (\(formatSeconds(first)))")
        if let theirs = runs[.python]?.measurements[name] {
            let ratio = theirs.total / ours.total
            print("  \(pad("", 13)) ≥ 1000× the Python reader (all records): \(verdict(ratio >= 1000)) (\(formatRatio(ratio)))")
        }
        for system in [System.sqliteSingle, .sqliteBest] {
            if let theirs = runs[system]?.measurements[name] {
                let firstRatio = (theirs.first ?? .infinity) / first
                let totalRatio = theirs.total / ours.total
                print("  \(pad("", 13)) faster than \(system.title): \(verdict(firstRatio > 1 && totalRatio > 1)) "
                    + "(1st result \(formatRatio(firstRatio)), all \(formatRatio(totalRatio)))")
            }
        }
    }
    if let open = stoa[QueryName.open]?.first {
        print("  open < 100 ms (new reader → 1st result, valid .idx): \(verdict(open < 0.1)) (\(formatSeconds(open)))")
        print("  open ≤ 0.5 ms (issue 16: new reader → 1st result, narrow): \(verdict(open <= 0.5e-3)) (\(formatSeconds(open)))")
    }
    // Issue 16: whole processes.
    for name in [ProcessName.query, ProcessName.stats, ProcessName.tail] {
        guard let result = processes[name] else {
            print("  `\(name)` process ≤ 15 ms wall, ≤ 30 MB max RSS: not measured (\(stoaCLI.found ? "no result" : "no stoa binary"))")
            continue
        }
        if let problem = result.problem {
            print("  `\(name)` process ≤ 15 ms wall, ≤ 30 MB max RSS: FAIL (wrong output: \(problem))")
            continue
        }
        let rss = Double(result.maxRSSKiB) * 1024
        print("  `\(name)` process ≤ 15 ms wall, ≤ 30 MB max RSS: \(verdict(result.median <= 15e-3 && rss <= 30e6)) "
            + "(\(formatSeconds(result.median)), \(formatBytes(rss)); `stoa --version`: "
            + (processes[ProcessName.version].map { "\(formatSeconds($0.median)), \(formatBytes(Double($0.maxRSSKiB) * 1024))" } ?? "—")
            + ")")
    }
    // Issue 16: every query row against SQLite's best schema, in total time.
    if let best = runs[.sqliteBest]?.measurements {
        var ratios: [String] = []
        var all = true
        for name in [QueryName.open, QueryName.openSecond, QueryName.narrow, QueryName.medium, QueryName.type,
                     QueryName.conversation, QueryName.full] {
            guard let ours = stoa[name], let theirs = best[name] else { continue }
            let ratio = theirs.total / ours.total
            all = all && ratio >= 1
            ratios.append("\(name) \(formatRatio(ratio))")
        }
        if !ratios.isEmpty {
            print("  every query row ≥ 1.0× SQLite best in total time: \(verdict(all)) (" + ratios.joined(separator: ", ") + ")")
        }
    }
    if let end = runs[.stoa]?.memoryAtEnd["queries"] {
        let anonymous = Double(end.anonymousKiB) * 1024
        print("  queries child's anonymous memory ≤ 20 MB (RssAnon at its end): \(verdict(anonymous <= 20e6)) "
            + "(\(formatBytes(anonymous)))")
    }
    if let stats = stoaStats, stats.records > 0 {
        let perRecord = Double(stats.indexBytes) / Double(stats.records)
        print("  index memory ≤ 8 bytes/record: \(verdict(perRecord <= 8)) "
            + String(format: "(%.2f B/record: %@ for %d records in %d segments)", perRecord,
                     formatBytes(Double(stats.indexBytes)), stats.records, stats.segments))
    }
    if let total = stoa[QueryName.full]?.total {
        let rate = Double(floor.bytes) / total / 1e9
        print("  full scan ≥ 2 GB/s: \(verdict(rate >= 2)) (" + String(format: "%.2f GB/s", rate) + ")")
    }
    let lastBatch = options.batches.last!
    let stoaIngest = setup.ingests.filter { $0.system == "stoa" }.map(\.rate).max()
    if let bestSQLite = setup.ingests.filter({ $0.system != "stoa" }).max(by: { $0.rate < $1.rate }), let stoaIngest {
        print("  ingest ≥ 5× SQLite's best batched insert: \(verdict(stoaIngest >= 5 * bestSQLite.rate)) "
            + "(Stoa's best \(formatRate(stoaIngest)) rec/s vs \(formatRate(bestSQLite.rate)) rec/s, "
            + "\(bestSQLite.system) ×\(bestSQLite.batch): \(formatRatio(stoaIngest / bestSQLite.rate)))")
    }

    // How it was measured.
    print("")
    print("notes:")
    var lines: [String] = []
    let ingestTimes = setup.ingests.map {
        "\($0.system) ×\($0.batch) \(String(format: "%.2f", $0.seconds)) s (close \(String(format: "%.2f", $0.closeSeconds)) s)"
    }
    lines.append("ingest (each in its own process, timed from the first append to close): " + ingestTimes.joined(separator: ", ")
        + ". Stoa: append(contentsOf:) batches, durability .buffered (fsync at each 64 MiB seal and at close), "
        + "every line validated as JSON, .idx files written before close returns. SQLite: WAL, synchronous=NORMAL, "
        + "one prepared INSERT, BEGIN … COMMIT per batch, indexes present from the start, payloads over 1 KiB gzip'd "
        + "(zlib, one reused stream); ts/type/agent/session are taken out of each line before its transaction "
        + "starts, untimed (an application would have them at hand). Data queried: the ×\(lastBatch) copies.")
    let analyze = setup.ingests.compactMap { report in
        report.analyzeSeconds.map { "\(report.system) \(String(format: "%.1f", $0)) s" }
    }
    if !analyze.isEmpty { lines.append("SQLite ran ANALYZE after ingest (not timed): " + analyze.joined(separator: ", ") + ".") }
    if let compressed = setup.ingests.last(where: { $0.system != "stoa" })?.compressed {
        let shares = setup.ingests.filter { $0.system != "stoa" }.compactMap { report in
            report.compressSeconds.map {
                "\(report.system) ×\(report.batch) \(String(format: "%.1f", $0)) s of \(String(format: "%.1f", report.seconds)) s "
                    + "(\(formatRate(Double(report.records) / (report.seconds - $0))) rec/s without it)"
            }
        }
        lines.append("\(compressed) of \(setup.records) payloads were over 1 KiB and stored gzip'd in SQLite "
            + "(zlib default level 6; gunzipped when read). Time in gzip at ingest: " + shares.joined(separator: ", ") + ".")
    }
    lines.append("each system runs in child processes of its own (queries in one, full scan in another); peak RSS is "
        + "the child's ru_maxrss, which counts pages of mapped files it touched (Stoa maps sealed segments).")
    var atEnd: [String] = []
    for system in [System.stoa, .sqliteSingle, .sqliteBest] {
        for label in ["queries", "full scan"] {
            if let end = runs[system]?.memoryAtEnd[label] {
                atEnd.append("\(system.title) \(label) \(formatBytes(Double(end.anonymousKiB) * 1024)) anon + "
                    + "\(formatBytes(Double(end.fileKiB) * 1024)) file")
            }
        }
    }
    lines.append("RSS of each child as it ended (file = mapped files and the binary): " + atEnd.joined(separator: "; ") + ".")
    if let last = segmentFiles(layout).last {
        let hasIndex = FileManager.default.fileExists(atPath: last.replacingOccurrences(of: ".jsonl", with: ".idx"))
        lines.append("Stoa's last segment \((last as NSString).lastPathComponent), \(formatBytes(Double(fileSize(last)))), "
            + (hasIndex ? "has an .idx" : "is the active one: no .idx, so every new reader indexes it (part of \"open\")")
            + "; \(segmentFiles(layout, suffix: ".idx").count) .idx files for \(segmentFiles(layout).count) segments.")
    }
    lines.append("every system reads a warm page cache: its files are read once (cat) before it runs. "
        + "Stoa and SQLite: medians of repeated queries; \"open\" makes a new StoreReader / sqlite3_open_v2 + prepare "
        + "each time; the other rows reuse one reader / connection and its prepared statements. Each record is "
        + "handed over the same way: seq, time, type and conversation as String, the payload read in place (Stoa: RecordCursor.forEach; SQLite: sqlite3_column_blob, gunzipping the payloads it stored compressed).")
    lines.append("Python (\(pythonVersion())): one run per query of Tools/reference_reader.py (json.loads every line, "
        + "parse ts, filter, sort); its 1st result is its total. cat: `cat FILES > /dev/null`; wc: `wc -l FILES`.")
    lines.append("Stoa's full scan: \(count(QueryName.full) ?? 0) records, GB/s counts the \(formatBytes(Double(floor.bytes))) "
        + "of JSONL for every column.")
    lines.append("cat: \(formatSeconds(floor.cat)), wc -l: \(formatSeconds(floor.wc)) (medians of 5).")
    if processes.isEmpty {
        lines.append("no process rows: \(stoaCLI.description).")
    } else {
        let runsDone = processes.values.map(\.runs).max() ?? 0
        var text = "process rows: whole processes from posix_spawn to the return of wait4, median of \(runsDone) runs "
            + "after one untimed run (the processes take turns, bound to the CPU the queries use; warm page cache); "
            + "max RSS is that of one more run under /usr/bin/time -f %M (wait4's ru_maxrss of a spawned child counts "
            + "this benchmark's own RSS, recorded at exec). stdout goes to a file on tmpfs, read after the "
            + "process exits. "
            + (stoaCLI.found
                ? "Stoa: \(stoaCLI.path) with the store's directory; `stoa query` gets the narrow window "
                    + "(the `open` row's) as RFC 3339 --since/--until."
                : "Stoa: none, \(stoaCLI.description).")
        if let python = processes[ProcessName.sqliteQuery]?.arguments.first {
            text += " SQLite best: \(python) (python3's interpreter, found by running it) -c with the sqlite3 module, the same query on \(SQLiteSchema.best.rawValue).db "
                + "(read-only, ORDER BY time, seq), each line written to stdout (gunzipped when stored so); its floor "
                + "row is `python3 -c pass`, Python's own start-up."
        }
        lines.append(text)
    }
    lines.append("load average at the end: \(loadAverage()).")
    lines += notes
    for line in lines { print("  - " + line) }
}

func pythonVersion() -> String {
    guard let run = try? runChild(["python3", "--version"]) else { return "python3" }
    return String(decoding: run.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The commit of the Stoa sources next to this tool, and whether they were
/// modified (as they are now; the binary was built from them at build time).
func sourceVersion() -> String {
    let repository = repositoryRoot().path
    guard let head = try? runChild(["git", "-C", repository, "rev-parse", "--short", "HEAD"]), head.status == 0 else {
        return "\(repository) (not a git checkout)"
    }
    let commit = String(decoding: head.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    let status = (try? runChild(["git", "-C", repository, "status", "--porcelain", "--", "Sources", "Package.swift"]))
        .map { String(decoding: $0.output, as: UTF8.self).split(separator: "\n").count } ?? 0
    return "\(repository) at \(commit)" + (status > 0 ? ", \(status) files changed under Sources/ since" : ", clean")
}

/// The 1, 5 and 15 minute load averages, from /proc/loadavg.
func loadAverage() -> String {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "unknown" }
    return text.split(separator: " ").prefix(3).joined(separator: " ") + " (1, 5, 15 min)"
}
