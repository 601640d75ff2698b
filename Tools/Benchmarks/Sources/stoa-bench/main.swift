// stoa-bench: what Stoa's write path costs, next to the floor of writing the
// same bytes to a plain file.
//
//     stoa-bench append [--records N] [--dir D] [--seconds S] [--threads T] [--rounds R] [--repeat K]
//     stoa-bench sample [--records N]        # the generated events, as JSONL
//     stoa-bench query [--records N] [--dir D] [--keep] [--skip-python]   # see QueryBench.swift
//     stoa-bench tier [--rate MB/s] [--seconds S] [--dir D]               # see TierBench.swift
//     stoa-bench verify DIR [--segments N] [--repeat K]                    # see VerifyBench.swift
//     stoa-bench log [--records N] [--repeat K] [--dir D]                  # see LogHandlerBench.swift
//
// Timing never gates anything: this is for people reading the numbers.

import Foundation
import Stoa
import StoaWorkload
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Options

struct Options {
    var command = ""
    var records = 500_000
    var directory: String?
    var seconds = 2.0
    var threads = 16
    var seed: UInt64 = 42
    var rounds = 8
    var repeats = 3
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
}

func usage(_ message: String? = nil) -> Never {
    if let message { printError("stoa-bench: \(message)") }
    printError(
        """
        usage: stoa-bench append [--records N] [--dir D] [--seconds S] [--threads T] [--rounds R] [--repeat K] [--seed X]
               stoa-bench sample [--records N] [--seed X]
               stoa-bench query [--records N] [--dir D] [--keep] [--skip-python] (--help for more)
               stoa-bench tier [--rate MB/s] [--seconds S] [--dir D] [--seed X]
               stoa-bench verify DIR [--segments N] [--repeat K] (--help for more)
               stoa-bench log [--records N] [--repeat K] [--dir D]

          append   measures, in one run: the floor (a plain file, 64 KiB buffer, write(2)),
                   Stoa's append(contentsOf:) in batches of 1000 and append(json:) with
                   durability none, and durability always with 1 and T appenders.
                   --records  events for the floor and the `none` runs (default 500000)
                   --repeat   runs of each `none` scenario and of the floor, the best kept (default 3)
                   --dir      where to make the temporary stores (default: the system temp dir);
                              a subdirectory is made and removed afterwards
                   --seconds  length of each durable run (default 2): the fdatasync floor,
                              `always` with 1 appender and with T appenders take turns
                              in R rounds (default 8), so that they see the same disk
                   --threads  concurrent appenders of the second `always` run (default 16)
          sample   prints the generated events as JSONL on stdout (default 10)
        """)
    exit(64)
}

func parseOptions() -> Options {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()
    guard let command = arguments.popFirst(), command == "append" || command == "sample" else { usage() }
    options.command = command
    if command == "sample" { options.records = 10 }
    while let argument = arguments.popFirst() {
        func value() -> String {
            guard let value = arguments.popFirst() else { usage("\(argument) needs a value") }
            return value
        }
        func number<N: LosslessStringConvertible>(_: N.Type) -> N {
            let text = value().replacingOccurrences(of: "_", with: "")
            guard let number = N(text) else { usage("\(argument): not a number: \(text)") }
            return number
        }
        switch argument {
        case "--records": options.records = number(Int.self)
        case "--dir": options.directory = value()
        case "--seconds": options.seconds = number(Double.self)
        case "--threads": options.threads = number(Int.self)
        case "--seed": options.seed = number(UInt64.self)
        case "--rounds": options.rounds = number(Int.self)
        case "--repeat": options.repeats = number(Int.self)
        case "-h", "--help": usage()
        default: usage("unknown option \(argument)")
        }
    }
    if options.records < 1 || options.threads < 1 || options.seconds <= 0 || options.rounds < 1 || options.repeats < 1 { usage("values must be positive") }
    return options
}

// MARK: - The workload

/// Pre-encoded events: JSONL bytes back to back, and where each line ends
/// (just after its newline).
struct Workload: Sendable {
    let bytes: [UInt8]
    let lineEnds: [Int]

