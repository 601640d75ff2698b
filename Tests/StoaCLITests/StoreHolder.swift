import Foundation
import StoaTestSupport
import Testing

/// A `stoa append` child process that holds a store's writer lock while its
/// stdin stays open: for checking what other commands do with a locked store.
final class StoreHolder {
    let process = Process()
    private let stdin = Pipe()

    /// Starts `stoa append store`, writes one record `{"held":1}`, and waits
    /// until a reader sees it, so that the child holds the lock.
    init(stoa: String, store: String) throws {
        process.executableURL = URL(fileURLWithPath: stoa)
        process.arguments = ["append", store]
        process.standardInput = stdin
        process.standardError = Pipe()
        try process.run()
        stdin.fileHandleForWriting.write(Data("{\"held\":1}\n".utf8))
        var held = false
        for _ in 0..<500 {
            if let query = try? run(stoa, ["query", store]), query.stdout.contains("\"held\":1") {
                held = true
                break
            }
            usleep(10_000)
        }
        try #require(held, "stoa append did not store its first record within 5 s")
    }

    /// Closes the child's stdin and waits for it; returns its exit status.
    func release() throws -> Int32 {
        try stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
