import CStoaSystem

/// SHA-256, incrementally. Through OpenSSL's libcrypto (the CPU's SHA
/// instructions), loaded when first needed rather than when the process
/// starts, which costs a short process more than its hashing; a short input
/// hashed at once (``hash(_:)`` of a line or a name) never loads it.
struct SHA256: ~Copyable {
    private let context: UnsafeMutableRawPointer

    init() {
        guard let context = stoa_sha256_begin() else {
            // Missing since the program was built (or out of memory): nothing can be digested.
            preconditionFailure(
                "SHA-256 needs OpenSSL's libcrypto (libcrypto.so.3): "
                    + (stoa_sha256_load().map { String(cString: $0) } ?? "it failed"))
        }
        self.context = context
    }

    deinit { stoa_sha256_free(context) }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        stoa_sha256_update(context, bytes.baseAddress, bytes.count)
    }

    mutating func update(_ bytes: UnsafeBufferPointer<UInt8>) { update(UnsafeRawBufferPointer(bytes)) }

    consuming func finish() -> [UInt8] {
        let context = self.context
        discard self
        return [UInt8](unsafeUninitializedCapacity: 32) { digest, count in
            stoa_sha256_end(context, digest.baseAddress)
            count = 32
        }
    }

    /// Inputs up to this long are hashed without libcrypto.
    static let shortInput = 4096

    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        guard bytes.count <= shortInput else {
            var hasher = SHA256()
            hasher.update(bytes)
            return hasher.finish()
        }
        return [UInt8](unsafeUninitializedCapacity: 32) { digest, count in
            stoa_sha256_portable(bytes.baseAddress, bytes.count, digest.baseAddress)
            count = 32
        }
    }

    static func hash(_ bytes: [UInt8]) -> [UInt8] { bytes.withUnsafeBufferPointer { hash($0) } }

    /// The chain digest of §5: SHA-256(previous chain digest ‖ this segment's digest).
    static func chain(previous: [UInt8], digest: [UInt8]) -> [UInt8] { hash(previous + digest) }

    static let zero = [UInt8](repeating: 0, count: 32)
}

extension Array where Element == UInt8 {
    /// The bytes `hex` spells (two lowercase or uppercase digits each); nil
    /// when it is not hex.
    init?(hexString hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for pair in stride(from: 0, to: digits.count, by: 2) {
            guard let high = value(digits[pair]), let low = value(digits[pair + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self = bytes
    }

    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
