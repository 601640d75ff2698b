/// Counts records into the rows of a ``Summary``, one record at a time, as
/// a query hands them out (``RecordReader/summarize(_:)``).
///
/// Each record's group is the JSON text of its values (canonical: a
/// string's escapes decoded and written again as JSON writes them, a
/// number as ``JSONValue/number(_:)`` writes it), so that values equal as
/// JSON fall in one group; rows are sorted by that text.
struct Summarizer {
    let summary: Summary
    private let bins: SummaryBins?
    /// Group numbers by key: each group's canonical texts, each followed by 0xFF
    /// (a byte no UTF-8 text holds).
    private var groupNumbers: [[UInt8]: Int] = [:]
    /// Each group's canonical texts, one per ``Summary/by``.
    private var groupTexts: [[[UInt8]]] = []
    private var cellNumbers: [Cell: Int] = [:]
    private var cells: [Accumulator] = []
    private var key: [UInt8] = []
    /// The bin of the last record (records come in time order: most fall in it).
    private var bin: (start: Int64, end: Int64) = (1, 0)
    /// The cell ``add(count:time:group:)`` last counted into.
    private var lastCell: (cell: Cell, number: Int)?

    /// The most rows a summary fills with empty bins.
    static let maximumRows = 10_000_000

    private struct Cell: Hashable {
        var start: Int64
        var group: Int
    }

    private struct Accumulator {
        var start: Int64
        var end: Int64
        var group: Int
        var count = 0
        var values: [[Double]]
        var sums: [Double]
    }

    init(_ summary: Summary) throws(StoaError) {
        self.summary = summary
        self.bins = summary.every.map(SummaryBins.init)
        if let bins, let since = summary.query.sinceMicros, let until = summary.query.untilMicros {
            let count = bins.count(from: since, until: until, atMost: Self.maximumRows + 1)
            if count > Self.maximumRows {
                throw StoaError(
                    .invalidArgument,
                    "--every \(summary.every!) from \(summary.query.since!) to \(summary.query.until!) makes more than "
                        + "\(Self.maximumRows) bins: give a wider interval or a shorter range")
            }
        }
    }

    /// Counts `record`.
    mutating func add(_ record: borrowing RecordView) {
        let time = record.time.microsecondsSinceEpoch
        var start: Int64 = 0
        var end: Int64 = 0
        if let bins {
            if time < bin.start || time >= bin.end { bin = bins.bin(containing: time) }
            (start, end) = bin
        }
        key.removeAll(keepingCapacity: true)
        for group in summary.by {
            switch group {
            case .type:
                let type = record.type
                if type.isEmpty { key += "null".utf8 } else { JSONString.appendQuoted(type, to: &key) }
            case .conversation:
                if let conversation = record.conversation { JSONString.appendQuoted(conversation, to: &key) } else { key += "null".utf8 }
            case .field(let path):
                record.withUnsafeBytes { line in Self.appendCanonical(FieldLookup.value(at: path.keyBytes, in: line), line, to: &key) }
            }
            key.append(0xFF)
        }
        let group = groupNumber(forKey: key)
        let cell = cellNumber(Cell(start: start, group: group), end: end)
        cells[cell].count += 1
        if summary.fields.isEmpty { return }
        record.withUnsafeBytes { line in
            for (number, field) in summary.fields.enumerated() {
                guard let found = FieldLookup.value(at: field.keyBytes, in: line), found.kind == .number,
                    let value = Self.number(UnsafeBufferPointer(rebasing: line[found.range]))
                else { continue }
                cells[cell].values[number].append(value)
                cells[cell].sums[number] += value
            }
        }
    }

    /// The group of the records of `type` and `conversation`, when
    /// ``Summary/by`` holds only ``Summary/Group/type`` and
    /// ``Summary/Group/conversation`` (or nothing).
    mutating func group(type: String, conversation: String?) -> Int {
        key.removeAll(keepingCapacity: true)
        for group in summary.by {
            switch group {
            case .type:
                if type.isEmpty { key += "null".utf8 } else { JSONString.appendQuoted(type, to: &key) }
            case .conversation:
                if let conversation { JSONString.appendQuoted(conversation, to: &key) } else { key += "null".utf8 }
            case .field:
                preconditionFailure("a field's value is not in the index")
            }
            key.append(0xFF)
        }
        return groupNumber(forKey: key)
    }

    /// Counts `count` records of `group` at `time`, known without reading
    /// them (from the index).
    mutating func add(count: Int, time: Int64, group: Int) {
        var start: Int64 = 0
        var end: Int64 = 0
        if let bins {
            if time < bin.start || time >= bin.end { bin = bins.bin(containing: time) }
            (start, end) = bin
        }
        if let last = lastCell, last.cell == Cell(start: start, group: group) {
            cells[last.number].count += count
            return
        }
        let number = cellNumber(Cell(start: start, group: group), end: end)
        lastCell = (Cell(start: start, group: group), number)
        cells[number].count += count
    }

