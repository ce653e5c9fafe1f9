/// Checks a state machine definition against the rules AWS Step Functions applies when a
/// state machine is created, and reports every problem it finds (never stopping at the first,
/// never trapping on input of the wrong shape).
public enum DefinitionValidator {
    /// Every problem in a state machine definition, located with the document's source map, in document order.
    public static func validate(_ document: SourceDocument) -> [Diagnostic] {
        let located = validate(document.value).map { $0.located(in: document.sourceMap) }
        return orderedByLocation(located)
    }

    /// Every problem in a definition once its deploy-time placeholders are substituted; a Resource
    /// that still holds a placeholder without a value is one diagnostic naming the key. The
    /// diagnostics point into the text as written.
    public static func validate(_ document: SourceDocument, substitutions: DefinitionSubstitutions) -> [Diagnostic] {
        validate(substitutions.apply(to: document))
    }

    /// Every problem in a state machine definition, without source locations, in the order found.
    public static func validate(_ definition: JSON) -> [Diagnostic] {
        var v = ValidationWalker()
        v.validateDefinition(definition)
        return v.diagnostics
    }

    /// Parses and validates definition text; a syntax error becomes the only diagnostic.
    public static func validate(text: String, fileName: String) -> [Diagnostic] {
        do {
            let document = try JSONParser.parseDocument(text, fileName: fileName)
            return validate(document)
        } catch {
            return [
                Diagnostic(.error, "invalid JSON: \(error.message)", at: [], location: error.location)
            ]
        }
    }

    /// A stable sort by source position; unlocated diagnostics keep their place at the end.
    private static func orderedByLocation(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
        diagnostics.enumerated().sorted { a, b in
            switch (a.element.location, b.element.location) {
            case let (la?, lb?):
                if la.line != lb.line { return la.line < lb.line }
                if la.column != lb.column { return la.column < lb.column }
                return a.offset < b.offset
            case (.some, .none): return true
            case (.none, .some): return false
            case (.none, .none): return a.offset < b.offset
            }
        }.map(\.element)
    }
}

// MARK: - The walk

enum QueryLanguage: String {
    case jsonPath = "JSONPath"
    case jsonata = "JSONata"
}

/// One nested state machine (the top level, a Parallel branch, a Map processor): its states
/// and the transitions found in them, checked once all its states are known.
private struct Scope {
    var names: Set<String> = []
    /// (from state, target, where the target is written)
    var transitions: [(from: String, to: String, path: [PathComponent])] = []
}

struct ValidationWalker {
    private(set) var diagnostics: [Diagnostic] = []
    /// Every state name in the whole machine, to report duplicates across nested machines.
    private var allNames: Set<String> = []
    /// Every state name anywhere in the machine, gathered before the walk (for better messages).
    private var everyName: Set<String> = []
    private var machineDepth = 0
    private var topQueryLanguage: QueryLanguage = .jsonPath

    static let maxStateNameLength = 80
    static let maxVariableNameLength = 80
    static let maxTimeout = 99_999_999

    // MARK: Reporting

    private mutating func error(_ message: String, _ path: [PathComponent], key: Bool = false) {
        diagnostics.append(Diagnostic(.error, message, at: path, pointsAtKey: key))
    }

    // MARK: Top level

    mutating func validateDefinition(_ definition: JSON) {
        guard case .object(let root) = definition else {
            error("a state machine definition must be a JSON object, not \(article(definition.typeName))", [])
            return
        }
        if let ql = root["QueryLanguage"] {
            if let q = queryLanguage(ql, at: [.key("QueryLanguage")]) { topQueryLanguage = q }
        }
        for key in root.keys where !Self.topLevelFields.contains(key) {
            error(
                "unknown top-level field \"\(key)\"\(suggestion(key, Self.topLevelFields))",
                [.key(key)], key: true)
        }
        if let comment = root["Comment"], comment.stringValue == nil {
            error("Comment must be a string", [.key("Comment")])
        }
        if let version = root["Version"], version.stringValue == nil {
            error("Version must be a string", [.key("Version")])
        }
        if let timeout = root["TimeoutSeconds"] {
            checkInteger(timeout, at: [.key("TimeoutSeconds")], what: "TimeoutSeconds", min: 1, max: Self.maxTimeout)
        }
        gatherNames(definition, depth: 0)
        validateMachine(root, at: [], owner: nil)
    }

    private mutating func gatherNames(_ machine: JSON, depth: Int) {
        guard depth < 100, case .object(let states)? = machine["States"] else { return }
        for (name, state) in states.pairs {
            everyName.insert(name)
            if case .array(let branches)? = state["Branches"] {
                for b in branches { gatherNames(b, depth: depth + 1) }
            }
            for f in ["ItemProcessor", "Iterator"] {
                if let m = state[f] { gatherNames(m, depth: depth + 1) }
            }
        }
    }

    static let topLevelFields: Set<String> = ["StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"]
    static let nestedMachineFields: Set<String> = ["StartAt", "States", "Comment", "ProcessorConfig"]

    /// Validates StartAt/States of a (possibly nested) machine; `owner` describes the enclosing state.
    private mutating func validateMachine(_ machine: JSONObject, at path: [PathComponent], owner: String?) {
        let label = owner.map { "\($0): " } ?? ""
        guard machineDepth < 100 else {
            error("\(label)state machines are nested too deeply", path)
            return
        }
        machineDepth += 1
        defer { machineDepth -= 1 }
        let startPath = path + [.key("StartAt")]
        let statesPath = path + [.key("States")]
        var scope = Scope()
        var startAt: String?

        switch machine["StartAt"] {
        case nil:
            error("\(label)missing required field \"StartAt\"", path)
        case .string(let s)?:
            startAt = s
        case let other?:
            error("\(label)StartAt must be a string, not \(article(other.typeName))", startPath)
        }

        guard let statesValue = machine["States"] else {
            error("\(label)missing required field \"States\"", path)
            return
        }
        guard case .object(let states) = statesValue else {
            error("\(label)States must be an object, not \(article(statesValue.typeName))", statesPath)
            return
        }
        guard !states.isEmpty else {
            error("\(label)States must not be empty", statesPath)
            return
        }
        scope.names = Set(states.keys)

        if let s = startAt, !scope.names.contains(s) {
            error("\(label)StartAt names \"\(s)\", which is not a state\(suggestion(s, scope.names))", startPath)
        }

        var terminalCount = 0
        for (name, state) in states.pairs {
            let statePath = statesPath + [.key(name)]
            if !allNames.insert(name).inserted {
                error("state name \"\(name)\" is used more than once in the state machine", statePath, key: true)
            }
            if name.isEmpty {
                error("a state name cannot be empty", statePath, key: true)
            } else if name.unicodeScalars.count > Self.maxStateNameLength {
                error(
                    "state name \"\(name)\" is longer than \(Self.maxStateNameLength) characters",
                    statePath, key: true)
            }
            if validateState(name, state, at: statePath, scope: &scope) { terminalCount += 1 }
        }

        // Transitions must stay inside this machine.
        for t in scope.transitions where !scope.names.contains(t.to) {
            error(
                "state \"\(t.from)\": Next names \"\(t.to)\", which is not a state"
                    + (everyName.contains(t.to)
                        ? " in this \(owner == nil ? "state machine" : "branch") (a transition cannot cross into or out of a Parallel branch or Map processor)"
                        : suggestion(t.to, scope.names)),
                t.path)
        }

        if terminalCount == 0 {
            error("\(label)no state ends the execution (add \"End\": true, a Succeed or a Fail state)", statesPath)
        }

        // Reachability from StartAt, linear in states + transitions.
        if let s = startAt, scope.names.contains(s) {
            var edges: [String: [String]] = [:]
            for t in scope.transitions { edges[t.from, default: []].append(t.to) }
            var seen: Set<String> = [s]
            var queue = [s]
            var head = 0
            while head < queue.count {
                let n = queue[head]
                head += 1
                for next in edges[n] ?? [] where scope.names.contains(next) && !seen.contains(next) {
                    seen.insert(next)
                    queue.append(next)
                }
            }
            for name in states.keys where !seen.contains(name) {
                error("state \"\(name)\" is unreachable from StartAt", statesPath + [.key(name)], key: true)
            }
        }
    }

    // MARK: States

    static let stateTypes = ["Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"]

