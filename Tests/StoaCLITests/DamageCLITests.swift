import Foundation
import StoaTestSupport
import Testing

/// `stoa query` over a store whose files were changed, cut or emptied on
/// disk, run as a user would: every line it prints is valid JSON and as
/// stored, every loss is named on stderr, and it exits 1.
@Suite struct DamageCLITests {
    let stoa = builtProduct("stoa")

    /// A store of sealed 64 KiB segments (about 330 records each): the lines appended.
    func makeStore(_ store: String, options: [String] = []) throws -> [String] {
        let created = try run(stoa, ["init", store, "--segment-bytes", "64KiB"] + options)
        try #require(created.status == 0, "\(created.stderr)")
        let lines = (0..<3000).map {
            #"{"ts":\#(1_795_000_000 + $0),"type":"t\#($0 % 3)","session":"c\#($0 % 7)","n":\#($0),"pad":"xxx\#(String(repeating: "y", count: 150))"}"#
        }
        let appended = try run(stoa, ["append", store], input: lines.joined(separator: "\n") + "\n")
        try #require(appended.status == 0, "\(appended.stderr)")
        return lines
    }

    func files(_ store: String, _ suffix: String) -> [String] {
        listDirectory(store + "/segments").filter { $0.hasSuffix(suffix) }.sorted().map { store + "/segments/" + $0 }
    }

    /// Queries `store` and checks what it prints: every line valid JSON and
    /// one of `lines`, none of `lost`, each of `named` named on stderr as
    /// "(seq N)", and the exit status.
    func expectQuery(
        _ store: String, _ lines: [String], lost: Set<Int>, named: Set<Int>, arguments: [String] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let result = try run(stoa, ["query", store] + arguments)
        #expect(result.status == (named.isEmpty ? 0 : 1), "\(result.stderr)", sourceLocation: sourceLocation)
        let printed = result.stdout.split(separator: "\n").map(String.init)
        let stored = Set(lines)
        for line in printed {
            #expect(stored.contains(line), "\(line)", sourceLocation: sourceLocation)
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, sourceLocation: sourceLocation)
        }
        #expect(printed.count == lines.count - lost.count, sourceLocation: sourceLocation)
        for n in lost { #expect(!printed.contains(lines[n]), sourceLocation: sourceLocation) }
        let namedSeqs = Set(
            result.stderr.split(separator: "\n").compactMap { line -> Int? in
                guard let open = line.range(of: "(seq ") else { return nil }
                return Int(line[open.upperBound...].prefix { $0.isNumber })
            })
        #expect(namedSeqs == named, "\(result.stderr)", sourceLocation: sourceLocation)
    }

    @Test func changedLinesAreNamedNotPrinted() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("s")
        let lines = try makeStore(store)
        let segment = files(store, ".jsonl")[2]
        var bytes = try readBytes(segment)
        // Record 878: "pad":"xxx → "pad":yxxx. Record 900: "n":900 → "n":990.
        let pad = try #require(bytes.firstRange(of: Array(#""n":878,"pad":""#.utf8))).upperBound - 1
        bytes[pad] = UInt8(ascii: "y")
        let digit = try #require(bytes.firstRange(of: Array(#""n":900,"#.utf8))).lowerBound + 5
        bytes[digit] = UInt8(ascii: "9")
        try writeBytes(bytes, to: segment)
        try expectQuery(store, lines, lost: [878, 900], named: [878, 900])
        // Combined filters name them too when they read their block, and print the rest.
        let result = try run(stoa, ["query", store, "--conversation", "c3", "--type", "t2"])
        #expect(result.status == 1)
        #expect(result.stdout.split(separator: "\n").count == lines.indices.filter { $0 % 7 == 3 && $0 % 3 == 2 && $0 != 878 }.count)
    }

    @Test func aSegmentCutShortNamesItsLastRecord() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("s")
        let lines = try makeStore(store)
        let segment = files(store, ".jsonl")[2]
        let bytes = try readBytes(segment)
        try writeBytes(Array(bytes.dropLast(5)), to: segment)
        let next = try #require(Int(Path(files(store, ".jsonl")[3]).lastComponent.prefix(20)))
        try expectQuery(store, lines, lost: [next - 1], named: [next - 1])
    }

    @Test func anEmptyCompressedSegmentIsNamed() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("s")
        let lines = try makeStore(store, options: ["--hot-for", "1s"])
        let tiered = try run(stoa, ["tier", store, "--now", "@\(Int(Date().timeIntervalSince1970) + 7200)"])
        try #require(tiered.status == 0, "\(tiered.stderr)")
        let warm = files(store, ".jsonl.gz")
        try #require(warm.count > 4)
        try writeBytes([], to: warm[2])
        let first = try #require(Int(Path(warm[2]).lastComponent.prefix(20)))
        let next = try #require(Int(Path(warm[3]).lastComponent.prefix(20)))
        try expectQuery(store, lines, lost: Set(first..<next), named: [first])
    }

    /// Issue 13's demo: one conversation's errors, and no false damage.
    @Test func aConversationsRecordsOfATypeNameNoDamage() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("d")
        let demo = try run(stoa, ["demo", store, "--events", "20000"])
        try #require(demo.status == 0, "\(demo.stderr)")
        // The conversation of the first error.
        let first = try run(stoa, ["query", store, "--type", "error", "--limit", "1"])
        let session = try #require(first.stdout.firstRange(of: #""session":""#).map { first.stdout[$0.upperBound...].prefix { $0 != "\"" } })
        let all = try run(stoa, ["query", store, "--conversation", String(session)])
        let result = try run(stoa, ["query", store, "--conversation", String(session), "--type", "error"])
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty, "\(result.stderr)")
        let errors = all.stdout.split(separator: "\n").filter { $0.contains(#""type":"error""#) }
        #expect(!errors.isEmpty && errors.count < all.stdout.split(separator: "\n").count)
        #expect(result.stdout.split(separator: "\n") == errors)
    }
}

/// A path's last component.
private struct Path {
    let path: String
    init(_ path: String) { self.path = path }
    var lastComponent: Substring { path.split(separator: "/").last ?? "" }
}
