public import StatesLanguage
import Foundation

/// Runs stepgate's own task resources (`stepgate:command`, `stepgate:http`) and forwards every
/// other resource to an inner executor (approvals, comments, ...).
///
/// A Task that names a role (`Credentials.RoleArn`) runs only when the role is in ``grants``,
/// and only then receives the role's secrets; the policy check before the execution should have
/// refused such a workflow already, this is the second lock.
public struct StepgateTaskExecutor: TaskExecutor {
    /// Where command tasks run.
    public enum Workspace: Sendable, Hashable {
        /// In this directory as it is (`stepgate run` without `--repo`).
        case directory(String)
        /// In a fresh checkout of `commit` (a full object ID) of the repository at `repository`,
        /// written through libgit2 into a temporary directory that is removed afterwards.
        case checkout(repository: String, commit: String)
    }

    public struct Configuration: Sendable {
        public var workspace: Workspace
        public var grants: RoleGrants
        public var context: TriggerContext
        /// Mints `STEPGATE_ID_TOKEN` for command tasks when set.
        public var identity: IdentityTokenIssuer?
        /// PATH of command tasks (the server's own PATH is never passed on).
        public var path: String = "/usr/local/bin:/usr/bin:/bin"
        /// Bytes kept of stdout and of stderr each.
        public var outputLimit: Int = 1 << 20
        /// Seconds between SIGTERM and SIGKILL when a command times out.
        public var killGrace: Double = 2
        /// Where temporary checkouts and home directories are made.
        public var temporaryDirectory: String = FileManager.default.temporaryDirectory.path
        /// How command tasks are isolated: a bubblewrap sandbox unless the operator chose
        /// ``Sandbox/none``. The role's ``RoleAccess`` (network, read-only paths) comes from
        /// ``grants``.
        public var sandbox: Sandbox = .bubblewrap

        public init(
            workspace: Workspace, grants: RoleGrants = .none, context: TriggerContext,
            identity: IdentityTokenIssuer? = nil
        ) {
            self.workspace = workspace
            self.grants = grants
            self.context = context
            self.identity = identity
        }
    }

    public static let commandResource = "stepgate:command"
    public static let httpResource = "stepgate:http"

    public let configuration: Configuration
    public let inner: (any TaskExecutor)?

    public init(configuration: Configuration, inner: (any TaskExecutor)? = nil) {
        self.configuration = configuration
        self.inner = inner
    }

    /// This executor wrapped so that every result and error is redacted of the granted secrets.
    public func redacting() -> RedactingTaskExecutor {
        RedactingTaskExecutor(inner: self, redactor: redactor)
    }

    /// Hides every granted secret: for whatever leaves an execution besides task results (the
    /// error and cause of a failed run shown to a pusher, a review summary).
    public var redactor: Redactor { Redactor(secrets: configuration.grants.allSecretValues) }

    public func execute(_ request: TaskRequest) async throws -> JSON {
        switch request.resource {
        case Self.commandResource:
            return try await CommandTask(configuration: configuration, request: request, secrets: try secrets(for: request)).run()
        case Self.httpResource:
            return try await HTTPTask(
                request: request, secrets: try secrets(for: request), bodyLimit: configuration.outputLimit, redactor: redactor
            ).run()
        default:
            if let inner { return try await inner.execute(request) }
            throw ExecutionError.taskFailed("unknown resource '\(request.resource)'")
        }
    }

    /// The secrets of the role the task asks for; none without credentials.
    func secrets(for request: TaskRequest) throws(ExecutionError) -> [String: String] {
        switch RolePolicy.roleRequest(request.credentials) {
        case .none:
            return [:]
        case .invalid(let reason):
            throw ExecutionError("stepgate.RoleDenied", "state \"\(request.stateName)\": \(reason)")
        case .role(let name):
            guard let secrets = configuration.grants.secrets[name] else {
                throw ExecutionError(
                    "stepgate.RoleDenied", "state \"\(request.stateName)\" asks for role \"\(name)\", which was not granted")
            }
            return secrets
        }
    }
}

extension ExecutionError {
    static func invalidParameters(_ cause: String) -> ExecutionError { .init("stepgate.InvalidParameters", cause) }
}
