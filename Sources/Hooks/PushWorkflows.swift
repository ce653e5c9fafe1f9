public import Config
public import Git
public import Runtime
public import StatesLanguage
internal import Foundation
internal import Store

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// A push workflow to run after a push was accepted.
public struct PushJob: Sendable {
    public var executionID: String
    public var workflow: String
    public var ref: String
    /// The pushed tip; the definition is read from here (trusted after post-receive).
    public var commit: ObjectID
    public var input: JSON

    public init(executionID: String, workflow: String, ref: String, commit: ObjectID, input: JSON) {
        self.executionID = executionID
        self.workflow = workflow
        self.ref = ref
        self.commit = commit
        self.input = input
    }

    public var json: JSON {
        .object(
            JSONObject([
                ("id", .string(executionID)), ("workflow", .string(workflow)), ("ref", .string(ref)),
                ("commit", .string(commit.description)), ("input", input),
            ]))
    }

    public init?(json: JSON) {
        guard let id = json["id"]?.stringValue, let workflow = json["workflow"]?.stringValue,
            let ref = json["ref"]?.stringValue, let hex = json["commit"]?.stringValue,
            let commit = ObjectID(hex: hex), let input = json["input"]
        else { return nil }
        self.init(executionID: id, workflow: workflow, ref: ref, commit: commit, input: input)
    }
}

/// Starts push workflows without making the pusher wait.
public protocol PushJobLauncher {
    /// Starts the job and returns at once.
    func launch(_ job: PushJob) throws(HookFailure)
}

/// A failure inside the hooks, reported as one line.
public struct HookFailure: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Where finished (and running) push executions are recorded. The file store below is the
/// stand-in until the durable Store arrives; anything that can take these two calls replaces it.
public protocol ExecutionRecorder: Sendable {
    func started(_ job: PushJob) throws(HookFailure)
    func finished(_ job: PushJob, outcome: ExecutionOutcome) throws(HookFailure)
}

/// How an execution ended, as recorded.
public struct ExecutionOutcome: Sendable {
    /// `SUCCEEDED`, `FAILED` or `TIMED_OUT`.
    public var status: String
    public var output: JSON?
    public var error: String?
    public var cause: String?

    public init(status: String, output: JSON? = nil, error: String? = nil, cause: String? = nil) {
        self.status = status
        self.output = output
        self.error = error
        self.cause = cause
    }

    public init(_ result: ExecutionResult) {
        self.init(status: result.status.rawValue, output: result.output, error: result.error, cause: result.cause)
    }

    public var succeeded: Bool { status == "SUCCEEDED" }
}

/// One JSON file per execution: `<directory>/<id>.json`, replaced atomically on every change.
public struct FileExecutionRecorder: ExecutionRecorder {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// `<git-dir>/stepgate/executions`.
    public init(gitDirectory: String) { self.init(directory: gitDirectory + "/stepgate/executions") }

    public func path(for id: String) -> String { "\(directory)/\(id).json" }

    public func started(_ job: PushJob) throws(HookFailure) {
        try write(job, status: "RUNNING", extra: [("startedAt", .string(Self.timestamp()))])
    }

    public func finished(_ job: PushJob, outcome: ExecutionOutcome) throws(HookFailure) {
        var extra: [(String, JSON)] = [("finishedAt", .string(Self.timestamp()))]
        if outcome.succeeded {
            extra.append(("output", outcome.output ?? .null))
        } else {
            extra.append(("error", outcome.error.map(JSON.string) ?? .null))
            extra.append(("cause", outcome.cause.map(JSON.string) ?? .null))
        }
        try write(job, status: outcome.status, extra: extra)
    }

    private func write(_ job: PushJob, status: String, extra: [(String, JSON)]) throws(HookFailure) {
        var o = JSONObject([
            ("id", .string(job.executionID)), ("workflow", .string(job.workflow)), ("ref", .string(job.ref)),
            ("commit", .string(job.commit.description)), ("status", .string(status)),
        ])
        for (k, v) in extra { o[k] = v }
        try AtomicFile.write(JSON.object(o).prettyPrinted() + "\n", to: path(for: job.executionID))
    }

    static func timestamp() -> String {
        ISO8601.format(Date())
    }
}

enum AtomicFile {
    /// Writes through a temporary file and a rename, creating the directory if needed (files
    /// 0600, new directories 0700: jobs hold the push's details).
    static func write(_ text: String, to path: String) throws(HookFailure) {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try PrivateFiles.createDirectories(directory)
            try PrivateFiles.replace(path, with: text)
        } catch {
            throw HookFailure("cannot write \(path): \(error)")
        }
    }
}

/// post-receive: starts the push workflows the NEW tip's configuration names for each updated
/// ref (the update is accepted, so that tip is trusted now).
public final class PushStarter {
    let repository: Repository
    let settings: HookSettings
    let environment: [String: String]
    let launcher: any PushJobLauncher

