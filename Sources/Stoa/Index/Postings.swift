/// A sorted list of record ordinals (line numbers within a segment), stored
/// as delta-encoded varints: about one byte per record for a frequent type,
/// two or three for a rare one.
///
/// A skip entry every ``skipInterval`` ordinals lets a reader start decoding
/// near any ordinal instead of at the beginning.
struct Postings: Sendable, Equatable {
    static let skipInterval = 64

    private(set) var bytes: [UInt8] = []
    private(set) var count = 0
    /// For every `skipInterval`-th entry: its ordinal and where its varint starts.
    private(set) var skips: [Skip] = []
    private(set) var last: UInt32 = 0

    struct Skip: Sendable, Equatable {
        var ordinal: UInt32
        var offset: UInt32
    }

    init() {}

    init(bytes: [UInt8], count: Int, skips: [Skip], last: UInt32) {
        self.bytes = bytes
        self.count = count
        self.skips = skips
        self.last = last
    }

    /// Adds an ordinal larger than every one before.
    mutating func append(_ ordinal: UInt32) {
        precondition(count == 0 || ordinal > last, "postings must grow")
        let delta = count == 0 ? ordinal : ordinal - last
        if count % Self.skipInterval == 0 {
            skips.append(Skip(ordinal: ordinal, offset: UInt32(bytes.count)))
        }
        // The first entry of each skip run is stored whole, so decoding can start there.
        var value = count % Self.skipInterval == 0 ? ordinal : delta
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
        count += 1
        last = ordinal
    }

    /// Calls `body` with each ordinal in `range`, ascending; `body` returns
    /// false to stop.
    func forEach(in range: Range<UInt32>, _ body: (UInt32) -> Bool) {
        guard count > 0, range.lowerBound <= last, !range.isEmpty else { return }
        // The last skip at or before the range's start.
        var low = 0
        var high = skips.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if skips[middle].ordinal <= range.lowerBound { low = middle } else { high = middle - 1 }
        }
        var entry = low * Self.skipInterval
        var offset = Int(skips[low].offset)
        var ordinal: UInt32 = 0
        bytes.withUnsafeBufferPointer { buffer in
            while entry < count {
                var value: UInt32 = 0
                var shift: UInt32 = 0
                while true {
                    let byte = buffer[offset]
                    offset += 1
                    value |= UInt32(byte & 0x7F) << shift
                    if byte < 0x80 { break }
                    shift += 7
                }
                ordinal = entry % Self.skipInterval == 0 ? value : ordinal + value
                entry += 1
                if ordinal >= range.upperBound { return }
                if ordinal >= range.lowerBound && !body(ordinal) { return }
            }
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

    /// Memory held, in bytes.
    var memoryBytes: Int { bytes.capacity + skips.capacity * 8 }
}
