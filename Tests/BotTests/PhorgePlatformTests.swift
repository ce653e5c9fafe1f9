import AsyncHTTPClient
@testable import Bot
import Config
import Foundation
import Git
import Logging
import ReviewClients
import Runtime
import StatesLanguage
import Testing

/// The Phorge platform's pure parts: configuration, query constraints, wording, lint mapping, the trigger decision
/// on Phorge snapshots.
struct PhorgePlatformTests {
    static func platform(_ yaml: String = "") throws -> PhorgePlatform {
        let token = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-token-\(UUID().uuidString)")
        try Data("api-aaaaaaaaaaaaaaaaaaaaaaaaaaaa\n".utf8).write(to: token)
        let configuration = try BotConfiguration.parse(
            """
            store: /tmp/x.db
            phabricator:
              - name: phab
                url: http://127.0.0.1:1
                token-file: \(token.path)
                overlap: 30s
            \(yaml)
            repositories:
              demo: {path: /tmp/nowhere.git, phabricator-repository: rDEMO}
              other: {path: /tmp/other.git, gerrit-project: other}
            """, fileName: "bot.yaml")
        return try PhorgePlatform(
            configuration: configuration.phabricator[0], repositories: configuration.repositories, httpClient: HTTPClient.shared,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    @Test func approvalCommandIsConfigurable() throws {
        #expect(try Self.platform().configuration.approvalCommand == "!stepgate approve")
        #expect(try Self.platform("    approval-command: \"!ship it\"").configuration.approvalCommand == "!ship it")
    }

    @Test func scopesAreTheMirrorsWithAPhabricatorRepository() throws {
        #expect(try Self.platform().scopes == ["rDEMO"])
        #expect(try Self.platform().kind == .phabricator)
    }

    @Test func firstPollReadsOpenRevisionsThenEverythingSinceTheCursorMinusOverlap() throws {
        let p = try Self.platform()
        let first = p.constraints(repositoryPHID: "PHID-REPO-1", cursor: nil)
        #expect(first.statuses == PhorgePlatform.openStatuses)
        #expect(first.modifiedStart == nil)
        #expect(first.repositoryPHIDs == ["PHID-REPO-1"])
        let later = p.constraints(repositoryPHID: "PHID-REPO-1", cursor: "1000")
        #expect(later.statuses == nil)
        #expect(later.modifiedStart == 970)
    }

    @Test func noticesSpeakOfDiffs() {
        #expect(
            PhorgePlatform.phorgeWording("stepgate: workflow check was cancelled: superseded by patch set 3.")
                == "stepgate: workflow check was cancelled: superseded by diff 3.")
    }

    @Test func findingsBecomeLintMessages() {
        let lint = PhorgePlatform.lint(ReviewFinding(path: "src/a.txt", line: 4, message: "no tabs\nmore", severity: "info"), workflow: "check")
        #expect(lint.severity == "advice")
        #expect(lint.path == "src/a.txt")
        #expect(lint.line == 4)
        #expect(lint.char == 1)
        #expect(lint.name == "no tabs")
        #expect(lint.code == "stepgate.check")
        #expect(PhorgePlatform.lintSeverity("error") == "error")
        #expect(PhorgePlatform.lintSeverity("warning") == "warning")
    }

    @Test func unitResultsArePerTaskState() {
        var report = OutcomeReport(executionID: "e", workflow: "check", status: "FAILED", error: "States.TaskFailed", cause: "exit 1", failedState: "Test")
        report.tasks = [TaskOutcome(state: "Lint", succeeded: true), TaskOutcome(state: "Test", succeeded: false, error: "States.TaskFailed", cause: "exit 1")]
        let units = PhorgePlatform.units(report)
        #expect(units.map(\.name) == ["Lint", "Test"])
        #expect(units.map(\.result) == ["pass", "fail"])
        #expect(units[1].details == "States.TaskFailed: exit 1")
        // No task ran (a role denial): one failing result for the workflow.
        let denied = OutcomeReport(executionID: "e", workflow: "check", status: "FAILED", error: "stepgate.RoleDenied", cause: "no")
        #expect(PhorgePlatform.units(denied).map(\.name) == ["check"])
        #expect(PhorgePlatform.units(denied).map(\.result) == ["fail"])
    }

    @Test func approvalVotersAreAcceptersAndCommandAuthors() throws {
        let p = try Self.platform()
        let target = ReviewTarget(
            server: "phab", platform: .phabricator, repository: "demo", project: "rDEMO", reviewID: "D1", reviewNumber: 1,
            revisionNumber: 2, revisionID: "PHID-DIFF-2")
        let snapshot = ReviewSnapshot(
            target: target, branch: "main", isOpen: true, status: "accepted", labels: [:],
            labelVoters: ["accepted": ["bob": 1], "command": ["carol": 1, "bob": 1]], approvers: ["bob"], files: [],
            revisionSHA: nil, updated: "1", event: .null,
            people: ["bob": ReviewerIdentity(id: "PHID-USER-b", username: "bob"), "carol": ReviewerIdentity(id: "PHID-USER-c", username: "carol")])
        #expect(
            p.approvalVoters(in: snapshot) == [
                ApprovalVoter(ReviewerIdentity(id: "PHID-USER-b", username: "bob")),
                ApprovalVoter(ReviewerIdentity(id: "PHID-USER-c", username: "carol"), byCommand: true),
            ])
    }

