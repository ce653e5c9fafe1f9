import Config
import StatesLanguage
import Foundation
import YAMLLoader

extension RolePolicy {
    /// Reads the `roles` section of a policy file (bot.yaml, the hook configuration, or a file
    /// holding only `roles`), JSON or YAML. Other top-level sections are ignored; a file without
    /// `roles` grants nothing.
    /// - Throws: ``PolicyError`` with every problem located (`FILE:LINE:COL`).
    public static func load(path: String) throws(PolicyError) -> RolePolicy {
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
        return try parse(text, fileName: path)
    }

    /// Parses policy text; see ``load(path:)``.
    public static func parse(_ text: String, fileName: String) throws(PolicyError) -> RolePolicy {
        let document: SourceDocument
        do {
            document = try YAMLLoader.parseDefinition(text, fileName: fileName)
        } catch {
            throw PolicyError(fileName: fileName, diagnostics: [error.diagnostic])
        }
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
        return RolePolicy(roles: result)
    }

    mutating func parseRole(_ name: String, _ value: JSON, _ path: [PathComponent]) -> RoleDefinition? {
        guard let object = value.objectValue else {
            error("role '\(name)' must be a mapping with 'allow' (and optionally 'secrets')", path)
            return nil
        }
        for key in object.keys where key != "allow" && key != "secrets" {
            error("unknown field '\(key)' in role '\(name)' (expected 'allow' or 'secrets')", path + [.key(key)], key: true)
        }
        var role = RoleDefinition(name: name)
        if let secrets = object["secrets"] {
            role.secrets = parseSecrets(secrets, path + [.key("secrets")])
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
