import CZlib

/// A sealed segment's sidecar `.idx` (§5): its index, plus what `verify`
/// and tiering need — the segment's sizes, the SHA-256 of its plain bytes,
/// the chain digest, and when it was sealed.
///
/// The file is a cache: it is trusted only when its magic, version and
/// trailing checksum are right and the segment file has the size it records;
/// otherwise it is ignored and rebuilt. All integers are little-endian.
///
/// ```
/// "STOAIDX\n"  u32 version  u32 flags
/// u64 base  u64 plain bytes  u64 file bytes  [32] sha256  [32] chain  i64 sealed at
/// index: blocks, types with postings, conversations with postings and their
///        names' Bloom filter, damaged lines, late records, line tables (``LineTable``),
///        each block's CRC32C
/// [n] each line's check (``CRC32C``), n = 0 or the line count
/// u32 n  u32 CRC32C of the line checks
/// u32 CRC32C of everything before it (version 5: zlib's CRC-32)
/// ```
///
/// The line checks come last so that a reader loads the file up to them
/// and leaves them there (a byte a record): they are read, with one
/// `pread`, only when a block fails its checksum (see ``LineChecks``).
package struct IndexFile: Sendable, Equatable {
    static let magic = Array("STOAIDX\n".utf8)
    // 2: blocks carry gzip members; the late list. 3: line tables. 4: each
    // block's CRC32C and each line's check. 5: the line checks last, with
    // their own CRC32C. 6: the file's checksum is a CRC32C, not zlib's
    // CRC-32 (the CPU's crc32 instruction: 790 KB in about 40 µs instead of
    // 270). Version 5 is still read; a file of another version is ignored
    // and rebuilt.
    package static let version: UInt32 = 6
    static let readableVersions: ClosedRange<UInt32> = 5...6

    /// The checksum a file of `version` ends with: zlib's CRC-32 up to
    /// version 5, CRC32C from 6; continuing the one of the bytes before
    /// (`previous`, 0 to start).
    package static func fileChecksum(
        _ bytes: UnsafeBufferPointer<UInt8>, version: UInt32, continuing previous: UInt32 = 0
    ) -> UInt32 {
        version >= 6 ? CRC32C.checksum(bytes, continuing: previous) : crc(bytes, continuing: previous)
    }

    /// The checksum a file of this version ends with, of `bytes`.
    package static func fileChecksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBufferPointer { fileChecksum($0, version: version) }
    }

    /// The version a file's bytes say it has (after the magic), if they are long enough.
    package static func version(of bytes: ArraySlice<UInt8>) -> UInt32? { version(of: IndexBytes(bytes)) }

    static func version(of bytes: IndexBytes) -> UInt32? {
        var input = ByteReader(bytes, at: magic.count)
        return input.u32()
    }

    var index: SegmentIndex
    /// The segment is stored as gzip members (warm or cold).
    var isCompressed = false
    /// A checkpoint of the active segment (flag bit 2): it indexes the
    /// segment's first `plainBytes` bytes, and `digest` is the SHA-256 of
    /// the last line they end with, so a reader can tell that the segment
    /// still starts with them. Never taken for a sealed segment's `.idx`.
    var isPartial = false
    /// The segment's plain (uncompressed) size.
    var plainBytes: UInt64
    /// The size of the segment file as stored (plain or gzip).
    var fileBytes: UInt64
    var digest: [UInt8]
    var chain: [UInt8]
    /// When the segment was sealed (µs): ages for tiering count from here.
    var sealedAt: Int64

    package func encoded() -> [UInt8] {
        var out = ByteWriter()
        out.bytes += Self.magic
        out.u32(Self.version)
        out.u32((isCompressed ? 1 : 0) | (isPartial ? 2 : 0))
        out.u64(index.base)
        out.u64(plainBytes)
        out.u64(fileBytes)
        out.bytes += digest
        out.bytes += chain
        out.i64(sealedAt)
        out.u32(index.lineCount)
        out.u64(index.byteCount)
        out.i64(index.minTime)
        out.i64(index.maxTime)
        out.u32(UInt32(index.blocks.count))
        for block in index.blocks {
            out.u32(block.firstOrdinal)
            out.u32(block.count)
            out.u64(block.offset)
            out.u32(block.length)
            out.i64(block.minTime)
            out.i64(block.maxTime)
            out.u64(block.typeMask)
            out.u64(block.memberOffset)
            out.u32(block.memberLength)
            out.u64(block.memberStart)
            out.u32(block.lineTable.lowerBound)
            out.u32(block.lineTable.upperBound)
            out.u32(block.checksum)
        }
        out.u32(UInt32(index.types.count))
        for (type, postings) in zip(index.types, index.typePostings) {
            out.string(type)
            out.postings(postings)
        }
        let conversations = index.conversations.sorted()
        out.u32(UInt32(conversations.count))
        for (conversation, postings) in conversations {
            out.string(conversation)
            out.postings(postings)
        }
        let filter = ConversationTable.filter(of: conversations.map(\.0))
        out.u32(UInt32(filter.count))
        out.bytes += filter
        out.u32(UInt32(index.damaged.count))
        for damaged in index.damaged {
            out.u32(damaged.ordinal)
            out.string(damaged.reason)
        }
        out.u32(UInt32(index.late.count))
        for record in index.late {
            out.i64(record.time)
            out.u32(record.ordinal)
            out.u32(record.type)
            out.u32(record.offset)
        }
        out.u32(UInt32(index.lineTables.count))
        out.bytes += index.lineTables
        // Checks left in a file that cannot be read back as they were: none
        // (the index then has no checksums, as a foreign file's).
        let checks = index.lineChecks.bytes() ?? []
        out.bytes += checks
        out.u32(UInt32(checks.count))
        out.u32(checks.withUnsafeBufferPointer { CRC32C.checksum($0) })
        out.u32(Self.fileChecksum(out.bytes[...]))
        return out.bytes
    }

    /// Reads an `.idx`; nil when it is not a whole, valid index file of this version.
    package static func decode(_ bytes: [UInt8]) -> IndexFile? { decode(IndexBytes(bytes)) }

    /// `trusted`: bytes of a file found whole and consistent before, and
    /// unchanged since (see ``read(_:trusting:)``): neither its checksums
    /// nor its consistency are checked again, and its line checks are
    /// checked when they are used.
    static func decode(_ bytes: IndexBytes, trusted: Bool = false) -> IndexFile? {
        guard bytes.count >= magic.count + footerBytes else { return nil }
        let body = bytes[bytes.startIndex..<(bytes.endIndex - 4)]
        var footer = ByteReader(bytes[(bytes.endIndex - footerBytes)..<bytes.endIndex])
        guard let version = version(of: bytes), readableVersions.contains(version),
            let count = footer.u32(), let checksCRC = footer.u32(), let stored = footer.u32(),
            Int(count) <= bytes.count - footerBytes - magic.count
        else { return nil }
        let checksStart = bytes.endIndex - footerBytes - Int(count)
        let checks = bytes[checksStart..<(bytes.endIndex - footerBytes)]
        guard
            trusted
                || (stored == body.withUnsafeBufferPointer({ fileChecksum($0, version: version) })
                    && checks.withUnsafeBufferPointer({ CRC32C.checksum($0) }) == checksCRC)
        else { return nil }
        return decode(
            head: bytes[bytes.startIndex..<checksStart],
            checks: checks.isMapped ? LineChecks(mapped: checks, crc: checksCRC) : LineChecks(checks),
            checkingConsistency: !trusted)
    }

    /// The last bytes of the file: the line checks' count and CRC32C, and the file's checksum.
    package static let footerBytes = 12

    /// Decodes the file up to its line checks (its CRCs already checked).
    private static func decode(head bytes: IndexBytes, checks: LineChecks, checkingConsistency: Bool) -> IndexFile? {
        guard bytes.count >= magic.count + 8, bytes.prefix(magic.count).elementsEqual(magic) else { return nil }
        var input = ByteReader(bytes, at: magic.count)
        // Flags: bit 0 compressed, bit 1 partial; a file with others set was not written by this version.
        guard let version = input.u32(), readableVersions.contains(version), let flags = input.u32(), flags & ~3 == 0,
            let base = input.u64(), let plainBytes = input.u64(), let fileBytes = input.u64(),
            let digest = input.take(32), let chain = input.take(32), let sealedAt = input.i64(),
            let lineCount = input.u32(), let byteCount = input.u64(), let minTime = input.i64(),
            let maxTime = input.i64(), let blockCount = input.u32()
        else { return nil }
        var index = SegmentIndex(base: base)
        index.lineCount = lineCount
        index.byteCount = byteCount
        index.minTime = minTime
        index.maxTime = maxTime
        // Counts are checked against the bytes left before anything is
        // allocated for them: a block takes 76 bytes, a late record 20.
        guard Int(blockCount) <= (bytes.endIndex - input.position) / 76 else { return nil }
        index.blocks.reserveCapacity(Int(blockCount))
        for _ in 0..<blockCount {
            guard let first = input.u32(), let count = input.u32(), let offset = input.u64(), let length = input.u32(),
                let low = input.i64(), let high = input.i64(), let mask = input.u64(),
                let memberOffset = input.u64(), let memberLength = input.u32(), let memberStart = input.u64(),
                let tableStart = input.u32(), let tableEnd = input.u32(), tableStart <= tableEnd,
                let checksum = input.u32()
            else { return nil }
            index.blocks.append(
                IndexBlock(
                    firstOrdinal: first, count: count, offset: offset, length: length, minTime: low, maxTime: high,
                    typeMask: mask, memberOffset: memberOffset, memberLength: memberLength, memberStart: memberStart,
                    lineTable: tableStart..<tableEnd, checksum: checksum))
        }
        guard let typeCount = input.u32() else { return nil }
        for _ in 0..<typeCount {
            guard let type = input.string(), let postings = input.postings(),
                !checkingConsistency || postings.isValid(below: lineCount)
            else { return nil }
            index.types.append(type)
            index.typePostings.append(postings)
        }
        guard let conversationCount = input.u32(),
            let conversations = ConversationTable(
                reading: &input, count: conversationCount, lineCount: lineCount, validating: checkingConsistency)
        else { return nil }
        index.conversations = conversations
        guard let damagedCount = input.u32() else { return nil }
        for _ in 0..<damagedCount {
            guard let ordinal = input.u32(), let reason = input.string() else { return nil }
            index.damaged.append(SegmentIndex.DamagedOrdinal(ordinal: ordinal, reason: reason))
        }
        guard let lateCount = input.u32(), Int(lateCount) <= (bytes.endIndex - input.position) / 20 else { return nil }
        index.late.reserveCapacity(Int(lateCount))
        for _ in 0..<lateCount {
            guard let time = input.i64(), let ordinal = input.u32(), let type = input.u32(), let offset = input.u32(),
                type < UInt32(index.types.count)
            else { return nil }
            index.late.append(SegmentIndex.LateRecord(time: time, ordinal: ordinal, type: type, offset: offset))
        }
        guard let tablesLength = input.u32(), let tables = input.slice(Int(tablesLength)),
            index.blocks.allSatisfy({ $0.lineTable.upperBound <= tablesLength })
        else { return nil }
        index.lineTables = tables
        guard checks.count == 0 || checks.count == Int(lineCount) else { return nil }
        index.lineChecks = checks
        guard input.isAtEnd else { return nil }
        let file = IndexFile(
            index: index, isCompressed: flags & 1 != 0, isPartial: flags & 2 != 0, plainBytes: plainBytes, fileBytes: fileBytes, digest: digest,
            chain: chain, sealedAt: sealedAt)
        return !checkingConsistency || file.isConsistent ? file : nil
    }

    /// Whether every value of a decoded file fits the others and the
    /// segment it describes, as an index a builder makes does: a file whose
    /// CRC is right may still have been crafted (or written by a bug), and a
    /// query indexes arrays with these values. Checked once, at load.
    ///
    /// Blocks tile the indexed lines and bytes from the start, each with at
    /// least one line (a foreign file's skipped lines sit in blocks of no
    /// bytes), and their line tables, each of which decodes (marks within
    /// the block, times that make the block's span and the segment's), tile
    /// the tables; postings are checked as they are read (``Postings/isValid(below:)``)
    /// and hold every valid record once, and make each block's type mask;
    /// damaged and late lines are distinct, in order, and within their segment.
    package var isConsistent: Bool {
        let index = index
        guard index.byteCount <= plainBytes
        else { return false }
        var ordinal: UInt32 = 0
        var offset: UInt64 = 0
        var table: UInt32 = 0
        for block in index.blocks {
            guard block.count > 0, block.firstOrdinal == ordinal, block.offset == offset,
                block.lineTable.lowerBound == table, UInt64(block.count) <= UInt64(index.lineCount - ordinal)
            else { return false }
            guard block.memberOffset <= fileBytes, UInt64(block.memberLength) <= fileBytes - block.memberOffset,
                block.memberStart <= block.offset
            else { return false }
            ordinal += block.count
            offset += UInt64(block.length)
            table = block.lineTable.upperBound
        }
        guard ordinal == index.lineCount, offset == index.byteCount, Int(table) == index.lineTables.count else { return false }
        // Each line table decodes to its block's lines, its marks inside the
        // block, and the block's time span is that of its lines' times (late
        // and damaged lines left out), the segment's that of every record's.
        var marks: [UInt32] = []
        let skipped = (index.late.map(\.ordinal) + index.damaged.map(\.ordinal)).sorted()
        var next = 0
        var earliest = index.late.first?.time ?? .max
        var latest = index.late.map(\.time).max() ?? .min
        let tablesValid = index.lineTables.withUnsafeBufferPointer { tables in
            index.blocks.allSatisfy { block in
                var low = Int64.max
                var high = Int64.min
                let decoded = LineTable.decode(
                    UnsafeBufferPointer(rebasing: tables[Int(block.lineTable.lowerBound)..<Int(block.lineTable.upperBound)]),
                    count: Int(block.count), marks: &marks
                ) { line, time in
                    let ordinal = block.firstOrdinal + UInt32(line)
                    while next < skipped.count && skipped[next] < ordinal { next += 1 }
                    if next == skipped.count || skipped[next] != ordinal {
                        low = min(low, time)
                        high = max(high, time)
                    }
                    return true
                }
                earliest = min(earliest, low)
                latest = max(latest, high)
                return decoded && marks.last.map { $0 <= block.length } ?? true && low == block.minTime && high == block.maxTime
            }
        }
        guard tablesValid, earliest == index.minTime, latest == index.maxTime else { return false }
        // Each block's type mask is that of its records' types.
        var masks = [UInt64](repeating: 0, count: index.blocks.count)
        for (number, postings) in index.typePostings.enumerated() {
            var block = 0
            postings.forEach(in: 0..<index.lineCount) { ordinal in
                while block + 1 < index.blocks.count && index.blocks[block + 1].firstOrdinal <= ordinal { block += 1 }
                masks[block] |= IndexBlock.bit(forType: number)
                return true
            }
        }
        guard masks == index.blocks.map(\.typeMask) else { return false }
        guard tablesValid else { return false }
        var previous: Int64 = -1
        for damaged in index.damaged {
            guard Int64(damaged.ordinal) > previous, damaged.ordinal < index.lineCount else { return false }
            previous = Int64(damaged.ordinal)
        }
        guard index.typePostings.reduce(0, { $0 + $1.count }) == index.recordCount, index.types.count == index.typePostings.count
        else { return false }
        let damaged = Set(index.damaged.map(\.ordinal))
        var late = Set<UInt32>()
        for (position, record) in index.late.enumerated() {
            guard record.ordinal < index.lineCount, record.type < UInt32(index.types.count), !damaged.contains(record.ordinal),
                late.insert(record.ordinal).inserted,
                position == 0 || (index.late[position - 1].time, index.late[position - 1].ordinal) < (record.time, record.ordinal),
                let number = index.block(containing: record.ordinal), record.offset < index.blocks[number].length
            else { return false }
        }
        return true
    }

    package static func crc(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
    }

    static func crc(_ bytes: [UInt8]) -> UInt32 { crc(bytes[...]) }

    static func crc(_ bytes: UnsafeBufferPointer<UInt8>, continuing previous: UInt32) -> UInt32 {
        UInt32(crc32(UInt(previous), bytes.baseAddress, UInt32(bytes.count)))
    }

    /// Reads the `.idx` at `path` as ``decode(_:)`` does, mapped: its
    /// pieces are read in place, never copied (see ``IndexBytes``).
    static func read(_ path: String) -> IndexFile? { read(path, trusting: nil)?.file }

    /// ``read(_:)``, and the identity of the file read. When the file is
    /// `trusted` — found whole and consistent before, and not changed since
    /// (the same device, inode, size, and modification and change times to
    /// the nanosecond, which any write moves) — its checksums and
    /// consistency are not checked again, and only the pages a query reads
    /// are read (``stoa verify`` reads every byte). Stoa never changes an
    /// `.idx` in place: a new one is renamed over it, with a new inode.
    static func read(_ path: String, trusting trusted: FileIdentity?) -> (file: IndexFile, identity: FileIdentity)? {
        guard let file = try? OpenFile(readingAt: path), let info = try? file.status() else { return nil }
        let identity = FileIdentity(info)
        let size = Int(info.st_size)
        guard size >= magic.count + footerBytes, let mapping = try? MappedFile(file, count: size),
            let decoded = decode(IndexBytes(mapping: mapping), trusted: identity == trusted)
        else { return nil }
        return (decoded, identity)
    }

    /// Loads the `.idx` at `path` if it is valid and matches a sealed segment
    /// file of `fileSize` bytes.
    static func load(_ path: String, base: UInt64, fileSize: Int) -> IndexFile? {
        load(path, base: base, fileSize: fileSize, trusting: nil)?.file
    }

    /// ``load(_:base:fileSize:)``, and the identity of the file read;
    /// `trusted` as for ``read(_:trusting:)``.
    static func load(
        _ path: String, base: UInt64, fileSize: Int, trusting trusted: FileIdentity?
    ) -> (file: IndexFile, identity: FileIdentity)? {
        guard let read = read(path, trusting: trusted), !read.file.isPartial,
            read.file.index.base == base, read.file.fileBytes == UInt64(fileSize)
        else { return nil }
        return read
    }

    /// Loads the checkpoint `.idx` of the active segment whose bytes are
    /// `segment`, if it is valid and the segment still starts with the bytes
    /// it indexed.
    static func loadCheckpoint(_ path: String, base: UInt64, segment: [UInt8]) -> IndexFile? {
        guard let file = checkpoint(at: path, base: base), file.plainBytes <= UInt64(segment.count),
            file.digest == lastLineDigest(segment[..<Int(file.plainBytes)])
        else { return nil }
        return file
    }

    /// Loads the checkpoint `.idx` of the active segment open as `segment`
    /// (`size` bytes long), if it is valid and the segment still holds, where
    /// the checkpointed bytes end, the line the checkpoint names. Of the
    /// segment, reads only that line (``lastLine(of:endingAt:)``).
    ///
    /// Returns the identity of the `.idx` read too; `trusted` as for
    /// ``read(_:trusting:)``.
    static func loadCheckpoint(
        _ path: String, base: UInt64, segment: OpenFile, size: Int, trusting trusted: FileIdentity? = nil
    ) -> (file: IndexFile, identity: FileIdentity)? {
        guard let (file, identity) = read(path, trusting: trusted), file.isPartial,
            file.index.base == base, file.plainBytes == file.index.byteCount, file.plainBytes <= UInt64(size),
            let line = lastLine(of: segment, endingAt: Int(file.plainBytes)),
            file.digest == line.withUnsafeBufferPointer({ SHA256.hash($0) })
        else { return nil }
        return (file, identity)
    }

    /// The checkpoint `.idx` at `path` of the active segment based at
    /// `base`, if it is one and valid; not yet matched with the segment.
    private static func checkpoint(at path: String, base: UInt64) -> IndexFile? {
        guard let bytes = try? OpenFile(readingAt: path).readAll(), let file = decode(bytes), file.isPartial,
            file.index.base == base, file.plainBytes == file.index.byteCount
        else { return nil }
        return file
    }

    /// The last line of the first `end` bytes of `file` (newline included,
    /// if they end with one), as ``lastLineDigest(_:)`` takes it; nil when
    /// they cannot be read. Read backwards from `end` in pieces that grow
    /// fourfold (4 KiB first), so a line of any length costs a few `pread`s.
    static func lastLine(of file: OpenFile, endingAt end: Int) -> [UInt8]? {
        var piece = 4 << 10
        while true {
            let start = max(0, end - piece)
            guard let bytes = try? file.read(fromAbsoluteOffset: start, count: end - start), bytes.count == end - start else {
                return nil
            }
            if let newline = bytes.dropLast().lastIndex(of: 0x0A) { return Array(bytes[(newline + 1)...]) }
            if start == 0 { return bytes }
            piece *= 4
        }
    }

    /// The SHA-256 of the last line of `bytes` (which end with a newline).
    static func lastLineDigest(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        let body = bytes.dropLast()
        let start = body.lastIndex(of: 0x0A).map { $0 + 1 } ?? body.startIndex
        return bytes[start...].withUnsafeBufferPointer { SHA256.hash($0) }
    }
}

