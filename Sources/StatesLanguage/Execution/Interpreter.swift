public import Foundation
import Synchronization

extension JSON {
    /// AWS's payload limit: 256 KiB of UTF-8 JSON text.
    static let payloadLimit = 262_144

    /// Whether this value's JSON text is longer than the payload limit, counted without
    /// building the text and stopping as soon as the answer is known.
    var exceedsPayloadLimit: Bool {
        var budget = JSON.payloadLimit
        return !fits(&budget)
    }

    private func fits(_ budget: inout Int) -> Bool {
        switch self {
        case .null: budget -= 4
        case .bool(let b): budget -= b ? 4 : 5
        case .int(let i):
            var n = i < 0 ? 2 : 1
            var m = i.magnitude
            while m >= 10 {
                m /= 10
                n += 1
            }
            budget -= n
        case .double: budget -= 24
        case .string(let s): budget -= s.utf8.count + 2
        case .array(let a):
            budget -= a.count + 1
            for v in a where budget >= 0 { if !v.fits(&budget) { return false } }
        case .object(let o):
            budget -= o.count * 2 + 1
            for (k, v) in o.pairs where budget >= 0 {
                budget -= k.utf8.count + 2
                if !v.fits(&budget) { return false }
            }
        }
        return budget >= 0
    }
}

/// How an execution ended.
public struct ExecutionResult: Sendable {
    public enum Status: String, Sendable {
        case succeeded = "SUCCEEDED"
        case failed = "FAILED"
        case timedOut = "TIMED_OUT"
    }
    public var status: Status
    public var output: JSON?
    /// The error name; nil for a Fail state that names none.
    public var error: String?
    public var cause: String?
    public var history: [HistoryEvent]
    public var transitions: Int

    public init(
        status: Status, output: JSON?, error: String?, cause: String?, history: [HistoryEvent] = [], transitions: Int = 0
    ) {
        self.status = status
        self.output = output
        self.error = error
        self.cause = cause
        self.history = history
        self.transitions = transitions
    }

    /// `{"status":"SUCCEEDED","output":...}` or `{"status":"FAILED","error":...,"cause":...}`,
    /// the object `stepgate run --format json` prints.
    public var json: JSON {
        var o = JSONObject()
        o["status"] = .string(status.rawValue)
        switch status {
        case .succeeded:
            o["output"] = output ?? .null
        case .failed, .timedOut:
            o["error"] = error.map(JSON.string) ?? .null
            o["cause"] = cause.map(JSON.string) ?? .null
        }
        return .object(o)
    }
}

/// Everything an execution needs from the outside, injected.
public struct ExecutionEnvironment: Sendable {
    public var clock: any ExecutionClock
    public var tasks: any TaskExecutor
    public var observer: (any ExecutionObserver)?
    /// Keep the history in the result (an observer receives it either way).
    public var recordHistory: Bool
    public var random: @Sendable () -> UInt64
    /// How many Map iterations run at once when the definition sets no limit.
    public var defaultMapConcurrency: Int
    /// The buckets of ItemReader and ResultWriter; without one, a Map that names a bucket fails.
    public var objects: (any ObjectStore)?

    public init(
        clock: any ExecutionClock = SystemClock(), tasks: any TaskExecutor = NoTaskExecutor(),
        observer: (any ExecutionObserver)? = nil, recordHistory: Bool = true,
        random: @escaping @Sendable () -> UInt64 = { UInt64.random(in: .min ... .max) },
        defaultMapConcurrency: Int = 40, objects: (any ObjectStore)? = nil
    ) {
        self.clock = clock
        self.tasks = tasks
        self.observer = observer
        self.recordHistory = recordHistory
        self.random = random
        self.defaultMapConcurrency = defaultMapConcurrency
        self.objects = objects
    }
}

/// Identity of an execution as the context object (`$$.Execution`, `$$.StateMachine`) shows it.
public struct ExecutionIdentity: Sendable {
    public var executionID: String
    public var name: String
    public var stateMachineID: String
    public var stateMachineName: String
    public var roleArn: String?

    public init(
        executionID: String, name: String, stateMachineID: String = "stepgate:local", stateMachineName: String = "local",
        roleArn: String? = nil
    ) {
        self.executionID = executionID
        self.name = name
        self.stateMachineID = stateMachineID
        self.stateMachineName = stateMachineName
        self.roleArn = roleArn
    }
}

