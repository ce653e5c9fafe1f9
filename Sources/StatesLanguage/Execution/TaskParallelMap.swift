import Foundation

extension ExecutionRun {
    /// Task, Parallel and Map: input processing, the work, result processing, all under the
    /// state's Retry and Catch.
    func runWithRetryAndCatch(
        _ state: State, raw: JSON, scope initial: EvaluationScope, entered: Int, variables: inout [String: JSON], frame: Frame
    ) async throws(ExecutionError) -> (JSON, Int?) {
        var retryCounts = [Int](repeating: 0, count: state.retriers.count)
        var attempt = 0
        while true {
            var scope = initial
            if attempt > 0 && state.readsContext {
                scope.context = context(state: state, enteredAt: env.clock.now(), frame: frame, retryCount: attempt)
            }
            do {
                let effective = try applyInputPath(state, raw, scope)
                scope.input = effective
                var result = try await work(state, effective: effective, scope: scope, variables: variables, frame: frame, attempt: attempt)
                if let selector = state.resultSelector {
                    var s = scope
                    s.input = result
                    result = try selector.evaluate(in: s)
                }
                var newVariables = variables
                try assign(state.assign, result: result, scope: scope, variables: &newVariables)
                let output = try applyOutputPath(state, try applyResultPath(state.resultPath, raw, result), scope)
                variables = newVariables
                emitExited(state, output)
                return (output, state.next)
            } catch {
                let error = attributed(error, to: state, entered: entered)
                if error.isUncatchable { throw error }
                if try await retryAfterBackoff(state, error, &retryCounts) {
                    attempt += 1
                    continue
                }
                guard let catcher = state.catchers.first(where: { Self.matches($0.errorEquals, error.error) }) else {
                    throw error
                }
                let errorValue = error.catchOutput
                var s = initial
                s.input = errorValue
                try assign(catcher.assign, result: errorValue, scope: s, variables: &variables)
                let output = try applyResultPath(catcher.resultPath, raw, errorValue)
                emitExited(state, output)
                return (output, catcher.next)
            }
        }
    }

    /// The delay before another attempt, when a retrier matches the error and has attempts
    /// left (its count is then taken); nil when the error is not retried.
    func retryDelay(_ state: State, _ error: ExecutionError, _ retryCounts: inout [Int]) -> Double? {
        guard let r = state.retriers.firstIndex(where: { Self.matches($0.errorEquals, error.error) }) else { return nil }
        let retrier = state.retriers[r]
        guard retryCounts[r] < retrier.maxAttempts else { return nil }
        var delay = retrier.intervalSeconds * pow(retrier.backoffRate, Double(retryCounts[r]))
        if let cap = retrier.maxDelaySeconds { delay = min(delay, cap) }
        if retrier.fullJitter { delay = delay * Double(env.random() % 1_000_001) / 1_000_000 }
        retryCounts[r] += 1
        return delay
    }

    /// Sleeps out the delay of the retrier that matches `error`, if one still has attempts left;
    /// true when the state should be tried again.
    func retryAfterBackoff(_ state: State, _ error: ExecutionError, _ counts: inout [Int]) async throws(ExecutionError) -> Bool {
        guard let delay = retryDelay(state, error, &counts) else { return false }
        try await sleep(seconds: delay)
        return true
    }

    /// Whether an ErrorEquals list matches an error name. `States.ALL` matches everything but
    /// `States.Runtime`; `States.TaskFailed` matches every error but `States.Timeout`.
    static func matches(_ names: [String], _ error: String) -> Bool {
        for n in names {
            if n == error { return true }
            if n == "States.ALL" && error != "States.Runtime" && error != "States.DataLimitExceeded" { return true }
            if n == "States.TaskFailed" && error != "States.Timeout" && error != "States.Runtime" { return true }
        }
        return false
    }

