#if canImport(Glibc)
import Glibc
#endif

/// Where following starts.
public enum FollowStart: Sendable, Equatable {
    /// At this seq (or the oldest record still stored, if it has expired).
    case seq(UInt64)
    /// After the last record stored now: only new records.
    case end
}

extension StoreReader {
    /// Records with seq at or after `first`, in seq order, at most `limit`;
    /// the damaged lines passed over on the way; and the seq to continue
    /// from (past damaged lines too).
    ///
    /// Seqs missing before the first segment have expired: the records go on
    /// from the oldest kept. Seqs missing between two segments are taken for
    /// a listing that missed a segment being moved, and waited for (the
    /// result stops before them), unless `acrossGap` is their first seq:
    /// then they are passed over and named as missing.
    ///
    /// Damaged lines at the end of the active segment, with no valid line
    /// after them yet, are what a crash left mid-write: the next writer's
    /// recovery cuts them and gives their seqs to new records. The result
    /// stops before them; they are named and passed once a valid line
    /// follows them (or the segment is sealed).
    func records(fromSeq first: UInt64, limit: Int, acrossGap: UInt64? = nil) throws(StoaError) -> (
        records: [Record], damaged: [DamagedLine], next: UInt64
    ) {
        var records: [Record] = []
        var damaged: [DamagedLine] = []
        var next = first
        /// Damaged lines of the active segment with no valid line after them (yet).
        var held: [DamagedLine] = []
        for (position, summarized) in try snapshot().enumerated() {
            let end = summarized.summary.end
            guard end > next else { continue }
            let segment = try summarized.loaded()
            let index = segment.index
            if next < index.base {
                if position > 0 {
                    guard acrossGap == next else { return (records, damaged, next) }
                    damaged.append(
                        DamagedLine(
                            path: layout.segments, line: 0, seq: next,
                            reason: "seqs \(next)-\(index.base - 1) are missing: no segment holds them"))
                }
                next = index.base  // (before the first segment: expired)
            }
            for (number, block) in index.blocks.enumerated() where index.base + UInt64(block.firstOrdinal + block.count) > next {
                for line in try segment.lines(ofBlock: number, from: next, encoder: encoder) {
                    if records.count >= limit { return (records, damaged, next) }
                    switch line {
                    case .record(let record):
                        damaged += held
                        held = []
                        records.append(record)
                        next = record.seq + 1
                    case .damaged(let line) where !segment.isSealed:
                        held.append(line)
                    case .damaged(let line):
                        damaged.append(line)
                        next = line.seq + 1
                    }
                }
                if records.count >= limit { return (records, damaged, next) }
            }
            // (Only the last segment is not sealed: nothing comes after it.)
            if !held.isEmpty { return (records, damaged, next) }
            // (A segment's notes — the unreadable rest of a gzip segment —
            // have no lines in its index: they are named once, as passed.)
            damaged += segment.notes.filter { $0.seq >= first }
            next = max(next, end)
        }
        return (records, damaged, next)
    }

    /// Whether the store holds seqs after `seq` (a segment starts later).
    func hasSeqs(after seq: UInt64) throws(StoaError) -> Bool {
        try snapshot().last.map { $0.summary.end > seq } ?? false
    }

    /// The seq the next appended record will get, as far as readers can see.
    func endSeq() throws(StoaError) -> UInt64 {
        guard let last = try snapshot().last else { return 0 }
        return last.summary.end
    }

    /// Follows the store: a cursor that waits for new records, from this
    /// process's appends or another's.
    ///
    /// Records come in seq order (append order), each once: rotation and
    /// tier moves never make it skip or repeat one.
    public func follow(from start: FollowStart = .end) throws(StoaError) -> Follower {
        try follow(from: start, where: [], clock: .monotonic)
    }

    /// Follows the store's new records that meet every filter of
    /// `fieldFilters` (``Query/fieldFilters``); see ``follow(from:)``.
    ///
    /// ```swift
    /// let errors = try reader.follow(where: [try .parse("level=error")])
    /// ```
    public func follow(from start: FollowStart = .end, where fieldFilters: [FieldFilter]) throws(StoaError) -> Follower {
        try follow(from: start, where: fieldFilters, clock: .monotonic)
    }

    /// ``follow(from:where:)`` on a given clock (tests pass one they advance by hand).
    func follow(from start: FollowStart, where fieldFilters: [FieldFilter] = [], clock: StoaClock) throws(StoaError) -> Follower {
        let first: UInt64 =
            switch start {
            case .seq(let seq): seq
            case .end: try endSeq()
            }
        return Follower(reader: self, next: first, clock: clock, fieldFilters: fieldFilters)
    }

