import Foundation
import StatesLanguage
import Store

/// Runs each task at most once per (execution, ``TaskRequest/key``): a finished task's result or
/// error is recorded, with its audit entry, and returned from the record when the execution is
/// replayed after a crash.
struct MemoisingTaskExecutor: TaskExecutor {
    let store: any ExecutionStore
    let executionID: String
    let inner: any TaskExecutor
    let observer: PersistingObserver
    let repository: String
    let revision: String
    let redact: (@Sendable (String) -> String)?

    func execute(_ request: TaskRequest) async throws -> JSON {
        do { try await observer.flush() } catch { throw ExecutionError.runtime("the store failed: \(error.message)") }
        let remembered: TaskOutcome?
        do { remembered = try await store.taskResult(executionID: executionID, key: request.key) } catch {
            throw ExecutionError.runtime("the store failed: \(error.message)")
        }
        if let remembered { return try Self.replay(remembered) }

        let outcome: TaskOutcome
        do {
            outcome = .succeeded(try await inner.execute(request))
        } catch let e as ExecutionError {
            if Task.isCancelled { throw e }
            outcome = .failed(error: e.error, cause: e.cause)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw error }
            outcome = .failed(error: "States.TaskFailed", cause: String(describing: error))
        }
        // A task cut off by its timeout did not finish: nothing to remember.
        if Task.isCancelled { return try Self.replay(outcome) }

        let result: String
        switch outcome {
        case .succeeded: result = "succeeded"
        case .failed(let e, _): result = "failed: \(e)"
        }
        var entry = AuditEntry(
            actor: "stepgate", repository: repository, revision: revision,
            role: request.credentials?["RoleArn"]?.stringValue ?? "", action: "task.run",
            target: "\(request.resource) (state \(request.stateName), execution \(executionID))", result: result)
        if let redact { entry = entry.redacted(by: redact) }
        do {
            try await store.recordTaskResult(executionID: executionID, key: request.key, outcome: outcome, audit: entry)
        } catch {
            throw ExecutionError.runtime("the store failed to record task \(request.key): \(error.message)")
        }
        return try Self.replay(outcome)
    }

    static func replay(_ outcome: TaskOutcome) throws(ExecutionError) -> JSON {
        switch outcome {
        case .succeeded(let value): return value
        case .failed(let error, let cause): throw ExecutionError(error, cause)
        }
    }
}
