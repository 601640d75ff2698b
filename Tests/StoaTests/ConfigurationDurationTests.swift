import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

/// A store's spans are `Duration`s in Swift and the same text as before in
/// `stoa.json`.
@Suite struct ConfigurationDurationTests {
    @Test func spansAreWrittenAsBeforeAndReadBackTheSame() throws {
        let directory = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.segmentAge = .seconds(600)
        configuration.fsyncInterval = .milliseconds(250)
        configuration.hotFor = .seconds(86_400)
        configuration.warmFor = .seconds(7 * 86_400)
        configuration.retainFor = .seconds(90 * 86_400) + .seconds(5400)
        configuration.dedupWindow = .microseconds(1_500)
        let store = try Store(at: directory.path, creating: configuration)
        try store.close()

        // The text in the file is what it was when spans were counts of µs.
        let written = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: directory.appending("stoa.json")))) as! [String: Any]
        #expect(written["segment_age"] as? String == "10m")
        #expect(written["fsync_interval"] as? String == "250ms")
        #expect(written["hot_for"] as? String == "1d")
        #expect(written["warm_for"] as? String == "7d")
        #expect(written["retain_for"] as? String == "90d1h30m")
        #expect(written["dedup_window"] as? String == "1ms500us")

        let reopened = try StoreReader(at: directory.path).configuration
        #expect(reopened.segmentAge == .seconds(600))
        #expect(reopened.fsyncInterval == .milliseconds(250))
        #expect(reopened.hotFor == .seconds(86_400))
        #expect(reopened.warmFor == .seconds(7 * 86_400))
        #expect(reopened.retainFor == .seconds(90 * 86_400 + 5400))
        #expect(reopened.dedupWindow == .microseconds(1_500))
        #expect(reopened.storeID != nil)
        var expected = configuration
        expected.storeID = reopened.storeID
        #expect(reopened == expected)
    }

    @Test func aPartFinerThanAMicrosecondIsTruncatedWhenWritten() throws {
        var configuration = StoreConfiguration()
        configuration.hotFor = .nanoseconds(1_999)
        let bytes = configuration.encoded()
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""hot_for" : "1us""#))
        #expect(try StoreConfiguration.decode(bytes, path: "stoa.json").hotFor == .microseconds(1))
    }

    @Test(arguments: [
        (#""segment_age": 90"#, "segment_age", Duration.seconds(90)),
        (#""fsync_interval": 0.005"#, "fsync_interval", .milliseconds(5)),
        (#""fsync_interval": "1h30m""#, "fsync_interval", .seconds(5400)),
        (#""dedup_window": "2 hours""#, "dedup_window", .seconds(7200)),
    ] as [(String, String, Duration)])
    func spansAreReadFromNumbersOfSecondsAndText(member: String, key: String, expected: Duration) throws {
        let json = #"{"format_version":1,"# + member + "}"
        let configuration = try StoreConfiguration.decode(Array(json.utf8), path: "stoa.json")
        let value: Duration? =
            switch key {
            case "segment_age": configuration.segmentAge
            case "fsync_interval": configuration.fsyncInterval
            default: configuration.dedupWindow
            }
        #expect(value == expected)
    }

    @Test func aSpanLongerThanStoaJsonHoldsIsRefusedNotWrapped() throws {
        var configuration = StoreConfiguration()
        configuration.retainFor = .seconds(Int64.max)
        let error = #expect(throws: StoaError.self) { try configuration.validate() }
        #expect(error?.code == .badConfig)
        #expect(error?.message.contains("retain_for is too long") == true)
        configuration.retainFor = .microseconds(Int64.max)
        try configuration.validate()
        configuration.retainFor = .seconds(-1)
        #expect(throws: StoaError.self) { try configuration.validate() }
    }
}
