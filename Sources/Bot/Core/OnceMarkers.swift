public import Store
import Synchronization

/// Durable markers for steps that must not be repeated after a crash or a restart (a notice posted, results sent to
/// a build target), kept next to the dedupe keys.
public protocol OnceMarkers: Sendable {
    /// The value recorded under `key`, nil when none.
    func marker(_ key: String) async throws -> String?
    func setMarker(_ key: String, _ value: String) async throws
}

/// Markers in the bot's store (the `dedupe_keys` table, keys prefixed `marker|`).
public struct StoreMarkers: OnceMarkers {
    public let store: any ExecutionStore
    public init(store: any ExecutionStore) { self.store = store }
    public func marker(_ key: String) async throws -> String? { try await store.dedupeKey("marker|" + key) }
    public func setMarker(_ key: String, _ value: String) async throws {
        try await store.setDedupeKey("marker|" + key, executionID: value)
    }
}

/// Markers that live as long as the process (for a platform used without a store).
public final class MemoryMarkers: OnceMarkers {
    private let values = Mutex<[String: String]>([:])
    public init() {}
    public func marker(_ key: String) async throws -> String? { values.withLock { $0[key] } }
    public func setMarker(_ key: String, _ value: String) async throws { values.withLock { $0[key] = value } }
}
