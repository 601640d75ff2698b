/// Every line's check (``CRC32C/lineCheck(_:)``) of a segment's index, a
/// byte a line, by line number. They are needed only when a block fails its
/// checksum, which is rare, so an index loaded from an `.idx` leaves them in
/// the mapped file, with the CRC32C the file recorded of them, and checks
/// them against it when a block fails: checks that do not match give nil,
/// and the failing block's lines are then named damaged, never served
/// unchecked. An index loaded from a checkpoint of the active segment
/// grows: the checks of the lines after it are held, after those mapped.
struct LineChecks: Sendable, Equatable, ExpressibleByArrayLiteral {
    private enum Storage: Sendable {
        case held(IndexBytes)
        /// In a mapped file, whose CRC32C should be `crc` (checked when they
        /// are used), then those of lines added since.
        case mapped(IndexBytes, crc: UInt32, added: IndexBytes)
    }

    private var storage: Storage
    /// How many lines have a check.
    private(set) var count: Int

    init(arrayLiteral elements: UInt8...) {
        storage = .held(IndexBytes(elements))
        count = elements.count
    }

    init(_ bytes: IndexBytes) {
        storage = .held(bytes)
        count = bytes.count
    }

    /// Checks in a mapped `.idx`, whose CRC32C the file says is `crc`: they
    /// are checked against it each time they are used (rarely: when a block
    /// fails its checksum), not when the file is loaded.
    init(mapped bytes: IndexBytes, crc: UInt32) {
        storage = .mapped(bytes, crc: crc, added: [])
        count = bytes.count
    }

    /// Whether they are in memory (not left in their mapped file).
    var isHeld: Bool {
        if case .held = storage { return true }
        return false
    }

    /// Adds the next line's check.
    mutating func append(_ check: UInt8) {
        switch storage {
        case .held(var bytes):
            storage = .held([])
            bytes.append(check)
            storage = .held(bytes)
        case .mapped(let bytes, let crc, var added):
            storage = .held([])
            added.append(check)
            storage = .mapped(bytes, crc: crc, added: added)
        }
        count += 1
    }

    /// The checks; nil when those in a mapped file do not match the CRC32C
    /// it recorded of them (the `.idx` was damaged since it was checked).
    func bytes() -> IndexBytes? {
        switch storage {
        case .held(let bytes):
            return bytes
        case .mapped(let bytes, let crc, let added):
            guard bytes.withUnsafeBufferPointer({ CRC32C.checksum($0) }) == crc else { return nil }
            return added.isEmpty ? bytes : IndexBytes(Array(bytes) + Array(added))
        }
    }

    /// Their CRC32C.
    var crc: UInt32 {
        switch storage {
        case .held(let bytes): return bytes.withUnsafeBufferPointer { CRC32C.checksum($0) }
        case .mapped(_, let crc, let added): return added.withUnsafeBufferPointer { CRC32C.checksum($0, continuing: crc) }
        }
    }

    /// Memory held, in bytes.
    var memoryBytes: Int {
        switch storage {
        case .held(let bytes): return bytes.count
        case .mapped(_, _, let added): return added.count  // and the file's pages, shared with the page cache
        }
    }

    /// The same checks: the same bytes (compared by CRC32C when one side is
    /// left in its file).
    static func == (left: LineChecks, right: LineChecks) -> Bool {
        guard left.count == right.count else { return false }
        if case .held(let a) = left.storage, case .held(let b) = right.storage { return a == b }
        return left.crc == right.crc
    }
}