    init(records: Int, seed: UInt64) {
        var generator = EventGenerator(seed: seed, start: Timestamp(microsecondsSinceEpoch: 1_767_225_600_000_000))  // 2026-01-01
        var bytes: [UInt8] = []
        bytes.reserveCapacity(records * 520)
        var lineEnds: [Int] = []
        lineEnds.reserveCapacity(records)
        for _ in 0..<records {
            generator.nextLine(into: &bytes)
            lineEnds.append(bytes.count)
        }
        self.bytes = bytes
        self.lineEnds = lineEnds
    }

    var count: Int { lineEnds.count }

    /// Record `index` without its newline.
    func record(_ index: Int) -> ArraySlice<UInt8> {
        let start = index == 0 ? 0 : lineEnds[index - 1]
        return bytes[start..<(lineEnds[index] - 1)]
    }

    /// Record `index` with its newline.
    func line(_ index: Int) -> ArraySlice<UInt8> {
        let start = index == 0 ? 0 : lineEnds[index - 1]
        return bytes[start..<lineEnds[index]]
    }
}

// MARK: - Measuring

struct Row {
    var name: String
    var records: Int
    var seconds: Double
    var bytes: Int?
    var syncs: Int?
    var note = ""
    var rate: Double { Double(records) / seconds }
}

func elapsed(since start: ContinuousClock.Instant) -> Double {
    let duration = ContinuousClock.now - start
    return Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
}

