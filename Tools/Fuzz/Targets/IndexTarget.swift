import CZlib
import Stoa

/// `.idx` decoding (``IndexFile``). The input is an `.idx`; it is decoded
/// as it is, and again with its two CRCs made right (so that mutations
/// reach the decoder past them). A file that decodes is self-consistent
/// (the decoder's own checks, ``IndexFile/isConsistent``), and is the file
/// it encodes to, byte for byte: nothing in it is left unchecked that a
/// reader would trust (a Bloom filter, an order, a count).
enum IndexTarget {
    static func run(_ input: [UInt8]) throws(FuzzFinding) {
        if let file = IndexFile.decode(input) { try check(file, input) }
        let fixed = withCRCsMadeRight(input)
        if fixed != input, let file = IndexFile.decode(fixed) { try check(file, fixed) }
    }

    static func check(_ file: IndexFile, _ bytes: [UInt8]) throws(FuzzFinding) {
        try expect(file.isConsistent, "a decoded .idx is not consistent")
        let encoded = file.encoded()
        guard let again = IndexFile.decode(encoded) else {
            throw FuzzFinding("a decoded .idx, encoded again, does not decode")
        }
        try expect(again == file, "a decoded .idx, encoded and decoded again, is another index")
        // A file of an older format still read encodes to the same bytes
        // but its version and its checksum.
        var bytes = bytes
        if let version = IndexFile.version(of: bytes[...]), version != IndexFile.version {
            withUnsafeBytes(of: IndexFile.version.littleEndian) { bytes.replaceSubrange(8..<12, with: $0) }
            withUnsafeBytes(of: IndexFile.fileChecksum(bytes.dropLast(4)).littleEndian) {
                bytes.replaceSubrange((bytes.count - 4)..., with: $0)
            }
        }
        if encoded != bytes {
            let first = (0..<min(encoded.count, bytes.count)).first { encoded[$0] != bytes[$0] } ?? min(encoded.count, bytes.count)
            throw FuzzFinding(
                "a decoded .idx encodes to other bytes (\(bytes.count) → \(encoded.count) bytes, first difference at byte \(first))")
        }
    }

    /// `bytes` with the line checks' CRC32C and the file's checksum set to
    /// what they should be (the footer's count of line checks kept, or
    /// made 0 when it cannot be).
    static func withCRCsMadeRight(_ input: [UInt8]) -> [UInt8] {
        let footer = IndexFile.footerBytes
        guard input.count >= 8 + footer else { return input }
        var bytes = input
        func put(_ value: UInt32, at offset: Int) {
            for byte in 0..<4 { bytes[offset + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(byte))) }
        }
        var count = bytes[(bytes.count - footer)...].withUnsafeBytes { Int($0.loadUnaligned(as: UInt32.self).littleEndian) }
        if count > bytes.count - footer - 8 {
            count = 0
            put(0, at: bytes.count - footer)
        }
        let checksStart = bytes.count - footer - count
        let checks = bytes[checksStart..<(bytes.count - footer)].withUnsafeBufferPointer { CRC32C.checksum($0) }
        put(checks, at: bytes.count - footer + 4)
        // The checksum of the format the file says it has (a version
        // neither read nor known: the current one's).
        let version = IndexFile.version(of: bytes[...]) ?? IndexFile.version
        put(bytes[..<(bytes.count - 4)].withUnsafeBufferPointer { IndexFile.fileChecksum($0, version: version) }, at: bytes.count - 4)
        return bytes
    }
}
