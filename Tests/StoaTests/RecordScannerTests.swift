import Foundation
import StoaTestSupport
import Testing

@testable import Stoa

// The conformance tables are written by hand in the spirit of nst/JSONTestSuite
// (https://github.com/nst/JSONTestSuite, not available offline): the case names
// follow its `y_`/`n_` categories. Because a record must be an object, a value
// under test is put in one: `{"a":<value>}`. The tables are also fed to Python's
// `json` module in the differential test below, so a wrong expectation here is
// caught by an independent parser too.

// MARK: - Helpers

/// A piece of a test input: text (as UTF-8) or one raw byte.
enum ScanPart: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case text(String)
    case byte(UInt8)
    init(stringLiteral value: String) { self = .text(value) }
    init(integerLiteral value: UInt8) { self = .byte(value) }
}

/// Bytes from text and raw bytes: `scanBytes(#"{"a":""#, 0x80, #""}"#)`.
func scanBytes(_ parts: ScanPart...) -> [UInt8] {
    var bytes: [UInt8] = []
    for part in parts {
        switch part {
        case .text(let text): bytes += Array(text.utf8)
        case .byte(let byte): bytes.append(byte)
        }
    }
    return bytes
}

/// One named input of a conformance table.
struct ScanCase: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var testDescription: String { "\(name) \(scanHex(bytes.prefix(48)))\(bytes.count > 48 ? "…" : "")" }
    init(_ name: String, _ bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
    init(_ name: String, _ text: String) { self.init(name, Array(text.utf8)) }
}

func scanHex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
        .joined()
}

/// Scans as an append does (``RecordScanner/Rules/input``) unless told otherwise.
func scanRecord(
    _ bytes: [UInt8], fields: FieldNames = .default, rules: RecordScanner.Rules = .input
) throws(StoaError) -> RecordScanner.Summary {
    let scanner = RecordScanner(fields: fields)
    return try bytes.withUnsafeBufferPointer { (buffer) throws(StoaError) in try scanner.scan(buffer, rules: rules) }
}

/// The name of the key a value was found under, with the default field names.
/// The name a value was found under, with `fields` (the scanner keeps an index).
func keyName(_ fields: FieldNames = .default) -> (RecordScanner.Value) -> String {
    let names = RecordScanner(fields: fields).keyNames
    return { names[$0.name] }
}

func scanRecord(
    _ text: String, fields: FieldNames = .default, rules: RecordScanner.Rules = .input
) throws(StoaError) -> RecordScanner.Summary {
    try scanRecord(Array(text.utf8), fields: fields, rules: rules)
}

/// The error a scan throws, or nil when the input is accepted.
func scanRejection(
    _ bytes: [UInt8], fields: FieldNames = .default, rules: RecordScanner.Rules = .input
) -> StoaError? {
    do {
        _ = try scanRecord(bytes, fields: fields, rules: rules)
        return nil
    } catch {
        return error
    }
}

func scanRejection(_ text: String, rules: RecordScanner.Rules = .input) -> StoaError? {
    scanRejection(Array(text.utf8), rules: rules)
}

/// Checks the contract of a rejection: code `.invalidRecord`, an offset in
/// `0...count`, and the offset is where the input stops being valid: the bytes
/// before it are the start of some valid record (scanning just them either
/// succeeds or runs out of input exactly at their end).
func checkScanRejection(
    _ error: StoaError, of bytes: [UInt8], rules: RecordScanner.Rules = .input,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let shown = scanHex(bytes.prefix(80))
    #expect(error.code == .invalidRecord, "\(error) for \(shown)", sourceLocation: sourceLocation)
    guard let offset = error.offset else {
        Issue.record("no offset in \(error) for \(shown)", sourceLocation: sourceLocation)
        return
    }
    guard offset >= 0 && offset <= bytes.count else {
        Issue.record("offset \(offset) outside 0...\(bytes.count) for \(shown)", sourceLocation: sourceLocation)
        return
    }
    if offset < bytes.count, let before = scanRejection(Array(bytes[..<offset]), rules: rules) {
        // Input that is not an object is read as JSON as far as it is JSON:
        // there the bytes before the offset may be a whole value.
        #expect(
            before.offset == offset || before.message.hasPrefix("a record must be a JSON object, found"),
            "the \(offset) bytes before the error offset are not a valid start (\(before)) for \(shown)",
            sourceLocation: sourceLocation)
    }
}

/// The value a summary found, as text (escapes decoded).
func scanValueText(_ value: RecordScanner.Value?, in bytes: [UInt8]) -> String? {
    guard let value else { return nil }
    return bytes.withUnsafeBufferPointer {
        JSONString.decodeString(UnsafeBufferPointer(rebasing: $0[value.range]), escaped: value.escaped)
    }
}

