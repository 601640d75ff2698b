import Foundation
import StoaTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// What `stoa-crash-writer tier|backup … STOP` did.
enum StoppedChild: Equatable {
    /// It stopped before its STOPth file system call (this one, on this
    /// path) and was killed there with SIGKILL.
    case killed(call: String, path: String)
    /// It ended first, after this many calls.
    case done(calls: Int)
    /// It said something else (it failed: its stderr is the test's).
    case failed(String)

    var wasKilled: Bool { if case .killed = self { true } else { false } }

    /// Runs the crash writer with `arguments` (see Tests/CrashWriter): when
    /// it stops at the chosen call, kills it there.
    static func run(_ arguments: [String]) throws -> StoppedChild {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: builtProduct("stoa-crash-writer"))
        process.arguments = arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.standardError
        try process.run()
        // Its one line: it waits after saying it stopped, so this returns.
        var said: [UInt8] = []
        while !said.contains(0x0A) {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            said += chunk
        }
        let line = String(decoding: said.prefix { $0 != 0x0A }, as: UTF8.self)
        let words = line.split(separator: " ", maxSplits: 2).map(String.init)
        if words.first == "stopped" { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        switch words.first {
        case "stopped" where words.count == 3 && process.terminationReason == .uncaughtSignal:
            return .killed(call: words[1], path: words[2])
        case "done" where words.count == 2 && process.terminationStatus == 0:
            return .done(calls: Int(words[1]) ?? -1)
        default:
            return .failed("\(line) (exit \(process.terminationStatus))")
        }
    }
}
