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

    /// Issue 13, item 15: one bad entry (a symlink loop, an unreadable file)
    /// aborted a foreign folder query with exit 1 and nothing printed. Each
    /// is skipped and named; the rest is served, with exit 0.
    @Test func aForeignFolderQuerySkipsAndNamesEntriesItCannotRead() throws {
        let directory = TemporaryDirectory()
        let logs = directory.appending("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        try #"{"ts":1795000000,"n":1}"#.appending("\n").write(toFile: logs + "/a.jsonl", atomically: true, encoding: .utf8)
        try #"{"ts":1795000001,"n":2}"#.appending("\n").write(toFile: logs + "/z.jsonl", atomically: true, encoding: .utf8)
        #expect(symlink("b.jsonl", logs + "/loop.jsonl") == 0)
        #expect(symlink("loop.jsonl", logs + "/b.jsonl") == 0)
        #expect(symlink("nowhere.jsonl", logs + "/dangling.jsonl") == 0)
        try FileManager.default.createDirectory(atPath: logs + "/folder.jsonl", withIntermediateDirectories: false)
        #expect(mkfifo(logs + "/pipe.jsonl", 0o600) == 0)  // must not block the reader
        let environment = ["STOA_CACHE_DIR": directory.appending("cache"), "PATH": "/usr/bin:/bin"]

        for command in [["query"], ["tail"], ["stats"], ["replay", "--speed", "max"]] {
            let result = try run("/usr/bin/timeout", ["60", stoa] + command + [logs], environment: environment)
            #expect(result.status == 0, "\(command): \(result.status) \(result.stderr)")
            if command != ["stats"] {
                #expect(lines(result.stdout) == [#"{"ts":1795000000,"n":1}"#, #"{"ts":1795000001,"n":2}"#], "\(command)")
            }
            for (name, reason) in [
                ("loop.jsonl", "a symbolic link in a loop"), ("b.jsonl", "a symbolic link in a loop"),
                ("dangling.jsonl", "a symbolic link to nothing"), ("folder.jsonl", "a directory"),
                ("pipe.jsonl", "a FIFO"),
            ] {
                #expect(
                    result.stderr.contains("skipped unreadable file \(logs)/\(name): \(reason)"),
                    "\(command) \(name): \(result.stderr)")
            }
        }
    }
}
