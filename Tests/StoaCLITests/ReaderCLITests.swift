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

    /// Issue 13, item 14, through the binary: the `.idx` files of a store
    /// whose `segments/` this process cannot write go to the cache, and the
    /// next reader takes them from there.
    @Test(.enabled(if: ReadOnlyDirectory.canMake, "cannot make a directory read-only here (root without chattr)"))
    func aReaderOfAReadOnlyStorePutsRebuiltIndexesInTheCache() throws {
        let directory = TemporaryDirectory()
        let store = try smallSegmentStore(directory)
        let segments = store + "/segments"
        let names = listDirectory(segments)
        let active = try #require(names.filter { $0.hasSuffix(".jsonl") }.last)
        for name in names where name.hasSuffix(".jsonl") {
            var times = [timespec(tv_sec: time(nil) - 60, tv_nsec: 0), timespec(tv_sec: time(nil) - 60, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, segments + "/" + name, &times, 0) == 0)
        }
        var removed = 0
        for name in names where name.hasSuffix(".idx") && !active.hasPrefix(String(name.dropLast(4))) {
            try FileManager.default.removeItem(atPath: segments + "/" + name)
            removed += 1
        }
        #expect(removed == 2)
        let readOnly = try ReadOnlyDirectory(segments)
        defer { readOnly.release() }
        let cache = directory.appending("cache")
        let environment = ["STOA_CACHE_DIR": cache, "PATH": "/usr/bin:/bin"]

        let first = try run(stoa, ["query", store], environment: environment)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(lines(first.stdout).count == 200)
        #expect(!listDirectory(segments).contains { $0.hasSuffix(".idx") && !active.hasPrefix(String($0.dropLast(4))) })
        let folders = listDirectory(cache + "/stores")
        try #require(folders.count == 1)
        // The rebuilt .idx files, and the catalog of the sealed segments (SegmentCatalog).
        let cached = listDirectory(cache + "/stores/" + folders[0]).filter { $0 != "CATALOG" }
            .map { cache + "/stores/" + folders[0] + "/" + $0 }
        #expect(cached.count == removed && cached.allSatisfy { $0.hasSuffix(".idx") }, "\(cached)")
        #expect(listDirectory(cache + "/stores/" + folders[0]).contains("CATALOG"))
        let inodes = try cached.map { try #require(FileManager.default.attributesOfItem(atPath: $0)[.systemFileNumber] as? Int) }

        let second = try run(stoa, ["query", store, "--limit", "5"], environment: environment)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(lines(second.stdout).count == 5)
        // Taken from the cache, not written again.
        #expect(try cached.map { try #require(FileManager.default.attributesOfItem(atPath: $0)[.systemFileNumber] as? Int) } == inodes)
    }

    /// Issue 13, item 14 (review): a sealed line edited to valid JSON of
    /// another length kept its line count, so a reader renamed a rebuilt
    /// `.idx` over the stale one: from then on the edit was served with exit
    /// 0. The stale `.idx` stays, and every query names the segment as
    /// changed, with exit 1.
    @Test func aQueryNeverReplacesTheIndexThatRecordsAnEdit() throws {
        let directory = TemporaryDirectory()
        let store = try smallSegmentStore(directory)
        let first = store + "/segments/00000000000000000000.jsonl"
        let text = try String(contentsOfFile: first, encoding: .utf8)
        try #require(text.contains(#""n":8,"#))
        try text.replacingOccurrences(of: #""n":8,"#, with: #""n":9780,"#).write(toFile: first, atomically: false, encoding: .utf8)
        // Sealed a minute ago: past the time readers leave to the writer.
        var times = [timespec(tv_sec: time(nil) - 60, tv_nsec: 0), timespec(tv_sec: time(nil) - 60, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, first, &times, 0) == 0)
        let indexPath = store + "/segments/00000000000000000000.idx"
        let stale = try #require(FileManager.default.contents(atPath: indexPath))
        let environment = ["STOA_CACHE_DIR": directory.appending("cache"), "PATH": "/usr/bin:/bin"]

        for _ in 0..<2 {
            let result = try run(stoa, ["query", store], environment: environment)
            #expect(result.status == 1, "\(result.stderr)")
            #expect(lines(result.stdout).count == 200)
            #expect(result.stderr.contains("00000000000000000000.jsonl:line 1 (seq 0): changed since it was sealed"), "\(result.stderr)")
            #expect(FileManager.default.contents(atPath: indexPath) == stale)
        }
    }
}

struct ReadOnlyError: Error {
    var reason: String
}

/// A directory this process cannot write to: `chmod 0550` (enough unless
/// root), and as root `chattr +i` (immutable, which root obeys too).
struct ReadOnlyDirectory {
    let path: String
    let immutable: Bool

    init(_ path: String) throws {
        self.path = path
        if geteuid() == 0 {
            let result = try run("/usr/bin/env", ["chattr", "+i", path])
            guard result.status == 0 else { throw ReadOnlyError(reason: "chattr: \(result.stderr)") }
            immutable = true
        } else {
            guard chmod(path, 0o550) == 0 else { throw ReadOnlyError(reason: "chmod failed") }
            immutable = false
        }
    }

    func release() {
        if immutable { _ = try? run("/usr/bin/env", ["chattr", "-i", path]) } else { chmod(path, 0o750) }
    }

    /// Whether a directory can be made read-only here, and then cannot be written.
    static let canMake: Bool = {
        let directory = TemporaryDirectory("stoa-probe")
        let inner = directory.appending("inner")
        guard mkdir(inner, 0o750) == 0, let readOnly = try? ReadOnlyDirectory(inner) else { return false }
        defer { readOnly.release() }
        let fd = open(inner + "/probe", O_WRONLY | O_CREAT | O_EXCL, 0o640)
        if fd >= 0 {
            close(fd)
            return false
        }
        return true
    }()
}
