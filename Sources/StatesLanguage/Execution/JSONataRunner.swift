import Foundation

/// States whose QueryLanguage is JSONata: their fields are JSONata templates evaluated against
/// `$states` (input, context, and result or errorOutput where AWS provides them) and the
/// execution's variables.
extension ExecutionRun {
    func jsonataScope(_ state: State, input: JSON, variables: [String: JSON], frame: Frame, enteredAt: Date, retryCount: Int)
        -> JSONataScope
    {
        var states = JSONObject()
        states["input"] = input
        states["context"] = context(state: state, enteredAt: enteredAt, frame: frame, retryCount: retryCount)
        return JSONataScope(states: states, variables: variables, random: env.random, now: env.clock.now())
    }

    /// Evaluates an Assign block (against the variables as they were before the state) into `variables`.
    func jsonataAssign(
        _ template: JSONataTemplate?, _ scope: JSONataScope, state: State, into variables: inout [String: JSON]
    ) throws(ExecutionError) {
        guard let template else { return }
        guard case .object(let values) = try template.evaluate(in: scope, field: "Assign", state: state.name) else {
            throw ExecutionError.queryEvaluationError(
                "An error occurred while executing the state '\(state.name)'. The value of the field 'Assign' must be an object")
        }
        for (k, v) in values.pairs { variables[k] = v }
    }

    /// Output (or `fallback` when absent) and Assign, evaluated on the same variables.
    func jsonataFinish(
        output: JSONataTemplate?, assign: JSONataTemplate?, fallback: JSON, scope: JSONataScope, state: State,
        variables: inout [String: JSON]
    ) throws(ExecutionError) -> JSON {
        var newVariables = variables
        try jsonataAssign(assign, scope, state: state, into: &newVariables)
        let out = try output?.evaluate(in: scope, field: "Output", state: state.name) ?? fallback
        variables = newVariables
        return out
    }

    func runJSONataImmediate(
        _ state: State, _ spec: JSONataSpec, input raw: JSON, variables: inout [String: JSON], frame: Frame
    ) throws(ExecutionError) -> (JSON, Int?) {
        let enteredAt = env.clock.now()
        let entered = emit(.entered(state.kind), state: state.name, input: raw, at: enteredAt)
        let scope = jsonataScope(state, input: raw, variables: variables, frame: frame, enteredAt: enteredAt, retryCount: 0)
        if case .fail = state.kind {
            let error: String?
            let cause: String?
            do {
                error = try spec.error.map { (t) throws(ExecutionError) in try failText(t, "Error", scope, state) }
                cause = try spec.cause.map { (t) throws(ExecutionError) in try failText(t, "Cause", scope, state) }
            } catch {
                throw attributed(error, to: state, entered: entered)
            }
            throw ExecutionError(error ?? "", cause ?? ExecutionError.absentCause)
        }
        do {
            return try jsonataImmediateBody(state, spec, raw: raw, scope: scope, variables: &variables)
        } catch {
            throw attributed(error, to: state, entered: entered)
        }
    }

    private func jsonataImmediateBody(
        _ state: State, _ spec: JSONataSpec, raw: JSON, scope: JSONataScope, variables: inout [String: JSON]
    ) throws(ExecutionError) -> (JSON, Int?) {
        switch state.kind {
        case .choice(_, let defaultIndex):
            for rule in spec.rules {
                let c = try rule.condition.evaluate(in: scope, field: "Condition", state: state.name)
                guard case .bool(let matched) = c else {
                    throw ExecutionError.queryEvaluationError(
                        "An error occurred while executing the state '\(state.name)'. The Condition must evaluate to a boolean, but was \(c.typeName): \(c.serialized)")
                }
                if matched {
                    let output = try jsonataFinish(
                        output: rule.output, assign: rule.assign, fallback: raw, scope: scope, state: state, variables: &variables)
                    emitExited(state, output)
                    return (output, rule.next)
                }
            }
            guard let defaultIndex else {
                throw ExecutionError.noChoiceMatched(
                    "An error occurred while executing the state '\(state.name)'. No Choice Rule matched and no Default was specified.")
            }
            let output = try jsonataFinish(
                output: spec.output, assign: spec.assign, fallback: raw, scope: scope, state: state, variables: &variables)
            emitExited(state, output)
            return (output, defaultIndex)

        default:
            let output = try jsonataFinish(
                output: spec.output, assign: spec.assign, fallback: raw, scope: scope, state: state, variables: &variables)
            emitExited(state, output)
            if case .succeed = state.kind { return (output, nil) }
            return (output, state.next)
        }
    }

