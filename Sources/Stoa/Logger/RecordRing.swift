/// A fixed-capacity FIFO of encoded records: the logger's buffer.
///
/// Appending, dropping the oldest and taking everything are O(1) per record,
/// whatever the capacity.
struct RecordRing {
    private var storage: [[UInt8]]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) {
        precondition(capacity >= 1)
        storage = Array(repeating: [], count: capacity)
    }

    var capacity: Int { storage.count }
    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count == storage.count }

    /// Adds `record` at the end. The ring must not be full.
    mutating func append(_ record: [UInt8]) {
        precondition(!isFull, "RecordRing is full")
        storage[(head + count) % storage.count] = record
        count += 1
    }

    /// Drops the oldest record. The ring must not be empty.
    mutating func removeFirst() {
        precondition(!isEmpty, "RecordRing is empty")
        storage[head] = []
        head = (head + 1) % storage.count
        count -= 1
    }

    /// Takes every record out, oldest first.
    mutating func removeAll() -> [[UInt8]] {
        var records: [[UInt8]] = []
        records.reserveCapacity(count)
        for offset in 0..<count {
            let index = (head + offset) % storage.count
            records.append(storage[index])
            storage[index] = []
        }
        head = 0
        count = 0
        return records
    }
}
