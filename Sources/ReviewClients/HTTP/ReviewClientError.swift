import Foundation

/// An error from a review server (Gerrit or Phorge) or from the way to it.
///
/// Modelled on AsyncHTTPClient's `HTTPClientError`: a struct wrapping a private code, so new kinds of
/// failure never break callers that match on the existing ones. Match with `==` or `~=` against the
/// static members (`catch let error as ReviewClientError where error == .conflict`); two errors are
/// equal when their *kind* is equal (and, for Conduit errors, their Conduit error code), whatever the
/// context they carry.
///
/// The context (server name, method, path, status and a bounded, redacted excerpt of the response
/// body) never contains the password or token the client authenticates with.
public struct ReviewClientError: Error, Sendable, CustomStringConvertible, Hashable {
    private enum Code: Hashable, Sendable {
        case unauthorized
        case forbidden
        case notFound
        case conflict
        case badRequest
        case rateLimited
        case server
        case unexpectedStatus
        case malformedResponse
        case transport
        case timeout
        case conduit(String)
        case configuration
    }

    private let code: Code
    /// The HTTP status of the answer, when there was one.
    public private(set) var status: Int?
    /// The configured name of the server (`review`, `phab`), never its credentials.
    public private(set) var server: String = ""
    /// The HTTP method, or the Conduit method, of the failing call.
    public private(set) var method: String = ""
    /// The request path without its query string.
    public private(set) var path: String = ""
    /// At most ``ReviewClientError/excerptLimit`` characters of the answer, secrets redacted.
    public private(set) var bodyExcerpt: String = ""
    /// A short description of the underlying cause (a transport error, a decoding error, a Conduit `error_info`).
    public private(set) var detail: String = ""
    /// How many attempts were made before giving up.
    public private(set) var attempts: Int = 1

    /// The longest body excerpt an error keeps.
    public static let excerptLimit = 512

    private init(_ code: Code) { self.code = code }

    /// 401: missing or wrong credentials (Gerrit `/a/`).
    public static let unauthorized = ReviewClientError(.unauthorized)
    /// 403: not permitted, e.g. voting outside the permitted range.
    public static let forbidden = ReviewClientError(.forbidden)
    /// 404: the resource does not exist or is not visible.
    public static let notFound = ReviewClientError(.notFound)
    /// 409: the state does not allow it, e.g. voting on a closed change.
    public static let conflict = ReviewClientError(.conflict)
    /// 400, 405, 412, 422 and other client errors that are never retried.
    public static let badRequest = ReviewClientError(.badRequest)
    /// 429 after the retries were used up.
    public static let rateLimited = ReviewClientError(.rateLimited)
    /// 5xx after the retries were used up.
    public static let server = ReviewClientError(.server)
    /// A status the clients do not expect (1xx, 3xx).
    public static let unexpectedStatus = ReviewClientError(.unexpectedStatus)
    /// A body that could not be decoded (truncated, not JSON, wrong shape) after the retries were used up.
    public static let malformedResponse = ReviewClientError(.malformedResponse)
    /// The connection failed (refused, reset, closed early) after the retries were used up.
    public static let transport = ReviewClientError(.transport)
    /// The request or its answer took longer than the read timeout, after the retries were used up.
    public static let timeout = ReviewClientError(.timeout)
    /// A local configuration problem: a missing password or token file, a bad base URL.
    public static let configuration = ReviewClientError(.configuration)
    /// Conduit answered `ERR-INVALID-SESSION` (no token, or a token outside `__conduit__`).
    public static let invalidSession = ReviewClientError.conduit("ERR-INVALID-SESSION", nil)
    /// Conduit answered `ERR-INVALID-AUTH` (an unknown or malformed token).
    public static let invalidAuth = ReviewClientError.conduit("ERR-INVALID-AUTH", nil)

    /// A Conduit answer whose `error_code` was not null.
    public static func conduit(_ code: String, _ info: String?) -> ReviewClientError {
        var error = ReviewClientError(.conduit(code))
        error.detail = info ?? ""
        return error
    }

    /// The Conduit `error_code`, for Conduit errors.
    public var conduitCode: String? {
        if case .conduit(let code) = code { return code }
        return nil
    }

