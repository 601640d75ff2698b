#if canImport(Glibc)
import Glibc
#endif

/// What one pass of the tier and retention policy did.
public struct TierReport: Sendable, Equatable {
    /// Segments compressed (hot → warm), by file name.
    public var warmed: [String] = []
    /// Segments moved to the archive (warm → cold).
    public var cooled: [String] = []
    /// Segments deleted, each with why (age, size, free space).
    public var expired: [(name: String, reason: String)] = []
    /// Segments left as they were because something is wrong with them.
    public var skipped: [(name: String, reason: String)] = []

    /// Nothing was moved, deleted or skipped.
    public var isEmpty: Bool { warmed.isEmpty && cooled.isEmpty && expired.isEmpty && skipped.isEmpty }

    package var lines: [String] {
        warmed.map { "warm: compressed \($0)" } + cooled.map { "cold: archived \($0)" }
            + expired.map { "expired \($0.name): \($0.reason)" } + skipped.map { "skipped \($0.name): \($0.reason)" }
    }

    public static func == (a: TierReport, b: TierReport) -> Bool {
        a.lines == b.lines
    }
}

/// Moves sealed segments through the tiers (§6): hot `.jsonl` → warm
/// `.jsonl.gz` (independent gzip members, each ending on a record boundary)
/// → cold (the gzip file in the archive) → deleted.
///
/// Every move is crash-safe: the new form is written as `*.tmp`, synced,
/// renamed into place and its directory synced before the old form is
/// removed. A crash leaves the old form whole (maybe beside the new one,
/// which opening finishes), never neither; readers holding the old file keep
/// reading it.
struct Tiering: Sendable {
    let layout: StoreLayout
    let encoder: RecordEncoder
    let fileSystem: any FileSystem
    let configuration: StoreConfiguration
    /// What earlier passes learnt of the sealed files, shared with the indexer.
    var facts = SealedSegmentFacts()

    /// Applies the policy to the segments below `activeBase` as of `now` (µs).
    func apply(now: Int64, activeBase: UInt64) throws(StoaError) -> TierReport {
        var report = TierReport()
        // The policy's spans in µs, as ages are counted here.
        let hotFor = configuration.hotFor?.saturatingMicroseconds
        let warmFor = configuration.warmFor?.saturatingMicroseconds
        let retainFor = configuration.retainFor?.saturatingMicroseconds
        var sealed: [(file: SegmentFile, index: IndexHeader?, sealedAt: Int64, size: Int64)] = []
        let files = try facts.listAllSegments(layout)
        facts.keepOnly(files)
        // Cold segments only ever expire: without a retention policy a pass
        // has nothing to do with them.
        let retains = retainFor != nil || configuration.maxBytes != nil || configuration.keepFree != nil
        for file in files where file.base < activeBase && (retains || !file.isCold) {
            guard let known = try facts.facts(of: file) else { continue }
            sealed.append((file, known.header, known.header?.sealedAt ?? known.modified, Int64(known.size)))
        }

        // Retention: by age, by total size, by free disk space; oldest first.
        var expire = Set<UInt64>()
        if let retainFor {
            for segment in sealed where RecordTime.span(from: segment.sealedAt, to: now) > retainFor {
                expire.insert(segment.file.base)
                report.expired.append((segment.file.name.fileName, "sealed \(Units.formatDuration(microseconds: RecordTime.span(from: segment.sealedAt, to: now))) ago, retain_for is \(Units.formatDuration(microseconds: retainFor))"))
            }
        }
        if let maxBytes = configuration.maxBytes {
            var total = sealed.reduce(0) { $0 + $1.size } + activeSize()
            for segment in sealed where total > maxBytes && !expire.contains(segment.file.base) {
                expire.insert(segment.file.base)
                total -= segment.size
                report.expired.append((segment.file.name.fileName, "the store is over max_bytes (\(Units.formatSize(maxBytes)))"))
            }
        }
        if let keepFree = configuration.keepFree {
            var free = try Syscalls.freeBytes(layout.segments)
            for segment in sealed where free < keepFree && !expire.contains(segment.file.base) {
                expire.insert(segment.file.base)
                free += segment.size
                report.expired.append((segment.file.name.fileName, "free disk space is under keep_free (\(Units.formatSize(keepFree)))"))
            }
        }
        for segment in sealed where expire.contains(segment.file.base) {
            try remove(segment.file)
        }

        // Tiers, for what remains.
        for segment in sealed where !expire.contains(segment.file.base) {
            let age = RecordTime.span(from: segment.sealedAt, to: now)
            let name = segment.file.name.fileName
            if segment.file.name.kind == .plain, let hotFor, age > hotFor {
                guard let header = segment.index, !header.isCompressed, header.plainBytes == UInt64(segment.size),
                    let index = IndexFile.load(segment.file.indexPath, base: segment.file.base, fileSize: Int(segment.size))
                else {
                    facts.forget(segment.file.path)  // looked up again by the next pass
                    report.skipped.append((name, "no valid .idx yet (it is written in the background; run stoa reindex if it stays missing)"))
                    continue
                }
                try makeWarm(segment.file, index: index)
                report.warmed.append(name)
                if let warmFor, age > RecordTime.adding(hotFor, warmFor) {
                    try makeCold(SegmentFile(name: SegmentName(base: segment.file.base, kind: .gzip), directory: layout.segments, isCold: false))
                    report.cooled.append(name + ".gz")
                }
            } else if segment.file.name.kind == .gzip, !segment.file.isCold, let hotFor,
                let warmFor, age > RecordTime.adding(hotFor, warmFor)
            {
                try makeCold(segment.file)
                report.cooled.append(name)
            }
        }
        return report
    }

