#if canImport(Glibc)
import Glibc
#endif

/// What appending a stream of JSON lines did.
public struct StreamAppendReport: Sendable, Equatable {
    /// Records stored.
    public var stored = 0
    /// Records refused (each was reported to `onRejected`).
    public var rejected = 0
    /// The seqs of the stored records (consecutive; empty when none).
    public var seqs: Range<UInt64> = 0..<0
}

extension Store {
    /// Appends every JSON record read from `fd` until end of input: JSON
    /// lines, or pretty-printed objects spanning several lines (as `jq .`
    /// prints them).
    ///
    /// A bad record is reported to `onRejected` with its line number and
    /// skipped; the records around it are stored. Records are written in
    /// batches: whatever is read and complete is written before the next
    /// read may block, so a slow pipe sees each line stored at once and a
    /// fast one gets large writes.
    ///
    /// A line continues the record above it only while that record is
    /// unfinished and the line does not start with `{`; so a torn line is
    /// reported alone and does not swallow the next record.
    ///
    /// - Parameters:
    ///   - fd: where to read (standard input: 0). Not closed.
    ///   - source: the name used in errors (a file name, or "stdin").
    ///   - defaultType: a type given to records that have none.
    ///   - onRejected: called for each refused record; the error carries the
    ///     1-based `line` where the record starts and the `path` `source`.
    /// - Throws: when reading `fd` or writing the store fails; what was
    ///   stored until then stays stored.
    public func appendLines(
        fromFileDescriptor fd: Int32, source: String = "stdin", durability: Durability? = nil,
        defaultType: String? = nil, onRejected: (StoaError) -> Void
    ) throws(StoaError) -> StreamAppendReport {
        var splitter = RecordSplitter(encoder: encoder, defaultType: defaultType)
        var report = StreamAppendReport()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var carry: [UInt8] = []  // an unfinished line from the previous read
        var discarding = false  // dropping the rest of an overlong line

        func flush(_ batch: inout EncodedBatch) throws(StoaError) {
            guard !batch.lineEnds.isEmpty else { return }
            let seqs = try write(batch, durability: durability).seqs
            if report.stored == 0 { report.seqs = seqs } else { report.seqs = report.seqs.lowerBound..<seqs.upperBound }
            report.stored += seqs.count
            batch = EncodedBatch(hashing: configuration.dedupWindow != nil)
        }

        while true {
            let count = try chunk.withUnsafeMutableBufferPointer { (buffer) throws(StoaError) in
                try valueOrThrow("read", path: source) { Glibc.read(fd, buffer.baseAddress, buffer.count) }
            }
            var batch = EncodedBatch(hashing: configuration.dedupWindow != nil)
            let now = Timestamp.now()
            if count == 0 {
                if !carry.isEmpty && !discarding {
                    carry.withUnsafeBufferPointer { line in
                        splitter.take(
                            line: line, into: &batch, now: now, rejected: &report.rejected, onRejected: onRejected,
                            source: source)
                    }
                }
                splitter.finish(rejected: &report.rejected, onRejected: onRejected, source: source)
                try flush(&batch)
                return report
            }
            var start = 0
            chunk.withUnsafeBufferPointer { buffer in
                let bytes = UnsafeBufferPointer(rebasing: buffer[..<count])
                while let newline = SegmentContents.firstNewline(in: bytes, from: start) {
                    if discarding {
                        discarding = false
                        splitter.skipLine()
                    } else if carry.isEmpty {
                        splitter.take(
                            line: UnsafeBufferPointer(rebasing: bytes[start..<newline]), into: &batch, now: now,
                            rejected: &report.rejected, onRejected: onRejected, source: source)
                    } else {
                        carry.append(contentsOf: bytes[start..<newline])
                        carry.withUnsafeBufferPointer { line in
                            splitter.take(
                                line: line, into: &batch, now: now, rejected: &report.rejected, onRejected: onRejected,
                                source: source)
                        }
                        carry.removeAll(keepingCapacity: true)
                    }
                    start = newline + 1
                }
                if !discarding { carry.append(contentsOf: bytes[start...]) }
            }
            if carry.count > Int(configuration.maxRecordBytes) * 8 {
                // A line this long can never be a record: refuse it now rather than hold it.
                splitter.refuseOverlongLine(length: carry.count, rejected: &report.rejected, onRejected: onRejected, source: source)
                carry.removeAll()
                discarding = true
            }
            try flush(&batch)
        }
    }
}

