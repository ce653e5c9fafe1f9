import Config
public import StatesLanguage
import Foundation
import YAMLLoader

extension RolePolicy {
    /// Reads the `roles` section of a policy file (bot.yaml, the hook configuration, or a file
    /// holding only `roles`), JSON or YAML. Other top-level sections are ignored; a file without
    /// `roles` grants nothing.
    /// - Throws: ``PolicyError`` with every problem located (`FILE:LINE:COL`).
    public static func load(path: String) throws(PolicyError) -> RolePolicy {
        try parse(document: readDocument(path: path))
    }

    /// Reads and parses a policy file (JSON or YAML) without interpreting it.
    /// - Throws: ``PolicyError`` for a missing, unreadable, non-UTF-8 or malformed file.
    public static func readDocument(path: String) throws(PolicyError) -> SourceDocument {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw PolicyError(
                fileName: path,
                diagnostics: [Diagnostic(.error, exists ? "cannot read the policy file" : "no such policy file", at: [],
                    location: SourceLocation(line: 1, column: 1))])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PolicyError(
                fileName: path,
                diagnostics: [Diagnostic(.error, "the policy file is not UTF-8 text", at: [], location: SourceLocation(line: 1, column: 1))])
        }
        return try parseDocument(text, fileName: path)
    }

    /// Parses policy text; see ``load(path:)``.
    public static func parse(_ text: String, fileName: String) throws(PolicyError) -> RolePolicy {
        try parse(document: parseDocument(text, fileName: fileName))
    }

    /// Parses policy text (JSON or YAML) into a document with positions, without interpreting it.
    public static func parseDocument(_ text: String, fileName: String) throws(PolicyError) -> SourceDocument {
        do {
            return try YAMLLoader.parseDefinition(text, fileName: fileName)
        } catch {
            throw PolicyError(fileName: fileName, diagnostics: [error.diagnostic])
        }
    }

    /// The `roles` section of a parsed policy document.
    public static func parse(document: SourceDocument) throws(PolicyError) -> RolePolicy {
        let fileName = document.fileName
        var parser = PolicyParser()
        let policy = parser.parse(document.value)
        if !parser.diagnostics.isEmpty {
            throw PolicyError(fileName: fileName, diagnostics: parser.diagnostics.map { $0.located(in: document.sourceMap) })
        }
        return policy
    }
}

private struct PolicyParser {
    var diagnostics: [Diagnostic] = []
    /// Where each role's read-only paths were written, by normalized path.
    var readOnlyPathSources: [String: [String: [PathComponent]]] = [:]

    mutating func error(_ message: String, _ path: [PathComponent], key: Bool = false) {
        diagnostics.append(Diagnostic(.error, message, at: path, pointsAtKey: key))
    }

    mutating func parse(_ root: JSON) -> RolePolicy {
        guard let top = root.objectValue else {
            error("a policy file must be a mapping with a 'roles' section", [])
            return .empty
        }
        guard let rolesValue = top["roles"], !rolesValue.isNull else { return .empty }
        guard let roles = rolesValue.objectValue else {
            error("'roles' must be a mapping of role names to role definitions", [.key("roles")])
            return .empty
        }
        var result: [String: RoleDefinition] = [:]
        for (name, value) in zip(roles.keys, roles.values) {
            let path: [PathComponent] = [.key("roles"), .key(name)]
            if name.isEmpty { error("a role name must not be empty", path, key: true) }
            if let role = parseRole(name, value, path) { result[name] = role }
        }
        let policy = RolePolicy(roles: result)
        checkReadOnlyPaths(policy)
        return policy
    }

    static let roleFields = ["allow", "secrets", "network", "read-only-paths"]

    mutating func parseRole(_ name: String, _ value: JSON, _ path: [PathComponent]) -> RoleDefinition? {
        guard let object = value.objectValue else {
            error("role '\(name)' must be a mapping with 'allow' (and optionally 'secrets', 'network', 'read-only-paths')", path)
            return nil
        }
        for key in object.keys where !Self.roleFields.contains(key) {
            error(
                "unknown field '\(key)' in role '\(name)' (expected allow, secrets, network or read-only-paths)", path + [.key(key)],
                key: true)
        }
        var role = RoleDefinition(name: name)
        if let secrets = object["secrets"] {
            role.secrets = parseSecrets(secrets, path + [.key("secrets")])
        }
        if let network = object["network"], !network.isNull {
            if let on = network.boolValue {
                role.access.network = on
            } else {
                error("'network' of role '\(name)' must be true or false", path + [.key("network")])
            }
        }
        if let paths = object["read-only-paths"], !paths.isNull {
            role.access.readOnlyPaths = parseReadOnlyPaths(paths, path + [.key("read-only-paths")], role: name)
        }
        guard let allow = object["allow"] else {
            error("role '\(name)' has no 'allow' section (write 'allow: {}' to allow it everywhere)", path, key: true)
            return nil
        }
        role.allow = parseAllow(allow, path + [.key("allow")])
        return role
    }

