import Synchronization

extension Store {
    // MARK: Appending

    /// Appends one record: a JSON object, compact or pretty-printed.
    ///
    /// - Parameters:
    ///   - json: the record's UTF-8 bytes.
    ///   - durability: overrides the store's default for this append.
    /// - Returns: the record's seq.
    /// - Throws: `.invalidRecord` or `.recordTooLarge` (nothing stored);
    ///   `.noSpace` or `.io` when the write failed (nothing stored);
    ///   `.closed` after ``close()``.
    // Inlinable, so that it is specialized in the caller's module: there the
    // bytes become one buffer (without a copy when they are contiguous) and
    // everything after that is the non-generic `appendRecord`.
    @inlinable
    @discardableResult
    public func append<Bytes: Collection<UInt8>>(json: Bytes, durability: Durability? = nil) throws(StoaError) -> UInt64 {
        let stored = json.withContiguousStorageIfAvailable { record in
            Result { () throws(StoaError) in try appendRecord(record, durability: durability) }
        } ?? Array(json).withUnsafeBufferPointer { record in
            Result { () throws(StoaError) in try appendRecord(record, durability: durability) }
        }
        return try stored.get()
    }

    /// ``append(json:durability:)`` for bytes in one buffer.
    @usableFromInline
    func appendRecord(_ record: UnsafeBufferPointer<UInt8>, durability: Durability?) throws(StoaError) -> UInt64 {
        var batch = EncodedBatch(digest: dedupDigest)
        batch.reserve(records: 1, bytes: record.count + EncodedBatch.insertionRoom)
        try batch.add(record, encoder: encoder, now: clock.now())
        let (seqs, duplicateOf) = try write(batch, durability: durability)
        return duplicateOf ?? seqs.lowerBound
    }

    /// Appends one record given as JSON text.
    @discardableResult
    public func append(_ json: String, durability: Durability? = nil) throws(StoaError) -> UInt64 {
        try append(json: json.utf8, durability: durability)
    }

    /// Appends records together: either all are stored or, when one is
    /// invalid, none (the error's `line` is the 1-based position of the bad
    /// record in `records`).
    ///
    /// - Returns: the seqs of the records, in order.
    /// - Complexity: one `write(2)` per segment the batch lands in.
    // Inlinable for the same reason as `append(json:)`: a generic that runs
    // unspecialized (as it does when called from another module) pays for
    // metadata lookups and witness calls on every record; specialized, each
    // record reaches the non-generic `encode(_:into:)` as one buffer.
    @inlinable
    @discardableResult
    public func append<Bytes: Collection<UInt8>>(
        contentsOf records: some Sequence<Bytes>, durability: Durability? = nil
    ) throws(StoaError) -> Range<UInt64> {
        var batch = beginBatch(expecting: records.underestimatedCount)
        for record in records {
            let added = record.withContiguousStorageIfAvailable { bytes in
                Result { () throws(StoaError) in try encode(bytes, into: &batch) }
            } ?? Array(record).withUnsafeBufferPointer { bytes in
                Result { () throws(StoaError) in try encode(bytes, into: &batch) }
            }
            try added.get()
        }
        return try write(batch.encoded, durability: durability).seqs
    }

    /// At most this much is reserved ahead for a batch (it grows past it if it must).
    static let batchReserveLimit = 64 << 20

    /// A new batch for ``append(contentsOf:durability:)``, with room for
    /// `count` records.
    @usableFromInline
    func beginBatch(expecting count: Int) -> BatchInProgress {
        var batch = BatchInProgress(encoded: EncodedBatch(digest: dedupDigest), now: clock.now())
        // Room for `count` lines as long as the last batch's: a batch that
        // outgrows its array is copied whole each time it doubles.
        let lineBytes = max(1, averageLineBytes.load(ordering: .relaxed) * 9 / 8)
        let room = count >= Self.batchReserveLimit / lineBytes ? Self.batchReserveLimit : count * lineBytes
        batch.encoded.reserve(records: count, bytes: room)
        return batch
    }

    /// Encodes the next record of a batch; an error names its position.
    @usableFromInline
    func encode(_ record: UnsafeBufferPointer<UInt8>, into batch: inout BatchInProgress) throws(StoaError) {
        batch.line += 1
        do {
            try batch.encoded.add(record, encoder: encoder, now: batch.now)
        } catch {
            throw error.at(line: batch.line)
        }
    }

    /// Appends records given as JSON text, all or none.
    @discardableResult
    public func append(contentsOf records: [String], durability: Durability? = nil) throws(StoaError) -> Range<UInt64> {
        try append(contentsOf: records.lazy.map(\.utf8), durability: durability)
    }

    /// Writes encoded records: the one place bytes reach a segment.
    ///
    /// - Returns: the seqs of the records stored, and, for a lone record that
    ///   `dedup_window` kept out, the seq of its earlier copy.
    @usableFromInline
    func write(_ batch: EncodedBatch, durability: Durability?) throws(StoaError) -> (seqs: Range<UInt64>, duplicateOf: UInt64?) {
        var progress = WriteProgress()
        do {
            return try write(batch, durability: durability, progress: &progress)
        } catch {
            var error = error
            if let stored = progress.stored, !stored.isEmpty {
                error.message += "; the first \(stored.count) records of this append were stored (seq \(stored.lowerBound) to \(stored.upperBound - 1))"
            } else {
                error.message += "; nothing of this append was stored"
            }
            throw error
        }
    }

