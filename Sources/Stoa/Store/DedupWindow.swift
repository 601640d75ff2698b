import CStoaSystem

/// The records appended within `dedup_window`, so that a repeat of one is
/// acknowledged with the earlier record's seq instead of stored again.
///
/// **What counts as a repeat.** Two records are the same when their stored
/// lines are byte for byte the same, apart from the time Stoa stamps on a
/// record that has none: `{"n":1}` sent twice is one record though each
/// copy would get its own `"ts"`. (Whitespace outside strings does not count
/// either: lines are stored compact.) A record is found by a 128-bit digest
/// of those bytes (SHA-256's first half), then its bytes are compared with
/// the earlier line read back from its segment, so two records whose digests
/// collide are both stored. Only when the earlier line is no longer in a
/// plain segment (compressed by a `hot_for` shorter than the window) does
/// the digest decide alone.
///
/// **Across processes.** Opening the store rebuilds the window from the
/// segments written to within it. What was stored does not keep the moment
/// each record was appended, so every record of such a segment counts as
/// appended when its segment was last written (its mtime): the window after
/// a reopen covers at least the last `dedup_window`, and up to one
/// segment's lifetime more. Only lines that are valid records (the
/// scanner's ``RecordScanner/Rules/stored`` rules) are taken, and each is
/// remembered as it is stored: the file cannot tell a stamp Stoa inserted
/// from the same time given by the record, and taking it for a stamp would
/// drop a different record (`{"msg":"hb"}` after a user-timed
/// `{"ts":"2026-…000000Z","msg":"hb"}`). So the same rule holds in this
/// process and the next: a record is a repeat when its stored line would
/// be byte for byte an earlier one's, or when both came without a time and
/// this process stamped the earlier one; a record without a time whose
/// earlier copy was stamped before the reopen is stored again (a repeat
/// kept, never a different record dropped).
///
/// Memory: about 100 bytes a record within the window.
struct DedupWindow {
    /// 128 bits of a digest.
    struct Digest: Hashable, Sendable {
        var high: UInt64
        var low: UInt64

        func hash(into hasher: inout Hasher) { hasher.combine(low) }

        /// A digest's bits are already spread evenly: the tables use them
        /// as they are, mixed with the table's seed, instead of hashing them
        /// again (hashing them was a large part of remembering a record).
        /// A digest that collides on purpose (in tests) only makes the
        /// tables slower.
        func _rawHashValue(seed: Int) -> Int {
            Int(truncatingIfNeeded: low ^ UInt64(truncatingIfNeeded: seed))
        }
    }

    typealias Digester = @Sendable (UnsafeBufferPointer<UInt8>) -> Digest

