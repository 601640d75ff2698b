import Foundation

/// Makes appends durable, sharing one `fdatasync` among all the appenders
/// waiting at the same time (group commit).
///
/// Writes are numbered by a generation that grows with every write. An
/// appender that needs generation `g` on disk waits while another thread's
/// sync is under way; when none is, it becomes the leader: it syncs
/// everything written so far (which covers every waiter whose write came
/// before) and wakes the others.
///
/// Before it syncs, the leader lets the other appenders run while they keep
/// arriving (a few `sched_yield`s): the appenders the
/// last sync woke are writing again, and one sync can then cover them all
/// instead of half of them. A lone appender costs one yield. This is the
/// commit delay of PostgreSQL (`commit_delay`) and MySQL
/// (`binlog_group_commit_sync_delay`), bounded by arrivals, not by a fixed time.
final class GroupCommit: @unchecked Sendable {
    // Unchecked: its `var`s are read and written with `condition` locked.
    // Every stored property below is protected by `condition`.
    private let condition = NSCondition()
    private var durable: UInt64 = 0
    private var syncing = false
    private var failure: StoaError?
    private var syncs = 0
    /// Calls to ``waitUntilDurable(_:sync:)`` so far: each follows a write.
    private var arrivals = 0

    /// How many syncs were made: with 16 appenders waiting at once, far fewer than appends.
    var syncCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return syncs
    }

    /// Returns once generation `target` is on disk.
    ///
    /// - Parameter sync: syncs everything written so far and returns the
    ///   generation that covers; called by at most one thread at a time,
    ///   without the commit's lock held.
    /// - Throws: the sync's error. After a failed sync nothing is trusted to
    ///   be on disk any more (the kernel may have dropped the dirty pages), so
    ///   every later wait fails too.
    func waitUntilDurable(_ target: UInt64, sync: () throws(StoaError) -> UInt64) throws(StoaError) {
        condition.lock()
        defer { condition.unlock() }
        arrivals += 1
        while true {
            if let failure { throw failure }
            if durable >= target { return }
            if syncing {
                condition.wait()
                continue
            }
            syncing = true
            var seen = arrivals
            condition.unlock()
            for _ in 0..<Self.maximumYields {
                sched_yield()
                condition.lock()
                let now = arrivals
                condition.unlock()
                if now == seen { break }
                seen = now
            }
            let result: Result<UInt64, StoaError>
            do {
                result = .success(try sync())
            } catch {
                result = .failure(error)
            }
            condition.lock()
            syncing = false
            syncs += 1
            switch result {
            case .success(let covered): durable = max(durable, covered)
            case .failure(let error): failure = error
            }
            condition.broadcast()
        }
    }

    /// How many times a leader yields at most while appenders keep arriving.
    static let maximumYields = 16

    /// Records that everything up to `generation` is on disk (a sealed
    /// segment was fsynced).
    func markDurable(_ generation: UInt64) {
        condition.lock()
        durable = max(durable, generation)
        condition.unlock()
    }

    /// Whether everything up to `generation` is known to be on disk.
    func isDurable(_ generation: UInt64) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return durable >= generation
    }
}

/// A background thread that calls `tick` every `interval` until stopped.
final class IntervalTimer: @unchecked Sendable {
    // `stopped` is protected by `condition`.
    private let condition = NSCondition()
    private var stopped = false
    private var finished = false

    init(interval: Duration, name: String, tick: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            condition.lock()
            while !stopped {
                // At most a day at a time: Foundation traps on a deadline
                // past what it can convert (an interval from stoa.json).
                let micros = min(interval.saturatingMicroseconds, 86_400_000_000)
                let deadline = Date(timeIntervalSinceNow: Double(micros) / 1_000_000)
                _ = condition.wait(until: deadline)
                if stopped { break }
                condition.unlock()
                tick()
                condition.lock()
            }
            finished = true
            condition.broadcast()
            condition.unlock()
        }
        thread.name = name
        thread.start()
    }

    /// Stops the thread and waits for a tick under way to finish.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }
}
