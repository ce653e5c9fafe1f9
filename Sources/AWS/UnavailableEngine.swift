public import Runtime
public import StatesLanguage
public import Store

/// An engine that could not be set up (no credentials): each run it is given is recorded as failed with the reason.
public struct UnavailableEngine: RemoteEngine {
    public var reason: String

    public init(reason: String) { self.reason = reason }

    public func run(_ run: RemoteRun) async throws(StoreError) -> ExecutionResult {
        if try await run.store.execution(id: run.id) == nil { try await run.store.createExecution(run.record) }
        let result = ExecutionResult(status: .failed, output: nil, error: "stepgate.EngineUnavailable", cause: reason)
        try await run.store.finishExecution(id: run.id, ExecutionEnding(status: .failed, error: result.error, cause: result.cause))
        return result
    }
}
