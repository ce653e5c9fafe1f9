public import Config
public import Runtime

/// An execution the store knows for a review.
public struct KnownExecution: Sendable, Hashable {
    public var executionID: String
    public var target: ReviewTarget
    public var workflow: String
    /// Still running (or waiting for an approval): may be cancelled.
    public var isRunning: Bool

    public init(executionID: String, target: ReviewTarget, workflow: String, isRunning: Bool) {
        self.executionID = executionID
        self.target = target
        self.workflow = workflow
        self.isRunning = isRunning
    }
}

/// What the store already knows about one review.
public struct TriggerKnowledge: Sendable, Equatable {
    public var executions: [KnownExecution]
    /// Dedupe keys already claimed (workflow starts and validations).
    public var claimedKeys: Set<String>

    public init(executions: [KnownExecution] = [], claimedKeys: Set<String> = []) {
        self.executions = executions
        self.claimedKeys = claimedKeys
    }
}

/// One thing the engine should do for a snapshot.
public enum TriggerAction: Sendable, Equatable {
    /// Start `workflow` on the snapshot's revision, after claiming `dedupeKey`.
    case start(workflow: String, dedupeKey: String)
    /// Cancel a running execution and say why on the revision it ran for.
    case cancel(executionID: String, target: ReviewTarget, reason: String)
    /// Validate the revision's `.stepgate/` files and comment the errors, after claiming `dedupeKey`.
    case validate(dedupeKey: String)
    /// Say once (per `key`) on the current revision why nothing runs on it: a workflow's trigger matches, but the
    /// platform refused the revision (``ReviewSnapshot/refusal``).
    case refuse(key: String, message: String)
    /// Decide the pending approvals of a running execution on the current revision, by these voters.
    case approve(executionID: String, voters: [ApprovalVoter])
    /// A recheck comment was acted on (the workflows it started, if any, come as `.start` actions before it): claim
    /// `key`, audit who asked, and when nothing new runs, say why once (`message`).
    case recheck(key: String, by: ReviewerIdentity, started: [String], message: String?)
    /// Nothing to do, and why (logged at debug level).
    case skip(reason: String)
}

