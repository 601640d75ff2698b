import Foundation
import StoaTestSupport
import Synchronization
import Testing

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// A workload recorded through ``PowerLossRecorder``: appends under each
/// durability, seals, checkpoints, the high-water mark, tier moves and
/// expiry, backups, closes and reopens.
struct PowerLossRecording {
    enum Event {
        case acknowledged(Range<UInt64>, Durability)
        /// The test's tick of the `interval` timer (``Store/intervalSync()``).
        case tickBegan, tickEnded
        case closeBegan, closeEnded
        /// A tier pass began; the bases of the segments it expired.
        case tierPass(expired: Set<UInt64>)
    }

    var changes: [PowerLossRecorder.Change]
    var events: [(index: Int, event: Event)]
    /// Every record's line as appended, by seq.
    var lines: [UInt64: String]
    /// Every segment's base seq, in order.
    var bases: [UInt64]
    var faults = 0

    struct Options {
        var seed: UInt64
        var steps = 160
        var linksFail = false
        var backups = true
        var ignoresSync: @Sendable (String) -> Bool = { _ in false }
    }

    static let hour: Int64 = 3_600_000_000

    static func configuration() -> StoreConfiguration {
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        // Never ticks by itself: the workload ticks it (``Event/tickBegan``).
        configuration.fsyncInterval = .microseconds(86_400_000_000)
        configuration.hotFor = .microseconds(hour)
        configuration.warmFor = .microseconds(hour)
        configuration.retainFor = .microseconds(3 * hour)
        return configuration
    }

    /// Runs the workload in `root` (an empty directory): the store is
    /// `root/store`, its archive `root/archive`, its backup `root/backup`.
    static func record(in root: String, _ options: Options) throws -> PowerLossRecording {
        let recorder = try PowerLossRecorder(root: root, linksFail: options.linksFail, ignoresSync: options.ignoresSync)
        defer { recorder.stop() }
        var random = SeededGenerator(seed: options.seed)
        let events = Protected<[(index: Int, event: Event)]>([])
        func note(_ event: Event) { events.withLock { $0.append((recorder.count, event)) } }
        var configuration = configuration()
        // Relative to the store, so that a crash state written elsewhere has its own.
        configuration.archivePath = "../archive"
        var lines: [UInt64: String] = [:]
        var store = try Store(at: root + "/store", creating: configuration, fileSystem: recorder)
        let passes: [Int64] = [90, 150, 90, 150, 200].map { $0 * hour / 60 }
        var pass = 0
        var n = 0
        for step in 0..<options.steps {
            let durability = [Durability.always, .interval, .buffered][Int.random(in: 0..<3, using: &random)]
            let batch = (0..<Int.random(in: 1...4, using: &random)).map { _ in
                n += 1
                let text = String(repeating: "abcdefgh", count: Int.random(in: 1...12, using: &random))
                return #"{"ts":"2026-12-07T10:00:00.\#(String(format: "%06d", n))Z","type":"t\#(n % 5)","n":\#(n),"text":"\#(text)"}"#
            }
            let seqs = try store.append(contentsOf: batch, durability: durability)
            for (seq, line) in zip(seqs, batch) { lines[seq] = line }
            note(.acknowledged(seqs, durability))
            // The background's work of a seal done before the next step:
            // the same seed gives the same changes in the same order.
            try store.waitForIndexes()
            if step % 7 == 3 {
                note(.tickBegan)
                try store.intervalSync()
                note(.tickEnded)
            }
            if step % 23 == 11 {
                let index = recorder.count
                let report = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: Syscalls.realtimeMicroseconds() + passes[pass % passes.count]))
                pass += 1
                let expired = Set(report.expired.compactMap { SegmentName(fileName: $0.0)?.base })
                events.withLock { $0.append((index, .tierPass(expired: expired))) }
            }
            if options.backups && step % 41 == 20 {
                _ = try StoreBackup(of: StoreReader(at: root + "/store")).copy(to: root + "/backup", fileSystem: recorder)
            }
            if step % 53 == 40 {
                note(.closeBegan)
                try store.close()
                note(.closeEnded)
                store = try Store(at: root + "/store", creating: configuration, fileSystem: recorder)
            }
        }
        note(.closeBegan)
        try store.close()
        note(.closeEnded)
        #expect(recorder.unknownWrites.isEmpty, "writes the model did not see: \(recorder.unknownWrites)")
        let changes = recorder.changes
        var bases: [UInt64] = []
        for change in changes {
            if case .add(_, let name, .file) = change, let segment = SegmentName(fileName: name), segment.kind == .plain {
                bases.append(segment.base)
            }
        }
        return PowerLossRecording(
            changes: changes, events: events.withLock { $0 }, lines: lines, bases: Array(Set(bases)).sorted())
    }

    /// The seqs a power cut after the first `count` changes must not lose:
    /// acknowledged under `always`; under `interval` before a tick that
    /// completed; any, before a close that completed. Less those of
    /// segments a tier pass begun by then may have expired.
    func required(before count: Int) -> Set<UInt64> {
        var required = Set<UInt64>()
        var acknowledged: [(index: Int, seqs: Range<UInt64>, durability: Durability)] = []
        var tickBegan = 0
        var closeBegan = 0
        var expired = Set<UInt64>()
        for (index, event) in events where index <= count {
            switch event {
            case .acknowledged(let seqs, let durability):
                acknowledged.append((index, seqs, durability))
                if durability == .always { required.formUnion(seqs) }
            case .tickBegan: tickBegan = index
            case .tickEnded where index < count:
                for ack in acknowledged where ack.index <= tickBegan && ack.durability == .interval {
                    required.formUnion(ack.seqs)
                }
            case .closeBegan: closeBegan = index
            case .closeEnded where index < count:
                for ack in acknowledged where ack.index <= closeBegan { required.formUnion(ack.seqs) }
            case .tierPass(let bases) where index < count: expired.formUnion(bases)
            default: break
            }
        }
        return required.filter { !expired.contains(segmentBase(of: $0)) }
    }

    func segmentBase(of seq: UInt64) -> UInt64 {
        bases.last { $0 <= seq } ?? 0
    }
}

