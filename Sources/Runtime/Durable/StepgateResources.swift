import Foundation
public import StatesLanguage
public import Store

/// The store-backed task resources: `stepgate:comment` and `stepgate:approval`. Every other
/// resource goes to `inner`.
///
/// - `stepgate:comment`: Parameters `{"message": "..."}`; records an interim message (secrets
///   redacted) and returns `{"delivered": false, "id": n}` at once. The bot delivers it to the
///   review the execution runs for while the execution runs, once; elsewhere it is shown by
///   `stepgate executions show`.
/// - `stepgate:approval`: Parameters `{"message": "...", "approvers": ["alice", ...]}`, or
///   `"approvers": {"count": 2, "from": ["alice", "bob", "carol"]}` for several distinct
///   approvers (`from` optional: anyone), and `"allowAuthor": true` to let the change's owner
///   approve (never by default); mandatory `TimeoutSeconds`. Approvers are named by account
///   identity (username or account id / user PHID), never display names, or as `group:NAME`:
///   the members of a review server's group (Gerrit), resolved by the bot when someone votes. Opens a pending
///   approval (one per task key, so a resumed execution finds the same one), then waits until it
///   is approved (result `{"approved": true, "by": "alice, bob", "approvedBy": [...],
///   "comment": TEXT|null}`), rejected (error `stepgate.ApprovalRejected`) or its deadline
///   passes (`States.Timeout`).
public struct StepgateResources: TaskExecutor {
    public static let comment = "stepgate:comment"
    public static let approval = "stepgate:approval"
    /// An approver entry naming a review server's group (`group:Release-Managers`).
    public static let groupPrefix = "group:"

    public let store: any ExecutionStore
    public let inner: any TaskExecutor
    public let clock: any ExecutionClock
    /// How often a waiting approval looks at the store (seconds, on `clock`).
    public var pollInterval: Double
    /// The owner of the change under review, excluded from its approvals unless a task allows it.
    public var owner: ReviewerIdentity?
    /// Applied to what is stored for later delivery (interim comments).
    public var redact: (@Sendable (String) -> String)?

    public init(store: any ExecutionStore, inner: any TaskExecutor, clock: any ExecutionClock, pollInterval: Double = 0.2) {
        self.store = store
        self.inner = inner
        self.clock = clock
        self.pollInterval = pollInterval
    }

    public func execute(_ request: TaskRequest) async throws -> JSON {
        switch request.resource {
        case Self.comment: return try await comment(request)
        case Self.approval: return try await approval(request)
        default: return try await inner.execute(request)
        }
    }

    func comment(_ request: TaskRequest) async throws(ExecutionError) -> JSON {
        guard let message = request.input["message"]?.stringValue else {
            throw ExecutionError.taskFailed("stepgate:comment needs Parameters.message (a string)")
        }
        do {
            let c = try await store.addComment(
                executionID: request.executionID, taskKey: request.key, message: redact?(message) ?? message, at: clock.now())
            return .object(JSONObject([("delivered", .bool(c.delivered)), ("id", .int(c.id))]))
        } catch {
            throw ExecutionError.taskFailed("stepgate:comment: \(error.message)")
        }
    }

    func approval(_ request: TaskRequest) async throws -> JSON {
        guard let timeout = request.timeoutSeconds, timeout > 0 else {
            throw ExecutionError.taskFailed("stepgate:approval needs TimeoutSeconds")
        }
        let message = request.input["message"]?.stringValue ?? "approval requested by state \(request.stateName)"
        var approvers: [String] = []
        var required = 1
        switch request.input["approvers"] {
        case nil, .null?: break
        case .array(let array)?:
            guard array.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
                throw ExecutionError.taskFailed("stepgate:approval: Parameters.approvers must be an array of account names")
            }
            approvers = array.compactMap(\.stringValue)
        case .object(let object)?:
            for key in object.keys where key != "count" && key != "from" {
                throw ExecutionError.taskFailed("stepgate:approval: Parameters.approvers has an unknown field '\(key)' (expected count, from)")
            }
            guard let count = object["count"]?.intValue, object["count"]?.isNumber == true, count >= 1 else {
                throw ExecutionError.taskFailed("stepgate:approval: Parameters.approvers.count must be a positive integer")
            }
            required = count
            if let from = object["from"], !from.isNull {
                guard let array = from.arrayValue, array.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
                    throw ExecutionError.taskFailed("stepgate:approval: Parameters.approvers.from must be an array of account names")
                }
                approvers = array.compactMap(\.stringValue)
                // A group may hold any number of people; only named people are counted here.
                if !approvers.contains(where: { $0.hasPrefix(Self.groupPrefix) }) && Set(approvers).count < count {
                    throw ExecutionError.taskFailed(
                        "stepgate:approval: Parameters.approvers.from names \(Set(approvers).count) people but count is \(count)")
                }
            }
        default:
            throw ExecutionError.taskFailed("stepgate:approval: Parameters.approvers must be an array of names or {count, from}")
        }
        var excluded: [String] = []
        switch request.input["allowAuthor"] {
        case nil, .null?, .bool(false)?: excluded = owner?.names ?? []
        case .bool(true)?: break
        default: throw ExecutionError.taskFailed("stepgate:approval: Parameters.allowAuthor must be true or false")
        }
        let id = request.executionID
        let now = clock.now()
        var row: ApprovalRecord
        do {
            row = try await store.openApproval(
                executionID: id, taskKey: request.key, message: message, approvers: approvers, required: required,
                excluded: excluded, deadline: now.addingTimeInterval(Double(timeout)), created: now)
        } catch {
            throw ExecutionError.taskFailed("stepgate:approval: \(error.message)")
        }
        let seconds = Int(row.deadline.timeIntervalSince(row.created).rounded())
        while true {
            switch row.status {
            case .approved:
                return .object(
                    JSONObject([
                        ("approved", .bool(true)), ("by", .string(row.decidedBy ?? "")),
                        ("approvedBy", .array(row.approvedBy.map(JSON.string))), ("comment", row.comment.map(JSON.string) ?? .null),
                    ]))
            case .rejected:
                let by = row.decidedBy ?? "someone"
                throw ExecutionError(
                    "stepgate.ApprovalRejected", "rejected by \(by)" + (row.comment.map { ": \($0)" } ?? ""))
            case .timedOut:
                throw ExecutionError.timeout("the approval was not decided within \(seconds) seconds")
            case .pending:
                let now = clock.now()
                if now >= row.deadline {
                    row = try await reload { () async throws(StoreError) in
                        try await store.expireApproval(executionID: id, taskKey: request.key, at: now)
                    }
                    if row.status == .pending { row.status = .timedOut }
                    continue
                }
                try await clock.sleep(seconds: min(pollInterval, row.deadline.timeIntervalSince(now)))
                row = try await reload { () async throws(StoreError) in
                    try await store.approval(executionID: id, taskKey: request.key)
                }
            }
        }
    }

    private func reload(_ body: () async throws(StoreError) -> ApprovalRecord?) async throws(ExecutionError) -> ApprovalRecord {
        let fetched: ApprovalRecord?
        do { fetched = try await body() } catch { throw ExecutionError.taskFailed("stepgate:approval: \(error.message)") }
        guard let row = fetched else { throw ExecutionError.taskFailed("stepgate:approval: the approval row vanished") }
        return row
    }
}
