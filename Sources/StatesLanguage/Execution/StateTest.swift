import Foundation

/// One state run alone, as AWS's TestState API runs it: the state's status, output or error,
/// the state it would go to next, and the data after each processing step.
public struct StateTestResult: Sendable {
    public enum Status: String, Sendable {
        case succeeded = "SUCCEEDED"
        case failed = "FAILED"
        /// The state failed and one of its retriers would try it again.
        case retriable = "RETRIABLE"
        /// The state failed and one of its catchers handled the error.
        case caughtError = "CAUGHT_ERROR"
    }

    /// How much TestState reports.
    public enum InspectionLevel: String, Sendable, CaseIterable {
        /// Status, output or error, next state.
        case info = "INFO"
        /// Also the data after each processing step and the variables.
        case debug = "DEBUG"
        /// Also the request and response of the task.
        case trace = "TRACE"
    }

    public var status: Status
    public var output: JSON?
    public var error: String?
    public var cause: String?
    public var nextState: String?
    /// `input`, `afterInputPath`, `afterParameters` (or `afterArguments`), `result`,
    /// `afterResultSelector`, `afterResultPath`, `variables`, and for TRACE `request` and `response`:
    /// the steps the state reached, in order.
    public var inspectionData: JSONObject

    /// `{"status", "output" | "error", "cause", "nextState", "inspectionData"}` with only what
    /// `level` shows, the object `stepgate test-state --format json` prints.
    public func json(level: InspectionLevel) -> JSON {
        var o = JSONObject()
        o["status"] = .string(status.rawValue)
        if let output { o["output"] = output }
        if let error { o["error"] = .string(error) }
        if let cause { o["cause"] = .string(cause) }
        if let nextState { o["nextState"] = .string(nextState) }
        if level != .info {
            var data = inspectionData
            if level == .debug {
                data["request"] = nil
                data["response"] = nil
            }
            o["inspectionData"] = .object(data)
        }
        return .object(o)
    }
}

extension StateMachine {
    /// The machine (this one, or a Parallel branch or Map processor inside it) that holds the
    /// state named `name`, and the state's index in it.
    func locate(_ name: String) -> (machine: StateMachine, index: Int)? {
        if let i = indexByName[name] { return (self, i) }
        for state in states {
            switch state.kind {
            case .parallel(let branches):
                for b in branches { if let found = b.locate(name) { return found } }
            case .map(let spec):
                if let found = spec.processor.locate(name) { return found }
            default: break
            }
        }
        return nil
    }
}

extension Interpreter {
    /// Runs the state named `name` (at any depth) once on `input`, as AWS's TestState does: a
    /// failure is not retried (the status says whether a retrier would), a catcher's output is the
    /// state's output, Wait states do not wait. Nil when the machine has no such state.
    public func testState(named name: String, input: JSON, variables: [String: JSON] = [:]) async -> StateTestResult? {
        guard let (m, index) = machine.locate(name) else { return nil }
        let run = ExecutionRun(interpreter: self, executionInput: input, startTime: environment.clock.now())
        return await run.test(m.states[index], in: m, input: input, variables: variables)
    }
}

