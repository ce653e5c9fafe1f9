public import StatesLanguage
internal import YAMLLoader

/// Reads and validates `.stepgate/stepgate.yaml`.
///
/// Every problem is reported at once, located at the offending key (unknown or missing keys,
/// bad names) or value (wrong type, bad pattern). `schema/stepgate.schema.json` accepts exactly
/// the documents this loader accepts without errors; warnings (a workflow with no trigger, a
/// vote with no Gerrit trigger) do not make a document invalid.
public enum RepositoryConfigLoader {
    /// Where the file lives, from the repository root.
    public static let path = ".stepgate/stepgate.yaml"
    /// The directory workflow definitions live in.
    public static let directory = ".stepgate/"
    /// Which repository files are workflow definitions (validated on every push, named by a
    /// workflow or not); `isWorkflowDefinition(path:)` decides it.
    public static let workflowDefinitionPattern = ".stepgate/workflows/**/*.asl.{json,yaml,yml}"
    /// The extensions a workflow definition may have.
    public static let definitionExtensions = [".asl.json", ".asl.yaml", ".asl.yml"]
    /// The only `version` there is.
    public static let supportedVersion = 1

    /// Whether a path from the repository root (`.stepgate/workflows/deploy.asl.json`) is a
    /// workflow definition: under `.stepgate/workflows/`, named `*.asl.json`, `*.asl.yaml` or
    /// `*.asl.yml`, with no `.`, `..` or empty segment.
    public static func isWorkflowDefinition(path: String) -> Bool {
        guard path.hasPrefix(directory) else { return false }
        return definitionProblem(String(path.dropFirst(directory.count))) == nil
    }

    /// Parses and validates the file's text.
    public static func load(_ text: String, fileName: String = path) -> (config: RepositoryConfig?, diagnostics: [Diagnostic]) {
        let document: SourceDocument
        do {
            document = try YAMLLoader.parseDefinition(text, fileName: fileName)
        } catch {
            return (nil, [error.diagnostic])
        }
        return load(document: document)
    }

    /// Validates an already parsed document; diagnostics are located through its source map.
    public static func load(document: SourceDocument) -> (config: RepositoryConfig?, diagnostics: [Diagnostic]) {
        var checker = Checker()
        let config = checker.repository(document.value)
        let diagnostics = checker.diagnostics.map { $0.located(in: document.sourceMap) }
        let failed = diagnostics.contains { $0.severity == .error }
        return (failed ? nil : config, diagnostics)
    }

    /// A file of placeholder values, written as a workflow's `substitutions` (`KEY: value`).
    public static func loadSubstitutions(document: SourceDocument) -> (substitutions: DefinitionSubstitutions?, diagnostics: [Diagnostic]) {
        var checker = Checker()
        let substitutions = checker.substitutions(document.value, at: [])
        let diagnostics = checker.diagnostics.map { $0.located(in: document.sourceMap) }
        return (diagnostics.isEmpty ? substitutions : nil, diagnostics)
    }

    /// A file of resource mappings, written as a workflow's `resources`.
    public static func loadResources(document: SourceDocument) -> (resources: ResourceMap?, diagnostics: [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        let map = ResourceMap.parse(document.value, at: [], into: &diagnostics)
        let located = diagnostics.map { $0.located(in: document.sourceMap) }
        return (located.isEmpty ? map : nil, located)
    }

    // MARK: - Rules shared with the JSON Schema

    /// `^[A-Za-z0-9][A-Za-z0-9._-]*$`
    static func isWorkflowName(_ s: String) -> Bool { isName(s, extra: "._-") }

    /// `^[A-Za-z0-9][A-Za-z0-9_-]*$`
    static func isLabelName(_ s: String) -> Bool { isName(s, extra: "_-") }

    private static func isName(_ s: String, extra: String) -> Bool {
        guard let first = s.unicodeScalars.first, isAlnum(first) else { return false }
        return s.unicodeScalars.allSatisfy { isAlnum($0) || extra.unicodeScalars.contains($0) }
    }

    private static func isAlnum(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c)
    }

