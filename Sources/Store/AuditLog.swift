public import Foundation
import StatesLanguage
internal import GRDB

/// One call made by automation, as the caller describes it. Never a secret value: callers pass
/// redacted text, and ``AuditLog/append(_:redact:)`` applies a redaction closure to every field.
public struct AuditEntry: Sendable, Equatable {
    public var time: Date
    /// Who or what acted: "stepgate", a user name.
    public var actor: String
    public var repository: String
    public var revision: String
    /// The role the call ran under (a Task's `Credentials.RoleArn`), or "".
    public var role: String
    /// What was done: `task.run`, `review.write`, `approval.approve`...
    public var action: String
    /// What it was done to: a task resource, a change, an execution.
    public var target: String
    /// How it went: `succeeded`, `failed: States.TaskFailed`...
    public var result: String

    public init(
        time: Date = Date(), actor: String, repository: String = "", revision: String = "", role: String = "",
        action: String, target: String, result: String
    ) {
        self.time = time
        self.actor = actor
        self.repository = repository
        self.revision = revision
        self.role = role
        self.action = action
        self.target = target
        self.result = result
    }

    /// The entry with `redact` applied to every text field.
    public func redacted(by redact: (String) -> String) -> AuditEntry {
        AuditEntry(
            time: time, actor: redact(actor), repository: redact(repository), revision: redact(revision), role: redact(role),
            action: redact(action), target: redact(target), result: redact(result))
    }
}

/// An entry as stored: its place in the chain and its hashes.
public struct AuditRecord: Sendable, Equatable {
    public var seq: Int
    /// RFC 3339 UTC with milliseconds, exactly as hashed.
    public var time: String
    public var actor: String
    public var repository: String
    public var revision: String
    public var role: String
    public var action: String
    public var target: String
    public var result: String
    public var prevHash: String
    public var hash: String

    /// SHA-256 (hex) over the canonical serialization of the fields and `prevHash`, with `seq`
    /// replaced by `seq` when given (to ask "would this entry verify at another position?").
    public func computedHash(asSeq seq: Int? = nil) -> String {
        AuditLog.hash(
            fields: [
                String(seq ?? self.seq), time, actor, repository, revision, role, action, target, result, prevHash,
            ])
    }
}

/// What ``AuditLog/verify()`` found wrong with one entry.
public struct AuditProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case edited
        case removed
        case inserted
        case reordered
        case headMismatch = "head-mismatch"
    }
    public var seq: Int
    public var kind: Kind
    public var message: String
    public var description: String { "seq \(seq): \(kind.rawValue): \(message)" }
}

public struct AuditVerification: Sendable, Equatable {
    public var entries: Int
    /// The hash of the newest entry (record it elsewhere to detect a rewrite of the whole tail).
    public var headHash: String
    public var problems: [AuditProblem]
    public var isIntact: Bool { problems.isEmpty }
}

/// The append-only, hash-chained audit log. Each entry's hash covers its fields and the previous
/// entry's hash; a one-row `audit_head` (count and newest hash, written in the same transaction)
/// catches entries removed from or added to the end. SQL triggers refuse UPDATE and DELETE.
public struct AuditLog: Sendable {
    public let store: any ExecutionStore
    public static let genesisHash = String(repeating: "0", count: 64)

    public init(store: any ExecutionStore) {
        self.store = store
    }

    /// Appends an entry (after `redact`, when given) at the end of the chain.
    @discardableResult
    public func append(_ entry: AuditEntry, redact: (@Sendable (String) -> String)? = nil) async throws(StoreError) -> AuditRecord {
        let e = redact.map { entry.redacted(by: $0) } ?? entry
        return try await store.appendAudit(e)
    }

    public func entries() async throws(StoreError) -> [AuditRecord] {
        try await store.auditChain().records
    }

