extension Summarizer {
    /// Whether the summary is counts by type (or none) with only time and
    /// type filters: what a store's index answers without reading a record
    /// (``StoreReader/summarizeFromIndex(_:into:)``).
    var isAnsweredByIndex: Bool {
        let query = summary.query
        return summary.fields.isEmpty && summary.by.allSatisfy { $0 == .type } && query.contains == nil
            && query.fieldFilters.isEmpty && query.conversation == nil && query.limit == nil
    }
}

extension StoreReader {
    /// Counts the records of `summarizer`'s summary by type per bin from
    /// the index alone: a segment whose time span lies in one bin and in the
    /// window adds its per-type counts (no load: a cold segment stays on
    /// disk); any other has its blocks' line tables decoded for each line's
    /// time, and its type postings walked. nil when a line table is
    /// malformed: the caller then reads the records.
    ///
    /// - Precondition: `summarizer.isAnsweredByIndex`.
    func summarizeFromIndex(_ summarizer: inout Summarizer) throws(StoaError) -> [DamagedLine]? {
        let query = summarizer.summary.query
        let since = query.sinceMicros ?? .min
        let until = query.untilMicros ?? .max
        let bins = summarizer.summary.every.map(SummaryBins.init)
        func wanted(_ type: String) -> Bool { query.types.isEmpty || query.types.contains(type) }
        var damaged: [DamagedLine] = []
        var times: [Int64] = []
        var marks: [UInt32] = []
        for segment in try snapshot() {
            let summary = segment.summary
            guard summary.minTime <= summary.maxTime, summary.maxTime >= since, summary.minTime < until else { continue }
            damaged += segment.damagedLines
            let oneBin = bins.map { $0.bin(containing: summary.minTime) == $0.bin(containing: summary.maxTime) } ?? true
            if oneBin && summary.minTime >= since && summary.maxTime < until {
                for (type, count) in summary.types where wanted(type) && count > 0 {
                    summarizer.add(count: count, time: summary.minTime, group: summarizer.group(forType: type))
                }
                continue
            }
            let index = try segment.loaded().index
            times.removeAll(keepingCapacity: true)
            times.reserveCapacity(Int(index.lineCount))
            for block in index.blocks {
                let table = block.lineTable
                let valid = index.lineTables.withUnsafeBufferPointer { tables in
                    LineTable.decode(
                        UnsafeBufferPointer(rebasing: tables[Int(table.lowerBound)..<Int(table.upperBound)]),
                        count: Int(block.count), marks: &marks
                    ) { _, time in
                        times.append(time)
                        return true
                    }
                }
                guard valid, times.count == Int(block.firstOrdinal + block.count) else { return nil }
            }
            for (type, postings) in zip(index.types, index.typePostings) where wanted(type) {
                let group = summarizer.group(forType: type)
                postings.forEach(in: 0..<UInt32(times.count)) { ordinal in
                    let time = times[Int(ordinal)]
                    if time >= since && time < until { summarizer.add(count: 1, time: time, group: group) }
                    return true
                }
            }
        }
        return damaged
    }
}
