public import Foundation
internal import PostgresNIO

extension PostgresStore {
    // MARK: The bot's notices

    @discardableResult
    public func enqueueBotNotice(_ notice: BotNoticeRecord) async throws(StoreError) -> BotNoticeRecord {
        let (postingSince, created) = (notice.postingSince?.timeIntervalSince1970, notice.created.timeIntervalSince1970)
        return try await transaction("record the notice \(notice.key)") { c in
            try await c.run(
                """
                INSERT INTO bot_notices (key, server, target, message, findings, comment_id, state, posting_since, created,
                    updated)
                VALUES (\(notice.key), \(notice.server), \(notice.target), \(notice.message), \(notice.findings),
                    \(notice.commentID), \(notice.state), \(postingSince), \(created), \(created))
                ON CONFLICT (key) DO NOTHING
                """)
            guard let row = try await c.row("SELECT * FROM bot_notices WHERE key = \(notice.key)") else {
                throw StoreError(.database, "the notice \(notice.key) vanished")
            }
            return try BotNoticeRecord(row: row)
        }
    }

    public func botNotice(key: String) async throws(StoreError) -> BotNoticeRecord? {
        try await transaction("read the notice \(key)") { c in
            try await c.row("SELECT * FROM bot_notices WHERE key = \(key)").map(BotNoticeRecord.init(row:))
        }
    }

    public func unpostedBotNotices(server: String) async throws(StoreError) -> [BotNoticeRecord] {
        try await transaction("read the notices of \(server)") { c in
            try await c.rows(
                "SELECT * FROM bot_notices WHERE server = \(server) AND state IN ('pending', 'posting') ORDER BY created, key"
            ).map(BotNoticeRecord.init(row:))
        }
    }

    public func setBotNoticeState(key: String, state: String, at now: Date) async throws(StoreError) {
        let time = now.timeIntervalSince1970
        let postingSince: Double? = state == "posting" ? time : nil
        try await transaction("update the notice \(key)") { c in
            try await c.run(
                """
                UPDATE bot_notices SET state = \(state), updated = \(time), posting_since = COALESCE(\(postingSince), posting_since)
                WHERE key = \(key)
                """)
            if state == "posted" {
                try await c.run(
                    """
                    UPDATE comments SET delivered = 1
                    WHERE id = (SELECT comment_id FROM bot_notices WHERE key = \(key) AND comment_id IS NOT NULL)
                    """)
            }
        }
    }
}
