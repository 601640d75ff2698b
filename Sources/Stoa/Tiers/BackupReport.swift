/// What a backup did (``StoreBackup/copy(to:)``).
public struct BackupReport: Sendable, Equatable {
    /// Segment files placed in the backup by this run, as paths relative to
    /// it (`segments/…jsonl`, `archive/…jsonl.gz`), in seq order.
    public var copied: [String] = []
    /// Of ``copied``, how many are hard links to the source's file (same file
    /// system) rather than copies.
    public var linked = 0
    /// Sealed segments the backup already held in the same form and size,
    /// left as they were.
    public var skipped: [String] = []
    /// Bytes written by copying (hard links write none).
    public var bytesCopied: Int64 = 0
    /// Bytes of the segments placed as hard links.
    public var bytesLinked: Int64 = 0
    /// Older forms of segments the source moved to another tier since the
    /// last backup, removed once the new form was in place.
    public var removed: [String] = []
    /// Segments the backup holds that the source no longer has (expired
    /// there): kept, because a backup keeps history.
    public var kept: [String] = []
    /// The seq after the last record in the backup: it holds the source's
    /// records up to `nextSeq - 1`.
    public var nextSeq: UInt64 = 0

    package init() {}

    /// One line of summary, then a line per removed form and one for kept segments.
    package var lines: [String] {
        let total = copied.count + skipped.count
        var summary = "backed up \(total) segment\(total == 1 ? "" : "s"): \(copied.count) copied"
        if linked > 0 { summary += " (\(linked) as hard links)" }
        summary += ", \(skipped.count) already in the backup; \(Units.formatSizeApproximate(bytesCopied)) written"
        summary += nextSeq > 0 ? "; records up to seq \(nextSeq - 1)" : "; no records yet"
        var lines = [summary]
        lines += removed.map { "removed \($0): the source moved that segment to another tier" }
        if !kept.isEmpty {
            lines.append(
                "kept \(kept.count) segment\(kept.count == 1 ? "" : "s") the source no longer has (expired there; a backup keeps history)")
        }
        return lines
    }
}
