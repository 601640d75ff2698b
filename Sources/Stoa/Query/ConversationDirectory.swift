
/// Which of a store's sealed segments hold which conversation, for one
/// reader: the hashes of every sealed segment's conversation names in one
/// table, so that a conversation query finds the segments holding it with
/// one lookup instead of asking each segment's Bloom filter (a cache miss a
/// segment).
///
/// It is built by the reader's second conversation query, from the tables
/// already in memory, and extended as
/// segments are sealed. A segment it does not cover (the growing one, a
/// cold one) is asked as before. It only narrows the search: a segment it
/// names is still looked up in its own table, so a hash shared by two names
/// costs a lookup, never a record.
final class ConversationDirectory: Sendable {
    private let state = Protected(State())

    /// The segments of a snapshot that a query for one conversation looks
    /// at, by position.
    struct Holders: Sendable {
        /// Those it covers that may hold the conversation.
        var holding: [Int]
        /// Those it does not cover (cold ones, the growing one): each asked
        /// as before.
        var uncovered: [Int]
    }

    private struct State {
        /// The base seqs of the segments covered, ascending.
        var covered: [UInt64] = []
        /// Open addressing with linear probing. A slot holds a name's hash
        /// with its low bits replaced by the position of its segment in
        /// `covered`, plus one; zero is empty.
        var slots: [UInt64] = []
        var used = 0
        /// Conversation queries asked.
        var queries = 0
        /// The snapshot last worked out, and its segments not covered.
        var reconciled: (identity: Snapshot.Identity, uncovered: [Int])?

        static let positionBits: UInt64 = 24
        static let positionMask: UInt64 = 1 << positionBits - 1

        mutating func add(_ segment: IndexedSegment) {
            let position = UInt64(covered.count) + 1
            precondition(position <= Self.positionMask, "more segments than a conversation directory holds")
            covered.append(segment.summary.base)
            let parts = segment.loadedParts
            reserve(used + parts.conversationCount)
            parts.forEachNameHash { hash in
                insert(hash & ~Self.positionMask | position)
                used += 1
            }
        }

        /// Makes room for `count` entries, the table at most half full.
        private mutating func reserve(_ count: Int) {
            guard count * 2 > slots.count else { return }
            var size = max(1024, slots.count)
            while count * 2 > size { size *= 2 }
            let old = slots
            slots = Array(repeating: 0, count: size)
            for entry in old where entry != 0 { insert(entry) }
        }

        private mutating func insert(_ entry: UInt64) {
            let mask = slots.count - 1
            var slot = Self.home(entry, mask: mask)
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = entry
        }

        /// Where an entry's probe starts: from the hash's high bits (its low
        /// ones are the position).
        static func home(_ hash: UInt64, mask: Int) -> Int { Int(truncatingIfNeeded: hash >> 32) & mask }

        /// Covers the sealed, loaded segments of `snapshot` after the last
        /// one covered (segments are sealed in order, and a cold one is never
        /// loaded again), and notes which of its segments are not covered.
        mutating func reconcile(with snapshot: Snapshot) {
            let briefs = snapshot.briefs
            var first = briefs.endIndex
            while first > 0 && covered.last.map({ briefs[first - 1].base > $0 }) ?? true { first -= 1 }
            let adding = (first..<briefs.endIndex).filter { briefs[$0].isLoaded && snapshot.segments[$0].isSealed }
            // Room for them all at once, so that the table grows once.
            reserve(used + adding.reduce(0) { $0 + snapshot.segments[$1].loadedParts.conversationCount })
            for number in adding { add(snapshot.segments[number]) }
            var uncovered: [Int] = []
            var next = 0
            var live = 0
            for number in briefs.indices {
                while next < covered.count && covered[next] < briefs[number].base { next += 1 }
                let isCovered = next < covered.count && covered[next] == briefs[number].base
                if isCovered { live += 1 }
                if !isCovered || !briefs[number].isLoaded { uncovered.append(number) }
            }
            // Segments expire: once most of those covered are gone, the
            // table starts again from the segments there are.
            if live * 2 < covered.count {
                self = State(queries: queries)
                reconcile(with: snapshot)
                return
            }
            reconciled = (snapshot.identity, uncovered)
        }

        /// The positions in `snapshot` of the loaded segments it covers that
        /// may hold the conversation whose name hashes to `hash`. (A cold
        /// segment is among the uncovered: what it holds is known once a
        /// query loads it.)
        func holding(_ hash: UInt64, in snapshot: Snapshot) -> [Int] {
            guard !slots.isEmpty else { return [] }
            let mask = slots.count - 1
            var slot = Self.home(hash, mask: mask)
            var found: [Int] = []
            while slots[slot] != 0 {
                if slots[slot] & ~Self.positionMask == hash & ~Self.positionMask,
                    let number = snapshot.position(ofBase: covered[Int(slots[slot] & Self.positionMask) - 1]),
                    snapshot.briefs[number].isLoaded
                {
                    found.append(number)
                }
                slot = (slot + 1) & mask
            }
            return found
        }
    }

    /// The segments of `snapshot` that a query for the conversation whose
    /// name hashes to `hash` looks at; nil for a reader's first conversation
    /// query, which asks every segment's filter instead: a reader asked
    /// once (a command line) does not pay for the table.
    func holders(of hash: UInt64, in snapshot: Snapshot) -> Holders? {
        state.withLock { state in
            state.queries += 1
            if state.queries == 1 { return nil }
            if state.reconciled?.identity !== snapshot.identity { state.reconcile(with: snapshot) }
            return Holders(holding: state.holding(hash, in: snapshot), uncovered: state.reconciled!.uncovered)
        }
    }

    /// Memory held, in bytes.
    var memoryBytes: Int {
        state.withLock { $0.slots.capacity * 8 + $0.covered.capacity * 8 }
    }
}
