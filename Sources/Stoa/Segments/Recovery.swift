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

    /// A damaged line with valid lines after it, replaced by a tombstone
    /// line (its seq stays taken; the seqs after it do not move).
    public struct Replacement: Sendable, Equatable {
        /// The segment file it was in.
        public var segment: String
        /// Its line number in the segment (1-based); its seq is the
        /// segment's base seq + `line` - 1.
        public var line: Int
        /// Where it started, in bytes from the start of the segment as found.
        public var offset: Int
        /// Its length, without the newline.
        public var length: Int
        /// Why it is not a record.
        public var reason: String
        /// Where its bytes are now.
        public var quarantined: String
    }

    /// Torn or invalid tails cut from segments, oldest segment first.
    public var cuts: [Cut] = []
    /// Damaged lines inside segments, replaced by tombstones.
    public var replaced: [Replacement] = []
    /// Seqs the high-water mark (the `HIGHWATER` file) covers that no segment
    /// holds: the newest segments were removed. New records start after them.
    public var missing: Range<UInt64>?
    /// The newest segments were removed: what was found, for people.
    public var missingDescription: String?
    /// Stale `*.tmp` files left by a crash, removed.
    public var removedTemporaryFiles: [String] = []
    /// Tier moves a crash interrupted, finished: the old form removed.
    public var finishedMoves: [String] = []

    package init() {}

    /// Opening repaired nothing. (``missing`` seqs alone do not count: they are
    /// gone, not repaired, and are reported by ``missingDescription``.)
    public var isClean: Bool {
        cuts.isEmpty && replaced.isEmpty && removedTemporaryFiles.isEmpty && finishedMoves.isEmpty && missingDescription == nil
    }

    /// One line per repair, for people.
    package var lines: [String] {
        replaced.map {
            "recovered \($0.segment): line \($0.line) (\($0.length) bytes at offset \($0.offset)) was damaged (\($0.reason)); "
                + "replaced by a stoa.damaged tombstone, the lines after it kept; its bytes are in \($0.quarantined)"
        }
            + cuts.map {
                "recovered \($0.segment): cut \($0.length) bytes at offset \($0.offset) (\($0.reason)); kept in \($0.quarantined)"
            } + (missingDescription.map { [$0] } ?? []) + removedTemporaryFiles.map { "removed stale temporary file \($0)" }
            + finishedMoves.map { "finished an interrupted tier move: removed \($0), whose new form is whole" }
    }
}

