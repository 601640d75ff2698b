/// The fixed words and names ``EventGenerator`` draws from.
enum Vocabulary {
    /// Words, JSON-escaped once, back to back in one buffer.
    struct WordList: Sendable {
        private let bytes: [UInt8]
        /// Where each word ends in `bytes`; word `i` starts where `i - 1` ends.
        private let ends: [Int]
        /// Each word's length before escaping.
        private let rawCounts: [Int]

        init(_ texts: [String]) {
            var bytes: [UInt8] = []
            var ends: [Int] = []
            for text in texts {
                bytes.append(contentsOf: jsonEscaped(text))
                ends.append(bytes.count)
            }
            self.bytes = bytes
            self.ends = ends
            self.rawCounts = texts.map(\.utf8.count)
        }

        var count: Int { ends.count }

        /// Appends word `index`, escaped, to `out`; returns its length before escaping.
        func append(_ index: Int, to out: inout [UInt8]) -> Int {
            let start = index == 0 ? 0 : ends[index - 1]
            bytes.withUnsafeBufferPointer { out.append(contentsOf: $0[start..<ends[index]]) }
            return rawCounts[index]
        }
    }

    /// Plain words, the most frequent first.
    static let words = WordList(
        """
        the to a and of in is for that it with on this we be as file call result \
        user tool agent model request response error should will need check run \
        test output input value function return data step next plan task query \
        search read write update create list find context token prompt session \
        message retry timeout status config path line json record store index \
        segment time window summary answer question reason because first then \
        done ok failed success pending open close start end before after using \
        from into over about which when where there here not all any each more \
        less only also maybe likely confirm verify parse format build deploy \
        branch commit review patch diff merge cache memory latency budget cost \
        limit rate quota schedule calendar email ticket customer invoice report \
        dashboard metric alert threshold anomaly trace span event stream buffer \
        flush rotate compress archive backup restore replay conversation \
        repository function_call observation hypothesis refactor
        """.split(separator: " ").map(String.init))

    /// Text that needs JSON escaping or is not ASCII.
    static let spicy = WordList([
        #"the user said "stop""#,
        #"C:\Users\agent\notes.txt"#,
        #"regex \d+\.\d+"#,
        "line one\nline two",
        "col1\tcol2\tcol3",
        "café",
        "naïve résumé",
        "Zürich",
        "日本語のテキスト",
        "日本",
        "🚀",
        "done 👍🏽",
        "Ελληνικά",
        "emoji 🤖💬",
        "bell \u{07} char",
        "nul-free \u{1F} unit separator",
        #"{"nested": "json"}"#,
        "</script>",
        "quote ' and \" both",
        "trailing backslash \\",
    ])

    static let tools: [StaticString] = [
        "grep", "read_file", "write_file", "bash", "web_search", "python", "http_get", "list_dir",
        "sql_query", "calendar",
    ]

    static let models: [StaticString] = [
        "claude-sonnet-4", "gpt-4.1", "llama-3.1-70b", "mistral-large", "qwen2.5-32b",
    ]

    static let choices: [StaticString] = [
        "use_tool", "ask_user", "answer", "delegate", "retry", "give_up", "plan_more",
    ]

    static let states: [StaticString] = [
        "idle", "planning", "running", "waiting_for_tool", "waiting_for_user", "done",
    ]

    static let warningCodes: [StaticString] = [
        "W_SLOW_TOOL", "W_CONTEXT_NEAR_LIMIT", "W_RETRYING", "W_DEPRECATED_TOOL",
    ]

    static let errorCodes: [StaticString] = [
        "E_TIMEOUT", "E_RATE_LIMIT", "E_TOOL_FAILED", "E_PARSE", "E_CONTEXT_LENGTH",
    ]

    static let endReasons: [StaticString] = [
        "completed", "completed", "completed", "user_closed", "timeout", "error",
    ]
}

/// `text` as the contents of a JSON string (RFC 8259): `"` and `\` escaped,
/// the usual short escapes for control characters, `\u00XX` for the rest.
func jsonEscaped(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    let hex = Array("0123456789abcdef".utf8)
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
        case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
        case UInt8(ascii: "\n"): out.append(contentsOf: #"\n"#.utf8)
        case UInt8(ascii: "\r"): out.append(contentsOf: #"\r"#.utf8)
        case UInt8(ascii: "\t"): out.append(contentsOf: #"\t"#.utf8)
        case 0..<0x20:
            out.append(contentsOf: #"\u00"#.utf8)
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0xF)])
        default: out.append(byte)
        }
    }
    return out
}