    /// The trust rule: the target branch is the operator's `branch`, else Diffusion's default branch; a diff's refs
    /// play no part (the function does not even see them).
    @Test func theTargetBranchIsDecidedServerSide() throws {
        let mirror = MirrorConfiguration(key: "demo", path: "/tmp/x.git", phabricatorRepository: "rDEMO")
        #expect(PhorgePlatform.targetBranch(mirror: mirror, repository: nil) == "master", "Phorge's own default for Git")
        var configured = mirror
        configured.branch = "refs/heads/release"
        #expect(PhorgePlatform.targetBranch(mirror: configured, repository: nil) == "release")
    }

    @Test func gitCredentialsComeFromTheServerEntry() throws {
        let password = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-vcs-\(UUID().uuidString)")
        try Data("s3cret\n".utf8).write(to: password)
        let p = try Self.platform("    git-username: stepbot\n    git-password-file: \(password.path)")
        #expect(p.credentials?.username == "stepbot")
        #expect(p.credentials?.password == "s3cret")
        #expect(!"\(p.credentials!)".contains("s3cret"))
        #expect(throws: (any Error).self) { try Self.platform("    git-username: stepbot\n    git-password-file: /nonexistent") }
        #expect(throws: (any Error).self) { try Self.platform("    git-username: stepbot") }
    }

    @Test func aRefusedSnapshotStartsNothingAndIsSaidOnceWhenATriggerMatches() throws {
        let target = ReviewTarget(
            server: "phab", platform: .phabricator, repository: "demo", project: "rDEMO", reviewID: "D1", reviewNumber: 1,
            revisionNumber: 2, revisionID: "PHID-DIFF-2")
        var snapshot = ReviewSnapshot(
            target: target, branch: "main", isOpen: true, status: "accepted", labels: [:], approvers: ["bob"],
            files: [".stepgate/stepgate.yaml"], revisionSHA: nil, updated: "1", event: .null)
        snapshot.refusal = "stepgate: diff 2 of D1 is not run: nope"
        let config = try #require(
            RepositoryConfigLoader.load(
                "version: 1\nworkflows:\n  check:\n    definition: workflows/check.asl.json\n    on:\n      phabricator: {status: [accepted]}\n",
                fileName: "stepgate.yaml"
            ).config)
        let actions = TriggerDecider.decide(snapshot: snapshot, configuration: .config(config), knowledge: TriggerKnowledge())
        #expect(actions == [.refuse(key: "D1/2/refused", message: "stepgate: diff 2 of D1 is not run: nope")])
        snapshot.status = "needs-review"
        #expect(
            !TriggerDecider.decide(snapshot: snapshot, configuration: .config(config), knowledge: TriggerKnowledge()).contains {
                if case .refuse = $0 { return true } else { return false }
            }, "no trigger matches: nothing is said")
    }
}
