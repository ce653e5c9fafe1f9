import Foundation
import Runtime
import StatesLanguage
import Testing

/// A real HTTP server on 127.0.0.1 (Python's http.server), one per test.
final class LocalHTTPServer {
    let process = Process()
    let port: Int
    let scriptPath: String

    static let script = #"""
        import json, sys
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        SEEN = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body, content_type):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def handle_any(self):
                if self.path != "/seen":
                    SEEN.append({"path": self.path, "authorization": self.headers.get("Authorization")})
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                if self.path == "/missing":
                    self.reply(404, "no such thing here", "text/plain")
                elif self.path == "/unavailable":
                    self.reply(503, "maintenance; you sent " + (self.headers.get("Authorization") or ""), "text/plain")
                elif self.path == "/text":
                    self.reply(200, "plain text", "text/plain")
                elif self.path.startswith("/redirect?to="):
                    self.send_response(302)
                    self.send_header("Location", self.path[len("/redirect?to="):])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/big":
                    self.reply(200, json.dumps({"filler": "z" * 5000}), "application/json")
                elif self.path == "/seen":
                    self.reply(200, json.dumps(SEEN), "application/json")
                else:
                    self.reply(200, json.dumps({"method": self.command, "path": self.path, "body": body,
                        "contentType": self.headers.get("Content-Type"), "authorization": self.headers.get("Authorization"),
                        "custom": self.headers.get("X-Custom")}), "application/json")

            do_GET = do_POST = do_PUT = do_DELETE = handle_any

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """#

    init() throws {
        scriptPath = FileManager.default.temporaryDirectory.path + "/stepgate-http-\(UUID().uuidString).py"
        try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", scriptPath]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            kill(process.processIdentifier, SIGKILL)
            throw TestFailure("the test HTTP server did not start")
        }
        self.port = port
    }

    var base: String { "http://127.0.0.1:\(port)" }

    deinit {
        // SIGKILL: a child started from a worker thread may inherit a mask that blocks SIGTERM.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: scriptPath)
    }
}

@Suite struct HTTPTests {
    let server: LocalHTTPServer
    let executor: any TaskExecutor

    init() throws {
        server = try LocalHTTPServer()
        executor = commandExecutor(directory: "/", grants: RoleGrants(secrets: ["deploy": ["DEPLOY_TOKEN": "dep-tok-987654321"]]))
    }

    @Test func jsonResponse() async throws {
        let r = try await runTask(
            executor, resource: "stepgate:http",
            parameters: ["method": "POST", "url": .string(server.base + "/deploy"), "headers": ["X-Custom": "yes"], "body": ["env": "staging"]])
        #expect(r.status == .succeeded, "\(r.cause ?? "")")
        let out = try #require(r.output)
        #expect(out["status"] == 200)
        #expect(out["headers"]?["content-type"] == "application/json")
        #expect(out["body"]?["method"] == "POST")
        #expect(out["body"]?["path"] == "/deploy")
        #expect(out["body"]?["body"] == #"{"env":"staging"}"#)
        #expect(out["body"]?["contentType"] == "application/json")
        #expect(out["body"]?["custom"] == "yes")
        let text = try await runTask(executor, resource: "stepgate:http", parameters: ["url": .string(server.base + "/text")])
        #expect(text.output?["body"] == "plain text")
    }

    @Test func errorStatuses() async throws {
        let missing = try await runTask(executor, resource: "stepgate:http", parameters: ["url": .string(server.base + "/missing")])
        #expect(missing.error == "stepgate.HttpError")
        #expect(missing.cause == "HTTP 404 from 127.0.0.1:\(server.port)/missing: no such thing here")
        let down = try await runTask(executor, resource: "stepgate:http", parameters: ["url": .string(server.base + "/unavailable")])
        #expect(down.error == "stepgate.HttpError")
        #expect(down.cause == "HTTP 503 from 127.0.0.1:\(server.port)/unavailable: maintenance; you sent ")
        let bad = try await runTask(executor, resource: "stepgate:http", parameters: ["url": "file:///etc/passwd"])
        #expect(bad.error == "stepgate.InvalidParameters")
    }

    @Test func secretHeadersComeFromTheGrantedRoleAndAreRedacted() async throws {
        let params: JSON = ["url": .string(server.base + "/whoami"), "secretHeaders": ["Authorization": "Bearer ${DEPLOY_TOKEN}"]]
        let ok = try await runTask(executor, resource: "stepgate:http", parameters: params, credentials: ["RoleArn": "deploy"])
        #expect(ok.status == .succeeded, "\(ok.cause ?? "")")
        // The server saw the secret; the result shows it redacted.
        #expect(ok.output?["body"]?["authorization"] == "Bearer ***")
        let down = try await runTask(
            executor, resource: "stepgate:http",
            parameters: ["url": .string(server.base + "/unavailable"), "secretHeaders": ["Authorization": "Bearer ${DEPLOY_TOKEN}"]],
            credentials: ["RoleArn": "deploy"])
        #expect(down.cause == "HTTP 503 from 127.0.0.1:\(server.port)/unavailable: maintenance; you sent Bearer ***")
        // Without the role, the template cannot be filled.
        let none = try await runTask(executor, resource: "stepgate:http", parameters: params)
        #expect(none.error == "stepgate.InvalidParameters")
        #expect(none.cause?.contains("${DEPLOY_TOKEN}, which the task's role does not provide") == true)
    }
}

extension HTTPTests {
    // MARK: Secret headers stay with their origin

    @Test func aRedirectToAnotherOriginNeverCarriesSecretHeaders() async throws {
        let other = try LocalHTTPServer()
        // 127.0.0.1 and localhost are different origins, as are two ports.
        let elsewhere = "http://localhost:\(other.port)/whoami"
        let params: JSON = [
            "url": .string(server.base + "/redirect?to=" + elsewhere), "secretHeaders": ["Authorization": "Bearer ${DEPLOY_TOKEN}"],
        ]
        let refused = try await runTask(executor, resource: "stepgate:http", parameters: params, credentials: ["RoleArn": "deploy"])
        #expect(refused.error == "stepgate.HttpError")
        #expect(
            refused.cause == "HTTP 302 from 127.0.0.1:\(server.port)/redirect redirects to another origin (http://localhost:\(other.port)); "
                + "a request with secret headers is never sent there", "\(refused.cause ?? "")")
        let seen = try await runTask(executor, resource: "stepgate:http", parameters: ["url": .string(other.base + "/seen")])
        #expect(seen.output?["body"] == [], "\(seen.output ?? .null)")

        // Within the origin the redirect is followed, secret included; without secrets, anywhere.
        let same = try await runTask(
            executor, resource: "stepgate:http",
            parameters: ["url": .string(server.base + "/redirect?to=/whoami"), "secretHeaders": ["Authorization": "Bearer ${DEPLOY_TOKEN}"]],
            credentials: ["RoleArn": "deploy"])
        #expect(same.output?["body"]?["authorization"] == "Bearer ***", "\(same.cause ?? "")")
        let plain = try await runTask(
            executor, resource: "stepgate:http", parameters: ["url": .string(server.base + "/redirect?to=" + elsewhere), "headers": ["X-Custom": "1"]])
        #expect(plain.output?["body"]?["custom"] == "1", "\(plain.cause ?? "")")
    }

    @Test func secretHeadersNeedHTTPSOrTheLoopback() async throws {
        let params: JSON = ["url": "http://198.51.100.7/deploy", "secretHeaders": ["Authorization": "Bearer ${DEPLOY_TOKEN}"]]
        let r = try await runTask(executor, resource: "stepgate:http", parameters: params, credentials: ["RoleArn": "deploy"])
        #expect(r.error == "stepgate.InvalidParameters")
        #expect(r.cause == "\"secretHeaders\" are sent only over https (or plain http to this machine's loopback), not to http://198.51.100.7:80")
        // Plain headers may go anywhere (nothing listens there: the request fails, it is not refused).
        let loopback = try await runTask(
            executor, resource: "stepgate:http",
            parameters: ["url": .string(server.base + "/whoami"), "secretHeaders": ["Authorization": "Bearer ${DEPLOY_TOKEN}"]],
            credentials: ["RoleArn": "deploy"])
        #expect(loopback.status == .succeeded)
    }

    @Test func theBodyIsCapped() async throws {
        let capped = commandExecutor(directory: "/", grants: RoleGrants(secrets: ["deploy": ["DEPLOY_TOKEN": "dep-tok-987654321"]]), outputLimit: 1000)
        let r = try await runTask(capped, resource: "stepgate:http", parameters: ["url": .string(server.base + "/big")])
        #expect(r.status == .succeeded, "\(r.cause ?? "")")
        #expect(r.output?["bodyTruncated"] == true)
        #expect(r.output?["body"]?.stringValue?.utf8.count == 1000)
        let whole = try await runTask(executor, resource: "stepgate:http", parameters: ["url": .string(server.base + "/big")])
        #expect(whole.output?["body"]?["filler"]?.stringValue?.count == 5000)
        #expect(whole.output?["bodyTruncated"] == nil)
    }
}
