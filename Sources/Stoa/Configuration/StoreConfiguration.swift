import Foundation

/// When an append returns, how safe are its bytes?
public enum Durability: String, Sendable, Codable, CaseIterable {
    /// `none` in `stoa.json` and on the command line: in the page cache,
    /// which survives the process being killed, not a power cut. Synced when
    /// a segment is sealed and when the store closes.
    ///
    /// (Not named `.none` in Swift: with an optional parameter, `.none` would
    /// mean `nil`, the store's default.)
    case buffered = "none"
    /// Like `none`, and a background `fdatasync` every `fsync_interval`: at
    /// most that much is lost in a power cut.
    case interval
    /// On disk before the append returns. Concurrent appenders share one
    /// `fdatasync` (group commit).
    case always
}

/// A store's settings, kept in `stoa.json`.
///
/// Spans are `Duration`s, kept to the microsecond (a finer part is
/// truncated when written). In `stoa.json` they are written as text (`"1h"`,
/// `"100ms"`) and sizes as bytes; when reading, a duration may also be a
/// number of seconds and a size a text like `"64MiB"`.
///
/// ```swift
/// var configuration = StoreConfiguration()
/// configuration.segmentAge = .seconds(600)
/// configuration.retainFor = .seconds(30 * 86_400)   // "30d" in stoa.json
/// ```
public struct StoreConfiguration: Sendable, Equatable {
    /// The on-disk format this store was written with.
    public var formatVersion = StoreConfiguration.currentFormatVersion
    /// Where each record's time, type and conversation are read (`fields` in `stoa.json`).
    public var fields = FieldNames()
    /// Seal the active segment when it reaches this size.
    public var segmentBytes: Int64 = 64 << 20
    /// Seal the active segment when it is this old.
    public var segmentAge: Duration = .seconds(3600)
    /// Refuse records larger than this (the stored line, newline included).
    public var maxRecordBytes: Int64 = 1 << 20
    /// The default durability of appends.
    public var durability: Durability = .interval
    /// With `.interval`, how often to sync.
    public var fsyncInterval: Duration = .milliseconds(100)
    /// Tier policy (ages from when a segment was sealed): plain this long,
    public var hotFor: Duration?
    /// then gzip this much longer, then archived (or kept cold),
    public var warmFor: Duration?
    /// and expired this long after it was sealed.
    public var retainFor: Duration?
    /// Expire the oldest sealed segments while the store's segments take
    /// more than this many bytes (every tier). Off when nil.
    public var maxBytes: Int64?
    /// Expire the oldest sealed segments while the store's file system has
    /// less than this many bytes free. Off when nil.
    public var keepFree: Int64?
    /// Where cold segments go: a directory, maybe on another disk; `archive/`
    /// in the store when nil. A relative path is taken from the store's directory.
    public var archivePath: String?
    /// zlib level for warm segments, 1 (fast) to 9 (small).
    public var compressionLevel = 6
    /// Plain bytes per gzip member in warm segments (whole blocks of ~64 KiB).
    public var memberBytes: Int64 = 1 << 20
    /// A record appended again this soon after an identical one is
    /// acknowledged with the earlier seq and not stored again, across
    /// processes too (the README's "Guarantees" says what "identical" and
    /// "this soon" mean after a reopen). Off when nil.
    public var dedupWindow: Duration?
    /// The store's identity: 32 hex digits (128 random bits), written into
    /// `stoa.json` when the store is created. A backup carries its source's
    /// id, which is how ``StoreBackup/copy(to:)`` tells an earlier backup
    /// of this store from another store. A store created before ids has
    /// none until its next writer opens it, which adds one (``Store``).
    public var storeID: String?

    /// The format this version of Stoa reads and writes; a store with another is refused.
    public static let currentFormatVersion = 1

    /// The longest span `stoa.json` holds: `Int64.max` microseconds.
    static let longestDuration = Duration.microseconds(Int64.max)

    /// The defaults, as `stoa init` writes them without options.
    public init() {}