    /// The Conduit `error_info`, for Conduit errors.
    public var conduitInfo: String? { conduitCode == nil ? nil : detail }

    /// Whether Conduit rejected the session (token missing or not inside `__conduit__`).
    public var isInvalidSession: Bool { conduitCode == "ERR-INVALID-SESSION" }
    /// Whether Conduit rejected the token itself.
    public var isInvalidAuth: Bool { conduitCode == "ERR-INVALID-AUTH" }
    /// Whether this is a Conduit application error.
    public var isConduitError: Bool { conduitCode != nil }

    /// Whether this kind of error is worth another attempt (after the client's own retries, a later poll).
    public var isTransient: Bool {
        switch code {
        case .rateLimited, .server, .malformedResponse, .transport, .timeout: return true
        default: return false
        }
    }

    /// A bounded, stable name of the kind, safe to use as a metrics dimension or log field.
    public var shortDescription: String {
        switch code {
        case .unauthorized: return "unauthorized"
        case .forbidden: return "forbidden"
        case .notFound: return "not-found"
        case .conflict: return "conflict"
        case .badRequest: return "bad-request"
        case .rateLimited: return "rate-limited"
        case .server: return "server-error"
        case .unexpectedStatus: return "unexpected-status"
        case .malformedResponse: return "malformed-response"
        case .transport: return "transport"
        case .timeout: return "timeout"
        case .conduit: return "conduit"
        case .configuration: return "configuration"
        }
    }

    public var description: String {
        var parts = ["ReviewClientError.\(shortDescription)"]
        if let conduitCode { parts.append(conduitCode) }
        if !server.isEmpty { parts.append("server=\(server)") }
        if !method.isEmpty || !path.isEmpty { parts.append("\(method) \(path)".trimmingSpaces()) }
        if let status { parts.append("status=\(status)") }
        if attempts > 1 { parts.append("attempts=\(attempts)") }
        var text = parts.joined(separator: " ")
        if !detail.isEmpty { text += ": \(detail)" }
        if !bodyExcerpt.isEmpty && bodyExcerpt != detail { text += " body=\(String(reflecting: bodyExcerpt))" }
        return text
    }

    public static func == (lhs: ReviewClientError, rhs: ReviewClientError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// Lets `case .notFound` patterns match any error value.
    public static func ~= (pattern: ReviewClientError, value: any Error) -> Bool {
        (value as? ReviewClientError).map { $0 == pattern } ?? false
    }

    // MARK: - Building errors with context (internal)

    static func forStatus(_ status: Int) -> ReviewClientError {
        switch status {
        case 401: return .unauthorized
        case 403: return .forbidden
        case 404: return .notFound
        case 409: return .conflict
        case 429: return .rateLimited
        case 500...599: return .server
        case 400...499: return .badRequest
        default: return .unexpectedStatus
        }
    }

    func with(
        status: Int? = nil, server: String? = nil, method: String? = nil, path: String? = nil,
        body: String? = nil, detail: String? = nil, attempts: Int? = nil, redacting secrets: [String] = []
    ) -> ReviewClientError {
        var copy = self
        if let status { copy.status = status }
        if let server { copy.server = server }
        if let method { copy.method = method }
        if let path { copy.path = Redaction.redact(path, secrets) }
        if let body { copy.bodyExcerpt = Redaction.excerpt(body, secrets, limit: Self.excerptLimit) }
        if let detail { copy.detail = Redaction.excerpt(detail, secrets, limit: Self.excerptLimit) }
        if let attempts { copy.attempts = attempts }
        if !secrets.isEmpty {
            copy.detail = Redaction.redact(copy.detail, secrets)
            copy.bodyExcerpt = Redaction.redact(copy.bodyExcerpt, secrets)
        }
        return copy
    }
}

enum Redaction {
    static let mask = "<redacted>"

    static func redact(_ text: String, _ secrets: [String]) -> String {
        var text = text
        for secret in secrets where secret.count >= 4 {
            text = text.replacingAll(secret, with: mask)
        }
        return text
    }

    static func excerpt(_ text: String, _ secrets: [String], limit: Int) -> String {
        let redacted = redact(text, secrets)
        if redacted.count <= limit { return redacted }
        return String(redacted.prefix(limit)) + "…"
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }

    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }
}
