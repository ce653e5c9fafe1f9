import Foundation
import Runtime
import StatesLanguage
import Testing

/// Whether a process is gone (or a zombie nobody has reaped yet).
func processIsGone(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    guard let close = stat.lastIndex(of: ")") else { return true }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state == "Z" || state == "X"
}

func waitUntilGone(_ pids: [Int32], seconds: Double = 3) async -> Bool {
    let until = Date().addingTimeInterval(seconds)
    while Date() < until {
        if pids.allSatisfy(processIsGone) { return true }
        try? await Task.sleep(nanoseconds: 50_000_000)
    }
    return pids.allSatisfy(processIsGone)
}

@Suite struct CommandTests {
    @Test func jsonStdoutBecomesTheResult() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try await runTask(commandExecutor(directory: dir), parameters: ["command": ["sh", "-c", #"printf '{"a": [1, 2], "ok": true}\n'"#]])
        #expect(r.status == .succeeded)
        #expect(r.output == ["a": [1, 2], "ok": true])
    }

    @Test func plainStdoutIsWrapped() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try await runTask(commandExecutor(directory: dir), parameters: ["command": ["echo", "hello", "world"]])
        #expect(r.output == ["stdout": "hello world\n", "exitCode": 0])
        // stdin is passed through; argv is not a shell line.
        let s = try await runTask(commandExecutor(directory: dir), parameters: ["command": ["cat"], "stdin": "from stdin $HOME"])
        #expect(s.output == ["stdout": "from stdin $HOME", "exitCode": 0])
    }

    @Test func nonZeroExitFails() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try await runTask(
            commandExecutor(directory: dir), parameters: ["command": ["sh", "-c", "echo one >&2; echo two >&2; exit 3"]])
        #expect(r.status == .failed)
        #expect(r.error == "stepgate.CommandFailed")
        #expect(r.cause == "exit status 3; last lines of stderr: one\ntwo")
        let missing = try await runTask(commandExecutor(directory: dir), parameters: ["command": ["no-such-program-xyz"]])
        #expect(missing.error == "stepgate.CommandFailed")
        #expect(missing.cause?.hasPrefix("command not found: no-such-program-xyz") == true)
        let bad = try await runTask(commandExecutor(directory: dir), parameters: ["command": "make lint"])
        #expect(bad.error == "stepgate.InvalidParameters")
    }

    /// Without a sandbox (`sandbox: none`): the process group (see SandboxTests for the sandbox).
    @Test func timeoutKillsTheWholeProcessGroup() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Twice: once racing the interpreter's own timeout (real clock), once with only the
        // executor's (virtual clock, where the interpreter never times out a task by itself).
        for clock: any ExecutionClock in [SystemClock(), VirtualClock()] {
            try? FileManager.default.removeItem(atPath: dir + "/pids")
            let started = Date()
            let r = try await runTask(
                commandExecutor(directory: dir, sandbox: .none),
                parameters: ["command": ["sh", "-c", "sleep 100 & echo $! >> pids; sleep 100 & echo $! >> pids; echo $$ >> pids; wait"]],
                timeout: 3, clock: clock)
            #expect(r.error == "States.Timeout")
            #expect(Date().timeIntervalSince(started) < 8)
            #expect(FileManager.default.fileExists(atPath: dir + "/pids"), "\(r.cause ?? "") \(Date().timeIntervalSince(started)) \((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])")
            let pids = try String(contentsOfFile: dir + "/pids", encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
            #expect(pids.count == 3)
            #expect(await waitUntilGone(pids), "survivors: \(pids.filter { !processIsGone($0) })")
        }
    }

