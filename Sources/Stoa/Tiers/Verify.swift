import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// What `stoa verify` found.
public struct VerifyReport: Sendable {
    /// One thing wrong, and where.
    public struct Problem: Sendable, CustomStringConvertible {
        /// The file concerned.
        public var path: String
        /// The 1-based line in the file (plain text, after inflating a warm segment), if known.
        public var line: Int?
        /// The byte offset in the file, if known.
        public var offset: Int?
        /// What is wrong, in a sentence.
        public var message: String

        public var description: String {
            var place = path
            if let line { place += ":line \(line)" }
            if let offset { place += ":offset \(offset)" }
            return "\(place): \(message)"
        }
    }

    /// Damage: anything that is not as the format says (§5). Empty when the store is sound.
    public var problems: [Problem] = []
    /// Things worth knowing that are not damage (an unfinished last line of
    /// the active segment, which a live writer may be completing).
    public var notes: [Problem] = []
    /// Segment files read, every tier.
    public var segments = 0
    /// Lines read that are valid records.
    public var records = 0
    /// Plain (uncompressed) bytes read.
    public var bytes: Int64 = 0

    /// No problems (notes are not damage).
    public var isClean: Bool { problems.isEmpty }
}

extension StoreReader {
    /// Reads every byte of the store and checks it; changes nothing.
    ///
    /// Checks that every line is a valid record (strictly: RFC 8259, UTF-8,
    /// a readable time), every gzip member inflates with a right CRC-32 and
    /// size, every `.idx` matches its segment (size, SHA-256, the index a
    /// fresh read builds), seqs run on from segment to segment, and the
    /// chain of digests is unbroken — so a sealed segment that was removed,
    /// reordered or edited is found.
    ///
    /// Segments are checked on as many threads as there are cores (at most
    /// four); the report is the same, in the same order, as one thread's.
    ///
    /// - Complexity: reads the whole store once.
    public func verify() throws(StoaError) -> VerifyReport {
        try verify(threads: Self.verifyThreads)
    }

