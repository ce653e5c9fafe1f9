import Foundation
import Testing

/// Gates and push workflows run on the local engine: a hook process ends with its push, and AWS
/// hands an activity task to a long poll its worker abandoned (where the task waits out its
/// timeout), so a hook cannot serve activities. A hook configuration naming `engine: aws` is
/// refused where it says so, before any shim is written.
@Suite struct AWSGateTests {
    @Test func aHookConfigurationWithEngineAWSIsRefusedWhereItSaysSo() throws {
        let world = try World(install: false)
        try world.writeFile(
            world.root + "/hooks.yaml",
            """
            hooks: {timeout: 10s}
            engine: {default: local, workflows: {commit-policy: aws}}
            aws: {region: us-east-1, role-arn: "arn:aws:iam::123456789012:role/states"}

            """)
        let out = try world.stepgate(["hooks", "install", world.server, "--binary", world.binary, "--config", world.root + "/hooks.yaml"])
        #expect(out.status != 0)
        #expect(out.stderr.contains("hooks.yaml:2:9: error: engine aws is not available to the hooks"), "\(out.stderr)")
        #expect(out.stderr.split(separator: "\n").count == 1, "\(out.stderr)")
        #expect(!FileManager.default.fileExists(atPath: world.server + "/hooks/pre-receive"))
    }
}