/// The floor: the same lines copied into a 64 KiB buffer, written with
/// write(2) to a plain file. No validation, no index, no fsync.
func measureFloor(_ workload: Workload, path: String) throws -> Row {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
    guard fd >= 0 else { throw BenchError(description: "open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let capacity = 64 << 10
    var buffer: [UInt8] = []
    buffer.reserveCapacity(capacity)
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
        buffer.removeAll(keepingCapacity: true)
    }
    let start = ContinuousClock.now
    for index in 0..<workload.count {
        let line = workload.line(index)
        if buffer.count + line.count > capacity { try flush() }
        buffer.append(contentsOf: line)
    }
    try flush()
    let seconds = elapsed(since: start)
    return Row(name: "floor: 64 KiB buffer + write(2), plain file", records: workload.count, seconds: seconds,
               bytes: workload.bytes.count)
}

func openStore(_ path: String, durability: Durability) throws -> Store {
    var configuration = StoreConfiguration()
    configuration.durability = durability
    return try Store(at: path, creating: configuration)
}

/// Stoa, `append(contentsOf:)` in batches, durability `none`.
func measureBatches(_ workload: Workload, path: String, batch: Int) throws -> Row {
    let store = try openStore(path, durability: .buffered)
    let start = ContinuousClock.now
    var index = 0
    while index < workload.count {
        let end = min(index + batch, workload.count)
        try store.append(contentsOf: (index..<end).lazy.map { workload.record($0) }, durability: .buffered)
        index = end
    }
    let seconds = elapsed(since: start)
    let stats = store.writeStats
    try store.close()
    return Row(name: "stoa append(contentsOf:) ×\(batch), none", records: workload.count, seconds: seconds,
               bytes: workload.bytes.count, note: "\(stats.sealedSinceOpen) segments sealed (fsync each)")
}

/// Stoa, one `append(json:)` per record, durability `none`.
func measureSingles(_ workload: Workload, path: String) throws -> Row {
    let store = try openStore(path, durability: .buffered)
    let start = ContinuousClock.now
    for index in 0..<workload.count {
        try store.append(json: workload.record(index), durability: .buffered)
    }
    let seconds = elapsed(since: start)
    let stats = store.writeStats
    try store.close()
    return Row(name: "stoa append(json:), none", records: workload.count, seconds: seconds,
               bytes: workload.bytes.count, note: "\(stats.sealedSinceOpen) segments sealed (fsync each)")
}

/// A durable append for one appender thread: appends record `index` and
/// returns when it is on disk.
typealias DurableAppend = @Sendable (_ index: Int) throws -> Void

/// What the appender threads of one slice share.
final class SliceTotals: Sendable {
    let totals = Mutex<(records: Int, bytes: Int, error: String?)>((0, 0, nil))
    /// When the appenders stop; set before they start.
    let deadline = Mutex<ContinuousClock.Instant>(.now)
}

/// Runs `threads` appenders at once for `seconds`, each starting at its own
/// place in the workload; returns what they appended and how long it took
/// (until the last one returned).
func runSlice(
    _ workload: Workload, threads: Int, seconds: Double, append: @escaping DurableAppend
) throws -> (records: Int, bytes: Int, seconds: Double) {
    let shared = SliceTotals()
    let ready = DispatchSemaphore(value: 0)
    let go = DispatchSemaphore(value: 0)
    let done = DispatchGroup()
    for thread in 0..<threads {
        done.enter()
        let worker = Thread {
            var index = (thread * workload.count / threads) % workload.count
            var records = 0
            var bytes = 0
            var failure: String?
            ready.signal()
            go.wait()
            let end = shared.deadline.withLock { $0 }
            while ContinuousClock.now < end {
                do {
                    try append(index)
                } catch {
                    failure = "\(error)"
                    break
                }
                records += 1
                bytes += workload.line(index).count
                index += 1
                if index == workload.count { index = 0 }
            }
            shared.totals.withLock {
                $0.records += records
                $0.bytes += bytes
                if $0.error == nil { $0.error = failure }
            }
            done.leave()
        }
        worker.stackSize = 1 << 20
        worker.start()
    }
    for _ in 0..<threads { ready.wait() }
    let start = ContinuousClock.now
    shared.deadline.withLock { $0 = start + .microseconds(Int64(seconds * 1e6)) }
    for _ in 0..<threads { go.signal() }
    done.wait()
    let measured = elapsed(since: start)
    let total = shared.totals.withLock { $0 }
    if let error = total.error { throw BenchError(description: "an appender failed: \(error)") }
    return (total.records, total.bytes, measured)
}

/// The durable runs: the floor (write(2) + fdatasync per line, one thread),
/// Stoa `always` with one appender, and with `threads` appenders.
///
/// fsync latency on a shared or virtual disk drifts by 10× or more within
/// seconds, so the three runs take turns in short slices (`rounds` of each)
/// and see the same disk; each round also gives its own many-vs-one ratio.
func measureDurable(
    _ workload: Workload, root: String, threads: Int, seconds: Double, rounds: Int
) throws -> (rows: [Row], roundRatios: [Double]) {
    let floorPath = (root as NSString).appendingPathComponent("floor-sync.jsonl")
    let fd = open(floorPath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o640)
    guard fd >= 0 else { throw BenchError(description: "open \(floorPath): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let floorAppend: DurableAppend = { index in
        let line = workload.line(index)
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        guard written == line.count else {
            throw BenchError(description: "write \(floorPath): \(written < 0 ? String(cString: strerror(errno)) : "short")")
        }
        guard fdatasync(fd) == 0 else {
            throw BenchError(description: "fdatasync \(floorPath): \(String(cString: strerror(errno)))")
        }
    }
    let one = try openStore((root as NSString).appendingPathComponent("always-1"), durability: .always)
    let many = try openStore((root as NSString).appendingPathComponent("always-\(threads)"), durability: .always)
    func stoaAppend(_ store: Store) -> DurableAppend {
        { index in try store.append(json: workload.record(index), durability: .always) }
    }

    var rows = [
        Row(name: "floor: write(2) + fdatasync per line", records: 0, seconds: 0, bytes: 0, syncs: 0),
        Row(name: "stoa append(json:), always, 1 appender", records: 0, seconds: 0, bytes: 0),
        Row(name: "stoa append(json:), always, \(threads) appenders", records: 0, seconds: 0, bytes: 0),
    ]
    let slice = seconds / Double(rounds)
    var roundRatios: [Double] = []
    for _ in 0..<rounds {
        var rates: [Double] = []
        for (row, threads, append) in [(0, 1, floorAppend), (1, 1, stoaAppend(one)), (2, threads, stoaAppend(many))] {
            let result = try runSlice(workload, threads: threads, seconds: slice, append: append)
            rows[row].records += result.records
            rows[row].bytes! += result.bytes
            rows[row].seconds += result.seconds
            rates.append(Double(result.records) / result.seconds)
        }
        roundRatios.append(rates[2] / rates[1])
    }
    rows[0].syncs = rows[0].records
    rows[1].syncs = one.writeStats.syncs
    rows[2].syncs = many.writeStats.syncs
    rows[1].note = String(format: "%.2f× its floor", rows[1].rate / rows[0].rate)
    rows[2].note = String(format: "%.2f× the floor", rows[2].rate / rows[0].rate)
    rows[0].note = String(format: "fdatasync ≈ %.0f µs", 1e6 / rows[0].rate)
    try one.close()
    try many.close()
    return (rows, roundRatios)
}

// MARK: - Printing

func machineDescription(directory: String) -> String {
    var lines: [String] = []
    let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
    var cpu = "unknown CPU"
    if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
       let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
       let colon = line.firstIndex(of: ":") {
        cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let memory = Double(sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE))) / Double(1 << 30)
    var name = utsname()
    uname(&name)
    let kernel = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    lines.append("machine:   nproc \(cores), \(cpu), \(String(format: "%.0f", memory)) GiB, Linux \(kernel)")
    lines.append("directory: \(directory) (\(fileSystemName(directory)))")
    lines.append("command:   \(CommandLine.arguments.joined(separator: " "))")
    return lines.joined(separator: "\n")
}

/// The type of the file system that holds `path`, from /proc/mounts (the
/// mount point that is the longest prefix of the path).
func fileSystemName(_ path: String) -> String {
    guard let mounts = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) else { return "unknown" }
    var best = (point: "", type: "unknown")
    for line in mounts.split(separator: "\n") {
        let fields = line.split(separator: " ")
        guard fields.count >= 3 else { continue }
        let point = String(fields[1])
        let inside = path == point || path.hasPrefix(point == "/" ? "/" : point + "/")
        if inside && point.count >= best.point.count { best = (point, String(fields[2])) }
    }
    return best.type == "tmpfs" ? "tmpfs: fsync costs nothing here" : best.type
}