/// Runs a ``StateMachine``: the States Language's semantics, with time, tasks and randomness
/// injected, so the same inputs always give the same history.
public struct Interpreter: Sendable {
    public var machine: StateMachine
    public var identity: ExecutionIdentity
    public var environment: ExecutionEnvironment

    public init(machine: StateMachine, identity: ExecutionIdentity, environment: ExecutionEnvironment) {
        self.machine = machine
        self.identity = identity
        self.environment = environment
    }

    /// Runs an execution from its start.
    public func run(input: JSON) async -> ExecutionResult {
        let run = ExecutionRun(interpreter: self, executionInput: input, startTime: environment.clock.now())
        run.emit(.executionStarted, input: input)
        return await run.finish(from: machine.startIndex, input: input, variables: [:], transitions: 0)
    }

    /// Resumes an execution from a checkpoint (after a crash). The history before the
    /// checkpoint is not repeated; tasks that finished must be answered by the task executor
    /// from its record (see ``TaskRequest/key``).
    public func resume(from checkpoint: Checkpoint, executionInput: JSON, startTime: Date) async -> ExecutionResult {
        let run = ExecutionRun(interpreter: self, executionInput: executionInput, startTime: startTime)
        run.setEventCount(checkpoint.eventCount)
        guard let name = checkpoint.stateName, let index = machine.indexByName[name] else {
            return ExecutionResult(
                status: .failed, output: nil, error: "States.Runtime", cause: "the checkpoint names no state to resume",
                history: [], transitions: checkpoint.transitions)
        }
        return await run.finish(
            from: index, input: checkpoint.input, variables: checkpoint.variables, transitions: checkpoint.transitions)
    }
}

/// The mutable side of one execution: the history and the transition count. Shared by the
/// concurrent branches of Parallel and Map states, hence the lock.
final class ExecutionRun: @unchecked Sendable {
    let interpreter: Interpreter
    let executionInput: JSON
    let startTime: Date
    private let lock = NSLock()
    /// The history so far. One array, handed to the result without copying; growing it moves
    /// events (no reference counting), which costs less than gathering chunks at the end.
    private var recorded: [HistoryEvent] = []
    private var lastEventID = 0
    private let transitionCount = Atomic<Int>(0)

    var machine: StateMachine { interpreter.machine }
    var env: ExecutionEnvironment { interpreter.environment }

    init(interpreter: Interpreter, executionInput: JSON, startTime: Date) {
        self.interpreter = interpreter
        self.executionInput = executionInput
        self.startTime = startTime
    }

    func setEventCount(_ n: Int) {
        lastEventID = n
    }

    /// The history recorded so far, in order.
    var events: [HistoryEvent] {
        lock.lock()
        defer { lock.unlock() }
        return recorded
    }

    var transitions: Int { transitionCount.load(ordering: .relaxed) }

    @discardableResult
    func emit(
        _ type: HistoryEventType, state: String? = nil, input: JSON? = nil, output: JSON? = nil, error: String? = nil,
        cause: String? = nil, resource: String? = nil, index: Int? = nil, at time: Date? = nil
    ) -> Int {
        let keep = env.recordHistory
        let observer = env.observer
        if !keep && observer == nil {
            lock.lock()
            lastEventID += 1
            let id = lastEventID
            lock.unlock()
            return id
        }
        let now = time ?? env.clock.now()
        lock.lock()
        lastEventID += 1
        let id = lastEventID
        recorded.append(
            HistoryEvent(
                id: id, timestamp: now, type: type, stateName: state, input: input,
                output: output, error: error, cause: cause, resource: resource, index: index))
        let event = observer == nil ? nil : recorded[recorded.count - 1]
        if !keep { recorded.removeLast() }
        lock.unlock()
        if let event { observer?.record(event) }
        return id
    }

    func countTransition() {
        transitionCount.add(1, ordering: .relaxed)
    }

