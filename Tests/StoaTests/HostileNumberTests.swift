import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// Numbers from a file, a flag or a record never trap (issue 13, item 17),
/// and `stoa.json` names what it refuses (item 21).
@Suite struct HostileNumberTests {
    /// A `stoa.json` of this version with `members` merged in (`null` removes a key).
    func writeConfiguration(_ directory: TemporaryDirectory, _ members: String) throws -> String {
        var configuration = StoreConfiguration()
        configuration.storeID = StoreConfiguration.newStoreID()
        var object = try JSONSerialization.jsonObject(with: Data(configuration.encoded())) as! [String: Any]
        let extra = try JSONSerialization.jsonObject(with: Data("{\(members)}".utf8), options: .fragmentsAllowed) as! [String: Any]
        for (key, value) in extra { object[key] = value is NSNull ? nil : value }
        let path = directory.appending("stoa.json")
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        return path
    }

    // MARK: stoa.json

    @Test(arguments: [
        // Durations as seconds: a product past Int64's microseconds trapped.
        (#""hot_for": 10000000000000"#, "hot_for: 10000000000000 seconds is out of range"),
        (#""warm_for": 9223372036854775807"#, "warm_for: 9223372036854775807 seconds is out of range"),
        (#""retain_for": 1e308"#, "retain_for: 1e+308 seconds is out of range"),
        (#""segment_age": 9223372036855"#, "segment_age: 9223372036855 seconds is out of range"),
        (#""dedup_window": -1e300"#, "dedup_window: -1e+300 seconds is out of range"),
        (#""hot_for": -1"#, "hot_for must not be negative"),
        (#""hot_for": "nan""#, "hot_for: cannot read duration \"nan\""),
        (#""hot_for": "inf""#, "hot_for: cannot read duration \"inf\""),
        (#""fsync_interval": "15000000w""#, "fsync_interval must be between 1ms and 1d"),
        (#""segment_bytes": 1e30"#, "segment_bytes: 1e+30 is not a whole number of bytes"),
        (#""max_bytes": 1.5"#, "max_bytes: 1.5 is not a whole number of bytes"),
        (#""keep_free": "99999999999 PiB""#, "keep_free: size \"99999999999 PiB\" is too large"),
        (#""segment_bytes": 10"#, "segment_bytes must be at least 4096, got 10"),
        (#""compression_level": 1e300"#, "compression_level must be 1 to 9, got 1e+300"),
        (#""format_version": 1e300"#, "format_version 1e+300 is not supported"),
        (#""durability": "sometimes""#, "durability must be none, interval or always"),
        (#""store_id": "not-hex""#, "store_id must be 32 hex digits"),
        // Unknown keys: a typo would otherwise be a setting silently not applied.
        (#""hot_forr": "1d""#, #"unknown key "hot_forr" (did you mean "hot_for"?)"#),
        (#""retention": "1d""#, #"unknown key "retention"; the keys are format_version, fields"#),
        (#""fields": {"time": ["ts"], "type": ["type"], "conversation": ["session"], "tyme": ["t"]}"#,
         #"unknown key "fields.tyme" (did you mean "fields.time"?)"#),
    ])
    func refusesAHostileOrUnknownSetting(members: String, message: String) throws {
        let directory = TemporaryDirectory()
        let path = try writeConfiguration(directory, members)
        #expect {
            _ = try StoreConfiguration.load(from: path)
        } throws: { error in
            let error = error as! StoaError
            return error.code == .badConfig && error.path == path && error.message.contains(message)
        }
        // Every command opens it so: the writer and readers refuse it, nothing traps.
        #expect(throws: StoaError.self) { try Store(at: directory.path) }
        #expect(throws: StoaError.self) { try StoreReader(at: directory.path) }
    }

    @Test(arguments: [
        (#""hot_for": -0"#, "hot_for", 0),
        (#""hot_for": 1.5"#, "hot_for", 1_500_000),
        (#""hot_for": 9223372036854"#, "hot_for", 9_223_372_036_854_000_000),
        (#""warm_for": "15000000w""#, "warm_for", 15_000_000 * 604_800_000_000),
        (#""dedup_window": 0.000001"#, "dedup_window", 1),
    ] as [(String, String, Int64)])
    func readsEveryDurationThatFits(members: String, key: String, micros: Int64) throws {
        let directory = TemporaryDirectory()
        let configuration = try StoreConfiguration.load(from: try writeConfiguration(directory, members))
        let value =
            switch key {
            case "hot_for": configuration.hotFor
            case "warm_for": configuration.warmFor
            default: configuration.dedupWindow
            }
        #expect(value == .microseconds(micros))
    }

    @Test func aConfigurationWrittenByThisVersionReadsBackTheSame() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.hotFor = .microseconds(15_000_000 * 604_800_000_000)
        configuration.warmFor = .microseconds(15_000_000 * 604_800_000_000)
        configuration.retainFor = .microseconds(1)
        configuration.maxBytes = .max
        configuration.keepFree = 0
        configuration.dedupWindow = .microseconds(1_000)
        configuration.archivePath = "/elsewhere"
        configuration.fields.conversation = ["sessionId"]
        configuration.storeID = StoreConfiguration.newStoreID()
        let path = directory.appending("stoa.json")
        try writeBytes(configuration.encoded(), to: path)
        #expect(try StoreConfiguration.load(from: path) == configuration)
        // A stoa.json of a store made before store ids (numbers for durations, no fields) still opens.
        try writeBytes(Array(#"{"format_version":1,"segment_bytes":"64MiB","hot_for":86400,"durability":"always"}"#.utf8), to: path)
        let old = try StoreConfiguration.load(from: path)
        #expect(old.hotFor == .seconds(86_400) && old.segmentBytes == 64 << 20 && old.storeID == nil)
    }

    @Test func theNearestKeyIsSuggestedOnlyWhenItIsNear() {
        let keys = StoreConfiguration.CodingKeys.allCases.map(\.rawValue)
        #expect(StoreConfiguration.nearest(to: "hot_forr", among: keys) == "hot_for")
        #expect(StoreConfiguration.nearest(to: "SEGMENT_BYTES", among: keys) == "segment_bytes")
        #expect(StoreConfiguration.nearest(to: "retention", among: keys) == nil)
    }

    @Test func aRefusedNewStoreLeavesNoDirectory() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 10
        let path = directory.appending("y")
        #expect { try Store(at: path, creating: configuration) } throws: { ($0 as! StoaError).code == .badConfig }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    // MARK: File times and tier ages

    /// Sets a file's access and modification times to `seconds` since the epoch.
    func setTime(_ path: String, seconds: Int) {
        let time = timespec(tv_sec: seconds, tv_nsec: 0)
        let result = withUnsafePointer(to: (time, time)) {
            $0.withMemoryRebound(to: timespec.self, capacity: 2) { utimensat(AT_FDCWD, path, $0, 0) }
        }
        #expect(result == 0)
    }

    @Test func filesDatedFarInThePastOrFutureAreReadAndTiered() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        // Sums past Int64 (hot_for + warm_for) are held, not trapped on.
        configuration.hotFor = .microseconds(15_000_000 * 604_800_000_000)
        configuration.warmFor = .microseconds(15_000_000 * 604_800_000_000)
        configuration.retainFor = .microseconds(Int64.max)
        let store = try Store(at: directory.path, creating: configuration)
        try store.append(contentsOf: (0..<200).map { #"{"ts":\#($0),"n":\#($0),"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"# })
        try store.waitForIndexes()
        // Dated as late as the file system allows (ext4: year 2446; nanoseconds
        // past 2262 overflow Int64), and as early.
        let names = listDirectory(directory.appending("segments")).sorted()
        for (position, name) in names.enumerated() {
            setTime(directory.appending("segments/" + name), seconds: position % 2 == 0 ? 15_032_385_535 : -15_032_385_535)
        }
        #expect(try StoreReader(at: directory.path).query(Query()).all().count == 200)
        let report = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: .max))
        #expect(report.expired.isEmpty && report.cooled.isEmpty)
        _ = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: .min))
        try store.close()
        #expect(try StoreReader(at: directory.path).query(Query()).all().count == 200)
    }

    @Test func checkedArithmeticHoldsAtTheLimits() {
        #expect(RecordTime.micros(timespec(tv_sec: .max, tv_nsec: 999_999_999)) == .max)
        #expect(RecordTime.micros(timespec(tv_sec: .min, tv_nsec: 0)) == .min)
        #expect(RecordTime.micros(timespec(tv_sec: 1, tv_nsec: 999_999_999)) == 1_999_999)
        #expect(RecordTime.nanos(timespec(tv_sec: 15_032_385_535, tv_nsec: 0)) == .max)
        #expect(RecordTime.nanos(timespec(tv_sec: 9_223_372_036, tv_nsec: 854_775_807)) == .max)
        #expect(RecordTime.nanos(timespec(tv_sec: 9_223_372_036, tv_nsec: 854_775_808)) == .max)
        #expect(RecordTime.span(from: .min, to: .max) == .max)
        #expect(RecordTime.span(from: .max, to: .min) == .min)
        #expect(RecordTime.span(from: 5, to: 3) == -2)
        #expect(RecordTime.adding(.max, 1) == .max)
        #expect(RecordTime.adding(.min, -1) == .min)
        #expect(RecordTime.adding(-3, 1) == -2)
    }

    // MARK: Replay

    @Test(arguments: [1e-300, 1e-18, .leastNonzeroMagnitude, 1e308, .greatestFiniteMagnitude, 1])
    func replayAtAnySpeedNeverTraps(factor: Double) throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        // Times as far apart as records can hold them (years 0000 and 9999), and close.
        try store.append(contentsOf: [
            #"{"ts":"0000-01-01T00:00:00Z","n":0}"#, #"{"ts":"0000-01-01T00:00:01Z","n":1}"#,
            #"{"ts":"9999-12-31T23:59:59Z","n":2}"#, #"{"ts":-99999999999999999,"n":3}"#,
        ])
        try store.close()
        let reader = try StoreReader(at: directory.path)
        for order in [Query.Order.oldestFirst, .newestFirst] {
            let test = TestClock(start: 1_000_000)
            var seen: [Int64] = []
            let count = try reader.replay(Query(order: order), speed: .factor(factor), maxGap: nil, clock: test.clock) {
                seen.append($0.time.microsecondsSinceEpoch)
                return true
            }
            #expect(count == 4)
            #expect(seen == (order == .oldestFirst ? seen.sorted() : seen.sorted().reversed()))
            let waits = test.waits.withLock { $0 }
            #expect(waits.allSatisfy { $0 > 0 && Double($0) <= StoaClock.longestWait })
            // One wait per gap (each is positive), none when the speed makes every gap vanish.
            #expect(waits.count == (factor > 1e300 ? 0 : 3), "\(waits)")
        }
    }

    // MARK: The logger

    @Test func aLoggerWithTheLongestIntervalsFlushesOnStop() throws {
        let directory = TemporaryDirectory()
        let path = directory.appending("store")
        var configuration = EventLogger.Configuration()
        configuration.flushInterval = .seconds(Int64.max)
        configuration.initialBackoff = .seconds(Int64.max)
        configuration.maxBackoff = .seconds(Int64.max)
        let logger = EventLogger(storePath: path, configuration: configuration)
        // Each flush sends the flusher back to wait with the interval as
        // its deadline (which trapped in Foundation when it was this long).
        for n in 0..<20 {
            logger.log(#"{"n":\#(n)}"#)
            logger.flush()
        }
        let stats = logger.stop()
        #expect(stats.flushed == 20)
        #expect(try StoreReader(at: path).query(Query()).all().count == 20)
    }
}
