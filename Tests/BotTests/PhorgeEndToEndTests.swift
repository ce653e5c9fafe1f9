import Bot
import Foundation
import Logging
import NIOHTTP1
import ReviewClients
import ReviewFakes
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real `stepgate` binary against the Phorge Conduit fake (HTTP on 127.0.0.1): the repository lives in a real
/// bare repository the fake serves over git's smart HTTP (Diffusion's builtin URI, the bot's VCS password), whose
/// `main` (Diffusion's default branch) holds the trusted `.stepgate/`; a build plan run by a Herald rule on the
/// repository's revisions; a revision made as `arc diff` makes it (base commit, branch ref, arc's own results already
/// on the autotargets), whose diff is a real `git diff` between two commits; a real SQLite store.
@Suite(.serialized) struct PhorgeEndToEndTests {
    /// `upstream.git` (served by the fake as rDEMO; main: the trusted configuration, `src/a.txt`), the bot's mirror
    /// `mirror.git` (filled by the bot's fetch), revision D1 by alice with reviewer bob, whose diff (from
    /// `git diff main change`) edits `src/a.txt` and adds `src/b.txt`; a bot.yaml for the fake.
    struct World {
        let dir: URL
        let fake: FakeServer
        var base: String = ""
        var diffText: String = ""
        var revisionPHID: String = ""
        var diffPHID: String = ""
        var planPHID: String = ""
        var config: String { dir.appendingPathComponent("bot.yaml").path }
        var mirror: String { dir.appendingPathComponent("mirror.git").path }
        var upstream: String { dir.appendingPathComponent("upstream.git").path }
        var work: String { dir.appendingPathComponent("work").path }

        static func make(
            command: String = #"printf '{"findings":[{"path":"src/a.txt","line":2,"message":"no tabs","severity":"warning"}]}'"#,
            extraStates: String? = nil, botConfigExtra: String = "", env: String = "", buildPlan: Bool = true,
            revision: Bool = true
        ) async throws -> World {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-phorge-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let fake = try FakeServer("conduit_fake.py")
            var world = World(dir: dir, fake: fake)
            try world.git(["init", "-q", "-b", "main", world.work])
            try world.writeWorkflow(command: command, extraStates: extraStates, env: env)
            try world.write("src/a.txt", "one\n")
            try world.commit("trusted configuration")
            world.base = try world.head()
            try world.git(["init", "-q", "--bare", "-b", "main", world.upstream])
            try world.git(["-C", world.work, "push", "-q", world.upstream, "main:refs/heads/main"])
            try world.git(["-C", world.work, "checkout", "-q", "-b", "change"])
            try world.write("src/a.txt", "one\n\ttwo\n")
            try world.write("src/b.txt", "b\n")
            try world.commit("the change")
            world.diffText = try world.output(["-C", world.work, "diff", "main", "change"])

            let bot = try await fake.object(.POST, "users", ["userName": "stepbot", "bot": true, "vcsPassword": "vcs-secret-1"])
            try await fake.control(.POST, "users", ["userName": "alice"])
            try await fake.control(.POST, "users", ["userName": "bob"])
            try await fake.control(
                .POST, "repositories",
                ["name": "Demo", "callsign": "DEMO", "shortName": "demo", "path": world.upstream, "defaultBranch": "main"])
            if buildPlan {
                let plan = try await fake.object(.POST, "plans", ["name": "stepgate"])
                world.planPHID = plan["phid"] as? String ?? ""
                try await fake.control(.POST, "herald", ["repository": "DEMO", "plan": world.planPHID])
            }
            if revision {
                let created = try await fake.object(
                    .POST, "revisions",
                    ["author": "alice", "title": "the change", "repository": "DEMO", "reviewers": ["bob"], "diff": world.diffText,
                     "baseCommit": world.base, "branch": "change"])
                world.revisionPHID = created["phid"] as? String ?? ""
                world.diffPHID = created["diffPHID"] as? String ?? ""
            }
            let token = try fake.secretFile("conduit-token", bot["token"] as? String ?? "")
            let password = try fake.secretFile("vcs-password", "vcs-secret-1")
            try """
                store: sqlite://\(dir.path)/stepgate.db
                phabricator:
                  - name: phab
                    url: \(fake.baseURL)
                    token-file: \(token)
                    poll-interval: 1s
                    request-timeout: 3s
                    git-username: stepbot
                    git-password-file: \(password)
                \(buildPlan ? "    build-plan: stepgate\n" : "")\(botConfigExtra)
                repositories:
                  demo: {path: \(world.mirror), phabricator-repository: rDEMO}
                """.write(toFile: world.config, atomically: true, encoding: .utf8)
            return world
        }

