public import Config
public import Foundation
public import Git
public import StatesLanguage
public import Store

/// The one way a workflow runs, whatever started it: a push gate, a push workflow, a review, or
/// the command line.
///
/// 1. ``trustedSide(of:at:)`` finds the trusted commit (``TrustRules``) and reads its
///    `.stepgate/stepgate.yaml`; the caller picks the workflows whose triggers match.
/// 2. ``prepare(_:)`` reads the definition from the trusted side (never from the change),
///    assembles the facts role rules see from the server's side only, and decides from the Git
///    trees whether the checkout edits `.stepgate/`.
/// 3. ``start(_:deadline:clock:)`` grants the roles the server policy allows (refusing the run
///    before any task when it does not), withholds every secret from a checkout that edits
///    `.stepgate/`, builds the redacting task executor, and runs the execution durably in the
///    store (or in memory without one), under an optional deadline. A refused run is recorded
///    as a failed execution, so that it is reported like any other.
/// 4. ``resume(id:deadline:)`` rebuilds a run from the plan stored with it (roles granted anew
///    from the current policy; secrets are never stored).
///
/// A durable execution runs under its lease (``LeaseSettings``): while one process runs it, no other
/// resumes it; after that process dies, the lease expires and any process may resume it.
public struct WorkflowRuns: Sendable {
    public struct Settings: Sendable {
        /// The server policy: which roles may be used where, with which secrets.
        public var policy: RolePolicy
        /// Mints `STEPGATE_ID_TOKEN` for command tasks when set.
        public var identity: IdentityTokenIssuer?
        /// Where temporary checkouts are made.
        public var temporaryDirectory: String
        /// How often a waiting approval looks at the store.
        public var approvalPollInterval: Double
        /// Seconds between SIGTERM and SIGKILL when a command is stopped.
        public var killGrace: Double
        /// Where secrets given as environment variables are read from (the server process's by default).
        public var environment: [String: String]?
        /// The operator's resource map (bot.yaml or the hook configuration), winning over a workflow's.
        public var resources: ResourceMap = ResourceMap()
        /// Who this process is when it leases an execution, and for how long a lease lasts without a heartbeat.
        public var leases = LeaseSettings()
        /// How command tasks are isolated (a bubblewrap sandbox unless the operator said `none`),
        /// and which of the server's files they must never see.
        public var sandbox: Sandbox = .bubblewrap
        /// Which engine runs which workflow (`engine` in bot.yaml or the hook configuration).
        public var engines = EngineSelection()
        /// The engine behind `engine: aws` (AWS Step Functions); nil when the operator configured none.
        public var remote: (any RemoteEngine)?

        public init(
            policy: RolePolicy = .empty, identity: IdentityTokenIssuer? = nil,
            temporaryDirectory: String = FileManager.default.temporaryDirectory.path, approvalPollInterval: Double = 0.2,
            killGrace: Double = 2, environment: [String: String]? = nil
        ) {
            self.policy = policy
            self.identity = identity
            self.temporaryDirectory = temporaryDirectory
            self.approvalPollInterval = approvalPollInterval
            self.killGrace = killGrace
            self.environment = environment
        }
    }

    /// Where executions are kept; nil runs them in memory (`stepgate run`).
    public let store: (any ExecutionStore)?
    public var settings: Settings

    public init(store: (any ExecutionStore)?, settings: Settings = Settings()) {
        self.store = store
        self.settings = settings
    }

    /// The note a report carries when a checkout that edits `.stepgate/` ran without secrets.
    public static let withoutSecretsNote =
        "this revision edits .stepgate/, so its tasks ran without the roles' secrets; the workflow itself came from the target branch"

    // MARK: - 1. The trusted side

