// stoa-bench tier: does compressing sealed segments (hot → warm) keep up with
// sustained appends, without slowing them?
//
//     stoa-bench tier [--rate MB/s] [--seconds S] [--dir D] [--seed X]
//
// Two runs in one invocation, each appending generated events at a steady
// rate (default 10 MB/s, in batches every 10 ms) for S seconds (default 30)
// into a store with 8 MiB segments and durability `interval`:
//   - "no tiers": no tier policy, so nothing is compressed;
//   - "hot_for 1s": every sealed segment is due for gzip one second after
//     its seal, so the writer's background worker compresses all the time.
// Printed for each: the append rate reached, the latency of each batch
// append (median, p99, max), and for the tiered run the backlog — sealed
// segments still plain — sampled every 100 ms (first and second half of the
// run), the warm segments at the end and their compression ratio.
//
// The policy is applied after each seal, so a segment waits hot_for, then
// up to one seal interval (~0.8 s at 10 MB/s) for the next pass, then its
// compression: a backlog of 2–3 segments is the steady state. Compression
// keeps up when the backlog does not grow: the second half's largest is at
// most the first half's plus one.

import Foundation
import Stoa
import StoaWorkload

#if canImport(Glibc)
import Glibc
#endif

struct TierOptions {
    var rate = 10.0
    var seconds = 30.0
    var directory: String?
    var seed: UInt64 = 42
}

func parseTierOptions(_ arguments: [String]) -> TierOptions {
    var options = TierOptions()
    var arguments = ArraySlice(arguments)
    while let argument = arguments.popFirst() {
        func number<N: LosslessStringConvertible>(_: N.Type) -> N {
            guard let text = arguments.popFirst(), let number = N(text) else { usage("\(argument) needs a number") }
            return number
        }
        switch argument {
        case "--rate": options.rate = number(Double.self)
        case "--seconds": options.seconds = number(Double.self)
        case "--seed": options.seed = number(UInt64.self)
        case "--dir":
            guard let value = arguments.popFirst() else { usage("--dir needs a value") }
            options.directory = value
        case "-h", "--help": usage()
        default: usage("unknown option \(argument)")
        }
    }
    if options.rate <= 0 || options.seconds <= 0 { usage("values must be positive") }
    return options
}

struct TierRun {
    var name: String
    var bytes = 0
    var records = 0
    var seconds = 0.0
    var latencies: [Double] = []
    /// Sealed plain segments, sampled: (seconds into the run, count).
    var backlog: [(Double, Int)] = []
    var warm = 0
    var plainBytesWarmed: Int64 = 0
    var gzipBytes: Int64 = 0
}

/// Appends `workload` at `rate` bytes/s for `seconds` into a new store at `path`.
func runPaced(
    _ name: String, workload: Workload, path: String, rate: Double, seconds: Double, hotFor: Duration?
) throws -> TierRun {
    var configuration = StoreConfiguration()
    configuration.segmentBytes = 8 << 20
    configuration.durability = .interval
    configuration.hotFor = hotFor
    let store = try Store(at: path, creating: configuration)
    var run = TierRun(name: name)
    let segments = path + "/segments"
    let interval = 0.010
    let bytesPerTick = rate * interval
    let start = ContinuousClock.now
    var next = 0
    var tick = 0
    var lastSample = 0.0
    while elapsed(since: start) < seconds {
        // One batch of about rate × 10 ms.
        var batch: [ArraySlice<UInt8>] = []
        var size = 0
        while Double(size) < bytesPerTick {
            let record = workload.record(next % workload.count)
            batch.append(record)
            size += record.count + 1
            next += 1
        }
        let before = ContinuousClock.now
        try store.append(contentsOf: batch)
        run.latencies.append(elapsed(since: before))
        run.bytes += size
        run.records += batch.count
        tick += 1
        let now = elapsed(since: start)
        if hotFor != nil, now - lastSample >= 0.1 {
            lastSample = now
            run.backlog.append((now, sealedPlain(segments)))
        }
        // Sleep until the next tick (never sleep to catch up when behind).
        let wait = Double(tick) * interval - elapsed(since: start)
        if wait > 0 { usleep(useconds_t(wait * 1e6)) }
    }
    run.seconds = elapsed(since: start)
    try store.close()
    for name in (try? FileManager.default.contentsOfDirectory(atPath: segments)) ?? [] where name.hasSuffix(".jsonl.gz") {
        run.warm += 1
        run.gzipBytes += fileSize(segments + "/" + name)
        let index = segments + "/" + name.replacingOccurrences(of: ".jsonl.gz", with: ".idx")
        if let data = FileManager.default.contents(atPath: index), data.count >= 32 {
            // The .idx header: magic (8), version (4), flags (4), base (8), plain bytes (8).
            run.plainBytesWarmed += data.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: 24, as: Int64.self)) }
        }
    }
    return run
}

