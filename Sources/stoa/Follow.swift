import Stoa

/// `stoa tail -f`: the last `count` records, then each new one as it is
/// appended, flushed at once. Damaged lines passed over are named on stderr
/// as they are passed.
func followRecords(_ reader: StoreReader, last count: Int, where fieldFilters: [FieldFilter] = [], format: OutputFormat) throws {
    let (recent, recentDamage, follower) = try reader.lastThenFollow(count, where: fieldFilters)
    var named = Set<UInt64>()
    for damaged in recentDamage where named.insert(damaged.seq).inserted {
        printError("stoa: skipped damaged line \(damaged)")
    }
    var out = Output()
    var reported = 0
    func write(_ record: Record) {
        switch format {
        case .pretty: out.write(JSONFormatting.pretty(record.bytes))
        case .jsonl, .json: out.write(record.bytes)
        }
        out.write("\n")
    }
    func reportDamage() {
        let damaged = follower.damaged
        for line in damaged[reported...] where named.insert(line.seq).inserted {
            printError("stoa: skipped damaged line \(line)")
        }
        reported = damaged.count
    }
    for record in recent { write(record) }
    out.flush()
    while true {
        let record = try follower.next(waitingUpTo: .seconds(1))
        reportDamage()
        guard let record else { continue }
        write(record)
        // Whatever else is already there goes out in the same write.
        while let more = try follower.nextIfAvailable() { write(more) }
        out.flush()
        reportDamage()
    }
}