/// Cuts a stream of lines into records, joining the lines of a
/// pretty-printed object.
struct RecordSplitter {
    let encoder: RecordEncoder
    let defaultType: String?
    /// Line number of the line being taken (1-based).
    private var line = 0
    /// An unfinished record: its lines so far, the line it started on, and its error.
    private var pending: [UInt8] = []
    private var pendingLine = 0
    private var pendingError: StoaError?

    init(encoder: RecordEncoder, defaultType: String?) {
        self.encoder = encoder
        self.defaultType = defaultType
    }

    mutating func take(
        line bytes: UnsafeBufferPointer<UInt8>, into batch: inout EncodedBatch, now: Int64,
        rejected: inout Int, onRejected: (StoaError) -> Void, source: String
    ) {
        line += 1
        let firstByte = bytes.first { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }
        if !pending.isEmpty {
            if bytes.first == UInt8(ascii: "{") {
                reportPending(rejected: &rejected, onRejected: onRejected, source: source)
            } else {
                pending.append(UInt8(ascii: "\n"))
                pending.append(contentsOf: bytes)
                let joined = pending
                joined.withUnsafeBufferPointer { record in
                    attempt(
                        record, startLine: pendingLine, into: &batch, now: now, rejected: &rejected,
                        onRejected: onRejected, source: source)
                }
                return
            }
        }
        guard firstByte != nil else { return }  // a blank line
        attempt(bytes, startLine: line, into: &batch, now: now, rejected: &rejected, onRejected: onRejected, source: source)
    }

    private mutating func attempt(
        _ record: UnsafeBufferPointer<UInt8>, startLine: Int, into batch: inout EncodedBatch, now: Int64,
        rejected: inout Int, onRejected: (StoaError) -> Void, source: String
    ) {
        do throws(StoaError) {
            try batch.add(record, encoder: encoder, now: now, defaultType: defaultType)
            pending.removeAll(keepingCapacity: true)
            pendingError = nil
        } catch {
            let ranOut = error.code == .invalidRecord && (error.offset ?? 0) >= record.count
            let startsObject = record.first { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D } == UInt8(ascii: "{")
            if ranOut && startsObject && record.count <= encoder.maxRecordBytes * 8 {
                // Unfinished: maybe the next lines complete it.
                if pending.isEmpty {
                    pending = Array(record)
                    pendingLine = startLine
                }
                pendingError = error
                return
            }
            pending.removeAll(keepingCapacity: true)
            pendingError = nil
            rejected += 1
            onRejected(error.at(line: startLine, path: source))
        }
    }

    private mutating func reportPending(rejected: inout Int, onRejected: (StoaError) -> Void, source: String) {
        if let error = pendingError {
            rejected += 1
            onRejected(error.at(line: pendingLine, path: source))
        }
        pending.removeAll(keepingCapacity: true)
        pendingError = nil
    }

    /// End of input: an unfinished record is refused.
    mutating func finish(rejected: inout Int, onRejected: (StoaError) -> Void, source: String) {
        if !pending.isEmpty { reportPending(rejected: &rejected, onRejected: onRejected, source: source) }
    }

    /// Counts a line that was refused already (too long) without taking it.
    mutating func skipLine() { line += 1 }

    mutating func refuseOverlongLine(length: Int, rejected: inout Int, onRejected: (StoaError) -> Void, source: String) {
        rejected += 1
        onRejected(
            StoaError(
                .recordTooLarge,
                "line of more than \(length) bytes is larger than max_record_bytes (\(encoder.maxRecordBytes))",
                path: source, line: line + 1))
    }
}