    /// Fields by state type, query language independent part.
    static let typeFields: [String: Set<String>] = [
        "Pass": ["Result"],
        "Task": ["Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials", "Arguments"],
        "Choice": ["Choices", "Default"],
        "Wait": ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"],
        "Succeed": [],
        "Fail": ["Error", "ErrorPath", "Cause", "CausePath"],
        "Parallel": ["Branches", "Arguments"],
        "Map": [
            "ItemProcessor", "Iterator", "ItemsPath", "Items", "ItemSelector", "MaxConcurrency", "MaxConcurrencyPath",
            "ToleratedFailureCount", "ToleratedFailureCountPath", "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath", "ItemReader", "ItemBatcher", "ResultWriter", "Label", "Arguments",
        ],
    ]

    /// Whether a field is allowed on a state type at all (either query language).
    static func fieldAllowed(_ field: String, on type: String) -> Bool {
        switch field {
        case "Type", "Comment", "QueryLanguage": return true
        case "InputPath", "OutputPath", "Output": return type != "Fail"
        case "Assign": return type != "Fail" && type != "Succeed"
        case "Next", "End": return type != "Choice" && type != "Succeed" && type != "Fail"
        case "Parameters": return ["Pass", "Task", "Parallel", "Map"].contains(type)
        case "ResultPath": return ["Pass", "Task", "Parallel", "Map"].contains(type)
        case "ResultSelector", "Retry", "Catch": return ["Task", "Parallel", "Map"].contains(type)
        default: return typeFields[type]?.contains(field) ?? false
        }
    }

    static let jsonPathOnlyFields: Set<String> = [
        "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Result", "ItemsPath",
        "TimeoutSecondsPath", "HeartbeatSecondsPath", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath",
        "MaxConcurrencyPath", "ToleratedFailureCountPath", "ToleratedFailurePercentagePath", "Iterator",
    ]
    static let jsonataOnlyFields: Set<String> = ["Arguments", "Output", "Items"]

    static let allStateFields: Set<String> = {
        var all: Set<String> = ["Type", "Comment", "QueryLanguage", "InputPath", "OutputPath", "Output", "Assign", "Next",
            "End", "Parameters", "ResultPath", "ResultSelector", "Retry", "Catch"]
        for (_, f) in typeFields { all.formUnion(f) }
        return all
    }()

    /// Validates one state; returns whether it is terminal.
    private mutating func validateState(
        _ name: String, _ value: JSON, at path: [PathComponent], scope: inout Scope
    ) -> Bool {
        let sn = "state \"\(name)\""
        guard case .object(let state) = value else {
            error("\(sn) must be an object, not \(article(value.typeName))", path)
            return false
        }
        let typePath = path + [.key("Type")]
        guard let typeValue = state["Type"] else {
            error("\(sn): missing required field \"Type\"", path, key: true)
            return false
        }
        guard let type = typeValue.stringValue, Self.stateTypes.contains(type) else {
            let shown = typeValue.stringValue.map { "\"\($0)\"" } ?? typeValue.serialized
            error(
                "\(sn): Type \(shown) is not a state type (expected one of \(Self.stateTypes.joined(separator: ", ")))"
                    + (typeValue.stringValue.map { suggestion($0, Self.stateTypes) } ?? ""),
                typePath)
            return false
        }

        // Query language.
        var ql = topQueryLanguage
        if let q = state["QueryLanguage"], let parsed = queryLanguage(q, at: path + [.key("QueryLanguage")]) {
            if parsed == .jsonPath && topQueryLanguage == .jsonata {
                error(
                    "\(sn): QueryLanguage cannot be \"JSONPath\" when the state machine's QueryLanguage is \"JSONata\"",
                    path + [.key("QueryLanguage")])
            }
            ql = parsed
        }

        // Field names.
        for key in state.keys {
            let kp = path + [.key(key)]
            if !Self.allStateFields.contains(key) {
                error("\(sn): unknown field \"\(key)\"\(suggestion(key, Self.allStateFields))", kp, key: true)
            } else if !Self.fieldAllowed(key, on: type) {
                error("\(sn): field \"\(key)\" is not allowed in a \(type) state", kp, key: true)
            } else if ql == .jsonata && Self.jsonPathOnlyFields.contains(key) {
                error(
                    "\(sn): field \"\(key)\" is not allowed with QueryLanguage \"JSONata\"\(jsonataReplacement(key))",
                    kp, key: true)
            } else if ql == .jsonPath && Self.jsonataOnlyFields.contains(key) {
                error(
                    "\(sn): field \"\(key)\" is only allowed with QueryLanguage \"JSONata\"", kp, key: true)
            }
        }

        if let c = state["Comment"], c.stringValue == nil {
            error("\(sn): Comment must be a string", path + [.key("Comment")])
        }

        // Next / End.
        var terminal = type == "Succeed" || type == "Fail"
        if Self.fieldAllowed("Next", on: type) {
            let next = state["Next"]
            let end = state["End"]
            if let next {
                if let target = next.stringValue {
                    scope.transitions.append((name, target, path + [.key("Next")]))
                } else {
                    error("\(sn): Next must be a string, not \(article(next.typeName))", path + [.key("Next")])
                }
            }
            if let end {
                if end.boolValue == nil {
                    error("\(sn): End must be a boolean, not \(article(end.typeName))", path + [.key("End")])
                } else if end.boolValue == true {
                    terminal = true
                }
            }
            if next != nil && end?.boolValue == true {
                error("\(sn): has both Next and \"End\": true (use one)", path + [.key("End")], key: true)
            } else if next == nil && end?.boolValue != true {
                error("\(sn): a \(type) state needs either Next or \"End\": true", path, key: true)
            }
        }

        // Common I/O fields.
        if ql == .jsonPath {
            for f in ["InputPath", "OutputPath"] {
                if let v = state[f] { checkPath(v, at: path + [.key(f)], what: "\(sn): \(f)", nullable: true) }
            }
            if let v = state["ResultPath"], Self.fieldAllowed("ResultPath", on: type) {
                checkResultPath(v, at: path + [.key("ResultPath")], what: "\(sn): ResultPath")
            }
            if let v = state["Parameters"], Self.fieldAllowed("Parameters", on: type) {
                checkPayloadTemplate(v, at: path + [.key("Parameters")], what: sn)
            }
            if let v = state["ResultSelector"], Self.fieldAllowed("ResultSelector", on: type) {
                checkPayloadTemplate(v, at: path + [.key("ResultSelector")], what: sn, mustBeObject: "ResultSelector")
            }
        } else {
            for f in ["Output", "Arguments"] where Self.fieldAllowed(f, on: type) {
                if let v = state[f] { checkJSONataValue(v, at: path + [.key(f)], what: sn) }
            }
        }
        if let v = state["Assign"], Self.fieldAllowed("Assign", on: type) {
            checkAssign(v, at: path + [.key("Assign")], what: sn, ql: ql)
        }
        if let v = state["Retry"], Self.fieldAllowed("Retry", on: type) {
            checkRetry(v, at: path + [.key("Retry")], what: sn)
        }
        if let v = state["Catch"], Self.fieldAllowed("Catch", on: type) {
            checkCatch(v, at: path + [.key("Catch")], what: sn, ql: ql, from: name, scope: &scope)
        }

        switch type {
        case "Task": validateTask(state, at: path, sn: sn, ql: ql)
        case "Choice": validateChoice(state, at: path, sn: sn, ql: ql, name: name, scope: &scope)
        case "Wait": validateWait(state, at: path, sn: sn, ql: ql)
        case "Fail": validateFail(state, at: path, sn: sn, ql: ql)
        case "Parallel": validateParallel(state, at: path, sn: sn)
        case "Map": validateMap(state, at: path, sn: sn, ql: ql)
        default: break
        }
        return terminal
    }

    private func jsonataReplacement(_ field: String) -> String {
        switch field {
        case "Parameters": return " (use \"Arguments\")"
        case "InputPath", "OutputPath", "ResultSelector", "ResultPath", "Result": return " (use \"Output\" and \"Assign\")"
        case "ItemsPath": return " (use \"Items\")"
        case "TimeoutSecondsPath", "HeartbeatSecondsPath", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath",
            "MaxConcurrencyPath", "ToleratedFailureCountPath", "ToleratedFailurePercentagePath":
            return " (write a {% ... %} expression in \"\(field.dropLast(4))\")"
        case "Iterator": return " (use \"ItemProcessor\")"
        default: return ""
        }
    }

