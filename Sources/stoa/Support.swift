import ArgumentParser
import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// Writes text to standard error.
func printError(_ text: String) {
    var line = Array(text.utf8)
    if line.last != 0x0A { line.append(0x0A) }
    var done = 0
    while done < line.count {
        let written = line.withUnsafeBytes { bytes in
            (try? Syscalls.write(2, UnsafeRawBufferPointer(rebasing: bytes[done...]), path: "stderr")) ?? 0
        }
        if written <= 0 { return }
        done += written
    }
}

/// A buffered writer to standard output (records can be many) that puts
/// out whole lines only: it writes when its buffer ends a line, and a
/// Ctrl-C stops the process between lines (``Interruption``).
struct Output {
    private var buffer: [UInt8] = []
    /// Whether a closed stdout ends the process (exit 0 on EPIPE, as cat
    /// does), or is kept in ``closed`` for the command to decide.
    private let exitsWhenClosed: Bool
    /// The errno of the write that failed, once stdout took no more.
    private(set) var closed: Int32?

    init(exitsWhenClosed: Bool = true) {
        self.exitsWhenClosed = exitsWhenClosed
        buffer.reserveCapacity(1 << 16)
        Interruption.install()
    }

    /// Adds `bytes`; writes what is buffered once it is 64 KiB or more and
    /// ends with a newline.
    mutating func write(_ bytes: some Collection<UInt8>) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 && buffer.last == 0x0A { flush() }
    }

    mutating func write(_ text: String) { write(text.utf8) }

    /// Writes everything buffered, in full, even if a signal comes meanwhile.
    /// When stdout is closed (a pipe into `head`), stops quietly, as cat does.
    /// (Unless made with `exitsWhenClosed: false`: then see ``closed``.)
    mutating func flush() {
        if let error = writeBuffered(), exitsWhenClosed { exit(error == EPIPE ? 0 : 1) }
    }

    /// Writes everything buffered; the errno when stdout takes no more
    /// (what was not written is dropped, and so is all that comes later).
    private mutating func writeBuffered() -> Int32? {
        defer { buffer.removeAll(keepingCapacity: true) }
        if let closed { return closed }
        guard !buffer.isEmpty else { return nil }
        var failure: Int32?
        Interruption.whileWriting {
            var done = 0
            while done < buffer.count {
                let written = buffer.withUnsafeBytes { bytes in
                    Result { () throws(StoaError) in
                        try Syscalls.write(1, UnsafeRawBufferPointer(rebasing: bytes[done...]), path: "stdout")
                    }
                }
                switch written {
                case .success(let count): done += count
                case .failure(let error):
                    failure = error.errno ?? EIO
                    return
                }
            }
        }
        closed = failure
        return failure
    }
}

/// Runs a command's work, turning Stoa's errors into a message and the exit
/// codes of DESIGN §9.
func running<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as StoaError {
        printError("stoa: \(error)")
        throw ExitCode(exitCode(for: error))
    }
}

func exitCode(for error: StoaError) -> Int32 {
    switch error.code {
    case .locked: 75
    case .invalidRecord, .recordTooLarge, .missingTime: 65
    case .invalidArgument: 64
    default: 1
    }
}

/// Prints what opening a store repaired.
func printRecovery(_ recovery: RecoveryReport) {
    for line in recovery.lines { printError("stoa: \(line)") }
}

extension Durability: ExpressibleByArgument {}

/// A time option: parsed when the command runs, relative to one `now`.
struct TimeArgument: ExpressibleByArgument {
    let text: String
    init?(argument: String) { text = argument }

    func resolve(now: Timestamp) throws(StoaError) -> Timestamp {
        try TimeExpression.parse(text, now: now)
    }
}

/// A duration option (`90s`, `15m`, `1h`, `7d`).
struct DurationArgument: ExpressibleByArgument {
    let duration: Duration
    init?(argument: String) {
        guard let value = try? Units.parseDuration(argument) else { return nil }
        duration = value
    }
}

/// A size option (`4096`, `64MiB`, `1GB`).
struct SizeArgument: ExpressibleByArgument {
    let bytes: Int64
    init?(argument: String) {
        guard let value = try? Units.parseSize(argument) else { return nil }
        bytes = value
    }
}

/// The field names of a `--time-fields`-like option (`a,b,c`); nil when not given.
func fieldList(_ text: String?, option: String) throws(StoaError) -> [String]? {
    guard let text else { return nil }
    let names = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmed }
    if names.contains(where: \.isEmpty) {
        throw StoaError(.invalidArgument, "--\(option) takes field names separated by commas, got \"\(text)\"")
    }
    return names
}
