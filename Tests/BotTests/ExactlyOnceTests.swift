import Foundation
import NIOHTTP1
import ReviewFakes
import StatesLanguage
import Store
import StoreTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension EndToEndTests.World {
    func reviews(change: Int) async throws -> [[String: Any]] {
        try await fake.control(.GET, "reviews?change=\(change)") as? [[String: Any]] ?? []
    }

    /// The bot's reviews that report an execution (they end with its `Execution: ID` line).
    func reports(change: Int = 1) async throws -> [[String: Any]] {
        try await reviews(change: change).filter { Self.message($0).contains("\nExecution: ") }
    }

    static func message(_ review: [String: Any]) -> String { (review["input"] as? [String: Any])?["message"] as? String ?? "" }
    static func verified(_ review: [String: Any]) -> Int? {
        ((review["input"] as? [String: Any])?["labels"] as? [String: Any])?["Verified"] as? Int
    }

    func vote(_ account: String, _ value: Int = 2, change: Int = 1) async throws {
        try await fake.control(.POST, "changes/\(change)/votes", ["account": account, "label": "Code-Review", "value": value])
    }

    func comment(_ account: String, _ text: String, change: Int = 1) async throws {
        try await fake.control(.POST, "changes/\(change)/messages", ["account": account, "message": text])
    }

    func store() throws -> any ExecutionStore { try openStore(url: storeURL) }

    /// Waits until `condition` holds (checked every 100 ms), at most `timeout` seconds.
    func waitUntil(timeout: Double = 30, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}

/// Exactly once, against the real binary and the Gerrit fake: what the server may do to a write (hold it and apply
/// it after its client died, apply it and lose the answer), what Gerrit names as a patch set's revision, how a CI
/// account behaves on Gerrit, interim comments, a stop by SIGTERM, recheck, redrive and group approvals.
@Suite(.serialized) struct ExactlyOnceTests {
    typealias World = EndToEndTests.World

    // MARK: - Writes whose outcome the bot does not learn

    /// The server holds the bot's review POST for 6 s and then applies it (within the request's 10 s deadline); the
    /// bot is SIGKILLed meanwhile and restarted at once. The new process must not post again before the held request
    /// can no longer land (12 s after it began), though it looks long before the server applies it.
    @Test(arguments: StoreKind.allCases) func aReviewHeldByTheServerWhileTheBotIsKilledIsPostedOnce(store: StoreKind) async throws {
        let world = try await World.make(requestTimeout: 10, store: store)
        defer { world.stop() }
        try await world.vote("alice")
        try await world.fake.fault(["kind": "hang", "seconds": 6, "path": "/review$", "method": "POST"])
        let (bot, _, _) = try world.launch(["bot", "--config", world.config, "--once", "--log-level", "debug"])
        let held = try await world.waitUntil {
            try await world.fake.requests(matching: "/review$").contains { $0["fault"] as? String == "hang" }
        }
        #expect(held)
        kill(bot.processIdentifier, SIGKILL)
        bot.waitUntilExit()
        // Restarted while the POST is still held: the report is `posting`, its outcome unknown.
        let (status, log) = try world.runOnce(timeout: 40)
        #expect(status == 0, "\(log)")
        #expect(log.contains("waiting until it can no longer land"), "\(log)")
        try await Task.sleep(for: .seconds(6))  // whatever was held has landed by now
        #expect(try await world.reports().count == 1, "\(log)")
        _ = try world.runOnce()
        #expect(try await world.reports().count == 1)
    }

    /// Applied, then the answer is lost (the connection drops, a proxy answers 502), or held past the request's
    /// deadline (Gerrit abandons it): in every case exactly one review lands.
    @Test(arguments: ["apply-close", "apply-status", "hang"])
    func aWriteWhoseAnswerIsLostLandsOnce(kind: String) async throws {
        let world = try await World.make()
        defer { world.stop() }
        try await world.vote("alice")
        // request-timeout is 3 s: an 8 s hang passes the POST's deadline (without one, the server would apply the
        // request at 8 s, after the bot has looked for it at 5 s and posted again).
        try await world.fake.fault(["kind": kind, "status": 502, "seconds": 8, "path": "/review$", "method": "POST"])
        let (status, log) = try world.runOnce(timeout: 40)
        #expect(status == 0, "\(log)")
        if kind == "hang" { try await Task.sleep(for: .seconds(4)) }
        #expect(try await world.reports().count == 1, "\(log)")
        let posts = try await world.fake.requests(matching: "/review$")
        #expect(posts.count == (kind == "hang" ? 2 : 1), "a landed write is not made again: \(posts)")
        _ = try world.runOnce()
        #expect(try await world.reports().count == 1)
    }

    // MARK: - The commit tested is the one Gerrit names

    /// Gerrit names one commit as patch set 1's revision, but the git endpoint serves another at its ref: nothing
    /// runs on it, and the review is told so once.
    @Test func aFetchedCommitThatIsNotThePatchSetsRevisionIsRefusedOnce() async throws {
        let world = try await World.make()
        defer { world.stop() }
        let change = try await world.fake.object(.GET, "changes/1")
        let revision = try #require((change["patch_sets"] as? [[String: Any]])?.first?["sha"] as? String)
        try world.write("src/a.txt", "something else\n")
        try world.commit("not what Gerrit names")
        try world.git(["-C", world.work, "push", "-q", "-f", world.served, "HEAD:refs/changes/01/1/1"])
        try await world.vote("alice")
        var (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        let reports = try await world.reports()
        #expect(reports.count == 1, "\(log)")
        let message = reports.first.map(World.message) ?? ""
        #expect(message.contains("stepgate.RevisionMismatch"), "\(message)")
        #expect(message.contains(revision), "\(message)")
        let execution = try #require(try await world.store().executions().first)
        #expect(!(try await world.store().events(executionID: execution.id)).contains { $0.type.hasPrefix("Task") }, "a task ran")
    }

    // MARK: - A well-mannered CI account

    /// Success is quiet: the tag on every write, notify NONE, the attention set untouched, ordinary file comments.
    @Test func aSucceededReportIsQuietAndLeavesTheAttentionSetAlone() async throws {
        let world = try await World.make()
        defer { world.stop() }
        try await world.vote("alice")
        let (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        let reports = try await world.reports()
        let input = try #require(reports.first?["input"] as? [String: Any], "\(log)")
        #expect(input["tag"] as? String == "autogenerated:stepgate")
        #expect(input["notify"] as? String == "NONE")
        #expect(input["ignore_automatic_attention_set_rules"] as? Bool == true)
        #expect(input["add_to_attention_set"] == nil)
        #expect(input["robot_comments"] == nil)
        #expect((input["comments"] as? [String: Any])?["src/a.txt"] != nil, "findings are ordinary file comments")
        let attention = try await world.fake.control(.GET, "attention?change=1") as? [[String: Any]] ?? []
        #expect(attention.filter { $0["by"] as? String == "stepbot" && $0["changed"] as? Bool == true }.isEmpty, "\(attention)")
    }

    /// A negative vote tells the owner, and only the owner, with the configured notify.
    @Test func aNegativeVoteAddsOnlyTheOwnerToTheAttentionSet() async throws {
        let world = try await World.make(command: "exit 3", gerritExtra: "    notify: {failure: OWNER_REVIEWERS}")
        defer { world.stop() }
        try await world.fake.control(.POST, "accounts", ["username": "bob"])
        try await world.vote("bob")
        let (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        let input = try #require(try await world.reports().first?["input"] as? [String: Any], "\(log)")
        #expect(input["notify"] as? String == "OWNER_REVIEWERS")
        #expect((input["labels"] as? [String: Any])?["Verified"] as? Int == -1)
        let attention = try await world.fake.control(.GET, "attention?change=1") as? [[String: Any]] ?? []
        let byBot = attention.filter { $0["by"] as? String == "stepbot" }
        let owner = try await world.fake.object(.GET, "changes/1")["owner"] as? Int
        #expect(byBot.count == 1, "\(attention)")
        #expect(byBot.first?["op"] as? String == "add" && byBot.first?["account"] as? Int == owner, "\(byBot)")
        #expect(byBot.first?["automatic"] as? Bool == false)
        for review in try await world.reviews(change: 1) {
            #expect((review["input"] as? [String: Any])?["tag"] as? String == "autogenerated:stepgate", "\(review)")
        }
    }

    // MARK: - stepgate:comment

    /// A comment task's message reaches the review during the run, before the outcome, once (also across a crash).
    @Test(arguments: StoreKind.allCases) func aCommentTaskReachesTheReviewOnceDuringTheRun(store: StoreKind) async throws {
        let world = try await World.make(store: store)
        defer { world.stop() }
        try world.trust(
            [
                ".stepgate/workflows/check.asl.json": """
                {"StartAt": "Say", "States": {
                  "Say": {"Type": "Task", "Resource": "stepgate:comment", "Parameters": {"message": "deploying to staging"},
                          "ResultPath": null, "Next": "Work"},
                  "Work": {"Type": "Task", "Resource": "stepgate:command", "Parameters": {"command": ["sleep", "3"]}, "End": true}}}
                """
            ], "a workflow that comments")
        try await world.vote("alice")
        var (status, log) = try world.runOnce(timeout: 2.5)  // killed while Work runs, after the comment went out
        #expect(status != 0)
        let early = try await world.reviews(change: 1).map(World.message)
        #expect(early.count == 1 && early.first?.contains("deploying to staging") == true, "during the run: \(early) \(log)")
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        _ = try world.runOnce()
        let messages = try await world.reviews(change: 1).map(World.message)
        #expect(messages.count == 2, "\(messages)")
        #expect(messages.filter { $0.contains("deploying to staging") }.count == 1, "\(messages)")
        #expect(messages.last?.contains("workflow check succeeded") == true, "\(messages)")
        let comments = try await world.store().comments()
        #expect(comments.count == 1 && comments.allSatisfy(\.delivered))
    }

    // MARK: - SIGTERM

    /// A graceful stop leaves the execution RUNNING (never FAILED); the next start resumes it and reports once.
    @Test func sigtermLeavesExecutionsRunningAndTheNextStartResumesThem() async throws {
        // The task (in its sandbox) marks its checkout, which lives in the bot's work directory.
        let checkouts = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-checkouts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: checkouts, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: checkouts) }
        let world = try await World.make(
            command: "touch started; sleep 4; printf '{\"ok\":true}'", roles: "work-directory: \(checkouts.path)")
        defer { world.stop() }
        try await world.vote("alice")
        let (service, _, errURL) = try world.launch(["bot", "--config", world.config, "--log-level", "debug"])
        #expect(
            try await world.waitUntil {
                FileManager.default.enumerator(atPath: checkouts.path)?.contains { ($0 as? String)?.hasSuffix("/started") == true } == true
            })
        kill(service.processIdentifier, SIGTERM)
        let stoppedQuickly = try await world.waitUntil(timeout: 10) { !service.isRunning }
        #expect(stoppedQuickly, "the service did not stop within 10 s")
        if service.isRunning { kill(service.processIdentifier, SIGKILL) }
        service.waitUntilExit()
        let log = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        #expect(service.terminationStatus == 0, "\(log)")
        let executions = try await world.store().executions()
        #expect(executions.count == 1)
        #expect(executions.first?.status == .running, "\(String(describing: executions.first?.status)) \(log)")
        #expect(try await world.reports().isEmpty, "nothing reported for a stopped execution")
        let (status, again) = try world.runOnce()
        #expect(status == 0, "\(again)")
        let reports = try await world.reports()
        #expect(reports.count == 1, "\(again)")
        #expect(reports.first.map(World.message)?.contains("workflow check succeeded") == true, "\(reports)")
    }

    // MARK: - Recheck

    @Test func aRecheckRunsTheWorkflowsAgainOnceAndIsAudited() async throws {
        let world = try await World.make()
        defer { world.stop() }
        try await world.vote("alice")
        _ = try world.runOnce()
        #expect(try await world.reports().count == 1)
        try await world.comment("alice", "recheck")
        var (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        (status, log) = try world.runOnce()
        let reports = try await world.reports()
        #expect(reports.count == 2, "\(log)")
        let ids = Set(reports.map { World.message($0).components(separatedBy: "Execution: ").last ?? "" })
        #expect(ids.count == 2, "a new execution: \(ids)")
        let audit = try await world.store().audit.entries()
        #expect(audit.contains { $0.action == "review.recheck" && $0.actor == "alice" && $0.result.contains("started check") })
    }

    /// The attack: the author asks for a recheck after the approving vote that granted the deploy role was taken back.
    /// The new run sees the labels as they are now (never those of the earlier run) and is refused the role.
    @Test func aRecheckDoesNotLetTheAuthorBypassRoleRules() async throws {
        let world = try await World.make(
            roles: "roles:\n  deploy: {allow: {repositories: [demo], labels: {Code-Review: 2}}}",
            credentials: #", "Credentials": {"RoleArn": "deploy"}"#, triggerValue: 1)  // any +1 triggers
        defer { world.stop() }
        try await world.fake.control(.POST, "accounts", ["username": "bob"])
        try await world.vote("bob", 2)
        _ = try world.runOnce()
        #expect(try await world.reports().compactMap(World.verified) == [1])
        try await world.vote("bob", 1)
        try await world.comment("alice", "recheck")
        let (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        let reports = try await world.reports()
        #expect(reports.compactMap(World.verified) == [1, -1], "\(log)")
        #expect(reports.last.map(World.message)?.contains("stepgate.RoleDenied") == true, "\(reports)")
    }

    @Test func aRecheckThatRunsNothingSaysSoOnce() async throws {
        let world = try await World.make()
        defer { world.stop() }
        try await world.comment("alice", "Recheck")
        _ = try world.runOnce()
        _ = try world.runOnce()
        let messages = try await world.reviews(change: 1).map(World.message)
        #expect(messages.count == 1, "\(messages)")
        #expect(messages.first?.contains("no workflow's trigger matches patch set 1") == true, "\(messages)")
        #expect(try await world.reports().isEmpty)
    }

    // MARK: - Redrive

    /// World whose workflow counts its first task's runs and fails its second until `flag` exists (files of the
    /// host: the bot runs its tasks without a sandbox here).
    static func redriveWorld(roles: String = "", credentials: String = "", store: StoreKind = .sqlite) async throws -> (World, URL, URL) {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-redrive-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let count = scratch.appendingPathComponent("count")
        let flag = scratch.appendingPathComponent("flag")
        let world = try await World.make(roles: "sandbox: none\n" + roles, credentials: credentials, store: store)
        try world.trust(
            [
                ".stepgate/workflows/check.asl.json": """
                {"StartAt": "Build", "States": {
                  "Build": {"Type": "Task", "Resource": "stepgate:command",
                            "Parameters": {"command": ["sh", "-c", "echo run >> \(count.path); printf '{}'"]}\(credentials), "Next": "Test"},
                  "Test": {"Type": "Task", "Resource": "stepgate:command",
                           "Parameters": {"command": ["test", "-f", "\(flag.path)"]}\(credentials), "End": true}}}
                """
            ], "build, then test")
        return (world, count, flag)
    }

    @Test(arguments: StoreKind.allCases)
    func aFailedReviewExecutionIsRedrivenFromItsFailedStateAndReportedAgain(store kind: StoreKind) async throws {
        let (world, count, flag) = try await Self.redriveWorld(store: kind)
        defer { world.stop() }
        try await world.vote("alice")
        _ = try world.runOnce()
        #expect(try await world.reports().compactMap(World.verified) == [-1])
        let id = try #require(try await world.store().executions().first?.id)
        FileManager.default.createFile(atPath: flag.path, contents: nil)
        let (status, out, err) = try world.stepgate(
            ["executions", "redrive", id, "--store", world.storeURL, "--policy", world.config, "--by", "ops"])
        #expect(status == 0, "\(out) \(err)")
        #expect(out.contains("\(id): SUCCEEDED"), "\(out)")
        let runs = try String(contentsOf: count, encoding: .utf8).split(separator: "\n")
        #expect(runs.count == 1, "the step that succeeded ran again")
        let store = try world.store()
        let record = try #require(try await store.execution(id: id))
        #expect(record.status == .succeeded && record.redriveCount == 1)
        let events = try await store.events(executionID: id)
        let redriven = try #require(events.firstIndex { $0.type == "ExecutionRedriven" })
        let entered = events[redriven...].first { $0.type.hasSuffix("StateEntered") }
        #expect(entered?.json["stateEnteredEventDetails"]?["name"]?.stringValue == "Test", "redriven from the failed state")
        #expect(try await store.audit.entries().contains { $0.action == "execution.redrive" && $0.actor == "ops" })
        // The bot reports the new outcome once, on the same patch set.
        _ = try world.runOnce()
        _ = try world.runOnce()
        let reports = try await world.reports()
        #expect(reports.compactMap(World.verified) == [-1, 1], "\(reports.map(World.message))")
        #expect(reports.last.map(World.message)?.contains("Execution: \(id) (redrive 1)") == true)
        // A succeeded execution is not redriven.
        let (again, _, why) = try world.stepgate(["executions", "redrive", id, "--store", world.storeURL, "--policy", world.config])
        #expect(again == 1 && why.contains("Execution is SUCCEEDED and cannot be redriven"), "\(why)")
    }

    /// The attack: a redrive under a policy that no longer grants the role runs nothing and changes nothing.
    @Test func aRedriveIsAuthorizedByTheCurrentPolicy() async throws {
        let (world, count, flag) = try await Self.redriveWorld(
            roles: "roles:\n  deploy: {allow: {repositories: [demo]}}", credentials: #", "Credentials": {"RoleArn": "deploy"}"#)
        defer { world.stop() }
        try await world.vote("alice")
        _ = try world.runOnce()
        let id = try #require(try await world.store().executions().first?.id)
        #expect(try await world.store().execution(id: id)?.status == .failed)
        FileManager.default.createFile(atPath: flag.path, contents: nil)
        let revoked = world.dir.appendingPathComponent("revoked.yaml")
        try "roles:\n  deploy: {allow: {repositories: [elsewhere]}}\n".write(to: revoked, atomically: true, encoding: .utf8)
        let (status, out, err) = try world.stepgate(
            ["executions", "redrive", id, "--store", world.storeURL, "--policy", revoked.path])
        #expect(status == 1, "\(out) \(err)")
        #expect(err.contains("was not redriven: stepgate.RoleDenied"), "\(err)")
        let store = try world.store()
        let record = try #require(try await store.execution(id: id))
        #expect(record.status == .failed && record.redriveCount == 0)
        #expect(try String(contentsOf: count, encoding: .utf8).split(separator: "\n").count == 1)
        #expect(try await store.audit.entries().contains { $0.action == "execution.redrive" && $0.result.hasPrefix("refused") })
    }

    // MARK: - Group approvals

    /// `group:NAME` approvers are the group's members as Gerrit's REST API lists them (included groups too), by
    /// account: not the owner though a member, not an account whose display name is the group's, not a username
    /// spelled like the entry, not a non-member.
    @Test func aGerritGroupApprovesByItsMembersOnly() async throws {
        let world = try await World.make()
        defer { world.stop() }
        try world.trust(
            [
                ".stepgate/workflows/check.asl.json": """
                {"StartAt": "Approve", "States": {"Approve": {"Type": "Task", "Resource": "stepgate:approval",
                  "Parameters": {"message": "release?", "approvers": {"count": 2, "from": ["group:Release-Managers"]}},
                  "TimeoutSeconds": 600, "End": true}}}
                """
            ], "two release managers approve")
        for user in ["bob", "carol", "erin"] { try await world.fake.control(.POST, "accounts", ["username": user]) }
        try await world.fake.control(.POST, "accounts", ["name": "Release-Managers", "email": "mallory@example.org"])
        try await world.fake.control(.POST, "accounts", ["username": "group:Release-Managers"])
        try await world.fake.control(.POST, "groups", ["name": "Leads", "members": ["erin"]])
        try await world.fake.control(.POST, "groups", ["name": "Release-Managers", "members": ["carol", "alice"], "includes": ["Leads"]])
        func verdicts() async throws -> [Int] { try await world.reports().compactMap(World.verified) }
        try await world.vote("bob")  // starts the workflow; bob is no member
        _ = try world.runOnce()
        for impostor in ["alice", "mallory@example.org", "group:Release-Managers"] {
            try await world.vote(impostor)
            let (status, log) = try world.runOnce()
            #expect(status == 0, "\(log)")
            #expect(try await verdicts().isEmpty, "\(impostor) counted as a release manager: \(log)")
        }
        try await world.vote("carol")
        _ = try world.runOnce()
        #expect(try await verdicts().isEmpty, "one member is not two")
        try await world.vote("erin")  // a member through the included group
        let (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        #expect(try await verdicts() == [1], "\(log)")
        #expect(try await world.fake.requests(matching: "/groups/Release-Managers/members").count >= 1)
    }
}
