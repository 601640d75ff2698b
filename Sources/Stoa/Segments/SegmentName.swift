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

/// The layout of a store directory.
struct StoreLayout: Sendable {
    let root: String
    var configuration: String { Path.join(root, "stoa.json") }
    var segments: String { Path.join(root, "segments") }
    var quarantine: String { Path.join(root, "quarantine") }
    var archive: String { Path.join(root, "archive") }

    func path(of segment: SegmentName) -> String { Path.join(segments, segment.fileName) }

    /// The segment files (plain and gzip) present now, by base seq.
    func listSegments() throws(StoaError) -> [SegmentName] {
        let names = try Syscalls.listDirectory(segments) ?? []
        return names.compactMap(SegmentName.init(fileName:)).filter { $0.kind != .index }.sorted()
    }
}