    static var verifyThreads: Int { max(1, min(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))) }

    /// ``verify()`` on `threads` threads.
    func verify(threads: Int) throws(StoaError) -> VerifyReport {
        var report = VerifyReport()
        // The mark before the listing: every segment it covers was there
        // before it was written, so the listing finds them (or their later forms).
        let mark: HighWaterMark?
        do {
            mark = try HighWaterMark.load(layout)
        } catch {
            mark = nil
            report.problems.append(.init(path: error.path ?? layout.root, message: error.message))
        }
        let files = try layout.listAllSegments()
        let checks = checkSegments(files, threads: threads)

        // What needs the segment before: the seqs and the chain, in order.
        var marked: (chain: [UInt8]?, digest: [UInt8]?)?
        // Whether the chain walked is the one the mark was taken from: not
        // when it starts again from zeros where no segment before it was
        // checked, after seq 0 (the .idx files rebuilt once the oldest
        // segments expired, or after a segment that cannot be read).
        var anchored = true
        var previous: (file: SegmentFile, end: UInt64, chain: [UInt8]?)?
        for (file, result) in zip(files, checks) {
            report.segments += 1
            guard let check = try result.get() else { continue }  // gone since it was listed
            report.bytes += check.bytes
            report.records += check.records
            report.problems += check.problems
            report.notes += check.notes

            // Seqs run on from the segment before.
            if let previous, previous.end != file.base {
                let message =
                    previous.end < file.base
                    ? "seqs \(previous.end) to \(file.base - 1) are missing: a segment between \(previous.file.name.fileName) and this one was removed"
                    : "overlaps the segment before: \(previous.file.name.fileName) ends at seq \(previous.end - 1)"
                report.problems.append(.init(path: file.path, message: message))
            }

            // The .idx against the segment (checked with it), and the chain.
            report.problems += check.indexProblems
            var chain: [UInt8]?
            if let index = check.index {
                if let previousChain = previous?.chain, index.chain != SHA256.chain(previous: previousChain, digest: index.digest) {
                    report.problems.append(
                        .init(path: file.indexPath, message: "the chain of digests is broken here: a segment before it was removed, reordered or changed"))
                }
                chain = index.chain
                if file.base != 0, previous?.chain == nil, index.chain == SHA256.chain(previous: SHA256.zero, digest: index.digest) {
                    anchored = false
                }
            }
            report.notes += check.indexNotes
            if file.base == mark?.sealedBase { marked = (chain, check.index?.digest) }
            previous = (file, file.base + UInt64(check.lines), chain)
        }
        if let mark {
            var newest = marked
            if !anchored, let sealedBase = mark.sealedBase, marked?.chain != nil {
                // Only the segment's own digest can be compared.
                newest?.chain = nil
                report.notes.append(
                    .init(
                        path: HighWaterMark.path(in: layout),
                        message: "the chain of digests starts again at a segment after seq 0 (the .idx files were rebuilt after the "
                            + "oldest segments expired, or a segment before it cannot be read): it could not be checked back to "
                            + "this mark; the segment at seq \(sealedBase) is checked by its own digest"))
            }
            report.problems += checkHighWaterMark(mark, end: previous?.end ?? 0, newest: newest)
        }
        return report
    }

    /// What the high-water mark says is missing: seqs it covers that no
    /// segment holds, or a newest sealed segment other than the one sealed.
    ///
    /// - Parameter newest: the chain and digest the `.idx` of the segment at
    ///   the mark's `sealed_base` holds (a nil chain: not comparable).
    private func checkHighWaterMark(
        _ mark: HighWaterMark, end: UInt64, newest: (chain: [UInt8]?, digest: [UInt8]?)?
    ) -> [VerifyReport.Problem] {
        let path = HighWaterMark.path(in: layout)
        var problems: [VerifyReport.Problem] = []
        if end < mark.nextSeq {
            problems.append(
                .init(
                    path: path,
                    message: "seqs \(end) to \(mark.nextSeq - 1) are missing: they were acknowledged (this file records how far "
                        + "seqs went), and the newest segments holding them were removed or cut short"))
        }
        let replaced =
            if let chain = newest?.chain { chain.hexString != mark.chain } else if let digest = newest?.digest, let marked = mark.digest {
                digest.hexString != marked
            } else { false }
        if replaced, let sealedBase = mark.sealedBase {
            problems.append(
                .init(
                    path: path,
                    message: "the segment at seq \(sealedBase) is not the one that was sealed there (another chain digest): "
                        + "it was replaced"))
        }
        return problems
    }

    /// Checks each segment on its own (everything but what needs the segment
    /// before it), on up to `threads` threads. Each thread takes the next
    /// segment not yet taken and reuses one buffer for its bytes.
    ///
    /// - Returns: one result per file, in order: nil for a file gone since
    ///   it was listed, the error that stopped the check of a file.
    private func checkSegments(_ files: [SegmentFile], threads: Int) -> [Result<SegmentCheck?, StoaError>] {
        let results = Protected([Result<SegmentCheck?, StoaError>?](repeating: nil, count: files.count))
        let next = Protected(0)
        // The workers read through the caller's file system (a task-local
        // value, which threads do not inherit).
        let reads = FileReads.fileSystem
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, files.count))) { _ in
            FileReads.$fileSystem.withValue(reads) { checkSegments(files, into: results, next: next) }
        }
        return results.withLock { $0.map { $0! } }
    }

    /// One worker of ``checkSegments(_:threads:)``: checks the next file
    /// no worker took yet, until none is left.
    private func checkSegments(
        _ files: [SegmentFile], into results: Protected<[Result<SegmentCheck?, StoaError>?]>, next: Protected<Int>
    ) {
        let lastPosition = files.count - 1
        var buffer = SegmentBuffer()
        while true {
            let position = next.withLock { (next: inout Int) -> Int in
                defer { next += 1 }
                return next
            }
            guard position < files.count else { break }
            let file = files[position]
            let isActive = position == lastPosition && file.name.kind == .plain && !file.isCold
            let result = Result { () throws(StoaError) in try checkSegment(file, isActive: isActive, buffer: &buffer) }
            results.withLock { $0[position] = result }
        }
    }

    /// A segment found in two forms: a tier move that a crash (or a killed
    /// `stoa tier`) stopped before it removed the old form. Nothing is
    /// damaged: the new form was whole before it got its name, and opening
    /// the store for writing finishes the move.
    private struct UnfinishedMove: CustomStringConvertible {
        var newForm: String
        var what: String
        var description: String {
            "an unfinished tier move (stopped before its last step): the segment is also \(what) at \(newForm); "
                + "nothing is lost, and opening the store for writing (stoa append, stoa tier) finishes the move"
        }
    }

    private func unfinishedMove(of file: SegmentFile) -> UnfinishedMove? {
        guard !file.isCold else { return nil }
        let cold = SegmentFile(name: SegmentName(base: file.base, kind: .gzip), directory: layout.archive, isCold: true)
        if file.name.kind == .plain {
            let warm = SegmentFile(name: SegmentName(base: file.base, kind: .gzip), directory: file.directory, isCold: false)
            if (try? FileReads.fileSystem.status(warm.path)) != nil { return UnfinishedMove(newForm: warm.path, what: "compressed (warm)") }
        }
        if (try? FileReads.fileSystem.status(cold.path)) != nil { return UnfinishedMove(newForm: cold.path, what: "archived (cold)") }
        return nil
    }

    /// Checks one segment: its gzip members, every line, and its `.idx`
    /// against what the lines give.
    private func checkSegment(_ file: SegmentFile, isActive: Bool, buffer: inout SegmentBuffer) throws(StoaError) -> SegmentCheck? {
        guard let info = try FileReads.fileSystem.status(file.path) else { return nil }
        var check = SegmentCheck()

        // The plain bytes.
        if file.name.kind == .gzip {
            let mapped = try MappedFile(path: file.path)
            var offset = 0
            buffer.plain.removeAll(keepingCapacity: true)
            while offset < mapped.count {
                do throws(StoaError) {
                    offset = try mapped.withUnsafeBytes { (all) throws(StoaError) in
                        try Gzip.inflateMember(all, at: offset, into: &buffer.plain, path: file.path)
                    }
                } catch {
                    check.problems.append(.init(path: file.path, offset: offset, message: error.message + "; the members after it are not read"))
                    break
                }
            }
            buffer.plain.withUnsafeBufferPointer { check.scan($0, file: file, isActive: isActive, encoder: encoder) }
        } else if isActive {
            // The whole file as it is now (read, not mapped: a writer may cut the active segment back).
            let open = try OpenFile(readingAt: file.path)
            let size = try open.size
            let bytes = try buffer.read(size) { (into) throws(StoaError) in try open.read(fromAbsoluteOffset: 0, into: into) }
            check.scan(bytes, file: file, isActive: isActive, encoder: encoder)
        } else {
            // A sealed segment cannot shrink: mapped, its pages are read where they are.
            try MappedFile(path: file.path).withUnsafeBytes { check.scan($0, file: file, isActive: isActive, encoder: encoder) }
        }

        // The .idx against the segment.
        let move = unfinishedMove(of: file)
        if let move { check.notes.append(.init(path: file.path, message: move.description)) }
        if !isActive {
            // After a move stopped between writing the new form's .idx and
            // removing the old form, the .idx describes the new form.
            let index =
                IndexFile.load(file.indexPath, base: file.base, fileSize: Int(info.st_size))
                ?? move.flatMap { move in
                    (try? FileReads.fileSystem.status(move.newForm)).flatMap {
                        IndexFile.load(file.indexPath, base: file.base, fileSize: Int($0.st_size))
                    }
                }
            if let index {
                if index.digest != check.digest {
                    check.indexProblems.append(
                        .init(path: file.path, message: "its SHA-256 is not the one recorded when it was sealed: the segment was changed"))
                    // The lines a query names: those not as the .idx describes them.
                    let changed = try withPlainBytes(of: file, buffer: buffer) { BlockChecks.changedLines(in: $0, index: index.index) }
                    let reported = Set(check.problems.compactMap { $0.path == file.path ? $0.line : nil })
                    for (ordinal, reason) in changed where !reported.contains(Int(ordinal) + 1) {
                        check.indexProblems.append(.init(path: file.path, line: Int(ordinal) + 1, message: reason))
                    }
                } else if index.index != check.builder.snapshot().withMembers(of: index.index) {
                    check.indexProblems.append(.init(path: file.indexPath, message: "the index does not match the segment (run stoa reindex)"))
                }
                check.index = (index.digest, index.chain)
            } else if try FileReads.fileSystem.status(file.indexPath) != nil {
                // Not loaded: unreadable (an I/O error, not damage: say which), damaged or another file's.
                let unreadable: StoaError?
                do throws(StoaError) {
                    // As a reader loads it (mapped), then every byte.
                    let probe = try OpenFile(readingAt: file.indexPath)
                    _ = try MappedFile(probe, count: try probe.size)
                    _ = try probe.readAll()
                    unreadable = nil
                } catch {
                    unreadable = error
                }
                let message = unreadable.map { "the .idx cannot be read: \($0.message)" }
                    ?? "the .idx is damaged or belongs to another file (run stoa reindex)"
                check.indexProblems.append(.init(path: file.indexPath, message: message))
            } else {
                check.indexNotes.append(.init(path: file.path, message: "no .idx (the writer writes it in the background; stoa reindex does it now)"))
            }
        }
        check.builder = SegmentIndexBuilder(base: 0)  // only the comparison above needs it
        return check
    }
}

