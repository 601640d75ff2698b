extension EventLogger {
    /// What a logger did with the records it was given, taken at one instant.
    ///
    /// Every record given to `log` is counted once in ``logged`` when it is
    /// buffered or dropped, and then is in exactly one place. In every
    /// snapshot:
    ///
    /// ```
    /// logged == flushed + fellBack + dropped + bufferFill + inFlight
    /// ```
    ///
    /// and once the logger is quiet (after ``EventLogger/flush()`` or
    /// ``EventLogger/stop()``), `inFlight` is 0. A `log` call that is waiting
    /// for room under ``OverflowStrategy/block`` is counted in ``waiting``
    /// only, until it gets in.
    public struct Stats: Sendable, CustomStringConvertible {
        /// Records given to `log` and taken in or dropped.
        public var logged: UInt64 = 0
        /// Records written to the store.
        public var flushed: UInt64 = 0
        /// Records written to fallback files (the store could not take them).
        public var fellBack: UInt64 = 0
        /// Records dropped because the buffer was full (the overflow strategy).
        public var droppedOverflow: UInt64 = 0
        /// Records given to `log` after ``EventLogger/stop()`` began.
        public var droppedAfterStop: UInt64 = 0
        /// Records refused as invalid: not a JSON object, an unreadable time
        /// field, too large, or a value that does not encode. ``lastError``
        /// keeps the reason of the last one.
        public var rejected: UInt64 = 0
        /// Records that neither the store nor the fallback directory could take.
        public var droppedUnwritable: UInt64 = 0
        /// Failed attempts to write a batch to the store that were tried again.
        public var retried: UInt64 = 0
        /// Batches written to the store.
        public var flushes: UInt64 = 0
        /// Fallback files written.
        public var fallbackFiles: UInt64 = 0
        /// Records in the buffer now.
        public var bufferFill: Int = 0
        /// Records of the batch being written now.
        public var inFlight: Int = 0
        /// `log` calls blocked now, waiting for room (``OverflowStrategy/block``).
        public var waiting: Int = 0
        /// The buffer's size.
        public var bufferCapacity: Int = 0
        /// The last error met: a rejected record, a failed write, a failed
        /// fallback, or a failure to close the store.
        public var lastError: StoaError?

        /// Records dropped, for any reason.
        public var dropped: UInt64 { droppedOverflow + droppedAfterStop + rejected + droppedUnwritable }

        public var description: String {
            var text = "logged \(logged), flushed \(flushed), fell back \(fellBack), dropped \(dropped)"
            text += " (overflow \(droppedOverflow), after stop \(droppedAfterStop), rejected \(rejected),"
            text += " unwritable \(droppedUnwritable)), retried \(retried), buffer \(bufferFill)/\(bufferCapacity)"
            if inFlight > 0 { text += ", in flight \(inFlight)" }
            if waiting > 0 { text += ", waiting \(waiting)" }
            if let lastError { text += ", last error: \(lastError)" }
            return text
        }
    }
}
