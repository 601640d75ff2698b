import ArgumentParser
import Stoa

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy a store consistently, even while a writer appends; DEST opens as a store.",
        discussion: """
            Sealed segments are hard-linked when DEST is on the same file system, else copied \
            and synced; the active segment is copied up to its last complete record. A second \
            backup into the same DEST copies only what is new. Segments that expired in the \
            store stay in DEST: a backup keeps history. A backup killed at any moment leaves \
            DEST a store holding a prefix of the records; run it again to complete it.

            DEST must be new, empty, or an earlier backup of this store: another store (another \
            store_id in its stoa.json) is refused (exit 64) and left as it is. A backup is never \
            overwritten where it holds records the store no longer has (the store was cut back or \
            reset since): it is left as it is, and the error names each segment and the seqs (exit 1). \
            A segment DEST holds is replaced by another form or size only once the store's, read \
            whole, proves the same records; one the store cannot read (damaged) leaves DEST's copy \
            as it is: the rest is backed up, and the error names the segment (exit 1).
            """)

    @Argument(help: "The store's directory.")
    var directory: String

    @Argument(help: "The backup: a new or empty directory, or an earlier backup of this store.")
    var destination: String

    func run() throws {
        try running {
            let report = try StoreBackup(of: StoreReader(at: directory)).copy(to: destination)
            for line in report.lines { printError("stoa: \(line)") }
        }
    }
}
