public import Foundation

/// Where a PostgreSQL store lives, parsed from
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME&password-file=PATH&pool=N]`.
///
/// The password comes from the URL, else from the file `password-file` names (its first line), else from
/// `$PGPASSWORD`. ``description`` never shows it.
public struct PostgresSettings: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    /// The schema the store's tables live in (created when absent); nil: the database's default (`public`).
    public var schema: String?
    /// How many connections one process opens at most.
    public var poolSize: Int
    /// The file the password was read from, if any (hidden from tasks).
    public var passwordFile: String?

    public init(
        host: String, port: Int = 5432, user: String, password: String? = nil, database: String, schema: String? = nil,
        poolSize: Int = 12
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.schema = schema
        self.poolSize = poolSize
    }

    /// Parses a `postgres://` or `postgresql://` URL; a problem is one line naming the URL without its password.
    public init(parsing text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(StoreError) {
        let shown = Self.withoutPassword(text)
        guard let components = URLComponents(string: text.trimmingCharacters(in: .whitespaces)),
            let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql"
        else { throw StoreError(.badLocation, "\(shown): not a postgres://USER@HOST/DATABASE URL") }
        guard let host = components.host, !host.isEmpty else {
            throw StoreError(.badLocation, "\(shown): the store URL names no host")
        }
        guard let user = components.percentEncodedUser?.removingPercentEncoding, !user.isEmpty else {
            throw StoreError(.badLocation, "\(shown): the store URL names no user (postgres://USER@HOST/DATABASE)")
        }
        let database = String(components.path.drop { $0 == "/" }).removingPercentEncoding ?? ""
        self.init(host: host, port: components.port ?? 5432, user: user, database: database.isEmpty ? user : database)
        password = components.percentEncodedPassword?.removingPercentEncoding
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "schema":
                guard value.range(of: "^[A-Za-z_][A-Za-z0-9_]{0,62}$", options: .regularExpression) != nil else {
                    throw StoreError(.badLocation, "\(shown): schema '\(value)' is not a plain identifier (letters, digits, _)")
                }
                schema = value
            case "password-file", "passfile":
                guard let text = try? String(contentsOfFile: value, encoding: .utf8) else {
                    throw StoreError(.badLocation, "\(shown): cannot read the password file \(value)")
                }
                password = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
                passwordFile = value
            case "pool":
                guard let n = Int(value), n >= 1, n <= 200 else {
                    throw StoreError(.badLocation, "\(shown): pool must be a number from 1 to 200, not '\(value)'")
                }
                poolSize = n
            case "sslmode":
                guard value == "disable" else {
                    throw StoreError(.badLocation, "\(shown): sslmode=\(value) is not supported by this build; use sslmode=disable on a trusted network")
                }
            default:
                throw StoreError(.badLocation, "\(shown): unknown parameter '\(item.name)' (known: schema, password-file, pool, sslmode)")
            }
        }
        if password == nil, let p = environment["PGPASSWORD"], !p.isEmpty { password = p }
    }

    /// The URL as people may see it: never the password.
    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(h):\(port)/\(database)" + (schema.map { "?schema=\($0)" } ?? "")
    }

    /// `text` with any password between `://user:` and `@` replaced by `***`.
    public static func withoutPassword(_ text: String) -> String {
        guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@") else { return text }
        let userInfo = text[scheme.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }
}