    /// What is wrong with a definition path relative to `.stepgate/`, or nil.
    static func definitionProblem(_ path: String) -> String? {
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == "\\" }) {
            return "a definition path must not contain backslashes or control characters"
        }
        if path.hasPrefix("/") { return "a definition path is relative to .stepgate/, not absolute" }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        if segments.contains("..") { return "a definition path must stay inside .stepgate/ (no '..')" }
        let general = "a definition must be a file under workflows/ named *.asl.json, *.asl.yaml or *.asl.yml"
        guard segments.count >= 2, segments[0] == "workflows", let last = segments.last else { return general }
        for segment in segments.dropFirst().dropLast() where segment.isEmpty || segment == "." {
            return general
        }
        guard definitionExtensions.contains(where: { last.hasSuffix($0) && last.count > $0.count }) else {
            return general
        }
        return nil
    }

    /// `^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`, an S3 bucket name.
    static func isBucketName(_ s: String) -> Bool {
        let scalars = Array(s.unicodeScalars)
        guard (3...63).contains(scalars.count), let first = scalars.first, let last = scalars.last else { return false }
        func lowerAlnum(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("0"..."9").contains(c) }
        return lowerAlnum(first) && lowerAlnum(last) && scalars.allSatisfy { lowerAlnum($0) || $0 == "." || $0 == "-" }
    }

    /// What is wrong with a directory relative to the repository root, or nil.
    static func directoryProblem(_ path: String) -> String? {
        if path.isEmpty || path.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == "\\" }) {
            return "a directory must be a non-empty path without backslashes or control characters"
        }
        if path.hasPrefix("/") { return "a directory is relative to the repository root, not absolute" }
        if path.split(separator: "/").contains("..") { return "a directory must stay inside the repository (no '..')" }
        return nil
    }

    /// `^[1-9][0-9]{0,8}(ms|s|m|h)$`, as a Duration.
    static func duration(_ s: String) -> Duration? {
        let units: [(String, (Int) -> Duration)] = [
            ("ms", { .milliseconds($0) }), ("s", { .seconds($0) }), ("m", { .seconds($0 * 60) }), ("h", { .seconds($0 * 3600) }),
        ]
        for (unit, make) in units where s.hasSuffix(unit) {
            let digits = s.dropLast(unit.count)
            guard let first = digits.first, first != "0", digits.count <= 9,
                digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(digits)
            else { return nil }
            return make(n)
        }
        return nil
    }
}

// MARK: - The checker

private struct Checker {
    var diagnostics: [Diagnostic] = []

    mutating func error(_ message: String, at path: [PathComponent], key: Bool = false) {
        diagnostics.append(Diagnostic(.error, message, at: path, pointsAtKey: key))
    }

    mutating func warning(_ message: String, at path: [PathComponent], key: Bool = false) {
        diagnostics.append(Diagnostic(.warning, message, at: path, pointsAtKey: key))
    }

    static func article(_ type: String) -> String {
        ["object", "array", "integer"].contains(type) ? "an \(type)" : "a \(type)"
    }

    /// `'key'` for messages: the last key in a path.
    static func name(_ path: [PathComponent]) -> String {
        for component in path.reversed() {
            if case .key(let k) = component { return "'\(k)'" }
        }
        return "the document"
    }

    mutating func expect(_ type: String, for path: [PathComponent], found value: JSON) {
        let found = value.typeName == "object" ? "a mapping" : value.typeName == "array" ? "a list" : value.typeName
        let wanted = type == "object" ? "a mapping" : type == "array" ? "a list" : Self.article(type)
        error("\(Self.name(path)) must be \(wanted), found \(found)", at: path)
    }

    mutating func object(_ value: JSON, at path: [PathComponent]) -> JSONObject? {
        guard case .object(let o) = value else {
            expect("object", for: path, found: value)
            return nil
        }
        return o
    }

    /// Reports keys not in `allowed`, suggesting the closest allowed one.
    mutating func checkKeys(_ o: JSONObject, allowed: [String], at path: [PathComponent], in context: String) {
        for key in o.keys where !allowed.contains(key) {
            var message = "unknown key '\(key)' in \(context)"
            if let suggestion = Self.suggestion(for: key, among: allowed) {
                message += "; did you mean '\(suggestion)'?"
            } else {
                message += " (expected \(allowed.map { "'\($0)'" }.joined(separator: ", ")))"
            }
            error(message, at: path + [.key(key)], key: true)
        }
    }

