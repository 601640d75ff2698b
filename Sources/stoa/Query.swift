import ArgumentParser
import Stoa

#if canImport(Glibc)
import Glibc
#endif

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
    @Option(name: .customLong("where"), help: ArgumentHelp(FieldFilterArguments.help, valueName: "filter"))
    var filters: [String] = []
    @Option(help: "At most this many records.")
    var limit: Int?
    @Flag(help: "Newest first.")
    var reverse = false

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
        try FieldFilterArguments.validate(filters)
        if types.contains("") {
            // The index files records without a type, and those whose type is null, a number or "", alike.
            throw ValidationError(
                "--type \"\" selects nothing: a type is a non-empty string. Records without one (no type field, "
                    + "or null, a number, \"\") are counted as (none) by stoa stats; to list them, filter the "
                    + "output of stoa query (jq)")
        }
    }

    /// The query these options ask for, times resolved against `now`.
    ///
    /// - Throws: `.invalidArgument` (exit 64) for a time that cannot be
    ///   read, or `--since` after `--until`: the two swapped are a mistake
    ///   to report, not a query that quietly finds nothing. (Equal times
    ///   are the empty range [t, t), as a script's zero-length window.)
    func makeQuery(now: Timestamp) throws(StoaError) -> Stoa.Query {
        let start = try since?.resolve(now: now)
        let end = try until?.resolve(now: now)
        if let start, let end, start > end {
            throw StoaError(
                .invalidArgument,
                "--since \(since!.text) (\(start)) is after --until \(until!.text) "
                    + "(\(end)): records are read from --since up to, not including, --until")
        }
        return Stoa.Query(
            since: start, until: end, types: Set(types), conversation: conversation, contains: grep,
            where: try FieldFilterArguments.parse(filters), limit: limit, order: reverse ? .newestFirst : .oldestFirst)
    }
}

/// `--where`, which every reading command takes.
enum FieldFilterArguments {
    static let help = """
        Records whose field meets this: PATH=VALUE, PATH!=VALUE, PATH<VALUE, PATH<=VALUE, PATH>VALUE, \
        PATH>=VALUE, or PATH? (present). PATH is a field or a dotted path into objects (tags.host); VALUE \
        is JSON if it reads as a number, a string, true, false or null, else a plain string (agent-1). \
        Repeat for several: all must hold. A record without the field matches only !=.
        """

    /// The filters `--where` gave, in order.
    ///
    /// - Throws: `.invalidArgument` (exit 64) naming the expression and
    ///   what was expected.
    static func parse(_ expressions: [String]) throws(StoaError) -> [FieldFilter] {
        var filters: [FieldFilter] = []
        for expression in expressions {
            do throws(StoaError) {
                filters.append(try FieldFilter.parse(expression))
            } catch {
                var refusal = error
                refusal.message = "--where: " + error.message
                throw refusal
            }
        }
        return filters
    }

    /// Checks the expressions before the command runs: a usage error
    /// (exit 64) for the first that cannot be read.
    static func validate(_ expressions: [String]) throws {
        do throws(StoaError) {
            _ = try parse(expressions)
        } catch {
            throw ValidationError(error.message)
        }
    }
}

/// The option of reading commands for directories Stoa does not own.
struct ForeignOptions: ParsableArguments {
    @Flag(
        help: """
            In a directory of logs Stoa does not own: keep the index cache in DIR/.stoa/ \
            (default: $STOA_CACHE_DIR, $XDG_CACHE_HOME/stoa or ~/.cache/stoa; DIR is never written).
            """)
    var cacheInPlace = false

    @Option(help: "In a directory of logs: the time fields, in order of preference (comma-separated; default ts,timestamp,time,@timestamp).")
    var timeFields: String?
    @Option(help: "In a directory of logs: the type fields (default type,event_type,event,kind).")
    var typeFields: String?
    @Option(
        help: """
            In a directory of logs: the conversation fields (default session,session_id,conversation_id,thread_id; \
            Claude Code's transcripts: sessionId).
            """)
    var conversationFields: String?

    /// The field names to read a directory of logs with.
    func fields() throws(StoaError) -> FieldNames {
        var fields = FieldNames.default
        if let time = try fieldList(timeFields, option: "time-fields") { fields.time = time }
        if let type = try fieldList(typeFields, option: "type-fields") { fields.type = type }
        if let conversation = try fieldList(conversationFields, option: "conversation-fields") {
            fields.conversation = conversation
        }
        return fields
    }
}

