import Foundation
import StoaTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Readers of a store or a foreign folder, run through the built binary:
/// what they do with bytes changed under them and with entries they cannot read.
@Suite struct ReaderCLITests {
    let stoa = builtProduct("stoa")

    func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    /// A store of 200 records in 4 KiB segments; returns its path.
    func smallSegmentStore(_ directory: TemporaryDirectory) throws -> String {
        let store = directory.appending("store")
        #expect(try run(stoa, ["init", store, "--segment-bytes", "4KiB"]).status == 0)
        let input = (1...200).map { #"{"ts":\#(1_795_000_000 + $0),"n":\#($0),"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxx"}"# }
            .joined(separator: "\n") + "\n"
        #expect(try run(stoa, ["append", store], input: input).status == 0)
        return store
    }

    /// Overwrites one byte of a file in place (its size stays).
    func overwrite(_ path: String, at offset: Int, with byte: UInt8) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: [byte])
        try handle.close()
    }

    /// Issue 13, item 18: `stoa tail` trapped on a nil force-unwrap when the
    /// last byte (the newline) of a sealed segment was changed in place.
    @Test func tailOverASealedSegmentWhoseLastNewlineWasChanged() throws {
        let directory = TemporaryDirectory()
        let store = try smallSegmentStore(directory)
        let first = store + "/segments/00000000000000000000.jsonl"
        let size = try #require(FileManager.default.attributesOfItem(atPath: first)[.size] as? Int)
        try overwrite(first, at: size - 1, with: UInt8(ascii: "X"))
        let lastLine = lines(try String(contentsOfFile: first, encoding: .utf8)).count  // the joined last line

        let all = try run(stoa, ["tail", store, "-n", "300"])
        #expect(all.signal == nil, "\(all.stderr)")
        #expect(all.status == 0, "\(all.stderr)")
        // Every record but the one whose newline is gone, and that one named.
        #expect(lines(all.stdout).count == 199)
        #expect(all.stderr.contains("00000000000000000000.jsonl:line \(lastLine)"), "\(all.stderr)")

        // A newline in the middle replaced by a space: the two lines it
        // joined are named, the others served.
        let segments = listDirectory(store + "/segments").filter { $0.hasSuffix(".jsonl") }.sorted()
        try #require(segments.count == 3)
        let second = store + "/segments/" + segments[1]
        let bytes = try #require(FileManager.default.contents(atPath: second))
        let newline = try #require(bytes.firstIndex(of: 0x0A))
        try overwrite(second, at: newline, with: UInt8(ascii: " "))
        let again = try run(stoa, ["tail", store, "-n", "300"])
        #expect(again.signal == nil, "\(again.stderr)")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(lines(again.stdout).count < 199)
        #expect(again.stderr.contains("skipped damaged line"))
    }
}