    /// The trusted side of `repository` as `anchor` places it: the commit, its branch and its configuration.
    /// - Throws: ``TrustRefusal`` (a new ref with no default branch), ``RevisionReadError`` or a Git error.
    public static func trustedSide(of repository: RunRepository, at anchor: TrustAnchor) throws -> TrustedSide {
        let repo = try repository.open()
        let commit: ObjectID?
        let branch: String
        switch anchor {
        case .branch(let name):
            branch = RefName.branchName(name)
            commit = try repo.reference(RefName.branch(name).full)
        case .push(let ref, let old, let defaultBranch, let alongside):
            (commit, branch) = try TrustRules.trustedSideOfPush(
                in: repo, ref: ref, old: old, defaultBranch: defaultBranch, pushedAlongside: alongside)
        case .commit(let hex, let name):
            guard let id = ObjectID(hex: hex) else { throw TrustRefusal("\(hex) is not a commit id") }
            commit = id
            branch = name
        }
        guard let commit else { return .none(branch: branch) }
        let configuration = try StepgateDirectory.configuration(GitRevision(repository: repo, commit: commit))
        return TrustedSide(commit: commit.description, branch: branch, configuration: configuration)
    }

    /// Validates the `.stepgate/` files of a commit (only those among `only`, when given): see
    /// ``Config/StepgateDirectory/validate(_:only:)``.
    public static func validate(_ repository: RunRepository, commit: String, only: Set<String>? = nil) throws
        -> [(file: String, diagnostics: [Diagnostic])]
    {
        guard let id = ObjectID(hex: commit) else { throw TrustRefusal("\(commit) is not a commit id") }
        return try StepgateDirectory.validate(GitRevision(repository: try repository.open(), commit: id), only: only)
    }

    // MARK: - 2. The plan

    /// Reads the definition and decides what the run may touch; a refusal says why in one line.
    public func prepare(_ request: RunRequest) -> Result<RunPlan, RunRefusal> {
        let repository: Repository?
        do { repository = try request.repository?.open() } catch {
            return .failure(RunRefusal("stepgate.RepositoryUnavailable", "cannot open \(request.repository!.gitDirectory): \(error)"))
        }
        var input = request.input
        let definition: LoadedDefinition
        var resources = request.local.resources
        switch request.definition {
        case .file(let path, let text):
            switch StepgateDirectory.compile(text: text, path: path, substitutions: request.local.substitutions) {
            case .success(let d): definition = d
            case .failure(let problem): return .failure(RunRefusal("stepgate.InvalidDefinition", problem.description))
            }
        case .workflow(let name):
            let config: RepositoryConfig
            switch request.trusted.configuration {
            case .config(let c): config = c
            case .absent:
                return .failure(
                    RunRefusal("stepgate.ConfigMissing", "the trusted side has no \(StepgateDirectory.configPath)"))
            case .invalid(let problem):
                return .failure(RunRefusal("stepgate.InvalidConfig", "the trusted configuration does not load: \(problem)"))
            }
            guard let workflow = config.workflow(named: name) else {
                return .failure(RunRefusal("stepgate.WorkflowMissing", "the trusted configuration names no workflow \(name)"))
            }
            guard let repository, let hex = request.trusted.commit, let trusted = ObjectID(hex: hex) else {
                return .failure(RunRefusal("stepgate.Internal", "workflow \(name) needs a trusted commit of a repository"))
            }
            let revision = GitRevision(repository: repository, commit: trusted)
            switch StepgateDirectory.definition(of: workflow, in: revision, overrides: request.local.substitutions) {
            case .success(let d): definition = d
            case .failure(let problem):
                return .failure(
                    RunRefusal(
                        problem.reason == .missing ? "stepgate.DefinitionMissing" : "stepgate.InvalidDefinition", problem.description))
            }
            if input == nil { input = Self.merge(request.event, template: workflow.input) }
            resources = resources.merged(with: workflow.resources)
        }
        var edits = false
        if case .commit(let hex) = request.checkout {
            guard let repository, let checkout = ObjectID(hex: hex) else {
                return .failure(RunRefusal("stepgate.Internal", "a checkout of \(hex) needs the run's repository"))
            }
            do {
                edits = try TrustRules.editsStepgate(
                    checkout: checkout, trusted: request.trusted.commit.flatMap(ObjectID.init(hex:)), in: repository)
            } catch {
                return .failure(RunRefusal("stepgate.CheckoutFailed", "cannot compare \(hex) with the trusted side: \(error)"))
            }
        }
        return .success(
            RunPlan(
                request: request, definition: definition, context: Self.context(of: request), editsStepgate: edits,
                input: input ?? .object(JSONObject()), resources: resources))
    }

