import ArgumentParser
import Stoa

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Copy JSONL or .jsonl.gz files from anywhere into a store (other logs, the logger's fallback files).",
        discussion: """
            Each file is read as `stoa append` reads stdin: one JSON object per line. A record's time, \
            type and conversation are read from the store's fields, or from --time-fields, \
            --type-fields and --conversation-fields (as reading a directory of logs does; \
            python-json-logger writes its time in asctime); when those are not the store's, the values \
            read are inserted first under the store's names, so that the store reads the same. A line \
            with no time in those fields is refused, unless --stamp-missing stores it with the time of \
            the import. Each bad line is reported on stderr as `FILE:line N: reason`; the other \
            records are stored. With --dedup, records already in the store are skipped, so importing \
            a file twice adds nothing (this reads the whole store first). A file of the store itself \
            is refused before anything is imported. \
            Exit 65 when any line was refused, 75 when another writer holds the store, 1 when a file \
            could not be read, 64 for a file of the store.
            """)

    @Argument(help: "The store's directory (created if missing).")
    var directory: String

    @Argument(help: "The files to import (.jsonl, or .jsonl.gz for gzip).")
    var files: [String] = []

    @Flag(help: "Skip records whose content is already in the store.")
    var dedup = false

    @Option(help: "Set this type on records that have none.")
    var type: String?

    @Option(help: "The time fields, in order of preference (comma-separated; default: the store's, ts,timestamp,time,@timestamp).")
    var timeFields: String?
    @Option(help: "The type fields (default: the store's, type,event_type,event,kind).")
    var typeFields: String?
    @Option(help: "The conversation fields (default: the store's, session,session_id,conversation_id,thread_id).")
    var conversationFields: String?

    @Flag(help: "Store a record that has no time with the time of the import (else it is refused), and count them.")
    var stampMissing = false

    @Option(help: "none, interval or always (default: the store's).")
    var durability: Durability?

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one FILE to import") }
        if type == "" { throw ValidationError("--type must not be empty: a type is a non-empty string") }
    }

    func run() throws {
        var refused = 0
        var unreadable = 0
        var withoutTime = 0
        var timeFieldsRead: [String] = []
        try running {
            let store = try Store(at: directory)
            printRecovery(store.recovery)
            defer { try? store.close() }
            // A file of the store itself is refused before anything is imported.
            for file in files { try StoreImporter.checkSource(file, for: store) }
            var fields = store.configuration.fields
            if let time = try fieldList(timeFields, option: "time-fields") { fields.time = time }
            if let type = try fieldList(typeFields, option: "type-fields") { fields.type = type }
            if let conversation = try fieldList(conversationFields, option: "conversation-fields") {
                fields.conversation = conversation
            }
            timeFieldsRead = fields.time
            let importer = try StoreImporter(
                store: store, deduplicating: dedup, fields: fields, stampingMissingTimes: stampMissing)
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
                withoutTime += report.withoutTime
                var summary = "stoa: imported \(report.stored) records from \(file)"
                if report.stored > 0 { summary += " (seq \(report.seqs.lowerBound)-\(report.seqs.upperBound - 1))" }
                if report.stamped > 0 {
                    summary += ", \(report.stamped) of them without a time, stamped with the time of the import"
                }
                if report.duplicates > 0 { summary += ", skipped \(report.duplicates) already in the store" }
                if report.rejected > 0 { summary += ", refused \(report.rejected) line\(report.rejected == 1 ? "" : "s")" }
                printError(summary)
            }
            try store.close()
        }
        if withoutTime > 0 {
            printError(
                "stoa: \(withoutTime) line\(withoutTime == 1 ? " has" : "s have") no time in "
                    + "\(timeFieldsRead.joined(separator: ", ")): name the field that holds it with --time-fields"
                    + (timeFields == nil ? " (python-json-logger writes asctime: --time-fields asctime)" : "")
                    + ", or store \(withoutTime == 1 ? "it" : "them") "
                    + "with the time of the import with --stamp-missing")
        }
        if unreadable > 0 { throw ExitCode(1) }
        if refused > 0 { throw ExitCode(65) }
    }
}
