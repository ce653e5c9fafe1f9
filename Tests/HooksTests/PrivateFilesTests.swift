import Foundation
@testable import Hooks
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Push jobs, their logs and results hold the push's details: 0600 files in 0700 directories,
/// whatever the umask.
@Suite(.serialized) struct PrivateFilesTests {
    @Test func jobAndResultFilesArePrivate() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/stepgate-private-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let previous = umask(0)
        defer { umask(previous) }
        try AtomicFile.write("{}\n", to: dir + "/stepgate/jobs/job.json")
        try AtomicFile.write("{\"status\": \"RUNNING\"}\n", to: dir + "/stepgate/jobs/job.json")
        func mode(_ path: String) -> mode_t {
            var info = stat()
            return stat(path, &info) == 0 ? info.st_mode & 0o777 : 0o7777
        }
        #expect(mode(dir + "/stepgate") == 0o700)
        #expect(mode(dir + "/stepgate/jobs") == 0o700)
        #expect(mode(dir + "/stepgate/jobs/job.json") == 0o600)
        #expect(try String(contentsOfFile: dir + "/stepgate/jobs/job.json", encoding: .utf8) == "{\"status\": \"RUNNING\"}\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/stepgate/jobs") == ["job.json"])
    }
}