    /// The first 128 bits of the bytes' SHA-256 (through libcrypto, whatever
    /// their length; nothing allocated here: it is on the append path).
    static let sha256: Digester = { bytes in
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { digest in
            guard let context = stoa_sha256_begin() else {
                preconditionFailure(
                    "SHA-256 needs OpenSSL's libcrypto (libcrypto.so.3): "
                        + (stoa_sha256_load().map { String(cString: $0) } ?? "it failed"))
            }
            stoa_sha256_update(context, bytes.baseAddress, bytes.count)
            stoa_sha256_end(context, digest.baseAddress)
            let raw = UnsafeRawBufferPointer(digest)
            return Digest(
                high: UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self)),
                low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        }
    }

    /// Where a remembered record's line is: its segment (by base seq), its
    /// offset there, its length (without the newline), and where its key
    /// starts in it (1, or just past a stamp Stoa inserted).
    struct Entry {
        var seq: UInt64
        var segment: UInt64
        var offset: Int
        var length: Int32
        var keyStart: Int32
    }

    /// µs.
    let window: Int64
    let digest: Digester
    private var entries: [Digest: Entry] = [:]
    /// Entries whose digest an earlier entry holds (a collision: rare).
    private var collided: [Digest: [Entry]] = [:]
    /// Every entry by when it was appended, oldest first, from `head` on.
    private var order: [(digest: Digest, seq: UInt64, time: Int64)] = []
    private var head = 0

    init(window: Int64, digest: @escaping Digester = DedupWindow.sha256) {
        self.window = window
        self.digest = digest
    }

    /// Records remembered.
    var count: Int { order.count - head }

    // MARK: Keys

    /// Where the key of `line` (a stored line without its newline, whose
    /// time Stoa inserted) starts: past its first member when that is the
    /// time stamp `stamp` (as ``RecordTime/append(_:to:)`` writes it) under
    /// the name `member` (`"ts":`), else 1 (all but the opening brace).
    static func keyStart(of line: UnsafeBufferPointer<UInt8>, member: [UInt8], stamp: [UInt8]) -> Int {
        let timeStart = 1 + member.count + 1
        let timeEnd = timeStart + RecordTime.formattedCount
        guard line.count > timeEnd + 1, line[timeEnd] == UInt8(ascii: "\""),
            line[timeEnd + 1] == UInt8(ascii: ",") || line[timeEnd + 1] == UInt8(ascii: "}"),
            line[timeStart - 1] == UInt8(ascii: "\""),
            UnsafeBufferPointer(rebasing: line[1..<(timeStart - 1)]).elementsEqual(member),
            UnsafeBufferPointer(rebasing: line[timeStart..<timeEnd]).elementsEqual(stamp)
        else { return 1 }
        // Past the comma; for `{"ts":"…"}` alone, at the closing brace.
        return line[timeEnd + 1] == UInt8(ascii: ",") ? timeEnd + 2 : timeEnd + 1
    }

    // MARK: Finding and remembering

    /// The seq of the remembered record whose key is `key`, if any.
    ///
    /// - Parameter line: reads a remembered record's stored line back (nil
    ///   when it cannot be read any more: then the digest decides).
    func find(_ key: UnsafeBufferPointer<UInt8>, digest: Digest, line: (Entry) -> [UInt8]?) -> UInt64? {
        guard let first = entries[digest] else { return nil }
        for entry in [first] + (collided[digest] ?? []) {
            guard let stored = line(entry) else { return entry.seq }
            if stored.count == Int(entry.length),
                stored[Int(entry.keyStart)...].elementsEqual(key)
            {
                return entry.seq
            }
        }
        return nil
    }

    /// Remembers a record appended at `time`.
    mutating func remember(_ entry: Entry, digest: Digest, time: Int64) {
        if entries[digest] == nil {
            entries[digest] = entry
        } else {
            collided[digest, default: []].append(entry)
        }
        order.append((digest, entry.seq, time))
    }

    /// Forgets the records appended before `now - window`.
    mutating func expire(now: Int64) {
        while head < order.count && now - order[head].time > window {
            let (digest, seq, _) = order[head]
            forget(digest, seq: seq)
            head += 1
        }
        if head > 1024 && head > order.count / 2 {
            order.removeFirst(head)
            head = 0
        }
    }

    private mutating func forget(_ digest: Digest, seq: UInt64) {
        var more = collided[digest] ?? []
        if entries[digest]?.seq == seq {
            entries[digest] = more.isEmpty ? nil : more.removeFirst()
        } else {
            more.removeAll { $0.seq == seq }
        }
        collided[digest] = more.isEmpty ? nil : more
    }

    // MARK: Opening

    /// The window as a store opened at `now` finds it: the records of the
    /// plain segments (`segments`, oldest first) last written within
    /// `window`, each taken as appended at its segment's mtime, each
    /// remembered as it is stored; a line that is not a valid record under
    /// `scanner`'s stored rules is passed over (it still counts a seq).
    ///
    /// - Complexity: reads those segments once, a scan and a digest per record.
    static func rebuilt(
        window: Int64, digest: @escaping Digester = DedupWindow.sha256, segments: [SegmentFile], scanner: RecordScanner,
        now: Int64
    ) throws(StoaError) -> DedupWindow {
        var result = DedupWindow(window: window, digest: digest)
        var recent: [(file: SegmentFile, time: Int64, size: Int)] = []
        for file in segments.reversed() where file.name.kind == .plain && !file.isCold {
            guard let info = try FileReads.fileSystem.status(file.path) else { continue }
            let modified = RecordTime.micros(info.st_mtim)
            if RecordTime.span(from: modified, to: now) > window { break }
            recent.append((file, modified, Int(info.st_size)))
        }
        for (file, time, size) in recent.reversed() where size > 0 {
            // Sealed segments are mapped (they never change); the active one,
            // which this writer alone changes, is read.
            let sealed = file.base != segments.last?.base
            let mapped = sealed ? try MappedFile(path: file.path) : nil
            let read = sealed ? [] : try OpenFile(readingAt: file.path).readAll()
            func withBytes(_ body: (UnsafeBufferPointer<UInt8>) -> Void) {
                if let mapped { mapped.withUnsafeBytes(body) } else { read.withUnsafeBufferPointer(body) }
            }
            withBytes { all in
                var start = 0
                var seq = file.base
                while let newline = SegmentContents.firstNewline(in: all, from: start) {
                    let line = UnsafeBufferPointer(rebasing: all[start..<newline])
                    if line.count >= 2, (try? scanner.scan(line)) != nil {
                        let entry = Entry(seq: seq, segment: file.base, offset: start, length: Int32(line.count), keyStart: 1)
                        result.remember(entry, digest: digest(UnsafeBufferPointer(rebasing: line[1...])), time: time)
                    }
                    seq += 1
                    start = newline + 1
                }
            }
        }
        return result
    }
}

