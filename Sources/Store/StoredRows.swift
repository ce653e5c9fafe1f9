import Foundation
import StatesLanguage

/// A row of either store, read by column name: the records below are decoded once for both.
protocol StoreRow {
    func text(_ name: String) throws -> String?
    func int(_ name: String) throws -> Int?
    func double(_ name: String) throws -> Double?
}

extension StoreRow {
    func string(_ name: String) throws -> String { try text(name) ?? "" }
    func date(_ name: String) throws -> Date { Date(timeIntervalSince1970: try double(name) ?? 0) }
    func optionalDate(_ name: String) throws -> Date? { try double(name).map(Date.init(timeIntervalSince1970:)) }
    func json(_ name: String) throws -> JSON { try StoredJSON.parse(text(name), column: name) }
    func optionalJSON(_ name: String) throws -> JSON? { try text(name).map { try StoredJSON.parse($0, column: name) } }
}

extension ExecutionRecord {
    init(row: some StoreRow) throws {
        let id = try row.string("id")
        let statusText = try row.string("status")
        guard let status = ExecutionStatus(rawValue: statusText) else {
            throw StoreError(.invalidData, "execution \(id) has an unknown status '\(statusText)'")
        }
        self.init(
            id: id, workflow: try row.string("workflow"), repository: try row.text("repository"),
            revision: try row.text("revision"), trigger: try row.json("trigger"), input: try row.json("input"), status: status,
            output: try row.optionalJSON("output"), error: try row.text("error"), cause: try row.text("cause"),
            started: try row.date("started"), finished: try row.optionalDate("finished"), definition: try row.string("definition"),
            definitionHash: try row.string("definition_hash"), plan: try row.optionalJSON("plan"),
            redriveCount: try row.int("redrive_count") ?? 0)
    }
}

extension StoredCheckpoint {
    init(row: some StoreRow) throws {
        self.init(
            stateName: try row.text("state_name"), input: try StoredJSON.parse(row.text("input"), column: "checkpoint input"),
            variables: try StoredJSON.variables(from: row.text("variables")), eventCount: try row.int("event_count") ?? 0,
            transitions: try row.int("transitions") ?? 0)
    }
}

extension StoredEvent {
    init(row: some StoreRow) throws {
        self.init(seq: try row.int("seq") ?? 0, type: try row.string("type"), json: try StoredJSON.parse(row.text("json"), column: "event"))
    }
}

extension TaskOutcome {
    init(row: some StoreRow) throws {
        if let error = try row.text("error") {
            self = .failed(error: error, cause: try row.string("cause"))
        } else {
            self = .succeeded(try StoredJSON.parse(row.text("result"), column: "task result"))
        }
    }

    /// The `result`, `error` and `cause` columns of a task result.
    var columns: (result: String?, error: String?, cause: String?) {
        switch self {
        case .succeeded(let v): return (v.serialized, nil, nil)
        case .failed(let e, let c): return (nil, e, c)
        }
    }
}

extension PollCursor {
    init(row: some StoreRow) throws {
        self.init(
            server: try row.string("server"), project: try row.string("project"), cursor: try row.string("cursor"),
            updated: try row.date("updated"))
    }
}

extension BotReportRecord {
    init(row: some StoreRow) throws {
        self.init(
            executionID: try row.string("execution_id"), dedupeKey: try row.string("dedupe_key"),
            reviewKey: try row.string("review_key"), workflow: try row.string("workflow"), target: try row.string("target"),
            revisionNumber: try row.int("revision_number") ?? 0, commitID: try row.text("commit_id"),
            state: try row.string("state"), detail: try row.text("detail"), created: try row.date("created"),
            updated: try row.date("updated"))
        postingSince = try row.optionalDate("posting_since")
    }
}

extension BotNoticeRecord {
    init(row: some StoreRow) throws {
        self.init(
            key: try row.string("key"), server: try row.string("server"), target: try row.string("target"),
            message: try row.string("message"), findings: try row.text("findings"), commentID: try row.int("comment_id"),
            state: try row.string("state"), postingSince: try row.optionalDate("posting_since"), created: try row.date("created"))
    }
}

