import Foundation
import StoaTestSupport
import Testing

/// `stoa backup`, run from the outside.
@Suite struct BackupCLITests {
    let stoa = builtProduct("stoa")

    /// A store of several small segments, made with `stoa init` and `stoa append`.
    func makeStore(_ path: String, records: Int = 400) throws {
        let created = try run(stoa, ["init", path, "--segment-bytes", "4096"])
        #expect(created.status == 0, "\(created.stderr)")
        let input = (0..<records).map { #"{"ts":"2026-11-23T10:00:00Z","type":"t\#($0 % 3)","n":\#($0),"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"# }
            .joined(separator: "\n")
        let appended = try run(stoa, ["append", path], input: input + "\n")
        #expect(appended.status == 0, "\(appended.stderr)")
    }

    @Test func backsUpAndThenCopiesOnlyWhatIsNew() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        let backup = directory.appending("backup")
        try makeStore(source)
        let segments = listDirectory(source + "/segments").filter { $0.hasSuffix(".jsonl") }.count
        #expect(segments > 3)

        let first = try run(stoa, ["backup", source, backup])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.isEmpty)
        #expect(first.stderr.contains("stoa: backed up \(segments) segments: \(segments) copied (\(segments - 1) as hard links), 0 already in the backup"), "\(first.stderr)")
        #expect(first.stderr.contains("records up to seq 399"))
        #expect(try run(stoa, ["query", backup]).stdout == run(stoa, ["query", source]).stdout)

        let second = try run(stoa, ["backup", source, backup])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("1 copied, \(segments - 1) already in the backup"), "\(second.stderr)")

        let more = try run(stoa, ["append", source], input: #"{"n":"more"}"# + "\n")
        #expect(more.status == 0)
        let third = try run(stoa, ["backup", source, backup])
        #expect(third.status == 0, "\(third.stderr)")
        #expect(third.stderr.contains("records up to seq 400"), "\(third.stderr)")
        #expect(try run(stoa, ["query", backup]).stdout == run(stoa, ["query", source]).stdout)
    }

    @Test func exitCodesOfRefusals() throws {
        let directory = TemporaryDirectory()
        let source = directory.appending("store")
        try makeStore(source, records: 50)

        let inside = try run(stoa, ["backup", source, source + "/backup"])
        #expect(inside.status == 64)
        #expect(inside.stderr.contains("must not be the store"), "\(inside.stderr)")

        let full = directory.appending("full")
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: false)
        try writeBytes(Array("hello".utf8), to: full + "/notes.txt")
        let notAStore = try run(stoa, ["backup", source, full])
        #expect(notAStore.status == 1)
        #expect(notAStore.stderr.contains("has files but no stoa.json"), "\(notAStore.stderr)")

        let noSource = try run(stoa, ["backup", directory.appending("missing"), directory.appending("b")])
        #expect(noSource.status == 1)
        #expect(noSource.stderr.contains("not a store"), "\(noSource.stderr)")

        // Another store, as new as this one: refused by its store_id, untouched (issue 13, item 2).
        let other = directory.appending("other")
        try makeStore(other, records: 30)
        let records = try run(stoa, ["query", other]).stdout
        let another = try run(stoa, ["backup", source, other])
        #expect(another.status == 64)
        #expect(another.stderr.contains("is another store (store_id"), "\(another.stderr)")
        #expect(try run(stoa, ["query", other]).stdout == records)

        // The store cut back since the last backup: the backup keeps its records, exit 1.
        let backup = directory.appending("backup")
        #expect(try run(stoa, ["backup", source, backup]).status == 0)
        let backedUp = try run(stoa, ["query", backup]).stdout
        let active = source + "/segments/" + listDirectory(source + "/segments").filter { $0.hasSuffix(".jsonl") }.max()!
        var bytes = try readBytes(active)
        bytes.removeLast()
        try writeBytes(Array(bytes[...bytes.lastIndex(of: UInt8(ascii: "\n"))!]), to: active)
        #expect(try run(stoa, ["append", source], input: #"{"n":"other"}"# + "\n").status == 0)
        let cutBack = try run(stoa, ["backup", source, backup])
        #expect(cutBack.status == 1)
        #expect(cutBack.stderr.contains("holds seq 49 that the store no longer has"), "\(cutBack.stderr)")
        #expect(try run(stoa, ["query", backup]).stdout == backedUp)

        let usage = try run(stoa, ["backup", source])
        #expect(usage.status == 64)
        #expect(usage.stdout.isEmpty)
    }
}