/// Opens what a power cut left with the real code and checks it.
struct PowerLossCheck {
    var recording: PowerLossRecording
    /// Counts over all trials, for the README's table.
    struct Tally {
        var trials = 0
        /// Cuts during the recovery of a trial's state.
        var recoveryTrials = 0
        var dropped = 0
        var torn = 0
        var required = 0
        var survived = 0
        var violations: [String] = []
    }

    /// Builds the state a cut after `count` changes may leave, opens it
    /// and returns what is wrong with it (empty: nothing).
    func trial(at count: Int, cut: PowerCut, seed: UInt64, tally: inout Tally) throws {
        if ProcessInfo.processInfo.environment["STOA_POWER_LOSS_TRACE"] != nil {
            print("power loss trial: cut \(cut) after change \(count), seed \(seed)")
        }
        var random = SeededGenerator(seed: seed)
        let state = recording.changes.crashState(at: count, cut: cut, using: &random)
        let directory = TemporaryDirectory("stoa-powerloss")
        try state.materialize(at: directory.path)
        tally.trials += 1
        tally.dropped += state.dropped
        tally.torn += state.torn
        // A trial that hangs (a loop that never ends on some state) stops
        // the run with the state kept, rather than hanging it.
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread { [state] in
            guard finished.wait(timeout: .now() + 120) == .timedOut else { return }
            let kept = NSTemporaryDirectory() + "/stoa-powerloss-hung-\(seed)"
            try? FileManager.default.createDirectory(atPath: kept, withIntermediateDirectories: true)
            try? state.materialize(at: kept)
            fatalError("a power-loss trial hung (cut \(cut) after change \(count), seed \(seed)); its state is in \(kept)")
        }
        defer { finished.signal() }
        let required = recording.required(before: count)
        if recoveryCrashes {
            try crashDuringRecovery(of: directory.path, required: required, seed: seed, tally: &tally)
        }
        let problems = try check(directory.path, required: required)
        tally.required += problems.required
        tally.survived += problems.survived
        for problem in problems.found {
            tally.violations.append("cut \(cut) after change \(count) of \(recording.changes.count) (seed \(seed)): \(problem)")
        }
    }

