/// An ``Store/append(contentsOf:durability:)`` under way: the records
/// encoded so far, the time given to those without one, and how many were
/// added (for the line number of an error).
@usableFromInline
struct BatchInProgress {
    @usableFromInline var encoded: EncodedBatch
    let now: Int64
    var line = 0
}

/// Records encoded for storage, back to back, each ending in `\n`.
@usableFromInline
struct EncodedBatch {
    var bytes: [UInt8] = []
    /// Where each record ends in `bytes` (just after its newline).
    var lineEnds: [Int] = []
    /// With `dedup_window`: where each line's key starts (``DedupWindow``),
    /// and the keys' digests.
    var keyStarts: [Int]?
    var digests: [DedupWindow.Digest]?
    private var digest: DedupWindow.Digester?
    /// The stamp given to records without a time, as text, to find it in
    /// their lines (with `dedup_window`).
    private var stamp: (time: Int64, text: [UInt8])?
    /// For a stream: the input line each record ends on (empty otherwise).
    var sourceLines: [Int] = []
    /// What encoding found in each line, for the active segment's index
    /// (``ActiveCheckpoint``). Whoever removes lines without removing their
    /// facts leaves more facts than lines: then they are not used.
    var facts: [LineFacts] = []

    /// - Parameter digest: with `dedup_window`, the digest repeats are
    ///   found by (each record's is taken as it is added).
    init(digest: DedupWindow.Digester? = nil) {
        self.digest = digest
        if digest != nil {
            keyStarts = []
            digests = []
        }
    }

    /// Bytes an encoded line may need beyond its input once compact: the
    /// newline and an inserted `"ts":"…",` (a longer default type just
    /// makes the array grow once).
    static let insertionRoom = 48

    /// Makes room for `records` more lines of `bytes` in all.
    mutating func reserve(records: Int, bytes count: Int) {
        lineEnds.reserveCapacity(lineEnds.count + records)
        facts.reserveCapacity(facts.count + records)
        bytes.reserveCapacity(bytes.count + count)
        if keyStarts != nil {
            keyStarts!.reserveCapacity(keyStarts!.count + records)
            digests!.reserveCapacity(digests!.count + records)
        }
    }

    /// Encodes `record` and adds it at the end.
    ///
    /// - Throws: what ``RecordEncoder/encode(_:into:now:defaultType:)``
    ///   throws; the batch is then unchanged.
    mutating func add(
        _ record: UnsafeBufferPointer<UInt8>, encoder: RecordEncoder, now: Int64, defaultType: String? = nil
    ) throws(StoaError) {
        facts.append(try encoder.encode(record, into: &bytes, now: now, defaultType: defaultType))
        lineEnds.append(bytes.count)
        if let digest {
            let start = lineEnds.count == 1 ? 0 : lineEnds[lineEnds.count - 2]
            // Only a stamp Stoa inserted is left out of the key: a record
            // that came with the same time keeps it (``DedupWindow``).
            if facts.last!.timeInserted && stamp?.time != now {
                var text: [UInt8] = []
                RecordTime.append(now, to: &text)
                stamp = (now, text)
            }
            let keyStart = bytes.withUnsafeBufferPointer { all in
                let line = UnsafeBufferPointer(rebasing: all[start..<(bytes.count - 1)])
                let keyStart =
                    facts.last!.timeInserted
                    ? DedupWindow.keyStart(of: line, member: encoder.insertedTimeMember, stamp: stamp!.text) : 1
                digests!.append(digest(UnsafeBufferPointer(rebasing: line[keyStart...])))
                return keyStart
            }
            keyStarts!.append(keyStart)
        }
    }

    /// The same batch without the records at `dropped`.
    func removing(_ dropped: Set<Int>) -> EncodedBatch {
        var kept = EncodedBatch(digest: digest)
        let hasFacts = facts.count == lineEnds.count
        var start = 0
        for (position, end) in lineEnds.enumerated() {
            if !dropped.contains(position) {
                kept.bytes += bytes[start..<end]
                kept.lineEnds.append(kept.bytes.count)
                if hasFacts { kept.facts.append(facts[position]) }
                if let keyStarts { kept.keyStarts!.append(keyStarts[position]) }
                if let digests { kept.digests!.append(digests[position]) }
                if sourceLines.count == lineEnds.count { kept.sourceLines.append(sourceLines[position]) }
            }
            start = end
        }
        return kept
    }
}
