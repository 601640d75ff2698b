// A child process for crash tests. Usage:
//
//   stoa-crash-writer DIR THREADS SEED FIRST [checkpointing]
//
// Appends records to the store at DIR with durability `always` from THREADS
// threads, forever, and prints `ack SEQ N` on stdout after each append
// returns (N is the record's own number, unique across threads, counting
// from FIRST). The test
// kills it with SIGKILL at a random moment and checks that every
// acknowledged record is in the store exactly once. With `checkpointing`,
// segments of 2 MiB, tiered as soon as they are sealed, and a checkpoint
// `.idx` of the active segment every 300 appends.
//
//   stoa-crash-writer tier DIR NOW STOP
//   stoa-crash-writer backup SOURCE DEST STOP
//
// Does what `stoa tier DIR --now @NOW` (NOW in µs) or `stoa backup SOURCE
// DEST` does, stopping before its STOPth file system call (counted from 1,
// from the start of the tier pass or the backup): there it prints
// `stopped CALL PATH` and waits to be killed. A run that ends first prints
// `done CALLS` (how many calls it made) and exits 0; STOP 0 never stops.
// So a test kills it at a chosen point of its work, the same point on any
// machine, instead of after a guessed time.

import Foundation
@_spi(Testing) import Stoa
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(64)
}

/// Hands out record numbers and writes acknowledgements whole.
final class Acknowledger: Sendable {
    // An atomic, not a Mutex: ThreadSanitizer does not see a contended
    // Mutex handed over in the kernel (see `Protected` in Stoa).
    private let counter: Atomic<Int>

    init(first: Int) { counter = Atomic(first) }
    private let output = Mutex(())

    func nextNumber() -> Int {
        counter.add(1, ordering: .relaxed).oldValue
    }

    func acknowledge(seq: UInt64, number: Int) {
        output.withLock { _ in
            let bytes = Array("ack \(seq) \(number)\n".utf8)
            var done = 0
            while done < bytes.count {
                let written = bytes.withUnsafeBytes { write(1, $0.baseAddress! + done, $0.count - done) }
                if written <= 0 { exit(1) }
                done += written
            }
        }
    }
}

/// Counts file system calls while on, and stops the process before the chosen one.
final class Stopper: Sendable {
    let target: Int
    private let state = Mutex<(on: Bool, calls: Int)>((false, 0))

    init(before target: Int) { self.target = target }

    func count(_ on: Bool) { state.withLock { $0.on = on } }
    var calls: Int { state.withLock { $0.calls } }

    func before(_ call: String, _ path: String) {
        let stop = state.withLock { (state) -> Bool in
            guard state.on else { return false }
            state.calls += 1
            return state.calls == target
        }
        guard stop else { return }
        say("stopped \(call) \(path)")
        while true { pause() }
    }
}

/// Writes `line` and a newline on stdout in one go, or exits.
func say(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    var done = 0
    while done < bytes.count {
        let written = bytes.withUnsafeBytes { write(1, $0.baseAddress! + done, $0.count - done) }
        if written <= 0 { exit(1) }
        done += written
    }
}

let arguments = CommandLine.arguments
if arguments.count == 5, arguments[1] == "tier" || arguments[1] == "backup" {
    guard let target = Int(arguments[4]), target >= 0 else { fail("STOP must be a number") }
    let stopper = Stopper(before: target)
    do {
        if arguments[1] == "tier" {
            guard let now = Int64(arguments[3]) else { fail("NOW must be µs since the epoch") }
            let store = try Store(at: arguments[2], beforeEachCall: stopper.before)
            // What opening queued is done before counting starts: the count
            // is the tier pass's alone.
            try store.waitForIndexes()
            stopper.count(true)
            _ = try store.applyTierPolicy(now: Timestamp(microsecondsSinceEpoch: now))
            stopper.count(false)
            try store.close()
        } else {
            stopper.count(true)
            _ = try StoreBackup(of: StoreReader(at: arguments[2])).copy(to: arguments[3], beforeEachCall: stopper.before)
        }
    } catch {
        fail("\(arguments[1]) failed: \(error)")
    }
    say("done \(stopper.calls)")
    exit(0)
}
guard arguments.count == 5 || (arguments.count == 6 && arguments[5] == "checkpointing"), let threads = Int(arguments[2]),
    let seed = UInt64(arguments[3]), let first = Int(arguments[4])
else {
    fail("usage: stoa-crash-writer DIR THREADS SEED FIRST [checkpointing]")
}
let checkpointing = arguments.count == 6
var configuration = StoreConfiguration()
configuration.segmentBytes = 16 << 10  // rotate often: crashes land mid-rotation too
configuration.durability = .always
if checkpointing {
    // Segments large enough to be read from their checkpoint (a checkpoint
    // every few hundred appends), sealed now and then and moved through the
    // tiers at once.
    configuration.segmentBytes = 2 << 20
    configuration.hotFor = .microseconds(0)
    configuration.warmFor = .microseconds(0)
}
let store: Store
do {
    store = try Store(at: arguments[1], creating: configuration)
} catch {
    fail("cannot open: \(error)")
}
for line in store.recovery.lines { FileHandle.standardError.write(Data("recovery: \(line)\n".utf8)) }

let acknowledger = Acknowledger(first: first)
for thread in 0..<threads {
    Thread {
        var random = seed &+ UInt64(thread) &* 7919
        while true {
            let number = acknowledger.nextNumber()
            random = random &* 6364136223846793005 &+ 1442695040888963407
            let padding = String(repeating: "x", count: Int(random >> 33) % 600)
            do {
                let seq = try store.append(#"{"type":"crash","n":\#(number),"pad":"\#(padding)"}"#)
                acknowledger.acknowledge(seq: seq, number: number)
                if checkpointing && number % 300 == 0 { store.checkpointInTheBackground() }
            } catch {
                fail("append failed: \(error)")
            }
        }
    }.start()
}
while true { sleep(60) }