    var eventCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return lastEventID
    }

    /// Runs the top level to its end and turns the outcome into a result.
    func finish(from index: Int, input: JSON, variables: [String: JSON], transitions start: Int) async -> ExecutionResult {
        transitionCount.store(start, ordering: .relaxed)
        var vars = variables
        let frame = Frame(path: "", mapItem: nil, topLevel: true)
        let outcome: Result<JSON, ExecutionError>
        if let limit = machine.timeoutSeconds {
            let machine = self.machine
            let initialVariables = vars
            do {
                let value = try await env.clock.withTimeout(seconds: Double(limit)) { [self] in
                    var v = initialVariables
                    return try await self.runMachine(machine, from: index, input: input, variables: &v, frame: frame)
                }
                outcome = .success(value)
            } catch let e as ExecutionError {
                outcome = .failure(e)
            } catch {
                emit(.executionTimedOut, error: "States.Timeout", cause: "The execution timed out")
                return ExecutionResult(
                    status: .timedOut, output: nil, error: "States.Timeout", cause: "The execution timed out",
                    history: events, transitions: transitions)
            }
        } else {
            do {
                outcome = .success(try await runMachine(machine, from: index, input: input, variables: &vars, frame: frame))
            } catch {
                outcome = .failure(error)
            }
        }
        switch outcome {
        case .success(let output):
            emit(.executionSucceeded, output: output)
            env.observer?.checkpoint(
                Checkpoint(stateName: nil, input: output, variables: vars, eventCount: eventCount, transitions: transitions))
            return ExecutionResult(
                status: .succeeded, output: output, error: nil, cause: nil, history: events, transitions: transitions)
        case .failure(let e):
            let name: String? = e.error.isEmpty ? nil : e.error
            let cause: String? = e.causeIsAbsent ? nil : e.cause
            emit(.executionFailed, error: name, cause: cause)
            env.observer?.checkpoint(
                Checkpoint(stateName: nil, input: .null, variables: vars, eventCount: eventCount, transitions: transitions))
            return ExecutionResult(
                status: .failed, output: nil, error: name, cause: cause, history: events, transitions: transitions)
        }
    }

    /// Where in the execution a machine runs: the path of Parallel branches and Map iterations
    /// leading to it (for task keys), and the current Map item.
    struct Frame: Sendable {
        var path: String
        var mapItem: (index: Int, value: JSON)?
        var topLevel: Bool
    }

    /// Runs states from `index` until a terminal state; returns the machine's output.
    func runMachine(
        _ m: StateMachine, from start: Int, input: JSON, variables: inout [String: JSON], frame: Frame
    ) async throws(ExecutionError) -> JSON {
        var index = start
        var current = input
        while true {
            try Self.checkCancellation()
            let state = m.states[index]
            let (output, next) =
                state.isImmediate
                ? try runImmediateState(state, input: current, variables: &variables, frame: frame)
                : try await runState(state, input: current, variables: &variables, frame: frame)
            // Choice, Wait and Succeed pass on (a part of) their input, which was measured already.
            if state.mayGrowPayload && output.exceedsPayloadLimit {
                throw ExecutionError(
                    "States.DataLimitExceeded",
                    "The state/task '\(state.name)' returned a result with a size exceeding the maximum number of bytes service limit.")
            }
            countTransition()
            guard let next else { return output }
            index = next
            current = output
            if frame.topLevel, let observer = env.observer {
                observer.checkpoint(
                    Checkpoint(
                        stateName: m.states[next].name, input: current, variables: variables, eventCount: eventCount,
                        transitions: transitions))
            }
        }
    }

    /// Sleeps on the injected clock; a cancelled sleep ends the execution.
    func sleep(seconds: Double) async throws(ExecutionError) {
        do { try await env.clock.sleep(seconds: seconds) } catch { throw ExecutionError.cancelled }
    }

    static func checkCancellation() throws(ExecutionError) {
        if Task.isCancelled { throw ExecutionError.cancelled }
    }
}

extension ExecutionError {
    /// States.Runtime and States.DataLimitExceeded end the execution: no Retry or Catch applies.
    var isUncatchable: Bool { error == "States.Runtime" || error == "States.DataLimitExceeded" }

    /// A Fail state without Cause: the cause is absent, not empty.
    var causeIsAbsent: Bool { cause == ExecutionError.absentCause }
    static let absentCause = "\u{0}absent"

    /// The `{"Error", "Cause"}` object a Catch hands to its ResultPath or Output.
    var catchOutput: JSON {
        .object(JSONObject([("Error", .string(error)), ("Cause", .string(causeIsAbsent ? "" : cause))]))
    }
}
