import StatesLanguage
import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// `stepgate:http`: one HTTP request.
///
/// Parameters: `method` (default GET), `url` (http or https, required), `headers` (object of
/// strings), `secretHeaders` (object of strings in which `${NAME}` is replaced by the granted
/// role's secret NAME, and nothing else), `body` (a string is sent as is; any other JSON value is
/// serialized and sent as `application/json`), `timeoutSeconds`.
///
/// The result is `{"status", "headers", "body"}`, the body parsed as JSON when the response says
/// it is JSON. A status outside 200-299 fails with `stepgate.HttpError`.
///
/// Secret headers travel only over https, or plain http to this machine's loopback. Redirects
/// (at most ``maximumRedirects``) are followed by stepgate itself, never to another origin
/// (scheme, host and port) when the request carries secret headers. The body is read up to the
/// executor's output limit; beyond it the rest is dropped, `body` is the text kept and
/// `bodyTruncated` is true.
struct HTTPTask {
    let request: TaskRequest
    let secrets: [String: String]
    /// Bytes of the response body kept.
    let bodyLimit: Int
    /// Hides every granted secret (a server may echo one back).
    let redactor: Redactor

    static let allowedParameters: Set<String> = ["method", "url", "headers", "secretHeaders", "body", "timeoutSeconds"]
    static let maximumRedirects = 5

    /// What a request carries from one hop to the next.
    struct Outgoing {
        var url: URL
        var method: String
        var headers: HTTPHeaders
        var body: [UInt8]?
        /// Whether any header came from `secretHeaders`.
        var carriesSecrets: Bool
    }

