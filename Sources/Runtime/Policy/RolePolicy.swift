public import Config
public import StatesLanguage
import Foundation
import YAMLLoader

/// Where a role's secret comes from: a file on the server (its content, one trailing newline
/// removed) or an environment variable of the server process.
public enum SecretSource: Sendable, Hashable {
    case file(String)
    case environment(String)
}

/// The conditions under which a role may be used. A condition left out does not restrict.
public struct RoleRules: Sendable, Hashable {
    /// Repository names (`*` matches any run of characters).
    public var repositories: [String]?
    /// Branch patterns (`release/*`), matched against the short branch name exactly as a
    /// trigger's `branches` are (``Config/RefPattern``: `*` stays inside one segment, `**` spans them).
    public var branches: [RefPattern]?
    public var triggers: [TriggerContext.Kind]?
    /// Minimum label values (`Code-Review: 2` means a vote of at least +2).
    public var labels: [String: Int]

    public init(
        repositories: [String]? = nil, branches: [RefPattern]? = nil, triggers: [TriggerContext.Kind]? = nil,
        labels: [String: Int] = [:]
    ) {
        self.repositories = repositories
        self.branches = branches
        self.triggers = triggers
        self.labels = labels
    }
}

/// What a role's command tasks may reach from their sandbox besides their checkout.
public struct RoleAccess: Sendable, Hashable {
    /// Whether they keep the server's network. Off unless the role says `network: true`: a task
    /// that holds secrets and cannot reach the network cannot send them anywhere.
    public var network: Bool
    /// Absolute paths they may read (a toolchain in /opt, a shared cache), besides the system's.
    public var readOnlyPaths: [String]

    public init(network: Bool = false, readOnlyPaths: [String] = []) {
        self.network = network
        self.readOnlyPaths = readOnlyPaths
    }

    /// No network, no extra paths: tasks that name no role, and roles that say nothing.
    public static let isolated = RoleAccess()
}

/// One role of the server policy.
public struct RoleDefinition: Sendable, Hashable {
    public var name: String
    public var secrets: [String: SecretSource]
    public var allow: RoleRules
    public var access: RoleAccess

    public init(name: String, secrets: [String: SecretSource] = [:], allow: RoleRules = RoleRules(), access: RoleAccess = .isolated) {
        self.name = name
        self.secrets = secrets
        self.allow = allow
        self.access = access
    }
}

/// Why a Task may not have the role it asks for.
public struct RoleDenial: Sendable, Hashable, CustomStringConvertible {
    /// The Task state, with its enclosing Parallel/Map states (`Fan/Deploy`).
    public var state: String
    /// The role asked for; nil when the task names none that can be checked.
    public var role: String?
    public var message: String

    public var description: String { message }
}

/// A policy file that could not be read: every problem, located.
public struct PolicyError: Error, Sendable, CustomStringConvertible {
    public var fileName: String
    public var diagnostics: [Diagnostic]

    public init(fileName: String, diagnostics: [Diagnostic]) {
        self.fileName = fileName
        self.diagnostics = diagnostics
    }

    /// One `FILE:LINE:COL: error: MESSAGE` line per problem.
    public var description: String {
        diagnostics.map { $0.formatted(file: fileName) }.joined(separator: "\n")
    }
}

/// A secret a granted role needs but the server cannot provide.
public struct SecretUnavailable: Error, Sendable, CustomStringConvertible {
    public var role: String
    public var secret: String
    public var reason: String

    public var description: String { "role \"\(role)\" needs secret \(secret), but \(reason)" }
}

/// The roles a workflow was granted, with their secrets resolved.
public struct RoleGrants: Sendable {
    /// Secrets by role name, then by variable name.
    public var secrets: [String: [String: String]]
    /// What each granted role's command tasks may reach (``RoleAccess/isolated`` when absent).
    public var access: [String: RoleAccess]
    /// Every secret file the server policy names, granted or not: a task sandbox covers any of
    /// them that a directory given to the task holds.
    public var secretFiles: [String]

    public init(secrets: [String: [String: String]] = [:], access: [String: RoleAccess] = [:], secretFiles: [String] = []) {
        self.secrets = secrets
        self.access = access
        self.secretFiles = secretFiles
    }