    mutating func parseSecrets(_ value: JSON, _ path: [PathComponent]) -> [String: SecretSource] {
        guard let object = value.objectValue else {
            error("'secrets' must be a mapping of variable names to {file: PATH} or {env: NAME}", path)
            return [:]
        }
        var result: [String: SecretSource] = [:]
        for (name, spec) in zip(object.keys, object.values) {
            let p = path + [.key(name)]
            if !Self.isVariableName(name) {
                error("secret name '\(name)' is not a valid environment variable name", p, key: true)
            } else if name.hasPrefix("STEPGATE_") {
                error("secret name '\(name)' is reserved (STEPGATE_ variables are set by stepgate)", p, key: true)
            }
            guard let o = spec.objectValue, o.count == 1, let key = o.keys.first, key == "file" || key == "env" else {
                error("secret '\(name)' must be {file: PATH} or {env: NAME}", p)
                continue
            }
            guard let s = o[key]!.stringValue, !s.isEmpty else {
                error("'\(key)' of secret '\(name)' must be a non-empty string", p + [.key(key)])
                continue
            }
            if key == "file" {
                if !s.hasPrefix("/") { error("the file of secret '\(name)' must be an absolute path", p + [.key(key)]) }
                result[name] = .file(s)
            } else {
                result[name] = .environment(s)
            }
        }
        return result
    }

    /// Absolute paths, normalized; never /, /proc, /sys or /dev (or inside them).
    mutating func parseReadOnlyPaths(_ value: JSON, _ path: [PathComponent], role: String) -> [String] {
        guard let list = strings(value, path, what: "absolute paths") else { return [] }
        var result: [String] = []
        for (i, item) in list.enumerated() {
            let p = value.arrayValue == nil ? path : path + [.index(i)]
            let components = item.split(separator: "/", omittingEmptySubsequences: true)
            guard item.hasPrefix("/"), !components.contains(".."), !components.contains(".") else {
                error("read-only path '\(item)' must be an absolute path without '.' or '..'", p)
                continue
            }
            let normalized = "/" + components.joined(separator: "/")
            if normalized == "/" {
                error("read-only path '/' would give tasks the whole server; name the directories they need", p)
                continue
            }
            if let top = components.first, ["proc", "sys", "dev"].contains(top) {
                error("read-only path '\(item)' is under /\(top), which tasks get only as their sandbox's own", p)
                continue
            }
            result.append(normalized)
            readOnlyPathSources[role, default: [:]][normalized] = p
        }
        return result
    }

    /// A read-only path may not hold (or be) a secret file of any role.
    mutating func checkReadOnlyPaths(_ policy: RolePolicy) {
        for name in policy.roles.keys.sorted() {
            let role = policy.roles[name]!
            for path in role.access.readOnlyPaths {
                for (other, definition) in policy.roles.sorted(by: { $0.key < $1.key }) {
                    for (secret, source) in definition.secrets.sorted(by: { $0.key < $1.key }) {
                        guard case .file(let file) = source, file == path || file.hasPrefix(path + "/") else { continue }
                        error(
                            "read-only path '\(path)' of role '\(name)' holds the file of secret \(secret) of role '\(other)'",
                            readOnlyPathSources[name]?[path] ?? [.key("roles"), .key(name), .key("read-only-paths")])
                    }
                }
            }
        }
    }

    mutating func parseAllow(_ value: JSON, _ path: [PathComponent]) -> RoleRules {
        var rules = RoleRules()
        guard let object = value.objectValue else {
            error("'allow' must be a mapping (repositories, branches, triggers, labels)", path)
            return rules
        }
        for (key, v) in zip(object.keys, object.values) {
            let p = path + [.key(key)]
            switch key {
            case "repositories": rules.repositories = strings(v, p, what: "repository names")
            case "branches":
                guard let names = strings(v, p, what: "branch patterns") else { continue }
                var patterns: [RefPattern] = []
                for (i, name) in names.enumerated() {
                    let at = v.arrayValue == nil ? p : p + [.index(i)]
                    if name.hasPrefix("refs/") {
                        error("branch patterns name branches without 'refs/heads/' (write '\(RefName.branchName(name))')", at)
                        continue
                    }
                    do { patterns.append(try RefPattern(name)) } catch { self.error(error.description, at) }
                }
                rules.branches = patterns
            case "triggers":
                guard let names = strings(v, p, what: "triggers") else { continue }
                var kinds: [TriggerContext.Kind] = []
                for (i, n) in names.enumerated() {
                    if let k = TriggerContext.Kind(rawValue: n) {
                        kinds.append(k)
                    } else {
                        let known = TriggerContext.Kind.allCases.map(\.rawValue).joined(separator: ", ")
                        error("unknown trigger '\(n)' (expected one of \(known))", p + [.index(i)])
                    }
                }
                rules.triggers = kinds
            case "labels":
                guard let o = v.objectValue else {
                    error("'labels' must be a mapping of label names to minimum values", p)
                    continue
                }
                for (label, min) in zip(o.keys, o.values) {
                    guard let n = min.intValue, min.isNumber else {
                        error("the minimum value of label '\(label)' must be an integer", p + [.key(label)])
                        continue
                    }
                    rules.labels[label] = n
                }
            default:
                error("unknown field '\(key)' in 'allow' (expected repositories, branches, triggers or labels)", p, key: true)
            }
        }
        return rules
    }

    mutating func strings(_ value: JSON, _ path: [PathComponent], what: String) -> [String]? {
        if let s = value.stringValue { return [s] }
        guard let array = value.arrayValue else {
            error("expected a list of \(what)", path)
            return nil
        }
        var result: [String] = []
        for (i, item) in array.enumerated() {
            guard let s = item.stringValue, !s.isEmpty else {
                error("expected a non-empty string in the list of \(what)", path + [.index(i)])
                continue
            }
            result.append(s)
        }
        return result
    }

    static func isVariableName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}