    /// The facts role rules and identity tokens see, all from the server's side.
    static func context(of request: RunRequest) -> TriggerContext {
        var revision: String?
        if case .commit(let c) = request.checkout { revision = c }
        return TriggerContext(
            kind: request.kind, repository: request.repositoryName, branch: request.trusted.branch,
            workflow: request.workflow, labels: request.facts.labels, change: request.facts.change,
            patchSet: request.facts.patchSet, approvers: request.facts.approvers, revision: revision, owner: request.facts.owner)
    }

    /// The trigger event with a workflow's input template merged in (the template's members win).
    public static func merge(_ event: JSON, template: JSONObject?) -> JSON {
        guard let template else { return event }
        var object = event.objectValue ?? JSONObject()
        for (k, v) in template.pairs { object[k] = v }
        return .object(object)
    }

    // MARK: - 3. Running

    /// Prepares, authorizes and runs `request` to its end (or to `deadline`).
    /// - Throws: only when the store cannot record the execution.
    public func start(
        _ request: RunRequest, deadline: ContinuousClock.Instant? = nil, clock: any ExecutionClock = SystemClock()
    ) async throws(StoreError) -> RunOutcome {
        switch prepare(request) {
        case .failure(let refusal):
            return try await refuse(request, refusal, definition: nil, clock: clock)
        case .success(let plan):
            return try await start(plan, deadline: deadline, clock: clock)
        }
    }

    /// Authorizes and runs a prepared plan.
    public func start(_ plan: RunPlan, deadline: ContinuousClock.Instant? = nil, clock: any ExecutionClock = SystemClock())
        async throws(StoreError) -> RunOutcome
    {
        let grants: RoleGrants
        switch authorize(plan) {
        case .failure(let refusal):
            return try await refuse(plan.request, refusal, definition: plan.definition, clock: clock)
        case .success(let g): grants = g
        }
        let (tasks, redactor) = executor(for: plan, grants: grants)
        let notes = notes(for: plan)
        let request = plan.request
        guard let store else {
            let interpreter = Interpreter(
                machine: plan.definition.machine, identity: identity(of: plan),
                environment: ExecutionEnvironment(clock: clock, tasks: tasks, objects: objects(for: plan)))
            let (result, late) = await Self.race(deadline: deadline) { await interpreter.run(input: plan.input) }
            return RunOutcome(
                id: request.id, workflow: request.workflow, result: Self.redact(result ?? Self.outOfTime(deadline), redactor),
                notes: notes, outOfTime: late)
        }
        if engine(for: plan) != .local {
            guard let remote = settings.remote else {
                let refusal = RunRefusal(
                    "stepgate.EngineUnavailable",
                    "workflow \(request.workflow) runs on engine \(engine(for: plan).rawValue), which this server's configuration does not set up")
                return try await refuse(request, refusal, definition: plan.definition, clock: clock)
            }
            let (result, late) = try await startRemote(
                plan, remote: remote, store: store, tasks: tasks, redactor: redactor, deadline: deadline, clock: clock)
            return RunOutcome(
                id: request.id, workflow: request.workflow, result: Self.redact(result, redactor), notes: notes, outOfTime: late)
        }
        let durable = durableExecutions(store: store, plan: plan, redactor: redactor)
        let (result, late) = try await leased(request.id, store: store) { () async throws(StoreError) in
            try await runDurably(id: request.id, deadline: deadline, clock: clock, store: store) {
                () async throws(StoreError) -> ExecutionResult in
                try await durable.start(
                    id: request.id, definitionText: plan.definition.text, machine: plan.definition.machine,
                    workflow: request.workflow, input: plan.input, trigger: request.event, repository: request.repositoryName,
                    revision: plan.context.revision, plan: stored(plan), tasks: tasks, clock: clock)
            }
        }
        return RunOutcome(
            id: request.id, workflow: request.workflow, result: Self.redact(result, redactor), notes: notes, outOfTime: late,
            stopped: !late && Task.isCancelled)
    }

