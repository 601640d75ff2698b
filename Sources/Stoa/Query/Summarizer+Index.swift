extension Summarizer {
    /// Whether the summary is counts by type and/or conversation (or
    /// none) with only time, type and conversation filters: what a store's
    /// index answers without reading a record
    /// (`StoreReader.summarizeFromIndex(_:)`).
    var isAnsweredByIndex: Bool {
        let query = summary.query
        return summary.fields.isEmpty && summary.by.allSatisfy { $0 == .type || $0 == .conversation }
            && query.contains == nil && query.fieldFilters.isEmpty && query.limit == nil
    }
}

extension StoreReader {
    /// Counts the records of `summarizer`'s summary per bin by type and
    /// conversation from the index alone. Without conversations, a segment
    /// whose time span lies in one bin and in the window adds its per-type
    /// counts (no load: a cold segment stays on disk). Any other has its
    /// blocks' line tables decoded for each line's time, and its type
    /// postings (and conversation postings) walked for each line's type
    /// (and conversation). nil when a line table is malformed: the caller
    /// then reads the records.
    ///
    /// - Precondition: `summarizer.isAnsweredByIndex`.
    func summarizeFromIndex(_ summarizer: inout Summarizer) throws(StoaError) -> [DamagedLine]? {
        let query = summarizer.summary.query
        let since = query.sinceMicros ?? .min
        let until = query.untilMicros ?? .max
        let bins = summarizer.summary.every.map(SummaryBins.init)
        func wanted(_ type: String) -> Bool { query.types.isEmpty || query.types.contains(type) }
        let conversationFilter = query.conversation
        let byConversation = summarizer.summary.by.contains(.conversation)
        let needsConversations = byConversation || conversationFilter != nil
        var damaged: [DamagedLine] = []
        var times: [Int64] = []
        var marks: [UInt32] = []
        var typeOf: [Int32] = []
        var conversationOf: [Int32] = []
        for segment in try snapshot() {
            let summary = segment.summary
            guard summary.minTime <= summary.maxTime, summary.maxTime >= since, summary.minTime < until else { continue }
            damaged += segment.damagedLines
            let oneBin = bins.map { $0.bin(containing: summary.minTime) == $0.bin(containing: summary.maxTime) } ?? true
            if oneBin && summary.minTime >= since && summary.maxTime < until && !needsConversations {
                for (type, count) in summary.types where wanted(type) && count > 0 {
                    summarizer.add(count: count, time: summary.minTime, group: summarizer.group(type: type, conversation: nil))
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
            let lines = UInt32(times.count)
            // Each line's type (-1: a type not wanted, or a damaged line).
            typeOf = Array(repeating: -1, count: times.count)
            for (number, (type, postings)) in zip(index.types, index.typePostings).enumerated() where wanted(type) {
                postings.forEach(in: 0..<lines) { ordinal in
                    typeOf[Int(ordinal)] = Int32(number)
                    return true
                }
            }
            // Each line's conversation (-1: none, or not the one wanted).
            var names: [String] = []
            if needsConversations {
                conversationOf = Array(repeating: -1, count: times.count)
                let tables: [(String, Postings)] =
                    if let conversationFilter { index.conversations[conversationFilter].map { [(conversationFilter, $0)] } ?? [] }
                    else { index.conversations.sorted() }
                for (number, (name, postings)) in tables.enumerated() {
                    names.append(name)
                    postings.forEach(in: 0..<lines) { ordinal in
                        conversationOf[Int(ordinal)] = Int32(number)
                        return true
                    }
                }
            }
            var groups: [Int64: Int] = [:]
            for ordinal in 0..<times.count {
                let type = typeOf[ordinal]
                let time = times[ordinal]
                guard type >= 0, time >= since, time < until else { continue }
                let conversation = needsConversations ? conversationOf[ordinal] : -1
                if conversationFilter != nil && conversation < 0 { continue }
                let pair = Int64(type) << 32 | Int64(UInt32(bitPattern: conversation))
                let group: Int
                if let known = groups[pair] {
                    group = known
                } else {
                    group = summarizer.group(type: index.types[Int(type)], conversation: conversation < 0 ? nil : names[Int(conversation)])
                    groups[pair] = group
                }
                summarizer.add(count: 1, time: time, group: group)
            }
        }
        return damaged
    }
}
