import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The fault-and-crash soak (`scripts/soak_bot.py`, `make soak` at full size) at a small size: the real bot as a
/// service against the Gerrit fake faulting a share of its requests at random, SIGKILLed twice while the server held
/// its review POST (and applied it afterwards). Every voted patch set is reported exactly once.
@Suite(.serialized) struct SoakTests {
    @Test func killedWhileTheServerHoldsItsReviewPostTheBotStillReportsEachPatchSetOnce() throws {
        let root = EndToEndTests.packageRoot
        let figures = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-soak-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: figures) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", root.appendingPathComponent("scripts/soak_bot.py").path, "--binary", EndToEndTests.binary,
            "--changes", "5", "--duration", "20", "--kills", "3", "--held-kills", "2", "--fault-rate", "0.15",
            "--drain", "120", "--json", figures.path,
        ]
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let err = Pipe()
        p.standardError = err
        try p.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(stderr)")
        let data = try Data(contentsOf: figures)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["patch_sets_with_two_reports"] as? Int == 0, "\(json)")
        #expect(json["current_patch_sets_unreported"] as? Int == 0, "\(json)")
        #expect(json["kills_while_a_post_was_held"] as? Int == 2, "\(json)")
        #expect((json["faulted_requests"] as? Int ?? 0) > 0, "\(json)")
    }
}
