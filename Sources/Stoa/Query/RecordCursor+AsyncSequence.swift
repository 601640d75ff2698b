extension RecordCursor: AsyncSequence {
    /// A record, copied out of the segment (as ``RecordCursor/next()`` gives it).
    public typealias Element = Record
    /// What a read throws: a file that cannot be read, say.
    public typealias Failure = StoaError

    /// The cursor's remaining records, for `for try await`.
    ///
    /// ```swift
    /// for try await record in try reader.query(Query(types: ["error"])) {
    ///     print(record.json)
    /// }
    /// ```
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(cursor: self) }

    /// Hands out the cursor's records one at a time; reads as ``RecordCursor/next()``
    /// does (from mapped segments, without waiting for anything).
    ///
    /// An async iterator is used by one task at a time, and so is the cursor
    /// it holds: neither is `Sendable`, so the compiler keeps both in the
    /// task (or actor) that runs the loop. `next(isolation:)` runs in the
    /// caller's isolation (a `for try await` loop calls it), so the cursor
    /// never moves to another executor; there is no lock, and no hop.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let cursor: RecordCursor

        /// The next record, or nil at the end, read in the caller's isolation.
        public mutating func next(isolation actor: isolated (any Actor)? = #isolation) async throws(StoaError) -> Record? {
            try cursor.next()
        }

        /// The next record, or nil at the end.
        public mutating func next() async throws(StoaError) -> Record? {
            try cursor.next()
        }
    }
}

@available(*, unavailable)
extension RecordCursor.AsyncIterator: Sendable {}