    private mutating func groupNumber(forKey key: [UInt8]) -> Int {
        if let number = groupNumbers[key] { return number }
        let number = groupTexts.count
        groupNumbers[key] = number
        groupTexts.append(key.split(separator: 0xFF, omittingEmptySubsequences: false).dropLast().map(Array.init))
        return number
    }

    private mutating func cellNumber(_ cell: Cell, end: Int64) -> Int {
        if let number = cellNumbers[cell] { return number }
        let number = cells.count
        cellNumbers[cell] = number
        cells.append(
            Accumulator(
                start: cell.start, end: end, group: cell.group,
                values: Array(repeating: [], count: summary.fields.count), sums: Array(repeating: 0, count: summary.fields.count)))
        return number
    }

    /// The rows, sorted by start, then by the groups' JSON texts.
    ///
    /// - Throws: `.invalidArgument` when filling empty bins would make
    ///   more than ``maximumRows`` rows.
    mutating func rows() throws(StoaError) -> [SummaryRow] {
        if let bins, let since = summary.query.sinceMicros, let until = summary.query.untilMicros, since < until {
            if summary.by.isEmpty { _ = groupNumber(forKey: []) }
            let binCount = bins.count(from: since, until: until, atMost: Self.maximumRows + 1)
            if binCount * groupTexts.count > Self.maximumRows {
                throw StoaError(
                    .invalidArgument,
                    "\(binCount) bins of \(summary.every!) for each of \(groupTexts.count) groups make more than "
                        + "\(Self.maximumRows) rows: give a wider interval, a shorter range or fewer groups")
            }
            var bin = bins.bin(containing: since)
            while bin.start < until {
                for group in groupTexts.indices { _ = cellNumber(Cell(start: bin.start, group: group), end: bin.end) }
                if bin.end == .max { break }
                bin = bins.bin(containing: bin.end)
            }
        }
        let texts = groupTexts
        cells.sort { a, b in
            if a.start != b.start { return a.start < b.start }
            for (x, y) in zip(texts[a.group], texts[b.group]) where x != y { return x.lexicographicallyPrecedes(y) }
            return false
        }
        let values = groupTexts.map { texts in texts.map { text in text.withUnsafeBufferPointer { Self.parse($0) } ?? .null } }
        var rows: [SummaryRow] = []
        rows.reserveCapacity(cells.count)
        for k in cells.indices {
            var statistics: [FieldStatistics] = []
            for field in summary.fields.indices {
                statistics.append(FieldStatistics(sorting: &cells[k].values[field], sum: cells[k].sums[field]))
            }
            let cell = cells[k]
            rows.append(
                SummaryRow(
                    start: bins == nil ? nil : Timestamp(microsecondsSinceEpoch: cell.start),
                    end: bins == nil ? nil : Timestamp(microsecondsSinceEpoch: cell.end),
                    groups: values[cell.group], count: cell.count, fields: statistics))
        }
        return rows
    }

    // MARK: Values

    /// Appends the canonical JSON text of the value `found` in `line`
    /// (`null` when there is none, or it is not valid JSON).
    static func appendCanonical(_ found: FieldLookup.Found?, _ line: UnsafeBufferPointer<UInt8>, to key: inout [UInt8]) {
        guard let found else {
            key += "null".utf8
            return
        }
        let text = UnsafeBufferPointer(rebasing: line[found.range])
        switch found.kind {
        case .string:
            if !found.escaped {
                key.append(UInt8(ascii: "\""))
                key.append(contentsOf: text)
                key.append(UInt8(ascii: "\""))
            } else if JSONString.hasValidEscapes(text) {
                JSONString.appendQuoted(String(decoding: JSONString.decode(text), as: UTF8.self), to: &key)
            } else {
                key += "null".utf8
            }
        case .number:
            if let integer = JSONDecimal.plainInteger(text) {
                key += String(integer).utf8
            } else if let value = number(text) {
                JSONValue.number(value).append(to: &key)
            } else {
                key += "null".utf8
            }
        case .true: key += "true".utf8
        case .false: key += "false".utf8
        case .null, .invalid: key += "null".utf8
        case .object, .array:
            if let value = parse(text) { value.append(to: &key) } else { key += "null".utf8 }
        }
    }

    /// The value of the JSON number `text` as a double; nil when it is not
    /// a JSON number.
    @inline(__always)
    static func number(_ text: UnsafeBufferPointer<UInt8>) -> Double? {
        if let integer = JSONDecimal.plainInteger(text) { return Double(integer) }
        guard isJSONNumber(text) else { return nil }
        return Double(String(decoding: text, as: UTF8.self))
    }