/// Little-endian bytes out.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }

    mutating func string(_ text: String) {
        u32(UInt32(text.utf8.count))
        bytes += text.utf8
    }

    mutating func postings(_ postings: Postings) {
        u32(UInt32(postings.count))
        u32(postings.last)
        u32(UInt32(postings.bytes.count))
        bytes += postings.bytes
        u32(UInt32(postings.skipCount))
        bytes += postings.skipBytes
    }
}

/// Little-endian bytes in; every read returns nil past the end. Reading
/// numbers allocates nothing, and `slice` and `postings` return pieces of
/// the bytes, not copies.
struct ByteReader {
    let bytes: IndexBytes
    /// `bytes`' first byte: valid while they are held, here, unchanged.
    private let start: UnsafeRawPointer?
    private(set) var position: Int

    init(_ bytes: IndexBytes) { self.init(bytes, at: 0) }

    /// Reads `bytes` from `offset` (counted from their start).
    init(_ bytes: IndexBytes, at offset: Int) {
        self.bytes = bytes
        self.start = bytes.unsafeStart.map(UnsafeRawPointer.init)
        self.position = bytes.startIndex + offset
    }

    init(_ bytes: ArraySlice<UInt8>) { self.init(IndexBytes(bytes)) }

    init(_ bytes: ArraySlice<UInt8>, at offset: Int) { self.init(IndexBytes(bytes), at: offset) }

