import ArgumentParser
import Stoa

#if canImport(Glibc)
import Glibc
#endif

struct Append: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append JSON records read from stdin (JSON lines, or pretty-printed objects).",
        discussion: """
            Each bad record is reported on stderr as `line N, offset K: reason` (K: the byte in line N, \
            from 0, where it goes wrong); the good ones are stored. Input is JSON lines, or pretty-printed \
            objects when its first non-blank line is a lone `{`. \
            Exit 65 when any record was refused, 75 when another writer holds the store.
            """)

    @Argument(help: "The store's directory (created if missing).")
    var directory: String

    @Option(help: "Set this type on records that have none.")
    var type: String?

    @Option(help: "none, interval or always (default: the store's).")
    var durability: Durability?

    @Flag(help: ArgumentHelp(
        "Print each stored record's seq and the input line it ends on (`SEQ LINE`) on stdout, as soon as it is stored.",
        discussion: "Written per batch, before the next read of stdin; with --durability always, once the batch is on disk."))
    var printSeqs = false

    func run() throws {
        let (report, repeats, unprinted) = try running {
            let store = try Store(at: directory)
            printRecovery(store.recovery)
            defer { try? store.close() }
            var rejected: [StoaError] = []
            // Stdout closed under --print-seqs: the records are still all
            // stored, and the command then fails, saying so.
            var out = printSeqs ? Output(exitsWhenClosed: false) : nil
            let result = try store.appendLines(
                fromFileDescriptor: 0, source: "stdin", durability: durability, defaultType: type,
                onRejected: { error in
                    printError("line \(error.line ?? 0)\(error.offset.map { ", offset \($0)" } ?? ""): \(error.message)")
                    rejected.append(error)
                },
                onStored: { seqs, lines in
                    guard out != nil else { return }
                    for (seq, line) in zip(seqs, lines) { out!.write("\(seq) \(line)\n") }
                    out!.flush()
                })
            try store.close()
            return (result, store.writeStats.deduplicated, out?.closed)
        }
        if report.stored > 0 {
            printError("stoa: stored \(report.stored) records (seq \(report.seqs.lowerBound)-\(report.seqs.upperBound - 1))")
        } else {
            printError("stoa: stored 0 records")
        }
        if repeats > 0 {
            printError("stoa: kept out \(repeats) records appended before within dedup_window")
        }
        if report.rejected > 0 {
            printError("stoa: refused \(report.rejected) records")
            throw ExitCode(65)
        }
        if let unprinted {
            printError(
                "stoa: --print-seqs: stdout was closed (\(String(cString: strerror(unprinted)))); "
                    + "the records were stored, but not every seq was printed")
            throw ExitCode(1)
        }
    }
}
