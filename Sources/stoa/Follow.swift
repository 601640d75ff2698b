import Stoa

/// `stoa tail -f`: the last `count` records, then each new one as it is
/// appended, flushed at once.
func followRecords(_ reader: StoreReader, last count: Int, format: OutputFormat) throws {
    let recent = try reader.last(count).all()
    let start = recent.last.map { $0.seq + 1 }
    let follower = try reader.follow(from: start.map { .seq($0) } ?? .end)
    var out = Output()
    func write(_ record: Record) {
        switch format {
        case .pretty: out.write(JSONFormatting.pretty(record.bytes))
        case .jsonl, .json: out.write(record.bytes)
        }
        out.write("\n")
    }
    for record in recent { write(record) }
    out.flush()
    while true {
        guard let record = try follower.next(waitingUpTo: 1_000_000) else { continue }
        write(record)
        // Whatever else is already there goes out in the same write.
        while let more = try follower.nextIfAvailable() { write(more) }
        out.flush()
    }
}
