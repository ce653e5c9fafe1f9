public import Foundation
public import StatesLanguage
public import Store
import Config

/// Why a stored definition does not compile, as one line.
public struct DefinitionProblem: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// An execution that `resumeIncomplete` picked up again, and how it ended.
public struct ResumedExecution: Sendable {
    public var id: String
    public var result: ExecutionResult

    public init(id: String, result: ExecutionResult) {
        self.id = id
        self.result = result
    }
}

/// Executions that survive a crash: every transition is persisted (history and checkpoint in
/// one transaction), every finished task is remembered by (execution, task key) and audited, and
/// executions left RUNNING are resumed from their last checkpoint with the definition text they
/// started with.
///
/// Tasks run through ``StepgateResources`` (comment, approval) in front of the caller's executor,
/// all behind a memoising executor. Two processes never run one execution at once when they go
/// through ``WorkflowRuns``, which holds the execution's lease (``Leases``) around this.
public struct DurableExecutions: Sendable {
    public let store: any ExecutionStore
    /// Applied to every audit entry (callers that know secret values pass their redactor).
    public var redact: (@Sendable (String) -> String)?
    /// How often a waiting approval polls the store.
    public var approvalPollInterval: Double
    /// The owner of the change under review: never an approver of its own run's approvals
    /// unless a task allows it.
    public var owner: ReviewerIdentity?
    /// The S3 buckets Distributed Map's ItemReader and ResultWriter use.
    public var objects: (any ObjectStore)?

    public init(store: any ExecutionStore, redact: (@Sendable (String) -> String)? = nil, approvalPollInterval: Double = 0.2) {
        self.store = store
        self.redact = redact
        self.approvalPollInterval = approvalPollInterval
    }

    /// Creates the execution row and runs the execution to its end (or until the process dies;
    /// then ``resumeIncomplete(tasks:clock:)`` finishes it). `id` may be chosen in advance (to claim a
    /// dedupe key first). `repository` and `revision` default to the trigger's `repository` and
    /// `patchSet.revision` / `revision` / `diff.revision` members.
    ///
    /// Throws only when the execution cannot be created or its ending cannot be written; a task's
    /// store failure fails the execution with `States.Runtime`.
    public func start(
        id: String = UUID().uuidString.lowercased(), definitionText: String, machine: StateMachine, workflow: String,
        input: JSON, trigger: JSON = .null, repository: String? = nil, revision: String? = nil, plan: JSON? = nil,
        tasks: any TaskExecutor, clock: any ExecutionClock = SystemClock()
    ) async throws(StoreError) -> ExecutionResult {
        let repository = repository ?? trigger["repository"]?.stringValue
        let revision =
            revision ?? trigger["patchSet"]?["revision"]?.stringValue ?? trigger["revision"]?.stringValue
            ?? trigger["diff"]?["revision"]?.stringValue
        let started = clock.now()
        try await store.createExecution(
            NewExecution(
                id: id, workflow: workflow, repository: repository, revision: revision, trigger: trigger, input: input,
                definition: definitionText, started: started, plan: plan))
        let (interpreter, observer) = prepare(
            id: id, machine: machine, workflow: workflow, repository: repository, revision: revision, tasks: tasks, clock: clock)
        let result = await interpreter.run(input: input)
        return try await end(result, observer: observer, clock: clock)
    }

    /// Writes how the execution ended, unless the run was stopped from outside (its task cancelled): then the
    /// execution stays RUNNING at its last checkpoint, to be resumed, and the result says it was stopped.
    func end(_ result: ExecutionResult, observer: PersistingObserver, clock: any ExecutionClock) async throws(StoreError)
        -> ExecutionResult
    {
        if Task.isCancelled {
            try await observer.flush()
            return Self.stopped
        }
        try await observer.finish(Self.ending(result, clock: clock))
        return result
    }

    /// The result of a run stopped before its execution ended (the execution stays RUNNING).
    public static let stopped = ExecutionResult(
        status: .failed, output: nil, error: "stepgate.Stopped",
        cause: "the run was stopped before the execution ended; it stays RUNNING and is resumed by the next start",
        history: [], transitions: 0)

