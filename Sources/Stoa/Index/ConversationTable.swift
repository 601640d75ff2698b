/// The postings of each conversation in a segment.
///
/// While a segment is indexed they are kept in a dictionary. Loaded from an
/// `.idx` file, where they are stored sorted by name, they stay in the file's
/// bytes: the table keeps only where each entry starts and finds a
/// conversation by binary search. A segment holds thousands of
/// conversations, and most queries ask for none of them, so opening a store
/// builds no dictionary and allocates nothing per conversation.
///
/// A loaded table also has a Bloom filter of its names (10 bits a name, 4
/// probes: about 1% false positives), stored after the entries, so that a
/// query for one conversation passes over the many segments that do not
/// hold it without a binary search of their names.
struct ConversationTable: Sendable {
    private var built: [String: Postings] = [:]
    /// The `.idx` bytes and where each entry (a length-prefixed name, then
    /// its postings) starts in them, sorted by name.
    private var file: IndexBytes = []
    private var entries: [UInt32] = []
    /// The bytes the entries take in the file.
    private var storedBytes = 0
    /// The Bloom filter of a loaded table's names (empty while building).
    private var filter: IndexBytes = []

    init() {}

    /// Reads `count` entries from `input`; nil when they are malformed, out
    /// of order, when an entry's postings are not valid ordinals of a
    /// segment of `lineCount` lines (``Postings/isValid(below:)``), or when
    /// the Bloom filter is not the one of their names (a filter missing a
    /// name would have every query for it pass over the segment). They are
    /// kept in the file's bytes: a conversation's postings are read again
    /// when it is looked up.
    ///
    /// `validating` false: read from an `.idx` found consistent before and
    /// unchanged since (see ``IndexFile/read(_:trusting:)``), the names,
    /// their order, the postings and the filter are taken as they are.
    init?(reading input: inout ByteReader, count: UInt32, lineCount: UInt32, validating: Bool = true) {
        file = input.bytes
        // An entry takes at least 20 bytes: a count no file could hold allocates nothing.
        guard Int(count) <= (input.bytes.endIndex - input.position) / 20 else { return nil }
        entries.reserveCapacity(Int(count))
        var previous: IndexBytes = []
        let first = input.position
        for number in 0..<count {
            let start = input.position
            guard validating else {
                // Each entry's parts are passed over, not read.
                guard input.stringBytes() != nil, input.skipPostings() else { return nil }
                entries.append(UInt32(start - file.startIndex))
                continue
            }
            guard let name = input.stringBytes(), let postings = input.postings() else { return nil }
            guard name.withUnsafeBufferPointer({ String(validating: $0, as: UTF8.self) }) != nil,
                postings.isValid(below: lineCount)
            else { return nil }
            if number > 0 && Self.compare(previous, name) >= 0 { return nil }
            previous = name
            entries.append(UInt32(start - file.startIndex))
        }
        guard let filterLength = input.u32(), let filter = input.slice(Int(filterLength)),
            filter.count == Self.filterBytes(names: Int(count))
        else { return nil }
        guard validating else {
            self.filter = filter
            storedBytes = input.position - first
            return
        }
        var expected = [UInt8](repeating: 0, count: filter.count)
        let shape = NameFilter(filter)
        forEachNameHash { hash in
            shape.forEachProbe(hash: hash) { bit in
                expected[bit >> 3] |= 1 << UInt8(bit & 7)
                return true
            }
        }
        guard filter.elementsEqual(expected) else { return nil }
        self.filter = filter
        storedBytes = input.position - first
    }

    /// A conversation name, hashed once for the filters of every segment.
    struct Key: Sendable {
        let name: String
        /// FNV-1a (64 bits) of the name's UTF-8 bytes; probes are
        /// `low + i × (high | 1)` modulo the filter's bits.
        let hash: UInt64

        init(_ name: String) {
            self.name = name
            self.hash = Self.hash(of: name)
        }

