import ArgumentParser
import Stoa

/// How records are printed.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    /// One stored line per record, exactly as stored.
    case jsonl
    /// One JSON array of the records.
    case json
    /// Each record indented, for reading.
    case pretty
}

/// The options every reading command shares.
struct QueryOptions: ParsableArguments {
    @Option(help: "Records at or after this time.")
    var since: TimeArgument?
    @Option(help: "Records before this time.")
    var until: TimeArgument?
    @Option(name: .customLong("type"), help: "Records of this type (repeat for several).")
    var types: [String] = []
    @Option(help: "Records of this conversation.")
    var conversation: String?
    @Option(help: "Records whose line contains this text.")
    var grep: String?
    @Option(help: "At most this many records.")
    var limit: Int?
    @Flag(help: "Newest first.")
    var reverse = false

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
    }

    func makeQuery(now: Int64) throws -> Stoa.Query {
        Stoa.Query(
            since: try since?.resolve(now: now), until: try until?.resolve(now: now), types: Set(types),
            conversation: conversation, contains: grep, limit: limit, order: reverse ? .newestFirst : .oldestFirst)
    }
}

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the records that match, in time order.")

    @Argument(help: "The store's directory.")
    var directory: String

    @OptionGroup var options: QueryOptions

    @Option(help: "jsonl (as stored), json (one array) or pretty.")
    var output: OutputFormat = .jsonl

    func run() throws {
        try running {
            let reader = try StoreReader(at: directory)
            let cursor = try reader.query(try options.makeQuery(now: Timestamp.now()))
            try printRecords(cursor, format: output)
        }
    }
}

/// Prints records in a format; reports skipped damaged lines on stderr.
func printRecords(_ cursor: RecordCursor, format: OutputFormat) throws {
    var out = Output()
    var first = true
    if format == .json { out.write("[") }
    while let record = try cursor.next() {
        switch format {
        case .jsonl:
            out.write(record.bytes)
            out.write("\n")
        case .json:
            out.write(first ? "\n" : ",\n")
            out.write(record.bytes)
        case .pretty:
            out.write(JSONFormatting.pretty(record.bytes))
            out.write("\n")
        }
        first = false
    }
    if format == .json { out.write(first ? "]\n" : "\n]\n") }
    out.flush()
    for damaged in cursor.damaged {
        printError("stoa: skipped damaged line \(damaged)")
    }
}