    /// Checks the chain and names each problem: an edited entry (its content no longer matches
    /// its hash), removed entries (a gap in the sequence, or a head that counts more), an inserted
    /// entry (the next entry links past it, or it lies beyond the head), reordered entries (an
    /// entry whose hash verifies only at another position).
    ///
    /// - Parameter expectedHead: a head hash recorded outside the database (printed by an earlier
    ///   verification, or shipped from the store's `audit-head` file). The log must still hold
    ///   an entry with that hash: one who can write the database can cut entries off the end and
    ///   rewrite the head row to match, or rewrite the chain from some entry on, and only a head
    ///   kept elsewhere shows it.
    public func verify(expectedHead: String? = nil) async throws(StoreError) -> AuditVerification {
        let (rows, head) = try await store.auditChain()
        var verification = Self.verify(rows, headCount: head?.count, headHash: head?.hash)
        if let expected = expectedHead?.lowercased(), !rows.contains(where: { $0.hash == expected }) {
            let at = (rows.last?.seq ?? 0) + 1
            verification.problems.append(
                AuditProblem(
                    seq: at, kind: .headMismatch,
                    message: "no entry has the expected head \(expected): entries were removed from the end or the chain was rewritten"))
        }
        return verification
    }

    static func verify(_ rows: [AuditRecord], headCount: Int?, headHash: String?) -> AuditVerification {
        var problems: [AuditProblem] = []
        var reported = Set<Int>()
        func report(_ seq: Int, _ kind: AuditProblem.Kind, _ message: String) {
            problems.append(AuditProblem(seq: seq, kind: kind, message: message))
            reported.insert(seq)
        }
        let chained = rows.filter { headCount == nil || $0.seq <= headCount! }
        for r in rows where headCount != nil && r.seq > headCount! {
            report(r.seq, .inserted, "beyond the end of the log (the head records \(headCount!) entries)")
        }
        if headCount == nil && !rows.isEmpty {
            problems.append(AuditProblem(seq: 0, kind: .headMismatch, message: "the log head is missing"))
        }
        let maxSeq = max(rows.last?.seq ?? 0, headCount ?? 0)
        var expected = 1
        var previousHash = genesisHash
        var gapBefore = false
        var offset = 0
        var positions: [Int?] = []
        for (i, r) in chained.enumerated() {
            gapBefore = false
            if r.seq > expected {
                let range = expected == r.seq - 1 ? "\(expected)" : "\(expected)–\(r.seq - 1)"
                report(expected, .removed, "entry seq \(range) missing before seq \(r.seq)")
                gapBefore = true
            } else if r.seq < expected {
                report(r.seq, .inserted, "sequence number out of order")
            }
            // Which position does this entry's hash verify at?
            var verifiesAt: Int? = r.computedHash() == r.hash ? r.seq : nil
            if verifiesAt == nil {
                let window = max(1, r.seq - 1000)...max(1, min(maxSeq + 1, r.seq + 1000))
                verifiesAt = window.first { $0 != r.seq && r.computedHash(asSeq: $0) == r.hash }
            }
            positions.append(verifiesAt)
            var linkExplained = gapBefore || i == 0
            // An entry that verifies at another position was moved, not inserted.
            let beforeMoved = i >= 1 && positions[i - 1].map { $0 != chained[i - 1].seq } == true
            if verifiesAt != nil, r.prevHash != previousHash, !gapBefore, i >= 2, r.prevHash == chained[i - 2].hash,
                !beforeMoved
            {
                // This entry links past the one before it: that one was inserted (and what follows renumbered).
                let before = chained[i - 1]
                problems.removeAll { $0.seq == before.seq }
                report(before.seq, .inserted, "not part of the chain: seq \(r.seq) links past it to seq \(chained[i - 2].seq)")
                offset += 1
                linkExplained = true
            }
            if let s = verifiesAt {
                if s != r.seq && r.seq - s != offset {
                    report(r.seq, .reordered, "holds the entry written as seq \(s)")
                }
            } else {
                report(r.seq, .edited, "content does not match its hash (the entry was edited)")
            }
            if verifiesAt != nil, r.prevHash != previousHash, !linkExplained {
                let before = chained[i - 1]
                if !reported.contains(before.seq) && !reported.contains(r.seq) {
                    report(before.seq, .edited, "rewritten with a new hash: seq \(r.seq) records a different hash for it")
                }
            } else if verifiesAt != nil, i == 0, r.prevHash != genesisHash, !gapBefore {
                report(r.seq, .edited, "does not link to the start of the chain")
            }
            expected = r.seq + 1
            previousHash = r.hash
        }
        if let headCount {
            let last = chained.last?.seq ?? 0
            if last < headCount {
                let range = last + 1 == headCount ? "\(headCount)" : "\(last + 1)–\(headCount)"
                report(last + 1, .removed, "entry seq \(range) missing at the end (the head records \(headCount) entries)")
            } else if let headHash, let lastRow = chained.last, lastRow.hash != headHash, !reported.contains(lastRow.seq) {
                report(lastRow.seq, .headMismatch, "the newest entry's hash differs from the one the head records")
            }
        }
        problems.sort { ($0.seq, $0.kind.rawValue) < ($1.seq, $1.kind.rawValue) }
        return AuditVerification(entries: rows.count, headHash: rows.last?.hash ?? genesisHash, problems: problems)
    }

