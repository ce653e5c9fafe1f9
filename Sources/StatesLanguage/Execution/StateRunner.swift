import Foundation

extension ExecutionRun {
    /// Runs one state: returns its output and the index of the next state (nil when terminal).
    func runState(
        _ state: State, input raw: JSON, variables: inout [String: JSON], frame: Frame
    ) async throws(ExecutionError) -> (JSON, Int?) {
        if state.isImmediate { return try runImmediateState(state, input: raw, variables: &variables, frame: frame) }
        if let spec = state.jsonata { return try await runJSONataState(state, spec, input: raw, variables: &variables, frame: frame) }
        var (scope, entered) = enter(state, raw, variables: variables, frame: frame)
        switch state.kind {
        case .wait(let spec):
            do {
                let effective = try applyInputPath(state, raw, scope)
                scope.input = effective
                let seconds = try waitSeconds(spec, state: state, scope: scope)
                try await sleep(seconds: seconds)
                try assign(state.assign, result: effective, scope: scope, variables: &variables)
                let output = try applyOutputPath(state, effective, scope)
                emitExited(state, output)
                return (output, state.next)
            } catch {
                throw attributed(error, to: state, entered: entered)
            }

        case .task, .parallel, .map:
            return try await runWithRetryAndCatch(state, raw: raw, scope: scope, entered: entered, variables: &variables, frame: frame)

        case .pass, .choice, .succeed, .fail:
            return try runImmediateState(state, input: raw, variables: &variables, frame: frame)
        }
    }

    /// Records the state's entry and builds the scope its expressions see; also returns the id of
    /// the entry event, which AWS names in the causes of the state's runtime errors.
    func enter(_ state: State, _ raw: JSON, variables: [String: JSON], frame: Frame) -> (EvaluationScope, Int) {
        let enteredAt = env.clock.now()
        let entered = emit(.entered(state.kind), state: state.name, input: raw, at: enteredAt)
        var scope = EvaluationScope(input: raw, context: .null, variables: variables, random: env.random)
        if state.readsContext { scope.context = context(state: state, enteredAt: enteredAt, frame: frame, retryCount: 0) }
        return (scope, entered)
    }

    /// An error of the state's own data processing, worded as AWS words it: "An error occurred
    /// while executing the state 'NAME' (entered at the event id #N). ...". Errors a task, a
    /// nested state or a Fail state chose pass unchanged.
    func attributed(_ error: ExecutionError, to state: State, entered: Int) -> ExecutionError {
        let head = "An error occurred while executing the state '\(state.name)'"
        var e = error
        if e.cause.hasPrefix(head + ". ") {
            e.cause = "\(head) (entered at the event id #\(entered))." + e.cause.dropFirst(head.count + 1)
        } else if e.error == "States.Runtime", e != .cancelled, !e.cause.hasPrefix("An error occurred while executing the state") {
            e.cause = "\(head) (entered at the event id #\(entered)). \(e.cause)"
        }
        return e
    }

    /// Pass, Choice, Succeed and Fail never wait, so they run without suspending.
    func runImmediateState(
        _ state: State, input raw: JSON, variables: inout [String: JSON], frame: Frame
    ) throws(ExecutionError) -> (JSON, Int?) {
        if let spec = state.jsonata { return try runJSONataImmediate(state, spec, input: raw, variables: &variables, frame: frame) }
        let (scope, entered) = enter(state, raw, variables: variables, frame: frame)
        if case .fail(let spec) = state.kind {
            // The error a Fail state names is its own; only a path that fails is a runtime error.
            let error: String?
            let cause: String?
            do {
                error = try failField(spec.error, field: "ErrorPath", state: state, scope: scope)
                cause = try failField(spec.cause, field: "CausePath", state: state, scope: scope)
            } catch {
                throw attributed(error, to: state, entered: entered)
            }
            throw ExecutionError(error ?? "", cause ?? ExecutionError.absentCause)
        }
        do {
            return try runImmediateBody(state, raw: raw, scope: scope, variables: &variables)
        } catch {
            throw attributed(error, to: state, entered: entered)
        }
    }

