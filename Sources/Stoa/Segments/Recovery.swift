#if canImport(Glibc)
import Glibc
#endif

/// What opening a store had to repair. Nothing is dropped silently: every
/// byte cut from a segment is kept in `quarantine/`.
public struct RecoveryReport: Sendable, Equatable {
    /// Bytes cut from the end of a segment.
    public struct Cut: Sendable, Equatable {
        /// The segment file they were cut from.
        public var segment: String
        /// Where the cut started, in bytes from the start of the segment.
        public var offset: Int
        /// How many bytes were cut.
        public var length: Int
        /// Why: the first line that was incomplete or invalid.
        public var reason: String
        /// Where the cut bytes are now.
        public var quarantined: String
    }

    public var cuts: [Cut] = []
    /// Stale `*.tmp` files left by a crash, removed.
    public var removedTemporaryFiles: [String] = []
    /// Tier moves a crash interrupted, finished: the old form removed.
    public var finishedMoves: [String] = []

    public var isClean: Bool { cuts.isEmpty && removedTemporaryFiles.isEmpty && finishedMoves.isEmpty }

    /// One line per repair, for people.
    public var lines: [String] {
        cuts.map {
            "recovered \($0.segment): cut \($0.length) bytes at offset \($0.offset) (\($0.reason)); kept in \($0.quarantined)"
        } + removedTemporaryFiles.map { "removed stale temporary file \($0)" }
            + finishedMoves.map { "finished an interrupted tier move: removed \($0), whose new form is whole" }
    }
}

/// Brings a store back to a clean state after a crash (§4).
struct Recovery {
    let layout: StoreLayout
    let encoder: RecordEncoder
    let fileSystem: any FileSystem

    /// Removes stale `*.tmp` files: a crash before their rename left them, and
    /// the file they were to become is still whole.
    func removeTemporaryFiles(report: inout RecoveryReport) throws(StoaError) {
        for directory in [layout.root, layout.segments, layout.quarantine, layout.archive] {
            for name in try Syscalls.listDirectory(directory) ?? [] where name.hasSuffix(".tmp") {
                let path = Path.join(directory, name)
                try fileSystem.unlink(path)
                report.removedTemporaryFiles.append(path)
            }
        }
    }

    /// Cuts the active segment back to its last complete, valid line.
    ///
    /// Everything from the first line that is unfinished (no newline) or
    /// invalid goes to `quarantine/` first, then the segment is truncated and
    /// synced. Like Kafka's segment recovery, it stops at the first bad line:
    /// after a crash only the tail can be torn, and bytes past a bad line
    /// cannot be trusted to be records.
    ///
    /// - Returns: the number of records and bytes that remain.
    func recoverActiveSegment(_ file: OpenFile, report: inout RecoveryReport) throws(StoaError) -> (count: UInt64, size: Int) {
        let bytes = try file.readAll()
        var count: UInt64 = 0
        var good = 0
        var reason: String?
        bytes.withUnsafeBufferPointer { all in
            while good < all.count {
                let rest = UnsafeBufferPointer(rebasing: all[good...])
                guard let found = rest.firstIndex(of: UInt8(ascii: "\n")) else {
                    reason = "unfinished last line of \(all.count - good) bytes (no newline)"
                    return
                }
                let newline = good + found  // `rest` counts from 0
                let line = UnsafeBufferPointer(rebasing: all[good..<newline])
                do throws(StoaError) {
                    _ = try encoder.facts(ofLine: line)
                } catch {
                    reason = "line \(count + 1) is not a valid record: \(error.description)"
                    return
                }
                count += 1
                good = newline + 1
            }
        }
        if let reason {
            let name = Path.lastComponent(of: file.path)
            let quarantined = Path.join(layout.quarantine, "\(name).\(good).bad")
            try fileSystem.mkdir(layout.quarantine, mode: 0o750)
            // Bytes first, then the note, then the cut: a crash at any point
            // repeats the same steps next time, under the same names.
            try fileSystem.writeFileAtomically(quarantined, bytes: Array(bytes[good...]))
            var note: [UInt8] = Array("{\"source\":".utf8)
            JSONString.appendQuoted("segments/" + name, to: &note)
            note += Array(",\"offset\":\(good),\"length\":\(bytes.count - good),\"reason\":".utf8)
            JSONString.appendQuoted(reason, to: &note)
            note += Array(",\"quarantined_at\":\"".utf8)
            Timestamp.append(Timestamp.now(), to: &note)
            note += Array("\"}\n".utf8)
            try fileSystem.writeFileAtomically(quarantined + ".json", bytes: note)
            try fileSystem.ftruncate(file.fd, to: good, path: file.path)
            try fileSystem.fsync(file.fd, path: file.path)
            report.cuts.append(
                RecoveryReport.Cut(
                    segment: file.path, offset: good, length: bytes.count - good, reason: reason,
                    quarantined: quarantined))
        }
        return (count, good)
    }
}