extension CommentRecord {
    init(row: some StoreRow) throws {
        self.init(
            id: try row.int("id") ?? 0, executionID: try row.string("execution_id"), taskKey: try row.string("task_key"),
            message: try row.string("message"), delivered: (try row.int("delivered") ?? 0) != 0, created: try row.date("created"))
    }
}

extension ApprovalRecord {
    /// An approval row; who approved so far is read from the votes by the caller.
    init(row: some StoreRow, approvedBy: [String]) throws {
        let statusText = try row.string("status")
        guard let status = ApprovalStatus(rawValue: statusText) else {
            throw StoreError(.invalidData, "approval has an unknown status '\(statusText)'")
        }
        self.init(
            executionID: try row.string("execution_id"), taskKey: try row.string("task_key"), token: try row.string("token"),
            message: try row.string("message"), approvers: try StoredJSON.strings(row.text("approvers"), column: "approvers"),
            required: try row.int("required") ?? 1, excluded: try StoredJSON.strings(row.text("excluded"), column: "excluded"),
            approvedBy: approvedBy, status: status, decidedBy: try row.text("decided_by"), comment: try row.text("comment"),
            created: try row.date("created"), deadline: try row.date("deadline"), decided: try row.optionalDate("decided"))
    }

    /// Every name the person deciding is known by: `identities`, and `by` itself unless it holds a `:` (such a
    /// name is a `group:NAME` entry, which only the caller's resolution, in `identities`, may grant).
    static func voterNames(by: String, identities: [String]) -> Set<String> {
        Set((by.contains(":") ? [] : [by]) + identities)
    }

    /// Whether `names` (every identity of one person) may decide this approval at `now`.
    /// - Throws: `.conflict`, naming why not.
    func checkVoter(_ names: Set<String>, by: String, at now: Date) throws(StoreError) {
        if !names.isDisjoint(with: excluded) {
            throw StoreError(.conflict, "\(by) may not decide this approval: it is their own change")
        }
        if !approvers.isEmpty && names.isDisjoint(with: approvers) {
            throw StoreError(.conflict, "\(by) may not decide this approval; approvers: \(approvers.joined(separator: ", "))")
        }
        if deadline <= now {
            throw StoreError(.conflict, "the approval of execution \(executionID) passed its deadline")
        }
    }

    /// The approval after one more vote (with `approvedBy` read after it was counted): still pending while an
    /// approval needs more approvers; decided otherwise. Returns whether it was decided.
    mutating func count(vote approve: Bool, by: String, approvedBy: [String], comment: String?, at now: Date) -> Bool {
        self.approvedBy = approvedBy
        if approve && approvedBy.count < required { return false }
        status = approve ? .approved : .rejected
        decidedBy = approve ? approvedBy.joined(separator: ", ") : by
        self.comment = comment
        decided = now
        return true
    }
}

extension AuditRecord {
    init(row: some StoreRow) throws {
        self.init(
            seq: try row.int("seq") ?? 0, time: try row.string("time"), actor: try row.string("actor"),
            repository: try row.string("repository"), revision: try row.string("revision"), role: try row.string("role"),
            action: try row.string("action"), target: try row.string("target"), result: try row.string("result"),
            prevHash: try row.string("prev_hash"), hash: try row.string("hash"))
    }

    /// The next entry of a chain whose newest entry is `last` (and whose head counts `headCount`).
    static func next(_ e: AuditEntry, last: (seq: Int, hash: String)?, headCount: Int?) -> AuditRecord {
        let seq = max(last?.seq ?? 0, headCount ?? 0) + 1
        var record = AuditRecord(
            seq: seq, time: AuditLog.timeText(e.time), actor: e.actor, repository: e.repository, revision: e.revision,
            role: e.role, action: e.action, target: e.target, result: e.result, prevHash: last?.hash ?? AuditLog.genesisHash,
            hash: "")
        record.hash = record.computedHash()
        return record
    }
}
