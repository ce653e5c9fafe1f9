import Foundation
import StatesLanguage
import Testing

@Suite(.timeLimit(.minutes(1)))
struct PreReceiveTests {
    /// A server whose main already holds the commit-policy gate (pushed before the hooks were installed).
    static func gatedWorld(installArguments: [String] = [], config: String = Defs.config, policy: String = Defs.policy) throws -> World {
        let world = try World(install: false)
        try world.commit("init", [".stepgate/stepgate.yaml": config, ".stepgate/workflows/policy.asl.json": policy, "README": "x\n"])
        let out = try world.push()
        if out.status != 0 { throw FixtureError(description: out.stderr) }
        try world.install(installArguments)
        return world
    }

    @Test func validWorkflowsAreAccepted() throws {
        let world = try Self.gatedWorld()
        let id = try world.commit("add deploy", [".stepgate/workflows/deploy.asl.json": Defs.deploy])
        let out = try world.push()
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stepgateLines.isEmpty)
        #expect(try world.serverRef("refs/heads/main") == id)
    }

    @Test func brokenWorkflowIsRejectedAtItsLocation() throws {
        let world = try Self.gatedWorld()
        let before = try world.serverRef("refs/heads/main")
        let id = try world.commit("add broken", [".stepgate/workflows/deploy.asl.json": Defs.brokenNext])
        let out = try world.push()
        #expect(out.status != 0)
        let lines = out.stepgateLines
        let expected = "stepgate: rejected refs/heads/main: \(id.prefix(7)) .stepgate/workflows/deploy.asl.json:4:35: error: state \"A\": Next names \"Nowhere\""
        #expect(lines.contains { $0.hasPrefix(expected) }, "\(lines)")
        #expect(try world.serverRef("refs/heads/main") == before)
        // Quarantined objects of a rejected push never reach the object store.
        let probe = try world.git(["cat-file", "-e", id], in: world.server, allowFailure: true)
        #expect(probe.status != 0)
    }

    @Test func brokenConfigIsRejected() throws {
        let world = try Self.gatedWorld()
        try world.commit("bad config", [".stepgate/stepgate.yaml": Defs.config + "  bogus: 1\n"])
        let out = try world.push()
        #expect(out.status != 0)
        #expect(out.stepgateLines.contains { $0.contains(".stepgate/stepgate.yaml:") && $0.contains("error:") }, "\(out.stderr)")
        // A config naming a definition that does not exist is rejected too.
        try world.git(["reset", "-q", "--hard", "origin/main"])
        try world.commit("dangling", remove: [".stepgate/workflows/policy.asl.json"])
        let second = try world.push()
        #expect(second.status != 0)
        #expect(second.stepgateLines.contains { $0.contains(".stepgate/stepgate.yaml:4:") && $0.contains("does not exist") }, "\(second.stderr)")
    }

    @Test func failingGateBlocksThePush() throws {
        let world = try Self.gatedWorld()
        let before = try world.serverRef("refs/heads/main")
        try world.commit("WIP: half done", ["a.txt": "a\n"])
        let out = try world.push()
        #expect(out.status != 0)
        #expect(out.stepgateLines == ["stepgate: rejected refs/heads/main: gate commit-policy failed: Policy.NoWIP: a commit says WIP"])
        #expect(try world.serverRef("refs/heads/main") == before)
        try world.git(["commit", "-q", "--amend", "-m", "done"])
        #expect(try world.push().status == 0)
    }

    @Test func gateComesFromTheTrustedTip() throws {
        let world = try Self.gatedWorld()
        // The push rewrites the gate to always succeed: the old gate still judges it.
        try world.commit("WIP: disable the policy", [".stepgate/workflows/policy.asl.json": Defs.alwaysSucceed])
        let out = try world.push()
        #expect(out.status != 0)
        #expect(out.stepgateLines.contains { $0.contains("gate commit-policy failed: Policy.NoWIP") })
    }

    @Test func creationDeletionForcePushAndMerges() throws {
        let world = try Self.gatedWorld()
        // Creation: judged by the default branch's gate.
        try world.git(["checkout", "-q", "-b", "feature/x"])
        try world.commit("WIP feature", ["feature.txt": "f\n"])
        let rejected = try world.push(["origin", "feature/x"])
        #expect(rejected.status != 0)
        #expect(try world.serverRef("refs/heads/feature/x") == nil)
        try world.git(["commit", "-q", "--amend", "-m", "feature"])
        #expect(try world.push(["origin", "feature/x"]).status == 0)
        // Force push: a rewritten branch is validated too.
        try world.git(["reset", "-q", "--hard", "main"])
        let rewritten = try world.commit("rewrite", [".stepgate/workflows/other.asl.json": Defs.brokenNext])
        let forced = try world.push(["--force", "origin", "feature/x"])
        #expect(forced.status != 0)
        #expect(forced.stepgateLines.contains { $0.contains("\(rewritten.prefix(7)) .stepgate/workflows/other.asl.json:4:35") })
        try world.commit("fix", [".stepgate/workflows/other.asl.json": Defs.deploy])
        #expect(try world.push(["--force", "origin", "feature/x"]).status == 0)
        // Merge: both sides' new commits are seen; the merged tip validates.
        try world.git(["checkout", "-q", "main"])
        try world.commit("main side", ["m.txt": "m\n"])
        try world.git(["merge", "-q", "--no-ff", "-m", "merge feature", "feature/x"])
        let merged = try world.push()
        #expect(merged.status == 0, "\(merged.stderr)")
        // Deletion.
        let deleted = try world.push(["origin", ":refs/heads/feature/x"])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(try world.serverRef("refs/heads/feature/x") == nil)
    }

    /// Commits pushed to an ungated branch first and then to `main` are seen by `main`'s gate.
    @Test func aTwoStepPushIsSeenByTheGate() throws {
        let world = try Self.gatedWorld(config: Defs.gate("policy.asl.json"))
        let before = try world.serverRef("refs/heads/main")
        try world.git(["checkout", "-q", "-b", "scratch"])
        try world.commit("WIP: sneak in", ["s.txt": "s\n"])
        #expect(try world.push(["origin", "scratch"]).status == 0)  // no gate watches scratch
        let out = try world.push(["origin", "scratch:main"])
        #expect(out.status != 0, "\(out.stderr)")
        #expect(out.stepgateLines == ["stepgate: rejected refs/heads/main: gate gate failed: Policy.NoWIP: a commit says WIP"])
        #expect(try world.serverRef("refs/heads/main") == before)
    }

    /// A gate that always refuses, with what it received as its cause: `old`, `new` and the
    /// messages of the commits entering the ref.
    static let reporter = """
        {"StartAt": "Say", "States": {
          "Say": {"Type": "Pass", "Parameters": {"said.$": "States.JsonToString(States.Array($.old, $.new, $.commits[*].message))"}, "Next": "No"},
          "No": {"Type": "Fail", "Error": "Gate.Saw", "CausePath": "$.said"}}}

        """

    /// What a gate receives for an update, a force push, a creation and a deletion (hooks/README.md).
    @Test func whatAGateReceives() throws {
        let world = try World(install: false)
        let config = Defs.gate("reporter.asl.json", refs: "refs/heads/gated/*")
        try world.commit("base", [".stepgate/stepgate.yaml": config, ".stepgate/workflows/reporter.asl.json": Self.reporter])
        let base = try world.commit("on main")
        try world.git(["push", "-q", "origin", "main", "main:refs/heads/gated/x"])
        try world.install()
        func saw(_ arguments: [String]) throws -> [String] {
            let out = try world.push(arguments)
            #expect(out.status != 0)
            let prefix = "stepgate: rejected refs/heads/gated/"
            let line = try #require(out.stepgateLines.first { $0.hasPrefix(prefix) }, "\(out.stderr)")
            let cause = try #require(line.range(of: "Gate.Saw: ")).upperBound
            let said = try #require(try JSONParser.parse(String(line[cause...])).arrayValue)
            return said.flatMap { $0.arrayValue?.compactMap(\.stringValue) ?? [$0.stringValue ?? "?"] }
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        let zero = String(repeating: "0", count: 40)
        // Update: old..new.
        try world.git(["checkout", "-q", "-b", "work"])
        let one = try world.commit("one")
        let two = try world.commit("two")
        let update = try saw(["origin", "work:gated/x"])
        #expect(update == [base, two, "one", "two"], "\(update)")
        // Force push: only what the new tip has that the old had not.
        try world.git(["reset", "-q", "--hard", base])
        let other = try world.commit("other")
        _ = one
        let forced = try saw(["--force", "origin", "work:gated/x"])
        #expect(forced == [base, other, "other"], "\(forced)")
        // Creation: beyond the default branch's tip (main's history is not repeated).
        let created = try saw(["origin", "work:refs/heads/gated/new"])
        #expect(created == [zero, other, "other"], "\(created)")
        // Deletion: no commits; the gate still decides.
        let deleted = try saw(["origin", ":refs/heads/gated/x"])
        #expect(deleted == [base, zero], "\(deleted)")
    }

    @Test func thousandCommitPush() throws {
        let world = try Self.gatedWorld()
        var stream = "reset refs/heads/main\nfrom refs/heads/main^0\n"
        for i in 1...1000 {
            let content = "line \(i)\n"
            stream += "commit refs/heads/main\nmark :\(i)\ncommitter Alice <alice@example.org> \(1_700_000_000 + i) +0000\n"
            stream += "data \("commit \(i)".utf8.count)\ncommit \(i)\n"
            stream += "M 100644 inline data.txt\ndata \(content.utf8.count)\n\(content)\n"
        }
        let out = try run("/usr/bin/git", ["fast-import", "--quiet"], in: world.client, environment: world.environment, stdin: stream)
        #expect(out.status == 0, "\(out.stderr)")
        try world.git(["reset", "-q", "--hard", "main"])
        let started = Date()
        let pushed = try world.push()
        #expect(pushed.status == 0, "\(pushed.stderr)")
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(try world.serverRef("refs/heads/main") == (try world.git(["rev-parse", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    /// A 10,000-commit push (a long-lived branch merged, an import) passes under the default 5 s
    /// budget: the gate sees the newest commits in full and counts them all.
    @Test func tenThousandCommitPushPassesUnderTheDefaultBudget() throws {
        let counter = """
            {"StartAt": "Count", "States": {"Count": {"Type": "Choice", "Choices": [
              {"And": [{"Variable": "$.commitCount", "NumericEquals": 10000}, {"Variable": "$.commitsComplete", "BooleanEquals": false}], "Next": "Ok"}],
              "Default": "No"},
              "No": {"Type": "Fail", "Error": "Gate.Count", "Cause": "the gate did not see 10,000 commits"},
              "Ok": {"Type": "Succeed"}}}

            """
        let world = try Self.gatedWorld(config: Defs.gate("policy.asl.json"), policy: counter)
        var stream = "reset refs/heads/main\nfrom refs/heads/main^0\n"
        for i in 1...10_000 {
            let content = "line \(i)\n"
            stream += "commit refs/heads/main\nmark :\(i)\ncommitter Alice <alice@example.org> \(1_700_000_000 + i) +0000\n"
            stream += "data \("commit \(i)".utf8.count)\ncommit \(i)\n"
            stream += "M 100644 inline data/\(i % 100).txt\ndata \(content.utf8.count)\n\(content)\n"
        }
        let imported = try run("/usr/bin/git", ["fast-import", "--quiet"], in: world.client, environment: world.environment, stdin: stream)
        #expect(imported.status == 0, "\(imported.stderr)")
        try world.git(["reset", "-q", "--hard", "main"])
        let pushed = try world.push()
        #expect(pushed.status == 0, "\(pushed.stderr)")
        #expect(pushed.stepgateLines.isEmpty, "\(pushed.stepgateLines)")
        #expect(try world.serverRef("refs/heads/main") == (try world.git(["rev-parse", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    /// A gate calling an AWS service runs it through the operator's resource map (the hook
    /// configuration's `resources`); without a mapping it fails naming the resource.
    @Test func awsResourcesOfAGateRunThroughTheOperatorsMap() throws {
        let gate = """
            {"StartAt": "Notify", "States": {"Notify": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
              "Parameters": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:pushes", "Message.$": "$.ref"}, "End": true}}}

            """
        let world = try Self.gatedWorld(policy: gate)
        try world.commit("one", ["a.txt": "a\n"])
        let unmapped = try world.push()
        #expect(unmapped.status != 0)
        #expect(unmapped.stepgateLines.first?.contains("arn:aws:states:::sns:publish") == true, "\(unmapped.stderr)")
        let settings = world.root + "/hooks.yaml"
        try world.writeFile(settings, "resources:\n  \"arn:aws:states:::sns:publish\": {return: {MessageId: m-1}}\n")
        try world.install(["--config", settings])
        let mapped = try world.push()
        #expect(mapped.status == 0, "\(mapped.stderr)")
    }

    @Test func pusherComesFromTheServerEnvironment() throws {
        let gate = """
            {"StartAt": "Who", "States": {
              "Who": {"Type": "Choice", "Choices": [{"Variable": "$.pusher", "StringEquals": "alice", "Next": "Ok"}], "Default": "No"},
              "No": {"Type": "Fail", "Error": "Pusher.Denied", "Cause": "only alice may push"},
              "Ok": {"Type": "Succeed"}}}

            """
        let world = try Self.gatedWorld(policy: gate)
        // The commit claims to be alice; the server says bob.
        try world.commit("by alice?", ["b.txt": "b\n"])
        let denied = try world.push(environment: ["REMOTE_USER": "bob"])
        #expect(denied.status != 0)
        #expect(denied.stepgateLines == ["stepgate: rejected refs/heads/main: gate commit-policy failed: Pusher.Denied: only alice may push"])
        let accepted = try world.push(environment: ["REMOTE_USER": "alice", "GIT_AUTHOR_NAME": "mallory"])
        #expect(accepted.status == 0, "\(accepted.stderr)")
    }

    @Test func timeBudgetRejectsSlowGates() throws {
        let root = FileManager.default.temporaryDirectory.path
        let settings = root + "/stepgate-hook-settings-\(UUID().uuidString).yaml"
        try Data("hooks:\n  timeout: 1s\nroles:\n  ci-readonly: {allow: {repositories: [demo]}}\n".utf8).write(to: URL(fileURLWithPath: settings))
        defer { try? FileManager.default.removeItem(atPath: settings) }
        let slow = """
            {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": true}}}

            """
        let world = try Self.gatedWorld(installArguments: ["--config", settings], policy: slow)
        try world.commit("slow", ["c.txt": "c\n"])
        let started = Date()
        let out = try world.push()
        let elapsed = Date().timeIntervalSince(started)
        #expect(out.status != 0)
        #expect(elapsed < 4, "took \(elapsed) s")
        #expect(out.stepgateLines.count == 1)
        #expect(out.stepgateLines.first?.hasPrefix("stepgate: rejected refs/heads/main: gate commit-policy did not finish within") == true, "\(out.stderr)")
    }

    @Test func internalErrorsFollowThePolicy() throws {
        // The trusted config names a gate whose definition is missing at the trusted tip.
        let config = Defs.gate("missing.asl.json")
        let world = try World(install: false)
        try world.commit("init", [".stepgate/stepgate.yaml": config])
        #expect(try world.push().status == 0)
        try world.install()
        try world.commit("next", ["d.txt": "d\n"])
        let closed = try world.push()
        #expect(closed.status != 0)
        #expect(closed.stepgateLines.count == 1)
        #expect(closed.stepgateLines.first?.contains("internal error") == true)
        #expect(closed.stepgateLines.first?.contains("fail-closed") == true, "\(closed.stderr)")

        let settings = world.root + "/hooks.yaml"
        try world.writeFile(settings, "hooks:\n  on-error: fail-open\n")
        try world.install(["--config", settings])
        let open = try world.push()
        #expect(open.status == 0, "\(open.stderr)")
        #expect(open.stepgateLines.count == 1)
        #expect(open.stepgateLines.first?.hasPrefix("stepgate: warning: refs/heads/main: internal error") == true, "\(open.stderr)")

        // A broken hook configuration fails closed whatever it would have said.
        try world.writeFile(settings, "hooks:\n  on-error: sometimes\n")
        try world.commit("more")
        let broken = try world.push()
        #expect(broken.status != 0)
        #expect(broken.stepgateLines.count == 1)
        #expect(broken.stepgateLines.first?.contains("hooks.yaml:2:") == true, "\(broken.stderr)")
    }

    @Test func updateHookJudgesEachRef() throws {
        let world = try Self.gatedWorld(installArguments: ["--per-ref"])
        #expect(!FileManager.default.fileExists(atPath: world.server + "/hooks/pre-receive"))
        try world.git(["checkout", "-q", "-b", "feature/ok"])
        let good = try world.commit("fine", ["u.txt": "u\n"])
        try world.git(["checkout", "-q", "main"])
        try world.commit("WIP on main", ["v.txt": "v\n"])
        let out = try world.push(["origin", "main", "feature/ok"])
        #expect(out.status != 0)
        #expect(out.stepgateLines == ["stepgate: rejected refs/heads/main: gate commit-policy failed: Policy.NoWIP: a commit says WIP"])
        // Per ref: the other branch got in.
        #expect(try world.serverRef("refs/heads/feature/ok") == good)
    }
}
