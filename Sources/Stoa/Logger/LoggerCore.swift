import Foundation

/// The logger's shared state and its flusher thread.
///
/// `log` callers put records into ``buffer``; one thread (``run()``) takes
/// the whole buffer as a batch when it is full, when the flush interval has
/// passed, when ``EventLogger/flush()`` asks, or when stopping; it writes
/// the batch to the store, retrying with backoff, and else to the fallback
/// directory.
final class LoggerCore: @unchecked Sendable {
    // Unchecked: its `var`s are read and written with `condition` locked.
    // Every `var` below is protected by `condition`; the `let`s are immutable.
    // `condition` is broadcast whenever the buffer gains or loses records, a
    // flush is asked for or done, and when stopping begins or ends.
    let condition = NSCondition()
    private var buffer: RecordRing
    private var stats = EventLogger.Stats()
    /// Flushes asked for so far, and how many of those are done: a flush
    /// asked for is done once the flusher has written every record that was
    /// in the buffer when it was asked.
    private var flushesAsked: UInt64 = 0
    private var flushesDone: UInt64 = 0
    /// `stop()` has begun: `log` refuses new records.
    private var stopping = false
    /// The flusher thread has ended (after `stopping`, with nothing left).
    private var finished = false

    let configuration: EventLogger.Configuration
    private let sink: LoggerSink
    /// The flush interval (µs).
    private let interval: Int64
    /// The longest single wait (µs): a day.
    static let longestWait: Int64 = 86_400_000_000
    private let initialBackoff: Int64
    private let maxBackoff: Int64
    /// When the interval is up, and how long backoff waits.
    private let clock: StoaClock

    init(configuration: EventLogger.Configuration, sink: LoggerSink, clock: StoaClock) {
        self.configuration = configuration
        self.sink = sink
        self.clock = clock
        self.buffer = RecordRing(capacity: configuration.bufferSize)
        self.stats.bufferCapacity = configuration.bufferSize
        // At most a day: Foundation traps on a deadline past what it can
        // convert (`.seconds(Int64.max)`); flushing sooner loses nothing.
        self.interval = min(configuration.flushInterval.saturatingMicroseconds, Self.longestWait)
        self.initialBackoff = configuration.initialBackoff.saturatingMicroseconds
        self.maxBackoff = max(configuration.maxBackoff.saturatingMicroseconds, 0)
    }

    /// Starts the flusher thread. It holds the core (not the logger) until it ends.
    func start() {
        // The first interval counts from here, not from when the thread runs.
        let deadline = RecordTime.adding(clock.now(), interval)
        let thread = Thread { [self] in run(firstDeadline: deadline) }
        thread.name = "stoa-logger"
        thread.start()
    }

    // MARK: The callers' side

    /// Takes in one encoded record, or counts it as dropped; never throws.
    /// Blocks only under the `block` strategy, while the buffer is full.
    func enqueue(_ record: Result<[UInt8], StoaError>) {
        condition.lock()
        defer { condition.unlock() }
        if stopping {
            stats.logged += 1
            stats.droppedAfterStop += 1
            return
        }
        let bytes: [UInt8]
        switch record {
        case .success(let encoded):
            bytes = encoded
        case .failure(let error):
            stats.logged += 1
            stats.rejected += 1
            stats.lastError = error
            return
        }
        if buffer.isFull {
            switch configuration.overflow {
            case .dropNewest:
                stats.logged += 1
                stats.droppedOverflow += 1
                condition.broadcast()
                return
            case .dropOldest:
                buffer.removeFirst()
                stats.droppedOverflow += 1
            case .block:
                // The flusher never ends while someone waits, and it always
                // empties a full buffer: room comes.
                stats.waiting += 1
                condition.broadcast()
                while buffer.isFull { condition.wait() }
                stats.waiting -= 1
            }
        }
        buffer.append(bytes)
        stats.logged += 1
        if buffer.isFull || stopping { condition.broadcast() }
    }

    /// Waits until every record buffered before the call is written (to the
    /// store or a fallback file) or dropped.
    func flush() {
        condition.lock()
        defer { condition.unlock() }
        guard !finished else { return }
        flushesAsked += 1
        let ticket = flushesAsked
        condition.broadcast()
        while flushesDone < ticket && !finished { condition.wait() }
    }

    /// Refuses new records, flushes everything (records already waiting for
    /// room under `block` included), and waits for the flusher to end.
    func stop() {
        condition.lock()
        defer { condition.unlock() }
        stopping = true
        condition.broadcast()
        while !finished { condition.wait() }
    }

    var snapshot: EventLogger.Stats {
        condition.lock()
        defer { condition.unlock() }
        var copy = stats
        copy.bufferFill = buffer.count
        return copy
    }

    /// Whether `stop()` has begun (for tests).
    var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    /// Wakes the flusher, which looks at the clock again (for tests that move it).
    func wake() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    /// Keeps `error` as the last one (from outside the flusher: closing).
    func note(_ error: StoaError) {
        condition.lock()
        stats.lastError = error
        condition.unlock()
    }

    // MARK: The flusher