    var isAtEnd: Bool { position == bytes.endIndex }
    /// Bytes not read yet.
    var remaining: Int { bytes.endIndex - position }

    mutating func slice(_ count: Int) -> IndexBytes? {
        guard count >= 0, bytes.endIndex - position >= count else { return nil }
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    mutating func take(_ count: Int) -> [UInt8]? { slice(count).map { $0.withUnsafeBufferPointer(Array.init) } }

    mutating func u8() -> UInt8? { load(UInt8.self) }
    mutating func u32() -> UInt32? { load(UInt32.self).map(UInt32.init(littleEndian:)) }
    mutating func u64() -> UInt64? { load(UInt64.self).map(UInt64.init(littleEndian:)) }
    mutating func i64() -> Int64? { u64().map { Int64(bitPattern: $0) } }

    private mutating func load<T: FixedWidthInteger>(_ type: T.Type) -> T? {
        let size = MemoryLayout<T>.size
        guard bytes.endIndex - position >= size else { return nil }
        defer { position += size }
        return start!.loadUnaligned(fromByteOffset: position - bytes.startIndex, as: T.self)
    }

    /// A length-prefixed string's bytes.
    mutating func stringBytes() -> IndexBytes? {
        guard let count = u32() else { return nil }
        return slice(Int(count))
    }

    /// A length-prefixed string; nil when its bytes are not UTF-8 (Stoa
    /// writes only strings, so those bytes were never written by it, and
    /// decoding them with replacement characters would name another type).
    mutating func string() -> String? {
        stringBytes().flatMap { $0.withUnsafeBufferPointer { String(validating: $0, as: UTF8.self) } }
    }

    /// Passes over postings (as ``postings()`` reads them); false when they do not fit.
    mutating func skipPostings() -> Bool {
        guard u32() != nil, u32() != nil, let length = u32(), slice(Int(length)) != nil, let skipCount = u32(),
            skipCount <= UInt32.max / 8
        else { return false }
        return slice(Int(skipCount) * 8) != nil
    }

    mutating func postings() -> Postings? {
        guard let count = u32(), let last = u32(), let length = u32(), let data = slice(Int(length)),
            let skipCount = u32(), skipCount <= UInt32.max / 8, let skips = slice(Int(skipCount) * 8)
        else { return nil }
        return Postings(bytes: data, count: Int(count), skipBytes: skips, last: last)
    }
}

/// What the writer's background passes need of a valid `.idx` — the fields
/// before its index — remembered per file, so that a pass after each seal
/// does not read and check every `.idx` of the store again.
struct IndexHeader: Sendable, Equatable {
    var base: UInt64
    var isCompressed: Bool
    var isPartial: Bool
    var plainBytes: UInt64
    var fileBytes: UInt64
    var digest: [UInt8]
    var chain: [UInt8]
    var sealedAt: Int64

