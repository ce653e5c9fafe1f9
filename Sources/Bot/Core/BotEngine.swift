public import Foundation
public import Logging
public import Runtime
public import StatesLanguage
public import Store
import Config
import ReviewClients
import Synchronization

/// What the bot stores with each execution it starts (the `target` column of `bot_reports`): everything needed to
/// run, resume and report it after a restart, without the review server.
struct StoredTrigger: Codable, Sendable {
    var target: ReviewTarget
    var branch: String
    var labels: [String: Int]
    var approvers: [String]
    var owner: ReviewerIdentity?
    /// The trigger event (serialized JSON), before the input template is merged in.
    var event: String
    /// The trusted commit (target branch tip) the workflow definition is read from.
    var tip: String
    var definitionPath: String
    var voteLabel: String?
    /// The workflow's input template (serialized JSON object), if any.
    var input: String?

    func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    static func decode(_ text: String) -> StoredTrigger? {
        try? JSONDecoder().decode(StoredTrigger.self, from: Data(text.utf8))
    }

    /// A review revision as the store keeps it (notices).
    static func encode(_ target: ReviewTarget) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(target)) ?? Data("{}".utf8), as: UTF8.self)
    }

    static func decodeTarget(_ text: String) -> ReviewTarget? {
        try? JSONDecoder().decode(ReviewTarget.self, from: Data(text.utf8))
    }
}

/// How one cycle went.
public struct CycleSummary: Sendable, Equatable {
    public var polledServers: [String] = []
    /// Servers whose poll failed (after the client's retries).
    public var failedServers: [String] = []
    public var started: [String] = []
    public var reported: [String] = []
    public var skipped: [String] = []
    public var cancelled: [String] = []
    /// Executions waiting for an approval when the cycle settled (`--once`).
    public var waiting: [String] = []

    public init() {}
}

/// What one poll cycle reads once: refreshed mirrors, trusted configurations per (repository, branch).
struct CycleCache {
    var refreshed = Set<String>()
    var trusted: [String: TrustedSide] = [:]
}

/// A set of strings behind a lock.
final class LockedSet: Sendable {
    private let state = Mutex<Set<String>>([])
    init() {}
    func insert(_ s: String) { state.withLock { _ = $0.insert(s) } }
    func contains(_ s: String) -> Bool { state.withLock { $0.contains(s) } }
}

/// Executions this process is running, with a cancellation flag each.
final class RunningExecutions: Sendable {
    private let state = Mutex<[String: Bool]>([:])
    private let reviews = Mutex<[String: String]>([:])

    /// Registers `id`; false when it is already running here.
    func begin(_ id: String, reviewKey: String? = nil) -> Bool {
        let fresh = state.withLock { s in
            if s[id] != nil { return false }
            s[id] = false
            return true
        }
        if fresh, let reviewKey { reviews.withLock { $0[id] = reviewKey } }
        return fresh
    }
    func anyRunning(reviewKey: String) -> Bool { reviews.withLock { $0.values.contains(reviewKey) } }
    func end(_ id: String) {
        state.withLock { _ = $0.removeValue(forKey: id) }
        reviews.withLock { _ = $0.removeValue(forKey: id) }
    }
    func cancel(_ id: String) { state.withLock { s in if s[id] != nil { s[id] = true } } }
    func isCancelled(_ id: String) -> Bool { state.withLock { $0[id] ?? false } }
    func isRunning(_ id: String) -> Bool { state.withLock { $0[id] != nil } }
}

/// Carries out the decisions of ``TriggerDecider`` and ``ReportDecider`` against the store, the mirrors and the
/// review platforms.
///
/// A trigger's life: the poll's snapshot → the decider's `.start` → ``ExecutionStore/claimBotExecution(_:)`` (dedupe
/// key and report row in one transaction) → the poll cursor advances only after every snapshot of the batch was
/// handled → the execution runs (roles authorized by the server policy, the patch set fetched into the mirror,
/// command tasks in a fresh checkout of its commit) → the report is posted once (`pending` → `posting` → `posted`,
/// with a check on the server before a second attempt). Every step is recorded, so a restart resumes where the
/// process died.
///
/// Several replicas may share one store (PostgreSQL): a server is polled by one replica at a time (the lease
/// `poll:SERVER`), and an execution is run and reported by the replica holding its lease (`execution:ID`),
/// renewed while it runs; a replica that dies stops renewing, and another takes the work over once the lease
/// has expired.
public final class BotEngine: Sendable {
    public struct Options: Sendable {
        /// How often a waiting `stepgate:approval` looks at the store.
        public var approvalPollInterval: Double = 0.2
        /// Where temporary checkouts are made.
        public var temporaryDirectory: String = FileManager.default.temporaryDirectory.path
        /// Attempts to post one report within a cycle.
        public var reportAttempts: Int = 3
        /// How often a running execution's `stepgate:comment`s are looked for (seconds).
        public var commentPollInterval: Double = 0.5
        public init() {}
    }

