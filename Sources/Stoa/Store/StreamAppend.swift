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
    /// The input line the last stored record ends on (0: none stored).
    public var lastLine = 0

    /// Counts the records a write stored.
    mutating func add(_ stored: Range<UInt64>, lastLine: Int?) {
        guard !stored.isEmpty else { return }
        seqs = self.stored == 0 ? stored : seqs.lowerBound..<stored.upperBound
        self.stored += stored.count
        if let lastLine { self.lastLine = lastLine }
    }

    /// `error`, a failed write of this input, with what of the input is
    /// stored.
    func failure(_ error: StoaError, source: String) -> StoaError {
        error.afterWriting(stored: stored, seqs: seqs, lastLine: lastLine, of: source)
    }
}

extension StoaError {
    /// This error, of a write that failed part-way through an input (a
    /// stream, a file being imported), with what of the input is stored:
    /// how many records, their seqs, and the line to resume from.
    func afterWriting(stored: Int, seqs: Range<UInt64>, lastLine: Int, of source: String) -> StoaError {
        var error = self
        if stored == 0 {
            error.message += "; nothing of \(source) was stored"
        } else {
            error.message +=
                "; of \(source), \(stored) records were stored (seq \(seqs.lowerBound) to \(seqs.upperBound - 1)),"
                + " through line \(lastLine): resume from line \(lastLine + 1)"
        }
        return error
    }
}