    static func suggestion(for word: String, among candidates: [String]) -> String? {
        let normalized = word.lowercased().replacingUnderscores()
        var best: (String, Int)?
        for c in candidates {
            let d = editDistance(Array(normalized.unicodeScalars), Array(c.lowercased().unicodeScalars))
            if d <= max(1, c.count / 3), d < (best?.1 ?? Int.max) { best = (c, d) }
        }
        return best?.0
    }

    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    // MARK: Sections

    mutating func repository(_ value: JSON) -> RepositoryConfig? {
        guard case .object(let root) = value else {
            error("stepgate.yaml must be a mapping with 'version' and 'workflows', found \(value.typeName)", at: [])
            return nil
        }
        checkKeys(root, allowed: ["version", "workflows"], at: [], in: "stepgate.yaml")
        var version: Int?
        if let v = root["version"] {
            if case .bool = v {
                expect("integer", for: [.key("version")], found: v)
            } else if let i = v.intValue {
                if i == RepositoryConfigLoader.supportedVersion {
                    version = i
                } else {
                    error("unsupported version \(i); this stepgate reads version \(RepositoryConfigLoader.supportedVersion)", at: [.key("version")])
                }
            } else {
                expect("integer", for: [.key("version")], found: v)
            }
        } else {
            error("missing 'version' (write 'version: 1')", at: [])
        }
        var workflows: [WorkflowConfig] = []
        if let w = root["workflows"] {
            let path: [PathComponent] = [.key("workflows")]
            if let o = object(w, at: path) {
                for (name, body) in o.pairs {
                    if let wf = workflow(name, body, at: path + [.key(name)]) { workflows.append(wf) }
                }
            }
        } else {
            error("missing 'workflows'", at: [])
        }
        guard let version else { return nil }
        return RepositoryConfig(version: version, workflows: workflows)
    }

    mutating func workflow(_ name: String, _ value: JSON, at path: [PathComponent]) -> WorkflowConfig? {
        var ok = true
        if !RepositoryConfigLoader.isWorkflowName(name) {
            error("invalid workflow name '\(name)': use letters, digits, '.', '_' and '-', starting with a letter or digit", at: path, key: true)
            ok = false
        }
        guard let o = object(value, at: path) else { return nil }
        let context = "workflow '\(name)'"
        checkKeys(o, allowed: ["definition", "on", "input", "report", "timeout", "substitutions", "resources", "buckets"], at: path, in: context)

        var definition: String?
        if let d = o["definition"] {
            let p = path + [.key("definition")]
            if case .string(let s) = d {
                if let problem = RepositoryConfigLoader.definitionProblem(s) {
                    error("\(problem): '\(s)'", at: p)
                } else {
                    definition = s
                }
            } else {
                expect("string", for: p, found: d)
            }
        } else {
            error("\(context) has no 'definition'", at: path, key: true)
        }

        var triggers = Triggers()
        if let on = o["on"] {
            triggers = self.triggers(on, at: path + [.key("on")]) ?? Triggers()
            if triggers.isEmpty, case .object(let t) = on, t.isEmpty {
                warning("\(context) has no trigger; it runs only when started by hand", at: path + [.key("on")], key: true)
            }
        } else {
            warning("\(context) has no trigger ('on'); it runs only when started by hand", at: path, key: true)
        }

        var input: JSONObject?
        if let i = o["input"] { input = object(i, at: path + [.key("input")]) }

        var report: ReportConfig?
        if let r = o["report"] {
            report = self.report(r, at: path + [.key("report")])
            if let vote = report?.vote, o["on"]?["gerrit"] == nil {
                warning("report.vote '\(vote)' applies only to Gerrit changes, and \(context) has no gerrit trigger", at: path + [.key("report"), .key("vote")])
            }
        }

        var timeout: Duration?
        if let t = o["timeout"] {
            let p = path + [.key("timeout")]
            if case .string(let s) = t {
                timeout = RepositoryConfigLoader.duration(s)
                if timeout == nil { error("invalid timeout '\(s)': write a positive whole number with a unit, like 500ms, 5s, 2m or 1h", at: p) }
            } else {
                expect("string", for: p, found: t)
            }
        }

        var substitutions = DefinitionSubstitutions()
        if let v = o["substitutions"] { substitutions = self.substitutions(v, at: path + [.key("substitutions")]) }
        var resources = ResourceMap()
        if let v = o["resources"] { resources = ResourceMap.parse(v, at: path + [.key("resources")], into: &diagnostics) }
        var buckets: [String: String] = [:]
        if let v = o["buckets"] { buckets = self.buckets(v, at: path + [.key("buckets")]) }

        guard ok, let definition else { return nil }
        return WorkflowConfig(
            name: name, definition: definition, triggers: triggers, input: input, report: report, timeout: timeout,
            substitutions: substitutions, resources: resources, buckets: buckets)
    }

