public import Foundation

/// Where a store lives, parsed from `sqlite:///abs/path.db`, `sqlite://relative.db`, a plain path, or
/// `postgres://USER@HOST[:PORT]/DATABASE[?schema=NAME]`.
public enum StoreLocation: Sendable, Equatable {
    /// An SQLite file (``SQLiteStore``).
    case sqlite(path: String)
    /// A PostgreSQL database (``PostgresStore``).
    case postgres(PostgresSettings)

    public init(path: String) {
        self = .sqlite(path: path)
    }

    /// The SQLite file's path, or the PostgreSQL URL without its password.
    public var path: String {
        switch self {
        case .sqlite(let path): return path
        case .postgres(let settings): return settings.description
        }
    }

    /// Parses a store URL; a problem is one line naming the URL (never its password).
    public init(parsing text: String) throws(StoreError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw StoreError(.badLocation, "the store location is empty") }
        var path: String
        if let range = trimmed.range(of: "://") {
            let scheme = trimmed[..<range.lowerBound].lowercased()
            var rest = String(trimmed[range.upperBound...])
            switch scheme {
            case "sqlite", "sqlite3", "file":
                if let q = rest.firstIndex(of: "?") { rest = String(rest[..<q]) }
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
        self = .sqlite(path: path)
    }

    /// The default store: `$STEPGATE_STORE`, else `sqlite://$HOME/.local/state/stepgate/stepgate.db`.
    public static func defaultURL(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let s = environment["STEPGATE_STORE"], !s.isEmpty { return s }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return "sqlite://\(home)/.local/state/stepgate/stepgate.db"
    }
}
