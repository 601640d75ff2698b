import Foundation

/// A logger for programs that must never block or fail because of logging:
/// records go into a bounded buffer, and a background thread writes them to
/// a store in batches.
///
/// `log` validates the record, gives it its time (a record without one gets
/// `"ts"` = the moment of the `log` call, not of the flush) and buffers it. It
/// never throws: a record that is not a valid JSON object is counted as
/// ``Stats/rejected``, with the reason in ``Stats/lastError``. It blocks only
/// under ``OverflowStrategy/block``.
///
/// The buffer is flushed when it is full, every ``Configuration/flushInterval``,
/// on ``flush()`` and on ``stop()``. A batch the store refuses (disk full, I/O
/// error, the store locked by another writer or its directory missing) is
/// tried again ``Configuration/maxRetries`` times with exponential backoff, then
/// written to the fallback directory as a JSONL file (`stoa import` takes it
/// back). When the buffer is full while a batch is being written, the
/// ``Configuration/overflow`` strategy decides.
///
/// ```swift
/// let logger = EventLogger(storePath: "logs/agent-7")
/// logger.log(type: "tool_call", ["tool": "grep", "ms": 12])
/// logger.log(#"{"type":"message","role":"user","text":"hi"}"#)
/// logger.stop()   // flushes everything, then closes the store
/// print(logger.stats)   // logged 2, flushed 2, fell back 0, dropped 0 …
/// ```
///
/// Every record is accounted for: at any moment
/// `logged == flushed + fellBack + dropped + bufferFill + inFlight` (see
/// ``Stats``). Records reach the store in the order they were logged (with
/// ``OverflowStrategy/dropOldest`` or when a batch falls back, some are
/// missing from it, never reordered).
///
/// A failed sync (`durability` `always`) leaves the records of its batch in
/// doubt: they may be on disk. The logger writes them again (to the store
/// after reopening it, or to a fallback file), so such a failure can store a
/// record twice but does not lose it.
///
/// The logger is safe to share between threads and tasks. Dropping the last
/// reference stops it (flushing); prefer calling ``stop()``.
public final class EventLogger: Sendable {
    /// The settings given at creation.
    public let configuration: Configuration
    /// Where batches go that the store could not take.
    public let fallbackDirectory: String

    private let core: LoggerCore
    private let sink: LoggerSink
    /// Validates records and adds their time, with the store's field names.
    private let encoder: RecordEncoder
    private let typeField: String
    /// The time records are stamped with (tests advance one by hand).
    private let clock: StoaClock

    /// Creates a logger that opens (or creates) the store at `storePath` and
    /// closes it on ``stop()``.
    ///
    /// Creating the logger never fails: when the store cannot be opened now
    /// (locked by another writer, a missing parent directory, a full disk),
    /// the error is kept in ``Stats/lastError`` and every flush tries to open
    /// it again, falling back like any failed write.
    ///
    /// - Parameters:
    ///   - storePath: the store's directory.
    ///   - configuration: buffering, flushing and fallback settings;
    ///     ``Configuration/storeConfiguration`` applies if the store is new.
    public convenience init(storePath: String, configuration: Configuration = Configuration()) {
        self.init(storePath: storePath, configuration: configuration, fileSystem: SystemFileSystem())
    }

    /// Creates a logger that writes to `store`, which stays the caller's:
    /// ``stop()`` does not close it. Close it after stopping the logger.
    ///
    /// - Parameters:
    ///   - store: an open store.
    ///   - configuration: buffering, flushing and fallback settings.
    public convenience init(store: Store, configuration: Configuration = Configuration()) {
        self.init(store: store, configuration: configuration, fileSystem: SystemFileSystem())
    }

    /// - Parameter clock: the time of stamps, flushes and backoff, and of
    ///   the store the logger opens (tests advance one by hand, then call
    ///   ``wake()``).
    convenience init(
        storePath: String, configuration: Configuration, fileSystem: any FileSystem, clock: StoaClock = .system
    ) {
        let sink = LoggerSink(
            destination: .owned(path: storePath, configuration: configuration.storeConfiguration),
            fallbackDirectory: Self.fallbackDirectory(configuration, storePath: storePath), fileSystem: fileSystem,
            clock: clock)
        var failure: StoaError?
        let fields: StoreConfiguration
        do {
            fields = try sink.open().configuration
        } catch {
            failure = error
            // Validate as the store will: with its stoa.json if there is one.
            let existing = try? StoreConfiguration.load(from: StoreLayout(root: storePath).configuration)
            fields = existing ?? configuration.storeConfiguration
        }
        self.init(sink: sink, storeConfiguration: fields, configuration: configuration, clock: clock)
        if let failure { core.note(failure) }
    }

    convenience init(
        store: Store, configuration: Configuration, fileSystem: any FileSystem, clock: StoaClock = .system
    ) {
        let sink = LoggerSink(
            destination: .borrowed(store),
            fallbackDirectory: Self.fallbackDirectory(configuration, storePath: store.path), fileSystem: fileSystem,
            clock: clock)
        self.init(sink: sink, storeConfiguration: store.configuration, configuration: configuration, clock: clock)
    }

