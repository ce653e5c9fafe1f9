import Foundation
import StatesLanguage
import Store

/// Persists an execution as the interpreter runs it: events are buffered, and each top-level
/// checkpoint writes the buffered events, the checkpoint (and, at the end, the execution's
/// ending) in ONE transaction.
///
/// The interpreter calls the observer synchronously, so the writes are handed to a chain of
/// tasks that run in order; ``flush()`` waits for all of them. The task executor flushes before
/// every task, so a task's side effects never precede the checkpoint that leads to it.
///
/// Once the run's task is cancelled (the process is stopping, or the run was ended from outside),
/// nothing more is written: what the interpreter records while it unwinds (a task cut off, the
/// execution "failing" of it) is not the execution's history, which stays at its last checkpoint,
/// RUNNING, to be resumed.
final class PersistingObserver: ExecutionObserver, @unchecked Sendable {
    let store: any ExecutionStore
    let executionID: String
    private let lock = NSLock()
    private var buffer: [StoredEvent] = []
    private var ending: ExecutionEnding?
    private var tail: Task<Void, Never>?
    private var failure: StoreError?

    init(store: any ExecutionStore, executionID: String) {
        self.store = store
        self.executionID = executionID
    }

    func record(_ event: HistoryEvent) {
        let stored = StoredEvent(seq: event.id, type: event.type.rawValue, json: event.json)
        var end: ExecutionEnding?
        switch event.type {
        case .executionSucceeded: end = ExecutionEnding(status: .succeeded, output: event.output)
        case .executionFailed: end = ExecutionEnding(status: .failed, error: event.error, cause: event.cause)
        case .executionTimedOut: end = ExecutionEnding(status: .timedOut, error: event.error, cause: event.cause)
        default: break
        }
        lock.withLock {
            buffer.append(stored)
            if let end { ending = end }
        }
    }

    func checkpoint(_ checkpoint: Checkpoint) {
        if Task.isCancelled {
            lock.withLock { buffer = [] }
            return
        }
        enqueue(checkpoint: checkpoint, finalEnding: checkpoint.stateName == nil)
    }

    /// Writes whatever is still buffered (the events after the last checkpoint) with `ending`.
    func finish(_ ending: ExecutionEnding) async throws(StoreError) {
        lock.withLock { if self.ending == nil { self.ending = ending } }
        enqueue(checkpoint: nil, finalEnding: true)
        try await flush()
    }

    private func enqueue(checkpoint: StoredCheckpoint?, finalEnding: Bool) {
        lock.withLock {
            let events = buffer
            buffer = []
            let end = finalEnding ? ending : nil
            let previous = tail
            let store = self.store
            let id = executionID
            tail = Task { [weak self] in
                await previous?.value
                do throws(StoreError) {
                    try await store.recordTransition(executionID: id, events: events, checkpoint: checkpoint, ending: end)
                } catch {
                    self?.fail(error)
                }
            }
        }
    }

    private func fail(_ error: StoreError) {
        lock.withLock { if failure == nil { failure = error } }
    }

    /// Waits until every transition handed over so far is written; throws the first write error.
    func flush() async throws(StoreError) {
        let pending = lock.withLock { tail }
        await pending?.value
        if let failure = lock.withLock({ failure }) { throw failure }
    }
}
