// A thin layer over SQLite's C API: a connection, prepared statements, and
// the event store schema `stoa-bench query` races Stoa against.

import CSQLite
import Foundation

struct SQLiteError: Error, CustomStringConvertible {
    var description: String
}

/// The two schemas SQLite is measured with.
enum SQLiteSchema: String, Codable, CaseIterable, Sendable {
    /// As an event store is usually set up: one index per column queried
    /// by (time, type, source/agent).
    case single = "sqlite-single"
    /// Its best indexes for these queries: (time), (type, time), (conversation, time).
    case best = "sqlite-best"

    var title: String {
        switch self {
        case .single: "SQLite, 1-column indexes"
        case .best: "SQLite, best indexes"
        }
    }

    static let table = """
        CREATE TABLE events(
            seq INTEGER PRIMARY KEY,   -- Stoa's seq: 0, 1, 2, ... (the rowid)
            time INTEGER NOT NULL,     -- µs since the epoch, UTC
            type TEXT NOT NULL,
            agent TEXT,
            conversation TEXT,
            size INTEGER NOT NULL,     -- bytes of the line; `line` is gzip when shorter than that
            line BLOB NOT NULL         -- the raw JSONL line (no newline), gzip-compressed when over 1 KiB
        )
        """

    var indexes: [String] {
        switch self {
        case .single:
            [
                "CREATE INDEX events_time ON events(time)",
                "CREATE INDEX events_type ON events(type)",
                "CREATE INDEX events_agent ON events(agent)",
            ]
        case .best:
            [
                "CREATE INDEX events_time ON events(time)",
                "CREATE INDEX events_type_time ON events(type, time)",
                "CREATE INDEX events_conversation_time ON events(conversation, time)",
            ]
        }
    }

    /// Schema text for the report.
    var indexSummary: String {
        switch self {
        case .single: "indexes (time), (type), (agent); conversation not indexed"
        case .best: "indexes (time), (type, time), (conversation, time)"
        }
    }
}

final class SQLiteDatabase {
    let handle: OpaquePointer
    let path: String
    private var closed = false

    init(path: String, readOnly: Bool) throws {
        var db: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let status = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard status == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(description: "open \(path): \(message)")
        }
        self.handle = db
        self.path = path
    }

    deinit { if !closed { sqlite3_close_v2(handle) } }

    /// Closes now; fails while statements are still open.
    func close() throws {
        guard !closed else { return }
        let status = sqlite3_close(handle)
        guard status == SQLITE_OK else { throw SQLiteError(description: "close \(path): \(errorMessage)") }
        closed = true
    }

    var errorMessage: String { String(cString: sqlite3_errmsg(handle)) }

    func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(handle, sql, nil, nil, &error) != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? errorMessage
            sqlite3_free(error)
            throw SQLiteError(description: "\(sql): \(message)")
        }
    }

    func prepare(_ sql: String) throws -> SQLiteStatement {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK,
              let statement
        else { throw SQLiteError(description: "prepare \(sql): \(errorMessage)") }
        return SQLiteStatement(statement, database: self)
    }

    /// The rows of a query as text, for small things (pragmas, plans).
    func rows(_ sql: String) throws -> [[String]] {
        let statement = try prepare(sql)
        var rows: [[String]] = []
        while try statement.step() {
            rows.append((0..<sqlite3_column_count(statement.handle)).map { statement.text($0) })
        }
        return rows
    }

    /// `EXPLAIN QUERY PLAN`, one line per step.
    func plan(_ sql: String) throws -> String {
        try rows("EXPLAIN QUERY PLAN " + sql).map { $0.last ?? "" }.joined(separator: "; ")
    }
}

final class SQLiteStatement {
    let handle: OpaquePointer
    unowned let database: SQLiteDatabase

    init(_ handle: OpaquePointer, database: SQLiteDatabase) {
        self.handle = handle
        self.database = database
    }

    deinit { sqlite3_finalize(handle) }

    /// True for a row, false when done.
    @inline(__always)
    func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteError(description: "step: \(database.errorMessage)")
        }
    }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func bind(_ index: Int32, _ value: Int64) { sqlite3_bind_int64(handle, index, value) }
    func bind(_ index: Int32, _ value: String) {
        var value = value
        value.withUTF8 { bytes in
            _ = bytes.withMemoryRebound(to: CChar.self) {
                bench_bind_text_transient(handle, index, $0.baseAddress, Int32($0.count))
            }
        }
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
    func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }
    func blob(_ column: Int32) -> UnsafeRawBufferPointer {
        let pointer = sqlite3_column_blob(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        return UnsafeRawBufferPointer(start: pointer, count: pointer == nil ? 0 : count)
    }
}

/// gzip with one reused zlib stream.
final class Gzip {
    private let deflater: UnsafeMutableRawPointer
    private let inflater: UnsafeMutableRawPointer
    private var output: [UInt8] = []

    init() {
        deflater = bench_deflater_new()!
        inflater = bench_inflater_new()!
    }

    deinit {
        bench_deflater_free(deflater)
        bench_inflater_free(inflater)
    }

    /// Compresses `input`; calls `body` with the compressed bytes.
    func compress<R>(_ input: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let capacity = input.count + input.count / 8 + 64
        if output.count < capacity { output = [UInt8](repeating: 0, count: capacity) }
        return try output.withUnsafeMutableBytes { out in
            let size = bench_gzip(deflater, input.baseAddress, input.count, out.baseAddress, out.count)
            guard size >= 0 else { throw SQLiteError(description: "gzip failed") }
            return try body(UnsafeRawBufferPointer(rebasing: out[0..<size]))
        }
    }

    /// The `size` bytes `input` decompresses to.
    func decompress(_ input: UnsafeRawBufferPointer, size: Int) throws -> [UInt8] {
        var failed = false
        let result = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            let got = bench_gunzip(inflater, input.baseAddress, input.count, buffer.baseAddress, size)
            failed = got != size
            count = failed ? 0 : size
        }
        if failed { throw SQLiteError(description: "gunzip failed") }
        return result
    }
}