    private init(sink: LoggerSink, storeConfiguration: StoreConfiguration, configuration: Configuration, clock: StoaClock) {
        configuration.check()
        self.configuration = configuration
        self.clock = clock
        self.fallbackDirectory = sink.fallback.directory
        self.sink = sink
        self.encoder = RecordEncoder(
            fields: storeConfiguration.fields, maxRecordBytes: Int(storeConfiguration.maxRecordBytes))
        self.typeField = storeConfiguration.fields.type.first ?? "type"
        self.core = LoggerCore(configuration: configuration, sink: sink, clock: clock)
        core.start()
    }

    deinit {
        stop()
    }

    /// The configured fallback directory, or `<store path>.fallback`.
    static func fallbackDirectory(_ configuration: Configuration, storePath: String) -> String {
        if let directory = configuration.fallbackDirectory { return directory }
        var path = storePath
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        // `.` or `..` name no sibling: use the directory's absolute path.
        let last = Path.lastComponent(of: path)
        if last == "." || last == ".." {
            path = URL(fileURLWithPath: path).standardizedFileURL.path
        }
        return path + ".fallback"
    }

    // MARK: Logging

    /// Logs one record: a JSON object, compact or pretty-printed, as UTF-8.
    ///
    /// Never throws; blocks only under ``OverflowStrategy/block`` while the
    /// buffer is full. An invalid record is counted in ``Stats/rejected``.
    ///
    /// - Complexity: O(*n*) in the record's length (it is validated here).
    public func log<Bytes: Collection<UInt8>>(_ record: Bytes) {
        let now = clock.now()
        let encoder = self.encoder
        core.enqueue(
            record.withContiguousStorageIfAvailable { Self.encode($0, encoder: encoder, now: now) }
                ?? Array(record).withUnsafeBufferPointer { Self.encode($0, encoder: encoder, now: now) })
    }

    /// Logs one record given as JSON text.
    ///
    /// ```swift
    /// logger.log(#"{"type":"message","role":"assistant","text":"done"}"#)
    /// ```
    public func log(_ json: String) {
        var json = json
        let now = clock.now()
        let encoder = self.encoder
        core.enqueue(json.withUTF8 { Self.encode($0, encoder: encoder, now: now) })
    }

    /// Logs a record of `type` with `fields`, in the order given; the time is
    /// added (as `ts`, first) unless `fields` has one.
    ///
    /// ```swift
    /// logger.log(type: "tool_call", ["tool": "grep", "args": ["-r", "TODO"], "ms": 12])
    /// ```
    public func log(type: String, _ fields: KeyValuePairs<String, JSONValue> = [:]) {
        var members = [JSONValue.Member(typeField, .string(type))]
        for (key, value) in fields where key != typeField {
            members.append(JSONValue.Member(key, value))
        }
        log(JSONValue.object(members).jsonBytes)
    }

    /// Logs a value encoded with `encoder`: by default as
    /// ``Store/append(encoding:encoder:durability:)`` encodes it (`Date`s
    /// become RFC 3339 text with microseconds, which ``Record/decode(_:decoder:)``
    /// reads back). A value that does not encode to a JSON object is counted
    /// in ``Stats/rejected``.
    public func log(encoding value: some Encodable, encoder: JSONEncoder = .forStoaRecords()) {
        let bytes: [UInt8]
        do {
            bytes = try Store.encodeRecord(value, encoder: encoder)
        } catch {
            core.enqueue(.failure(error))
            return
        }
        log(bytes)
    }

    /// Validates `input` and gives it a time: the line the store will keep,
    /// without its newline.
    private static func encode(
        _ input: UnsafeBufferPointer<UInt8>, encoder: RecordEncoder, now: Int64
    ) -> Result<[UInt8], StoaError> {
        var output: [UInt8] = []
        output.reserveCapacity(input.count + 40)
        do {
            _ = try encoder.encode(input, into: &output, now: now)
        } catch {
            return .failure(error)
        }
        output.removeLast()  // the newline
        return .success(output)
    }

    // MARK: Flushing and stopping

    /// Writes every record logged before the call, and waits until it is in
    /// the store, in a fallback file, or counted as dropped. Returns at once
    /// after ``stop()``.
    public func flush() {
        core.flush()
    }

    /// Stops the logger: refuses new records (they are counted in
    /// ``Stats/droppedAfterStop``), writes every buffered record (records
    /// already waiting for room under ``OverflowStrategy/block`` too), and
    /// closes the store if the logger opened it. Stopping again is harmless.
    ///
    /// - Returns: the final stats. A failure to close the store is in
    ///   ``Stats/lastError``.
    @discardableResult
    public func stop() -> Stats {
        core.stop()
        do {
            try sink.close()
        } catch {
            core.note(error)
        }
        return core.snapshot
    }

    /// The counters now (see ``Stats`` for how they add up).
    public var stats: Stats { core.snapshot }

    /// Whether ``stop()`` has begun.
    var isStopping: Bool { core.isStopping }

    /// Has the flusher look at the clock again: a test calls it after
    /// moving the logger's clock on (the flusher waits in real time).
    func wake() { core.wake() }
}
