import ArgumentParser
import Stoa

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the records that match to a JSONL file (gzipped when it ends in .gz).",
        discussion: """
            DIR may also be a directory of *.jsonl / *.jsonl.gz logs that Stoa does not own (read only): \
            its records are written compacted, in time order; lines that are not records are skipped \
            and counted on stderr. OUT is never inside DIR (nor inside the store's archive): such a \
            path is refused, however it is spelled. The file appears whole or not at all.
            """)

    @Argument(help: "The store's directory, or a directory of JSONL logs.")
    var directory: String

    @Argument(help: "The file to write (OUT.jsonl or OUT.jsonl.gz), or - for standard output.")
    var output: String

    @Flag(help: "Replace OUT if it is an existing file.")
    var force = false

    @OptionGroup var options: QueryOptions

    @OptionGroup var foreign: ForeignOptions

    func run() throws {
        try running {
            let logs = try LogReader.open(directory, foreign: foreign)
            let query = try options.makeQuery(now: Timestamp.now())
            if output == "-" {
                let count = try printRecords(try logs.query(query), format: .jsonl, foreign: logs.isForeign)
                printError("stoa: exported \(count) records to standard output")
                return
            }
            let count = try logs.export(query, to: output, replacing: force)
            printError("stoa: exported \(count) records to \(output)")
            try logs.reportSkippedLines()
        }
    }
}

struct Reindex: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reindex",
        abstract: "Rebuild the .idx file of every sealed segment (they are a cache: this loses nothing).")

    @Argument(help: "The store's directory.")
    var directory: String

    func run() throws {
        try running {
            let store = try Store(at: directory)
            printRecovery(store.recovery)
            let count = try store.reindex()
            try store.close()
            printError("stoa: rebuilt \(count) index files")
        }
    }
}

struct Tier: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tier",
        abstract: "Apply the tier and retention policy of stoa.json now: compress, archive, expire.",
        discussion: "Ages count from when each segment was sealed, never from record times.")

    @Argument(help: "The store's directory.")
    var directory: String

    @Option(help: "Judge ages as of this time (default: now).")
    var now: TimeArgument?

    func run() throws {
        try running {
            let store = try Store(at: directory)
            printRecovery(store.recovery)
            let report = try store.applyTierPolicy(now: try now?.resolve(now: Timestamp.now()))
            try store.close()
            for line in report.lines { printError("stoa: \(line)") }
            if report.isEmpty { printError("stoa: nothing to do") }
        }
    }
}
