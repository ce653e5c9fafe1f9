/// A store failure, reported as one line that names the database file.
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The store URL is not one this build understands.
        case badLocation
        /// The file cannot be created or opened (permissions, missing directory).
        case cannotOpen
        /// The file is not an SQLite database, or it is damaged.
        case corrupt
        /// The database was written by a newer stepgate.
        case tooNew
        /// Another process holds the database longer than the busy timeout.
        case busy
        /// A row the caller named does not exist.
        case notFound
        /// The operation conflicts with the stored state (already decided, not an approver...).
        case conflict
        /// Stored data that does not parse.
        case invalidData
        /// Any other SQLite failure.
        case database
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