    public init(repository: Repository, settings: HookSettings, environment: [String: String], launcher: any PushJobLauncher) {
        self.repository = repository
        self.settings = settings
        self.environment = environment
        self.launcher = launcher
    }

    /// Never rejects (post-receive cannot); every problem is one warning line.
    public func start(_ updates: [RefUpdate]) -> HookReport {
        var report = HookReport()
        let pusher = settings.pusher(environment: environment)
        let repositoryName = PushEvent.repositoryName(repository)
        for update in updates where !update.isDeletion {
            let config: RepositoryConfig
            switch DefinitionLoader.config(repository: repository, commit: update.new) {
            case .success(nil): continue
            case .success(let c?): config = c
            case .failure(let failure):
                report.warn(update.ref, "no push workflow started: \(failure.describe(RepositoryConfigLoader.path))")
                continue
            }
            let workflows = config.workflows(forPush: update.ref)
            if workflows.isEmpty { continue }
            var commits: [(commit: CommitInfo, files: [String])] = []
            do {
                for commit in try repository.commitsIntroduced(old: update.old, new: update.new, excluding: .oldOnly).suffix(1000) {
                    commits.append((commit, try repository.changedPaths(in: commit).map(\.path)))
                }
            } catch {
                report.warn(update.ref, "no push workflow started: reading the pushed commits: \(error.description)")
                continue
            }
            for workflow in workflows {
                if case .failure(let failure) = DefinitionLoader.load(workflow.definitionPath, repository: repository, commit: update.new) {
                    report.warn(update.ref, "\(workflow.name) not started: \(failure.describe(workflow.definitionPath))")
                    continue
                }
                guard
                    let input = PushEvent.input(
                        trigger: "push", update: update, pusher: pusher, repository: repositoryName, commits: commits,
                        template: workflow.input)
                else {
                    report.warn(update.ref, "\(workflow.name) not started: the push's commits do not fit in a 256 KiB input")
                    continue
                }
                let job = PushJob(
                    executionID: UUID().uuidString.lowercased(), workflow: workflow.name, ref: update.ref, commit: update.new,
                    input: input)
                do {
                    try launcher.launch(job)
                    report.lines.append("stepgate: started \(workflow.name) for \(oneLine(update.ref)) (execution \(job.executionID))")
                } catch {
                    report.warn(update.ref, "\(workflow.name) not started: \(error.description)")
                }
            }
        }
        return report
    }
}

/// Runs one push job to completion (the detached `stepgate hook run-push`).
public enum PushJobRunner {
    public static func run(
        job: PushJob, gitDirectory: String, recorder: any ExecutionRecorder, tasks: any TaskExecutor = NoTaskExecutor(),
        policy: RolePolicy = .empty
    ) async throws(HookFailure) -> ExecutionOutcome {
        let repository: Repository
        do { repository = try Repository(path: gitDirectory) } catch { throw HookFailure(error.description) }
        let config: RepositoryConfig
        switch DefinitionLoader.config(repository: repository, commit: job.commit) {
        case .success(let c?): config = c
        case .success(nil): throw HookFailure("no \(RepositoryConfigLoader.path) at \(job.commit.short)")
        case .failure(let f): throw HookFailure(f.describe(RepositoryConfigLoader.path))
        }
        guard let workflow = config.workflow(named: job.workflow) else {
            throw HookFailure("no workflow named \(job.workflow) at \(job.commit.short)")
        }
        let machine: StateMachine
        switch DefinitionLoader.load(workflow.definitionPath, repository: repository, commit: job.commit) {
        case .success(let m): machine = m
        case .failure(let f): throw HookFailure(f.describe(workflow.definitionPath))
        }
        try recorder.started(job)
        let workflowTasks: any TaskExecutor
        switch GateTasks.executor(
            policy: policy, machine: machine, kind: .push, repositoryName: PushEvent.repositoryName(repository),
            gitDirectory: repository.path, ref: job.ref, commit: job.commit, workflow: workflow.name, inner: tasks)
        {
        case .success(let executor): workflowTasks = executor
        case .failure(let denial):
            let outcome = ExecutionOutcome(status: "FAILED", error: denial.error, cause: denial.cause)
            try recorder.finished(job, outcome: outcome)
            return outcome
        }
        let identity = ExecutionIdentity(
            executionID: "stepgate:\(PushEvent.repositoryName(repository)):push:\(job.executionID)", name: job.executionID,
            stateMachineName: workflow.name)
        let seconds = workflow.timeout?.seconds ?? 24 * 3600
        let outcome: ExecutionOutcome
        switch await DeadlineRunner.run(machine: machine, input: job.input, identity: identity, tasks: workflowTasks, seconds: seconds) {
        case .finished(let r): outcome = ExecutionOutcome(r)
        case .outOfTime:
            outcome = ExecutionOutcome(
                status: "TIMED_OUT", error: "States.Timeout",
                cause: "the workflow did not finish within \(Duration.milliseconds(Int(seconds * 1000)).shortDescription)")
        }
        try recorder.finished(job, outcome: outcome)
        return outcome
    }
}