    /// Whether trials also cut the power while recovery repairs their state.
    var recoveryCrashes = false

    /// Opens the state at `root` (recovery) through a recorder, then cuts
    /// the power at each of recovery's syncs and checks what that leaves.
    func crashDuringRecovery(of root: String, required: Set<UInt64>, seed: UInt64, tally: inout Tally) throws {
        guard FileManager.default.fileExists(atPath: root + "/store/stoa.json") else { return }
        let copy = TemporaryDirectory("stoa-powerloss-recovery")
        try FileManager.default.removeItem(atPath: copy.path)
        try FileManager.default.copyItem(atPath: root, toPath: copy.path)
        let recorder = try PowerLossRecorder(root: copy.path)
        do {
            try Store(at: copy.path + "/store", creating: StoreConfiguration(), fileSystem: recorder).close()
        } catch {
            tally.violations.append("recovery of a crash state failed (seed \(seed)): \(error)")
            return
        }
        recorder.stop()
        let changes = recorder.changes
        var random = SeededGenerator(seed: seed ^ 0x5EED)
        for point in changes.syncPoints where point >= recorder.initialChanges {
            let state = changes.crashState(at: point, cut: .random, using: &random)
            let directory = TemporaryDirectory("stoa-powerloss")
            try state.materialize(at: directory.path)
            tally.recoveryTrials += 1
            let findings = try check(directory.path, required: required)
            for problem in findings.found {
                tally.violations.append("a cut during recovery (seed \(seed), recovery change \(point)): \(problem)")
            }
        }
    }

    /// What a check found, and how many required records survived.
    struct Findings {
        var found: [String] = []
        var required = 0
        var survived = 0
    }

    func check(_ root: String, required: Set<UInt64>) throws -> Findings {
        var findings = Findings()
        findings.required = required.count
        let storePath = root + "/store"
        guard FileManager.default.fileExists(atPath: storePath + "/stoa.json") else {
            if !required.isEmpty { findings.found.append("the store is gone, with \(required.count) records it must keep") }
            return findings
        }
        // A reader before any writer repairs: whole records only.
        do {
            let records = try StoreReader(at: storePath).query(Query()).all()
            findings.found += served(records, by: "a reader before recovery")
        } catch {
            findings.found.append("a reader before recovery failed: \(error)")
        }
        let store: Store
        do {
            store = try Store(at: storePath)
        } catch {
            findings.found.append("reopening failed: \(error)")
            return findings
        }
        let records: [Record]
        do {
            records = try StoreReader(at: storePath).query(Query()).all().sorted { $0.seq < $1.seq }
        } catch {
            findings.found.append("a reader after recovery failed: \(error)")
            try? store.close()
            return findings
        }
        findings.found += served(records, by: "a reader after recovery")
        let seqs = Set(records.map(\.seq))
        let lost = required.subtracting(seqs).sorted()
        findings.survived = required.count - lost.count
        if !lost.isEmpty { findings.found.append("lost \(lost.count) records it must keep: seqs \(lost.prefix(8))") }
        if let first = records.first, let last = records.last, last.seq - first.seq + 1 != UInt64(records.count) {
            findings.found.append("seqs are not contiguous: \(records.count) records from \(first.seq) to \(last.seq)")
        }
        // The record appended after recovery, which the next backup copies too.
        var appended: (seq: UInt64, line: String)?
        do {
            let line = #"{"ts":"2026-12-08T00:00:00Z","type":"after"}"#
            let next = try store.append(line, durability: .always)
            appended = (next, line)
            let floor = max(records.last.map { $0.seq + 1 } ?? 0, required.max().map { $0 + 1 } ?? 0)
            if next < floor { findings.found.append("seq \(next) handed out again (the next must be at least \(floor))") }
            try store.close()
        } catch {
            findings.found.append("appending after recovery failed: \(error)")
        }
        let report = try StoreReader(at: storePath).verify()
        for problem in report.problems { findings.found.append("verify: \(problem)") }
        findings.found += try checkBackup(root + "/backup", appended: appended)
        return findings
    }