    /// ``write(_:durability:)``, saying in `progress` how far it got, so
    /// that when it throws the caller knows which records are stored.
    func write(
        _ batch: EncodedBatch, durability: Durability?, progress: inout WriteProgress
    ) throws(StoaError) -> (seqs: Range<UInt64>, duplicateOf: UInt64?) {
        guard !batch.lineEnds.isEmpty else {
            let next = state.withLock { $0.active.base + $0.count }
            return (next..<next, nil)
        }
        let durability = durability ?? configuration.durability
        averageLineBytes.store(batch.bytes.count / batch.lineEnds.count, ordering: .relaxed)
        let (seqs, generation, duplicateOf) = try state.withLock { (state) throws(StoaError) in
            var batch = batch
            var duplicateOf: UInt64?
            if state.dedup != nil, batch.keyStarts != nil {
                (batch, duplicateOf) = removeDuplicates(batch, state: &state)
                if batch.lineEnds.isEmpty {
                    let next = state.active.base + state.count
                    return (next..<next, state.generation, duplicateOf)
                }
            }
            let (seqs, generation) = try writeLocked(batch, state: &state, progress: &progress)
            return (seqs, generation, duplicateOf)
        }
        if durability == .always {
            try commit.waitUntilDurable(generation) { () throws(StoaError) in try syncActive() }
        }
        return (seqs, duplicateOf)
    }

    private func writeLocked(
        _ batch: EncodedBatch, state: inout WriterState, progress: inout WriteProgress
    ) throws(StoaError) -> (Range<UInt64>, UInt64) {
        if state.closed { throw StoaError(.closed, "the store is closed", path: path) }
        if let failure = state.failure {
            throw StoaError(
                .closed, "the store stopped accepting appends after an earlier failure (\(failure)); reopen it to recover",
                path: path)
        }
        let first = state.active.base + state.count
        var written = 0  // records of this batch already in a segment
        var start = 0  // byte offset of the first unwritten record
        let now = clock.now()
        while written < batch.lineEnds.count {
            let firstLength = batch.lineEnds[written] - start
            let tooOld = now - state.active.createdAt >= configuration.segmentAge.saturatingMicroseconds
            if state.count > 0 && (state.size + firstLength > configuration.segmentBytes || tooOld) {
                try seal(&state)
            }
            // As many records as fit in this segment (at least one).
            var end = written + 1
            while end < batch.lineEnds.count && state.size + batch.lineEnds[end] - start <= configuration.segmentBytes {
                end += 1
            }
            let stop = batch.lineEnds[end - 1]
            do {
                try batch.bytes.withUnsafeBufferPointer { (buffer) throws(StoaError) in
                    try fileSystem.writeAll(
                        state.active.file.fd, UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[start..<stop])),
                        path: state.active.file.path)
                }
            } catch {
                try undoPartialWrite(&state, error: error)
            }
            indexInBackground(batch, lines: written..<end, bytes: stop - start, active: state.active, offset: state.size)
            if state.dedup != nil {
                Self.remember(
                    batch, lines: written..<end, firstSeq: state.active.base + state.count, segment: state.active.base,
                    offset: state.size, now: now, in: &state.dedup!)
            }
            state.count += UInt64(end - written)
            state.size += stop - start
            state.generation += 1
            written = end
            start = stop
            progress.stored = first..<(first + UInt64(written))
            if batch.sourceLines.count == batch.lineEnds.count {
                progress.lastSourceLine = batch.sourceLines[written - 1]
                progress.storedSourceLines = batch.sourceLines[..<written]
            }
        }
        return (first..<(first + UInt64(written)), state.generation)
    }

    /// Hands lines just written to the active segment at `offset` (`lines`
    /// of `batch`, `bytes` long) to the background, which
    /// indexes them from the facts their encoding found instead of scanning
    /// them again. Called with the state locked, so that the background
    /// gets them in the order they were written.
    ///
    /// Not for small writes (a job per record would cost more than it
    /// saves) nor while the background is behind: what is not handed over
    /// is read back from the file when it is needed.
    private func indexInBackground(
        _ batch: EncodedBatch, lines: Range<Int>, bytes: Int, active: ActiveSegment, offset: Int
    ) {
        guard batch.facts.count == batch.lineEnds.count, bytes >= Self.minimumBackgroundBytes,
            checkpoint.queuedBytes.load(ordering: .relaxed) < ActiveCheckpoint.queueLimit
        else { return }
        let written = ActiveCheckpoint.Written(
            path: active.file.path, base: active.base, offset: offset, bytes: batch.bytes,
            lineEnds: batch.lineEnds, facts: batch.facts, lines: lines)
        let (checkpoint, encoder) = (self.checkpoint, self.encoder)
        checkpoint.queuedBytes.add(bytes, ordering: .relaxed)
        worker.submit {
            checkpoint.addWritten(written, encoder: encoder)
            checkpoint.queuedBytes.subtract(bytes, ordering: .relaxed)
        }
    }

    /// Writes smaller than this are left for the background to read back.
    static let minimumBackgroundBytes = 32 << 10

    /// Cuts the active segment back after a failed write, so that no partial
    /// line stays behind, and throws the write's error.
    private func undoPartialWrite(_ state: inout WriterState, error: StoaError) throws(StoaError) -> Never {
        do {
            try fileSystem.ftruncate(state.active.file.fd, to: state.size, path: state.active.file.path)
        } catch let truncateError {
            // The segment may end in a partial line: stop here; reopening cuts it.
            state.failure = truncateError
        }
        throw error
    }
}

/// How far a write got before it failed.
struct WriteProgress {
    /// The seqs of the batch's records that are in a segment (nil: none).
    var stored: Range<UInt64>?
    /// For a stream: the input line the last of them ends on.
    var lastSourceLine: Int?
    /// For a stream: the input line each of them ends on, in seq order.
    var storedSourceLines: ArraySlice<Int> = []
}
