public import Config
public import Git
public import Runtime
public import StatesLanguage
internal import Foundation

/// A failure inside the hooks, reported as one line.
public struct HookFailure: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Starts a recorded push execution without making the pusher wait.
public protocol PushJobLauncher {
    /// Starts the execution `id` (already recorded in the hooks' store) and returns at once.
    func launch(executionID id: String) throws(HookFailure)
}

/// post-receive: records the push workflows of the trusted side (each ref's tip before the push,
/// or for a new ref the default branch's: never the pushed commits) as durable executions in
/// the hooks' store, and starts each detached. A push that changes `.stepgate/` runs them
/// without secrets (the front door decides it from the trees).
public final class PushStarter {
    let repository: Repository
    let runRepository: RunRepository
    let settings: HookSettings
    let environment: [String: String]
    let runs: () throws -> WorkflowRuns
    let launcher: any PushJobLauncher

    public init(
        repository: Repository, settings: HookSettings, environment: [String: String], runs: @escaping () throws -> WorkflowRuns,
        launcher: any PushJobLauncher
    ) {
        self.repository = repository
        self.runRepository = RunRepository(name: PushEvent.repositoryName(repository), gitDirectory: repository.path)
        self.settings = settings
        self.environment = environment
        self.runs = runs
        self.launcher = launcher
    }

    /// Never rejects (post-receive cannot); every problem is one warning line.
    public func start(_ updates: [RefUpdate]) async -> HookReport {
        var report = HookReport()
        let pusher = settings.pusher(environment: environment)
        // After the push the refs hold their new values: what each held before comes from the input.
        var before: [RefName: ObjectID] = [:]
        for update in updates { before[RefName(update.ref)] = update.old }
        var front: WorkflowRuns?
        for update in updates where !update.isDeletion {
            let trusted: TrustedSide
            do {
                trusted = try WorkflowRuns.trustedSide(
                    of: runRepository,
                    at: .push(ref: RefName(update.ref), old: update.old, defaultBranch: settings.defaultBranch, alongside: before))
            } catch {
                report.warn(update.ref, "no push workflow started: \(error)")
                continue
            }
            let config: RepositoryConfig
            switch trusted.configuration {
            case .absent: continue
            case .config(let c): config = c
            case .invalid(let problem):
                report.warn(update.ref, "no push workflow started: the trusted configuration is unusable: \(problem)")
                continue
            }
            let workflows = config.workflows(forPush: update.ref)
            if workflows.isEmpty { continue }
            let commits: EnteringCommits
            do {
                commits = try PushEvent.commitsEntering(update, in: repository, trustedBase: trusted.commit.flatMap(ObjectID.init(hex:)))
            } catch {
                report.warn(update.ref, "no push workflow started: reading the pushed commits: \(error.description)")
                continue
            }
            if front == nil {
                do { front = try runs() } catch {
                    report.warn(update.ref, "no push workflow started: opening the store: \(error)")
                    continue
                }
            }
            guard let runs = front else { continue }
            for workflow in workflows {
                guard
                    let input = PushEvent.input(
                        trigger: "push", update: update, pusher: pusher, repository: runRepository.name, commits: commits,
                        template: workflow.input)
                else {
                    report.warn(update.ref, "\(workflow.name) not started: its input template does not fit in AWS's 256 KiB payload limit")
                    continue
                }
                let request = RunRequest(
                    kind: .push, repository: runRepository, trusted: trusted, definition: .workflow(workflow.name),
                    checkout: .commit(update.new.description), event: input, input: input)
                do {
                    if let refused = try await runs.record(request) {
                        report.warn(
                            update.ref,
                            "\(workflow.name) not started: \(refused.result.error ?? ""): \(refused.result.cause ?? "") (execution \(refused.id))")
                        continue
                    }
                    try launcher.launch(executionID: request.id)
                    report.lines.append("stepgate: started \(workflow.name) for \(oneLine(update.ref)) (execution \(request.id))")
                } catch {
                    report.warn(update.ref, "\(workflow.name) not started: \(error)")
                }
            }
        }
        return report
    }
}