    /// Records a reader served that are not what was appended at their seq.
    func served(_ records: [Record], by reader: String, appended: (seq: UInt64, line: String)? = nil) -> [String] {
        records.compactMap { record in
            if record.json == recording.lines[record.seq] { return nil }
            if let appended, record.seq == appended.seq, record.json == appended.line { return nil }
            if record.json.contains(#""type":"stoa.damaged""#) { return nil }
            return "\(reader) served seq \(record.seq) as \(record.json.prefix(80)), appended as \(recording.lines[record.seq]?.prefix(80) ?? "nothing")"
        }
    }

    /// A backup a cut interrupted: what it holds is what was appended, and
    /// the next backup completes it.
    func checkBackup(_ path: String, appended: (seq: UInt64, line: String)?) throws -> [String] {
        guard FileManager.default.fileExists(atPath: path + "/stoa.json") else { return [] }
        var found: [String] = []
        do {
            found += served(try StoreReader(at: path).query(Query()).all(), by: "a reader of the backup")
        } catch {
            found.append("a reader of the interrupted backup failed: \(error)")
        }
        do {
            _ = try StoreBackup(of: StoreReader(at: Path.directory(of: path) + "/store")).copy(to: path)
            found += served(try StoreReader(at: path).query(Query()).all(), by: "a reader of the backup made again", appended: appended)
            for problem in try StoreReader(at: path).verify().problems { found.append("verify of the backup: \(problem)") }
        } catch {
            found.append("backing up again failed: \(error)")
        }
        return found
    }
}

@Suite(.serialized) struct PowerLossTests {
    /// Every sync point of the workload, cut just before and just after,
    /// and random points between.
    static func crashPoints(_ recording: PowerLossRecording, random: inout SeededGenerator, extra: Int) -> [Int] {
        var points = Set<Int>()
        for sync in recording.changes.syncPoints {
            points.insert(sync)
            points.insert(sync + 1)
        }
        for _ in 0..<extra { points.insert(Int.random(in: 0...recording.changes.count, using: &random)) }
        return points.sorted()
    }

    static var trialsScale: Int { Int(ProcessInfo.processInfo.environment["STOA_POWER_LOSS_SCALE"] ?? "") ?? 1 }

    func run(
        _ options: PowerLossRecording.Options, label: String, recoveryEvery: Int = 0, stopAtFirstViolation: Bool = false
    ) throws -> PowerLossCheck.Tally {
        let directory = TemporaryDirectory("stoa-powerloss-run")
        let started = Date()
        let recording = try PowerLossRecording.record(in: directory.path, options)
        print("power loss, \(label): recorded \(recording.changes.count) changes, \(recording.changes.syncPoints.count) syncs, \(recording.lines.count) records in \(Date().timeIntervalSince(started)) s")
        let check = PowerLossCheck(recording: recording)
        var random = SeededGenerator(seed: options.seed &* 31)
        var tally = PowerLossCheck.Tally()
        for point in Self.crashPoints(recording, random: &random, extra: 40) {
            let cut: PowerCut = point % 5 == 0 ? .syncedOnly : point % 11 == 0 ? .everything : .random
            for trial in 0..<Self.trialsScale {
                var check = check
                check.recoveryCrashes = recoveryEvery > 0 && tally.trials % recoveryEvery == 0 && cut == .random
                try check.trial(at: point, cut: cut, seed: random.next() &+ UInt64(trial), tally: &tally)
            }
            if stopAtFirstViolation && !tally.violations.isEmpty { break }
        }
        print(
            "power loss, \(label): \(tally.trials) trials over \(recording.changes.count) changes "
                + "and \(tally.recoveryTrials) cuts during their recovery, "
                + "\(tally.dropped) changes dropped, \(tally.torn) writes torn, "
                + "\(tally.survived) of \(tally.required) required records survived, \(tally.violations.count) violations")
        if let path = ProcessInfo.processInfo.environment["STOA_POWER_LOSS_REPORT"] {
            try tally.violations.joined(separator: "\n").write(toFile: path, atomically: false, encoding: .utf8)
        }
        return tally
    }