    private func failText(_ t: JSONataTemplate, _ field: String, _ scope: JSONataScope, _ state: State) throws(ExecutionError) -> String {
        let v = try t.evaluate(in: scope, field: field, state: state.name)
        guard case .string(let s) = v else {
            throw ExecutionError.queryEvaluationError(
                "An error occurred while executing the state '\(state.name)'. The value of the field '\(field)' must be a string, but was \(v.typeName)")
        }
        return s
    }

    /// An integer from a JSONata field (MaxConcurrency, TimeoutSeconds, tolerated counts).
    func jsonataInteger(
        _ t: JSONataTemplate?, _ field: String, _ scope: JSONataScope, _ state: State, minimum: Int
    ) throws(ExecutionError) -> Int? {
        guard let t else { return nil }
        let v = try t.evaluate(in: scope, field: field, state: state.name)
        guard let n = v.intValue, n >= minimum else {
            throw ExecutionError.queryEvaluationError(
                "An error occurred while executing the state '\(state.name)'. The value of the field '\(field)' must be an integer greater than or equal to \(minimum), but was '\(v.serialized)'")
        }
        return n
    }

    func runJSONataState(
        _ state: State, _ spec: JSONataSpec, input raw: JSON, variables: inout [String: JSON], frame: Frame
    ) async throws(ExecutionError) -> (JSON, Int?) {
        if state.isImmediate { return try runJSONataImmediate(state, spec, input: raw, variables: &variables, frame: frame) }
        let enteredAt = env.clock.now()
        let entered = emit(.entered(state.kind), state: state.name, input: raw, at: enteredAt)
        if case .wait = state.kind {
            do {
                return try await jsonataWait(state, spec, raw: raw, variables: &variables, frame: frame, enteredAt: enteredAt)
            } catch {
                throw attributed(error, to: state, entered: entered)
            }
        }

        var retryCounts = [Int](repeating: 0, count: state.retriers.count)
        var attempt = 0
        while true {
            let scope = jsonataScope(
                state, input: raw, variables: variables, frame: frame, enteredAt: attempt == 0 ? enteredAt : env.clock.now(),
                retryCount: attempt)
            do {
                let result = try await jsonataWork(state, spec, raw: raw, scope: scope, variables: variables, frame: frame, attempt: attempt)
                var withResult = scope
                withResult.states["result"] = result
                let output = try jsonataFinish(
                    output: spec.output, assign: spec.assign, fallback: result, scope: withResult, state: state,
                    variables: &variables)
                emitExited(state, output)
                return (output, state.next)
            } catch {
                let error = attributed(error, to: state, entered: entered)
                if error.isUncatchable { throw error }
                if try await retryAfterBackoff(state, error, &retryCounts) {
                    attempt += 1
                    continue
                }
                guard let c = state.catchers.firstIndex(where: { Self.matches($0.errorEquals, error.error) }) else {
                    throw error
                }
                let errorValue = error.catchOutput
                var withError = scope
                withError.states["errorOutput"] = errorValue
                let handler = c < spec.catchers.count ? spec.catchers[c] : JSONataCatch()
                let output = try jsonataFinish(
                    output: handler.output, assign: handler.assign, fallback: errorValue, scope: withError, state: state,
                    variables: &variables)
                emitExited(state, output)
                return (output, state.catchers[c].next)
            }
        }
    }

    /// A JSONata Wait state: its Seconds or Timestamp, then Output and Assign.
    private func jsonataWait(
        _ state: State, _ spec: JSONataSpec, raw: JSON, variables: inout [String: JSON], frame: Frame, enteredAt: Date
    ) async throws(ExecutionError) -> (JSON, Int?) {
        let scope = jsonataScope(state, input: raw, variables: variables, frame: frame, enteredAt: enteredAt, retryCount: 0)
        var seconds: Double = 0
        if let t = spec.seconds {
            seconds = Double(try jsonataInteger(t, "Seconds", scope, state, minimum: 0) ?? 0)
        } else if let t = spec.timestamp {
            let v = try t.evaluate(in: scope, field: "Timestamp", state: state.name)
            guard let s = v.stringValue, let d = ISO8601.parse(s) else {
                throw ExecutionError.queryEvaluationError(
                    "An error occurred while executing the state '\(state.name)'. The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: \(v.stringValue ?? v.serialized)")
            }
            seconds = max(0, d.timeIntervalSince(env.clock.now()))
        }
        try await sleep(seconds: seconds)
        let output = try jsonataFinish(
            output: spec.output, assign: spec.assign, fallback: raw, scope: scope, state: state, variables: &variables)
        emitExited(state, output)
        return (output, state.next)
    }