    /// Whether `text` is a JSON number (RFC 8259's grammar, the whole text).
    static func isJSONNumber(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let count = text.count
        func digits() -> Bool {
            let start = i
            while i < count && text[i] &- 0x30 < 10 { i += 1 }
            return i > start
        }
        if i < count && text[i] == UInt8(ascii: "-") { i += 1 }
        if i < count && text[i] == UInt8(ascii: "0") {
            i += 1
        } else if !digits() {
            return false
        }
        if i < count && text[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() else { return false }
        }
        if i < count && (text[i] | 0x20) == UInt8(ascii: "e") {
            i += 1
            if i < count && (text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-")) { i += 1 }
            guard digits() else { return false }
        }
        return i == count
    }

    /// The JSON value `text` (one value, whitespace around it allowed), or
    /// nil when it is not one. Numbers as ``JSONValue/number(_:)`` keeps
    /// them; of a key repeated in an object, every member is kept.
    static func parse(_ text: UnsafeBufferPointer<UInt8>) -> JSONValue? {
        var index = 0
        guard let value = parseValue(text, &index) else { return nil }
        skipWhitespace(text, &index)
        return index == text.count ? value : nil
    }

    private static func skipWhitespace(_ text: UnsafeBufferPointer<UInt8>, _ index: inout Int) {
        while index < text.count, text[index] == 0x20 || text[index] == 0x0A || text[index] == 0x0D || text[index] == 0x09 {
            index += 1
        }
    }

    private static func parseString(_ text: UnsafeBufferPointer<UInt8>, _ index: inout Int) -> String? {
        guard index < text.count, text[index] == UInt8(ascii: "\""),
            let (end, escaped) = RecordScanner.stringEnd(text, from: index + 1)
        else { return nil }
        let body = UnsafeBufferPointer(rebasing: text[(index + 1)..<end])
        if escaped && !JSONString.hasValidEscapes(body) { return nil }
        index = end + 1
        return JSONString.decodeString(body, escaped: escaped)
    }

    private static func parseValue(_ text: UnsafeBufferPointer<UInt8>, _ index: inout Int) -> JSONValue? {
        skipWhitespace(text, &index)
        guard index < text.count else { return nil }
        func literal(_ word: String, _ value: JSONValue) -> JSONValue? {
            let bytes = Array(word.utf8)
            guard index + bytes.count <= text.count, text[index..<(index + bytes.count)].elementsEqual(bytes) else { return nil }
            index += bytes.count
            return value
        }
        switch text[index] {
        case UInt8(ascii: "\""):
            return parseString(text, &index).map(JSONValue.string)
        case UInt8(ascii: "t"): return literal("true", .bool(true))
        case UInt8(ascii: "f"): return literal("false", .bool(false))
        case UInt8(ascii: "n"): return literal("null", .null)
        case UInt8(ascii: "["):
            index += 1
            var elements: [JSONValue] = []
            skipWhitespace(text, &index)
            if index < text.count && text[index] == UInt8(ascii: "]") {
                index += 1
                return .array([])
            }
            while true {
                guard let element = parseValue(text, &index) else { return nil }
                elements.append(element)
                skipWhitespace(text, &index)
                guard index < text.count else { return nil }
                if text[index] == UInt8(ascii: "]") {
                    index += 1
                    return .array(elements)
                }
                guard text[index] == UInt8(ascii: ",") else { return nil }
                index += 1
            }
        case UInt8(ascii: "{"):
            index += 1
            var members: [JSONValue.Member] = []
            skipWhitespace(text, &index)
            if index < text.count && text[index] == UInt8(ascii: "}") {
                index += 1
                return .object([])
            }
            while true {
                skipWhitespace(text, &index)
                guard let key = parseString(text, &index) else { return nil }
                skipWhitespace(text, &index)
                guard index < text.count, text[index] == UInt8(ascii: ":") else { return nil }
                index += 1
                guard let value = parseValue(text, &index) else { return nil }
                members.append(.init(key, value))
                skipWhitespace(text, &index)
                guard index < text.count else { return nil }
                if text[index] == UInt8(ascii: "}") {
                    index += 1
                    return .object(members)
                }
                guard text[index] == UInt8(ascii: ",") else { return nil }
                index += 1
            }
        default:
            let start = index
            while index < text.count {
                let byte = text[index]
                if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") || byte == 0x20
                    || byte == 0x0A || byte == 0x0D || byte == 0x09
                {
                    break
                }
                index += 1
            }
            let number = UnsafeBufferPointer(rebasing: text[start..<index])
            if let integer = JSONDecimal.plainInteger(number) { return .int(integer) }
            return Self.number(number).map(JSONValue.number)
        }
    }
}

/// Where the bins of a ``Summary/Interval`` start and end.
struct SummaryBins {
    let interval: Summary.Interval

