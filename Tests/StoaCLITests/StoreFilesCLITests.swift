import Foundation
import StoaTestSupport
import Testing

/// Issue 13's repros about the files in and around a store, run as a user
/// would: the built `stoa` binary.
@Suite struct StoreFilesCLITests {
    let stoa = builtProduct("stoa")

    func records(_ range: Range<Int>) -> String {
        range.map { #"{"ts":\#(1_700_000_000 + $0),"n":\#($0)}"# + "\n" }.joined()
    }

    @Test func initLeavesOtherFilesInTheArchivePath() throws {
        let directory = TemporaryDirectory()
        let shared = directory.appending("shared")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        try writeBytes(Array("keep\n".utf8), to: shared + "/upload.tmp")
        let result = try run(stoa, ["init", directory.appending("s"), "--archive-path", shared])
        #expect(result.status == 0, "\(result.stderr)")
        let append = try run(stoa, ["append", directory.appending("s")], input: records(0..<3))
        #expect(append.status == 0, "\(append.stderr)")
        #expect(listDirectory(shared) == ["upload.tmp"])
    }

    @Test func oneBadByteCostsOneRecord() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("s")
        #expect(try run(stoa, ["append", store], input: records(0..<1000)).status == 0)
        let segment = store + "/segments/00000000000000000000.jsonl"
        var bytes = try readBytes(segment)
        bytes[2] ^= 1  // "ts" becomes "us": the first record has no time
        try writeBytes(bytes, to: segment)
        let append = try run(stoa, ["append", store], input: records(1000..<1001))
        #expect(append.status == 0)
        #expect(append.stderr.contains("line 1") && append.stderr.contains("tombstone"))
        let query = try run(stoa, ["query", store])
        #expect(query.stdout.split(separator: "\n").count == 1001)
        let tombstones = try run(stoa, ["query", store, "--type", "stoa.damaged"])
        #expect(tombstones.stdout.contains(#""quarantine":"quarantine/00000000000000000000.jsonl.0.bad""#))
        #expect(try run(stoa, ["verify", store]).status == 0)
    }

    @Test func aLinkedLockIsRefused() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("s")
        #expect(try run(stoa, ["append", store], input: records(0..<3)).status == 0)
        try writeBytes(Array("precious".utf8), to: directory.appending("victim"))
        try FileManager.default.removeItem(atPath: store + "/LOCK")
        try FileManager.default.createSymbolicLink(atPath: store + "/LOCK", withDestinationPath: directory.appending("victim"))
        let append = try run(stoa, ["append", store], input: records(3..<4))
        #expect(append.status == 1)
        #expect(append.stderr.contains("LOCK: is a symbolic link"))
        #expect(try readBytes(directory.appending("victim")) == Array("precious".utf8))
    }

    @Test func removedNewestSegmentsAreReportedAndTheirSeqsNotReused() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("s")
        #expect(try run(stoa, ["init", store, "--segment-bytes", "4KiB"]).status == 0)
        #expect(try run(stoa, ["append", store], input: records(0..<500)).status == 0)
        let segments = listDirectory(store + "/segments").filter { $0.hasSuffix(".jsonl") }
        for name in segments.suffix(2) {
            try FileManager.default.removeItem(atPath: store + "/segments/" + name)
            try? FileManager.default.removeItem(atPath: store + "/segments/" + name.replacingOccurrences(of: ".jsonl", with: ".idx"))
        }
        let verify = try run(stoa, ["verify", store])
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("are missing") || verify.stderr.contains("are missing"))
        let append = try run(stoa, ["append", store], input: records(500..<501))
        #expect(append.status == 0)
        #expect(append.stderr.contains("seq 500-500"), "\(append.stderr)")
    }
}
