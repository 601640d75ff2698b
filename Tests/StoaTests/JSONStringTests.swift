import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

@Suite struct JSONStringTests {
    /// Every text comes back from a JSON parser as it went in, escaped where
    /// JSON requires it and nowhere else.
    @Test func quotedTextReadsBackAsItWasAndEscapesOnlyWhatJSONRequires() throws {
        var generator = SeededGenerator(seed: 15)
        let pieces = ["a", "grep -r TODO", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "日本", "🦀", "/", " "]
        var texts = ["", "plain", "\"quoted\"", "ends with \\", "\u{0}\u{1}\u{1F}"]
        for _ in 0..<500 {
            let count = Int(generator.next() % 12)
            texts.append((0..<count).map { _ in pieces[Int(generator.next() % UInt64(pieces.count))] }.joined())
        }
        for text in texts {
            var output: [UInt8] = []
            JSONString.appendQuoted(text, to: &output)
            let back = try JSONSerialization.jsonObject(with: Data(output), options: .fragmentsAllowed) as? String
            #expect(back == text, "\(String(decoding: output, as: UTF8.self))")
            // Nothing but the required escapes: the output is the text plus one byte per escaped quote or
            // backslash, per \n \r \t, and five per other control character.
            let extra = text.utf8.reduce(0) { sum, byte in
                switch byte {
                case 0x22, 0x5C, 0x0A, 0x0D, 0x09: sum + 1
                case 0..<0x20: sum + 5
                default: sum
                }
            }
            #expect(output.count == text.utf8.count + 2 + extra)
        }
        var output: [UInt8] = []
        JSONString.appendQuoted("a\"b\\c\nd\u{1}e", to: &output)
        #expect(String(decoding: output, as: UTF8.self) == #""a\"b\\c\nd\u0001e""#)
    }
}
