import ArgumentParser
import Stoa

/// How summary rows are printed.
enum SummaryOutput: String, ExpressibleByArgument, CaseIterable {
    /// Aligned columns with a bar for each row's count.
    case table
    /// One JSON object per row, one per line.
    case json
    /// A header line, then one line per row; statistics flattened (`ms.p99`).
    case csv
}

/// The filters `stoa summarize` takes: those of `stoa query` but its limit
/// and order (a summary counts every record that matches).
struct SummaryFilterOptions: ParsableArguments {
    @Option(help: "Records at or after this time (with --until and --every: empty bins are printed too).")
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

    func validate() throws {
        try FieldFilterArguments.validate(filters)
        if types.contains("") {
            throw ValidationError("--type \"\" selects nothing: a type is a non-empty string (see stoa query --help)")
        }
    }

    /// The query of these filters, times resolved against `now`.
    ///
    /// - Throws: `.invalidArgument` (exit 64) for a time that cannot be
    ///   read, or `--since` after `--until`.
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
            where: try FieldFilterArguments.parse(filters))
    }
}

struct Summarize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summarize",
        abstract: "Count the records that match, per time bin and group, with statistics of numeric fields.",
        discussion: """
            Bins (--every) are aligned to multiples of the interval since the Unix epoch, UTC; whole weeks \
            to Monday 00:00 UTC, months (1mo, 3mo, 1y) to the first of a month. With --since and --until, \
            bins without records are printed with count 0. --by type and --by conversation group by the \
            record's type and conversation as the index knows them; any other --by is a field path, and a \
            record without it groups under null. For each --field: count, min, max, sum, avg, p50, p90, p99 \
            over the records where it is a number (percentiles exact, nearest rank). Rows are sorted by \
            start, then by the groups' JSON text. Output: table on a terminal, else json (one object a line).

            DIR may also be a directory of *.jsonl / *.jsonl.gz logs that Stoa does not own (read only).
            """)

    @Argument(help: "The store's directory, or a directory of JSONL logs.")
    var directory: String

    @OptionGroup var filters: SummaryFilterOptions

    @Option(help: "Bins this wide: 1m, 15m, 1h, 1d, 1w (from Monday), 1mo (calendar months), 1y.")
    var every: String?

    @Option(name: .customLong("by"), help: ArgumentHelp("Group by this: type, conversation, or a field path such as tags.host (repeat for several).", valueName: "path"))
    var groups: [String] = []

    @Option(name: .customLong("field"), help: ArgumentHelp("Statistics of this numeric field (repeat for several).", valueName: "path"))
    var fields: [String] = []

    @Option(help: "table (the default on a terminal), json (one object a line; the default otherwise) or csv.")
    var output: SummaryOutput?

    @OptionGroup var foreign: ForeignOptions

    func validate() throws {
        do throws(StoaError) {
            _ = try makeSummary(query: Stoa.Query())
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// The summary the options ask for, of `query`.
    func makeSummary(query: Stoa.Query) throws(StoaError) -> Summary {
        func prefixed<T>(_ option: String, _ body: () throws(StoaError) -> T) throws(StoaError) -> T {
            do throws(StoaError) {
                return try body()
            } catch {
                var refusal = error
                refusal.message = "--\(option): " + error.message
                throw refusal
            }
        }
        let interval = try every.map { text throws(StoaError) in try prefixed("every") { () throws(StoaError) in try Summary.Interval.parse(text) } }
        var by: [Summary.Group] = []
        for text in groups { by.append(try prefixed("by") { () throws(StoaError) in try Summary.Group.parse(text) }) }
        var paths: [FieldPath] = []
        for text in fields { paths.append(try prefixed("field") { () throws(StoaError) in try FieldPath.parse(text) }) }
        // Each name is a key of the JSON rows (and a column): once each.
        var names: Set<String> = interval == nil ? ["count"] : ["count", "start", "end"]
        for name in by.map(\.description) + paths.map(\.description) {
            guard names.insert(name).inserted else {
                throw StoaError(
                    .invalidArgument,
                    ["count", "start", "end"].contains(name)
                        ? "\"\(name)\" cannot be a --by or --field path: the rows have a column of that name"
                        : "\"\(name)\" is given twice: each --by and --field path names a column, once")
            }
        }
        return Summary(query: query, every: interval, by: by, fields: paths)
    }

    func run() throws {
        try running {
            let summary = try makeSummary(query: try filters.makeQuery(now: Timestamp.now()))
            let reader = try LogReader.open(directory, foreign: foreign)
            let (rows, damaged) = try reader.summarizeReportingDamage(summary)
            let format = output ?? (Syscalls.isTerminal(1) ? .table : .json)
            var out = Output()
            switch format {
            case .json:
                for row in rows {
                    out.write(summary.json(row).jsonBytes)
                    out.write("\n")
                }
            case .csv:
                SummaryText.writeCSV(rows, of: summary, to: &out)
            case .table:
                SummaryText.writeTable(rows, of: summary, color: Syscalls.environment("NO_COLOR") == nil && Syscalls.isTerminal(1), to: &out)
            }
            out.flush()
            if reader.isForeign {
                try reader.reportSkippedLines()
                return
            }
            for line in damaged { printError("stoa: skipped damaged line \(line)") }
            if !damaged.isEmpty { throw ExitCode(1) }
        }
    }
}

/// Summary rows as CSV and as a table.
enum SummaryText {
    /// The columns: `start`, `end` (with bins), the groups, `count`, then
    /// each field's statistics (`ms.count` … `ms.p99`); and each row's cells
    /// as JSON values.
    static func columns(of summary: Summary) -> [String] {
        var columns = summary.every == nil ? [] : ["start", "end"]
        columns += summary.by.map(\.description)
        columns.append("count")
        for field in summary.fields { columns += FieldStatistics.names.map { "\(field).\($0)" } }
        return columns
    }

    /// A row's cells, in the order of ``columns(of:)``.
    static func cells(_ row: SummaryRow, of summary: Summary) -> [JSONValue] {
        guard case .object(let members) = summary.json(row) else { return [] }
        var cells: [JSONValue] = []
        for member in members {
            if case .object(let statistics) = member.value, summary.fields.contains(where: { $0.description == member.key }) {
                cells += statistics.map(\.value)
            } else {
                cells.append(member.value)
            }
        }
        return cells
    }

    /// A cell as text: a string as it is, `null` as nothing (CSV) or
    /// `null`, anything else as JSON.
    static func text(_ value: JSONValue, null: String) -> String {
        switch value {
        case .string(let text): text
        case .null: null
        default: String(decoding: value.jsonBytes, as: UTF8.self)
        }
    }

    /// RFC 4180: a header line, then a line per row; a cell holding a comma,
    /// a quote or a line break is quoted (quotes doubled); null is empty.
    static func writeCSV(_ rows: [SummaryRow], of summary: Summary, to out: inout Output) {
        func field(_ text: String) -> String {
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        out.write(columns(of: summary).map(field).joined(separator: ",") + "\n")
        for row in rows {
            out.write(cells(row, of: summary).map { field(text($0, null: "")) }.joined(separator: ",") + "\n")
        }
    }

    /// Aligned columns (the bin's start only, numbers right-aligned), and a
    /// bar for each row's count, scaled to the largest; bold header and
    /// colored bars when `color`.
    static func writeTable(_ rows: [SummaryRow], of summary: Summary, color: Bool, to out: inout Output) {
        var header = columns(of: summary)
        var lines = rows.map { cells($0, of: summary) }
        if summary.every != nil {
            // The end is the next start: the table shows the start.
            header.remove(at: 1)
            lines = lines.map { var cells = $0; cells.remove(at: 1); return cells }
        }
        let texts = lines.map { cells in
            cells.map { cell -> String in
                if case .double(let value) = cell { return text(.number((value * 1000).rounded() / 1000), null: "") }
                return text(cell, null: "null")
            }
        }
        let numeric = header.indices.map { column in
            !lines.isEmpty && lines.allSatisfy { cells in
                switch cells[column] {
                case .int, .double, .null: true
                default: false
                }
            }
        }
        let widths = header.indices.map { column in
            texts.reduce(header[column].count) { max($0, $1[column].count) }
        }
        func pad(_ text: String, _ column: Int) -> String {
            let space = String(repeating: " ", count: max(0, widths[column] - text.count))
            return numeric[column] ? space + text : text + space
        }
        let bold = color ? "\u{1B}[1m" : ""
        let barColor = color ? "\u{1B}[36m" : ""
        let reset = color ? "\u{1B}[0m" : ""
        out.write(bold + header.indices.map { pad(header[$0], $0) }.joined(separator: "  ") + reset + "\n")
        let largest = max(1, rows.map(\.count).max() ?? 1)
        for (row, cells) in zip(rows, texts) {
            let line = cells.indices.map { pad(cells[$0], $0) }.joined(separator: "  ")
            out.write(line + "  " + barColor + bar(row.count, of: largest) + reset + "\n")
        }
    }

    /// A bar of up to 30 cells for `count` of `largest`, in eighths of a cell.
    static func bar(_ count: Int, of largest: Int, width: Int = 30) -> String {
        let eighths = count == 0 ? 0 : max(1, count * width * 8 / largest)
        let partial = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]
        return String(repeating: "█", count: eighths / 8) + partial[eighths % 8]
    }
}
