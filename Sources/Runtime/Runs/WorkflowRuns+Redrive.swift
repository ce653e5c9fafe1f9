public import Foundation
import Config
public import StatesLanguage
public import Store

/// Why an execution cannot be redriven (AWS's `ExecutionNotRedrivable`, with its reasons).
public struct NotRedrivable: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

extension WorkflowRuns {
    /// AWS's limits on redriving: how long after it ended, how many events, how many times.
    public static let redrivablePeriod: TimeInterval = 14 * 24 * 3600
    public static let redriveEventLimit = 25_000
    public static let redriveLimit = 1000

    /// Redrives an ended execution from the state it failed in, as AWS's RedriveExecution does: the same id,
    /// definition and input; the steps that succeeded are not run again (their task results are kept, also inside
    /// the Parallel or Map state that failed, so only its failed branches and iterations run again), the failed
    /// state and what follows run again. FAILED, TIMED_OUT and ABORTED executions can be redriven, within 14 days of
    /// their end, up to 1,000 times.
    ///
    /// The front door decides as for any run: the plan stored with the execution is rebuilt and its roles are
    /// granted anew by the current policy before anything changes; a refusal leaves the execution as it was (the
    /// outcome says `refused`). Every redrive, refused or not, is audited with `actor`. When the execution belongs to
    /// a review, its report is handed back to the bot once the redriven execution ends, so that the new outcome is
    /// reported on its revision (if that is still current).
    /// - Throws: ``NotRedrivable`` when the execution cannot be redriven, ``Store/StoreError`` when the store fails.
    public func redrive(id: String, actor: String, clock: any ExecutionClock = SystemClock()) async throws -> RunOutcome {
        guard let store else { throw StoreError(.badLocation, "redriving needs a store") }
        guard let record = try await store.execution(id: id) else {
            throw StoreError(.notFound, "\(store.path): no execution \(id)")
        }
        let plan = try Self.redrivable(record, at: clock.now(), events: try await store.events(executionID: id).count)
        let entry: @Sendable (String, String) -> AuditEntry = { result, what in
            AuditEntry(
                actor: actor, repository: record.repository ?? "", revision: record.revision ?? "", action: "execution.redrive",
                target: "execution \(id)\(what)", result: result)
        }
        if case .failure(let refusal) = authorize(plan) {
            try await AuditLog(store: store).append(entry("refused: \(refusal.error)", ""))
            let result = ExecutionResult(status: .failed, output: nil, error: refusal.error, cause: refusal.cause)
            return RunOutcome(id: id, workflow: record.workflow, result: result, refused: true)
        }
        let startAt = plan.definition.machine.startAt
        // Under the execution's lease from the redrive on: no other process resumes it between the two.
        return try await leased(id, store: store) { () async throws(StoreError) -> RunOutcome in
            let point =
                try await store.redrivePoint(executionID: id)
                ?? Checkpoint(stateName: startAt, input: record.input, variables: [:], eventCount: 0, transitions: 0)
            let now = clock.now()
            let count = try await store.beginRedrive(
                executionID: id, from: [.failed, .timedOut, .aborted], point: point,
                event: { seq, count in
                    var json = HistoryEvent(id: seq, timestamp: now, type: .executionRedriven).json.objectValue ?? JSONObject()
                    json["executionRedrivenEventDetails"] = .object(JSONObject([("redriveCount", .int(count))]))
                    return StoredEvent(seq: seq, type: HistoryEventType.executionRedriven.rawValue, json: .object(json))
                },
                audit: entry("redriven", " from state \(point.stateName ?? startAt)"))
            let outcome = try await resume(id: id, clock: clock)
            if !outcome.stopped {
                try await store.reopenBotReport(executionID: id, detail: "redriven (\(count))")
            }
            return outcome
        }
    }

    /// The plan an ended execution is redriven with, or why it cannot be.
    static func redrivable(_ record: ExecutionRecord, at now: Date, events: Int) throws -> RunPlan {
        switch record.status {
        case .running, .succeeded:
            throw NotRedrivable("Execution is \(record.status.rawValue) and cannot be redriven.")
        case .failed, .timedOut, .aborted:
            break
        }
        if now.timeIntervalSince(record.finished ?? record.started) > redrivablePeriod {
            throw NotRedrivable("Execution redrivable period exceeded (14 days after it ended).")
        }
        if events >= redriveEventLimit { throw NotRedrivable("Execution history event limit exceeded.") }
        if record.redriveCount >= redriveLimit { throw NotRedrivable("Execution was redriven \(redriveLimit) times already.") }
        guard let stored = record.plan else {
            throw NotRedrivable("Execution was refused before it started (no run plan is stored); start it again instead.")
        }
        let view = ExecutionRecordView(
            id: record.id, workflow: record.workflow, definition: record.definition, trigger: record.trigger, input: record.input)
        switch RunPlan.restore(stored, record: view) {
        case .failure(let refusal): throw NotRedrivable("Execution cannot be rebuilt: \(refusal.description)")
        case .success(let plan):
            guard plan.request.resumable else {
                throw NotRedrivable("Execution was a push gate; the push it judged was decided when it ended.")
            }
            return plan
        }
    }
}
