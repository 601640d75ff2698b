import Foundation

/// Lets calls that work on the store from the caller's thread (`reindex`,
/// `applyTierPolicy`) run until the store closes, and lets closing wait for
/// those under way: after `close()` returns, nothing of the writer touches
/// the store.
final class OperationGate: @unchecked Sendable {
    // Unchecked: its `var`s are read and written with `condition` locked.
    // `closed` and `running` are protected by `condition`.
    private let condition = NSCondition()
    private var closed = false
    private var running = 0

    /// Runs `body` unless the gate is closed.
    ///
    /// - Throws: `.closed` once ``close(whileWaiting:)`` has begun; what `body` throws.
    func run<T>(path: String, _ body: () throws(StoaError) -> T) throws(StoaError) -> T {
        condition.lock()
        if closed {
            condition.unlock()
            throw StoaError(.closed, "the store is closed", path: path)
        }
        running += 1
        condition.unlock()
        defer {
            condition.lock()
            running -= 1
            condition.broadcast()
            condition.unlock()
        }
        return try body()
    }

    /// Refuses new calls and waits for those under way.
    ///
    /// - Parameter whileWaiting: called once, before waiting, when some
    ///   are under way (a test's hook).
    func close(whileWaiting: () -> Void = {}) {
        condition.lock()
        closed = true
        if running > 0 {
            condition.unlock()
            whileWaiting()
            condition.lock()
        }
        while running > 0 { condition.wait() }
        condition.unlock()
    }
}

/// Points in the writer where a test can wait or look, to order events
/// without sleeping. None is set outside tests.
final class StoreTestHooks: Sendable {
    enum Point: Hashable, Sendable {
        /// `reindex` and a `stoa tier` pass, as their work begins.
        case workBegins
        /// `reindex`, when its work is done (its last write made).
        case workEnds
        /// `close`, when it is about to wait for such work.
        case closeWaits
    }

    private let hooks = Protected<[Point: @Sendable () -> Void]>([:])

    func set(_ point: Point, _ hook: (@Sendable () -> Void)?) { hooks.withLock { $0[point] = hook } }

    func call(_ point: Point) { hooks.withLock { $0[point] }?() }
}
