public import StatesLanguage
import Foundation

/// Hides secret values in text and JSON before it reaches history, logs or reports.
///
/// Each secret is hidden as written and in the encodings a command or server is likely to echo
/// it in: base64 (standard and URL-safe, padded or not, and at each of the three byte
/// alignments it can take inside a longer base64 text), percent-encoding (upper- and lower-case
/// hex, `+` for spaces as forms write it) and JSON string escaping. A multi-line secret (a PEM
/// key) is also hidden line by line. Every occurrence becomes `***`.
public struct Redactor: Sendable {
    public static let mask = "***"
    /// Encoded forms shorter than this are not hidden (they would match ordinary text); the
    /// secret itself always is.
    static let minimumDerivedLength = 6

    /// Every string to hide, longest first.
    public let patterns: [String]

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
    }

    public var isEmpty: Bool { patterns.isEmpty }

    public func redact(_ text: String) -> String {
        guard !patterns.isEmpty, !text.isEmpty else { return text }
        var result = text
        for p in patterns where result.contains(p) {
            result = result.replacingOccurrences(of: p, with: Self.mask)
        }
        return result
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
