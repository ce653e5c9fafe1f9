public import StatesLanguage
import Foundation

/// Hides secret values in text and JSON before it reaches history, logs or reports.
///
/// Each secret is hidden as written and in the encodings a command or server is likely to echo
/// it in: base64 (standard and URL-safe, padded or not, and at each of the three byte
/// alignments it can take inside a longer base64 text), hex of its UTF-8 bytes (lower- and
/// upper-case), percent-encoding (upper- and lower-case hex, `+` for spaces as forms write it,
/// and every byte escaped) and JSON string escaping. A multi-line secret (a PEM key) is also
/// hidden line by line. Every occurrence becomes `***`.
///
/// Matching is on UTF-8 bytes, so a secret followed by combining characters (which Swift's
/// character comparison would see as different characters) is found, and line breaks are
/// skipped, so a secret or its base64 split over several lines (as `base64` wraps it) is found
/// too; the whole span, line breaks included, becomes one `***`. For output that a cap cuts off,
/// ``redact(_:keepingFirst:)`` hides a secret that straddles the cut.
public struct Redactor: Sendable {
    public static let mask = "***"
    /// Encoded forms shorter than this are not hidden (they would match ordinary text); the
    /// secret itself always is.
    static let minimumDerivedLength = 6
    /// Forms shorter than this are not looked for across line breaks.
    static let minimumSplitLength = 4

    /// Every string to hide, longest first.
    public let patterns: [String]
    private let matcher: Matcher

    public init(secrets: [String]) {
        var set: Set<String> = []
        for secret in secrets where !secret.isEmpty {
            set.insert(secret)
            for form in Self.derivedForms(of: secret) where form.count >= Self.minimumDerivedLength {
                set.insert(form)
            }
            if secret.contains("\n") {
                for line in secret.split(whereSeparator: \.isNewline) where line.count >= 8 {
                    set.insert(String(line))
                }
            }
        }
        patterns = set.sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
        matcher = Matcher(patterns.map { Array($0.utf8) })
    }

    public var isEmpty: Bool { patterns.isEmpty }

    /// The UTF-8 length of the longest form: how far past a cut a caller must keep reading to
    /// see whole any secret that starts before it.
    public var longestPatternLength: Int { matcher.longest }

    public func redact(_ text: String) -> String {
        guard !patterns.isEmpty, !text.isEmpty else { return text }
        let bytes = Array(text.utf8)
        let ranges = matcher.ranges(in: bytes)
        if ranges.isEmpty { return text }
        return String(decoding: Self.replacing(ranges, in: bytes, upTo: bytes.count), as: UTF8.self)
    }

    /// Redacts `bytes` and keeps the first `limit` of them: a secret that starts before the
    /// limit is hidden whole even when it ends after it. Give it `limit` plus at least
    /// ``longestPatternLength`` bytes (more when output may break lines inside a secret).
    /// - Returns: the text, and whether anything was cut.
    public func redact(_ bytes: [UInt8], keepingFirst limit: Int) -> (text: String, cut: Bool) {
        let ranges = patterns.isEmpty ? [] : matcher.ranges(in: bytes)
        let kept = Self.replacing(ranges, in: bytes, upTo: min(limit, bytes.count))
        return (String(decoding: kept, as: UTF8.self), bytes.count > limit)
    }

    /// `bytes[..<end]` with each range (sorted, disjoint) replaced by the mask; a range that
    /// crosses `end` is masked and ends the text.
    static func replacing(_ ranges: [Range<Int>], in bytes: [UInt8], upTo end: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(end)
        var position = 0
        for r in ranges where r.lowerBound < end {
            out += bytes[position..<r.lowerBound]
            out += Array(mask.utf8)
            position = r.upperBound
            if position >= end { return out }
        }
        out += bytes[position..<end]
        return out
    }

    /// Redacts every string (and object key) inside a JSON value.
    public func redact(_ value: JSON) -> JSON {
        guard !patterns.isEmpty else { return value }
        switch value {
        case .string(let s): return .string(redact(s))
        case .array(let a): return .array(a.map(redact))
        case .object(let o):
            var r = JSONObject()
            r.reserveCapacity(o.count)
            for (k, v) in zip(o.keys, o.values) { r[redact(k)] = redact(v) }
            return .object(r)
        default: return value
        }
    }

    public func redact(_ error: ExecutionError) -> ExecutionError {
        ExecutionError(redact(error.error), redact(error.cause))
    }

    // MARK: - Encoded forms

