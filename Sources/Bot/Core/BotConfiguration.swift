public import Foundation
public import AWS
public import Config
public import Runtime
public import StatesLanguage
import Store
import YAMLLoader

/// One Gerrit server the bot polls (`gerrit:` in bot.yaml).
public struct GerritServerConfiguration: Sendable, Hashable {
    /// The server's name in the store, logs and dedupe keys (`review`).
    public var name: String
    /// REST base URL (`https://review.example.org`).
    public var url: String
    /// Where patch sets are fetched from: `<git-url>/<project>` (default: `url` plus `/a` when signed in).
    public var gitURL: String
    public var username: String
    public var passwordFile: String
    /// Projects polled (`project:` terms of the query).
    public var projects: [String]
    public var pollInterval: Duration
    /// How far before the cursor each poll re-reads (clock skew, same-timestamp updates).
    public var overlap: Duration
    /// Label whose vote (from an approver) decides a waiting `stepgate:approval` (default `Code-Review`, value ≥ +2).
    public var approvalLabel: String
    public var approvalValue: Int
    /// How long one request may take (`request-timeout`, default 30 s). A review's post carries it to Gerrit as its
    /// deadline, and a post whose outcome is unknown is looked for on the server only once it has passed.
    public var requestTimeout: Duration = .seconds(30)
    /// Whom Gerrit e-mails about what the bot posts (`notify`): NONE, OWNER, OWNER_REVIEWERS or ALL.
    public var notify = GerritNotify()
    /// The comment that re-runs the workflows on the current patch set (`recheck`, default `recheck`); nil: off.
    public var recheck: String? = "recheck"

    public init(
        name: String, url: String, gitURL: String? = nil, username: String, passwordFile: String, projects: [String],
        pollInterval: Duration = .seconds(10), overlap: Duration = .seconds(120), approvalLabel: String = "Code-Review",
        approvalValue: Int = 2
    ) {
        self.name = name
        self.url = url
        self.gitURL = gitURL ?? (url.hasSuffix("/") ? String(url.dropLast()) : url) + "/a"
        self.username = username
        self.passwordFile = passwordFile
        self.projects = projects
        self.pollInterval = pollInterval
        self.overlap = overlap
        self.approvalLabel = approvalLabel
        self.approvalValue = approvalValue
    }
}

/// Whom Gerrit notifies of each kind of post (`notify:` of a Gerrit server): quiet on success by default.
public struct GerritNotify: Sendable, Hashable {
    /// A succeeded execution's report (default `NONE`).
    public var success = "NONE"
    /// A failed (timed out, refused) execution's report (default `OWNER`).
    public var failure = "OWNER"
    /// Everything else the bot says: cancellations, refusals, validation comments, interim comments (default `OWNER`).
    public var notice = "OWNER"
    public static let values = ["NONE", "OWNER", "OWNER_REVIEWERS", "ALL"]
    public init() {}
}

/// One Phabricator/Phorge server (`phabricator:` in bot.yaml).
public struct PhabricatorServerConfiguration: Sendable, Hashable {
    public var name: String
    public var url: String
    public var tokenFile: String
    public var pollInterval: Duration
    public var overlap: Duration
    /// The staging area's git URL, when the server pushes diffs to `refs/tags/phabricator/diff/N`.
    public var stagingURL: String?
    /// Repository callsigns or PHIDs polled (nil: every repository of ``BotConfiguration/repositories`` with a
    /// `phabricator-repository`).
    public var repositories: [String]?
    /// A comment line that approves a waiting `stepgate:approval` (`approval-command`, default `!stepgate approve`),
    /// besides an accept by an allowed reviewer.
    public var approvalCommand: String = "!stepgate approve"
    /// The Harbormaster build plan (`build-plan`: PHID, ID or name) a Herald rule runs on every diff; the bot reports
    /// to the target of that plan's build that waits for a message. Without one, findings go into the comment.
    public var buildPlan: String?
    /// The account and VCS password file the bot fetches Phorge repositories with (`git-username`,
    /// `git-password-file`; HTTP Basic, Phorge's `diffusion.allow-http-auth`).
    public var gitUsername: String?
    public var gitPasswordFile: String?
    /// How long one request may take (`request-timeout`, default 30 s); a post whose outcome is unknown is looked for
    /// on the server only 5 s after it would have timed out.
    public var requestTimeout: Duration = .seconds(30)