    /// A new random store id: 128 bits from the system's secure random
    /// source (`getrandom`), as 32 lowercase hex digits.
    public static func newStoreID() -> String {
        var random = SystemRandomNumberGenerator()
        return [random.next(), random.next()].map { (half: UInt64) in
            let digits = String(half, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }.joined()
    }

    /// Throws when a value is out of range.
    ///
    /// - Parameter name: How to name a setting in the message, given its
    ///   `stoa.json` key (`segment_bytes`); the command line passes its
    ///   option's name (`--segment-bytes`).
    public func validate(naming name: (String) -> String = { $0 }) throws(StoaError) {
        func bad(_ message: String) -> StoaError { StoaError(.badConfig, message) }
        if formatVersion != Self.currentFormatVersion {
            throw bad("format_version \(formatVersion) is not supported (this Stoa reads \(Self.currentFormatVersion))")
        }
        if segmentBytes < 4096 { throw bad("\(name("segment_bytes")) must be at least 4096, got \(segmentBytes)") }
        if segmentAge < .seconds(1) {
            throw bad("\(name("segment_age")) must be at least 1s, got \(Units.formatDuration(segmentAge))")
        }
        if maxRecordBytes < 64 || maxRecordBytes > 256 << 20 {
            throw bad("\(name("max_record_bytes")) must be between 64 and 256MiB, got \(maxRecordBytes)")
        }
        if fsyncInterval < .milliseconds(1) || fsyncInterval > .seconds(86_400) {
            throw bad(
                "\(name("fsync_interval")) must be between 1ms and 1d, got \(Units.formatDuration(fsyncInterval))"
                    + " (for no syncs, durability none)")
        }
        if fields.time.isEmpty { throw bad("\(name("fields.time")) must name at least one field") }
        for (key, names) in [("fields.time", fields.time), ("fields.type", fields.type),
                             ("fields.conversation", fields.conversation)] where names.contains(where: \.isEmpty) {
            throw bad("\(name(key)) must not hold an empty field name")
        }
        if !(1...9).contains(compressionLevel) {
            throw bad("\(name("compression_level")) must be 1 to 9, got \(compressionLevel)")
        }
        if memberBytes < 64 << 10 || memberBytes > 64 << 20 {
            throw bad("\(name("member_bytes")) must be between 64KiB and 64MiB, got \(memberBytes)")
        }
        for (key, value) in [("max_bytes", maxBytes), ("keep_free", keepFree)] {
            if let value, value < 0 { throw bad("\(name(key)) must not be negative") }
        }
        for (key, value) in [("segment_age", segmentAge), ("hot_for", hotFor), ("warm_for", warmFor),
                             ("retain_for", retainFor), ("dedup_window", dedupWindow)] {
            guard let value else { continue }
            if value < .zero { throw bad("\(name(key)) must not be negative") }
            if value > Self.longestDuration {
                throw bad("\(name(key)) is too long (the longest is about 292,000 years: 9223372036854 seconds)")
            }
        }
        if let storeID, storeID.utf8.count != 32 || !storeID.utf8.allSatisfy(Self.isHexDigit) {
            throw bad("\(name("store_id")) must be 32 hex digits, got \"\(storeID)\"")
        }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "f"))
    }
}