extension Store {
    /// Appends every JSON record read from `fd` until end of input: JSON
    /// lines, or pretty-printed objects spanning several lines (as `jq .`
    /// prints them), told apart once, by the first non-blank line
    /// (the record splitter).
    ///
    /// A bad record is reported to `onRejected` with its line number and
    /// the byte offset in that line where it goes wrong, and skipped; the
    /// records around it are stored. In JSON lines a bad line never joins
    /// the next. Records are written in batches: whatever is read and
    /// complete is written before the next read may block, so a slow pipe
    /// sees each line stored at once and a fast one gets large writes.
    ///
    /// - Parameters:
    ///   - fd: where to read (standard input: 0). Not closed.
    ///   - source: the name used in errors (a file name, or "stdin").
    ///   - durability: how the records are synced (default: the store's).
    ///   - defaultType: a type given to records that have none.
    ///   - onRejected: called for each refused record; the error carries the
    ///     1-based `line` where it goes wrong, the byte `offset` in that line
    ///     (0-based; none for a record too large), and the `path` `source`.
    ///   - onStored: called after each batch is stored (with `always`, once
    ///     it is on disk): the seqs of its records, and for each of them, in
    ///     seq order, the input line it ends on. Not called for a batch whose
    ///     write failed (the error says what of it was stored).
    /// - Throws: when reading `fd` or writing the store fails; what was
    ///   stored until then stays stored, and a failed write's error says
    ///   what that is: how many records, their seqs, and the input line to
    ///   resume from (ENOSPC part-way through a large input).
    public func appendLines(
        fromFileDescriptor fd: Int32, source: String = "stdin", durability: Durability? = nil,
        defaultType: String? = nil, onRejected: (StoaError) -> Void,
        onStored: (_ seqs: Range<UInt64>, _ lines: ArraySlice<Int>) -> Void = { _, _ in }
    ) throws(StoaError) -> StreamAppendReport {
        var splitter = RecordSplitter(encoder: encoder, defaultType: defaultType)
        var report = StreamAppendReport()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var carry: [UInt8] = []  // an unfinished line from the previous read
        var discarding = false  // dropping the rest of an overlong line

        func flush(_ batch: inout EncodedBatch) throws(StoaError) {
            guard !batch.lineEnds.isEmpty else { return }
            var progress = WriteProgress()
            do {
                _ = try write(batch, durability: durability, progress: &progress)
            } catch {
                report.add(progress.stored ?? 0..<0, lastLine: progress.lastSourceLine)
                throw report.failure(error, source: source)
            }
            report.add(progress.stored ?? 0..<0, lastLine: progress.lastSourceLine)
            if let stored = progress.stored, !stored.isEmpty { onStored(stored, progress.storedSourceLines) }
            batch = EncodedBatch(digest: dedupDigest)
        }

        while true {
            let count = try chunk.withUnsafeMutableBufferPointer { (buffer) throws(StoaError) in
                try Syscalls.read(fd, into: UnsafeMutableRawBufferPointer(buffer), path: source)
            }
            var batch = EncodedBatch(digest: dedupDigest)
            let now = clock.now()
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

/// Cuts a stream of lines into records.
///
/// How the stream is read is decided once, from its first non-blank line:
///
/// - **Lines** (JSON lines, the usual case): each line is one record. A bad
///   line is one error and never joins the line after it, whatever that
///   line starts with.
/// - **Pretty** (the first non-blank line is a lone `{`, as jq, Python's
///   `json.dumps(indent=…)`, `JSON.stringify(…, 2)` and Go's `MarshalIndent`
///   print objects): a record runs from a line that opens an object to the
///   line where its brackets close, counted outside strings, so a `{` at
///   column 0 inside a record (`indent=0`) stays in it. A line that ends
///   inside a string ends the string there (JSON strings cannot hold a
///   newline), so a torn line is reported as part of its record and the
///   records after it keep their bounds. When the records' inner lines are
///   indented (told from the first record's second line), a lone `{` at
///   column 0 always starts a new record: an unfinished one before it is
///   reported alone.
///
/// Every error names the line and the byte offset in it (0-based) where the
/// input goes wrong.
struct RecordSplitter {
    let encoder: RecordEncoder
    let defaultType: String?
    /// Line number of the line being taken (1-based).
    private var line = 0

    enum Mode { case undecided, lines, pretty }
    private(set) var mode = Mode.undecided

    // Pretty input: the record being gathered.
    /// Its lines so far, joined by `\n`.
    private var pending: [UInt8] = []
    /// The line it starts on (0: none under way).
    private var pendingLine = 0
    /// Brackets open outside strings, and whether a string is open.
    private var depth = 0
    private var inString = false
    private var escaped = false
    /// The record is too large: its lines are counted but not kept.
    private var skipping = false
    /// Whether the records' inner lines are indented (nil: not known yet).
    private var indented: Bool?

    init(encoder: RecordEncoder, defaultType: String?) {
        self.encoder = encoder
        self.defaultType = defaultType
    }

    mutating func take(
        line bytes: UnsafeBufferPointer<UInt8>, into batch: inout EncodedBatch, now: Int64,
        rejected: inout Int, onRejected: (StoaError) -> Void, source: String
    ) {
        line += 1
        // The usual line starts with `{`: no need to look further.
        if mode == .lines && bytes.first == UInt8(ascii: "{") {
            attempt(bytes, startLine: line, into: &batch, now: now, rejected: &rejected, onRejected: onRejected, source: source)
            return
        }
        if mode == .undecided {
            if Self.isBlank(bytes) { return }
            mode = Self.isLoneBrace(bytes) ? .pretty : .lines
        }
        if mode == .lines {
            if Self.isBlank(bytes) { return }
            attempt(bytes, startLine: line, into: &batch, now: now, rejected: &rejected, onRejected: onRejected, source: source)
        } else {
            takePretty(bytes, into: &batch, now: now, rejected: &rejected, onRejected: onRejected, source: source)
        }
    }

    private mutating func takePretty(
        _ bytes: UnsafeBufferPointer<UInt8>, into batch: inout EncodedBatch, now: Int64,
        rejected: inout Int, onRejected: (StoaError) -> Void, source: String
    ) {
        if pendingLine == 0 {
            if Self.isBlank(bytes) { return }
            pendingLine = line
        } else if indented == true && bytes.first == UInt8(ascii: "{") && Self.isLoneBrace(bytes) {
            // Not inside an indented record: the one under way was cut short.
            reportUnfinished(reason: "a new record starts at line \(line)", rejected: &rejected, onRejected: onRejected, source: source)
            pendingLine = line
        } else {
            if indented == nil { indented = bytes.first == 0x20 || bytes.first == 0x09 }
            if !skipping { pending.append(UInt8(ascii: "\n")) }
        }
        if !skipping { pending.append(contentsOf: bytes) }
        // Follow the brackets through the line.
        var closed = false
        for byte in bytes {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                depth += 1
            } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                depth -= 1
                if depth <= 0 { closed = true }
            }
        }
        // A newline cannot be inside a string: a string open here is torn
        // (the strict scan will say where), and ends with the line.
        inString = false
        escaped = false
        if closed || depth <= 0 {
            // The record's brackets closed (what follows on the line is its
            // too: the strict scan refuses it), or a line at the top level
            // opened none: either way, one record to take or refuse.
            if skipping {
                reset()
                return
            }
            let record = pending
            let startLine = pendingLine
            reset()
            record.withUnsafeBufferPointer { record in
                attempt(record, startLine: startLine, into: &batch, now: now, rejected: &rejected, onRejected: onRejected, source: source)
            }
        } else if !skipping && pending.count > encoder.maxRecordBytes * 8 {
            rejected += 1
            onRejected(
                StoaError(
                    .recordTooLarge,
                    "record of more than \(pending.count) bytes is larger than max_record_bytes (\(encoder.maxRecordBytes))",
                    path: source, line: pendingLine))
            pending = []
            skipping = true
        }
    }

    private mutating func reset() {
        pending.removeAll(keepingCapacity: true)
        pendingLine = 0
        depth = 0
        skipping = false
    }

    /// Encodes one record into `batch`, or reports why not: the error names
    /// the line and the byte offset in it where the record goes wrong.
    private mutating func attempt(
        _ record: UnsafeBufferPointer<UInt8>, startLine: Int, into batch: inout EncodedBatch, now: Int64,
        rejected: inout Int, onRejected: (StoaError) -> Void, source: String
    ) {
        do throws(StoaError) {
            try batch.add(record, encoder: encoder, now: now, defaultType: defaultType)
            batch.sourceLines.append(line)
        } catch {
            rejected += 1
            onRejected(Self.locate(error, in: record, startLine: startLine, source: source))
        }
    }

    /// `error`, whose offset is into `record` (which starts at `startLine`),
    /// with the line and offset in that line where it went wrong.
    static func locate(
        _ error: StoaError, in record: UnsafeBufferPointer<UInt8>, startLine: Int, source: String
    ) -> StoaError {
        guard let offset = error.offset else { return error.at(line: startLine, path: source) }
        var lineStart = 0
        var lineNumber = startLine
        var index = 0
        let end = min(offset, record.count)
        while let newline = SegmentContents.firstNewline(in: record, from: index), newline < end {
            lineNumber += 1
            lineStart = newline + 1
            index = newline + 1
        }
        var located = error.at(line: lineNumber, path: source)
        located.offset = offset - lineStart
        return located
    }

    private mutating func reportUnfinished(
        reason: String, rejected: inout Int, onRejected: (StoaError) -> Void, source: String
    ) {
        if !skipping {
            rejected += 1
            let error = pending.withUnsafeBufferPointer { record in
                var error = StoaError(
                    .invalidRecord, "unfinished record (it starts at line \(pendingLine); \(reason))", offset: record.count)
                do throws(StoaError) {
                    _ = try encoder.scanner.scan(record, rules: .input)
                } catch let scanError {
                    // Wrong before it ran out: say that instead.
                    if let at = scanError.offset, at < record.count { error = scanError }
                }
                return Self.locate(error, in: record, startLine: pendingLine, source: source)
            }
            onRejected(error)
        }
        reset()
        inString = false
        escaped = false
    }

    /// End of input: an unfinished record is refused.
    mutating func finish(rejected: inout Int, onRejected: (StoaError) -> Void, source: String) {
        if pendingLine != 0 {
            reportUnfinished(reason: "the input ends inside it", rejected: &rejected, onRejected: onRejected, source: source)
        }
    }

    /// Counts a line that was refused already (too long) without taking it.
    /// In pretty input, the record it belongs to is given up.
    mutating func skipLine() {
        line += 1
        if pendingLine != 0 {
            reset()
            inString = false
            escaped = false
        }
    }

    mutating func refuseOverlongLine(length: Int, rejected: inout Int, onRejected: (StoaError) -> Void, source: String) {
        rejected += 1
        onRejected(
            StoaError(
                .recordTooLarge,
                "line of more than \(length) bytes is larger than max_record_bytes (\(encoder.maxRecordBytes))",
                path: source, line: line + 1))
    }

    private static func isBlank(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }

    /// A line that is `{` and nothing else (but blanks).
    private static func isLoneBrace(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var braces = 0
        for byte in bytes {
            if byte == UInt8(ascii: "{") {
                braces += 1
            } else if byte != 0x20 && byte != 0x09 && byte != 0x0D {
                return false
            }
        }
        return braces == 1
    }
}
