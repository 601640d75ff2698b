import Foundation
import StoaTestSupport
import Testing

/// `stoa export` and `stoa import` never turn on the store or on the
/// directory they read: export writes nowhere inside what it reads and
/// replaces a file only when asked; import never reads the store's own files.
@Suite struct ExportImportCLITests {
    let stoa = builtProduct("stoa")

    func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    /// Every file under `root` (recursively, symbolic links not followed) with its bytes.
    static func contents(of root: String) -> [String: [UInt8]] {
        var result: [String: [UInt8]] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let name = enumerator?.nextObject() as? String {
            let path = root + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            result[name] = (try? readBytes(path)) ?? []
        }
        return result
    }

    /// A store of `count` records with an archive elsewhere, and its directory.
    func makeStore(in directory: TemporaryDirectory, count: Int = 10, extra: [String] = []) throws -> String {
        let store = directory.appending("store")
        let created = try run(stoa, ["init", store] + extra)
        #expect(created.status == 0, "\(created.stderr)")
        let input = (0..<count).map { #"{"ts":"2026-11-20T10:00:\#(String(format: "%02d", $0 % 60))Z","n":\#($0)}"# }
        let appended = try run(stoa, ["append", store], input: input.joined(separator: "\n") + "\n")
        #expect(appended.status == 0, "\(appended.stderr)")
        return store
    }

    @Test func exportRefusesEveryPathInsideTheStoreHoweverItIsSpelled() throws {
        let directory = TemporaryDirectory()
        let archive = directory.appending("archive")
        try FileManager.default.createDirectory(atPath: archive, withIntermediateDirectories: true)
        let store = try makeStore(in: directory, extra: ["--archive-path", archive])
        let segment = "00000000000000000000.jsonl"
        try FileManager.default.createSymbolicLink(atPath: directory.appending("link"), withDestinationPath: store + "/segments")
        let before = Self.contents(of: store)
        #expect(before["segments/" + segment] != nil)

        let destinations = [
            store + "/segments/" + segment,  // the active segment (the issue's repro)
            store + "/segments/../segments/" + segment,
            directory.appending("link/") + segment,  // through a symbolic link
            store + "/stoa.json",
            store + "/new.jsonl",
            store + "/quarantine/new.jsonl",  // not even in a directory that does not exist yet
            archive + "/00000000000000000000.jsonl.gz",  // the archive, outside the store
            store,
        ]
        for destination in destinations {
            for force in [[], ["--force"]] {
                let result = try run(stoa, ["export", store, destination, "--limit", "3"] + force)
                #expect(result.status == 64, "\(destination) \(force): \(result.status) \(result.stderr)")
                #expect(result.stderr.contains("stoa: \(destination): is inside "), "\(result.stderr)")
                #expect(result.stdout.isEmpty)
            }
        }
        #expect(Self.contents(of: store) == before, "the store changed")
        #expect(Self.contents(of: archive).isEmpty)
        #expect(lines(try run(stoa, ["query", store]).stdout).count == 10)
    }

    @Test func exportNeverWritesIntoTheDirectoryOfLogsItReads() throws {
        let directory = TemporaryDirectory()
        let logs = try copyAgentLogs(into: directory)
        let environment = ["STOA_CACHE_DIR": directory.appending("cache")]
        let before = Self.contents(of: logs)
        for destination in [
            logs + "/conversations_2026-11-20.jsonl", logs + "/new.jsonl", logs + "/sub/new.jsonl",
            directory.path + "/./logs/../logs/agent.log",
        ] {
            let result = try run(stoa, ["export", logs, destination, "--force"], environment: environment)
            #expect(result.status == 64, "\(destination): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains("\(destination): is inside \(logs), which this export reads"))
        }
        #expect(Self.contents(of: logs) == before)
        let outside = try run(stoa, ["export", logs, directory.appending("out.jsonl")], environment: environment)
        #expect(outside.status == 0, "\(outside.stderr)")
        let exported = lines(try String(contentsOfFile: directory.appending("out.jsonl"), encoding: .utf8))
        #expect(!exported.isEmpty)
        #expect(exported == lines(try run(stoa, ["query", logs], environment: environment).stdout))
    }

    @Test func exportReplacesAnExistingFileOnlyWithForceAndWritesStandardOutputForADash() throws {
        let directory = TemporaryDirectory()
        let store = try makeStore(in: directory)
        let out = directory.appending("out.jsonl")
        try "keep\n".write(toFile: out, atomically: false, encoding: .utf8)

        let refused = try run(stoa, ["export", store, out])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("\(out): already exists"))
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "keep\n")

