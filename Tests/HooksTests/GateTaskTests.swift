import Foundation
import Testing

/// Gates that run commands: in a checkout of the pushed (still quarantined) commit, under a role
/// the hook configuration grants, with the role's secret kept out of what the pusher sees.
@Suite struct GateTaskTests {
    static let config = """
        version: 1
        workflows:
          license-check:
            definition: workflows/license.asl.json
            on:
              pre-receive: {refs: [refs/heads/main]}

        """

    /// Fails unless the pushed tree has a LICENSE file; the failure's cause includes the secret.
    static let gate = #"""
        {"StartAt": "Check", "States": {"Check": {
          "Type": "Task", "Resource": "stepgate:command",
          "Parameters": {"command": ["sh", "-c", "test -f LICENSE || { echo \"no LICENSE (token $GATE_TOKEN)\" >&2; exit 3; }"]},
          "Credentials": {"RoleArn": "gatekeeper"},
          "TimeoutSeconds": 20, "End": true}}}

        """#

    func world(roles: String) throws -> World {
        let world = try World(install: false)
        try world.commit(
            "init",
            [".stepgate/stepgate.yaml": Self.config, ".stepgate/workflows/license.asl.json": Self.gate, "LICENSE": "MIT\n"])
        #expect(try world.push().status == 0)
        let secret = world.root + "/gate-token"
        try Data("s3cr3t-gate-token\n".utf8).write(to: URL(fileURLWithPath: secret))
        let hookConfig = world.root + "/hooks.yaml"
        try Data(roles.replacingOccurrences(of: "SECRET_FILE", with: secret).utf8).write(to: URL(fileURLWithPath: hookConfig))
        try world.install(["--config", hookConfig])
        return world
    }

    static let granting = """
        hooks: {timeout: 20s}
        roles:
          gatekeeper:
            secrets: {GATE_TOKEN: {file: SECRET_FILE}}
            allow: {repositories: [server], triggers: [pre-receive]}

        """

    @Test func aCommandGateJudgesThePushedTree() throws {
        let world = try world(roles: Self.granting)
        let before = try world.serverRef("refs/heads/main")
        try world.commit("drop the license", [:], remove: ["LICENSE"])
        let rejected = try world.push()
        #expect(rejected.status != 0)
        let line = rejected.stepgateLines.joined(separator: "\n")
        #expect(line.contains("gate license-check failed: stepgate.CommandFailed"), "\(rejected.stderr)")
        #expect(line.contains("no LICENSE (token ***)"))
        #expect(!rejected.stderr.contains("s3cr3t-gate-token"))
        #expect(try world.serverRef("refs/heads/main") == before)

        try world.commit("restore it", ["LICENSE": "MIT\n"])
        let accepted = try world.push()
        #expect(accepted.status == 0, "\(accepted.stderr)")
    }

    @Test func aRoleTheServerDoesNotGrantStopsTheGateBeforeItRuns() throws {
        let world = try world(roles: """
            roles:
              gatekeeper:
                secrets: {GATE_TOKEN: {file: SECRET_FILE}}
                allow: {repositories: [some-other-repository]}

            """)
        try world.commit("harmless", ["b.txt": "b\n"])
        let out = try world.push()
        #expect(out.status != 0)
        #expect(
            out.stepgateLines.contains {
                $0.contains("gate license-check not run") && $0.contains("\"gatekeeper\"") && $0.contains("some-other-repository")
            }, "\(out.stderr)")
    }
}
