// stoa-bench query's process rows: whole short processes of the real `stoa`
// CLI, from exec to exit, as a script, a cron job or a person at a prompt
// runs them, each opening the store afresh:
//
//     stoa query DIR --since … --until …   (the narrow window of the `open` row)
//     stoa stats DIR
//     stoa tail -n 20 DIR
//     stoa --version                        (the process floor)
//
// and, for comparison, a python3 process that runs the same narrow query on
// the SQLite best schema with the `sqlite3` module and writes each line out
// as `stoa query` does (`python3 -c pass`, Python's own start-up, beside it).
//
// Each process runs once untimed (binary and data in the page cache), then
// K times, the processes taking turns so that they see the same machine;
// the median wall time and the max RSS of one more run under GNU time
// (`/usr/bin/time -f %M`; see ``rssAlone``) are shown. Every
// run's output is checked (line counts and bytes against the in-process
// query, the record count of stats), so that a broken binary cannot look fast.

import Foundation
import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// The processes, by name.
enum ProcessName {
    static let query = "stoa query"
    static let stats = "stoa stats"
    static let tail = "stoa tail -n 20"
    static let version = "stoa --version"
    static let sqliteQuery = "python3 sqlite3 query"
    static let pythonFloor = "python3 -c pass"
}

/// One short process to time, and how to tell its output is right.
struct ProcessSpec {
    var name: String
    var arguments: [String]
    /// nil when `output` is right, else what is wrong with it.
    var check: (_ output: [UInt8]) -> String?
}

struct ProcessResult {
    var name: String
    var arguments: [String]
    /// Timed runs (the untimed first one not counted).
    var runs: Int
    /// Median seconds from spawn to the return of wait4.
    var median: Double
    var samples: [Double]
    /// Its max RSS, KiB: of a run under GNU time (see ``rssAlone``), else
    /// the largest ru_maxrss of the timed runs.
    var maxRSSKiB: Int
    /// Set when a run failed or printed a wrong answer: its time means nothing.
    var problem: String?
}

/// The `stoa` executable the process rows run.
struct StoaExecutable {
    var path: String
    var found: Bool
    /// What to print about it: where it is and how old, or why it is missing.
    var description: String
}

/// The repository these benchmarks sit in (Tools/Benchmarks/Sources/stoa-bench/X.swift → the repository).
func repositoryRoot() -> URL {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<5 { url.deleteLastPathComponent() }
    return url
}

/// `--stoa PATH`, or the root package's release build; whether it is
/// there, and whether the library or CLI sources changed after it was built.
func locateStoa(_ options: QueryOptions) -> StoaExecutable {
    let root = repositoryRoot()
    let path = options.stoaExecutable ?? root.appendingPathComponent(".build/release/stoa").path
    var status = stat()
    guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG, access(path, X_OK) == 0 else {
        return StoaExecutable(
            path: path, found: false,
            description: "no executable at \(path): the stoa process rows are skipped. Build it at the repository's root "
                + "with `swift build -c release --static-swift-stdlib --product stoa`, or pass --stoa PATH")
    }
    let built = status.st_mtim.tv_sec
    var newer = 0
    if options.stoaExecutable == nil, let walker = FileManager.default.enumerator(atPath: root.appendingPathComponent("Sources").path) {
        while let name = walker.nextObject() as? String {
            var source = stat()
            if stat(root.appendingPathComponent("Sources/" + name).path, &source) == 0, source.st_mode & S_IFMT == S_IFREG,
               source.st_mtim.tv_sec > built
            {
                newer += 1
            }
        }
    }
    let when = Timestamp(microsecondsSinceEpoch: Int64(built) * 1_000_000).description
    return StoaExecutable(
        path: path, found: true,
        description: "\(path), built \(when)"
            + (newer > 0 ? "; \(newer) files under Sources/ changed since: rebuild it to measure them" : ""))
}

/// Lines (newlines) in `output`.
func newlines(in output: [UInt8]) -> Int { output.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } }

/// What the processes are run with: the data, and the answers the
/// in-process queries found, to check their output against.
struct ProcessInputs {
    var store: String
    var sqliteBest: String
    var since: Int64
    var until: Int64
    /// The narrow query's answer in process: records, and their bytes (no newlines).
    var narrowCount: Int
    var narrowBytes: Int
    var records: Int
}

/// The python3 program for the SQLite side: the narrow query on the best
/// schema, each line written out (gunzipped when stored compressed), as
/// `stoa query` prints it.
let pythonSQLiteQuery = """
    import sqlite3, sys, zlib
    db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
    out = sys.stdout.buffer
    for size, line in db.execute(
            "SELECT size, line FROM events WHERE time >= ?1 AND time < ?2 ORDER BY time, seq",
            (int(sys.argv[2]), int(sys.argv[3]))):
        out.write(line if len(line) == size else zlib.decompress(line, 31))
        out.write(b"\\n")
    """