    /// The work of a Task, Parallel or Map state, given its effective input.
    func work(
        _ state: State, effective: JSON, scope: EvaluationScope, variables: [String: JSON], frame: Frame, attempt: Int
    ) async throws(ExecutionError) -> JSON {
        switch state.kind {
        case .task(let spec): return try await runTask(state, spec, scope: scope, frame: frame, attempt: attempt)
        case .parallel(let branches):
            return try await runParallel(state, branches, scope: scope, variables: variables, frame: frame)
        case .map(let spec): return try await runMap(state, spec, scope: scope, variables: variables, frame: frame)
        default: return effective
        }
    }

    // MARK: - Task

    func runTask(
        _ state: State, _ spec: TaskSpec, scope: EvaluationScope, frame: Frame, attempt: Int
    ) async throws(ExecutionError) -> JSON {
        let parameters = try state.parameters.map { (t) throws(ExecutionError) in try t.evaluate(in: scope) } ?? scope.input
        let timeout = try seconds(spec.timeout, field: "TimeoutSecondsPath", state: state, scope: scope)
        let heartbeat = try seconds(spec.heartbeat, field: "HeartbeatSecondsPath", state: state, scope: scope)
        return try await executeTask(
            state, spec, parameters: parameters, timeout: timeout, heartbeat: heartbeat, context: scope.context, frame: frame,
            attempt: attempt)
    }

    /// Hands a task to the executor, with its effective parameters and limits.
    func executeTask(
        _ state: State, _ spec: TaskSpec, parameters: JSON, timeout: Int?, heartbeat: Int?, context ctx: JSON, frame: Frame,
        attempt: Int
    ) async throws(ExecutionError) -> JSON {
        let request = TaskRequest(
            resource: spec.resource, input: parameters, credentials: spec.credentials, timeoutSeconds: timeout,
            heartbeatSeconds: heartbeat, stateName: state.name, executionID: interpreter.identity.executionID,
            key: "\(frame.path)/\(state.name)#\(attempt)", attempt: attempt,
            context: ctx.isNull
                ? context(state: state, enteredAt: env.clock.now(), frame: frame, retryCount: attempt) : ctx)
        emit(.taskScheduled, state: state.name, input: parameters, resource: spec.resource)
        emit(.taskStarted, state: state.name, resource: spec.resource)
        let executor = env.tasks
        do {
            let output: JSON
            if let timeout {
                output = try await env.clock.withTimeout(seconds: Double(timeout)) { try await executor.execute(request) }
            } else {
                output = try await executor.execute(request)
            }
            emit(.taskSucceeded, state: state.name, output: output, resource: spec.resource)
            return output
        } catch let e as ExecutionError {
            emit(.taskFailed, state: state.name, error: e.error, cause: e.cause, resource: spec.resource)
            throw e
        } catch is ExecutionClockTimeout {
            let e = ExecutionError.timeout("Task timed out after \(timeout ?? 0) seconds")
            emit(.taskTimedOut, state: state.name, error: e.error, cause: e.cause, resource: spec.resource)
            throw e
        } catch is CancellationError {
            throw ExecutionError.cancelled
        } catch {
            let e = ExecutionError.taskFailed(String(describing: error))
            emit(.taskFailed, state: state.name, error: e.error, cause: e.cause, resource: spec.resource)
            throw e
        }
    }

    /// A number, or a string holding one (AWS accepts `"1"` from MaxConcurrencyPath and the like).
    static func numeric(_ v: JSON) -> JSON? {
        if v.isNumber { return v }
        if let s = v.stringValue, let d = Double(s) { return .number(d) }
        return nil
    }

    /// A non-negative count from a literal or a path (ToleratedFailureCount), refused in AWS's words.
    func count(_ source: ValueSource<Int>?, field: String, state: State, scope: EvaluationScope) throws(ExecutionError) -> Int? {
        switch source {
        case nil, .intrinsic?: return nil
        case .literal(let n)?: return n
        case .path(let p)?:
            let value = p.evaluate(in: scope)
            guard let n = value.flatMap(Self.numeric)?.intValue else {
                throw Self.notANumber(value, field: field, path: p, kind: "integer", state: state)
            }
            guard n >= 0 else {
                throw ExecutionError.runtime(
                    "An error occurred while executing the state '\(state.name)'. \(field.dropLast(4)) cannot be negative.")
            }
            return n
        }
    }

