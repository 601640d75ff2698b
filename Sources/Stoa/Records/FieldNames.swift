/// The names of the top-level fields Stoa reads from every record: its time,
/// its type and its conversation. For each, the first name in the list that
/// the record has (with a usable value) wins, whatever the key order in the
/// record.
public struct FieldNames: Sendable, Equatable, Codable {
    /// Where the time is. Default: `ts`, `timestamp`, `time`, `@timestamp`.
    public var time: [String]
    /// Where the type is (a string). Default: `type`, `event_type`, `event`, `kind`.
    public var type: [String]
    /// Where the conversation id is (a string or a number).
    /// Default: `session`, `session_id`, `conversation_id`, `thread_id`.
    public var conversation: [String]

    /// The field names to look for, in order of preference; each list's
    /// default is the one above.
    public init(
        time: [String] = ["ts", "timestamp", "time", "@timestamp"],
        type: [String] = ["type", "event_type", "event", "kind"],
        conversation: [String] = ["session", "session_id", "conversation_id", "thread_id"]
    ) {
        self.time = time
        self.type = type
        self.conversation = conversation
    }

    /// The default names, as a new store's `stoa.json` lists them.
    public static let `default` = FieldNames()

    /// The name used when Stoa inserts a time into a record that has none.
    var insertedTimeName: String { time.first ?? "ts" }
}