/// The processes to time; those that cannot run here are left out, with a
/// note saying why.
func processSpecs(_ inputs: ProcessInputs, stoa: StoaExecutable) -> (specs: [ProcessSpec], notes: [String]) {
    var specs: [ProcessSpec] = []
    var notes: [String] = []
    /// Exactly `lines` lines (as many as `why` says), and `bytes` in all when given.
    func exactly(lines: Int, bytes: Int?, why: String) -> ([UInt8]) -> String? {
        { output in
            let got = newlines(in: output)
            if got != lines { return "printed \(got) lines, not \(lines) (\(why))" }
            if let bytes, output.count != bytes {
                return "printed \(output.count) bytes, the in-process query's records make \(bytes) with their newlines"
            }
            return nil
        }
    }
    let narrowCheck = exactly(
        lines: inputs.narrowCount, bytes: inputs.narrowBytes + inputs.narrowCount, why: "the records the in-process query found")
    if stoa.found {
        let window = [
            "--since", Timestamp(microsecondsSinceEpoch: inputs.since).description,
            "--until", Timestamp(microsecondsSinceEpoch: inputs.until).description,
        ]
        specs.append(ProcessSpec(name: ProcessName.query, arguments: [stoa.path, "query", inputs.store] + window, check: narrowCheck))
        let records = inputs.records
        specs.append(ProcessSpec(name: ProcessName.stats, arguments: [stoa.path, "stats", inputs.store]) { output in
            let text = String(decoding: output, as: UTF8.self)
            let line = text.split(separator: "\n").first { $0.hasPrefix("records ") }
            let count = line.flatMap { Int($0.dropFirst("records".count).trimmingCharacters(in: .whitespaces)) }
            return count == records ? nil : "said \(line.map(String.init) ?? "no records line"); \(records) were written"
        })
        let tailCount = min(20, inputs.records)
        specs.append(ProcessSpec(name: ProcessName.tail, arguments: [stoa.path, "tail", "-n", "20", inputs.store]) { output in
            if let problem = exactly(lines: tailCount, bytes: nil, why: "the last 20 records")(output) { return problem }
            let lines = output.split(separator: 0x0A)
            return lines.allSatisfy({ $0.first == UInt8(ascii: "{") && $0.last == UInt8(ascii: "}") })
                ? nil : "printed lines that are not JSON objects"
        })
        specs.append(ProcessSpec(name: ProcessName.version, arguments: [stoa.path, "--version"]) { output in
            newlines(in: output) == 1 ? nil : "printed \(newlines(in: output)) lines, not one"
        })
    }
    // The interpreter itself, not what `python3` in PATH may be: a pyenv
    // shim is a shell script that costs 150 ms before Python starts.
    if let probe = try? runChild(["python3", "-c", "import sqlite3, sys, zlib; print(sys.executable)"]), probe.status == 0,
       case let python = String(decoding: probe.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
       python.hasPrefix("/")
    {
        specs.append(ProcessSpec(
            name: ProcessName.sqliteQuery,
            arguments: [python, "-c", pythonSQLiteQuery, inputs.sqliteBest, String(inputs.since), String(inputs.until)],
            check: narrowCheck))
        specs.append(ProcessSpec(name: ProcessName.pythonFloor, arguments: [python, "-c", "pass"]) { output in
            output.isEmpty ? nil : "printed something"
        })
    } else {
        notes.append("no python3 with its sqlite3 module here: the SQLite column of the process rows is empty.")
    }
    return (specs, notes)
}

/// Runs each process once untimed, then `runs` times, taking turns.
/// stdout goes to a file in `scratch` (made and removed here).
func runProcesses(_ specs: [ProcessSpec], runs: Int, scratch: String) -> [String: ProcessResult] {
    let outputFile = scratch + "/stoa-bench-process-\(getpid()).out"
    defer { unlink(outputFile) }
    var results: [String: ProcessResult] = [:]
    for spec in specs {
        results[spec.name] = ProcessResult(name: spec.name, arguments: spec.arguments, runs: 0, median: .nan, samples: [], maxRSSKiB: 0)
    }
    /// One run: its wall time and RSS, or what went wrong.
    func run(_ spec: ProcessSpec) -> Result<ChildRun, BenchError> {
        do {
            let child = try runChild(spec.arguments, outputFile: outputFile)
            if child.status != 0 { return .failure(BenchError(description: "exited with status \(child.status)")) }
            if let problem = spec.check(child.output) { return .failure(BenchError(description: problem)) }
            return .success(child)
        } catch let error as BenchError {
            return .failure(error)
        } catch {
            return .failure(BenchError(description: "\(error)"))
        }
    }
    for round in 0...runs {
        for spec in specs where results[spec.name]!.problem == nil {
            switch run(spec) {
            case .failure(let error):
                results[spec.name]!.problem = error.description
            case .success(let child) where round > 0:
                results[spec.name]!.samples.append(child.seconds)
                results[spec.name]!.maxRSSKiB = max(results[spec.name]!.maxRSSKiB, child.maxRSSKiB)
            case .success:
                break  // the untimed first run
            }
        }
    }
    // wait4's ru_maxrss of a spawned child counts this benchmark's own RSS:
    // Linux records the high-water mark of the memory a process leaves at
    // exec, and a spawned child starts in its parent's. GNU time, a small
    // process, runs each once more for the RSS of the process alone.
    for spec in specs where results[spec.name]!.problem == nil {
        if let alone = rssAlone(spec, outputFile: outputFile) { results[spec.name]!.maxRSSKiB = alone }
    }
    for name in results.keys {
        results[name]!.runs = results[name]!.samples.count
        results[name]!.median = median(results[name]!.samples)
    }
    return results
}

/// The max RSS (KiB) of one run of `spec` under `/usr/bin/time -f %M`; nil
/// without GNU time or when the run goes wrong.
func rssAlone(_ spec: ProcessSpec, outputFile: String) -> Int? {
    let report = outputFile + ".rss"
    defer { unlink(report) }
    guard access("/usr/bin/time", X_OK) == 0,
          let child = try? runChild(["/usr/bin/time", "-f", "%M", "-o", report] + spec.arguments, outputFile: outputFile),
          child.status == 0, spec.check(child.output) == nil,
          let text = try? String(contentsOfFile: report, encoding: .utf8)
    else { return nil }
    return Int(text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").last ?? "")
}