extension StoreConfiguration: Codable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case formatVersion = "format_version"
        case fields
        case segmentBytes = "segment_bytes"
        case segmentAge = "segment_age"
        case maxRecordBytes = "max_record_bytes"
        case durability
        case fsyncInterval = "fsync_interval"
        case hotFor = "hot_for"
        case warmFor = "warm_for"
        case retainFor = "retain_for"
        case maxBytes = "max_bytes"
        case keepFree = "keep_free"
        case archivePath = "archive_path"
        case compressionLevel = "compression_level"
        case memberBytes = "member_bytes"
        case dedupWindow = "dedup_window"
        case storeID = "store_id"
    }

    /// The keys of the `fields` object.
    private enum FieldKeys: String, CaseIterable {
        case time, type, conversation
    }

    /// Any key, to list the keys a JSON object has.
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Refuses a key this version does not know (a typo like `hot_forr`
    /// would otherwise be ignored, and its setting silently not applied),
    /// suggesting the nearest known one.
    private static func checkKeys(
        _ container: KeyedDecodingContainer<AnyKey>, known: [String], in object: String
    ) throws(StoaError) {
        for key in container.allKeys.map(\.stringValue).sorted() where !known.contains(key) {
            var message = "unknown key \"\(object)\(key)\""
            if let nearest = Self.nearest(to: key, among: known) { message += " (did you mean \"\(object)\(nearest)\"?)" }
            message += "; the keys are \(known.map { object + $0 }.joined(separator: ", "))"
            throw StoaError(.badConfig, message)
        }
    }

    /// The known key closest to `key` by edit distance, if it is close (at
    /// most a third of its letters, and at least 1, changed).
    static func nearest(to key: String, among known: [String]) -> String? {
        func distance(_ a: [UInt8], _ b: [UInt8]) -> Int {
            var previous = Array(0...b.count)
            for (i, x) in a.enumerated() {
                var current = [i + 1]
                for (j, y) in b.enumerated() {
                    current.append(Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
                }
                previous = current
            }
            return previous[b.count]
        }
        let lowered = Array(key.lowercased().utf8)
        let scored = known.map { (name: $0, distance: distance(lowered, Array($0.utf8))) }
        guard let best = scored.min(by: { $0.distance < $1.distance }) else { return nil }
        return best.distance <= Swift.max(1, key.utf8.count / 3) ? best.name : nil
    }

    public init(from decoder: any Decoder) throws {
        try Self.checkKeys(
            try decoder.container(keyedBy: AnyKey.self), known: CodingKeys.allCases.map(\.rawValue), in: "")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        /// A number in `stoa.json`, read exactly: a whole number as `Int64`,
        /// else a finite `Double`; nil when the value is not a number.
        func number(_ key: CodingKeys) -> (whole: Int64?, value: Double)? {
            if let whole = try? c.decodeIfPresent(Int64.self, forKey: key) { return (whole, Double(whole)) }
            if let value = try? c.decodeIfPresent(Double.self, forKey: key) { return (nil, value) }
            return nil
        }
        if let (whole, value) = number(.formatVersion) {
            guard let whole, let version = Int(exactly: whole) else {
                throw StoaError(.badConfig, "format_version \(value) is not supported (this Stoa reads \(Self.currentFormatVersion))")
            }
            formatVersion = version
        } else {
            formatVersion = try c.decode(Int.self, forKey: .formatVersion)  // missing or not a number: says which
        }
        if c.contains(.fields) {
            try Self.checkKeys(
                try c.nestedContainer(keyedBy: AnyKey.self, forKey: .fields), known: FieldKeys.allCases.map(\.rawValue),
                in: "fields.")
        }
        fields = try c.decodeIfPresent(FieldNames.self, forKey: .fields) ?? FieldNames()
        func duration(_ key: CodingKeys) throws -> Duration? {
            if let (whole, value) = number(key) {
                // Seconds: checked, a value from a file must never trap.
                if let whole {
                    let (micros, overflow) = whole.multipliedReportingOverflow(by: 1_000_000)
                    if !overflow { return .microseconds(micros) }
                } else if value.isFinite, let micros = Int64(exactly: (value * 1_000_000).rounded(.towardZero)) {
                    return .microseconds(micros)
                }
                throw StoaError(
                    .badConfig,
                    "\(key.rawValue): \(whole.map(String.init) ?? String(value)) seconds is out of range "
                        + "(a duration is at most about 292,000 years: 9223372036854 seconds)")
            }
            guard let text = try c.decodeIfPresent(String.self, forKey: key) else { return nil }
            do {
                return try Units.parseDuration(text)
            } catch {
                throw StoaError(.badConfig, "\(key.rawValue): \(error.message)")
            }
        }
        func size(_ key: CodingKeys) throws -> Int64? {
            if let (whole, value) = number(key) {
                if let whole { return whole }
                throw StoaError(
                    .badConfig, "\(key.rawValue): \(value) is not a whole number of bytes (at most \(Int64.max))")
            }
            guard let text = try c.decodeIfPresent(String.self, forKey: key) else { return nil }
            do {
                return try Units.parseSize(text)
            } catch {
                throw StoaError(.badConfig, "\(key.rawValue): \(error.message)")
            }
        }
        if let value = try size(.segmentBytes) { segmentBytes = value }
        if let value = try duration(.segmentAge) { segmentAge = value }
        if let value = try size(.maxRecordBytes) { maxRecordBytes = value }
        if let value = try c.decodeIfPresent(Durability.self, forKey: .durability) { durability = value }
        if let value = try duration(.fsyncInterval) { fsyncInterval = value }
        hotFor = try duration(.hotFor)
        warmFor = try duration(.warmFor)
        retainFor = try duration(.retainFor)
        maxBytes = try size(.maxBytes)
        keepFree = try size(.keepFree)
        archivePath = try c.decodeIfPresent(String.self, forKey: .archivePath)
        if let (whole, value) = number(.compressionLevel) {
            guard let whole, (1...9).contains(whole) else {
                throw StoaError(.badConfig, "compression_level must be 1 to 9, got \(whole.map(String.init) ?? String(value))")
            }
            compressionLevel = Int(whole)
        } else if c.contains(.compressionLevel) {
            throw StoaError(.badConfig, "compression_level must be a number from 1 to 9")
        }
        if let value = try size(.memberBytes) { memberBytes = value }
        dedupWindow = try duration(.dedupWindow)
        storeID = try c.decodeIfPresent(String.self, forKey: .storeID)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(formatVersion, forKey: .formatVersion)
        try c.encode(fields, forKey: .fields)
        try c.encode(segmentBytes, forKey: .segmentBytes)
        try c.encode(Units.formatDuration(segmentAge), forKey: .segmentAge)
        try c.encode(maxRecordBytes, forKey: .maxRecordBytes)
        try c.encode(durability, forKey: .durability)
        try c.encode(Units.formatDuration(fsyncInterval), forKey: .fsyncInterval)
        try c.encodeIfPresent(hotFor.map(Units.formatDuration), forKey: .hotFor)
        try c.encodeIfPresent(warmFor.map(Units.formatDuration), forKey: .warmFor)
        try c.encodeIfPresent(retainFor.map(Units.formatDuration), forKey: .retainFor)
        try c.encodeIfPresent(maxBytes, forKey: .maxBytes)
        try c.encodeIfPresent(keepFree, forKey: .keepFree)
        try c.encodeIfPresent(archivePath, forKey: .archivePath)
        try c.encode(compressionLevel, forKey: .compressionLevel)
        try c.encode(memberBytes, forKey: .memberBytes)
        try c.encodeIfPresent(dedupWindow.map(Units.formatDuration), forKey: .dedupWindow)
        try c.encodeIfPresent(storeID, forKey: .storeID)
    }

    /// Reads `stoa.json`.
    static func load(from path: String) throws(StoaError) -> StoreConfiguration {
        try decode(try OpenFile(readingAt: path).readAll(), path: path)
    }

    /// Reads the bytes of `stoa.json`, read from `path`.
    package static func decode(_ bytes: [UInt8], path: String) throws(StoaError) -> StoreConfiguration {
        let configuration: StoreConfiguration
        do {
            configuration = try JSONDecoder().decode(StoreConfiguration.self, from: Data(bytes))
        } catch let error as StoaError {
            throw StoaError(.badConfig, error.message, path: path)
        } catch let error as DecodingError {
            throw StoaError(.badConfig, describe(error), path: path)
        } catch {
            throw StoaError(.badConfig, "cannot read the configuration: \(error)", path: path)
        }
        do {
            try configuration.validate()
        } catch {
            throw StoaError(.badConfig, error.message, path: path)
        }
        return configuration
    }

    /// The bytes of `stoa.json`: pretty, keys sorted, ending in a newline.
    package func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain values cannot fail.
        var bytes = Array(try! encoder.encode(self))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }
}