        func writeWorkflow(command: String, extraStates: String? = nil, env: String = "", name: String = "check") throws {
            let lint = #"{"Type": "Task", "Resource": "stepgate:command", "Parameters": {"command": ["sh", "-c", \#(Self.jsonString(command))]\#(env)}, "#
            let definition =
                if let extraStates {
                    #"{"StartAt": "Lint", "States": {"Lint": \#(lint)"Next": "Gate"}, \#(extraStates)}}"#
                } else {
                    #"{"StartAt": "Lint", "States": {"Lint": \#(lint)"End": true}}}"#
                }
            try write(".stepgate/workflows/\(name).asl.json", definition)
            try write(
                ".stepgate/stepgate.yaml",
                """
                version: 1
                workflows:
                  \(name):
                    definition: workflows/\(name).asl.json
                    on:
                      phabricator: {status: [accepted]}
                """)
        }

        func head(_ rev: String = "HEAD") throws -> String {
            try output(["-C", work, "rev-parse", rev]).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        static func jsonString(_ s: String) -> String {
            String(decoding: try! JSONSerialization.data(withJSONObject: [s]), as: UTF8.self).dropFirst().dropLast().description
        }

        func write(_ path: String, _ text: String) throws {
            let url = URL(fileURLWithPath: work).appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }

        func commit(_ message: String) throws {
            try git(["-C", work, "add", "-A"])
            try git(["-C", work, "-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-q", "-m", message])
        }

        func git(_ arguments: [String]) throws { _ = try output(arguments) }

        func output(_ arguments: [String]) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
            p.arguments = arguments
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw FakeError(message: "git \(arguments) failed") }
            return String(decoding: data, as: UTF8.self)
        }

