import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// The real file system, except that one kind of read of the files whose
/// path ends with `pathSuffix` fails with `errno`, every time.
final class ReadFailingFileSystem: FileSystem {
    enum Call: String, Sendable, CaseIterable { case open, pread, fstat, mmap, stat }

    let call: Call
    let pathSuffix: String
    let errno: Int32
    /// How many reads failed.
    let failures = Protected(0)
    private let real = SystemFileSystem()

    init(_ call: Call, of pathSuffix: String, errno: Int32 = EIO) {
        self.call = call
        self.pathSuffix = pathSuffix
        self.errno = errno
    }

    private func fail(_ call: Call, _ path: String, as name: String? = nil) throws(StoaError) {
        guard call == self.call, path.hasSuffix(pathSuffix) else { return }
        failures.withLock { $0 += 1 }
        throw StoaError.syscall(name ?? call.rawValue, errno: errno, path: path)
    }

    func open(_ path: String, flags: Int32, mode: mode_t) throws(StoaError) -> Int32 {
        if flags & O_ACCMODE == O_RDONLY && flags & O_DIRECTORY == 0 { try fail(.open, path) }
        return try real.open(path, flags: flags, mode: mode)
    }
    func pread(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String) throws(StoaError) -> Int {
        try fail(.pread, path)
        return try real.pread(fd, into: buffer, at: offset, path: path)
    }
    func fstat(_ fd: Int32, path: String) throws(StoaError) -> stat {
        try fail(.fstat, path)
        return try real.fstat(fd, path: path)
    }
    func mapReadOnly(_ fd: Int32, count: Int, path: String) throws(StoaError) -> UnsafeRawPointer {
        try fail(.mmap, path)
        return try real.mapReadOnly(fd, count: count, path: path)
    }
    func status(_ path: String) throws(StoaError) -> stat? {
        try fail(.stat, path)
        return try real.status(path)
    }
    func linkStatus(_ path: String) throws(StoaError) -> stat? {
        try fail(.stat, path, as: "lstat")
        return try real.linkStatus(path)
    }
}

/// EIO (or another errno) on a read: reported with the file and the call,
/// never a crash, never a record that is not the one stored, never one
/// left out unsaid.
@Suite struct ReadFaultTests {
    /// Runs `body` with every read going through `fileSystem`.
    @discardableResult
    func reading<T>(through fileSystem: ReadFailingFileSystem, _ body: () throws -> T) rethrows -> T {
        try FileReads.$fileSystem.withValue(fileSystem, operation: body)
    }

    /// Every record's line is the one stored at its seq.
    func expectRight(_ records: [Record], _ lines: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(records.allSatisfy { $0.json == lines[Int($0.seq)] }, sourceLocation: sourceLocation)
        #expect(records.map(\.seq) == records.map(\.seq).sorted(), sourceLocation: sourceLocation)
    }

    func expectError(
        _ error: StoaError, call: String, path: String, errno: Int32 = EIO, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(error.path == path, sourceLocation: sourceLocation)
        #expect(error.call == call, sourceLocation: sourceLocation)
        #expect(error.errno == errno, sourceLocation: sourceLocation)
        #expect(error.code == .io, sourceLocation: sourceLocation)
    }

    /// EIO on reading the active segment: the query, `verify` and `backup`
    /// each fail with an error naming the segment and the call, and return
    /// no record.
    @Test(arguments: [ReadFailingFileSystem.Call.pread, .open, .fstat])
    func eioOnTheActiveSegmentNamesIt(call: ReadFailingFileSystem.Call) throws {
        let directory = TemporaryDirectory()
        _ = try makeSealedStore(directory, warm: true)
        let backup = TemporaryDirectory()
        let active = try #require(segmentFiles(directory, ".jsonl").last)
        let fileSystem = ReadFailingFileSystem(call, of: active)
        reading(through: fileSystem) {
            #expect { try StoreReader(at: directory.path).query(Query()).all() } throws: { error in
                expectError(try #require(error as? StoaError), call: call.rawValue, path: active)
                return true
            }
            #expect { try StoreReader(at: directory.path).verify() } throws: { error in
                expectError(try #require(error as? StoaError), call: call.rawValue, path: active)
                return true
            }
            #expect { try StoreBackup(of: StoreReader(at: directory.path)).copy(to: backup.appending("copy")) } throws: { error in
                expectError(try #require(error as? StoaError), call: call.rawValue, path: active)
                return true
            }
        }
        #expect(fileSystem.failures.withLock { $0 } >= 3)
    }

