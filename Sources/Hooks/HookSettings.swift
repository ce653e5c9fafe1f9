public import Runtime
public import StatesLanguage
public import Config
internal import Foundation
internal import YAMLLoader

/// What the hooks do when something goes wrong inside them (not a validation failure or a
/// failing gate, which always reject): an unreadable trusted gate definition, a git error, a
/// broken hook configuration file.
public enum ErrorPolicy: String, Sendable, Hashable, CaseIterable {
    /// Reject the push with one line (the default).
    case failClosed = "fail-closed"
    /// Accept the push with one warning line.
    case failOpen = "fail-open"
}

/// The server-side hook configuration: the file `stepgate hooks install --config FILE` names
/// in the repository's git config (`stepgate.config`). Never read from the repository itself.
///
/// ```yaml
/// hooks:
///   timeout: 5s              # the whole pre-receive/update run, gates included
///   on-error: fail-closed    # or fail-open
///   pusher-variables: [GL_USERNAME, REMOTE_USER]
///   store: sqlite:///var/lib/stepgate/demo.db   # default: <git-dir>/stepgate/stepgate.db
///   default-branch: main     # judges new refs; default: the branch HEAD names
/// roles: {...}               # roles and secrets for gates and push workflows (read by the Runtime policy)
/// resources: {...}           # where AWS resources run (as a workflow's `resources`), winning over the repository
/// engine: local              # the only engine of hooks (engine aws is refused: see the README)
/// ```
/// Other top-level sections (the rest of a bot.yaml) are ignored, so one file can serve both.
public struct HookSettings: Sendable, Equatable {
    public var timeout: Duration
    public var onError: ErrorPolicy
    /// Server environment variables naming the pusher, first non-empty wins.
    public var pusherVariables: [String]
    /// Where gates and push workflows are recorded; nil: `<git-dir>/stepgate/stepgate.db`.
    public var store: String?
    /// The branch whose `.stepgate/` judges pushes that create a ref; nil: the branch HEAD names.
    public var defaultBranch: String?
    /// Where the AWS resources of definitions run (the top-level `resources`, winning over a workflow's).
    public var resources: ResourceMap = ResourceMap()
    /// How command tasks are isolated (the top-level `sandbox`: `bubblewrap`, the default, or `none`).
    public var sandbox: Sandbox.Mode = .bubblewrap

    /// The default pusher variables, in order:
    /// - `GL_USERNAME`: GitLab (Gitaly sets it for the authenticated user)
    /// - `GL_USER`: gitolite
    /// - `GITEA_PUSHER_NAME`: Gitea and Forgejo
    /// - `REMOTE_USER`: smart HTTP behind Apache/nginx authentication (git-http-backend)
    /// - `GERRIT_USER`, `PHABRICATOR_USER`: set by wrappers on those servers
    /// - `USER`: per-user SSH accounts (last: on a shared `git` account it names that account)
    public static let defaultPusherVariables = [
        "GL_USERNAME", "GL_USER", "GITEA_PUSHER_NAME", "REMOTE_USER", "GERRIT_USER", "PHABRICATOR_USER", "USER",
    ]

    public static let defaultTimeout: Duration = .seconds(5)

    public init(
        timeout: Duration = HookSettings.defaultTimeout, onError: ErrorPolicy = .failClosed,
        pusherVariables: [String] = HookSettings.defaultPusherVariables
    ) {
        self.timeout = timeout
        self.onError = onError
        self.pusherVariables = pusherVariables
    }

    /// The store URL for a repository's hooks.
    public func storeURL(gitDirectory: String) -> String {
        store ?? "sqlite://\(gitDirectory)/stepgate/stepgate.db"
    }

    /// The pusher from the server environment only (never from commit metadata); nil when no
    /// configured variable is set.
    public func pusher(environment: [String: String]) -> String? {
        for name in pusherVariables {
            if let value = environment[name], !value.isEmpty { return value }
        }
        return nil
    }

    /// A configuration problem, as `FILE:LINE:COL: error: MESSAGE`.
    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Parses a hook configuration file's text.
    public static func parse(_ text: String, file: String) throws(LoadError) -> HookSettings {
        func fail(_ message: String, _ location: SourceLocation?) -> LoadError {
            let loc = location ?? SourceLocation(line: 1, column: 1)
            return LoadError(description: "\(file):\(loc.line):\(loc.column): error: \(message)")
        }
        let document: SourceDocument
        do {
            document = try YAMLLoader.parseDocument(text, fileName: file)
        } catch {
            throw fail(error.message, error.location)
        }
        return try parse(document: document, file: file)
    }

