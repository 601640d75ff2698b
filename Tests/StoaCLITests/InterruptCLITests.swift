import Foundation
import StoaTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `stoa tail -f` stopped with Ctrl-C (SIGINT) while a busy writer appends:
/// what it printed ends with a whole line, and every line is a record.
@Suite struct InterruptCLITests {
    let stoa = builtProduct("stoa")

    /// A child process whose standard output is a pipe read here, started
    /// with SIGINT and SIGTERM at their default actions and unblocked, as a
    /// shell starts a command (a Foundation `Process` child inherits the
    /// test runner's blocked signals).
    final class Child {
        let pid: pid_t
        private let output: Int32
        private(set) var received: [UInt8] = []

        init(_ executable: String, _ arguments: [String]) throws {
            var pipeEnds: [Int32] = [0, 0]
            guard pipe(&pipeEnds) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
            posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
            posix_spawn_file_actions_addclose(&actions, pipeEnds[1])
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            var none = sigset_t()
            sigemptyset(&none)
            posix_spawnattr_setsigmask(&attributes, &none)
            var defaults = sigset_t()
            sigemptyset(&defaults)
            sigaddset(&defaults, SIGINT)
            sigaddset(&defaults, SIGTERM)
            sigaddset(&defaults, SIGPIPE)
            posix_spawnattr_setsigdefault(&attributes, &defaults)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
            let argv = ([executable] + arguments).map { strdup($0) } + [nil]
            defer { argv.forEach { free($0) } }
            var pid: pid_t = 0
            let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
            close(pipeEnds[1])
            guard spawned == 0 else {
                close(pipeEnds[0])
                throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO)
            }
            self.pid = pid
            self.output = pipeEnds[0]
        }

        deinit {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, WNOHANG)
            close(output)
        }

        /// Reads until `count` bytes came in all, or end of output, or
        /// `seconds` pass with nothing new. Returns whether `count` came.
        @discardableResult
        func read(until count: Int = .max, quietFor seconds: Int32 = 60) -> Bool {
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while received.count < count {
                var ready = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
                let polled = poll(&ready, 1, seconds * 1000)
                if polled == 0 { return false }
                if polled < 0 { if errno == EINTR { continue } else { return false } }
                let got = chunk.withUnsafeMutableBytes { Glibc.read(output, $0.baseAddress, $0.count) }
                if got < 0 && errno == EINTR { continue }
                if got <= 0 { return false }
                received += chunk[..<got]
            }
            return true
        }

        /// Waits for the child to end: the signal that ended it, or nil when it exited.
        func waitForEnd() -> (signal: Int32?, status: Int32) {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let signal = status & 0x7f
            return signal != 0 ? (signal, 0) : (nil, (status >> 8) & 0xff)
        }
    }

    @Test func tailFollowStoppedWithCtrlCEndsWithAWholeLine() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("store")
        // Records of about 100 KB: each takes several writes into a 64 KiB pipe.
        let padding = String(repeating: "x", count: 100_000)
        @Sendable func record(_ n: Int) -> String { #"{"n":\#(n),"pad":"\#(padding)"}"# + "\n" }
        let prefilled = try run(stoa, ["append", store], input: (0..<5).map(record).joined())
        #expect(prefilled.status == 0, "\(prefilled.stderr)")

        // A busy writer, fed once each follower runs: 60 records (6 MB) a
        // trial, more than the follower is read for, so that more is always
        // coming when it is interrupted. Not fed without end: on a slow
        // machine an unbounded feed grew the store by gigabytes, and a new
        // follower spent its minute indexing sealed segments.
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: stoa)
        writer.arguments = ["append", store]
        let input = Pipe()
        writer.standardInput = input
        writer.standardError = Pipe()
        try writer.run()
        let feeding = LockedData()
        let permits = DispatchSemaphore(value: 0)
        let feeder = Thread {
            var n = 5
            while true {
                permits.wait()
                if feeding.get() != nil { break }
                input.fileHandleForWriting.write(Data(record(n).utf8))
                n += 1
            }
            try? input.fileHandleForWriting.close()
        }
        feeder.start()
        defer {
            feeding.set(Data())
            permits.signal()
            writer.waitUntilExit()
        }

        for trial in 0..<3 {
            let follower = try Child(stoa, ["tail", store, "-f", "-n", "5"])
            // Once it prints, it has read the store: what is appended from now on, it follows.
            try #require(follower.read(until: 1), "trial \(trial): the follower printed nothing")
            for _ in 0..<60 { permits.signal() }
            // Interrupted once it has printed a megabyte and more is coming.
            let printing = follower.read(until: (trial + 1) << 20)
            try #require(printing, "trial \(trial): the follower printed \(follower.received.count) bytes, then nothing")
            kill(follower.pid, SIGINT)
            follower.read()
            let end = follower.waitForEnd()
            #expect(end.signal == SIGINT, "trial \(trial): ended with \(end)")

            let output = follower.received
            #expect(output.last == 0x0A, "trial \(trial): the output ends inside a line (\(output.count) bytes)")
            let lines = output.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
            #expect(lines.count >= 10)
            var numbers: [Int] = []
            for line in lines {
                let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
                numbers.append(object?["n"] as? Int ?? -1)
            }
            #expect(!numbers.contains(-1), "trial \(trial): a line that is not a whole record")
            #expect(numbers == Array(numbers.first!..<(numbers.first! + numbers.count)), "trial \(trial): not in order")
        }
    }
}