// MARK: - The writer's side

extension Store {
    /// Drops the records of `batch` that repeat one appended within
    /// `dedup_window`, or one earlier in the batch (``DedupWindow``). Called
    /// with the state locked; the digests were taken as the batch was
    /// encoded, outside the lock.
    ///
    /// - Returns: the batch without them and, for a lone record kept out, the
    ///   seq of its earlier copy.
    func removeDuplicates(_ batch: EncodedBatch, state: inout WriterState) -> (EncodedBatch, UInt64?) {
        guard var window = state.dedup, let keyStarts = batch.keyStarts, let digests = batch.digests else { return (batch, nil) }
        state.dedup = nil  // so that `window` is the one copy: no copy-on-write of its tables
        window.expire(now: clock.now())
        var dropped = Set<Int>()
        var firstOriginal: UInt64?
        // Positions in this batch by digest: the first, and any after it
        // with the same digest but other bytes (a collision: rare).
        var earlier: [DedupWindow.Digest: Int] = [:]
        earlier.reserveCapacity(batch.lineEnds.count)
        var earlierMore: [DedupWindow.Digest: [Int]] = [:]
        let active = state.active
        batch.bytes.withUnsafeBufferPointer { bytes in
            func key(_ position: Int) -> UnsafeBufferPointer<UInt8> {
                let start = position == 0 ? 0 : batch.lineEnds[position - 1]
                return UnsafeBufferPointer(rebasing: bytes[(start + keyStarts[position])..<(batch.lineEnds[position] - 1)])
            }
            for position in batch.lineEnds.indices {
                let record = key(position)
                let digest = digests[position]
                if let original = window.find(record, digest: digest, line: { storedLine($0, active: active) }) {
                    dropped.insert(position)
                    firstOriginal = firstOriginal ?? original
                } else if let first = earlier[digest] {
                    if ([first] + (earlierMore[digest] ?? [])).contains(where: { key($0).elementsEqual(record) }) {
                        dropped.insert(position)
                    } else {
                        earlierMore[digest, default: []].append(position)
                    }
                } else {
                    earlier[digest] = position
                }
            }
        }
        state.dedup = window
        state.deduplicated += dropped.count
        return (dropped.isEmpty ? batch : batch.removing(dropped), batch.lineEnds.count == 1 ? firstOriginal : nil)
    }

    /// The stored line (without its newline) of a record ``DedupWindow``
    /// remembers, read back from its segment; nil when it is no longer in a
    /// plain segment.
    private func storedLine(_ entry: DedupWindow.Entry, active: ActiveSegment) -> [UInt8]? {
        let path = entry.segment == active.base ? active.file.path : layout.path(of: SegmentName(base: entry.segment, kind: .plain))
        guard let file = try? OpenFile(readingAt: path),
            let line = try? file.read(fromAbsoluteOffset: entry.offset, count: Int(entry.length))
        else { return nil }
        return line
    }

    /// Remembers the records of `batch` at `lines`, just written to the
    /// active segment at `offset` from `firstSeq` on at `now` (µs), for
    /// `dedup_window`.
    static func remember(
        _ batch: EncodedBatch, lines: Range<Int>, firstSeq: UInt64, segment: UInt64, offset: Int, now: Int64,
        in window: inout DedupWindow
    ) {
        guard let keyStarts = batch.keyStarts, let digests = batch.digests else { return }
        let batchStart = lines.lowerBound == 0 ? 0 : batch.lineEnds[lines.lowerBound - 1]
        for position in lines {
            let start = position == 0 ? 0 : batch.lineEnds[position - 1]
            let entry = DedupWindow.Entry(
                seq: firstSeq + UInt64(position - lines.lowerBound), segment: segment,
                offset: offset + start - batchStart, length: Int32(batch.lineEnds[position] - 1 - start),
                keyStart: Int32(keyStarts[position]))
            window.remember(entry, digest: digests[position], time: now)
        }
    }
}
