/// What `stoa verify` found.
public struct VerifyReport: Sendable {
    /// One thing wrong, and where.
    public struct Problem: Sendable, CustomStringConvertible {
        public var path: String
        public var line: Int?
        public var offset: Int?
        public var message: String

        public var description: String {
            var place = path
            if let line { place += ":line \(line)" }
            if let offset { place += ":offset \(offset)" }
            return "\(place): \(message)"
        }
    }

    public var problems: [Problem] = []
    /// Things worth knowing that are not damage (an unfinished last line of
    /// the active segment, which a live writer may be completing).
    public var notes: [Problem] = []
    public var segments = 0
    public var records = 0
    /// Plain (uncompressed) bytes read.
    public var bytes: Int64 = 0

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
    /// - Complexity: reads the whole store once.
    public func verify() throws(StoaError) -> VerifyReport {
        var report = VerifyReport()
        let files = try layout.listAllSegments()
        var previous: (file: SegmentFile, end: UInt64, chain: [UInt8]?)?
        for (position, file) in files.enumerated() {
            report.segments += 1
            let isActive = position == files.count - 1 && file.name.kind == .plain && !file.isCold
            guard let info = try Syscalls.status(file.path) else { continue }

            // The plain bytes, and each line checked strictly.
            var plain: [UInt8]
            if file.name.kind == .gzip {
                plain = []
                let mapped = try MappedFile(path: file.path)
                var offset = 0
                while offset < mapped.count {
                    do throws(StoaError) {
                        offset = try mapped.withUnsafeBytes { (all) throws(StoaError) in
                            try Gzip.inflateMember(all, at: offset, into: &plain, path: file.path)
                        }
                    } catch {
                        report.problems.append(.init(path: file.path, offset: offset, message: error.message + "; the members after it are not read"))
                        break
                    }
                }
            } else {
                plain = try OpenFile(readingAt: file.path).readAll()
            }
            report.bytes += Int64(plain.count)
            var lines = 0
            var builder = SegmentIndexBuilder(base: file.base)
            plain.withUnsafeBufferPointer { all in
                var start = 0
                while start < all.count {
                    guard let newline = SegmentContents.firstNewline(in: all, from: start) else {
                        let problem = VerifyReport.Problem(
                            path: file.path, line: lines + 1, offset: start,
                            message: "unfinished last line of \(all.count - start) bytes (no newline)")
                        if isActive {
                            report.notes.append(problem)  // a live writer may be mid-append; recovery cuts it otherwise
                        } else {
                            report.problems.append(problem)
                        }
                        break
                    }
                    let line = UnsafeBufferPointer(rebasing: all[start..<newline])
                    do throws(StoaError) {
                        let facts = try encoder.facts(ofLine: line)
                        builder.add(
                            length: newline + 1 - start, time: facts.time, type: facts.type(in: line),
                            conversation: facts.conversation(in: line))
                        report.records += 1
                    } catch {
                        builder.addDamaged(length: newline + 1 - start, reason: error.message)
                        report.problems.append(
                            .init(path: file.path, line: lines + 1, offset: start + (error.offset ?? 0), message: error.message))
                    }
                    lines += 1
                    start = newline + 1
                }
            }

            // Seqs run on from the segment before.
            if let previous, previous.end != file.base {
                let message =
                    previous.end < file.base
                    ? "seqs \(previous.end) to \(file.base - 1) are missing: a segment between \(previous.file.name.fileName) and this one was removed"
                    : "overlaps the segment before: \(previous.file.name.fileName) ends at seq \(previous.end - 1)"
                report.problems.append(.init(path: file.path, message: message))
            }

            // The .idx against the segment, and the chain.
            var chain: [UInt8]?
            if !isActive {
                let digest = plain.withUnsafeBufferPointer { SHA256.hash($0) }
                if let index = IndexFile.load(file.indexPath, base: file.base, fileSize: Int(info.st_size)) {
                    if index.digest != digest {
                        report.problems.append(
                            .init(path: file.path, message: "its SHA-256 is not the one recorded when it was sealed: the segment was changed"))
                    } else if index.index != builder.snapshot().withMembers(of: index.index) {
                        report.problems.append(.init(path: file.indexPath, message: "the index does not match the segment (run stoa reindex)"))
                    }
                    if let previousChain = previous?.chain, index.chain != SHA256.chain(previous: previousChain, digest: index.digest) {
                        report.problems.append(
                            .init(path: file.indexPath, message: "the chain of digests is broken here: a segment before it was removed, reordered or changed"))
                    }
                    chain = index.chain
                } else if try Syscalls.status(file.indexPath) != nil {
                    report.problems.append(.init(path: file.indexPath, message: "the .idx is damaged or belongs to another file (run stoa reindex)"))
                } else {
                    report.notes.append(.init(path: file.path, message: "no .idx (the writer writes it in the background; stoa reindex does it now)"))
                }
            }
            previous = (file, file.base + UInt64(lines), chain)
        }
        return report
    }
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
