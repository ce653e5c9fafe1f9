public import StatesLanguage

/// Where the AWS resources a definition names run when it runs locally: a Resource ARN (or a
/// pattern in which `*` matches any run of characters) mapped to a command, an HTTP endpoint or a
/// mocked response. The repository gives one per workflow (`resources:` in stepgate.yaml), the
/// operator another (`stepgate run --resources FILE`).
///
/// ```yaml
/// resources:
///   "arn:aws:states:::lambda:invoke": {command: [python3, tools/hello.py], env: {MODE: local}}
///   "arn:aws:states:::sns:publish": {http: {url: "http://127.0.0.1:9000/sns", method: POST}}
///   "arn:aws:lambda:*:*:function:audit-*": {return: {ok: true}}
///   "arn:aws:states:::aws-sdk:s3:deleteObject": {throw: {Error: S3.NoSuchKey, Cause: gone}}
///   "arn:aws:states:::sqs:sendMessage": {mock: {"0": {Return: {MessageId: m1}}, "1-2": {Throw: {Error: SQS.Busy, Cause: busy}}}}
/// ```
public struct ResourceMap: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var pattern: String
        public var target: ResourceTarget

        public init(pattern: String, target: ResourceTarget) {
            self.pattern = pattern
            self.target = target
        }
    }

    /// In the order written.
    public var entries: [Entry]

    public init(_ entries: [Entry] = []) {
        self.entries = entries
    }

    public var isEmpty: Bool { entries.isEmpty }

    /// The target of `resource`: the entry written exactly as it, else the first pattern that matches.
    public func target(for resource: String) -> ResourceTarget? {
        if let exact = entries.first(where: { $0.pattern == resource }) { return exact.target }
        return entries.first { StringPattern($0.pattern).matches(resource) }?.target
    }

    /// These entries, then `other`'s for the patterns this map does not have.
    public func merged(with other: ResourceMap) -> ResourceMap {
        ResourceMap(entries + other.entries.filter { o in !entries.contains { $0.pattern == o.pattern } })
    }

    /// Reads a mapping of patterns to targets; problems go to `diagnostics`.
    public static func parse(_ value: JSON, at path: [PathComponent], into diagnostics: inout [Diagnostic]) -> ResourceMap {
        var problems = Problems(diagnostics)
        defer { diagnostics = problems.list }
        guard case .object(let o) = value else {
            problems.error("'resources' must be a mapping of Resource ARNs (or patterns) to targets, found \(value.typeName)", at: path)
            return ResourceMap()
        }
        var entries: [Entry] = []
        for (pattern, body) in o.pairs {
            let p = path + [.key(pattern)]
            if pattern.isEmpty || pattern.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 }) {
                problems.error("invalid resource pattern '\(pattern)': write a Resource ARN, '*' matching any run of characters", at: p, key: true)
            }
            if let target = ResourceTarget.parse(body, at: p, &problems) { entries.append(Entry(pattern: pattern, target: target)) }
        }
        return ResourceMap(entries)
    }
}

/// What a mapped resource does.
public enum ResourceTarget: Sendable, Equatable {
    /// A `stepgate:command`: argv in the workspace, the task's input as JSON on stdin, its JSON
    /// stdout the result.
    case command(argv: [String], env: [String: String])
    /// A `stepgate:http` request whose body is the task's input; the response body is the result.
    case http(url: String, method: String, headers: [String: String])
    /// Answers without running anything.
    case mock(MockedResponse)

    static let kinds = ["command", "http", "return", "throw", "mock"]

    static func parse(_ value: JSON, at path: [PathComponent], _ problems: inout Problems) -> ResourceTarget? {
        guard case .object(let o) = value else {
            problems.error("a resource target must be a mapping with one of \(kinds.joined(separator: ", ")), found \(value.typeName)", at: path)
            return nil
        }
        let present = kinds.filter { o[$0] != nil }
        guard present.count == 1, let kind = present.first else {
            problems.error("a resource target needs exactly one of \(kinds.joined(separator: ", "))", at: path)
            return nil
        }
        let allowed: Set<String> = kind == "command" ? ["command", "env"] : [kind]
        for key in o.keys where !allowed.contains(key) {
            problems.error("unknown key '\(key)' in a \(kind) target", at: path + [.key(key)], key: true)
        }
        let p = path + [.key(kind)]
        switch kind {
        case "command":
            guard case .array(let items)? = o["command"], !items.isEmpty, items.allSatisfy({ $0.stringValue != nil }),
                items[0].stringValue?.isEmpty == false
            else {
                problems.error("'command' must be a non-empty list of strings (argv; write [sh, -c, ...] for a shell)", at: p)
                return nil
            }
            var env: [String: String] = [:]
            if let e = o["env"] { env = problems.strings(e, at: path + [.key("env")], what: "'env'") ?? [:] }
            return .command(argv: items.compactMap(\.stringValue), env: env)
        case "http":
            guard case .object(let h) = o["http"]! else {
                problems.error("'http' must be a mapping with 'url'", at: p)
                return nil
            }
            for key in h.keys where !["url", "method", "headers"].contains(key) {
                problems.error("unknown key '\(key)' in 'http' (expected url, method, headers)", at: p + [.key(key)], key: true)
            }
            guard let url = h["url"]?.stringValue, url.hasPrefix("http://") || url.hasPrefix("https://") else {
                problems.error("'http' needs 'url', an http or https URL", at: p)
                return nil
            }
            var method = "POST"
            if let m = h["method"] {
                if let s = m.stringValue, !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isLetter }) { method = s.uppercased() } else {
                    problems.error("'method' must be an HTTP method name", at: p + [.key("method")])
                }
            }
            let headers = h["headers"].flatMap { problems.strings($0, at: p + [.key("headers")], what: "'headers'") } ?? [:]
            return .http(url: url, method: method, headers: headers)
        case "return":
            return .mock(MockedResponse([.init(first: 0, last: Int.max, outcome: .returns(o["return"]!))]))
        case "throw":
            guard let outcome = MockedResponse.failure(o["throw"]!, at: p, &problems) else { return nil }
            return .mock(MockedResponse([.init(first: 0, last: Int.max, outcome: outcome)]))
        default:
            return MockedResponse.parse(o["mock"]!, at: p, &problems).map(ResourceTarget.mock)
        }
    }
}

