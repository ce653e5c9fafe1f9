import Bot
import Foundation
import Config
import Runtime
import StatesLanguage
import Testing

/// The pure trigger and report decisions: no network, no store.
struct TriggerDeciderTests {
    static func target(ps: Int = 1) -> ReviewTarget {
        ReviewTarget(
            server: "review", platform: .gerrit, repository: "demo", project: "demo", reviewID: "demo~7", reviewNumber: 7,
            revisionNumber: ps, revisionID: "sha\(ps)")
    }

    static func snapshot(ps: Int = 1, labels: [String: Int] = ["Code-Review": 2], branch: String = "main", open: Bool = true, files: [String] = ["src/a.txt"])
        -> ReviewSnapshot
    {
        ReviewSnapshot(
            target: target(ps: ps), branch: branch, isOpen: open, status: open ? "NEW" : "ABANDONED", labels: labels,
            approvers: ["alice"], files: files, revisionSHA: "sha\(ps)", updated: "2024-01-01 00:00:00.000000000", event: .null)
    }

    static let config: TrustedConfiguration = .config(
        RepositoryConfig(workflows: [
            WorkflowConfig(
                name: "check", definition: "workflows/check.asl.json",
                triggers: Triggers(
                    gerrit: GerritTrigger(
                        labels: [LabelCondition(label: "Code-Review", value: 2)], branches: [try! RefPattern("main")])),
                report: ReportConfig(vote: "Verified"))
        ]))

    @Test func labelsMetStartsOnce() {
        let s = Self.snapshot()
        let actions = TriggerDecider.decide(snapshot: s, configuration: Self.config, knowledge: TriggerKnowledge())
        #expect(actions == [.start(workflow: "check", dedupeKey: "gerrit|review|demo~7|1|check")])
        let again = TriggerDecider.decide(
            snapshot: s, configuration: Self.config, knowledge: TriggerKnowledge(claimedKeys: ["gerrit|review|demo~7|1|check"]))
        #expect(!again.contains { if case .start = $0 { true } else { false } })
    }

    @Test func labelsNotMetOrOtherBranch() {
        for s in [Self.snapshot(labels: ["Code-Review": 1]), Self.snapshot(labels: [:]), Self.snapshot(branch: "dev")] {
            let actions = TriggerDecider.decide(snapshot: s, configuration: Self.config, knowledge: TriggerKnowledge())
            #expect(actions.allSatisfy { if case .skip = $0 { true } else { false } })
        }
    }

    @Test func vetoWinsOverApproval() {
        #expect(ReviewSnapshot.combine(votes: [2, -1]) == -1)
        #expect(ReviewSnapshot.combine(votes: [1, 2]) == 2)
        #expect(ReviewSnapshot.combine(votes: [0]) == nil)
    }

    @Test func newPatchSetSupersedesAndStartsAgain() {
        let old = KnownExecution(executionID: "e1", target: Self.target(ps: 1), workflow: "check", isRunning: true)
        let actions = TriggerDecider.decide(
            snapshot: Self.snapshot(ps: 2), configuration: Self.config,
            knowledge: TriggerKnowledge(executions: [old], claimedKeys: ["gerrit|review|demo~7|1|check"]))
        #expect(actions.contains(.cancel(executionID: "e1", target: Self.target(ps: 1), reason: "superseded by patch set 2")))
        #expect(actions.contains(.start(workflow: "check", dedupeKey: "gerrit|review|demo~7|2|check")))
    }

    @Test func abandonedCancelsAndStartsNothing() {
        let running = KnownExecution(executionID: "e1", target: Self.target(), workflow: "check", isRunning: true)
        let actions = TriggerDecider.decide(
            snapshot: Self.snapshot(open: false), configuration: Self.config, knowledge: TriggerKnowledge(executions: [running]))
        #expect(actions.count == 1)
        guard case .cancel(let id, _, let reason) = actions.first else { Issue.record("no cancel"); return }
        #expect(id == "e1")
        #expect(reason.contains("abandoned"))
    }

    @Test func removedVoteCancels() {
        let running = KnownExecution(executionID: "e1", target: Self.target(), workflow: "check", isRunning: true)
        let actions = TriggerDecider.decide(
            snapshot: Self.snapshot(labels: [:]), configuration: Self.config, knowledge: TriggerKnowledge(executions: [running]))
        #expect(actions.contains { if case .cancel("e1", _, _) = $0 { true } else { false } })
    }

    @Test func finishedExecutionsAreNotCancelled() {
        let done = KnownExecution(executionID: "e1", target: Self.target(ps: 1), workflow: "check", isRunning: false)
        let actions = TriggerDecider.decide(
            snapshot: Self.snapshot(ps: 2), configuration: Self.config, knowledge: TriggerKnowledge(executions: [done]))
        #expect(!actions.contains { if case .cancel = $0 { true } else { false } })
    }