    public let configuration: BotConfiguration
    public let store: any ExecutionStore
    public let platforms: [any ReviewPlatform]
    public let options: Options
    let logger: Logger
    let metrics = BotMetrics()
    let running = RunningExecutions()
    /// Notices being posted by a task of this process (never two posts of one at once).
    let delivering = Mutex<Set<String>>([])
    /// The engine of `engine: aws` workflows (bot.yaml's `aws`), nil when none is configured.
    let remote: (any RemoteEngine)?
    private let prepared = Mutex<Set<String>>([])
    /// The `updated` of each review when it was last handled without error: an overlap re-read of an unchanged
    /// review is skipped (its decision could not differ) unless one of its executions is running here.
    private let handledAt = Mutex<[String: String]>([:])

    public init(
        configuration: BotConfiguration, store: any ExecutionStore, platforms: [any ReviewPlatform], options: Options = Options(),
        logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        self.platforms = platforms
        self.options = options
        self.logger = logger
        remote = Self.remoteEngine(configuration, logger: logger)
    }

    func platform(named server: String) -> (any ReviewPlatform)? { platforms.first { $0.server == server } }

    // MARK: - Polling

    /// Polls one server once and handles every snapshot; returns the executions to run (claimed, durable).
    /// - Throws: when the server could not be polled (the cursor did not move).
    public func poll(_ platform: any ReviewPlatform, summary: inout CycleSummary) async throws -> [String] {
        var logger = self.logger
        logger[metadataKey: "server"] = "\(platform.server)"
        let lease = "poll:\(platform.server)"
        guard try await store.acquireLease(lease, owner: leases.owner, ttl: leases.ttl).isHeld else {
            logger.debug("another replica is polling this server")
            summary.polledServers.append(platform.server)
            return []
        }
        do {
            let work = try await pollHoldingLease(platform, summary: &summary, logger: logger)
            try? await store.releaseLease(lease, owner: leases.owner)
            return work
        } catch {
            try? await store.releaseLease(lease, owner: leases.owner)
            throw error
        }
    }

