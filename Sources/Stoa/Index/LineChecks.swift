/// Every line's check (``CRC32C/lineCheck(_:)``) of a segment's index, a
/// byte a line, by line number. They are needed only when a block fails its
/// checksum, which is rare, so an index loaded from an `.idx` does not hold
/// them: it keeps where they are in the file and their CRC32C, and reads
/// them again (one `pread`) when a block fails. What is read is trusted only
/// if its CRC32C is the one the loaded file recorded: an `.idx` replaced
/// since (rebuilt by a reader, rewritten by the writer) gives nil, and the
/// failing block's lines are then named damaged, never served unchecked.
struct LineChecks: Sendable, Equatable, ExpressibleByArrayLiteral {
    private enum Storage: Sendable {
        case held(ArraySlice<UInt8>)
        /// In the file at `path`, `count` bytes from `offset`, whose CRC32C is `crc`.
        case stored(path: String, offset: Int, crc: UInt32)
    }

    private var storage: Storage
    /// How many lines have a check.
    private(set) var count: Int

    init(arrayLiteral elements: UInt8...) {
        storage = .held(ArraySlice(elements))
        count = elements.count
    }

    init(_ bytes: ArraySlice<UInt8>) {
        storage = .held(bytes)
        count = bytes.count
    }

    /// Checks left in the `.idx` at `path`.
    init(stored count: Int, in path: String, at offset: Int, crc: UInt32) {
        storage = .stored(path: path, offset: offset, crc: crc)
        self.count = count
    }

    /// Whether they are in memory (not left in their file).
    var isHeld: Bool {
        if case .held = storage { return true }
        return false
    }

    /// Adds the next line's check (to checks held in memory).
    mutating func append(_ check: UInt8) {
        guard case .held(var bytes) = storage else { preconditionFailure("line checks left in a file cannot grow") }
        storage = .held([])
        bytes.append(check)
        storage = .held(bytes)
        count += 1
    }

    /// The checks: those held, or those read from their file now; nil when
    /// the file cannot be read or is no longer the one they were loaded from
    /// (their CRC32C differs).
    func bytes() -> ArraySlice<UInt8>? {
        switch storage {
        case .held(let bytes):
            return bytes
        case .stored(let path, let offset, let crc):
            guard let file = try? OpenFile(readingAt: path),
                let bytes = try? file.read(fromAbsoluteOffset: offset, count: count), bytes.count == count,
                bytes.withUnsafeBufferPointer({ CRC32C.checksum($0) }) == crc
            else { return nil }
            return bytes[...]
        }
    }

    /// Their CRC32C.
    var crc: UInt32 {
        switch storage {
        case .held(let bytes): return bytes.withUnsafeBufferPointer { CRC32C.checksum($0) }
        case .stored(_, _, let crc): return crc
        }
    }

    /// Memory held, in bytes.
    var memoryBytes: Int {
        switch storage {
        case .held(let bytes): return bytes.count
        case .stored(let path, _, _): return 24 + path.utf8.count
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