    func run() async throws -> JSON {
        let (outgoing, timeout) = try prepare()
        let seconds = Int64((timeout * 1000).rounded())
        let deadline = NIODeadline.now() + .milliseconds(seconds)
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .milliseconds(seconds), read: .milliseconds(seconds))
        return try await HTTPClient.withHTTPClient(configuration: configuration) { client in
            try await send(outgoing, client: client, deadline: deadline, timeout: timeout)
        }
    }

    /// Checks the parameters and builds the first request.
    func prepare() throws(ExecutionError) -> (Outgoing, timeout: Double) {
        guard let object = request.input.objectValue else {
            throw ExecutionError.invalidParameters("stepgate:http needs Parameters as an object with \"url\"")
        }
        for key in object.keys where !Self.allowedParameters.contains(key) {
            throw ExecutionError.invalidParameters(
                "stepgate:http does not know the parameter \"\(key)\" (expected \(Self.allowedParameters.sorted().joined(separator: ", ")))")
        }
        guard let urlText = object["url"]?.stringValue, let url = URL(string: urlText), Self.isHTTP(url) else {
            throw ExecutionError.invalidParameters("\"url\" must be an http or https URL")
        }
        let method = (object["method"]?.stringValue ?? "GET").uppercased()
        guard !method.isEmpty, method.allSatisfy({ $0.isLetter }) else {
            throw ExecutionError.invalidParameters("\"method\" must be an HTTP method name")
        }
        var timeout = 60.0
        if let t = object["timeoutSeconds"], !t.isNull {
            guard let seconds = t.doubleValue, seconds > 0 else { throw ExecutionError.invalidParameters("\"timeoutSeconds\" must be a positive number") }
            timeout = seconds
        }
        if let taskTimeout = request.timeoutSeconds { timeout = min(timeout, Double(taskTimeout)) }
        var outgoing = Outgoing(url: url, method: method, headers: HTTPHeaders(), body: nil, carriesSecrets: false)
        if let headers = object["headers"], !headers.isNull {
            for (k, v) in try stringObject(headers, name: "headers") { outgoing.headers.replaceOrAdd(name: k, value: v) }
        }
        if let headers = object["secretHeaders"], !headers.isNull {
            for (k, v) in try stringObject(headers, name: "secretHeaders") {
                outgoing.headers.replaceOrAdd(name: k, value: try substitute(v, header: k))
                outgoing.carriesSecrets = true
            }
        }
        if outgoing.carriesSecrets, !Self.mayCarrySecrets(url) {
            throw ExecutionError.invalidParameters(
                "\"secretHeaders\" are sent only over https (or plain http to this machine's loopback), not to \(Self.origin(url))")
        }
        if let body = object["body"], !body.isNull {
            if let s = body.stringValue {
                outgoing.body = Array(s.utf8)
            } else {
                outgoing.body = Array(body.serialized.utf8)
                if !outgoing.headers.contains(name: "Content-Type") {
                    outgoing.headers.add(name: "Content-Type", value: "application/json")
                }
            }
        }
        return (outgoing, timeout)
    }

    /// Sends the request, following redirects within the rules above.
    func send(_ first: Outgoing, client: HTTPClient, deadline: NIODeadline, timeout: Double) async throws -> JSON {
        var outgoing = first
        for hop in 0...Self.maximumRedirects {
            let here = Self.describe(outgoing.url)
            var request = HTTPClientRequest(url: outgoing.url.absoluteString)
            request.method = HTTPMethod(rawValue: outgoing.method)
            request.headers = outgoing.headers
            if let body = outgoing.body { request.body = .bytes(body) }
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, deadline: deadline)
            } catch {
                throw Self.failure(error, at: here, timeout: timeout)
            }
            let status = Int(response.status.code)
            if [301, 302, 303, 307, 308].contains(status), let location = response.headers.first(name: "Location") {
                _ = try? await response.body.collect(upTo: 64 * 1024)
                guard hop < Self.maximumRedirects else {
                    throw ExecutionError("stepgate.HttpError", "HTTP request to \(Self.describe(first.url)) was redirected more than \(Self.maximumRedirects) times")
                }
                guard let next = URL(string: location, relativeTo: outgoing.url)?.absoluteURL, Self.isHTTP(next) else {
                    throw ExecutionError("stepgate.HttpError", "HTTP \(status) from \(here) redirects to an address that is not http or https")
                }
                if outgoing.carriesSecrets, Self.origin(next) != Self.origin(outgoing.url) {
                    throw ExecutionError(
                        "stepgate.HttpError",
                        "HTTP \(status) from \(here) redirects to another origin (\(Self.origin(next))); a request with secret headers is never sent there")
                }
                if status == 303 || (status != 307 && status != 308 && outgoing.method == "POST") {
                    outgoing.method = "GET"
                    outgoing.body = nil
                    outgoing.headers.remove(name: "Content-Type")
                }
                outgoing.url = next
                continue
            }
            return try await result(of: response, at: here, timeout: timeout)
        }
        throw ExecutionError("stepgate.HttpError", "HTTP request to \(Self.describe(first.url)) was redirected too often")
    }

    func result(of response: HTTPClientResponse, at here: String, timeout: Double) async throws -> JSON {
        // Keep reading past the limit far enough to see whole a secret that starts before it.
        let keep = bodyLimit + (redactor.isEmpty ? 0 : 2 * redactor.longestPatternLength + 256)
        var data: [UInt8] = []
        do {
            for try await chunk in response.body {
                data += chunk.readableBytesView.prefix(keep - data.count)
                if data.count >= keep { break }
            }
        } catch {
            throw Self.failure(error, at: here, timeout: timeout)
        }
        let status = Int(response.status.code)
        if !(200...299).contains(status) {
            let snippet = redactor.redact(data, keepingFirst: 200).text
            throw ExecutionError("stepgate.HttpError", "HTTP \(status) from \(here): \(snippet)")
        }
        let (text, truncated) = redactor.redact(data, keepingFirst: bodyLimit)
        var headers = JSONObject()
        for header in response.headers { headers[header.name.lowercased()] = .string(header.value) }
        let contentType = (response.headers.first(name: "Content-Type") ?? "").lowercased()
        var body: JSON = .string(text)
        if !truncated, contentType.contains("json"), let parsed = try? JSONParser.parse(text) { body = parsed }
        var result = JSONObject()
        result["status"] = .int(status)
        result["headers"] = .object(headers)
        result["body"] = body
        if truncated { result["bodyTruncated"] = true }
        return .object(result)
    }

    static func failure(_ error: any Error, at here: String, timeout: Double) -> any Error {
        if error is CancellationError { return error }
        if let e = error as? HTTPClientError, [.deadlineExceeded, .readTimeout, .connectTimeout].contains(e) {
            return ExecutionError.timeout("HTTP request to \(here) timed out after \(Int(timeout)) seconds")
        }
        return ExecutionError("stepgate.HttpError", "HTTP request to \(here) failed: \(error)")
    }

    func stringObject(_ value: JSON, name: String) throws(ExecutionError) -> [(String, String)] {
        guard let o = value.objectValue else { throw .invalidParameters("\"\(name)\" must be an object of strings") }
        var result: [(String, String)] = []
        for (k, v) in zip(o.keys, o.values) {
            guard let s = v.stringValue else { throw .invalidParameters("\"\(name)\".\(k) must be a string") }
            result.append((k, s))
        }
        return result
    }

    /// Replaces `${NAME}` by the granted role's secret NAME.
    func substitute(_ template: String, header: String) throws(ExecutionError) -> String {
        var out = ""
        var rest = Substring(template)
        while let open = rest.range(of: "${") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                throw .invalidParameters("\"secretHeaders\".\(header) has an unterminated ${")
            }
            let name = String(rest[open.upperBound..<close])
            guard let value = secrets[name] else {
                throw .invalidParameters(
                    "\"secretHeaders\".\(header) refers to ${\(name)}, which the task's role does not provide")
            }
            out += value
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    // MARK: - Addresses

    static func isHTTP(_ url: URL) -> Bool {
        guard let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else { return false }
        return scheme == "http" || scheme == "https"
    }

    /// https, or http to 127.0.0.0/8, ::1 or localhost.
    static func mayCarrySecrets(_ url: URL) -> Bool {
        if url.scheme?.lowercased() == "https" { return true }
        let host = (url.host ?? "").lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return host == "localhost" || host == "::1" || host.hasPrefix("127.")
            && host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil }
    }

    /// `scheme://host:port`, with the scheme's default port made explicit.
    static func origin(_ url: URL) -> String {
        let scheme = url.scheme?.lowercased() ?? ""
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\((url.host ?? "").lowercased()):\(port)"
    }

    /// `host[:port]/path` as errors name a request.
    static func describe(_ url: URL) -> String {
        (url.host ?? "") + (url.port.map { ":\($0)" } ?? "") + (url.path.isEmpty ? "/" : url.path)
    }
}