    // MARK: In an SQLite transaction

    static func append(_ e: AuditEntry, in db: Database) throws -> AuditRecord {
        let last = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        let headCount = try Int.fetchOne(db, sql: "SELECT count FROM audit_head WHERE id = 1")
        let record = AuditRecord.next(
            e, last: last.map { ($0["seq"] as Int? ?? 0, $0["hash"] as String? ?? "") }, headCount: headCount)
        try db.execute(
            sql: """
                INSERT INTO audit_log (seq, time, actor, repository, revision, role, action, target, result, prev_hash, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                record.seq, record.time, record.actor, record.repository, record.revision, record.role, record.action,
                record.target, record.result, record.prevHash, record.hash,
            ])
        try db.execute(
            sql: """
                INSERT INTO audit_head (id, count, hash) VALUES (1, ?, ?)
                ON CONFLICT (id) DO UPDATE SET count = excluded.count, hash = excluded.hash
                """,
            arguments: [record.seq, record.hash])
        return record
    }

    static func records(_ db: Database) throws -> [AuditRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM audit_log ORDER BY seq").map { try AuditRecord(row: SQLiteStore.Columns($0)) }
    }

    // MARK: Canonical form

    /// SHA-256 (hex) over the fields, each written as `<UTF-8 length>:<text>\n`, so no choice of
    /// field contents can make two different entries serialize alike.
    public static func hash(fields: [String]) -> String {
        var text = "stepgate-audit-v1\n"
        for f in fields { text += "\(f.utf8.count):\(f)\n" }
        return StoredJSON.sha256Hex(text)
    }

    static func timeText(_ date: Date) -> String {
        ISO8601.format(date)
    }
}

/// Appends `TIME seq=N head=HASH` to a file outside the database after every committed
/// transaction that wrote the audit log (the store's `audit-head` parameter).
final class AuditHeadWriter: TransactionObserver, @unchecked Sendable {
    let file: String
    /// Touched only on the store's writer queue.
    private var pending = false

    init(file: String) {
        self.file = file
    }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        if case .insert(let table) = eventKind { return table == "audit_log" }
        return false
    }

    func databaseDidChange(with event: DatabaseEvent) {
        pending = true
    }

    func databaseDidCommit(_ db: Database) {
        guard pending else { return }
        pending = false
        guard let row = try? Row.fetchOne(db, sql: "SELECT count, hash FROM audit_head WHERE id = 1") else { return }
        let count: Int = row["count"] ?? 0
        let hash: String = row["hash"] ?? ""
        // A head that cannot be written is not worth failing a committed transaction for; the
        // next write brings the file up to date again.
        try? PrivateFiles.append("\(AuditLog.timeText(Date())) seq=\(count) head=\(hash)\n", to: file)
    }

    func databaseDidRollback(_ db: Database) {
        pending = false
    }
}

extension SQLiteStore {
    public func appendAudit(_ entry: AuditEntry) async throws(StoreError) -> AuditRecord {
        try await write("append to the audit log") { db in try AuditLog.append(entry, in: db) }
    }

    public func auditChain() async throws(StoreError) -> (records: [AuditRecord], head: (count: Int, hash: String)?) {
        let (records, head) = try await read("read the audit log") { db in
            let head = try Row.fetchOne(db, sql: "SELECT count, hash FROM audit_head WHERE id = 1").map {
                [String($0["count"] as Int? ?? 0), $0["hash"] as String? ?? ""]
            }
            return (try AuditLog.records(db), head)
        }
        return (records, head.map { (Int($0[0]) ?? 0, $0[1]) })
    }
}
