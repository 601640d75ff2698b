import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

#if canImport(Glibc)
import Glibc
#endif

/// `Store.appendLines(fromFileDescriptor:)`: how a stream is cut into
/// records, and what each refusal says.
@Suite struct StreamAppendTests {
    /// Appends `input` as a stream; returns the stored lines and the refusals.
    func append(_ input: String, chunked: Bool = false) throws -> (stored: [String], errors: [StoaError]) {
        let directory = TemporaryDirectory()
        let store = try Store(at: directory.appending("store"))
        let path = directory.appending("input")
        try writeBytes(Array(input.utf8), to: path)
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var errors: [StoaError] = []
        let report = try store.appendLines(fromFileDescriptor: fd) { errors.append($0) }
        try store.close()
        let stored = try StoreReader(at: directory.appending("store")).query(Query()).all().map(\.json)
        #expect(report.stored == stored.count)
        #expect(report.rejected == errors.count)
        return (stored, errors)
    }

    func located(_ errors: [StoaError]) -> [String] {
        errors.map { "\($0.line ?? -1):\($0.offset.map(String.init) ?? "-")" }
    }

    /// Issue 13: a torn line took the next one with it when that one
    /// started with whitespace, and only line 1 was named.
    @Test func aTornLineNeverTakesTheNextOne() throws {
        let (stored, errors) = try append("{\"ts\":1,\"n\":1\n {\"ts\":2,\"n\":2}\n")
        #expect(stored == [#"{"ts":2,"n":2}"#])
        #expect(located(errors) == ["1:13"])
        #expect(errors.first?.message.contains("unexpected end of input") == true)
    }

    @Test func inLinesEachBadLineIsOneErrorAtItsOffset() throws {
        let input = """
            {"ts":1,"n":1}
            not json
            \t{"ts":2,"n":2}
            {"ts":3,"cut":"half
              "rest":1}

            true story
            {
            {"ts":4,"n":4}
            """
        let (stored, errors) = try append(input)
        #expect(stored == [#"{"ts":1,"n":1}"#, #"{"ts":2,"n":2}"#, #"{"ts":4,"n":4}"#])
        #expect(located(errors) == ["2:1", "4:19", "5:8", "7:5", "8:1"])
        #expect(errors[0].message == "not JSON: unexpected 'o', expected 'null'")
        #expect(errors[3].message == "not JSON: unexpected 's' after the end of the value")
        #expect(errors.allSatisfy { $0.path == "stdin" })
    }

    /// Python's `json.dumps(indent=0)` puts every `{` at column 0, nested ones
    /// too: they must not start a record.
    @Test func prettyInputWithIndentZeroKeepsItsNestedObjects() throws {
        let input = """
            {
            "ts": 1,
            "args": {
            "path": "/tmp"
            },
            "list": [
            {
            "x": 1
            }
            ]
            }
            {
            "ts": 2
            }

            """
        let (stored, errors) = try append(input)
        #expect(errors.isEmpty, "\(errors)")
        #expect(stored == [#"{"ts":1,"args":{"path":"/tmp"},"list":[{"x":1}]}"#, #"{"ts":2}"#])
    }

    @Test func prettyOutputOfPythonParses() throws {
        let script = """
            import json
            for n in range(3):
                print(json.dumps({"ts": n + 1, "n": n, "nested": {"a": [{"b": n}], "s": "{\\n}"}}, indent=0))
            print(json.dumps({"ts": 9, "deep": {"x": {}}}, indent=2))
            """
        let python = try run("/usr/bin/env", ["python3", "-c", script])
        try #require(python.status == 0, "\(python.stderr)")
        let (stored, errors) = try append(python.stdout)
        #expect(errors.isEmpty, "\(errors)")
        #expect(stored.count == 4)
        #expect(stored[0] == #"{"ts":1,"n":0,"nested":{"a":[{"b":0}],"s":"{\n}"}}"#)
        #expect(stored[3] == #"{"ts":9,"deep":{"x":{}}}"#)
    }

    @Test func aBadPrettyRecordIsOneErrorAtTheLineWhereItGoesWrong() throws {
        let input = """
            {
              "ts": 1,
              "n": 01
            }
            {
              "ts": 2,
              "msg": "torn
            }
            {
              "ts": 3
            }
            """
        let (stored, errors) = try append(input)
        #expect(stored == [#"{"ts":3}"#])
        #expect(located(errors) == ["3:8", "7:14"])
        #expect(errors[0].message.contains("leading zeros"))
        #expect(errors[1].message.contains("control character"))
    }

    /// Indented records: a lone `{` at column 0 can only start a record, so
    /// one cut short is reported alone.
    @Test func anUnfinishedIndentedRecordIsReportedAlone() throws {
        let input = """
            {
              "ts": 1,
              "n":
            {
              "ts": 2
            }
            {
              "ts": 3,
            """
        let (stored, errors) = try append(input)
        #expect(stored == [#"{"ts":2}"#])
        #expect(located(errors) == ["3:6", "8:10"])
        #expect(errors[0].message.contains("it starts at line 1; a new record starts at line 4"))
        #expect(errors[1].message.contains("it starts at line 7; the input ends inside it"))
    }

    @Test func theModeIsDecidedOnceFromTheFirstNonBlankLine() throws {
        // Lines first: a later pretty object is not joined up.
        let lines = try append("\n{\"ts\":1}\n{\n\"ts\":2\n}\n")
        #expect(lines.stored == [#"{"ts":1}"#])
        #expect(located(lines.errors) == ["3:1", "4:4", "5:0"])
        // Pretty first: a compact record later is still one record.
        let pretty = try append("\n  \n{\n\"ts\":1\n}\n{\"ts\":2}\n")
        #expect(pretty.errors.isEmpty, "\(pretty.errors)")
        #expect(pretty.stored == [#"{"ts":1}"#, #"{"ts":2}"#])
    }

    @Test func crlfLinesAndPrettyRecordsRead() throws {
        let (stored, errors) = try append("{\r\n  \"ts\": 1\r\n}\r\n{\"ts\":2}\r\n")
        #expect(errors.isEmpty, "\(errors)")
        #expect(stored == [#"{"ts":1}"#, #"{"ts":2}"#])
    }
}