/// Sealed segments still plain: every `.jsonl` but the last (the active one).
func sealedPlain(_ directory: String) -> Int {
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".jsonl") }
    return max(names.count - 1, 0)
}

func runTierBench(_ options: TierOptions) throws {
    let parent = options.directory ?? NSTemporaryDirectory()
    let root = (parent as NSString).appendingPathComponent("stoa-bench-tier-\(getpid())")
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    print(machineDescription(directory: root))
    print("load:      \(loadAverage()) at the start")
    let workload = Workload(records: 200_000, seed: options.seed)
    print(String(
        format: "workload:  %d events from EventGenerator(seed: %llu), mean %.0f B/line, appended in a loop",
        workload.count, options.seed, Double(workload.bytes.count) / Double(workload.count)))
    print(String(format: "pace:      %.1f MB/s in batches every 10 ms, %.0f s per run, 8 MiB segments, durability interval", options.rate, options.seconds))
    print("")
    let rate = options.rate * 1e6
    let plain = try runPaced("no tiers", workload: workload, path: root + "/plain", rate: rate, seconds: options.seconds, hotFor: nil)
    printError("  done: no tiers")
    let tiered = try runPaced(
        "hot_for 1s", workload: workload, path: root + "/tiered", rate: rate, seconds: options.seconds, hotFor: .seconds(1))
    printError("  done: hot_for 1s")

    func quantile(_ values: [Double], _ q: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
    }
    let half = options.seconds / 2
    let firstHalf = tiered.backlog.filter { $0.0 < half }.map(\.1).max() ?? 0
    let secondHalf = tiered.backlog.filter { $0.0 >= half }.map(\.1).max() ?? 0
    print("run          MB/s   rec/s      append p50   p99      max   backlog 1st/2nd half  warm  ratio")
    for run in [plain, tiered] {
        let isTiered = run.name != "no tiers"
        print(
            pad(run.name, 11) + pad(String(format: "%.2f", Double(run.bytes) / run.seconds / 1e6), 7, right: true)
                + pad(formatRate(Double(run.records) / run.seconds), 9, right: true)
                + pad(String(format: "%.2f ms", quantile(run.latencies, 0.5) * 1e3), 13, right: true)
                + pad(String(format: "%.2f ms", quantile(run.latencies, 0.99) * 1e3), 9, right: true)
                + pad(String(format: "%.1f ms", run.latencies.max()! * 1e3), 9, right: true)
                + pad(isTiered ? "\(firstHalf) / \(secondHalf)" : "-", 22, right: true)
                + pad(isTiered ? "\(run.warm)" : "-", 6, right: true)
                + pad(isTiered && run.gzipBytes > 0 ? String(format: "%.2f×", Double(run.plainBytesWarmed) / Double(run.gzipBytes)) : "-", 7, right: true))
    }
    print("")
    print(String(
        format: "compression keeps up: %@ (largest backlog of sealed plain segments: %d in the first half, %d in the second; %d segments warm after close)",
        secondHalf <= firstHalf + 1 ? "PASS" : "FAIL", firstHalf, secondHalf, tiered.warm))
    print(String(
        format: "appends not slowed: p99 %.2f ms with compression vs %.2f ms without; rate %.2f vs %.2f MB/s",
        quantile(tiered.latencies, 0.99) * 1e3, quantile(plain.latencies, 0.99) * 1e3,
        Double(tiered.bytes) / tiered.seconds / 1e6, Double(plain.bytes) / plain.seconds / 1e6))
}