/// Calls `body` with the plain bytes of sealed segment `file`: inflated
/// already in `buffer` for a compressed one, mapped for a plain one.
private func withPlainBytes<R>(
    of file: SegmentFile, buffer: borrowing SegmentBuffer, _ body: (UnsafeBufferPointer<UInt8>) -> R
) throws(StoaError) -> R {
    if file.name.kind == .gzip { return buffer.plain.withUnsafeBufferPointer(body) }
    return try MappedFile(path: file.path).withUnsafeBytes(body)
}

/// What checking one segment found, apart from what needs the segment
/// before it (the seqs, the chain of digests).
private struct SegmentCheck {
    /// Damaged gzip members and lines, and an unfinished last line, in order.
    var problems: [VerifyReport.Problem] = []
    /// An unfinished last line of the active segment.
    var notes: [VerifyReport.Problem] = []
    var lines = 0
    var records = 0
    var bytes: Int64 = 0
    /// The SHA-256 of the plain bytes (not of the active segment).
    var digest: [UInt8] = []
    var builder = SegmentIndexBuilder(base: 0)
    /// The `.idx` against the segment: a wrong digest or index, a damaged file.
    var indexProblems: [VerifyReport.Problem] = []
    /// No `.idx` yet.
    var indexNotes: [VerifyReport.Problem] = []
    /// The digests the `.idx` records, for the chain.
    var index: (digest: [UInt8], chain: [UInt8])?