/// The pure trigger decision: snapshot + trusted configuration + what the store knows → actions.
///
/// No I/O, no clock: every rule is unit-tested without a network.
/// - A closed review cancels every running execution for it.
/// - A newer revision cancels running executions of older revisions.
/// - A running execution whose workflow's trigger no longer matches the current revision's labels (a vote was
///   removed) is cancelled.
/// - Each workflow whose trigger matches the current revision starts once per (server, review, revision, workflow).
/// - A revision that edits `.stepgate/` is validated once.
/// - A revision the platform refused starts nothing; when a trigger matches it, the refusal is said once instead.
/// - Running executions on the current revision receive the approvals the platform recognised.
/// - A recheck comment on the current revision starts again, once per comment, the workflows whose triggers match it
///   now (with the labels and voters as they are now, never those of an earlier run) and that are not running on it;
///   when nothing new runs, the review is told why, once.
public enum TriggerDecider {
    public static func decide(
        snapshot: ReviewSnapshot, configuration: TrustedConfiguration, knowledge: TriggerKnowledge, approvalVoters: [ApprovalVoter] = []
    ) -> [TriggerAction] {
        var actions: [TriggerAction] = []
        let current = snapshot.target
        let config: RepositoryConfig?
        if case .config(let c) = configuration { config = c } else { config = nil }
        let matching = snapshot.isOpen ? matchingWorkflows(snapshot: snapshot, config: config) : []
        let matchingNames = Set(matching.map(\.name))

        for e in knowledge.executions where e.isRunning {
            if !snapshot.isOpen {
                actions.append(
                    .cancel(
                        executionID: e.executionID, target: e.target,
                        reason: "the review was closed (\((snapshot.status ?? "closed").lowercased()))"))
            } else if e.target.revisionNumber < current.revisionNumber {
                actions.append(
                    .cancel(
                        executionID: e.executionID, target: e.target,
                        reason: "superseded by patch set \(current.revisionNumber)"))
            } else if e.target.revisionNumber == current.revisionNumber, config != nil, !matchingNames.contains(e.workflow) {
                actions.append(
                    .cancel(
                        executionID: e.executionID, target: e.target,
                        reason: "its trigger no longer holds on patch set \(current.revisionNumber) (a vote was removed)"))
            } else if e.target.revisionNumber == current.revisionNumber, !approvalVoters.isEmpty {
                actions.append(.approve(executionID: e.executionID, voters: approvalVoters))
            }
        }
        guard snapshot.isOpen else {
            if actions.isEmpty { actions.append(.skip(reason: "the review is not open")) }
            return actions
        }
        if snapshot.touchesStepgate && snapshot.refusal == nil && !knowledge.claimedKeys.contains(current.validationKey) {
            actions.append(.validate(dedupeKey: current.validationKey))
        }
        let rechecks = snapshot.rechecks.filter { !knowledge.claimedKeys.contains(current.recheckKey($0)) }
        switch configuration {
        case .absent:
            actions.append(.skip(reason: "the target branch has no .stepgate/stepgate.yaml"))
            for r in rechecks {
                actions.append(
                    .recheck(
                        key: current.recheckKey(r), by: r.by, started: [],
                        message: "stepgate: recheck asked by \(r.by): nothing runs, the target branch has no .stepgate/stepgate.yaml."))
            }
        case .invalid(let problem):
            actions.append(.skip(reason: "the target branch's configuration does not load: \(problem)"))
            for r in rechecks {
                actions.append(
                    .recheck(
                        key: current.recheckKey(r), by: r.by, started: [],
                        message: "stepgate: recheck asked by \(r.by): nothing runs, the target branch's configuration does not load."))
            }
        case .config:
            if matching.isEmpty { actions.append(.skip(reason: "no workflow's trigger matches")) }
            if let refusal = snapshot.refusal, !matching.isEmpty {
                actions.append(.refuse(key: current.refusalKey, message: refusal))
                return actions
            }
            var fresh: [String] = []  // started by this decision anyway (their trigger matched for the first time)
            for workflow in matching {
                let key = current.dedupeKey(workflow: workflow.name)
                if knowledge.claimedKeys.contains(key) {
                    actions.append(.skip(reason: "workflow \(workflow.name) already started for this revision"))
                } else {
                    actions.append(.start(workflow: workflow.name, dedupeKey: key))
                    fresh.append(workflow.name)
                }
            }
            let running = Set(
                knowledge.executions.filter { $0.isRunning && $0.target.revisionNumber == current.revisionNumber }.map(\.workflow))
            // Several rechecks seen at once are one request: the newest acts, the others are merged into it.
            for r in rechecks.dropLast() {
                actions.append(.recheck(key: current.recheckKey(r), by: r.by, started: [], message: nil))
            }
            if let r = rechecks.last {
                var started = fresh
                for workflow in matching where !fresh.contains(workflow.name) && !running.contains(workflow.name) {
                    let key = current.dedupeKey(workflow: workflow.name, recheck: r)
                    if !knowledge.claimedKeys.contains(key) { actions.append(.start(workflow: workflow.name, dedupeKey: key)) }
                    started.append(workflow.name)
                }
                var message: String?
                if started.isEmpty {
                    message =
                        matching.isEmpty
                        ? "stepgate: recheck asked by \(r.by): no workflow's trigger matches patch set \(current.revisionNumber) as it is now; nothing runs."
                        : "stepgate: recheck asked by \(r.by): \(matching.map(\.name).sorted().joined(separator: ", ")) still running on patch set \(current.revisionNumber); nothing new runs."
                }
                actions.append(.recheck(key: current.recheckKey(r), by: r.by, started: started, message: message))
            }
        }
        return actions
    }

    static func matchingWorkflows(snapshot: ReviewSnapshot, config: RepositoryConfig?) -> [WorkflowConfig] {
        guard let config else { return [] }
        switch snapshot.target.platform {
        case "phabricator":
            guard let status = snapshot.status.flatMap(PhabricatorStatus.init(rawValue:)) else { return [] }
            return config.workflows(forPhabricatorStatus: status)
        default:
            return config.workflows(forGerritLabels: snapshot.labels, branch: snapshot.branch)
        }
    }
}

/// Where an execution's report stands (the bot's `reports` table).
public enum ReportState: String, Sendable, Hashable, CaseIterable {
    /// Not reported yet (the execution may still be running).
    case pending
    /// A post was attempted; whether it reached the server is unknown until checked.
    case posting
    case posted
    /// Not posted: the revision was no longer current, or the review closed.
    case skipped
    /// The execution was cancelled (notice posted instead).
    case cancelled
}

/// What to do with a finished execution's report.
public enum ReportAction: Sendable, Equatable {
    case post
    /// A previous attempt may have reached the server: ask it before posting again.
    case checkThenPost
    case skipStale(reason: String)
    case nothing
}

/// The pure report decision.
public enum ReportDecider {
    /// - Parameters:
    ///   - state: the stored report state.
    ///   - isCurrent: whether the triggering revision is still current and the review open.
    public static func decide(state: ReportState, isCurrent: Bool) -> ReportAction {
        switch state {
        case .posted, .skipped, .cancelled: return .nothing
        case .pending, .posting:
            guard isCurrent else { return .skipStale(reason: "the revision is no longer current (or the review closed)") }
            return state == .posting ? .checkThenPost : .post
        }
    }
}