    /// Records a run to be carried out later by ``resume(id:deadline:)`` (a detached push workflow):
    /// the execution exists at once, in `executions list`, and a crash before it starts loses nothing.
    /// A refused run is recorded as failed at once; the returned outcome says so.
    public func record(_ request: RunRequest, clock: any ExecutionClock = SystemClock()) async throws(StoreError) -> RunOutcome? {
        guard let store else { throw StoreError(.badLocation, "recording a run needs a store") }
        switch prepare(request) {
        case .failure(let refusal):
            return try await refuse(request, refusal, definition: nil, clock: clock)
        case .success(let plan):
            if case .failure(let refusal) = authorize(plan) {
                return try await refuse(request, refusal, definition: plan.definition, clock: clock)
            }
            try await store.createExecution(
                NewExecution(
                    id: request.id, workflow: request.workflow, repository: request.repositoryName,
                    revision: plan.context.revision, trigger: request.event, input: plan.input, definition: plan.definition.text,
                    started: clock.now(), plan: stored(plan)))
            return nil
        }
    }

    // MARK: - 4. Resuming

    /// Resumes one RUNNING execution from its last checkpoint, rebuilt from its stored plan
    /// (executions stored without a plan run their commands in `fallbackDirectory`, granted no role).
    /// - Throws: `.conflict` when another process holds the execution's lease (it runs it right now).
    public func resume(
        id: String, deadline: ContinuousClock.Instant? = nil, clock: any ExecutionClock = SystemClock(),
        fallbackDirectory: String = FileManager.default.currentDirectoryPath
    ) async throws(StoreError) -> RunOutcome {
        guard let store else { throw StoreError(.badLocation, "resuming needs a store") }
        return try await leased(id, store: store) { () async throws(StoreError) in
            try await resumeLeased(id: id, store: store, deadline: deadline, clock: clock, fallbackDirectory: fallbackDirectory)
        }
    }

    func resumeLeased(
        id: String, store: any ExecutionStore, deadline: ContinuousClock.Instant?, clock: any ExecutionClock,
        fallbackDirectory: String
    ) async throws(StoreError) -> RunOutcome {
        guard let record = try await store.execution(id: id) else {
            throw StoreError(.notFound, "\(store.path): no execution \(id)")
        }
        guard record.status == .running else {
            throw StoreError(.conflict, "execution \(id) is \(record.status.rawValue), not RUNNING")
        }
        let view = ExecutionRecordView(
            id: record.id, workflow: record.workflow, definition: record.definition, trigger: record.trigger, input: record.input)
        let plan: RunPlan
        if let stored = record.plan {
            switch RunPlan.restore(stored, record: view) {
            case .success(let p): plan = p
            case .failure(let refusal): return try await finish(record, refusal, clock: clock)
            }
        } else {
            let request = RunRequest(
                id: record.id, kind: .manual, repository: nil, trusted: .none(),
                definition: .file(path: record.workflow, text: record.definition), workflow: record.workflow,
                checkout: .directory(fallbackDirectory), event: record.trigger, input: record.input)
            switch prepare(request) {
            case .success(let p): plan = p
            case .failure(let refusal): return try await finish(record, refusal, clock: clock)
            }
        }
        if !plan.request.resumable {
            return try await finish(
                record,
                RunRefusal(
                    "stepgate.Aborted", "the hook that ran this gate ended before it finished; its push was not accepted"),
                status: .aborted, clock: clock)
        }
        let grants: RoleGrants
        switch authorize(plan) {
        case .failure(let refusal): return try await finish(record, refusal, clock: clock)
        case .success(let g): grants = g
        }
        let (tasks, redactor) = executor(for: plan, grants: grants)
        if let engine = record.plan?["engine"]?.stringValue, engine != EngineKind.local.rawValue {
            guard let remote = settings.remote else {
                throw StoreError(.conflict, "execution \(id) runs on engine \(engine), which this server's configuration does not set up")
            }
            let (result, late) = try await resumeRemote(
                record, plan: plan, remote: remote, store: store, tasks: tasks, redactor: redactor, deadline: deadline, clock: clock)
            return RunOutcome(
                id: id, workflow: record.workflow, result: Self.redact(result, redactor), notes: notes(for: plan), outOfTime: late)
        }
        let durable = durableExecutions(store: store, plan: plan, redactor: redactor)
        let (result, late) = try await runDurably(id: id, deadline: deadline, clock: clock, store: store) {
            () async throws(StoreError) -> ExecutionResult in
            try await durable.resume(id: id, tasks: tasks, clock: clock)
        }
        return RunOutcome(
            id: id, workflow: record.workflow, result: Self.redact(result, redactor), notes: notes(for: plan), outOfTime: late,
            stopped: !late && Task.isCancelled)
    }

