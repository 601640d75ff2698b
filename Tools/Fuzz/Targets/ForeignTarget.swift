#if canImport(Glibc)
import Glibc
#endif
import Stoa

/// The foreign line reader (``ForeignLogFile``): a log file Stoa does not
/// own, as its bytes (a `.gz` when they start with gzip's magic). No input
/// traps, and the three ways of reading it agree:
///
/// - indexing (every line scanned strictly) keeps exactly the lines that
///   are records — each line on its own through the record scanner, a
///   last line without `\n` included — compacted, each a valid record;
/// - the fast normalising of the same bytes with that index (lines split
///   and compacted, never parsed) gives the same bytes;
/// - reading the blocks back from the file with `pread` (``ForeignLogFile/readBlocks``)
///   gives them again.
enum ForeignTarget {
    static let encoder = RecordEncoder(fields: .default, maxRecordBytes: 1 << 20, stampsMissingTime: false)
    static let scratch = ScratchDirectory("foreign")

    static func run(_ input: [UInt8]) throws(FuzzFinding) {
        let isGzip = input.starts(with: [0x1F, 0x8B])
        var contents = ForeignLogFile.Contents(
            plain: input, key: ForeignFileKey(device: 0, inode: 0, size: Int64(input.count), modifiedSeconds: 0, modifiedNanoseconds: 0, changedSeconds: 0, changedNanoseconds: 0),
            isComplete: true)
        if isGzip { (contents.plain, contents.damage) = ForeignLogFile.inflate(input, path: "fuzz.jsonl.gz") }
        let (normalised, fileIndex) = ForeignLogFile.index(contents, encoder: encoder)
        let index = fileIndex.index

        // The records, line by line through the scanner.
        var expected: [UInt8] = []
        var lines = 0
        var plain = contents.plain[...]
        if plain.starts(with: [0xEF, 0xBB, 0xBF]) { plain = plain.dropFirst(3) }
        while !plain.isEmpty {
            let end = plain.firstIndex(of: 0x0A) ?? plain.endIndex
            let line = Array(plain[..<end])
            lines += 1
            plain = end == plain.endIndex ? [] : plain[(end + 1)...]
            let isRecord = line.withUnsafeBufferPointer { bytes in
                (try? encoder.facts(ofLine: bytes)) != nil
            }
            if isRecord {
                var compact: [UInt8] = []
                line.withUnsafeBufferPointer { JSONString.appendCompacted($0, to: &compact) }
                expected += compact + [0x0A]
            }
        }
        try expect(normalised == expected, "indexing kept other lines than the scanner reads as records (\(normalised.count) bytes, expected \(expected.count))")
        try expect(
            Int(index.lineCount) == lines + (contents.damage == nil ? 0 : 1),
            "the index has \(index.lineCount) lines, the file \(lines)\(contents.damage == nil ? "" : " and a damaged gzip note")")
        try expect(index.byteCount == UInt64(normalised.count), "the index covers \(index.byteCount) bytes of \(normalised.count)")
        try expect(
            fileIndex.sources.count == index.blocks.count,
            "\(fileIndex.sources.count) block sources for \(index.blocks.count) blocks")
        try expect(
            ForeignLogFile.normalise(contents, index: index) == normalised,
            "normalising with the index gives other bytes than indexing")

        // The blocks read back from a file with these bytes.
        guard !isGzip, let directory = scratch.path else { return }
        let path = directory + "/fuzz.jsonl"
        guard let key = write(input, to: path) else { return }
        let numbers = index.blocks.indices.filter { index.blocks[$0].length > 0 }
        let read = Result { () throws(StoaError) in try ForeignLogFile.readBlocks(numbers, of: fileIndex, path: path, key: key) }
        guard case .success(let blocks?) = read else {
            throw FuzzFinding("the blocks of a file that did not change do not read back: \(read)")
        }
        try expect(blocks.bytes == normalised, "reading the blocks back gives other bytes than indexing")
    }

    /// Writes `bytes` to a new file at `path`; its key, or nil if the
    /// scratch directory cannot be written.
    static func write(_ bytes: [UInt8], to path: String) -> ForeignFileKey? {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o640)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            guard result > 0 else { return nil }
            written += result
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        return ForeignFileKey(info)
    }
}

/// A directory for a target's files, made once per process under
/// `/dev/shm` (or the temporary directory) and reused for every input.
final class ScratchDirectory: Sendable {
    let path: String?

    init(_ label: String) {
        let parent = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        var template = Array("\(parent)/stoa-fuzz-\(label).XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = made == nil ? nil : String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit {
        if let path { _ = try? removeTree(path) }
    }
}

/// Removes `path` and everything under it (`rm -r`), not following links.
func removeTree(_ path: String) throws {
    var info = stat()
    guard lstat(path, &info) == 0 else { return }
    if info.st_mode & S_IFMT == S_IFDIR {
        if let directory = opendir(path) {
            var names: [String] = []
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(directory)
            for name in names { try removeTree(path + "/" + name) }
        }
        rmdir(path)
    } else {
        unlink(path)
    }
}
