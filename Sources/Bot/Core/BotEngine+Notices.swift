import Foundation
public import Logging
import ReviewClients
import Runtime
import StatesLanguage
import Store
import Synchronization

// What the bot writes on reviews besides reports goes through one outbox (the store's `bot_notices`): a cancellation,
// a refused revision, validation comments, a recheck that runs nothing, an approval command that was ignored, the
// interim comments of a running execution. Each is recorded first, then posted, and found again on the server by the
// `Notice: KEY` line it ends with: exactly once, even across crashes, timeouts and answers lost on the way. A failure
// that stops a review's run therefore reaches the review once, never only a log.
extension BotEngine {
    /// Records a notice for `target` (once per `key`) and posts it now; when posting fails, the outbox tries again
    /// on the next cycle (``deliverNotices(server:logger:)``).
    func notify(
        key: String, message: String, findings: [ReviewFinding] = [], commentID: Int? = nil, on target: ReviewTarget,
        platform: any ReviewPlatform, logger: Logger
    ) async throws {
        let findingsJSON = findings.isEmpty ? nil : String(decoding: try JSONEncoder().encode(findings), as: UTF8.self)
        // A notice posted before the outbox existed was marked among the dedupe keys.
        let posted = try await store.dedupeKey("marker|notice|\(target.server)|\(key)") == "posted"
        let notice = try await store.enqueueBotNotice(
            BotNoticeRecord(
                key: key, server: target.server, target: StoredTrigger.encode(target), message: message, findings: findingsJSON,
                commentID: commentID, state: posted ? "posted" : "pending"))
        do {
            try await deliver(notice, platform: platform, logger: logger)
        } catch {
            metrics.apiError(server: target.server, kind: Self.kind(of: error))
            logger.warning(
                "a notice could not be posted yet; it is posted on a later cycle", metadata: ["notice": "\(key)", "error": "\(error)"])
        }
    }

    /// Posts the notices of `server` not known to be on their reviews (oldest first); stops at the first failure.
    public func deliverNotices(server: String, logger: Logger) async {
        guard let platform = platform(named: server) else { return }
        do {
            for notice in try await store.unpostedBotNotices(server: server) {
                try await deliver(notice, platform: platform, logger: logger)
            }
        } catch {
            metrics.apiError(server: server, kind: Self.kind(of: error))
            logger.warning("notices could not be posted yet", metadata: ["error": "\(error)"])
        }
    }