    /// Resumes every RUNNING execution of the store that no other process runs (whose lease is free or
    /// expired) concurrently, and waits for all of them.
    public func resumeIncomplete(clock: any ExecutionClock = SystemClock()) async throws(StoreError) -> [RunOutcome] {
        guard let store else { throw StoreError(.badLocation, "resuming needs a store") }
        var free: [ExecutionRecord] = []
        for record in try await store.executions(status: .running)
        where try await Leases.isFree(LeaseSettings.execution(record.id), in: store, for: settings.leases.owner) {
            free.append(record)
        }
        let outcomes = await withTaskGroup(of: Result<RunOutcome, StoreError>?.self) { group in
            for record in free {
                group.addTask {
                    do throws(StoreError) { return .success(try await resume(id: record.id, clock: clock)) } catch {
                        // Taken by another process meanwhile, or ended there: not this process's to resume.
                        return error.code == .conflict ? nil : .failure(error)
                    }
                }
            }
            var all: [Result<RunOutcome, StoreError>] = []
            for await o in group { if let o { all.append(o) } }
            return all
        }
        var resumed: [RunOutcome] = []
        for o in outcomes {
            switch o {
            case .success(let r): resumed.append(r)
            case .failure(let e): throw e
            }
        }
        return resumed.sorted { $0.id < $1.id }
    }

    // MARK: - Parts

    /// The roles the server policy grants the plan, with their secrets; every secret withheld
    /// when the checkout edits `.stepgate/`.
    func authorize(_ plan: RunPlan) -> Result<RoleGrants, RunRefusal> {
        do {
            let grants = try settings.policy.authorize(
                machine: plan.definition.machine, context: plan.context, environment: settings.environment)
            return .success(plan.editsStepgate ? grants.withoutSecrets : grants)
        } catch {
            let e = error.executionError
            return .failure(RunRefusal(e.error, e.cause))
        }
    }

    /// What a report must say beside a run's result.
    func notes(for plan: RunPlan) -> [String] {
        (plan.editsStepgate ? [Self.withoutSecretsNote] : []) + (settings.sandbox.mode == .none ? [Sandbox.unsandboxedNotice] : [])
    }

    /// The plan as stored with the execution, with how its tasks were isolated.
    func stored(_ plan: RunPlan) -> JSON {
        var o = plan.stored.objectValue ?? JSONObject()
        o["sandbox"] = .string(settings.sandbox.mode.rawValue)
        if engine(for: plan) != .local { o["engine"] = .string(engine(for: plan).rawValue) }
        return .object(o)
    }

