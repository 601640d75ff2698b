// stoa-bench verify: how fast `stoa verify` reads a store, next to the floor
// of reading the same bytes (what `cat` does) and of hashing them
// (`sha256sum`, and `openssl dgst -sha256` when it is installed).
//
//     stoa-bench verify DIR [--segments N] [--repeat K]
//
// DIR is only read. With --segments, the first N segments (and their .idx)
// are copied to a temporary store first, and that copy is measured: a
// subset of a large store, in less time. Every measurement is run K times
// (default 3) and the median is shown; the first run of each also warms the
// page cache, so the numbers are of data in memory, not of the disk.

import Foundation
import Stoa

#if canImport(Glibc)
import Glibc
#endif

struct VerifyBenchOptions {
    var directory = ""
    var segments: Int?
    var repeats = 3
}

func parseVerifyOptions(_ arguments: [String]) -> VerifyBenchOptions {
    var options = VerifyBenchOptions()
    var rest = arguments[...]
    func verifyUsage(_ message: String? = nil) -> Never {
        if let message { printError("stoa-bench: \(message)") }
        printError(
            """
            usage: stoa-bench verify DIR [--segments N] [--repeat K]

              Times `stoa verify` (StoreReader.verify()) on the store DIR, next to reading
              the same segment files (cat) and hashing them (sha256sum, openssl dgst -sha256).
              --segments  measure a copy of the first N segments only (DIR is never written)
              --repeat    runs of each measurement, the median shown (default 3)
            """)
        exit(64)
    }
    while let argument = rest.popFirst() {
        func number() -> Int {
            guard let text = rest.popFirst(), let value = Int(text), value > 0 else { verifyUsage("\(argument) needs a positive number") }
            return value
        }
        switch argument {
        case "--segments": options.segments = number()
        case "--repeat": options.repeats = number()
        case "-h", "--help": verifyUsage()
        default:
            guard options.directory.isEmpty, !argument.hasPrefix("-") else { verifyUsage("unknown argument \(argument)") }
            options.directory = argument
        }
    }
    if options.directory.isEmpty { verifyUsage("a store directory is needed") }
    return options
}

/// Wall and CPU time of `body`, in seconds (CPU: the whole process, all threads).
private func timed(_ body: () throws -> Void) rethrows -> (wall: Double, cpu: Double) {
    func cpuNow() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
    let cpu = cpuNow()
    let start = ContinuousClock.now
    try body()
    return (elapsed(since: start), cpuNow() - cpu)
}

/// Wall and CPU (user + system) time of a child process.
private func timedCommand(_ executable: String, _ arguments: [String]) throws -> (wall: Double, cpu: Double) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    let start = ContinuousClock.now
    var before = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &before)
    try process.run()
    process.waitUntilExit()
    let wall = elapsed(since: start)
    var after = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &after)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    let cpu = seconds(after.ru_utime) - seconds(before.ru_utime) + seconds(after.ru_stime) - seconds(before.ru_stime)
    guard process.terminationStatus == 0 else {
        throw BenchError(description: "\(executable) exited with \(process.terminationStatus)")
    }
    return (wall, cpu)
}

/// Reads every file with 1 MiB reads, as `cat FILES > /dev/null` does.
private func readAll(_ paths: [String]) throws -> Int {
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    var total = 0
    for path in paths {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw BenchError(description: "cannot open \(path)") }
        defer { close(fd) }
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            total += count
        }
    }
    return total
}

private func which(_ name: String) -> String? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(directory)/\(name)"
        if access(path, X_OK) == 0 { return path }
    }
    return nil
}