    // MARK: Task

    private static let knownIntegrations: [String: Set<String>] = [
        "lambda": ["invoke"],
        "dynamodb": ["getItem", "putItem", "deleteItem", "updateItem"],
        "sns": ["publish"],
        "sqs": ["sendMessage"],
        "states": ["startExecution"],
        "events": ["putEvents"],
        "batch": ["submitJob"],
        "glue": ["startJobRun"],
        "ecs": ["runTask"],
    ]

    private mutating func validateTask(_ state: JSONObject, at path: [PathComponent], sn: String, ql: QueryLanguage) {
        let rp = path + [.key("Resource")]
        switch state["Resource"] {
        case nil:
            error("\(sn): missing required field \"Resource\"", path, key: true)
        case .string(let r)?:
            if let p = placeholderProblem(r) ?? resourceProblem(Self.pseudoParameters.apply(to: r)) {
                error("\(sn): Resource \"\(r)\" \(p)", rp)
            }
        case let other?:
            error("\(sn): Resource must be a string, not \(article(other.typeName))", rp)
        }
        checkSecondsPair(state, "TimeoutSeconds", at: path, sn: sn, ql: ql)
        checkSecondsPair(state, "HeartbeatSeconds", at: path, sn: sn, ql: ql)
        if let t = state["TimeoutSeconds"]?.intValue, let h = state["HeartbeatSeconds"]?.intValue,
            state["TimeoutSeconds"]?.isNumber == true, state["HeartbeatSeconds"]?.isNumber == true, h >= t
        {
            error("\(sn): HeartbeatSeconds (\(h)) must be smaller than TimeoutSeconds (\(t))", path + [.key("HeartbeatSeconds")])
        }
        if let cred = state["Credentials"] {
            checkCredentials(cred, at: path + [.key("Credentials")], sn: sn, ql: ql)
        }
    }

    /// CloudFormation's pseudo parameters stand in for themselves when a Resource ARN is checked:
    /// every deployment has their values.
    static let pseudoParameters = DefinitionSubstitutions(DefinitionSubstitutions.pseudoParameters)

    /// A Resource that still holds placeholders without a value (`${HelloFunctionArn}`) cannot be
    /// checked or run: one problem naming each missing key. Nil when there is none.
    private func placeholderProblem(_ r: String) -> String? {
        let missing = DefinitionSubstitutions.keys(in: r).filter { DefinitionSubstitutions.pseudoParameters[$0] == nil }
        guard let first = missing.first else { return nil }
        let names = missing.map { "${\($0)}" }.joined(separator: ", ")
        return "holds the placeholder\(missing.count == 1 ? "" : "s") \(names), which ha\(missing.count == 1 ? "s" : "ve") no value: "
            + "give \(missing.count == 1 ? "it" : "them") in the workflow's substitutions in .stepgate/stepgate.yaml, or with --substitute \(first)=VALUE"
    }

    /// stepgate's own task resources (design.md, "Task resources"); AWS would not know them.
    static let stepgateResources: Set<String> = ["stepgate:command", "stepgate:http", "stepgate:approval", "stepgate:comment"]

    private func resourceProblem(_ r: String) -> String? {
        if r.hasPrefix("stepgate:") {
            return Self.stepgateResources.contains(r)
                ? nil
                : "is not a stepgate resource (expected one of \(Self.stepgateResources.sorted().joined(separator: ", ")))"
        }
        let parts = r.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 6, parts[0] == "arn", !parts[1].isEmpty, !parts[2].isEmpty else {
            return "is not a valid resource ARN"
        }
        if parts[2] == "lambda", parts.count >= 7, parts[5] == "function" {
            return lambdaFunctionProblem(parts[6...])
        }
        guard parts[2] == "states", parts[3].isEmpty, parts[4].isEmpty else { return nil }
        // An optimised service integration: arn:PARTITION:states:::SERVICE:ACTION[.sync|.waitForTaskToken][:2]
        let service = String(parts[5])
        guard parts.count >= 7, let actions = Self.knownIntegrations[service] else { return nil }
        var action = String(parts[6])
        for suffix in [".sync", ".waitForTaskToken"] where action.hasSuffix(suffix) {
            action.removeLast(suffix.count)
        }
        guard !actions.contains(action) else { return nil }
        return "is not a recognised service integration (\(service) supports \(actions.sorted().joined(separator: ", ")); use arn:aws:states:::aws-sdk:\(service):\(action) for other API actions)"
    }

    /// A Lambda function ARN's tail: `NAME` or `NAME:QUALIFIER` (a version, an alias or `$LATEST`).
    private func lambdaFunctionProblem(_ tail: ArraySlice<Substring>) -> String? {
        func isName(_ s: Substring) -> Bool {
            !s.isEmpty && s.count <= 128
                && s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
        }
        guard tail.count <= 2, let name = tail.first, isName(name) else {
            return "is not a valid Lambda function ARN (arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:ALIAS])"
        }
        if tail.count == 2, let qualifier = tail.last, !(qualifier == "$LATEST" || isName(qualifier)) {
            return "is not a valid Lambda function ARN: the qualifier after the function name must be a version, an alias or $LATEST"
        }
        return nil
    }

    private mutating func checkSecondsPair(_ state: JSONObject, _ field: String, at path: [PathComponent], sn: String, ql: QueryLanguage) {
        let pathField = field + "Path"
        if let v = state[field] {
            checkIntegerOrExpression(v, at: path + [.key(field)], what: "\(sn): \(field)", min: 1, max: Self.maxTimeout, ql: ql)
        }
        if let v = state[pathField], ql == .jsonPath {
            checkPath(v, at: path + [.key(pathField)], what: "\(sn): \(pathField)", nullable: false)
        }
        if state[field] != nil && state[pathField] != nil {
            error("\(sn): \(field) and \(pathField) cannot both be set", path + [.key(pathField)], key: true)
        }
    }

    private mutating func checkCredentials(_ value: JSON, at path: [PathComponent], sn: String, ql: QueryLanguage) {
        guard case .object(let cred) = value else {
            error("\(sn): Credentials must be an object with a RoleArn, not \(article(value.typeName))", path)
            return
        }
        var roleFields = 0
        for (k, v) in cred.pairs {
            let kp = path + [.key(k)]
            if k == "RoleArn" {
                roleFields += 1
                if let s = v.stringValue {
                    if ql == .jsonata && ValidationJSONataSyntax.isExpression(s) {
                        checkJSONataString(s, at: kp, what: "\(sn): Credentials.RoleArn")
                    }
                } else {
                    error("\(sn): Credentials.RoleArn must be a string, not \(article(v.typeName))", kp)
                }
            } else if k == "RoleArn.$" && ql == .jsonPath {
                roleFields += 1
                checkDynamicValue(v, at: kp, what: "\(sn): Credentials field \"RoleArn.$\"")
            } else {
                error("\(sn): unknown field \"\(k)\" in Credentials (expected RoleArn)", kp, key: true)
            }
        }
        if roleFields == 0 {
            error("\(sn): Credentials needs the field \"RoleArn\"", path)
        } else if roleFields > 1 {
            error("\(sn): Credentials has both \"RoleArn\" and \"RoleArn.$\"", path)
        }
    }

    // MARK: Choice

    static let stringOperators: Set<String> = [
        "StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals", "StringGreaterThanEquals",
        "StringMatches", "TimestampEquals", "TimestampLessThan", "TimestampGreaterThan", "TimestampLessThanEquals",
        "TimestampGreaterThanEquals",
    ]
    static let numericOperators: Set<String> = [
        "NumericEquals", "NumericLessThan", "NumericGreaterThan", "NumericLessThanEquals", "NumericGreaterThanEquals",
    ]
    static let booleanOperators: Set<String> = [
        "BooleanEquals", "IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp",
    ]
    static let pathOperators: Set<String> = [
        "StringEqualsPath", "StringLessThanPath", "StringGreaterThanPath", "StringLessThanEqualsPath",
        "StringGreaterThanEqualsPath", "NumericEqualsPath", "NumericLessThanPath", "NumericGreaterThanPath",
        "NumericLessThanEqualsPath", "NumericGreaterThanEqualsPath", "BooleanEqualsPath", "TimestampEqualsPath",
        "TimestampLessThanPath", "TimestampGreaterThanPath", "TimestampLessThanEqualsPath",
        "TimestampGreaterThanEqualsPath",
    ]
    static let allOperators = stringOperators.union(numericOperators).union(booleanOperators).union(pathOperators)
    static let choiceRuleFields: Set<String> = allOperators.union([
        "Variable", "And", "Or", "Not", "Next", "Comment", "Assign", "Condition", "Output",
    ])