    public static let none = RoleGrants()

    public func isGranted(_ role: String) -> Bool { secrets[role] != nil }

    /// The same roles with none of their secrets: how a change that edits `.stepgate/` runs
    /// (it may be trying to make a task disclose them).
    public var withoutSecrets: RoleGrants {
        RoleGrants(secrets: secrets.mapValues { _ in [:] }, access: access, secretFiles: secretFiles)
    }

    /// Every secret value of every granted role (what a ``Redactor`` must hide).
    public var allSecretValues: [String] {
        secrets.values.flatMap(\.values).filter { !$0.isEmpty }
    }
}

/// The `roles` section of the server's policy (bot.yaml or the hook configuration): which role
/// may be used where, and which secrets it receives. Roles are never granted by a repository.
public struct RolePolicy: Sendable {
    public var roles: [String: RoleDefinition]

    public init(roles: [String: RoleDefinition] = [:]) {
        self.roles = roles
    }

    /// No policy: no role is granted.
    public static let empty = RolePolicy()

    /// Every file a role's secret is read from, sorted.
    public var secretFiles: [String] {
        Set(roles.values.flatMap { role in
            role.secrets.values.compactMap { source -> String? in
                if case .file(let path) = source { return path }
                return nil
            }
        }).sorted()
    }

    // MARK: - Checking a workflow

    /// The role a Task's `Credentials` asks for: `RoleArn` (or `Role`) as a string.
    /// - Returns: `.none` without credentials, `.role(name)`, or `.invalid(reason)`.
    public enum RoleRequest: Sendable, Hashable {
        case none
        case role(String)
        case invalid(String)
    }

    public static func roleRequest(_ credentials: JSON?) -> RoleRequest {
        guard let credentials, !credentials.isNull else { return .none }
        guard let object = credentials.objectValue else {
            return .invalid("Credentials must be an object naming a role")
        }
        for key in ["RoleArn"] {
            if let value = object[key] {
                guard let name = value.stringValue, !name.isEmpty else {
                    return .invalid("Credentials.\(key) must be a non-empty string")
                }
                return .role(name)
            }
            if object[key + ".$"] != nil {
                return .invalid(
                    "Credentials.\(key).$ chooses the role at run time, which stepgate does not allow; name the role literally")
            }
        }
        return .invalid("Credentials names no role (expected RoleArn)")
    }

    /// Every denial for `machine` in `context`: unknown roles, roles whose rules do not match,
    /// credentials that name no role. Nested Parallel branches and Map processors are included.
    public func check(machine: StateMachine, context: TriggerContext) -> [RoleDenial] {
        var denials: [RoleDenial] = []
        Self.walkTasks(machine, prefix: "") { statePath, spec in
            switch Self.roleRequest(spec.credentials) {
            case .none: break
            case .invalid(let reason):
                denials.append(RoleDenial(state: statePath, role: nil, message: "state \"\(statePath)\": \(reason)"))
            case .role(let name):
                if let reason = denial(role: name, context: context) {
                    denials.append(
                        RoleDenial(state: statePath, role: name, message: "state \"\(statePath)\" asks for role \"\(name)\", \(reason)"))
                }
            }
        }
        return denials
    }

    /// The roles the Tasks of `machine` ask for (valid requests only).
    public static func requestedRoles(in machine: StateMachine) -> Set<String> {
        var roles: Set<String> = []
        walkTasks(machine, prefix: "") { _, spec in
            if case .role(let name) = roleRequest(spec.credentials) { roles.insert(name) }
        }
        return roles
    }