    /// `The MaxConcurrencyPath field refers to value "x" which is not a valid integer: $.path`.
    static func notANumber(_ value: JSON?, field: String, path: JSONPath, kind: String, state: State) -> ExecutionError {
        let shown = value.map { $0.stringValue ?? $0.serialized } ?? "null"
        return ExecutionError.runtime(
            "An error occurred while executing the state '\(state.name)'. The \(field) field refers to value \"\(shown)\" which is not a valid \(kind): \(path)")
    }

    func seconds(_ source: ValueSource<Int>?, field: String, state: State, scope: EvaluationScope) throws(ExecutionError) -> Int? {
        switch source {
        case nil, .intrinsic?: return nil
        case .literal(let n)?: return n
        case .path(let p)?:
            guard let v = p.evaluate(in: scope).flatMap(Self.numeric), let n = v.intValue, n > 0 else {
                throw ExecutionError.runtime(
                    "An error occurred while executing the state '\(state.name)'. The value of the field '\(field)' must be a positive integer")
            }
            return n
        }
    }

    // MARK: - Parallel

    func runParallel(
        _ state: State, _ branches: [StateMachine], scope: EvaluationScope, variables: [String: JSON], frame: Frame
    ) async throws(ExecutionError) -> JSON {
        let input = try state.parameters.map { (t) throws(ExecutionError) in try t.evaluate(in: scope) } ?? scope.input
        return try await runBranches(state, branches, input: input, variables: variables, frame: frame)
    }

    /// Runs a Parallel state's branches on one input; the result lists their outputs.
    func runBranches(
        _ state: State, _ branches: [StateMachine], input: JSON, variables: [String: JSON], frame: Frame
    ) async throws(ExecutionError) -> JSON {
        emit(.parallelStateStarted, state: state.name)
        let outcomes: [Result<JSON, ExecutionError>]
        let concurrent = branches.contains { $0.waitsOnTheWorld }
        if concurrent {
            outcomes = await withTaskGroup(of: (Int, Result<JSON, ExecutionError>).self) { group in
                for (i, branch) in branches.enumerated() {
                    let branchFrame = Frame(path: "\(frame.path)/\(state.name)[\(i)]", mapItem: frame.mapItem, topLevel: false)
                    group.addTask {
                        var vars = variables
                        do throws(ExecutionError) {
                            return (i, .success(try await self.runMachine(branch, from: branch.startIndex, input: input, variables: &vars, frame: branchFrame)))
                        } catch {
                            return (i, .failure(error))
                        }
                    }
                }
                var results = [Result<JSON, ExecutionError>?](repeating: nil, count: branches.count)
                for await (i, r) in group {
                    results[i] = r
                    if case .failure = r { group.cancelAll() }
                }
                return results.map { $0 ?? .failure(ExecutionError("States.BranchFailed", "cancelled")) }
            }
        } else {
            var results: [Result<JSON, ExecutionError>] = []
            for (i, branch) in branches.enumerated() {
                var vars = variables
                let branchFrame = Frame(path: "\(frame.path)/\(state.name)[\(i)]", mapItem: frame.mapItem, topLevel: false)
                do {
                    results.append(.success(try await runMachine(branch, from: branch.startIndex, input: input, variables: &vars, frame: branchFrame)))
                } catch {
                    results.append(.failure(error))
                    break
                }
            }
            outcomes = results
        }
        var outputs: [JSON] = []
        outputs.reserveCapacity(outcomes.count)
        for o in outcomes {
            switch o {
            case .success(let v): outputs.append(v)
            case .failure(let e):
                emit(.parallelStateFailed, state: state.name, error: e.error, cause: e.cause)
                throw e
            }
        }
        emit(.parallelStateSucceeded, state: state.name)
        return .array(outputs)
    }

    // MARK: - Map

