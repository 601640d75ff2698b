import CStoaSystem
import Synchronization

/// A value shared between threads behind a `Synchronization.Mutex`, whose
/// critical sections ThreadSanitizer can see.
///
/// On Linux a `Mutex` that another thread holds is taken in the kernel (a
/// priority-inheritance futex), by code of the Swift runtime that is not
/// instrumented: ThreadSanitizer then does not see that one critical section
/// ends before the next begins, and reports a race on every value that a
/// contended lock protects (`swift test --sanitize=thread` reported hundreds,
/// all on the writer's state). Each section here tells it: an acquire once the
/// lock is held, a release before it is given up, on this object's address.
/// Outside a `-sanitize=thread` build that is two tests of a null symbol.
///
/// ```swift
/// let counter = Protected(0)
/// let next = counter.withLock { value in value += 1; return value }
/// ```
final class Protected<Value: ~Copyable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ initialValue: consuming sending Value) {
        mutex = Mutex(initialValue)
    }

    /// Runs `body` with the value, the lock held.
    func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        let lock = Unmanaged.passUnretained(self).toOpaque()
        return try mutex.withLock { (value) throws(E) -> sending Result in
            stoa_tsan_acquire(lock)
            defer { stoa_tsan_release(lock) }
            return try body(&value)
        }
    }
}
