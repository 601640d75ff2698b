import ArgumentParser
import Stoa

@main
struct StoaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stoa",
        abstract: "An append-only store for agent events and conversation logs, in plain JSONL files.",
        discussion: """
            Data goes to stdout, everything else to stderr. Exit codes: 0 success, 1 failure or \
            damage found, 64 usage, 65 bad input data, 75 store locked by another writer.

            Times: RFC 3339, YYYY-MM-DD [HH:MM[:SS]] (UTC), @EPOCH, now, today, yesterday, -15m, 2h ago.
            """,
        version: "0.1.0",
        subcommands: [
            Init.self, Append.self, Query.self, Tail.self, Stats.self, Export.self, Reindex.self, Tier.self, Verify.self, Replay.self, Demo.self,
            Backup.self,
            Import.self, Summarize.self,
        ]
    )
}