    /// EIO on reading the active segment when a writer opens the store
    /// (its recovery reads the segment's tail): the open fails naming the
    /// segment and the call, and changes nothing; the store opens once the
    /// segment reads again, with every record.
    @Test func eioOnTheActiveSegmentFailsAWritersOpen() throws {
        let directory = TemporaryDirectory()
        let lines = try makeSealedStore(directory)
        let active = try #require(segmentFiles(directory, ".jsonl").last)
        let before = try Data(contentsOf: URL(fileURLWithPath: active))
        let fileSystem = ReadFailingFileSystem(.pread, of: active)
        reading(through: fileSystem) {
            #expect { try Store(at: directory.path, creating: StoreConfiguration(), fileSystem: fileSystem) } throws: { error in
                expectError(try #require(error as? StoaError), call: "pread", path: active)
                return true
            }
        }
        #expect(fileSystem.failures.withLock { $0 } >= 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: active)) == before)
        let store = try Store(at: directory.path)
        #expect(store.recovery.isClean)
        try store.close()
        let records = try StoreReader(at: directory.path).query(Query()).all()
        #expect(records.count == lines.count)
        expectRight(records, lines)
    }

    /// EIO on `stat` of the active segment: reported with the segment, by a
    /// reader and by a writer opening the store.
    @Test func eioOnStatOfTheActiveSegmentNamesIt() throws {
        let directory = TemporaryDirectory()
        _ = try makeSealedStore(directory)
        let active = try #require(segmentFiles(directory, ".jsonl").last)
        let fileSystem = ReadFailingFileSystem(.stat, of: active)
        reading(through: fileSystem) {
            #expect { try StoreReader(at: directory.path).query(Query()).all() } throws: { error in
                expectError(try #require(error as? StoaError), call: "stat", path: active)
                return true
            }
            #expect { try Store(at: directory.path) } throws: { error in
                expectError(try #require(error as? StoaError), call: "lstat", path: active)
                return true
            }
        }
        #expect(fileSystem.failures.withLock { $0 } >= 2)
    }

    /// EIO on reading (mapping) an `.idx`: the query rebuilds what it needs from the
    /// segment and serves every record right; `verify` names the `.idx` as
    /// unreadable, with the error (before, it called it "damaged or belongs
    /// to another file").
    @Test(arguments: [ReadFailingFileSystem.Call.mmap, .open, .fstat])
    func eioOnAnIndexIsNamedAndCostsNoRecord(call: ReadFailingFileSystem.Call) throws {
        let directory = TemporaryDirectory()
        let lines = try makeSealedStore(directory)
        let index = try #require(segmentFiles(directory, ".idx").first)
        let fileSystem = ReadFailingFileSystem(call, of: index)
        let (records, damaged, report) = try reading(through: fileSystem) {
            let cursor = try StoreReader(at: directory.path).query(Query())
            return (try cursor.all(), cursor.damaged, try StoreReader(at: directory.path).verify())
        }
        #expect(fileSystem.failures.withLock { $0 } >= 2)
        #expect(records.count == lines.count)
        expectRight(records, lines)
        #expect(damaged.isEmpty)
        let problem = try #require(report.problems.first { $0.path == index }, "\(report.problems)")
        #expect(problem.message == "the .idx cannot be read: \(call.rawValue) failed: Input/output error")
        #expect(report.problems.count == 1, "\(report.problems)")
        #expect(report.records == lines.count)
    }

    /// EIO on reading a warm segment's gzip members: the query serves every
    /// other record right and names the segment's records as lost, with the
    /// file and the error; `verify` fails naming it. (A backup on the same
    /// file system hard-links a sealed segment without reading it.)
    @Test(arguments: [ReadFailingFileSystem.Call.mmap, .open, .fstat])
    func eioOnAWarmSegmentIsNamed(call: ReadFailingFileSystem.Call) throws {
        let directory = TemporaryDirectory()
        let lines = try makeSealedStore(directory, warm: true)
        let warm = try #require(segmentFiles(directory, ".jsonl.gz").dropFirst().first)
        let fileSystem = ReadFailingFileSystem(call, of: warm)
        let (records, damaged) = try reading(through: fileSystem) {
            let cursor = try StoreReader(at: directory.path).query(Query())
            return (try cursor.all(), cursor.damaged)
        }
        expectRight(records, lines)
        let served = Set(records.map(\.seq))
        let lost = (0..<UInt64(lines.count)).filter { !served.contains($0) }
        #expect(!lost.isEmpty && lost == Array(lost.first!...lost.last!), "one segment's records, and only those")
        #expect(damaged.count == 1)
        #expect(damaged.first?.path == warm)
        #expect(damaged.first?.reason.contains("\(call.rawValue) failed: Input/output error") == true)
        reading(through: fileSystem) {
            #expect { try StoreReader(at: directory.path).verify() } throws: { error in
                expectError(try #require(error as? StoaError), call: call.rawValue, path: warm)
                return true
            }
        }
        #expect(fileSystem.failures.withLock { $0 } >= 2)
    }
}