/// Brings a store back to a clean state after a crash (§4).
package struct Recovery {
    let layout: StoreLayout
    let encoder: RecordEncoder
    let fileSystem: any FileSystem

    init(layout: StoreLayout, encoder: RecordEncoder, fileSystem: any FileSystem) {
        self.layout = layout
        self.encoder = encoder
        self.fileSystem = fileSystem
    }

    /// Recovery through the real file system (for the fuzz targets).
    package init(layout: StoreLayout, encoder: RecordEncoder) {
        self.init(layout: layout, encoder: encoder, fileSystem: SystemFileSystem())
    }

    /// Refuses a store whose own directories are symbolic links: Stoa
    /// would write where they point. (The store's directory itself, given
    /// by the caller, and a configured `archive_path` may be links.)
    func refuseLinkedDirectories() throws(StoaError) {
        var directories = [layout.segments, layout.quarantine]
        if layout.archiveIsInside { directories.append(layout.archive) }
        for path in directories {
            guard let info = try FileReads.fileSystem.linkStatus(path) else { continue }
            if info.st_mode & S_IFMT == S_IFLNK { throw StoaError.symbolicLink(path) }
            if info.st_mode & S_IFMT != S_IFDIR {
                throw StoaError(.io, "is not a directory: a store keeps its files in it", path: path)
            }
        }
        if let info = try FileReads.fileSystem.linkStatus(Path.join(layout.root, "LOCK")), info.st_mode & S_IFMT == S_IFLNK {
            throw StoaError.symbolicLink(Path.join(layout.root, "LOCK"))
        }
    }

    /// Removes the temporary files a crash of Stoa left (see
    /// ``TemporaryFile``): only Stoa's own names, only regular files; a
    /// reader's only once it is a minute old. The file each was to become
    /// is still whole.
    func removeTemporaryFiles(report: inout RecoveryReport, now: Int64 = Syscalls.realtimeMicroseconds()) throws(StoaError) {
        report.removedTemporaryFiles += try TemporaryFile.removeStale(
            in: [(layout.root, .root), (layout.segments, .segments), (layout.quarantine, .quarantine), (layout.archive, .archive)],
            fileSystem: fileSystem, now: now)
    }

    /// Repairs the active segment at `path` so that every line in it is a
    /// valid record, and returns the number of lines and bytes it then has.
    ///
    /// - A damaged line (not a valid record) with a valid line after it is
    ///   not a torn write: it is replaced by a tombstone line
    ///   (``tombstone(at:length:time:quarantined:)``), so that its seq stays
    ///   taken and the records after it keep theirs. So is every line among
    ///   the first `acknowledged`: the high-water mark says their seqs were
    ///   handed out (``HighWaterMark``). Its bytes go to `quarantine/` with a
    ///   note; then the repaired segment is published atomically in place of
    ///   the damaged one.
    /// - What follows (an unfinished last line, or damaged lines with nothing
    ///   valid after them: a torn tail) goes to `quarantine/` with a note,
    ///   then the segment is cut back and synced.
    ///
    /// Every step is safe to repeat after a crash: quarantined bytes are
    /// written before the segment changes, under names never used before
    /// (``Quarantine``), and a repeat finds the bytes it quarantined last
    /// time and reuses that file instead of writing a second copy.
    ///
    /// Not repaired by this: a newline lost or added inside a line moves the
    /// seqs of the lines after it (a segment names its records by line).
    ///
    /// `checked`: the segment's first `bytes` bytes, `lines` valid records,
    /// which the writer's checkpoint says were synced and whole (and the
    /// segment still ends them with the line the checkpoint names): only
    /// what follows them is read. A crash tears only what was written
    /// after the last sync; a line changed in place before it is found by
    /// the block checksums of readers and `stoa verify`. When a line after
    /// them must be replaced, the whole segment is read, as without them.
    ///
    /// - Complexity: reads the segment once (what follows `checked`, when
    ///   given); rewrites it only when a line is replaced.
    package func recoverActiveSegment(
        at path: String, acknowledged: Int = 0, checked: (bytes: Int, lines: Int)? = nil, report: inout RecoveryReport
    ) throws(StoaError) -> (count: UInt64, size: Int) {
        let file = try OpenFile(path: path, flags: O_RDWR | O_NOFOLLOW, fileSystem: fileSystem)
        if let checked,
            let recovered = try recoverTail(of: file, after: checked, acknowledged: acknowledged, report: &report)
        {
            return recovered
        }
        let bytes = try file.readAll()
        let scan = bytes.withUnsafeBufferPointer { scanLines($0) }
        let name = Path.lastComponent(of: path)
        // The lines kept: up to the last valid one, and every acknowledged one.
        let kept = min(scan.lines.count, max(scan.lastValid.map { $0 + 1 } ?? 0, acknowledged))
        let keptEnd = kept == 0 ? 0 : scan.lines[kept - 1].next
        let quarantine = Quarantine(layout: layout, fileSystem: fileSystem)

        var replacements: [RecoveryReport.Replacement] = []
        for position in 0..<kept where scan.lines[position].time == nil {
            let line = scan.lines[position]
            let reason = line.reason ?? "not a valid record"
            let quarantined = try quarantine.keep(
                Array(bytes[line.start..<line.end]), from: name, offset: line.start, reason: reason)
            replacements.append(
                .init(
                    segment: path, line: position + 1, offset: line.start, length: line.end - line.start, reason: reason,
                    quarantined: quarantined))
        }
        var cut: RecoveryReport.Cut?
        if keptEnd < bytes.count {
            let reason = Self.cutReason(first: scan.lines[kept], number: kept + 1, length: bytes.count - keptEnd)
            let quarantined = try quarantine.keep(Array(bytes[keptEnd...]), from: name, offset: keptEnd, reason: reason)
            cut = .init(segment: path, offset: keptEnd, length: bytes.count - keptEnd, reason: reason, quarantined: quarantined)
        }

        var size = keptEnd
        if !replacements.isEmpty {
            // The repaired segment: valid lines as they were, a tombstone for each damaged one.
            var repaired: [UInt8] = []
            repaired.reserveCapacity(keptEnd)
            var next = 0
            for replacement in replacements {
                let position = replacement.line - 1
                repaired += bytes[scan.lines[next].start..<scan.lines[position].start]
                repaired += tombstone(
                    at: replacement.offset, length: replacement.length, time: scan.nearestTime(to: position),
                    quarantined: replacement.quarantined)
                next = position + 1
            }
            if next < kept { repaired += bytes[scan.lines[next].start..<keptEnd] }
            try fileSystem.writeFileAtomically(path, bytes: repaired)
            size = repaired.count
        } else if cut != nil {
            try fileSystem.ftruncate(file.fd, to: keptEnd, path: path)
            try fileSystem.fsync(file.fd, path: path)
        }
        report.replaced += replacements
        if let cut { report.cuts.append(cut) }
        return (UInt64(kept), size)
    }

    /// Why the lines from `first` (line `number`, from 1) on, `length`
    /// bytes, are cut.
    private static func cutReason(first: Scan.Line, number: Int, length: Int) -> String {
        first.next > first.end
            ? "line \(number) is not a valid record, nor any line after it: \(first.reason ?? "")"
            : "unfinished last line of \(length) bytes (no newline)"
    }

    /// ``recoverActiveSegment(at:acknowledged:checked:report:)`` reading
    /// only what follows `checked`: cuts a torn tail there; nil when a line
    /// there must be replaced instead (a damaged line with a valid or an
    /// acknowledged one after it).
    private func recoverTail(
        of file: OpenFile, after checked: (bytes: Int, lines: Int), acknowledged: Int, report: inout RecoveryReport
    ) throws(StoaError) -> (count: UInt64, size: Int)? {
        let size = try file.size
        guard checked.bytes <= size else { return nil }
        let tail = try file.read(fromAbsoluteOffset: checked.bytes, count: size - checked.bytes)
        let scan = tail.withUnsafeBufferPointer { scanLines($0) }
        let kept = min(scan.lines.count, max(scan.lastValid.map { $0 + 1 } ?? 0, acknowledged - checked.lines))
        guard scan.lines[..<kept].allSatisfy({ $0.time != nil }) else { return nil }
        let keptEnd = kept == 0 ? 0 : scan.lines[kept - 1].next
        if keptEnd < tail.count {
            let path = file.path
            let offset = checked.bytes + keptEnd
            let reason = Self.cutReason(first: scan.lines[kept], number: checked.lines + kept + 1, length: tail.count - keptEnd)
            let quarantined = try Quarantine(layout: layout, fileSystem: fileSystem).keep(
                Array(tail[keptEnd...]), from: Path.lastComponent(of: path), offset: offset, reason: reason)
            try fileSystem.ftruncate(file.fd, to: offset, path: path)
            try fileSystem.fsync(file.fd, path: path)
            report.cuts.append(
                .init(segment: path, offset: offset, length: tail.count - keptEnd, reason: reason, quarantined: quarantined))
        }
        return (UInt64(checked.lines + kept), checked.bytes + keptEnd)
    }

    /// The lines of a segment: where each starts and ends, its time if it
    /// is a valid record, else why not. The last may lack its newline.
    private struct Scan {
        struct Line {
            var start: Int
            /// Where its newline is (the end of the bytes for an unfinished line).
            var end: Int
            /// Where the next line starts.
            var next: Int
            var time: Int64?
            var reason: String?
        }
        var lines: [Line] = []
        /// The last line that is a valid record.
        var lastValid: Int?

        /// The time of the nearest valid line before `position`, else after
        /// it, else (no valid line at all) the time now.
        func nearestTime(to position: Int) -> Int64 {
            if let before = lines[..<position].last(where: { $0.time != nil }) { return before.time! }
            return lines[(position + 1)...].first(where: { $0.time != nil })?.time ?? Syscalls.realtimeMicroseconds()
        }
    }

    private func scanLines(_ all: UnsafeBufferPointer<UInt8>) -> Scan {
        var scan = Scan()
        var start = 0
        while start < all.count {
            guard let newline = SegmentContents.firstNewline(in: all, from: start) else {
                scan.lines.append(
                    .init(start: start, end: all.count, next: all.count, reason: "unfinished line of \(all.count - start) bytes (no newline)"))
                break
            }
            var line = Scan.Line(start: start, end: newline, next: newline + 1)
            do throws(StoaError) {
                line.time = try encoder.facts(ofLine: UnsafeBufferPointer(rebasing: all[start..<newline])).time
                scan.lastValid = scan.lines.count
            } catch {
                line.reason = error.offset.map { "at byte \($0) of the line: \(error.message)" } ?? error.message
            }
            scan.lines.append(line)
            start = newline + 1
        }
        return scan
    }

    /// The line that takes a damaged line's place, ending in a newline:
    ///
    /// ```
    /// {"ts":"<time>","type":"stoa.damaged","quarantine":"quarantine/<file>","offset":N,"length":L}
    /// ```
    ///
    /// - `ts` (the store's first time field): the time of the nearest valid
    ///   line before it, else after it, so that it sorts where the damaged
    ///   record most likely was;
    /// - `type` (the store's first type field): `stoa.damaged`;
    /// - `quarantine`: the file holding the damaged line's bytes (with a
    ///   note beside it, `<file>.json`), relative to the store;
    /// - `offset`, `length`: where the damaged line was in the segment as
    ///   recovery found it, without its newline.
    ///
    /// It is a valid record, indexed and served like any other: a query for
    /// `--type stoa.damaged` lists what recovery replaced.
    func tombstone(at offset: Int, length: Int, time: Int64, quarantined: String) -> [UInt8] {
        var line: [UInt8] = [UInt8(ascii: "{")]
        JSONString.appendQuoted(encoder.fields.insertedTimeName, to: &line)
        line += Array(":\"".utf8)
        RecordTime.append(time, to: &line)
        line += Array("\",".utf8)
        JSONString.appendQuoted(encoder.fields.type.first ?? "type", to: &line)
        line += Array(":\"stoa.damaged\",\"quarantine\":".utf8)
        JSONString.appendQuoted("quarantine/" + Path.lastComponent(of: quarantined), to: &line)
        line += Array(",\"offset\":\(offset),\"length\":\(length)}\n".utf8)
        return line
    }
}

