import ArgumentParser
import Stoa

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a store: a directory with its stoa.json.")

    @Argument(help: "The store's directory (created if missing; must be empty).")
    var directory: String

    @Option(help: "Seal the active segment at this size (e.g. 64MiB).")
    var segmentBytes: SizeArgument?
    @Option(help: "Seal the active segment at this age (e.g. 1h).")
    var segmentAge: DurationArgument?
    @Option(help: "Refuse records larger than this (default 1MiB).")
    var maxRecordBytes: SizeArgument?
    @Option(help: "Default durability of appends: none, interval or always.")
    var durability: Durability?
    @Option(help: "With interval durability, sync this often (e.g. 100ms).")
    var fsyncInterval: DurationArgument?
    @Option(help: "Keep sealed segments plain for this long (e.g. 1d).")
    var hotFor: DurationArgument?
    @Option(help: "Then keep them compressed in segments/ for this long.")
    var warmFor: DurationArgument?
    @Option(help: "Delete segments sealed longer ago than this.")
    var retainFor: DurationArgument?
    @Option(help: "Delete the oldest sealed segments past this total size.")
    var maxBytes: SizeArgument?
    @Option(help: "Expire the oldest segments rather than leave less free disk than this.")
    var keepFree: SizeArgument?
    @Option(help: "Where cold segments go (default: DIR/archive).")
    var archivePath: String?
    @Option(help: "Time fields, in order of preference (comma-separated).")
    var timeFields: String?
    @Option(help: "Type fields, in order of preference (comma-separated).")
    var typeFields: String?
    @Option(help: "Conversation fields, in order of preference (comma-separated).")
    var conversationFields: String?

    /// Usage errors before anything is created: a refused store leaves no directory behind.
    func validate() throws {
        do {
            try makeConfiguration().validate(naming: Self.option(for:))
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// The option that sets a `stoa.json` key (`segment_bytes` → `--segment-bytes`).
    static func option(for key: String) -> String {
        switch key {
        case "fields.time": "--time-fields"
        case "fields.type": "--type-fields"
        case "fields.conversation": "--conversation-fields"
        default: "--" + key.replacingOccurrences(of: "_", with: "-")
        }
    }

    func makeConfiguration() -> StoreConfiguration {
        var configuration = StoreConfiguration()
        if let segmentBytes { configuration.segmentBytes = segmentBytes.bytes }
        if let segmentAge { configuration.segmentAge = segmentAge.duration }
        if let maxRecordBytes { configuration.maxRecordBytes = maxRecordBytes.bytes }
        if let durability { configuration.durability = durability }
        if let fsyncInterval { configuration.fsyncInterval = fsyncInterval.duration }
        configuration.hotFor = hotFor?.duration
        configuration.warmFor = warmFor?.duration
        configuration.retainFor = retainFor?.duration
        configuration.maxBytes = maxBytes?.bytes
        configuration.keepFree = keepFree?.bytes
        configuration.archivePath = archivePath
        func list(_ text: String?) -> [String]? {
            text.map { $0.split(separator: ",").map { String($0).trimmed } }
        }
        if let names = list(timeFields) { configuration.fields.time = names }
        if let names = list(typeFields) { configuration.fields.type = names }
        if let names = list(conversationFields) { configuration.fields.conversation = names }
        return configuration
    }

    func run() throws {
        let configuration = makeConfiguration()
        try running {
            if (try? StoreReader(at: directory)) != nil {
                throw StoaError(.invalidArgument, "already a store (it has a stoa.json)", path: directory)
            }
            let store = try Store(at: directory, creating: configuration)
            try store.close()
            printError("stoa: created store \(directory)")
        }
    }
}

extension String {
    var trimmed: String {
        var text = Substring(self)
        while text.first?.isWhitespace == true { text.removeFirst() }
        while text.last?.isWhitespace == true { text.removeLast() }
        return String(text)
    }
}
