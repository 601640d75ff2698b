#if canImport(Glibc)
import Glibc
#endif

/// What identifies one version of a file Stoa does not own: when none of
/// these changed, neither did the file (its writers append, rotate, truncate;
/// each of those changes the size, the mtime or the inode). The ctime is
/// there for the writer that rewrites a file in place with the same size and
/// sets its mtime back (`cp -p`, `rsync -t`, `touch -d`): no one can set the
/// ctime, and every write moves it.
package struct ForeignFileKey: Sendable, Hashable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modifiedSeconds: Int64
    var modifiedNanoseconds: Int64
    var changedSeconds: Int64
    var changedNanoseconds: Int64

    package init(
        device: UInt64, inode: UInt64, size: Int64, modifiedSeconds: Int64, modifiedNanoseconds: Int64,
        changedSeconds: Int64, changedNanoseconds: Int64
    ) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modifiedSeconds = modifiedSeconds
        self.modifiedNanoseconds = modifiedNanoseconds
        self.changedSeconds = changedSeconds
        self.changedNanoseconds = changedNanoseconds
    }

    package init(_ info: stat) {
        self.init(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modifiedSeconds: Int64(info.st_mtim.tv_sec), modifiedNanoseconds: Int64(info.st_mtim.tv_nsec),
            changedSeconds: Int64(info.st_ctim.tv_sec), changedNanoseconds: Int64(info.st_ctim.tv_nsec))
    }
}

/// The index of one foreign log file's normalised copy, and for each of
/// its blocks where the block's lines are in the file's plain (inflated)
/// bytes, so that a query can read just those lines.
package struct ForeignFileIndex: Sendable, Equatable {
    /// Base seq 0.
    package var index: SegmentIndex
    /// By block number: the span of the plain bytes holding its lines (empty
    /// for blocks of skipped lines).
    package var sources: [Range<Int>]
}