    /// The flusher thread's loop.
    private func run(firstDeadline: Int64) {
        condition.lock()
        var deadline = firstDeadline
        while true {
            // Wait for a reason to write: the interval is up by the clock
            // (looked at again on every wake-up).
            while !buffer.isFull && flushesDone == flushesAsked && !stopping {
                let left = RecordTime.span(from: clock.now(), to: deadline)
                if left <= 0 { break }
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(min(left, Self.longestWait)) / 1_000_000))
            }
            if stopping && buffer.isEmpty {
                // Someone blocked before the stop still gets in: wait for it.
                if stats.waiting > 0 {
                    condition.wait()
                    continue
                }
                break
            }
            let asked = flushesAsked
            let batch = buffer.removeAll()
            stats.inFlight = batch.count
            condition.broadcast()  // room for the blocked
            if !batch.isEmpty {
                condition.unlock()
                deliver(batch)
                condition.lock()
            }
            flushesDone = max(flushesDone, asked)
            condition.broadcast()
            deadline = RecordTime.adding(clock.now(), interval)
        }
        finished = true
        flushesDone = flushesAsked
        condition.broadcast()
        condition.unlock()
    }

    /// Writes one batch: to the store, retrying with backoff; then to a
    /// fallback file; else the records are counted as unwritable. Called
    /// without the lock held; updates the counters as it goes, so that
    /// every snapshot adds up.
    private func deliver(_ batch: [[UInt8]]) {
        var records = batch
        var failures = 0
        var backoff = initialBackoff
        while !records.isEmpty {
            let (stored, failure) = sink.write(records, durability: configuration.durability)
            if stored > 0 {
                // A batch that spans segments can fail after its first records are in.
                records.removeFirst(stored)
                update {
                    $0.flushed += UInt64(stored)
                    $0.inFlight -= stored
                    if failure == nil { $0.flushes += 1 }
                }
            }
            guard let error = failure else { return }
            if stored == 0 && Self.isRecordError(error, count: records.count) {
                // One bad record does not sink the batch: drop it, try the rest at once.
                records.remove(at: error.line! - 1)
                update {
                    $0.rejected += 1
                    $0.inFlight -= 1
                    $0.lastError = error
                }
                continue
            }
            let retrying = failures < configuration.maxRetries
            update {
                $0.lastError = error
                if retrying { $0.retried += 1 }
            }
            guard retrying else { break }
            failures += 1
            if backoff > 0 { clock.sleep(min(backoff, Self.longestWait)) }
            backoff = min(backoff > Int64.max / 2 ? Int64.max : backoff * 2, maxBackoff)
        }
        guard !records.isEmpty else { return }
        do {
            try sink.fallback.write(records, now: clock.now())
            update {
                $0.fellBack += UInt64(records.count)
                $0.fallbackFiles += 1
                $0.inFlight -= records.count
            }
        } catch {
            update {
                $0.droppedUnwritable += UInt64(records.count)
                $0.inFlight -= records.count
                $0.lastError = error
            }
        }
    }

    /// Whether the store refused one record of the batch (and not the write).
    private static func isRecordError(_ error: StoaError, count: Int) -> Bool {
        guard error.code == .invalidRecord || error.code == .recordTooLarge, let line = error.line else { return false }
        return line >= 1 && line <= count
    }

    private func update(_ body: (inout EventLogger.Stats) -> Void) {
        condition.lock()
        body(&stats)
        condition.unlock()
    }
}

/// Where the flusher writes: the store (opened on demand when the logger
/// owns it) and the fallback directory.
final class LoggerSink: Sendable {
    enum Destination: Sendable {
        /// The logger opens the store at this path, and reopens it after a
        /// failure to open or a failure that closed it.
        case owned(path: String, configuration: StoreConfiguration)
        /// The caller's store: used as it is, never closed by the logger.
        case borrowed(Store)
    }

    let destination: Destination
    let fallback: FallbackWriter
    private let fileSystem: any FileSystem
    /// The owned store while it is open. Only the flusher thread opens and
    /// uses it; `close()` takes it after the flusher has ended.
    private let store: Protected<Store?>

    /// The time of the store the logger opens.
    private let clock: StoaClock

    init(destination: Destination, fallbackDirectory: String, fileSystem: any FileSystem, clock: StoaClock) {
        self.destination = destination
        self.fallback = FallbackWriter(directory: fallbackDirectory, fileSystem: fileSystem)
        self.fileSystem = fileSystem
        self.clock = clock
        if case .borrowed(let store) = destination {
            self.store = Protected(store)
        } else {
            self.store = Protected(nil)
        }
    }

    /// Opens the owned store if it is not open; returns it.
    @discardableResult
    func open() throws(StoaError) -> Store {
        if let store = store.withLock({ $0 }) { return store }
        guard case .owned(let path, let configuration) = destination else {
            preconditionFailure("a borrowed store is always set")
        }
        let opened = try Store(at: path, creating: configuration, fileSystem: fileSystem, clock: clock)
        store.withLock { $0 = opened }
        return opened
    }

    /// Appends `records` to the store.
    ///
    /// - Returns: how many of the first records are stored (all of them
    ///   unless it failed), and the failure. A batch that spans segments can
    ///   fail after its first records are stored: for an owned store (the
    ///   logger is its only writer) the store's next seq tells how many. For
    ///   a borrowed store other writers may be appending too, so a failure
    ///   counts as nothing stored: the retry may store a record twice, never
    ///   lose one.
    func write(_ records: [[UInt8]], durability: Durability?) -> (stored: Int, failure: StoaError?) {
        let store: Store
        do {
            store = try open()
        } catch {
            return (0, error)
        }
        let before = store.writeStats.nextSeq
        do {
            try store.append(contentsOf: records, durability: durability)
            return (records.count, nil)
        } catch {
            guard case .owned = destination else { return (0, error) }
            let after = store.writeStats.nextSeq
            let stored = after > before ? Int(min(after - before, UInt64(records.count))) : 0
            // An owned store that stopped after a failure comes back by reopening.
            if error.code == .closed {
                try? store.close()
                self.store.withLock { $0 = nil }
            }
            return (stored, error)
        }
    }

    /// Closes the owned store, if open. A borrowed one stays open.
    func close() throws(StoaError) {
        guard case .owned = destination else { return }
        let store = store.withLock { (slot) -> Store? in
            defer { slot = nil }
            return slot
        }
        try store?.close()
    }
}
