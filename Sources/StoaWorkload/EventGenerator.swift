import Stoa

/// A deterministic stream of realistic agent conversation events, one compact
/// JSON object each.
///
/// The stream is a pure function of the initializer's arguments: the same
/// seed gives the same bytes on every run and every machine (the generator
/// has its own PRNG, SplitMix64, and uses only integer arithmetic and basic
/// IEEE operations, no `libm`, no system randomness).
///
/// What it looks like:
///
/// - `agents` agents (`agent-00`, `agent-01`, …) take turns at random. Each
///   runs conversations of 20 to 200 events (`conv-agent-07-3`), opened by a
///   `session_start` and closed by a `session_end`; `seq_in_session` counts
///   from 0 within a conversation.
/// - Types are skewed like a real agent log: about 30% `message`, 18%
///   `tool_call`, 18% `tool_result` (each answers its agent's pending call, by
///   `call_id`), 8% `llm_request`, 8% `llm_response` (by `request_id`), 6%
///   `thought`, 4% `decision`, 3% `state_change`, 2% `warning`, 1% `error`,
///   and about 1% each `session_start` and `session_end`. See
///   ``eventTypes``.
/// - `ts` is RFC 3339 with microseconds and `Z`. Gaps between events are
///   bursty with a mean of `meanGap`; about 5% of events are late: their time
///   is 2 ms to 4 s earlier than the event before them (clock skew, buffered
///   senders).
/// - Every event has a `text` field from a fixed vocabulary, 20 B to 4 KiB of
///   UTF-8 with a long tail (mean about 450 B); some of it needs JSON escaping
///   (quotes, backslashes, newlines, tabs, a control character) or is
///   non-ASCII (é, 日本語, emoji). Every event is valid JSON.
///
/// Fields come in this order: `ts`, `type`, `agent`, `session`,
/// `seq_in_session`, the type's own fields, `text`:
///
/// ```json
/// {"ts":"2026-01-01T00:00:00.002113Z","type":"tool_call","agent":"agent-07","session":"conv-agent-07-1","seq_in_session":4,"tool":"grep","call_id":"call-000017","text":"search the repository for …"}
/// ```
///
/// The sequence never ends: take a prefix.
///
/// ```swift
/// var events = EventGenerator(seed: 7, start: Timestamp(microsecondsSinceEpoch: 1_767_225_600_000_000))
/// var buffer: [UInt8] = []
/// for _ in 0..<1000 { events.nextLine(into: &buffer) }   // 1000 JSONL lines
/// let first10 = Array(EventGenerator(start: .now()).prefix(10))
/// ```
public struct EventGenerator: IteratorProtocol, Sequence, Sendable {
    /// Every type the generator writes, most frequent first.
    public static let eventTypes: [String] = [
        "message", "tool_call", "tool_result", "llm_request", "llm_response", "thought",
        "decision", "state_change", "warning", "error", "session_start", "session_end",
    ]

    private var random: SplitMix64
    private let meanGap: Double
    private let agentCount: Int
    private let agentDigits: Int
    private var agents: [AgentState]
    /// The time of the latest in-order event (µs).
    private var clock: Int64
    /// The time of the last event written (µs).
    private var lastTime: Int64
    private var produced = 0
    private var nextCallID = 1
    private var nextRequestID = 1
    /// The last day formatted, and its `YYYY-MM-DDT` bytes.
    private var cachedDay: Int64 = .min
    private var cachedDate: [UInt8] = []

    /// Creates a generator.
    ///
    /// - Parameters:
    ///   - seed: selects the stream; the same seed always gives the same bytes.
    ///   - start: the time of the first event (years 0000 to 9999 are
    ///     written correctly).
    ///   - meanGap: the mean time between consecutive events, at least 0;
    ///     whole microseconds count.
    ///   - agents: how many agents take turns, at least 1.
    public init(seed: UInt64 = 42, start: Timestamp, meanGap: Duration = .milliseconds(2), agents: Int = 50) {
        precondition(agents >= 1, "EventGenerator needs at least one agent")
        precondition(meanGap >= .zero, "EventGenerator's meanGap must not be negative")
        self.random = SplitMix64(seed: seed)
        let (seconds, attoseconds) = meanGap.components
        self.meanGap = Double(seconds) * 1_000_000 + Double(attoseconds / 1_000_000_000_000)
        self.agentCount = agents
        var digits = 2
        var limit = 100
        while agents > limit {
            digits += 1
            limit *= 10
        }
        self.agentDigits = digits
        self.agents = Array(repeating: AgentState(), count: agents)
        self.clock = start.microsecondsSinceEpoch
        self.lastTime = start.microsecondsSinceEpoch
    }

