import Foundation
@testable import Hooks
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A push runner's log and the hooks' marker hold the push's details: 0600 files in 0700
/// directories, whatever the umask.
@Suite(.serialized) struct PrivateFilesTests {
    func mode(_ path: String) -> mode_t {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o777 : 0o7777
    }

    @Test func runnerLogsAndMarkersArePrivate() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/stepgate-private-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let previous = umask(0)
        defer { umask(previous) }
        let launcher = DetachedProcessLauncher(executable: "/bin/true", gitDirectory: dir, store: "sqlite://\(dir)/s.db", configFile: nil)
        try launcher.launch(executionID: "e1")
        #expect(mode(dir + "/stepgate") == 0o700)
        #expect(mode(dir + "/stepgate/log") == 0o700)
        #expect(mode(launcher.logPath("e1")) == 0o600)
        HookMain.markPushWorkflows(gitDirectory: dir)
        #expect(mode(HookMain.pushWorkflowsMarker(gitDirectory: dir)) == 0o600)
    }
}
