#if canImport(Glibc)
import Glibc
#endif

/// Signal handling for the command line (`stoa`'s ``Interruption``): the
/// raw `sigaction`, `pthread_sigmask` and `raise` calls, here with the other
/// system calls.
package enum Signals {
    /// Makes `handler` the action of each of `signals` that the process
    /// does not ignore (a signal ignored when the process started —
    /// `nohup`, a background job — stays ignored), for one delivery: the
    /// action goes back to the default as the handler is called
    /// (`SA_RESETHAND`), so a second signal ends the process. Interrupted
    /// calls restart (`SA_RESTART`). Then unblocks them (a parent may have
    /// left them blocked: Foundation's `Process` does).
    ///
    /// `handler` must do only async-signal-safe work (atomics, ``raise(_:)``).
    package static func handleOnce(_ signals: [Int32], with handler: @escaping @convention(c) (Int32) -> Void) {
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        for signal in signals {
            var current = sigaction()
            sigaction(signal, nil, &current)
            let ignored = unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self)
                == unsafeBitCast(SIG_IGN, to: Int.self)
            if ignored { continue }
            var action = sigaction()
            action.__sigaction_handler.sa_handler = handler
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART | Int32(bitPattern: UInt32(SA_RESETHAND))
            sigaction(signal, &action, nil)
            sigaddset(&unblocked, signal)
        }
        pthread_sigmask(SIG_UNBLOCK, &unblocked, nil)
    }

    /// Sends `signal` to this thread (async-signal-safe).
    package static func raise(_ signal: Int32) {
        _ = Glibc.raise(signal)
    }
}
