import Foundation
import Hooks
import StatesLanguage
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(.timeLimit(.minutes(1)))
struct ServerTests {
    @Test func postReceiveStartsPushWorkflowsWithoutWaiting() throws {
        let world = try World()
        let config = """
            version: 1
            workflows:
              deploy:
                definition: workflows/deploy.asl.json
                on:
                  push: {refs: [refs/heads/release/*]}
                input: {environment: staging}

            """
        let deploy = """
            {"StartAt": "Wait", "States": {
              "Wait": {"Type": "Wait", "Seconds": 2, "Next": "Done"},
              "Done": {"Type": "Pass", "Parameters": {"env.$": "$.environment", "pusher.$": "$.pusher", "ref.$": "$.ref"}, "End": true}}}

            """
        try world.commit("release", [".stepgate/stepgate.yaml": config, ".stepgate/workflows/deploy.asl.json": deploy])
        // The configuration that starts push workflows is the trusted one, on the default branch.
        #expect(try world.push().status == 0)
        let started = Date()
        let out = try world.push(["origin", "HEAD:refs/heads/release/1"], environment: ["REMOTE_USER": "carol"])
        let elapsed = Date().timeIntervalSince(started)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(elapsed < 1.8, "the push waited \(elapsed) s")
        let line = try #require(out.stepgateLines.first { $0.hasPrefix("stepgate: started deploy for refs/heads/release/1 (execution ") })
        let id = String(line.dropFirst("stepgate: started deploy for refs/heads/release/1 (execution ".count).dropLast())
        let result = try #require(try world.finishedExecution(id), "execution \(id) did not finish")
        #expect(result["status"]?.stringValue == "SUCCEEDED", "\(result)")
        #expect(result["output"]?["env"]?.stringValue == "staging")
        #expect(result["output"]?["pusher"]?.stringValue == "carol")
        #expect(Date().timeIntervalSince(started) >= 2)
        // A push to a ref no workflow watches starts nothing.
        let plain = try world.push(["origin", "HEAD:refs/heads/other"])
        #expect(plain.status == 0)
        #expect(plain.stepgateLines.isEmpty)
    }

    /// post-receive runs the push workflow the branch held before the push, never the one pushed:
    /// a push that rewrites the workflow still runs the old one, and, since it changes `.stepgate/`,
    /// without the role's secret. The next ordinary push runs the new workflow with the secret.
    @Test func pushWorkflowsComeFromTheTrustedSideAndAStepgateEditRunsWithoutSecrets() throws {
        let world = try World(install: false)
        let config = """
            version: 1
            workflows:
              deploy:
                definition: workflows/deploy.asl.json
                on:
                  push: {refs: [refs/heads/main]}

            """
        func deploy(_ version: String) -> String {
            """
            {"StartAt": "Run", "States": {"Run": {"Type": "Task", "Resource": "stepgate:command",
              "Parameters": {"command": ["sh", "-c", "printf '{\\"version\\": \\"\(version)\\", \\"secret\\": \\"%s\\"}' \\"${DEPLOY_TOKEN:+present}\\""]},
              "Credentials": {"RoleArn": "deploy"}, "TimeoutSeconds": 20, "End": true}}}

            """
        }
        try world.commit("init", [".stepgate/stepgate.yaml": config, ".stepgate/workflows/deploy.asl.json": deploy("v1")])
        #expect(try world.push().status == 0)
        let secret = world.root + "/deploy-token"
        try world.writeFile(secret, "t0ken-value\n")
        let hooks = world.root + "/hooks.yaml"
        try world.writeFile(
            hooks, "roles:\n  deploy:\n    secrets: {DEPLOY_TOKEN: {file: \(secret)}}\n    allow: {repositories: [server], branches: [main]}\n")
        try world.install(["--config", hooks])

        func started(_ out: Output) throws -> String {
            let prefix = "stepgate: started deploy for refs/heads/main (execution "
            let line = try #require(out.stepgateLines.first { $0.hasPrefix(prefix) }, "\(out.stderr)")
            return String(line.dropFirst(prefix.count).dropLast())
        }
        // The push rewrites the workflow: the branch's previous workflow (v1) runs, without the secret.
        try world.commit("rewrite the workflow", [".stepgate/workflows/deploy.asl.json": deploy("v2")])
        let rewrite = try world.push()
        #expect(rewrite.status == 0, "\(rewrite.stderr)")
        let first = try #require(try world.finishedExecution(try started(rewrite)))
        #expect(first["status"]?.stringValue == "SUCCEEDED", "\(first)")
        #expect(first["output"]?["version"]?.stringValue == "v1", "\(first)")
        #expect(first["output"]?["secret"]?.stringValue == "", "\(first)")
        // An ordinary push now runs v2, trusted since it was accepted, with the secret.
        try world.commit("code", ["a.txt": "a\n"])
        let ordinary = try world.push()
        let second = try #require(try world.finishedExecution(try started(ordinary)))
        #expect(second["output"]?["version"]?.stringValue == "v2", "\(second)")
        #expect(second["output"]?["secret"]?.stringValue == "present", "\(second)")
        // Both are durable executions of the hooks' store, listed with the others.
        let list = try world.stepgate(["executions", "list", "--store", world.store, "--format", "json"])
        #expect((try JSONParser.parse(list.stdout).arrayValue?.count ?? 0) == 2, "\(list.stdout)")
    }

