public import Foundation
public import Runtime
public import StatesLanguage

/// Where an outcome is reported: one revision (Gerrit patch set, Phorge diff) of one review.
///
/// Stored with every execution the bot starts, so that a restarted bot reports on the revision
/// that triggered the execution, never on a newer one.
public struct ReviewTarget: Sendable, Hashable, Codable {
    /// The configured server name (`review`).
    public var server: String
    public var platform: TriggerContext.Kind.RawValue
    /// The repository key of bot.yaml (`demo`).
    public var repository: String
    /// The server's project or repository name (`demo`, `rDEMO`).
    public var project: String
    /// The review's own identifier as the server's API wants it (`demo~42`, `D42`).
    public var reviewID: String
    /// The review's number (Gerrit change number, Phorge revision number).
    public var reviewNumber: Int
    /// Patch set / diff number.
    public var revisionNumber: Int
    /// The server's revision identifier to post on (Gerrit: the patch set's SHA-1; Phorge: the diff PHID).
    public var revisionID: String

    public init(
        server: String, platform: TriggerContext.Kind, repository: String, project: String, reviewID: String,
        reviewNumber: Int, revisionNumber: Int, revisionID: String
    ) {
        self.server = server
        self.platform = platform.rawValue
        self.repository = repository
        self.project = project
        self.reviewID = reviewID
        self.reviewNumber = reviewNumber
        self.revisionNumber = revisionNumber
        self.revisionID = revisionID
    }

    /// A stable key for the review (without the revision): `review|demo~42`.
    public var reviewKey: String { "\(server)|\(reviewID)" }

    /// The dedupe key of one workflow on this revision: `gerrit|review|demo~42|3|deploy`.
    public func dedupeKey(workflow: String) -> String {
        "\(platform)|\(server)|\(reviewID)|\(revisionNumber)|\(workflow)"
    }

    /// The dedupe key of the `.stepgate/` validation of this revision.
    public var validationKey: String { "\(platform)|\(server)|\(reviewID)|\(revisionNumber)|.stepgate-validation" }

    /// The key of the one notice saying why this revision was refused (`D12/34/refused`); it is also written into
    /// the notice, so that the bot can find it on the server after a crash.
    public var refusalKey: String { "\(reviewID)/\(revisionNumber)/refused" }

    /// The dedupe key of one recheck comment (claimed once it was acted on).
    public func recheckKey(_ request: RecheckRequest) -> String {
        "\(platform)|\(server)|\(reviewID)|recheck|\(request.id)"
    }

    /// The dedupe key of a workflow started again by a recheck comment on this revision.
    public func dedupeKey(workflow: String, recheck request: RecheckRequest) -> String {
        dedupeKey(workflow: workflow) + "|recheck:" + request.id
    }
}

/// A server-neutral view of one review as a poll saw it: what the trigger decision needs.
public struct ReviewSnapshot: Sendable {
    /// The current revision, where reports for it go.
    public var target: ReviewTarget
    /// The target branch, without `refs/heads/`.
    public var branch: String
    /// Whether the review is open (Gerrit NEW, Phorge not closed/abandoned).
    public var isOpen: Bool
    /// The server's status word (`NEW`, `ABANDONED`, `accepted`).
    public var status: String?
    /// Label values on the current revision, the bot's own votes excluded: per label the most negative vote
    /// when there is one (a veto), else the highest.
    public var labels: [String: Int]
    /// Who voted what, per label, by name (username, else account id: never a display name).
    public var labelVoters: [String: [String: Int]]
    /// Everyone who approved (voted positively on any label / accepted), bot excluded, by name.
    public var approvers: [String]
    /// The account behind each name used above.
    public var people: [String: ReviewerIdentity]
    /// The owner (author) of the review.
    public var owner: ReviewerIdentity?
    /// Files of the current revision.
    public var files: [String]
    /// The revision's Git commit when the server names it (Gerrit's SHA-1).
    public var revisionSHA: String?
    /// The server's own update time (the cursor position), as the server writes it.
    public var updated: String
    /// The trigger event given to workflows (design.md's shape), without the workflow's input template.
    public var event: JSON
    /// Whether the server's file list names `.stepgate/` files (they are then validated and commented).
    /// Whether the revision edits `.stepgate/` for the trust model is decided from the Git trees
    /// by the front door, not from this list.
    public var touchesStepgate: Bool
    /// Why no workflow may run on this revision, when the platform refused it (a diff that does not apply, a base
    /// outside the trusted branch's history): said once on the review instead of starting anything.
    public var refusal: String?
    /// Comments asking to run the workflows on the current revision again (`recheck`), oldest first, the bot's own
    /// excluded.
    public var rechecks: [RecheckRequest] = []

