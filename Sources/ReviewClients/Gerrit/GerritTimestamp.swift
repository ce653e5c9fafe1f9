/// A Gerrit timestamp: UTC, written `"2024-10-14 11:16:36.775000000"`, kept to the nanosecond.
///
/// Comparable and hashable on its exact value, so it can serve as a durable poll cursor; `description` gives
/// back Gerrit's own format (nine fractional digits), usable in `after:"..."` queries.
public struct GerritTimestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Seconds since 1970-01-01 00:00:00 UTC.
    public var seconds: Int64
    /// Nanoseconds within the second, `0 ..< 1_000_000_000`.
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32 = 0) {
        let carry = Int64(nanoseconds) / 1_000_000_000
        var nanos = Int64(nanoseconds) % 1_000_000_000
        var secs = seconds + carry
        if nanos < 0 { nanos += 1_000_000_000; secs -= 1 }
        self.seconds = secs
        self.nanoseconds = Int32(nanos)
    }

    /// Parses `YYYY-MM-DD hh:mm:ss[.fffffffff]` (also with a `T` separator and a trailing `Z`), as UTC.
    public init?(_ text: String) {
        var s = Substring(text)
        if s.hasSuffix("Z") { s = s.dropLast() }
        let bytes = Array(s.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for i in range {
                let b = bytes[i]
                guard b >= 48 && b <= 57 else { return nil }
                value = value * 10 + Int(b - 48)
            }
            return value
        }
        guard bytes.count >= 19, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: " ") || bytes[10] == UInt8(ascii: "T"),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var nanos = 0
        if bytes.count > 19 {
            guard bytes[19] == UInt8(ascii: "."), bytes.count > 20, bytes.count <= 29,
                let fraction = number(20..<bytes.count)
            else { return nil }
            nanos = fraction
            for _ in 0..<(29 - bytes.count) { nanos *= 10 }
        }
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        self.init(
            seconds: Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second),
            nanoseconds: Int32(nanos))
    }

    /// Gerrit's format: `"2024-10-14 11:16:36.775000000"`.
    public var description: String {
        let days = Int(floorDiv(seconds, 86_400))
        let secondOfDay = Int(seconds - Int64(days) * 86_400)
        let (year, month, day) = Self.civilFromDays(days)
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) "
            + "\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))"
            + ".\(pad(Int(nanoseconds), 9))"
    }

    /// Seconds since 1970 as a floating-point number (loses sub-microsecond precision).
    public var timeIntervalSince1970: Double { Double(seconds) + Double(nanoseconds) / 1e9 }

    /// This timestamp moved by `duration` (e.g. back by an overlap window).
    public func adding(_ duration: Duration) -> GerritTimestamp {
        let (s, atto) = duration.components
        return GerritTimestamp(seconds: seconds + s, nanoseconds: nanoseconds + Int32(atto / 1_000_000_000))
    }

    public static func < (lhs: GerritTimestamp, rhs: GerritTimestamp) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = GerritTimestamp(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "not a Gerrit timestamp: \(String(text.prefix(40)))")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    // Howard Hinnant's civil-date algorithms (proleptic Gregorian, UTC).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

private func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}
