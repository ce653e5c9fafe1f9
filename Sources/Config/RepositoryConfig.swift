public import StatesLanguage

/// A repository's `.stepgate/stepgate.yaml`: which workflow runs on which event.
public struct RepositoryConfig: Sendable, Equatable {
    /// The file format version; only 1 exists.
    public var version: Int
    /// The workflows, in the order the file lists them.
    public var workflows: [WorkflowConfig]

    public init(version: Int = 1, workflows: [WorkflowConfig]) {
        self.version = version
        self.workflows = workflows
    }

    public func workflow(named name: String) -> WorkflowConfig? {
        workflows.first { $0.name == name }
    }

    /// The first workflow whose definition is `path` from the repository root
    /// (`.stepgate/workflows/deploy.asl.json`): the one whose substitutions, resources and buckets
    /// apply to that file.
    public func workflow(definedAt path: String) -> WorkflowConfig? {
        workflows.first { $0.definitionPath == path }
    }

    /// Workflows a Gerrit patch set with these label values on this branch starts, in file order.
    public func workflows(forGerritLabels labels: [String: Int], branch: String) -> [WorkflowConfig] {
        workflows.filter { $0.matchesGerrit(labels: labels, branch: branch) }
    }

    /// Workflows a Phorge revision in this status starts, in file order.
    public func workflows(forPhabricatorStatus status: PhabricatorStatus) -> [WorkflowConfig] {
        workflows.filter { $0.matchesPhabricator(status: status) }
    }

    /// Workflows a push to `ref` starts after it is accepted (post-receive), in file order.
    public func workflows(forPush ref: String) -> [WorkflowConfig] {
        workflows.filter { $0.matchesPush(ref: ref) }
    }

    /// Push gates (pre-receive) that a push to `ref` must pass, in file order.
    public func gates(forPreReceive ref: String) -> [WorkflowConfig] {
        workflows.filter { $0.matchesPreReceive(ref: ref) }
    }
}

/// One named workflow and the events that start it.
public struct WorkflowConfig: Sendable, Equatable {
    /// The key under `workflows:`.
    public var name: String
    /// The ASL definition's path relative to `.stepgate/`, always `workflows/….asl.{json,yaml,yml}`.
    public var definition: String
    public var triggers: Triggers
    /// Merged into the trigger event to form the execution's input (members here win).
    public var input: JSONObject?
    public var report: ReportConfig?
    /// How long an execution may run; for pre-receive gates the push's time budget (default 5 s).
    public var timeout: Duration?
    /// Values for the deploy-time placeholders (`${KEY}`) the definition keeps, applied before it
    /// is validated or run.
    public var substitutions: DefinitionSubstitutions
    /// Where the AWS resources the definition names run when it runs locally.
    public var resources: ResourceMap
    /// S3 buckets of ItemReader and ResultWriter, each a directory relative to the repository root.
    public var buckets: [String: String]

    public init(
        name: String, definition: String, triggers: Triggers = Triggers(), input: JSONObject? = nil,
        report: ReportConfig? = nil, timeout: Duration? = nil, substitutions: DefinitionSubstitutions = DefinitionSubstitutions(),
        resources: ResourceMap = ResourceMap(), buckets: [String: String] = [:]
    ) {
        self.name = name
        self.definition = definition
        self.triggers = triggers
        self.input = input
        self.report = report
        self.timeout = timeout
        self.substitutions = substitutions
        self.resources = resources
        self.buckets = buckets
    }

    /// The definition's path from the repository root (`.stepgate/workflows/deploy.asl.json`).
    public var definitionPath: String { ".stepgate/" + definition }
}

/// The `on:` section. A workflow without any trigger is valid (it can be started by hand with
/// `stepgate run`), and the loader warns about it.
public struct Triggers: Sendable, Equatable {
    public var gerrit: GerritTrigger?
    public var phabricator: PhabricatorTrigger?
    /// Pushes to these refs start the workflow after they are accepted (post-receive).
    public var push: RefTrigger?
    /// Pushes to these refs must pass the workflow before they are accepted (pre-receive).
    public var preReceive: RefTrigger?