    private func runImmediateBody(
        _ state: State, raw: JSON, scope entered: EvaluationScope, variables: inout [String: JSON]
    ) throws(ExecutionError) -> (JSON, Int?) {
        var scope = entered
        switch state.kind {
        case .pass(let result):
            let effective = try applyInputPath(state, raw, scope)
            scope.input = effective
            let value: JSON
            if let result {
                value = result
            } else if let parameters = state.parameters {
                value = try parameters.evaluate(in: scope)
            } else {
                value = effective
            }
            try assign(state.assign, result: value, scope: scope, variables: &variables)
            let output = try applyOutputPath(state, try applyResultPath(state.resultPath, raw, value), scope)
            emitExited(state, output)
            return (output, state.next)

        case .choice(let rules, let defaultIndex):
            let effective = try applyInputPath(state, raw, scope)
            scope.input = effective
            var target: Int?
            for rule in rules where try evaluate(rule.condition, scope, state: state.name) {
                try assign(rule.assign, result: effective, scope: scope, variables: &variables)
                target = rule.next
                break
            }
            if target == nil {
                guard let defaultIndex else {
                    throw ExecutionError.noChoiceMatched(
                        "An error occurred while executing the state '\(state.name)'. No Choice Rule matched and no Default was specified.")
                }
                target = defaultIndex
            }
            try assign(state.assign, result: effective, scope: scope, variables: &variables)
            let output = try applyOutputPath(state, effective, scope)
            emitExited(state, output)
            return (output, target)

        case .succeed:
            let effective = try applyInputPath(state, raw, scope)
            scope.input = effective
            let output = try applyOutputPath(state, effective, scope)
            emitExited(state, output)
            return (output, nil)

        case .fail, .wait, .task, .parallel, .map:
            throw ExecutionError.runtime("state '\(state.name)' cannot run without waiting")
        }
    }

    func emitExited(_ state: State, _ output: JSON) {
        if let type = HistoryEventType.exited(state.kind) { emit(type, state: state.name, output: output) }
    }

    // MARK: - Data flow

    func applyInputPath(_ state: State, _ raw: JSON, _ scope: EvaluationScope) throws(ExecutionError) -> JSON {
        switch state.inputPath {
        case .whole: return raw
        case .empty: return .object(JSONObject())
        case .path(let p):
            guard let v = p.evaluate(in: scope) else {
                throw ExecutionError.runtime(
                    "An error occurred while executing the state '\(state.name)'. Invalid path '\(p)' : No results for path: \(bracketed(p))")
            }
            return v
        }
    }

    func applyOutputPath(_ state: State, _ value: JSON, _ scope: EvaluationScope) throws(ExecutionError) -> JSON {
        switch state.outputPath {
        case .whole: return value
        case .empty: return .object(JSONObject())
        case .path(let p):
            var s = scope
            s.input = value
            guard let v = p.evaluate(in: s) else {
                throw ExecutionError.runtime(
                    "An error occurred while executing the state '\(state.name)'. Invalid path '\(p)' : No results for path: \(bracketed(p))")
            }
            return v
        }
    }

    func applyResultPath(_ field: ResultPathField, _ raw: JSON, _ result: JSON) throws(ExecutionError) -> JSON {
        switch field {
        case .replace: return result
        case .discard: return raw
        case .path(let p): return try p.assign(result, into: raw)
        }
    }

    /// `$['a']['b']` for `$.a.b`, the form AWS quotes in "No results for path" causes.
    func bracketed(_ p: JSONPath) -> String {
        let text = p.description
        guard text.hasPrefix("$.") else { return text }
        let parts = text.dropFirst(2).split(separator: ".", omittingEmptySubsequences: false)
        return "$" + parts.map { "['\($0)']" }.joined()
    }

