import ArgumentParser
import Stoa

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the records that match to a JSONL file (gzipped when it ends in .gz).")

    @Argument(help: "The store's directory.")
    var directory: String

    @Argument(help: "The file to write (OUT.jsonl or OUT.jsonl.gz).")
    var output: String

    @OptionGroup var options: QueryOptions

    func run() throws {
        try running {
            let reader = try StoreReader(at: directory)
            let count = try reader.export(try options.makeQuery(now: Timestamp.now()), to: output)
            printError("stoa: exported \(count) records to \(output)")
        }
    }
}

struct Reindex: ParsableCommand {
    static let configuration = CommandConfiguration(
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
