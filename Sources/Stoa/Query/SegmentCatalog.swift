#if canImport(Glibc)
import Glibc
#endif

/// What a new reader needs to know of every sealed segment before it
/// answers, in one small file: each segment's seqs, time span, types with
/// their counts, and damaged lines (a ``SegmentSummary``), keyed by the
/// identity of the segment file it was read from.
///
/// With it, a reader opens a store of a hundred segments with one read and
/// a `stat` per segment, and loads a segment's `.idx` only when a query
/// reaches it (see ``StoreReader``); without it, opening read every `.idx`
/// whole (tens of MB at 10M records).
///
/// The catalog is a cache, like a reader-built `.idx` (``ReaderIndexes``):
/// readers write it, when they had to read a sealed segment's summary from
/// its `.idx` or its bytes, at `segments/CATALOG` when they may write there,
/// else in the reader cache. An entry is taken only for the very file it
/// was read from (the same ``FileIdentity``): a
/// segment moved to another tier, rewritten, or restored is read again, and
/// the catalog written anew. A catalog that does not decode (torn, another
/// version, another store's) is ignored. Losing it costs one slow open.
///
/// Segments whose reading named damage beyond their damaged lines (a cut,
/// a change since sealing, an unreadable file) are never in it: a reader
/// reads those whole each time, and names the damage.
///
/// ```
/// "STOACAT\n"  u32 version  u32 count
/// count × entry: u64 base  u8 kind (0 plain, 1 gzip)  u8 cold
///                the segment file's identity (``FileIdentity``: u64 device,
///                u64 inode, i64 size, i64 mtime ns, i64 ctime ns)
///                u8 has index, and then the identity of the `.idx` read
///                u32 lines  i64 min time  i64 max time
///                u32 types × (string name, u64 count)
///                u32 damaged × (u32 line number, string reason)
///                u8 has conversations, and then u32 count  u32 n  [n] the
///                Bloom filter of their names (as in the `.idx`)
/// u8 has checkpoint, and then u64 base  the identity of the active
///    segment's checkpoint `.idx` a reader found consistent
/// u32 CRC32C of everything before it
/// ```
/// (Strings are a u32 length and UTF-8; integers little-endian.)
struct SegmentCatalog: Sendable {
    static let magic = Array("STOACAT\n".utf8)
    static let version: UInt32 = 3
    /// Its name, in `segments/` or in the reader cache.
    static let fileName = "CATALOG"

    /// A segment's conversations: how many, and their names' Bloom filter
    /// (``ConversationTable/filter(of:)``).
    struct Conversations: Sendable {
        var count: UInt32
        var filter: IndexBytes
    }

    struct Entry: Sendable {
        var name: SegmentName
        var isCold: Bool
        var identity: FileIdentity
        var summary: SegmentSummary
        /// The `.idx` a reader read the summary from and found consistent
        /// (``IndexFile/isConsistent``), when it was read from one: a reader
        /// that loads this very file again spares that check.
        var index: FileIdentity?
        /// Its conversations, when known: a conversation query passes over
        /// the segments whose filter says no without loading them.
        var conversations: Conversations?

        /// Whether it describes `file`, whose status is `identity`.
        func describes(_ file: SegmentFile, identity: FileIdentity) -> Bool {
            name == file.name && isCold == file.isCold && self.identity == identity
        }
    }

    /// By base seq.
    var entries: [UInt64: Entry] = [:]
    /// The active segment's checkpoint `.idx` a reader last found
    /// consistent: the segment's base seq, and the identity of the file.
    var checkpoint: (base: UInt64, index: FileIdentity)?

    func encoded() -> [UInt8] {
        var out = ByteWriter()
        out.bytes += Self.magic
        out.u32(Self.version)
        out.u32(UInt32(entries.count))
        for entry in entries.values.sorted(by: { $0.name.base < $1.name.base }) {
            out.u64(entry.name.base)
            out.bytes.append(entry.name.kind == .gzip ? 1 : 0)
            out.bytes.append(entry.isCold ? 1 : 0)
            entry.identity.encode(into: &out)
            out.bytes.append(entry.index == nil ? 0 : 1)
            entry.index?.encode(into: &out)
            let summary = entry.summary
            out.u32(summary.lineCount)
            out.i64(summary.minTime)
            out.i64(summary.maxTime)
            out.u32(UInt32(summary.types.count))
            for (name, count) in summary.types {
                out.string(name)
                out.u64(UInt64(count))
            }
            out.u32(UInt32(summary.damaged.count))
            for damaged in summary.damaged {
                out.u32(damaged.ordinal)
                out.string(damaged.reason)
            }
            out.bytes.append(entry.conversations == nil ? 0 : 1)
            if let conversations = entry.conversations {
                out.u32(conversations.count)
                out.u32(UInt32(conversations.filter.count))
                out.bytes += conversations.filter
            }
        }
        out.bytes.append(checkpoint == nil ? 0 : 1)
        if let checkpoint {
            out.u64(checkpoint.base)
            checkpoint.index.encode(into: &out)
        }
        out.u32(out.bytes.withUnsafeBufferPointer { CRC32C.checksum($0) })
        return out.bytes
    }