    public init(
        target: ReviewTarget, branch: String, isOpen: Bool, status: String?, labels: [String: Int],
        labelVoters: [String: [String: Int]] = [:], approvers: [String], files: [String], revisionSHA: String?,
        updated: String, event: JSON, people: [String: ReviewerIdentity] = [:], owner: ReviewerIdentity? = nil
    ) {
        self.people = people
        self.owner = owner
        self.target = target
        self.branch = branch
        self.isOpen = isOpen
        self.status = status
        self.labels = labels
        self.labelVoters = labelVoters
        self.approvers = approvers
        self.files = files
        self.revisionSHA = revisionSHA
        self.updated = updated
        self.event = event
        self.touchesStepgate = files.contains { $0.hasPrefix(".stepgate/") }
    }

    /// Folds individual votes into one value per label: the lowest negative vote if any, else the highest.
    public static func combine(votes: [Int]) -> Int? {
        let nonZero = votes.filter { $0 != 0 }
        guard !nonZero.isEmpty else { return nil }
        if let low = nonZero.min(), low < 0 { return low }
        return nonZero.max()
    }
}

/// A comment asking to run the current revision's workflows again.
public struct RecheckRequest: Sendable, Hashable {
    /// The server's id of the comment (each is acted on once).
    public var id: String
    /// Who asked (by account identity).
    public var by: ReviewerIdentity

    public init(id: String, by: ReviewerIdentity) {
        self.id = id
        self.by = by
    }
}

/// Someone whose vote or command may decide a waiting approval.
public struct ApprovalVoter: Sendable, Hashable {
    public var identity: ReviewerIdentity
    /// They asked by a command comment (told when they may not decide), not by a vote.
    public var byCommand: Bool

    public init(_ identity: ReviewerIdentity, byCommand: Bool = false) {
        self.identity = identity
        self.byCommand = byCommand
    }
}

/// One comment on a file and line (a command task's finding, a validation diagnostic).
public struct ReviewFinding: Sendable, Hashable, Codable {
    public var path: String
    /// 1-based; nil: a file-level comment.
    public var line: Int?
    public var endLine: Int?
    public var message: String
    /// `error`, `warning` or `info`.
    public var severity: String

    public init(path: String, line: Int?, endLine: Int? = nil, message: String, severity: String = "error") {
        self.path = path
        self.line = line
        self.endLine = endLine
        self.message = message
        self.severity = severity
    }

    /// The findings in a task result or execution output (`findings: [{path, line, endLine?, message, severity}]`),
    /// searched recursively so that findings survive ResultPath nesting and Parallel branches.
    public static func collect(from value: JSON?, limit: Int = 500) -> [ReviewFinding] {
        var out: [ReviewFinding] = []
        func visit(_ v: JSON, depth: Int) {
            guard depth < 32, out.count < limit else { return }
            switch v {
            case .object(let o):
                if let list = o["findings"]?.arrayValue {
                    for f in list {
                        guard let path = f["path"]?.stringValue, let message = f["message"]?.stringValue else { continue }
                        out.append(
                            ReviewFinding(
                                path: path, line: f["line"]?.intValue, endLine: f["endLine"]?.intValue, message: message,
                                severity: f["severity"]?.stringValue ?? "warning"))
                    }
                }
                for (k, child) in o.pairs where k != "findings" { visit(child, depth: depth + 1) }
            case .array(let a):
                for child in a { visit(child, depth: depth + 1) }
            default: break
            }
        }
        if let value { visit(value, depth: 0) }
        var seen = Set<ReviewFinding>()
        return out.filter { seen.insert($0).inserted }
    }
}