/// A mocked service response as AWS Step Functions Local's MockConfigFile writes it: invocation
/// numbers (`"0"`, `"1-2"`) to `{"Return": value}` or `{"Throw": {"Error", "Cause"}}`. The n-th
/// call of the state (retries and Map iterations included, counted from 0) gets the entry whose
/// range holds n.
public struct MockedResponse: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case returns(JSON)
        case throwing(error: String, cause: String)
    }

    public struct Step: Sendable, Equatable {
        public var first: Int
        public var last: Int
        public var outcome: Outcome

        public init(first: Int, last: Int, outcome: Outcome) {
            self.first = first
            self.last = last
            self.outcome = outcome
        }
    }

    public var steps: [Step]

    public init(_ steps: [Step]) {
        self.steps = steps
    }

    /// The outcome of the `invocation`-th call (from 0); nil past the last range written.
    public func outcome(forInvocation invocation: Int) -> Outcome? {
        steps.first { $0.first <= invocation && invocation <= $0.last }?.outcome
    }

    static func parse(_ value: JSON, at path: [PathComponent], _ problems: inout Problems) -> MockedResponse? {
        guard case .object(let o) = value, !o.isEmpty else {
            problems.error("a mocked response must be a mapping of invocation numbers (\"0\", \"1-2\") to Return or Throw", at: path)
            return nil
        }
        var steps: [Step] = []
        for (key, body) in o.pairs {
            let p = path + [.key(key)]
            let bounds = key.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard (1...2).contains(bounds.count), let first = bounds[0], let last = bounds.last!, first >= 0, last >= first,
                key.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") })
            else {
                problems.error("invalid invocation range '\(key)': write a number (\"0\") or a range (\"1-2\")", at: p, key: true)
                continue
            }
            if let clash = steps.first(where: { $0.first <= last && first <= $0.last }) {
                problems.error("invocation range '\(key)' overlaps the range \(clash.first)-\(clash.last)", at: p, key: true)
                continue
            }
            guard case .object(let step) = body, step.count == 1, let kind = step.keys.first, kind == "Return" || kind == "Throw" else {
                problems.error("invocation '\(key)' must be {\"Return\": value} or {\"Throw\": {\"Error\": ..., \"Cause\": ...}}", at: p)
                continue
            }
            if kind == "Return" {
                steps.append(Step(first: first, last: last, outcome: .returns(step["Return"]!)))
            } else if let outcome = failure(step["Throw"]!, at: p + [.key("Throw")], &problems) {
                steps.append(Step(first: first, last: last, outcome: outcome))
            }
        }
        steps.sort { $0.first < $1.first }
        return MockedResponse(steps)
    }

    static func failure(_ value: JSON, at path: [PathComponent], _ problems: inout Problems) -> Outcome? {
        guard case .object(let o) = value, let error = o["Error"]?.stringValue, !error.isEmpty else {
            problems.error("a thrown error needs 'Error' (a string) and may give 'Cause'", at: path)
            return nil
        }
        for key in o.keys where key != "Error" && key != "Cause" {
            problems.error("unknown key '\(key)' in a thrown error (expected Error, Cause)", at: path + [.key(key)], key: true)
        }
        if let c = o["Cause"], c.stringValue == nil {
            problems.error("'Cause' must be a string", at: path + [.key("Cause")])
        }
        return .throwing(error: error, cause: o["Cause"]?.stringValue ?? "")
    }
}

/// AWS Step Functions Local's MockConfigFile: test cases (state name to mocked response name) per
/// state machine, and the mocked responses.
public struct MockConfiguration: Sendable, Equatable {
    /// Test cases by state machine name, then by test case name: state name → mocked response name.
    public var stateMachines: [String: [String: [String: String]]]
    public var responses: [String: MockedResponse]

