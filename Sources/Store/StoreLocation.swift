public import Foundation

/// Where a store lives, parsed from `sqlite:///abs/path.db`, `sqlite://relative.db`, a plain path, or
/// `postgres://USER@HOST[:PORT]/DATABASE[?schema=NAME]`.
///
/// An SQLite URL may name, with `?audit-head=/abs/path`, a file outside the database to which every write
/// of the audit log appends its new head (`TIME seq=N head=HASH`), for the operator to ship
/// elsewhere and give back to `stepgate audit verify --expect-head`.
public enum StoreLocation: Sendable, Equatable {
    /// An SQLite file (``SQLiteStore``), and where each new audit head is appended, if anywhere.
    case sqlite(path: String, auditHeadFile: String? = nil)
    /// A PostgreSQL database (``PostgresStore``).
    case postgres(PostgresSettings)

    public init(path: String, auditHeadFile: String? = nil) {
        self = .sqlite(path: path, auditHeadFile: auditHeadFile)
    }

    /// The SQLite file's path, or the PostgreSQL URL without its password.
    public var path: String {
        switch self {
        case .sqlite(let path, _): return path
        case .postgres(let settings): return settings.description
        }
    }

    /// Where each new audit head of an SQLite store is appended, if anywhere.
    public var auditHeadFile: String? {
        if case .sqlite(_, let file) = self { return file }
        return nil
    }

    /// Parses a store URL; a problem is one line naming the URL (never its password).
    public init(parsing text: String) throws(StoreError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw StoreError(.badLocation, "the store location is empty") }
        var path: String
        var auditHeadFile: String?
        if let range = trimmed.range(of: "://") {
            let scheme = trimmed[..<range.lowerBound].lowercased()
            var rest = String(trimmed[range.upperBound...])
            switch scheme {
            case "sqlite", "sqlite3", "file":
                if let q = rest.firstIndex(of: "?") {
                    auditHeadFile = try Self.auditHead(query: rest[rest.index(after: q)...], url: text)
                    rest = String(rest[..<q])
                }
                rest = rest.removingPercentEncoding ?? rest
                guard !rest.isEmpty else { throw StoreError(.badLocation, "\(text): the store URL names no file") }
                path = rest
            case "postgres", "postgresql":
                self = .postgres(try PostgresSettings(parsing: trimmed))
                return
            default:
                throw StoreError(
                    .badLocation,
                    "\(PostgresSettings.withoutPassword(text)): unknown store scheme '\(scheme)'; use sqlite:///PATH or postgres://USER@HOST/DATABASE")
            }
        } else if trimmed.lowercased().hasPrefix("sqlite:") {
            path = String(trimmed.dropFirst("sqlite:".count))
        } else {
            path = trimmed
        }
        if path.hasPrefix("~/") {
            path = FileManager.default.homeDirectoryForCurrentUser.path + String(path.dropFirst(1))
        }
        self = .sqlite(path: path, auditHeadFile: auditHeadFile)
    }

    /// The `audit-head` parameter of an SQLite store URL's query (the only one there is).
    static func auditHead(query: Substring, url: String) throws(StoreError) -> String? {
        var head: String?
        for item in query.split(separator: "&") where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1)
            let name = String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            guard name == "audit-head" else {
                throw StoreError(.badLocation, "\(url): unknown store URL parameter '\(name)' (expected audit-head)")
            }
            guard value.hasPrefix("/") else {
                throw StoreError(.badLocation, "\(url): 'audit-head' must be an absolute file path")
            }
            head = value
        }
        return head
    }

    /// The default store: `$STEPGATE_STORE`, else `sqlite://$HOME/.local/state/stepgate/stepgate.db`.
    public static func defaultURL(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let s = environment["STEPGATE_STORE"], !s.isEmpty { return s }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return "sqlite://\(home)/.local/state/stepgate/stepgate.db"
    }
}
