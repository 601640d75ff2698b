#if canImport(Glibc)
import Glibc
#endif
import Stoa

/// Recovery of the active segment (``Recovery/recoverActiveSegment(at:acknowledged:report:)``)
/// from any bytes. The input's first byte gives how many lines the
/// high-water mark acknowledged (0–3); the rest is the segment. Recovery
/// must leave only whole, valid record lines; keep every valid line where
/// it was (its seq) and every line up to the last valid one or the
/// acknowledged ones (a damaged one replaced by a tombstone whose bytes
/// went to quarantine); put every byte it cut in quarantine; report what it
/// returns; and find nothing to do when run again.
enum RecoveryTarget {
    static let fields = FieldNames.default
    static let encoder = RecordEncoder(fields: fields, maxRecordBytes: 1 << 20)
    static let scratch = ScratchDirectory("recovery")

    static func run(_ input: [UInt8]) throws(FuzzFinding) {
        guard let root = scratch.path, let first = input.first else { return }
        let acknowledged = Int(first % 4)
        let bytes = Array(input.dropFirst())
        let store = root + "/store"
        try? removeTree(store)
        mkdir(store, 0o750)
        mkdir(store + "/segments", 0o750)
        let segment = store + "/segments/00000000000000000000.jsonl"
        guard ForeignTarget.write(bytes, to: segment) != nil else { return }

        // The lines as found: each valid or not, the last maybe unfinished.
        var lines: [(bytes: ArraySlice<UInt8>, valid: Bool)] = []
        var rest = bytes[...]
        while !rest.isEmpty {
            guard let end = rest.firstIndex(of: 0x0A) else {
                lines.append((rest, false))
                break
            }
            let line = rest[..<end]
            let valid = Array(line).withUnsafeBufferPointer { (try? encoder.facts(ofLine: $0)) != nil }
            lines.append((line, valid))
            rest = rest[(end + 1)...]
        }
        let lastValid = lines.lastIndex { $0.valid }
        let kept = min(lines.count, max(lastValid.map { $0 + 1 } ?? 0, acknowledged))

        let recovery = Recovery(layout: StoreLayout(root: store), encoder: encoder)
        var report = RecoveryReport()
        let result = Result { () throws(StoaError) in try recovery.recoverActiveSegment(at: segment, acknowledged: acknowledged, report: &report) }
        guard case .success(let (count, size)) = result else {
            throw FuzzFinding("recovery failed: \(result)")
        }
        guard let after = read(segment) else { throw FuzzFinding("the segment is gone after recovery") }
        try expect(size == after.count, "recovery says the segment has \(size) bytes, it has \(after.count)")
        try expect(count == UInt64(kept), "recovery kept \(count) lines, expected \(kept)")

        // Whole valid lines only; each valid line as it was, each other one a tombstone.
        try expect(after.isEmpty || after.last == 0x0A, "the recovered segment ends in an unfinished line")
        let afterLines = after.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
        try expect(afterLines.count == kept, "the recovered segment has \(afterLines.count) lines, expected \(kept)")
        var replaced = 0
        for (number, line) in afterLines.enumerated() {
            guard let facts = Array(line).withUnsafeBufferPointer({ try? encoder.facts(ofLine: $0) }) else {
                throw FuzzFinding("line \(number + 1) of the recovered segment is not a valid record: \(shown(line))")
            }
            if number < lines.count && lines[number].valid {
                try expect(line.elementsEqual(lines[number].bytes), "valid line \(number + 1) changed in recovery")
            } else {
                replaced += 1
                let type = Array(line).withUnsafeBufferPointer { facts.type(in: $0) }
                try expect(type == "stoa.damaged", "damaged line \(number + 1) was replaced by a line of type \(type)")
            }
        }
        try expect(report.replaced.count == replaced, "recovery reports \(report.replaced.count) replaced lines, \(replaced) were")
        for replacement in report.replaced {
            let original = lines[replacement.line - 1].bytes
            try expect(read(replacement.quarantined).map { $0[...] == original } ?? false, "a replaced line's bytes are not in quarantine")
        }
        // What was cut is in quarantine.
        let keptBytes = kept == 0 ? 0 : (lines[kept - 1].bytes.endIndex + 1)
        if keptBytes < bytes.count {
            guard let cut = report.cuts.first, report.cuts.count == 1 else { throw FuzzFinding("recovery cut bytes without reporting it") }
            try expect(cut.offset == keptBytes && cut.length == bytes.count - keptBytes, "the cut reported is not the bytes cut")
            try expect(read(cut.quarantined).map { $0[...] == bytes[keptBytes...] } ?? false, "the bytes cut are not in quarantine")
        } else {
            try expect(report.cuts.isEmpty, "recovery reports a cut it did not make")
        }
        // Again: nothing to do.
        var again = RecoveryReport()
        let second = Result { () throws(StoaError) in try recovery.recoverActiveSegment(at: segment, acknowledged: acknowledged, report: &again) }
        try expect((try? second.get()).map { $0.count == count && $0.size == size } ?? false, "recovery run again gives another segment")
        try expect(again.cuts.isEmpty && again.replaced.isEmpty, "recovery run again repairs again")
        try expect(read(segment) == after, "recovery run again changed the segment")
    }

    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard count >= 0 else { return nil }
            if count == 0 { return bytes }
            bytes += buffer[..<count]
        }
    }
}
