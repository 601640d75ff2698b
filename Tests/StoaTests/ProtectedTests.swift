import Foundation
import Testing

@testable import Stoa

/// ``Protected``: a lock whose hand-over ThreadSanitizer sees.
///
/// Under `Tools/sanitize.sh thread --filter ProtectedTests` this is the
/// regression test: with a plain `Mutex` in place of ``Protected`` it
/// reports a race (the second section's write, after the kernel handed it
/// the lock, against the first's); run plainly it checks that the waiter
/// really waited in the kernel, so that the hand-over ThreadSanitizer could
/// not see is the one exercised.
@Suite struct ProtectedTests {
    /// A value that only the lock in the test protects.
    final class Shared: @unchecked Sendable {
        // Protected by the test's `Protected` lock.
        var writes: [String] = []
    }

    /// `/proc/thread-self` names the calling thread: `PID/task/TID`.
    static func currentThreadPath() throws -> String {
        "/proc/" + (try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self"))
    }

    /// Whether the thread at `path` (under /proc) sleeps in a futex call.
    static func sleepsInFutex(_ path: String) -> Bool {
        #if arch(x86_64)
            let futex = "202"
        #elseif arch(arm64)
            let futex = "98"
        #endif
        guard let stat = try? String(contentsOfFile: path + "/stat", encoding: .utf8),
            let call = try? String(contentsOfFile: path + "/syscall", encoding: .utf8)
        else { return false }
        // stat: "TID (name) STATE …"; the name may hold spaces and parentheses.
        let state = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ").first
        return state == "S" && call.split(separator: " ").first.map(String.init) == futex
    }

    @Test func aSectionHandedTheLockByTheKernelSeesTheSectionBefore() throws {
        let lock = Protected(0)
        let shared = Shared()
        let waiter = Protected<String?>(nil)  // the waiting thread's /proc path
        let finished = Protected(false)
        let waited = try lock.withLock { (sections) throws -> Bool in
            shared.writes.append("first")
            sections += 1
            Thread {
                // (The path is set before this thread asks for `lock`.)
                let path = try? Self.currentThreadPath()
                waiter.withLock { $0 = path ?? "" }
                lock.withLock { sections in
                    shared.writes.append("second")
                    sections += 1
                }
                finished.withLock { $0 = true }
            }.start()
            // Hold the lock until the other thread sleeps in the kernel for it.
            var path: String?
            while path == nil {
                path = waiter.withLock { $0 }
                sched_yield()
            }
            let found = try #require(path)
            guard !found.isEmpty else { return false }
            while !Self.sleepsInFutex(found) { sched_yield() }
            shared.writes.append("first, later")
            return true
        }
        while !finished.withLock({ $0 }) { sched_yield() }
        #expect(waited, "the waiting thread's /proc/thread-self could not be read")
        #expect(lock.withLock { $0 } == 2)
        #expect(shared.writes == ["first", "first, later", "second"])
    }
}
