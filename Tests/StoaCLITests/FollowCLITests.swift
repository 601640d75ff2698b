import Foundation
import StoaTestSupport
import Testing

/// `stoa tail -f` in other processes while `stoa append` writes fast into a
/// store that rotates every 16 KiB and moves each sealed segment to warm and
/// then cold at once: every record reaches every follower once, in order.
@Suite struct FollowCLITests {
    let stoa = builtProduct("stoa")

    /// A `stoa tail -f` child whose output lines are collected as they come.
    final class Follower: @unchecked Sendable {
        // `lines` is protected by `lock`.
        let process = Process()
        private let lock = NSLock()
        private var lines: [String] = []

        init(stoa: String, arguments: [String]) throws {
            process.executableURL = URL(fileURLWithPath: stoa)
            process.arguments = arguments
            let output = Pipe()
            process.standardOutput = output
            process.standardError = Pipe()
            try process.run()
            let handle = output.fileHandleForReading
            // Not kept in a property: the thread holds the follower until the
            // child's output ends (a property made a cycle that leaked both).
            let reader = Thread { [self] in
                var pending = Data()
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { return }
                    pending.append(chunk)
                    while let newline = pending.firstIndex(of: 0x0A) {
                        let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                        pending = Data(pending[(newline + 1)...])
                        lock.withLock { lines.append(line) }
                    }
                }
            }
            reader.start()
        }

        var received: [String] { lock.withLock { lines } }

        /// Waits until `count` lines came or `seconds` passed.
        func wait(for count: Int, seconds: Double) -> [String] {
            let deadline = Date().addingTimeInterval(seconds)
            while received.count < count && Date() < deadline { usleep(10_000) }
            return received
        }

        /// Waits until it watches the store with inotify (or `seconds` pass):
        /// it takes its starting seq before it sets up the watch, so from
        /// then on every record appended reaches it. The follower's watch is
        /// the one that asks for IN_CLOSE_WRITE (0x8); its reader's change
        /// feed, set up earlier, does not.
        func waitUntilWatching(seconds: Double) -> Bool {
            let process = "/proc/\(process.processIdentifier)"
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                let links = (try? FileManager.default.contentsOfDirectory(atPath: process + "/fd")) ?? []
                for link in links
                where (try? FileManager.default.destinationOfSymbolicLink(atPath: process + "/fd/" + link)) == "anon_inode:inotify" {
                    let info = (try? String(contentsOfFile: process + "/fdinfo/" + link, encoding: .utf8)) ?? ""
                    let masks = info.split(whereSeparator: \.isWhitespace).filter { $0.hasPrefix("mask:") }
                    if masks.contains(where: { UInt32($0.dropFirst(5), radix: 16).map { $0 & 0x8 != 0 } ?? false }) {
                        return true
                    }
                }
                usleep(10_000)
            }
            return false
        }

        /// Kills it with SIGKILL: a child of the test process inherits its
        /// blocked signals (Foundation's Process does not reset the mask), so
        /// `terminate()`'s SIGTERM would never arrive.
        func stop() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// The `n` of each record line.
    static func numbers(_ lines: [String]) -> [Int] {
        lines.map { line in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return object?["n"] as? Int ?? Int.min
        }
    }

    @Test func followersInOtherProcessesSeeEveryRecordOnceAcrossRotationsAndTierMoves() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("store")
        let created = try run(stoa, ["init", store, "--segment-bytes", "16KiB", "--hot-for", "1ms", "--warm-for", "1ms"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try run(stoa, ["append", store], input: #"{"n":-1}"# + "\n").status == 0)

        // One follower from the first record; it prints it once it is following.
        let first = try Follower(stoa: stoa, arguments: ["tail", store, "-f", "-n", "1"])
        defer { first.stop() }
        try #require(first.wait(for: 1, seconds: 10).count == 1)

        // The writer, fed in chunks; a second follower joins halfway, from the end.
        let total = 8000
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: stoa)
        writer.arguments = ["append", store]
        let input = Pipe()
        writer.standardInput = input
        writer.standardError = Pipe()
        try writer.run()
        let padding = String(repeating: "x", count: 150)
        func feed(_ range: Range<Int>) {
            let text = range.map { #"{"n":\#($0),"pad":"\#(padding)"}"# + "\n" }.joined()
            input.fileHandleForWriting.write(Data(text.utf8))
        }
        feed(0..<(total / 2))
        _ = first.wait(for: total / 4, seconds: 30)
        let second = try Follower(stoa: stoa, arguments: ["tail", store, "-f", "-n", "0"])
        defer { second.stop() }
        #expect(second.waitUntilWatching(seconds: 30), "the second follower never watched the store")
        feed((total / 2)..<total)
        try input.fileHandleForWriting.close()
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 0)

        let all = Self.numbers(first.wait(for: total + 1, seconds: 60))
        #expect(all.count == total + 1)
        #expect(all == Array(-1..<total), "first gap or repeat at \(Array(zip(all, -1..<total)).firstIndex { $0 != $1 } ?? -1)")
        let joined = Self.numbers(second.wait(for: 1, seconds: 5))
        let fromHalfway = Self.numbers(second.wait(for: total - (joined.first ?? 0), seconds: 60))
        #expect(!fromHalfway.isEmpty)
        if let start = fromHalfway.first {
            #expect(start <= total / 2, "the second follower began after the records appended once it ran")
            #expect(fromHalfway == Array(start..<total))
        }

        // The segments did rotate and move: most are in the archive, gzipped.
        let archived = listDirectory(store + "/archive").filter { $0.hasSuffix(".jsonl.gz") }
        #expect(archived.count >= 20, "\(listDirectory(store + "/segments"))")
    }
}
