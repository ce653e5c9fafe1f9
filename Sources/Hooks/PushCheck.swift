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

extension HookReport {
    /// An internal error not tied to one ref.
    public mutating func internalErrorLine(_ what: String, policy: ErrorPolicy) {
        internalError(nil, what, policy: policy)
    }
}

/// pre-receive and update: validates the `.stepgate/` files a push changes, at its new tip, and
/// runs the push gates of the trusted side (the ref's tip before the push, or for a new ref the
/// default branch's) through the front door, ``Runtime/WorkflowRuns``. Gates are durable
/// executions in the hooks' store; a gate sees every commit that enters the ref.
public final class PushChecker {
    let repository: Repository
    let runRepository: RunRepository
    let settings: HookSettings
    let environment: [String: String]
    /// The front door, opened (with its store) only when a gate runs.
    let runs: () throws -> WorkflowRuns
    let deadline: ContinuousClock.Instant
    let trigger: String
    /// Whether a trusted configuration read for this push has any push workflow (post-receive
    /// then has work to do).
    public private(set) var sawPushWorkflows = false

    /// - Parameters:
    ///   - repository: opened with ``Git/Repository/openFromHookEnvironment()`` so quarantined
    ///     objects are visible.
    ///   - runs: makes the front door (and opens the store) the first time a gate runs.
    ///   - deadline: when the whole run must be over (the time budget).
    public init(
        repository: Repository, settings: HookSettings, environment: [String: String], runs: @escaping () throws -> WorkflowRuns,
        deadline: ContinuousClock.Instant, trigger: String = "pre-receive"
    ) {
        self.repository = repository
        self.runRepository = RunRepository(name: PushEvent.repositoryName(repository), gitDirectory: repository.path)
        self.settings = settings
        self.environment = environment
        self.runs = runs
        self.deadline = deadline
        self.trigger = trigger
    }

    public func check(_ updates: [RefUpdate]) async -> HookReport {
        var report = HookReport()
        var front: WorkflowRuns?
        for update in updates {
            await check(update, front: &front, into: &report)
        }
        return report
    }

    func check(_ update: RefUpdate, front: inout WorkflowRuns?, into report: inout HookReport) async {
        let trusted: TrustedSide
        do {
            trusted = try WorkflowRuns.trustedSide(
                of: runRepository, at: .push(ref: RefName(update.ref), old: update.old, defaultBranch: settings.defaultBranch))
        } catch let refusal as TrustRefusal {
            report.reject(update.ref, refusal.description)
            return
        } catch {
            report.internalError(update.ref, "finding the trusted configuration: \(error)", policy: settings.onError)
            return
        }
        let base = trusted.commit.flatMap(ObjectID.init(hex:))
        var commits = EnteringCommits(commits: [], total: 0)
        do {
            if !update.isDeletion {
                commits = try PushEvent.commitsEntering(update, in: repository, trustedBase: base)
                try validate(update, base: base, into: &report)
            }
        } catch {
            report.internalError(update.ref, "reading the pushed commits: \(error)", policy: settings.onError)
            return
        }
        await runGates(update, trusted: trusted, commits: commits, front: &front, into: &report)
    }

    // MARK: Validation at the new tip

    /// Validates the `.stepgate/` files that differ between the trusted side and the new tip (and
    /// the configuration, whenever any of them does), naming the newest pushed commit that
    /// touched each file in the rejection.
    func validate(_ update: RefUpdate, base: ObjectID?, into report: inout HookReport) throws {
        let touched = Set(
            try repository.changedPaths(from: base, to: update.new).flatMap { [$0.path] + ($0.oldPath.map { [$0] } ?? []) }
                .filter { $0.hasPrefix(StepgateDirectory.directory) })
        guard !touched.isEmpty else { return }
        let results = try StepgateDirectory.validate(GitRevision(repository: repository, commit: update.new), only: touched)
        for (file, diagnostics) in results {
            let errors = diagnostics.filter { $0.severity == .error }
            guard !errors.isEmpty else { continue }
            let blame = try lastTouch(of: file, from: update.new, hiding: base) ?? update.new
            for d in errors { report.reject(update.ref, "\(blame.short) \(d.formatted(file: file))") }
        }
    }

