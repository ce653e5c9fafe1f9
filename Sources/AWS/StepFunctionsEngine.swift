public import AsyncHTTPClient
public import Foundation
public import Runtime
public import StatesLanguage
public import Store
import Config
import Synchronization
import YAMLLoader

/// `engine: aws`: executions run on AWS Step Functions, stepgate's own tasks as activities served by this process.
///
/// A run: the definition from the trusted side (placeholders substituted) is rewritten for AWS
/// (``ActivityDefinition``) → the state machine `PREFIX-REPOSITORY-WORKFLOW-HASH` is created or updated and the
/// result published as a version → the alias `rev-COMMIT-DIGEST` (one per repository revision and definition) points
/// at that version → the execution starts on the alias under ``StepFunctionsNames/idempotent(_:maxLength:)`` of the
/// trigger's dedupe key (the bot's; else the execution id), so a restart finds the execution it started instead
/// of starting another → it is followed through `DescribeExecution` and `GetExecutionHistory`, every event
/// recorded in the store as it appears, and its ending written like a local execution's. From its first run on,
/// this process polls the activities its definitions use (`workers` pollers each, for as long as it lives) and runs
/// every task it receives through the task executor of the task's execution: the same roles, sandbox and redaction
/// as a local run.
public final class StepFunctionsEngine: RemoteEngine {
    public let client: StepFunctionsClient
    public let settings: AWSEngineSettings
    let known = Mutex<[String: String]>([:])
    let runs = Mutex(Runs())
    let pollers = Mutex<Set<String>>([])