/// One log file of a directory Stoa does not own (§7): read with `pread`,
/// inflated when it is gzip, and turned into what the query engine reads —
/// a normalised copy of its records and the index of that copy.
///
/// The normalised copy holds each valid record of the file compacted (as a
/// store keeps it: whitespace outside strings removed, so CRLF line ends and
/// Python's `", "` separators go) and ending in `\n`. Every line of the file
/// keeps its line number as its ordinal in the index, the lines that are not
/// records too: those are in the index's damaged list with the reason, and
/// sit in blocks of their own with no bytes, which no query visits. So a
/// record's ordinal is its line number − 1, and a skipped line is reported
/// with its real line number.
///
/// What counts as a line: every `\n`-terminated line, plus a last line
/// without `\n` (a record when it is a complete, valid object; else a write
/// still under way, skipped). A UTF-8 byte order mark at the start of the
/// file is ignored.
package enum ForeignLogFile {
    /// The bytes of a file as read: plain (inflated when it was gzip).
    package struct Contents {
        package var plain: [UInt8]
        /// The file as it was when it was read.
        package var key: ForeignFileKey
        /// All of the file was read: it did not shrink while being read.
        package var isComplete: Bool
        /// Why a gzip file could not be inflated to its end, if it could not.
        package var damage: StoaError?

        package init(plain: [UInt8], key: ForeignFileKey, isComplete: Bool, damage: StoaError? = nil) {
            self.plain = plain
            self.key = key
            self.isComplete = isComplete
            self.damage = damage
        }
    }

    /// Whether `name` is a log file a foreign directory is read for:
    /// `*.jsonl` or `*.jsonl.gz`, not hidden (`.name`).
    static func isLogFileName(_ name: String) -> Bool {
        !name.hasPrefix(".") && (name.hasSuffix(".jsonl") || name.hasSuffix(".jsonl.gz"))
    }

    /// Opens the file at `path` for reading, without waiting: a FIFO put in
    /// a log file's place (since it was listed) must not block the reader
    /// until something writes to it. Throws for anything but a regular file.
    static func openRegularFile(_ path: String) throws(StoaError) -> OpenFile {
        let file = try OpenFile(path: path, flags: O_RDONLY | O_NONBLOCK, fileSystem: SystemFileSystem())
        guard try file.status().st_mode & S_IFMT == S_IFREG else {
            throw StoaError(.io, "not a regular file", path: path)
        }
        return file
    }

    /// Reads the file at `path` with `pread` (never `mmap`: its writers may
    /// truncate it), inflating every gzip member of a `.gz`.
    ///
    /// A damaged or unfinished gzip file is not an error: what inflates is
    /// returned, with the damage.
    ///
    /// - Throws: `.io` when the file cannot be opened or read.
    static func read(_ path: String) throws(StoaError) -> Contents {
        let file = try openRegularFile(path)
        let info = try file.status()
        let key = ForeignFileKey(info)
        let bytes = try file.read(fromAbsoluteOffset: 0, count: Int(info.st_size))
        let isComplete = bytes.count == Int(info.st_size)
        guard path.hasSuffix(".gz") else {
            return Contents(plain: bytes, key: key, isComplete: isComplete)
        }
        let (plain, damage) = inflate(bytes, path: path)
        return Contents(plain: plain, key: key, isComplete: isComplete, damage: damage)
    }

    /// The plain bytes of every gzip member of `compressed`, one after the
    /// other (any gzip: Python's, `gzip`'s, Stoa's members), and the damage
    /// that stopped it early, if any: what inflated before it is returned.
    ///
    /// - Complexity: O(n) in the plain bytes.
    package static func inflate(_ compressed: [UInt8], path: String) -> (plain: [UInt8], damage: StoaError?) {
        var plain: [UInt8] = []
        var damage: StoaError?
        compressed.withUnsafeBufferPointer { all in
            var offset = 0
            while offset < all.count {
                do throws(StoaError) {
                    offset = try Gzip.inflateMember(all, at: offset, into: &plain, path: path)
                } catch {
                    damage = error
                    return
                }
            }
        }
        return (plain, damage)
    }

    /// How damage that stopped ``inflate(_:path:)`` is reported: where, and
    /// that nothing after it is read.
    static func describe(gzipDamage damage: StoaError) -> String {
        "\(damage.message) at byte \(damage.offset ?? 0) of the file; the rest of it cannot be read"
    }

    /// Indexes `contents`: validates every line strictly, and returns the
    /// normalised copy of its records with their index (base seq 0).
    ///
    /// - Complexity: O(n): one strict scan of every byte.
    package static func index(_ contents: Contents, encoder: RecordEncoder) -> (normalised: [UInt8], index: ForeignFileIndex) {
        var builder = SegmentIndexBuilder(base: 0)
        // Where each line is in the plain bytes, by ordinal: for the blocks' sources.
        var spans: [Range<Int>] = []
        // Skipped lines go in blocks with no bytes, apart from records' blocks.
        var inSkippedRun = false
        func skip(_ reason: String) {
            if !inSkippedRun {
                builder.closeBlock()
                inSkippedRun = true
            }
            builder.addDamaged(length: 0, reason: reason)
        }
        // Compacting never lengthens a line, and only a last line gains a newline.
        let normalised = [UInt8](unsafeUninitializedCapacity: contents.plain.count + 1) { output, written in
            written = 0
            contents.plain.withUnsafeBufferPointer { all in
                forEachLine(all) { line, terminated, span in
                    spans.append(span)
                    if isBlank(line) {
                        skip("blank line")
                        return
                    }
                    do throws(StoaError) {
                        let summary = try encoder.scanner.scan(line)
                        guard let timeValue = summary.time else {
                            throw StoaError(
                                .invalidRecord,
                                "record has no time field (\(encoder.fields.time.joined(separator: ", ")))")
                        }
                        let time = try encoder.readTime(timeValue, in: line)
                        let type = summary.type.map {
                            JSONString.decodeString(UnsafeBufferPointer(rebasing: line[$0.range]), escaped: $0.escaped)
                        }
                        let conversation = summary.conversation.map {
                            JSONString.decodeString(UnsafeBufferPointer(rebasing: line[$0.range]), escaped: $0.escaped)
                        }
                        if inSkippedRun {
                            builder.closeBlock()
                            inSkippedRun = false
                        }
                        let length = appendCompacted(line, to: output, at: written)
                        written += length
                        builder.add(length: length, time: time, type: type ?? "", conversation: conversation)
                    } catch {
                        skip(terminated ? error.message : "unfinished last line (no newline): \(error.message)")
                    }
                }
            }
        }
        if let damage = contents.damage {
            skip(describe(gzipDamage: damage))
        }
        builder.closeBlock()
        let index = builder.snapshot()
        let sources = index.blocks.map { block -> Range<Int> in
            guard block.length > 0 else { return 0..<0 }  // skipped lines: never read
            return spans[Int(block.firstOrdinal)].lowerBound..<spans[Int(block.firstOrdinal + block.count - 1)].upperBound
        }
        return (normalised, ForeignFileIndex(index: index, sources: sources))
    }

    /// The normalised copy of `contents`, rebuilt from the index made of the
    /// same bytes: lines are split and compacted, never parsed. Nil when the
    /// bytes do not fit the index (the file is not what was indexed).
    ///
    /// - Complexity: O(n), several times faster than ``index(_:encoder:)``.
    package static func normalise(_ contents: Contents, index: SegmentIndex) -> [UInt8]? {
        let skipped = Set(index.damaged.map(\.ordinal))
        var ordinal: UInt32 = 0
        let normalised = [UInt8](unsafeUninitializedCapacity: contents.plain.count + 1) { output, written in
            written = 0
            contents.plain.withUnsafeBufferPointer { all in
                forEachLine(all) { line, _, _ in
                    if skipped.isEmpty || !skipped.contains(ordinal) {
                        written += appendCompacted(line, to: output, at: written)
                    }
                    ordinal += 1
                }
            }
        }
        let notes = contents.damage == nil ? 0 : 1
        guard normalised.count == Int(index.byteCount), ordinal + UInt32(notes) == index.lineCount else { return nil }
        return normalised
    }

    /// The records of some blocks of a plain file, read with `pread` from
    /// where the index says their lines are: a segment of just those blocks
    /// (their offsets moved into the bytes returned), for a query that needs
    /// few of a large file's blocks. Nil when the file no longer matches the
    /// index (then it must be indexed again).
    package static func readBlocks(
        _ numbers: [Int], of fileIndex: ForeignFileIndex, path: String, key: ForeignFileKey
    ) throws(StoaError) -> (index: SegmentIndex, bytes: [UInt8])? {
        let file = try openRegularFile(path)
        guard ForeignFileKey(try file.status()) == key else { return nil }
        var index = fileIndex.index
        index.blocks = []
        var bytes: [UInt8] = []
        bytes.reserveCapacity(numbers.reduce(0) { $0 + Int(fileIndex.index.blocks[$1].length) })
        for number in numbers {
            var block = fileIndex.index.blocks[number]
            let source = fileIndex.sources[number]
            let plain = try file.read(fromAbsoluteOffset: source.lowerBound, count: source.count)
            guard plain.count == source.count else { return nil }
            var lines: UInt32 = 0
            let compacted = [UInt8](unsafeUninitializedCapacity: plain.count + 1) { output, written in
                written = 0
                plain.withUnsafeBufferPointer { all in
                    forEachLine(all, skippingMark: false) { line, _, _ in
                        written += appendCompacted(line, to: output, at: written)
                        lines += 1
                    }
                }
            }
            guard compacted.count == Int(block.length), lines == block.count else { return nil }
            block.offset = UInt64(bytes.count)
            bytes += compacted
            index.blocks.append(block)
        }
        index.byteCount = UInt64(bytes.count)
        // Late records are found through their blocks: only those of the blocks read.
        index.late = index.late.filter { record in
            index.block(containing: record.ordinal).map { index.blocks[$0].ordinals.contains(record.ordinal) } ?? false
        }
        return (index, bytes)
    }

    /// Writes `line` at `offset` in `output` without whitespace outside
    /// strings (as `JSONString.appendCompacted`), then a newline; returns the
    /// bytes written. Strings are copied whole, found with `memchr`.
    ///
    /// - Precondition: `output` has room for `line.count + 1` bytes at `offset`.
    @inline(__always)
    static func appendCompacted(
        _ line: UnsafeBufferPointer<UInt8>, to output: UnsafeMutableBufferPointer<UInt8>, at offset: Int
    ) -> Int {
        let count = line.count
        precondition(offset + count + 1 <= output.count)
        let target = output.baseAddress! + offset
        var written = 0
        if let base = line.baseAddress {
            var read = 0
            while read < count {
                let byte = base[read]
                if byte == quote {
                    // Through the closing quote: the first one after an even number of backslashes.
                    var end = count
                    var search = read + 1
                    while let hit = memchr(base + search, Int32(quote), count - search) {
                        let closing = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                        var backslashes = 0
                        while closing - backslashes - 1 > read && base[closing - backslashes - 1] == backslash {
                            backslashes += 1
                        }
                        if backslashes % 2 == 0 {
                            end = closing + 1
                            break
                        }
                        search = closing + 1
                    }
                    (target + written).update(from: base + read, count: end - read)
                    written += end - read
                    read = end
                } else {
                    if byte != 0x20 && byte != 0x09 && byte != 0x0D && byte != 0x0A {
                        target[written] = byte
                        written += 1
                    }
                    read += 1
                }
            }
        }
        target[written] = UInt8(ascii: "\n")
        return written + 1
    }

    /// Calls `body` with each line of `all` (without its `\n`), whether it
    /// ended with one (the last line may not), and where the line and its
    /// `\n` are in `all`.
    private static func forEachLine(
        _ all: UnsafeBufferPointer<UInt8>, skippingMark: Bool = true,
        _ body: (_ line: UnsafeBufferPointer<UInt8>, _ terminated: Bool, _ span: Range<Int>) -> Void
    ) {
        var start = 0
        if skippingMark && all.count >= 3 && all[0] == 0xEF && all[1] == 0xBB && all[2] == 0xBF { start = 3 }
        while start < all.count {
            if let newline = SegmentContents.firstNewline(in: all, from: start) {
                body(UnsafeBufferPointer(rebasing: all[start..<newline]), true, start..<(newline + 1))
                start = newline + 1
            } else {
                body(UnsafeBufferPointer(rebasing: all[start...]), false, start..<all.count)
                return
            }
        }
    }

    private static let quote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")

    private static func isBlank(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }
}
