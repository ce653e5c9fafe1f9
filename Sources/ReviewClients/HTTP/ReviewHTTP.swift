public import AsyncHTTPClient
public import Logging
import Foundation
import Metrics
import NIOCore
import NIOHTTP1

/// Timeouts, retries and limits shared by the review clients.
public struct ReviewHTTPConfiguration: Sendable {
    /// How long establishing a connection may take (used by ``ReviewHTTP/withHTTPClient(configuration:backgroundActivityLogger:isolation:_:)``).
    public var connectTimeout: Duration
    /// How long one attempt may take, from sending the request to the last byte of the answer.
    public var readTimeout: Duration
    /// When to try again.
    public var retry: RetryPolicy
    /// The largest answer body accepted.
    public var maxResponseBytes: Int
    /// Sent as `User-Agent`.
    public var userAgent: String

    public init(
        connectTimeout: Duration = .seconds(10),
        readTimeout: Duration = .seconds(30),
        retry: RetryPolicy = RetryPolicy(),
        maxResponseBytes: Int = 32 << 20,
        userAgent: String = "stepgate"
    ) {
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.retry = retry
        self.maxResponseBytes = maxResponseBytes
        self.userAgent = userAgent
    }

    /// An AsyncHTTPClient configuration with these timeouts and no redirects (a redirect would drop credentials
    /// or send them elsewhere).
    public func makeHTTPClientConfiguration() -> HTTPClient.Configuration {
        HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(
                connect: .nanoseconds(connectTimeout.nanoseconds),
                read: .nanoseconds(readTimeout.nanoseconds)))
    }
}

/// The HTTP layer under ``GerritClient`` and ``ConduitClient``: one injected `HTTPClient`, per-attempt deadlines,
/// retries with capped exponential backoff and full jitter, typed errors, logs and metrics.
///
/// Metrics (swift-metrics), all with the dimensions `server` and `endpoint`:
/// - `stepgate_review_requests_total` (counter, plus `outcome`: `success` or an error's `shortDescription`), per attempt;
/// - `stepgate_review_request_duration_seconds` (timer), per attempt;
/// - `stepgate_review_retries_total` (counter, plus `reason`).
public struct ReviewHTTP: Sendable {
    /// The configured name of the server, used in errors, logs and metrics.
    public let server: String
    /// The base URL without a trailing slash, e.g. `https://review.example.org`.
    public let baseURL: String
    public let configuration: ReviewHTTPConfiguration
    let client: HTTPClient
    let logger: Logger
    /// Values that must never appear in errors or logs (passwords, tokens).
    var secrets: [String] = []

