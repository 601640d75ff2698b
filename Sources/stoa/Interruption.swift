import Stoa
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Ends the command between lines when it is interrupted (SIGINT, Ctrl-C)
/// or terminated (SIGTERM), so that standard output ends with a whole line:
/// `stoa tail -f > log.jsonl`, stopped with Ctrl-C, leaves a file whose
/// every line is a record.
///
/// ``Output`` writes only whole lines, and only inside
/// ``whileWriting(_:)``. A signal that arrives during such a write is noted;
/// the write finishes, then the process ends by that signal, as it would
/// have (a shell sees "interrupted"). At any other moment the signal ends
/// the process at once: what was not yet written is not written at all. A
/// second signal during a write (to a reader that does not read) ends the
/// process at once.
///
/// Installing unblocks SIGINT and SIGTERM (a parent may have left them
/// blocked: Foundation's `Process` does); a signal that was ignored when the
/// process started (`nohup`, a background job) stays ignored.
enum Interruption {
    /// The signal that arrived during a write, or 0.
    fileprivate static let pending = Atomic<Int32>(0)
    /// Whether ``Output`` is writing.
    fileprivate static let writing = Atomic<Bool>(false)
    private static let installed = Atomic<Bool>(false)

    /// Installs the handlers, once per process.
    static func install() {
        guard installed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        // Initialise the statics now: the handler must not be the first to touch them.
        _ = pending.load(ordering: .relaxed)
        _ = writing.load(ordering: .relaxed)
        // Back to the default at the first signal: a second one ends the process.
        Signals.handleOnce([SIGINT, SIGTERM], with: interrupted)
    }

    /// Runs `write` (which writes whole lines) to its end even when a signal
    /// arrives meanwhile; then ends the process by that signal, if one came.
    static func whileWriting<T>(_ write: () -> T) -> T {
        writing.store(true, ordering: .sequentiallyConsistent)
        let result = write()
        writing.store(false, ordering: .sequentiallyConsistent)
        let signal = pending.load(ordering: .sequentiallyConsistent)
        // The handler has put the default action back: this ends the process.
        if signal != 0 { Signals.raise(signal) }
        return result
    }
}

/// The handler: only async-signal-safe work (atomics, `raise`).
private func interrupted(_ signal: Int32) {
    if Interruption.writing.load(ordering: .sequentiallyConsistent) {
        Interruption.pending.store(signal, ordering: .sequentiallyConsistent)
    } else {
        // The action is the default again (SA_RESETHAND): delivered as the handler returns.
        Signals.raise(signal)
    }
}