        /// Runs `stepgate bot --config bot.yaml --once`; SIGKILLs it after `timeout` seconds.
        func runOnce(timeout: Double = 30, config: String? = nil) throws -> (Int32, String) {
            guard FileManager.default.isExecutableFile(atPath: EndToEndTests.binary) else {
                throw FakeError(message: "missing \(EndToEndTests.binary): run swift build first")
            }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: EndToEndTests.binary)
            p.arguments = ["bot", "--config", config ?? self.config, "--once", "--log-level", "debug"]
            let errURL = dir.appendingPathComponent("stderr-\(UUID().uuidString).log")
            _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
            p.standardError = try FileHandle(forWritingTo: errURL)
            p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            try p.run()
            let deadline = Date().addingTimeInterval(timeout)
            while p.isRunning && Date() < deadline { usleep(20_000) }
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
            }
            return (p.terminationStatus, (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
        }

        func revision(_ n: Int = 1) async throws -> [String: Any] { try await fake.object(.GET, "revisions/\(n)") }

        /// The comments of the bot on D`n`.
        func botComments(_ n: Int = 1) async throws -> [String] {
            let users = (try await fake.object(.GET, "state"))["users"] as? [String: Any] ?? [:]
            let bot = users.first { (($0.value as? [String: Any])?["userName"] as? String) == "stepbot" }?.key
            let comments = try await revision(n)["comments"] as? [[String: Any]] ?? []
            return comments.filter { $0["authorPHID"] as? String == bot }.compactMap { $0["content"] as? String }
        }

        /// The Harbormaster targets of a diff, by key (`arcanist.lint`, `arcanist.unit`) or, for the bot's own build,
        /// `stepgate`.
        func targets(diff: String? = nil) async throws -> [String: [String: Any]] {
            let list = try await fake.control(.GET, "harbormaster?diff=\(diff ?? diffPHID)") as? [[String: Any]] ?? []
            var out: [String: [String: Any]] = [:]
            for t in list {
                if let key = t["key"] as? String { out[key] = t } else if let name = t["name"] as? String { out[name] = t }
            }
            return out
        }

        /// The messages the bot's own build target of a diff received.
        func buildMessages(diff: String? = nil) async throws -> [[String: Any]] {
            try await targets(diff: diff)["stepgate"]?["messages"] as? [[String: Any]] ?? []
        }

        func userPHID(_ name: String) async throws -> String {
            let users = (try await fake.object(.GET, "state"))["users"] as? [String: Any] ?? [:]
            return users.first { (($0.value as? [String: Any])?["userName"] as? String) == name }?.key ?? ""
        }

        func sql(_ statement: String) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            p.arguments = [dir.appendingPathComponent("stepgate.db").path, statement]
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw FakeError(message: "sqlite3 \(statement) failed") }
        }

        func accept() async throws { try await fake.control(.POST, "revisions/1/accept", ["reviewer": "bob"]) }

        func stop() {
            fake.stop()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    @Test func acceptRunsWorkflowAndReportsOnceOnItsOwnBuild() async throws {
        let world = try await World.make()
        defer { world.stop() }
        var (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await world.botComments().isEmpty, "not accepted yet: nothing runs")

        try await world.accept()
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        let comments = try await world.botComments()
        #expect(comments.count == 1, "\(log)")
        let comment = try #require(comments.first)
        #expect(comment.contains("workflow check succeeded"))
        #expect(comment.contains("Execution: "))
        #expect(comment.contains("Findings: 1"))
        #expect(comment.contains("shown inline"), "\(comment)")

        // The bot's own build target (the plan Herald ran) got the lint message, the unit results and the pass.
        let messages = try await world.buildMessages()
        #expect(messages.count == 1, "\(log)")
        let message = try #require(messages.first)
        #expect(message["type"] as? String == "pass")
        let lint = try #require((message["lint"] as? [[String: Any]])?.first)
        #expect(lint["path"] as? String == "src/a.txt")
        #expect(lint["line"] as? Int == 2)
        #expect(lint["severity"] as? String == "warning")
        #expect((lint["description"] as? String)?.contains("no tabs") == true)
        let units = message["unit"] as? [[String: Any]] ?? []
        #expect(units.count == 1, "one unit result per Task state")
        #expect(units.first?["name"] as? String == "Lint")
        #expect(units.first?["result"] as? String == "pass")
        // arc's autotargets, complete before the bot ever looked, got nothing from the bot.
        let targets = try await world.targets()
        #expect((targets["arcanist.lint"]?["messages"] as? [[String: Any]])?.count == 1)
        #expect((targets["arcanist.lint"]?["messages"] as? [[String: Any]])?.first?["authorPHID"] as? String != nil)
        #expect(try await world.fake.requests(matching: "queryautotargets").isEmpty)

        // The mirror was fetched from Diffusion's clone URI with the bot's VCS password; the diff was applied onto
        // its base in memory.
        // libgit2 cannot read the answers (ended by closing the connection, as PHP's built-in server sends them):
        // the git command fetched instead.
        let fetches = try await world.fake.requests(matching: "/source/demo.git/")
        #expect(fetches.contains { ($0["agent"] as? String)?.contains("libgit2") == true })
        #expect(fetches.contains { $0["user"] as? String == "stepbot" && ($0["agent"] as? String)?.contains("libgit2") == false }, "\(fetches.map { "\($0["agent"] ?? "-") \($0["user"] ?? "-") \($0["status"] ?? "-")" })")
        #expect(try world.output(["--git-dir", world.mirror, "rev-parse", "refs/heads/main"]).hasPrefix(world.base))
        let b = try world.output(["--git-dir", world.mirror, "show", "refs/stepgate/phorge/D1/1:src/b.txt"])
        #expect(b == "b\n")
        let parent = try world.output(["--git-dir", world.mirror, "rev-parse", "refs/stepgate/phorge/D1/1^"])
        #expect(parent.trimmingCharacters(in: .whitespacesAndNewlines) == world.base)

        // The token rule: always inside params (`__conduit__`), never a separate api.token.
        let requests = try await world.fake.requests(matching: "/api/")
        #expect(!requests.isEmpty)
        #expect(requests.allSatisfy { ($0["form_keys"] as? [String])?.contains("api.token") != true })
        #expect(requests.allSatisfy { $0["user"] as? String == "stepbot" })
        #expect(!log.contains("vcs-secret-1"), "the git password never appears in logs")

        // The bot's own comment and Harbormaster messages bumped dateModified: polling again posts nothing.
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await world.botComments().count == 1, "\(log)")
        #expect(try await world.buildMessages().count == 1)
    }

    @Test func withoutABuildPlanTheFindingsAreInTheComment() async throws {
        let world = try await World.make(buildPlan: false)
        defer { world.stop() }
        try await world.accept()
        let (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        let comments = try await world.botComments()
        #expect(comments.count == 1, "\(log)")
        #expect(comments.first?.contains("Findings not shown inline:\n- src/a.txt:2: no tabs") == true, "\(comments)")
        #expect((try await world.targets()["arcanist.lint"]?["messages"] as? [Any])?.count == 1, "arc's result only")
    }

    @Test func faultsDuringPollingAndPostingStillReportExactlyOnce() async throws {
        let world = try await World.make()
        defer { world.stop() }
        try await world.accept()
        try await world.fake.fault(["kind": "status", "status": 500, "path": "revision.search", "count": 1])
        try await world.fake.fault(["kind": "truncate", "path": "diff.search", "count": 1])
        try await world.fake.fault(["kind": "hang", "seconds": 1, "path": "getrawdiff", "count": 1])
        try await world.fake.fault(["kind": "status", "status": 502, "path": "harbormaster.sendmessage", "count": 1])
        try await world.fake.fault(["kind": "conduit_error", "code": "ERR-CONDUIT-CORE", "path": "revision.edit", "count": 1])
        try await world.fake.fault(["kind": "malformed", "path": "transaction.search", "count": 1])
        var (status, log) = try world.runOnce(timeout: 60)
        for _ in 0..<3 where try await world.botComments().isEmpty {
            (status, log) = try world.runOnce(timeout: 60)
        }
        #expect(status == 0, "\(log)")
        #expect(try await world.botComments().count == 1, "\(log)")
        let pending = try await world.fake.control(.GET, "faults") as? [Any] ?? []
        #expect(pending.isEmpty, "every injected fault was hit: \(pending)")
        #expect(try await world.buildMessages().count == 1, "\(log)")
        _ = try world.runOnce()
        #expect(try await world.botComments().count == 1)
    }

    @Test func theWorkflowReceivesThePhorgeTriggerEvent() async throws {
        // The task prints what it received (it runs in a sandbox: nothing it writes outside its checkout survives).
        let world = try await World.make(
            command: "echo \"$TRIG|$REV|$TITLE|$AUTHOR|$STATUS|$DIFF|$COMMIT|$BASE|$BRANCH|$BOB|$FILES\"",
            env: #", "env": {"TRIG.$": "$.trigger", "REV.$": "States.Format('{}', $.revision.id)", "TITLE.$": "$.revision.title", "AUTHOR.$": "$.revision.author", "STATUS.$": "$.revision.status", "DIFF.$": "States.Format('{}', $.diff.id)", "COMMIT.$": "$.diff.revision", "BASE.$": "$.diff.base", "BRANCH.$": "$.branch", "BOB.$": "$.reviewers.bob", "FILES.$": "States.JsonToString($.files)"}"#)
        defer { world.stop() }
        try await world.accept()
        let (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        let commit = try world.output(["--git-dir", world.mirror, "rev-parse", "refs/stepgate/phorge/D1/1"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let comments = try await world.botComments()
        #expect(comments.first?.contains("succeeded") == true, "\(comments)")
        let query = Process()
        query.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        query.arguments = [world.dir.appendingPathComponent("stepgate.db").path, "SELECT output FROM executions"]
        let pipe = Pipe()
        query.standardOutput = pipe
        try query.run()
        let stored = pipe.fileHandleForReading.readDataToEndOfFile()
        query.waitUntilExit()
        let result = try JSONSerialization.jsonObject(with: stored) as? [String: Any]
        let text = (result?["stdout"] as? String ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(
            text == "phabricator|1|the change|alice|accepted|1|\(commit)|\(world.base)|main|accepted|[\"src/a.txt\",\"src/b.txt\"]",
            "\(log)")
    }

    /// A crash after the comment reached Phorge but before the store recorded it: the row is left `posting`. The
    /// next run asks Phorge (transaction.search) and finds its own comment: nothing is posted twice.
    @Test func crashBetweenPostingAndRecordingNeverDoublePosts() async throws {
        let world = try await World.make()
        defer { world.stop() }
        try await world.accept()
        var (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await world.botComments().count == 1, "\(log)")
        let db = world.dir.appendingPathComponent("stepgate.db").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [db, "UPDATE bot_reports SET state = 'posting'"]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await world.botComments().count == 1, "\(log)")
        let searched = try await world.fake.requests(matching: "transaction.search")
        #expect(!searched.isEmpty)
        #expect(try await world.buildMessages().count == 1)
    }

    /// With `staging-url`, the diff comes from the staging area's `refs/tags/phabricator/diff/N`, not from the raw
    /// diff (here the raw diff is not a diff at all, so applying could not work).
    @Test func stagingAreaProvidesTheDiffsCommit() async throws {
        var world = try await World.make()
        defer { world.stop() }
        let staging = world.dir.appendingPathComponent("staging.git").path
        try world.git(["init", "-q", "--bare", staging])
        try world.git(["-C", world.work, "push", "-q", staging, "change:refs/tags/phabricator/diff/2"])
        let change = try world.output(["-C", world.work, "rev-parse", "change"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let text = try String(contentsOfFile: world.config, encoding: .utf8)
        try text.replacingOccurrences(of: "    poll-interval: 1s\n", with: "    poll-interval: 1s\n    staging-url: file://\(staging)\n")
            .write(toFile: world.config, atomically: true, encoding: .utf8)
        let diff = try await world.fake.object(.POST, "revisions/1/diffs", ["diff": "not a diff", "baseCommit": world.base])
        world.diffPHID = diff["diffPHID"] as? String ?? ""
        try await world.accept()
        let (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        let local = try world.output(["--git-dir", world.mirror, "rev-parse", "refs/stepgate/phorge/D1/2"])
        #expect(local.trimmingCharacters(in: .whitespacesAndNewlines) == change)
        #expect(try await world.botComments().count == 1, "\(log)")
        #expect(try await world.buildMessages(diff: world.diffPHID).count == 1)
    }

    @Test func conduitErrorOnPollExitsOneThenRecovers() async throws {
        let world = try await World.make()
        defer { world.stop() }
        try await world.accept()
        try await world.fake.fault(["kind": "conduit_error", "code": "ERR-CONDUIT-CORE", "info": "boom", "path": "revision.search", "count": 1])
        var (status, log) = try world.runOnce()
        #expect(status == 1, "\(log)")
        #expect(try await world.botComments().isEmpty)
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await world.botComments().count == 1, "\(log)")
    }

    @Test func killedMidExecutionResumesAndReportsOnce() async throws {
        let world = try await World.make(command: #"sleep 3; printf '{"ok":true}'"#)
        defer { world.stop() }
        try await world.accept()
        var (status, log) = try world.runOnce(timeout: 1.5)  // SIGKILLed mid-task
        #expect(status != 0)
        #expect(try await world.botComments().isEmpty, "\(log)")
        (status, log) = try world.runOnce(timeout: 30)
        #expect(status == 0, "\(log)")
        #expect(try await world.botComments().count == 1, "\(log)")
        _ = try world.runOnce()
        #expect(try await world.botComments().count == 1)
    }

    /// A new diff supersedes the running execution, abandoning cancels it: one notice each time.
    @Test(arguments: ["superseded by diff 2", "the review was closed (abandoned)"])
    func aRunningExecutionIsCancelledWithOneNotice(reason: String) async throws {
        let world = try await World.make(command: "sleep 6")
        defer { world.stop() }
        try await world.accept()
        _ = try world.runOnce(timeout: 1.5)  // started, then killed while running
        if reason.hasPrefix("superseded") {
            try await world.fake.control(.POST, "revisions/1/diffs", ["diff": world.diffText, "baseCommit": world.base])
        } else {
            try await world.fake.control(.POST, "revisions/1/status", ["status": "abandoned"])
        }
        let (status, log) = try world.runOnce(timeout: 10)
        #expect(status == 0, "\(log)")
        let comments = try await world.botComments()
        #expect(comments.count == 1, "\(comments) \(log)")
        #expect(comments.first?.contains("was cancelled: \(reason)") == true, "\(comments)")
        // A new diff needs a new accept; an abandoned revision runs nothing: nothing else is posted.
        _ = try world.runOnce()
        #expect(try await world.botComments().count == 1)
    }

    @Test func commentCommandApprovesAWaitingApproval() async throws {
        let gate = #""Gate": {"Type": "Task", "Resource": "stepgate:approval", "Parameters": {"approvers": ["carol", "stepbot"], "message": "deploy?"}, "TimeoutSeconds": 600, "End": true}"#
        let world = try await World.make(extraStates: gate, botConfigExtra: "    approval-command: \"!ship it\"")
        defer { world.stop() }
        try await world.fake.control(.POST, "users", ["userName": "carol"])
        try await world.accept()
        var (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await world.botComments().isEmpty, "waiting for carol: \(log)")
        // bob's accept does not approve (not an approver), nor does the bot's own comment (ignored though it is listed);
        // carol's comment command does.
        try await world.fake.control(.POST, "revisions/1/comments", ["author": "stepbot", "content": "!ship it"])
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await world.botComments().count == 1, "only the bot's own comment: \(log)")
        try await world.fake.control(.POST, "revisions/1/comments", ["author": "carol", "content": "looks fine\n!ship it"])
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        let comments = try await world.botComments()
        #expect(comments.count == 2, "\(log)")
        #expect(comments.last?.contains("workflow check succeeded") == true, "\(comments)")
    }

    /// Approvals by account identity on Phorge: the revision's author and someone who is not an
    /// approver are ignored, each told so once; an approver's command decides.
    @Test func anApprovalCommandFromSomeoneNotAllowedIsIgnoredAndSaidSo() async throws {
        let gate = #""Gate": {"Type": "Task", "Resource": "stepgate:approval", "Parameters": {"approvers": ["carol", "alice"], "message": "deploy?"}, "TimeoutSeconds": 600, "End": true}"#
        let world = try await World.make(extraStates: gate, botConfigExtra: "    approval-command: \"!ship it\"")
        defer { world.stop() }
        try await world.fake.control(.POST, "users", ["userName": "carol"])
        try await world.fake.control(.POST, "users", ["userName": "dave"])
        try await world.accept()
        var (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await world.botComments().isEmpty, "waiting for an approver: \(log)")
        // The author (alice, though listed) and dave (not listed) ask; neither decides, each is told once.
        try await world.fake.control(.POST, "revisions/1/comments", ["author": "alice", "content": "!ship it"])
        try await world.fake.control(.POST, "revisions/1/comments", ["author": "dave", "content": "!ship it"])
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        var comments = try await world.botComments()
        #expect(comments.count == 2, "\(comments) \(log)")
        #expect(comments.contains { $0.contains("approval command of alice was ignored") && $0.contains("their own change") }, "\(comments)")
        #expect(comments.contains { $0.contains("approval command of dave was ignored") }, "\(comments)")
        #expect(!comments.contains { $0.contains("succeeded") }, "\(comments)")
        // carol decides.
        try await world.fake.control(.POST, "revisions/1/comments", ["author": "carol", "content": "!ship it"])
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        comments = try await world.botComments()
        #expect(comments.count == 3, "\(comments)")
        #expect(comments.last?.contains("workflow check succeeded") == true, "\(comments)")
    }

    @Test func badTokenFailsThePoll() async throws {
        let world = try await World.make()
        defer { world.stop() }
        let bad = try world.fake.secretFile("bad-token", "api-" + String(repeating: "x", count: 28))
        let text = try String(contentsOfFile: world.config, encoding: .utf8)
        let other = world.dir.appendingPathComponent("bad.yaml").path
        try text.replacingOccurrences(of: #"token-file: [^\n]+"#, with: "token-file: \(bad)", options: .regularExpression)
            .write(toFile: other, atomically: true, encoding: .utf8)
        let (status, log) = try world.runOnce(config: other)
        #expect(status == 1, "\(log)")
        #expect(log.contains("ERR-INVALID-AUTH"), "\(log)")
        #expect(!log.contains("api-xxxx"), "the token never appears in logs")
    }

    @Test func anUnknownBuildPlanFailsThePollWithOneLine() async throws {
        let world = try await World.make()
        defer { world.stop() }
        let text = try String(contentsOfFile: world.config, encoding: .utf8)
        let other = world.dir.appendingPathComponent("plan.yaml").path
        try text.replacingOccurrences(of: "build-plan: stepgate", with: "build-plan: nope")
            .write(toFile: other, atomically: true, encoding: .utf8)
        let (status, log) = try world.runOnce(config: other)
        #expect(status == 1, "\(log)")
        #expect(log.contains("Phorge has no build plan nope (build-plan of server phab)"), "\(log)")
    }

    @Test func gerritAndPhorgeAreServedByOneBot() async throws {
        let phorge = try await World.make()
        defer { phorge.stop() }
        let gerrit = try await EndToEndTests.World.make()
        defer { gerrit.stop() }
        try await phorge.accept()
        try await gerrit.fake.control(.POST, "changes/1/votes", ["account": "alice", "label": "Code-Review", "value": 2])
        // One bot.yaml: the Gerrit world's servers and mirror plus the Phorge server and mirror.
        let gerritText = try String(contentsOfFile: gerrit.config, encoding: .utf8)
        let phorgeText = try String(contentsOfFile: phorge.config, encoding: .utf8)
        let phabSection = phorgeText.components(separatedBy: "phabricator:\n")[1].components(separatedBy: "repositories:")[0]
        let combined = gerritText.replacingOccurrences(
            of: "repositories:\n",
            with: "repositories:\n  phdemo: {path: \(phorge.mirror), phabricator-repository: rDEMO}\n")
            + "\nphabricator:\n" + phabSection
        let path = phorge.dir.appendingPathComponent("both.yaml").path
        try combined.write(toFile: path, atomically: true, encoding: .utf8)
        let (status, log) = try phorge.runOnce(config: path)
        #expect(status == 0, "\(log)")
        #expect(try await phorge.botComments().count == 1, "\(log)")
        #expect(try await gerrit.reviews().count == 1, "\(log)")
    }
}

/// Raw diffs (no base commit, no refs), the trust rule on the target branch, failures said once, crashes.
@Suite(.serialized) struct PhorgeRevisionTests {
    typealias World = PhorgeEndToEndTests.World

    /// A revision made as the web UI's "Create Diff" makes it: `differential.createrawdiff` then
    /// `differential.revision.edit`, over Conduit as alice.
    static func rawRevision(_ world: World, diff: String) async throws -> (revision: Int, diffPHID: String) {
        let alice = try await world.fake.object(.POST, "users", ["userName": "carol"])
        let token = try world.fake.secretFile("carol-token", alice["token"] as? String ?? "")
        return try await ReviewHTTP.withHTTPClient { http in
            let conduit = try ConduitClient(
                server: "fake", baseURL: world.fake.baseURL, credentials: ConduitCredentials(tokenFile: token), client: http,
                logger: testLogger)
            let repository = try #require(try await conduit.searchRepositories(callsigns: ["DEMO"]).first)
            let created = try await conduit.createRawDiff(diff, repositoryPHID: repository.phid)
            let bob = try await world.userPHID("bob")
            let edit = try await conduit.createRevision(transactions: [
                ConduitTransaction(type: "update", value: .string(created.phid)),
                ConduitTransaction(type: "title", value: .string("raw")),
                ConduitTransaction(type: "testPlan", value: .string("none")),
                ConduitTransaction(type: "reviewers.add", value: .strings([bob])),
            ])
            return (try #require(edit.object.id), created.phid)
        }
    }

    @Test func aRawDiffIsAppliedOntoTheDefaultBranchTipAndReportedWithinTwoCycles() async throws {
        var world = try await World.make(revision: false)
        defer { world.stop() }
        let (revision, diffPHID) = try await Self.rawRevision(world, diff: world.diffText)
        world.diffPHID = diffPHID
        try await world.fake.control(.POST, "revisions/\(revision)/accept", ["reviewer": "bob"])
        var comments: [String] = []
        var log = ""
        for _ in 0..<2 where comments.isEmpty {
            (_, log) = try world.runOnce()
            comments = try await world.botComments(revision)
        }
        #expect(comments.count == 1, "\(log)")
        let comment = try #require(comments.first)
        #expect(comment.contains("workflow check succeeded"), "\(comment)")
        #expect(comment.contains("names no base commit: it was applied onto the tip of main (\(world.base.prefix(12))"), "\(comment)")
        let parent = try world.output(["--git-dir", world.mirror, "rev-parse", "refs/stepgate/phorge/D\(revision)/1^"])
        #expect(parent.trimmingCharacters(in: .whitespacesAndNewlines) == world.base)
        #expect(try await world.buildMessages().count == 1, "\(log)")
        _ = try world.runOnce()
        #expect(try await world.botComments(revision).count == 1)
    }

    @Test func aRawDiffThatDoesNotApplyGetsOneCommentAndIsNotRetried() async throws {
        let world = try await World.make(revision: false)
        defer { world.stop() }
        let broken = world.diffText.replacingOccurrences(of: " one\n", with: " uno\n")
        let (revision, _) = try await Self.rawRevision(world, diff: broken)
        try await world.fake.control(.POST, "revisions/\(revision)/accept", ["reviewer": "bob"])
        var log = ""
        for _ in 0..<3 { (_, log) = try world.runOnce() }
        let comments = try await world.botComments(revision)
        #expect(comments.count == 1, "\(log)")
        #expect(comments.first?.contains("does not apply onto the tip of main") == true, "\(comments)")
        #expect(comments.first?.contains("Notice: D\(revision)/1/refused") == true)
        #expect(try await world.buildMessages().isEmpty)
    }

    /// The trust rule: the diff's `onto` ref names another branch whose `.stepgate/` runs another workflow (with its
    /// roles). The target branch is Diffusion's default branch, whatever the diff says.
    @Test func aDiffNamingAnotherBranchAsOntoStillRunsTheDefaultBranchsWorkflow() async throws {
        var world = try await World.make()
        defer { world.stop() }
        try world.git(["-C", world.work, "checkout", "-q", "main"])
        try world.git(["-C", world.work, "checkout", "-q", "-b", "evil"])
        try world.writeWorkflow(command: "echo evil", name: "evil")
        try world.commit("another branch's workflow")
        try world.git(["-C", world.work, "push", "-q", world.upstream, "evil:refs/heads/evil"])
        let diff = try await world.fake.object(
            .POST, "revisions/1/diffs", ["diff": world.diffText, "baseCommit": world.base, "branch": "evil", "onto": "evil"])
        world.diffPHID = diff["diffPHID"] as? String ?? ""
        try await world.accept()
        let (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        let comments = try await world.botComments()
        #expect(comments.count == 1, "\(log)")
        #expect(comments.first?.contains("workflow check succeeded") == true, "\(comments)")
        #expect(comments.allSatisfy { !$0.contains("workflow evil") }, "\(comments)")
    }

    /// The trust rule: `onto` names the diff's own earlier diff's ref in the mirror, whose `.stepgate/` the author wrote.
    @Test func aDiffNamingItsOwnEarlierDiffsRefStillRunsTheDefaultBranchsWorkflow() async throws {
        var world = try await World.make()
        defer { world.stop() }
        // Diff 1 rewrites the workflow to one of the author's choosing; the bot brings it into the mirror.
        try world.git(["-C", world.work, "checkout", "-q", "change"])
        try world.writeWorkflow(command: "echo mine", name: "mine")
        try world.commit("my own workflow")
        let first = try world.output(["-C", world.work, "diff", "main", "change"])
        try await world.fake.control(.POST, "revisions/1/diffs", ["diff": first, "baseCommit": world.base])
        _ = try world.runOnce()
        let ownRef = "refs/stepgate/phorge/D1/2"
        #expect(!(try world.output(["--git-dir", world.mirror, "rev-parse", ownRef])).isEmpty)
        let diff = try await world.fake.object(
            .POST, "revisions/1/diffs", ["diff": world.diffText, "baseCommit": world.base, "onto": ownRef, "branch": ownRef])
        world.diffPHID = diff["diffPHID"] as? String ?? ""
        try await world.accept()
        let (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        let comments = try await world.botComments()
        #expect(comments.contains { $0.contains("workflow check succeeded") }, "\(comments) \(log)")
        #expect(comments.allSatisfy { !$0.contains("workflow mine") }, "\(comments)")
    }

    /// The trust rule: a diff whose base is not in the history of the target branch's tip is refused, once.
    @Test func aDiffWhoseBaseIsOutsideTheTrustedHistoryIsRefusedOnce() async throws {
        var world = try await World.make()
        defer { world.stop() }
        try world.git(["-C", world.work, "checkout", "-q", "--orphan", "elsewhere"])
        try world.write("src/a.txt", "one\n")
        try world.commit("unrelated history")
        let outside = try world.head()
        try world.git(["-C", world.work, "push", "-q", world.upstream, "elsewhere:refs/heads/elsewhere"])
        let diff = try await world.fake.object(.POST, "revisions/1/diffs", ["diff": world.diffText, "baseCommit": outside])
        world.diffPHID = diff["diffPHID"] as? String ?? ""
        try await world.accept()
        var log = ""
        for _ in 0..<2 { (_, log) = try world.runOnce() }
        let comments = try await world.botComments()
        #expect(comments.count == 1, "\(log)")
        #expect(comments.first?.contains("its base commit \(outside.prefix(12)) is not in the history of main") == true, "\(comments)")
        #expect(try await world.buildMessages().isEmpty, "nothing ran")
        #expect((try? world.output(["--git-dir", world.mirror, "rev-parse", "--verify", "-q", "refs/stepgate/phorge/D1/2"])) == nil)
    }

    /// A crash after the notice reached Phorge but before the store recorded it (`posting`): the next run finds it.
    @Test func aNoticeInterruptedByACrashIsNotPostedTwice() async throws {
        var world = try await World.make()
        defer { world.stop() }
        let diff = try await world.fake.object(
            .POST, "revisions/1/diffs", ["diff": world.diffText, "baseCommit": String(repeating: "e", count: 40)])
        world.diffPHID = diff["diffPHID"] as? String ?? ""
        try await world.accept()
        _ = try world.runOnce()
        #expect(try await world.botComments().count == 1)
        try world.sql("UPDATE bot_notices SET state = 'posting', posting_since = 0")
        let (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await world.botComments().count == 1, "\(log)")
    }

    /// SIGKILL after the results reached the build target but before the comment did: after a restart, exactly one
    /// comment, and the results are not sent twice.
    @Test func killedBetweenSendingResultsAndCommentingPostsOneComment() async throws {
        let world = try await World.make()
        defer { world.stop() }
        try await world.accept()
        try await world.fake.fault(["kind": "hold", "seconds": 30, "path": "differential.revision.edit", "count": 20])
        var (status, log) = try world.runOnce(timeout: 8)
        #expect(status != 0, "killed while commenting: \(log)")
        #expect(try await world.buildMessages().count == 1, "\(log)")
        #expect(try await world.botComments().isEmpty)
        try await world.fake.control(.DELETE, "faults")
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await world.botComments().count == 1, "\(log)")
        #expect(try await world.buildMessages().count == 1, "results sent once")
    }
}

/// The platform in-process against the fake: paging, cursor, snapshots.
@Suite struct PhorgePollingTests {
    @Test func pollsEveryPageAndAdvancesTheCursorOnTheServersClock() async throws {
        let world = try await PhorgeEndToEndTests.World.make()
        defer { world.stop() }
        for i in 2...3 {
            try await world.fake.control(
                .POST, "revisions",
                ["author": "alice", "title": "change \(i)", "repository": "DEMO", "diff": world.diffText, "baseCommit": world.base])
        }
        try await world.accept()
        let configuration = try BotConfiguration.load(path: world.config)
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        try await ReviewHTTP.withHTTPClient { http in
            let platform = try PhorgePlatform(
                configuration: configuration.phabricator[0], repositories: configuration.repositories, httpClient: http,
                pageSize: 1, logger: logger)
            try await platform.prepare(logger: logger)
            let batch = try await platform.poll(cursors: [:], logger: logger)
            #expect(batch.snapshots.map(\.target.reviewID).sorted() == ["D1", "D2", "D3"])
            let newest = try #require(batch.cursors["rDEMO"].flatMap { Int($0) })
            let d1 = try await world.revision(1)
            #expect(newest == d1["dateModified"] as? Int, "the accept made D1 the newest")
            let snapshot = try #require(batch.snapshots.first { $0.target.reviewID == "D1" })
            #expect(snapshot.status == "accepted")
            #expect(snapshot.approvers == ["bob"])
            #expect(snapshot.files == ["src/a.txt", "src/b.txt"])
            #expect(snapshot.branch == "main")
            #expect(snapshot.target.revisionID == world.diffPHID)
            #expect(snapshot.revisionSHA?.count == 40)
            let pages = try await world.fake.requests(matching: "revision.search")
            #expect(pages.count >= 3, "one revision per page")
            // Repositories are named by callsign monogram, R<id>, PHID or short name.
            let byCallsign = try #require(try await platform.repository("rDEMO"))
            #expect(try await platform.repository("R\(byCallsign.id)")?.phid == byCallsign.phid)
            #expect(try await platform.repository(byCallsign.phid)?.phid == byCallsign.phid)
            #expect(try await platform.repository("demo")?.phid == byCallsign.phid)
            #expect(try await platform.repository("rNOPE") == nil)
            #expect(byCallsign.fields.defaultBranch == "main")
            #expect(byCallsign.cloneURIs.first == world.fake.baseURL + "/source/demo.git", "the URI Diffusion displays")
            // Later polls: everything modified since cursor - overlap, closed revisions included.
            try await world.fake.control(.POST, "revisions/2/status", ["status": "abandoned"])
            let again = try await platform.poll(cursors: batch.cursors, logger: logger)
            #expect(again.snapshots.contains { $0.target.reviewID == "D2" && !$0.isOpen })
        }
    }
}
