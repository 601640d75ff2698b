import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// `RecordReader.export(_:to:replacing:)` writes only the file it is asked
/// to, through a temporary name nothing else can own.
@Suite struct ExportTests {
    @Test func theTemporaryFileNeverOpensAnExistingFileOrLink() throws {
        let directory = TemporaryDirectory()
        let storePath = directory.appending("store")
        let store = try Store(at: storePath, creating: StoreConfiguration())
        for n in 0..<5 { _ = try store.append(#"{"ts":"2026-11-20T10:00:0\#(n)Z","n":\#(n)}"#) }
        try store.close()

        // Files planted at the temporary names an export might pick: links to
        // a file outside, and an unrelated file.
        let victim = directory.appending("victim.txt")
        try "precious\n".write(toFile: victim, atomically: false, encoding: .utf8)
        let out = directory.appending("out.jsonl")
        let pid = getpid()
        for planted in [out + ".tmp", out + ".\(pid).tmp"] {
            try FileManager.default.createSymbolicLink(atPath: planted, withDestinationPath: victim)
        }
        try "unrelated\n".write(toFile: out + ".\(pid)-1.tmp", atomically: false, encoding: .utf8)

        let reader = try StoreReader(at: storePath)
        #expect(try reader.export(Query(), to: out) == 5)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        #expect(try String(contentsOfFile: out + ".\(pid)-1.tmp", encoding: .utf8) == "unrelated\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out + ".\(pid).tmp") == victim)
        let expected = try reader.query(Query()).all().map { $0.json + "\n" }.joined()
        #expect(try String(contentsOfFile: out, encoding: .utf8) == expected)
        #expect(listDirectory(directory.path).filter { $0.hasPrefix("out.jsonl") }.count == 4)
    }

    @Test func aDestinationInsideWhatIsReadIsRefusedBeforeAnythingIsWritten() throws {
        let directory = TemporaryDirectory()
        let storePath = directory.appending("store")
        let store = try Store(at: storePath, creating: StoreConfiguration())
        _ = try store.append(#"{"ts":"2026-11-20T10:00:00Z"}"#)
        try store.close()
        let reader = try StoreReader(at: storePath)
        let before = listDirectory(storePath + "/segments")
        do {
            _ = try reader.export(Query(), to: storePath + "/segments/x.jsonl", replacing: true)
            Issue.record("exported into the store")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.path == storePath + "/segments/x.jsonl")
        }
        #expect(listDirectory(storePath + "/segments") == before)
        #expect(try Containment.directory(holding: storePath + "/segments/../stoa.json", among: [storePath]) == storePath)
        #expect(try Containment.directory(holding: directory.appending("store2/x"), among: [storePath]) == nil)
    }
}