    /// A push workflow whose runner is killed mid-execution is finished by `stepgate executions
    /// resume` on the hooks' store: its finished task is not run again.
    @Test func aKilledPushWorkflowIsResumedFromTheStore() throws {
        let world = try World()
        let config = """
            version: 1
            workflows:
              deploy:
                definition: workflows/deploy.asl.json
                on:
                  push: {refs: [refs/heads/main]}

            """
        let deploy = #"""
            {"StartAt": "Stamp", "States": {
              "Stamp": {"Type": "Task", "Resource": "stepgate:command",
                "Parameters": {"command": ["sh", "-c", "printf '{\"stamp\": \"%s\"}' \"$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')\""]},
                "ResultPath": "$.first", "Next": "Slow"},
              "Slow": {"Type": "Task", "Resource": "stepgate:command",
                "Parameters": {"command": ["sh", "-c", "sleep ${STEPGATE_TEST_SLEEP:-3}; echo '{}'"]},
                "ResultPath": "$.slow", "End": true}}}

            """#
        try world.commit("init", [".stepgate/stepgate.yaml": config, ".stepgate/workflows/deploy.asl.json": deploy])
        let initial = try world.push()
        #expect(initial.status == 0, "\(initial.stderr)")  // the first push: nothing trusted yet
        try world.commit("code", ["a.txt": "a\n"])
        let out = try world.push()
        let prefix = "stepgate: started deploy for refs/heads/main (execution "
        let line = try #require(out.stepgateLines.first { $0.hasPrefix(prefix) }, "\(out.stderr)")
        let id = String(line.dropFirst(prefix.count).dropLast())
        // Wait until the first task has finished, then kill the detached runner.
        var stamp: String?
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, stamp == nil {
            let history = try world.execution(id)?["history"]?.arrayValue ?? []
            if let done = history.first(where: { $0["type"]?.stringValue == "TaskSucceeded" }),
                let output = done["taskSucceededEventDetails"]?["output"]?.stringValue
            {
                stamp = try JSONParser.parse(output)["stamp"]?.stringValue
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let first = try #require(stamp)
        let runner = try #require(Self.process(withArgument: id), "no runner process for \(id)")
        #expect(kill(runner, SIGKILL) == 0)
        Thread.sleep(forTimeInterval: 0.3)
        #expect(try world.execution(id)?["status"]?.stringValue == "RUNNING")
        let resumed = try world.stepgate(["executions", "resume", id, "--store", world.store, "--format", "json"])
        #expect(resumed.status == 0, "\(resumed.stdout) \(resumed.stderr)")
        let record = try #require(try world.execution(id))
        #expect(record["status"]?.stringValue == "SUCCEEDED", "\(record)")
        #expect(record["output"]?["first"]?["stamp"]?.stringValue == first, "the finished task ran again: \(record)")
    }

    /// The pid of a process whose command line holds `argument`.
    static func process(withArgument argument: String) -> pid_t? {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if words.contains(argument) && words.contains("run-push") { return pid }
        }
        return nil
    }

    @Test func existingHooksKeepRunningChained() throws {
        let world = try World(install: false)
        let seen = world.root + "/seen.txt"
        let hook = world.server + "/hooks/pre-receive"
        try world.writeFile(hook, "#!/bin/sh\ncat >> '\(seen)'\nexit 0\n", executable: true)
        let post = world.server + "/hooks/post-receive"
        try world.writeFile(post, "#!/bin/sh\ncat >> '\(seen).post'\n", executable: true)
        let first = try world.stepgate(["hooks", "install", world.server, "--binary", world.binary])
        #expect(first.status == 0)
        #expect(first.stdout.contains("pre-receive.stepgate-chained"))
        #expect(FileManager.default.fileExists(atPath: hook + ".stepgate-chained"))
        // The store is made at install, migrated, so that no push pays for creating it.
        #expect(first.stdout.contains("\(world.server)/stepgate/stepgate.db: store ready"), "\(first.stdout)")
        let migrated = try String(decoding: Data(contentsOf: URL(fileURLWithPath: world.server + "/stepgate/stepgate.db")), as: UTF8.self)
        #expect(migrated.contains("grdb_migrations") && migrated.contains("CREATE TABLE executions"))
        // Idempotent.
        let again = try world.stepgate(["hooks", "install", world.server, "--binary", world.binary])
        #expect(again.status == 0)
        #expect(again.stdout.contains("unchanged"))
        // A different binary needs --force; a foreign hook is never replaced.
        let other = try world.stepgate(["hooks", "install", world.server, "--binary", "/opt/stepgate"])
        #expect(other.status != 0)
        #expect(try world.stepgate(["hooks", "install", world.server, "--binary", world.binary, "--force"]).status == 0)

        let id = try world.commit("one", [".stepgate/workflows/deploy.asl.json": Defs.deploy])
        let out = try world.push()
        #expect(out.status == 0, "\(out.stderr)")
        let zero = String(repeating: "0", count: 40)
        #expect(try String(contentsOfFile: seen, encoding: .utf8) == "\(zero) \(id) refs/heads/main\n")
        #expect(try String(contentsOfFile: seen + ".post", encoding: .utf8) == "\(zero) \(id) refs/heads/main\n")
        // Our checks still run after the chained hook...
        try world.commit("broken", [".stepgate/workflows/deploy.asl.json": Defs.brokenNext])
        #expect(try world.push().status != 0)
        // ...and the chained hook can still reject on its own.
        try world.writeFile(hook + ".stepgate-chained", "#!/bin/sh\necho 'legacy hook says no' >&2\nexit 1\n", executable: true)
        try world.git(["reset", "-q", "--hard", "HEAD~1"])
        try world.commit("fine")
        let refused = try world.push()
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("legacy hook says no"))
    }

    @Test func missingBinaryFailsClosedInPreReceiveAndWarnsInPostReceive() throws {
        let world = try World(install: false)
        let out = try world.stepgate(["hooks", "install", world.server, "--binary", world.root + "/no/such/stepgate"])
        #expect(out.status == 0)
        try world.commit("one")
        let push = try world.push()
        #expect(push.status != 0)
        #expect(push.stepgateLines.count == 1)
        #expect(push.stepgateLines.first?.hasPrefix("stepgate: rejected: the stepgate binary is missing") == true)
        // post-receive alone only warns.
        try FileManager.default.removeItem(atPath: world.server + "/hooks/pre-receive")
        let accepted = try world.push()
        #expect(accepted.status == 0)
        #expect(accepted.stepgateLines.first?.hasPrefix("stepgate: warning: the stepgate binary is missing") == true, "\(accepted.stderr)")
    }

    @Test func pushesOverGitDaemon() throws {
        let world = try World()
        try world.commit("init", [".stepgate/stepgate.yaml": Defs.config, ".stepgate/workflows/policy.asl.json": Defs.policy])
        #expect(try world.push().status == 0)
        let port = try freePort()
        let daemon = Process()
        // git-daemon itself (not the `git daemon` wrapper), so that killing it leaves nothing behind.
        let execPath = try world.git(["--exec-path"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        daemon.executableURL = URL(fileURLWithPath: execPath + "/git-daemon")
        daemon.arguments = [
            "--export-all", "--enable=receive-pack", "--base-path=\(world.root)", "--listen=127.0.0.1",
            "--port=\(port)", "--reuseaddr", world.root,
        ]
        daemon.environment = world.environment
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        defer {
            // SIGKILL: the test runner's blocked signal mask is inherited, so SIGTERM may not land.
            kill(daemon.processIdentifier, SIGKILL)
            daemon.waitUntilExit()
        }
        let url = "git://127.0.0.1:\(port)/server.git"
        // Wait for the daemon to listen.
        var ready = false
        for _ in 0..<100 {
            if try world.git(["ls-remote", url], allowFailure: true).status == 0 {
                ready = true
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(ready)
        let good = try world.commit("good", ["g.txt": "g\n"])
        let accepted = try world.push([url, "main"])
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(try world.serverRef("refs/heads/main") == good)
        try world.commit("WIP over the daemon", ["w.txt": "w\n"])
        let rejected = try world.push([url, "main"])
        #expect(rejected.status != 0)
        #expect(rejected.stepgateLines == ["stepgate: rejected refs/heads/main: gate commit-policy failed: Policy.NoWIP: a commit says WIP"])
        #expect(try world.serverRef("refs/heads/main") == good)
    }

    func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw FixtureError(description: "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

@Suite struct ValidateRepoTests {
    @Test func validatesARepositoryThroughLibgit2() throws {
        let world = try World(install: false)
        try world.commit("good", [".stepgate/stepgate.yaml": Defs.config, ".stepgate/workflows/policy.asl.json": Defs.policy])
        let good = try world.stepgate(["validate", "--repo", world.client])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        try world.commit("bad", [
            ".stepgate/workflows/deploy.asl.json": Defs.brokenNext, ".stepgate/stepgate.yaml": Defs.gate("gone.asl.yaml"),
        ])
        let bad = try world.stepgate(["validate", "--repo", world.client])
        #expect(bad.status == 1)
        let lines = bad.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix(".stepgate/workflows/deploy.asl.json:4:35: error: state \"A\": Next names \"Nowhere\"") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix(".stepgate/stepgate.yaml:4:") && $0.contains("gone.asl.yaml does not exist") }, "\(lines)")
        // The earlier revision, read without a checkout, is still valid.
        #expect(try world.stepgate(["validate", "--repo", world.client, "--rev", "HEAD~1"]).status == 0)
        let json = try world.stepgate(["validate", "--repo", world.client, "--format", "json"])
        #expect(json.status == 1)
        let value = try JSONParser.parse(json.stdout)
        #expect(value["valid"] == .bool(false))
        #expect(value["files"]?.arrayValue?.count == 3)
        // Bad repository or revision: exit 2.
        #expect(try world.stepgate(["validate", "--repo", world.root + "/nothing"]).status == 2)
        #expect(try world.stepgate(["validate", "--repo", world.client, "--rev", "nope"]).status == 2)
    }

    @Test func validatesConfigFilesFromDisk() throws {
        let world = try World(install: false)
        try world.write(".stepgate/stepgate.yaml", Defs.config)
        try world.write(".stepgate/workflows/policy.asl.json", Defs.policy)
        let ok = try world.stepgate(["validate", world.client + "/.stepgate/stepgate.yaml", world.client + "/.stepgate/workflows/policy.asl.json"])
        #expect(ok.status == 0, "\(ok.stdout)")
        try world.write(".stepgate/stepgate.yaml", Defs.config + "  bogus: 1\n")
        let bad = try world.stepgate(["validate", world.client + "/.stepgate/stepgate.yaml"])
        #expect(bad.status == 1)
        #expect(bad.stdout.contains(".stepgate/stepgate.yaml:7:10: error: "), "\(bad.stdout)")
    }
}

@Suite struct UnitTests {
    @Test func parsesHookInput() throws {
        let a = String(repeating: "a", count: 40), b = String(repeating: "b", count: 40), z = String(repeating: "0", count: 40)
        let updates = try RefUpdate.parse(hookInput: "\(a) \(b) refs/heads/main\n\(z) \(b) refs/heads/new\n\(a) \(z) refs/tags/v1\n")
        #expect(updates.count == 3)
        #expect(updates[1].isCreation && updates[2].isDeletion)
        #expect(throws: RefUpdate.ParseError.self) { try RefUpdate.parse(hookInput: "garbage\n") }
        #expect(try RefUpdate.parse(updateArguments: ["refs/heads/x", a, b]).ref == "refs/heads/x")
    }

    @Test func parsesHookSettings() throws {
        let s = try HookSettings.parse(
            "store: sqlite:///x\nhooks:\n  timeout: 1500ms\n  on-error: fail-open\n  pusher-variables: [REMOTE_USER]\nroles:\n  r: {}\n", file: "h.yaml")
        #expect(s.timeout == .milliseconds(1500))
        #expect(s.onError == .failOpen)
        #expect(s.pusher(environment: ["REMOTE_USER": "dana", "USER": "git"]) == "dana")
        #expect(HookSettings().pusher(environment: ["USER": "git", "GL_USERNAME": "erin"]) == "erin")
        #expect(HookSettings().pusher(environment: [:]) == nil)
        #expect(throws: HookSettings.LoadError.self) { try HookSettings.parse("hooks:\n  timeout: soon\n", file: "h.yaml") }
    }

    @Test func shippedShimsMatchTheInstaller() throws {
        for name in HookInstaller.allHooks {
            let shipped = try String(contentsOfFile: "\(packageRoot)/hooks/\(name)", encoding: .utf8)
            #expect(shipped == HookInstaller.shim(name, binary: nil), "hooks/\(name) is out of date: run stepgate hooks shim \(name)")
        }
    }
}
