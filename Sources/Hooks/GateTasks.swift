import Config
import Git
import Runtime
import StatesLanguage

/// The task resources a hook's workflow runs with: roles from the server policy (the hook
/// configuration's `roles`, never the repository), commands in a fresh checkout of the pushed
/// commit, results redacted of the granted secrets.
enum GateTasks {
    /// The executor for one workflow, or the denial that stops it before any task runs.
    static func executor(
        policy: RolePolicy, machine: StateMachine, kind: TriggerContext.Kind, repositoryName: String,
        gitDirectory: String, ref: String, commit: ObjectID, workflow: String, inner: any TaskExecutor
    ) -> Result<any TaskExecutor, ExecutionError> {
        let context = TriggerContext(
            kind: kind, repository: repositoryName, branch: ref, workflow: workflow, revision: commit.description)
        let grants: RoleGrants
        do { grants = try policy.authorize(machine: machine, context: context) } catch {
            return .failure(error.executionError)
        }
        let configuration = StepgateTaskExecutor.Configuration(
            workspace: .checkout(repository: gitDirectory, commit: commit.description), grants: grants, context: context)
        return .success(StepgateTaskExecutor(configuration: configuration, inner: inner).redacting())
    }
}