    func pollHoldingLease(_ platform: any ReviewPlatform, summary: inout CycleSummary, logger: Logger) async throws -> [String] {
        let clock = ContinuousClock()
        let began = clock.now
        if !prepared.withLock({ $0.contains(platform.server) }) {
            try await platform.prepare(logger: logger)
            prepared.withLock { _ = $0.insert(platform.server) }
        }
        var cursors: [String: String] = [:]
        for scope in platform.scopes {
            if let c = try await store.cursor(server: platform.server, project: scope) { cursors[scope] = c.cursor }
        }
        let batch: PollBatch
        do {
            batch = try await platform.poll(cursors: cursors, logger: logger)
        } catch {
            metrics.poll(server: platform.server, ok: false)
            metrics.apiError(server: platform.server, kind: Self.kind(of: error))
            throw error
        }
        metrics.poll(server: platform.server, ok: true)
        logger.debug("polled", metadata: ["reviews": "\(batch.snapshots.count)"])
        var work: [String] = []
        var cycle = CycleCache()
        var incomplete = false
        for snapshot in batch.snapshots.sorted(by: { $0.updated < $1.updated }) {
            let key = snapshot.target.reviewKey
            if handledAt.withLock({ $0[key] }) == snapshot.updated && !running.anyRunning(reviewKey: key) { continue }
            do {
                work += try await handle(snapshot, platform: platform, cycle: &cycle, summary: &summary, logger: logger)
                handledAt.withLock { $0[key] = snapshot.updated }
            } catch {
                incomplete = true
                metrics.apiError(server: platform.server, kind: Self.kind(of: error))
                logger.error(
                    "could not handle a review; the cursor stays put and the next poll retries it",
                    metadata: ["review": "\(snapshot.target.reviewID)", "error": "\(error)"])
            }
        }
        if !incomplete {
            for (scope, cursor) in batch.cursors.sorted(by: { $0.key < $1.key }) where cursor != cursors[scope] {
                try await store.setCursor(server: platform.server, project: scope, cursor: cursor)
            }
        }
        await deliverNotices(server: platform.server, logger: logger)
        let elapsed = clock.now - began
        metrics.pollDuration(
            server: platform.server,
            nanoseconds: elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        summary.polledServers.append(platform.server)
        return work
    }

    /// Decides and carries out the actions for one snapshot; returns the executions claimed.
    func handle(
        _ snapshot: ReviewSnapshot, platform: any ReviewPlatform, cycle: inout CycleCache, summary: inout CycleSummary,
        logger: Logger
    ) async throws -> [String] {
        var logger = logger
        logger[metadataKey: "review"] = "\(snapshot.target.reviewID)"
        logger[metadataKey: "revision"] = "\(snapshot.target.revisionNumber)"
        guard let mirror = configuration.repositories[snapshot.target.repository] else {
            logger.warning("no repository configured for the review's project; ignored")
            return []
        }
        let known = try await store.botReports(reviewKey: snapshot.target.reviewKey)
        var knowledge = TriggerKnowledge()
        for record in known {
            knowledge.claimedKeys.insert(record.dedupeKey)
            guard let stored = StoredTrigger.decode(record.target) else { continue }
            let live = record.state == ReportState.pending.rawValue
            var isRunning = false
            if live {
                let execution = try await store.execution(id: record.executionID)
                isRunning = execution == nil || execution?.status == .running
            }
            knowledge.executions.append(
                KnownExecution(executionID: record.executionID, target: stored.target, workflow: record.workflow, isRunning: isRunning))
        }
        if snapshot.touchesStepgate, try await store.dedupeKey(snapshot.target.validationKey) != nil {
            knowledge.claimedKeys.insert(snapshot.target.validationKey)
        }
        for recheck in snapshot.rechecks {
            let key = snapshot.target.recheckKey(recheck)
            if try await store.dedupeKey(key) != nil { knowledge.claimedKeys.insert(key) }
        }
        var trusted = TrustedSide.none(branch: snapshot.branch)
        if snapshot.isOpen {
            if !cycle.refreshed.contains(mirror.key) {
                try await platform.refreshMirror(mirror, logger: logger)
                cycle.refreshed.insert(mirror.key)
            }
            let cacheKey = mirror.key + "\u{0}" + snapshot.branch
            if let cached = cycle.trusted[cacheKey] {
                trusted = cached
            } else {
                trusted = try WorkflowRuns.trustedSide(of: Self.runRepository(mirror), at: .branch(snapshot.branch))
                cycle.trusted[cacheKey] = trusted
            }
        }
        let actions = TriggerDecider.decide(
            snapshot: snapshot, configuration: trusted.configuration, knowledge: knowledge,
            approvalVoters: platform.approvalVoters(in: snapshot))
        var work: [String] = []
        for action in actions {
            switch action {
            case .skip(let reason):
                logger.trace("skipped", metadata: ["reason": "\(reason)"])
            case .cancel(let id, let target, let reason):
                try await cancel(executionID: id, target: target, reason: reason, platform: platform, logger: logger)
                summary.cancelled.append(id)
            case .approve(let id, let voters):
                await approve(executionID: id, voters: voters, target: snapshot.target, platform: platform, logger: logger)
            case .validate(let key):
                try await validate(snapshot, mirror: mirror, key: key, platform: platform, logger: logger)
            case .refuse(let key, let message):
                try await notify(key: key, message: message, on: snapshot.target, platform: platform, logger: logger)
            case .recheck(let key, let by, let started, let message):
                if let message {
                    try await notify(key: key, message: message, on: snapshot.target, platform: platform, logger: logger)
                }
                _ = try await store.claimDedupeKey(key, executionID: "recheck")
                _ = try await store.audit.append(
                    AuditEntry(
                        actor: by.description, repository: snapshot.target.repository, revision: snapshot.target.revisionID,
                        action: "review.recheck",
                        target: "\(snapshot.target.server) \(snapshot.target.reviewID) revision \(snapshot.target.revisionNumber)",
                        result: started.isEmpty ? "nothing started" : "started \(started.sorted().joined(separator: ", "))"))
                logger.info("recheck", metadata: ["by": "\(by)", "started": "\(started)"])
            case .start(let workflowName, let key):
                guard case .config(let config) = trusted.configuration, let workflow = config.workflow(named: workflowName),
                    let tip = trusted.commit
                else { continue }
                let id = UUID().uuidString.lowercased()
                let stored = StoredTrigger(
                    target: snapshot.target, branch: snapshot.branch, labels: snapshot.labels, approvers: snapshot.approvers,
                    owner: snapshot.owner, event: snapshot.event.serialized, tip: tip, definitionPath: workflow.definitionPath,
                    voteLabel: workflow.report?.vote, input: workflow.input.map { JSON.object($0).serialized })
                let claim = try await store.claimBotExecution(
                    BotReportRecord(
                        executionID: id, dedupeKey: key, reviewKey: snapshot.target.reviewKey, workflow: workflowName,
                        target: stored.encoded(), revisionNumber: snapshot.target.revisionNumber))
                if claim == .claimed {
                    metrics.trigger(server: platform.server)
                    logger.info("triggered", metadata: ["workflow": "\(workflowName)", "execution": "\(id)"])
                    work.append(id)
                    summary.started.append(id)
                }
            }
        }
        return work
    }

    // MARK: - Cancelling, approving, validating

    func cancel(executionID: String, target: ReviewTarget, reason: String, platform: any ReviewPlatform, logger: Logger)
        async throws
    {
        guard
            try await store.setBotReportState(
                executionID: executionID, state: ReportState.cancelled.rawValue, detail: reason,
                from: [ReportState.pending.rawValue, ReportState.posting.rawValue])
        else { return }
        try await store.finishExecution(
            id: executionID, ExecutionEnding(status: .aborted, error: "stepgate.Cancelled", cause: reason))
        running.cancel(executionID)
        let workflow = try await store.botReport(executionID: executionID)?.workflow ?? "?"
        logger.info("cancelled", metadata: ["execution": "\(executionID)", "reason": "\(reason)"])
        metrics.execution(server: target.server, outcome: "cancelled")
        try await notify(
            key: "\(executionID)/cancelled",
            message: "stepgate: workflow \(workflow) (execution \(executionID)) was cancelled: \(reason).", on: target,
            platform: platform, logger: logger)
    }

    /// Counts each voter's approval (one per person, by account identity); a voter the approval does
    /// not allow (not among its approvers, or the change's own owner) is ignored, and one who asked
    /// by a command is told so, once.
    func approve(executionID: String, voters: [ApprovalVoter], target: ReviewTarget, platform: any ReviewPlatform, logger: Logger)
        async
    {
        guard let pending = try? await store.approvals(executionID: executionID, status: .pending), !pending.isEmpty else { return }
        let groups = Set(pending.flatMap(\.approvers).filter { $0.hasPrefix(StepgateResources.groupPrefix) }).sorted()
        for voter in voters {
            let who = voter.identity
            if pending.allSatisfy({ $0.approvedBy.contains(who.description) }) { continue }
            do {
                // A name with ':' is never an account's: only the server's group record makes someone `group:NAME`.
                var identities = who.names.filter { !$0.contains(":") }
                if !groups.isEmpty { identities += try await platform.groups(of: who, among: groups, logger: logger) }
                let decided = try await store.decideApproval(
                    executionID: executionID, approve: true, by: who.description, identities: identities,
                    comment: voter.byCommand ? "approved by a command on the review" : "approved by a vote on the review",
                    audit: AuditEntry(
                        actor: who.description, action: "approval.approve", target: "execution \(executionID)",
                        result: "approved by \(who.id)"))
                if decided.contains(where: { $0.status == .approved }) {
                    logger.info("approval decided", metadata: ["execution": "\(executionID)", "by": "\(who)"])
                }
            } catch let error as StoreError {
                logger.info("a voter may not decide the approval", metadata: ["voter": "\(who)", "error": "\(error)"])
                guard voter.byCommand, error.code == .conflict else { continue }
                try? await notify(
                    key: "\(executionID)/approval-refused-\(who.id)",
                    message: "stepgate: the approval command of \(who) was ignored: \(error.message) (execution \(executionID))",
                    on: target, platform: platform, logger: logger)
            } catch {
                metrics.apiError(server: target.server, kind: Self.kind(of: error))
                logger.warning("could not learn the approver's groups; the vote is counted on a later cycle", metadata: ["error": "\(error)"])
            }
        }
    }

    func validate(_ snapshot: ReviewSnapshot, mirror: MirrorConfiguration, key: String, platform: any ReviewPlatform, logger: Logger)
        async throws
    {
        let commit: String
        do {
            commit = try await platform.fetchRevision(snapshot, into: mirror, logger: logger)
        } catch let mismatch as RevisionMismatch {
            try await notify(
                key: key, message: "stepgate: the .stepgate/ files of this patch set were not validated: \(mismatch).",
                on: snapshot.target, platform: platform, logger: logger)
            _ = try await store.claimDedupeKey(key, executionID: "validation")
            return
        }
        let findings = try Self.findings(mirror: mirror, commit: commit, files: snapshot.files)
        let errors = findings.filter { $0.severity == "error" }.count
        if !findings.isEmpty {
            let message =
                "stepgate: this change edits .stepgate/; \(errors) error(s), \(findings.count - errors) warning(s) in its workflow files. "
                + "The workflows that run come from the target branch, not from this change."
            try await notify(key: key, message: message, findings: findings, on: snapshot.target, platform: platform, logger: logger)
        }
        _ = try await store.claimDedupeKey(key, executionID: "validation")
        logger.info("validated .stepgate/ files", metadata: ["findings": "\(findings.count)"])
    }

    /// Validation problems of the `.stepgate/` files among `files` at `commit`, as findings at their line.
    static func findings(mirror: MirrorConfiguration, commit: String, files: [String]) throws -> [ReviewFinding] {
        let results = try WorkflowRuns.validate(runRepository(mirror), commit: commit, only: Set(files))
        return results.flatMap { file, diagnostics in
            diagnostics.map { d in
                ReviewFinding(
                    path: file, line: d.location?.line ?? 1, message: "\(d.severity.rawValue): \(d.message)",
                    severity: d.severity.rawValue)
            }
        }
    }

    static func runRepository(_ mirror: MirrorConfiguration) -> RunRepository {
        RunRepository(name: mirror.key, gitDirectory: mirror.path)
    }

    // MARK: - Running executions

    /// Executions the store says must still run or be reported (after a restart, a failed post, or a replica
    /// that died), and that no live process holds.
    public func unfinishedWork() async throws -> [String] {
        var work: [String] = []
        for record in try await store.botReports(states: [ReportState.pending.rawValue, ReportState.posting.rawValue])
        where !running.isRunning(record.executionID) {
            if try await Leases.isFree(LeaseSettings.execution(record.executionID), in: store, for: leases.owner) {
                work.append(record.executionID)
            }
        }
        return work
    }

    /// How this process leases its work.
    var leases: LeaseSettings { LeaseSettings(ttl: configuration.leaseTime) }

    /// Runs (or resumes) one execution and reports it, holding its lease (nothing happens while another replica
    /// holds it). Never throws: problems are logged and recorded, and the report stays pending for the next cycle.
    public func run(executionID id: String) async {
        let reviewKey = try? await store.botReport(executionID: id)?.reviewKey
        guard running.begin(id, reviewKey: reviewKey ?? nil) else { return }
        defer { running.end(id) }
        var executionLogger = self.logger
        executionLogger[metadataKey: "execution"] = "\(id)"
        let logger = executionLogger
        do {
            let ran = try await Leases.holding(LeaseSettings.execution(id), in: store, settings: leases) {
                () async throws(StoreError) in await self.runAndReport(id, logger: logger)
            }
            if ran == nil { logger.debug("another replica holds this execution") }
        } catch {
            logger.error("execution step failed; will retry on the next cycle", metadata: ["error": "\(error)"])
        }
    }

    func runAndReport(_ id: String, logger: Logger) async {
        do {
            try await runOrResume(id, logger: logger)
            try await report(executionID: id, logger: logger)
        } catch {
            if await failPermanently(id, error: error, logger: logger) {
                try? await report(executionID: id, logger: logger)
                return
            }
            logger.error("execution step failed; will retry on the next cycle", metadata: ["error": "\(error)"])
        }
    }

    func runOrResume(_ id: String, logger: Logger) async throws {
        guard let record = try await store.botReport(executionID: id), record.state == ReportState.pending.rawValue
            || record.state == ReportState.posting.rawValue
        else { return }
        guard let stored = StoredTrigger.decode(record.target), let platform = platform(named: stored.target.server),
            let mirror = configuration.repositories[stored.target.repository]
        else {
            try await store.setBotReportState(executionID: id, state: ReportState.skipped.rawValue, detail: "unknown server or repository")
            return
        }
        let existing = try await store.execution(id: id)
        if let existing, existing.status != .running { return }
        let runs = WorkflowRuns(store: store, settings: runSettings)
        if existing != nil {
            let outcome = await whileDeliveringComments(
                of: id, workflow: record.workflow, target: stored.target, platform: platform, logger: logger
            ) { await self.cancellable(id) { try await runs.resume(id: id) } }
            log(outcome, server: stored.target.server, logger: logger)
            return
        }
        var commit = record.commitID
        if commit == nil {
            let snapshot = ReviewSnapshot(
                target: stored.target, branch: stored.branch, isOpen: true, status: nil, labels: stored.labels,
                approvers: stored.approvers, files: [], revisionSHA: nil, updated: "", event: .null)
            let fetched = try await platform.fetchRevision(snapshot, into: mirror, logger: logger)
            try await store.setBotReportCommit(executionID: id, commitID: fetched)
            commit = fetched
        }
        // The workflow comes from the branch tip the trigger was matched against, never the change.
        let repository = Self.runRepository(mirror)
        let trusted = try WorkflowRuns.trustedSide(of: repository, at: .commit(stored.tip, branch: stored.branch))
        let event = (try? JSONParser.parse(stored.event)) ?? .null
        let request = RunRequest(
            id: id, kind: TriggerContext.Kind(rawValue: stored.target.platform) ?? .gerrit, repository: repository,
            trusted: trusted, definition: .workflow(record.workflow), checkout: .commit(commit!),
            facts: ReviewFacts(
                labels: stored.labels, approvers: stored.approvers, change: String(stored.target.reviewNumber),
                patchSet: stored.target.revisionNumber, owner: stored.owner),
            event: event)
        let outcome = await whileDeliveringComments(
            of: id, workflow: record.workflow, target: stored.target, platform: platform, logger: logger
        ) { await self.cancellable(id) { try await runs.start(request) } }
        if let outcome, outcome.refused {
            logger.warning("the run was refused; no task ran", metadata: ["cause": "\(outcome.result.cause ?? "")"])
        }
        log(outcome, server: stored.target.server, logger: logger)
    }

    /// Mints task identity tokens when bot.yaml has `identity` (its key directory is read once).
    var identityIssuer: IdentityTokenIssuer? {
        guard let identity = configuration.identity else { return nil }
        do {
            return try IdentityTokenIssuer(keyDirectory: identity.keys, issuer: identity.issuer, audience: identity.audience)
        } catch {
            logger.error("task identity tokens are unavailable", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The front door's settings for the bot's runs.
    var runSettings: WorkflowRuns.Settings {
        var settings = WorkflowRuns.Settings(
            policy: configuration.roles, temporaryDirectory: configuration.workDirectory ?? options.temporaryDirectory,
            approvalPollInterval: options.approvalPollInterval)
        settings.leases = leases
        settings.resources = configuration.resources
        settings.sandbox = configuration.taskSandbox(storeFiles: store.privateFiles)
        settings.identity = identityIssuer
        settings.engines = configuration.engines
        settings.remote = remote
        return settings
    }

    func log(_ outcome: RunOutcome?, server: String, logger: Logger) {
        guard let outcome else { return }
        if outcome.stopped {
            logger.info("execution stopped before its end; it stays RUNNING and is resumed by the next start")
            return
        }
        metrics.execution(server: server, outcome: outcome.result.status.rawValue.lowercased())
        logger.info("execution ended", metadata: ["status": "\(outcome.result.status.rawValue)"])
    }

    /// Runs `body` unless and until the execution is cancelled (``cancel(executionID:target:reason:platform:logger:)``),
    /// by this process or, with replicas sharing the store, by the one that polled the review (its report is then
    /// `cancelled` in the store, looked at every second).
    func cancellable(_ id: String, _ body: @escaping @Sendable () async throws -> RunOutcome) async -> RunOutcome? {
        await withTaskGroup(of: RunOutcome?.self) { group in
            group.addTask { try? await body() }
            group.addTask { [running, store] in
                var ticks = 0
                while !Task.isCancelled && !running.isCancelled(id) {
                    try? await Task.sleep(for: .milliseconds(100))
                    ticks += 1
                    if ticks % 10 == 0, (try? await store.botReport(executionID: id))?.state == ReportState.cancelled.rawValue {
                        break
                    }
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    // MARK: - Reporting

    /// Posts a finished execution's outcome once, on the revision that triggered it (skipped when stale).
    public func report(executionID id: String, logger: Logger) async throws {
        guard let record = try await store.botReport(executionID: id), let stored = StoredTrigger.decode(record.target),
            let platform = platform(named: stored.target.server)
        else { return }
        guard let state = ReportState(rawValue: record.state), state == .pending || state == .posting else { return }
        guard let execution = try await store.execution(id: id), execution.status != .running else { return }
        let target = stored.target
        // Interim comments come before the outcome.
        await deliverComments(of: id, workflow: record.workflow, target: target, platform: platform, logger: logger)
        let mark = OutcomeReport.mark(executionID: id, redriveCount: execution.redriveCount)
        for attempt in 1...max(1, options.reportAttempts) {
            do {
                let isCurrent = try await platform.isCurrent(target, logger: logger)
                guard let now = try await store.botReport(executionID: id) else { return }
                let current = ReportState(rawValue: now.state) ?? .posted
                switch ReportDecider.decide(state: current, isCurrent: isCurrent) {
                case .nothing:
                    return
                case .skipStale(let reason):
                    try await store.setBotReportState(executionID: id, state: ReportState.skipped.rawValue, detail: reason)
                    try await audit(target: target, action: "review.skip", what: "report of \(id)", result: reason)
                    metrics.report(server: target.server, result: "skipped")
                    logger.info("report skipped", metadata: ["reason": "\(reason)"])
                    return
                case .checkThenPost:
                    // The earlier post's outcome is unknown: it may still land (a server can apply a request long
                    // after its client gave up or died), so look for it only once it no longer can.
                    if try await landed(mark, since: now.postingSince ?? now.updated, on: target, platform: platform, logger: logger) {
                        try await store.setBotReportState(executionID: id, state: ReportState.posted.rawValue, detail: "found on the server")
                        metrics.report(server: target.server, result: "found")
                        return
                    }
                    fallthrough
                case .post:
                    try await store.setBotReportState(executionID: id, state: ReportState.posting.rawValue)
                    var outcome = try await outcomeReport(execution, workflow: record.workflow, voteLabel: stored.voteLabel)
                    outcome.owner = stored.owner
                    try await platform.report(outcome, on: target, logger: logger)
                    try await store.setBotReportState(executionID: id, state: ReportState.posted.rawValue, detail: outcome.status)
                    try await audit(target: target, action: "review.write", what: "report of \(id)", result: "posted \(outcome.status)")
                    metrics.report(server: target.server, result: "posted")
                    logger.info("reported", metadata: ["status": "\(outcome.status)"])
                    return
                }
            } catch let error as ReviewClientError where (error.status ?? 0) >= 400 && (error.status ?? 0) < 500 && error.status != 429 {
                // The server refused the report itself (closed change, vote out of range): retrying it cannot help.
                // The outcome still reaches the review, once, as a message without the vote and file comments.
                metrics.apiError(server: target.server, kind: "http_\(error.status ?? 0)")
                logger.error("the server rejected the report; its outcome is said without the vote", metadata: ["error": "\(error)"])
                try await store.setBotReportState(
                    executionID: id, state: ReportState.skipped.rawValue, detail: "rejected: \(error)")
                try await audit(target: target, action: "review.write", what: "report of \(id)", result: "rejected: \(error.status ?? 0)")
                metrics.report(server: target.server, result: "rejected")
                let outcome = try await outcomeReport(execution, workflow: record.workflow, voteLabel: nil)
                try await notify(
                    key: "\(id)/report-refused" + (execution.redriveCount > 0 ? "-\(execution.redriveCount)" : ""),
                    message: outcome.message + "\nThe review server refused this report with its vote and file comments: "
                        + "\(error.status ?? 0) \(error.bodyExcerpt.trimmingCharacters(in: .whitespacesAndNewlines))",
                    on: target, platform: platform, logger: logger)
                return
            } catch {
                metrics.apiError(server: target.server, kind: Self.kind(of: error))
                logger.warning("report attempt failed", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
                if attempt == options.reportAttempts { throw error }
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
    }

    func outcomeReport(_ execution: ExecutionRecord, workflow: String, voteLabel: String?) async throws -> OutcomeReport {
        let events = try await store.events(executionID: execution.id)
        var findings: [ReviewFinding] = []
        var tasks: [TaskOutcome] = []
        var lastEntered: String?
        for event in events {
            if event.type.hasSuffix("StateEntered") {
                lastEntered = event.json["stateEnteredEventDetails"]?["name"]?.stringValue
            }
            for (type, key) in [("TaskSucceeded", "taskSucceededEventDetails"), ("ActivitySucceeded", "activitySucceededEventDetails")]
            where event.type == type {
                if let text = event.json[key]?["output"]?.stringValue { findings += ReviewFinding.collect(from: try? JSONParser.parse(text)) }
            }
            // Local tasks name their state; AWS's activity events do not, so theirs is the state last entered.
            for (type, key) in [("TaskSucceeded", "taskSucceededEventDetails"), ("TaskFailed", "taskFailedEventDetails"),
                ("TaskTimedOut", "taskTimedOutEventDetails"), ("ActivitySucceeded", "activitySucceededEventDetails"),
                ("ActivityFailed", "activityFailedEventDetails"), ("ActivityTimedOut", "activityTimedOutEventDetails")]
            where event.type == type {
                guard let details = event.json[key], let name = details["name"]?.stringValue ?? (type.hasPrefix("Activity") ? lastEntered : nil)
                else { continue }
                let outcome = TaskOutcome(
                    state: name, succeeded: type.hasSuffix("Succeeded"), error: details["error"]?.stringValue,
                    cause: details["cause"]?.stringValue)
                if let i = tasks.firstIndex(where: { $0.state == name }) { tasks[i] = outcome } else { tasks.append(outcome) }
            }
        }
        findings += ReviewFinding.collect(from: execution.output)
        var seen = Set<ReviewFinding>()
        findings = findings.filter { seen.insert($0).inserted }
        let duration = execution.finished.map { $0.timeIntervalSince(execution.started) }
        var report = OutcomeReport(
            executionID: execution.id, workflow: workflow, status: execution.status.rawValue, error: execution.error,
            cause: execution.cause, failedState: execution.status == .succeeded ? nil : lastEntered, duration: duration,
            voteLabel: voteLabel, findings: findings)
        report.tasks = tasks
        report.redriveCount = execution.redriveCount
        if execution.plan?["editsStepgate"]?.boolValue == true { report.notes.append(WorkflowRuns.withoutSecretsNote) }
        if execution.plan?["sandbox"]?.stringValue == Sandbox.Mode.none.rawValue { report.notes.append(Sandbox.unsandboxedNotice) }
        return report
    }

    func audit(target: ReviewTarget, action: String, what: String, result: String) async throws {
        _ = try await store.audit.append(
            AuditEntry(
                actor: "stepgate", repository: target.repository, revision: target.revisionID, action: action,
                target: "\(target.server) \(target.reviewID) revision \(target.revisionNumber): \(what)", result: result))
    }

    static func kind(of error: any Error) -> String {
        let text = String(describing: type(of: error))
        return text.count > 40 ? String(text.prefix(40)) : text
    }

    // MARK: - One cycle

    /// Polls every server once, then runs the executions that cycle claimed (and any left unfinished by an
    /// earlier process) to their end, and reports them.
    ///
    /// - Parameter onSettled: called once every execution has ended or is waiting for an approval, with the
    ///   summary so far. `stepgate bot --once` exits the process there, leaving waiting executions RUNNING in the
    ///   store (the next run resumes them); without it the cycle waits for them.
    public func runOnce(onSettled: (@Sendable (CycleSummary) -> Void)? = nil) async -> CycleSummary {
        var summary = CycleSummary()
        var work: [String] = []
        for platform in platforms {
            do {
                work += try await poll(platform, summary: &summary)
            } catch {
                summary.failedServers.append(platform.server)
                logger.error("poll failed", metadata: ["server": "\(platform.server)", "error": "\(error)"])
            }
        }
        if let more = try? await unfinishedWork() {
            for id in more where !work.contains(id) { work.append(id) }
        }
        let base = summary
        let ids = work
        let done = LockedSet()
        await withTaskGroup(of: Void.self) { group in
            for id in ids {
                group.addTask {
                    await self.run(executionID: id)
                    done.insert(id)
                }
            }
            if let onSettled {
                group.addTask {
                    while !Task.isCancelled {
                        let unfinished = ids.filter { !done.contains($0) }
                        if unfinished.isEmpty { return }
                        var waiting: [String] = []
                        for id in unfinished {
                            let pending = (try? await self.store.approvals(executionID: id, status: .pending)) ?? []
                            if pending.isEmpty { break }
                            waiting.append(id)
                        }
                        if waiting.count == unfinished.count {
                            var s = base
                            s.waiting = waiting
                            onSettled(s)
                            return
                        }
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                }
            }
        }
        for platform in platforms { await deliverNotices(server: platform.server, logger: logger) }
        for id in ids {
            if let r = try? await store.botReport(executionID: id) {
                if r.state == ReportState.posted.rawValue { summary.reported.append(id) }
                if r.state == ReportState.skipped.rawValue { summary.skipped.append(id) }
            }
        }
        return summary
    }
}