    func runMap(
        _ state: State, _ spec: MapSpec, scope: EvaluationScope, variables: [String: JSON], frame: Frame
    ) async throws(ExecutionError) -> JSON {
        let fields = FieldScope.jsonPath(scope)
        let itemsValue: JSON
        if let reader = spec.itemReader {
            itemsValue = .array(try await readItems(reader, fields, state: state))
        } else if let p = spec.itemsPath {
            guard let v = p.evaluate(in: scope) else {
                throw ExecutionError.runtime(
                    "An error occurred while executing the state '\(state.name)'. Invalid path '\(p)' : No results for path: \(bracketed(p))")
            }
            itemsValue = v
        } else {
            itemsValue = scope.input
        }
        guard case .array(let items) = itemsValue else {
            throw ExecutionError.runtime(
                "An error occurred while executing the state '\(state.name)'. Items of the Map state must be an array, but the value at ItemsPath is \(itemsValue.typeName): \(itemsValue.serialized)")
        }
        let toleratedCount = try count(spec.toleratedFailureCount, field: "ToleratedFailureCountPath", state: state, scope: scope)
        var toleratedPercentage: Double?
        switch spec.toleratedFailurePercentage {
        case nil, .intrinsic?: break
        case .literal(let d)?: toleratedPercentage = d
        case .path(let p)?:
            let value = p.evaluate(in: scope)
            guard let d = value.flatMap(Self.numeric)?.doubleValue else {
                throw Self.notANumber(value, field: "ToleratedFailurePercentagePath", path: p, kind: "float", state: state)
            }
            guard d >= 0, d <= 100 else {
                throw ExecutionError.runtime(
                    "An error occurred while executing the state '\(state.name)'. ToleratedFailurePercentage must be between 0 and 100.")
            }
            toleratedPercentage = d
        }
        let tolerant = toleratedCount != nil || toleratedPercentage != nil
        var limit = env.defaultMapConcurrency
        if let mc = spec.maxConcurrency {
            switch mc {
            case .literal(let n): limit = n
            case .intrinsic: break
            case .path(let p):
                let value = p.evaluate(in: scope)
                guard let n = value.flatMap(Self.numeric)?.intValue else {
                    throw Self.notANumber(value, field: "MaxConcurrencyPath", path: p, kind: "integer", state: state)
                }
                guard n >= 0 else {
                    throw ExecutionError.runtime(
                        "An error occurred while executing the state '\(state.name)'. MaxConcurrency cannot be negative.")
                }
                if n > 0 { limit = n }
            }
        }
        emit(.mapStateStarted, state: state.name, index: items.count)

        // Selector input per item, evaluated up front so that its errors fail the state.
        var iterationInputs: [JSON] = []
        iterationInputs.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            if let selector = spec.itemSelector {
                var s = scope
                s.context = mapContext(scope.context, state: state, frame: frame, index: i, value: item)
                iterationInputs.append(try selector.evaluate(in: s))
            } else {
                iterationInputs.append(item)
            }
        }

