
/// A segment's bytes as queries read them: block by block, whether the
/// segment is plain or gzip members.
protocol SegmentBytes: AnyObject, Sendable {
    var path: String { get }
    /// The size of the file as stored.
    var fileSize: Int { get }
    /// Calls `body` with bytes that hold all of `block`, and the plain offset
    /// of the first of them. The bytes must not escape `body`.
    ///
    /// - Throws: `.damaged` when the bytes cannot be read back (a damaged
    ///   gzip member).
    func withBlock<R>(_ block: IndexBlock, _ body: (UnsafeBufferPointer<UInt8>, Int) -> R) throws(StoaError) -> R

    /// Bytes that hold all of `block`, as an array a query may keep while
    /// it hands out records pointing into them, and the plain offset of the
    /// first of them. By default a copy of what ``withBlock(_:_:)`` gives;
    /// the bytes themselves where they are an array already (an inflated
    /// member, a block read with `pread`).
    func bytes(holding block: IndexBlock) throws(StoaError) -> (bytes: [UInt8], base: Int)
}

extension SegmentBytes {
    func bytes(holding block: IndexBlock) throws(StoaError) -> (bytes: [UInt8], base: Int) {
        try withBlock(block) { (Array($0), $1) }
    }
}

extension SegmentContents: SegmentBytes {
    func withBlock<R>(_ block: IndexBlock, _ body: (UnsafeBufferPointer<UInt8>, Int) -> R) throws(StoaError) -> R {
        withUnsafeBytes { body($0, 0) }
    }
}

/// A warm or cold segment: gzip members, one or more blocks each. A block's
/// member is inflated when a query first needs it and kept in a small cache,
/// so a narrow query inflates one or two members, never the file.
final class GzipSegmentContents: SegmentBytes {
    let path: String
    let fileSize: Int
    private let file: MappedFile
    /// Inflated members by compressed offset, most recently used last.
    private let cache = Protected<[(offset: UInt64, bytes: [UInt8])]>([])
    /// How many members were inflated (cache misses), for tests and stats.
    let inflations = Protected(0)
    static let cachedMembers = 4

    init(path: String) throws(StoaError) {
        self.path = path
        self.file = try MappedFile(path: path)
        self.fileSize = file.count
    }

    func withBlock<R>(_ block: IndexBlock, _ body: (UnsafeBufferPointer<UInt8>, Int) -> R) throws(StoaError) -> R {
        let member = try inflate(block)
        return member.withUnsafeBufferPointer { body($0, Int(block.memberStart)) }
    }

    func bytes(holding block: IndexBlock) throws(StoaError) -> (bytes: [UInt8], base: Int) {
        (try inflate(block), Int(block.memberStart))
    }

    /// The plain bytes of the member holding `block`.
    func inflate(_ block: IndexBlock) throws(StoaError) -> [UInt8] {
        if let hit = cache.withLock({ cache -> [UInt8]? in
            guard let position = cache.firstIndex(where: { $0.offset == block.memberOffset }) else { return nil }
            let entry = cache.remove(at: position)
            cache.append(entry)
            return entry.bytes
        }) {
            return hit
        }
        let start = Int(block.memberOffset)
        let end = start + Int(block.memberLength)
        guard end <= fileSize else {
            throw StoaError(.damaged, "gzip member past the end of the file", path: path, offset: start)
        }
        var plain: [UInt8] = []
        try file.withUnsafeBytes { (all) throws(StoaError) in
            try Gzip.decompress(UnsafeBufferPointer(rebasing: all[start..<end]), into: &plain, path: path)
        }
        let member = plain
        inflations.withLock { $0 += 1 }
        cache.withLock { cache in
            cache.append((block.memberOffset, member))
            if cache.count > Self.cachedMembers { cache.removeFirst() }
        }
        return plain
    }

    /// Every plain byte of the segment, member after member.
    func inflateAll() throws(StoaError) -> [UInt8] {
        var plain: [UInt8] = []
        try file.withUnsafeBytes { (all) throws(StoaError) in
            try Gzip.decompress(all, into: &plain, path: path)
        }
        return plain
    }
}
