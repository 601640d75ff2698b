extension RecordEncoder {
    /// Encodes a record whose time, type and conversation are read with
    /// this encoder's fields (an import's `--time-fields`…) as a line that
    /// `store`, which reads other fields, reads the same way.
    ///
    /// The record's members are kept as they are (compacted). Where the
    /// store's fields would find another time, type or conversation in it,
    /// or none, the value read is inserted first, under the store's first
    /// name for it — `"ts":"<RFC 3339, µs, Z>"`, `"type":…`, `"session":…` —
    /// as Stoa inserts a missing time; or under its next name when the
    /// record has the first one with a value the store passes over (a type
    /// `3`: then `"event_type":…`). For example, with the time read from
    /// `asctime`:
    ///
    /// ```
    /// {"asctime": "2026-11-20 10:00:00,123", "message": "hi"}
    /// {"ts":"2026-11-20T10:00:00.123000Z","asctime":"2026-11-20 10:00:00,123","message":"hi"}
    /// ```
    ///
    /// - Throws: what ``encode(_:into:now:defaultType:)`` throws;
    ///   `.missingTime` when none of the fields holds a time and the encoder
    ///   does not stamp; `.invalidRecord` when the record holds, where the
    ///   store reads first, another value (inserting before it would give
    ///   the record that name twice, which parsers read differently).
    func encodeForStore(
        _ input: UnsafeBufferPointer<UInt8>, into output: inout [UInt8], now: Int64, defaultType: String?,
        store: RecordEncoder
    ) throws(StoaError) -> LineFacts {
        if input.count > maxRecordBytes * 8 { throw tooLarge(input.count) }
        let summary = try scanner.scan(input, rules: .input)
        let time: Int64
        var stamped = false
        if let value = summary.time {
            time = try readTime(value, in: input)
        } else if stampsMissingTime {
            time = now
            stamped = true
        } else {
            throw missingTime()
        }
        // The type and the conversation as this encoder reads them: as text, and as JSON.
        func text(_ value: RecordScanner.Value, in bytes: UnsafeBufferPointer<UInt8>) -> String {
            JSONString.decodeString(UnsafeBufferPointer(rebasing: bytes[value.range]), escaped: value.escaped)
        }
        func json(_ value: RecordScanner.Value) -> [UInt8] {
            value.kind == .string ? [quote] + input[value.range] + [quote] : Array(input[value.range])
        }
        var type = summary.type.map { (text($0, in: input), json($0)) }
        if type == nil, !summary.hasTypeKey, let defaultType {
            var quoted: [UInt8] = []
            JSONString.appendQuoted(defaultType, to: &quoted)
            type = (defaultType, quoted)
        }
        let conversation = summary.conversation.map { (text($0, in: input), json($0)) }

        // The line as it would be stored, and what the store reads in it.
        var line: [UInt8] = []
        if summary.hasWhitespace { JSONString.appendCompacted(input, to: &line) } else { line += input }
        let seen = try line.withUnsafeBufferPointer { (bytes) throws(StoaError) in
            let seen = try store.scanner.scan(bytes, rules: .input)
            return (
                time: seen.time.flatMap { try? store.readTime($0, in: bytes) },
                type: seen.type.map { text($0, in: bytes) },
                conversation: seen.conversation.map { text($0, in: bytes) })
        }
        var inserted: [UInt8] = []
        func insert(_ role: Role, _ value: [UInt8], from field: RecordScanner.Value?) throws(StoaError) {
            let names = role.names(in: store.fields)
            let place = Self.place(for: role, among: names, in: line)
            guard case .free(let name) = place else {
                let source = field.map { "\"\(scanner.keyNames[$0.name])\"" } ?? "the import"
                var blocking = names.joined(separator: ", ")
                if case .taken(let name) = place { blocking = "\"\(name)\"" }
                throw StoaError(
                    .invalidRecord,
                    "its \(role) is read from \(source), but the store reads the \(role) from \(blocking), which "
                        + "this record holds with another value: it cannot be stored without changing one of them")
            }
            if !inserted.isEmpty { inserted.append(UInt8(ascii: ",")) }
            JSONString.appendQuoted(name, to: &inserted)
            inserted.append(UInt8(ascii: ":"))
            inserted += value
        }
        if seen.time != time {
            var value = [quote]
            RecordTime.append(time, to: &value)
            value.append(quote)
            try insert(.time, value, from: summary.time)
        }
        if let type, seen.type != type.0 {
            try insert(.type, type.1, from: summary.type)
        }
        if let conversation, seen.conversation != conversation.0 {
            try insert(.conversation, conversation.1, from: summary.conversation)
        }
        if !inserted.isEmpty {
            if line.count > 2 { inserted.append(UInt8(ascii: ",")) }
            line.insert(contentsOf: inserted, at: 1)
        }
        if line.count + 1 > maxRecordBytes { throw tooLarge(line.count + 1) }

        // The store now reads what was read (checked, not assumed).
        var facts = try line.withUnsafeBufferPointer { (bytes) throws(StoaError) in try store.facts(ofLine: bytes) }
        let agrees = line.withUnsafeBufferPointer { bytes in
            facts.time == time && (type == nil || facts.type(in: bytes) == type!.0)
                && (conversation == nil || facts.conversation(in: bytes) == conversation!.0)
        }
        guard agrees else {
            throw StoaError(.invalidRecord, "the store would read another time, type or conversation in it than the import")
        }
        facts.timeInserted = stamped
        output += line
        output.append(UInt8(ascii: "\n"))
        return facts
    }

    /// What a value is to the store.
    enum Role: CustomStringConvertible {
        case time, type, conversation

        func names(in fields: FieldNames) -> [String] {
            switch self {
            case .time: fields.time
            case .type: fields.type
            case .conversation: fields.conversation
            }
        }

        var description: String {
            switch self {
            case .time: "time"
            case .type: "type"
            case .conversation: "conversation"
            }
        }
    }

    enum Place {
        /// A name the record lacks, before any that the store would read.
        case free(String)
        /// The store reads this member of the record first.
        case taken(String)
    }

    /// Where a value for `role` can go in `line` so that the store reads it:
    /// the first of the store's `names` for it that the record lacks, unless
    /// a name before it holds a value the store reads (a time field reads
    /// any value; a type, a string; a conversation, a string or a number).
    static func place(for role: Role, among names: [String], in line: [UInt8]) -> Place? {
        for name in names {
            let present = FieldNames(time: [name], type: [], conversation: [])
            let summary = line.withUnsafeBufferPointer { try? RecordScanner(fields: present).scan($0) }
            guard summary?.time != nil else { return .free(name) }
            let read: Bool
            switch role {
            case .time:
                read = true
            case .type:
                let probe = RecordScanner(fields: FieldNames(time: [], type: [name], conversation: []))
                read = line.withUnsafeBufferPointer { (try? probe.scan($0))?.type != nil }
            case .conversation:
                let probe = RecordScanner(fields: FieldNames(time: [], type: [], conversation: [name]))
                read = line.withUnsafeBufferPointer { (try? probe.scan($0))?.conversation != nil }
            }
            if read { return .taken(name) }
        }
        return nil
    }
}

private let quote = UInt8(ascii: "\"")