        /// The hash of a name: from its bytes in place when they are
        /// contiguous (a native string's are), not byte by byte through its
        /// UTF-8 view.
        static func hash(of name: String) -> UInt64 {
            name.utf8.withContiguousStorageIfAvailable { hash($0) } ?? hash(name.utf8)
        }

        static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            return hash
        }
    }

    /// Calls `body` with the hash (``Key/hash``) of each conversation's name.
    func forEachNameHash(_ body: (UInt64) -> Void) {
        if entries.isEmpty {
            for name in built.keys { body(Key.hash(name.utf8)) }
            return
        }
        file.withUnsafeBufferPointer { file in
            for start in entries {
                // Checked when the table was read: each name lies within the bytes.
                let start = Int(start)
                let length = Int(UInt32(littleEndian: UnsafeRawPointer(file.baseAddress! + start).loadUnaligned(as: UInt32.self)))
                body(Key.hash(UnsafeBufferPointer(start: file.baseAddress! + start + 4, count: length)))
            }
        }
    }

    /// The filter's size for `names` names: 10 bits each, in whole 64-bit words.
    static func filterBytes(names: Int) -> Int { (names * 10 + 63) / 64 * 8 }

    /// The Bloom filter of `names`, as an `.idx` stores it.
    static func filter(of names: [String]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: filterBytes(names: names.count))
        guard !names.isEmpty else { return bytes }
        let shape = NameFilter(IndexBytes(bytes))
        for name in names {
            shape.forEachProbe(Key(name)) {
                bytes[$0 >> 3] |= 1 << UInt8($0 & 7)
                return true
            }
        }
        return bytes
    }

    /// False when the segment certainly holds no record of the conversation.
    func mayContain(_ key: Key) -> Bool {
        if entries.isEmpty { return built[key.name] != nil }
        return NameFilter(filter).mayContain(key)
    }

    /// A loaded table's Bloom filter (nil while building): a query asks it
    /// of every segment, and holding the filter alone spares copying the
    /// table each time.
    var nameFilter: NameFilter? { entries.isEmpty ? nil : NameFilter(filter) }

    var count: Int { entries.isEmpty ? built.count : entries.count }

    subscript(conversation: String) -> Postings? {
        if entries.isEmpty { return built[conversation] }
        // A probe reads the name in place: no slice, no allocation. The
        // entries were checked when the table was read, so each name lies
        // within the bytes.
        var wanted = conversation
        let found: Int? = wanted.withUTF8 { wanted in
            file.withUnsafeBufferPointer { file in
                var low = 0
                var high = entries.count
                while low < high {
                    let middle = (low + high) / 2
                    let start = Int(entries[middle])
                    let length = Int(UInt32(littleEndian: UnsafeRawPointer(file.baseAddress! + start).loadUnaligned(as: UInt32.self)))
                    let order = Self.compare(UnsafeBufferPointer(start: file.baseAddress! + start + 4, count: length), wanted)
                    if order == 0 { return start }
                    if order < 0 { low = middle + 1 } else { high = middle }
                }
                return nil
            }
        }
        guard let found else { return nil }
        var input = ByteReader(file, at: found)
        _ = input.stringBytes()
        return input.postings()
    }

    /// Adds `ordinal` to a conversation's postings.
    mutating func append(_ ordinal: UInt32, to conversation: String) {
        if !entries.isEmpty {
            // Loaded from a file: it becomes a dictionary again.
            built = Dictionary(uniqueKeysWithValues: sorted())
            entries = []
            file = []
            filter = []
            storedBytes = 0
        }
        built[conversation, default: Postings()].append(ordinal)
    }

    /// Every conversation with its postings, sorted by name (as UTF-8 bytes).
    func sorted() -> [(String, Postings)] {
        if entries.isEmpty {
            return built.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        }
        return entries.map { start in
            var input = ByteReader(file, at: Int(start))
            let name = input.stringBytes()!.withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) }
            return (name, input.postings()!)
        }
    }

    /// Memory held, in bytes.
    var memoryBytes: Int {
        if entries.isEmpty {
            return built.reduce(0) { $0 + $1.key.utf8.count + 48 + $1.value.memoryBytes }
        }
        return entries.capacity * 4 + storedBytes
    }

    /// Orders names as bytes: < 0, 0 or > 0.
    private static func compare(_ left: IndexBytes, _ right: IndexBytes) -> Int {
        left.withUnsafeBufferPointer { left in right.withUnsafeBufferPointer { right in compare(left, right) } }
    }

    private static func compare(_ left: UnsafeBufferPointer<UInt8>, _ right: UnsafeBufferPointer<UInt8>) -> Int {
        let shared = min(left.count, right.count)
        if shared > 0 {
            let order = memcmp(left.baseAddress!, right.baseAddress!, shared)
            if order != 0 { return Int(order) }
        }
        return left.count - right.count
    }
}

