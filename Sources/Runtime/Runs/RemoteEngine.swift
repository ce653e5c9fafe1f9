public import Config
import Foundation
public import StatesLanguage
public import Store

/// Which engine carries out a workflow's executions.
public enum EngineKind: String, Sendable, Hashable, CaseIterable {
    /// stepgate's own interpreter, in this process, checkpointed in the store (the default).
    case local
    /// AWS Step Functions: the definition runs as a state machine, stepgate's own tasks as activities served by
    /// stepgate workers (see the AWS module).
    case aws
}

/// Which engine runs which workflow, as the operator configured it (bot.yaml, the hook configuration):
///
/// ```yaml
/// engine: local                 # every repository's default (absent: local)
/// repositories:
///   demo: {path: ..., engine: aws}                                       # every workflow of demo
///   tools: {path: ..., engine: {default: local, workflows: {deploy: aws}}}  # one workflow of tools
/// ```
/// The hook configuration serves one repository: its top-level `engine` takes either form.
public struct EngineSelection: Sendable, Equatable {
    /// One scope's choice: its default and the workflows that differ from it.
    public struct Choice: Sendable, Equatable {
        public var defaultEngine: EngineKind?
        public var workflows: [String: EngineKind]

        public init(defaultEngine: EngineKind? = nil, workflows: [String: EngineKind] = [:]) {
            self.defaultEngine = defaultEngine
            self.workflows = workflows
        }
    }

    /// The top level: every repository's default.
    public var top: Choice
    /// By repository name (the key under `repositories`).
    public var repositories: [String: Choice]

    public init(top: Choice = Choice(), repositories: [String: Choice] = [:]) {
        self.top = top
        self.repositories = repositories
    }

    /// The engine of `workflow` of `repository`: the repository's workflow entry, the repository's default, the
    /// top level's workflow entry, the top level's default, else local.
    public func engine(repository: String, workflow: String) -> EngineKind {
        let scoped = repositories[repository]
        return scoped?.workflows[workflow] ?? scoped?.defaultEngine ?? top.workflows[workflow] ?? top.defaultEngine ?? .local
    }

    /// Whether any workflow anywhere runs on `kind`.
    public func uses(_ kind: EngineKind) -> Bool {
        ([top] + Array(repositories.values)).contains { $0.defaultEngine == kind || $0.workflows.values.contains(kind) }
    }

    /// Reads the top-level `engine` and each `repositories.NAME.engine` of bot.yaml or the hook configuration.
    /// - Throws: ``PolicyError`` with every problem, located.
    public static func parse(_ document: SourceDocument) throws(PolicyError) -> EngineSelection {
        var diagnostics: [Diagnostic] = []
        var selection = EngineSelection()
        let root = document.value.objectValue
        if let value = root?["engine"], !value.isNull {
            selection.top = choice(value, at: [.key("engine")], &diagnostics)
        }
        if let repositories = root?["repositories"]?.objectValue {
            for (name, entry) in repositories.pairs {
                guard let value = entry.objectValue?["engine"], !value.isNull else { continue }
                selection.repositories[name] = choice(value, at: [.key("repositories"), .key(name), .key("engine")], &diagnostics)
            }
        }
        guard diagnostics.isEmpty else {
            throw PolicyError(fileName: document.fileName, diagnostics: diagnostics.map { $0.located(in: document.sourceMap) })
        }
        return selection
    }

    static func choice(_ value: JSON, at path: [PathComponent], _ diagnostics: inout [Diagnostic]) -> Choice {
        func kind(_ value: JSON, _ path: [PathComponent]) -> EngineKind? {
            if let text = value.stringValue, let kind = EngineKind(rawValue: text) { return kind }
            let found = value.stringValue.map { "'\($0)'" } ?? value.serialized
            diagnostics.append(Diagnostic(.error, "an engine must be local or aws (found \(found))", at: path))
            return nil
        }
        if value.stringValue != nil { return Choice(defaultEngine: kind(value, path)) }
        guard let object = value.objectValue else {
            diagnostics.append(
                Diagnostic(.error, "'engine' must be local, aws, or a mapping with 'default' and 'workflows'", at: path))
            return Choice()
        }
        var choice = Choice()
        for (key, member) in object.pairs {
            switch key {
            case "default": choice.defaultEngine = kind(member, path + [.key(key)])
            case "workflows":
                guard let workflows = member.objectValue else {
                    diagnostics.append(Diagnostic(.error, "'workflows' must map workflow names to engines", at: path + [.key(key)]))
                    continue
                }
                for (name, engine) in workflows.pairs {
                    if let k = kind(engine, path + [.key(key), .key(name)]) { choice.workflows[name] = k }
                }
            default:
                diagnostics.append(
                    Diagnostic(.error, "unknown key '\(key)' (expected one of: default, workflows)", at: path + [.key(key)], pointsAtKey: true))
            }
        }
        return choice
    }
}