    public init(
        name: String, url: String, tokenFile: String, pollInterval: Duration = .seconds(10), overlap: Duration = .seconds(120),
        stagingURL: String? = nil, repositories: [String]? = nil
    ) {
        self.name = name
        self.url = url
        self.tokenFile = tokenFile
        self.pollInterval = pollInterval
        self.overlap = overlap
        self.stagingURL = stagingURL
        self.repositories = repositories
    }
}

/// A repository the bot keeps a local bare mirror of (`repositories:` in bot.yaml).
public struct MirrorConfiguration: Sendable, Hashable {
    /// The key in bot.yaml (`demo`); the repository name roles are checked against.
    public var key: String
    /// The local bare mirror (created when missing).
    public var path: String
    public var gerritProject: String?
    public var phabricatorRepository: String?
    /// The branch Phorge revisions of this repository target (`branch`; default: Diffusion's default branch). The
    /// trusted configuration is read from its tip; a diff never chooses it.
    public var branch: String?
    /// Where the mirror's branches are fetched from (`clone-url`; default: the clone URI Diffusion reports).
    public var cloneURL: String?

    public init(
        key: String, path: String, gerritProject: String? = nil, phabricatorRepository: String? = nil, branch: String? = nil,
        cloneURL: String? = nil
    ) {
        self.key = key
        self.path = path
        self.gerritProject = gerritProject
        self.phabricatorRepository = phabricatorRepository
        self.branch = branch
        self.cloneURL = cloneURL
    }
}

/// Task identity tokens (`identity:` in bot.yaml): `STEPGATE_ID_TOKEN` for command tasks.
public struct IdentityConfiguration: Sendable, Hashable {
    public var keys: String
    public var issuer: String
    public var audience: String
}

/// A bot.yaml that cannot be used: every problem, as `FILE:LINE:COL: error: MESSAGE` lines.
public struct BotConfigurationError: Error, Sendable, CustomStringConvertible {
    public var fileName: String
    public var diagnostics: [Diagnostic]

    public init(fileName: String, diagnostics: [Diagnostic]) {
        self.fileName = fileName
        self.diagnostics = diagnostics
    }

    public var description: String {
        diagnostics.map { $0.formatted(file: fileName) }.joined(separator: "\n")
    }
}

/// The bot's server-side configuration (bot.yaml, never read from a repository).
///
/// Parsed with every problem located (`FILE:LINE:COL`): unknown keys, missing keys, wrong types, bad durations,
/// duplicate server names, repositories that name no server project. See `bot/README.md` for each key.
public struct BotConfiguration: Sendable {
    /// `sqlite:///var/lib/stepgate/stepgate.db` or a path.
    public var store: String
    public var gerrit: [GerritServerConfiguration]
    public var phabricator: [PhabricatorServerConfiguration]
    /// By key.
    public var repositories: [String: MirrorConfiguration]
    /// The `roles` section: the only source of role grants.
    public var roles: RolePolicy
    public var identity: IdentityConfiguration?
    /// Where the bot writes temporary checkouts (default: the system's temporary directory).
    public var workDirectory: String?
    /// Seconds a replica's lease on a poll or an execution lasts without a heartbeat (`lease`, default 30s): how
    /// long the work of a replica that died waits before another takes it over.
    public var leaseTime: Double = 30
    /// Where the AWS resources of definitions run (the operator's map, winning over a workflow's).
    public var resources: ResourceMap = ResourceMap()
    /// How command tasks are isolated (top-level `sandbox`: `bubblewrap`, the default, or `none`).
    public var sandbox: Sandbox.Mode = .bubblewrap
    /// The file this configuration was read from (hidden from tasks with the other server files).
    public var fileName: String?
    /// Which engine runs which workflow (top-level `engine`, and `engine` under a repository).
    public var engines = EngineSelection()
    /// Where `engine: aws` workflows run (the `aws` section).
    public var aws: AWSEngineSettings?

    public init(
        store: String, gerrit: [GerritServerConfiguration] = [], phabricator: [PhabricatorServerConfiguration] = [],
        repositories: [String: MirrorConfiguration] = [:], roles: RolePolicy = .empty, identity: IdentityConfiguration? = nil,
        workDirectory: String? = nil
    ) {
        self.store = store
        self.gerrit = gerrit
        self.phabricator = phabricator
        self.repositories = repositories
        self.roles = roles
        self.identity = identity
        self.workDirectory = workDirectory
    }

    /// The mirror configured for a Gerrit project, if any.
    public func repository(gerritProject project: String) -> MirrorConfiguration? {
        repositories.values.sorted { $0.key < $1.key }.first { $0.gerritProject == project }
    }