        return try await runMapIterations(
            state, spec, items: items, inputs: iterationInputs, toleratedCount: toleratedCount,
            toleratedPercentage: toleratedPercentage, limit: limit, variables: variables, frame: frame, fields: fields)
    }

    /// Runs a Map state's iterations (after `mapStateStarted`), batched when it has an ItemBatcher,
    /// within its concurrency limit and failure tolerance, and exports or shapes the results when it
    /// has a ResultWriter.
    func runMapIterations(
        _ state: State, _ spec: MapSpec, items: [JSON], inputs: [JSON], toleratedCount: Int?, toleratedPercentage: Double?,
        limit: Int, variables: [String: JSON], frame: Frame, fields: FieldScope
    ) async throws(ExecutionError) -> JSON {
        var items = items
        var inputs = inputs
        // With batches, a failed iteration counts as many failures as it held items.
        var weights: [Int]?
        if let batcher = spec.itemBatcher {
            let (batches, sizes) = try batch(inputs, batcher, fields, state: state)
            items = batches
            inputs = batches
            weights = sizes
        }
        let processor = spec.processor
        let tolerant = toleratedCount != nil || toleratedPercentage != nil
        let runOne: @Sendable (Int) async -> IterationOutcome = { [self, items, inputs] i in
            let itemFrame = Frame(path: "\(frame.path)/\(state.name)[\(i)]", mapItem: (i, items[i]), topLevel: false)
            var vars = variables
            let started = env.clock.now()
            emit(.mapIterationStarted, state: state.name, index: i)
            do throws(ExecutionError) {
                let out = try await runMachine(processor, from: processor.startIndex, input: inputs[i], variables: &vars, frame: itemFrame)
                emit(.mapIterationSucceeded, state: state.name, index: i)
                return IterationOutcome(result: .success(out), started: started, stopped: env.clock.now())
            } catch {
                emit(.mapIterationFailed, state: state.name, error: error.error, cause: error.cause, index: i)
                return IterationOutcome(result: .failure(error), started: started, stopped: env.clock.now())
            }
        }

        var results = [IterationOutcome?](repeating: nil, count: inputs.count)
        let total = weights?.reduce(0, +) ?? inputs.count
        var failures = 0
        var firstFailure: ExecutionError?
        func record(_ i: Int, _ outcome: IterationOutcome) {
            results[i] = outcome
            if case .failure(let e) = outcome.result {
                failures += weights?[i] ?? 1
                if firstFailure == nil { firstFailure = e }
            }
        }
        func exceeded() -> Bool {
            guard tolerant else { return failures > 0 }
            if let c = toleratedCount, failures > c { return true }
            if let p = toleratedPercentage, total > 0, Double(failures) * 100 / Double(total) > p { return true }
            return false
        }
        if !spec.processorWaits || limit == 1 {
            for i in inputs.indices {
                record(i, await runOne(i))
                if exceeded() { break }
            }
        } else {
            let width = max(1, limit)
            await withTaskGroup(of: (Int, IterationOutcome).self) { group in
                var nextIndex = 0
                while nextIndex < inputs.count && nextIndex < width {
                    let i = nextIndex
                    group.addTask { (i, await runOne(i)) }
                    nextIndex += 1
                }
                for await (i, outcome) in group {
                    record(i, outcome)
                    if exceeded() {
                        group.cancelAll()
                        break
                    }
                    if nextIndex < inputs.count {
                        let j = nextIndex
                        group.addTask { (j, await runOne(j)) }
                        nextIndex += 1
                    }
                }
            }
        }
        var failure: ExecutionError?
        if exceeded(), let e = firstFailure {
            failure = tolerant ? .exceedToleratedFailureThreshold("The specified tolerated failure threshold was exceeded") : e
        }
        // Results are exported even when the Map fails, as AWS does.
        var written: JSON?
        if let writer = spec.resultWriter {
            written = try await writeResults(writer, fields, state: state, label: spec.label, inputs: inputs, outcomes: results)
        }
        if let failure {
            emit(.mapStateFailed, state: state.name, error: failure.error, cause: failure.cause)
            throw failure
        }
        emit(.mapStateSucceeded, state: state.name)
        if let written { return written }
        var outputs: [JSON] = []
        outputs.reserveCapacity(results.count)
        for r in results {
            switch r?.result {
            case .success(let v)?: outputs.append(v)
            case .failure(let e)?: outputs.append(.object(JSONObject([("Error", .string(e.error)), ("Cause", .string(e.cause))])))
            case nil: outputs.append(.null)
            }
        }
        return .array(outputs)
    }

    func mapContext(_ base: JSON, state: State, frame: Frame, index: Int, value: JSON) -> JSON {
        var ctx: JSONObject
        if case .object(let o) = base {
            ctx = o
        } else if case .object(let o) = context(state: state, enteredAt: env.clock.now(), frame: frame, retryCount: 0) {
            ctx = o
        } else {
            ctx = JSONObject()
        }
        ctx["Map"] = ["Item": .object(JSONObject([("Index", .int(index)), ("Value", value)]))]
        return .object(ctx)
    }
}