/// The `quarantine/` folder: bytes recovery took out of a segment, each
/// file with a note beside it (`<file>.json`: source, offset, length,
/// reason, time).
///
/// A file is named `<segment file>.<offset>.bad`, or `<segment
/// file>.<offset>.<n>.bad` (n = 2, 3, …) when that name was used before:
/// a quarantine file is never overwritten. Bytes already kept from the same
/// segment at the same offset (a recovery repeated after a crash) are not
/// written again: their file is reused.
struct Quarantine {
    let layout: StoreLayout
    let fileSystem: any FileSystem

    /// Whether Stoa gives a file in `quarantine/` the name `name`.
    static func isOwnName(_ name: String) -> Bool {
        guard name.hasSuffix(".bad") || name.hasSuffix(".bad.json"), let dot = name.firstIndex(of: ".") else { return false }
        let segment = name[..<dot] + ".jsonl"
        return name.hasPrefix(segment + ".") && SegmentName(fileName: String(segment)) != nil
    }

    /// Keeps `bytes`, cut from the segment file `segment` at `offset`, and
    /// a note; returns the path of the file holding them.
    func keep(_ bytes: [UInt8], from segment: String, offset: Int, reason: String) throws(StoaError) -> String {
        try fileSystem.makeDirectory(layout.quarantine)
        var number = 1
        var path: String
        while true {
            path = Path.join(layout.quarantine, "\(segment).\(offset)" + (number == 1 ? "" : ".\(number)") + ".bad")
            let info = try FileReads.fileSystem.linkStatus(path)
            if info == nil, try FileReads.fileSystem.linkStatus(path + ".json") == nil { break }
            // The same bytes, kept by a recovery that a crash stopped before it changed the segment.
            if let info, info.st_mode & S_IFMT == S_IFREG, Int(info.st_size) == bytes.count,
                (try? OpenFile(readingAt: path, followingLinks: false).readAll()) == bytes
            {
                if try FileReads.fileSystem.linkStatus(path + ".json") == nil {
                    try writeNote(for: path, segment: segment, offset: offset, length: bytes.count, reason: reason)
                }
                return path
            }
            number += 1
        }
        // Bytes first, then the note: a note never names bytes that are not there.
        try fileSystem.writeFileAtomically(path, bytes: bytes)
        try writeNote(for: path, segment: segment, offset: offset, length: bytes.count, reason: reason)
        return path
    }

    private func writeNote(for path: String, segment: String, offset: Int, length: Int, reason: String) throws(StoaError) {
        var note: [UInt8] = Array("{\"source\":".utf8)
        JSONString.appendQuoted("segments/" + segment, to: &note)
        note += Array(",\"offset\":\(offset),\"length\":\(length),\"reason\":".utf8)
        JSONString.appendQuoted(reason, to: &note)
        note += Array(",\"quarantined_at\":\"".utf8)
        RecordTime.append(Syscalls.realtimeMicroseconds(), to: &note)
        note += Array("\"}\n".utf8)
        try fileSystem.writeFileAtomically(path + ".json", bytes: note)
    }
}