    /// Why `role` may not be used in `context` (the clause after "asks for role X,"), or nil.
    public func denial(role: String, context: TriggerContext) -> String? {
        guard let definition = roles[role] else {
            return roles.isEmpty
                ? "but no role is granted without a server policy (--policy)"
                : "which the server policy does not define"
        }
        let rules = definition.allow
        if let repositories = rules.repositories,
            !repositories.contains(where: { StringPattern($0).matches(context.repository) })
        {
            return "which is allowed only in repositories \(Self.list(repositories)) (this is \"\(context.repository)\")"
        }
        if let branches = rules.branches, !branches.contains(where: { !context.branch.isEmpty && $0.matches(context.branch) }) {
            let here = context.branch.isEmpty ? "no branch" : "\"\(context.branch)\""
            return "which is allowed only on branches \(Self.list(branches.map(\.glob))) (this is \(here))"
        }
        if let triggers = rules.triggers, !triggers.contains(context.kind) {
            return "which is allowed only for triggers \(Self.list(triggers.map(\.rawValue))) (this is \"\(context.kind.rawValue)\")"
        }
        for label in rules.labels.keys.sorted() {
            let required = rules.labels[label]!
            let actual = context.labels[label]
            if actual == nil || actual! < required {
                let has = actual.map { "the change has \($0)" } ?? "the change has no \(label) vote"
                return "which requires \(label) >= \(required) (\(has))"
            }
        }
        return nil
    }

    /// Checks `machine` and resolves the secrets of the roles it uses.
    /// - Throws: ``RoleAuthorizationError``.
    public func authorize(
        machine: StateMachine, context: TriggerContext,
        environment: [String: String]? = nil
    ) throws(RoleAuthorizationError) -> RoleGrants {
        let denials = check(machine: machine, context: context)
        if !denials.isEmpty { throw .denied(denials) }
        do {
            return try resolveSecrets(for: Self.requestedRoles(in: machine), environment: environment)
        } catch {
            throw .secretUnavailable(error)
        }
    }

    /// Reads the secrets of `roles` (which must be granted) from files or the environment
    /// (`environment`, by default the server process's).
    public func resolveSecrets(
        for roleNames: Set<String>, environment: [String: String]? = nil
    ) throws(SecretUnavailable) -> RoleGrants {
        let environment = environment ?? ProcessInfo.processInfo.environment
        var grants = RoleGrants(secretFiles: secretFiles)
        for name in roleNames.sorted() {
            guard let definition = roles[name] else { continue }
            grants.access[name] = definition.access
            var values: [String: String] = [:]
            for secret in definition.secrets.keys.sorted() {
                switch definition.secrets[secret]! {
                case .file(let path):
                    guard let data = FileManager.default.contents(atPath: path) else {
                        let exists = FileManager.default.fileExists(atPath: path)
                        throw SecretUnavailable(
                            role: name, secret: secret,
                            reason: exists ? "its file \(path) cannot be read" : "its file \(path) does not exist")
                    }
                    guard var text = String(data: data, encoding: .utf8) else {
                        throw SecretUnavailable(role: name, secret: secret, reason: "its file \(path) is not UTF-8 text")
                    }
                    if text.hasSuffix("\r\n") { text.removeLast(2) } else if text.hasSuffix("\n") { text.removeLast() }
                    values[secret] = text
                case .environment(let variable):
                    guard let value = environment[variable] else {
                        throw SecretUnavailable(
                            role: name, secret: secret, reason: "the environment variable \(variable) is not set")
                    }
                    values[secret] = value
                }
            }
            grants.secrets[name] = values
        }
        return grants
    }

    static func walkTasks(_ machine: StateMachine, prefix: String, _ visit: (String, TaskSpec) -> Void) {
        for state in machine.states {
            let path = prefix.isEmpty ? state.name : "\(prefix)/\(state.name)"
            switch state.kind {
            case .task(let spec): visit(path, spec)
            case .parallel(let branches): for b in branches { walkTasks(b, prefix: path, visit) }
            case .map(let spec): walkTasks(spec.processor, prefix: path, visit)
            default: break
            }
        }
    }

    private static func list(_ items: [String]) -> String {
        items.map { "\"\($0)\"" }.joined(separator: ", ")
    }
}

/// Why a workflow may not run with the roles it asks for.
public enum RoleAuthorizationError: Error, Sendable, CustomStringConvertible {
    case denied([RoleDenial])
    case secretUnavailable(SecretUnavailable)

    /// The execution error a run reports: `stepgate.RoleDenied` or `stepgate.SecretUnavailable`.
    public var executionError: ExecutionError {
        switch self {
        case .denied(let list): return ExecutionError("stepgate.RoleDenied", list.map(\.message).joined(separator: "; "))
        case .secretUnavailable(let e): return ExecutionError("stepgate.SecretUnavailable", e.description)
        }
    }

    public var description: String { executionError.cause }
}