    private func jsonataWork(
        _ state: State, _ spec: JSONataSpec, raw: JSON, scope: JSONataScope, variables: [String: JSON], frame: Frame, attempt: Int
    ) async throws(ExecutionError) -> JSON {
        switch state.kind {
        case .task(let task):
            let arguments = try spec.arguments?.evaluate(in: scope, field: "Arguments", state: state.name) ?? raw
            let timeout = try jsonataInteger(spec.timeoutSeconds, "TimeoutSeconds", scope, state, minimum: 1)
            let heartbeat = try jsonataInteger(spec.heartbeatSeconds, "HeartbeatSeconds", scope, state, minimum: 1)
            return try await executeTask(
                state, task, parameters: arguments, timeout: timeout, heartbeat: heartbeat, context: scope.states["context"] ?? .null,
                frame: frame, attempt: attempt)
        case .parallel(let branches):
            let arguments = try spec.arguments?.evaluate(in: scope, field: "Arguments", state: state.name) ?? raw
            return try await runBranches(state, branches, input: arguments, variables: variables, frame: frame)
        case .map(let map):
            // Without Items, a Map iterates over its Arguments (when it has them) or its input.
            let fields = FieldScope.jsonata(scope)
            let arguments = try spec.arguments?.evaluate(in: scope, field: "Arguments", state: state.name) ?? raw
            let itemsValue: JSON
            if let reader = map.itemReader {
                itemsValue = .array(try await readItems(reader, fields, state: state))
            } else {
                itemsValue = try spec.items?.evaluate(in: scope, field: "Items", state: state.name) ?? arguments
            }
            guard case .array(let items) = itemsValue else {
                if let text = spec.items?.expressionText {
                    throw ExecutionError.queryEvaluationError(
                        "An error occurred while executing the state '\(state.name)'. The JSONata expression '\(text)' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was '\(itemsValue.typeName)' for value: \(itemsValue.serialized)")
                }
                throw ExecutionError.queryEvaluationError(
                    "An error occurred while executing the state '\(state.name)'. Map state input must be an array but was: \(itemsValue.serialized)")
            }
            let toleratedCount = try jsonataInteger(spec.toleratedFailureCount, "ToleratedFailureCount", scope, state, minimum: 0)
            var toleratedPercentage: Double?
            if let t = spec.toleratedFailurePercentage {
                let v = try t.evaluate(in: scope, field: "ToleratedFailurePercentage", state: state.name)
                guard let d = v.doubleValue, d >= 0, d <= 100 else {
                    throw ExecutionError.queryEvaluationError(
                        "An error occurred while executing the state '\(state.name)'. The value of the field 'ToleratedFailurePercentage' must be a number between 0 and 100")
                }
                toleratedPercentage = d
            }
            var limit = env.defaultMapConcurrency
            if let n = try jsonataInteger(spec.maxConcurrency, "MaxConcurrency", scope, state, minimum: 0), n > 0 { limit = n }
            emit(.mapStateStarted, state: state.name, index: items.count)
            var inputs: [JSON] = []
            inputs.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                if let selector = spec.itemSelector {
                    var s = scope
                    s.states["context"] = mapContext(
                        scope.states["context"] ?? .null, state: state, frame: frame, index: i, value: item)
                    inputs.append(try selector.evaluate(in: s, field: "ItemSelector", state: state.name))
                } else {
                    inputs.append(item)
                }
            }
            return try await runMapIterations(
                state, map, items: items, inputs: inputs, toleratedCount: toleratedCount, toleratedPercentage: toleratedPercentage,
                limit: limit, variables: variables, frame: frame, fields: fields)
        default:
            return raw
        }
    }
}
