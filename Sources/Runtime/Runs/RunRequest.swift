public import Config
public import Foundation
public import Git
public import StatesLanguage

/// A repository a run reads: its name as the server's configuration knows it, and its Git directory.
public struct RunRepository: Sendable, Hashable, Codable {
    public var name: String
    public var gitDirectory: String

    public init(name: String, gitDirectory: String) {
        self.name = name
        self.gitDirectory = gitDirectory
    }

    /// Opens the repository. Inside a git hook the pushed objects still sit in git's quarantine
    /// directory, which only an open from the hook's environment sees.
    public func open() throws(GitError) -> Repository {
        let environment = ProcessInfo.processInfo.environment
        if environment["GIT_QUARANTINE_PATH"] != nil, let dir = environment["GIT_DIR"], Self.same(dir, gitDirectory) {
            return try Repository.openFromHookEnvironment(environment: environment)
        }
        return try Repository(path: gitDirectory)
    }

    static func same(_ a: String, _ b: String) -> Bool {
        func real(_ p: String) -> String {
            guard let r = realpath(p, nil) else { return p }
            defer { free(r) }
            return String(cString: r)
        }
        return a == b || real(a) == real(b)
    }
}

/// The trusted side of a run: the commit whose `.stepgate/` (configuration and definitions) the
/// run uses, the branch that commit is the tip of, and its configuration.
public struct TrustedSide: Sendable, Equatable {
    /// 40 hex digits; nil when nothing is trusted yet (a repository's very first push).
    public var commit: String?
    /// The branch role rules are checked against; empty when none.
    public var branch: String
    public var configuration: TrustedConfiguration

    public init(commit: String?, branch: String, configuration: TrustedConfiguration) {
        self.commit = commit
        self.branch = RefName.branchName(branch)
        self.configuration = configuration
    }

    /// No trusted commit: nothing is configured.
    public static func none(branch: String = "") -> TrustedSide {
        TrustedSide(commit: nil, branch: branch, configuration: .absent)
    }
}

/// Where the trusted side of a run is, as the server knows it.
public enum TrustAnchor: Sendable {
    /// A review's target branch, as the review server records it (Gerrit's change record, the
    /// operator's or Phorge's answer for a repository; never what the change says): its tip.
    case branch(String)
    /// A push to `ref`: its tip before the push, or for a new ref the default branch's (see
    /// ``TrustRules/trustedSideOfPush(in:ref:old:defaultBranch:pushedAlongside:)``).
    case push(ref: RefName, old: ObjectID, defaultBranch: String?, alongside: [RefName: ObjectID] = [:])
    /// A commit decided earlier (the tip a review's trigger was matched against), on `branch`.
    case commit(String, branch: String)
}

/// Which definition a run executes.
public enum DefinitionSource: Sendable, Equatable {
    /// The workflow of this name in the trusted side's `.stepgate/stepgate.yaml`.
    case workflow(String)
    /// A definition file given on the command line (`stepgate run`, `executions start`); no
    /// repository is trusted, the server policy still decides the roles.
    case file(path: String, text: String)
}

/// Where command tasks run.
public enum Checkout: Sendable, Hashable, Codable {
    /// A fresh checkout of this commit (40 hex digits) of the run's repository, per task.
    case commit(String)
    /// This directory as it is (a local run without a repository).
    case directory(String)
}

/// What the review server says about a review, for role rules and approvals.
public struct ReviewFacts: Sendable, Hashable, Codable {
    /// Label values on the current revision (`Code-Review: 2`).
    public var labels: [String: Int]
    /// Who voted positively or accepted (usernames, else account ids).
    public var approvers: [String]
    public var change: String?
    public var patchSet: Int?
    public var owner: ReviewerIdentity?

    public init(
        labels: [String: Int] = [:], approvers: [String] = [], change: String? = nil, patchSet: Int? = nil,
        owner: ReviewerIdentity? = nil
    ) {
        self.labels = labels
        self.approvers = approvers
        self.change = change
        self.patchSet = patchSet
        self.owner = owner
    }
}

/// Everything a trigger knows when it asks for a run; ``WorkflowRuns`` decides the rest.
public struct RunRequest: Sendable {
    public var id: String
    public var kind: TriggerContext.Kind
    /// The repository the definition and checkout come from; nil for a local run in a directory.
    public var repository: RunRepository?
    /// The repository's name for role rules and records (the directory's name for a local run).
    public var repositoryName: String
    public var trusted: TrustedSide
    public var definition: DefinitionSource
    /// The workflow's name as recorded and shown.
    public var workflow: String
    public var checkout: Checkout
    public var facts: ReviewFacts
    /// The trigger event (design.md's shape); the workflow's `input` template is merged into it.
    public var event: JSON
    /// The execution input as given (local runs); nil: the event merged with the input template.
    public var input: JSON?
    /// Whether a crashed run may be resumed later (a push gate may not: its push is long decided).
    public var resumable: Bool
    /// Placeholder values, resources, mocks and buckets given beside the workflow's own.
    public var local: LocalRun