    /// Evaluates an Assign block against the variables as they were before it, then stores them.
    func assign(
        _ template: PayloadTemplate?, result: JSON, scope: EvaluationScope, variables: inout [String: JSON]
    ) throws(ExecutionError) {
        guard let template else { return }
        var s = scope
        s.input = result
        s.variables = variables
        guard case .object(let values) = try template.evaluate(in: s) else { return }
        for (k, v) in values.pairs { variables[k] = v }
    }

    func context(state task: State, enteredAt: Date, frame: Frame, retryCount: Int) -> JSON {
        let state = task.name
        var execution = JSONObject()
        execution["Id"] = .string(interpreter.identity.executionID)
        execution["Input"] = executionInput
        execution["Name"] = .string(interpreter.identity.name)
        execution["RoleArn"] = interpreter.identity.roleArn.map(JSON.string) ?? .string("stepgate")
        execution["StartTime"] = .string(ISO8601.format(startTime))
        execution["RedriveCount"] = .int(0)
        var stateObject = JSONObject()
        stateObject["EnteredTime"] = .string(ISO8601.format(enteredAt))
        stateObject["Name"] = .string(state)
        stateObject["RetryCount"] = .int(retryCount)
        var machineObject = JSONObject()
        machineObject["Id"] = .string(interpreter.identity.stateMachineID)
        machineObject["Name"] = .string(interpreter.identity.stateMachineName)
        var ctx = JSONObject()
        ctx["Execution"] = .object(execution)
        ctx["State"] = .object(stateObject)
        ctx["StateMachine"] = .object(machineObject)
        if let item = frame.mapItem {
            ctx["Map"] = ["Item": .object(JSONObject([("Index", .int(item.index)), ("Value", item.value)]))]
        }
        // A callback task hands its token to whoever answers for it (SendTaskSuccess on AWS).
        if case .task(let spec) = task.kind, spec.resource.hasSuffix(".waitForTaskToken") {
            let token = "\(interpreter.identity.executionID)\(frame.path)/\(state)#\(retryCount)"
            ctx["Task"] = ["Token": .string(token)]
        }
        return .object(ctx)
    }

    // MARK: - Wait and Fail

    func waitSeconds(_ spec: WaitSpec, state: State, scope: EvaluationScope) throws(ExecutionError) -> Double {
        switch spec.duration {
        case .seconds(let s): return Double(s)
        case .secondsPath(let p):
            guard let v = p.evaluate(in: scope) else {
                throw ExecutionError.runtime(
                    "An error occurred while executing the state '\(state.name)'. Invalid path '\(p)' : No results for path: \(bracketed(p))")
            }
            guard let n = Self.wholeNumber(v) else {
                throw ExecutionError.runtime(
                    "An error occurred while executing the state '\(state.name)'. The SecondsPath parameter cannot be parsed as a long value: \(p) == \(v.stringValue ?? v.serialized)")
            }
            guard n >= 0 else {
                throw ExecutionError.runtime(
                    "An error occurred while executing the state '\(state.name)'. The SecondsPath parameter references a negative value: \(p) == \(n)")
            }
            return Double(n)
        case .timestamp(let t):
            guard let d = ISO8601.parse(t) else {
                throw ExecutionError.runtime("An error occurred while executing the state '\(state.name)'. Invalid timestamp '\(t)'")
            }
            return max(0, d.timeIntervalSince(env.clock.now()))
        case .timestampPath(let p):
            guard let v = p.evaluate(in: scope) else {
                throw ExecutionError.runtime(
                    "An error occurred while executing the state '\(state.name)'. Invalid path '\(p)' : No results for path: \(bracketed(p))")
            }
            guard let s = v.stringValue, let d = ISO8601.parse(s) else {
                throw ExecutionError.runtime(
                    "An error occurred while executing the state '\(state.name)'. The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: \(p) == \(v.stringValue ?? v.serialized)")
            }
            return max(0, d.timeIntervalSince(env.clock.now()))
        }
    }

    /// An integer as a long value: `3` or `3.0`, not `1.5` or `"3"`.
    static func wholeNumber(_ v: JSON) -> Int? {
        guard v.isNumber else { return nil }
        return v.intValue
    }