    /// The last `count` records, and a follower of every record after
    /// them: what `stoa tail -f` prints. A record appended while this runs
    /// is in one or the other, once.
    ///
    /// - Returns: the records (oldest first), the damaged lines passed over
    ///   among them, and the follower.
    public func lastThenFollow(_ count: Int) throws(StoaError) -> (
        recent: [Record], damaged: [DamagedLine], follower: Follower
    ) {
        try lastThenFollow(count, where: [], betweenReads: {})
    }

    /// The last `count` records that meet every filter of `fieldFilters`
    /// (``Query/fieldFilters``), and a follower of every such record after
    /// them: what `stoa tail -f --where` prints. See ``lastThenFollow(_:)``.
    public func lastThenFollow(_ count: Int, where fieldFilters: [FieldFilter]) throws(StoaError) -> (
        recent: [Record], damaged: [DamagedLine], follower: Follower
    ) {
        try lastThenFollow(count, where: fieldFilters, betweenReads: {})
    }

    /// ``lastThenFollow(_:where:)``, running `betweenReads` between taking where
    /// new records start and reading the last ones (a test appends there).
    func lastThenFollow(_ count: Int, where fieldFilters: [FieldFilter] = [], betweenReads: () -> Void) throws(StoaError) -> (
        recent: [Record], damaged: [DamagedLine], follower: Follower
    ) {
        // Where new records start, taken before the last ones are read: a
        // record appended in between is then among them or followed, never
        // passed over (as it was when the end was taken after them).
        let fromEnd = try follow(from: .end, where: fieldFilters, clock: .monotonic)
        betweenReads()
        let cursor = try last(count, where: fieldFilters)
        let recent = try cursor.all()
        guard let newest = recent.last else { return (recent, cursor.damaged, fromEnd) }
        return (recent, cursor.damaged, try follow(from: .seq(newest.seq + 1), where: fieldFilters, clock: .monotonic))
    }

    /// New records as an `AsyncSequence` (see ``follow(from:)``).
    ///
    /// ```swift
    /// for try await record in try reader.followAsync() { print(record.json) }
    /// ```
    ///
    /// Each loop over the sequence follows on its own, from the same first
    /// seq (`.end` is taken when this is called): two loops each get every
    /// record.
    public func followAsync(from start: FollowStart = .end) throws(StoaError) -> FollowSequence {
        try followAsync(from: start, where: [])
    }

    /// New records that meet every filter of `fieldFilters`
    /// (``Query/fieldFilters``) as an `AsyncSequence`; see ``followAsync(from:)``.
    public func followAsync(from start: FollowStart = .end, where fieldFilters: [FieldFilter]) throws(StoaError)
        -> FollowSequence
    {
        let first: UInt64 =
            switch start {
            case .seq(let seq): seq
            case .end: try endSeq()
            }
        return FollowSequence(reader: self, first: first, clock: .monotonic, fieldFilters: fieldFilters)
    }
}

/// Waits for and hands out new records of a store, in seq order.
///
/// It watches `segments/` with inotify, so a record appended by another
/// process arrives within milliseconds; where inotify is not available it
/// polls every 50 ms.
///
/// A follower is not thread-safe, and not `Sendable`: it belongs to the
/// thread or task that made it.
public final class Follower {
    private let reader: StoreReader
    private var buffer: [Record] = []
    private var position = 0
    /// The lines passed over so far because they are not valid records.
    public private(set) var damaged: [DamagedLine] = []
    /// Where seqs went missing between segments, and since when (µs of `clock`).
    private var gap: (seq: UInt64, since: Int64)?
    /// The seq to read from next.
    public private(set) var nextSeq: UInt64
    /// Reports changes in `segments/`; nil where inotify is not available
    /// (then the follower looks every ``pollInterval``).
    private let changes: ChangeFeed?
    /// How long to wait, and how long a gap has lasted.
    private let clock: StoaClock
    /// What a record must meet to be handed out (every record is read, and
    /// passed over if it does not).
    private let filter: Query

    /// How long to wait between looks when nothing signals a change (µs).
    static let pollInterval: Int64 = 50_000
    /// How long seqs missing between segments are waited for before they
    /// are passed over (µs): two full looks of the reader.
    static let gapWait: Int64 = 2 * StoreReader.fullLookInterval

