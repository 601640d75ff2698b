/// The files of the `segments/` directory, named by their base seq (§2).
struct SegmentName: Hashable, Comparable, Sendable {
    enum Kind: Sendable { case plain, gzip, index }

    let base: UInt64
    let kind: Kind

    static let digits = 20

    var fileName: String {
        let number = String(base)
        let padded = String(repeating: "0", count: Self.digits - number.count) + number
        switch kind {
        case .plain: return padded + ".jsonl"
        case .gzip: return padded + ".jsonl.gz"
        case .index: return padded + ".idx"
        }
    }

    init(base: UInt64, kind: Kind) {
        self.base = base
        self.kind = kind
    }

    /// Reads a file name; nil for anything that is not a segment or index file.
    init?(fileName: String) {
        let utf8 = Array(fileName.utf8)
        guard utf8.count > Self.digits, utf8[..<Self.digits].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let base = UInt64(String(decoding: utf8[..<Self.digits], as: UTF8.self))
        else { return nil }
        switch String(decoding: utf8[Self.digits...], as: UTF8.self) {
        case ".jsonl": kind = .plain
        case ".jsonl.gz": kind = .gzip
        case ".idx": kind = .index
        default: return nil
        }
        self.base = base
    }

    static func < (a: SegmentName, b: SegmentName) -> Bool {
        (a.base, a.kind.order) < (b.base, b.kind.order)
    }
}

private extension SegmentName.Kind {
    var order: Int {
        switch self {
        case .plain: 0
        case .gzip: 1
        case .index: 2
        }
    }
}

/// A segment file found on disk: which segment, in what form, where.
struct SegmentFile: Sendable, Equatable {
    var name: SegmentName
    /// The directory holding it: `segments/`, or the archive (cold).
    var directory: String
    var isCold: Bool

    var path: String { Path.join(directory, name.fileName) }
    var indexPath: String { Path.join(directory, SegmentName(base: name.base, kind: .index).fileName) }
    var base: UInt64 { name.base }
}

/// The layout of a store directory.
package struct StoreLayout: Sendable {
    let root: String
    /// Where cold segments go: `archive_path`, or `archive/` in the store.
    let archive: String
    /// Whether the archive is the store's own `archive/` (no `archive_path`).
    let archiveIsInside: Bool

    package init(root: String, archivePath: String? = nil) {
        self.root = root
        self.archiveIsInside = archivePath == nil
        self.archive = archivePath.map { $0.hasPrefix("/") ? $0 : Path.join(root, $0) } ?? Path.join(root, "archive")
    }

    /// The name of the high-water mark's file at the root (``HighWaterMark``).
    static let highWaterMarkName = "HIGHWATER"

    var configuration: String { Path.join(root, "stoa.json") }
    var segments: String { Path.join(root, "segments") }
    var quarantine: String { Path.join(root, "quarantine") }

    func path(of segment: SegmentName) -> String { Path.join(segments, segment.fileName) }

    /// The segment files (plain and gzip) in `segments/` now, by base seq.
    func listSegments() throws(StoaError) -> [SegmentName] {
        let names = try FileReads.fileSystem.listDirectory(segments) ?? []
        return names.compactMap(SegmentName.init(fileName:)).filter { $0.kind != .index }.sorted()
    }

    /// Every segment, once, by base seq: hot and warm ones in `segments/`,
    /// cold ones in the archive. A segment caught in the middle of a move
    /// (in two forms or two places) is listed in the form the move started
    /// from, which is whole until the move's last step removes it.
    ///
    /// `segments/` is read before the archive: a move to the archive links
    /// the segment there before it unlinks it from `segments/`, so one that
    /// moves between the two reads is in one of them (read the other way
    /// round, it could be in neither, and a backup would leave it out).
    func listAllSegments() throws(StoaError) -> [SegmentFile] {
        let hot = try listSegments()
        return chooseForms(hot: hot, cold: Self.coldNames(try FileReads.fileSystem.listDirectory(archive) ?? []))
    }

    /// The gzip segments among the names of the archive's files.
    static func coldNames(_ names: [String]) -> [SegmentName] {
        names.compactMap(SegmentName.init(fileName:)).filter { $0.kind == .gzip }
    }

    /// ``listAllSegments()``, with the archive's gzip segments given (as
    /// ``coldNames(_:)`` finds them), not listed.
    func listAllSegments(cold: [SegmentName]) throws(StoaError) -> [SegmentFile] {
        chooseForms(hot: try listSegments(), cold: cold)
    }

    /// Each segment once, from `segments/`'s segments and the archive's.
    private func chooseForms(hot: [SegmentName], cold: [SegmentName]) -> [SegmentFile] {
        var chosen: [UInt64: SegmentFile] = [:]
        for name in hot {
            // Sorted plain before gzip: a plain file wins over its gzip copy.
            if chosen[name.base] == nil {
                chosen[name.base] = SegmentFile(name: name, directory: segments, isCold: false)
            }
        }
        for name in cold where chosen[name.base] == nil {
            chosen[name.base] = SegmentFile(name: name, directory: archive, isCold: true)
        }
        return chosen.values.sorted { $0.name.base < $1.name.base }
    }
}
