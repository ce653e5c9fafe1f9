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

/// The real `stepgate` binary against the Phorge Conduit fake (HTTP on 127.0.0.1), a real bare mirror whose `main`
/// holds the trusted `.stepgate/`, a revision whose diff is a real `git diff` between two commits, and a real SQLite
/// store.
@Suite(.serialized) struct PhorgeEndToEndTests {
    /// A mirror `mirror.git` (main: the trusted configuration, `src/a.txt`), revision D1 by alice with reviewer bob,
    /// whose diff (from `git diff main change`) edits `src/a.txt` and adds `src/b.txt`; a bot.yaml for the fake.
    struct World {
        let dir: URL
        let fake: FakeServer
        var base: String = ""
        var diffText: String = ""
        var revisionPHID: String = ""
        var diffPHID: String = ""
        var config: String { dir.appendingPathComponent("bot.yaml").path }
        var mirror: String { dir.appendingPathComponent("mirror.git").path }
        var work: String { dir.appendingPathComponent("work").path }

        static func make(
            command: String = #"printf '{"findings":[{"path":"src/a.txt","line":2,"message":"no tabs","severity":"warning"}]}'"#,
            extraStates: String? = nil, botConfigExtra: String = "", env: String = ""
        ) async throws -> World {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-phorge-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let fake = try FakeServer("conduit_fake.py")
            var world = World(dir: dir, fake: fake)
            try world.git(["init", "-q", "-b", "main", world.work])
            let lint = #"{"Type": "Task", "Resource": "stepgate:command", "Parameters": {"command": ["sh", "-c", \#(jsonString(command))]\#(env)}, "#
            let definition =
                if let extraStates {
                    #"{"StartAt": "Lint", "States": {"Lint": \#(lint)"Next": "Gate"}, \#(extraStates)}}"#
                } else {
                    #"{"StartAt": "Lint", "States": {"Lint": \#(lint)"End": true}}}"#
                }
            try world.write(".stepgate/workflows/check.asl.json", definition)
            try world.write(
                ".stepgate/stepgate.yaml",
                """
                version: 1
                workflows:
                  check:
                    definition: workflows/check.asl.json
                    on:
                      phabricator: {status: [accepted]}
                """)
            try world.write("src/a.txt", "one\n")
            try world.commit("trusted configuration")
            world.base = try world.output(["-C", world.work, "rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
            try world.git(["init", "-q", "--bare", "-b", "main", world.mirror])
            try world.git(["-C", world.work, "push", "-q", world.mirror, "main:refs/heads/main"])
            try world.git(["-C", world.work, "checkout", "-q", "-b", "change"])
            try world.write("src/a.txt", "one\n\ttwo\n")
            try world.write("src/b.txt", "b\n")
            try world.commit("the change")
            world.diffText = try world.output(["-C", world.work, "diff", "main", "change"])

            let bot = try await fake.object(.POST, "users", ["userName": "stepbot", "bot": true])
            try await fake.control(.POST, "users", ["userName": "alice"])
            try await fake.control(.POST, "users", ["userName": "bob"])
            try await fake.control(.POST, "repositories", ["name": "demo", "callsign": "DEMO"])
            let revision = try await fake.object(
                .POST, "revisions",
                ["author": "alice", "title": "the change", "repository": "DEMO", "reviewers": ["bob"], "diff": world.diffText,
                 "baseCommit": world.base, "branch": "main"])
            world.revisionPHID = revision["phid"] as? String ?? ""
            world.diffPHID = revision["diffPHID"] as? String ?? ""
            let token = try fake.secretFile("conduit-token", bot["token"] as? String ?? "")
            try """
                store: sqlite://\(dir.path)/stepgate.db
                phabricator:
                  - name: phab
                    url: \(fake.baseURL)
                    token-file: \(token)
                    poll-interval: 1s
                \(botConfigExtra)
                repositories:
                  demo: {path: \(world.mirror), phabricator-repository: rDEMO}
                """.write(toFile: world.config, atomically: true, encoding: .utf8)
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

        /// The Harbormaster targets of a diff, by key.
        func targets(diff: String? = nil) async throws -> [String: [String: Any]] {
            let list = try await fake.control(.GET, "harbormaster?diff=\(diff ?? diffPHID)") as? [[String: Any]] ?? []
            var out: [String: [String: Any]] = [:]
            for t in list { if let key = t["key"] as? String { out[key] = t } }
            return out
        }

        func accept() async throws { try await fake.control(.POST, "revisions/1/accept", ["reviewer": "bob"]) }

        func stop() {
            fake.stop()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    @Test func acceptRunsWorkflowAndReportsOnceWithLintAndUnitResults() async throws {
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

        let targets = try await world.targets()
        let lintTarget = try #require(targets["arcanist.lint"], "\(log)")
        let unitTarget = try #require(targets["arcanist.unit"])
        let lintMessages = lintTarget["messages"] as? [[String: Any]] ?? []
        #expect(lintMessages.count == 1)
        let lint = try #require((lintMessages.first?["lint"] as? [[String: Any]])?.first)
        #expect(lint["path"] as? String == "src/a.txt")
        #expect(lint["line"] as? Int == 2)
        #expect(lint["severity"] as? String == "warning")
        #expect((lint["description"] as? String)?.contains("no tabs") == true)
        #expect(lintTarget["status"] as? String == "target/passed")
        let unitMessages = unitTarget["messages"] as? [[String: Any]] ?? []
        #expect(unitMessages.count == 1)
        let units = unitMessages.first?["unit"] as? [[String: Any]] ?? []
        #expect(units.count == 1, "one unit result per Task state")
        #expect(units.first?["name"] as? String == "Lint")
        #expect(units.first?["result"] as? String == "pass")
        #expect(unitTarget["status"] as? String == "target/passed")

        // The diff was applied onto its base in memory: its commit is in the mirror, with both files.
        let b = try world.output(["--git-dir", world.mirror, "show", "refs/stepgate/phorge/D1/1:src/b.txt"])
        #expect(b == "b\n")
        let parent = try world.output(["--git-dir", world.mirror, "rev-parse", "refs/stepgate/phorge/D1/1^"])
        #expect(parent.trimmingCharacters(in: .whitespacesAndNewlines) == world.base)

        // The token rule: always inside params (`__conduit__`), never a separate api.token.
        let requests = try await world.fake.requests(matching: "/api/")
        #expect(!requests.isEmpty)
        #expect(requests.allSatisfy { ($0["form_keys"] as? [String])?.contains("api.token") != true })
        #expect(requests.allSatisfy { $0["user"] as? String == "stepbot" })

        // The bot's own comment and Harbormaster messages bumped dateModified: polling again posts nothing.
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await world.botComments().count == 1, "\(log)")
        let again = try await world.targets()
        #expect((again["arcanist.lint"]?["messages"] as? [Any])?.count == 1)
        #expect((again["arcanist.unit"]?["messages"] as? [Any])?.count == 1)
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
        let targets = try await world.targets()
        #expect((targets["arcanist.lint"]?["messages"] as? [Any])?.count == 1, "\(targets)")
        #expect((targets["arcanist.unit"]?["messages"] as? [Any])?.count == 1)
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
        let targets = try await world.targets()
        #expect((targets["arcanist.lint"]?["messages"] as? [Any])?.count == 1)
    }

    /// With `staging-url`, the diff comes from the staging area's `refs/tags/phabricator/diff/N`, not from the raw
    /// diff (here the diff names a base commit the mirror lacks, so applying could not work).
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
        let diff = try await world.fake.object(
            .POST, "revisions/1/diffs", ["diff": world.diffText, "baseCommit": String(repeating: "e", count: 40)])
        world.diffPHID = diff["diffPHID"] as? String ?? ""
        try await world.accept()
        let (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        let local = try world.output(["--git-dir", world.mirror, "rev-parse", "refs/stepgate/phorge/D1/2"])
        #expect(local.trimmingCharacters(in: .whitespacesAndNewlines) == change)
        #expect(try await world.botComments().count == 1, "\(log)")
        #expect((try await world.targets()["arcanist.lint"]?["messages"] as? [Any])?.count == 1)
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

    @Test func newDiffSupersedesTheRunningExecutionWithANotice() async throws {
        let world = try await World.make(command: "sleep 6")
        defer { world.stop() }
        try await world.accept()
        _ = try world.runOnce(timeout: 1.5)  // started, then killed while running
        try await world.fake.control(.POST, "revisions/1/diffs", ["diff": world.diffText, "baseCommit": world.base])
        let (status, log) = try world.runOnce(timeout: 10)
        #expect(status == 0, "\(log)")
        let comments = try await world.botComments()
        #expect(comments.count == 1, "\(comments) \(log)")
        #expect(comments.first?.contains("cancelled") == true)
        #expect(comments.first?.contains("superseded by diff 2") == true, "\(comments)")
        // The new diff needs a new accept: nothing else is posted.
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
            // Later polls: everything modified since cursor - overlap, closed revisions included.
            try await world.fake.control(.POST, "revisions/2/status", ["status": "abandoned"])
            let again = try await platform.poll(cursors: batch.cursors, logger: logger)
            #expect(again.snapshots.contains { $0.target.reviewID == "D2" && !$0.isOpen })
        }
    }
}
