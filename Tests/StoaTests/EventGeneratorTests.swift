import Foundation
import StoaWorkload
import Testing

@testable import Stoa

/// 2026-01-01T00:00:00Z (`date -u -d 2026-01-01 +%s`).
private let startMicros: Int64 = 1_767_225_600 * 1_000_000
private let start = Timestamp(microsecondsSinceEpoch: startMicros)

/// `count` events of a generator, parsed with Foundation's JSONSerialization.
private func parsedEvents(seed: UInt64 = 42, count: Int) throws -> [[String: Any]] {
    var generator = EventGenerator(seed: seed, start: start)
    return try (0..<count).map { _ in
        let bytes = generator.next()!
        let object = try JSONSerialization.jsonObject(with: Data(bytes))
        return try #require(object as? [String: Any], "not a JSON object: \(String(decoding: bytes, as: UTF8.self))")
    }
}

@Suite("EventGenerator")
struct EventGeneratorTests {
    @Test("the same seed gives the same bytes; another seed, others")
    func determinism() {
        var a = EventGenerator(seed: 7, start: start)
        var b = EventGenerator(seed: 7, start: start)
        var c = EventGenerator(seed: 8, start: start)
        var lines: [UInt8] = []
        var differs = false
        for _ in 0..<5_000 {
            let event = a.next()!
            #expect(event == b.next()!)
            if event != c.next()! { differs = true }
            lines.append(contentsOf: event)
            lines.append(UInt8(ascii: "\n"))
        }
        #expect(differs)

        // nextLine(into:) writes the same events, each ending in a newline.
        var d = EventGenerator(seed: 7, start: start)
        var buffer: [UInt8] = []
        for _ in 0..<5_000 { d.nextLine(into: &buffer) }
        #expect(buffer == lines)
    }

    @Test("a known seed gives a known first event")
    func pinnedOutput() throws {
        // Pins the stream across runs and machines: a change here changes every
        // benchmark and demo that uses the generator, so make it on purpose.
        var generator = EventGenerator(seed: 42, start: start)
        let first = String(decoding: generator.next()!, as: UTF8.self)
        #expect(first.hasPrefix(#"{"ts":"2026-01-01T00:00:00.000000Z","type":"session_start","agent":"agent-"#))
        var checksum: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a over the next 1000 events
        for _ in 0..<1_000 {
            for byte in generator.next()! {
                checksum = (checksum ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            }
        }
        #expect(checksum == pinnedChecksum, "checksum \(String(checksum, radix: 16))")
    }

    @Test("every event is a JSON object with the common fields")
    func validJSON() throws {
        let events = try parsedEvents(count: 10_000)
        var lastSeq: [String: Int] = [:]
        for event in events {
            let ts = try #require(event["ts"] as? String)
            #expect(ts.utf8.count == 27 && ts.hasSuffix("Z"))
            #expect(RecordTime.parseText(ts) != nil)
            let type = try #require(event["type"] as? String)
            #expect(EventGenerator.eventTypes.contains(type))
            let agent = try #require(event["agent"] as? String)
            #expect(agent.hasPrefix("agent-") && agent.count == 8)
            let session = try #require(event["session"] as? String)
            #expect(session.hasPrefix("conv-\(agent)-"))
            let seq = try #require(event["seq_in_session"] as? Int)
            // Within a conversation, seq_in_session counts 0, 1, 2, …
            if type == "session_start" {
                #expect(seq == 0 && lastSeq[session] == nil)
            } else {
                #expect(lastSeq[session] == seq - 1)
            }
            lastSeq[session] = seq
            #expect(event["text"] is String)
        }
        #expect(Set(events.compactMap { $0["agent"] as? String }).count == 50)
    }

    @Test("types come out with the documented frequencies")
    func typeDistribution() throws {
        let events = try parsedEvents(seed: 3, count: 30_000)
        var counts: [String: Int] = [:]
        for event in events { counts[event["type"] as! String, default: 0] += 1 }
        func share(_ type: String) -> Double { Double(counts[type] ?? 0) / Double(events.count) }
        let expected: [(String, Double)] = [
            ("message", 0.30), ("tool_call", 0.18), ("tool_result", 0.18), ("llm_request", 0.08),
            ("llm_response", 0.08), ("thought", 0.06), ("decision", 0.04), ("state_change", 0.03),
            ("warning", 0.02), ("error", 0.01), ("session_start", 0.009), ("session_end", 0.009),
        ]
        for (type, target) in expected {
            #expect(abs(share(type) - target) <= target * 0.15 + 0.002,
                    "\(type): \(share(type)), expected about \(target)")
        }
        #expect(Set(counts.keys) == Set(EventGenerator.eventTypes))
        // Each tool_result answers the pending tool_call of its agent.
        var pending: [String: String] = [:]
        for event in events {
            let agent = event["agent"] as! String
            switch event["type"] as! String {
            case "tool_call": pending[agent] = event["call_id"] as? String
            case "tool_result":
                #expect(pending[agent] == event["call_id"] as? String)
                pending[agent] = nil
            default: #expect(pending[agent] == nil)
            }
        }
    }

    @Test("about 5% of events are earlier than the one before, by 2 ms to 4 s")
    func outOfOrder() throws {
        var generator = EventGenerator(seed: 11, start: start)
        var previous = startMicros
        var late = 0
        let count = 30_000
        for index in 0..<count {
            let event = try #require(
                JSONSerialization.jsonObject(with: Data(generator.next()!)) as? [String: Any])
            let time = try #require(RecordTime.parseText(event["ts"] as! String))
            if index == 0 { #expect(time == startMicros) }
            if time < previous {
                late += 1
                #expect(previous - time >= 2_000 && previous - time <= 4_100_000)
            }
            previous = time
        }
        let share = Double(late) / Double(count)
        #expect(share > 0.04 && share < 0.06, "late share \(share)")
        // meanGap 2 ms: 30,000 events span about 60 s.
        #expect(previous - startMicros > 54_000_000 && previous - startMicros < 66_000_000, "span \(previous - startMicros) µs")
    }

    @Test("text is 20 B to 4 KiB with a long tail, and exercises escaping")
    func payloads() throws {
        let events = try parsedEvents(seed: 5, count: 20_000)
        let sizes = events.map { ($0["text"] as! String).utf8.count }
        #expect(sizes.allSatisfy { (20...4096).contains($0) }, "min \(sizes.min()!) max \(sizes.max()!)")
        let mean = Double(sizes.reduce(0, +)) / Double(sizes.count)
        let median = sizes.sorted()[sizes.count / 2]
        #expect(mean >= 300 && mean <= 500, "mean \(mean)")
        #expect(Double(median) < mean * 0.7, "median \(median), mean \(mean)")
        #expect(sizes.max()! > 3_000)

        let texts = events.map { $0["text"] as! String }
        for needle in ["\"", "\\", "\n", "\t", "é", "日本", "🚀", "\u{1F}"] {
            #expect(texts.contains { $0.contains(needle) }, "no text contains \(needle.debugDescription)")
        }
    }

    @Test("a store accepts every event")
    func storeAcceptsEvents() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("stoa-generator-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try Store(at: directory)
        let events = Array(EventGenerator(seed: 9, start: start).prefix(5_000))
        let seqs = try store.append(contentsOf: events, durability: .buffered)
        #expect(seqs == 0..<5_000)
        try store.close()
    }
}

/// FNV-1a of events 2 to 1001 of `EventGenerator(seed: 42, start: 2026-01-01)`.
private let pinnedChecksum: UInt64 = 0x884b_2697_6d81_0f2b