    private mutating func validateChoice(
        _ state: JSONObject, at path: [PathComponent], sn: String, ql: QueryLanguage, name: String,
        scope: inout Scope
    ) {
        let cp = path + [.key("Choices")]
        switch state["Choices"] {
        case nil:
            error("\(sn): missing required field \"Choices\"", path, key: true)
        case .array(let rules)?:
            if rules.isEmpty { error("\(sn): Choices must not be empty", cp) }
            for (i, rule) in rules.enumerated() {
                checkChoiceRule(rule, at: cp + [.index(i)], sn: sn, ql: ql, topLevel: true, from: name, scope: &scope)
            }
        case let other?:
            error("\(sn): Choices must be an array, not \(article(other.typeName))", cp)
        }
        if let d = state["Default"] {
            if let target = d.stringValue {
                scope.transitions.append((name, target, path + [.key("Default")]))
            } else {
                error("\(sn): Default must be a string, not \(article(d.typeName))", path + [.key("Default")])
            }
        }
    }

    private mutating func checkChoiceRule(
        _ value: JSON, at path: [PathComponent], sn: String, ql: QueryLanguage, topLevel: Bool, from: String,
        scope: inout Scope, depth: Int = 0
    ) {
        guard case .object(let rule) = value else {
            error("\(sn): a choice rule must be an object, not \(article(value.typeName))", path)
            return
        }
        guard depth < 100 else {
            error("\(sn): choice rules are nested too deeply", path)
            return
        }
        let where_ = "\(sn): choice rule"
        for key in rule.keys {
            let kp = path + [.key(key)]
            if key == "End" {
                error("\(where_): a choice rule cannot end the execution (\"End\" is not allowed; use Next)", kp, key: true)
            } else if !Self.choiceRuleFields.contains(key) {
                error("\(where_): unknown field \"\(key)\"\(suggestion(key, Self.choiceRuleFields))", kp, key: true)
            } else if !topLevel && (key == "Next" || key == "Assign" || key == "Output") {
                error("\(where_): field \"\(key)\" is only allowed in a top-level choice rule", kp, key: true)
            } else if ql == .jsonata && key != "Condition" && key != "Next" && key != "Comment" && key != "Assign"
                && key != "Output"
            {
                error(
                    "\(where_): field \"\(key)\" is not allowed with QueryLanguage \"JSONata\" (use \"Condition\")",
                    kp, key: true)
            } else if ql == .jsonPath && (key == "Condition" || key == "Output") {
                error("\(where_): field \"\(key)\" is only allowed with QueryLanguage \"JSONata\"", kp, key: true)
            }
        }
        if let c = rule["Comment"], c.stringValue == nil {
            error("\(where_): Comment must be a string", path + [.key("Comment")])
        }
        if topLevel {
            switch rule["Next"] {
            case nil:
                error("\(where_): missing required field \"Next\"", path)
            case .string(let target)?:
                scope.transitions.append((from, target, path + [.key("Next")]))
            case let other?:
                error("\(where_): Next must be a string, not \(article(other.typeName))", path + [.key("Next")])
            }
            if let a = rule["Assign"] { checkAssign(a, at: path + [.key("Assign")], what: where_, ql: ql) }
            if ql == .jsonata, let o = rule["Output"] { checkJSONataValue(o, at: path + [.key("Output")], what: where_) }
        }

        if ql == .jsonata {
            switch rule["Condition"] {
            case nil:
                error("\(where_): missing required field \"Condition\"", path)
            case .bool?:
                break
            case .string(let s)?:
                checkJSONataString(s, at: path + [.key("Condition")], what: "\(where_): Condition", required: true)
            case let other?:
                error(
                    "\(where_): Condition must be a boolean or a {% ... %} expression, not \(article(other.typeName))",
                    path + [.key("Condition")])
            }
            return
        }

        // JSONPath: a combinator or Variable + one comparison.
        let combinators = ["And", "Or", "Not"].filter { rule[$0] != nil }
        let operators = rule.keys.filter { Self.allOperators.contains($0) }
        if !combinators.isEmpty {
            if combinators.count > 1 || !operators.isEmpty || rule["Variable"] != nil {
                error(
                    "\(where_): a rule is either one of And/Or/Not or a Variable with one comparison, not both",
                    path)
            }
            for c in combinators {
                let p = path + [.key(c)]
                let v = rule[c]!
                if c == "Not" {
                    if case .object = v {
                        checkChoiceRule(v, at: p, sn: sn, ql: ql, topLevel: false, from: from, scope: &scope, depth: depth + 1)
                    } else {
                        error("\(where_): Not must be an object (one rule), not \(article(v.typeName))", p)
                    }
                } else if case .array(let items) = v {
                    if items.isEmpty { error("\(where_): \(c) must not be empty", p) }
                    for (i, item) in items.enumerated() {
                        checkChoiceRule(
                            item, at: p + [.index(i)], sn: sn, ql: ql, topLevel: false, from: from, scope: &scope,
                            depth: depth + 1)
                    }
                } else {
                    error("\(where_): \(c) must be an array of rules, not \(article(v.typeName))", p)
                }
            }
            return
        }
        switch rule["Variable"] {
        case nil:
            error("\(where_): missing \"Variable\" (or And/Or/Not)", path)
        case .string(let s)?:
            if let p = ValidationPathSyntax.problem(in: s) {
                error("\(where_): Variable \"\(s)\" is not a valid path: \(p)", path + [.key("Variable")])
            }
        case let other?:
            error("\(where_): Variable must be a string, not \(article(other.typeName))", path + [.key("Variable")])
        }
        if operators.isEmpty {
            error("\(where_): needs one comparison operator (for example StringEquals or NumericLessThan)", path)
            return
        }
        if operators.count > 1 {
            error(
                "\(where_): has more than one comparison operator (\(operators.joined(separator: ", ")))",
                path + [.key(operators[1])], key: true)
        }
        for op in operators {
            let v = rule[op]!
            let p = path + [.key(op)]
            if Self.pathOperators.contains(op) {
                if let s = v.stringValue {
                    if let prob = ValidationPathSyntax.problem(in: s) {
                        error("\(where_): \(op) \"\(s)\" is not a valid path: \(prob)", p)
                    }
                } else {
                    error("\(where_): \(op) must be a path string, not \(article(v.typeName))", p)
                }
            } else if Self.numericOperators.contains(op) {
                if !v.isNumber { error("\(where_): \(op) must be a number, not \(article(v.typeName))", p) }
            } else if Self.booleanOperators.contains(op) {
                if v.boolValue == nil { error("\(where_): \(op) must be a boolean, not \(article(v.typeName))", p) }
            } else if let s = v.stringValue {
                if op.hasPrefix("Timestamp") && !ValidationTimestampSyntax.isValid(s) {
                    error("\(where_): \(op) \"\(s)\" is not an RFC 3339 timestamp", p)
                }
            } else {
                error("\(where_): \(op) must be a string, not \(article(v.typeName))", p)
            }
        }
    }

    // MARK: Wait

