import Stoa

/// `stoa.json` decoding (``StoreConfiguration``). Any bytes either load or
/// give `.badConfig` (nothing else, no trap); a configuration that loads
/// is written back (``StoreConfiguration/encoded()``) as bytes that load
/// to the same configuration, and gives the encoder and layout a store
/// opens with.
enum ConfigTarget {
    static func run(_ input: [UInt8]) throws(FuzzFinding) {
        let configuration: StoreConfiguration
        do throws(StoaError) {
            configuration = try StoreConfiguration.decode(input, path: "stoa.json")
        } catch {
            try expect(error.code == .badConfig, "stoa.json decoding threw \(error.code), not badConfig: \(error.message)")
            try expect(error.path == "stoa.json", "a bad stoa.json's error does not name it")
            return
        }
        let written = configuration.encoded()
        let again = Result { () throws(StoaError) in try StoreConfiguration.decode(written, path: "stoa.json") }
        guard case .success(let reread) = again else {
            throw FuzzFinding("a loaded stoa.json, written back, does not load: \(again) \(shown(written))")
        }
        try expect(reread == configuration, "a loaded stoa.json, written back, loads otherwise: \(shown(written))")
        let encoder = RecordEncoder(fields: configuration.fields, maxRecordBytes: Int(configuration.maxRecordBytes))
        var line: [UInt8] = []
        // A record without a time gets one under the first time name, and reads back with it.
        let encoded = Array(#"{"a":1}"#.utf8).withUnsafeBufferPointer { bytes in
            Result { () throws(StoaError) in try encoder.encode(bytes, into: &line, now: 0) }
        }
        guard case .success = encoded else { throw FuzzFinding("a loaded stoa.json's encoder refuses {\"a\":1}: \(encoded)") }
        let facts = Array(line.dropLast()).withUnsafeBufferPointer { bytes in
            Result { () throws(StoaError) in try encoder.facts(ofLine: bytes) }
        }
        try expect((try? facts.get())?.time == 0, "a record stamped under \(configuration.fields.time) does not read back: \(shown(line))")
        _ = StoreLayout(root: "/store", archivePath: configuration.archivePath)
    }
}