    func failField(
        _ source: ValueSource<String>?, field: String, state: State, scope: EvaluationScope
    ) throws(ExecutionError) -> String? {
        switch source {
        case nil: return nil
        case .literal(let s)?: return s
        case .intrinsic(let f)?:
            let v = try f.evaluate(in: scope)
            return v.stringValue ?? v.serialized
        case .path(let p)?:
            guard let v = p.evaluate(in: scope) else {
                throw ExecutionError.runtime(
                    "An error occurred while executing the state '\(state.name)'. The JSONPath '\(p)' specified for the field '\(field)' could not be found in the input '\(scope.input.serialized)'")
            }
            guard let s = v.stringValue else {
                throw ExecutionError.runtime(
                    "An error occurred while executing the state '\(state.name)'. The value of the field '\(field)' must be a string, but was \(v.typeName)")
            }
            return s
        }
    }

    // MARK: - Choice

    func evaluate(_ condition: Condition, _ scope: EvaluationScope, state: String) throws(ExecutionError) -> Bool {
        switch condition {
        case .and(let parts):
            for p in parts where !(try evaluate(p, scope, state: state)) { return false }
            return true
        case .or(let parts):
            for p in parts where try evaluate(p, scope, state: state) { return true }
            return false
        case .not(let inner):
            return !(try evaluate(inner, scope, state: state))
        case .test(let variable, let test):
            let value = variable.evaluate(in: scope)
            return try compare(value, test, scope, variable: variable, state: state)
        }
    }

    func compare(
        _ value: JSON?, _ test: ComparisonTest, _ scope: EvaluationScope, variable: JSONPath, state: String
    ) throws(ExecutionError) -> Bool {
        switch test {
        case .isPresent(let expected):
            return (value != nil) == expected
        default: break
        }
        guard let value else {
            throw ExecutionError.runtime(
                "An error occurred while executing the state '\(state)'. Invalid path '\(variable)': The choice state's condition path references an invalid value.")
        }
        switch test {
        case .isPresent: return true
        case .isNull(let e): return value.isNull == e
        case .isNumeric(let e): return value.isNumber == e
        case .isString(let e): return (value.stringValue != nil) == e
        case .isBoolean(let e): return (value.boolValue != nil) == e
        case .isTimestamp(let e): return (value.stringValue.flatMap(ISO8601.parse) != nil) == e
        case .stringMatches(let pattern):
            guard let s = value.stringValue else { return false }
            return pattern.matches(s)
        case .compare(let kind, let relation, let operand):
            let other: JSON
            switch operand {
            case .literal(let l): other = l
            case .path(let p):
                guard let v = p.evaluate(in: scope) else {
                    throw ExecutionError.runtime(
                        "An error occurred while executing the state '\(state)'. Invalid path '\(p)': The choice state's condition path references an invalid value.")
                }
                other = v
            }
            return Self.compare(kind, relation, value, other)
        }
    }

    static func compare(_ kind: ComparisonTest.Kind, _ relation: ComparisonTest.Relation, _ a: JSON, _ b: JSON) -> Bool {
        let order: Int
        switch kind {
        case .string:
            guard let x = a.stringValue, let y = b.stringValue else { return false }
            order = x == y ? 0 : (x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : 1)
        case .numeric:
            guard let x = a.doubleValue, let y = b.doubleValue else { return false }
            order = x == y ? 0 : (x < y ? -1 : 1)
        case .boolean:
            guard let x = a.boolValue, let y = b.boolValue else { return false }
            return x == y
        case .timestamp:
            guard let xs = a.stringValue, let ys = b.stringValue, let x = ISO8601.parse(xs), let y = ISO8601.parse(ys)
            else { return false }
            order = x == y ? 0 : (x < y ? -1 : 1)
        }
        switch relation {
        case .equals: return order == 0
        case .lessThan: return order < 0
        case .greaterThan: return order > 0
        case .lessThanEquals: return order <= 0
        case .greaterThanEquals: return order >= 0
        }
    }
}