    private mutating func validateWait(_ state: JSONObject, at path: [PathComponent], sn: String, ql: QueryLanguage) {
        let fields = ql == .jsonata ? ["Seconds", "Timestamp"] : ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
        let present = fields.filter { state[$0] != nil }
        if present.isEmpty {
            error("\(sn): a Wait state needs one of \(fields.joined(separator: ", "))", path, key: true)
        } else if present.count > 1 {
            error(
                "\(sn): a Wait state takes only one of \(fields.joined(separator: ", ")) (found \(present.joined(separator: " and ")))",
                path + [.key(present[1])], key: true)
        }
        if let v = state["Seconds"] {
            checkIntegerOrExpression(v, at: path + [.key("Seconds")], what: "\(sn): Seconds", min: 0, max: Self.maxTimeout, ql: ql)
        }
        if let v = state["Timestamp"] {
            let p = path + [.key("Timestamp")]
            if let s = v.stringValue {
                if ql == .jsonata && ValidationJSONataSyntax.isExpression(s) {
                    checkJSONataString(s, at: p, what: "\(sn): Timestamp")
                } else if !ValidationTimestampSyntax.isValid(s) {
                    error("\(sn): Timestamp \"\(s)\" is not an RFC 3339 timestamp (like 2016-03-14T01:59:00Z)", p)
                }
            } else {
                error("\(sn): Timestamp must be a string, not \(article(v.typeName))", p)
            }
        }
        if ql == .jsonPath {
            for f in ["SecondsPath", "TimestampPath"] {
                if let v = state[f] { checkPath(v, at: path + [.key(f)], what: "\(sn): \(f)", nullable: false) }
            }
        }
    }

    // MARK: Fail

    private mutating func validateFail(_ state: JSONObject, at path: [PathComponent], sn: String, ql: QueryLanguage) {
        for f in ["Error", "Cause"] {
            if let v = state[f] {
                let p = path + [.key(f)]
                if let s = v.stringValue {
                    if ql == .jsonata && ValidationJSONataSyntax.isExpression(s) {
                        checkJSONataString(s, at: p, what: "\(sn): \(f)")
                    }
                } else {
                    error("\(sn): \(f) must be a string, not \(article(v.typeName))", p)
                }
            }
            let pf = f + "Path"
            if let v = state[pf], ql == .jsonPath {
                checkDynamicValue(v, at: path + [.key(pf)], what: "\(sn): \(pf)")
                if let call = v.stringValue, ValidationIntrinsicSyntax.looksLikeCall(call),
                    ValidationIntrinsicSyntax.problem(in: call) == nil,
                    let name = call.split(separator: "(", maxSplits: 1).first.map({ String($0.filter { !$0.isWhitespace }) }),
                    !Self.stringIntrinsics.contains(name)
                {
                    error(
                        "\(sn): \(pf) cannot call \(name): only intrinsic functions that return a string are allowed here (\(Self.stringIntrinsics.sorted().joined(separator: ", ")))",
                        path + [.key(pf)])
                }
            }
            if state[f] != nil && state[pf] != nil {
                error("\(sn): \(f) and \(pf) cannot both be set", path + [.key(pf)], key: true)
            }
        }
    }

    /// The intrinsic functions ErrorPath and CausePath may call: those that return a string.
    static let stringIntrinsics: Set<String> = [
        "States.ArrayGetItem", "States.Base64Encode", "States.Base64Decode", "States.Format", "States.JsonToString",
        "States.Hash", "States.UUID",
    ]

    // MARK: Parallel

    private mutating func validateParallel(_ state: JSONObject, at path: [PathComponent], sn: String) {
        let bp = path + [.key("Branches")]
        switch state["Branches"] {
        case nil:
            error("\(sn): missing required field \"Branches\"", path, key: true)
        case .array(let branches)?:
            if branches.isEmpty { error("\(sn): Branches must not be empty", bp) }
            for (i, b) in branches.enumerated() {
                let p = bp + [.index(i)]
                guard case .object(let machine) = b else {
                    error("\(sn): branch \(i) must be an object with StartAt and States, not \(article(b.typeName))", p)
                    continue
                }
                checkMachineFields(machine, at: p, owner: "\(sn), branch \(i)", allowed: ["StartAt", "States", "Comment"])
                validateMachine(machine, at: p, owner: "\(sn), branch \(i)")
            }
        case let other?:
            error("\(sn): Branches must be an array, not \(article(other.typeName))", bp)
        }
    }

    private mutating func checkMachineFields(_ machine: JSONObject, at path: [PathComponent], owner: String, allowed: Set<String>) {
        for key in machine.keys where !allowed.contains(key) {
            error("\(owner): unknown field \"\(key)\"\(suggestion(key, allowed))", path + [.key(key)], key: true)
        }
        if let c = machine["Comment"], c.stringValue == nil {
            error("\(owner): Comment must be a string", path + [.key("Comment")])
        }
    }

    // MARK: Map

    private static let labelForbidden: Set<Unicode.Scalar> = [
        " ", "<", ">", "{", "}", "[", "]", "?", "*", "\"", "#", "%", "\\", "^", "|", "~", "`", "$", "&", ",", ";",
        ":", "/",
    ]

