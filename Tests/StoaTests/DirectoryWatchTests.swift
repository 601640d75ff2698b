import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// How a reader tells that a writer changed a segment directory: through a
/// descriptor it holds, and the path looked up again now and then.
@Suite struct DirectoryWatchTests {
    func modified(_ path: String) throws -> Int64 {
        let info = try #require(try Syscalls.status(path))
        return Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
    }

    /// A new directory `segments` in `directory`, its time `seconds` ago.
    func makeDirectory(in directory: TemporaryDirectory, secondsAgo seconds: Int) throws -> String {
        let path = directory.appending("segments")
        try Syscalls.mkdir(path)
        try setModified(path, toSecondsAgo: seconds)
        return path
    }

    @Test func aChangeInsideGivesANewTime() throws {
        let directory = TemporaryDirectory()
        let watched = try makeDirectory(in: directory, secondsAgo: 100)
        var watch = DirectoryWatch(path: watched, lookUpInterval: 3_600_000_000)
        let old = try modified(watched)
        #expect(try watch.modified() == old)
        #expect(try watch.modified() == old)
        _ = FileManager.default.createFile(atPath: watched + "/00000000000000000000.jsonl", contents: Data())
        #expect(try watch.modified() == modified(watched))
        #expect(try watch.modified() != old)
    }

    @Test func aDirectoryPutInThePlaceOfTheWatchedOneIsSeenAfterTheInterval() throws {
        let directory = TemporaryDirectory()
        let watched = try makeDirectory(in: directory, secondsAgo: 100)
        let clock = TestClock()
        var watch = DirectoryWatch(path: watched, lookUpInterval: 100_000, clock: clock.clock)
        _ = try watch.modified()
        try Syscalls.rename(watched, to: directory.appending("moved"))
        _ = try makeDirectory(in: directory, secondsAgo: 200)
        // Within the interval, the descriptor still names the moved directory.
        clock.advance(by: 99_999)
        #expect(try watch.modified() == modified(directory.appending("moved")))
        clock.advance(by: 1)
        #expect(try watch.modified() == modified(watched))
        // And it is the new one that is watched from then on.
        _ = FileManager.default.createFile(atPath: watched + "/a", contents: Data())
        #expect(try watch.modified() == modified(watched))
    }

    @Test func anAbsentDirectoryIsSeenWhenItIsCreated() throws {
        let directory = TemporaryDirectory()
        let watched = directory.appending("archive")
        try setModified(directory.path, toSecondsAgo: 100)
        var watch = DirectoryWatch(path: watched, lookUpInterval: 3_600_000_000)
        #expect(try watch.modified() == nil)
        #expect(try watch.modified() == nil)
        try Syscalls.mkdir(watched)
        #expect(try watch.modified() == modified(watched))
    }

    /// Directory times tick coarsely: the parent may keep its time through
    /// the creation. While that time is recent, the path is looked up.
    @Test func anAbsentDirectoryIsLookedUpWhileItsParentsTimeIsRecent() throws {
        let directory = TemporaryDirectory()
        let watched = directory.appending("archive")
        var watch = DirectoryWatch(path: watched, lookUpInterval: 3_600_000_000)
        #expect(try watch.modified() == nil)
        #expect(try watch.modified() == nil)
        let before = try #require(try Syscalls.status(directory.path))
        try Syscalls.mkdir(watched)
        // The parent's time as it was: a creation within the same tick.
        let times = [before.st_atim, before.st_mtim]
        _ = times.withUnsafeBufferPointer { utimensat(AT_FDCWD, directory.path, $0.baseAddress, 0) }
        #expect(try watch.modified() == modified(watched))
    }
}