/// `{"a":<value>}`.
func objectWithValue(_ value: String) -> [UInt8] { Array("{\"a\":\(value)}".utf8) }
/// `{"a":"<bytes>"}`.
func objectWithString(_ parts: ScanPart...) -> [UInt8] {
    var bytes = Array(#"{"a":""#.utf8)
    for part in parts {
        switch part {
        case .text(let text): bytes += Array(text.utf8)
        case .byte(let byte): bytes.append(byte)
        }
    }
    return bytes + Array(#""}"#.utf8)
}

// MARK: - The tables

/// Inputs that must be refused.
let jsonMustReject: [ScanCase] = {
    var cases: [ScanCase] = []
    func n(_ name: String, _ bytes: [UInt8]) { cases.append(ScanCase("n_" + name, bytes)) }
    func n(_ name: String, _ text: String) { n(name, Array(text.utf8)) }

    // Raw control characters in strings: every one of them, in a value and in a key.
    for byte in UInt8(0x00)...0x1F {
        n("string_unescaped_ctrl_char_0x\(scanHex([byte]))", objectWithString("x", .byte(byte), "y"))
    }
    n("object_key_unescaped_tab", scanBytes(#"{"a"#, 0x09, #"":1}"#))
    n("object_key_unescaped_newline", scanBytes(#"{"a"#, 0x0A, #"":1}"#))

    // Escapes.
    n("string_escape_x", objectWithValue(#""\x00""#))
    n("string_escaped_apostrophe", objectWithValue(#""\'""#))
    n("string_incomplete_escaped_u", objectWithValue(#""\u12""#))
    n("string_incomplete_escaped_u_end_of_input", Array(#"{"a":"\u12"#.utf8))
    n("string_invalid_unicode_escape", objectWithValue(#""\uZZZZ""#))
    n("string_invalid_unicode_escape_g", objectWithValue(#""\u00g0""#))
    n("string_escape_uppercase_U", objectWithValue(#""\U0041""#))
    n("string_escape_zero", objectWithValue(#""\0""#))
    n("string_escape_a", objectWithValue(#""\a""#))
    n("string_escape_v", objectWithValue(#""\v""#))
    n("string_escape_space", objectWithValue(#""\ ""#))
    n("string_escaped_emoji", objectWithValue("\"\\😀\""))
    n("string_escaped_ctrl_char_tab", scanBytes(#"{"a":"\"#, 0x09, #""}"#))
    n("string_backslash_at_end_of_input", Array(#"{"a":"\"#.utf8))
    n("string_escaped_closing_quote", Array(#"{"a":"\"}"#.utf8))
    n("string_1_surrogate_then_escape_u1x", objectWithValue(#""\uD800\u1x""#))

    // Lone and mismatched surrogates.
    n("string_lone_high_surrogate", objectWithValue(#""\ud800""#))
    n("string_lone_high_surrogate_uppercase", objectWithValue(#""\uDBFF""#))
    n("string_lone_low_surrogate", objectWithValue(#""\udc00""#))
    n("string_lone_low_surrogate_uppercase", objectWithValue(#""\uDFFF""#))
    n("string_high_then_non_low", objectWithValue(#""\ud800\u0041""#))
    n("string_high_then_high", objectWithValue(#""\udbff\udbff""#))
    n("string_high_then_text", objectWithValue(#""\ud800x""#))
    n("string_high_then_other_escape", objectWithValue(#""\ud800\n""#))
    n("string_pair_reversed", objectWithValue(#""\ude00\ud83d""#))
    n("object_key_lone_surrogate", Array(#"{"\ud800":1}"#.utf8))

    // Invalid UTF-8 (RFC 3629).
    n("string_utf8_lone_continuation_80", objectWithString(0x80))
    n("string_utf8_lone_continuation_bf", objectWithString(0xBF))
    n("string_utf8_overlong_c0_af", objectWithString(0xC0, 0xAF))
    n("string_utf8_overlong_c1_bf", objectWithString(0xC1, 0xBF))
    n("string_utf8_overlong_e0_80_af", objectWithString(0xE0, 0x80, 0xAF))
    n("string_utf8_overlong_e0_9f_bf", objectWithString(0xE0, 0x9F, 0xBF))
    n("string_utf8_overlong_f0_80_80_af", objectWithString(0xF0, 0x80, 0x80, 0xAF))
    n("string_utf8_overlong_f0_8f_bf_bf", objectWithString(0xF0, 0x8F, 0xBF, 0xBF))
    n("string_utf8_surrogate_ed_a0_80", objectWithString(0xED, 0xA0, 0x80))
    n("string_utf8_surrogate_ed_bf_bf", objectWithString(0xED, 0xBF, 0xBF))
    n("string_utf8_surrogate_pair_encoded", objectWithString(0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80))
    n("string_utf8_beyond_10ffff_f4_90", objectWithString(0xF4, 0x90, 0x80, 0x80))
    n("string_utf8_f5", objectWithString(0xF5, 0x80, 0x80, 0x80))
    n("string_utf8_f8_five_bytes", objectWithString(0xF8, 0x88, 0x80, 0x80, 0x80))
    n("string_utf8_fc_six_bytes", objectWithString(0xFC, 0x84, 0x80, 0x80, 0x80, 0x80))
    n("string_utf8_fe", objectWithString(0xFE))
    n("string_utf8_ff", objectWithString(0xFF))
    n("string_utf8_truncated_2_at_end_of_string", objectWithString(0xC3))
    n("string_utf8_truncated_3_at_end_of_string", objectWithString(0xE2, 0x82))
    n("string_utf8_truncated_4_at_end_of_string", objectWithString(0xF0, 0x9F, 0x98))
    n("string_utf8_lead_then_ascii", objectWithString(0xC3, "x"))
    n("string_utf8_bad_third_byte", objectWithString(0xE2, 0x82, 0x28))
    n("string_utf8_bad_fourth_byte", objectWithString(0xF0, 0x9F, 0x98, 0x41))
    n("string_utf8_truncated_at_end_of_input", scanBytes(#"{"a":""#, 0xC3))
    n("object_key_invalid_utf8", scanBytes(#"{""#, 0xFF, #"":1}"#))
    n("structure_utf8_byte_outside_string", scanBytes("{", 0x80, "}"))
    n("structure_utf8_byte_after_object", scanBytes("{}", 0x80))

    // Byte order mark.
    n("structure_UTF8_BOM_empty_object", scanBytes(0xEF, 0xBB, 0xBF, "{}"))
    n("structure_UTF8_BOM_after_space", scanBytes(" ", 0xEF, 0xBB, 0xBF, "{}"))
    n("structure_UTF8_BOM_after_object", scanBytes("{}", 0xEF, 0xBB, 0xBF))

    // Numbers.
    for (name, text): (String, String) in [
        ("number_with_leading_zero", "01"), ("number_neg_int_starting_with_zero", "-01"),
        ("number_double_zero", "00"), ("number_leading_zero_012", "012"),
        ("number_real_without_fractional_part", "1."), ("number_starting_with_dot", ".5"),
        ("number_minus_alone", "-"), ("number_minus_dot", "-.5"), ("number_minus_space_1", "- 1"),
        ("number_exponent_without_digits", "1e"), ("number_exponent_sign_without_digits", "1e+"),
        ("number_0_capital_E", "0E"), ("number_plus_1", "+1"), ("number_hex", "0x10"),
        ("number_neg_hex", "-0x1"), ("number_NaN", "NaN"), ("number_Infinity", "Infinity"),
        ("number_minus_Infinity", "-Infinity"), ("number_real_garbage_after_e", "1.e5"),
        ("number_0.e1", "0.e1"), ("number_2.e+3", "2.e+3"), ("number_1.2.3", "1.2.3"),
        ("number_double_e", "1ee2"), ("number_exponent_with_fraction", "1e1.5"),
        ("number_double_exponent", "1e2e3"), ("number_underscore", "1_000"),
        ("number_space_inside", "1 000"), ("number_minus_sign_with_trailing_garbage", "-foo"),
    ] {
        n(name, objectWithValue(text))
    }

    // Literals.
    for (name, text): (String, String) in [
        ("incomplete_true", "tru"), ("incomplete_null", "nul"), ("incomplete_false", "fals"),
        ("capitalized_True", "True"), ("undefined", "undefined"), ("NULL", "NULL"), ("None", "None"),
        ("true_with_trailing_letter", "truex"), ("null_with_extra_l", "nulll"), ("t_alone", "t"),
    ] {
        n("structure_" + name, objectWithValue(text))
    }
    n("structure_incomplete_true_at_end_of_input", Array(#"{"a":tru"#.utf8))

    // Structure.
    for (name, text): (String, String) in [
        ("object_trailing_comma", #"{"a":1,}"#), ("array_extra_comma", #"{"a":[1,]}"#),
        ("object_missing_comma", #"{"a":1 "b":2}"#), ("array_missing_comma", #"{"a":[1 2]}"#),
        ("object_missing_colon", #"{"a" 1}"#), ("object_double_colon", #"{"a"::1}"#),
        ("object_comma_instead_of_colon", #"{"a",1}"#), ("object_missing_value", #"{"a":}"#),
        ("object_single_quote_value", #"{"a":'x'}"#), ("object_single_quote_key", #"{'a':1}"#),
        ("object_unquoted_key", #"{a:1}"#), ("object_non_string_key", #"{1:1}"#),
        ("object_null_key", #"{null:1}"#), ("object_leading_comma", #"{,"a":1}"#),
        ("object_double_comma", #"{"a":1,,"b":2}"#), ("object_comma_only", #"{,}"#),
        ("array_double_comma", #"{"a":[1,,2]}"#), ("array_leading_comma", #"{"a":[,1]}"#),
        ("array_comma_only", #"{"a":[,]}"#), ("array_colon_instead_of_comma", #"{"a":[1:2]}"#),
        ("structure_object_with_comment", #"{/* c */}"#), ("structure_comment_after", #"{"a":1}// c"#),
        ("structure_hash_comment", #"{"a":1 # c}"#),
        ("structure_array_closed_by_brace", #"{"a":[}"#), ("structure_object_closed_by_bracket", #"{"a":{]}"#),
        ("structure_mismatched_nesting", #"{"a":[1}]}"#), ("structure_close_unopened_array", #"{"a":1]}"#),
        ("structure_object_followed_by_closing_object", #"{"a":1}}"#),
        ("structure_trailing_garbage_x", "{} x"), ("structure_double_object", "{}{}"),
        ("structure_object_then_bracket", "{}]"), ("structure_object_then_comma", "{},"),
        ("structure_object_then_quote", #"{}""#), ("structure_object_then_number", "{} 1"),
        ("structure_two_records_on_a_line", #"{"a":1}{"a":2}"#),
        ("structure_top_level_array", "[]"), ("structure_top_level_array_of_object", "[{}]"),
        ("structure_top_level_string", #""s""#), ("structure_top_level_number", "1"),
        ("structure_top_level_null", "null"), ("structure_top_level_true", "true"),
        ("structure_closing_brace_alone", "}"), ("structure_empty", ""), ("structure_whitespace_only", " "),
        ("structure_whitespace_only_all_kinds", " \t\r\n"),
        ("structure_unclosed_object", "{"), ("structure_unclosed_object_after_key", #"{"a""#),
        ("structure_unclosed_object_after_colon", #"{"a":"#), ("structure_unclosed_object_after_value", #"{"a":1"#),
        ("structure_unclosed_object_after_comma", #"{"a":1,"#), ("structure_unterminated_key", #"{"a"#),
        ("structure_unterminated_string", #"{"a":"x"#), ("structure_unclosed_array", #"{"a":["#),
        ("structure_unclosed_array_after_value", #"{"a":[1"#), ("structure_unclosed_inner_object", #"{"a":{"b":1}"#),
    ] {
        n(name, text)
    }
    n("structure_null_byte_after_object", scanBytes("{}", 0x00))
    n("structure_whitespace_vertical_tab", scanBytes("{", 0x0B, "}"))
    n("structure_whitespace_form_feed", scanBytes("{", 0x0C, "}"))
    n("structure_whitespace_nbsp", scanBytes("{", 0xC2, 0xA0, "}"))
    n("structure_whitespace_U+2028", scanBytes("{", 0xE2, 0x80, 0xA8, "}"))
    return cases
}()

/// Objects that must be accepted.
let jsonMustAccept: [ScanCase] = {
    var cases: [ScanCase] = []
    func y(_ name: String, _ bytes: [UInt8]) { cases.append(ScanCase("y_" + name, bytes)) }
    func y(_ name: String, _ text: String) { y(name, Array(text.utf8)) }

    // Objects.
    y("object_empty", "{}")
    y("object_empty_with_whitespace", " {\t\r\n} ")
    y("object_empty_key", #"{"":0}"#)
    y("object_empty_key_and_value", #"{"":""}"#)
    y("object_duplicated_key", #"{"a":"b","a":"c"}"#)
    y("object_duplicated_key_and_value", #"{"a":"b","a":"b"}"#)
    y("object_simple", #"{"a":[]}"#)
    y("object_basic", #"{"asd":"sdf","dfg":"fgh"}"#)
    y("object_escaped_null_in_key", #"{"foo\u0000bar": 42}"#)
    y("object_extreme_numbers", #"{ "min": -1.0e+28, "max": 1.0e+28 }"#)
    y("object_long_strings", #"{"x":[{"id": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}], "id": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#)
    y("object_string_unicode", #"{"title":"\u041f\u043e\u043b\u0442\u043e\u0440\u0430 \u0417\u0435\u043c\u043b\u0435\u043a\u043e\u043f\u0430" }"#)
    y("object_with_newlines", "{\n\"a\": \"b\"\n}")
    y("object_nested", #"{"a":{"b":{"c":{}}},"d":[{"e":[]}]}"#)

    // Strings and escapes.
    y("string_allowed_escapes", #"{"a":"\"\\\/\b\f\n\r\t"}"#)
    y("string_escaped_solidus", #"{"a":"\/"}"#)
    y("string_unescaped_solidus", #"{"a":"/"}"#)
    y("string_null_escape", #"{"a":"\u0000"}"#)
    y("string_escaped_control_character", #"{"a":"\u0012\u001F"}"#)
    y("string_uEscape_mixed_case", #"{"a":"\u00e9\u00C9\uAbCd"}"#)
    y("string_1_2_3_bytes_UTF-8_sequences", #"{"a":"\u0060\u012a\u12AB"}"#)
    y("string_escaped_noncharacter", #"{"a":"\uFFFF"}"#)
    y("string_accepted_surrogate_pair", #"{"a":"\ud83d\ude00"}"#)
    y("string_surrogates_U+1D11E_MUSICAL_SYMBOL_G_CLEF", #"{"a":"\uD834\uDd1e"}"#)
    y("string_last_surrogates_1_and_2", #"{"a":"\uDBFF\uDFFF"}"#)
    y("string_escaped_surrogate_pair_in_key", #"{"\ud83d\ude00":1}"#)
    y("string_comments", #"{"a":"a/*b*/c/*d//e"}"#)
    y("string_space", #"{"a":" "}"#)
    y("string_in_array", #"{"a":["asd"]}"#)
    y("string_with_del_character", scanBytes(#"{"a":"a"#, 0x7F, #"a"}"#))
    y("string_utf8_2_bytes_e9", objectWithString(0xC3, 0xA9))
    y("string_utf8_2_bytes_lowest_c2_80", objectWithString(0xC2, 0x80))
    y("string_utf8_2_bytes_highest_df_bf", objectWithString(0xDF, 0xBF))
    y("string_utf8_3_bytes_euro", objectWithString(0xE2, 0x82, 0xAC))
    y("string_utf8_3_bytes_lowest_e0_a0_80", objectWithString(0xE0, 0xA0, 0x80))
    y("string_utf8_3_bytes_before_surrogates_ed_9f_bf", objectWithString(0xED, 0x9F, 0xBF))
    y("string_utf8_3_bytes_after_surrogates_ee_80_80", objectWithString(0xEE, 0x80, 0x80))
    y("string_utf8_3_bytes_U+FFFD", objectWithString(0xEF, 0xBF, 0xBD))
    y("string_utf8_3_bytes_U+FFFF", objectWithString(0xEF, 0xBF, 0xBF))
    y("string_utf8_4_bytes_U+10000", objectWithString(0xF0, 0x90, 0x80, 0x80))
    y("string_utf8_4_bytes_emoji", objectWithString(0xF0, 0x9F, 0x98, 0x80))
    y("string_utf8_4_bytes_U+40000", objectWithString(0xF1, 0x80, 0x80, 0x80))
    y("string_utf8_4_bytes_U+10FFFF", objectWithString(0xF4, 0x8F, 0xBF, 0xBF))
    y("string_utf8_in_key", scanBytes(#"{""#, 0xE2, 0x82, 0xAC, #"":1}"#))
    y("string_pi_and_more", #"{"a":"π ünïcödé 日本語 😀"}"#)

    // Numbers.
    for (name, text): (String, String) in [
        ("number_minus_zero", "-0"), ("number_minus_zero_real", "-0.0"), ("number_zero", "0"),
        ("number_0e-0", "0.0e-0"), ("number_real_capital_e_pos_exp", "1E+2"), ("number_real_neg_exp", "1e-2"),
        ("number_real_capital_e", "1E22"), ("number_0e+1", "0e+1"), ("number_0e1", "0e1"),
        ("number_huge_int", "123456789012345678901234567890"), ("number_negative_int", "-123"),
        ("number_simple_real", "123.456789"), ("number_real_exponent", "123e45"),
        ("number_after_space", " 4"), ("number_double_close_to_zero", "-0.000000000000000000000000000000000000000000000000000000000000000000000000000001"),
        ("number_very_big_exponent", "1e308"), ("number_very_small_exponent", "123e-10000000"),
        ("number_real_fraction_exponent", "1.5e+9"),
    ] {
        y(name, objectWithValue(text))
    }

    // Literals and arrays.
    y("structure_lonely_literals", #"{"t":true,"f":false,"n":null}"#)
    y("array_of_literals", #"{"a":[true,false,null]}"#)
    y("array_empty", #"{"a":[]}"#)
    y("array_nested_empty", #"{"a":[[]]}"#)
    y("array_heterogeneous", #"{"a":[null,1,"1",{},[],true,-0.5e3]}"#)
    y("array_nested", #"{"a":[1,[2,[3,[4]]]]}"#)
    y("array_of_objects", #"{"a":[{"b":1},{"c":[{}]}]}"#)

    // Whitespace everywhere between tokens.
    let ws = " \t\r\n"
    y(
        "structure_whitespace_everywhere",
        "\(ws){\(ws)\"a\"\(ws):\(ws)[\(ws)1\(ws),\(ws)\"x\"\(ws),\(ws){\(ws)}\(ws),\(ws)[\(ws)]\(ws)]\(ws),\(ws)\"b\"\(ws):\(ws)null\(ws)}\(ws)")
    y("structure_trailing_newline", "{}\n")
    y("structure_leading_newline", "\n{}")

    // Nesting, deep but allowed (64 levels, the record included).
    y("structure_nested_64_arrays", Array((#"{"a":"# + String(repeating: "[", count: 63) + String(repeating: "]", count: 63) + "}").utf8))
    y("structure_nested_64_objects", Array((String(repeating: #"{"a":"#, count: 63) + "{}" + String(repeating: "}", count: 63)).utf8))
    return cases
}()

// MARK: - Conformance

@Suite("RecordScanner conformance")
struct RecordScannerConformanceTests {
    @Test("the tables are large enough")
    func tableSizes() {
        #expect(jsonMustReject.count >= 80)
        #expect(jsonMustAccept.count >= 40)
        #expect(Set(jsonMustReject.map(\.name)).count == jsonMustReject.count, "duplicate case names")
        #expect(Set(jsonMustAccept.map(\.name)).count == jsonMustAccept.count, "duplicate case names")
    }

    @Test("refuses", arguments: jsonMustReject)
    func refuses(_ input: ScanCase) {
        guard let error = scanRejection(input.bytes) else {
            Issue.record("accepted \(input.name): \(scanHex(input.bytes))")
            return
        }
        checkScanRejection(error, of: input.bytes)
    }

    @Test("accepts", arguments: jsonMustAccept)
    func accepts(_ input: ScanCase) {
        #expect(throws: Never.self) { _ = try scanRecord(input.bytes) }
    }

    /// What the stream reader relies on: a record cut short anywhere is
    /// refused at its very end ("ran out"), never earlier.
    @Test("every prefix of a valid object runs out at its end", arguments: jsonMustAccept)
    func prefixesRunOut(_ input: ScanCase) {
        let bytes = input.bytes
        for length in 0..<bytes.count {
            let prefix = Array(bytes[..<length])
            if let error = scanRejection(prefix) {
                #expect(error.offset == length, "prefix of \(length) bytes of \(input.name): \(error)")
            } else {
                let rest = bytes[length...]
                #expect(
                    rest.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D },
                    "prefix of \(length) bytes of \(input.name) accepted")
            }
        }
    }

    @Test(
        "reports the offset where the input stops being valid",
        arguments: [
            (#"{"a":01}"#, 6),  // the second digit: `0` alone was a whole number
            (#"{"a":-01}"#, 7),
            (#"{"a":1.}"#, 7),  // the byte after the dot
            (#"{"a":1.e5}"#, 7),
            (#"{"a":.5}"#, 5),
            (#"{"a":-}"#, 6),
            (#"{"a":+1}"#, 5),
            (#"{"a":0x10}"#, 6),  // `0` is a number; `x` is what cannot follow it
            (#"{"a":tru}"#, 8),  // the first byte that is not `true`'s
            (#"{"a":True}"#, 5),
            (#"{"a":nul"#, 8),  // ran out
            (#"{"a":"\x"}"#, 7),  // the byte after the backslash
            (#"{"a":"\u12"}"#, 10),  // the first non-hex digit
            (#"{"a":"\udc00"}"#, 6),  // the escape of the lone low surrogate
            (#"{"a":"\ud800\u0041"}"#, 12),  // the escape that should have been a low surrogate
            (#"{"a":"\ud800"}"#, 12),  // where the low surrogate's backslash should be
            (#"{"a":"\ud800\"#, 13),  // ran out
            (#"{"a":1,}"#, 7),
            (#"{"a":1 "b":2}"#, 7),
            (#"{"a" 1}"#, 5),
            (#"{"a":[1,]}"#, 8),
            (#"{"a":[}"#, 6),
            (#"{"a":1"#, 6),
            ("{} x", 3),
            ("{}{}", 2),
            ("[]", 0),
            ("   ", 3),
            ("", 0),
            (" null", 1),
        ] as [(String, Int)])
    func offsets(_ input: String, _ offset: Int) {
        let error = scanRejection(input)
        #expect(error?.code == .invalidRecord)
        #expect(error?.offset == offset, "\(input): \(String(describing: error))")
    }

    @Test(
        "reports the offset of invalid bytes",
        arguments: [
            (scanBytes(0xEF, 0xBB, 0xBF, "{}"), 0),
            (scanBytes("  ", 0xEF, 0xBB, 0xBF, "{}"), 2),
            (scanBytes(#"{"a":"x"#, 0x09, #""}"#), 7),  // the raw tab
            (objectWithString(0x80), 6),
            (objectWithString("ab", 0xE0, 0x80, 0xAF), 8),  // an invalid sequence: its lead byte
            (objectWithString(0xF4, 0x90, 0x80, 0x80), 6),
            (objectWithString(0xC3), 6),  // cut short by the closing quote
            (scanBytes(#"{"a":""#, 0xF0, 0x9F, 0x98), 9),  // cut short by the end of input: ran out
            (scanBytes("{", 0x80, "}"), 1),
        ] as [([UInt8], Int)])
    func byteOffsets(_ input: [UInt8], _ offset: Int) {
        let error = scanRejection(input)
        #expect(error?.code == .invalidRecord)
        #expect(error?.offset == offset, "\(scanHex(input)): \(String(describing: error))")
    }

    /// Strings are scanned sixteen bytes at a time (two eight-byte lanes),
    /// then eight, then byte by byte: a byte that needs a look must be seen at
    /// every position of a lane, near the end of input too.
    @Test("special bytes are seen at every position of a long string")
    func specialBytesEverywhere() {
        let prefix = Array(#"{"a":""#.utf8)  // the string starts at 6
        for length in [1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 40] {
            for position in 0..<length {
                func body(_ replacement: [UInt8]) -> [UInt8] {
                    var body = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    body.replaceSubrange(position...position, with: replacement)
                    return prefix + body + Array(#""}"#.utf8)
                }
                let at = prefix.count + position
                for control in UInt8(0x00)...0x1F {
                    #expect(scanRejection(body([control]))?.offset == at, "0x\(scanHex([control])) at \(position)/\(length)")
                }
                #expect(scanRejection(body([0x80]))?.offset == at)
                #expect(scanRejection(body([0xFF]))?.offset == at)
                #expect(scanRejection(body([0x5C, UInt8(ascii: "x")]))?.offset == at + 1)
                #expect(scanRejection(body([0x22, UInt8(ascii: "x")]))?.offset == at + 1)  // the string ends early
                #expect(scanRejection(body([0x7F])) == nil)
                #expect(scanRejection(body([0xC3, 0xA9])) == nil)
                #expect(scanRejection(body([0xF0, 0x9F, 0x98, 0x80])) == nil)
                #expect(scanRejection(body([0x5C, UInt8(ascii: "n")])) == nil)
                #expect(scanRejection(body([0x5C, 0x5C])) == nil)
                #expect(scanRejection(body([0x5C, 0x22])) == nil)
                #expect(scanRejection(body([0x20, 0x7E, 0x21, 0x23, 0x5B, 0x5D])) == nil)  // the neighbours of " and \
                // Cut off right after the byte: ran out.
                let cut = Array(body([0xC3, 0xA9]).prefix(at + 1))
                #expect(scanRejection(cut)?.offset == cut.count)
            }
        }
    }

    /// Two special bytes in one lane: the first one decides, whatever the
    /// second (the lane's test may mark bytes after the first wrongly).
    @Test("the first of two special bytes in a lane is the one seen")
    func twoSpecialBytes() {
        let prefix = Array(#"{"a":""#.utf8)
        let specials: [[UInt8]] = [[0x01], [0x1F], [0x22], [0x5C, 0x6E], [0xC3, 0xA9], [0x80], [0x00]]
        for first in 0..<16 {
            for gap in 1..<(16 - first) {
                for a in specials {
                    for b in specials {
                        var body = [UInt8](repeating: UInt8(ascii: "a"), count: 24)
                        body.replaceSubrange((first + gap)...(first + gap), with: b)
                        body.replaceSubrange(first...first, with: a)
                        let input = prefix + body + Array(#""}"#.utf8)
                        // What the first byte alone makes of the input.
                        var alone = [UInt8](repeating: UInt8(ascii: "a"), count: 24)
                        alone.replaceSubrange(first...first, with: a)
                        let firstOnly = scanRejection(prefix + alone + Array(#""}"#.utf8))
                        let error = scanRejection(input)
                        if let firstOnly, firstOnly.offset! <= prefix.count + first + 1 {
                            #expect(error?.offset == firstOnly.offset, "\(scanHex(input))")
                        } else if a != [0x22] {
                            // The first is fine: the verdict is the second's, as if the first were plain.
                            var second = body
                            second.replaceSubrange(first..<(first + a.count), with: [UInt8](repeating: UInt8(ascii: "a"), count: a.count))
                            let secondOnly = scanRejection(prefix + second + Array(#""}"#.utf8))
                            #expect(error?.offset == secondOnly?.offset, "\(scanHex(input))")
                        }
                    }
                }
            }
        }
    }

    /// Multi-byte UTF-8 sequences at every offset, so that they straddle the
    /// 8- and 16-byte boundaries of the fast string scan; bad ones are
    /// reported at their lead byte.
    @Test("multi-byte UTF-8 is checked across every lane boundary")
    func multibyteAcrossBoundaries() {
        let prefix = Array(#"{"a":""#.utf8)
        let valid: [[UInt8]] = [
            [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xE6, 0x97, 0xA5], [0xED, 0x9F, 0xBF],
            [0xEF, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF0, 0x9F, 0x98, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
            [0xE6, 0x97, 0xA5, 0xE6, 0x9C, 0xAC],  // two in a row
        ]
        let invalid: [[UInt8]] = [
            [0xC0, 0x80], [0xC1, 0xBF],  // overlong two-byte
            [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF],  // overlong three-byte
            [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],  // overlong four-byte
            [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],  // surrogates
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF],  // past U+10FFFF
            [0x80], [0xBF],  // a continuation byte first
            [0xC3, 0x41], [0xE6, 0x97, 0x41], [0xF0, 0x9F, 0x98, 0x41],  // cut by ASCII
            [0xC3, 0x22], [0xE6, 0x97, 0x22],  // cut by the closing quote
            [0xC3, 0xA9, 0xA9],  // one continuation byte too many
        ]
        for offset in 0..<34 {
            func input(_ character: [UInt8]) -> [UInt8] {
                prefix + [UInt8](repeating: UInt8(ascii: "a"), count: offset) + character
                    + [UInt8](repeating: UInt8(ascii: "b"), count: 20) + Array(#""}"#.utf8)
            }
            for character in valid {
                #expect(scanRejection(input(character)) == nil, "\(scanHex(character)) at \(offset)")
            }
            for character in invalid {
                let error = scanRejection(input(character))
                // The extra continuation byte is a lead byte of its own.
                let at = prefix.count + offset + (character == [0xC3, 0xA9, 0xA9] ? 2 : 0)
                #expect(error?.offset == at, "\(scanHex(character)) at \(offset): \(String(describing: error))")
            }
        }
    }

    @Test("the error message says what is wrong")
    func messages() {
        func message(_ bytes: [UInt8]) -> String { scanRejection(bytes)?.message ?? "accepted" }
        #expect(message(objectWithValue("01")).contains("leading zero"))
        #expect(message(objectWithValue(#""\udc00""#)).contains("lone low surrogate"))
        #expect(message(objectWithValue(#""\ud800""#)).contains("lone high surrogate"))
        #expect(message(objectWithString(0xFF)).contains("UTF-8"))
        #expect(message(scanBytes(0xEF, 0xBB, 0xBF, "{}")).contains("byte order mark"))
        #expect(message(Array("[]".utf8)).contains("JSON object"))
        #expect(message(objectWithString(0x0A)).contains("control character"))
    }
}

// MARK: - Nesting

@Suite("RecordScanner top level")
struct RecordScannerTopLevelTests {
    @Test("a value that is not an object is named by its kind", arguments: [
        ("42", "a number"), ("-1.5", "a number"), (#""text""#, "a string"), ("[1, 2]", "an array"),
        ("true", "a boolean"), ("false", "a boolean"), ("null", "null"), (" [[[[[[[[", "an array"), ("[1, 2", "an array"), (#""cut"#, "a string"),
    ])
    func notAnObject(input: String, kind: String) {
        let error = scanRejection(input)
        #expect(error?.message == "a record must be a JSON object, found \(kind)")
        #expect(error?.offset == input.prefix { $0 == " " }.count)
    }

    /// Text that only starts like a JSON value is not called that value: the
    /// error says where it stops being JSON (issue 13: `not json` was "found
    /// null", `true story` "found a boolean").
    @Test("text that is not JSON is described where it stops being JSON", arguments: [
        ("not json", 1, "not JSON: unexpected 'o', expected 'null'"),
        ("true story", 5, "not JSON: unexpected 's' after the end of the value"),
        ("x", 0, "not JSON: unexpected 'x', expected a value"),
        ("[1, 2 3]", 6, "not JSON: unexpected '3', expected ',' or ']'"),
        ("\"a\u{01}\"", 2, "not JSON: raw control character byte 0x01 in a string (escape it as \\u0001)"),
        ("12abc", 2, "not JSON: unexpected 'a' after the end of the value"),
        ("nul", 3, "not JSON: unexpected end of input, expected 'null'"),
    ])
    func notJSON(input: String, offset: Int, message: String) {
        let error = scanRejection(input)
        #expect(error?.code == .invalidRecord)
        #expect(error?.message == message)
        #expect(error?.offset == offset)
    }
}

@Suite("RecordScanner nesting")
struct RecordScannerNestingTests {
    /// `{"a":` then `levels - 1` more containers, closed properly.
    func nested(_ levels: Int, object: Bool) -> [UInt8] {
        let open = object ? #"{"a":"# : "["
        let close = object ? "}" : "]"
        return Array(
            (#"{"a":"# + String(repeating: open, count: levels - 2) + (object ? "{}" : "[]")
                + String(repeating: close, count: levels - 2) + "}").utf8)
    }

    @Test("exactly maxDepth levels are accepted", arguments: [false, true])
    func maxDepthAccepted(object: Bool) throws {
        let bytes = nested(RecordScanner.maxDepth, object: object)
        _ = try scanRecord(bytes)
    }

    @Test("one level more is refused at its opening bracket", arguments: [false, true])
    func oneMoreRefused(object: Bool) {
        let bytes = nested(RecordScanner.maxDepth + 1, object: object)
        let error = scanRejection(bytes)
        #expect(error?.code == .invalidRecord)
        // The deepest container opens after `{"a":` and maxDepth - 1 openers.
        let openerLength = object ? 5 : 1
        #expect(error?.offset == 5 + (RecordScanner.maxDepth - 1) * openerLength)
        #expect(error?.message.contains("nesting") == true)
    }

    @Test("100,000 open brackets throw instead of crashing")
    func hostileDepth() {
        for prefix in [#"{"a":"#, "{\"a\":[{\"b\":"] {
            let bytes = Array((prefix + String(repeating: "[", count: 100_000)).utf8)
            let error = scanRejection(bytes)
            #expect(error?.code == .invalidRecord)
            #expect(error.map { $0.offset! < bytes.count } == true)
        }
        let objects = Array(String(repeating: #"{"a":"#, count: 100_000).utf8)
        #expect(scanRejection(objects)?.offset == (RecordScanner.maxDepth) * 5)
        // A top-level array is refused before any nesting.
        #expect(scanRejection(Array(String(repeating: "[", count: 100_000).utf8))?.offset == 0)
    }

    /// The bit stack must tell objects from arrays at every level, across its
    /// 64-bit words: a random mix nested to maxDepth, closed right, is accepted;
    /// the same with one closer swapped is refused at that closer.
    @Test("objects and arrays are told apart at every depth")
    func mixedNesting() {
        var random = SeededGenerator(seed: 0x5CA1AB1E)
        for _ in 0..<40 {
            var kinds: [Bool] = [true]  // true: object
            for _ in 1..<RecordScanner.maxDepth { kinds.append(Bool.random(using: &random)) }
            var bytes: [UInt8] = []
            for (level, isObject) in kinds.enumerated() {
                if level == 0 {
                    bytes += Array("{".utf8)
                } else {
                    bytes += Array((kinds[level - 1] ? #""k":"# : "").utf8)
                    bytes.append(isObject ? UInt8(ascii: "{") : UInt8(ascii: "["))
                }
            }
            var closers: [Int] = []
            for isObject in kinds.reversed() {
                closers.append(bytes.count)
                bytes.append(isObject ? UInt8(ascii: "}") : UInt8(ascii: "]"))
            }
            #expect(scanRejection(bytes) == nil)
            // Swap one closer (not the last: the outermost is always an object).
            let which = Int.random(in: 0..<(closers.count - 1), using: &random)
            var wrong = bytes
            wrong[closers[which]] = wrong[closers[which]] == UInt8(ascii: "}") ? UInt8(ascii: "]") : UInt8(ascii: "}")
            #expect(scanRejection(wrong)?.offset == closers[which])
        }
    }
}

@Suite("RecordScanner input rules")
struct RecordScannerInputRuleTests {
    /// Records some JSON parsers refuse or read differently (issue 13) are
    /// refused at append, where the offset says which value; a line stored
    /// before still reads.
    @Test("numbers too large for a double are refused", arguments: [
        ("1e999999", 5), ("-1e999999", 5), ("1e309", 5), ("1.8e308", 5), ("17976931348623159e292", 5),
        ("[0,1E+400]", 8), (String(repeating: "9", count: 400), 5), ("-" + String(repeating: "9", count: 309), 5),
    ])
    func infiniteNumbers(value: String, offset: Int) {
        let bytes = objectWithValue(value)
        let error = scanRejection(bytes)
        #expect(error?.code == .invalidRecord)
        #expect(error?.offset == offset)
        #expect(error?.message.contains("too large for a double") == true, "\(String(describing: error))")
        #expect(scanRejection(bytes, rules: .stored) == nil)
    }

    @Test("numbers a double holds are accepted, however they are written", arguments: [
        "1e308", "1.7976931348623157e308", "-1.7976931348623157e308", "1e-999999", "0e999999", "0.0001e311",
        String(repeating: "9", count: 308), "100e-5", "1" + String(repeating: "0", count: 400) + "e-100",
    ])
    func finiteNumbers(value: String) {
        #expect(scanRejection(objectWithValue(value)) == nil)
    }

    @Test("nesting past 64 levels is refused at append, read when stored up to 512")
    func nestingLimits() {
        func nested(_ levels: Int) -> [UInt8] {
            Array((#"{"a":"# + String(repeating: "[", count: levels - 1) + String(repeating: "]", count: levels - 1) + "}").utf8)
        }
        #expect(scanRejection(nested(64)) == nil)
        #expect(scanRejection(nested(65))?.offset == 5 + 63)
        #expect(scanRejection(nested(65), rules: .stored) == nil)
        #expect(scanRejection(nested(512), rules: .stored) == nil)
        #expect(scanRejection(nested(513), rules: .stored)?.offset == 5 + 511)
    }
}

// MARK: - Fields

@Suite("RecordScanner fields")
struct RecordScannerFieldTests {
    let reference = "2026-11-23T12:47:22Z"

    @Test("finds time, type and conversation whatever the key order")
    func keyOrder() throws {
        let members = [#""ts":"2026-11-23T12:47:22Z""#, #""type":"tool_call""#, #""session":"s-1""#, #""x":[1,{"y":2}]"#]
        // Every order of the four members.
        func permutations(_ items: [String]) -> [[String]] {
            guard items.count > 1 else { return [items] }
            return items.indices.flatMap { i in
                permutations(Array(items[..<i] + items[(i + 1)...])).map { [items[i]] + $0 }
            }
        }
        for order in permutations(members) {
            let bytes = Array(("{" + order.joined(separator: ",") + "}").utf8)
            let summary = try scanRecord(bytes)
            #expect(scanValueText(summary.time, in: bytes) == reference)
            #expect(summary.time?.kind == .string)
            #expect(summary.time.map(keyName()) == "ts")
            #expect(scanValueText(summary.type, in: bytes) == "tool_call")
            #expect(scanValueText(summary.conversation, in: bytes) == "s-1")
        }
    }

    @Test("the configured priority wins, not the key order")
    func priority() throws {
        let bytes = Array(
            #"{"kind":"k","timestamp":"2020-01-01T00:00:00Z","thread_id":"t","event":"e","ts":"2026-11-23T12:47:22Z","session_id":"s"}"#
                .utf8)
        let summary = try scanRecord(bytes)
        #expect(summary.time.map(keyName()) == "ts")
        #expect(scanValueText(summary.time, in: bytes) == reference)
        #expect(summary.type.map(keyName()) == "event")
        #expect(scanValueText(summary.type, in: bytes) == "e")
        #expect(summary.conversation.map(keyName()) == "session_id")
        #expect(scanValueText(summary.conversation, in: bytes) == "s")

        // Without `ts`, the next time field in the list.
        let others = Array(#"{"@timestamp":"2021-01-01T00:00:00Z","time":1700000000,"timestamp":"2020-01-01T00:00:00Z"}"#.utf8)
        let second = try scanRecord(others)
        #expect(second.time.map(keyName()) == "timestamp")
        #expect(scanValueText(second.time, in: others) == "2020-01-01T00:00:00Z")
    }

    @Test("fields nested below the top level are ignored")
    func decoys() throws {
        for text in [
            #"{"payload":{"ts":"2026-11-23T12:47:22Z","type":"x","session":"s"}}"#,
            #"{"payload":[{"ts":"2026-11-23T12:47:22Z","type":"x"}],"list":["ts","type"]}"#,
            #"{"a":{"b":{"ts":1,"type":"t"}},"c":[[{"session":"s"}]]}"#,
            #"{"x":"ts","y":"type","z":"\"ts\":1"}"#,
        ] {
            let summary = try scanRecord(text)
            #expect(summary.time == nil, "\(text)")
            #expect(summary.type == nil, "\(text)")
            #expect(summary.conversation == nil, "\(text)")
        }
        // A top-level field after a nested decoy is still found.
        let bytes = Array(#"{"payload":{"type":"inner","ts":1},"type":"outer"}"#.utf8)
        let summary = try scanRecord(bytes)
        #expect(scanValueText(summary.type, in: bytes) == "outer")
        #expect(summary.time == nil)
    }

    @Test("a key written with escapes counts as its decoded name")
    func escapedKeys() throws {
        let bytes = Array(#"{"t\u0073":"2026-11-23T12:47:22Z","\u0074ype":"a","sess\u0069on":"s"}"#.utf8)
        let summary = try scanRecord(bytes)
        #expect(summary.time.map(keyName()) == "ts")
        #expect(scanValueText(summary.time, in: bytes) == reference)
        #expect(scanValueText(summary.type, in: bytes) == "a")
        #expect(scanValueText(summary.conversation, in: bytes) == "s")
        // An escape that decodes to a different name does not count.
        #expect(try scanRecord(#"{"t\u0074":"2026-11-23T12:47:22Z"}"#).time == nil)
        #expect(try scanRecord(#"{"ts\u0000":"2026-11-23T12:47:22Z"}"#).time == nil)
    }

    @Test("escaped values are flagged and decode")
    func escapedValues() throws {
        let bytes = Array(#"{"type":"a\"b\u00e9\ud83d\ude00","session":"plain"}"#.utf8)
        let summary = try scanRecord(bytes)
        #expect(summary.type?.escaped == true)
        #expect(scanValueText(summary.type, in: bytes) == "a\"bé😀")
        #expect(summary.conversation?.escaped == false)
    }

    @Test("the type is taken only when it is a string")
    func typeMustBeAString() throws {
        for value in ["1", "null", "true", "false", "{}", #"{"a":"b"}"#, "[]", #"["x"]"#] {
            let bytes = Array(#"{"type":\#(value),"event_type":"fallback"}"#.utf8)
            let summary = try scanRecord(bytes)
            #expect(summary.type.map(keyName()) == "event_type", "type \(value)")
            #expect(scanValueText(summary.type, in: bytes) == "fallback")
            #expect(try scanRecord(#"{"type":\#(value)}"#).type == nil, "type \(value)")
        }
        // A later string type of higher priority still wins.
        let bytes = Array(#"{"kind":"k","type":7,"event":"e","event_type":"et"}"#.utf8)
        #expect(try scanValueText(scanRecord(bytes).type, in: bytes) == "et")
    }

    @Test("the conversation is a string or a number")
    func conversation() throws {
        let number = Array(#"{"session":-12.5e3}"#.utf8)
        let summary = try scanRecord(number)
        #expect(summary.conversation?.kind == .number)
        #expect(scanValueText(summary.conversation, in: number) == "-12.5e3")

        let string = Array(#"{"conversation_id":"c-9"}"#.utf8)
        #expect(try scanRecord(string).conversation?.kind == .string)
        #expect(try scanValueText(scanRecord(string).conversation, in: string) == "c-9")

        for value in ["null", "true", "{}", "[1]"] {
            let bytes = Array(#"{"session":\#(value),"thread_id":42}"#.utf8)
            let found = try scanRecord(bytes).conversation
            #expect(found.map(keyName()) == "thread_id", "session \(value)")
            #expect(scanValueText(found, in: bytes) == "42")
        }
    }

    @Test("a time that is neither a string nor a number is kept, to be refused")
    func timeOfOtherKind() throws {
        for value in ["null", "true", "false", "{}", #"{"a":[1]}"#, "[]", #"[1, "x"]"#] {
            let bytes = Array(#"{"ts":\#(value),"timestamp":"2026-11-23T12:47:22Z","x":1}"#.utf8)
            let summary = try scanRecord(bytes)
            #expect(summary.time?.kind == .other, "ts \(value)")
            #expect(summary.time.map(keyName()) == "ts")
            // The range covers the whole value.
            #expect(summary.time.map { String(decoding: bytes[$0.range], as: UTF8.self) } == value)
        }
        let number = try scanRecord(#"{"time":1700000000}"#)
        #expect(number.time?.kind == .number)
    }

    @Test("in a stored line with a field twice, the first one wins")
    func duplicates() throws {
        let bytes = Array(
            #"{"ts":"2026-11-23T12:47:22Z","type":"first","ts":"2020-01-01T00:00:00Z","type":"second","session":1,"session":2}"#
                .utf8)
        let summary = try scanRecord(bytes, rules: .stored)
        #expect(scanValueText(summary.time, in: bytes) == reference)
        #expect(scanValueText(summary.type, in: bytes) == "first")
        #expect(scanValueText(summary.conversation, in: bytes) == "1")
        // A non-string first `type` does not count; the later string one does.
        let mixed = Array(#"{"type":1,"type":"second"}"#.utf8)
        #expect(try scanValueText(scanRecord(mixed, rules: .stored).type, in: mixed) == "second")
    }

    /// Stoa read the first copy, jq and Python the last (issue 13): a record
    /// being appended may not have a field twice; the error names it, at the
    /// second copy's key.
    @Test("a record being appended with a field twice is refused as ambiguous", arguments: [
        (#"{"ts":1,"n":2,"ts":3}"#, "ts", 14),
        (#"{"type":"a","type":"b"}"#, "type", 12),
        (#"{"type":5,"type":"b"}"#, "type", 10),
        (#"{"session":"a", "x":{"session":1}, "session":"b"}"#, "session", 35),
        (#"{"ts":1,"t\u0073":2}"#, "ts", 8),
        (#"{"event":"a","kind":"k","event":"b"}"#, "event", 24),
    ])
    func repeatedFieldRefused(text: String, name: String, offset: Int) {
        let error = scanRejection(text)
        #expect(error?.code == .invalidRecord)
        #expect(error?.message.contains("the field \"\(name)\" appears twice") == true, "\(String(describing: error))")
        #expect(error?.offset == offset)
        #expect(scanRejection(text, rules: .stored) == nil, "a line stored before is still read")
    }

    @Test("two different names of one field, and other repeated keys, are allowed")
    func otherRepeatsAllowed() throws {
        // Priority decides between `ts` and `time`; a key that names no field
        // may repeat (RFC 8259 allows it; parsers keep one copy, mostly the last).
        let bytes = Array(#"{"time":1,"ts":"2026-11-23T12:47:22Z","a":1,"a":2,"x":{"ts":1,"ts":2}}"#.utf8)
        #expect(try scanValueText(scanRecord(bytes).time, in: bytes) == reference)
    }

    @Test("custom field names")
    func customNames() throws {
        let fields = FieldNames(time: ["when", "ts"], type: ["what"], conversation: ["chat"])
        let bytes = Array(
            #"{"ts":"2020-01-01T00:00:00Z","type":"ignored","what":"w","chat":"c","when":"2026-11-23T12:47:22Z","session":"ignored"}"#
                .utf8)
        let summary = try scanRecord(bytes, fields: fields)
        #expect(summary.time.map(keyName(fields)) == "when")
        #expect(scanValueText(summary.time, in: bytes) == reference)
        #expect(scanValueText(summary.type, in: bytes) == "w")
        #expect(scanValueText(summary.conversation, in: bytes) == "c")

        let none = FieldNames(time: [], type: [], conversation: [])
        let empty = try scanRecord(bytes, fields: none)
        #expect(empty.time == nil && empty.type == nil && empty.conversation == nil)

        // Names with characters that JSON escapes, and non-ASCII names.
        let odd = FieldNames(time: ["t\"s", "zeit·"], type: ["ty\npe"], conversation: [""])
        let oddBytes = Array(#"{"zeit·":1,"t\"s":2,"ty\npe":"x","":"empty"}"#.utf8)
        let oddSummary = try scanRecord(oddBytes, fields: odd)
        #expect(oddSummary.time.map(keyName(odd)) == "t\"s")
        #expect(scanValueText(oddSummary.time, in: oddBytes) == "2")
        #expect(scanValueText(oddSummary.type, in: oddBytes) == "x")
        #expect(scanValueText(oddSummary.conversation, in: oddBytes) == "empty")
    }

    /// Keys are matched on their length and first eight bytes, then the rest:
    /// a key that shares a name's start, or is a name cut short or run on, is
    /// not that name.
    @Test("keys near a field name are not the field")
    func nearNames() throws {
        let fields = FieldNames.default
        let names = fields.time + fields.type + fields.conversation
        for name in names {
            var near = [String(name.dropLast()), name + "x", "x" + name, name.uppercased()]
            if name.count > 1 {
                near.append(String(name.dropLast()) + "~")  // the last byte differs
                near.append("~" + String(name.dropFirst()))  // the first byte differs
            }
            for key in near where !names.contains(key) {
                let summary = try scanRecord(#"{"\#(key)":"2026-11-23T12:47:22Z"}"#)
                #expect(summary.time == nil && summary.type == nil && summary.conversation == nil, "\(key)")
                #expect(summary.hasTypeKey == false, "\(key)")
            }
            // The name itself, as the last key of a short record (fewer than
            // eight bytes after its start) and of a longer one.
            for text in [#"{"\#(name)":1}"#, #"{"\#(name)":"2026-11-23T12:47:22Z","padding":"…………"}"#] {
                let summary = try scanRecord(text)
                let found = [summary.time, summary.type, summary.conversation].compactMap { $0.map(keyName()) }
                #expect(found == [name] || (fields.type.contains(name) && text.hasSuffix("1}") && found.isEmpty), "\(text)")
            }
        }
    }

    @Test("long names that share their first eight bytes are told apart")
    func namesSharingAPrefix() throws {
        let fields = FieldNames(
            time: ["timestamp_utc"], type: ["timestamp_kind", String(repeating: "k", count: 70)],
            conversation: ["timestamp_u", "conversation"])
        let bytes = Array(
            #"{"timestamp_u":"c","timestamp_kind":"t","timestamp_utc":1700000000,"timestamp_ut":2,"\#(String(repeating: "k", count: 70))":"long"}"#
                .utf8)
        let summary = try scanRecord(bytes, fields: fields)
        #expect(summary.time.map(keyName(fields)) == "timestamp_utc")
        #expect(scanValueText(summary.time, in: bytes) == "1700000000")
        #expect(summary.type.map(keyName(fields)) == "timestamp_kind")
        #expect(summary.conversation.map(keyName(fields)) == "timestamp_u")
        // A 70-byte key that differs from the 70-byte name in its last byte.
        let other = Array(#"{"\#(String(repeating: "k", count: 69))j":"x"}"#.utf8)
        #expect(try scanRecord(other, fields: fields).type == nil)
        #expect(try scanRecord(Array(#"{"\#(String(repeating: "k", count: 70))":"x"}"#.utf8), fields: fields).type != nil)
    }

    @Test("a name configured for two fields counts for the first")
    func nameInTwoFields() throws {
        let fields = FieldNames(time: ["ts"], type: ["ts", "kind"], conversation: ["ts"])
        let summary = try scanRecord(#"{"ts":"2026-11-23T12:47:22Z","kind":"k"}"#, fields: fields)
        #expect(summary.time.map(keyName(fields)) == "ts")
        #expect(summary.type.map(keyName(fields)) == "kind")
        #expect(summary.conversation == nil)
    }

    @Test("many field names")
    func manyNames() throws {
        let time = (0..<100).map { "t\($0)" }
        let fields = FieldNames(time: time, type: ["type"], conversation: [])
        for k in [0, 7, 42, 99] {
            let summary = try scanRecord(#"{"x":1,"t\#(k)":\#(k),"type":"y"}"#, fields: fields)
            #expect(summary.time.map(keyName(fields)) == "t\(k)")
            #expect(summary.type.map(keyName(fields)) == "type")
        }
        #expect(try scanRecord(#"{"t100":1}"#, fields: fields).time == nil)
    }

    @Test("whitespace outside strings is noticed, inside strings it is not")
    func whitespace() throws {
        #expect(try scanRecord(#"{"a":"x y\t","b":[1,2]}"#).hasWhitespace == false)
        #expect(try scanRecord(#"{"a":"x","b":[1, 2]}"#).hasWhitespace == true)
        #expect(try scanRecord("{}\n").hasWhitespace == true)
        #expect(try scanRecord(" {}").hasWhitespace == true)
        #expect(try scanRecord("{\"a\":\r1}").hasWhitespace == true)
    }
}

// MARK: - Differential check against Python

/// Python's `json`, made strict: no NaN/Infinity, an object at top level, valid
/// UTF-8, no BOM, no lone surrogates anywhere (duplicate keys included).
/// Reads hex lines from the file named by argv[1]; prints one 0/1 per line.
private let pythonReference = #"""
import sys, json

class Pairs(list):
    pass

def refuse_constant(name):
    raise ValueError("constant " + name)

def has_surrogate(value):
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(has_surrogate(item) for item in value)
    if isinstance(value, tuple):
        return has_surrogate(value[0]) or has_surrogate(value[1])
    return False

def accepts(data):
    if data.startswith(b"\xef\xbb\xbf"):
        return False
    try:
        text = data.decode("utf-8", "strict")
        value = json.loads(text, parse_constant=refuse_constant, object_pairs_hook=Pairs)
    except Exception:
        return False
    return isinstance(value, Pairs) and not has_surrogate(value)

sys.setrecursionlimit(100000)
out = []
with open(sys.argv[1]) as cases:
    for line in cases:
        out.append("1" if accepts(bytes.fromhex(line.rstrip("\n"))) else "0")
sys.stdout.write("".join(out))
"""#

private let pythonAvailable: Bool = {
    guard let result = try? run("/usr/bin/env", ["python3", "-c", "import json"]) else { return false }
    return result.status == 0
}()

/// Valid records the mutations start from.
private let seedRecords: [[UInt8]] = [
    #"{"ts":"2026-11-23T12:47:22.123456Z","type":"tool_call","session":"s-1","args":{"path":"/tmp/x","n":3}}"#,
    #"{"a":[1,-2.5e-3,true,false,null,"x\"y\\z\/\b\f\n\r\t"],"b":{}}"#,
    #"{"emoji":"\ud83d\ude00 😀","accents":"éàü","cjk":"日本語","max":"􏿿"}"#,
    #"{ "pretty" : [ 1 , 2 ] ,"#+"\n\t\"nested\" : { \"k\" : \"v\" }\r\n}",
    #"{"n":0,"m":-0,"big":123456789012345678901234567890,"e":1E+2,"f":0.0e-0}"#,
    #"{"":"","u":"\u0000\u001f\u00e9\uFFFF","deep":[[[[{"x":[{}]}]]]]}"#,
    #"{"type":"message","role":"assistant","content":[{"type":"text","text":"Hello, \"world\"!"}]}"#,
    #"{"t\u0073":1700000000,"event_type":"x","thread_id":42}"#,
    "{}",
    #"{"a":"b","a":"c"}"#,
].map { Array($0.utf8) }

/// Mutates `record` one to three times: flips, deletions, insertions of JSON
/// punctuation and of bytes ≥ 0x80, truncation.
private func mutate(_ record: [UInt8], using random: inout SeededGenerator) -> [UInt8] {
    var bytes = record
    let punctuation = Array(#",:{}[]"\ "#.utf8) + [0x30, 0x2D, 0x2E, 0x65, 0x75, 0x0A]
    for _ in 0..<Int.random(in: 1...3, using: &random) {
        let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &random)
        switch Int.random(in: 0..<8, using: &random) {
        case 0 where !bytes.isEmpty:  // flip one bit
            bytes[position] ^= 1 << UInt8.random(in: 0..<8, using: &random)
        case 1 where !bytes.isEmpty:  // replace with any byte
            bytes[position] = UInt8.random(in: 0...255, using: &random)
        case 2 where !bytes.isEmpty:  // delete
            bytes.remove(at: position)
        case 3, 4:  // insert punctuation
            bytes.insert(punctuation.randomElement(using: &random)!, at: position)
        case 5:  // insert a byte ≥ 0x80
            bytes.insert(UInt8.random(in: 0x80...0xFF, using: &random), at: position)
        case 6 where !bytes.isEmpty:  // truncate
            bytes.removeSubrange(position...)
        default:  // insert an escape fragment
            let fragments = [#"\u"#, #"\ud800"#, #"\udc00"#, #"\"#, #"\x"#, "\u{FEFF}"]
            bytes.insert(contentsOf: Array(fragments.randomElement(using: &random)!.utf8), at: position)
        }
    }
    return bytes
}

@Suite("RecordScanner against Python")
struct RecordScannerDifferentialTests {
    @Test(
        "accepts exactly what a strict Python json accepts",
        .enabled(if: pythonAvailable, "needs python3 on PATH"))
    func differential() throws {
        var random = SeededGenerator(seed: 20_261_123)
        var cases: [[UInt8]] = jsonMustReject.map(\.bytes) + jsonMustAccept.map(\.bytes) + seedRecords
        for _ in 0..<4000 {
            cases.append(mutate(seedRecords.randomElement(using: &random)!, using: &random))
        }
        let directory = TemporaryDirectory("stoa-scan-diff")
        let path = directory.appending("cases.hex")
        try writeBytes(Array(cases.map { scanHex($0) + "\n" }.joined().utf8), to: path)

        let result = try run("/usr/bin/env", ["python3", "-c", pythonReference, path])
        #expect(result.status == 0, "python failed: \(result.stderr)")
        let verdicts = Array(result.stdout.utf8)
        try #require(verdicts.count == cases.count, "python gave \(verdicts.count) verdicts for \(cases.count) cases")

        var disagreements = 0
        var accepted = 0
        for (bytes, verdict) in zip(cases, verdicts) {
            let pythonAccepts = verdict == UInt8(ascii: "1")
            // The grammar alone: Python reads 1e999 as infinity and keeps one
            // copy of a repeated key, which only the input rules refuse.
            let error = scanRejection(bytes, rules: .stored)
            if error == nil { accepted += 1 }
            if pythonAccepts != (error == nil) {
                disagreements += 1
                if disagreements <= 20 {
                    Issue.record(
                        "python \(pythonAccepts ? "accepts" : "refuses"), scanner \(error.map { "refuses (\($0))" } ?? "accepts"): \(scanHex(bytes))"
                    )
                }
            }
            if let error { checkScanRejection(error, of: bytes, rules: .stored) }
        }
        #expect(disagreements == 0)
        // The mutations must exercise both outcomes.
        #expect(accepted > 200 && accepted < cases.count - 1000, "accepted \(accepted) of \(cases.count)")
    }
}

// MARK: - Hostile input

@Suite("RecordScanner on hostile input")
struct RecordScannerHostileTests {
    @Test("random bytes are accepted or refused with .invalidRecord, never a crash")
    func randomBytes() {
        var random = SeededGenerator(seed: 0xBAD_5EED)
        let alphabet = Array(#"{}[]":,0123456789-+.eE\/ubfnrtal sx"#.utf8) + [0x09, 0x0A, 0x0D, 0x00, 0x7F, 0xC3, 0xA9, 0xED, 0xA0, 0xF4, 0x8F, 0xBF, 0xEF, 0xBB]
        for round in 0..<20_000 {
            let length = Int.random(in: 0...64, using: &random)
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            } else {
                // JSON-like bytes, mostly starting an object, to get past the first byte.
                bytes = (0..<length).map { _ in alphabet.randomElement(using: &random)! }
                if !bytes.isEmpty && round % 4 == 1 { bytes[0] = UInt8(ascii: "{") }
            }
            if let error = scanRejection(bytes) {
                checkScanRejection(error, of: bytes)
            }
        }
    }
}
