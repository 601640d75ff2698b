import Synchronization

@testable import Stoa

/// A clock that moves only when a test advances it or something sleeps on
/// it (a sleep returns at once, the clock moved on by the wait), and that
/// records the waits: handed to a store, a logger, a follower or a replay
/// through their internal initializers, so that tests never sleep.
final class TestClock: Sendable {
    let time: Protected<Int64>
    let waits = Protected<[Int64]>([])

    /// - Parameter start: the time to start at (µs); the real time by default,
    ///   so that file times the code compares with are near.
    init(start: Int64 = Syscalls.realtimeMicroseconds()) {
        time = Protected(start)
    }

    var now: Int64 { time.withLock { $0 } }

    func advance(by micros: Int64) {
        time.withLock { $0 = RecordTime.adding($0, micros) }
    }

    var clock: StoaClock {
        StoaClock(
            now: { self.time.withLock { $0 } },
            sleep: { micros in
                self.waits.withLock { $0.append(micros) }
                self.advance(by: micros)
            })
    }
}