    public init(stateMachines: [String: [String: [String: String]]], responses: [String: MockedResponse]) {
        self.stateMachines = stateMachines
        self.responses = responses
    }

    /// Parses the file's JSON (or YAML) document; every problem is a located diagnostic.
    public static func load(_ document: SourceDocument) -> (MockConfiguration?, [Diagnostic]) {
        var problems = Problems([])
        let configuration = parse(document.value, &problems)
        let located = problems.list.map { $0.located(in: document.sourceMap) }
        return (located.isEmpty ? configuration : nil, located)
    }

    static func parse(_ value: JSON, _ problems: inout Problems) -> MockConfiguration {
        var machines: [String: [String: [String: String]]] = [:]
        var responses: [String: MockedResponse] = [:]
        guard case .object(let root) = value else {
            problems.error("a mock configuration must be an object with StateMachines and MockedResponses", at: [])
            return MockConfiguration(stateMachines: [:], responses: [:])
        }
        for key in root.keys where key != "StateMachines" && key != "MockedResponses" {
            problems.error("unknown field '\(key)' (expected StateMachines, MockedResponses)", at: [.key(key)], key: true)
        }
        if case .object(let r)? = root["MockedResponses"] {
            for (name, body) in r.pairs {
                if let response = MockedResponse.parse(body, at: [.key("MockedResponses"), .key(name)], &problems) {
                    responses[name] = response
                }
            }
        } else {
            problems.error("missing 'MockedResponses' (an object of named responses)", at: [])
        }
        guard case .object(let m)? = root["StateMachines"] else {
            problems.error("missing 'StateMachines' (an object of state machines and their TestCases)", at: [])
            return MockConfiguration(stateMachines: [:], responses: responses)
        }
        for (machine, body) in m.pairs {
            let mp: [PathComponent] = [.key("StateMachines"), .key(machine)]
            guard case .object(let cases)? = body["TestCases"] else {
                problems.error("state machine '\(machine)' needs 'TestCases'", at: mp)
                continue
            }
            var byCase: [String: [String: String]] = [:]
            for (testCase, states) in cases.pairs {
                let cp = mp + [.key("TestCases"), .key(testCase)]
                guard case .object(let s) = states else {
                    problems.error("test case '\(testCase)' must map state names to mocked response names", at: cp)
                    continue
                }
                var byState: [String: String] = [:]
                for (state, name) in s.pairs {
                    guard let n = name.stringValue, responses[n] != nil else {
                        problems.error("state '\(state)' names the mocked response \(name.serialized), which MockedResponses does not have", at: cp + [.key(state)])
                        continue
                    }
                    byState[state] = n
                }
                byCase[testCase] = byState
            }
            machines[machine] = byCase
        }
        return MockConfiguration(stateMachines: machines, responses: responses)
    }

    /// The mocked responses of one test case by state name. `stateMachine` may be omitted when the
    /// file describes one state machine only.
    public func testCase(_ name: String, stateMachine: String?) throws(MockSelectionError) -> [String: MockedResponse] {
        let machineName: String
        if let stateMachine {
            guard machines(contains: stateMachine) else {
                throw MockSelectionError("the mock configuration has no state machine '\(stateMachine)' (it has \(stateMachines.keys.sorted().joined(separator: ", ")))")
            }
            machineName = stateMachine
        } else {
            guard stateMachines.count == 1, let only = stateMachines.keys.first else {
                throw MockSelectionError("the mock configuration describes \(stateMachines.count) state machines; name one with --state-machine")
            }
            machineName = only
        }
        guard let states = stateMachines[machineName]?[name] else {
            let known = stateMachines[machineName]?.keys.sorted().joined(separator: ", ") ?? ""
            throw MockSelectionError("state machine '\(machineName)' has no test case '\(name)' (it has \(known))")
        }
        return states.compactMapValues { responses[$0] }
    }

    private func machines(contains name: String) -> Bool { stateMachines[name] != nil }
}

/// A test case or state machine the mock configuration does not have.
public struct MockSelectionError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Problems found while reading, each located by its path.
struct Problems {
    var list: [Diagnostic]

    init(_ list: [Diagnostic]) { self.list = list }

    mutating func error(_ message: String, at path: [PathComponent], key: Bool = false) {
        list.append(Diagnostic(.error, message, at: path, pointsAtKey: key))
    }

    /// A mapping of strings to strings.
    mutating func strings(_ value: JSON, at path: [PathComponent], what: String) -> [String: String]? {
        guard case .object(let o) = value else {
            error("\(what) must be a mapping of strings", at: path)
            return nil
        }
        var out: [String: String] = [:]
        for (k, v) in o.pairs {
            guard let s = v.stringValue else {
                error("\(what): the value of '\(k)' must be a string, found \(v.typeName)", at: path + [.key(k)])
                continue
            }
            out[k] = s
        }
        return out
    }
}
