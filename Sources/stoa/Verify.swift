import ArgumentParser
import Stoa

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Read every byte of a store and check it; change nothing.",
        discussion: """
            Checks every line, every gzip member, every .idx, the seqs and the chain of digests. \
            Prints each problem (file, line or offset, what) on stdout. Exit 0 when clean, 1 when damage was found.
            """)

    @Argument(help: "The store's directory.")
    var directory: String

    func run() throws {
        let report = try running { try StoreReader(at: directory).verify() }
        var out = Output()
        for problem in report.problems { out.write("\(problem)\n") }
        out.flush()
        for note in report.notes { printError("stoa: note: \(note)") }
        let size = Units.formatSizeApproximate(report.bytes)
        if report.isClean {
            printError("stoa: clean: \(report.segments) segments, \(report.records) records, \(size)")
        } else {
            printError("stoa: \(report.problems.count) problems in \(report.segments) segments (\(report.records) valid records, \(size))")
            throw ExitCode(1)
        }
    }
}
