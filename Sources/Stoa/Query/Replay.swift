#if canImport(Glibc)
import Glibc
#endif

/// How fast to replay.
public enum ReplaySpeed: Sendable, Equatable {
    /// As fast as records can be read.
    case max
    /// The original gaps between records divided by this factor (1 = real time).
    case factor(Double)
}

extension RecordReader {
    /// Replays the records of `query` in exact time order, at the original
    /// pace scaled by `speed`, calling `body` with each: from a store or from
    /// a directory of JSONL logs Stoa does not own (``ForeignLogReader``).
    ///
    /// Each record is due at `start + (its time - the first record's time) /
    /// speed`, where `start` is when the first record went to `body`, with
    /// every gap first capped at `maxGap`: the schedule is kept
    /// against the clock, so time spent in `body` does not add up to drift.
    ///
    /// ```swift
    /// try reader.replay(Query(conversation: "conv-42"), speed: .factor(10)) { record in
    ///     print(record.json)
    ///     return true  // false stops the replay
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - maxGap: the longest wait between two records, in original time (µs).
    ///   - body: returns false to stop.
    /// - Returns: how many records were replayed.
    @discardableResult
    public func replay(
        _ query: Query, speed: ReplaySpeed = .max, maxGap: Int64? = nil, _ body: (Record) throws -> Bool
    ) throws -> Int {
        let cursor = try self.query(query)
        // When the first record went out: the schedule counts from there, so
        // that the time it took to find the first record does not shorten
        // the first gap.
        var started: Int64 = 0
        var previousTime: Int64?
        var offset: Double = 0  // µs since the start at which the current record is due
        var count = 0
        while let record = try cursor.next() {
            if case .factor(let factor) = speed, factor > 0 {
                if let previousTime {
                    var gap = max(0, record.time - previousTime)
                    if query.order == .newestFirst { gap = max(0, previousTime - record.time) }
                    if let maxGap { gap = min(gap, maxGap) }
                    offset += Double(gap) / factor
                    let wait = started + Int64(offset) - Timestamp.now()
                    if wait > 0 { usleep(UInt32(min(wait, Int64(UInt32.max)))) }
                } else {
                    started = Timestamp.now()
                }
            }
            previousTime = record.time
            count += 1
            if try !body(record) { break }
        }
        return count
    }
}