    private static let day: Int64 = 86_400_000_000
    private static let week: Int64 = 7 * day
    /// Monday 1970-01-05 00:00 UTC (the epoch was a Thursday).
    private static let monday: Int64 = 4 * day

    /// The bin that holds `time`: `[start, end)`; held at the limits of
    /// `Int64` µs where they reach past them.
    func bin(containing time: Int64) -> (start: Int64, end: Int64) {
        switch interval {
        case .duration(let duration):
            let width = max(1, duration.saturatingMicroseconds)
            let origin = width % Self.week == 0 ? Self.monday : 0
            let (quotient, _) = RecordTime.floorDivide(time &- origin, width)
            let (product, overflow) = quotient.multipliedReportingOverflow(by: width)
            let start = overflow ? (quotient < 0 ? .min : .max) : Self.clamped(product, plus: origin)
            return (start, Self.clamped(start, plus: width))
        case .months(let count):
            let (days, _) = RecordTime.floorDivide(time, Self.day)
            let (year, month, _) = RecordTime.civilFromDays(days)
            let index = (year - 1970) * 12 + (month - 1)
            let first = RecordTime.floorDivide(index, Int64(count)).quotient * Int64(count)
            return (Self.monthStart(first), Self.monthStart(first + Int64(count)))
        }
    }

    /// How many bins overlap `[since, until)`, counted up to `limit`.
    func count(from since: Int64, until: Int64, atMost limit: Int) -> Int {
        guard since < until else { return 0 }
        switch interval {
        case .duration(let duration):
            let width = max(1, duration.saturatingMicroseconds)
            let first = bin(containing: since).start
            let last = bin(containing: until - 1).start
            let (span, overflow) = last.subtractingReportingOverflow(first)
            return overflow ? limit : Int(min(Int64(limit), span / width + 1))
        case .months:
            var bin = bin(containing: since)
            var count = 1
            while bin.end < until && bin.end != .max && count < limit {
                bin = self.bin(containing: bin.end)
                count += 1
            }
            return count
        }
    }

    /// The first instant of the month `index` months after January 1970.
    private static func monthStart(_ index: Int64) -> Int64 {
        let (years, month) = RecordTime.floorDivide(index, 12)
        let days = RecordTime.daysFromCivil(year: 1970 + years, month: month + 1, day: 1)
        let (start, overflow) = days.multipliedReportingOverflow(by: day)
        return overflow ? (days < 0 ? .min : .max) : start
    }

    private static func clamped(_ value: Int64, plus amount: Int64) -> Int64 {
        let (sum, overflow) = value.addingReportingOverflow(amount)
        return overflow ? (amount < 0 ? .min : .max) : sum
    }
}

extension RecordReader {
    /// Counts the records `summary.query` selects, in the bins and groups
    /// of `summary`, with statistics of its fields: one row per bin and
    /// group, sorted by start, then by the groups' JSON texts (see
    /// ``Summary`` for the rules).
    ///
    /// ```swift
    /// let rows = try reader.summarize(Summary(every: try .parse("1h"), by: [.type]))
    /// ```
    ///
    /// - Complexity: counts by type and/or conversation (or none) with
    ///   only time, type and conversation filters come from a store's index
    ///   without reading a record: a segment within one bin and the window
    ///   from its counts per type (without conversations), others from their
    ///   line tables and type and conversation postings. Otherwise reads
    ///   every record the query selects, as ``query(_:)`` does. Memory grows
    ///   with the rows, and with the numbers of each field (kept for exact
    ///   percentiles).
    /// - Throws: what ``query(_:)`` throws; `.invalidArgument` when empty
    ///   bins would make more than 10,000,000 rows.
    public func summarize(_ summary: Summary) throws(StoaError) -> [SummaryRow] {
        try summarizeReportingDamage(summary).rows
    }

    /// ``summarize(_:)``, and the lines its query skipped (the cursor's
    /// ``RecordCursor/damaged``), for the command line to report.
    package func summarizeReportingDamage(_ summary: Summary) throws(StoaError) -> (rows: [SummaryRow], damaged: [DamagedLine]) {
        var summarizer = try Summarizer(summary)
        if let store = self as? StoreReader, summarizer.isAnsweredByIndex {
            var counted = summarizer
            if let damaged = try store.summarizeFromIndex(&counted) { return (try counted.rows(), damaged) }
        }
        let cursor = try query(summary.query)
        cursor.forEach { record in summarizer.add(record) }
        return (try summarizer.rows(), cursor.damaged)
    }
}
