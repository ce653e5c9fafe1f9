public import Foundation

/// Where a store lives, parsed from `sqlite:///abs/path.db`, `sqlite://relative.db` or a plain path.
public struct StoreLocation: Sendable, Equatable {
    /// The database file's path.
    public var path: String

    public init(path: String) {
        self.path = path
    }

    /// Parses a store URL. `postgres://` is named but not supported by this build.
    public init(parsing text: String) throws(StoreError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw StoreError(.badLocation, "the store location is empty") }
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
                throw StoreError(.badLocation, "\(text): PostgreSQL stores are not supported by this build; use sqlite:///PATH")
            default:
                throw StoreError(.badLocation, "\(text): unknown store scheme '\(scheme)'; use sqlite:///PATH")
            }
        } else if trimmed.lowercased().hasPrefix("sqlite:") {
            path = String(trimmed.dropFirst("sqlite:".count))
        } else {
            path = trimmed
        }
        if path.hasPrefix("~/") {
            path = FileManager.default.homeDirectoryForCurrentUser.path + String(path.dropFirst(1))
        }
    }

    /// The default store: `$STEPGATE_STORE`, else `sqlite://$HOME/.local/state/stepgate/stepgate.db`.
    public static func defaultURL(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let s = environment["STEPGATE_STORE"], !s.isEmpty { return s }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return "sqlite://\(home)/.local/state/stepgate/stepgate.db"
    }
}
