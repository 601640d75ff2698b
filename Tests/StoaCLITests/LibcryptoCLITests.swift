import Foundation
import Stoa
import StoaTestSupport
import Testing

/// libcrypto is loaded when a long input is first hashed, not when `stoa`
/// starts: loading it costs a process about half a millisecond.
@Suite struct LibcryptoCLITests {
    let stoa = builtProduct("stoa")

    /// A reader's process (which hashes the checkpoint's last line and its
    /// cache's name, both short) does not load libcrypto; the writer of a
    /// new store does, to digest its segment.
    @Test func aReaderProcessDoesNotLoadLibcryptoAndAWriterDoes() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        for n in 0..<100 { try store.append(#"{"ts":\#(1_800_000_000 + n),"type":"t","n":\#(n)}"#) }
        try store.close()
        // LD_DEBUG=libs: the loader names each library it loads, dlopen's too.
        var environment = ProcessInfo.processInfo.environment
        environment["LD_DEBUG"] = "libs"
        let stats = try run(stoa, ["stats", directory.path], environment: environment)
        #expect(stats.status == 0, "\(stats.stderr)")
        #expect(stats.stderr.contains("libc.so"), "LD_DEBUG names the libraries loaded")
        #expect(!stats.stderr.contains("libcrypto"), "\(stats.stderr.split(separator: "\n").filter { $0.contains("crypto") })")

        // A new store: its writer digests the segment from its first byte.
        let append = try run(
            stoa, ["append", directory.appending("new")], input: #"{"ts":1800000200,"type":"t"}"# + "\n", environment: environment)
        #expect(append.status == 0, "\(append.stderr)")
        #expect(append.stderr.contains("libcrypto"))
    }
}
