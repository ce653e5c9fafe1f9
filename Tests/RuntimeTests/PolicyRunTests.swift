import Foundation
import StatesLanguage
import Testing

/// `stepgate run --policy` end to end, with the built binary.
@Suite struct PolicyRunTests {
    let binary = packageRoot + "/.build/debug/stepgate"

    func stepgate(_ arguments: [String], in directory: String) throws -> (status: Int32, stdout: String, stderr: String) {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw TestFailure("\(binary) is missing: run `swift build` first")
        }
        return try runProgram(binary, arguments, in: directory, environment: ["PATH": "/usr/bin:/bin", "HOME": directory, "LEAKY_SERVER_VAR": "leak-me"])
    }

    static let workflow = """
        {"StartAt": "Deploy", "States": {"Deploy": {"Type": "Task", "Resource": "stepgate:command",
          "Parameters": {"command": ["sh", "-c", "touch ran; printf '{\\"token\\": \\"%s\\", \\"leak\\": \\"%s\\", \\"file\\": \\"%s\\"}' \\"$DEPLOY_TOKEN\\" \\"${LEAKY_SERVER_VAR:-none}\\" \\"$(cat hello.txt 2>/dev/null || echo none)\\""]},
          "Credentials": {"RoleArn": "deploy-staging"}, "End": true}}}
        """

    func setUp() throws -> String {
        let dir = try makeTemporaryDirectory("run")
        try Self.workflow.write(toFile: dir + "/deploy.asl.json", atomically: true, encoding: .utf8)
        try "tok-SECRET-4242\n".write(toFile: dir + "/staging-secret", atomically: true, encoding: .utf8)
        return dir
    }

    func policy(_ dir: String, allow: String) throws -> String {
        let text = """
            roles:
              deploy-staging:
                secrets: {DEPLOY_TOKEN: {file: \(dir)/staging-secret}}
                allow: \(allow)
            """
        try text.write(toFile: dir + "/bot.yaml", atomically: true, encoding: .utf8)
        return dir + "/bot.yaml"
    }

    @Test func withoutPolicyNoRoleIsGranted() throws {
        let dir = try setUp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try stepgate(["run", "--definition", "deploy.asl.json", "--format", "json"], in: dir)
        #expect(r.status == 1)
        let out = try JSONParser.parse(r.stdout)
        #expect(out["status"] == "FAILED")
        #expect(out["error"] == "stepgate.RoleDenied")
        #expect(out["cause"]?.stringValue?.hasPrefix(#"state "Deploy" asks for role "deploy-staging", but no role is granted"#) == true, "\(r.stdout)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/ran"), "no task ran")
        #expect(r.stdout.split(separator: "\n").count == 1)
        let text = try stepgate(["run", "--definition", "deploy.asl.json"], in: dir)
        #expect(text.status == 1)
        #expect(text.stdout.contains("stepgate.RoleDenied"))
    }

    @Test func deniedByARuleFailsBeforeAnyTask() throws {
        let dir = try setUp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = try policy(dir, allow: "{triggers: [gerrit]}")
        let r = try stepgate(["run", "--definition", "deploy.asl.json", "--policy", p, "--format", "json"], in: dir)
        #expect(r.status == 1)
        let out = try JSONParser.parse(r.stdout)
        #expect(out["error"] == "stepgate.RoleDenied")
        #expect(out["cause"] == #"state "Deploy" asks for role "deploy-staging", which is allowed only for triggers "gerrit" (this is "manual")"#)
        #expect(!FileManager.default.fileExists(atPath: dir + "/ran"))
    }

    @Test func grantedRoleGetsItsSecretRedacted() throws {
        let dir = try setUp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let name = URL(fileURLWithPath: dir).lastPathComponent
        let p = try policy(dir, allow: "{repositories: [\(name)], triggers: [manual]}")
        let r = try stepgate(["run", "--definition", "deploy.asl.json", "--policy", p, "--format", "json"], in: dir)
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        let out = try JSONParser.parse(r.stdout)
        #expect(out["status"] == "SUCCEEDED")
        #expect(out["output"] == ["token": "***", "leak": "none", "file": "none"])
        #expect(!r.stdout.contains("SECRET-4242"))
        #expect(FileManager.default.fileExists(atPath: dir + "/ran"), "ran in the current directory")
        let text = try stepgate(["run", "--definition", "deploy.asl.json", "--policy", p, "--virtual-time"], in: dir)
        #expect(text.status == 0)
        #expect(!text.stdout.contains("SECRET-4242"))
    }

    @Test func runsInAFreshCheckoutOfRev() throws {
        let dir = try setUp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let repo = dir + "/demo"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        let env = ["PATH": "/usr/bin:/bin", "HOME": dir, "GIT_CONFIG_NOSYSTEM": "1"]
        for args in [["init", "-q"], ["checkout", "-q", "-b", "main"]] {
            _ = try runProgram("/usr/bin/git", args, in: repo, environment: env)
        }
        try "from-commit".write(toFile: repo + "/hello.txt", atomically: true, encoding: .utf8)
        for args in [["add", "."], ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "c"]] {
            let r = try runProgram("/usr/bin/git", args, in: repo, environment: env)
            #expect(r.status == 0, "\(r.stderr)")
        }
        let p = try policy(dir, allow: "{repositories: [demo], branches: [main]}")
        let r = try stepgate(["run", "--definition", "deploy.asl.json", "--policy", p, "--repo", repo, "--rev", "main", "--format", "json"], in: dir)
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(try JSONParser.parse(r.stdout)["output"]?["file"] == "from-commit")
        #expect(!FileManager.default.fileExists(atPath: repo + "/ran"), "the repository's work tree is untouched")
        // A commit id is not a branch: the branch rule denies it.
        let head = try runProgram("/usr/bin/git", ["rev-parse", "HEAD"], in: repo, environment: env).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let byID = try stepgate(["run", "--definition", "deploy.asl.json", "--policy", p, "--repo", repo, "--rev", head, "--format", "json"], in: dir)
        #expect(byID.status == 1)
        #expect(try JSONParser.parse(byID.stdout)["cause"]?.stringValue?.contains("allowed only on branches") == true)
    }

    /// `--rev main` grants a role restricted to branch main only when it runs main's tip: a tag
    /// named `main` (which git's lookup prefers over the branch) leads to other code and is refused.
    @Test func aTagSpelledLikeTheBranchDoesNotGetTheBranchsRole() throws {
        let dir = try setUp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let repo = dir + "/demo"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        let env = ["PATH": "/usr/bin:/bin", "HOME": dir, "GIT_CONFIG_NOSYSTEM": "1"]
        func git(_ args: [String]) throws -> String {
            let r = try runProgram("/usr/bin/git", args, in: repo, environment: env)
            #expect(r.status == 0, "git \(args): \(r.stderr)")
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try git(["init", "-q", "-b", "main"])
        try "reviewed".write(toFile: repo + "/hello.txt", atomically: true, encoding: .utf8)
        _ = try git(["add", "."])
        _ = try git(["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "reviewed"])
        _ = try git(["checkout", "-q", "-b", "elsewhere"])
        try "unreviewed".write(toFile: repo + "/hello.txt", atomically: true, encoding: .utf8)
        _ = try git(["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-am", "unreviewed"])
        _ = try git(["tag", "main", "elsewhere"])
        _ = try git(["checkout", "-q", "main"])
        let p = try policy(dir, allow: "{repositories: [demo], branches: [main]}")
        let r = try stepgate(["run", "--definition", "deploy.asl.json", "--policy", p, "--repo", repo, "--rev", "main", "--format", "json"], in: dir)
        #expect(r.status == 1, "\(r.stdout) \(r.stderr)")
        let out = try JSONParser.parse(r.stdout)
        #expect(out["error"] == "stepgate.RoleDenied", "\(r.stdout)")
        #expect(out["cause"]?.stringValue?.contains("allowed only on branches") == true, "\(r.stdout)")
        // The branch itself, named so that git cannot mistake it, gets the role.
        let branch = try stepgate(
            ["run", "--definition", "deploy.asl.json", "--policy", p, "--repo", repo, "--rev", "refs/heads/main", "--format", "json"], in: dir)
        #expect(branch.status == 0, "\(branch.stdout) \(branch.stderr)")
        #expect(try JSONParser.parse(branch.stdout)["output"]?["file"] == "reviewed")
    }

    @Test func invalidPolicyIsReportedWithLocations() throws {
        let dir = try setUp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "roles:\n  deploy-staging:\n    allow: {branchs: [main]}\n".write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        let r = try stepgate(["run", "--definition", "deploy.asl.json", "--policy", "bad.yaml"], in: dir)
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("bad.yaml:3:13: error: unknown field 'branchs'"), "\(r.stderr)")
        let missingSecret = try policy(dir, allow: "{}")
        try FileManager.default.removeItem(atPath: dir + "/staging-secret")
        let m = try stepgate(["run", "--definition", "deploy.asl.json", "--policy", missingSecret, "--format", "json"], in: dir)
        #expect(m.status == 1)
        #expect(try JSONParser.parse(m.stdout)["error"] == "stepgate.SecretUnavailable")
    }

    @Test func identityJWKSCommand() throws {
        let dir = try setUp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try stepgate(["identity", "rotate", "--keys", dir + "/keys"], in: dir).status == 0)
        let r = try stepgate(["identity", "jwks", "--keys", dir + "/keys"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let jwks = try JSONParser.parse(r.stdout)
        #expect(jwks["keys"]?.arrayValue?.count == 1)
        #expect(jwks["keys"]?.arrayValue?.first?["kty"] == "EC")
        #expect(jwks["keys"]?.arrayValue?.first?["d"] == nil)
    }
}