/// What a reading command reads: a store, or a directory of JSONL logs
/// Stoa does not own (§7, read only). Both are a `RecordReader`; what only
/// a foreign directory has (lines that are not records, files it could not
/// read) is reported by the extension below.
enum LogReader {
    /// The store at `directory`; else, when it has no `stoa.json` but holds
    /// `*.jsonl` or `*.jsonl.gz` files, those.
    static func open(_ directory: String, foreign: ForeignOptions) throws(StoaError) -> any RecordReader {
        guard let info = (try? Syscalls.status(directory)) ?? nil else {
            throw StoaError(.io, "no such directory", path: directory)
        }
        if info.st_mode & S_IFMT != S_IFDIR {
            throw StoaError(
                .invalidArgument,
                "a file, not a directory: give the directory that holds it (every *.jsonl and *.jsonl.gz in it "
                    + "is read), or copy it into a store with stoa import",
                path: directory)
        }
        let fields = try foreign.fields()
        do throws(StoaError) {
            let store = try StoreReader(at: directory)
            if fields != .default {
                throw StoaError(
                    .invalidArgument,
                    "--time-fields, --type-fields and --conversation-fields are for directories of logs; "
                        + "a store reads the fields its stoa.json names",
                    path: directory)
            }
            return store
        } catch where error.code == .notAStore {
            guard let names = try? ForeignLogReader.logFileNames(in: directory), !names.isEmpty else {
                var refusal = error
                refusal.message += ", and no *.jsonl or *.jsonl.gz files to read"
                let holding = ForeignLogReader.subdirectoriesHoldingLogs(in: directory)
                if !holding.isEmpty {
                    let shown = holding.prefix(3).joined(separator: ", ")
                    refusal.message +=
                        " (subdirectories are not read; these hold logs: \(shown)\(holding.count > 3 ? ", …" : ""))"
                }
                throw refusal
            }
            return try ForeignLogReader(at: directory, fields: fields, cache: foreign.cacheInPlace ? .inPlace : .automatic)
        }
    }
}

extension RecordReader {
    var isForeign: Bool { self is ForeignLogReader }

    /// For a foreign directory, reports on stderr the lines that are not
    /// records (how many, the first few); a store's damage is reported by
    /// the commands that meet it.
    func reportSkippedLines() throws(StoaError) {
        if let reader = self as? ForeignLogReader { printSkippedLines(try reader.skippedLines()) }
        reportUnreadableFiles()
    }

    /// For a foreign directory, names on stderr each entry the last read
    /// passed over because it cannot be read (the rest was read: the exit
    /// status stays 0, as for lines that are not records).
    func reportUnreadableFiles() {
        guard let reader = self as? ForeignLogReader else { return }
        for file in reader.unreadableFiles { printError("stoa: skipped unreadable file \(file)") }
    }
}

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Print the records that match, in time order.",
        discussion: """
            DIR may also be a directory of *.jsonl / *.jsonl.gz logs that Stoa does not own: it is \
            read as it is, never written (see --cache-in-place). Lines that are not records are \
            skipped and counted on stderr.
            """)

    @Argument(help: "The store's directory, or a directory of JSONL logs.")
    var directory: String

    @OptionGroup var options: QueryOptions

    @OptionGroup var foreign: ForeignOptions

    @Option(help: "jsonl (as stored), json (one array) or pretty.")
    var output: OutputFormat = .jsonl

    func run() throws {
        try running {
            let query = try options.makeQuery(now: Timestamp.now())
            let reader = try LogReader.open(directory, foreign: foreign)
            let cursor = try reader.query(query)
            try printRecords(cursor, format: output, foreign: reader.isForeign)
            reader.reportUnreadableFiles()
            // A store's damage (lines skipped, seqs missing) is named above:
            // the answer is not whole. (A directory of logs has lines that are
            // not records as a matter of course: counted, not a failure.)
            if !reader.isForeign && !cursor.damaged.isEmpty { throw ExitCode(1) }
        }
    }
}

/// Prints the lines of a foreign directory that were skipped: how many, and
/// the first few with their file and line.
func printSkippedLines(_ lines: [DamagedLine], shown: Int = 5) {
    guard !lines.isEmpty else { return }
    printError(
        lines.count == 1
            ? "stoa: skipped 1 line that is not a record" : "stoa: skipped \(lines.count) lines that are not records")
    for line in lines.prefix(shown) {
        printError("stoa:   \(line.path):line \(line.line): \(line.reason)")
    }
    if lines.count > shown { printError("stoa:   … and \(lines.count - shown) more") }
}

/// Prints records in a format; reports skipped damaged lines on stderr (for
/// a foreign directory, a count and the first few). Returns how many were printed.
@discardableResult
func printRecords(_ cursor: RecordCursor, format: OutputFormat, foreign: Bool = false) throws -> Int {
    var out = Output()
    var count = 0
    var first = true
    if format == .json { out.write("[") }
    cursor.forEach { record in
        record.withUnsafeBytes { bytes in
            switch format {
            case .jsonl:
                out.write(bytes)
                out.write("\n")
            case .json:
                out.write(first ? "\n" : ",\n")
                out.write(bytes)
            case .pretty:
                out.write(JSONFormatting.pretty(bytes))
                out.write("\n")
            }
        }
        first = false
        count += 1
    }
    if format == .json { out.write(first ? "]\n" : "\n]\n") }
    out.flush()
    if foreign {
        printSkippedLines(cursor.damaged)
        return count
    }
    for damaged in cursor.damaged {
        printError("stoa: skipped damaged line \(damaged)")
    }
    return count
}