    /// The mirror configured for a Phabricator repository (callsign or PHID), if any.
    public func repository(phabricatorRepository name: String) -> MirrorConfiguration? {
        repositories.values.sorted { $0.key < $1.key }.first { $0.phabricatorRepository == name }
    }

    /// Reads and parses bot.yaml.
    /// - Throws: ``BotConfigurationError``.
    public static func load(path: String) throws(BotConfigurationError) -> BotConfiguration {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw BotConfigurationError(
                fileName: path,
                diagnostics: [Diagnostic(.error, "cannot read the bot configuration", at: [], location: .init(line: 1, column: 1))])
        }
        return try parse(text, fileName: path)
    }

    /// Parses bot.yaml text (YAML or JSON).
    /// - Throws: ``BotConfigurationError`` with every problem found.
    public static func parse(_ text: String, fileName: String) throws(BotConfigurationError) -> BotConfiguration {
        let document: SourceDocument
        do { document = try YAMLLoader.parseDefinition(text, fileName: fileName) } catch {
            throw BotConfigurationError(fileName: fileName, diagnostics: [error.diagnostic])
        }
        var parser = BotConfigurationParser()
        let parsed = parser.parse(document.value)
        var diagnostics = parser.diagnostics.map { $0.located(in: document.sourceMap) }
        var roles = RolePolicy.empty
        do { roles = try RolePolicy.parse(text, fileName: fileName) } catch { diagnostics += error.diagnostics }
        if diagnostics.contains(where: { $0.severity == .error }) || parsed == nil {
            throw BotConfigurationError(
                fileName: fileName, diagnostics: diagnostics.sorted { ($0.location?.line ?? 0, $0.location?.column ?? 0) < ($1.location?.line ?? 0, $1.location?.column ?? 0) })
        }
        var configuration = parsed!
        configuration.roles = roles
        configuration.fileName = fileName
        do { configuration.sandbox = try Sandbox.mode(in: document) } catch {
            throw BotConfigurationError(fileName: fileName, diagnostics: error.diagnostics)
        }
        do { (configuration.engines, configuration.aws) = try EngineSelection.withAWS(document) } catch {
            throw BotConfigurationError(fileName: fileName, diagnostics: error.diagnostics)
        }
        return configuration
    }

    /// `500ms`, `10s`, `2m`, `1h` (a bare number means seconds).
    public static func duration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (unit, factor) in units where trimmed.hasSuffix(unit) {
            guard let n = Double(trimmed.dropLast(unit.count)), n >= 0, n.isFinite else { return nil }
            return .milliseconds(Int64((n * factor * 1000).rounded()))
        }
        if let n = Double(trimmed), n >= 0, n.isFinite { return .milliseconds(Int64((n * 1000).rounded())) }
        return nil
    }
}

private struct BotConfigurationParser {
    var diagnostics: [Diagnostic] = []

    mutating func error(_ message: String, _ path: [PathComponent], key: Bool = false) {
        diagnostics.append(Diagnostic(.error, message, at: path, pointsAtKey: key))
    }

    mutating func object(_ value: JSON?, _ path: [PathComponent], allowed: Set<String>, required: [String] = [])
        -> JSONObject?
    {
        guard let value else { return nil }
        guard let object = value.objectValue else {
            error("'\(path.last.map { "\($0)" } ?? "bot.yaml")' must be a mapping", path)
            return nil
        }
        for key in object.keys where !allowed.contains(key) {
            error("unknown key '\(key)' (expected one of: \(allowed.sorted().joined(separator: ", ")))", path + [.key(key)], key: true)
        }
        for key in required where object[key] == nil || object[key]!.isNull {
            error("missing key '\(key)'", path, key: true)
        }
        return object
    }

