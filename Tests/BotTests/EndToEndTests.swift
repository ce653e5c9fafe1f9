import Foundation
import NIOHTTP1
import ReviewFakes
import StoreTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real `stepgate` binary against the Gerrit fake (HTTP on 127.0.0.1), a real served git repository (file://)
/// and a real SQLite store (or PostgreSQL, where a test says so).
@Suite(.serialized) struct EndToEndTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static var binary: String { packageRoot.appendingPathComponent(".build/debug/stepgate").path }

    /// A served repository `served/demo` with a trusted configuration on `main`, a change pushed to
    /// `refs/changes/01/1/1`, and a bot.yaml pointing at the fake.
    struct World {
        let dir: URL
        let fake: FakeServer
        /// The bot's store: an SQLite file in the world, or a schema of the test PostgreSQL server.
        let storeURL: String
        var config: String { dir.appendingPathComponent("bot.yaml").path }
        var served: String { dir.appendingPathComponent("served/demo").path }
        var work: String { dir.appendingPathComponent("work").path }

        static func make(
            command: String = #"printf '{"findings":[{"path":"src/a.txt","line":2,"message":"no tabs","severity":"warning"}]}'"#,
            roles: String = "", credentials: String = "", gerritExtra: String = "", requestTimeout: Int = 3,
            triggerValue: Int = 2, store: StoreKind = .sqlite
        ) async throws -> World {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-bot-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            var storeURL = "sqlite://\(dir.path)/stepgate.db"
            if store == .postgres {
                let made = try await TestStores.make(.postgres, name: "world")
                made.remove()  // only its schema is used
                storeURL = made.url
            }
            let fake = try FakeServer("gerrit_fake.py")
            let world = World(dir: dir, fake: fake, storeURL: storeURL)
            try world.git(["init", "-q", "-b", "main", world.work])
            let definition = """
                {"StartAt": "Lint", "States": {"Lint": {"Type": "Task", "Resource": "stepgate:command",
                  "Parameters": {"command": ["sh", "-c", \(jsonString(command))]}\(credentials), "End": true}}}
                """
            try world.write(".stepgate/workflows/check.asl.json", definition)
            try world.write(
                ".stepgate/stepgate.yaml",
                """
                version: 1
                workflows:
                  check:
                    definition: workflows/check.asl.json
                    on:
                      gerrit: {labels: {Code-Review: \(triggerValue)}, branches: [main]}
                    report: {vote: Verified}
                """)
            try world.write("src/a.txt", "one\n")
            try world.commit("trusted configuration")
            try world.git(["init", "-q", "--bare", world.served])
            try world.git(["-C", world.work, "push", "-q", world.served, "main:refs/heads/main"])
            try world.git(["-C", world.work, "checkout", "-q", "-b", "change"])
            try world.write("src/a.txt", "one\n\ttwo\n")
            try world.write("src/b.txt", "b\n")
            try world.commit("the change")
            try world.git(["-C", world.work, "push", "-q", world.served, "HEAD:refs/changes/01/1/1"])

            // The fake serves this repository: each patch set's revision is the commit pushed to its ref.
            try await fake.control(.POST, "projects", ["name": "demo", "git": world.served])
            try await fake.control(.POST, "accounts", ["username": "stepbot", "http_password": "secret"])
            try await fake.control(.POST, "accounts", ["username": "alice"])
            try await fake.control(
                .POST, "changes", ["project": "demo", "subject": "the change", "owner": "alice", "files": ["src/a.txt", "src/b.txt"]])
            let password = try fake.secretFile("password", "secret")
            try """
                store: \(storeURL)
                gerrit:
                  - name: review
                    url: \(fake.baseURL)
                    git-url: file://\(dir.path)/served
                    username: stepbot
                    password-file: \(password)
                    projects: [demo]
                    poll-interval: 1s
                    request-timeout: \(requestTimeout)s
                \(gerritExtra)
                repositories:
                  demo: {path: \(dir.path)/mirror.git, gerrit-project: demo}
                \(roles)
                """.write(toFile: world.config, atomically: true, encoding: .utf8)
            return world
        }

        /// A world whose task runs under role `deploy` with the secret `DEPLOY_TOKEN` (`s3cret-token`), and fails
        /// (exit 7, "saw the secret") when it can see it.
        static func withDeploySecret() async throws -> World {
            let world = try await make(
                command: #"if [ -n "$DEPLOY_TOKEN" ]; then echo "saw the secret" >&2; exit 7; fi"#,
                roles: "roles:\n  deploy:\n    secrets: {DEPLOY_TOKEN: {file: SECRET}}\n    allow: {repositories: [demo]}",
                credentials: #", "Credentials": {"RoleArn": "deploy"}"#)
            let secret = world.dir.appendingPathComponent("deploy-secret").path
            try Data("s3cret-token\n".utf8).write(to: URL(fileURLWithPath: secret))
            let config = try String(contentsOfFile: world.config, encoding: .utf8).replacingOccurrences(of: "file: SECRET", with: "file: \(secret)")
            try config.write(toFile: world.config, atomically: true, encoding: .utf8)
            return world
        }

        static func jsonString(_ s: String) -> String {
            String(decoding: try! JSONSerialization.data(withJSONObject: [s]), as: UTF8.self).dropFirst().dropLast().description
        }

        func write(_ path: String, _ text: String) throws {
            let url = URL(fileURLWithPath: work).appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }

        /// Commits `files` (path → text) on `main` and pushes it: the trusted side the bot reads workflows from.
        func trust(_ files: [String: String], _ message: String) throws {
            try git(["-C", work, "checkout", "-q", "main"])
            for (path, text) in files { try write(path, text) }
            try commit(message)
            try git(["-C", work, "push", "-q", served, "main:refs/heads/main"])
        }

        func commit(_ message: String) throws {
            try git(["-C", work, "add", "-A"])
            try git(["-C", work, "-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-q", "-m", message])
        }

        func git(_ arguments: [String]) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
            p.arguments = arguments
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw FakeError(message: "git \(arguments) failed") }
        }

        /// Runs `stepgate bot --config bot.yaml --once`; returns the exit status and stderr.
        func runOnce(timeout: Double = 30) throws -> (Int32, String) {
            let (status, _, stderr) = try stepgate(["bot", "--config", config, "--once", "--log-level", "debug"], timeout: timeout)
            return (status, stderr)
        }

        /// Starts the real binary (`stepgate ARGUMENTS`); its stdout and stderr go to files in the world.
        func launch(_ arguments: [String]) throws -> (process: Process, stdout: URL, stderr: URL) {
            guard FileManager.default.isExecutableFile(atPath: EndToEndTests.binary) else {
                throw FakeError(message: "missing \(EndToEndTests.binary): run swift build first")
            }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: EndToEndTests.binary)
            p.arguments = arguments
            let out = dir.appendingPathComponent("stdout-\(UUID().uuidString).log")
            let err = dir.appendingPathComponent("stderr-\(UUID().uuidString).log")
            FileManager.default.createFile(atPath: out.path, contents: nil)
            FileManager.default.createFile(atPath: err.path, contents: nil)
            p.standardOutput = try FileHandle(forWritingTo: out)
            p.standardError = try FileHandle(forWritingTo: err)
            try p.run()
            return (p, out, err)
        }

        /// Runs `stepgate ARGUMENTS` to its end (SIGKILLed after `timeout` seconds); returns the exit status,
        /// stdout and stderr.
        func stepgate(_ arguments: [String], timeout: Double = 60) throws -> (Int32, String, String) {
            let (p, out, err) = try launch(arguments)
            let deadline = Date().addingTimeInterval(timeout)
            while p.isRunning && Date() < deadline { usleep(20_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
            return (
                p.terminationStatus, (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                (try? String(contentsOf: err, encoding: .utf8)) ?? ""
            )
        }

        func reviews() async throws -> [[String: Any]] {
            try await fake.control(.GET, "reviews?change=1") as? [[String: Any]] ?? []
        }

        func stop() {
            fake.stop()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    @Test func voteRunsWorkflowAndReportsOnceWithInlineFinding() async throws {
        let world = try await World.make()
        defer { world.stop() }
        // Nothing voted yet: nothing runs.
        var (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await world.reviews().isEmpty)

        try await world.fake.control(.POST, "changes/1/votes", ["account": "alice", "label": "Code-Review", "value": 2])
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        let reviews = try await world.reviews()
        #expect(reviews.count == 1, "\(log)")
        let review = try #require(reviews.first)
        #expect(review["patch_set"] as? Int == 1)
        #expect(review["account"] as? String == "stepbot")
        let input = try #require(review["input"] as? [String: Any])
        #expect(input["tag"] as? String == "autogenerated:stepgate")
        #expect((input["labels"] as? [String: Any])?["Verified"] as? Int == 1)
        #expect((input["message"] as? String)?.contains("workflow check succeeded") == true)
        let comments = try #require((input["comments"] as? [String: Any])?["src/a.txt"] as? [[String: Any]])
        #expect(comments.count == 1)
        #expect(comments.first?["line"] as? Int == 2)
        #expect((comments.first?["message"] as? String)?.contains("no tabs") == true)

        // The bot's own review bumped `updated`; polling again posts nothing new.
        (status, log) = try world.runOnce()
        #expect(status == 0)
        #expect(try await world.reviews().count == 1, "\(log)")
    }

    @Test func faultsDuringPollingAndPostingStillReportExactlyOnce() async throws {
        let world = try await World.make()
        defer { world.stop() }
        try await world.fake.control(.POST, "changes/1/votes", ["account": "alice", "label": "Code-Review", "value": 2])
        try await world.fake.fault(["kind": "status", "status": 503, "path": "/changes/\\?", "count": 1])
        try await world.fake.fault(["kind": "status", "status": 429, "retry_after": "0", "path": "/changes/\\?", "count": 1])
        try await world.fake.fault(["kind": "truncate", "path": "/changes/\\?", "count": 1])
        try await world.fake.fault(["kind": "status", "status": 500, "path": "/review", "count": 1])
        try await world.fake.fault(["kind": "hang", "seconds": 1, "path": "/changes/demo~1\\?", "count": 1])
        let (status, log) = try world.runOnce(timeout: 60)
        #expect(status == 0, "\(log)")
        #expect(try await world.reviews().count == 1, "\(log)")
        _ = try world.runOnce()
        #expect(try await world.reviews().count == 1)
    }

    @Test func unreachableServerExitsOne() async throws {
        let world = try await World.make()
        defer { world.stop() }
        try await world.fake.fault(["kind": "status", "status": 500, "path": "/accounts/self", "count": 50])
        let (status, _) = try world.runOnce(timeout: 60)
        #expect(status == 1)
    }

    @Test func killedMidExecutionResumesAndReportsOnce() async throws {
        // The task sleeps long enough to be killed while it runs.
        let world = try await World.make(command: #"sleep 3; printf '{"ok":true}'"#)
        defer { world.stop() }
        try await world.fake.control(.POST, "changes/1/votes", ["account": "alice", "label": "Code-Review", "value": 2])
        var (status, log) = try world.runOnce(timeout: 1.5)  // SIGKILLed after 1.5 s, mid-task
        #expect(status != 0)
        #expect(try await world.reviews().isEmpty, "\(log)")
        (status, log) = try world.runOnce(timeout: 30)
        #expect(status == 0, "\(log)")
        #expect(try await world.reviews().count == 1, "\(log)")
        _ = try world.runOnce()
        #expect(try await world.reviews().count == 1)
    }

    @Test func roleDenialIsReportedWithoutRunningTasks() async throws {
        let world = try await World.make(
            command: "touch \(FileManager.default.temporaryDirectory.path)/stepgate-should-not-run-$$",
            roles: "roles:\n  deploy: {allow: {repositories: [other]}}",
            credentials: #", "Credentials": {"RoleArn": "deploy"}"#)
        defer { world.stop() }
        try await world.fake.control(.POST, "changes/1/votes", ["account": "alice", "label": "Code-Review", "value": 2])
        let (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        let reviews = try await world.reviews()
        #expect(reviews.count == 1, "\(log)")
        let input = reviews.first?["input"] as? [String: Any]
        #expect((input?["message"] as? String)?.contains("stepgate.RoleDenied") == true, "\(String(describing: input))")
        #expect((input?["labels"] as? [String: Any])?["Verified"] as? Int == -1)
    }

    /// The trust model: the same workflow and role, but a change that edits `.stepgate/` runs without
    /// the role's secrets (the command fails when it can see the secret).
    @Test func aChangeThatEditsStepgateRunsWithoutSecrets() async throws {
        let world = try await World.withDeploySecret()
        defer { world.stop() }
        // Change 2 edits a workflow file (a valid one) besides the code.
        try world.write(".stepgate/workflows/extra.asl.json", "{\"StartAt\": \"A\", \"States\": {\"A\": {\"Type\": \"Succeed\"}}}\n")
        try world.commit("edit workflows")
        try world.git(["-C", world.work, "push", "-q", world.served, "HEAD:refs/changes/02/2/1"])
        try await world.fake.control(
            .POST, "changes", ["project": "demo", "subject": "edit", "owner": "alice", "files": [".stepgate/workflows/extra.asl.json"]])
        for change in [1, 2] {
            try await world.fake.control(.POST, "changes/\(change)/votes", ["account": "alice", "label": "Code-Review", "value": 2])
        }
        let (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        func verified(_ change: Int) async throws -> [Int] {
            let reviews = try await world.fake.control(.GET, "reviews?change=\(change)") as? [[String: Any]] ?? []
            return reviews.compactMap { (($0["input"] as? [String: Any])?["labels"] as? [String: Any])?["Verified"] as? Int }
        }
        #expect(try await verified(1) == [-1], "the ordinary change's task saw the secret and failed: \(log)")
        #expect(try await verified(2) == [1], "the change editing .stepgate/ ran without the secret: \(log)")
        #expect(!log.contains("s3cret-token"))
    }

    /// Whether a change edits `.stepgate/` is decided from the Git trees, never from the file list the
    /// review server reports: a relation chain carrying a parent change's edit, a merge bringing one in,
    /// a rename out of `.stepgate/` and a case variant (`.STEPGATE/`, one directory on a
    /// case-insensitive checkout) all run without the role's secret, though none lists a
    /// `.stepgate/` file. An ordinary change sees the secret (its task then fails on purpose).
    @Test func editsHiddenFromTheFileListStillRunWithoutSecrets() async throws {
        let world = try await World.withDeploySecret()
        defer { world.stop() }
        let valid = "{\"StartAt\": \"A\", \"States\": {\"A\": {\"Type\": \"Succeed\"}}}\n"
        func upload(_ change: Int, files: [String]) async throws {
            try world.git(["-C", world.work, "push", "-q", world.served, "HEAD:refs/changes/\(String(format: "%02d", change % 100))/\(change)/1"])
            try await world.fake.control(.POST, "changes", ["project": "demo", "subject": "change \(change)", "owner": "alice", "files": files])
        }
        // Change 2 edits a workflow (not voted); change 3 sits on it and touches code only.
        try world.git(["-C", world.work, "checkout", "-q", "-b", "chain", "main"])
        try world.write(".stepgate/workflows/extra.asl.json", valid)
        try world.commit("A: edit the workflows")
        try await upload(2, files: [".stepgate/workflows/extra.asl.json"])
        try world.write("src/c.txt", "c\n")
        try world.commit("B: code on top of A")
        try await upload(3, files: ["src/c.txt"])
        // Change 4 is a merge bringing in a side branch's edit.
        try world.git(["-C", world.work, "checkout", "-q", "-b", "side", "main"])
        try world.write(".stepgate/workflows/side.asl.json", valid)
        try world.commit("side edits the workflows")
        try world.git(["-C", world.work, "checkout", "-q", "-b", "merging", "main"])
        try world.write("src/m.txt", "m\n")
        try world.commit("code")
        try world.git(["-C", world.work, "-c", "user.name=T", "-c", "user.email=t@example.org", "merge", "-q", "--no-ff", "-m", "merge", "side"])
        try await upload(4, files: ["src/m.txt"])
        // Change 5 moves the workflow out of .stepgate/.
        try world.git(["-C", world.work, "checkout", "-q", "-b", "rename", "main"])
        try world.git(["-C", world.work, "mv", ".stepgate/workflows/check.asl.json", "src/check.asl.json"])
        try world.commit("move the workflow out")
        try await upload(5, files: ["src/check.asl.json"])
        // Change 6 adds .STEPGATE/, the same directory on a case-insensitive checkout.
        try world.git(["-C", world.work, "checkout", "-q", "-b", "variant", "main"])
        try world.write(".STEPGATE/workflows/check.asl.json", valid)
        try world.commit("case variant")
        try await upload(6, files: [".STEPGATE/workflows/check.asl.json"])
        for change in [1, 3, 4, 5, 6] {
            try await world.fake.control(.POST, "changes/\(change)/votes", ["account": "alice", "label": "Code-Review", "value": 2])
        }
        let (status, log) = try world.runOnce(timeout: 60)
        #expect(status == 0, "\(log)")
        func review(_ change: Int) async throws -> [String: Any]? {
            let reviews = try await world.fake.control(.GET, "reviews?change=\(change)") as? [[String: Any]] ?? []
            return reviews.compactMap { $0["input"] as? [String: Any] }.first { ($0["labels"] as? [String: Any])?["Verified"] != nil }
        }
        #expect((try await review(1)?["labels"] as? [String: Any])?["Verified"] as? Int == -1, "the ordinary change saw the secret: \(log)")
        for change in [3, 4, 5, 6] {
            let input = try await review(change)
            #expect((input?["labels"] as? [String: Any])?["Verified"] as? Int == 1, "change \(change) ran with the secret: \(log)")
            #expect((input?["message"] as? String)?.contains("without the roles' secrets") == true, "change \(change): \(String(describing: input))")
        }
        #expect(!log.contains("s3cret-token"))
    }

    /// Approvals by account identity: a step needing two distinct approvers is not decided by the
    /// change's owner, nor by an account without a username whose display name is an approver's;
    /// it is decided once two allowed people voted, each counted once.
    @Test func approvalsAreDecidedByDistinctAccountsNeverTheOwnerOrADisplayName() async throws {
        let world = try await World.make()
        defer { world.stop() }
        try world.git(["-C", world.work, "checkout", "-q", "main"])
        try world.write(
            ".stepgate/workflows/check.asl.json",
            """
            {"StartAt": "Approve", "States": {"Approve": {"Type": "Task", "Resource": "stepgate:approval",
              "Parameters": {"message": "deploy?", "approvers": {"count": 2, "from": ["bob", "carol", "alice"]}},
              "TimeoutSeconds": 600, "End": true}}}
            """)
        try world.commit("the workflow asks two approvers")
        try world.git(["-C", world.work, "push", "-q", world.served, "main:refs/heads/main"])
        try await world.fake.control(.POST, "accounts", ["username": "bob"])
        try await world.fake.control(.POST, "accounts", ["username": "carol"])
        try await world.fake.control(.POST, "accounts", ["name": "carol", "email": "mallory@example.org"])
        func vote(_ account: String) async throws {
            try await world.fake.control(.POST, "changes/1/votes", ["account": account, "label": "Code-Review", "value": 2])
        }
        func verdicts() async throws -> [Int] {
            try await world.reviews().compactMap { (($0["input"] as? [String: Any])?["labels"] as? [String: Any])?["Verified"] as? Int }
        }
        // bob's vote starts the workflow and is its first approval.
        try await vote("bob")
        var (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await verdicts().isEmpty, "decided by one approver: \(log)")
        // The owner (alice) and an account whose display name says "carol" do not count.
        try await vote("alice")
        try await vote("mallory@example.org")
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await verdicts().isEmpty, "decided by the owner or a display name: \(log)")
        // carol's own account is the second approver.
        try await vote("carol")
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await verdicts() == [1], "\(log)")
        let store = try await world.fake.control(.GET, "reviews?change=1") as? [[String: Any]] ?? []
        let message = (store.last?["input"] as? [String: Any])?["message"] as? String ?? ""
        #expect(message.contains("succeeded"), "\(message)")
    }

    /// A review's task, run for real by the bot, cannot read another role's secret, the bot's
    /// password file, its store, its configuration or its identity key; it sees none of the bot's
    /// processes; its own role's secret, printed in every encoding and past the output cap, reaches
    /// no comment, no log and no store file.
    @Test func aReviewTaskSeesNothingOfTheBotAndLeaksNoSecret() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-bot-sandbox-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let secret = dir.appendingPathComponent("deploy-secret").path
        let other = dir.appendingPathComponent("other-secret").path
        try "s3cr3t-value-4711\n".write(toFile: secret, atomically: true, encoding: .utf8)
        try "other-role-secret-0815\n".write(toFile: other, atomically: true, encoding: .utf8)
        let keys = dir.appendingPathComponent("keys").path
        let rotate = Process()
        rotate.executableURL = URL(fileURLWithPath: EndToEndTests.binary)
        rotate.arguments = ["identity", "rotate", "--keys", keys]
        try rotate.run()
        rotate.waitUntilExit()
        let key = try #require(try FileManager.default.contentsOfDirectory(atPath: keys).first.map { keys + "/" + $0 })
        // The world's paths are known once it exists; the probe names them literally.
        var probeTargets: [String] = [other, key]
        let script = { (targets: [String]) -> String in
            let files = targets.map { "'\($0)'" }.joined(separator: " ")
            return """
                for f in \(files); do if cat "$f" >/dev/null 2>&1; then echo "seen:$f" >&2; else echo "denied:$f" >&2; fi; done
                echo "processes:$(ls /proc | grep -c '^[0-9]')" >&2
                for p in stepgate git; do pgrep -x "$p" >/dev/null 2>&1 && echo "saw-the-bot" >&2; done
                S="$DEPLOY_TOKEN"; echo "raw:$S" >&2
                printf '%s' "$S" | base64 >&2
                printf '%s' "$S" | od -An -tx1 | tr -d ' \\n' >&2; echo >&2
                printf '%s' "$S" | od -An -tx1 | tr -d '\\n' | sed 's/ /%/g' >&2; echo >&2
                printf '%s\\n%s\\n' "${S%????????}" "${S#${S%????????}}" >&2
                head -c 1048570 /dev/zero | tr '\\0' x; printf '%s' "$S"
                exit 3
                """
        }
        let roles = """
            roles:
              deploy:
                secrets: {DEPLOY_TOKEN: {file: \(secret)}}
                allow: {repositories: [demo]}
              other:
                secrets: {OTHER_TOKEN: {file: \(other)}}
                allow: {repositories: [demo]}
            identity: {keys: \(keys), issuer: "https://stepgate.example", audience: ci}
            """
        // First make the world to learn its paths, then write the probing workflow into it.
        var world = try await World.make(command: "true", roles: roles, credentials: #", "Credentials": {"RoleArn": "deploy"}"#)
        defer { world.stop() }
        probeTargets += [world.config, world.dir.appendingPathComponent("stepgate.db").path, world.fake.directory.appendingPathComponent("password").path]
        try world.git(["-C", world.work, "checkout", "-q", "main"])
        try world.write(
            ".stepgate/workflows/check.asl.json",
            """
            {"StartAt": "Lint", "States": {"Lint": {"Type": "Task", "Resource": "stepgate:command",
              "Parameters": {"command": ["sh", "-c", \(World.jsonString(script(probeTargets)))]},
              "Credentials": {"RoleArn": "deploy"}, "TimeoutSeconds": 60, "End": true}}}
            """)
        try world.commit("the probing workflow")
        try world.git(["-C", world.work, "push", "-q", world.served, "main:refs/heads/main"])
        _ = world
        try await world.fake.control(.POST, "changes/1/votes", ["account": "alice", "label": "Code-Review", "value": 2])
        let (status, log) = try world.runOnce(timeout: 60)
        #expect(status == 0, "\(log)")
        let reviews = try await world.reviews()
        let message = reviews.compactMap { ($0["input"] as? [String: Any])?["message"] as? String }.joined(separator: "\n")
        for path in probeTargets {
            #expect(message.contains("denied:\(path)"), "the task read \(path): \(message)")
        }
        #expect(!message.contains("saw-the-bot"), "\(message)")
        let forms = ["s3cr3t-value-4711", Data("s3cr3t-value-4711".utf8).base64EncodedString(),
                     Array("s3cr3t-value-4711".utf8).map { String(format: "%02x", $0) }.joined(),
                     Array("s3cr3t-value-4711".utf8).map { String(format: "%%%02x", $0) }.joined(), "s3cr3t-va\nlue-4711"]
        let store = try Data(contentsOf: world.dir.appendingPathComponent("stepgate.db"))
        let wal = (try? Data(contentsOf: world.dir.appendingPathComponent("stepgate.db-wal"))) ?? Data()
        for form in forms {
            #expect(!message.contains(form), "a comment holds \(form)")
            #expect(!log.contains(form), "the log holds \(form)")
            #expect(store.range(of: Data(form.utf8)) == nil && wal.range(of: Data(form.utf8)) == nil, "the store holds \(form)")
        }
        #expect(message.contains("raw:***"), "\(message)")
    }

    /// A review task that ignores SIGTERM and leaves a setsid child behind is gone, tree and all,
    /// at its TimeoutSeconds; the review hears of the timeout.
    @Test func aReviewTaskOutstayingItsTimeoutIsKilledWithItsWholeTree() async throws {
        let world = try await World.make(command: "setsid sleep 619 & trap '' TERM; sleep 620")
        defer { world.stop() }
        try world.git(["-C", world.work, "checkout", "-q", "main"])
        try world.write(
            ".stepgate/workflows/check.asl.json",
            """
            {"StartAt": "Lint", "States": {"Lint": {"Type": "Task", "Resource": "stepgate:command",
              "Parameters": {"command": ["sh", "-c", "setsid sleep 619 & trap '' TERM; sleep 620"]}, "TimeoutSeconds": 2, "End": true}}}
            """)
        try world.commit("a task that outstays its timeout")
        try world.git(["-C", world.work, "push", "-q", world.served, "main:refs/heads/main"])
        try await world.fake.control(.POST, "changes/1/votes", ["account": "alice", "label": "Code-Review", "value": 2])
        let started = Date()
        let (status, log) = try world.runOnce(timeout: 30)
        #expect(status == 0, "\(log)")
        #expect(Date().timeIntervalSince(started) < 15)
        let message = try await world.reviews().compactMap { ($0["input"] as? [String: Any])?["message"] as? String }.joined()
        #expect(message.contains("States.Timeout"), "\(message)")
        usleep(300_000)
        for marker in ["sleep 619", "sleep 620"] {
            let alive = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.contains { entry in
                guard Int(entry) != nil, let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return false }
                return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ").contains(marker)
            } ?? false
            #expect(!alive, "\(marker) outlived the task")
        }
    }

    @Test func newPatchSetCancelsTheOldExecutionWithAMessage() async throws {
        let world = try await World.make(command: #"sleep 6"#)
        defer { world.stop() }
        try await world.fake.control(.POST, "changes/1/votes", ["account": "alice", "label": "Code-Review", "value": 2])
        _ = try world.runOnce(timeout: 1.5)  // started, then killed while running
        try world.write("src/b.txt", "b2\n")
        try world.commit("the change, second version")
        try world.git(["-C", world.work, "push", "-q", world.served, "HEAD:refs/changes/01/1/2"])
        try await world.fake.control(.POST, "changes/1/patchsets", ["files": ["src/a.txt", "src/b.txt"]])
        _ = try world.runOnce(timeout: 8)  // cancels the old one; no vote on patch set 2, nothing new starts
        let reviews = try await world.reviews()
        let notices = reviews.filter { ($0["input"] as? [String: Any])?["message"].map { "\($0)" }?.contains("cancelled") == true }
        #expect(notices.count == 1, "\(reviews)")
        #expect(notices.first?["patch_set"] as? Int == 1)
    }

    @Test func stepgateEditGetsValidationComments() async throws {
        let world = try await World.make()
        defer { world.stop() }
        try world.write(".stepgate/workflows/bad.asl.json", "{\"StartAt\": \"Nope\", \"States\": {}}\n")
        try world.commit("edit workflows")
        try world.git(["-C", world.work, "push", "-q", world.served, "HEAD:refs/changes/02/2/1"])
        try await world.fake.control(
            .POST, "changes", ["project": "demo", "subject": "edit", "owner": "alice", "files": [".stepgate/workflows/bad.asl.json"]])
        let (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        let reviews = try await world.fake.control(.GET, "reviews?change=2") as? [[String: Any]] ?? []
        #expect(reviews.count == 1, "\(log)")
        let comments = (reviews.first?["input"] as? [String: Any])?["comments"] as? [String: Any]
        let list = comments?[".stepgate/workflows/bad.asl.json"] as? [[String: Any]] ?? []
        #expect(!list.isEmpty)
        #expect(list.allSatisfy { ($0["line"] as? Int ?? 0) >= 1 })
    }
}
