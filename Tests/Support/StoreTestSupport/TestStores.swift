public import Foundation
public import Store

/// The stores every store test runs against: the embedded SQLite file and the PostgreSQL server that
/// `scripts/with-test-servers.sh` (run by `make test`) starts on loopback.
public enum StoreKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case sqlite
    case postgres

    public var description: String { rawValue }
}

/// A store made for one test, and what to remove afterwards.
public struct TestStore: Sendable {
    public let store: any ExecutionStore
    /// The URL that opens the same store again (another process, another pool).
    public let url: String
    let directory: URL

    /// A fresh directory of the test's own (removed with the store).
    public var directoryURL: URL { directory }

    /// Removes the SQLite store's directory (a PostgreSQL test schema goes with the throwaway server).
    public func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}

public struct TestStoreUnavailable: Error, CustomStringConvertible {
    public var description: String
}

public enum TestStores {
    /// The test server's URL (`STEPGATE_TEST_POSTGRES`).
    /// - Throws: ``TestStoreUnavailable`` naming how to start one; a test never passes without its server.
    public static func postgresURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["STEPGATE_TEST_POSTGRES"], !url.isEmpty else {
            throw TestStoreUnavailable(
                description: "STEPGATE_TEST_POSTGRES is not set: run the tests through 'make test' or 'scripts/with-test-servers.sh swift test'")
        }
        return url
    }

    /// A fresh, empty store of `kind`: a new SQLite file, or a new schema of the test PostgreSQL database.
    public static func make(_ kind: StoreKind, name: String = #function) async throws -> TestStore {
        let safe = name.filter { $0.isLetter || $0.isNumber }.prefix(24).lowercased()
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-stores-\(safe)-\(suffix)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url: String
        switch kind {
        case .sqlite: url = "sqlite://" + directory.appendingPathComponent("s.db").path
        case .postgres:
            let base = try postgresURL()
            url = base + (base.contains("?") ? "&" : "?") + "schema=t_\(safe)_\(suffix)"
        }
        let store = try openStore(url: url)
        _ = try await store.appliedMigrations()
        return TestStore(store: store, url: url, directory: directory)
    }
}
