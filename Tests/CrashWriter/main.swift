// A child process for crash tests. Usage:
//
//   stoa-crash-writer DIR THREADS SEED FIRST
//
// Appends records to the store at DIR with durability `always` from THREADS
// threads, forever, and prints `ack SEQ N` on stdout after each append
// returns (N is the record's own number, unique across threads, counting
// from FIRST). The test
// kills it with SIGKILL at a random moment and checks that every
// acknowledged record is in the store exactly once.

import Foundation
import Stoa
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

let arguments = CommandLine.arguments
guard arguments.count == 5, let threads = Int(arguments[2]), let seed = UInt64(arguments[3]),
    let first = Int(arguments[4])
else {
    fail("usage: stoa-crash-writer DIR THREADS SEED FIRST")
}
var configuration = StoreConfiguration()
configuration.segmentBytes = 16 << 10  // rotate often: crashes land mid-rotation too
configuration.durability = .always
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
            } catch {
                fail("append failed: \(error)")
            }
        }
    }.start()
}
while true { sleep(60) }