func formatRate(_ value: Double) -> String {
    switch value {
    case 1e6...: String(format: "%.2f M", value / 1e6)
    case 1e3...: String(format: "%.1f k", value / 1e3)
    default: String(format: "%.0f", value)
    }
}

func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let count = text.count
    guard count < width else { return text }
    let fill = String(repeating: " ", count: width - count)
    return right ? fill + text : text + fill
}

func printTable(_ rows: [(row: Row, floor: Row)]) {
    let header = [
        pad("scenario", 46), pad("records", 9, right: true), pad("seconds", 8, right: true),
        pad("records/s", 11, right: true), pad("MB/s", 8, right: true), pad("vs floor", 9, right: true),
        pad("syncs", 7, right: true), pad("rec/sync", 9, right: true), "  notes",
    ].joined(separator: " ")
    print(header)
    print(String(repeating: "-", count: header.count + 20))
    for (row, floor) in rows {
        let megabytes = row.bytes.map { String(format: "%.1f", Double($0) / 1e6 / row.seconds) } ?? ""
        let ratio = String(format: "%.3f", row.rate / floor.rate)
        let syncs = row.syncs.map(String.init) ?? ""
        let perSync = row.syncs.map { $0 > 0 ? String(format: "%.1f", Double(row.records) / Double($0)) : "" } ?? ""
        print([
            pad(row.name, 46), pad(String(row.records), 9, right: true),
            pad(String(format: "%.3f", row.seconds), 8, right: true), pad(formatRate(row.rate), 11, right: true),
            pad(megabytes, 8, right: true), pad(ratio, 9, right: true), pad(syncs, 7, right: true),
            pad(perSync, 9, right: true), "  " + row.note,
        ].joined(separator: " "))
    }
}

// MARK: - Main