/// A prepared and authorized run handed to an engine outside this process (``RemoteEngine``).
public struct RemoteRun: Sendable {
    public var id: String
    public var workflow: String
    /// The repository's name as the server's configuration knows it.
    public var repository: String
    /// The trusted commit the definition was read from (nil for a definition file).
    public var trustedCommit: String?
    /// The definition as read (placeholders unsubstituted) and the placeholder values it runs with.
    public var definition: LoadedDefinition
    public var input: JSON
    /// The execution row, created by the engine when the store does not have it yet.
    public var record: NewExecution
    public var store: any ExecutionStore
    /// This run's own task executor: the granted roles, the sandbox, redaction.
    public var tasks: any TaskExecutor
    /// Hides the granted secrets from whatever else leaves the run (history, output, error and cause).
    public var redact: @Sendable (String) -> String
    /// The task executor of any stored execution, rebuilt as ``WorkflowRuns/resume(id:deadline:clock:fallbackDirectory:)``
    /// rebuilds it (roles granted anew): for a task of another process's execution.
    public var executorOf: @Sendable (String) async -> Result<any TaskExecutor, RunRefusal>
}

/// An engine that runs executions elsewhere (AWS Step Functions), following each to its end and recording it in
/// the store the way the local engine does (history events, output, error and cause), so that reports and
/// `executions list/show` read it alike.
public protocol RemoteEngine: Sendable {
    /// Runs `run` to its end, or follows it when it was started before (a restart never starts it twice).
    /// - Returns: the result, its texts redacted.
    /// - Throws: only when the store cannot record the execution; the engine's own failures end the execution.
    func run(_ run: RemoteRun) async throws(StoreError) -> ExecutionResult
}

extension WorkflowRuns {
    /// The engine configured for a plan's workflow.
    public func engine(for plan: RunPlan) -> EngineKind {
        return settings.engines.engine(repository: plan.request.repositoryName, workflow: plan.request.workflow)
    }

    /// Runs an authorized plan on the remote engine, under the execution's lease and deadline.
    func startRemote(
        _ plan: RunPlan, remote: any RemoteEngine, store: any ExecutionStore, tasks: any TaskExecutor, redactor: Redactor,
        deadline: ContinuousClock.Instant?, clock: any ExecutionClock
    ) async throws(StoreError) -> (ExecutionResult, Bool) {
        let request = plan.request
        let run = RemoteRun(
            id: request.id, workflow: request.workflow, repository: request.repositoryName, trustedCommit: request.trusted.commit,
            definition: plan.definition, input: plan.input,
            record: NewExecution(
                id: request.id, workflow: request.workflow, repository: request.repositoryName, revision: plan.context.revision,
                trigger: request.event, input: plan.input, definition: plan.definition.text, started: clock.now(),
                plan: stored(plan)),
            store: store, tasks: tasks, redact: { @Sendable (text: String) -> String in redactor.redact(text) },
            executorOf: { @Sendable (id: String) async -> Result<any TaskExecutor, RunRefusal> in await self.taskExecutor(ofStored: id) })
        return try await leased(request.id, store: store) { () async throws(StoreError) in
            try await runDurably(id: request.id, deadline: deadline, clock: clock, store: store) {
                () async throws(StoreError) -> ExecutionResult in
                try await remote.run(run)
            }
        }
    }

    /// Follows a stored remote execution again (after a restart), rebuilt from its plan.
    func resumeRemote(
        _ record: ExecutionRecord, plan: RunPlan, remote: any RemoteEngine, store: any ExecutionStore, tasks: any TaskExecutor,
        redactor: Redactor, deadline: ContinuousClock.Instant?, clock: any ExecutionClock
    ) async throws(StoreError) -> (ExecutionResult, Bool) {
        let run = RemoteRun(
            id: record.id, workflow: record.workflow, repository: record.repository ?? plan.request.repositoryName,
            trustedCommit: plan.request.trusted.commit, definition: plan.definition, input: record.input,
            record: NewExecution(
                id: record.id, workflow: record.workflow, repository: record.repository, revision: record.revision,
                trigger: record.trigger, input: record.input, definition: record.definition, started: record.started,
                plan: record.plan),
            store: store, tasks: tasks, redact: { @Sendable (text: String) -> String in redactor.redact(text) },
            executorOf: { @Sendable (id: String) async -> Result<any TaskExecutor, RunRefusal> in await self.taskExecutor(ofStored: id) })
        return try await runDurably(id: record.id, deadline: deadline, clock: clock, store: store) {
            () async throws(StoreError) -> ExecutionResult in
            try await remote.run(run)
        }
    }

    /// The task executor of a stored RUNNING execution, rebuilt from its plan with the roles the current policy
    /// grants (as a resume does): how a worker serves a task of an execution another process started.
    public func taskExecutor(ofStored id: String) async -> Result<any TaskExecutor, RunRefusal> {
        guard let store else { return .failure(RunRefusal("stepgate.Internal", "serving a task needs a store")) }
        let record: ExecutionRecord?
        do { record = try await store.execution(id: id) } catch {
            return .failure(RunRefusal("stepgate.StoreUnavailable", error.message))
        }
        guard let record, let stored = record.plan else {
            return .failure(RunRefusal("stepgate.UnknownExecution", "execution \(id) has no stored run plan in \(store.path)"))
        }
        guard record.status == .running else {
            return .failure(RunRefusal("stepgate.ExecutionEnded", "execution \(id) is \(record.status.rawValue), not RUNNING"))
        }
        let view = ExecutionRecordView(
            id: record.id, workflow: record.workflow, definition: record.definition, trigger: record.trigger, input: record.input)
        let plan: RunPlan
        switch RunPlan.restore(stored, record: view) {
        case .success(let p): plan = p
        case .failure(let refusal): return .failure(refusal)
        }
        switch authorize(plan) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let grants): return .success(executor(for: plan, grants: grants).0)
        }
    }
}
