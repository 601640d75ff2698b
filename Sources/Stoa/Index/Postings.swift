/// A sorted list of record ordinals (line numbers within a segment), stored
/// as delta-encoded varints: about one byte per record for a frequent type,
/// two or three for a rare one.
///
/// A skip entry every ``skipInterval`` ordinals lets a reader start decoding
/// near any ordinal instead of at the beginning.
///
/// The bytes are kept exactly as an `.idx` file stores them (skips as pairs
/// of little-endian `u32`), so postings loaded from a file are slices of the
/// file's bytes: loading allocates nothing per list.
struct Postings: Sendable, Equatable {
    static let skipInterval = 64

    private(set) var bytes: IndexBytes = []
    private(set) var count = 0
    /// For every `skipInterval`-th entry: its ordinal and where its varint
    /// starts, as two little-endian `u32`.
    private(set) var skipBytes: IndexBytes = []
    private(set) var last: UInt32 = 0

    init() {}

    /// Postings as stored; nil when the parts do not fit together.
    init?(bytes: IndexBytes, count: Int, skipBytes: IndexBytes, last: UInt32) {
        guard skipBytes.count == (count + Self.skipInterval - 1) / Self.skipInterval * 8 else { return nil }
        self.bytes = bytes
        self.count = count
        self.skipBytes = skipBytes
        self.last = last
        // Every skip must point inside the bytes, or decoding would run off them.
        var valid = true
        skipBytes.withUnsafeBytes { raw in
            for position in stride(from: 4, to: raw.count, by: 8)
            where Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: position, as: UInt32.self))) >= bytes.count {
                valid = false
            }
        }
        if !valid { return nil }
    }

    var skipCount: Int { skipBytes.count / 8 }

    /// Whether these postings, as read from a file, are what ``append(_:)``
    /// makes: `count` ordinals, ascending, each below `limit`, the last one
    /// `last`, the bytes used up exactly, and every skip entry pointing at
    /// its entry. A hostile `.idx` whose CRC is right is refused here, so a
    /// query never meets an ordinal past its segment's lines.
    func isValid(below limit: UInt32) -> Bool {
        guard count <= Int(limit) else { return false }
        return bytes.withUnsafeBufferPointer { buffer in
            skipBytes.withUnsafeBytes { skips in
                var offset = 0
                var ordinal: UInt32 = 0
                for entry in 0..<count {
                    let isSkip = entry % Self.skipInterval == 0
                    let skipAt = entry / Self.skipInterval * 8
                    if isSkip
                        && Int(UInt32(littleEndian: skips.loadUnaligned(fromByteOffset: skipAt + 4, as: UInt32.self))) != offset
                    {
                        return false
                    }
                    var value: UInt64 = 0
                    var shift: UInt64 = 0
                    while true {
                        guard offset < buffer.count, shift <= 28 else { return false }
                        let byte = buffer[offset]
                        offset += 1
                        value |= UInt64(byte & 0x7F) << shift
                        if byte < 0x80 { break }
                        shift += 7
                    }
                    let next = isSkip ? value : UInt64(ordinal) + value
                    guard next < UInt64(limit), entry == 0 || next > UInt64(ordinal) else { return false }
                    ordinal = UInt32(next)
                    if isSkip && UInt32(littleEndian: skips.loadUnaligned(fromByteOffset: skipAt, as: UInt32.self)) != ordinal {
                        return false
                    }
                }
                return offset == buffer.count && (count == 0 ? last == 0 : ordinal == last)
            }
        }
    }

    /// Adds an ordinal larger than every one before.
    mutating func append(_ ordinal: UInt32) {
        precondition(count == 0 || ordinal > last, "postings must grow")
        let delta = count == 0 ? ordinal : ordinal - last
        if count % Self.skipInterval == 0 {
            withUnsafeBytes(of: ordinal.littleEndian) { skipBytes += $0 }
            withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { skipBytes += $0 }
        }
        // The first entry of each skip run is stored whole, so decoding can start there.
        Varint.append(UInt64(count % Self.skipInterval == 0 ? ordinal : delta), to: &bytes)
        count += 1
        last = ordinal
    }

    /// Where a walk through the postings is: the next entry to read, where
    /// its varint starts, and the ordinal before it. A walk that goes on
    /// from where the last one stopped (a query reading the blocks of a
    /// segment one after the other) starts here instead of at a skip entry,
    /// and decodes no entry twice.
    struct Position: Sendable {
        fileprivate var entry: Int
        fileprivate var offset: Int
        fileprivate var previous: UInt32
    }

    /// Calls `body` with each ordinal in `range`, ascending; `body` returns
    /// false to stop.
    func forEach(in range: Range<UInt32>, _ body: (UInt32) -> Bool) {
        var position: Position?
        forEach(in: range, resuming: &position, body)
    }

    /// Calls `body` with each ordinal in `range`, ascending, until it returns
    /// false; starts from `position` when it is no further than `range`
    /// starts and past the skip entry a search would start from, and leaves
    /// in it where the walk stopped: at the first entry not handed to `body`.
    ///
    /// - Complexity: O(log(count / 64)) to find the skip entry, then the
    ///   entries from it (at most 63) or from `position` to the last one
    ///   handed out.
    func forEach(in range: Range<UInt32>, resuming position: inout Position?, _ body: (UInt32) -> Bool) {
        guard count > 0, range.lowerBound <= last, !range.isEmpty else { return }
        let skipCount = self.skipCount
        skipBytes.withUnsafeBufferPointer { skips in
            let skips = UnsafeRawPointer(skips.baseAddress!)
            func skip(_ number: Int) -> (ordinal: UInt32, offset: Int) {
                let ordinal = UInt32(littleEndian: skips.loadUnaligned(fromByteOffset: number * 8, as: UInt32.self))
                let offset = UInt32(littleEndian: skips.loadUnaligned(fromByteOffset: number * 8 + 4, as: UInt32.self))
                return (ordinal, Int(offset))
            }
            // The last skip at or before the range's start.
            var low = 0
            var high = skipCount - 1
            while low < high {
                let middle = (low + high + 1) / 2
                if skip(middle).ordinal <= range.lowerBound { low = middle } else { high = middle - 1 }
            }
            var entry = low * Self.skipInterval
            var offset = skip(low).offset
            var ordinal: UInt32 = 0
            if let resumed = position, resumed.entry >= entry, resumed.entry < count,
                resumed.entry == 0 || resumed.previous < range.lowerBound
            {
                entry = resumed.entry
                offset = resumed.offset
                ordinal = resumed.previous
            }
            bytes.withUnsafeBufferPointer { buffer in
                defer { position = Position(entry: entry, offset: offset, previous: ordinal) }
                while entry < count && offset < buffer.count {
                    var value: UInt32 = 0
                    var shift: UInt32 = 0
                    var next = offset
                    while next < buffer.count {
                        let byte = buffer[next]
                        next += 1
                        value |= UInt32(byte & 0x7F) << (shift & 31)
                        if byte < 0x80 { break }
                        shift += 7
                    }
                    let decoded = entry % Self.skipInterval == 0 ? value : ordinal &+ value
                    if decoded >= range.upperBound { return }
                    ordinal = decoded
                    offset = next
                    entry += 1
                    if ordinal >= range.lowerBound && !body(ordinal) { return }
                }
            }
        }
    }

    /// Appends the ordinals in `range` to `ordinals`, ascending, going on
    /// from `position` as ``forEach(in:resuming:_:)`` does.
    func append(in range: Range<UInt32>, to ordinals: inout [UInt32], resuming position: inout Position?) {
        forEach(in: range, resuming: &position) {
            ordinals.append($0)
            return true
        }
    }

    /// All ordinals in `range`.
    func ordinals(in range: Range<UInt32>) -> [UInt32] {
        var result: [UInt32] = []
        forEach(in: range) {
            result.append($0)
            return true
        }
        return result
    }

    /// Memory held, in bytes (for postings loaded from a file: their share of it).
    var memoryBytes: Int { bytes.count + skipBytes.count }
}

/// Unsigned LEB128: seven bits a byte, low bits first, the high bit set on
/// every byte but the last. Postings and line tables are written with it.
enum Varint {
    static func append(_ value: UInt64, to bytes: inout IndexBytes) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }
}
