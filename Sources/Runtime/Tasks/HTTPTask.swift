import StatesLanguage
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `stepgate:http`: one HTTP request.
///
/// Parameters: `method` (default GET), `url` (http or https, required), `headers` (object of
/// strings), `secretHeaders` (object of strings in which `${NAME}` is replaced by the granted
/// role's secret NAME, and nothing else), `body` (a string is sent as is; any other JSON value is
/// serialized and sent as `application/json`), `timeoutSeconds`.
///
/// The result is `{"status", "headers", "body"}`, the body parsed as JSON when the response says
/// it is JSON. A status outside 200-299 fails with `stepgate.HttpError`.
struct HTTPTask {
    let request: TaskRequest
    let secrets: [String: String]

    static let allowedParameters: Set<String> = ["method", "url", "headers", "secretHeaders", "body", "timeoutSeconds"]

    func run() async throws -> JSON {
        guard let object = request.input.objectValue else {
            throw ExecutionError.invalidParameters("stepgate:http needs Parameters as an object with \"url\"")
        }
        for key in object.keys where !Self.allowedParameters.contains(key) {
            throw ExecutionError.invalidParameters(
                "stepgate:http does not know the parameter \"\(key)\" (expected \(Self.allowedParameters.sorted().joined(separator: ", ")))")
        }
        guard let urlText = object["url"]?.stringValue, let url = URL(string: urlText),
            let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil
        else {
            throw ExecutionError.invalidParameters("\"url\" must be an http or https URL")
        }
        let method = (object["method"]?.stringValue ?? "GET").uppercased()
        guard !method.isEmpty, method.allSatisfy({ $0.isLetter }) else {
            throw ExecutionError.invalidParameters("\"method\" must be an HTTP method name")
        }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = method
        var timeout = 60.0
        if let t = object["timeoutSeconds"], !t.isNull {
            guard let seconds = t.doubleValue, seconds > 0 else { throw ExecutionError.invalidParameters("\"timeoutSeconds\" must be a positive number") }
            timeout = seconds
        }
        if let taskTimeout = request.timeoutSeconds { timeout = min(timeout, Double(taskTimeout)) }
        urlRequest.timeoutInterval = timeout
        if let headers = object["headers"], !headers.isNull {
            for (k, v) in try stringObject(headers, name: "headers") { urlRequest.setValue(v, forHTTPHeaderField: k) }
        }
        if let headers = object["secretHeaders"], !headers.isNull {
            for (k, v) in try stringObject(headers, name: "secretHeaders") {
                urlRequest.setValue(try substitute(v, header: k), forHTTPHeaderField: k)
            }
        }
        if let body = object["body"], !body.isNull {
            if let s = body.stringValue {
                urlRequest.httpBody = Data(s.utf8)
            } else {
                urlRequest.httpBody = Data(body.serialized.utf8)
                if urlRequest.value(forHTTPHeaderField: "Content-Type") == nil {
                    urlRequest.setValue("application/json", forHTTPHeaderField: "Content-Type")
                }
            }
        }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        let where_ = (url.host ?? "") + (url.port.map { ":\($0)" } ?? "") + (url.path.isEmpty ? "/" : url.path)
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await session.data(for: urlRequest)
        } catch let e as URLError where e.code == .timedOut {
            throw ExecutionError.timeout("HTTP request to \(where_) timed out after \(Int(timeout)) seconds")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ExecutionError("stepgate.HttpError", "HTTP request to \(where_) failed: \(error.localizedDescription)")
        }
        guard let http = response as? HTTPURLResponse else {
            throw ExecutionError("stepgate.HttpError", "no HTTP response from \(where_)")
        }
        if !(200...299).contains(http.statusCode) {
            let snippet = String(decoding: data.prefix(200), as: UTF8.self)
            throw ExecutionError("stepgate.HttpError", "HTTP \(http.statusCode) from \(where_): \(snippet)")
        }
        var headers = JSONObject()
        for (k, v) in http.allHeaderFields {
            if let k = k as? String, let v = v as? String { headers[k.lowercased()] = .string(v) }
        }
        let contentType = (http.value(forHTTPHeaderField: "Content-Type") ?? "").lowercased()
        let text = String(decoding: data, as: UTF8.self)
        var body: JSON = .string(text)
        if contentType.contains("json"), let parsed = try? JSONParser.parse(text) { body = parsed }
        var result = JSONObject()
        result["status"] = .int(http.statusCode)
        result["headers"] = .object(headers)
        result["body"] = body
        return .object(result)
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
}