    public init(
        id: String = UUID().uuidString.lowercased(), kind: TriggerContext.Kind, repository: RunRepository?,
        trusted: TrustedSide, definition: DefinitionSource, workflow: String? = nil, checkout: Checkout,
        facts: ReviewFacts = ReviewFacts(), event: JSON = .null, input: JSON? = nil, resumable: Bool = true,
        repositoryName: String? = nil, local: LocalRun = LocalRun()
    ) {
        self.local = local
        self.id = id
        self.kind = kind
        self.repository = repository
        self.repositoryName = repositoryName ?? repository?.name ?? ""
        self.trusted = trusted
        self.definition = definition
        switch definition {
        case .workflow(let name): self.workflow = workflow ?? name
        case .file(let path, _): self.workflow = workflow ?? DefinitionSource.name(ofFile: path)
        }
        self.checkout = checkout
        self.facts = facts
        self.event = event
        self.input = input
        self.resumable = resumable
    }
}

extension DefinitionSource {
    /// `deploy` for `.stepgate/workflows/deploy.asl.json`.
    public static func name(ofFile path: String) -> String {
        var name = path.split(separator: "/").last.map(String.init) ?? path
        for suffix in [".json", ".yaml", ".yml"] where name.hasSuffix(suffix) {
            name.removeLast(suffix.count)
            break
        }
        if name.hasSuffix(".asl") { name.removeLast(4) }
        return name
    }
}

/// A run as the front door assembled it, before roles are granted: the definition read from the
/// trusted side, the facts role rules see, and whether the checkout edits `.stepgate/`.
public struct RunPlan: Sendable {
    public var request: RunRequest
    public var definition: LoadedDefinition
    public var context: TriggerContext
    /// The checkout's `.stepgate/` differs from the trusted side's: tasks get no secrets.
    public var editsStepgate: Bool
    public var input: JSON
    /// Where the definition's AWS resources run (the request's map over the workflow's).
    public var resources: ResourceMap = ResourceMap()

