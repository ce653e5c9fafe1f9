import Foundation
public import Logging
import Runtime
import StatesLanguage
import Store

// Failures that stop a run for a review reach the review once, as a comment: a refused revision (its notice, posted
// exactly once per key, found again on the server after a crash), and a run that cannot go on (failed and reported
// through the execution's own report).
extension BotEngine {
    /// Posts `message` on `target` once per `key`: `posting` is recorded before the post and `posted` after it; a
    /// `posting` left by a crash is resolved by looking for the notice (it ends with `Notice: <key>`) on the server.
    func postOnce(key: String, message: String, on target: ReviewTarget, platform: any ReviewPlatform, logger: Logger)
        async throws
    {
        let markers = StoreMarkers(store: store)
        let marker = "notice|\(target.server)|\(key)"
        let state = try await markers.marker(marker)
        if state == "posted" { return }
        if state == "posting", try await platform.hasReported(executionID: "Notice: \(key)", on: target, logger: logger) {
            try await markers.setMarker(marker, "posted")
            return
        }
        try await markers.setMarker(marker, "posting")
        try await platform.postNotice(message + "\nNotice: \(key)", on: target, logger: logger)
        try await markers.setMarker(marker, "posted")
        try await audit(target: target, action: "review.write", what: "notice \(key)", result: "posted")
        logger.info("posted a notice", metadata: ["notice": "\(key)"])
    }

    /// Ends an execution whose run cannot go on (the platform says the error is permanent) as failed, so that it is
    /// reported once like any other outcome instead of being retried every cycle.
    /// - Returns: whether the execution was ended.
    func failPermanently(_ id: String, error: any Error, logger: Logger) async -> Bool {
        guard let record = try? await store.botReport(executionID: id), let stored = StoredTrigger.decode(record.target),
            let platform = platform(named: stored.target.server), platform.isPermanent(error)
        else { return false }
        if let execution = try? await store.execution(id: id), execution.status != .running { return false }
        do {
            let trigger = (try? JSONParser.parse(stored.event)) ?? .null
            if try await store.execution(id: id) == nil {
                try await store.createExecution(
                    NewExecution(
                        id: id, workflow: record.workflow, repository: stored.target.repository, revision: record.commitID,
                        trigger: trigger, input: trigger, definition: ""))
            }
            try await store.finishExecution(id: id, ExecutionEnding(status: .failed, error: "stepgate.RunFailed", cause: "\(error)"))
            metrics.execution(server: stored.target.server, outcome: "failed")
            logger.warning("the run cannot go on; it is reported as failed", metadata: ["error": "\(error)"])
            return true
        } catch {
            logger.error("could not record the failed run", metadata: ["error": "\(error)"])
            return false
        }
    }
}