    @Test func heartbeatTimeout() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let started = Date()
        let marker = "100.\(Int.random(in: 10000...99999))"
        for sandbox in [Sandbox.bubblewrap, .none] {
            let started = Date()
            let r = try await runTask(
                commandExecutor(directory: dir, sandbox: sandbox),
                parameters: ["command": ["sh", "-c", .string("sleep \(marker) & echo started; wait")]], timeout: 30, heartbeat: 3)
            #expect(r.error == "States.HeartbeatTimeout")
            #expect(Date().timeIntervalSince(started) < 10)
            #expect(processes(marked: "sleep \(marker)").isEmpty, "\(sandbox.mode)")
        }
    }

    @Test func outputIsCapped() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try await runTask(
            commandExecutor(directory: dir, outputLimit: 1000),
            parameters: ["command": ["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x; head -c 300000 /dev/zero >&2"]])
        #expect(r.status == .succeeded)
        #expect(r.output?["stdout"]?.stringValue?.count == 1000)
        #expect(r.output?["stdoutTruncated"] == true)
    }

    @Test func environmentIsBuiltFromScratch() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        setenv("STEPGATE_TEST_SERVER_ONLY", "server-value-should-not-leak", 1)
        let grants = RoleGrants(secrets: ["r": ["TOKEN": "tok-0123456789"]])
        let executor = commandExecutor(directory: dir, grants: grants)
        let plain = try await runTask(executor, parameters: ["command": ["env"], "env": ["MODE": "fast"]])
        let text = try #require(plain.output?["stdout"]?.stringValue)
        let names = Set(text.split(separator: "\n").map { String($0.prefix { $0 != "=" }) })
        #expect(names == ["PATH", "HOME", "LANG", "PWD", "MODE", "STEPGATE_EXECUTION_ID", "STEPGATE_STATE"], "\(text)")
        #expect(!text.contains("server-value"))
        #expect(text.contains("STEPGATE_STATE=T\n"))
        #expect(text.contains("STEPGATE_EXECUTION_ID=exec-1\n"))
        let home = try #require(text.split(separator: "\n").first { $0.hasPrefix("HOME=") }.map { String($0.dropFirst(5)) })
        #expect(home.contains("stepgate-task-"))
        #expect(!FileManager.default.fileExists(atPath: home), "the temporary home is removed")

        let check = ["command": ["sh", "-c", #"if [ "$TOKEN" = tok-0123456789 ]; then echo granted; else echo "${TOKEN:-unset}"; fi"#]] as JSON
        #expect(try await runTask(executor, parameters: check).output?["stdout"] == "unset\n")
        #expect(try await runTask(executor, parameters: check, credentials: ["RoleArn": "r"]).output?["stdout"] == "granted\n")
        let denied = try await runTask(executor, parameters: check, credentials: ["RoleArn": "other"])
        #expect(denied.error == "stepgate.RoleDenied")
        #expect(denied.cause == #"state "T" asks for role "other", which was not granted"#)
    }

    @Test func secretsAreRedactedInEveryEncoding() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let secret = "tok/en+S3cret value"
        let executor = commandExecutor(directory: dir, grants: RoleGrants(secrets: ["r": ["TOKEN": secret]]))
        let credentials: JSON = ["RoleArn": "r"]
        let script = """
            printf '{"raw": "%s", "b64": "%s", "prefixed": "%s", "url": "%s"}\\n' "$TOKEN" \
              "$(printf %s "$TOKEN" | base64)" "$(printf 'Bearer %s' "$TOKEN" | base64)" \
              "$(python3 -c 'import os, urllib.parse; print(urllib.parse.quote(os.environ["TOKEN"], safe=""))')"
            """
        let r = try await runTask(executor, parameters: ["command": ["sh", "-c", .string(script)]], credentials: credentials)
        #expect(r.status == .succeeded, "\(r.cause ?? "")")
        let out = try #require(r.output)
        #expect(out["raw"] == "***")
        #expect(out["b64"] == "***")
        #expect(out["url"] == "***")
        let prefixed = try #require(out["prefixed"]?.stringValue)
        #expect(prefixed.contains("***"), "\(prefixed)")
        #expect(!prefixed.contains(String(Data(secret.utf8).base64EncodedString().prefix(8))))
        // Plain stdout and the stderr tail in the cause.
        let plain = try await runTask(executor, parameters: ["command": ["sh", "-c", "echo \"token is $TOKEN\""]], credentials: credentials)
        #expect(plain.output?["stdout"] == "token is ***\n")
        let failed = try await runTask(
            executor, parameters: ["command": ["sh", "-c", "echo \"bad token $TOKEN\" >&2; exit 1"]], credentials: credentials)
        #expect(failed.cause == "exit status 1; last lines of stderr: bad token ***")
        #expect(!failed.history.contains { $0.json.serialized.contains("S3cret") })
    }

    @Test func freshCheckoutOfTheRevision() async throws {
        let root = try makeTemporaryDirectory("checkout")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let repo = root + "/demo"
        let env = ["PATH": "/usr/bin:/bin", "HOME": root, "GIT_CONFIG_NOSYSTEM": "1"]
        let git = { (args: [String]) throws -> String in
            let r = try runProgram("/usr/bin/git", ["-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=main"] + args,
                                   in: repo, environment: env)
            if r.status != 0 { throw TestFailure("git \(args): \(r.stderr)") }
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try FileManager.default.createDirectory(atPath: repo + "/sub", withIntermediateDirectories: true)
        _ = try git(["init", "-q"])
        try "committed\n".write(toFile: repo + "/hello.txt", atomically: true, encoding: .utf8)
        try "in sub\n".write(toFile: repo + "/sub/file.txt", atomically: true, encoding: .utf8)
        _ = try git(["add", "."])
        _ = try git(["commit", "-q", "-m", "one"])
        let commit = try git(["rev-parse", "HEAD"])
        // The work tree differs from the commit: the task must not see that.
        try "dirty\n".write(toFile: repo + "/hello.txt", atomically: true, encoding: .utf8)
        try "untracked\n".write(toFile: repo + "/untracked.txt", atomically: true, encoding: .utf8)

        let scratch = root + "/tmp"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        var configuration = StepgateTaskExecutor.Configuration(
            workspace: .checkout(repository: repo, commit: commit), context: TriggerContext(kind: .push, repository: "demo"))
        configuration.temporaryDirectory = scratch
        let executor = StepgateTaskExecutor(configuration: configuration).redacting()
        let r = try await runTask(executor, parameters: ["command": ["sh", "-c", "cat hello.txt; ls -a | tr '\\n' ' '; echo; pwd"]])
        let out = try #require(r.output?["stdout"]?.stringValue)
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.first == "committed")
        #expect(lines.dropFirst().first == ". .. hello.txt sub ")
        #expect(lines.last?.hasPrefix(scratch) == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch).isEmpty, "the checkout is removed")
        let sub = try await runTask(executor, parameters: ["command": ["cat", "file.txt"], "workingDirectory": "sub"])
        #expect(sub.output?["stdout"] == "in sub\n")
        let escape = try await runTask(executor, parameters: ["command": ["ls"], "workingDirectory": "../.."])
        #expect(escape.error == "stepgate.InvalidParameters")
    }

    @Test func findingsAreValidated() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let json = #"{"findings": [{"path": "a.c", "line": 3, "message": "bad", "severity": "error"}, {"path": "/etc/passwd", "line": 1, "message": "x", "severity": "error"}, {"path": "b.c", "line": 0, "message": "x", "severity": "info"}, {"path": "c.c", "line": 2, "endLine": 4, "message": "m", "severity": "warning"}]}"#
        let r = try await runTask(commandExecutor(directory: dir), parameters: ["command": ["printf", "%s", .string(json)]])
        let findings = try #require(r.output?["findings"]?.arrayValue)
        #expect(findings.map { $0["path"] } == ["a.c", "c.c"])
        #expect(r.output?["findingsDropped"] == [
            "findings[1]: path must be relative to the repository, without '..'", "findings[2]: line must be a positive integer",
        ])
    }

    @Test func unknownResourcesGoToTheInnerExecutor() async throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let inner = InMemoryTaskExecutor(["stepgate:comment": { _ in ["commented": true] }])
        #expect(try await runTask(commandExecutor(directory: dir, inner: inner), resource: "stepgate:comment", parameters: [:]).output == ["commented": true])
        let none = try await runTask(commandExecutor(directory: dir), resource: "stepgate:comment", parameters: [:])
        #expect(none.error == "States.TaskFailed")
        #expect(none.cause == "unknown resource 'stepgate:comment'")
    }
}