    /// Checks every line of `plain` strictly and indexes it; hashes the
    /// bytes of a sealed segment.
    mutating func scan(_ plain: UnsafeBufferPointer<UInt8>, file: SegmentFile, isActive: Bool, encoder: RecordEncoder) {
        bytes = Int64(plain.count)
        if !isActive { digest = SHA256.hash(plain) }
        builder = SegmentIndexBuilder(base: file.base)
        var start = 0
        while start < plain.count {
            guard let newline = SegmentContents.firstNewline(in: plain, from: start) else {
                let problem = VerifyReport.Problem(
                    path: file.path, line: lines + 1, offset: start,
                    message: "unfinished last line of \(plain.count - start) bytes (no newline)")
                if isActive {
                    notes.append(problem)  // a live writer may be mid-append; recovery cuts it otherwise
                } else {
                    problems.append(problem)
                }
                break
            }
            let line = UnsafeBufferPointer(rebasing: plain[start..<newline])
            do throws(StoaError) {
                let facts = try encoder.facts(ofLine: line)
                builder.add(
                    line: UnsafeBufferPointer(rebasing: plain[start...newline]), time: facts.time,
                    type: facts.type(in: line), conversation: facts.conversation(in: line))
                records += 1
            } catch {
                builder.addDamaged(line: UnsafeBufferPointer(rebasing: plain[start...newline]), reason: error.message)
                problems.append(
                    .init(path: file.path, line: lines + 1, offset: start + (error.offset ?? 0), message: error.message))
            }
            lines += 1
            start = newline + 1
        }
    }
}

/// A thread's buffers for the segments it checks, kept from one segment to
/// the next so that their pages are not allocated and faulted in again.
private struct SegmentBuffer: ~Copyable {
    /// The active segment's bytes.
    private var storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    /// A compressed segment's bytes, inflated.
    var plain: [UInt8] = []

    /// Fills the buffer with `count` bytes from `read` (which may give
    /// fewer, at the end of a file) and returns what it gave. Valid until
    /// the next call.
    mutating func read(
        _ count: Int, _ read: (UnsafeMutableRawBufferPointer) throws(StoaError) -> Int
    ) throws(StoaError) -> UnsafeBufferPointer<UInt8> {
        if storage.count < count {
            storage.deallocate()
            storage = .allocate(byteCount: max(count, storage.count * 2), alignment: 16)
        }
        let got = count == 0 ? 0 : try read(UnsafeMutableRawBufferPointer(rebasing: storage[..<count]))
        return UnsafeBufferPointer(start: storage.baseAddress?.assumingMemoryBound(to: UInt8.self), count: got)
    }

    deinit { storage.deallocate() }
}

extension SegmentIndex {
    /// This index with the gzip member fields of `other`'s blocks, so that
    /// an index built from plain bytes compares with a warm segment's.
    func withMembers(of other: SegmentIndex) -> SegmentIndex {
        guard blocks.count == other.blocks.count else { return self }
        var copy = self
        for position in blocks.indices {
            copy.blocks[position].memberOffset = other.blocks[position].memberOffset
            copy.blocks[position].memberLength = other.blocks[position].memberLength
            copy.blocks[position].memberStart = other.blocks[position].memberStart
        }
        return copy
    }
}
