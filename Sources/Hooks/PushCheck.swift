public import Config
public import Git
public import Runtime
public import StatesLanguage
internal import Foundation

/// What a hook run decided: the lines to print on stderr (each one line) and whether the push
/// is accepted.
public struct HookReport: Sendable {
    public var lines: [String] = []
    public var rejected = false

    public init(lines: [String] = [], rejected: Bool = false) {
        self.lines = lines
        self.rejected = rejected
    }

    public var exitCode: Int32 { rejected ? 1 : 0 }

    mutating func reject(_ ref: String, _ why: String) {
        lines.append("stepgate: rejected \(oneLine(ref)): \(oneLine(why))")
        rejected = true
    }

    mutating func warn(_ ref: String?, _ what: String) {
        lines.append("stepgate: warning: " + (ref.map { oneLine($0) + ": " } ?? "") + oneLine(what))
    }

    /// An internal error, handled by the policy: one rejection or one warning line.
    mutating func internalError(_ ref: String?, _ what: String, policy: ErrorPolicy) {
        switch policy {
        case .failClosed:
            let target = ref.map { oneLine($0) } ?? "push"
            lines.append("stepgate: rejected \(target): internal error: \(oneLine(what)) (on-error: fail-closed)")
            rejected = true
        case .failOpen:
            warn(ref, "internal error: \(what); accepting (on-error: fail-open)")
        }
    }
}

/// pre-receive and update: validates the `.stepgate/` files a push changes, at its new tip,
/// and runs the push gates read from the trusted side (the ref's current tip, or for a new
/// ref the default branch), never from the pushed commits.
public final class PushChecker {
    let repository: Repository
    let settings: HookSettings
    let environment: [String: String]
    let tasks: any TaskExecutor
    let policy: RolePolicy
    let deadline: ContinuousClock.Instant
    let trigger: String

    /// - Parameters:
    ///   - repository: opened with ``Repository/openFromHookEnvironment()`` so quarantined
    ///     objects are visible.
    ///   - deadline: when the whole run must be over (the time budget).
    public init(
        repository: Repository, settings: HookSettings, environment: [String: String],
        tasks: any TaskExecutor = NoTaskExecutor(), policy: RolePolicy = .empty, deadline: ContinuousClock.Instant,
        trigger: String = "pre-receive"
    ) {
        self.repository = repository
        self.settings = settings
        self.environment = environment
        self.tasks = tasks
        self.policy = policy
        self.deadline = deadline
        self.trigger = trigger
    }

    var remainingSeconds: Double {
        let left = deadline - ContinuousClock.now
        return left.seconds
    }

    public func check(_ updates: [RefUpdate]) async -> HookReport {
        var report = HookReport()
        for update in updates {
            await check(update, into: &report)
        }
        return report
    }

    func check(_ update: RefUpdate, into report: inout HookReport) async {
        var commits: [(commit: CommitInfo, files: [String])] = []
        do {
            if !update.isDeletion {
                commits = try introduced(update)
                validate(update, commits: commits, into: &report)
            }
        } catch {
            report.internalError(update.ref, "reading the pushed commits: \(error.description)", policy: settings.onError)
            return
        }
        await runGates(update, commits: commits, into: &report)
    }

    func introduced(_ update: RefUpdate) throws(GitError) -> [(commit: CommitInfo, files: [String])] {
        let commits = try repository.commitsIntroduced(old: update.old, new: update.new, excluding: .oldAndExistingRefs)
        var result: [(commit: CommitInfo, files: [String])] = []
        result.reserveCapacity(commits.count)
        for commit in commits {
            result.append((commit, try repository.changedPaths(in: commit).map(\.path)))
        }
        return result
    }

    // MARK: Validation at the new tip

    func validate(_ update: RefUpdate, commits: [(commit: CommitInfo, files: [String])], into report: inout HookReport) {
        // The newest pushed commit that touched each .stepgate/ path, to name it in messages.
        var lastTouch: [String: ObjectID] = [:]
        for (commit, files) in commits {
            for path in files where path.hasPrefix(RepositoryConfigLoader.directory) { lastTouch[path] = commit.id }
        }
        guard !lastTouch.isEmpty else { return }
        let tip = update.new
        let configPath = RepositoryConfigLoader.path
        func rejectAll(_ diagnostics: [Diagnostic], file: String, commit: ObjectID) {
            for d in diagnostics where d.severity == .error {
                report.reject(update.ref, "\(commit.short) \(d.formatted(file: file))")
            }
        }
        do {
            var validated = Set<String>()
            let paths = lastTouch.keys.sorted()
            for path in paths where RepositoryConfigLoader.isWorkflowDefinition(path: path) {
                guard let bytes = try repository.blob(at: path, commit: tip) else { continue }
                validated.insert(path)
                rejectAll(StepgateFiles.validate(bytes: bytes, file: path), file: path, commit: lastTouch[path] ?? tip)
            }
            // Any change under .stepgate/ may break the configuration (a renamed or deleted
            // definition), so it is checked whenever one happens.
            if let bytes = try repository.blob(at: configPath, commit: tip) {
                let blame = lastTouch[configPath] ?? tip
                switch StepgateFiles.text(bytes) {
                case nil: rejectAll([StepgateFiles.notUTF8], file: configPath, commit: blame)
                case let text?:
                    let loaded = StepgateFiles.loadConfig(text: text, file: configPath)
                    rejectAll(loaded.diagnostics, file: configPath, commit: blame)
                    for workflow in loaded.config?.workflows ?? [] where !validated.contains(workflow.definitionPath) {
                        let path = workflow.definitionPath
                        validated.insert(path)
                        if let definition = try repository.blob(at: path, commit: tip) {
                            rejectAll(StepgateFiles.validate(bytes: definition, file: path), file: path, commit: lastTouch[path] ?? tip)
                        } else {
                            let d = StepgateFiles.missingDefinition(workflow, in: loaded.document, shownAs: path)
                            rejectAll([d], file: configPath, commit: lastTouch[path] ?? blame)
                        }
                    }
                }
            }
        } catch {
            report.internalError(update.ref, "reading .stepgate/ at \(tip.short): \(error.description)", policy: settings.onError)
        }
    }

