#if canImport(Glibc)
import Glibc
#endif

/// The time that Stoa's decisions go by, and how it waits: injected, so
/// that tests advance a clock instead of sleeping.
///
/// The store (stamps for records without a time, `segment_age`,
/// `dedup_window`, the tier policy's "now"), the logger (stamps, the flush
/// interval, backoff), followers (how long to wait, how long a gap has
/// lasted) and replays (the schedule) each hold one. Outside tests it is
/// ``system`` (followers: ``monotonic``); tests pass one whose `now` they
/// set by hand and whose `sleep` only moves it on.
///
/// ```swift
/// let time = Protected<Int64>(1_795_000_000_000_000)
/// let clock = StoaClock(now: { time.withLock { $0 } }, sleep: { micros in time.withLock { $0 += micros } })
/// ```
struct StoaClock: Sendable {
    /// The time now, in µs: since the epoch for ``system``, since an
    /// arbitrary start for ``monotonic`` (which only measures spans).
    var now: @Sendable () -> Int64
    /// Waits `micros` µs (> 0).
    var sleep: @Sendable (_ micros: Int64) -> Void

    /// The longest single wait asked of `sleep` by a replay (µs, about
    /// 31,700 years): below `Int64.max`, which a `Double` cannot hold exactly.
    static let longestWait: Double = 1e18

    /// The real time (`CLOCK_REALTIME`), and real waits.
    static let system = StoaClock(now: { Syscalls.realtimeMicroseconds() }, sleep: realSleep)

    /// The monotonic clock (`CLOCK_MONOTONIC`): for spans that a change of
    /// the system's time must not stretch or cut.
    static let monotonic = StoaClock(now: { Syscalls.monotonicMicroseconds() }, sleep: realSleep)

    private static let realSleep: @Sendable (Int64) -> Void = { micros in Syscalls.sleep(micros: micros) }
}

extension Timestamp {
    /// The current time, from the system's real-time clock
    /// (`CLOCK_REALTIME`), to the microsecond.
    public static func now() -> Timestamp {
        Timestamp(microsecondsSinceEpoch: Syscalls.realtimeMicroseconds())
    }
}