    /// `buckets: {NAME: DIRECTORY}`: directories inside the repository.
    mutating func buckets(_ value: JSON, at path: [PathComponent]) -> [String: String] {
        guard let o = object(value, at: path) else { return [:] }
        var out: [String: String] = [:]
        for (name, v) in o.pairs {
            let p = path + [.key(name)]
            if !RepositoryConfigLoader.isBucketName(name) {
                error("invalid bucket name '\(name)': use lowercase letters, digits, '.' and '-', 3 to 63 characters", at: p, key: true)
            }
            guard case .string(let directory) = v else {
                expect("string", for: p, found: v)
                continue
            }
            if let problem = RepositoryConfigLoader.directoryProblem(directory) {
                error("\(problem): '\(directory)'", at: p)
                continue
            }
            out[name] = directory
        }
        return out
    }

    /// `substitutions: {KEY: value}`: placeholder keys to strings (numbers and booleans are
    /// written as their text, as CloudFormation's DefinitionSubstitutions does).
    mutating func substitutions(_ value: JSON, at path: [PathComponent]) -> DefinitionSubstitutions {
        guard let o = object(value, at: path) else { return DefinitionSubstitutions() }
        var values: [String: String] = [:]
        for (key, v) in o.pairs {
            let p = path + [.key(key)]
            if !DefinitionSubstitutions.isKey(key) {
                error("invalid placeholder key '\(key)': a key has no whitespace, '$', '{', '}' or quotes, and does not start with '!'", at: p, key: true)
            }
            switch v {
            case .string(let s): values[key] = s
            case .int, .double, .bool: values[key] = v.serialized
            default: error("the value of '\(key)' must be a string, a number or a boolean, found \(v.typeName)", at: p)
            }
        }
        return DefinitionSubstitutions(values)
    }

    mutating func triggers(_ value: JSON, at path: [PathComponent]) -> Triggers? {
        guard let o = object(value, at: path) else { return nil }
        checkKeys(o, allowed: ["gerrit", "phabricator", "push", "pre-receive"], at: path, in: "'on'")
        var t = Triggers()
        if let g = o["gerrit"] { t.gerrit = gerrit(g, at: path + [.key("gerrit")]) }
        if let p = o["phabricator"] { t.phabricator = phabricator(p, at: path + [.key("phabricator")]) }
        if let p = o["push"] { t.push = refTrigger(p, at: path + [.key("push")], trigger: "push") }
        if let p = o["pre-receive"] { t.preReceive = refTrigger(p, at: path + [.key("pre-receive")], trigger: "pre-receive") }
        return t
    }

    mutating func gerrit(_ value: JSON, at path: [PathComponent]) -> GerritTrigger? {
        guard let o = object(value, at: path) else { return nil }
        checkKeys(o, allowed: ["labels", "branches"], at: path, in: "the gerrit trigger")
        var trigger = GerritTrigger()
        if let l = o["labels"] {
            let lp = path + [.key("labels")]
            if let labels = object(l, at: lp) {
                for (label, v) in labels.pairs {
                    let p = lp + [.key(label)]
                    if !RepositoryConfigLoader.isLabelName(label) {
                        error("invalid label name '\(label)': use letters, digits, '_' and '-', starting with a letter or digit", at: p, key: true)
                    }
                    if case .bool = v {
                        expect("integer", for: p, found: v)
                    } else if let n = v.intValue {
                        if n == 0 {
                            error("label condition '\(label): 0' is ambiguous: use a positive minimum (2 means +2 or higher) or a negative maximum (-1 means -1 or lower)", at: p)
                        } else {
                            trigger.labels.append(LabelCondition(label: label, value: n))
                        }
                    } else {
                        expect("integer", for: p, found: v)
                    }
                }
            }
        }
        if let b = o["branches"] {
            trigger.branches = patterns(b, at: path + [.key("branches")], what: "branch pattern") { glob in
                glob.hasPrefix("refs/") ? "branch patterns name branches without 'refs/heads/'" : nil
            }
        }
        return trigger
    }

