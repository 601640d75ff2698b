/// Bytes of an index: its own while it is built (an array it appends to),
/// or a piece of an `.idx` file mapped into memory once loaded, read in
/// place. A loaded index's postings, line tables and conversation entries
/// are such pieces, so loading an `.idx` copies none of them, and the pages
/// of the file a query never reads are never read from the page cache.
///
/// Mapping an `.idx` is safe because Stoa never changes one in place: each
/// is written aside and renamed over the old one, whose pages stay mapped
/// for as long as an index holds them (as a sealed segment's do).
///
/// Indices are those of the array slice, or offsets in the mapped file, as
/// an `ArraySlice`'s are those of its array: a slice of a slice keeps them.
package struct IndexBytes: Sendable, RandomAccessCollection, ExpressibleByArrayLiteral {
    /// Where the bytes are; nil for none.
    private var storage: ByteStorage?
    package private(set) var startIndex = 0
    package private(set) var endIndex = 0

    package init() {}

    package init(arrayLiteral elements: UInt8...) { self.init(elements[...]) }

    package init(_ bytes: ArraySlice<UInt8>) {
        guard !bytes.isEmpty else { return }
        let owned = OwnedBytes(capacity: bytes.count)
        bytes.withUnsafeBufferPointer { owned.append($0) }
        storage = owned
        endIndex = bytes.count
    }

    package init(_ bytes: [UInt8]) { self.init(bytes[...]) }

    /// All the bytes of `file`, read in place.
    init(mapping file: MappedFile) {
        storage = MappedBytes(file)
        endIndex = file.count
    }

    package var count: Int { endIndex - startIndex }

    package subscript(position: Int) -> UInt8 {
        precondition(position >= startIndex && position < endIndex, "index out of range")
        return storage!.base![position]
    }

    package subscript(bounds: Range<Int>) -> IndexBytes {
        precondition(bounds.lowerBound >= startIndex && bounds.upperBound <= endIndex, "range out of bounds")
        var piece = self
        piece.startIndex = bounds.lowerBound
        piece.endIndex = bounds.upperBound
        return piece
    }

    /// The byte at `startIndex` (nil when there are none), for a reader
    /// that keeps these bytes, unchanged, for as long as it uses it.
    var unsafeStart: UnsafePointer<UInt8>? { storage?.base.map { UnsafePointer($0 + startIndex) } }

    /// Whether they are a piece of a mapped file.
    package var isMapped: Bool { storage is MappedBytes }

    package func withUnsafeBufferPointer<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        guard let storage else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        return try withExtendedLifetime(storage) { () throws(E) -> R in
            try body(UnsafeBufferPointer(start: storage.base.map { $0 + startIndex }, count: count))
        }
    }

    package func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try withUnsafeBufferPointer { (buffer) throws(E) -> R in try body(UnsafeRawBufferPointer(buffer)) }
    }

    /// Adds a byte. Bytes shared with another value, or mapped, are copied
    /// first (an index loaded from a checkpoint grows as the segment does).
    package mutating func append(_ byte: UInt8) {
        withUnsafePointer(to: byte) { append(UnsafeBufferPointer(start: $0, count: 1)) }
    }

    package mutating func append(contentsOf other: some Sequence<UInt8>) {
        if let done: Void = other.withContiguousStorageIfAvailable({ append($0) }) { return done }
        for byte in other { append(byte) }
    }

    package static func += (bytes: inout IndexBytes, other: some Sequence<UInt8>) { bytes.append(contentsOf: other) }

    private mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard !bytes.isEmpty else { return }
        if !isKnownUniquelyReferenced(&storage) || !(storage?.isGrowable ?? false) || startIndex != 0
            || endIndex != storage!.count
        {
            let length = count
            let owned = OwnedBytes(capacity: Swift.max(length + bytes.count, length * 2, 16))
            withUnsafeBufferPointer { owned.append($0) }
            storage = owned
            startIndex = 0
            endIndex = length
        }
        // Known to be growable: no cast needed.
        unsafeDowncast(storage!, to: OwnedBytes.self).append(bytes)
        endIndex += bytes.count
    }
}

extension IndexBytes: Equatable {
    package static func == (left: IndexBytes, right: IndexBytes) -> Bool {
        left.count == right.count
            && left.withUnsafeBufferPointer { a in
                right.withUnsafeBufferPointer { b in a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
            }
    }
}

/// Where ``IndexBytes`` keep their bytes: a mapped file, or memory of
/// their own that grows.
class ByteStorage: @unchecked Sendable {
    // Immutable but for OwnedBytes.append, which only a value that holds
    // the sole reference calls.
    final fileprivate(set) var base: UnsafeMutablePointer<UInt8>?
    final fileprivate(set) var count = 0
    final let isGrowable: Bool

    fileprivate init(isGrowable: Bool) { self.isGrowable = isGrowable }
}

private final class MappedBytes: ByteStorage, @unchecked Sendable {
    let file: MappedFile

    init(_ file: MappedFile) {
        self.file = file
        super.init(isGrowable: false)
        base = file.baseAddress.map(UnsafeMutablePointer.init(mutating:))
        count = file.count
    }
}

private final class OwnedBytes: ByteStorage, @unchecked Sendable {
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        super.init(isGrowable: true)
        base = .allocate(capacity: capacity)
    }

    deinit { base?.deallocate() }

    func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        if count + bytes.count > capacity {
            capacity = Swift.max(count + bytes.count, capacity * 2)
            let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
            grown.update(from: base!, count: count)
            base!.deallocate()
            base = grown
        }
        (base! + count).update(from: source, count: bytes.count)
        count += bytes.count
    }
}

#if canImport(Glibc)
import Glibc
#endif
