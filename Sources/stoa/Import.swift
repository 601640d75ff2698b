import ArgumentParser
import Stoa

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy JSONL or .jsonl.gz files from anywhere into a store (other logs, the logger's fallback files).",
        discussion: """
            Each file is read as `stoa append` reads stdin: one JSON object per line, time from the \
            store's time fields. Each bad line is reported on stderr as `FILE:line N: reason`; the \
            other records are stored. With --dedup, records already in the store are skipped, so \
            importing a file twice adds nothing (this reads the whole store first). \
            Exit 65 when any line was refused, 75 when another writer holds the store, 1 when a file \
            could not be read.
            """)

    @Argument(help: "The store's directory (created if missing).")
    var directory: String

    @Argument(help: "The files to import (.jsonl, or .jsonl.gz for gzip).")
    var files: [String] = []

    @Flag(help: "Skip records whose content is already in the store.")
    var dedup = false

    @Option(help: "Set this type on records that have none.")
    var type: String?

    @Option(help: "none, interval or always (default: the store's).")
    var durability: Durability?

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one FILE to import") }
    }

    func run() throws {
        var refused = 0
        var unreadable = 0
        try running {
            let store = try Store(at: directory)
            printRecovery(store.recovery)
            defer { try? store.close() }
            // A file of the store itself is refused before anything is imported.
            for file in files { try StoreImporter.checkSource(file, for: store) }
            let importer = try StoreImporter(store: store, deduplicating: dedup)
            for file in files {
                let report: ImportReport
                do {
                    report = try importer.importFile(at: file, defaultType: type, durability: durability) { error in
                        printError("\(file):line \(error.line ?? 0)\(error.offset.map { ":offset \($0)" } ?? ""): \(error.message)")
                    }
                } catch let error as StoaError where error.path == file {
                    // This file cannot be read: say so, go on with the others.
                    printError("stoa: \(error)")
                    unreadable += 1
                    continue
                }
                refused += report.rejected
                var summary = "stoa: imported \(report.stored) records from \(file)"
                if report.stored > 0 { summary += " (seq \(report.seqs.lowerBound)-\(report.seqs.upperBound - 1))" }
                if report.duplicates > 0 { summary += ", skipped \(report.duplicates) already in the store" }
                if report.rejected > 0 { summary += ", refused \(report.rejected) line\(report.rejected == 1 ? "" : "s")" }
                printError(summary)
            }
            try store.close()
        }
        if unreadable > 0 { throw ExitCode(1) }
        if refused > 0 { throw ExitCode(65) }
    }
}