    init(_ file: IndexFile) {
        base = file.index.base
        isCompressed = file.isCompressed
        isPartial = file.isPartial
        plainBytes = file.plainBytes
        fileBytes = file.fileBytes
        digest = file.digest
        chain = file.chain
        sealedAt = file.sealedAt
    }

    /// Headers of `.idx` files found valid, by path, with the identity of the
    /// file they were read from (inode, size, modification time in ns).
    private static let known = Protected<[String: (identity: [Int64], header: IndexHeader)]>([:])

    /// The header of the `.idx` at `path` if it is valid and matches a
    /// segment file of `fileSize` bytes.
    ///
    /// A file read before and unchanged since (same inode, size and
    /// modification time) is not read again. An `.idx` is replaced by a
    /// rename, which gives it a new inode; one changed in place keeps its
    /// inode, so only files whose time is over a second old are remembered:
    /// file times tick coarsely, and a change within the same tick would
    /// otherwise go unseen.
    static func load(_ path: String, base: UInt64, fileSize: Int) -> IndexHeader? {
        guard let info = try? FileReads.fileSystem.status(path) else { return nil }
        let modified = RecordTime.nanos(info.st_mtim)
        let identity = [Int64(info.st_ino), Int64(info.st_size), modified]
        let header: IndexHeader
        if let remembered = known.withLock({ $0[path] }), remembered.identity == identity {
            header = remembered.header
        } else {
            guard let file = IndexFile.load(path, base: base, fileSize: fileSize) else {
                _ = known.withLock { $0.removeValue(forKey: path) }
                return nil
            }
            header = IndexHeader(file)
            if modified < (Syscalls.realtimeMicroseconds() - 1_000_000) * 1000 {
                known.withLock { known in
                    if known.count > 100_000 { known.removeAll() }  // paths of segments long gone
                    known[path] = (identity, header)
                }
            }
        }
        guard header.base == base, header.fileBytes == UInt64(fileSize) else { return nil }
        return header
    }
}

