extension EventLogger {
    /// What `log` does with a record when the buffer is full and the
    /// flusher cannot make room yet (it is still writing the previous batch,
    /// or retrying a store that fails).
    public enum OverflowStrategy: String, Sendable, Hashable, CaseIterable {
        /// Drop the oldest buffered record to make room for the new one (the default).
        case dropOldest
        /// Drop the new record; the buffer keeps the older ones.
        case dropNewest
        /// Wait until the flusher makes room. The only strategy under which
        /// `log` can block.
        case block
    }

    /// How an ``EventLogger`` buffers, flushes, retries and falls back.
    ///
    /// ```swift
    /// var configuration = EventLogger.Configuration()
    /// configuration.bufferSize = 1_000
    /// configuration.flushInterval = .seconds(1)
    /// configuration.overflow = .block
    /// let logger = EventLogger(storePath: "logs/agent-7", configuration: configuration)
    /// ```
    public struct Configuration: Sendable {
        /// How many records the buffer holds (at least 1). A full buffer
        /// starts a flush at once. While a batch is being written the buffer
        /// fills again, so at most twice this many records are held in memory.
        public var bufferSize: Int = 100
        /// The longest a record waits in the buffer before it is flushed
        /// (when the buffer does not fill first). Default 10 s.
        public var flushInterval: Duration = .seconds(10)
        /// What to do when the buffer is full. Default ``OverflowStrategy/dropOldest``.
        public var overflow: OverflowStrategy = .dropOldest
        /// How many times a batch the store refused is tried again before it
        /// goes to the fallback directory. Default 3 (so 4 attempts in all).
        public var maxRetries: Int = 3
        /// The wait before the first retry; it doubles with every retry of
        /// the same batch, up to ``maxBackoff``. Default 100 ms.
        public var initialBackoff: Duration = .milliseconds(100)
        /// The longest wait between two attempts. Default 5 s.
        public var maxBackoff: Duration = .seconds(5)
        /// Where batches go that the store could not take: one JSONL file per
        /// batch, for `stoa import` later. `nil` (the default) means
        /// `<store path>.fallback`, a sibling of the store's directory (never
        /// inside it: the store's directory may be the thing that is broken).
        public var fallbackDirectory: String?
        /// The durability of the logger's appends; `nil` (the default) uses
        /// the store's own (`durability` in `stoa.json`).
        public var durability: Durability?
        /// The settings of the store when the logger creates it (it opens an
        /// existing store with the settings in its `stoa.json`).
        public var storeConfiguration = StoreConfiguration()

        /// The settings, each defaulting to the value its property documents.
        public init(
            bufferSize: Int = 100, flushInterval: Duration = .seconds(10), overflow: OverflowStrategy = .dropOldest,
            maxRetries: Int = 3, initialBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(5),
            fallbackDirectory: String? = nil, durability: Durability? = nil,
            storeConfiguration: StoreConfiguration = StoreConfiguration()
        ) {
            self.bufferSize = bufferSize
            self.flushInterval = flushInterval
            self.overflow = overflow
            self.maxRetries = maxRetries
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
            self.fallbackDirectory = fallbackDirectory
            self.durability = durability
            self.storeConfiguration = storeConfiguration
        }

        /// Traps on values no logger can work with: they are programming errors.
        func check() {
            precondition(bufferSize >= 1, "EventLogger bufferSize must be at least 1, got \(bufferSize)")
            precondition(maxRetries >= 0, "EventLogger maxRetries must not be negative, got \(maxRetries)")
            precondition(flushInterval > .zero, "EventLogger flushInterval must be positive")
            precondition(initialBackoff >= .zero && maxBackoff >= .zero, "EventLogger backoffs must not be negative")
        }
    }
}
