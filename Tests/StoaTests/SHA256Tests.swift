import CStoaSystem
import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// SHA-256: short inputs hashed without libcrypto, long ones through it
/// (loaded when first needed), the same digests either way.
@Suite struct SHA256Tests {
    func hex(_ text: String) -> [UInt8] { SHA256.hash(Array(text.utf8)) }

    /// FIPS 180-4's examples, and the one-block edge cases.
    @Test func knownDigests() {
        #expect(hex("").hexString == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex("abc").hexString == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").hexString
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)).hexString
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Every length around the padding's edges (55, 56, 63, 64 bytes…) and
    /// up to past the short-input limit: the plain implementation gives
    /// what libcrypto gives.
    @Test func thePlainImplementationAgreesWithLibcrypto() {
        var random = SeededGenerator(seed: 256)
        let bytes = (0..<(SHA256.shortInput + 200)).map { _ in UInt8.random(in: 0...255, using: &random) }
        let lengths = Array(0...200) + Array(stride(from: 201, through: bytes.count, by: 37)) + [SHA256.shortInput]
        for length in lengths {
            bytes[..<length].withUnsafeBufferPointer { piece in
                var hasher = SHA256()
                hasher.update(piece)
                let library = hasher.finish()
                var plain = [UInt8](repeating: 0, count: 32)
                stoa_sha256_portable(piece.baseAddress, piece.count, &plain)
                #expect(plain == library, "length \(length)")
                #expect(SHA256.hash(piece) == library, "length \(length)")
            }
        }
    }
}
