import Foundation
import StoaTestSupport
import Synchronization
import Testing

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// The real file system, counting the lookups of segment files.
final class CountingFileSystem: FileSystem {
    private let real = SystemFileSystem()
    let segmentLookups = Atomic<Int>(0)
    func status(_ path: String) throws(StoaError) -> stat? {
        if path.hasSuffix(".jsonl") || path.hasSuffix(".jsonl.gz") { segmentLookups.add(1, ordering: .relaxed) }
        return try real.status(path)
    }
}

/// Issue 13, item 20: with 4 KiB segments moved through the tiers at once,
/// every seal's background pass looked up every segment file of the store
/// (quadratic: 60k records cost 2.25M `stat` calls, and appends stalled).
@Suite struct SealedSegmentFactsTests {
    @Test func backgroundPassesLookUpOnlyTheSegmentsThatChanged() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentBytes = 4096
        configuration.hotFor = .microseconds(0)
        configuration.warmFor = .microseconds(0)
        let fileSystem = CountingFileSystem()
        let store = try Store(at: directory.path, creating: configuration, fileSystem: fileSystem)
        for n in 0..<3000 {
            try store.append(#"{"ts":\#(1_795_000_000 + n),"n":\#(n),"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#)
        }
        try store.waitForIndexes()
        try store.close()
        let cold = listDirectory(directory.appending("archive")).filter { $0.hasSuffix(".jsonl.gz") }.count
        #expect(cold > 40)
        // A few lookups per segment (when it is sealed, and around its
        // moves), not a lookup of every segment at every seal (~cold²).
        #expect(fileSystem.segmentLookups.load(ordering: .relaxed) <= 3 * cold, "\(cold) segments")
    }
}