/// How one Task state of an execution ended.
public struct TaskOutcome: Sendable, Hashable {
    /// The state's name.
    public var state: String
    public var succeeded: Bool
    public var error: String?
    public var cause: String?

    public init(state: String, succeeded: Bool, error: String? = nil, cause: String? = nil) {
        self.state = state
        self.succeeded = succeeded
        self.error = error
        self.cause = cause
    }
}

/// The outcome of an execution, as reported on the review.
public struct OutcomeReport: Sendable, Hashable {
    public var executionID: String
    public var workflow: String
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`.
    public var status: String
    public var error: String?
    public var cause: String?
    /// The state the execution failed in, when known.
    public var failedState: String?
    public var duration: Double?
    /// The label voted (+1 success, -1 otherwise), from the workflow's `report.vote`.
    public var voteLabel: String?
    public var findings: [ReviewFinding]
    /// How each Task state ended (its last attempt), in the order they first ended: Phorge's unit results.
    public var tasks: [TaskOutcome] = []
    /// What the report must say beside the result (tasks ran without secrets, ...).
    public var notes: [String] = []
    /// The review's owner: on a negative vote, the one person the report asks to act (Gerrit's attention set).
    public var owner: ReviewerIdentity?
    /// How many times the execution was redriven: each outcome is reported once.
    public var redriveCount = 0

    public init(
        executionID: String, workflow: String, status: String, error: String? = nil, cause: String? = nil,
        failedState: String? = nil, duration: Double? = nil, voteLabel: String? = nil, findings: [ReviewFinding] = []
    ) {
        self.executionID = executionID
        self.workflow = workflow
        self.status = status
        self.error = error
        self.cause = cause
        self.failedState = failedState
        self.duration = duration
        self.voteLabel = voteLabel
        self.findings = findings
    }

    public var succeeded: Bool { status == "SUCCEEDED" }
    /// +1 on success, -1 otherwise.
    public var vote: Int { succeeded ? 1 : -1 }

    /// The review message (plain text; every platform posts it as is).
    public var message: String {
        var lines = ["stepgate: workflow \(workflow) \(status.lowercased())" + (succeeded ? "." : ".")]
        if let failedState { lines.append("Failed state: \(failedState)") }
        if let error { lines.append("Error: \(error)" + (cause.map { ": \(Self.bounded($0))" } ?? "")) }
        if let duration { lines.append(String(format: "Duration: %.1f s", duration)) }
        if !findings.isEmpty { lines.append("Findings: \(findings.count)") }
        for note in notes { lines.append("Note: \(note)") }
        lines.append(mark)
        return lines.joined(separator: "\n")
    }

    /// The report's last line, by which it is found on the server: `Execution: ID` (`Execution: ID (redrive N)`).
    public var mark: String { Self.mark(executionID: executionID, redriveCount: redriveCount) }

    public static func mark(executionID: String, redriveCount: Int) -> String {
        "Execution: \(executionID)" + (redriveCount > 0 ? " (redrive \(redriveCount))" : "")
    }

    /// Whether `text` (a message as the server shows it) has `mark` as one of its lines.
    public static func contains(_ mark: String, in text: String) -> Bool {
        text.split(whereSeparator: \.isNewline).contains { $0.trimmingCharacters(in: .whitespaces) == mark }
    }

    static func bounded(_ text: String, limit: Int = 2000) -> String {
        text.count <= limit ? text : String(text.prefix(limit)) + "…"
    }
}
