import ArgumentParser
import Stoa

struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print the most recently appended records.")

    @Argument(help: "The store's directory, or a directory of JSONL logs (then: the newest records by time).")
    var directory: String

    @OptionGroup var foreign: ForeignOptions

    @Option(name: .short, help: "How many records.")
    var n = 10

    @Option(help: "jsonl (as stored), json (one array) or pretty.")
    var output: OutputFormat = .jsonl

    @Flag(name: .short, help: "Keep printing new records as they are appended (stop with Ctrl-C).")
    var follow = false

    @Option(name: .customLong("where"), help: ArgumentHelp(FieldFilterArguments.help, valueName: "filter"))
    var filters: [String] = []

    func validate() throws {
        if n < 0 { throw ValidationError("-n must not be negative") }
        try FieldFilterArguments.validate(filters)
    }

    func run() throws {
        try running {
            let fieldFilters = try FieldFilterArguments.parse(filters)
            let reader = try LogReader.open(directory, foreign: foreign)
            if follow {
                guard let store = reader as? StoreReader else {
                    throw StoaError(
                        .invalidArgument, "-f follows a store; this is a directory of logs Stoa does not own",
                        path: directory)
                }
                try followRecords(store, last: n, where: fieldFilters, format: output)
            } else {
                try printRecords(try reader.last(n, where: fieldFilters), format: output, foreign: reader.isForeign)
                reader.reportUnreadableFiles()
            }
        }
    }
}
