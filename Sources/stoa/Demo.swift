import ArgumentParser
import Stoa
import StoaWorkload

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Write a burst of realistic agent events into a store, then read it back as a user would.",
        discussion: "Run it again to add another burst to the same store.")

    @Argument(help: "The store's directory.")
    var directory = "./stoa-demo"

    @Option(help: "How many events to write.")
    var events = 100_000

    func validate() throws {
        if events < 1 || events > 50_000_000 { throw ValidationError("--events must be between 1 and 50000000") }
    }

    func run() throws {
        try running {
            var out = Output()
            let now = Timestamp.now()
            // The burst spans the last 30 minutes, ending now.
            let span = Duration.seconds(30 * 60)
            var generator = EventGenerator(
                seed: UInt64(now.microsecondsSinceEpoch), start: now - span, meanGap: span / events)

            out.write("Writing \(events) agent events (50 agents, ~12 event types) into \(directory)\n")
            out.write("  $ stoa append \(directory) < events.jsonl   does the same from a pipe\n\n")
            out.flush()
            let store = try Store(at: directory)
            printRecovery(store.recovery)
            let started = ContinuousClock.now
            var lines: [[UInt8]] = []
            lines.reserveCapacity(10_000)
            var written = 0
            var firstSeq: UInt64?
            while written < events {
                lines.removeAll(keepingCapacity: true)
                for _ in 0..<min(10_000, events - written) { lines.append(generator.next()!) }
                let seqs = try store.append(contentsOf: lines, durability: .buffered)
                firstSeq = firstSeq ?? seqs.lowerBound
                written += lines.count
            }
            try store.close()
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            out.write(
                "Stored seq \(firstSeq!)–\(firstSeq! + UInt64(events) - 1) in \(format(seconds)) s "
                    + "(\(Int(Double(events) / max(seconds, 1e-6))) records/s, validated and synced)\n\n")

            let reader = try StoreReader(at: directory)
            out.write("Errors in the last 5 minutes, newest first (first 5):\n")
            out.write("  $ stoa query \(directory) --since '5m ago' --type error --reverse --limit 5\n")
            let errors = try reader.query(
                Stoa.Query(since: now - .seconds(5 * 60), types: ["error"], limit: 5, order: .newestFirst))
            while let record = try errors.next() {
                out.write("  \(record.timeText)  seq \(record.seq)  \(String(record.json.prefix(110)))…\n")
            }
            out.write("\n")

            let stats = try reader.stats()
            out.write("What the store holds:\n  $ stoa stats \(directory)\n")
            out.write(Stats(directory: directory).statsText(stats).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            out.write("\n\n")

            out.write("The last 3 records appended:\n  $ stoa tail \(directory) -n 3\n")
            let last = try reader.last(3)
            while let record = try last.next() {
                out.write("  \(String(record.json.prefix(150)))…\n")
            }
            out.write("\nThe segments are plain JSONL: try  grep, jq, or  cat \(directory)/segments/*.jsonl | wc -l\n")
            out.flush()
        }
    }

    private func format(_ seconds: Double) -> String {
        let hundredths = Int((seconds * 100).rounded())
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
    }
}

extension Stats {
    init(directory: String) {
        self.init()
        self.directory = directory
    }
}
