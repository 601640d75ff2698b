import StoaTestSupport
import Testing

@testable import Stoa

/// A segment's late records are put in line order when it is loaded, by a
/// radix sort: the same order as sorting the packed integers.
@Suite struct LateOrderTests {
    @Test(arguments: [0, 1, 64, 65, 5000], [UInt32(100), 1 << 17, 1 << 22, .max])
    func theRadixSortOrdersAsASortDoes(count: Int, limit: UInt32) {
        var random = SeededGenerator(seed: UInt64(count) &* 31 &+ UInt64(limit))
        // Distinct line numbers below `limit`, each with its place in the list.
        var ordinals = Set<UInt32>()
        while ordinals.count < min(count, Int(limit)) { ordinals.insert(UInt32.random(in: 0..<limit, using: &random)) }
        let values = ordinals.shuffled(using: &random).enumerated().map { UInt64($1) << 32 | UInt64($0) }
        var sorted = values
        IndexedSegment.Parts.sortByHighHalf(&sorted, below: limit)
        #expect(sorted == values.sorted())
    }
}
