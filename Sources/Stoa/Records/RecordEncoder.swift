/// What Stoa knows of one stored line without parsing it: its time and where
/// its type and conversation are.
package struct LineFacts: Sendable, Hashable {
    /// Microseconds since the epoch, UTC.
    package var time: Int64
    /// The type string's body within the line, if the record has one.
    package var type: Range<Int>?
    package var typeEscaped = false
    /// The conversation value within the line (a string's body or a number's text).
    package var conversation: Range<Int>?
    package var conversationEscaped = false
    /// The record had no time: Stoa inserted the time of the append. How the
    /// encoding came by the time, not a fact of the line: `==` and hashing
    /// leave it out, so the facts read back from a stored line equal those
    /// its encoding gave.
    package var timeInserted = false

    package static func == (a: LineFacts, b: LineFacts) -> Bool {
        a.time == b.time && a.type == b.type && a.typeEscaped == b.typeEscaped && a.conversation == b.conversation
            && a.conversationEscaped == b.conversationEscaped
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(time)
        hasher.combine(type)
        hasher.combine(typeEscaped)
        hasher.combine(conversation)
        hasher.combine(conversationEscaped)
    }

    /// The type as a string ("" when the record has none).
    package func type(in line: UnsafeBufferPointer<UInt8>) -> String {
        guard let type else { return "" }
        return JSONString.decodeString(UnsafeBufferPointer(rebasing: line[type]), escaped: typeEscaped)
    }

    func conversation(in line: UnsafeBufferPointer<UInt8>) -> String? {
        guard let conversation else { return nil }
        return JSONString.decodeString(
            UnsafeBufferPointer(rebasing: line[conversation]), escaped: conversationEscaped)
    }
}