    /// - Throws: ``AWSError`` when no credentials are found.
    public init(settings: AWSEngineSettings, httpClient: HTTPClient = .shared, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(AWSError)
    {
        self.settings = settings
        client = StepFunctionsClient(
            region: settings.region, credentials: try settings.credentials(environment: environment), endpoint: settings.endpoint,
            httpClient: httpClient)
    }

    /// The store key mapping an AWS execution name to stepgate's execution id (workers resolve tasks through it).
    public static func executionKey(_ name: String) -> String { "aws-execution:\(name)" }

    /// The AWS execution name of a run: from the bot's dedupe key of its trigger when there is one, else its id.
    public static func executionName(id: String, dedupeKey: String?) -> String {
        StepFunctionsNames.idempotent(dedupeKey ?? "execution|\(id)")
    }

    // MARK: - Running

    public func run(_ run: RemoteRun) async throws(StoreError) -> ExecutionResult {
        let store = run.store
        if try await store.execution(id: run.id) == nil { try await store.createExecution(run.record) }
        let dedupe = try await store.botReport(executionID: run.id)?.dedupeKey
        let name = Self.executionName(id: run.id, dedupeKey: dedupe)
        _ = try await store.claimDedupeKey(Self.executionKey(name), executionID: run.id)

        let prepared: (alias: String, activities: [String])
        do { prepared = try await publish(run) } catch let failure as RunRefusal {
            return try await end(run, ExecutionResult(status: .failed, output: nil, error: failure.error, cause: failure.cause))
        } catch {
            return try await end(run, ExecutionResult(status: .failed, output: nil, error: "stepgate.EngineFailed", cause: "\(error)"))
        }
        let arn: String
        do { arn = try await retrying { () async throws(AWSError) in try await self.client.startExecution(
            stateMachineArn: prepared.alias, name: name, input: run.input.serialized) }
        } catch {
            return try await end(run, ExecutionResult(status: .failed, output: nil, error: "stepgate.EngineFailed", cause: run.redact(error.description)))
        }
        runs.withLock { $0.latest = run; $0.active[run.id] = run }
        defer { runs.withLock { _ = $0.active.removeValue(forKey: run.id) } }
        for activity in prepared.activities { startPollers(activity) }
        return try await follow(run, executionArn: arn)
    }

    /// The runs this process is following (by execution id), and the latest, whose store and
    /// `executorOf` serve tasks of executions no run here follows.
    struct Runs: Sendable {
        var active: [String: RemoteRun] = [:]
        var latest: RemoteRun?
    }

    /// Starts `workers` pollers of `activity` once per process; they poll for as long as the
    /// process lives. A long poll abandoned at AWS can still be handed a task, which then only
    /// times out, so a poller never gives up a poll it began.
    func startPollers(_ activity: String) {
        let start = pollers.withLock { $0.insert(activity).inserted }
        guard start else { return }
        for worker in 0..<settings.workers {
            Task.detached { await self.serve(activity: activity, worker: worker) }
        }
    }

    /// Creates or updates the state machine, publishes it and points the revision's alias at it.
    /// - Returns: the alias ARN and the activity ARNs the definition uses.
    func publish(_ run: RemoteRun) async throws -> (alias: String, activities: [String]) {
        let document = try YAMLLoader.parseDefinition(run.definition.text, fileName: run.definition.path)
        let substituted = run.definition.substitutions.withPseudoParameters.apply(to: document).value
        var activities: [String: String] = [:]
        for resource in ActivityDefinition.resources(in: substituted) where ActivityDefinition.servedResources.contains(resource) {
            let name = "\(settings.namePrefix)-\(resource.replacingOccurrences(of: "stepgate:", with: ""))"
            if let arn = known.withLock({ $0["activity:" + name] }) {
                activities[resource] = arn
            } else {
                let arn = try await retrying { () async throws(AWSError) in try await self.client.createActivity(name: name) }
                known.withLock { $0["activity:" + name] = arn }
                activities[resource] = arn
            }
        }
        let rewritten: JSON
        do { rewritten = try ActivityDefinition.rewrite(substituted, activities: activities) } catch {
            throw RunRefusal("stepgate.EngineUnsupported", error.message)
        }
        let text = rewritten.serialized
        let machineName = StepFunctionsNames.idempotent("\(settings.namePrefix)|\(run.repository)|\(run.workflow)")
        let digest = StepFunctionsNames.idempotent(text).suffix(8)
        let alias = "rev-" + (run.trustedCommit.map { String($0.prefix(12)) } ?? "file") + "-" + digest
        if let arn = known.withLock({ $0["alias:\(machineName):\(alias)"] }) { return (arn, Array(activities.values)) }

        let description = "\(run.repository) \(run.workflow) at \(run.trustedCommit ?? "a definition file")"
        var machine = known.withLock { $0["machine:" + machineName] }
        if machine == nil { machine = try await retrying { () async throws(AWSError) in try await self.client.stateMachineArn(named: machineName) } }
        var version: String?
        if let existing = machine {
            if let aliasArn = try await retrying({ () async throws(AWSError) in try await self.client.aliasExists(stateMachineArn: existing, name: alias) }) {
                known.withLock { $0["alias:\(machineName):\(alias)"] = aliasArn }
                return (aliasArn, Array(activities.values))
            }
            version = try await updated(existing, text, description)
        } else {
            let answer: Result<(stateMachineArn: String, versionArn: String?), AWSError>
            do throws(AWSError) {
                answer = .success(
                    try await client.createStateMachine(
                        name: machineName, definition: text, roleArn: settings.roleArn, versionDescription: description))
            } catch {
                answer = .failure(error)
            }
            switch answer {
            case .success(let created):
                machine = created.stateMachineArn
                version = created.versionArn
            case .failure(let error):
                guard error.type == "StateMachineAlreadyExists" else {
                    throw RunRefusal("stepgate.EngineRejected", run.redact(error.description))
                }
                // Another process created it meanwhile: publish this definition over it.
                machine = try await retrying { () async throws(AWSError) in try await self.client.stateMachineArn(named: machineName) }
                guard let machine else { throw error }
                version = try await updated(machine, text, description)
            }
        }
        guard let machine, let version else {
            throw RunRefusal("stepgate.EngineFailed", "Step Functions published no version of \(machineName)")
        }
        known.withLock { $0["machine:" + machineName] = machine }
        let aliasArn = try await retrying { () async throws(AWSError) in
            try await self.client.setAlias(name: alias, stateMachineArn: machine, versionArn: version)
        }
        known.withLock { $0["alias:\(machineName):\(alias)"] = aliasArn }
        return (aliasArn, Array(activities.values))
    }

    func updated(_ machine: String, _ text: String, _ description: String) async throws -> String? {
        let answer: Result<String?, AWSError>
        do throws(AWSError) {
            answer = .success(
                try await client.updateStateMachine(arn: machine, definition: text, roleArn: settings.roleArn, versionDescription: description))
        } catch {
            answer = .failure(error)
        }
        switch answer {
        case .success(let version): return version
        case .failure(let error):
            if error.status >= 400 && error.status < 500 && error.type != "ThrottlingException" {
                throw RunRefusal("stepgate.EngineRejected", error.description)
            }
            throw error
        }
    }

    /// Follows an execution to its end, recording each new history event and then its ending.
    func follow(_ run: RemoteRun, executionArn: String) async throws(StoreError) -> ExecutionResult {
        var recorded = try await run.store.events(executionID: run.id).last?.seq ?? 0
        var failures = 0
        while true {
            do {
                let state = try await client.describeExecution(arn: executionArn)
                let history = try await client.executionHistory(arn: executionArn, after: recorded)
                let fresh = history.map { event in
                    StoredEvent(
                        seq: event.id, type: event.type,
                        json: (try? JSONParser.parse(run.redact(event.json))) ?? .object(JSONObject([("type", .string(event.type))])))
                }
                failures = 0
                if state.status == "RUNNING" {
                    if !fresh.isEmpty {
                        try await run.store.recordTransition(executionID: run.id, events: fresh, checkpoint: nil, ending: nil)
                        recorded = fresh.last!.seq
                    }
                } else {
                    let result = Self.result(of: state, redact: run.redact)
                    try await run.store.recordTransition(
                        executionID: run.id, events: fresh, checkpoint: nil, ending: Self.ending(of: result))
                    return result
                }
            } catch let error as StoreError {
                throw error
            } catch {
                // AWS keeps running the execution whatever happens here: keep looking, backing off.
                failures += 1
            }
            do {
                try await Task.sleep(for: failures == 0 ? settings.pollInterval : min(.seconds(30), settings.pollInterval * (1 << min(failures, 5))))
            } catch {
                throw StoreError(.conflict, "following execution \(run.id) was stopped")
            }
        }
    }

    static func result(of state: StepFunctionsExecution, redact: (String) -> String) -> ExecutionResult {
        let status: ExecutionResult.Status
        switch state.status {
        case "SUCCEEDED": status = .succeeded
        case "TIMED_OUT": status = .timedOut
        default: status = .failed
        }
        var error = state.error
        var cause = state.cause.map(redact)
        if state.status == "ABORTED" {
            error = error ?? "States.Aborted"
            cause = cause ?? "the execution was stopped on AWS"
        }
        return ExecutionResult(
            status: status, output: state.output.flatMap { try? JSONParser.parse(redact($0)) }, error: error, cause: cause)
    }

    static func ending(of result: ExecutionResult) -> ExecutionEnding {
        let status: ExecutionStatus
        switch result.status {
        case .succeeded: status = .succeeded
        case .failed: status = result.error == "States.Aborted" ? .aborted : .failed
        case .timedOut: status = .timedOut
        }
        return ExecutionEnding(status: status, output: result.output, error: result.error, cause: result.cause)
    }

    /// Ends a run that never reached AWS.
    func end(_ run: RemoteRun, _ result: ExecutionResult) async throws(StoreError) -> ExecutionResult {
        try await run.store.finishExecution(id: run.id, Self.ending(of: result))
        return result
    }

    /// Retries a call a few times on transport errors, throttling and server errors; AWS's refusals go through.
    func retrying<T: Sendable>(_ call: @Sendable () async throws(AWSError) -> T) async throws(AWSError) -> T {
        var attempt = 0
        while true {
            do { return try await call() } catch {
                attempt += 1
                let transient = error.status == 0 || error.status >= 500 || error.type == "ThrottlingException"
                guard transient, attempt < 5, !Task.isCancelled else { throw error }
                try? await Task.sleep(for: .milliseconds(100 << attempt))
            }
        }
    }
}