    /// What is stored with the execution to rebuild the run on resume (never a secret).
    var stored: JSON {
        var o = JSONObject()
        o["version"] = 1
        o["kind"] = .string(request.kind.rawValue)
        if let r = request.repository {
            o["repository"] = .object(JSONObject([("name", .string(r.name)), ("gitDirectory", .string(r.gitDirectory))]))
        }
        o["repositoryName"] = .string(request.repositoryName)
        o["trustedCommit"] = request.trusted.commit.map(JSON.string) ?? .null
        o["branch"] = .string(request.trusted.branch)
        o["workflow"] = .string(request.workflow)
        o["definitionPath"] = .string(definition.path)
        switch request.checkout {
        case .commit(let c): o["checkout"] = .object(JSONObject([("commit", .string(c))]))
        case .directory(let d): o["checkout"] = .object(JSONObject([("directory", .string(d))]))
        }
        var facts = JSONObject()
        facts["labels"] = .object(JSONObject(request.facts.labels.sorted { $0.key < $1.key }.map { ($0.key, JSON.int($0.value)) }))
        facts["approvers"] = .array(request.facts.approvers.map(JSON.string))
        facts["change"] = request.facts.change.map(JSON.string) ?? .null
        facts["patchSet"] = request.facts.patchSet.map(JSON.int) ?? .null
        if let owner = request.facts.owner {
            facts["owner"] = .object(JSONObject([("id", .string(owner.id)), ("username", owner.username.map(JSON.string) ?? .null)]))
        }
        o["facts"] = .object(facts)
        o["substitutions"] = .object(
            JSONObject(definition.substitutions.values.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value)) }))
        o["editsStepgate"] = .bool(editsStepgate)
        o["resumable"] = .bool(request.resumable)
        return .object(o)
    }

    /// The plan stored with an execution, rebuilt around the definition it started with.
    static func restore(_ stored: JSON, record: ExecutionRecordView) -> Result<RunPlan, RunRefusal> {
        guard stored["version"]?.intValue == 1, let kindText = stored["kind"]?.stringValue,
            let kind = TriggerContext.Kind(rawValue: kindText), let checkoutValue = stored["checkout"]
        else {
            return .failure(RunRefusal("stepgate.Internal", "the stored run plan of \(record.id) is not readable"))
        }
        let checkout: Checkout
        if let c = checkoutValue["commit"]?.stringValue {
            checkout = .commit(c)
        } else if let d = checkoutValue["directory"]?.stringValue {
            checkout = .directory(d)
        } else {
            return .failure(RunRefusal("stepgate.Internal", "the stored run plan of \(record.id) names no checkout"))
        }
        var repository: RunRepository?
        if let r = stored["repository"], let name = r["name"]?.stringValue, let dir = r["gitDirectory"]?.stringValue {
            repository = RunRepository(name: name, gitDirectory: dir)
        }
        let f = stored["facts"]
        var labels: [String: Int] = [:]
        if let o = f?["labels"]?.objectValue { for (k, v) in o.pairs { if let n = v.intValue { labels[k] = n } } }
        var owner: ReviewerIdentity?
        if let o = f?["owner"], let id = o["id"]?.stringValue { owner = ReviewerIdentity(id: id, username: o["username"]?.stringValue) }
        let facts = ReviewFacts(
            labels: labels, approvers: f?["approvers"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            change: f?["change"]?.stringValue, patchSet: f?["patchSet"]?.intValue, owner: owner)
        let path = stored["definitionPath"]?.stringValue ?? record.workflow
        var substitutions = DefinitionSubstitutions()
        if let values = stored["substitutions"]?.objectValue {
            for (k, v) in values.pairs { if let s = v.stringValue { substitutions.values[k] = s } }
        }
        let definition: LoadedDefinition
        switch StepgateDirectory.compile(text: record.definition, path: path, substitutions: substitutions) {
        case .success(let d): definition = d
        case .failure(let problem):
            return .failure(RunRefusal("States.Runtime", "the stored definition no longer compiles: \(problem.description)"))
        }
        let request = RunRequest(
            id: record.id, kind: kind, repository: repository, 
            trusted: TrustedSide(
                commit: stored["trustedCommit"]?.stringValue, branch: stored["branch"]?.stringValue ?? "", configuration: .absent),
            definition: .file(path: path, text: record.definition), workflow: stored["workflow"]?.stringValue ?? record.workflow,
            checkout: checkout, facts: facts, event: record.trigger, input: record.input,
            resumable: stored["resumable"]?.boolValue ?? true, repositoryName: stored["repositoryName"]?.stringValue,
            local: LocalRun(substitutions: substitutions))
        var plan = RunPlan(
            request: request, definition: definition, context: WorkflowRuns.context(of: request),
            editsStepgate: stored["editsStepgate"]?.boolValue ?? true, input: record.input)
        // The resources of a workflow come again from the trusted commit it ran from.
        if let repository, let hex = request.trusted.commit, let commit = ObjectID(hex: hex),
            let opened = try? repository.open(),
            case .config(let config)? = try? StepgateDirectory.configuration(GitRevision(repository: opened, commit: commit)),
            let workflow = config.workflow(definedAt: path)
        {
            plan.resources = workflow.resources
        }
        return .success(plan)
    }
}

/// The parts of a stored execution a plan is restored from.
struct ExecutionRecordView {
    var id: String
    var workflow: String
    var definition: String
    var trigger: JSON
    var input: JSON
}

/// Why a run did not start: an execution error (`stepgate.RoleDenied`, `stepgate.DefinitionMissing`,
/// ...) with its cause in one line. The run is recorded as failed before any task ran.
public struct RunRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var error: String
    public var cause: String

    public init(_ error: String, _ cause: String) {
        self.error = error
        self.cause = cause
    }

    public var description: String { "\(error): \(cause)" }
}

/// How a run went.
public struct RunOutcome: Sendable {
    public var id: String
    public var workflow: String
    public var result: ExecutionResult
    /// The run was refused before any task ran (roles, definition, trust).
    public var refused: Bool
    /// What the report must say beside the result (tasks ran without secrets, no sandbox, ...).
    public var notes: [String]
    /// The deadline passed before the execution ended; it was stopped.
    public var outOfTime: Bool
    /// The run was stopped from outside (the process is stopping) before the execution ended: it stays RUNNING
    /// at its last checkpoint and is resumed later.
    public var stopped: Bool

    public init(
        id: String, workflow: String, result: ExecutionResult, refused: Bool = false, notes: [String] = [], outOfTime: Bool = false,
        stopped: Bool = false
    ) {
        self.id = id
        self.workflow = workflow
        self.result = result
        self.refused = refused
        self.notes = notes
        self.outOfTime = outOfTime
        self.stopped = stopped
    }
}
