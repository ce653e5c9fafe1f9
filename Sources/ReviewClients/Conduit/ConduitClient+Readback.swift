import Foundation

// Read-back calls the Phorge bot needs beyond the base client: a revision's transactions (the bot's own comments,
// comment commands), users by PHID (reviewer names), build targets (whether results were already sent).

/// One transaction from `transaction.search` (newest first).
public struct ConduitTransactionRecord: Decodable, Hashable, Sendable {
    public struct Comment: Decodable, Hashable, Sendable {
        public struct Content: Decodable, Hashable, Sendable { public var raw: String? }
        public var content: Content?
        public var removed: Bool?
    }
    public var id: Int
    public var phid: String?
    /// `comment`, `status`, `accept`, `update`, ... (null for some core transactions).
    public var type: String?
    public var authorPHID: String?
    public var dateCreated: Int?
    public var comments: [Comment]?

    /// The comment's text (its newest version), when the transaction carries one.
    public var text: String? {
        guard let comments, !comments.isEmpty else { return nil }
        let visible = comments.filter { $0.removed != true }
        return visible.first?.content?.raw
    }

    enum CodingKeys: String, CodingKey { case id, phid, type, authorPHID, dateCreated, comments }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(Int.self, forKey: .id)
        phid = try? c.decodeIfPresent(String.self, forKey: .phid)
        type = try? c.decodeIfPresent(String.self, forKey: .type)
        authorPHID = try? c.decodeIfPresent(String.self, forKey: .authorPHID)
        dateCreated = try? c.decodeIfPresent(Int.self, forKey: .dateCreated)
        // PHP may encode an empty list as `[]` or `{}`: anything unreadable means no comment.
        comments = try? c.decodeIfPresent([Comment].self, forKey: .comments)
    }
}

/// One user from `user.search`.
public struct ConduitUserRecord: Decodable, Hashable, Sendable {
    public struct Fields: Decodable, Hashable, Sendable {
        public var username: String
        public var realName: String?
    }
    public var id: Int
    public var phid: String
    public var fields: Fields
}

/// One build target from `harbormaster.target.search`.
public struct HarbormasterBuildTarget: Decodable, Hashable, Sendable {
    public struct Status: Decodable, Hashable, Sendable {
        /// `target/pending`, `target/building`, `target/waiting`, `target/passed`, `target/failed`, `target/aborted`.
        public var value: String
    }
    public struct Fields: Decodable, Hashable, Sendable {
        public var name: String?
        public var buildPHID: String?
        public var buildStepPHID: String?
        public var status: Status
    }
    public var id: Int
    public var phid: String
    public var fields: Fields

    /// Whether the target waits for a `pass`/`fail` message (a "Make HTTP Request" step with "Wait for Message").
    public var isWaiting: Bool { fields.status.value == "target/waiting" }

    /// Whether the target is finished (passed, failed or aborted). Phorge applies a `harbormaster.sendmessage`
    /// result in its daemons, so a target may still be waiting for a moment after results were sent.
    public var isComplete: Bool {
        ["target/passed", "target/failed", "target/aborted"].contains(fields.status.value)
    }
}

extension ConduitClient {
    /// `transaction.search` on one object (`D12` or a PHID), newest first, following the `after` cursor.
    ///
    /// - Parameters:
    ///   - authorPHIDs: only transactions by these authors.
    ///   - limit: stop after this many transactions (the newest ones).
    public func searchTransactions(
        objectIdentifier: String, authorPHIDs: [String]? = nil, limit: Int = 1000, pageSize: Int = 100
    ) async throws -> [ConduitTransactionRecord] {
        var items: [ConduitTransactionRecord] = []
        var after: String? = nil
        var seen: Set<String> = []
        repeat {
            let params = TransactionSearchParams(
                objectIdentifier: objectIdentifier,
                constraints: authorPHIDs.map { TransactionConstraints(authorPHIDs: $0) }, limit: min(pageSize, 100),
                after: after)
            let page = try await callRequired(
                "transaction.search", params: params, as: ConduitSearchPage<ConduitTransactionRecord>.self,
                idempotent: true)
            items += page.data
            after = page.cursor.after
            if let cursor = after, !seen.insert(cursor).inserted || page.data.isEmpty { break }
        } while after != nil && items.count < limit
        return items
    }

    /// `user.search` by PHIDs.
    public func searchUsers(phids: [String]) async throws -> [ConduitUserRecord] {
        guard !phids.isEmpty else { return [] }
        return try await search(
            "user.search", constraints: PHIDConstraints(phids: phids), as: ConduitUserRecord.self)
    }

    /// `harbormaster.target.search` by PHIDs.
    public func searchBuildTargets(phids: [String]) async throws -> [HarbormasterBuildTarget] {
        guard !phids.isEmpty else { return [] }
        return try await search(
            "harbormaster.target.search", constraints: PHIDConstraints(phids: phids), as: HarbormasterBuildTarget.self)
    }

    struct TransactionSearchParams: Encodable, Sendable {
        var objectIdentifier: String
        var constraints: TransactionConstraints?
        var limit: Int
        var after: String?
    }
    struct TransactionConstraints: Encodable, Sendable { var authorPHIDs: [String] }
    struct PHIDConstraints: Encodable, Sendable { var phids: [String] }
}
