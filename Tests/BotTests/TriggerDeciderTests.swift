import Bot
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
}