    /// The catalog in `bytes`; nil when they are not a whole catalog of this version.
    static func decode(_ bytes: [UInt8]) -> SegmentCatalog? { decode(IndexBytes(bytes)) }

    /// The catalog in `bytes` (its Bloom filters are read in place).
    static func decode(_ bytes: IndexBytes) -> SegmentCatalog? {
        guard bytes.count >= magic.count + 12, bytes.prefix(magic.count).elementsEqual(magic) else { return nil }
        let body = bytes[bytes.startIndex..<(bytes.endIndex - 4)]
        var footer = ByteReader(bytes[(bytes.endIndex - 4)..<bytes.endIndex])
        guard footer.u32() == body.withUnsafeBufferPointer({ CRC32C.checksum($0) }) else { return nil }
        var input = ByteReader(body, at: magic.count)
        guard input.u32() == version, let count = input.u32() else { return nil }
        var catalog = SegmentCatalog()
        for _ in 0..<count {
            guard let base = input.u64(), let kind = input.u8(), kind <= 1, let cold = input.u8(), cold <= 1,
                let identity = FileIdentity(reading: &input), let hasIndex = input.u8(), hasIndex <= 1
            else { return nil }
            var index: FileIdentity?
            if hasIndex == 1 {
                guard let read = FileIdentity(reading: &input) else { return nil }
                index = read
            }
            guard let lineCount = input.u32(), UInt64.max - base >= UInt64(lineCount), let minTime = input.i64(), let maxTime = input.i64(),
                let typeCount = input.u32(), Int(typeCount) <= input.remaining / 12
            else { return nil }
            var types: [(name: String, count: Int)] = []
            types.reserveCapacity(Int(typeCount))
            for _ in 0..<typeCount {
                guard let name = input.string(), let count = input.u64(), count <= UInt64(lineCount) else { return nil }
                types.append((name, Int(count)))
            }
            guard let damagedCount = input.u32(), Int(damagedCount) <= input.remaining / 8 else { return nil }
            var damaged: [SegmentIndex.DamagedOrdinal] = []
            for _ in 0..<damagedCount {
                guard let ordinal = input.u32(), ordinal < lineCount, let reason = input.string() else { return nil }
                damaged.append(SegmentIndex.DamagedOrdinal(ordinal: ordinal, reason: reason))
            }
            guard let hasConversations = input.u8(), hasConversations <= 1 else { return nil }
            var conversations: Conversations?
            if hasConversations == 1 {
                guard let count = input.u32(), count <= lineCount, let length = input.u32(),
                    Int(length) == ConversationTable.filterBytes(names: Int(count)), let filter = input.slice(Int(length))
                else { return nil }
                conversations = Conversations(count: count, filter: filter)
            }
            let name = SegmentName(base: base, kind: kind == 1 ? .gzip : .plain)
            let summary = SegmentSummary(
                base: base, lineCount: lineCount, minTime: minTime, maxTime: maxTime, types: types, damaged: damaged,
                fileSize: Int(identity.size))
            catalog.entries[base] = Entry(
                name: name, isCold: cold == 1, identity: identity, summary: summary, index: index, conversations: conversations)
        }
        guard let hasCheckpoint = input.u8(), hasCheckpoint <= 1 else { return nil }
        if hasCheckpoint == 1 {
            guard let base = input.u64(), let index = FileIdentity(reading: &input) else { return nil }
            catalog.checkpoint = (base, index)
        }
        guard input.isAtEnd else { return nil }
        return catalog
    }

    /// The catalog at `path`, mapped (it is replaced by a rename, never
    /// changed in place); nil when there is none or it does not decode.
    static func load(_ path: String) -> SegmentCatalog? {
        guard let file = try? OpenFile(readingAt: path), let size = try? file.size,
            let mapping = try? MappedFile(file, count: size)
        else { return nil }
        return decode(IndexBytes(mapping: mapping))
    }
}
