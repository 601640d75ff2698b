import CStoaSystem

/// CRC32C (Castagnoli), the checksum an `.idx` keeps of each block and line
/// of its segment, as Kafka keeps one of each record batch: computed by the
/// CPU's `crc32` instruction where it has one (SSE 4.2), by table elsewhere.
///
/// ```swift
/// let crc = CRC32C.checksum(bytes)   // CRC32C("123456789") == 0xE3069283
/// ```
package enum CRC32C {
    /// The CRC32C of `bytes`, continuing the one of the bytes before them
    /// (`previous`, 0 to start).
    ///
    /// - Complexity: O(n); about 8 bytes a cycle with SSE 4.2.
    @inline(__always)
    package static func checksum(_ bytes: UnsafeBufferPointer<UInt8>, continuing previous: UInt32 = 0) -> UInt32 {
        stoa_crc32c(previous, bytes.baseAddress, bytes.count)
    }

    /// The line check of one line (its bytes, newline included): the low
    /// byte of its CRC32C. Kept for every line (a byte a record), it tells
    /// which lines of a block that fails its checksum changed; a changed
    /// line passes it once in 256, and a block none of whose lines fails is
    /// named as a whole.
    @inline(__always)
    static func lineCheck(_ line: UnsafeBufferPointer<UInt8>) -> UInt8 {
        UInt8(truncatingIfNeeded: checksum(line))
    }
}
