import Logging
import Stoa

/// A swift-log backend that writes each log call as a record of a Stoa
/// store, through an `EventLogger`.
///
/// The record's type is the level (`trace`, `debug`, `info`, `notice`,
/// `warning`, `error`, `critical`), so `stoa query DIR --type error` finds
/// what `logger.error(…)` logged. Its other fields are the logger's `label`,
/// the `message`, the `metadata` (the handler's, then the metadata
/// provider's, then the call's, later ones winning; nested values as JSON:
/// dictionaries as objects, arrays as arrays, anything else as a string),
/// the `source` module, and the `file`, `function` and `line` of the call.
/// The event logger stamps the time of the call (`ts`). A record logged with
/// an error has it in its metadata as `error.message` and `error.type`, as
/// swift-log's `StreamLogHandler` does.
///
/// ```swift
/// import Logging
/// import Stoa
/// import StoaLogging
///
/// let events = EventLogger(storePath: "logs/checkout")
/// LoggingSystem.bootstrap { label in StoaLogHandler(label: label, logger: events) }
/// Logger(label: "checkout").error("payment failed", metadata: ["order": "42"])
/// events.stop()   // flushes
/// ```
///
/// stores
///
/// ```json
/// {"ts":"2026-12-07T16:20:00.123456Z","type":"error","label":"checkout","message":"payment failed",
///  "metadata":{"order":"42"},"source":"Checkout","file":"Checkout/main.swift","function":"main()","line":4}
/// ```
///
/// A log call never blocks on the disk and never fails: the event logger
/// buffers the record and writes it in the background (see `EventLogger`
/// for its overflow strategy and fallback files). Stop the event logger
/// before the program exits, so that the last records are flushed.
public struct StoaLogHandler: LogHandler {
    /// The label of the `Logger` this handler serves; stored in each record.
    public let label: String
    /// Where the records go.
    public let logger: EventLogger

    /// The lowest level logged (`info` unless set, as for swift-log's own handlers).
    public var logLevel: Logger.Level = .info

    /// Metadata stored with every record of this handler.
    public var metadata: Logger.Metadata = [:]

    /// Metadata added to every record at the time of the call (task-local
    /// values, say); a call's own metadata wins over it.
    public var metadataProvider: Logger.MetadataProvider?

    /// Creates a handler for the `Logger` labelled `label`, writing through
    /// `logger`.
    ///
    /// - Parameters:
    ///   - label: the logger's label.
    ///   - logger: the event logger the records go through; one may serve
    ///     every handler of the program.
    ///   - metadataProvider: metadata added to every record; by default
    ///     the one given to `LoggingSystem.bootstrap`.
    public init(
        label: String, logger: EventLogger,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.label = label
        self.logger = logger
        self.metadataProvider = metadataProvider
    }

    /// One value of ``metadata``, by key (what `logger[metadataKey:]` sets).
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes `event` as one record (see ``StoaLogHandler`` for its fields).
    ///
    /// - Complexity: O(*n*) in the size of the message and metadata.
    public func log(event: LogEvent) {
        logger.log(
            type: event.level.rawValue,
            [
                "label": .string(label),
                "message": .string(event.message.description),
                "metadata": Self.json(mergedMetadata(event)),
                "source": .string(event.source),
                "file": .string(event.file),
                "function": .string(event.function),
                "line": .int(Int64(event.line)),
            ])
    }

    /// The handler's metadata, then the provider's, then the call's (later
    /// ones win), then the event's error.
    private func mergedMetadata(_ event: LogEvent) -> Logger.Metadata {
        // The common case: only the call's metadata (no dictionary to merge into).
        if metadata.isEmpty && metadataProvider == nil && event.error == nil { return event.metadata ?? [:] }
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty {
            merged.merge(provided) { _, provided in provided }
        }
        if let explicit = event.metadata, !explicit.isEmpty {
            merged.merge(explicit) { _, explicit in explicit }
        }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        return merged
    }

    /// `metadata` as a JSON object, its keys sorted (so that the same
    /// metadata is stored as the same bytes).
    static func json(_ metadata: Logger.Metadata) -> JSONValue {
        .object(metadata.sorted { $0.key < $1.key }.map { JSONValue.Member($0.key, json($0.value)) })
    }

    /// A metadata value as JSON: a dictionary as an object, an array as an
    /// array, a string or a string-convertible value as a string.
    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let string): .string(string)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .dictionary(let dictionary): json(dictionary)
        case .array(let values): .array(values.map { json($0) })
        }
    }
}