    static func derivedForms(of secret: String) -> [String] {
        let bytes = Array(secret.utf8)
        var forms: [String] = []
        // base64 of the whole secret, padded and not, standard and URL-safe.
        let whole = Data(bytes).base64EncodedString()
        forms.append(whole)
        forms.append(contentsOf: base64Variants(whole))
        // The stable part of the secret's encoding when it sits at each byte offset in a longer text.
        for offset in 0..<3 {
            let encoded = Data(Array(repeating: 0, count: offset) + bytes).base64EncodedString()
            let chars = Array(encoded)
            let start = (8 * offset + 5) / 6
            let end = (8 * (offset + bytes.count)) / 6
            if end > start, end <= chars.count {
                let middle = String(chars[start..<end])
                forms.append(middle)
                forms.append(urlSafe(middle))
            }
        }
        // Hex of the bytes, as `xxd -p` or `od` print it.
        if bytes.count >= 4 {
            let hex = bytes.map { String(format: "%02x", $0) }.joined()
            forms.append(hex)
            forms.append(hex.uppercased())
            forms.append(bytes.map { String(format: "%%%02X", $0) }.joined())
            forms.append(bytes.map { String(format: "%%%02x", $0) }.joined())
        }
        // Percent-encodings.
        for allowed in [CharacterSet.alphanumerics, .urlQueryAllowed, .urlPathAllowed, unreservedSet] {
            if let e = secret.addingPercentEncoding(withAllowedCharacters: allowed) {
                forms.append(e)
                forms.append(lowercaseHex(e))
                let form = e.replacingOccurrences(of: "%20", with: "+")
                forms.append(form)
            }
        }
        // JSON string escaping (with and without escaped slashes).
        var escaped = JSON.string(secret).serialized
        escaped.removeFirst()
        escaped.removeLast()
        forms.append(escaped)
        forms.append(escaped.replacingOccurrences(of: "/", with: "\\/"))
        forms.append(unicodeEscaped(secret))
        return forms.filter { $0 != secret }
    }

    private static let unreservedSet = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    private static func base64Variants(_ padded: String) -> [String] {
        var unpadded = padded
        while unpadded.hasSuffix("=") { unpadded.removeLast() }
        return [unpadded, urlSafe(padded), urlSafe(unpadded)]
    }

    private static func urlSafe(_ s: String) -> String {
        String(s.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }

    private static func lowercaseHex(_ s: String) -> String {
        var out = ""
        var pending = 0
        for c in s {
            if c == "%" {
                pending = 2
                out.append(c)
            } else if pending > 0 {
                out.append(contentsOf: c.lowercased())
                pending -= 1
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// Python's `json.dumps` form: every non-ASCII character as `\uXXXX`.
    private static func unicodeEscaped(_ s: String) -> String {
        var escaped = JSON.string(s).serialized
        escaped.removeFirst()
        escaped.removeLast()
        var out = ""
        for unit in escaped.unicodeScalars {
            if unit.isASCII {
                out.unicodeScalars.append(unit)
            } else {
                for u in String(unit).utf16 { out += String(format: "\\u%04x", u) }
            }
        }
        return out
    }
}

/// Finds every occurrence of a set of byte strings in one pass over the text (candidates are
/// picked by their first byte), and again across line breaks.
private struct Matcher: Sendable {
    let patterns: [[UInt8]]
    /// Pattern indices by first byte.
    let byFirstByte: [[Int]]
    let longest: Int

    init(_ patterns: [[UInt8]]) {
        self.patterns = patterns
        var table = [[Int]](repeating: [], count: 256)
        for (i, p) in patterns.enumerated() where !p.isEmpty { table[Int(p[0])].append(i) }
        byFirstByte = table
        longest = patterns.map(\.count).max() ?? 0
    }

    /// Sorted, merged ranges of `text` to hide.
    func ranges(in text: [UInt8]) -> [Range<Int>] {
        var found = occurrences(in: text, minimumLength: 0)
        if text.contains(10) || text.contains(13) {
            // The text without its line breaks, and where each of its bytes came from.
            var joined: [UInt8] = []
            var origin: [Int] = []
            joined.reserveCapacity(text.count)
            origin.reserveCapacity(text.count)
            for (i, b) in text.enumerated() where b != 10 && b != 13 {
                joined.append(b)
                origin.append(i)
            }
            for r in occurrences(in: joined, minimumLength: Redactor.minimumSplitLength) {
                found.append(origin[r.lowerBound]..<(origin[r.upperBound - 1] + 1))
            }
        }
        found.sort { $0.lowerBound < $1.lowerBound }
        var merged: [Range<Int>] = []
        for r in found {
            if let last = merged.last, r.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        return merged
    }

    private func occurrences(in text: [UInt8], minimumLength: Int) -> [Range<Int>] {
        var result: [Range<Int>] = []
        text.withUnsafeBufferPointer { t in
            // Every start position, so that overlapping forms are all found (the ranges are merged).
            for i in 0..<t.count {
                for index in byFirstByte[Int(t[i])] {
                    let p = patterns[index]
                    // Patterns are longest first: the first match is the longest here.
                    if p.count >= minimumLength, p.count <= t.count - i,
                        p.withUnsafeBufferPointer({ memcmp(t.baseAddress! + i, $0.baseAddress!, p.count) == 0 })
                    {
                        result.append(i..<(i + p.count))
                        break
                    }
                }
            }
        }
        return result
    }
}

/// Wraps a task executor so that results, errors and causes of tasks are redacted.
public struct RedactingTaskExecutor: TaskExecutor {
    public let inner: any TaskExecutor
    public let redactor: Redactor

    public init(inner: any TaskExecutor, redactor: Redactor) {
        self.inner = inner
        self.redactor = redactor
    }

    public func execute(_ request: TaskRequest) async throws -> JSON {
        do {
            return redactor.redact(try await inner.execute(request))
        } catch let e as ExecutionError {
            throw redactor.redact(e)
        } catch let e as CancellationError {
            throw e
        } catch let e as ExecutionClockTimeout {
            throw e
        } catch {
            throw ExecutionError.taskFailed(redactor.redact(String(describing: error)))
        }
    }
}
