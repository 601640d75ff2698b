import Foundation
import Logging
import Stoa
import StoaLogging
import StoaTestSupport
import Testing

/// StoaLogHandler through swift-log's own API: `Logger(label:factory:)`, as
/// `LoggingSystem.bootstrap` may be called only once per process.
@Suite struct StoaLogHandlerTests {
    let stoa = builtProduct("stoa")

    /// A swift-log `Logger` writing through `events`.
    func logger(_ label: String, _ events: EventLogger, level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: label) { StoaLogHandler(label: $0, logger: events, metadataProvider: nil) }
        logger.logLevel = level
        return logger
    }

    /// The stored records, oldest first, as JSON objects.
    func objects(_ path: String, types: Set<String> = []) throws -> [[String: Any]] {
        try StoreReader(at: path).query(Query(types: types)).all().map {
            try #require(JSONSerialization.jsonObject(with: Data($0.bytes)) as? [String: Any])
        }
    }

    @Test func anErrorIsFoundByStoaQueryTypeError() throws {
        let directory = TemporaryDirectory()
        let events = EventLogger(storePath: directory.path)
        let logger = logger("checkout", events)
        logger.info("cart opened")
        let line = #line + 1
        logger.error("payment failed", metadata: ["order": "42"])
        events.stop()

        let result = try run(stoa, ["query", directory.path, "--type", "error"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        try #require(lines.count == 1, "\(result.stdout)")
        let record = try #require(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(record["type"] as? String == "error")
        #expect(record["label"] as? String == "checkout")
        #expect(record["message"] as? String == "payment failed")
        #expect(record["metadata"] as? [String: String] == ["order": "42"])
        #expect(record["source"] as? String == "StoaLoggingTests")
        #expect(record["file"] as? String == #fileID)
        #expect(record["function"] as? String == #function)
        #expect(record["line"] as? Int == line)
        #expect(lines[0].contains(#""label":"checkout""#))
        #expect(lines[0].contains(#""order":"42""#))
        // The time of the call, as every record's: first, RFC 3339.
        #expect(lines[0].hasPrefix(#"{"ts":""#))
    }

    @Test func eachLevelIsARecordType() throws {
        let directory = TemporaryDirectory()
        let events = EventLogger(storePath: directory.path)
        let logger = logger("levels", events, level: .trace)
        for level in Logger.Level.allCases {
            logger.log(level: level, "at \(level)")
        }
        events.stop()
        for level in Logger.Level.allCases {
            let found = try objects(directory.path, types: [level.rawValue])
            #expect(found.map { $0["message"] as? String } == ["at \(level)"], "\(level)")
        }
        #expect(Logger.Level.allCases.map(\.rawValue) == ["trace", "debug", "info", "notice", "warning", "error", "critical"])
    }

    @Test func belowTheLogLevelNothingIsStored() throws {
        let directory = TemporaryDirectory()
        let events = EventLogger(storePath: directory.path)
        var logger = logger("quiet", events, level: .notice)
        logger.info("not stored")
        logger.notice("stored")
        logger.logLevel = .trace
        logger.trace("stored too")
        events.stop()
        #expect(try objects(directory.path).map { $0["message"] as? String } == ["stored", "stored too"])
    }

    @Test func nestedMetadataIsJSON() throws {
        struct Amount: CustomStringConvertible, Sendable {
            var cents: Int
            var description: String { "\(cents / 100).\(cents % 100) EUR" }
        }
        let directory = TemporaryDirectory()
        let events = EventLogger(storePath: directory.path)
        let logger = logger("shop", events)
        logger.warning(
            "odd cart",
            metadata: [
                "items": ["apple", .dictionary(["sku": "p-1", "tags": ["red", "fresh"]])],
                "total": .stringConvertible(Amount(cents: 1250)),
                "customer": ["id": "c-7", "quote \"and\" slash/": "a\nb"],
                "empty": [:],
            ])
        events.stop()
        let records = try StoreReader(at: directory.path).query(Query()).all()
        try #require(records.count == 1)
        // Keys sorted, at every depth; values as swift-log gave them.
        #expect(
            records[0].json.contains(
                #""metadata":{"customer":{"id":"c-7","quote \"and\" slash/":"a\nb"},"empty":{},"#
                    + #""items":["apple",{"sku":"p-1","tags":["red","fresh"]}],"total":"12.50 EUR"}"#),
            "\(records[0].json)")
    }

    @Test func handlerProviderAndCallMetadataMergeLaterWinning() throws {
        struct Declined: Error {}
        let directory = TemporaryDirectory()
        let events = EventLogger(storePath: directory.path)
        let provider = Logger.MetadataProvider { ["trace": "t-1", "request": "from provider"] }
        var logger = Logger(label: "api") { StoaLogHandler(label: $0, logger: events, metadataProvider: provider) }
        logger[metadataKey: "request"] = "r-1"
        logger[metadataKey: "service"] = "billing"
        logger.error("declined", error: Declined(), metadata: ["service": "payments"])
        events.stop()
        let record = try #require(try objects(directory.path).first)
        let metadata = try #require(record["metadata"] as? [String: String])
        #expect(
            metadata == [
                "request": "from provider", "trace": "t-1", "service": "payments",
                "error.message": "Declined()", "error.type": String(reflecting: Declined.self),
            ])
    }

    @Test func aHandlerWithoutMetadataStoresAnEmptyObject() throws {
        let directory = TemporaryDirectory()
        let events = EventLogger(storePath: directory.path)
        logger("plain", events).critical("disk on fire", source: "Ops")
        events.stop()
        let record = try #require(try objects(directory.path, types: ["critical"]).first)
        #expect(record["metadata"] as? [String: String] == [:])
        #expect(record["source"] as? String == "Ops")
    }
}