    /// Reads the hook settings of a parsed hook configuration file (the roles section is the policy's).
    public static func parse(document: SourceDocument, file: String) throws(LoadError) -> HookSettings {
        func fail(_ message: String, _ location: SourceLocation?) -> LoadError {
            let loc = location ?? SourceLocation(line: 1, column: 1)
            return LoadError(description: "\(file):\(loc.line):\(loc.column): error: \(message)")
        }
        var settings = HookSettings()
        guard case .object(let root) = document.value else {
            throw fail("the hook configuration must be a mapping", document.sourceMap.valueLocation([]))
        }
        do { settings.sandbox = try Sandbox.mode(in: document) } catch {
            let first = error.diagnostics.first
            throw fail(first?.message ?? "'sandbox' must be bubblewrap or none", first?.location)
        }
        // Gates and push workflows run on the local engine: a hook process ends with its push, and AWS
        // hands an activity task to a long poll its worker abandoned, where it waits out its timeout.
        let engines: EngineSelection
        do { engines = try EngineSelection.parse(document) } catch {
            let first = error.diagnostics.first?.located(in: document.sourceMap)
            throw fail(first?.message ?? "invalid 'engine' section", first?.location)
        }
        if engines.uses(.aws) {
            throw fail(
                "engine aws is not available to the hooks (a hook process ends with its push, so it cannot serve "
                    + "activities); gates and push workflows run on the local engine, reviews on AWS through the bot",
                document.sourceMap.valueLocation([.key("engine")]))
        }
        if let resources = root["resources"], !resources.isNull {
            var diagnostics: [Diagnostic] = []
            settings.resources = ResourceMap.parse(resources, at: [.key("resources")], into: &diagnostics)
            if let first = diagnostics.first?.located(in: document.sourceMap) {
                throw fail(first.message, first.location)
            }
        }
        guard let hooksValue = root["hooks"], !hooksValue.isNull else { return settings }
        guard case .object(let hooks) = hooksValue else {
            throw fail("'hooks' must be a mapping", document.sourceMap.valueLocation([.key("hooks")]))
        }
        let map = document.sourceMap
        for (key, value) in hooks.pairs {
            let path: [PathComponent] = [.key("hooks"), .key(key)]
            switch key {
            case "timeout":
                guard let duration = Self.duration(value) else {
                    throw fail("'timeout' must be a duration such as 5s, 500ms or 1m", map.valueLocation(path))
                }
                settings.timeout = duration
            case "on-error":
                guard let s = value.stringValue, let policy = ErrorPolicy(rawValue: s) else {
                    throw fail("'on-error' must be fail-closed or fail-open", map.valueLocation(path))
                }
                settings.onError = policy
            case "pusher-variables":
                guard let list = value.arrayValue, let names = Optional(list.compactMap(\.stringValue)),
                    names.count == list.count, !names.isEmpty
                else {
                    throw fail("'pusher-variables' must be a non-empty list of environment variable names", map.valueLocation(path))
                }
                settings.pusherVariables = names
            case "store":
                guard let s = value.stringValue, !s.isEmpty else {
                    throw fail("'store' must be a store URL such as sqlite:///var/lib/stepgate/hooks.db", map.valueLocation(path))
                }
                settings.store = s
            case "default-branch":
                guard let s = value.stringValue, !s.isEmpty, RefPattern.problem(in: RefName.branchName(s)) == nil,
                    !s.contains("*")
                else {
                    throw fail("'default-branch' must be a branch name such as main", map.valueLocation(path))
                }
                settings.defaultBranch = RefName.branchName(s)
            default:
                throw fail(
                    "unknown key '\(key)' in 'hooks' (expected timeout, on-error, pusher-variables, store, default-branch)",
                    map.keyLocation(path))
            }
        }
        return settings
    }

    /// Reads and parses a hook configuration file.
    public static func load(file: String) throws(LoadError) -> HookSettings {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw LoadError(description: "\(file): cannot read the hook configuration file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw LoadError(description: "\(file): the hook configuration file is not UTF-8 text")
        }
        return try parse(text, file: file)
    }

    /// `5s`, `500ms`, `2m`, `1h`, or a bare number of seconds.
    public static func duration(_ value: JSON) -> Duration? {
        if let n = value.intValue, n > 0 { return .seconds(n) }
        if let d = value.doubleValue, d > 0, value.isNumber { return .milliseconds(Int(d * 1000)) }
        guard let s = value.stringValue else { return nil }
        return duration(s)
    }

    public static func duration(_ s: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (unit, scale) in units where s.hasSuffix(unit) {
            guard let n = Double(s.dropLast(unit.count)), n > 0, n.isFinite else { return nil }
            return .milliseconds(Int((n * scale * 1000).rounded()))
        }
        if let n = Double(s), n > 0, n.isFinite { return .milliseconds(Int(n * 1000)) }
        return nil
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }

    /// `5s`, `1.5s`, `250ms`, for messages.
    var shortDescription: String {
        let s = seconds
        if s < 1 { return "\(Int((s * 1000).rounded()))ms" }
        if s == s.rounded() { return "\(Int(s))s" }
        return "\(s)s"
    }
}

/// The repository's git config: only the `[stepgate]` section matters here.
public enum GitConfigFile {
    /// The value of `stepgate.<key>` in a git config file (the last one wins, as in git);
    /// nil when absent. Understands the quoting `git config` writes.
    public static func stepgateValue(_ key: String, configFile: String) -> String? {
        guard let data = FileManager.default.contents(atPath: configFile),
            let text = String(data: data, encoding: .utf8)
        else { return nil }
        var inSection = false
        var result: String?
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = trimmed(rawLine)
            if line.hasPrefix("[") {
                let name = trimmed(line.dropFirst().prefix { $0 != "]" })
                inSection = name.lowercased() == "stepgate"
                continue
            }
            guard inSection, !line.hasPrefix("#"), !line.hasPrefix(";"),
                let eq = line.firstIndex(of: "=")
            else { continue }
            let name = trimmed(line[..<eq])
            guard name.lowercased() == key.lowercased() else { continue }
            result = unquote(trimmed(line[line.index(after: eq)...]))
        }
        return result
    }

    /// `text` without the spaces and tabs around it (git config's whitespace; Foundation's trimming
    /// costs a hook more than the rest of reading the file).
    private static func trimmed(_ text: Substring) -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = text.firstIndex(where: { !blank($0) }), let last = text.lastIndex(where: { !blank($0) }) else { return "" }
        return String(text[first...last])
    }

    private static func trimmed(_ text: String) -> String { trimmed(text[...]) }

    private static func unquote(_ value: String) -> String {
        var out = ""
        var escaped = false
        for c in value {
            if escaped {
                switch c {
                case "n": out.append("\n")
                case "t": out.append("\t")
                default: out.append(c)
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c != "\"" {
                out.append(c)
            }
        }
        return out
    }
}
