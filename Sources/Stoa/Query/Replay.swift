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
    ///   - query: the records to replay, in its order.
    ///   - speed: how fast: ``ReplaySpeed/max``, or the original pace
    ///     scaled by a factor.
    ///   - maxGap: the longest wait between two records, in original time.
    ///   - body: returns false to stop.
    /// - Throws: what reading the records or `body` throws.
    /// - Returns: how many records were replayed.
    @discardableResult
    public func replay(
        _ query: Query, speed: ReplaySpeed = .max, maxGap: Duration? = nil, _ body: (Record) throws -> Bool
    ) throws -> Int {
        try replay(query, speed: speed, maxGap: maxGap, clock: .system, body)
    }

    /// ``replay(_:speed:maxGap:_:)`` on a given clock (tests pass one that
    /// advances when asked to sleep).
    func replay(
        _ query: Query, speed: ReplaySpeed, maxGap: Duration?, clock: StoaClock, _ body: (Record) throws -> Bool
    ) throws -> Int {
        let cursor = try self.query(query)
        let maxGapMicros = maxGap.map { max(0, $0.saturatingMicroseconds) }
        // When the first record went out: the schedule counts from there, so
        // that the time it took to find the first record does not shorten
        // the first gap.
        var started: Int64 = 0  // µs, on the clock
        var previousTime: Int64?  // µs since the epoch
        // µs since the start at which the current record is due. A Double:
        // with a tiny speed (1e-300) it may pass any Int64, even reach
        // infinity, and must not trap; the wait is held below.
        var offset: Double = 0
        var count = 0
        while let record = try cursor.next() {
            if case .factor(let factor) = speed, factor > 0 {
                if let previousTime {
                    // Times from records may lie far apart: the span is held at Int64's limits.
                    let time = record.time.microsecondsSinceEpoch
                    var gap = max(0, RecordTime.span(from: previousTime, to: time))
                    if query.order == .newestFirst { gap = max(0, RecordTime.span(from: time, to: previousTime)) }
                    if let maxGapMicros { gap = min(gap, maxGapMicros) }
                    offset += Double(gap) / factor
                    let wait = Double(started) + offset - Double(clock.now())
                    if wait >= 1 { clock.sleep(Int64(min(wait, StoaClock.longestWait))) }
                } else {
                    started = clock.now()
                }
            }
            previousTime = record.time.microsecondsSinceEpoch
            count += 1
            if try !body(record) { break }
        }
        return count
    }
}