        let forced = try run(stoa, ["export", store, out, "--force", "--limit", "4"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(lines(try String(contentsOfFile: out, encoding: .utf8)).count == 4)

        let directoryAsOutput = try run(stoa, ["export", store, directory.path, "--force"])
        #expect(directoryAsOutput.status == 64)
        #expect(directoryAsOutput.stderr.contains("is a directory"))
        // A device is not replaced by a file, even with --force (as root, /dev/null would be).
        let device = try run(stoa, ["export", store, "/dev/null", "--force"])
        #expect(device.status == 64)
        #expect(device.stderr.contains("/dev/null: is not a regular file"))
        #expect(!listDirectory("/dev").contains { $0.hasPrefix("null.") && $0.hasSuffix(".tmp") })

        let dash = try run(stoa, ["export", store, "-", "--limit", "2"])
        #expect(dash.status == 0, "\(dash.stderr)")
        #expect(lines(dash.stdout) == lines(try run(stoa, ["query", store, "--limit", "2"]).stdout))
        #expect(dash.stderr.contains("exported 2 records to standard output"))
        #expect(!FileManager.default.fileExists(atPath: "-"))
        // Nothing but what was asked for is left beside the output.
        #expect(listDirectory(directory.path).sorted() == ["out.jsonl", "store"])
    }

    @Test func importRefusesTheStoresOwnFiles() throws {
        let directory = TemporaryDirectory()
        // Small segments: without the refusal, reading the active segment
        // would grow it only until it rotates, so this test ends either way.
        let store = try makeStore(in: directory, count: 100, extra: ["--segment-bytes", "64KiB"])
        let active = store + "/segments/00000000000000000000.jsonl"
        try FileManager.default.createSymbolicLink(atPath: directory.appending("link.jsonl"), withDestinationPath: active)
        try FileManager.default.linkItem(atPath: active, toPath: directory.appending("hard.jsonl"))
        let other = directory.appending("other.jsonl")
        try #"{"ts":"2026-11-21T00:00:00Z","n":"other"}"#.write(toFile: other, atomically: false, encoding: .utf8)

        for source in [active, store + "/segments/./00000000000000000000.jsonl", directory.appending("link.jsonl")] {
            let result = try run(stoa, ["import", store, other, source])
            #expect(result.status == 64, "\(source): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains("\(source): is inside the store \(store)"), "\(result.stderr)")
        }
        let hard = try run(stoa, ["import", store, directory.appending("hard.jsonl")])
        #expect(hard.status == 64, "\(hard.stderr)")
        #expect(hard.stderr.contains("is another name (a hard link) of the store's segment"))
        // Nothing was imported, not even the other file named first.
        #expect(lines(try run(stoa, ["query", store]).stdout).count == 100)
    }

    /// python-json-logger's lines keep their time in `asctime`: the issue's repro.
    @Test func importNeverStoresTheMomentOfImportAsARecordsTimeUnlessAsked() throws {
        let directory = TemporaryDirectory()
        let logs = foreignFixture("python-json-logger/agent_2026-11-20.jsonl")
        let store = directory.appending("store")

        // The store's fields find no time: every line is refused, by line, with what to do.
        let plain = try run(stoa, ["import", store, logs])
        #expect(plain.status == 65, "\(plain.stderr)")
        for line in [1, 2, 3, 5, 6] {
            #expect(plain.stderr.contains("\(logs):line \(line): record has no time field (ts, timestamp, time, @timestamp)"))
        }
        #expect(plain.stderr.contains("\(logs):line 4"))
        #expect(plain.stderr.contains("time field \"time\" is not a readable time"))
        #expect(plain.stderr.contains("stoa: 5 lines have no time in ts, timestamp, time, @timestamp: name the field"))
        #expect(plain.stderr.contains("--time-fields asctime"))
        #expect(plain.stderr.contains("--stamp-missing"))
        #expect(try run(stoa, ["query", store]).stdout.isEmpty)

        // Read as the reader of a directory of logs reads it with the same fields.
        let fields = ["--time-fields", "asctime", "--type-fields", "levelname"]
        let named = try run(stoa, ["import", store, logs] + fields)
        #expect(named.status == 65, "\(named.stderr)")
        #expect(named.stderr.contains("\(logs):line 3: record has no time field (asctime)"))
        #expect(named.stderr.contains("stoa: imported 5 records from \(logs) (seq 0-4), refused 1 line"))
        let foreign = try run(
            stoa, ["query", foreignFixture("python-json-logger")] + fields, environment: ["STOA_CACHE_DIR": directory.appending("cache")])
        let stored = try run(stoa, ["query", store])
        #expect(Self.times(stored.stdout) == Self.times(foreign.stdout, field: "asctime"))
        #expect(Self.times(stored.stdout).first == "2026-11-20T09:59:59.990000Z")
        #expect(lines(try run(stoa, ["query", store, "--type", "ERROR"]).stdout).count == 1)

        // Stamped only when asked, and said so.
        let stamped = try run(stoa, ["import", directory.appending("other"), logs, "--stamp-missing"] + fields)
        #expect(stamped.status == 0, "\(stamped.stderr)")
        #expect(stamped.stderr.contains("imported 6 records from \(logs) (seq 0-5), 1 of them without a time, stamped with the time of the import"))
    }

    /// The time each line of `output` is stored under: its `ts` (or `field`).
    static func times(_ output: String, field: String = "ts") -> [String] {
        output.split(separator: "\n").map { line in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            let text = object?[field] as? String ?? "?"
            guard field == "asctime" else { return text }
            // logging's asctime (UTC here) as Stoa writes times: 2026-11-20 10:00:00,123 → 2026-11-20T10:00:00.123000Z
            return text.replacingOccurrences(of: " ", with: "T").replacingOccurrences(of: ",", with: ".") + "000Z"
        }
    }
}