func runVerifyBench(_ options: VerifyBenchOptions) throws {
    let fileManager = FileManager.default
    var store = options.directory
    var copy: String?
    defer { if let copy { try? fileManager.removeItem(atPath: copy) } }
    let source = (options.directory as NSString).appendingPathComponent("segments")
    if let count = options.segments {
        // A copy of the first segments: the measured store is never the one given.
        let target = (NSTemporaryDirectory() as NSString).appendingPathComponent("stoa-bench-verify-\(getpid())")
        let segments = (target as NSString).appendingPathComponent("segments")
        try fileManager.createDirectory(atPath: segments, withIntermediateDirectories: true)
        try fileManager.copyItem(
            atPath: (options.directory as NSString).appendingPathComponent("stoa.json"),
            toPath: (target as NSString).appendingPathComponent("stoa.json"))
        let names = try fileManager.contentsOfDirectory(atPath: source)
        let bases = Set(names.filter { $0.hasSuffix(".jsonl") || $0.hasSuffix(".jsonl.gz") }.map { $0.prefix { $0 != "." } })
            .sorted().prefix(count)
        for name in names where bases.contains(name.prefix { $0 != "." }) && !name.hasSuffix(".tmp") {
            try fileManager.copyItem(atPath: (source as NSString).appendingPathComponent(name), toPath: (segments as NSString).appendingPathComponent(name))
        }
        copy = target
        store = target
    }
    let directory = (store as NSString).appendingPathComponent("segments")
    let files = try fileManager.contentsOfDirectory(atPath: directory)
        .filter { $0.hasSuffix(".jsonl") || $0.hasSuffix(".jsonl.gz") }.sorted()
        .map { (directory as NSString).appendingPathComponent($0) }
    let compressed = files.contains { $0.hasSuffix(".gz") }

    printError("stoa-bench: verify on \(store) (\(files.count) segment files), \(options.repeats) runs each")
    func median(_ runs: [(wall: Double, cpu: Double)]) -> (wall: Double, cpu: Double) {
        (runs.map(\.wall).sorted()[runs.count / 2], runs.map(\.cpu).sorted()[runs.count / 2])
    }
    var fileBytes = 0
    let cat = median(try (0..<options.repeats).map { _ in try timed { fileBytes = try readAll(files) } })
    var rows: [(name: String, time: (wall: Double, cpu: Double), bytes: Int)] = [("floor: read the files (cat)", cat, fileBytes)]
    if let sha256sum = which("sha256sum") {
        rows.append(("floor: sha256sum", median(try (0..<options.repeats).map { _ in try timedCommand(sha256sum, files) }), fileBytes))
    }
    if let openssl = which("openssl") {
        let runs = try (0..<options.repeats).map { _ in try timedCommand(openssl, ["dgst", "-sha256"] + files) }
        rows.append(("floor: openssl dgst -sha256", median(runs), fileBytes))
    }
    var report: VerifyReport?
    let verify = median(try (0..<options.repeats).map { _ in try timed { report = try StoreReader(at: store).verify() } })
    rows.append(("stoa verify", verify, Int(report?.bytes ?? 0)))

    print(machineDescription(directory: store))
    if let report {
        print(
            "store:     \(report.segments) segments, \(report.records) records, \(String(format: "%.1f", Double(report.bytes) / 1_048_576)) MiB plain"
                + (compressed ? " (some compressed: the floors read the compressed files)" : "")
                + (report.isClean ? ", clean" : ", \(report.problems.count) problems"))
    }
    print("load:      \((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "unknown") (1, 5, 15 min)")
    print("")
    print("\(pad("measurement", 30)) \(pad("wall s", 8, right: true)) \(pad("cpu s", 8, right: true)) \(pad("MB/s", 9, right: true)) \(pad("cpu MB/s", 9, right: true))")
    print(String(repeating: "-", count: 68))
    for row in rows {
        let megabytes = Double(row.bytes) / 1e6
        print(
            "\(pad(row.name, 30)) \(pad(String(format: "%.3f", row.time.wall), 8, right: true)) \(pad(String(format: "%.3f", row.time.cpu), 8, right: true))"
                + " \(pad(String(format: "%.0f", megabytes / row.time.wall), 9, right: true)) \(pad(String(format: "%.0f", megabytes / row.time.cpu), 9, right: true))")
    }
    print("")
    print(
        """
        notes: medians of \(options.repeats) runs. MB/s: plain (uncompressed) bytes per second of wall time; \
        cpu MB/s per second of CPU time of all threads (verify checks segments on up to four threads, \
        so on an idle machine its wall rate is up to the number of cores times its cpu rate). \
        The floors do less than verify: it also checks every line strictly, builds each segment's index \
        and compares it with the .idx, and checks the chain of digests.
        """)
}
