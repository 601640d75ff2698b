import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// How a reader learns, without looking, that a segment directory changed.
@Suite struct ChangeFeedTests {
    @Test func aChangeToADirectoryOrAFileInItIsReportedOnce() throws {
        let directory = TemporaryDirectory()
        let segments = directory.appending("segments")
        try Syscalls.mkdir(segments)
        let file = segments + "/00000000000000000000.jsonl"
        _ = FileManager.default.createFile(atPath: file, contents: Data())
        let feed = try #require(ChangeFeed(watching: [segments]))
        #expect(feed.rewatch())
        #expect(!feed.changed())
        // An append to a file in it.
        let handle = try #require(FileHandle(forWritingAtPath: file))
        handle.seekToEndOfFile()
        handle.write(Data("{}\n".utf8))
        try handle.close()
        #expect(feed.changed())
        #expect(!feed.changed())
        // A new file, a rename, a removal.
        _ = FileManager.default.createFile(atPath: segments + "/00000000000000000001.jsonl", contents: Data())
        #expect(feed.changed())
        try Syscalls.rename(file, to: file + ".moved")
        #expect(feed.changed())
        try Syscalls.unlink(file + ".moved")
        #expect(feed.changed())
        #expect(!feed.changed())
        #expect(!feed.needsRewatch)
    }

    /// A follower's wait: it ends with a change made before or during it
    /// (and takes it off the queue), and without one once its time is up.
    /// Follow waits on this instead of an inotify descriptor of its own.
    @Test func aWaitEndsWithAChangeAndTakesItOffTheQueue() throws {
        let directory = TemporaryDirectory()
        let segments = directory.appending("segments")
        try Syscalls.mkdir(segments)
        let feed = try #require(ChangeFeed(watching: [segments], closes: true))
        #expect(feed.rewatch())
        #expect(!feed.wait(upTo: 1_000))
        _ = FileManager.default.createFile(atPath: segments + "/00000000000000000000.jsonl", contents: Data())
        // Far longer than any test runs: it returns because of the change.
        #expect(feed.wait(upTo: 3_600_000_000))
        #expect(!feed.changed())
        // A directory created where an absent one was watched through its parent.
        let archive = directory.appending("archive")
        let absent = try #require(ChangeFeed(watching: [archive]))
        #expect(absent.rewatch())
        try Syscalls.mkdir(archive)
        #expect(absent.wait(upTo: 3_600_000_000))
        #expect(absent.needsRewatch)  // the next wait watches the directory itself
    }

    @Test func anAbsentDirectoryIsWatchedThroughItsParentUntilItExists() throws {
        let directory = TemporaryDirectory()
        let archive = directory.appending("archive")
        let feed = try #require(ChangeFeed(watching: [archive]))
        #expect(feed.rewatch())
        #expect(!feed.changed())
        try Syscalls.mkdir(archive)
        #expect(feed.changed())
        #expect(feed.needsRewatch)
        #expect(feed.rewatch())
        _ = FileManager.default.createFile(atPath: archive + "/00000000000000000000.jsonl.gz", contents: Data())
        #expect(feed.changed())
        #expect(!feed.needsRewatch)
    }

    @Test func aWatchedDirectoryMovedAwayAsksToBeWatchedAgain() throws {
        let directory = TemporaryDirectory()
        let segments = directory.appending("segments")
        try Syscalls.mkdir(segments)
        let feed = try #require(ChangeFeed(watching: [segments]))
        #expect(feed.rewatch())
        try Syscalls.rename(segments, to: directory.appending("old"))
        try Syscalls.mkdir(segments)
        #expect(feed.changed())
        #expect(feed.needsRewatch)
        #expect(feed.rewatch())
        _ = FileManager.default.createFile(atPath: segments + "/a", contents: Data())
        #expect(feed.changed())
    }
}

/// A file system without inotify (no instances left, or a file system that
/// has none): it counts the feeds asked for and gives none.
final class NoChangeFeedFileSystem: FileSystem {
    let asked = Protected(0)

    func changeFeed(watching directories: [String], closes: Bool) -> ChangeFeed? {
        asked.withLock { $0 += 1 }
        return nil
    }
}

/// Without inotify, a reader looks in full before each query and a
/// follower looks at each wait: neither misses a record.
@Suite struct NoChangeFeedTests {
    @Test func aReaderAndAFollowerWithoutInotifySeeEveryRecord() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        try store.append(#"{"ts":1,"n":0}"#)
        let fileSystem = NoChangeFeedFileSystem()
        try FileReads.$fileSystem.withValue(fileSystem) { () throws in
            let reader = try StoreReader(at: directory.path)
            #expect(try reader.query(Query()).all().map(\.json) == [#"{"ts":1,"n":0}"#])
            try store.append(#"{"ts":2,"n":1}"#)
            #expect(try reader.query(Query()).all().map(\.json) == [#"{"ts":1,"n":0}"#, #"{"ts":2,"n":1}"#])
            let follower = try reader.follow(from: .end)
            try store.append(#"{"ts":3,"n":2}"#)
            let next = try follower.next(waitingUpTo: .seconds(60))
            #expect(next?.json == #"{"ts":3,"n":2}"#)
        }
        // The reader's feed and the follower's, both asked of the seam.
        #expect(fileSystem.asked.withLock { $0 } == 2)
        try store.close()
    }
}

/// A file system that counts the change feeds asked for, and gives real ones.
final class CountingChangeFeedFileSystem: FileSystem {
    let asked = Protected(0)

    func changeFeed(watching directories: [String], closes: Bool) -> ChangeFeed? {
        asked.withLock { $0 += 1 }
        return ChangeFeed(watching: directories, closes: closes)
    }
}

/// A reader makes its inotify instance at its second look, not its first:
/// a process that queries once does not pay for one (closing it costs a
/// process about 10 ms on Linux 6), and one that queries again is told of
/// changes from then on.
@Suite struct LazyChangeFeedTests {
    @Test func aReaderThatQueriesOnceMakesNoFeedAndOneThatQueriesAgainMakesOne() throws {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.path)
        try store.append(#"{"ts":1,"n":0}"#)
        let fileSystem = CountingChangeFeedFileSystem()
        try FileReads.$fileSystem.withValue(fileSystem) { () throws in
            let reader = try StoreReader(at: directory.path)
            #expect(try reader.query(Query()).all().count == 1)
            #expect(fileSystem.asked.withLock { $0 } == 0)
            try store.append(#"{"ts":2,"n":1}"#)
            #expect(try reader.query(Query()).all().count == 2)
            #expect(fileSystem.asked.withLock { $0 } == 1)
            for n in 2..<5 {
                try store.append(#"{"ts":\#(n + 1),"n":\#(n)}"#)
                #expect(try reader.query(Query()).all().count == n + 1)
            }
            #expect(fileSystem.asked.withLock { $0 } == 1)
        }
        try store.close()
    }
}
