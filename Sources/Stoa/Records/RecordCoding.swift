import Foundation

// Codable both ways: what `Store.append(encoding:)` and
// `EventLogger.log(encoding:)` write, `Record.decode(_:decoder:)` reads back,
// `Date`s included. The two coders below are the defaults of those calls;
// pass others (made from these, or your own) to change them.

extension JSONEncoder {
    /// A new encoder as Stoa writes records with: `Date`s as
    /// `.stoaTime` (RFC 3339 text in UTC
    /// with microseconds, the form of a record's time field), slashes not
    /// escaped.
    ///
    /// ```swift
    /// let encoder = JSONEncoder.forStoaRecords()
    /// encoder.keyEncodingStrategy = .convertToSnakeCase
    /// try store.append(encoding: call, encoder: encoder)
    /// ```
    public static func forStoaRecords() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .stoaTime
        return encoder
    }
}

extension JSONDecoder {
    /// A new decoder that reads what `JSONEncoder.forStoaRecords()` writes:
    /// `Date`s as `.stoaTime`.
    ///
    /// ```swift
    /// let decoder = JSONDecoder.forStoaRecords()
    /// decoder.keyDecodingStrategy = .convertFromSnakeCase
    /// let call = try record.decode(ToolCall.self, decoder: decoder)
    /// ```
    public static func forStoaRecords() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .stoaTime
        return decoder
    }
}

extension JSONEncoder.DateEncodingStrategy {
    /// A `Date` as RFC 3339 text in UTC with six fraction digits,
    /// `"2026-12-07T16:20:00.123456Z"`: the form a record's time field is
    /// read exactly in. The date is taken to the nearest microsecond.
    public static var stoaTime: Self {
        .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RecordTime.format(RecordDates.micros(of: date)))
        }
    }
}

extension JSONDecoder.DateDecodingStrategy {
    /// A `Date` read as the store reads a record's time (so that a decoded
    /// time field is the record's `time`): RFC 3339 / ISO 8601
    /// text (the form `.stoaTime` writes, other zones, fewer or no
    /// fraction digits), or an epoch number whose unit its magnitude tells
    /// (seconds, milliseconds, microseconds or nanoseconds).
    ///
    /// - Throws: `DecodingError.dataCorrupted` for text that is not such a
    ///   time, saying what was found.
    public static var stoaTime: Self {
        .custom { decoder in
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                guard let micros = RecordTime.parseText(text) else {
                    throw DecodingError.dataCorruptedError(
                        in: container,
                        debugDescription:
                            "expected an RFC 3339 time such as 2026-12-07T16:20:00.123456Z, found \"\(text)\"")
                }
                return RecordDates.date(micros: micros)
            }
            guard let number = try? container.decode(Double.self) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "expected an RFC 3339 time (text) or an epoch number")
            }
            return Date(timeIntervalSince1970: RecordDates.seconds(ofEpochNumber: number))
        }
    }
}

/// Between `Date` and a record's microseconds.
enum RecordDates {
    /// `date` to the nearest microsecond since the epoch, as ``Timestamp``
    /// takes it (a date beyond ±292,000 years held at the limits); a NaN
    /// date, which a value to encode may hold, is held at the upper limit
    /// rather than trap.
    static func micros(of date: Date) -> Int64 {
        guard !date.timeIntervalSinceReferenceDate.isNaN else { return .max }
        return Timestamp(date).microsecondsSinceEpoch
    }

    /// The date `micros` after the epoch.
    static func date(micros: Int64) -> Date {
        Timestamp(microsecondsSinceEpoch: micros).date
    }

    /// An epoch number in seconds, its unit told by its magnitude as
    /// `RecordTime.parseNumber` tells it.
    static func seconds(ofEpochNumber number: Double) -> Double {
        switch number.magnitude {
        case ..<1e11: number
        case ..<1e14: number / 1e3
        case ..<1e17: number / 1e6
        default: number / 1e9
        }
    }
}