    private func activeSize() -> Int64 {
        guard let names = try? layout.listSegments(), let last = names.last, last.kind == .plain,
            let info = try? FileReads.fileSystem.status(layout.path(of: last))
        else { return 0 }
        return Int64(info.st_size)
    }

    /// Compresses a sealed plain segment into `NNN.jsonl.gz`: members of
    /// whole index blocks, about `member_bytes` of plain bytes each.
    func makeWarm(_ file: SegmentFile, index: IndexFile) throws(StoaError) {
        let target = SegmentFile(name: SegmentName(base: file.base, kind: .gzip), directory: file.directory, isCold: false)
        let contents = try SegmentContents(path: file.path, sealed: true)
        var blocks = index.index.blocks
        var compressedSize = 0
        try fileSystem.writeFileAtomically(target.path) { (output, temporary) throws(StoaError) in
            try contents.withUnsafeBytes { (all) throws(StoaError) in
                var first = 0
                while first < blocks.count {
                    let start = Int(blocks[first].offset)
                    var length = Int(blocks[first].length)
                    var end = first + 1
                    while end < blocks.count && length + Int(blocks[end].length) <= Int(configuration.memberBytes) {
                        length += Int(blocks[end].length)
                        end += 1
                    }
                    let member = Gzip.member(
                        UnsafeBufferPointer(rebasing: all[start..<(start + length)]), level: Int32(configuration.compressionLevel))
                    try member.withUnsafeBufferPointer { (buffer) throws(StoaError) in
                        try fileSystem.writeAll(output, UnsafeRawBufferPointer(buffer), path: temporary)
                    }
                    for position in first..<end {
                        blocks[position].memberOffset = UInt64(compressedSize)
                        blocks[position].memberLength = UInt32(member.count)
                        blocks[position].memberStart = UInt64(start)
                    }
                    compressedSize += member.count
                    first = end
                }
            }
        }
        // The index now describes the gzip file; then the plain file goes.
        var warm = index
        warm.index.blocks = blocks
        warm.isCompressed = true
        warm.fileBytes = UInt64(compressedSize)
        try fileSystem.writeFileAtomically(target.indexPath, bytes: warm.encoded())
        facts.placed(target.path, size: compressedSize, modified: Syscalls.realtimeMicroseconds(), header: IndexHeader(warm))
        try fileSystem.unlink(file.path)
        facts.forget(file.path)
        try fileSystem.syncDirectory(file.directory)
    }

    /// Moves a warm segment (and its `.idx`) to the archive.
    func makeCold(_ file: SegmentFile) throws(StoaError) {
        try fileSystem.makeDirectory(layout.archive)
        let target = SegmentFile(name: file.name, directory: layout.archive, isCold: true)
        let known = try facts.facts(of: file)
        if try FileReads.fileSystem.status(file.indexPath) != nil {
            try fileSystem.placeCopy(of: file.indexPath, at: target.indexPath)
        }
        try fileSystem.placeCopy(of: file.path, at: target.path)
        facts.archiveChanged(layout, added: file.name)
        if let known { facts.placed(target.path, size: known.size, modified: known.modified, header: known.header) }
        try fileSystem.unlink(file.path)
        try fileSystem.unlink(file.indexPath)
        facts.forget(file.path)
        try fileSystem.syncDirectory(file.directory)
    }

    /// Deletes a segment, then its `.idx`: a crash between leaves the
    /// `.idx` alone (ignored), never the segment without its `.idx`, which
    /// would be indexed again with its chain of digests starting anew.
    func remove(_ file: SegmentFile) throws(StoaError) {
        try fileSystem.unlink(file.path)
        facts.forget(file.path)
        if file.isCold { facts.archiveChanged(layout, removed: file.name) }
        try fileSystem.syncDirectory(file.directory)
        try fileSystem.unlink(file.indexPath)
        try fileSystem.syncDirectory(file.directory)
    }

    /// Finishes moves a crash interrupted: a segment found both plain and
    /// gzip, or both in `segments/` and in the archive. The newer form was
    /// synced before it got its name, so it is whole: the older one goes.
    func finishInterruptedMoves(report: inout RecoveryReport) throws(StoaError) {
        let hot = try layout.listSegments()
        let cold = Set(
            (try FileReads.fileSystem.listDirectory(layout.archive) ?? []).compactMap(SegmentName.init(fileName:))
                .filter { $0.kind == .gzip }.map(\.base))
        let gzip = Set(hot.filter { $0.kind == .gzip }.map(\.base))
        for name in hot {
            let path = layout.path(of: name)
            if name.kind == .plain && (gzip.contains(name.base) || cold.contains(name.base)) {
                try fileSystem.unlink(path)
                report.finishedMoves.append(path)
            } else if name.kind == .gzip && cold.contains(name.base) {
                try fileSystem.unlink(path)
                try fileSystem.unlink(layout.path(of: SegmentName(base: name.base, kind: .index)))
                report.finishedMoves.append(path)
            }
        }
        if !report.finishedMoves.isEmpty { try fileSystem.syncDirectory(layout.segments) }
    }
}
