import Foundation
import Store
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The store holds executions, approvals and the audit log: 0600 files in 0700 directories,
/// whatever the umask.
@Suite(.serialized) struct PrivateFilesTests {
    @Test func theStoreIsCreatedPrivateWhateverTheUmask() async throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let previous = umask(0)
        defer { umask(previous) }
        let store = try SQLiteStore(url: "sqlite://\(dir.path)/state/stepgate/s.db")
        try await store.audit.append(AuditEntry(actor: "stepgate", action: "task.run", target: "t", result: "succeeded"))
        func mode(_ path: String) -> mode_t {
            var info = stat()
            return stat(path, &info) == 0 ? info.st_mode & 0o777 : 0o7777
        }
        #expect(mode(dir.path + "/state") == 0o700)
        #expect(mode(dir.path + "/state/stepgate") == 0o700)
        for name in ["s.db", "s.db-wal", "s.db-shm"] {
            #expect(mode(dir.path + "/state/stepgate/" + name) == 0o600, "\(name): \(String(mode(dir.path + "/state/stepgate/" + name), radix: 8))")
        }
    }
}