func runAppend(_ options: Options) throws {
    let parent = options.directory ?? NSTemporaryDirectory()
    let root = (parent as NSString).appendingPathComponent("stoa-bench-\(getpid())")
    let files = FileManager.default
    try files.createDirectory(atPath: root, withIntermediateDirectories: true)
    defer { try? files.removeItem(atPath: root) }

    print(machineDescription(directory: root))
    let generationStart = ContinuousClock.now
    let workload = Workload(records: options.records, seed: options.seed)
    let generation = elapsed(since: generationStart)
    print(
        "workload:  \(workload.count) events from EventGenerator(seed: \(options.seed)), "
            + String(format: "%.1f MB, mean %.0f B/line, ", Double(workload.bytes.count) / 1e6,
                     Double(workload.bytes.count) / Double(workload.count))
            + String(format: "generated in %.2f s", generation)
            + " (\(formatRate(Double(workload.count) / generation)) events/s)")
    print("")

    // One scenario at a time, each run in its own directory, removed when
    // done; the best of `repeats` runs is kept (others on the machine only
    // ever make a run slower).
    func scenario(_ name: String, _ body: (String) throws -> Row) throws -> Row {
        var best: Row?
        for run in 1...options.repeats {
            let path = (root as NSString).appendingPathComponent("\(name)-\(run)")
            defer { try? files.removeItem(atPath: path) }
            let row = try body(path)
            if best == nil || row.seconds < best!.seconds { best = row }
        }
        best!.note = "best of \(options.repeats)" + (best!.note.isEmpty ? "" : "; " + best!.note)
        printError("  done: \(best!.name)")
        return best!
    }
    var rows: [Row] = []
    let floor = try scenario("floor") { try measureFloor(workload, path: $0) }
    rows.append(floor)
    rows.append(try scenario("batches") { try measureBatches(workload, path: $0, batch: 1000) })
    rows.append(try scenario("singles") { try measureSingles(workload, path: $0) })
    let durablePath = (root as NSString).appendingPathComponent("durable")
    try files.createDirectory(atPath: durablePath, withIntermediateDirectories: true)
    let (durable, ratios) = try measureDurable(
        workload, root: durablePath, threads: options.threads, seconds: options.seconds, rounds: options.rounds)
    try? files.removeItem(atPath: durablePath)
    printError("  done: durable runs")

    printTable(rows.map { ($0, floor) } + durable.map { ($0, durable[0]) })
    print("")
    let sorted = ratios.sorted()
    print(String(
        format: "always, %d appenders vs 1: %.1f× the records/s (target ≥ 10×); per round: median %.1f×, range %.1f× to %.1f×",
        options.threads, durable[2].rate / durable[1].rate, sorted[sorted.count / 2], sorted.first!, sorted.last!))
    print("""
        notes: "vs floor" compares with the floor above each group. The write floor copies the same \
        pre-encoded lines (newlines included) with no validation, no index and no fsync; the `none` rows \
        time the appends only (close, which fsyncs, is not timed) but include the fsync of each sealed \
        64 MiB segment. The durable rows take turns in \(options.rounds) rounds of \
        \(String(format: "%.2f", options.seconds / Double(options.rounds))) s each, so that they see the \
        same disk. MB/s counts JSONL bytes.
        """)
}

func runSample(_ options: Options) {
    var generator = EventGenerator(seed: options.seed, start: Timestamp(microsecondsSinceEpoch: 1_767_225_600_000_000))
    var buffer: [UInt8] = []
    for _ in 0..<options.records {
        generator.nextLine(into: &buffer)
        if buffer.count >= 1 << 16 {
            FileHandle.standardOutput.write(Data(buffer))
            buffer.removeAll(keepingCapacity: true)
        }
    }
    FileHandle.standardOutput.write(Data(buffer))
}

/// Runs a subcommand and exits: 0 when it returns, 1 with its error on stderr.
func runThenExit(_ body: () throws -> Void) -> Never {
    do {
        try body()
        exit(0)
    } catch {
        printError("stoa-bench: \(error)")
        exit(1)
    }
}

// `query`, `tier`, `verify` and the hidden subcommands of query's children have their own options.
let leadingArgument = CommandLine.arguments.dropFirst().first ?? ""
let rest = Array(CommandLine.arguments.dropFirst(2))
switch leadingArgument {
case "tier": runThenExit { try runTierBench(parseTierOptions(rest)) }
case "verify": runThenExit { try runVerifyBench(parseVerifyOptions(rest)) }
case "query": runThenExit { try runQueryBench(parseQueryOptions(rest)) }
case "log": runThenExit { try runLogHandlerBench(parseLogHandlerOptions(rest)) }
case _ where leadingArgument.hasPrefix("_"): runThenExit { try runHiddenCommand(Array(CommandLine.arguments.dropFirst())) }
default: break
}

let options = parseOptions()
runThenExit {
    switch options.command {
    case "append": try runAppend(options)
    default: runSample(options)
    }
}
