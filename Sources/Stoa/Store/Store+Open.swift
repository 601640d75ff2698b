extension Store {
    // MARK: Opening

    /// Gives a store made before store ids one, under the lock, so that its
    /// backups can tell it from another store (``BackupJob``). `stoa.json`
    /// is read again here: the copy read before the lock may be stale (a
    /// writer that held the lock meanwhile may have added an id, which its
    /// backups carry), and an id is never replaced.
    static func addStoreID(_ layout: StoreLayout, _ fileSystem: any FileSystem) throws(StoaError) -> StoreConfiguration {
        var configuration = try StoreConfiguration.load(from: layout.configuration)
        if configuration.storeID == nil {
            configuration.storeID = StoreConfiguration.newStoreID()
            try fileSystem.writeFileAtomically(layout.configuration, bytes: configuration.encoded())
        }
        return configuration
    }

    static func loadOrCreate(
        _ layout: StoreLayout, _ configuration: StoreConfiguration, _ fileSystem: any FileSystem
    ) throws(StoaError) -> StoreConfiguration {
        if try FileReads.fileSystem.status(layout.configuration) != nil {
            return try StoreConfiguration.load(from: layout.configuration)
        }
        // Checked before anything is created: a refused store leaves no directory behind.
        var configuration = configuration
        if configuration.storeID == nil { configuration.storeID = StoreConfiguration.newStoreID() }
        do {
            try configuration.validate()
        } catch {
            throw StoaError(.badConfig, error.message, path: layout.configuration)
        }
        if let names = try FileReads.fileSystem.listDirectory(layout.root) {
            let foreign = names.filter { $0 != "LOCK" && !$0.hasSuffix(".tmp") }
            if !foreign.isEmpty {
                throw StoaError(
                    .notAStore,
                    "the directory has files but no stoa.json, so it is not a store; "
                        + "use an empty or new directory (read-only commands also work on a folder of JSONL logs)",
                    path: layout.root)
            }
        } else {
            try fileSystem.makeDirectory(layout.root)
        }
        try fileSystem.writeFileAtomically(layout.configuration, bytes: configuration.encoded())
        return configuration
    }

    /// What opening found when the segments end before the high-water mark.
    static func describeMissing(_ missing: Range<UInt64>, segments: Int) -> String {
        "seqs \(missing.lowerBound) to \(missing.upperBound - 1) were acknowledged (\(HighWaterMark.fileName) records how far seqs went) "
            + "but no segment holds them: the newest segments were removed or cut short"
            + (segments == 0 ? " (none is left)" : "")
            + "; new records start at seq \(missing.upperBound), so that no seq is used twice "
            + "(a backup's segments can be copied back into the gap)"
    }

    /// The checkpoint `.idx` of the active segment `file`, with the line it
    /// ends with, if it is valid and the segment still holds that line where
    /// the checkpoint ends (``IndexFile/loadCheckpoint(_:base:segment:size:trusting:)``).
    ///
    /// `checkingBlocks`: and the segment's bytes up to there are those it
    /// indexed, each block's CRC32C as it recorded: a fraction of a scan's
    /// time, so that recovery need not read them again.
    static func checkpoint(
        of file: SegmentFile, layout: StoreLayout, checkingBlocks: Bool
    ) -> (file: IndexFile, lastLine: [UInt8], blocksChecked: Bool)? {
        let indexPath = layout.path(of: SegmentName(base: file.base, kind: .index))
        guard let segment = try? OpenFile(readingAt: file.path), let size = try? segment.size,
            let (checkpoint, _) = IndexFile.loadCheckpoint(indexPath, base: file.base, segment: segment, size: size),
            let lastLine = IndexFile.lastLine(of: segment, endingAt: Int(checkpoint.plainBytes))
        else { return nil }
        let index = checkpoint.index
        guard checkingBlocks, index.hasChecksums else { return (checkpoint, lastLine, false) }
        return (checkpoint, lastLine, blocksAreIntact(segment, index))
    }

    /// Whether each block of `index` has in `segment` the CRC32C it
    /// recorded. Read mapped, which is safe here: this process holds the
    /// store's lock, and only the lock's holder ever cuts the active
    /// segment. (Its pages are the page cache's: they count in the
    /// process's RSS while mapped, but allocate nothing.)
    private static func blocksAreIntact(_ segment: OpenFile, _ index: SegmentIndex) -> Bool {
        guard let mapping = try? MappedFile(segment, count: Int(index.byteCount)) else { return false }
        return mapping.withUnsafeBytes { bytes in
            index.blocks.allSatisfy { block in
                let start = Int(block.offset)
                return CRC32C.checksum(UnsafeBufferPointer(rebasing: bytes[start..<(start + Int(block.length))])) == block.checksum
            }
        }
    }

    /// The seq after the last record of a sealed segment.
    static func endSeq(of file: SegmentFile, encoder: RecordEncoder) throws(StoaError) -> UInt64 {
        let size = Int(try FileReads.fileSystem.status(file.path)?.st_size ?? 0)
        if let index = IndexFile.load(file.indexPath, base: file.base, fileSize: size) {
            return file.base + UInt64(index.index.lineCount)
        }
        return file.base + UInt64(try SidecarIndexer.build(file, encoder: encoder).index.lineCount)
    }
}
