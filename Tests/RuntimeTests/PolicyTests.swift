import Config
import Foundation
import Runtime
import StatesLanguage
import Testing

/// Compiles a definition given as JSON text.
func compile(_ text: String) throws -> StateMachine {
    let document = try JSONParser.parseDocument(text, fileName: "test.asl.json")
    switch StateMachineCompiler.load(document) {
    case .success(let m): return m
    case .failure(let list): throw TestFailure("definition does not compile: \(list.diagnostics)")
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

let samplePolicy = """
    store: sqlite:///var/lib/stepgate/stepgate.db
    gerrit:
      - {name: review, url: https://review.example.org}
    roles:
      ci-readonly: {allow: {repositories: [demo]}}
      deploy-staging:
        secrets: {DEPLOY_TOKEN: {file: /etc/stepgate/secrets/staging}, API_KEY: {env: STAGING_API_KEY}}
        allow: {repositories: [demo], branches: [main], triggers: [gerrit, push], labels: {Code-Review: 2}}
    """

func taskMachine(role: String, stateName: String = "Deploy", key: String = "RoleArn") throws -> StateMachine {
    try compile("""
        {"StartAt": "\(stateName)", "States": {"\(stateName)": {"Type": "Task", "Resource": "stepgate:command",
          "Parameters": {"command": ["true"]}, "Credentials": {"\(key)": "\(role)"}, "End": true}}}
        """)
}

let gerritMain = TriggerContext(
    kind: .gerrit, repository: "demo", branch: "refs/heads/main", workflow: "deploy", labels: ["Code-Review": 2])

@Suite struct PolicyTests {
    let policy: RolePolicy

    init() throws {
        policy = try RolePolicy.parse(samplePolicy, fileName: "bot.yaml")
    }

    @Test func parsesRolesAndIgnoresOtherSections() throws {
        #expect(policy.roles.keys.sorted() == ["ci-readonly", "deploy-staging"])
        let deploy = try #require(policy.roles["deploy-staging"])
        #expect(deploy.secrets["DEPLOY_TOKEN"] == .file("/etc/stepgate/secrets/staging"))
        #expect(deploy.secrets["API_KEY"] == .environment("STAGING_API_KEY"))
        #expect(deploy.allow.triggers == [.gerrit, .push])
        #expect(deploy.allow.labels == ["Code-Review": 2])
        #expect(gerritMain.branch == "main")
    }

    /// A role's `branches` and a trigger's `branches` are one glob: `release/*` stays within one
    /// path segment in both, `release/**` spans several.
    @Test func roleBranchesAndTriggerBranchesMatchAlike() throws {
        let p = try RolePolicy.parse(
            "roles:\n  one: {allow: {branches: [release/*]}}\n  deep: {allow: {branches: ['release/**']}}\n", fileName: "p.yaml")
        let config = try #require(
            RepositoryConfigLoader.load(
                "version: 1\nworkflows:\n  w:\n    definition: workflows/w.asl.json\n    on:\n      gerrit: {branches: [release/*]}\n"
            ).config)
        for (branch, expected) in [("release/1", true), ("release/a/b", false), ("main", false)] {
            let context = TriggerContext(kind: .gerrit, repository: "demo", branch: branch)
            #expect((p.denial(role: "one", context: context) == nil) == expected, "role rule on \(branch)")
            #expect(config.workflows(forGerritLabels: [:], branch: branch).isEmpty == !expected, "trigger on \(branch)")
        }
        #expect(p.denial(role: "deep", context: TriggerContext(kind: .gerrit, repository: "demo", branch: "release/a/b")) == nil)
        #expect(throws: PolicyError.self) { _ = try RolePolicy.parse("roles:\n  r: {allow: {branches: [refs/heads/main]}}\n", fileName: "p.yaml") }
        #expect(throws: PolicyError.self) { _ = try RolePolicy.parse("roles:\n  r: {allow: {branches: ['a b']}}\n", fileName: "p.yaml") }
    }

    @Test func jsonPolicyAndFileWithoutRoles() throws {
        let p = try RolePolicy.parse(#"{"roles": {"r": {"allow": {}}}}"#, fileName: "policy.json")
        #expect(p.roles["r"] != nil)
        #expect(try RolePolicy.parse("store: x\n", fileName: "bot.yaml").roles.isEmpty)
    }

    @Test func errorsAreLocated() {
        let text = """
            roles:
              a:
                allow: {repositories: [demo], branchez: [main]}
              b:
                secrets: {TOKEN: {url: x}}
                allow: {triggers: [gerit]}
              c: {secrets: {}}
            """
        do {
            _ = try RolePolicy.parse(text, fileName: "bot.yaml")
            Issue.record("expected an error")
        } catch {
            let lines = error.description.split(separator: "\n").map(String.init)
            #expect(lines.count == 4, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("bot.yaml:3:35: error: unknown field 'branchez'") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("bot.yaml:5:22: error: secret 'TOKEN' must be") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("bot.yaml:6:24: error: unknown trigger 'gerit'") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("bot.yaml:7:3: error: role 'c' has no 'allow' section") }, "\(lines)")
        }
    }

    @Test func sandboxAccessOfRoles() throws {
        let p = try RolePolicy.parse(
            """
            roles:
              build: {allow: {}, network: true, read-only-paths: [/opt/swift/, /srv/cache]}
              lint: {allow: {}}
            """, fileName: "bot.yaml")
        #expect(p.roles["build"]?.access == RoleAccess(network: true, readOnlyPaths: ["/opt/swift", "/srv/cache"]))
        #expect(p.roles["lint"]?.access == .isolated)
        let grants = try p.resolveSecrets(for: ["build"])
        #expect(grants.access["build"]?.network == true)
        #expect(grants.withoutSecrets.access == grants.access)
        #expect(policy.secretFiles == ["/etc/stepgate/secrets/staging"])
    }

    @Test func badSandboxAccessIsLocated() {
        let text = """
            roles:
              a:
                allow: {}
                network: yes please
                read-only-paths: [opt/swift, /, /proc/1, /etc/stepgate]
              b:
                secrets: {TOKEN: {file: /etc/stepgate/token}}
                allow: {}
            """
        do {
            _ = try RolePolicy.parse(text, fileName: "bot.yaml")
            Issue.record("expected an error")
        } catch {
            let lines = error.description.split(separator: "\n").map(String.init)
            #expect(lines.count == 5, "\(lines)")
            #expect(lines.contains("bot.yaml:4:14: error: 'network' of role 'a' must be true or false"), "\(lines)")
            #expect(lines.contains("bot.yaml:5:23: error: read-only path 'opt/swift' must be an absolute path without '.' or '..'"), "\(lines)")
            #expect(lines.contains { $0.hasPrefix("bot.yaml:5:34: error: read-only path '/' would give tasks the whole server") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("bot.yaml:5:37: error: read-only path '/proc/1' is under /proc") }, "\(lines)")
            #expect(
                lines.contains("bot.yaml:5:46: error: read-only path '/etc/stepgate' of role 'a' holds the file of secret TOKEN of role 'b'"),
                "\(lines)")
        }
    }

    @Test func theSandboxSetting() throws {
        func mode(_ text: String) throws(PolicyError) -> Sandbox.Mode {
            try Sandbox.mode(in: try RolePolicy.parseDocument(text, fileName: "bot.yaml"))
        }
        #expect(try mode("roles: {}") == .bubblewrap)
        #expect(try mode("sandbox: bubblewrap") == .bubblewrap)
        #expect(try mode("sandbox: none\nroles: {}") == .none)
        #expect(try mode("sandbox:\n") == .bubblewrap)
        #expect(throws: PolicyError.self) { try mode("roles: {}\nsandbox: off") }
        do {
            _ = try mode("roles: {}\nsandbox: [none]")
        } catch {
            #expect(error.description == "bot.yaml:2:10: error: 'sandbox' must be bubblewrap or none (found [\"none\"])")
        }
    }

    @Test func syntaxErrorIsLocated() {
        do {
            _ = try RolePolicy.parse("roles:\n  a: [\n", fileName: "bot.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.hasPrefix("bot.yaml:"))
            #expect(error.diagnostics.count == 1)
        }
    }

    @Test func grantedWhenEveryRuleMatches() throws {
        #expect(policy.check(machine: try taskMachine(role: "deploy-staging"), context: gerritMain).isEmpty)
        #expect(policy.check(machine: try taskMachine(role: "ci-readonly"), context: gerritMain).isEmpty)
        // Only ASL's RoleArn names a role, as the validator requires.
        #expect(RolePolicy.roleRequest(["Role": "ci-readonly"]) == .invalid("Credentials names no role (expected RoleArn)"))
        #expect(RolePolicy.roleRequest(["RoleArn": 3]) == .invalid("Credentials.RoleArn must be a non-empty string"))
        var push = gerritMain
        push.kind = .push
        push.labels = ["Code-Review": 2, "Verified": 1]
        #expect(policy.check(machine: try taskMachine(role: "deploy-staging"), context: push).isEmpty)
    }

    @Test func repositoryRule() throws {
        var c = gerritMain
        c.repository = "other"
        let d = policy.check(machine: try taskMachine(role: "ci-readonly"), context: c)
        #expect(d.map(\.message) == [#"state "Deploy" asks for role "ci-readonly", which is allowed only in repositories "demo" (this is "other")"#])
    }

    @Test func branchRule() throws {
        var c = gerritMain
        c.branch = "feature"
        let d = policy.check(machine: try taskMachine(role: "deploy-staging"), context: c)
        #expect(d.first?.message == #"state "Deploy" asks for role "deploy-staging", which is allowed only on branches "main" (this is "feature")"#)
    }

    @Test func triggerRule() throws {
        var c = gerritMain
        c.kind = .manual
        let d = policy.check(machine: try taskMachine(role: "deploy-staging"), context: c)
        #expect(d.first?.message.contains(#"allowed only for triggers "gerrit", "push" (this is "manual")"#) == true)
    }

    @Test func labelRule() throws {
        var c = gerritMain
        c.labels = ["Code-Review": 1]
        let d = policy.check(machine: try taskMachine(role: "deploy-staging"), context: c)
        #expect(d.map(\.message) == [#"state "Deploy" asks for role "deploy-staging", which requires Code-Review >= 2 (the change has 1)"#])
        c.labels = [:]
        #expect(policy.check(machine: try taskMachine(role: "deploy-staging"), context: c).first?.message.contains("no Code-Review vote") == true)
    }

    @Test func unknownRoleAndNoPolicy() throws {
        let d = policy.check(machine: try taskMachine(role: "admin"), context: gerritMain)
        #expect(d.first?.message == #"state "Deploy" asks for role "admin", which the server policy does not define"#)
        let none = RolePolicy.empty.check(machine: try taskMachine(role: "ci-readonly"), context: gerritMain)
        #expect(none.count == 1)
        #expect(none.first?.message.contains("no role is granted without a server policy") == true)
        // A task without Credentials needs no role.
        let plain = try compile(#"{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "stepgate:command", "End": true}}}"#)
        #expect(RolePolicy.empty.check(machine: plain, context: gerritMain).isEmpty)
    }

    @Test func dynamicRoleIsDenied() throws {
        let m = try compile("""
            {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "stepgate:command",
              "Credentials": {"RoleArn.$": "$.role"}, "End": true}}}
            """)
        #expect(policy.check(machine: m, context: gerritMain).first?.message.contains("chooses the role at run time") == true)
    }

    @Test func nestedTasksAreChecked() throws {
        let m = try compile("""
            {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
              {"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "Inner",
                "States": {"Inner": {"Type": "Task", "Resource": "stepgate:command", "Credentials": {"RoleArn": "nope"}, "End": true}}}}}}]}}}
            """)
        let d = policy.check(machine: m, context: gerritMain)
        #expect(d.map(\.state) == ["P/M/Inner"])
        #expect(d.first?.role == "nope")
    }

    @Test func secretsAreResolvedOnlyForGrantedRoles() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/stepgate-policy-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "s3cr3t-file-value\n".write(toFile: dir + "/staging", atomically: true, encoding: .utf8)
        let p = try RolePolicy.parse(
            samplePolicy.replacingOccurrences(of: "/etc/stepgate/secrets/staging", with: dir + "/staging"), fileName: "bot.yaml")
        let grants = try p.authorize(
            machine: try taskMachine(role: "deploy-staging"), context: gerritMain, environment: ["STAGING_API_KEY": "env-value"])
        #expect(grants.secrets["deploy-staging"] == ["DEPLOY_TOKEN": "s3cr3t-file-value", "API_KEY": "env-value"])
        #expect(grants.secrets["ci-readonly"] == nil)
        let deployMachine = try taskMachine(role: "deploy-staging")
        // A missing file is a clear error.
        do {
            _ = try policy.authorize(
                machine: deployMachine, context: gerritMain, environment: ["STAGING_API_KEY": "x"])
            Issue.record("expected an error")
        } catch {
            #expect(error.executionError.error == "stepgate.SecretUnavailable")
            #expect(error.description.contains("/etc/stepgate/secrets/staging does not exist"))
        }
        // Denied roles get no secrets at all.
        var c = gerritMain
        c.labels = [:]
        do {
            _ = try p.authorize(machine: deployMachine, context: c, environment: ["STAGING_API_KEY": "x"])
            Issue.record("expected a denial")
        } catch {
            #expect(error.executionError.error == "stepgate.RoleDenied")
        }
    }
}