    public init(
        gerrit: GerritTrigger? = nil, phabricator: PhabricatorTrigger? = nil, push: RefTrigger? = nil,
        preReceive: RefTrigger? = nil
    ) {
        self.gerrit = gerrit
        self.phabricator = phabricator
        self.push = push
        self.preReceive = preReceive
    }

    public var isEmpty: Bool { gerrit == nil && phabricator == nil && push == nil && preReceive == nil }
}

/// A Gerrit label condition: `Code-Review: 2`.
///
/// A positive value is a minimum (the label's current value is that or higher), a negative
/// value a maximum (that or lower: `Verified: -1` means "vetoed or at least -1"). Zero would be
/// ambiguous and is refused. A label without a value on the patch set satisfies no condition.
public struct LabelCondition: Sendable, Hashable {
    public var label: String
    public var value: Int

    public init(label: String, value: Int) {
        self.label = label
        self.value = value
    }

    public func isSatisfied(by vote: Int?) -> Bool {
        guard let vote else { return false }
        return value > 0 ? vote >= value : vote <= value
    }
}

/// `gerrit: {labels: {...}, branches: [...]}`: a patch set whose labels meet every condition,
/// on a branch matching one of the patterns (any branch when `branches` is absent).
public struct GerritTrigger: Sendable, Equatable {
    /// All must hold, in file order; empty means no label condition.
    public var labels: [LabelCondition]
    /// Branch name patterns (`main`, `release/*`), matched against the short branch name; nil means any branch.
    public var branches: [RefPattern]?

    public init(labels: [LabelCondition] = [], branches: [RefPattern]? = nil) {
        self.labels = labels
        self.branches = branches
    }

    public func matches(labels votes: [String: Int], branch: String) -> Bool {
        let name = RefName.branchName(branch)
        if let branches, !branches.contains(where: { $0.matches(name) }) { return false }
        return labels.allSatisfy { $0.isSatisfied(by: votes[$0.label]) }
    }
}

/// A Phabricator/Phorge revision status, as `differential.revision.search` spells it.
public enum PhabricatorStatus: String, Sendable, Hashable, CaseIterable {
    case needsReview = "needs-review"
    case accepted
    case changesPlanned = "changes-planned"
    case needsRevision = "needs-revision"
    case published
    case abandoned
    case draft
}

/// `phabricator: {status: [accepted]}`: a revision entering any of these statuses.
public struct PhabricatorTrigger: Sendable, Equatable {
    public var status: [PhabricatorStatus]

    public init(status: [PhabricatorStatus]) { self.status = status }

    public func matches(status s: PhabricatorStatus) -> Bool { status.contains(s) }
}

/// `push: {refs: [...]}` or `pre-receive: {refs: [...]}`: full ref patterns (`refs/heads/main`).
public struct RefTrigger: Sendable, Equatable {
    public var refs: [RefPattern]

    public init(refs: [RefPattern]) { self.refs = refs }

    public func matches(ref: String) -> Bool { refs.contains { $0.matches(ref) } }
}

/// `report:` how the outcome goes back to the review.
public struct ReportConfig: Sendable, Equatable {
    /// A Gerrit label voted +1 on success and -1 on failure.
    public var vote: String?
    /// Whether to post a summary comment (default true).
    public var comment: Bool

    public init(vote: String? = nil, comment: Bool = true) {
        self.vote = vote
        self.comment = comment
    }
}

extension WorkflowConfig {
    /// Whether a Gerrit patch set with these current label values on `branch` (short name or
    /// `refs/heads/…`) starts this workflow.
    public func matchesGerrit(labels: [String: Int], branch: String) -> Bool {
        triggers.gerrit?.matches(labels: labels, branch: branch) ?? false
    }

    public func matchesPhabricator(status: PhabricatorStatus) -> Bool {
        triggers.phabricator?.matches(status: status) ?? false
    }

    /// The same, for a status as Conduit spells it; unknown statuses match nothing.
    public func matchesPhabricator(status: String) -> Bool {
        PhabricatorStatus(rawValue: status).map { matchesPhabricator(status: $0) } ?? false
    }

    public func matchesPush(ref: String) -> Bool {
        triggers.push?.matches(ref: ref) ?? false
    }

    public func matchesPreReceive(ref: String) -> Bool {
        triggers.preReceive?.matches(ref: ref) ?? false
    }
}
