import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under the system temp directory, removed when this goes away.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(_ label: String = "stoa-test") {
        var template = Array("\(NSTemporaryDirectory())/\(label).XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed: \(errno)")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A path inside this directory.
    public func appending(_ name: String) -> String { path + "/" + name }
}

/// Where SwiftPM put the built executables (next to the test bundle).
public func builtProduct(_ name: String) -> String {
    let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        ?? CommandLine.arguments[0]
    var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
    // Inside an .xctest bundle on some platforms: climb out of it.
    while directory.path.contains(".xctest") { directory = directory.deletingLastPathComponent() }
    return directory.appendingPathComponent(name).path
}

/// A file or folder of `Fixtures/foreign/`.
public func foreignFixture(_ name: String, filePath: String = #filePath) -> String {
    // This file is Tests/StoaTestSupport/Support.swift: the package is three levels up.
    URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/foreign/\(name)").path
}

/// A failure of a test helper, with what went wrong.
public struct SupportError: Error, CustomStringConvertible {
    public var description: String
}

/// Gzips `source` into `destination` with Python's `gzip`: a writer
/// independent of ours.
public func gzipWithPython(_ source: String, to destination: String) throws {
    let result = try run(
        "/usr/bin/env",
        ["python3", "-c", "import gzip, sys; open(sys.argv[2], 'wb').write(gzip.compress(open(sys.argv[1], 'rb').read()))",
         source, destination])
    guard result.status == 0 else { throw SupportError(description: "python3 gzip failed: \(result.stderr)") }
}

/// A copy of the agent log fixtures in `directory`/logs, with a
/// `.jsonl.gz` made by Python's gzip; returns the copy's path.
public func copyAgentLogs(into directory: TemporaryDirectory) throws -> String {
    let logs = directory.appending("logs")
    try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
    for name in listDirectory(foreignFixture("agent-logs")) {
        try FileManager.default.copyItem(atPath: foreignFixture("agent-logs") + "/" + name, toPath: logs + "/" + name)
    }
    try gzipWithPython(
        foreignFixture("gzip-source/conversations_2026-11-19.jsonl"), to: logs + "/conversations_2026-11-19.jsonl.gz")
    return logs
}

/// What a child process did.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// Killed by this signal, if it was.
    public var signal: Int32?
}

/// Runs `executable` with `arguments`, feeding `input` on stdin, and waits.
public func run(_ executable: String, _ arguments: [String], input: String = "", environment: [String: String]? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let stdin = Pipe()
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    // Write and read on separate threads so that large outputs cannot deadlock.
    // A child that exits before reading all its input (a usage error) closes
    // the pipe: the write then fails with EPIPE instead of SIGPIPE ending
    // the whole test run.
    _ = ignoreBrokenPipes
    let writer = Thread {
        try? stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8))
        try? stdin.fileHandleForWriting.close()
    }
    writer.start()
    let errorData = LockedData()
    let errorRead = DispatchSemaphore(value: 0)
    let errorReader = Thread {
        errorData.set(stderr.fileHandleForReading.readDataToEndOfFile())
        errorRead.signal()
    }
    errorReader.start()
    let outputData = stdout.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    errorRead.wait()
    let killed = process.terminationReason == .uncaughtSignal
    return ProcessResult(
        status: process.terminationStatus, stdout: String(decoding: outputData, as: UTF8.self),
        stderr: String(decoding: errorData.get()!, as: UTF8.self), signal: killed ? process.terminationStatus : nil)
}

/// Data handed from one thread to another.
public final class LockedData: @unchecked Sendable {
    // `data` is protected by `lock`.
    private let lock = NSLock()
    private var data: Data?
    public init() {}
    public func set(_ value: Data) { lock.withLock { data = value } }
    public func get() -> Data? { lock.withLock { data } }
}

/// Reads a whole file as bytes.
public func readBytes(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Writes bytes to a file, replacing it.
public func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// The names in a directory, sorted.
public func listDirectory(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
}

/// The permission bits of a file.
public func permissions(_ path: String) -> Int {
    var info = stat()
    guard stat(path, &info) == 0 else { return -1 }
    return Int(info.st_mode & 0o777)
}

/// A small seeded random number generator, so failures can be replayed.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Sets a file's or directory's modification time to `seconds` ago.
public func setModified(_ path: String, toSecondsAgo seconds: Int) throws {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    let time = timespec(tv_sec: now.tv_sec - seconds, tv_nsec: 0)
    let result = withUnsafePointer(to: (time, time)) {
        $0.withMemoryRebound(to: timespec.self, capacity: 2) { utimensat(AT_FDCWD, path, $0, 0) }
    }
    if result != 0 { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
}

/// Set once: a write to a pipe whose reader is gone fails with EPIPE.
private let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()