    @Test func stepgateEditIsValidatedOnce() {
        let s = Self.snapshot(files: [".stepgate/workflows/x.asl.json"])
        #expect(s.touchesStepgate)
        let first = TriggerDecider.decide(snapshot: s, configuration: Self.config, knowledge: TriggerKnowledge())
        #expect(first.contains(.validate(dedupeKey: s.target.validationKey)))
        let second = TriggerDecider.decide(
            snapshot: s, configuration: Self.config, knowledge: TriggerKnowledge(claimedKeys: [s.target.validationKey]))
        #expect(!second.contains(.validate(dedupeKey: s.target.validationKey)))
    }

    @Test func noTrustedConfigurationStartsNothing() {
        for c in [TrustedConfiguration.absent, .invalid("bad")] {
            let actions = TriggerDecider.decide(snapshot: Self.snapshot(), configuration: c, knowledge: TriggerKnowledge())
            #expect(actions.allSatisfy { if case .skip = $0 { true } else { false } })
        }
    }

    @Test func approvalsGoToRunningExecutionsOfTheCurrentRevision() {
        let running = KnownExecution(executionID: "e1", target: Self.target(), workflow: "check", isRunning: true)
        let actions = TriggerDecider.decide(
            snapshot: Self.snapshot(), configuration: Self.config, knowledge: TriggerKnowledge(executions: [running]),
            approvalVoters: [ApprovalVoter(ReviewerIdentity(id: "1000", username: "alice"))])
        #expect(actions.contains(.approve(executionID: "e1", voters: [ApprovalVoter(ReviewerIdentity(id: "1000", username: "alice"))])))
    }

    @Test func staleReportSkippedAndNeverTwice() {
        #expect(ReportDecider.decide(state: .pending, isCurrent: true) == .post)
        #expect(ReportDecider.decide(state: .posting, isCurrent: true) == .checkThenPost)
        if case .skipStale = ReportDecider.decide(state: .pending, isCurrent: false) {} else { Issue.record("not skipped") }
        for s in [ReportState.posted, .skipped, .cancelled] {
            #expect(ReportDecider.decide(state: s, isCurrent: true) == .nothing)
        }
    }

    @Test func dedupeKeysDifferPerRevisionAndWorkflow() {
        #expect(Self.target(ps: 1).dedupeKey(workflow: "a") != Self.target(ps: 2).dedupeKey(workflow: "a"))
        #expect(Self.target(ps: 1).dedupeKey(workflow: "a") != Self.target(ps: 1).dedupeKey(workflow: "b"))
    }
}

struct BotConfigurationTests {
    @Test func parsesEveryKey() throws {
        let text = """
            store: sqlite:///tmp/x.db
            gerrit:
              - name: review
                url: http://127.0.0.1:8080
                username: stepbot
                password-file: /etc/pw
                projects: [demo]
                poll-interval: 1s
                overlap: 2m
            phabricator:
              - name: phab
                url: https://phab.example.org
                token-file: /etc/token
                staging-url: https://staging.example.org/source/demo.git
                repositories: [rDEMO]
            repositories:
              demo: {path: /srv/git/demo.git, gerrit-project: demo, phabricator-repository: rDEMO}
            roles:
              ci-readonly: {allow: {repositories: [demo]}}
            identity: {keys: /etc/keys, issuer: https://bot, audience: ci}
            """
        let c = try BotConfiguration.parse(text, fileName: "bot.yaml")
        #expect(c.gerrit.first?.pollInterval == .seconds(1))
        #expect(c.gerrit.first?.overlap == .seconds(120))
        #expect(c.gerrit.first?.gitURL == "http://127.0.0.1:8080/a")
        #expect(c.phabricator.first?.repositories == ["rDEMO"])
        #expect(c.repositories["demo"]?.gerritProject == "demo")
        #expect(c.roles.roles["ci-readonly"] != nil)
        #expect(c.identity?.audience == "ci")
    }

    @Test func locatesErrors() {
        let text = """
            store: x.db
            gerrit:
              - name: review
                url: http://x
                username: u
                password-file: /p
                projects: [nowhere]
                poll-interval: soon
                colour: blue
            """
        do {
            _ = try BotConfiguration.parse(text, fileName: "bot.yaml")
            Issue.record("accepted")
        } catch {
            let d = error.description
            #expect(d.contains("bot.yaml:8:"), "\(d)")
            #expect(d.contains("unknown key 'colour'"))
            #expect(d.contains("project 'nowhere'"))
        }
    }

