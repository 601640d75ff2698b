/// What a ``Heap`` orders by: a time, then a seq.
protocol TimeAndSeq {
    var time: Int64 { get }
    var seq: UInt64 { get }
}

/// A binary heap by (time, seq): the least first, or with `descending` the
/// greatest first.
struct Heap<Element: TimeAndSeq> {
    private var items: [Element] = []
    private let descending: Bool

    init(descending: Bool) { self.descending = descending }

    /// A heap of `items`, ordered in one pass (Floyd's): linear, where
    /// inserting them one by one is `n log n`.
    init(descending: Bool, items: [Element]) {
        self.descending = descending
        self.items = items
        for parent in stride(from: items.count / 2 - 1, through: 0, by: -1) { siftDown(from: parent) }
    }

    var first: Element? { items.first }

    /// The first element's time and seq, without copying the element.
    var firstKey: Key? { items.isEmpty ? nil : Key(time: items[0].time, seq: items[0].seq) }

    /// What `body` reads of the first element, which must exist, without
    /// copying it.
    @inline(__always)
    func withFirst<R>(_ body: (borrowing Element) -> R) -> R { body(items[0]) }

    struct Key: TimeAndSeq {
        var time: Int64
        var seq: UInt64
    }
    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }

    /// Whether `a` goes before `b`.
    @inline(__always)
    func before(_ a: some TimeAndSeq, _ b: some TimeAndSeq) -> Bool {
        if a.time != b.time { return descending ? a.time > b.time : a.time < b.time }
        return descending ? a.seq > b.seq : a.seq < b.seq
    }

    mutating func insert(_ item: Element) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard before(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popFirst() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let first = items.removeLast()
        siftDown()
        return first
    }

    /// Changes the first element in place, then removes it if `body` says
    /// not to keep it, or else restores the order (it must go no earlier).
    mutating func updateFirst<R>(_ body: (inout Element) -> (result: R, keep: Bool)) -> R {
        let (result, keep) = body(&items[0])
        if keep {
            siftDown()
        } else {
            _ = popFirst()
        }
        return result
    }

    private mutating func siftDown(from start: Int = 0) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var best = parent
            if left < items.count && before(items[left], items[best]) { best = left }
            if right < items.count && before(items[right], items[best]) { best = right }
            if best == parent { break }
            items.swapAt(parent, best)
            parent = best
        }
    }
}