    /// Appends under each durability, seals, checkpoints, the high-water
    /// mark, warm, cold (hard links) and expiry, backups, closes and
    /// reopens; cut at every sync and between, and during recovery.
    @Test func powerLossKeepsEveryAcknowledgedRecord() throws {
        let tally = try run(.init(seed: 1), label: "hard links", recoveryEvery: 8)
        #expect(tally.violations.isEmpty, "\(tally.violations.count) violations, the first: \(tally.violations.prefix(5).joined(separator: "\n"))")
        #expect(tally.required > 1000 && tally.recoveryTrials > 100 && tally.torn > 10)
    }

    /// The same where hard links fail (EXDEV): cold moves and backups copy.
    @Test func powerLossKeepsEveryAcknowledgedRecordWhenFilesAreCopied() throws {
        let tally = try run(.init(seed: 2, steps: 100, linksFail: true), label: "copies")
        #expect(tally.violations.isEmpty, "\(tally.violations.count) violations, the first: \(tally.violations.prefix(5).joined(separator: "\n"))")
        #expect(tally.required > 500)
    }

    /// The model sees a sync that is missing: without the segment's data
    /// sync, records acknowledged under `always` are lost.
    @Test func powerLossModelSeesAMissingDataSync() throws {
        let options = PowerLossRecording.Options(
            seed: 3, steps: 60, backups: false, ignoresSync: { $0.hasSuffix(".jsonl") })
        let tally = try run(options, label: "no segment data sync", stopAtFirstViolation: true)
        #expect(tally.violations.contains { $0.contains("lost") }, "\(tally.violations.prefix(3))")
    }

    /// And without the directory's sync after a rename or a new file, a
    /// segment or a store is lost.
    @Test func powerLossModelSeesAMissingDirectorySync() throws {
        let options = PowerLossRecording.Options(
            seed: 4, steps: 60, backups: false, ignoresSync: { $0.hasSuffix("/segments") || $0.hasSuffix("/store") })
        let tally = try run(options, label: "no directory sync", stopAtFirstViolation: true)
        #expect(!tally.violations.isEmpty, "\(tally.violations.prefix(3))")
    }

    /// Writes out one crash state to look at (`STOA_POWER_LOSS_KEEP=DIR`,
    /// with `STOA_POWER_LOSS_POINT`, `_CUT` and `_SEED` from a failure).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["STOA_POWER_LOSS_KEEP"] != nil))
    func powerLossStateKept() throws {
        let environment = ProcessInfo.processInfo.environment
        let directory = TemporaryDirectory("stoa-powerloss-run")
        let recording = try PowerLossRecording.record(in: directory.path, .init(seed: 1))
        var random = SeededGenerator(seed: UInt64(environment["STOA_POWER_LOSS_SEED"]!)!)
        let state = recording.changes.crashState(
            at: Int(environment["STOA_POWER_LOSS_POINT"]!)!, cut: PowerCut(rawValue: environment["STOA_POWER_LOSS_CUT"]!)!,
            using: &random)
        try state.materialize(at: environment["STOA_POWER_LOSS_KEEP"]!)
        for (index, change) in recording.changes.enumerated() {
            var text = "\(change)"
            if case .write(let inode, let offset, let bytes) = change {
                text = "write(inode: \(inode), offset: \(offset), \(bytes.count) bytes: \(String(decoding: bytes.prefix(40), as: UTF8.self).debugDescription))"
            }
            print("change \(index): \(text)")
        }
        for (index, event) in recording.events { print("event at \(index): \(event)") }
    }
}