    // MARK: Gates from the trusted side

    /// The commit whose configuration judges a push to `update.ref`: the ref's current tip,
    /// or for a new ref the default branch (HEAD); nil when there is none.
    func trustedCommit(for update: RefUpdate) throws(GitError) -> ObjectID? {
        if !update.old.isZero { return update.old }
        return try repository.reference("HEAD")
    }

    func runGates(_ update: RefUpdate, commits: [(commit: CommitInfo, files: [String])], into report: inout HookReport) async {
        let trusted: ObjectID
        do {
            guard let commit = try trustedCommit(for: update) else { return }
            trusted = commit
        } catch {
            report.internalError(update.ref, "finding the trusted configuration: \(error.description)", policy: settings.onError)
            return
        }
        let config: RepositoryConfig
        switch DefinitionLoader.config(repository: repository, commit: trusted) {
        case .success(nil): return
        case .success(let c?): config = c
        case .failure(let failure):
            report.internalError(
                update.ref, "the trusted configuration at \(trusted.short) is unusable: \(failure.describe(RepositoryConfigLoader.path))",
                policy: settings.onError)
            return
        }
        let pusher = settings.pusher(environment: environment)
        let repositoryName = PushEvent.repositoryName(repository)
        for gate in config.gates(forPreReceive: update.ref) {
            let machine: StateMachine
            switch DefinitionLoader.load(gate.definitionPath, repository: repository, commit: trusted) {
            case .success(let m): machine = m
            case .failure(let failure):
                report.internalError(
                    update.ref, "gate \(gate.name): trusted definition at \(trusted.short) is unusable: \(failure.describe(gate.definitionPath))",
                    policy: settings.onError)
                continue
            }
            guard
                let input = PushEvent.input(
                    trigger: trigger, update: update, pusher: pusher, repository: repositoryName, commits: commits,
                    template: gate.input)
            else {
                report.reject(
                    update.ref, "gate \(gate.name): the push's \(commits.count) commits do not fit in a 256 KiB gate input; push fewer commits at a time")
                continue
            }
            var seconds = remainingSeconds
            if let limit = gate.timeout?.seconds { seconds = min(seconds, limit) }
            guard seconds > 0 else {
                report.reject(update.ref, "gate \(gate.name) not run: the time budget of \(settings.timeout.shortDescription) is used up")
                continue
            }
            let gateTasks: any TaskExecutor
            switch GateTasks.executor(
                policy: policy, machine: machine, kind: .preReceive, repositoryName: repositoryName,
                gitDirectory: repository.path, ref: update.ref, commit: update.new, workflow: gate.name, inner: tasks)
            {
            case .success(let executor): gateTasks = executor
            case .failure(let denial):
                report.reject(update.ref, "gate \(gate.name) not run: \(denial.cause)")
                continue
            }
            let id = UUID().uuidString.lowercased()
            let identity = ExecutionIdentity(
                executionID: "stepgate:\(repositoryName):gate:\(id)", name: id, stateMachineName: gate.name)
            switch await DeadlineRunner.run(machine: machine, input: input, identity: identity, tasks: gateTasks, seconds: seconds) {
            case .outOfTime:
                report.reject(update.ref, "gate \(gate.name) did not finish within \(Duration.milliseconds(Int(seconds * 1000)).shortDescription) (time budget)")
            case .finished(let result):
                switch result.status {
                case .succeeded: break
                case .failed, .timedOut:
                    let error = result.error ?? (result.status == .timedOut ? "States.Timeout" : "failed")
                    let cause = result.cause.map { ": \($0)" } ?? ""
                    report.reject(update.ref, "gate \(gate.name) failed: \(error)\(cause)")
                }
            }
        }
    }
}

extension HookReport {
    /// An internal error not tied to one ref.
    public mutating func internalErrorLine(_ what: String, policy: ErrorPolicy) {
        internalError(nil, what, policy: policy)
    }
}
