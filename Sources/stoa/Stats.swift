import ArgumentParser
import Stoa

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Print what a store holds: records, segments, bytes, time span, types.")

    @Argument(help: "The store's directory, or a directory of JSONL logs.")
    var directory: String

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "In a directory of JSONL logs: list every line that is not a record (file, line, why) instead.")
    var skipped = false

    @OptionGroup var foreign: ForeignOptions

    func run() throws {
        try running {
            let logs = try LogReader.open(directory, foreign: foreign)
            var out = Output()
            if skipped {
                guard let reader = logs as? ForeignLogReader else {
                    throw StoaError(
                        .invalidArgument, "--skipped lists the lines of a directory of logs; in a store, stoa verify finds damage",
                        path: directory)
                }
                for line in try reader.skippedLines() { out.write("\(line.path):line \(line.line): \(line.reason)\n") }
            } else {
                let stats = try logs.stats()
                out.write(json ? statsJSON(stats) : statsText(stats, foreign: logs.isForeign))
            }
            out.flush()
            logs.reportUnreadableFiles()
        }
    }

    /// The text of `stoa stats`. Lines of a foreign directory that are not
    /// records were skipped, not damaged: they are listed by `--skipped`
    /// (`stoa verify` is for stores).
    func statsText(_ stats: StoreStats, foreign: Bool = false) -> String {
        var text = "records   \(stats.records)\n"
        text += "segments  \(stats.segments)\n"
        text += "bytes     \(stats.bytes) (\(Units.formatSizeApproximate(stats.bytes)))\n"
        text += "next seq  \(stats.nextSeq)\n"
        if let oldest = stats.oldest, let newest = stats.newest {
            text += "oldest    \(oldest)\n"
            text += "newest    \(newest)\n"
        }
        if stats.damagedLines > 0 {
            if foreign {
                let lines = stats.damagedLines == 1 ? "1 line that is not a record" : "\(stats.damagedLines) lines that are not records"
                text += "skipped   \(lines) (stoa stats \(directory) --skipped lists them)\n"
            } else {
                text += "damaged   \(stats.damagedLines) lines (run stoa verify)\n"
            }
        }
        text += "types\n"
        let width = stats.types.keys.map(\.count).max() ?? 0
        for (type, count) in stats.types.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
            let name = type.isEmpty ? "(none)" : type
            text += "  \(name)\(String(repeating: " ", count: max(0, max(width, 6) - name.count)))  \(count)\n"
        }
        return text
    }

    func statsJSON(_ stats: StoreStats) -> String {
        var fields = [
            "\"records\":\(stats.records)", "\"segments\":\(stats.segments)", "\"bytes\":\(stats.bytes)",
            "\"next_seq\":\(stats.nextSeq)", "\"damaged_lines\":\(stats.damagedLines)",
        ]
        if let oldest = stats.oldest, let newest = stats.newest {
            fields.append("\"oldest\":\"\(oldest)\"")
            fields.append("\"newest\":\"\(newest)\"")
        }
        let types = stats.types.sorted { $0.key < $1.key }.map { "\(JSONFormatting.quoted($0.key)):\($0.value)" }
        fields.append("\"types\":{\(types.joined(separator: ","))}")
        return "{" + fields.joined(separator: ",") + "}\n"
    }
}