    /// A result with every granted secret hidden from its error and cause (what a pusher or a
    /// review reads), whatever path the text took.
    static func redact(_ result: ExecutionResult, _ redactor: Redactor) -> ExecutionResult {
        guard !redactor.isEmpty else { return result }
        var r = result
        r.error = r.error.map { redactor.redact($0) }
        r.cause = r.cause.map { redactor.redact($0) }
        r.output = r.output.map { redactor.redact($0) }
        return r
    }

    /// The task executor of a run: command and HTTP tasks in the plan's checkout, with the
    /// granted roles' secrets only, every result and error redacted of them.
    func executor(for plan: RunPlan, grants: RoleGrants) -> (any TaskExecutor, Redactor) {
        let workspace: StepgateTaskExecutor.Workspace
        switch plan.request.checkout {
        case .commit(let c): workspace = .checkout(repository: plan.request.repository?.gitDirectory ?? ".", commit: c)
        case .directory(let d): workspace = .directory(d)
        }
        var configuration = StepgateTaskExecutor.Configuration(
            workspace: workspace, grants: grants, context: plan.context, identity: settings.identity)
        configuration.temporaryDirectory = settings.temporaryDirectory
        configuration.killGrace = settings.killGrace
        configuration.sandbox = settings.sandbox
        let executor = StepgateTaskExecutor(configuration: configuration).redacting()
        // AWS resources run as the operator's map, then the workflow's, say; stepgate's own go through.
        let local = LocalResourceExecutor(
            resources: settings.resources.merged(with: plan.resources), mocks: plan.request.local.mocks, inner: executor)
        return (local, Redactor(secrets: grants.allSecretValues))
    }

    func durableExecutions(store: any ExecutionStore, plan: RunPlan, redactor: Redactor) -> DurableExecutions {
        let redact: (@Sendable (String) -> String)? = redactor.isEmpty ? nil : { @Sendable (text: String) -> String in redactor.redact(text) }
        var durable = DurableExecutions(store: store, redact: redact, approvalPollInterval: settings.approvalPollInterval)
        durable.owner = plan.context.owner
        durable.objects = objects(for: plan)
        return durable
    }

    /// The S3 buckets of a run: the directories the request names (local runs); a bucket without
    /// one fails its ItemReader or ResultWriter, naming it.
    func objects(for plan: RunPlan) -> any ObjectStore {
        LocalObjectStore(buckets: plan.request.local.buckets)
    }

    func identity(of plan: RunPlan) -> ExecutionIdentity {
        if case .file(let path, _) = plan.request.definition {
            return ExecutionIdentity(
                executionID: "stepgate:local:execution:\(plan.request.id)", name: plan.request.id,
                stateMachineName: path.split(separator: "/").last.map(String.init) ?? path)
        }
        return ExecutionIdentity(
            executionID: "stepgate:\(plan.request.repositoryName):\(plan.request.kind.rawValue):\(plan.request.id)",
            name: plan.request.id, stateMachineName: plan.request.workflow)
    }

    /// Records a run that ends before any task: a failed execution with the refusal's error.
    func refuse(_ request: RunRequest, _ refusal: RunRefusal, definition: LoadedDefinition?, clock: any ExecutionClock)
        async throws(StoreError) -> RunOutcome
    {
        let result = ExecutionResult(status: .failed, output: nil, error: refusal.error, cause: refusal.cause)
        if let store {
            if try await store.execution(id: request.id) == nil {
                var revision: String?
                if case .commit(let c) = request.checkout { revision = c }
                try await store.createExecution(
                    NewExecution(
                        id: request.id, workflow: request.workflow, repository: request.repositoryName, revision: revision,
                        trigger: request.event, input: request.input ?? request.event, definition: definition?.text ?? "",
                        started: clock.now()))
            }
            try await store.finishExecution(
                id: request.id, ExecutionEnding(status: .failed, error: refusal.error, cause: refusal.cause, finished: clock.now()))
        }
        return RunOutcome(id: request.id, workflow: request.workflow, result: result, refused: true)
    }