    /// Posts one notice once: a post whose outcome is unknown (`posting`) is looked for on the server once it can no
    /// longer land, and made again only when it is not there. One task of one process posts a notice at a time: the
    /// task holds it in this process, and the process holds the lease `notice:KEY` in the store, so that replicas
    /// sharing the store never post it side by side; a notice another replica holds is left to it.
    func deliver(_ notice: BotNoticeRecord, platform: any ReviewPlatform, logger: Logger) async throws {
        guard Self.unposted(notice.state), let target = StoredTrigger.decodeTarget(notice.target) else { return }
        guard delivering.withLock({ $0.insert(notice.key).inserted }) else { return }
        defer { _ = delivering.withLock { $0.remove(notice.key) } }
        let outcome = try await Leases.holding("notice:\(notice.key)", in: store, settings: leases) {
            () async throws(StoreError) -> Result<Void, any Error> in
            do {
                try await self.post(notice, on: target, platform: platform, logger: logger)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        guard let outcome else {
            logger.debug("another replica is posting this notice", metadata: ["notice": "\(notice.key)"])
            return
        }
        try outcome.get()
    }

    /// ``deliver(_:platform:logger:)`` once this process holds the notice.
    private func post(_ notice: BotNoticeRecord, on target: ReviewTarget, platform: any ReviewPlatform, logger: Logger)
        async throws
    {
        let mark = "Notice: \(notice.key)"
        // Read again: another task may have posted it meanwhile.
        guard let current = try await store.botNotice(key: notice.key), Self.unposted(current.state) else { return }
        if current.state == "posting",
            try await landed(mark, since: current.postingSince ?? current.created, on: target, platform: platform, logger: logger)
        {
            try await store.setBotNoticeState(key: notice.key, state: "posted")
            return
        }
        try await store.setBotNoticeState(key: notice.key, state: "posting")
        let text = current.message + "\n" + mark
        do {
            if let findings = current.findings.flatMap({ try? JSONDecoder().decode([ReviewFinding].self, from: Data($0.utf8)) }),
                !findings.isEmpty
            {
                try await platform.postFindings(findings, message: text, on: target, logger: logger)
            } else {
                try await platform.postNotice(text, on: target, logger: logger)
            }
        } catch let error as ReviewClientError where (error.status ?? 0) >= 400 && (error.status ?? 0) < 500 && error.status != 429 {
            // The server refuses it (the review is gone, the bot may not comment): trying again cannot help.
            try await store.setBotNoticeState(key: notice.key, state: "rejected")
            try await audit(target: target, action: "review.write", what: "notice \(notice.key)", result: "rejected: \(error.status ?? 0)")
            logger.error("the server refused a notice; it is not tried again", metadata: ["notice": "\(notice.key)", "error": "\(error)"])
            return
        }
        try await store.setBotNoticeState(key: notice.key, state: "posted")
        try await audit(target: target, action: "review.write", what: "notice \(notice.key)", result: "posted")
        logger.info("posted a notice", metadata: ["notice": "\(notice.key)"])
    }

    static func unposted(_ state: String) -> Bool { state == "pending" || state == "posting" }

    /// Whether a write that began at `since` and whose outcome is unknown is on the server: asked only once the write
    /// can no longer land (``ReviewPlatform/settleWindow`` after it began), waiting until then when needed. A server
    /// may apply a request well after its client gave up or died; looking earlier would miss it and post twice.
    func landed(_ mark: String, since: Date, on target: ReviewTarget, platform: any ReviewPlatform, logger: Logger) async throws
        -> Bool
    {
        let wait = since.addingTimeInterval(platform.settleWindow.timeInterval).timeIntervalSinceNow
        if wait > 0 {
            logger.info(
                "an earlier post's outcome is unknown; waiting until it can no longer land",
                metadata: ["seconds": "\(Int(wait.rounded(.up)))", "mark": "\(mark)"])
            try await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
        }
        return try await platform.hasPosted(mark, on: target, logger: logger)
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
            let name = error is RevisionMismatch ? "stepgate.RevisionMismatch" : "stepgate.RunFailed"
            try await store.finishExecution(id: id, ExecutionEnding(status: .failed, error: name, cause: "\(error)"))
            metrics.execution(server: stored.target.server, outcome: "failed")
            logger.warning("the run cannot go on; it is reported as failed", metadata: ["error": "\(error)"])
            return true
        } catch {
            logger.error("could not record the failed run", metadata: ["error": "\(error)"])
            return false
        }
    }

    // MARK: - Interim comments (stepgate:comment)

    /// Hands the `stepgate:comment`s of a running execution not yet delivered to the outbox, as notices on the
    /// revision the execution runs for.
    func deliverComments(of id: String, workflow: String, target: ReviewTarget, platform: any ReviewPlatform, logger: Logger)
        async
    {
        do {
            for comment in try await store.comments(executionID: id, undeliveredOnly: true) {
                try await notify(
                    key: "\(id)/comment-\(comment.id)", message: "stepgate: workflow \(workflow): \(comment.message)",
                    commentID: comment.id, on: target, platform: platform, logger: logger)
            }
        } catch {
            logger.warning("could not hand over the execution's comments", metadata: ["error": "\(error)"])
        }
    }

    /// Runs `body` while delivering the execution's comments every `interval` seconds, then once more after it.
    func whileDeliveringComments<T: Sendable>(
        of id: String, workflow: String, target: ReviewTarget, platform: any ReviewPlatform, logger: Logger,
        _ body: @escaping @Sendable () async -> T
    ) async -> T {
        let interval = options.commentPollInterval
        let result = await withTaskGroup(of: T?.self) { group in
            group.addTask { await body() }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
                    if Task.isCancelled { break }
                    await self.deliverComments(of: id, workflow: workflow, target: target, platform: platform, logger: logger)
                }
                return nil
            }
            var value: T?
            for await r in group {
                if let r {
                    value = r
                    group.cancelAll()
                }
            }
            return value!
        }
        if !Task.isCancelled { await deliverComments(of: id, workflow: workflow, target: target, platform: platform, logger: logger) }
        return result
    }
}

extension Duration {
    /// The duration in seconds, as Foundation counts them.
    var timeInterval: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
