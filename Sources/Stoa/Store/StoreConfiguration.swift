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
/// Durations are written as text (`"1h"`, `"100ms"`) and sizes as bytes; when
/// reading, a duration may also be a number of seconds and a size a text like
/// `"64MiB"`.
public struct StoreConfiguration: Sendable, Equatable {
    /// The on-disk format this store was written with.
    public var formatVersion = StoreConfiguration.currentFormatVersion
    public var fields = FieldNames()
    /// Seal the active segment when it reaches this size.
    public var segmentBytes: Int64 = 64 << 20
    /// Seal the active segment when it is this old (µs).
    public var segmentAge: Int64 = 3_600_000_000
    /// Refuse records larger than this (the stored line, newline included).
    public var maxRecordBytes: Int64 = 1 << 20
    /// The default durability of appends.
    public var durability: Durability = .interval
    /// With `.interval`, how often to sync (µs).
    public var fsyncInterval: Int64 = 100_000
    /// Tier policy (ages in µs, from when a segment was sealed).
    public var hotFor: Int64?
    public var warmFor: Int64?
    public var retainFor: Int64?
    public var maxBytes: Int64?
    public var keepFree: Int64?
    public var archivePath: String?
    /// zlib level for warm segments, 1 (fast) to 9 (small).
    public var compressionLevel = 6
    /// Plain bytes per gzip member in warm segments (whole blocks of ~64 KiB).
    public var memberBytes: Int64 = 1 << 20
    /// A record appended again this soon (µs) after an identical one is
    /// acknowledged with the earlier seq and not stored again, across
    /// processes too (see ``DedupWindow`` for what "identical" and "this
    /// soon" mean after a reopen). Off when nil.
    public var dedupWindow: Int64?

    public static let currentFormatVersion = 1

    public init() {}

    /// Throws when a value is out of range.
    public func validate() throws(StoaError) {
        func bad(_ message: String) -> StoaError { StoaError(.badConfig, message) }
        if formatVersion != Self.currentFormatVersion {
            throw bad("format_version \(formatVersion) is not supported (this Stoa reads \(Self.currentFormatVersion))")
        }
        if segmentBytes < 4096 { throw bad("segment_bytes must be at least 4096, got \(segmentBytes)") }
        if segmentAge < 1_000_000 { throw bad("segment_age must be at least 1s") }
        if maxRecordBytes < 64 || maxRecordBytes > 256 << 20 {
            throw bad("max_record_bytes must be between 64 and 256MiB, got \(maxRecordBytes)")
        }
        if fsyncInterval < 1_000 { throw bad("fsync_interval must be at least 1ms") }
        if fields.time.isEmpty { throw bad("fields.time must name at least one field") }
        if !(1...9).contains(compressionLevel) { throw bad("compression_level must be 1 to 9, got \(compressionLevel)") }
        if memberBytes < 64 << 10 || memberBytes > 64 << 20 {
            throw bad("member_bytes must be between 64KiB and 64MiB, got \(memberBytes)")
        }
        for (name, value) in [("hot_for", hotFor), ("warm_for", warmFor), ("retain_for", retainFor),
                              ("max_bytes", maxBytes), ("keep_free", keepFree)] {
            if let value, value < 0 { throw bad("\(name) must not be negative") }
        }
    }
}

extension StoreConfiguration: Codable {
    enum CodingKeys: String, CodingKey {
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
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        fields = try c.decodeIfPresent(FieldNames.self, forKey: .fields) ?? FieldNames()
        func duration(_ key: CodingKeys) throws -> Int64? {
            if let seconds = try? c.decodeIfPresent(Int64.self, forKey: key) { return seconds * 1_000_000 }
            guard let text = try c.decodeIfPresent(String.self, forKey: key) else { return nil }
            return try Units.parseDuration(text)
        }
        func size(_ key: CodingKeys) throws -> Int64? {
            if let bytes = try? c.decodeIfPresent(Int64.self, forKey: key) { return bytes }
            guard let text = try c.decodeIfPresent(String.self, forKey: key) else { return nil }
            return try Units.parseSize(text)
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
        if let value = try c.decodeIfPresent(Int.self, forKey: .compressionLevel) { compressionLevel = value }
        if let value = try size(.memberBytes) { memberBytes = value }
        dedupWindow = try duration(.dedupWindow)
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
    }

    /// Reads `stoa.json`.
    static func load(from path: String) throws(StoaError) -> StoreConfiguration {
        let bytes: [UInt8]
        do {
            bytes = try OpenFile(readingAt: path).readAll()
        }
        let configuration: StoreConfiguration
        do {
            configuration = try JSONDecoder().decode(StoreConfiguration.self, from: Data(bytes))
        } catch let error as StoaError {
            throw StoaError(.badConfig, error.message, path: path)
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
    func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain values cannot fail.
        var bytes = Array(try! encoder.encode(self))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }
}