    /// Ends a stored execution that cannot be resumed.
    func finish(_ record: ExecutionRecord, _ refusal: RunRefusal, status: ExecutionStatus = .failed, clock: any ExecutionClock)
        async throws(StoreError) -> RunOutcome
    {
        try await store?.finishExecution(
            id: record.id, ExecutionEnding(status: status, error: refusal.error, cause: refusal.cause, finished: clock.now()))
        let result = ExecutionResult(status: .failed, output: nil, error: refusal.error, cause: refusal.cause)
        return RunOutcome(id: record.id, workflow: record.workflow, result: result, refused: true)
    }

    /// Runs `body` holding the lease of execution `id`.
    /// - Throws: `.conflict`, naming the holder, when another process holds it.
    func leased<T: Sendable>(_ id: String, store: any ExecutionStore, _ body: @escaping @Sendable () async throws(StoreError) -> T)
        async throws(StoreError) -> T
    {
        let name = LeaseSettings.execution(id)
        if let value = try await Leases.holding(name, in: store, settings: settings.leases, body) { return value }
        let holder = try? await store.lease(name)
        let until = holder.map { " until \(ISO8601.format($0.expires))" } ?? ""
        throw StoreError(
            .conflict,
            "execution \(id) is being run by \(holder?.owner ?? "another process") (its lease runs\(until)); it can be resumed once that lease expires")
    }

    /// Runs a durable execution under `deadline`; when the deadline passes first, the execution is
    /// recorded as timed out before its tasks are stopped.
    func runDurably(
        id: String, deadline: ContinuousClock.Instant?, clock: any ExecutionClock, store: any ExecutionStore,
        _ body: @escaping @Sendable () async throws(StoreError) -> ExecutionResult
    ) async throws(StoreError) -> (ExecutionResult, Bool) {
        let (outcome, late) = await Self.race(deadline: deadline, onDeadline: {
            try? await store.finishExecution(
                id: id,
                ExecutionEnding(
                    status: .timedOut, error: "States.Timeout", cause: Self.outOfTimeCause(deadline), finished: clock.now()))
        }) { () async -> Result<ExecutionResult, StoreError> in
            do throws(StoreError) { return .success(try await body()) } catch { return .failure(error) }
        }
        if late { return (Self.outOfTime(deadline), true) }
        switch outcome {
        case .success(let r)?: return (r, false)
        case .failure(let e)?: throw e
        case nil: return (Self.outOfTime(deadline), true)
        }
    }

    /// Runs `body`, racing it against `deadline`. When the deadline passes first, `onDeadline`
    /// runs, `body` is cancelled and awaited (so that its processes are gone when this returns),
    /// and the result is nil.
    static func race<T: Sendable>(
        deadline: ContinuousClock.Instant?, onDeadline: @escaping @Sendable () async -> Void = {},
        _ body: @escaping @Sendable () async -> T
    ) async -> (T?, Bool) {
        guard let deadline else { return (await body(), false) }
        return await withTaskGroup(of: RaceFinish<T>?.self) { group in
            group.addTask { .done(await body()) }
            group.addTask {
                do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return nil }
                return .late
            }
            var value: T?
            var late = false
            if let first = await group.next(), let first {
                switch first {
                case .done(let v): value = v
                case .late:
                    late = true
                    await onDeadline()
                }
            }
            group.cancelAll()
            for await _ in group {}
            return (late ? nil : value, late)
        }
    }

    enum RaceFinish<T: Sendable>: Sendable {
        case done(T)
        case late
    }

    static func outOfTimeCause(_ deadline: ContinuousClock.Instant?) -> String {
        "the execution did not finish within its time budget; it was stopped"
    }

    static func outOfTime(_ deadline: ContinuousClock.Instant?) -> ExecutionResult {
        ExecutionResult(status: .timedOut, output: nil, error: "States.Timeout", cause: outOfTimeCause(deadline))
    }
}