    /// The newest commit between `base` and `tip` that changed `path` (only looked for when a file
    /// is rejected).
    func lastTouch(of path: String, from tip: ObjectID, hiding base: ObjectID?) throws -> ObjectID? {
        var found: ObjectID?
        try repository.walkCommits(new: tip, hiding: base) { (id: ObjectID) throws(GitError) -> Bool in
            let commit = try repository.commit(id)
            let mine = try repository.blob(at: path, commit: id)
            let parents = try commit.parents.map { (p: ObjectID) throws(GitError) in try repository.blob(at: path, commit: p) }
            if parents.isEmpty ? mine != nil : !parents.contains(where: { $0 == mine }) {
                found = id
                return false
            }
            return true
        }
        return found
    }

    // MARK: Gates from the trusted side

    func runGates(
        _ update: RefUpdate, trusted: TrustedSide, commits: EnteringCommits, front: inout WorkflowRuns?,
        into report: inout HookReport
    ) async {
        let config: RepositoryConfig
        switch trusted.configuration {
        case .absent: return
        case .config(let c):
            config = c
            if c.workflows.contains(where: { $0.triggers.push != nil }) { sawPushWorkflows = true }
        case .invalid(let problem):
            report.internalError(
                update.ref, "the trusted configuration at \(String((trusted.commit ?? "").prefix(7))) is unusable: \(problem)",
                policy: settings.onError)
            return
        }
        let gates = config.gates(forPreReceive: update.ref)
        if gates.isEmpty { return }
        if front == nil {
            do { front = try runs() } catch {
                report.internalError(update.ref, "opening the store: \(error)", policy: settings.onError)
                return
            }
        }
        guard let runs = front else { return }
        let pusher = settings.pusher(environment: environment)
        for gate in gates {
            guard
                let input = PushEvent.input(
                    trigger: trigger, update: update, pusher: pusher, repository: runRepository.name, commits: commits,
                    template: gate.input)
            else {
                report.reject(update.ref, "gate \(gate.name): its input template does not fit in AWS's 256 KiB payload limit")
                continue
            }
            var until = deadline
            if let limit = gate.timeout { until = min(until, ContinuousClock.now + limit) }
            guard until > ContinuousClock.now else {
                report.reject(update.ref, "gate \(gate.name) not run: the time budget of \(settings.timeout.shortDescription) is used up")
                continue
            }
            let request = RunRequest(
                kind: .preReceive, repository: runRepository, trusted: trusted, definition: .workflow(gate.name),
                checkout: .commit((update.isDeletion ? update.old : update.new).description), event: input, input: input,
                resumable: false)
            let outcome: RunOutcome
            do { outcome = try await runs.start(request, deadline: until) } catch {
                report.internalError(update.ref, "gate \(gate.name): the store failed: \(error)", policy: settings.onError)
                continue
            }
            let result = outcome.result
            if outcome.notes.contains(Sandbox.unsandboxedNotice), !report.lines.contains(where: { $0.contains(Sandbox.unsandboxedNotice) }) {
                report.warn(nil, Sandbox.unsandboxedNotice)
            }
            if outcome.outOfTime {
                report.reject(update.ref, "gate \(gate.name) did not finish within its time budget (\(settings.timeout.shortDescription))")
            } else if outcome.refused, let error = result.error, error == "stepgate.RoleDenied" || error == "stepgate.SecretUnavailable" {
                report.reject(update.ref, "gate \(gate.name) not run: \(result.cause ?? error)")
            } else if outcome.refused {
                // The trusted side itself is unusable (a missing or invalid definition): the server's problem.
                report.internalError(
                    update.ref, "gate \(gate.name) not run: \(result.error ?? "stepgate.Refused"): \(result.cause ?? "")",
                    policy: settings.onError)
            } else if result.status != .succeeded {
                let error = result.error ?? (result.status == .timedOut ? "States.Timeout" : "failed")
                report.reject(update.ref, "gate \(gate.name) failed: \(error)" + (result.cause.map { ": \($0)" } ?? ""))
            }
        }
    }
}
