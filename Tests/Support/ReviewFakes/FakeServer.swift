public import AsyncHTTPClient
public import Foundation
#if canImport(Glibc)
import Glibc
#endif
public import Logging
import NIOCore
public import NIOHTTP1
public import ReviewClients

/// A fake review server (Tests/Fakes/*.py) running as a child process on 127.0.0.1, with its control API.
public final class FakeServer: @unchecked Sendable {
    public let process: Process
    public let port: Int
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public let directory: URL

    public static let fakesDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fakes")

    /// Starts `script` (e.g. `gerrit_fake.py`) with `--port 0` and reads the port from its first stdout line.
    public init(_ script: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-fake-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", Self.fakesDirectory.appendingPathComponent(script).path, "--port", "0",
            "--state-file", directory.appendingPathComponent("state.json").path, "--exit-on-stdin-eof",
        ]
        let stdout = Pipe()
        let stdin = Pipe()
        process.standardOutput = stdout
        process.standardInput = stdin
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let text = String(data: line, encoding: .utf8)?.split(separator: "\n").first,
            let port = Int(text.trimmingCharacters(in: .whitespaces))
        else {
            process.terminate()
            throw FakeError(message: "\(script) did not print its port")
        }
        self.process = process
        self.port = port
        self.stdin = stdin
    }

    private let stdin: Pipe

    /// Stops the fake: SIGTERM, then SIGKILL if it is still running after two seconds.
    public func stop() {
        try? stdin.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        var waited = 0
        while process.isRunning && waited < 200 {
            usleep(10_000)
            waited += 1
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Calls the control API; returns the decoded JSON.
    @discardableResult
    public func control(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> Any {
        var request = HTTPClientRequest(url: baseURL + "/__control/" + path)
        request.method = method
        if let body {
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let data = try await response.body.collect(upTo: 16 << 20)
        let json = try JSONSerialization.jsonObject(with: Data(data.readableBytesView), options: [.fragmentsAllowed])
        guard response.status == .ok else { throw FakeError(message: "control \(path): \(json)") }
        return json
    }

    public func object(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        try await control(method, path, body) as? [String: Any] ?? [:]
    }

    /// API requests seen so far, optionally only those whose path+query matches `pattern`.
    public func requests(matching pattern: String? = nil) async throws -> [[String: Any]] {
        let query = pattern.map { "?path=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) } ?? ""
        return try await control(.GET, "requests" + query) as? [[String: Any]] ?? []
    }

    public func fault(_ spec: [String: Any]) async throws {
        try await control(.POST, "faults", spec)
    }

    /// Writes a secret to a file in the fake's temporary directory (with a trailing newline, as editors do).
    public func secretFile(_ name: String, _ value: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data((value + "\n").utf8).write(to: url)
        return url.path
    }
}

public struct FakeError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// Records the delays a retry policy asked for, and returns at once.
public final class SleepRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [Duration] = []

    public init() {}

    public var delays: [Duration] { lock.withLock { recorded } }

    public func policy(maxAttempts: Int = 4) -> RetryPolicy {
        RetryPolicy(
            maxAttempts: maxAttempts, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50),
            maxRetryAfter: .seconds(5),
            sleep: { [self] delay in lock.withLock { recorded.append(delay) } },
            random: { $0 })
    }
}

public let testLogger = Logger(label: "stepgate.tests.review-clients", factory: { _ in SwiftLogNoOpLogHandler() })

/// Runs `body` with a fresh HTTP client and a fake server, stopping both whatever happens.
public func withFake<R>(
    _ script: String, _ body: (FakeServer, HTTPClient) async throws -> R
) async throws -> R {
    let fake = try FakeServer(script)
    defer { fake.stop() }
    return try await ReviewHTTP.withHTTPClient(
        configuration: ReviewHTTPConfiguration(connectTimeout: .seconds(2), readTimeout: .seconds(5))
    ) { client in
        try await body(fake, client)
    }
}