    mutating func phabricator(_ value: JSON, at path: [PathComponent]) -> PhabricatorTrigger? {
        guard let o = object(value, at: path) else { return nil }
        checkKeys(o, allowed: ["status"], at: path, in: "the phabricator trigger")
        guard let s = o["status"] else {
            error("the phabricator trigger has no 'status'", at: path)
            return nil
        }
        let sp = path + [.key("status")]
        guard let items = list(s, at: sp) else { return nil }
        var statuses: [PhabricatorStatus] = []
        let names = PhabricatorStatus.allCases.map(\.rawValue)
        for (i, item) in items.enumerated() {
            let p = sp + [.index(i)]
            guard case .string(let name) = item else {
                error("a revision status must be a string, found \(item.typeName)", at: p)
                continue
            }
            guard let status = PhabricatorStatus(rawValue: name) else {
                var message = "unknown revision status '\(name)'"
                if let suggestion = Self.suggestion(for: name, among: names) {
                    message += "; did you mean '\(suggestion)'?"
                } else {
                    message += " (expected one of \(names.joined(separator: ", ")))"
                }
                error(message, at: p)
                continue
            }
            if statuses.contains(status) {
                error("duplicate revision status '\(name)'", at: p)
            } else {
                statuses.append(status)
            }
        }
        return PhabricatorTrigger(status: statuses)
    }

    mutating func refTrigger(_ value: JSON, at path: [PathComponent], trigger: String) -> RefTrigger? {
        guard let o = object(value, at: path) else { return nil }
        checkKeys(o, allowed: ["refs"], at: path, in: "the \(trigger) trigger")
        guard let r = o["refs"] else {
            error("the \(trigger) trigger has no 'refs'", at: path)
            return nil
        }
        let refs = patterns(r, at: path + [.key("refs")], what: "ref pattern") { glob in
            glob.hasPrefix("refs/") ? nil : "a ref pattern is a full ref name starting with 'refs/' (like refs/heads/main)"
        }
        return refs.map { RefTrigger(refs: $0) }
    }

    /// A non-empty list of strings.
    mutating func list(_ value: JSON, at path: [PathComponent]) -> [JSON]? {
        guard case .array(let items) = value else {
            expect("array", for: path, found: value)
            return nil
        }
        if items.isEmpty {
            error("\(Self.name(path)) must not be empty", at: path)
            return nil
        }
        return items
    }

    mutating func patterns(
        _ value: JSON, at path: [PathComponent], what: String, extra: (String) -> String?
    ) -> [RefPattern]? {
        guard let items = list(value, at: path) else { return nil }
        var result: [RefPattern] = []
        for (i, item) in items.enumerated() {
            let p = path + [.index(i)]
            guard case .string(let glob) = item else {
                error("a \(what) must be a string, found \(item.typeName)", at: p)
                continue
            }
            do {
                let pattern = try RefPattern(glob)
                if let problem = extra(glob) {
                    error("invalid \(what) '\(glob)': \(problem)", at: p)
                } else if result.contains(pattern) {
                    error("duplicate \(what) '\(glob)'", at: p)
                } else {
                    result.append(pattern)
                }
            } catch {
                self.error("invalid \(what) '\(glob)': \(error.message)", at: p)
            }
        }
        return result
    }

    mutating func report(_ value: JSON, at path: [PathComponent]) -> ReportConfig? {
        guard let o = object(value, at: path) else { return nil }
        checkKeys(o, allowed: ["vote", "comment"], at: path, in: "'report'")
        var report = ReportConfig()
        if let v = o["vote"] {
            let p = path + [.key("vote")]
            if case .string(let label) = v {
                if RepositoryConfigLoader.isLabelName(label) {
                    report.vote = label
                } else {
                    error("invalid label name '\(label)': use letters, digits, '_' and '-', starting with a letter or digit", at: p)
                }
            } else {
                expect("string", for: p, found: v)
            }
        }
        if let c = o["comment"] {
            if case .bool(let b) = c { report.comment = b } else { expect("boolean", for: path + [.key("comment")], found: c) }
        }
        return report
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String {
        String(unicodeScalars.map { $0 == "_" ? "-" : Character($0) })
    }
}