    private mutating func validateMap(_ state: JSONObject, at path: [PathComponent], sn: String, ql: QueryLanguage) {
        // The processor.
        let hasProcessor = state["ItemProcessor"] != nil
        let hasIterator = state["Iterator"] != nil
        if !hasProcessor && !hasIterator {
            error("\(sn): a Map state needs \"ItemProcessor\"\(ql == .jsonPath ? " (or the older \"Iterator\")" : "")", path, key: true)
        } else if hasProcessor && hasIterator {
            error("\(sn): ItemProcessor and Iterator cannot both be set", path + [.key("Iterator")], key: true)
        }
        for field in ["ItemProcessor", "Iterator"] {
            guard let v = state[field] else { continue }
            let p = path + [.key(field)]
            guard case .object(let machine) = v else {
                error("\(sn): \(field) must be an object with StartAt and States, not \(article(v.typeName))", p)
                continue
            }
            checkMachineFields(machine, at: p, owner: "\(sn), \(field)", allowed: Self.nestedMachineFields)
            if let pc = machine["ProcessorConfig"] { checkProcessorConfig(pc, at: p + [.key("ProcessorConfig")], sn: sn) }
            validateMachine(machine, at: p, owner: "\(sn), \(field)")
        }

        // Items.
        if ql == .jsonPath {
            if let v = state["ItemsPath"] { checkPath(v, at: path + [.key("ItemsPath")], what: "\(sn): ItemsPath", nullable: false) }
        } else if let v = state["Items"] {
            let p = path + [.key("Items")]
            switch v {
            case .array: checkJSONataValue(v, at: p, what: sn)
            case .string(let s): checkJSONataString(s, at: p, what: "\(sn): Items", required: true)
            default: error("\(sn): Items must be an array or a {% ... %} expression, not \(article(v.typeName))", p)
            }
        }
        if let v = state["ItemSelector"] {
            let p = path + [.key("ItemSelector")]
            if ql == .jsonPath {
                checkPayloadTemplate(v, at: p, what: sn, mustBeObject: "ItemSelector")
            } else {
                checkJSONataValue(v, at: p, what: sn)
            }
        }
        if state["ItemSelector"] != nil && state["Parameters"] != nil {
            error("\(sn): ItemSelector and Parameters cannot both be set (Parameters is the older name)", path + [.key("Parameters")], key: true)
        }

        // Concurrency and tolerance.
        checkNumberPair(state, "MaxConcurrency", at: path, sn: sn, ql: ql, min: 0, max: nil, integer: true)
        checkNumberPair(state, "ToleratedFailureCount", at: path, sn: sn, ql: ql, min: 0, max: nil, integer: true)
        checkNumberPair(state, "ToleratedFailurePercentage", at: path, sn: sn, ql: ql, min: 0, max: 100, integer: false)

        // Label.
        if let v = state["Label"] {
            let p = path + [.key("Label")]
            if let s = v.stringValue {
                if s.isEmpty {
                    error("\(sn): Label cannot be empty", p)
                } else if s.unicodeScalars.count > 40 {
                    error("\(sn): Label cannot be longer than 40 characters", p)
                } else if let bad = s.unicodeScalars.first(where: { Self.labelForbidden.contains($0) || $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.properties.isWhitespace }) {
                    let shown = bad.value < 0x21 || (0x7F...0x9F).contains(bad.value) ? "U+" + hex4(bad.value) : "\"\(String(bad))\""
                    error("\(sn): Label contains the invalid character \(shown)", p)
                }
            } else {
                error("\(sn): Label must be a string, not \(article(v.typeName))", p)
            }
        }

        if let v = state["ItemReader"] { checkItemReader(v, at: path + [.key("ItemReader")], sn: sn, ql: ql) }
        if let v = state["ItemBatcher"] { checkItemBatcher(v, at: path + [.key("ItemBatcher")], sn: sn, ql: ql) }
        if let v = state["ResultWriter"] { checkResultWriter(v, at: path + [.key("ResultWriter")], sn: sn, ql: ql) }
    }

    private mutating func checkProcessorConfig(_ value: JSON, at path: [PathComponent], sn: String) {
        guard case .object(let pc) = value else {
            error("\(sn): ProcessorConfig must be an object, not \(article(value.typeName))", path)
            return
        }
        for (k, v) in pc.pairs {
            let kp = path + [.key(k)]
            switch k {
            case "Mode":
                if v != "INLINE" && v != "DISTRIBUTED" {
                    error("\(sn): ProcessorConfig.Mode must be \"INLINE\" or \"DISTRIBUTED\", not \(v.serialized)", kp)
                }
            case "ExecutionType":
                if v != "STANDARD" && v != "EXPRESS" {
                    error("\(sn): ProcessorConfig.ExecutionType must be \"STANDARD\" or \"EXPRESS\", not \(v.serialized)", kp)
                }
            default:
                error("\(sn): unknown field \"\(k)\" in ProcessorConfig\(suggestion(k, ["Mode", "ExecutionType"]))", kp, key: true)
            }
        }
        if pc["ExecutionType"] != nil && pc["Mode"] != "DISTRIBUTED" {
            error("\(sn): ProcessorConfig.ExecutionType is only allowed with \"Mode\": \"DISTRIBUTED\"", path + [.key("ExecutionType")], key: true)
        }
    }

    private mutating func checkNumberPair(
        _ state: JSONObject, _ field: String, at path: [PathComponent], sn: String, ql: QueryLanguage, min: Int,
        max: Int?, integer: Bool
    ) {
        let pathField = field + "Path"
        if let v = state[field] {
            let p = path + [.key(field)]
            if integer {
                checkIntegerOrExpression(v, at: p, what: "\(sn): \(field)", min: min, max: max ?? Int.max, ql: ql)
            } else if case .string(let s) = v, ql == .jsonata {
                checkJSONataString(s, at: p, what: "\(sn): \(field)", required: true)
            } else if let d = v.doubleValue {
                if d < Double(min) || d > Double(max ?? Int.max) {
                    error("\(sn): \(field) must be between \(min) and \(max ?? Int.max), not \(v.serialized)", p)
                }
            } else {
                error("\(sn): \(field) must be a number, not \(article(v.typeName))", p)
            }
        }
        if let v = state[pathField], ql == .jsonPath {
            checkPath(v, at: path + [.key(pathField)], what: "\(sn): \(pathField)", nullable: false)
        }
        if state[field] != nil && state[pathField] != nil {
            error("\(sn): \(field) and \(pathField) cannot both be set", path + [.key(pathField)], key: true)
        }
    }

    private mutating func checkItemReader(_ value: JSON, at path: [PathComponent], sn: String, ql: QueryLanguage) {
        guard case .object(let reader) = value else {
            error("\(sn): ItemReader must be an object, not \(article(value.typeName))", path)
            return
        }
        let allowed: Set<String> = ["Resource", "Parameters", "Arguments", "ReaderConfig"]
        checkSubObject(reader, at: path, sn: sn, name: "ItemReader", allowed: allowed, ql: ql)
        if reader["Resource"] == nil { error("\(sn): ItemReader needs the field \"Resource\"", path) }
        if let rc = reader["ReaderConfig"] {
            let p = path + [.key("ReaderConfig")]
            guard case .object(let config) = rc else {
                error("\(sn): ItemReader.ReaderConfig must be an object, not \(article(rc.typeName))", p)
                return
            }
            let known: Set<String> = ["InputType", "CSVHeaderLocation", "CSVHeaders", "MaxItems", "MaxItemsPath", "CSVDelimiter", "ManifestType", "Transformation"]
            for k in config.keys where !known.contains(k) {
                error("\(sn): unknown field \"\(k)\" in ItemReader.ReaderConfig\(suggestion(k, known))", p + [.key(k)], key: true)
            }
            if let v = config["MaxItems"] {
                checkIntegerOrExpression(v, at: p + [.key("MaxItems")], what: "\(sn): ReaderConfig.MaxItems", min: 0, max: 100_000_000, ql: ql)
            }
            if let v = config["MaxItemsPath"] {
                if ql == .jsonata {
                    error("\(sn): field \"MaxItemsPath\" is not allowed with QueryLanguage \"JSONata\"", p + [.key("MaxItemsPath")], key: true)
                } else {
                    checkPath(v, at: p + [.key("MaxItemsPath")], what: "\(sn): ReaderConfig.MaxItemsPath", nullable: false)
                }
            }
            if config["MaxItems"] != nil && config["MaxItemsPath"] != nil {
                error("\(sn): ReaderConfig.MaxItems and MaxItemsPath cannot both be set", p + [.key("MaxItemsPath")], key: true)
            }
        }
    }

    private mutating func checkItemBatcher(_ value: JSON, at path: [PathComponent], sn: String, ql: QueryLanguage) {
        guard case .object(let batcher) = value else {
            error("\(sn): ItemBatcher must be an object, not \(article(value.typeName))", path)
            return
        }
        let known: Set<String> = ["MaxItemsPerBatch", "MaxItemsPerBatchPath", "MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath", "BatchInput"]
        for k in batcher.keys where !known.contains(k) {
            error("\(sn): unknown field \"\(k)\" in ItemBatcher\(suggestion(k, known))", path + [.key(k)], key: true)
        }
        for (field, max) in [("MaxItemsPerBatch", Int.max), ("MaxInputBytesPerBatch", 262_144)] {
            if let v = batcher[field] {
                checkIntegerOrExpression(v, at: path + [.key(field)], what: "\(sn): ItemBatcher.\(field)", min: 1, max: max, ql: ql)
            }
            let pf = field + "Path"
            if let v = batcher[pf] {
                if ql == .jsonata {
                    error("\(sn): field \"\(pf)\" is not allowed with QueryLanguage \"JSONata\"", path + [.key(pf)], key: true)
                } else {
                    checkPath(v, at: path + [.key(pf)], what: "\(sn): ItemBatcher.\(pf)", nullable: false)
                }
            }
            if batcher[field] != nil && batcher[pf] != nil {
                error("\(sn): ItemBatcher.\(field) and \(pf) cannot both be set", path + [.key(pf)], key: true)
            }
        }
        if let v = batcher["BatchInput"] {
            if ql == .jsonPath {
                checkPayloadTemplate(v, at: path + [.key("BatchInput")], what: sn)
            } else {
                checkJSONataValue(v, at: path + [.key("BatchInput")], what: sn)
            }
        }
    }

    private mutating func checkResultWriter(_ value: JSON, at path: [PathComponent], sn: String, ql: QueryLanguage) {
        guard case .object(let writer) = value else {
            error("\(sn): ResultWriter must be an object, not \(article(value.typeName))", path)
            return
        }
        checkSubObject(writer, at: path, sn: sn, name: "ResultWriter", allowed: ["Resource", "Parameters", "Arguments", "WriterConfig"], ql: ql)
        let parameters = ql == .jsonata ? "Arguments" : "Parameters"
        let hasResource = writer["Resource"] != nil
        let hasParameters = writer["Parameters"] != nil || writer["Arguments"] != nil
        if !hasResource && !hasParameters && writer["WriterConfig"] == nil {
            error("\(sn): ResultWriter needs WriterConfig, or Resource and \(parameters), or all three", path)
        } else if hasResource && !hasParameters {
            error("\(sn): ResultWriter has a Resource but no \(parameters) (the bucket and prefix to write to)", path)
        } else if hasParameters && !hasResource {
            error("\(sn): ResultWriter has \(parameters) but no Resource (arn:aws:states:::s3:putObject)", path)
        }
        guard let config = writer["WriterConfig"] else { return }
        let cp = path + [.key("WriterConfig")]
        guard case .object(let fields) = config else {
            error("\(sn): ResultWriter.WriterConfig must be an object, not \(article(config.typeName))", cp)
            return
        }
        let allowed: [String: Set<String>] = ["OutputType": ["JSON", "JSONL"], "Transformation": ["NONE", "COMPACT", "FLATTEN"]]
        for (k, v) in fields.pairs {
            guard let values = allowed[k] else {
                error("\(sn): unknown field \"\(k)\" in ResultWriter.WriterConfig\(suggestion(k, allowed.keys))", cp + [.key(k)], key: true)
                continue
            }
            if let s = v.stringValue, ql == .jsonata, ValidationJSONataSyntax.isExpression(s) {
                checkJSONataString(s, at: cp + [.key(k)], what: "\(sn): ResultWriter.WriterConfig.\(k)")
            } else if v.stringValue.map(values.contains) != true {
                error("\(sn): ResultWriter.WriterConfig.\(k) must be one of \(values.sorted().joined(separator: ", ")), not \(v.serialized)", cp + [.key(k)])
            }
        }
        if fields["OutputType"] == nil {
            error("\(sn): ResultWriter.WriterConfig needs the field \"OutputType\" (JSON or JSONL)", cp)
        }
    }

    /// Shared checks of ItemReader / ResultWriter: known fields, Resource a string, Parameters vs Arguments.
    private mutating func checkSubObject(
        _ object: JSONObject, at path: [PathComponent], sn: String, name: String, allowed: Set<String>, ql: QueryLanguage
    ) {
        for k in object.keys where !allowed.contains(k) {
            error("\(sn): unknown field \"\(k)\" in \(name)\(suggestion(k, allowed))", path + [.key(k)], key: true)
        }
        if let r = object["Resource"] {
            if let text = r.stringValue {
                if let p = placeholderProblem(text) { error("\(sn): \(name).Resource \"\(text)\" \(p)", path + [.key("Resource")]) }
            } else {
                error("\(sn): \(name).Resource must be a string, not \(article(r.typeName))", path + [.key("Resource")])
            }
        }
        if let v = object["Parameters"] {
            if ql == .jsonata {
                error("\(sn): field \"Parameters\" in \(name) is not allowed with QueryLanguage \"JSONata\" (use \"Arguments\")", path + [.key("Parameters")], key: true)
            } else {
                checkPayloadTemplate(v, at: path + [.key("Parameters")], what: sn)
            }
        }
        if let v = object["Arguments"] {
            if ql == .jsonPath {
                error("\(sn): field \"Arguments\" in \(name) is only allowed with QueryLanguage \"JSONata\"", path + [.key("Arguments")], key: true)
            } else {
                checkJSONataValue(v, at: path + [.key("Arguments")], what: sn)
            }
        }
    }

    // MARK: Retry and Catch

    private static let retrierFields: Set<String> = [
        "ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment",
    ]
    private static let catcherFields: Set<String> = ["ErrorEquals", "Next", "ResultPath", "Output", "Assign", "Comment"]

    private mutating func checkRetry(_ value: JSON, at path: [PathComponent], what sn: String) {
        guard case .array(let retriers) = value else {
            error("\(sn): Retry must be an array, not \(article(value.typeName))", path)
            return
        }
        for (i, r) in retriers.enumerated() {
            let p = path + [.index(i)]
            let w = "\(sn): retrier \(i)"
            guard case .object(let retrier) = r else {
                error("\(w) must be an object, not \(article(r.typeName))", p)
                continue
            }
            for k in retrier.keys where !Self.retrierFields.contains(k) {
                error("\(w): unknown field \"\(k)\"\(suggestion(k, Self.retrierFields))", p + [.key(k)], key: true)
            }
            checkErrorEquals(retrier["ErrorEquals"], at: p, what: w, isLast: i == retriers.count - 1)
            if let v = retrier["IntervalSeconds"] {
                checkInteger(v, at: p + [.key("IntervalSeconds")], what: "\(w): IntervalSeconds", min: 1, max: Self.maxTimeout)
            }
            if let v = retrier["MaxAttempts"] {
                checkInteger(v, at: p + [.key("MaxAttempts")], what: "\(w): MaxAttempts", min: 0, max: Self.maxTimeout)
            }
            if let v = retrier["MaxDelaySeconds"] {
                checkInteger(v, at: p + [.key("MaxDelaySeconds")], what: "\(w): MaxDelaySeconds", min: 1, max: 31_622_400)
            }
            if let v = retrier["BackoffRate"] {
                if let d = v.doubleValue {
                    if d < 1 { error("\(w): BackoffRate must be at least 1.0, not \(v.serialized)", p + [.key("BackoffRate")]) }
                } else {
                    error("\(w): BackoffRate must be a number, not \(article(v.typeName))", p + [.key("BackoffRate")])
                }
            }
            if let v = retrier["JitterStrategy"], v != "FULL" && v != "NONE" {
                error("\(w): JitterStrategy must be \"FULL\" or \"NONE\", not \(v.serialized)", p + [.key("JitterStrategy")])
            }
            if let c = retrier["Comment"], c.stringValue == nil {
                error("\(w): Comment must be a string", p + [.key("Comment")])
            }
        }
    }

    private mutating func checkCatch(
        _ value: JSON, at path: [PathComponent], what sn: String, ql: QueryLanguage, from: String, scope: inout Scope
    ) {
        guard case .array(let catchers) = value else {
            error("\(sn): Catch must be an array, not \(article(value.typeName))", path)
            return
        }
        for (i, c) in catchers.enumerated() {
            let p = path + [.index(i)]
            let w = "\(sn): catcher \(i)"
            guard case .object(let catcher) = c else {
                error("\(w) must be an object, not \(article(c.typeName))", p)
                continue
            }
            for k in catcher.keys {
                if !Self.catcherFields.contains(k) {
                    error("\(w): unknown field \"\(k)\"\(suggestion(k, Self.catcherFields))", p + [.key(k)], key: true)
                } else if k == "ResultPath" && ql == .jsonata {
                    error("\(w): field \"ResultPath\" is not allowed with QueryLanguage \"JSONata\" (use \"Output\")", p + [.key(k)], key: true)
                } else if k == "Output" && ql == .jsonPath {
                    error("\(w): field \"Output\" is only allowed with QueryLanguage \"JSONata\"", p + [.key(k)], key: true)
                }
            }
            checkErrorEquals(catcher["ErrorEquals"], at: p, what: w, isLast: i == catchers.count - 1)
            switch catcher["Next"] {
            case nil: error("\(w): missing required field \"Next\"", p)
            case .string(let target)?: scope.transitions.append((from, target, p + [.key("Next")]))
            case let other?: error("\(w): Next must be a string, not \(article(other.typeName))", p + [.key("Next")])
            }
            if ql == .jsonPath, let v = catcher["ResultPath"] {
                checkResultPath(v, at: p + [.key("ResultPath")], what: "\(w): ResultPath")
            }
            if ql == .jsonata, let v = catcher["Output"] { checkJSONataValue(v, at: p + [.key("Output")], what: w) }
            if let v = catcher["Assign"] { checkAssign(v, at: p + [.key("Assign")], what: w, ql: ql) }
            if let cm = catcher["Comment"], cm.stringValue == nil {
                error("\(w): Comment must be a string", p + [.key("Comment")])
            }
        }
    }

    private mutating func checkErrorEquals(_ value: JSON?, at path: [PathComponent], what w: String, isLast: Bool) {
        let p = path + [.key("ErrorEquals")]
        guard let value else {
            error("\(w): missing required field \"ErrorEquals\"", path)
            return
        }
        guard case .array(let names) = value else {
            error("\(w): ErrorEquals must be an array of error names, not \(article(value.typeName))", p)
            return
        }
        if names.isEmpty { error("\(w): ErrorEquals must not be empty", p) }
        for (i, n) in names.enumerated() {
            guard let s = n.stringValue else {
                error("\(w): ErrorEquals entries must be strings, not \(article(n.typeName))", p + [.index(i)])
                continue
            }
            if s == "States.ALL" {
                if names.count > 1 {
                    error("\(w): \"States.ALL\" must appear alone in ErrorEquals", p + [.index(i)])
                } else if !isLast {
                    error("\(w): a rule with \"States.ALL\" must be the last one", p + [.index(i)])
                }
            }
        }
    }

    // MARK: Values

    private mutating func checkInteger(_ v: JSON, at path: [PathComponent], what: String, min: Int, max: Int) {
        guard v.isNumber, let i = v.intValue else {
            error("\(what) must be an integer, not \(v.isNumber ? v.serialized : article(v.typeName))", path)
            return
        }
        if i < min {
            error("\(what) must be \(min == 1 ? "a positive integer" : "at least \(min)"), not \(i)", path)
        } else if i > max {
            error("\(what) must be at most \(max), not \(i)", path)
        }
    }

    private mutating func checkIntegerOrExpression(
        _ v: JSON, at path: [PathComponent], what: String, min: Int, max: Int, ql: QueryLanguage
    ) {
        if ql == .jsonata, case .string(let s) = v {
            checkJSONataString(s, at: path, what: what, required: true)
            return
        }
        checkInteger(v, at: path, what: what, min: min, max: max)
    }

    /// A JSONPath path field (InputPath, SecondsPath, ItemsPath ...).
    private mutating func checkPath(_ v: JSON, at path: [PathComponent], what: String, nullable: Bool) {
        switch v {
        case .null where nullable: return
        case .string(let s):
            if let p = ValidationPathSyntax.problem(in: s) { error("\(what) \"\(s)\" is not a valid path: \(p)", path) }
        default:
            error("\(what) must be a path string\(nullable ? " or null" : ""), not \(article(v.typeName))", path)
        }
    }

    private mutating func checkResultPath(_ v: JSON, at path: [PathComponent], what: String) {
        switch v {
        case .null: return
        case .string(let s):
            if let p = ValidationPathSyntax.problem(in: s, allowing: .resultPath) {
                error("\(what) \"\(s)\" is not a valid reference path: \(p)", path)
            }
        default:
            error("\(what) must be a path string or null, not \(article(v.typeName))", path)
        }
    }

    /// The value of a `.$` field, ErrorPath or CausePath: a path or an intrinsic function call.
    private mutating func checkDynamicValue(_ v: JSON, at path: [PathComponent], what: String) {
        guard let s = v.stringValue else {
            error("\(what) must be a path or intrinsic function string, not \(article(v.typeName))", path)
            return
        }
        if ValidationIntrinsicSyntax.looksLikeCall(s) {
            if let p = ValidationIntrinsicSyntax.problem(in: s) {
                error("\(what) \"\(s)\" is not a valid intrinsic function call: \(p)", path)
            }
        } else if let p = ValidationPathSyntax.problem(in: s) {
            error("\(what) \"\(s)\" must be a valid JSONPath or intrinsic function call: \(p)", path)
        }
    }

    /// Parameters, ResultSelector, ItemSelector ...: `.$` members hold paths or intrinsic calls.
    private mutating func checkPayloadTemplate(_ v: JSON, at path: [PathComponent], what sn: String, mustBeObject: String? = nil, depth: Int = 0) {
        if let name = mustBeObject, v.objectValue == nil {
            error("\(sn): \(name) must be an object, not \(article(v.typeName))", path)
            return
        }
        guard depth < 200 else { return }
        switch v {
        case .object(let o):
            // "a" and "a.$" both produce the field "a": AWS refuses the template.
            var written: [String: String] = [:]
            for k in o.keys {
                let field = k.hasSuffix(".$") ? String(k.dropLast(2)) : k
                if let first = written[field] {
                    error("\(sn): \"\(first)\" and \"\(k)\" both set the field \"\(field)\"", path + [.key(k)], key: true)
                } else {
                    written[field] = k
                }
            }
            for (k, value) in o.pairs {
                let kp = path + [.key(k)]
                if k.hasSuffix(".$") {
                    checkDynamicValue(value, at: kp, what: "\(sn): field \"\(k)\"")
                } else {
                    checkPayloadTemplate(value, at: kp, what: sn, depth: depth + 1)
                }
            }
        case .array(let a):
            for (i, item) in a.enumerated() { checkPayloadTemplate(item, at: path + [.index(i)], what: sn, depth: depth + 1) }
        default:
            break
        }
    }

    private mutating func checkAssign(_ v: JSON, at path: [PathComponent], what: String, ql: QueryLanguage) {
        guard case .object(let assign) = v else {
            error("\(what): Assign must be an object, not \(article(v.typeName))", path)
            return
        }
        var seen: Set<String> = []
        for (k, value) in assign.pairs {
            let kp = path + [.key(k)]
            var name = k
            let dynamic = ql == .jsonPath && k.hasSuffix(".$")
            if dynamic { name.removeLast(2) }
            if let p = variableNameProblem(name) {
                error("\(what): Assign: \"\(name)\" is not a valid variable name: \(p)", kp, key: true)
            } else if !seen.insert(name).inserted {
                error("\(what): Assign sets the variable \"\(name)\" more than once", kp, key: true)
            }
            if ql == .jsonata {
                checkJSONataValue(value, at: kp, what: what)
            } else if dynamic {
                checkDynamicValue(value, at: kp, what: "\(what): Assign field \"\(k)\"")
            } else {
                checkPayloadTemplate(value, at: kp, what: what)
            }
        }
    }

    private func variableNameProblem(_ name: String) -> String? {
        guard let first = name.unicodeScalars.first else { return "it is empty" }
        if name.unicodeScalars.count > Self.maxVariableNameLength {
            return "longer than \(Self.maxVariableNameLength) characters"
        }
        if !ValidationPathSyntax.isVariableStart(first) { return "it must start with a letter or \"_\"" }
        // AWS accepts "-" inside an assigned name (the recorded corpus has "top-level"), though a
        // path cannot read such a variable back.
        if let bad = name.unicodeScalars.first(where: { !ValidationPathSyntax.isVariableChar($0) && $0 != "-" }) {
            return "\"\(String(bad))\" is not allowed (use letters, digits, \"_\" and \"-\")"
        }
        if name == "states" { return "\"states\" is reserved" }
        return nil
    }

    /// Any JSON value of a JSONata field: strings that open with `{%` must be well-formed expressions.
    private mutating func checkJSONataValue(_ v: JSON, at path: [PathComponent], what: String, depth: Int = 0) {
        guard depth < 200 else { return }
        switch v {
        case .string(let s): checkJSONataString(s, at: path, what: what)
        case .array(let a):
            for (i, item) in a.enumerated() { checkJSONataValue(item, at: path + [.index(i)], what: what, depth: depth + 1) }
        case .object(let o):
            for (k, item) in o.pairs { checkJSONataValue(item, at: path + [.key(k)], what: what, depth: depth + 1) }
        default: break
        }
    }

    /// A string in a JSONata field; `required` means it must be an expression (a literal is not allowed there).
    private mutating func checkJSONataString(_ s: String, at path: [PathComponent], what: String, required: Bool = false) {
        if ValidationJSONataSyntax.isExpression(s) {
            if let p = ValidationJSONataSyntax.problem(in: s) {
                error("\(what): \(p)", path)
            } else if let body = JSONataTemplate.expressionText(s) {
                // AWS parses every expression when the state machine is created.
                do { _ = try JSONataExpression(body) } catch {
                    self.error("\(what): the JSONata expression \(s) does not parse: \(error.message)", path)
                }
            }
        } else if required {
            error("\(what) must be a {% ... %} expression here, not the string \"\(s)\"", path)
        }
    }

    private mutating func queryLanguage(_ v: JSON, at path: [PathComponent]) -> QueryLanguage? {
        if let s = v.stringValue, let q = QueryLanguage(rawValue: s) { return q }
        error("QueryLanguage must be \"JSONPath\" or \"JSONata\", not \(v.serialized)", path)
        return nil
    }

    // MARK: Helpers

    private func article(_ typeName: String) -> String {
        switch typeName {
        case "null": return "null"
        case "array", "object": return "an \(typeName)"
        default: return "a \(typeName)"
        }
    }

    private func hex4(_ v: UInt32) -> String {
        let h = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - h.count)) + h
    }

    /// ` (did you mean "X"?)` when a known name is close to `word`.
    private func suggestion<S: Sequence>(_ word: String, _ candidates: S) -> String where S.Element == String {
        let w = Array(word.lowercased().unicodeScalars)
        guard !w.isEmpty, w.count <= 64 else { return "" }
        var best: (String, Int)?
        for c in candidates {
            let cs = Array(c.lowercased().unicodeScalars)
            guard abs(cs.count - w.count) <= 3 else { continue }
            let d = editDistance(w, cs)
            if d <= max(1, min(3, w.count / 3)), d < w.count, d < cs.count, best == nil || d < best!.1 || (d == best!.1 && c < best!.0) {
                best = (c, d)
            }
        }
        return best.map { " (did you mean \"\($0.0)\"?)" } ?? ""
    }

    private func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}
