/// The first position in `start..<end` where `isBefore` is false, for an
/// `isBefore` that is true up to some position and false from it on.
///
/// It gallops from `start` (steps of 1, 2, 4, … then a binary search within
/// the last step), so an answer `d` positions on costs about `2 log d` calls:
/// a walk through ascending values that finds each of a few (a
/// conversation's lines among a segment's late records) costs little, and one
/// that finds each of many costs about as much as a plain walk.
func gallop(from start: Int, to end: Int, while isBefore: (Int) -> Bool) -> Int {
    var low = start
    var high = start
    var step = 1
    while high < end && isBefore(high) {
        low = high + 1
        high += step
        step *= 2
    }
    high = min(high, end)
    while low < high {
        let middle = (low + high) / 2
        if isBefore(middle) { low = middle + 1 } else { high = middle }
    }
    return low
}
