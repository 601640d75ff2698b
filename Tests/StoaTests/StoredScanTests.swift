import StoaTestSupport
import StoaWorkload
import Testing

@testable import Stoa

/// The fast scan of stored lines must find exactly what the strict scan finds.
@Suite struct StoredScanTests {
    let scanner = RecordScanner(fields: .default)

    func agree(_ line: [UInt8]) throws {
        try line.withUnsafeBufferPointer { buffer in
            let strict = try scanner.scan(buffer)
            let fast = try #require(scanner.scanStored(buffer), "fast scan refused \(String(decoding: line, as: UTF8.self))")
            #expect(fast.time == strict.time)
            #expect(fast.type == strict.type)
            #expect(fast.conversation == strict.conversation)
            #expect(fast.hasTypeKey == strict.hasTypeKey)
        }
    }

    @Test func agreesOnGeneratedEvents() throws {
        var generator = EventGenerator(seed: 5, start: Timestamp(microsecondsSinceEpoch: 1_795_000_000_000_000))
        for _ in 0..<5000 { try agree(generator.next()!) }
    }

    @Test(arguments: [
        #"{}"#, #"{"ts":1}"#, #"{"a":{"ts":"x","type":"inner"},"ts":"2026-01-01T00:00:00Z"}"#,
        #"{"type":5,"event":"e","ts":[1,{"x":"]}"}],"time":3}"#,
        #"{"t\u0073":"2026-01-01T00:00:00Z","ty\"pe":"q","session":12.5e3}"#,
        #"{"text":"a \\\" b \\\\","type":"esc\"aped\\","session":"s"}"#,
        #"{"timestamp":null,"ts":true,"kind":"k","thread_id":"t","session_id":"s"}"#,
        #"{"a":[],"b":{},"c":[[[]]],"d":"}","type":"x","e":-0.5e-3}"#,
        #"{"ts":"2026-01-01T00:00:00Z","type":"日本語 ✓ 😀","session":"é"}"#,
    ])
    func agreesOnAwkwardRecords(_ text: String) throws {
        try agree(Array(text.utf8))
    }

    @Test func neverReadsOutsideTheLineOnGarbage() {
        var random = SeededGenerator(seed: 17)
        let alphabet = Array(#"{}[]":,\\ab01-"#.utf8)
        for _ in 0..<50_000 {
            let length = Int.random(in: 0...40, using: &random)
            var bytes = (0..<length).map { _ in alphabet.randomElement(using: &random)! }
            if Bool.random(using: &random), !bytes.isEmpty {
                bytes[0] = UInt8(ascii: "{")
                bytes[bytes.count - 1] = UInt8(ascii: "}")
            }
            // Any answer is fine; a crash or an out-of-bounds read is not (run under the debug build's checks).
            bytes.withUnsafeBufferPointer { _ = scanner.scanStored($0) }
        }
    }

    /// Found by `Tools/fuzz.sh scanner` (Tools/Fuzz/regressions/scanner/stored-scan-malformed-key-escape):
    /// the fast scan decoded a key's or a field's escapes without checking
    /// them, and a malformed one (a non-hex digit, a `\u` cut short, a lone
    /// surrogate) trapped — a stored line damaged in a block that still
    /// passes its check. Now it refuses the line, and the strict scan says
    /// what is wrong.
    @Test(arguments: [
        #"{"t\u007String0000000,"\u0074Jype":"a"}"#, #"{"t\u007S":1,"ts":2}"#, #"{"ts":1,"type":"\u00"}"#,
        #"{"ts":1,"type":"a\ud800x"}"#, #"{"ts":1,"session":"\udc00"}"#, #"{"ts":"\u12"}"#,
        #"{"ts":1,"type":"\ud800\u0041"}"#, #"{"\ud83d":1}"#, #"{"ts":1,"type":"\q"}"#,
    ])
    func refusesAMalformedEscapeInsteadOfTrapping(_ text: String) throws {
        let line = Array(text.utf8)
        let encoder = RecordEncoder(fields: .default, maxRecordBytes: 1 << 20)
        try line.withUnsafeBufferPointer { buffer in
            #expect(scanner.scanStored(buffer) == nil)
            let error = try #require(throws: StoaError.self) { try encoder.facts(ofStoredLine: buffer) }
            #expect(error.code == .invalidRecord)
        }
    }
}
