// stoa-bench log: what a swift-log call costs its caller with StoaLogHandler.
//
//     stoa-bench log [--records N] [--repeat K] [--dir D]
//
// Each row logs N records of the same shape (an `error` with a message, two
// metadata values, the call's source, file, function and line), the best of
// K runs:
//
//   swift-log, discarded    Logger with a handler that drops each event: the floor of the API
//   EventLogger.log(type:)  the core library's own structured call, same fields
//   StoaLogHandler          Logger(label:factory:) writing through an EventLogger
//
// and reports
//
//   caller      the time of the calls alone, per call, with a buffer of N
//               records: what a call costs the program that logs (the
//               background writer runs meanwhile, on the other core)
//   stored      records per second until all are in the store (`stop()`
//               flushes), with the default buffer of 100 and overflow
//               `.block`, so that every record is stored: the writer's pace

import Foundation
import Logging
import Stoa
import StoaLogging

struct LogHandlerOptions {
    var records = 200_000
    var repeats = 3
    var directory: String?
}

func parseLogHandlerOptions(_ arguments: [String]) -> LogHandlerOptions {
    var options = LogHandlerOptions()
    var arguments = arguments[...]
    while let argument = arguments.popFirst() {
        guard let value = arguments.popFirst() else { usage("\(argument) needs a value") }
        switch argument {
        case "--records":
            guard let records = Int(value), records > 0 else { usage("bad --records \(value)") }
            options.records = records
        case "--repeat":
            guard let repeats = Int(value), repeats > 0 else { usage("bad --repeat \(value)") }
            options.repeats = repeats
        case "--dir": options.directory = value
        default: usage("unknown option \(argument)")
        }
    }
    return options
}

func runLogHandlerBench(_ options: LogHandlerOptions) throws {
    let base = (options.directory ?? NSTemporaryDirectory()) + "/stoa-bench-log-\(getpid())"
    try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: base) }
    let count = options.records
    var run = 0

    /// The best (calls, until stored) of K runs, in seconds.
    func best(_ body: (EventLogger?) -> Void, store: Bool) -> (calls: Double, stored: Double) {
        var result = (calls: Double.infinity, stored: Double.infinity)
        for bufferSize in store ? [count, 100] : [0] {
            var configuration = EventLogger.Configuration()
            configuration.bufferSize = bufferSize
            configuration.overflow = .block
            for _ in 0..<options.repeats {
                run += 1
                let events = store ? EventLogger(storePath: "\(base)/\(run)", configuration: configuration) : nil
                let start = DispatchTime.now().uptimeNanoseconds
                body(events)
                let called = DispatchTime.now().uptimeNanoseconds
                let stats = events?.stop()
                let stored = DispatchTime.now().uptimeNanoseconds
                if let stats, stats.flushed != count { printError("stoa-bench: \(stats)") }
                if bufferSize == count || !store { result.calls = min(result.calls, Double(called - start) / 1e9) }
                if bufferSize == 100 { result.stored = min(result.stored, Double(stored - start) / 1e9) }
            }
        }
        return result
    }

    let rows: [(String, (calls: Double, stored: Double))] = [
        ("swift-log, discarded", best({ _ in
            let logger = Logger(label: "checkout") { _ in DiscardingHandler() }
            for n in 0..<count { logger.error("payment failed", metadata: ["order": "\(n)", "attempt": "2"]) }
        }, store: false)),
        ("EventLogger.log(type:)", best({ events in
            let events = events!
            for n in 0..<count {
                events.log(
                    type: "error",
                    [
                        "label": "checkout", "message": "payment failed",
                        "metadata": ["attempt": "2", "order": .string("\(n)")],
                        "source": "stoa_bench", "file": .string(#fileID), "function": .string(#function),
                        "line": .int(Int64(#line)),
                    ])
            }
        }, store: true)),
        ("StoaLogHandler", best({ events in
            let logger = Logger(label: "checkout") { StoaLogHandler(label: $0, logger: events!) }
            for n in 0..<count { logger.error("payment failed", metadata: ["order": "\(n)", "attempt": "2"]) }
        }, store: true)),
    ]
    print("\(count) log calls, best of \(options.repeats)")
    print("                          caller ns/call   stored records/s")
    for (name, times) in rows {
        let perCall = String(format: "%.0f", times.calls / Double(count) * 1e9)
        let rate = times.stored.isFinite ? String(format: "%.0f", Double(count) / times.stored) : "-"
        print(
            name.padding(toLength: 24, withPad: " ", startingAt: 0)
                + String(repeating: " ", count: max(0, 16 - perCall.count)) + perCall
                + String(repeating: " ", count: max(0, 19 - rate.count)) + rate)
    }
}

/// A handler that logs everything and keeps nothing: what swift-log's API
/// costs before any backend work (its no-op handler's level, `critical`,
/// would skip the calls before they build their metadata).
struct DiscardingHandler: LogHandler {
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {}
}
