import ArgumentParser
import Stoa

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Print the records that match in time order, at their original pace or faster.",
        discussion: """
            DIR may also be a directory of *.jsonl / *.jsonl.gz logs that Stoa does not own (read only); \
            lines that are not records are skipped and counted on stderr.
            """)

    @Argument(help: "The store's directory, or a directory of JSONL logs.")
    var directory: String

    @OptionGroup var options: QueryOptions

    @OptionGroup var foreign: ForeignOptions

    @Option(help: "max (no waiting), or a factor from 0.000001 up: 1 is real time, 10 is ten times faster, 0.5 half as fast.")
    var speed = "max"

    @Option(help: "Wait at most this long between two records, in original time (e.g. 5s).")
    var maxGap: DurationArgument?

    /// The slowest pace: a million times slower than real time (a second
    /// apart becomes 11.6 days). Slower is surely a mistake (`1e-18` would
    /// wait 31,000 years between records a microsecond apart).
    static let slowest = 1e-6

    func validate() throws {
        if speed != "max" {
            guard let factor = Double(speed), factor.isFinite, factor >= Self.slowest else {
                throw ValidationError(
                    "--speed must be max or a number from 0.000001 (a million times slower than real time) up, got \(speed)")
            }
        }
    }

    func run() throws {
        try running {
            let query = try options.makeQuery(now: Timestamp.now())
            let logs = try LogReader.open(directory, foreign: foreign)
            let pace: ReplaySpeed = speed == "max" ? .max : .factor(Double(speed)!)
            var out = Output()
            try logs.replay(query, speed: pace, maxGap: maxGap?.duration) { record in
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
