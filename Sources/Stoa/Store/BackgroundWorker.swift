import Foundation

/// Runs jobs one at a time on a thread of its own, in the order given.
final class BackgroundWorker: @unchecked Sendable {
    // Unchecked: its `var`s are read and written with `condition` locked.
    // `jobs`, `running` and `stopped` are protected by `condition`.
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var running = false
    private var stopped = false

    init(name: String) {
        let thread = Thread { [self] in work() }
        thread.name = name
        thread.start()
    }

    /// Queues `job`; after ``stop()`` it is dropped: nothing runs once the
    /// worker has stopped.
    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        if stopped {
            condition.unlock()
            return
        }
        jobs.append(job)
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until every job submitted so far has run.
    func waitUntilIdle() {
        condition.lock()
        while !jobs.isEmpty || running { condition.wait() }
        condition.unlock()
    }

    /// Runs what is queued, then ends the thread; returns when it has.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
        waitUntilIdle()
    }

    private func work() {
        condition.lock()
        while true {
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty && stopped { break }
            let job = jobs.removeFirst()
            running = true
            condition.unlock()
            job()
            condition.lock()
            running = false
            condition.broadcast()
        }
        condition.unlock()
    }
}