    mutating func string(_ object: JSONObject, _ key: String, _ path: [PathComponent]) -> String? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let s = value.stringValue, !s.isEmpty else {
            error("'\(key)' must be a non-empty string", path + [.key(key)])
            return nil
        }
        return s
    }

    mutating func strings(_ object: JSONObject, _ key: String, _ path: [PathComponent]) -> [String]? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let array = value.arrayValue, array.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
            error("'\(key)' must be a list of non-empty strings", path + [.key(key)])
            return nil
        }
        return array.compactMap(\.stringValue)
    }

    mutating func duration(_ object: JSONObject, _ key: String, _ path: [PathComponent], default value: Duration) -> Duration {
        guard let raw = object[key], !raw.isNull else { return value }
        let text = raw.stringValue ?? raw.intValue.map(String.init) ?? raw.doubleValue.map { "\($0)" }
        guard let text, let d = BotConfiguration.duration(text) else {
            error("'\(key)' must be a duration such as 500ms, 10s, 2m or 1h", path + [.key(key)])
            return value
        }
        if key == "poll-interval" && d < .milliseconds(100) {
            error("'poll-interval' must be at least 100ms", path + [.key(key)])
        }
        return d
    }

    mutating func parse(_ root: JSON) -> BotConfiguration? {
        let top: Set<String> = [
            "store", "gerrit", "phabricator", "repositories", "roles", "identity", "work-directory", "resources", "sandbox", "lease",
            "engine", "aws",
        ]
        guard let object = object(root, [], allowed: top, required: ["store"]) else {
            if root.objectValue == nil { return nil }
            return nil
        }
        let store = string(object, "store", []) ?? ""
        var configuration = BotConfiguration(store: store)
        do throws(StoreError) { _ = try StoreLocation(parsing: store) } catch {
            self.error(error.message, [.key("store")])
        }
        configuration.workDirectory = string(object, "work-directory", [])
        if object["lease"] != nil {
            let lease = duration(object, "lease", [], default: .seconds(30))
            configuration.leaseTime = Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
            if configuration.leaseTime < 1 { error("'lease' must be at least 1s", [.key("lease")]) }
        }
        if let resources = object["resources"], !resources.isNull {
            configuration.resources = ResourceMap.parse(resources, at: [.key("resources")], into: &diagnostics)
        }
        var names = Set<String>()
        if let list = object["gerrit"], !list.isNull {
            if let array = list.arrayValue {
                for (i, item) in array.enumerated() {
                    let path: [PathComponent] = [.key("gerrit"), .index(i)]
                    guard
                        let o = self.object(
                            item, path,
                            allowed: ["name", "url", "git-url", "username", "password-file", "projects", "poll-interval", "overlap",
                                "approval-label", "approval-value", "request-timeout", "notify", "recheck"],
                            required: ["name", "url", "username", "password-file", "projects"])
                    else { continue }
                    let name = string(o, "name", path) ?? ""
                    if !name.isEmpty && !names.insert(name).inserted { error("duplicate server name '\(name)'", path + [.key("name")]) }
                    var server = GerritServerConfiguration(
                        name: name, url: string(o, "url", path) ?? "", gitURL: string(o, "git-url", path),
                        username: string(o, "username", path) ?? "", passwordFile: string(o, "password-file", path) ?? "",
                        projects: strings(o, "projects", path) ?? [],
                        pollInterval: duration(o, "poll-interval", path, default: .seconds(10)),
                        overlap: duration(o, "overlap", path, default: .seconds(120)))
                    if let label = string(o, "approval-label", path) { server.approvalLabel = label }
                    if let v = o["approval-value"], !v.isNull {
                        if let n = v.intValue, n != 0 { server.approvalValue = n } else {
                            error("'approval-value' must be a non-zero integer", path + [.key("approval-value")])
                        }
                    }
                    if o["projects"] != nil && server.projects.isEmpty { error("'projects' must name at least one project", path + [.key("projects")]) }
                    server.requestTimeout = duration(o, "request-timeout", path, default: .seconds(30))
                    if server.requestTimeout < .seconds(1) { error("'request-timeout' must be at least 1s", path + [.key("request-timeout")]) }
                    if let n = self.object(o["notify"], path + [.key("notify")], allowed: ["success", "failure", "notice"]) {
                        for key in ["success", "failure", "notice"] {
                            guard let value = string(n, key, path + [.key("notify")]) else { continue }
                            guard GerritNotify.values.contains(value) else {
                                error("'\(key)' must be one of \(GerritNotify.values.joined(separator: ", "))", path + [.key("notify"), .key(key)])
                                continue
                            }
                            switch key {
                            case "success": server.notify.success = value
                            case "failure": server.notify.failure = value
                            default: server.notify.notice = value
                            }
                        }
                    }
                    if let r = o["recheck"], !r.isNull {
                        if r == .bool(false) {
                            server.recheck = nil
                        } else if let word = r.stringValue, !word.trimmingCharacters(in: .whitespaces).isEmpty, !word.contains("\n") {
                            server.recheck = word.trimmingCharacters(in: .whitespaces)
                        } else {
                            error("'recheck' must be a word (the comment that re-runs the workflows) or false", path + [.key("recheck")])
                        }
                    }
                    configuration.gerrit.append(server)
                }
            } else {
                error("'gerrit' must be a list of servers", [.key("gerrit")])
            }
        }
        if let list = object["phabricator"], !list.isNull {
            if let array = list.arrayValue {
                for (i, item) in array.enumerated() {
                    let path: [PathComponent] = [.key("phabricator"), .index(i)]
                    guard
                        let o = self.object(
                            item, path,
                            allowed: [
                                "name", "url", "token-file", "poll-interval", "overlap", "staging-url", "repositories", "approval-command",
                                "build-plan", "git-username", "git-password-file", "request-timeout",
                            ],
                            required: ["name", "url", "token-file"])
                    else { continue }
                    let name = string(o, "name", path) ?? ""
                    if !name.isEmpty && !names.insert(name).inserted { error("duplicate server name '\(name)'", path + [.key("name")]) }
                    var server = PhabricatorServerConfiguration(
                        name: name, url: string(o, "url", path) ?? "", tokenFile: string(o, "token-file", path) ?? "",
                        pollInterval: duration(o, "poll-interval", path, default: .seconds(10)),
                        overlap: duration(o, "overlap", path, default: .seconds(120)),
                        stagingURL: string(o, "staging-url", path), repositories: strings(o, "repositories", path))
                    if let command = string(o, "approval-command", path) { server.approvalCommand = command }
                    server.buildPlan = string(o, "build-plan", path)
                    server.gitUsername = string(o, "git-username", path)
                    server.gitPasswordFile = string(o, "git-password-file", path)
                    server.requestTimeout = duration(o, "request-timeout", path, default: .seconds(30))
                    if server.requestTimeout < .seconds(1) { error("'request-timeout' must be at least 1s", path + [.key("request-timeout")]) }
                    if (server.gitUsername == nil) != (server.gitPasswordFile == nil) {
                        error("'git-username' and 'git-password-file' go together", path, key: true)
                    }
                    configuration.phabricator.append(server)
                }
            } else {
                error("'phabricator' must be a list of servers", [.key("phabricator")])
            }
        }
        if let repos = self.object(object["repositories"], [.key("repositories")], allowed: Set(object["repositories"]?.objectValue?.keys ?? [])) {
            for key in repos.keys {
                let path: [PathComponent] = [.key("repositories"), .key(key)]
                guard
                    let o = self.object(
                        repos[key], path, allowed: ["path", "gerrit-project", "phabricator-repository", "branch", "clone-url", "engine"],
                        required: ["path"])
                else { continue }
                let mirror = MirrorConfiguration(
                    key: key, path: string(o, "path", path) ?? "", gerritProject: string(o, "gerrit-project", path),
                    phabricatorRepository: string(o, "phabricator-repository", path), branch: string(o, "branch", path),
                    cloneURL: string(o, "clone-url", path))
                if mirror.gerritProject == nil && mirror.phabricatorRepository == nil {
                    error("repository '\(key)' names neither 'gerrit-project' nor 'phabricator-repository'", path, key: true)
                }
                configuration.repositories[key] = mirror
            }
        }
        for (i, server) in configuration.gerrit.enumerated() {
            for (j, project) in server.projects.enumerated() where configuration.repository(gerritProject: project) == nil {
                error(
                    "project '\(project)' has no entry under 'repositories' (with gerrit-project: \(project))",
                    [.key("gerrit"), .index(i), .key("projects"), .index(j)])
            }
        }
        if let o = self.object(object["identity"], [.key("identity")], allowed: ["keys", "issuer", "audience"], required: ["keys", "issuer", "audience"]) {
            let path: [PathComponent] = [.key("identity")]
            if let keys = string(o, "keys", path), let issuer = string(o, "issuer", path), let audience = string(o, "audience", path) {
                configuration.identity = IdentityConfiguration(keys: keys, issuer: issuer, audience: audience)
            }
        }
        return configuration
    }
}

extension BotConfiguration {
    /// The sandbox the bot's command tasks run in, hiding every file of the bot's own: the store
    /// (and its audit head file), this configuration, the password, token and key files, the mirrors.
    public func taskSandbox(storeFiles: [String] = []) -> Sandbox {
        var paths = storeFiles
        if case .sqlite(let path, let head)? = try? StoreLocation(parsing: store) {
            paths += [path, path + "-wal", path + "-shm"] + (head.map { [$0] } ?? [])
        }
        if let fileName { paths.append(fileName) }
        paths += gerrit.map(\.passwordFile)
        paths += phabricator.flatMap { [$0.tokenFile] + ($0.gitPasswordFile.map { [$0] } ?? []) }
        if let identity { paths.append(identity.keys) }
        if let file = aws?.credentialsFile { paths.append(file) }
        paths += repositories.values.map(\.path)
        return Sandbox(mode: sandbox).protecting(paths.map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 })
    }
}