    /// Resumes every RUNNING execution concurrently and waits for all of them to end.
    public func resumeIncomplete(tasks: any TaskExecutor, clock: any ExecutionClock = SystemClock()) async throws(StoreError)
        -> [ResumedExecution]
    {
        let running = try await store.executions(status: .running)
        let outcomes = await withTaskGroup(of: Result<ResumedExecution, StoreError>.self) { group in
            for record in running {
                group.addTask {
                    do throws(StoreError) {
                        return .success(ResumedExecution(id: record.id, result: try await resume(record, tasks: tasks, clock: clock)))
                    } catch { return .failure(error) }
                }
            }
            var all: [Result<ResumedExecution, StoreError>] = []
            for await o in group { all.append(o) }
            return all
        }
        var resumed: [ResumedExecution] = []
        for o in outcomes {
            switch o {
            case .success(let r): resumed.append(r)
            case .failure(let e): throw e
            }
        }
        return resumed.sorted { $0.id < $1.id }
    }

    /// Resumes one execution by id (it must be RUNNING).
    public func resume(id: String, tasks: any TaskExecutor, clock: any ExecutionClock = SystemClock()) async throws(StoreError)
        -> ExecutionResult
    {
        guard let record = try await store.execution(id: id) else {
            throw StoreError(.notFound, "\(store.path): no execution \(id)")
        }
        guard record.status == .running else {
            throw StoreError(.conflict, "execution \(id) is \(record.status.rawValue), not RUNNING")
        }
        return try await resume(record, tasks: tasks, clock: clock)
    }

    func resume(_ record: ExecutionRecord, tasks: any TaskExecutor, clock: any ExecutionClock) async throws(StoreError)
        -> ExecutionResult
    {
        let machine: StateMachine
        switch Self.compile(record.definition, name: record.workflow) {
        case .success(let m): machine = m
        case .failure(let problem):
            let message = problem.message
            let result = ExecutionResult(
                status: .failed, output: nil, error: "States.Runtime",
                cause: "the stored definition no longer compiles: \(message)")
            try await store.finishExecution(id: record.id, Self.ending(result, clock: clock))
            return result
        }
        let (interpreter, observer) = prepare(
            id: record.id, machine: machine, workflow: record.workflow, repository: record.repository,
            revision: record.revision, tasks: tasks, clock: clock)
        let result: ExecutionResult
        if let stored = try await store.checkpoint(executionID: record.id) {
            if stored.stateName == nil {
                // Ended, but the ending was not written (an execution timeout): close it.
                let events = try await store.events(executionID: record.id)
                let last = events.last { $0.type.hasPrefix("Execution") && $0.type != "ExecutionStarted" }
                let timedOut = last?.type == "ExecutionTimedOut"
                let r = ExecutionResult(
                    status: timedOut ? .timedOut : .failed, output: nil, error: timedOut ? "States.Timeout" : "States.Runtime",
                    cause: timedOut ? "The execution timed out" : "the execution ended without a recorded outcome",
                    transitions: stored.transitions)
                try await store.finishExecution(id: record.id, Self.ending(r, clock: clock))
                return r
            }
            result = await interpreter.resume(
                from: stored, executionInput: record.input, startTime: record.started)
        } else {
            // Died before the first transition was written: start over (finished tasks are remembered).
            result = await interpreter.run(input: record.input)
        }
        return try await end(result, observer: observer, clock: clock)
    }

    private func prepare(
        id: String, machine: StateMachine, workflow: String, repository: String?, revision: String?, tasks: any TaskExecutor,
        clock: any ExecutionClock
    ) -> (Interpreter, PersistingObserver) {
        let observer = PersistingObserver(store: store, executionID: id)
        var resources = StepgateResources(store: store, inner: tasks, clock: clock, pollInterval: approvalPollInterval)
        resources.owner = owner
        resources.redact = redact
        let memo = MemoisingTaskExecutor(
            store: store, executionID: id, inner: resources, observer: observer, repository: repository ?? "",
            revision: revision ?? "", redact: redact)
        let identity = ExecutionIdentity(executionID: id, name: id, stateMachineName: workflow)
        let environment = ExecutionEnvironment(clock: clock, tasks: memo, observer: observer, recordHistory: true, objects: objects)
        return (Interpreter(machine: machine, identity: identity, environment: environment), observer)
    }

    static func ending(_ result: ExecutionResult, clock: any ExecutionClock) -> ExecutionEnding {
        let status: ExecutionStatus
        switch result.status {
        case .succeeded: status = .succeeded
        case .failed: status = .failed
        case .timedOut: status = .timedOut
        }
        return ExecutionEnding(status: status, output: result.output, error: result.error, cause: result.cause, finished: clock.now())
    }

    /// Parses (JSON or YAML) and compiles a definition; the failure is one line.
    public static func compile(_ text: String, name: String) -> Result<StateMachine, DefinitionProblem> {
        switch StepgateDirectory.compile(text: text, path: name) {
        case .success(let d): return .success(d.machine)
        case .failure(let problem): return .failure(DefinitionProblem(message: problem.description))
        }
    }
}
