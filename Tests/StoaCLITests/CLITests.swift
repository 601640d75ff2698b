import Foundation
import StoaTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built `stoa` binary, run from the outside.
@Suite struct CLITests {
    let stoa = builtProduct("stoa")

    func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    @Test func initWritesTheConfiguration() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("store")
        let result = try run(stoa, ["init", store, "--segment-bytes", "1MiB", "--segment-age", "15m", "--retain-for", "30d"])
        #expect(result.status == 0, "\(result.stderr)")
        let config = try String(contentsOfFile: store + "/stoa.json", encoding: .utf8)
        #expect(config.contains(#""segment_bytes" : 1048576"#))
        #expect(config.contains(#""segment_age" : "15m""#))
        #expect(config.contains(#""retain_for" : "30d""#))
        // Twice is an error: it would silently ignore the new options.
        let again = try run(stoa, ["init", store])
        #expect(again.status == 64)
        #expect(again.stderr.contains("already a store"))
    }

    @Test func badOptionsAreUsageErrors() throws {
        let directory = TemporaryDirectory()
        for arguments in [
            ["init", directory.appending("s"), "--segment-bytes", "lots"],
            ["init", directory.appending("s"), "--segment-age", "-5m"],
            ["query", directory.path, "--limit", "-1"],
            ["query", directory.path, "--output", "xml"],
            ["frobnicate"],
        ] {
            let result = try run(stoa, arguments)
            #expect(result.status == 64, "\(arguments): \(result.status) \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
        let store = directory.appending("t")
        _ = try run(stoa, ["append", store], input: "{\"n\":1}\n")
        let badTime = try run(stoa, ["query", store, "--since", "last tuesday"])
        #expect(badTime.status == 64)
        #expect(badTime.stderr.contains("cannot read time \"last tuesday\""))
    }

    @Test func appendReportsBadLinesAndStoresTheRest() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("store")
        let input = """
            {"ts":"2026-11-23T10:00:00Z","type":"message","n":1}
            not json
            {"ts":"2026-11-23T10:00:01Z","type":"tool_call","n":2}

            [1,2]
            {"ts":"2026-11-23T10:00:02Z","n":3,"bad":"\u{01}"}
            {"ts":"sometime","n":4}
              {"ts":"2026-11-23T10:00:03Z","type":"indented","n":5}
            {"ts":"2026-11-23T10:00:04Z","n":6,"cut":"half
            {"ts":"2026-11-23T10:00:05Z","type":"last","n":7}
            true story
            """
        let result = try run(stoa, ["append", store], input: input)
        #expect(result.status == 65, "\(result.stderr)")
        let errors = lines(result.stderr).filter { $0.hasPrefix("line ") }
        #expect(errors.map { String($0.prefix(while: { $0 != ":" })) } == [
            "line 2, offset 1", "line 5, offset 0", "line 6, offset 42", "line 7, offset 7", "line 9, offset 46",
            "line 11, offset 5",
        ])
        #expect(errors[0].hasSuffix("not JSON: unexpected 'o', expected 'null'"))
        #expect(errors[1].hasSuffix("a record must be a JSON object, found an array"))
        #expect(errors[2].contains("control character"))
        #expect(errors[3].contains("time field \"ts\""))
        #expect(errors[5].hasSuffix("not JSON: unexpected 's' after the end of the value"))
        #expect(result.stderr.contains("stored 4 records (seq 0-3)"))
        #expect(result.stderr.contains("refused 6 records"))

        let query = try run(stoa, ["query", store])
        #expect(query.status == 0)
        let stored = lines(query.stdout)
        try #require(stored.count == 4)
        #expect(stored[2] == #"{"ts":"2026-11-23T10:00:03Z","type":"indented","n":5}"#)
        #expect(stored[3] == #"{"ts":"2026-11-23T10:00:05Z","type":"last","n":7}"#)
    }


    /// `--print-seqs` says which seq each input line got, around refused and
    /// blank lines, and seqs go on from one run to the next.
    /// With SIGPIPE ignored (as some parents leave it), a closed stdout made
    /// `stoa append --print-seqs` exit 0 at once, as `tail` does: the rest
    /// of its input was never stored, and the caller was told all was well.
    @Test func appendWithPrintSeqsIntoAClosedPipeStoresEverythingAndFails() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("store")
        let input = directory.appending("input.jsonl")
        try (0..<20_000).map { #"{"ts":"2026-12-07T10:00:00Z","n":\#($0)}"# }.joined(separator: "\n")
            .appending("\n").write(toFile: input, atomically: true, encoding: .utf8)
        let script = "trap '' PIPE; '\(stoa)' append '\(store)' --print-seqs < '\(input)' | head -n 1 > /dev/null; echo ${PIPESTATUS[0]}"
        let result = try run("/bin/bash", ["-c", script])
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "\(result.stderr)")
        #expect(result.stderr.contains("stdout was closed"), "\(result.stderr)")
        #expect(result.stderr.contains("stored 20000 records"), "\(result.stderr)")
        #expect(try run(stoa, ["query", store]).stdout.split(separator: "\n").count == 20_000)
    }

    @Test func appendPrintsTheSeqOfEachStoredLine() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("store")
        let first = try run(stoa, ["append", store, "--print-seqs"], input: "{\"ts\":1,\"n\":1}\nnot json\n\n{\"ts\":2,\"n\":2}\n")
        #expect(first.status == 65, "\(first.stderr)")
        #expect(first.stdout == "0 1\n1 4\n")
        let pretty = try run(stoa, ["append", store, "--print-seqs"], input: "{\n  \"ts\": 3\n}\n{\n  \"ts\": 4\n}\n")
        #expect(pretty.status == 0, "\(pretty.stderr)")
        #expect(pretty.stdout == "2 3\n3 6\n")
        let quiet = try run(stoa, ["append", store], input: "{\"ts\":5}\n")
        #expect(quiet.stdout.isEmpty)
    }

    /// `--print-seqs` acknowledges each batch as it is stored, while stdin
    /// is still open: what a crash harness needs to know what was
    /// acknowledged before it killed the process.
    @Test func appendPrintsSeqsBeforeTheInputEnds() throws {
        let directory = TemporaryDirectory()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: stoa)
        process.arguments = ["append", directory.appending("store"), "--print-seqs", "--durability", "always"]
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        // Should an acknowledgement never come, the reads below end at the kill.
        let watchdog = DispatchWorkItem { kill(process.processIdentifier, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: watchdog)
        defer { watchdog.cancel() }
        func readLine() -> String {
            var bytes: [UInt8] = []
            while bytes.last != 0x0A {
                let chunk = stdout.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                bytes += chunk
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        stdin.fileHandleForWriting.write(Data("{\"ts\":1,\"n\":1}\n".utf8))
        #expect(readLine() == "0 1\n")
        stdin.fileHandleForWriting.write(Data("{\"ts\":2,\"n\":2}\n".utf8))
        #expect(readLine() == "1 2\n")
        try stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
    }
    /// Issue 13's repro: a torn first line, then a line that starts with a
    /// space. Before, nothing was stored and only line 1 was named.
    @Test func appendKeepsTheRecordAfterATornLine() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("w")
        let result = try run(stoa, ["append", store], input: "{\"ts\":1,\"n\":1\n {\"ts\":2,\"n\":2}\n")
        #expect(result.status == 65)
        #expect(lines(result.stderr).filter { $0.hasPrefix("line ") } == [
            "line 1, offset 13: unexpected end of input, expected ',' or '}'"
        ])
        #expect(lines(try run(stoa, ["query", store]).stdout) == [#"{"ts":2,"n":2}"#])
    }

    /// Issue 13: with `dedup_window`, the same line piped to two `stoa
    /// append` runs was stored twice. A line without a time is stamped: the
    /// next run cannot tell that stamp from a time a line came with, so it
    /// stores such a line again rather than risk dropping a different one.
    @Test func dedupWindowHoldsAcrossAppendProcesses() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("store")
        #expect(try run(stoa, ["init", store]).status == 0)
        let config = store + "/stoa.json"
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try (#"{"dedup_window":"1h","# + text.drop { $0 != "{" }.dropFirst()).write(toFile: config, atomically: true, encoding: .utf8)
        let input = "{\"ts\":4,\"type\":\"retry\",\"id\":1}\n{\"ts\":5,\"id\":2}\n{\"id\":0}\n{\"id\":0}\n"
        let first = try run(stoa, ["append", store], input: input)
        #expect(first.status == 0, "\(first.stderr)")
        let second = try run(stoa, ["append", store], input: input + "{\"ts\":5,\"id\":3}\n")
        #expect(second.status == 0, "\(second.stderr)")
        #expect(first.stderr.contains("kept out 1 records"), "\(first.stderr)")
        #expect(second.stderr.contains("stored 2 records (seq 3-4)"), "\(second.stderr)")
        #expect(second.stderr.contains("kept out 3 records appended before within dedup_window"), "\(second.stderr)")
        let stored = lines(try run(stoa, ["query", store]).stdout)
        #expect(stored.count == 5, "\(stored)")
        #expect(stored.filter { $0.contains(#""id":1"#) }.count == 1)
        #expect(stored.filter { $0.contains(#""id":0"#) }.count == 2, "one a run")
    }

    @Test func appendReadsPrettyInput() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("store")
        // `json.dumps(indent=0)`: nested objects at column 0 too.
        let input = "{\n\"ts\": 1,\n\"a\": [\n{\n\"b\": 2\n}\n]\n}\n{\n\"ts\": 2,\n\"type\": \"pretty\"\n}\n"
        let result = try run(stoa, ["append", store], input: input)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(lines(try run(stoa, ["query", store]).stdout) == [#"{"ts":1,"a":[{"b":2}]}"#, #"{"ts":2,"type":"pretty"}"#])
    }

    @Test func appendAcceptsCRLFAndAMissingFinalNewline() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("store")
        let result = try run(stoa, ["append", store], input: "{\"ts\":1,\"n\":1}\r\n{\"ts\":2,\"n\":2}")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(lines(try run(stoa, ["query", store]).stdout) == [#"{"ts":1,"n":1}"#, #"{"ts":2,"n":2}"#])
    }

    @Test func queryFiltersAndFormats() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("store")
        let input = (0..<20).map { n in
            #"{"ts":"2026-11-23T10:\#(n < 10 ? "0" : "")\#(n):00Z","type":"\#(n % 4 == 0 ? "error" : "message")","session":"c\#(n % 2)","n":\#(n)}"#
        }.joined(separator: "\n")
        #expect(try run(stoa, ["append", store], input: input).status == 0)

        func ns(_ arguments: [String]) throws -> [Int] {
            let result = try run(stoa, ["query", store] + arguments)
            #expect(result.status == 0, "\(result.stderr)")
            return try lines(result.stdout).map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["n"] as! Int
            }
        }
        #expect(try ns(["--since", "2026-11-23 10:05", "--until", "2026-11-23T10:08:00Z"]) == [5, 6, 7])
        #expect(try ns(["--type", "error"]) == [0, 4, 8, 12, 16])
        #expect(try ns(["--type", "error", "--reverse", "--limit", "2"]) == [16, 12])
        #expect(try ns(["--conversation", "c1", "--limit", "3"]) == [1, 3, 5])
        #expect(try ns(["--grep", #""n":13"#]) == [13])
        #expect(try ns(["--since", "@1795428000", "--until", "@1795428120"]) == [0, 1])

        let json = try run(stoa, ["query", store, "--type", "error", "--output", "json"])
        let array = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        #expect(array?.count == 5)
        let empty = try run(stoa, ["query", store, "--type", "nothing", "--output", "json"])
        #expect(empty.stdout == "[]\n")
        let pretty = try run(stoa, ["query", store, "--limit", "1", "--output", "pretty"])
        #expect(pretty.stdout == "{\n  \"ts\": \"2026-11-23T10:00:00Z\",\n  \"type\": \"error\",\n  \"session\": \"c0\",\n  \"n\": 0\n}\n")

        let tail = try run(stoa, ["tail", store, "-n", "2"])
        #expect(lines(tail.stdout).count == 2)
        #expect(tail.stdout.contains(#""n":19"#))

        let stats = try run(stoa, ["stats", store, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any]
        #expect(object?["records"] as? Int == 20)
        #expect(object?["types"] as? [String: Int] == ["error": 5, "message": 15])
        #expect(object?["oldest"] as? String == "2026-11-23T10:00:00.000000Z")
        let text = try run(stoa, ["stats", store])
        #expect(text.stdout.contains("records   20"))
    }

    @Test func appendWithATypeForRecordsWithout() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("store")
        let result = try run(stoa, ["append", store, "--type", "note", "--durability", "always"], input: "{\"ts\":1}\n{\"ts\":2,\"type\":\"own\"}\n")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(lines(try run(stoa, ["query", store]).stdout) == [#"{"type":"note","ts":1}"#, #"{"ts":2,"type":"own"}"#])
    }

    @Test func aLockedStoreExitsWith75() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("store")
        let holder = try StoreHolder(stoa: stoa, store: store)
        let second = try run(stoa, ["append", store], input: "{\"n\":2}\n")
        #expect(second.status == 75)
        #expect(second.stderr.contains("locked by process \(holder.process.processIdentifier)"))
        #expect(try holder.release() == 0)
        #expect(try run(stoa, ["append", store], input: "{\"n\":2}\n").status == 0)
    }

    @Test func readingCommandsRefuseANonStore() throws {
        let directory = TemporaryDirectory()
        let result = try run(stoa, ["query", directory.appending("missing")])
        #expect(result.status == 1)
        #expect(result.stderr == "stoa: \(directory.appending("missing")): no such directory\n")
        let empty = try run(stoa, ["query", directory.path])
        #expect(empty.status == 1)
        #expect(empty.stderr.contains("not a store"))
    }

    @Test func demoRunsOnADefaultDirectory() throws {
        let directory = TemporaryDirectory()
        let store = directory.appending("demo")
        let result = try run(stoa, ["demo", store, "--events", "2000"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Stored seq 0–1999"))
        #expect(result.stdout.contains("records   2000"))
        let again = try run(stoa, ["demo", store, "--events", "1000"])
        #expect(again.stdout.contains("Stored seq 2000–2999"))
    }
}