extension ConversationTable: Equatable {
    static func == (lhs: ConversationTable, rhs: ConversationTable) -> Bool {
        let left = lhs.sorted()
        let right = rhs.sorted()
        return left.count == right.count && zip(left, right).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}

/// A Bloom filter of conversation names, as an `.idx` stores it: 10 bits
/// a name, and 4 probes, `low + i × (high | 1)` modulo its bits for `i` in
/// 0..<4, where `low` and `high` are the halves of the name's hash.
struct NameFilter: Sendable {
    let bytes: IndexBytes
    private let bitCount: UInt64
    /// ⌊(2⁶⁴ − 1) / bitCount⌋ + 1: the remainder of a 32-bit value by
    /// `bitCount` is then two multiplications, not a division (Lemire,
    /// Kaser and Kurz, "Faster remainder by direct computation", 2019). A
    /// reader's first conversation query asks the filter of every segment,
    /// and in a profile of that, the division took half the time.
    private let magic: UInt64

    static let probes = 4

    init(_ bytes: IndexBytes) {
        self.bytes = bytes
        bitCount = UInt64(bytes.count) * 8
        magic = bitCount == 0 ? 0 : UInt64.max / bitCount &+ 1
    }

    /// `value` modulo the bits, for a `value` below 2³².
    @inline(__always)
    private func remainder(_ value: UInt64) -> UInt64 {
        guard bitCount <= UInt64(UInt32.max) else { return value % bitCount }
        return (magic &* value).multipliedFullWidth(by: bitCount).high
    }

    /// Calls `body` with each probe's bit until it returns false; whether it
    /// never did. The probes are the format's, `(low + i × step) % bits`,
    /// found by adding `step % bits` to the one before.
    @discardableResult
    @inline(__always)
    func forEachProbe(_ key: ConversationTable.Key, _ body: (Int) -> Bool) -> Bool {
        forEachProbe(hash: key.hash, body)
    }

    /// ``forEachProbe(_:_:)`` for a name's hash (``ConversationTable/Key/hash``).
    @discardableResult
    @inline(__always)
    func forEachProbe(hash: UInt64, _ body: (Int) -> Bool) -> Bool {
        guard bitCount > 0 else { return false }
        var bit = remainder(hash & 0xFFFF_FFFF)
        if !body(Int(bit)) { return false }
        let step = remainder((hash >> 32) | 1)
        for _ in 1..<Self.probes {
            bit += step
            if bit >= bitCount { bit -= bitCount }
            if !body(Int(bit)) { return false }
        }
        return true
    }

    /// False when the table this is the filter of certainly does not hold
    /// the conversation.
    func mayContain(_ key: ConversationTable.Key) -> Bool {
        // Most names a filter does not hold miss on the first probe or the second.
        bytes.withUnsafeBufferPointer { bits in
            forEachProbe(key) { bit in bits[bit >> 3] & (1 << UInt8(bit & 7)) != 0 }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