    @Test func gerritConductKeysAreParsedAndChecked() throws {
        let base = """
            store: x.db
            gerrit:
              - name: review
                url: http://x
                username: u
                password-file: /p
                projects: [demo]
            %@
            repositories:
              demo: {path: /srv/git/demo.git, gerrit-project: demo}
            """
        let defaults = try BotConfiguration.parse(base.replacingOccurrences(of: "%@", with: ""), fileName: "bot.yaml").gerrit[0]
        #expect(defaults.notify == GerritNotify())
        #expect(defaults.notify.success == "NONE")
        #expect(defaults.recheck == "recheck")
        #expect(defaults.requestTimeout == .seconds(30))
        let set = try BotConfiguration.parse(
            base.replacingOccurrences(
                of: "%@", with: "    notify: {success: OWNER, failure: ALL}\n    recheck: retest\n    request-timeout: 5s"),
            fileName: "bot.yaml"
        ).gerrit[0]
        #expect(set.notify.success == "OWNER" && set.notify.failure == "ALL" && set.notify.notice == "OWNER")
        #expect(set.recheck == "retest")
        #expect(set.requestTimeout == .seconds(5))
        #expect(try BotConfiguration.parse(base.replacingOccurrences(of: "%@", with: "    recheck: false"), fileName: "b").gerrit[0].recheck == nil)
        do {
            _ = try BotConfiguration.parse(
                base.replacingOccurrences(of: "%@", with: "    notify: {success: LOUD, sometimes: ALL}"), fileName: "bot.yaml")
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("'success' must be one of NONE, OWNER, OWNER_REVIEWERS, ALL"), "\(error)")
            #expect(error.description.contains("unknown key 'sometimes'"), "\(error)")
        }
    }
}

/// The recheck decisions (pure).
struct RecheckDeciderTests {
    static let alice = ReviewerIdentity(id: "1000001", username: "alice")

    static func recheck(_ id: String) -> RecheckRequest { RecheckRequest(id: id, by: alice) }

    @Test func aRecheckStartsTheMatchingWorkflowsAgainOnce() {
        var s = TriggerDeciderTests.snapshot()
        s.rechecks = [Self.recheck("m1")]
        let claimed: Set<String> = ["gerrit|review|demo~7|1|check"]
        let actions = TriggerDecider.decide(snapshot: s, configuration: TriggerDeciderTests.config, knowledge: TriggerKnowledge(claimedKeys: claimed))
        #expect(actions.contains(.start(workflow: "check", dedupeKey: "gerrit|review|demo~7|1|check|recheck:m1")))
        #expect(actions.last == .recheck(key: "gerrit|review|demo~7|recheck|m1", by: Self.alice, started: ["check"], message: nil))
        // Acted on: the same comment starts nothing again.
        let again = TriggerDecider.decide(
            snapshot: s, configuration: TriggerDeciderTests.config,
            knowledge: TriggerKnowledge(claimedKeys: claimed.union(["gerrit|review|demo~7|recheck|m1"])))
        #expect(!again.contains { if case .start = $0 { true } else { false } })
        #expect(!again.contains { if case .recheck = $0 { true } else { false } })
    }

    /// The labels are those of the revision now: a recheck after the approving vote was withdrawn runs nothing.
    @Test func aRecheckRunsNothingWhoseTriggerDoesNotHoldNow() {
        var s = TriggerDeciderTests.snapshot(labels: ["Code-Review": 1])
        s.rechecks = [Self.recheck("m1")]
        let actions = TriggerDecider.decide(
            snapshot: s, configuration: TriggerDeciderTests.config, knowledge: TriggerKnowledge(claimedKeys: ["gerrit|review|demo~7|1|check"]))
        #expect(!actions.contains { if case .start = $0 { true } else { false } })
        guard case .recheck(_, _, let started, let message)? = actions.last else {
            Issue.record("no recheck action: \(actions)")
            return
        }
        #expect(started.isEmpty)
        #expect(message?.contains("no workflow's trigger matches patch set 1") == true)
    }

    @Test func aRecheckLeavesARunningExecutionAloneAndSeveralCommentsAreOneRequest() {
        var s = TriggerDeciderTests.snapshot()
        s.rechecks = [Self.recheck("m1"), Self.recheck("m2")]
        let running = KnownExecution(executionID: "e1", target: TriggerDeciderTests.target(), workflow: "check", isRunning: true)
        let actions = TriggerDecider.decide(
            snapshot: s, configuration: TriggerDeciderTests.config,
            knowledge: TriggerKnowledge(executions: [running], claimedKeys: ["gerrit|review|demo~7|1|check"]))
        #expect(!actions.contains { if case .start = $0 { true } else { false } })
        #expect(actions.contains(.recheck(key: "gerrit|review|demo~7|recheck|m1", by: Self.alice, started: [], message: nil)))
        guard case .recheck(let key, _, _, let message)? = actions.last else {
            Issue.record("no recheck action: \(actions)")
            return
        }
        #expect(key == "gerrit|review|demo~7|recheck|m2")
        #expect(message?.contains("still running") == true)
    }

    /// A recheck arriving with the first matching vote adds nothing to the start the vote makes.
    @Test func aRecheckWithTheFirstVoteStartsOnce() {
        var s = TriggerDeciderTests.snapshot()
        s.rechecks = [Self.recheck("m1")]
        let actions = TriggerDecider.decide(snapshot: s, configuration: TriggerDeciderTests.config, knowledge: TriggerKnowledge())
        #expect(actions.filter { if case .start = $0 { true } else { false } } == [.start(workflow: "check", dedupeKey: "gerrit|review|demo~7|1|check")])
        #expect(actions.last == .recheck(key: "gerrit|review|demo~7|recheck|m1", by: Self.alice, started: ["check"], message: nil))
    }

}