/// Turns what a caller appends into the line Stoa stores: validated, compact,
/// with a time, ending in `\n`.
package struct RecordEncoder: Sendable {
    /// Where the input's time, type and conversation are read.
    let fields: FieldNames
    let scanner: RecordScanner
    let maxRecordBytes: Int
    /// `"ts":` and `"type":` (the first configured names), for members Stoa inserts.
    let insertedTimeMember: [UInt8]
    let insertedTypeMember: [UInt8]
    /// A record without a time gets the time of the append (true, as
    /// appends do), or is refused with `.missingTime` (an import).
    let stampsMissingTime: Bool
    /// When the input is read with other fields than the store's (an
    /// import's `--time-fields`…): the store's encoder, that the stored
    /// line must satisfy (``encodeForStore(_:into:now:defaultType:store:)``).
    let store: StoreEncoder?

    /// An encoder for a store that reads `fields`.
    package init(fields: FieldNames, maxRecordBytes: Int, stampsMissingTime: Bool = true) {
        self.fields = fields
        self.scanner = RecordScanner(fields: fields)
        self.maxRecordBytes = maxRecordBytes
        func member(_ name: String) -> [UInt8] {
            var bytes: [UInt8] = []
            JSONString.appendQuoted(name, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            return bytes
        }
        self.insertedTimeMember = member(fields.insertedTimeName)
        self.insertedTypeMember = member(fields.type.first ?? "type")
        self.stampsMissingTime = stampsMissingTime
        self.store = nil
    }

    /// An encoder that reads the input with `fields` and writes lines for a
    /// store that reads `storeFields` (the same encoder as above when they
    /// are the same).
    init(reading fields: FieldNames, storingFor storeFields: FieldNames, maxRecordBytes: Int, stampsMissingTime: Bool) {
        self.init(fields: fields, maxRecordBytes: maxRecordBytes, stampsMissingTime: stampsMissingTime)
        if fields != storeFields {
            self = RecordEncoder(
                self, store: StoreEncoder(RecordEncoder(fields: storeFields, maxRecordBytes: maxRecordBytes)))
        }
    }

    private init(_ reading: RecordEncoder, store: StoreEncoder) {
        self.fields = reading.fields
        self.scanner = reading.scanner
        self.maxRecordBytes = reading.maxRecordBytes
        self.insertedTimeMember = reading.insertedTimeMember
        self.insertedTypeMember = reading.insertedTypeMember
        self.stampsMissingTime = reading.stampsMissingTime
        self.store = store
    }

    /// Appends the stored form of `input` to `output` and returns its facts,
    /// with ranges relative to the start of the appended line.
    ///
    /// On error `output` is unchanged.
    ///
    /// - Parameters:
    ///   - input: one JSON object, compact or pretty-printed.
    ///   - now: the time to insert when the record has none, in µs.
    /// - Throws: `.invalidRecord` (offset into `input`), `.recordTooLarge`.
    package func encode(
        _ input: UnsafeBufferPointer<UInt8>, into output: inout [UInt8], now: Int64, defaultType: String? = nil
    ) throws(StoaError) -> LineFacts {
        if let store {
            return try encodeForStore(input, into: &output, now: now, defaultType: defaultType, store: store.encoder)
        }
        let start = output.count
        // Cheap early refusal of something that cannot fit even once compacted
        // (compacting removes at most all whitespace; assume it cannot shrink 8x).
        if input.count > maxRecordBytes * 8 {
            throw tooLarge(input.count)
        }
        var summary = try scanner.scan(input, rules: .input)
        // The time is read from the input, so that an error's offset is into it.
        var facts = LineFacts(time: now)
        if let time = summary.time {
            facts.time = try readTime(time, in: input)
        } else if stampsMissingTime {
            facts.timeInserted = true
        } else {
            throw missingTime()
        }
        if summary.hasWhitespace {
            JSONString.appendCompacted(input, to: &output)
            do {
                summary = try output.withUnsafeBufferPointer { (all) throws(StoaError) in
                    try scanner.scan(UnsafeBufferPointer(rebasing: all[start...]), rules: .input)
                }
            } catch {
                output.removeSubrange(start...)
                throw error
            }
        } else {
            output.append(contentsOf: input)
        }

        // Members Stoa adds go first, after the opening brace: `"ts":"…",` for a
        // record without a time, `"type":"…",` for one without a type when a
        // default type is given.
        var inserted: [UInt8] = []
        var insertedType: Range<Int>?
        if summary.time == nil {
            inserted += insertedTimeMember
            inserted.append(UInt8(ascii: "\""))
            RecordTime.append(now, to: &inserted)
            inserted.append(UInt8(ascii: "\""))
        }
        if !summary.hasTypeKey, let defaultType {
            if !inserted.isEmpty { inserted.append(UInt8(ascii: ",")) }
            inserted += insertedTypeMember
            let quoted = inserted.count
            JSONString.appendQuoted(defaultType, to: &inserted)
            insertedType = (1 + quoted + 1)..<(1 + inserted.count - 1)
        }
        if !inserted.isEmpty {
            let isEmptyObject = output.count - start == 2
            if !isEmptyObject { inserted.append(UInt8(ascii: ",")) }
            output.insert(contentsOf: inserted, at: start + 1)
            summary.type?.shift(by: inserted.count)
            summary.conversation?.shift(by: inserted.count)
            if let insertedType, let defaultType {
                facts.type = insertedType
                facts.typeEscaped = defaultType.utf8.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }
            }
        }
        if let type = summary.type {
            facts.type = type.range
            facts.typeEscaped = type.escaped
        }
        if let conversation = summary.conversation {
            facts.conversation = conversation.range
            facts.conversationEscaped = conversation.escaped
        }
        output.append(UInt8(ascii: "\n"))
        let length = output.count - start
        if length > maxRecordBytes {
            output.removeSubrange(start...)
            throw tooLarge(length)
        }
        return facts
    }

    func tooLarge(_ size: Int) -> StoaError {
        StoaError(
            .recordTooLarge,
            "record of \(size) bytes is larger than max_record_bytes (\(maxRecordBytes))")
    }

    /// A record without a time where one is required.
    func missingTime() -> StoaError {
        StoaError(.missingTime, "record has no time field (\(fields.time.joined(separator: ", ")))")
    }

    /// Reads the facts of a line that Stoa stored (or any one JSON object).
    ///
    /// - Throws: `.invalidRecord` when the line is not a valid object or its
    ///   time is unreadable; `.invalidRecord` also when it has no time.
    package func facts(ofLine line: UnsafeBufferPointer<UInt8>) throws(StoaError) -> LineFacts {
        try facts(ofLine: line, summary: try scanner.scan(line))
    }

    /// Reads the facts of a line Stoa stored, trusting it to be the valid
    /// JSON it was when appended (``RecordScanner/scanStored(_:)``); a line
    /// that does not look like one gets the strict scan and its error.
    package func facts(ofStoredLine line: UnsafeBufferPointer<UInt8>) throws(StoaError) -> LineFacts {
        guard let summary = scanner.scanStored(line) else { return try facts(ofLine: line) }
        return try facts(ofLine: line, summary: summary)
    }

    private func facts(ofLine line: UnsafeBufferPointer<UInt8>, summary: RecordScanner.Summary) throws(StoaError) -> LineFacts {
        guard let time = summary.time else {
            throw StoaError(.invalidRecord, "record has no time field (\(fields.time.joined(separator: ", ")))")
        }
        var facts = LineFacts(time: try readTime(time, in: line))
        facts.type = summary.type?.range
        facts.typeEscaped = summary.type?.escaped ?? false
        facts.conversation = summary.conversation?.range
        facts.conversationEscaped = summary.conversation?.escaped ?? false
        return facts
    }

    func readTime(_ value: RecordScanner.Value, in line: UnsafeBufferPointer<UInt8>) throws(StoaError) -> Int64 {
        let body = UnsafeBufferPointer(rebasing: line[value.range])
        let parsed: Int64?
        switch value.kind {
        case .number:
            parsed = RecordTime.parseNumber(body)
        case .string:
            if value.escaped {
                parsed = JSONString.decode(body).withUnsafeBufferPointer { RecordTime.parseText($0) }
            } else {
                parsed = RecordTime.parseText(body)
            }
        case .other:
            parsed = nil  // null, true, false, an object or an array
        }
        guard let parsed else {
            let shown = String(decoding: body.prefix(64), as: UTF8.self)
            throw StoaError(
                .invalidRecord,
                "time field \"\(scanner.keyNames[value.name])\" is not a readable time: \(value.kind == .string ? "\"\(shown)\"" : shown)"
                    + " (expected RFC 3339 like 2026-11-23T10:00:00.123Z, or epoch seconds/ms/µs/ns)",
                offset: value.range.lowerBound)
        }
        return parsed
    }
}

private extension RecordScanner.Value {
    mutating func shift(by amount: Int) {
        range = (range.lowerBound + amount)..<(range.upperBound + amount)
    }
}

/// The encoder of a store's own fields, held apart (a struct cannot hold
/// itself) by an encoder that reads other fields.
final class StoreEncoder: Sendable {
    let encoder: RecordEncoder
    init(_ encoder: RecordEncoder) { self.encoder = encoder }
}