    /// - Parameters:
    ///   - server: the configured server name (`review`, `phab`).
    ///   - baseURL: `scheme://host[:port][/prefix]`.
    ///   - client: the shared client; its lifetime is the caller's (see ``withHTTPClient(configuration:backgroundActivityLogger:isolation:_:)``).
    ///   - logger: where requests, retries and failures are logged (at debug, warning and error).
    public init(
        server: String, baseURL: String, client: HTTPClient,
        configuration: ReviewHTTPConfiguration = ReviewHTTPConfiguration(), logger: Logger
    ) {
        self.server = server
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.client = client
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "review.server"] = .string(server)
        self.logger = logger
    }

    /// Runs `body` with a new `HTTPClient` set up with `configuration`'s timeouts, and always shuts it down.
    public static func withHTTPClient<Return>(
        configuration: ReviewHTTPConfiguration = ReviewHTTPConfiguration(),
        backgroundActivityLogger: Logger? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (HTTPClient) async throws -> Return
    ) async throws -> Return {
        try await HTTPClient.withHTTPClient(
            configuration: configuration.makeHTTPClientConfiguration(),
            backgroundActivityLogger: backgroundActivityLogger,
            isolation: isolation,
            body)
    }

    // MARK: - Sending

    struct Request: Sendable {
        var method: HTTPMethod
        /// The path under the base URL, already percent-encoded, starting with `/`.
        var path: String
        /// Query items, not yet encoded.
        var query: [(String, String)] = []
        var headers: HTTPHeaders = HTTPHeaders()
        var body: [UInt8]? = nil
        /// Whether the request may be repeated after the server may have acted on it.
        var idempotent: Bool
        /// A bounded name for logs and metrics (`queryChanges`, `differential.revision.search`).
        var endpoint: String
        /// When the whole call, retries included, must be over: each attempt's timeout is cut to what is left, no
        /// attempt starts after it, and `deadlineHeader` (when set) tells the server what is left, so that it does not
        /// apply the request later (Gerrit's `X-Gerrit-Deadline`).
        var deadline: ContinuousClock.Instant? = nil
        var deadlineHeader: String? = nil
    }

    struct Response: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Thrown by a decode closure when the body cannot be understood; retried like a truncated body.
    struct MalformedBody: Error {
        var detail: String
    }

    /// Sends `request`, retrying as ``RetryPolicy`` says, and decodes a 2xx answer with `decode`.
    ///
    /// `decode` throws ``MalformedBody`` (or a `DecodingError`) for a body it cannot read, which is retried, or a
    /// ``ReviewClientError`` for an application error, which is not.
    func send<T: Sendable>(_ request: Request, decode: (Response) throws -> T) async throws -> T {
        let policy = configuration.retry
        var attempt = 0
        while true {
            attempt += 1
            let started = ContinuousClock.now
            var timeout = configuration.readTimeout
            var request = request
            if let deadline = request.deadline {
                let left = deadline - started
                guard left > .milliseconds(10) else {
                    throw ReviewClientError.timeout.with(
                        server: server, method: request.method.rawValue, path: pathOnly(request.path),
                        detail: "the call's deadline passed", attempts: attempt - 1, redacting: secrets)
                }
                timeout = min(timeout, left)
                if let header = request.deadlineHeader {
                    request.headers.replaceOrAdd(name: header, value: "\(left.nanoseconds / 1_000_000)ms")
                }
            }
            let outcome = await attemptOnce(request, timeout: timeout, decode: decode)
            let elapsed = ContinuousClock.now - started
            Timer(label: "stepgate_review_request_duration_seconds", dimensions: dims(request))
                .recordNanoseconds(elapsed.nanoseconds)
            switch outcome {
            case .success(let value):
                Counter(label: "stepgate_review_requests_total", dimensions: dims(request) + [("outcome", "success")])
                    .increment()
                logger.debug(
                    "review request succeeded",
                    metadata: meta(request, attempt: attempt, extra: ["elapsed": "\(elapsed)"]))
                return value
            case .failure(let failure):
                let error = failure.error.with(
                    server: server, method: request.method.rawValue, path: pathOnly(request.path),
                    attempts: attempt, redacting: secrets)
                Counter(
                    label: "stepgate_review_requests_total",
                    dimensions: dims(request) + [("outcome", error.shortDescription)]
                ).increment()
                let retryable = failure.retry == .always || (failure.retry == .ifIdempotent && request.idempotent)
                guard retryable, attempt < policy.maxAttempts else {
                    logger.warning(
                        "review request failed",
                        metadata: meta(request, attempt: attempt, extra: ["error": "\(error)"]))
                    throw error
                }
                let delay = failure.retryAfter.map { policy.delay(retryAfter: $0) }
                    ?? policy.backoff(afterAttempt: attempt)
                Counter(
                    label: "stepgate_review_retries_total",
                    dimensions: dims(request) + [("reason", error.shortDescription)]
                ).increment()
                logger.info(
                    "review request will be retried",
                    metadata: meta(
                        request, attempt: attempt,
                        extra: ["error": "\(error.shortDescription)", "delay": "\(delay)"]))
                try await policy.sleep(delay)
            }
        }
    }

    private enum Retry { case never, ifIdempotent, always }

    private struct Failure: Error {
        var error: ReviewClientError
        var retry: Retry
        var retryAfter: Duration? = nil
    }

    private func attemptOnce<T>(_ request: Request, timeout: Duration, decode: (Response) throws -> T) async -> Result<T, Failure> {
        var outgoing = HTTPClientRequest(url: baseURL + request.path + Self.encodeQuery(request.query))
        outgoing.method = request.method
        outgoing.headers = request.headers
        outgoing.headers.replaceOrAdd(name: "User-Agent", value: configuration.userAgent)
        if let body = request.body {
            outgoing.body = .bytes(body)
        }
        let response: Response
        do {
            let answer = try await client.execute(outgoing, timeout: .nanoseconds(timeout.nanoseconds), logger: logger)
            let buffer = try await answer.body.collect(upTo: configuration.maxResponseBytes)
            response = Response(status: Int(answer.status.code), headers: answer.headers, body: Array(buffer: buffer))
        } catch {
            return .failure(classify(transportError: error))
        }

        guard (200..<300).contains(response.status) else {
            let error = ReviewClientError.forStatus(response.status).with(
                status: response.status, body: response.text, redacting: secrets)
            switch response.status {
            case 429:
                return .failure(Failure(error: error, retry: .always, retryAfter: Self.retryAfter(response.headers)))
            case 503:
                return .failure(Failure(error: error, retry: .always, retryAfter: Self.retryAfter(response.headers)))
            case 500...599:
                return .failure(Failure(error: error, retry: .ifIdempotent))
            default:
                return .failure(Failure(error: error, retry: .never))
            }
        }
        do {
            return .success(try decode(response))
        } catch let error as ReviewClientError {
            return .failure(Failure(error: error.with(status: response.status, redacting: secrets), retry: .never))
        } catch {
            let detail: String
            if let malformed = error as? MalformedBody {
                detail = malformed.detail
            } else {
                detail = "cannot decode the answer: \(Self.describe(decodingError: error))"
            }
            return .failure(
                Failure(
                    error: ReviewClientError.malformedResponse.with(
                        status: response.status, body: response.text, detail: detail, redacting: secrets),
                    retry: .ifIdempotent))
        }
    }

    private func classify(transportError error: any Error) -> Failure {
        if let error = error as? ReviewClientError { return Failure(error: error, retry: .never) }
        if error is CancellationError {
            return Failure(error: ReviewClientError.transport.with(detail: "cancelled"), retry: .never)
        }
        let text = String(describing: error)
        if let httpError = error as? HTTPClientError {
            switch httpError {
            case .deadlineExceeded, .readTimeout:
                return Failure(error: ReviewClientError.timeout.with(detail: text), retry: .ifIdempotent)
            case .connectTimeout:
                return Failure(error: ReviewClientError.transport.with(detail: text), retry: .always)
            case .cancelled:
                return Failure(error: ReviewClientError.transport.with(detail: text), retry: .never)
            case .bodyLengthMismatch, .remoteConnectionClosed:
                return Failure(error: ReviewClientError.transport.with(detail: text), retry: .ifIdempotent)
            case .invalidURL, .emptyHost, .emptyScheme:
                return Failure(error: ReviewClientError.configuration.with(detail: text), retry: .never)
            default:
                break
            }
        }
        let typeName = String(describing: type(of: error))
        let refused = text.localizedCaseInsensitiveContains("refused") || typeName.contains("NIOConnectionError")
        return Failure(error: ReviewClientError.transport.with(detail: text), retry: refused ? .always : .ifIdempotent)
    }

    // MARK: - Helpers

    private func dims(_ request: Request) -> [(String, String)] {
        [("server", server), ("endpoint", request.endpoint)]
    }

    private func meta(_ request: Request, attempt: Int, extra: Logger.Metadata = [:]) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "review.endpoint": .string(request.endpoint),
            "http.method": .string(request.method.rawValue),
            "http.path": .string(Redaction.redact(pathOnly(request.path), secrets)),
            "attempt": .stringConvertible(attempt),
        ]
        for (key, value) in extra { metadata[key] = .string(Redaction.redact("\(value)", secrets)) }
        return metadata
    }

    private func pathOnly(_ path: String) -> String {
        path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? path
    }

    /// The value of `Retry-After` (delta seconds or an HTTP date) as a duration from now.
    static func retryAfter(_ headers: HTTPHeaders, now: Date = Date()) -> Duration? {
        guard let value = headers.first(name: "Retry-After")?.trimmingSpaces(), !value.isEmpty else { return nil }
        if let seconds = Double(value), seconds.isFinite { return .milliseconds(Int64(max(0, seconds) * 1000)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSince(now)) * 1000))
    }

    static func encodeQuery(_ items: [(String, String)]) -> String {
        guard !items.isEmpty else { return "" }
        return "?" + items.map { percentEncode($0.0) + "=" + percentEncode($0.1) }.joined(separator: "&")
    }

    private static let unreserved: Set<UInt8> = Set(
        Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8))

    /// Percent-encodes everything but RFC 3986's unreserved characters (so `/`, `+`, `&`, `=`, space are encoded).
    static func percentEncode(_ string: String) -> String {
        var out = ""
        out.reserveCapacity(string.utf8.count)
        for byte in string.utf8 {
            if unreserved.contains(byte) {
                out.unicodeScalars.append(UnicodeScalar(byte))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    static func describe(decodingError error: any Error) -> String {
        guard let error = error as? DecodingError else { return String(describing: error) }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "\(path(context)): missing key \(key.stringValue)"
        @unknown default:
            return String(describing: error)
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