    init(reader: StoreReader, next: UInt64, clock: StoaClock, fieldFilters: [FieldFilter] = []) {
        self.reader = reader
        self.nextSeq = next
        self.clock = clock
        self.filter = Query(where: fieldFilters)
        let feed = FileReads.fileSystem.changeFeed(watching: [reader.layout.segments], closes: true)
        changes = feed?.rewatch() == true ? feed : nil
    }

    /// The next record, waiting at most `timeout` for one (to the
    /// microsecond); nil when none came.
    ///
    /// ```swift
    /// while let record = try follower.next(waitingUpTo: .seconds(5)) { print(record.json) }
    /// ```
    public func next(waitingUpTo timeout: Duration) throws(StoaError) -> Record? {
        let deadline = RecordTime.adding(clock.now(), timeout.saturatingMicroseconds)
        while true {
            if let record = try nextIfAvailable() { return record }
            let left = deadline - clock.now()
            if left <= 0 { return nil }
            waitForChange(upTo: min(left, Self.pollInterval))
        }
    }

    /// The next record if one is stored now, without waiting.
    public func nextIfAvailable() throws(StoaError) -> Record? {
        if position < buffer.count {
            defer { position += 1 }
            return buffer[position]
        }
        while true {
            // Seqs missing between segments are passed over once they have been
            // missing for longer than a listing race lasts (a reader looks in
            // full at least once a second).
            let now = clock.now()
            let acrossGap = gap.flatMap { $0.seq == nextSeq && now - $0.since > Self.gapWait ? $0.seq : nil }
            let (records, passed, next) = try reader.records(fromSeq: nextSeq, limit: 4096, acrossGap: acrossGap)
            if records.isEmpty && passed.isEmpty && next == nextSeq && (try? reader.hasSeqs(after: next)) == true {
                if gap?.seq != next { gap = (next, now) }
            } else {
                gap = nil
            }
            nextSeq = next
            damaged += passed
            buffer =
                filter.fieldFilters.isEmpty
                ? records : records.filter { $0.bytes.withUnsafeBufferPointer(filter.matchesFields) }
            position = 0
            if !buffer.isEmpty { break }
            // Records were read but none matched: read on, for more may be stored.
            if records.isEmpty { return nil }
        }
        position = 1
        return buffer[0]
    }

    /// Blocks until the segments directory changes or `timeout` µs pass.
    func waitForChange(upTo timeout: Int64) {
        guard let changes else {
            Syscalls.sleep(micros: max(1_000, timeout))
            return
        }
        // Only "something changed" matters: the next look finds what.
        _ = changes.wait(upTo: timeout)
    }
}

// Not thread-safe: it must not cross threads.
@available(*, unavailable)
extension Follower: Sendable {}

/// New records of a store as an `AsyncSequence`; see ``StoreReader/followAsync(from:)``.
///
/// Each iterator (each `for try await` loop) follows with a ``Follower`` of
/// its own, from the sequence's first seq: two loops over one sequence each
/// get every record, and none shares a follower with another.
public struct FollowSequence: AsyncSequence, Sendable {
    /// A new record, in seq order.
    public typealias Element = Record
    let reader: StoreReader
    /// The seq every iterator starts at.
    let first: UInt64
    let clock: StoaClock
    /// What a record must meet to be handed out.
    var fieldFilters: [FieldFilter] = []

    /// Hands out the records of one loop. Like its follower, it is not
    /// `Sendable`: an async iterator is used by one task at a time.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let follower: Follower

        /// The next record, once one is stored; nil when the task is cancelled.
        public mutating func next() async throws -> Record? {
            while !Task.isCancelled {
                if let record = try follower.nextIfAvailable() { return record }
                // Wait off the cooperative pool: the wait blocks its thread.
                // The follower goes to that thread and back: this task is
                // suspended until `done` resumes it, and no other task has
                // the iterator, so one thread at a time uses the follower.
                nonisolated(unsafe) let follower = self.follower
                await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                    DispatchQueue.global().async {
                        follower.waitForChange(upTo: Follower.pollInterval)
                        done.resume()
                    }
                }
            }
            return nil
        }
    }

    /// A new iterator with a follower of its own.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(follower: Follower(reader: reader, next: first, clock: clock, fieldFilters: fieldFilters))
    }
}

@available(*, unavailable)
extension FollowSequence.AsyncIterator: Sendable {}

import Foundation
