public import Foundation
internal import GRDB

/// A message the bot must put on a review exactly once (a cancellation, a refusal, validation comments, an interim
/// comment of a running execution), as the `bot_notices` table keeps it until it is known to be there.
public struct BotNoticeRecord: Sendable, Equatable {
    /// Unique per notice; also written into the posted message, so that it can be found on the server.
    public var key: String
    public var server: String
    /// The bot's JSON of the review revision it goes to (the store does not interpret it).
    public var target: String
    public var message: String
    /// File comments to post with it (the bot's JSON), if any.
    public var findings: String?
    /// The `stepgate:comment` it delivers, if it is one.
    public var commentID: Int?
    /// `pending`, `posting` (a post began at `postingSince`; whether it landed is unknown), `posted`, `rejected` (the
    /// server refused it; not tried again).
    public var state: String
    public var postingSince: Date?
    public var created: Date

    public init(
        key: String, server: String, target: String, message: String, findings: String? = nil, commentID: Int? = nil,
        state: String = "pending", postingSince: Date? = nil, created: Date = Date()
    ) {
        self.key = key
        self.server = server
        self.target = target
        self.message = message
        self.findings = findings
        self.commentID = commentID
        self.state = state
        self.postingSince = postingSince
        self.created = created
    }
}

extension SQLiteStore {
    /// Records a notice to post, unless one with its key exists; returns the notice as stored.
    @discardableResult
    public func enqueueBotNotice(_ notice: BotNoticeRecord) async throws(StoreError) -> BotNoticeRecord {
        try await write("record the notice \(notice.key)") { db in
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO bot_notices (key, server, target, message, findings, comment_id, state, posting_since,
                        created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    notice.key, notice.server, notice.target, notice.message, notice.findings, notice.commentID, notice.state,
                    notice.postingSince?.timeIntervalSince1970, notice.created.timeIntervalSince1970,
                    notice.created.timeIntervalSince1970,
                ])
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM bot_notices WHERE key = ?", arguments: [notice.key]) else {
                throw StoreError(.database, "the notice \(notice.key) vanished")
            }
            return try Self.botNotice(row)
        }
    }

    public func botNotice(key: String) async throws(StoreError) -> BotNoticeRecord? {
        try await read("read the notice \(key)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM bot_notices WHERE key = ?", arguments: [key]).map(Self.botNotice)
        }
    }

    /// The notices of `server` still to post (`pending`, or `posting` with an unknown outcome), oldest first.
    public func unpostedBotNotices(server: String) async throws(StoreError) -> [BotNoticeRecord] {
        try await read("read the notices of \(server)") { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM bot_notices WHERE server = ? AND state IN ('pending', 'posting') ORDER BY created, key",
                arguments: [server]
            ).map(Self.botNotice)
        }
    }

    /// Moves a notice to `state`; a move to `posting` records when the post began. A notice delivering a
    /// `stepgate:comment` marks the comment delivered when it becomes `posted`, in the same transaction.
    public func setBotNoticeState(key: String, state: String, at now: Date) async throws(StoreError) {
        try await write("update the notice \(key)") { db in
            try db.execute(
                sql: """
                    UPDATE bot_notices SET state = ?, updated = ?,
                        posting_since = CASE WHEN ? = 'posting' THEN ? ELSE posting_since END WHERE key = ?
                    """,
                arguments: [state, now.timeIntervalSince1970, state, now.timeIntervalSince1970, key])
            if state == "posted" {
                try db.execute(
                    sql: """
                        UPDATE comments SET delivered = 1
                        WHERE id = (SELECT comment_id FROM bot_notices WHERE key = ? AND comment_id IS NOT NULL)
                        """,
                    arguments: [key])
            }
        }
    }

    static func botNotice(_ row: Row) throws -> BotNoticeRecord {
        try BotNoticeRecord(row: Columns(row))
    }
}