/// A decoding error of `stoa.json` in words: which key, and what was wrong.
private func describe(_ error: DecodingError) -> String {
    func key(_ path: [any CodingKey]) -> String {
        path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
    switch error {
    case .typeMismatch(_, let context) where context.codingPath.isEmpty:
        return "the configuration must be a JSON object"
    case .typeMismatch(let type, let context):
        return "\(key(context.codingPath)): expected \(typeName(type)), found something else"
    case .valueNotFound(let type, let context):
        return "\(key(context.codingPath)): expected \(typeName(type)), found null"
    case .keyNotFound(let missing, let context):
        let parent = key(context.codingPath)
        return "missing key \"\(parent.isEmpty ? "" : parent + ".")\(missing.stringValue)\""
    case .dataCorrupted(let context) where context.codingPath.last?.stringValue == "durability":
        return "durability must be none, interval or always"
    case .dataCorrupted(let context):
        let at = key(context.codingPath)
        let reason = context.underlyingError.map { "\($0)" } ?? context.debugDescription
        return at.isEmpty ? "not valid JSON: \(reason)" : "\(at): \(context.debugDescription)"
    @unknown default:
        return "cannot read the configuration: \(error)"
    }
}

private func typeName(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: "a string"
    case is Int.Type, is Int64.Type: "a whole number"
    case is Double.Type: "a number"
    case is [String].Type: "a list of strings"
    case is Durability.Type: "none, interval or always"
    default: "\(type)"
    }
}