    /// Returns the next event: one compact JSON object, without a newline.
    /// Never `nil`.
    public mutating func next() -> [UInt8]? {
        var event: [UInt8] = []
        event.reserveCapacity(512)
        write(into: &event)
        return event
    }

    /// Appends the next event and a `\n` to `buffer`.
    ///
    /// Nothing is allocated per event beyond the growth of `buffer`, so a
    /// reused buffer makes a stream of JSONL at the cost of formatting alone.
    public mutating func nextLine(into buffer: inout [UInt8]) {
        write(into: &buffer)
        buffer.append(UInt8(ascii: "\n"))
    }

    // MARK: One event

    private mutating func write(into out: inout [UInt8]) {
        // Time: the first event at `start`, then bursty gaps; some events late.
        var time = clock
        if produced > 0 {
            clock += gap()
            time = clock
            if random.chance(percent: 5) {
                let scale = Int64(2_000) << Int64(random.below(11))  // 2 ms ... 2 s
                time = lastTime - scale - Int64(random.below(UInt64(scale)))
            }
        }
        lastTime = time
        produced += 1

        // Who, and what happens next in their conversation.
        let agentIndex = Int(random.below(UInt64(agentCount)))
        var agent = agents[agentIndex]
        let kind: Kind
        var pairedID = 0
        if !agent.inSession {
            kind = .sessionStart
            agent.inSession = true
            agent.session += 1
            agent.seq = 0
            agent.remaining = 20 + Int(random.below(181))
        } else if agent.pending != .none {
            kind = agent.pending == .toolCall ? .toolResult : .llmResponse
            pairedID = agent.pendingID
            agent.pending = .none
        } else if agent.remaining <= 1 {
            kind = .sessionEnd
            agent.inSession = false
        } else {
            kind = drawFreeKind()
            if kind == .toolCall {
                agent.pending = .toolCall
                agent.pendingID = nextCallID
                agent.pendingTool = Int(random.below(UInt64(Vocabulary.tools.count)))
                pairedID = nextCallID
                nextCallID += 1
            } else if kind == .llmRequest {
                agent.pending = .llmRequest
                agent.pendingID = nextRequestID
                agent.pendingModel = Int(random.below(UInt64(Vocabulary.models.count)))
                pairedID = nextRequestID
                nextRequestID += 1
            }
        }
        let seqInSession = agent.seq
        agent.seq += 1
        agent.remaining -= 1
        agents[agentIndex] = agent

        // The common fields.
        out.append(contentsOf: #"{"ts":""#.utf8)
        appendTimestamp(time, to: &out)
        out.append(contentsOf: #"","type":""#.utf8)
        out.append(contentsOf: Self.eventTypes[kind.rawValue].utf8)
        out.append(contentsOf: #"","agent":""#.utf8)
        appendAgent(agentIndex, to: &out)
        out.append(contentsOf: #"","session":"conv-"#.utf8)
        appendAgent(agentIndex, to: &out)
        out.append(UInt8(ascii: "-"))
        appendDecimal(agent.session, to: &out)
        out.append(contentsOf: #"","seq_in_session":"#.utf8)
        appendDecimal(seqInSession, to: &out)

        // The type's own fields, then the text.
        let length = textLength(for: kind)
        switch kind {
        case .message:
            let role = random.below(100)
            field("role", role < 45 ? "user" : role < 95 ? "assistant" : "system", to: &out)
        case .toolCall:
            field("tool", Vocabulary.tools[agent.pendingTool], to: &out)
            idField("call_id", "call-", pairedID, to: &out)
        case .toolResult:
            field("tool", Vocabulary.tools[agent.pendingTool], to: &out)
            idField("call_id", "call-", pairedID, to: &out)
            out.append(contentsOf: #","ok":"#.utf8)
            out.append(contentsOf: (random.chance(percent: 92) ? "true" : "false").utf8)
            numberField("duration_ms", 1 + Int(random.below(50)) * (1 + Int(random.below(40))), to: &out)
        case .llmRequest:
            field("model", Vocabulary.models[agent.pendingModel], to: &out)
            idField("request_id", "req-", pairedID, to: &out)
            numberField("max_tokens", 256 << Int(random.below(5)), to: &out)
        case .llmResponse:
            field("model", Vocabulary.models[agent.pendingModel], to: &out)
            idField("request_id", "req-", pairedID, to: &out)
            numberField("tokens_in", 200 + Int(random.below(8_000)), to: &out)
            numberField("tokens_out", length / 4 + 1, to: &out)
            numberField("latency_ms", 150 + Int(random.below(6_000)), to: &out)
        case .thought:
            break
        case .decision:
            field("choice", pick(Vocabulary.choices), to: &out)
            numberField("confidence_pct", 40 + Int(random.below(60)), to: &out)
        case .stateChange:
            let from = Int(random.below(UInt64(Vocabulary.states.count)))
            let to = (from + 1 + Int(random.below(UInt64(Vocabulary.states.count - 1)))) % Vocabulary.states.count
            field("from", Vocabulary.states[from], to: &out)
            field("to", Vocabulary.states[to], to: &out)
        case .warning:
            field("code", pick(Vocabulary.warningCodes), to: &out)
        case .error:
            field("code", pick(Vocabulary.errorCodes), to: &out)
            out.append(contentsOf: #","retryable":"#.utf8)
            out.append(contentsOf: (random.chance(percent: 60) ? "true" : "false").utf8)
        case .sessionStart:
            idField("user", "user-", 1 + Int(random.below(500)), to: &out)
        case .sessionEnd:
            field("reason", pick(Vocabulary.endReasons), to: &out)
            numberField("events", seqInSession + 1, to: &out)
        }
        out.append(contentsOf: #","text":""#.utf8)
        appendText(length: length, multiline: kind == .llmResponse || kind == .toolResult, to: &out)
        out.append(contentsOf: #""}"#.utf8)
    }

    /// A type for an agent with no pending call, by weight. `tool_result` and
    /// `llm_response` are not drawn: each follows its call, so they come out
    /// as frequent as `tool_call` and `llm_request`.
    private mutating func drawFreeKind() -> Kind {
        // message 30, tool_call 18, llm_request 8, thought 6, decision 4,
        // state_change 3, warning 2, error 1: 72 in all.
        let draw = random.below(72)
        switch draw {
        case ..<30: return .message
        case ..<48: return .toolCall
        case ..<56: return .llmRequest
        case ..<62: return .thought
        case ..<66: return .decision
        case ..<69: return .stateChange
        case ..<71: return .warning
        default: return .error
        }
    }

    /// A bursty gap with mean `meanGap`: `meanGap · (k + f) / 1.5` where `k`
    /// is geometric (P(k) = 2^-(k+1)) and `f` uniform in [0, 1), a piecewise
    /// approximation of an exponential distribution that needs no `log`.
    private mutating func gap() -> Int64 {
        let bits = random.next()
        let k = Swift.min(bits.leadingZeroBitCount, 40)
        let fraction = Double(random.next() >> 11) * 0x1p-53
        return Int64(meanGap * (Double(k) + fraction) / 1.5)
    }

    /// The length of an event's text in UTF-8 bytes (before escaping), from
    /// a three-part mixture per type: mostly short, some medium, a long tail.
    private mutating func textLength(for kind: Kind) -> Int {
        let part = random.below(100)
        let range: ClosedRange<Int>
        switch kind {
        case .toolResult, .llmRequest, .llmResponse:
            range = part < 45 ? 40...300 : part < 85 ? 300...1_200 : 1_200...4_000
        case .message, .thought:
            range = part < 65 ? 20...250 : part < 92 ? 250...1_000 : 1_000...3_000
        default:
            range = part < 85 ? 20...160 : part < 98 ? 160...600 : 600...1_500
        }
        return range.lowerBound + Int(random.below(UInt64(range.count)))
    }

    // MARK: Writing

    /// Appends text of at least `length` bytes (and at most 4,096) made of
    /// whole vocabulary words, JSON-escaped.
    private mutating func appendText(length: Int, multiline: Bool, to out: inout [UInt8]) {
        let spicy = random.chance(percent: 8)
        let words = Vocabulary.words
        let spicyWords = Vocabulary.spicy
        var written = 0
        var wordsInSentence = 0
        while written < length {
            if written > 0 {
                if multiline && wordsInSentence > 6 && random.chance(percent: 4) {
                    out.append(UInt8(ascii: "."))
                    out.append(UInt8(ascii: "\\"))  // an escaped newline
                    out.append(UInt8(ascii: "n"))
                    written += 2
                    wordsInSentence = 0
                } else if wordsInSentence > 4 && random.chance(percent: 7) {
                    out.append(UInt8(ascii: "."))
                    out.append(UInt8(ascii: " "))
                    written += 2
                    wordsInSentence = 0
                } else {
                    out.append(UInt8(ascii: " "))
                    written += 1
                }
            }
            if spicy && random.chance(percent: 12) {
                written += spicyWords.append(Int(random.below(UInt64(spicyWords.count))), to: &out)
            } else {
                // Skewed toward the front of the list, as word use is.
                let count = UInt64(words.count)
                written += words.append(Int(Swift.min(random.below(count), random.below(count))), to: &out)
            }
            wordsInSentence += 1
        }
    }

    private func field(_ name: StaticString, _ value: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: #",""#.utf8)
        appendStatic(name, to: &out)
        out.append(contentsOf: #"":""#.utf8)
        appendStatic(value, to: &out)
        out.append(UInt8(ascii: "\""))
    }

    private func idField(_ name: StaticString, _ prefix: StaticString, _ id: Int, to out: inout [UInt8]) {
        out.append(contentsOf: #",""#.utf8)
        appendStatic(name, to: &out)
        out.append(contentsOf: #"":""#.utf8)
        appendStatic(prefix, to: &out)
        appendDecimal(id, minimumDigits: 6, to: &out)
        out.append(UInt8(ascii: "\""))
    }

    private func numberField(_ name: StaticString, _ value: Int, to out: inout [UInt8]) {
        out.append(contentsOf: #",""#.utf8)
        appendStatic(name, to: &out)
        out.append(contentsOf: #"":"#.utf8)
        appendDecimal(value, to: &out)
    }

    private mutating func pick(_ values: [StaticString]) -> StaticString {
        values[Int(random.below(UInt64(values.count)))]
    }

    private func appendAgent(_ index: Int, to out: inout [UInt8]) {
        out.append(contentsOf: "agent-".utf8)
        appendDecimal(index, minimumDigits: agentDigits, to: &out)
    }

    /// Appends `micros` as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    private mutating func appendTimestamp(_ micros: Int64, to out: inout [UInt8]) {
        let (seconds, fraction) = floorDivide(micros, 1_000_000)
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        if days != cachedDay {
            cachedDay = days
            cachedDate.removeAll(keepingCapacity: true)
            let (year, month, day) = civilFromDays(days)
            appendDecimal(Int(year), minimumDigits: 4, to: &cachedDate)
            cachedDate.append(UInt8(ascii: "-"))
            appendDecimal(Int(month), minimumDigits: 2, to: &cachedDate)
            cachedDate.append(UInt8(ascii: "-"))
            appendDecimal(Int(day), minimumDigits: 2, to: &cachedDate)
            cachedDate.append(UInt8(ascii: "T"))
        }
        out.append(contentsOf: cachedDate)
        appendDecimal(Int(secondOfDay / 3600), minimumDigits: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDecimal(Int(secondOfDay / 60 % 60), minimumDigits: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDecimal(Int(secondOfDay % 60), minimumDigits: 2, to: &out)
        out.append(UInt8(ascii: "."))
        appendDecimal(Int(fraction), minimumDigits: 6, to: &out)
        out.append(UInt8(ascii: "Z"))
    }
}

// MARK: - Helpers

extension EventGenerator {
    /// Event types, indexing ``eventTypes``.
    private enum Kind: Int {
        case message, toolCall, toolResult, llmRequest, llmResponse, thought
        case decision, stateChange, warning, error, sessionStart, sessionEnd
    }

    private enum Pending: Sendable {
        case none, toolCall, llmRequest
    }

    private struct AgentState: Sendable {
        var session = 0
        var inSession = false
        var seq = 0
        var remaining = 0
        var pending = Pending.none
        var pendingID = 0
        var pendingTool = 0
        var pendingModel = 0
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, and the same on every
/// machine.
struct SplitMix64: Sendable {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound` (Lemire's multiply-high; `bound` > 0).
    mutating func below(_ bound: UInt64) -> UInt64 {
        next().multipliedFullWidth(by: bound).high
    }

    mutating func chance(percent: UInt64) -> Bool {
        below(100) < percent
    }
}

private func appendStatic(_ text: StaticString, to out: inout [UInt8]) {
    text.withUTF8Buffer { out.append(contentsOf: $0) }
}

/// Appends a non-negative `value` in decimal, zero-padded to `minimumDigits`.
private func appendDecimal(_ value: Int, minimumDigits: Int = 1, to out: inout [UInt8]) {
    precondition(value >= 0, "appendDecimal needs a non-negative value")
    var digits = 1
    var divisor = 1
    while digits < minimumDigits || value / divisor >= 10 {
        digits += 1
        divisor *= 10
    }
    var rest = value
    while divisor > 0 {
        out.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest / divisor))
        rest %= divisor
        divisor /= 10
    }
}

private func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
    let quotient = value / divisor
    let remainder = value % divisor
    return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
private func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let shiftedMonth = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
    let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
}
