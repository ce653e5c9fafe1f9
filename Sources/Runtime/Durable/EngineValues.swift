import Foundation
public import StatesLanguage
public import Store

extension StoredCheckpoint {
    public init(_ c: Checkpoint) {
        self.init(
            stateName: c.stateName, input: c.input, variables: c.variables, eventCount: c.eventCount,
            transitions: c.transitions)
    }

    /// The engine's checkpoint for this stored one.
    public func checkpoint() async -> Checkpoint {
        var c = await EngineValues.blankCheckpoint()
        c.stateName = stateName
        c.input = input
        c.variables = variables
        c.eventCount = eventCount
        c.transitions = transitions
        return c
    }
}

/// `Checkpoint` and `ExecutionResult` have public fields but no public initializers (their
/// memberwise inits are internal to StatesLanguage). To build one outside the engine we capture a
/// value the engine itself makes (a tiny machine on a virtual clock: no I/O, microseconds) and
/// overwrite its fields.
/// TODO: replace with public initializers in StatesLanguage.
enum EngineValues {
    private final class Capture: ExecutionObserver, @unchecked Sendable {
        let lock = NSLock()
        var first: Checkpoint?
        func record(_ event: HistoryEvent) {}
        func checkpoint(_ checkpoint: Checkpoint) { lock.withLock { if first == nil { first = checkpoint } } }
    }

    private static func object(_ pairs: [(String, JSON)]) -> JSON { .object(JSONObject(pairs)) }

    private static func run(_ states: JSON) async -> (ExecutionResult, Checkpoint?) {
        let definition = object([("StartAt", .string("A")), ("States", states)])
        let capture = Capture()
        guard let machine = try? StateMachineCompiler.compile(definition) else { fatalError("template machine does not compile") }
        let interpreter = Interpreter(
            machine: machine, identity: ExecutionIdentity(executionID: "template", name: "template"),
            environment: ExecutionEnvironment(clock: VirtualClock(), observer: capture, recordHistory: false))
        let result = await interpreter.run(input: .null)
        return (result, capture.lock.withLock { capture.first })
    }

    static func blankCheckpoint() async -> Checkpoint {
        let states = object([
            ("A", object([("Type", .string("Pass")), ("Next", .string("B"))])), ("B", object([("Type", .string("Succeed"))])),
        ])
        guard let c = await run(states).1 else { fatalError("template machine made no checkpoint") }
        return c
    }

    /// A result that no interpreter produced (a definition that no longer compiles, an ending
    /// recovered from the store).
    static func result(
        status: ExecutionResult.Status, output: JSON? = nil, error: String?, cause: String?, transitions: Int
    ) async -> ExecutionResult {
        var r = await run(object([("A", object([("Type", .string("Fail")), ("Error", .string("X"))]))])).0
        r.status = status
        r.output = output
        r.error = error
        r.cause = cause
        r.history = []
        r.transitions = transitions
        return r
    }
}
