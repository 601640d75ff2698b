import ArgumentParser
import Stoa

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the records that match in time order, at their original pace or faster.",
        discussion: """
            DIR may also be a directory of *.jsonl / *.jsonl.gz logs that Stoa does not own (read only); \
            lines that are not records are skipped and counted on stderr.
            """)

    @Argument(help: "The store's directory, or a directory of JSONL logs.")
    var directory: String

    @OptionGroup var options: QueryOptions

    @OptionGroup var foreign: ForeignOptions

    @Option(help: "max (no waiting), or a factor: 1 is real time, 10 is ten times faster.")
    var speed = "max"

    @Option(help: "Wait at most this long between two records, in original time (e.g. 5s).")
    var maxGap: DurationArgument?

    func validate() throws {
        if speed != "max" {
            guard let factor = Double(speed), factor > 0, factor.isFinite else {
                throw ValidationError("--speed must be max or a positive number, got \(speed)")
            }
        }
    }

    func run() throws {
        try running {
            let logs = try LogReader.open(directory, foreign: foreign)
            let pace: ReplaySpeed = speed == "max" ? .max : .factor(Double(speed)!)
            var out = Output()
            try logs.reader.replay(try options.makeQuery(now: Timestamp.now()), speed: pace, maxGap: maxGap?.micros) { record in
                out.write(record.bytes)
                out.write("\n")
                if pace != .max { out.flush() }
                return true
            }
            out.flush()
            try logs.reportSkippedLines()
        }
    }
}
