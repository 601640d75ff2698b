import Foundation

/// How far the store's seqs have gone: the file `HIGHWATER` at the store's root.
///
/// Segments say which seqs a store holds, but not which it held: with the
/// newest segments removed (or the active one cut short), what is left looks
/// like a whole, shorter store, and the next append would hand out the lost
/// seqs again. The mark remembers
///
/// - ``nextSeq``: the seq after the last record acknowledged as of the
///   writer's last seal or close, and
/// - the newest sealed segment: its base seq, end and chain digest,
///
/// so that a writer never hands out a seq below ``nextSeq`` (it starts its
/// active segment there, leaving the lost seqs as a gap that a backup's
/// segments can fill: segment names are seqs), recovery never cuts a line
/// below it (a damaged one becomes a tombstone), and `stoa verify` reports
/// seqs below it that no segment holds, and a newest sealed segment that is
/// not the one sealed.
///
/// One line of JSON, published atomically (a temporary file, fsync, rename,
/// fsync the directory), only ever forward: by the writer's background once
/// a sealed segment's `.idx` is written, and by `close()`:
///
/// ```
/// {"chain":"<64 hex digits>","digest":"<64 hex digits>","format":1,"next_seq":1634990,"sealed_base":812345,"sealed_next":1634911}
/// ```
///
/// Not covered: records appended since the last seal or close by a writer
/// that was killed, if its active segment is then removed too. Expiry removes
/// the oldest segments, which is not loss. A store without the file (made
/// before it existed) opens as before and gets one at its next seal or close.
struct HighWaterMark: Sendable, Equatable, Codable {
    static let fileName = StoreLayout.highWaterMarkName
    static let format = 1

    var format = Self.format
    /// The seq after the last record acknowledged as of the last seal or
    /// close: no seq below it is handed out again.
    var nextSeq: UInt64
    /// The newest sealed segment: its base seq, the seq after its last
    /// line, its chain digest (hex) as its `.idx` holds it.
    var sealedBase: UInt64?
    var sealedNext: UInt64?
    var chain: String?
    /// The newest sealed segment's own SHA-256 (hex): what `verify` checks
    /// it by when the chain cannot be walked back to the mark (the `.idx`
    /// files rebuilt after the oldest segments expired). Nil in a mark
    /// written before it was kept.
    var digest: String?

    enum CodingKeys: String, CodingKey {
        case format
        case nextSeq = "next_seq"
        case sealedBase = "sealed_base"
        case sealedNext = "sealed_next"
        case chain
        case digest
    }

    static func path(in layout: StoreLayout) -> String { Path.join(layout.root, fileName) }

    /// The store's mark; nil when it has none.
    ///
    /// - Throws: `.damaged` when the file is there but unreadable: it is
    ///   never guessed past, since it is what keeps seqs from being used twice.
    static func load(_ layout: StoreLayout) throws(StoaError) -> HighWaterMark? {
        let path = path(in: layout)
        guard try FileReads.fileSystem.linkStatus(path) != nil else { return nil }
        let bytes = try OpenFile(readingAt: path, followingLinks: false).readAll()
        guard let mark = try? JSONDecoder().decode(HighWaterMark.self, from: Data(bytes)), mark.format == Self.format,
            (mark.sealedBase == nil) == (mark.sealedNext == nil), mark.sealedNext ?? 0 <= mark.nextSeq
        else {
            throw StoaError(
                .damaged,
                "the high-water mark (how far seqs have gone) is unreadable; it keeps seqs from being handed out twice. "
                    + "If no segment was lost, remove the file: the writer writes it again at its next seal or close",
                path: path)
        }
        return mark
    }

    /// This mark and `other` (the one published), each part the further
    /// one. Of one segment, the one published first is kept: it is what
    /// was sealed, and an `.idx` written again later (of a replaced segment,
    /// or chained differently once the oldest segments expired) must not
    /// move it (`verify` compares them).
    func merged(with other: HighWaterMark?) -> HighWaterMark {
        guard let other else { return self }
        var merged = HighWaterMark(nextSeq: max(nextSeq, other.nextSeq))
        let keepsOther = other.sealedBase != nil && (sealedBase == nil || other.sealedBase! >= sealedBase!)
        let newest = keepsOther ? other : self
        (merged.sealedBase, merged.sealedNext, merged.chain, merged.digest) =
            (newest.sealedBase, newest.sealedNext, newest.chain, newest.digest)
        // A mark written before it kept the digest gets it.
        if merged.digest == nil, sealedBase == merged.sealedBase { merged.digest = digest }
        return merged
    }

    /// Publishes this mark merged with the store's, unless that changes nothing.
    func publish(_ layout: StoreLayout, fileSystem: any FileSystem) throws(StoaError) {
        let current = try Self.load(layout)
        let merged = merged(with: current)
        if merged == current { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain values cannot fail.
        let bytes = Array(try! encoder.encode(merged)) + [UInt8(ascii: "\n")]
        try fileSystem.writeFileAtomically(Self.path(in: layout), bytes: bytes)
    }

    /// The mark of the newest sealed segment below `activeBase` that has a
    /// valid `.idx`; nil when there is none.
    static func ofNewestSealed(_ layout: StoreLayout, below activeBase: UInt64) throws(StoaError) -> HighWaterMark? {
        for file in try layout.listAllSegments().reversed() where file.base < activeBase {
            guard let info = try FileReads.fileSystem.status(file.path),
                let index = IndexFile.load(file.indexPath, base: file.base, fileSize: Int(info.st_size))
            else { return nil }
            let end = file.base + UInt64(index.index.lineCount)
            return HighWaterMark(
                nextSeq: end, sealedBase: file.base, sealedNext: end, chain: index.chain.hexString, digest: index.digest.hexString)
        }
        return nil
    }

    /// Moves the store's mark forward to the newest sealed segment below
    /// `activeBase`, once that segment's `.idx` is written.
    static func advance(_ layout: StoreLayout, below activeBase: UInt64, fileSystem: any FileSystem) throws(StoaError) {
        try ofNewestSealed(layout, below: activeBase)?.publish(layout, fileSystem: fileSystem)
    }
}
