import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// Query results in a `for try await` loop, as the synchronous cursor gives them.
@Suite struct AsyncQueryTests {
    func makeStore(_ directory: TemporaryDirectory, count: Int) throws {
        let store = try Store(at: directory.path)
        var generator = SeededGenerator(seed: 15)
        for n in 0..<count {
            let time = 1_795_000_000_000_000 + Int64(generator.next() % 1_000_000_000)
            let type = ["call", "error", "message"][n % 3]
            try store.append(#"{"ts":"\#(RecordTime.format(time))","type":"\#(type)","n":\#(n)}"#)
        }
        try store.close()
    }

    @Test func aQueryInAForTryAwaitLoopGivesWhatNextGives() async throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, count: 300)
        let reader = try StoreReader(at: directory.path)
        for query in [Query(), Query(types: ["error"]), Query(types: ["call"], limit: 7, order: .newestFirst)] {
            let expected = try reader.query(query).all()
            var got: [Record] = []
            for try await record in try reader.query(query) {
                got.append(record)
            }
            #expect(got == expected)
            #expect(!got.isEmpty)
        }
    }

    @Test func aSecondLoopGoesOnWhereTheFirstStopped() async throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, count: 30)
        let reader = try StoreReader(at: directory.path)
        let all = try reader.query(Query()).all()
        let cursor = try reader.query(Query())
        var first: [Record] = []
        for try await record in cursor {
            first.append(record)
            if first.count == 10 { break }
        }
        var rest: [Record] = []
        for try await record in cursor { rest.append(record) }
        #expect(first + rest == all)
    }

    /// In an actor the loop runs in the actor's isolation: the cursor never
    /// leaves it (and the compiler checks that it does not).
    actor Tally {
        var counts: [String: Int] = [:]
        func count(_ reader: any RecordReader, _ query: Query) async throws -> [String: Int] {
            for try await record in try reader.query(query) {
                counts[record.type, default: 0] += 1
            }
            return counts
        }
    }

    @Test func anyRecordReaderInAnActor() async throws {
        let directory = TemporaryDirectory()
        try makeStore(directory, count: 90)
        let store: any RecordReader = try StoreReader(at: directory.path)
        #expect(try await Tally().count(store, Query()) == ["call": 30, "error": 30, "message": 30])

        let logs = try copyAgentLogs(into: directory)
        let foreign: any RecordReader = try ForeignLogReader(at: logs, cache: .disabled)
        var expected: [String: Int] = [:]
        for record in try foreign.query(Query()).all() { expected[record.type, default: 0] += 1 }
        #expect(try await Tally().count(foreign, Query()) == expected)
        #expect(!expected.isEmpty)
    }
}
