// Child processes: each system is measured in a process of its own, so that
// its peak RSS is its own (ru_maxrss of the child, from wait4).

import CSQLite
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct ChildRun {
    var status: Int32
    var output: [UInt8]
    /// From just before the spawn to the return of wait4.
    var seconds: Double
    /// ru_maxrss of the child, KiB.
    var maxRSSKiB: Int
}

/// This executable, to run it again with a hidden subcommand.
func ownExecutable() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard length > 0 else { return CommandLine.arguments[0] }
    return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Runs `arguments` (the first is looked up in PATH), stdin from /dev/null,
/// stderr inherited, stdout captured (or sent to /dev/null); waits for it.
///
/// With `outputFile`, stdout goes to that file (made or emptied) instead of
/// a pipe, and `output` is read from it once the child is gone: the parent
/// does nothing while the child runs (a pipe would have it reading, on the
/// same CPU when both are bound to one).
func runChild(_ arguments: [String], captureOutput: Bool = true, outputFile: String? = nil) throws -> ChildRun {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    var pipeEnds: [Int32] = [-1, -1]
    let captureOutput = captureOutput && outputFile == nil
    if let outputFile {
        posix_spawn_file_actions_addopen(&actions, 1, outputFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    } else if captureOutput {
        guard pipe(&pipeEnds) == 0 else { throw BenchError(description: "pipe: \(String(cString: strerror(errno)))") }
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    }
    let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }

    var pid: pid_t = 0
    let start = ContinuousClock.now
    let status = posix_spawnp(&pid, arguments[0], &actions, nil, argv, Glibc.environ)
    if captureOutput { close(pipeEnds[1]) }
    guard status == 0 else {
        if captureOutput { close(pipeEnds[0]) }
        throw BenchError(description: "spawn \(arguments[0]): \(String(cString: strerror(status)))")
    }
    var output: [UInt8] = []
    if captureOutput {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = chunk.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, $0.count) }
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { break }
            output += chunk[0..<got]
        }
        close(pipeEnds[0])
    }
    var waitStatus: Int32 = 0
    var usage = rusage()
    while wait4(pid, &waitStatus, 0, &usage) < 0 {
        guard errno == EINTR else { throw BenchError(description: "wait4: \(String(cString: strerror(errno)))") }
    }
    let seconds = elapsed(since: start)
    if let outputFile {
        guard let data = FileManager.default.contents(atPath: outputFile) else {
            throw BenchError(description: "\(arguments[0]): cannot read its output from \(outputFile)")
        }
        output = [UInt8](data)
    }
    // WIFEXITED / WEXITSTATUS are macros.
    let exited = waitStatus & 0x7f == 0
    let code = exited ? (waitStatus >> 8) & 0xff : 128 + (waitStatus & 0x7f)
    return ChildRun(status: code, output: output, seconds: seconds, maxRSSKiB: Int(usage.ru_maxrss))
}

/// Runs this executable with a hidden subcommand and decodes its JSON report.
func runSelf<Report: Decodable>(_ arguments: [String], as _: Report.Type) throws -> (Report, ChildRun) {
    let run = try runChild([ownExecutable()] + arguments)
    guard run.status == 0 else {
        throw BenchError(description: "child `\(arguments.prefix(2).joined(separator: " "))` failed with status \(run.status)")
    }
    do {
        return (try JSONDecoder().decode(Report.self, from: Data(run.output)), run)
    } catch {
        throw BenchError(description: "child `\(arguments.prefix(2).joined(separator: " "))`: unreadable report: \(error)\n"
            + String(decoding: run.output.prefix(2000), as: UTF8.self))
    }
}

/// This process's memory, from /proc/self/status (KiB): peak RSS, and the
/// current anonymous and file-backed parts.
struct MemoryUse: Codable {
    var peakKiB = 0
    var anonymousKiB = 0
    var fileKiB = 0

    static func now() -> MemoryUse {
        var use = MemoryUse()
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return use }
        for line in status.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let value = Int(parts[1]) else { continue }
            switch parts[0] {
            case "VmHWM:": use.peakKiB = value
            case "RssAnon:": use.anonymousKiB = value
            case "RssFile:": use.fileKiB = value
            default: break
            }
        }
        return use
    }
}

/// Writes a child's report on stdout.
func emitReport<Report: Encodable>(_ report: Report) throws {
    let data = try JSONEncoder().encode(report)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// Binds this process, and so every child it starts from now on, to one
/// CPU, the last; returns it, or nil when it could not.
///
/// On this project's two-CPU machine a Stoa query process left free to move
/// was 1.4–1.9× slower in 3 runs of 10 (370–500 against 265 µs for the same
/// 1,024 records); bound to one CPU, in none of 16. (SQLite's query process
/// had a slow run while bound too, one of three.) Every system's query
/// children are bound the same way; ingest, which runs first, is not: a
/// writer has background threads.
func bindToOneCPU() -> Int? {
    let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    guard cpus > 1 else { return nil }
    return bench_bind_to_cpu(Int32(cpus - 1)) == 0 ? cpus - 1 : nil
}
