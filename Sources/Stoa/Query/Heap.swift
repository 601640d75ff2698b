/// A binary heap of found records by (time, seq): the least first, or with
/// `descending` the greatest first.
struct RecordHeap {
    private var items: [QueryEngine.Found] = []
    private let descending: Bool

    init(descending: Bool) { self.descending = descending }

    var first: QueryEngine.Found? { items.first }
    var count: Int { items.count }

    @inline(__always)
    private func before(_ a: QueryEngine.Found, _ b: QueryEngine.Found) -> Bool {
        if a.time != b.time { return descending ? a.time > b.time : a.time < b.time }
        return descending ? a.seq > b.seq : a.seq < b.seq
    }

    mutating func insert(_ item: QueryEngine.Found) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard before(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popFirst() -> QueryEngine.Found? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let first = items.removeLast()
        var parent = 0
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
        return first
    }
}