extension ExecutionRun {
    func test(_ state: State, in m: StateMachine, input raw: JSON, variables initial: [String: JSON]) async -> StateTestResult {
        var data = JSONObject()
        data["input"] = raw
        var variables = initial
        let frame = Frame(path: "", mapItem: nil, topLevel: true)
        func nextName(_ i: Int?) -> String? { i.map { m.states[$0].name } }
        func finish(_ status: StateTestResult.Status, output: JSON?, next: Int?, error: ExecutionError? = nil) -> StateTestResult {
            if !variables.isEmpty || state.assign != nil || state.jsonata?.assign != nil {
                data["variables"] = .object(JSONObject(variables.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
            }
            return StateTestResult(
                status: status, output: output, error: error.map { $0.error.isEmpty ? nil : $0.error } ?? nil,
                cause: error.flatMap { $0.causeIsAbsent ? nil : $0.cause }, nextState: nextName(next), inspectionData: data)
        }
        do throws(ExecutionError) {
            let (output, next) =
                state.jsonata != nil
                ? try await testJSONata(state, raw: raw, variables: &variables, frame: frame, data: &data)
                : try await testJSONPath(state, raw: raw, variables: &variables, frame: frame, data: &data)
            return finish(.succeeded, output: output, next: next)
        } catch {
            if !error.isUncatchable {
                var counts = [Int](repeating: 0, count: state.retriers.count)
                if retryDelay(state, error, &counts) != nil { return finish(.retriable, output: nil, next: nil, error: error) }
                if let c = state.catchers.first(where: { Self.matches($0.errorEquals, error.error) }) {
                    let errorOutput = error.catchOutput
                    let output = (try? applyResultPath(c.resultPath, raw, errorOutput)) ?? errorOutput
                    return finish(.caughtError, output: output, next: c.next, error: error)
                }
            }
            return finish(.failed, output: nil, next: nil, error: error)
        }
    }

    /// A JSONPath state's steps, each recorded in `data`.
    private func testJSONPath(
        _ state: State, raw: JSON, variables: inout [String: JSON], frame: Frame, data: inout JSONObject
    ) async throws(ExecutionError) -> (JSON, Int?) {
        var (scope, _) = enter(state, raw, variables: variables, frame: frame)
        let effective = try applyInputPath(state, raw, scope)
        data["afterInputPath"] = effective
        scope.input = effective
        switch state.kind {
        case .choice, .succeed, .fail:
            return try runImmediateState(state, input: raw, variables: &variables, frame: frame)
        case .wait:
            try assign(state.assign, result: effective, scope: scope, variables: &variables)
            return (try applyOutputPath(state, effective, scope), state.next)
        case .pass(let fixed):
            let parameters = try state.parameters.map { (t) throws(ExecutionError) in try t.evaluate(in: scope) }
            if let parameters { data["afterParameters"] = parameters }
            let result = fixed ?? parameters ?? effective
            data["result"] = result
            return try finishJSONPath(state, raw: raw, result: result, scope: scope, variables: &variables, data: &data)
        case .task(let spec):
            let parameters = try state.parameters.map { (t) throws(ExecutionError) in try t.evaluate(in: scope) } ?? effective
            data["afterParameters"] = parameters
            data["request"] = .object(JSONObject([("resource", .string(spec.resource)), ("input", parameters)]))
            let timeout = try seconds(spec.timeout, field: "TimeoutSecondsPath", state: state, scope: scope)
            let heartbeat = try seconds(spec.heartbeat, field: "HeartbeatSecondsPath", state: state, scope: scope)
            let result = try await executeTask(
                state, spec, parameters: parameters, timeout: timeout, heartbeat: heartbeat, context: scope.context, frame: frame,
                attempt: 0)
            data["response"] = result
            data["result"] = result
            return try finishJSONPath(state, raw: raw, result: result, scope: scope, variables: &variables, data: &data)
        case .parallel, .map:
            if case .parallel = state.kind, let p = state.parameters { data["afterParameters"] = try p.evaluate(in: scope) }
            let result = try await work(state, effective: effective, scope: scope, variables: variables, frame: frame, attempt: 0)
            data["result"] = result
            return try finishJSONPath(state, raw: raw, result: result, scope: scope, variables: &variables, data: &data)
        }
    }

    /// ResultSelector, ResultPath, Assign and OutputPath.
    private func finishJSONPath(
        _ state: State, raw: JSON, result: JSON, scope: EvaluationScope, variables: inout [String: JSON], data: inout JSONObject
    ) throws(ExecutionError) -> (JSON, Int?) {
        var selected = result
        if let selector = state.resultSelector {
            var s = scope
            s.input = result
            selected = try selector.evaluate(in: s)
            data["afterResultSelector"] = selected
        }
        try assign(state.assign, result: selected, scope: scope, variables: &variables)
        let combined = try applyResultPath(state.resultPath, raw, selected)
        data["afterResultPath"] = combined
        return (try applyOutputPath(state, combined, scope), state.next)
    }

    /// A JSONata state: its Arguments, result and Output.
    private func testJSONata(
        _ state: State, raw: JSON, variables: inout [String: JSON], frame: Frame, data: inout JSONObject
    ) async throws(ExecutionError) -> (JSON, Int?) {
        guard let spec = state.jsonata else { return (raw, state.next) }
        let scope = jsonataScope(state, input: raw, variables: variables, frame: frame, enteredAt: env.clock.now(), retryCount: 0)
        switch state.kind {
        case .task(let task):
            let arguments = try spec.arguments?.evaluate(in: scope, field: "Arguments", state: state.name) ?? raw
            data["afterArguments"] = arguments
            data["request"] = .object(JSONObject([("resource", .string(task.resource)), ("input", arguments)]))
            let timeout = try jsonataInteger(spec.timeoutSeconds, "TimeoutSeconds", scope, state, minimum: 1)
            let heartbeat = try jsonataInteger(spec.heartbeatSeconds, "HeartbeatSeconds", scope, state, minimum: 1)
            let result = try await executeTask(
                state, task, parameters: arguments, timeout: timeout, heartbeat: heartbeat,
                context: scope.states["context"] ?? .null, frame: frame, attempt: 0)
            data["response"] = result
            data["result"] = result
            var withResult = scope
            withResult.states["result"] = result
            let output = try jsonataFinish(
                output: spec.output, assign: spec.assign, fallback: result, scope: withResult, state: state, variables: &variables)
            return (output, state.next)
        case .wait:
            let output = try jsonataFinish(
                output: spec.output, assign: spec.assign, fallback: raw, scope: scope, state: state, variables: &variables)
            return (output, state.next)
        case .parallel, .map:
            return try await runJSONataState(state, spec, input: raw, variables: &variables, frame: frame)
        default:
            return try runJSONataImmediate(state, spec, input: raw, variables: &variables, frame: frame)
        }
    }
}
