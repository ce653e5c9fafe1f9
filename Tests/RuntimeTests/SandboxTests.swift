import Foundation
@testable import Runtime
import StatesLanguage
import Store
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The attacks a command task from a change under review might try, each run in the bubblewrap
/// sandbox and, as a control that shows the test can fail, the same attack without it
/// (`sandbox: none`), where it succeeds.
@Suite(.serialized) struct SandboxTests {
    /// A server's state directory: secret files of two roles, the review server's password file,
    /// a store with an audit entry, an identity key directory.
    struct ServerState {
        let root: String
        let secretA = "role-a-secret-7f3c91"
        let secretB = "role-b-secret-52d8e4"
        let password = "gerrit-password-c0ffee42"
        var secretFileA: String { root + "/secrets/a" }
        var secretFileB: String { root + "/secrets/b" }
        var passwordFile: String { root + "/gerrit-password" }
        var storePath: String { root + "/stepgate.db" }
        var keyDirectory: String { root + "/keys" }
        let policy: RolePolicy

        init() async throws {
            root = try makeTemporaryDirectory("server")
            try FileManager.default.createDirectory(atPath: root + "/secrets", withIntermediateDirectories: true)
            try secretA.write(toFile: root + "/secrets/a", atomically: true, encoding: .utf8)
            try secretB.write(toFile: root + "/secrets/b", atomically: true, encoding: .utf8)
            try password.write(toFile: root + "/gerrit-password", atomically: true, encoding: .utf8)
            policy = try RolePolicy.parse(
                """
                roles:
                  a: {secrets: {A: {file: \(root)/secrets/a}}, allow: {}}
                  b: {secrets: {B: {file: \(root)/secrets/b}}, allow: {}}
                """, fileName: "policy.yaml")
            let store = try SQLiteStore(url: "sqlite://" + root + "/stepgate.db")
            try await store.audit.append(AuditEntry(actor: "stepgate", action: "task.run", target: "t", result: "succeeded"))
            let issuer = try IdentityTokenIssuer(keyDirectory: root + "/keys", issuer: "https://ci.example.org", audience: "deploy")
            try issuer.rotateIfNeeded(maxAge: .infinity)
        }

        func grants(_ roles: Set<String>) throws -> RoleGrants {
            try policy.resolveSecrets(for: roles)
        }
    }

    /// Runs `script` with sh in a fresh directory under `sandbox` and returns its stdout (stderr
    /// folded in).
    func run(
        _ script: String, sandbox: Sandbox, grants: RoleGrants = .none, role: String? = nil, directory: String? = nil,
        timeout: Int? = nil
    ) async throws -> ExecutionResult {
        let dir = try directory ?? makeTemporaryDirectory("task")
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: dir) } }
        return try await runTask(
            commandExecutor(directory: dir, grants: grants, sandbox: sandbox),
            parameters: ["command": ["sh", "-c", .string("{ \(script); } 2>&1")]], credentials: role.map { ["RoleArn": .string($0)] },
            timeout: timeout)
    }

    @Test func aTaskReadsOnlyTheSecretsOfItsOwnRole() async throws {
        let server = try await ServerState()
        defer { try? FileManager.default.removeItem(atPath: server.root) }
        let script = "cat \(server.secretFileB); cat \(server.secretFileA); echo \"A=$A B=${B:-unset}\""
        let r = try await run(script, sandbox: .bubblewrap, grants: try server.grants(["a"]), role: "a")
        let out = try #require(r.output?["stdout"]?.stringValue, "\(r.cause ?? "")")
        // Its own secret arrives in the environment (and is redacted in the result); no file is there.
        #expect(out.contains("A=*** B=unset"), "\(out)")
        #expect(out.contains("\(server.secretFileB): No such file or directory"), "\(out)")
        #expect(out.contains("\(server.secretFileA): No such file or directory"), "\(out)")
        #expect(!out.contains(server.secretB))

        let control = try await run(script, sandbox: .none, grants: try server.grants(["a"]), role: "a")
        #expect(control.output?["stdout"]?.stringValue?.contains(server.secretB) == true)
    }

    @Test func theServersFilesAreOutOfReach() async throws {
        let server = try await ServerState()
        defer { try? FileManager.default.removeItem(atPath: server.root) }
        let targets = [server.passwordFile, server.storePath, server.keyDirectory, server.secretFileA, server.root]
        let script = targets.map { "ls -d \($0) >/dev/null 2>&1 && echo \"SEEN \($0)\"" }.joined(separator: "; ") + "; echo checked"
        let r = try await run(script, sandbox: .bubblewrap, grants: try server.grants(["a"]), role: "a")
        #expect(r.output?["stdout"] == "checked\n", "\(r.output ?? .null) \(r.cause ?? "")")

        let control = try await run(script, sandbox: .none)
        let seen = try #require(control.output?["stdout"]?.stringValue)
        #expect(targets.allSatisfy { seen.contains("SEEN \($0)") }, "\(seen)")
    }

    @Test func theServedRepositoryIsOutOfReach() async throws {
        let root = try makeTemporaryDirectory("served")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (repository, commit) = try makeRepository(in: root)
        let script = "cat hello.txt; ls -d \(repository)/.git >/dev/null 2>&1 && echo SEEN; echo checked"
        for (sandbox, expected) in [(Sandbox.bubblewrap, "committed\nchecked\n"), (.none, "committed\nSEEN\nchecked\n")] {
            let r = try await runTask(
                commandExecutor(workspace: .checkout(repository: repository, commit: commit), sandbox: sandbox),
                parameters: ["command": ["sh", "-c", .string(script)]])
            #expect(r.output?["stdout"]?.stringValue == expected, "\(sandbox.mode): \(r.output ?? .null) \(r.cause ?? "")")
        }
    }

    @Test func aTaskCannotSignalTheServer() async throws {
        let script = "kill -0 \(getpid()) 2>/dev/null && echo reachable || echo unreachable"
        let r = try await run(script, sandbox: .bubblewrap)
        #expect(r.output?["stdout"] == "unreachable\n", "\(r.cause ?? "")")
        // Its own PID namespace: it sees itself, its reaper and nothing of the server.
        let ps = try await run("echo \"$(ls /proc | grep -c '^[0-9]') processes\"", sandbox: .bubblewrap)
        let count = Int(ps.output?["stdout"]?.stringValue?.split(separator: " ").first ?? "") ?? 99
        #expect(count <= 5, "\(ps.output ?? .null)")

        let control = try await run(script, sandbox: .none)
        #expect(control.output?["stdout"] == "reachable\n")
    }

    @Test func descriptorsTheServerLeftOpenAreNotInherited() async throws {
        let dir = try makeTemporaryDirectory("fd")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/store-standin"
        try "store contents 4a7b\n".write(toFile: file, atomically: true, encoding: .utf8)
        // Opened without close-on-exec, as a careless library might.
        let fd = open(file, O_RDONLY)
        #expect(fd > 2)
        defer { close(fd) }
        for sandbox in [Sandbox.bubblewrap, .none] {
            let r = try await run("cat /proc/self/fd/\(fd) || echo closed", sandbox: sandbox)
            let out = r.output?["stdout"]?.stringValue ?? ""
            #expect(!out.contains("store contents"), "\(sandbox.mode): \(out)")
            #expect(out.contains("closed"), "\(sandbox.mode): \(out)")
        }
    }

    @Test func theDeadlineEndsEveryProcessOfTheTask() async throws {
        let marker = "61\(Int.random(in: 1000...9999)).5"
        // One process ignores SIGTERM, one leaves the process group and session.
        let script = "setsid sleep \(marker)1 & trap '' TERM; sleep \(marker)2"
        let started = Date()
        let r = try await run(script, sandbox: .bubblewrap, timeout: 2)
        #expect(r.error == "States.Timeout")
        #expect(Date().timeIntervalSince(started) < 6)
        #expect(processes(marked: "sleep \(marker)").isEmpty, "survivors: \(processes(marked: "sleep \(marker)"))")

        // A process group alone lets the setsid one escape.
        let control = try await run(script, sandbox: .none, timeout: 2)
        #expect(control.error == "States.Timeout")
        let escaped = processes(marked: "sleep \(marker)1")
        #expect(escaped.count == 1)
        for pid in escaped { kill(pid, SIGKILL) }
    }

    @Test func leftoversEndWithTheCommand() async throws {
        let marker = "62\(Int.random(in: 1000...9999)).5"
        let r = try await run("setsid sleep \(marker) & echo done", sandbox: .bubblewrap)
        #expect(r.output?["stdout"] == "done\n")
        #expect(processes(marked: "sleep \(marker)").isEmpty)
    }

    @Test func theNetworkIsTheRolesChoice() async throws {
        let server = try LocalHTTPServer()
        let policy = try RolePolicy.parse(
            """
            roles:
              offline: {allow: {}}
              online: {allow: {}, network: true}
            """, fileName: "policy.yaml")
        let grants = try policy.resolveSecrets(for: ["offline", "online"])
        let fetch = "python3 -c \"import urllib.request; print(urllib.request.urlopen('\(server.base)/text').read().decode())\" || echo unreachable"
        let offline = try await run(fetch, sandbox: .bubblewrap, grants: grants, role: "offline")
        #expect(offline.output?["stdout"]?.stringValue?.hasSuffix("unreachable\n") == true, "\(offline.output ?? .null)")
        let noRole = try await run(fetch, sandbox: .bubblewrap)
        #expect(noRole.output?["stdout"]?.stringValue?.hasSuffix("unreachable\n") == true)
        let online = try await run(fetch, sandbox: .bubblewrap, grants: grants, role: "online")
        #expect(online.output?["stdout"] == "plain text\n", "\(online.output ?? .null) \(online.cause ?? "")")
    }

    @Test func readOnlyPathsAreReadableAndNotWritable() async throws {
        let shared = try makeTemporaryDirectory("shared")
        defer { try? FileManager.default.removeItem(atPath: shared) }
        try "toolchain\n".write(toFile: shared + "/tool.txt", atomically: true, encoding: .utf8)
        let policy = try RolePolicy.parse(
            """
            roles:
              build: {allow: {}, read-only-paths: [\(shared)]}
              plain: {allow: {}}
            """, fileName: "policy.yaml")
        let grants = try policy.resolveSecrets(for: ["build", "plain"])
        let script = "cat \(shared)/tool.txt || echo unreadable; touch \(shared)/new 2>/dev/null && echo written || echo read-only"
        let build = try await run(script, sandbox: .bubblewrap, grants: grants, role: "build")
        #expect(build.output?["stdout"] == "toolchain\nread-only\n", "\(build.output ?? .null) \(build.cause ?? "")")
        let plain = try await run(script, sandbox: .bubblewrap, grants: grants, role: "plain")
        #expect(plain.output?["stdout"]?.stringValue?.contains("unreadable") == true)
        #expect(!FileManager.default.fileExists(atPath: shared + "/new"))
    }

    @Test func etcHoldsOnlyWhatABuildNeeds() async throws {
        let policy = try RolePolicy.parse("roles: {online: {allow: {}, network: true}}", fileName: "policy.yaml")
        let grants = try policy.resolveSecrets(for: ["online"])
        let script = "ls /etc; ls /etc/ssl 2>/dev/null; id -un"
        let offline = try await run(script, sandbox: .bubblewrap)
        let online = try await run(script, sandbox: .bubblewrap, grants: grants, role: "online")
        let offlineNames = Set((offline.output?["stdout"]?.stringValue ?? "").split(separator: "\n").map(String.init))
        let onlineNames = Set((online.output?["stdout"]?.stringValue ?? "").split(separator: "\n").map(String.init))
        #expect(offlineNames.isSuperset(of: ["passwd", "group", "ld.so.cache", "alternatives", "root"]), "\(offlineNames.sorted())")
        #expect(!offlineNames.contains("resolv.conf"))
        #expect(onlineNames.isSuperset(of: ["passwd", "resolv.conf", "certs"]), "\(onlineNames.sorted())")
        for secretish in ["shadow", "gshadow", "private", "gitconfig", "hostname", "sudoers", "ssh", "environment"] {
            #expect(!onlineNames.contains(secretish), "\(secretish) in \(onlineNames.sorted())")
        }
    }

    @Test func protectedPathsInsideTheWorkspaceAreCovered() async throws {
        let dir = try makeTemporaryDirectory("workspace")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStore(url: "sqlite://\(dir)/state/stepgate.db")
        try await store.audit.append(AuditEntry(actor: "stepgate", action: "task.run", target: "t", result: "succeeded"))
        // Covered by /dev/null on a mount without devices: neither readable nor writable.
        let script = "cat state/stepgate.db 2>/dev/null | wc -c; { echo x >> state/stepgate.db; } 2>/dev/null && echo written || echo refused"
        let covered = try await run(script, sandbox: Sandbox.bubblewrap.protecting([store.path]), directory: dir)
        #expect(covered.output?["stdout"] == "0\nrefused\n", "\(covered.output ?? .null) \(covered.cause ?? "")")
        #expect(try await store.audit.verify().isIntact)

        let bare = try await run("cat state/stepgate.db | wc -c", sandbox: .bubblewrap, directory: dir)
        #expect(bare.output?["stdout"] != "0\n")
        // Secret files named by the policy are covered the same way.
        try "in-workspace-secret-91ab".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        let policy = try RolePolicy.parse("roles: {t: {secrets: {T: {file: \(dir)/token}}, allow: {}}}", fileName: "p.yaml")
        let grants = try policy.resolveSecrets(for: [])
        let hidden = try await run("cat token 2>/dev/null; echo", sandbox: .bubblewrap, grants: grants, directory: dir)
        #expect(hidden.output?["stdout"] == "\n", "\(hidden.output ?? .null)")
        #expect(try await run("cat token", sandbox: .none, grants: grants, directory: dir).output?["stdout"] == "in-workspace-secret-91ab")

        // A read-only path given as a link: the cover is where the task sees the file.
        let shared = try makeTemporaryDirectory("linked")
        defer { try? FileManager.default.removeItem(atPath: shared) }
        try FileManager.default.createDirectory(atPath: shared + "/real", withIntermediateDirectories: true)
        try "tool\n".write(toFile: shared + "/real/tool", atomically: true, encoding: .utf8)
        try "linked-secret-5e6f".write(toFile: shared + "/real/secret", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: shared + "/link", withDestinationPath: shared + "/real")
        let linked = try RolePolicy.parse(
            """
            roles:
              build: {allow: {}, read-only-paths: [\(shared)/link]}
              t: {secrets: {T: {file: \(shared)/real/secret}}, allow: {}}
            """, fileName: "p.yaml")
        let throughLink = "cat \(shared)/link/tool; cat \(shared)/link/secret 2>/dev/null; echo"
        let through = try await run(throughLink, sandbox: .bubblewrap, grants: try linked.resolveSecrets(for: ["build"]), role: "build")
        #expect(through.output?["stdout"] == "tool\n\n", "\(through.output ?? .null) \(through.cause ?? "")")
    }

    @Test func aProgramOutsideTheSandboxIsNamed() async throws {
        let dir = try makeTemporaryDirectory("outside")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tools = try makeTemporaryDirectory("tools")
        defer { try? FileManager.default.removeItem(atPath: tools) }
        try "#!/bin/sh\necho tool\n".write(toFile: tools + "/tool", atomically: true, encoding: .utf8)
        chmod(tools + "/tool", 0o755)
        let r = try await runTask(commandExecutor(directory: dir), parameters: ["command": [.string(tools + "/tool")]])
        #expect(r.error == "stepgate.CommandFailed")
        #expect(r.cause?.contains("lies outside the task's sandbox") == true, "\(r.cause ?? "")")
        // A script in the checkout whose interpreter is outside: the same, found by bwrap.
        try "#!\(tools)/tool\necho hi\n".write(toFile: dir + "/script", atomically: true, encoding: .utf8)
        chmod(dir + "/script", 0o755)
        let script = try await runTask(commandExecutor(directory: dir), parameters: ["command": ["./script"]])
        #expect(script.error == "stepgate.CommandFailed")
        #expect(script.cause?.hasPrefix("cannot run ./script in the task's sandbox: execvp") == true, "\(script.cause ?? "")")
    }

    @Test func withoutBubblewrapTasksFailInOneLine() async throws {
        let missing = Sandbox(bubblewrapPath: "/nonexistent/bwrap")
        let reason = try #require(missing.probe())
        #expect(reason.description.hasPrefix("cannot run tasks in a sandbox: /nonexistent/bwrap is not an executable file"))
        #expect(!reason.description.contains("\n"))
        let r = try await run("echo ran", sandbox: missing)
        #expect(r.error == "stepgate.SandboxUnavailable")
        #expect(r.cause == reason.description)
        // Here, bubblewrap works (scripts/ensure-deps.sh installs it), and none needs nothing.
        #expect(Sandbox.bubblewrap.probe() == nil)
        #expect(Sandbox.none.probe() == nil)
    }

    @Test func aFailingSandboxSaysWhy() async throws {
        // A bwrap that refuses, as one would where user namespaces are disabled.
        let dir = try makeTemporaryDirectory("fakebwrap")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fake = dir + "/bwrap"
        try "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n".write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let refusing = Sandbox(bubblewrapPath: fake)
        let reason = try #require(refusing.probe())
        #expect(reason.description.contains("bwrap: No permissions to create new namespace"))
        #expect(reason.description.contains("user namespaces must be available"))
        let r = try await run("echo ran", sandbox: refusing)
        #expect(r.error == "stepgate.SandboxUnavailable")
        #expect(r.output == nil)
    }

    /// The same sandbox for a server that does not run as root (bwrap then relies on
    /// unprivileged user namespaces): run bwrap with the task layout as `nobody`.
    @Test func anUnprivilegedServerGetsTheSameSandbox() async throws {
        let server = try await ServerState()
        defer { try? FileManager.default.removeItem(atPath: server.root) }
        let work = try makeTemporaryDirectory("nobody")
        defer { try? FileManager.default.removeItem(atPath: work) }
        chmod(work, 0o777)
        var arguments = try SandboxLayout(writable: [work], workingDirectory: work).arguments()
        // Without the status descriptor the runner would provide.
        let status = try #require(arguments.firstIndex(of: "--json-status-fd"))
        arguments.removeSubrange(status...(status + 1))
        let script = "id -u; cat \(server.secretFileA) \(server.passwordFile) 2>&1; kill -0 \(getpid()) 2>/dev/null && echo reachable; true"
        let command = ["/usr/bin/bwrap"] + arguments + ["--", "/bin/sh", "-c", script]
        let result = getuid() == 0
            ? try runProgram("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups"] + command, in: work)
            : try runProgram(command[0], Array(command.dropFirst()), in: work)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == (getuid() == 0 ? "65534" : String(getuid())))
        #expect(!result.stdout.contains(server.secretA) && !result.stdout.contains(server.password))
        #expect(result.stdout.contains("No such file or directory"))
        #expect(!result.stdout.contains("reachable"))
    }

    /// A repository with one commit (`hello.txt`), made with git.
    func makeRepository(in root: String) throws -> (path: String, commit: String) {
        let repo = root + "/demo"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        let env = ["PATH": "/usr/bin:/bin", "HOME": root, "GIT_CONFIG_NOSYSTEM": "1"]
        let git = { (args: [String]) throws -> String in
            let r = try runProgram(
                "/usr/bin/git", ["-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=main"] + args,
                in: repo, environment: env)
            if r.status != 0 { throw TestFailure("git \(args): \(r.stderr)") }
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try git(["init", "-q"])
        try "committed\n".write(toFile: repo + "/hello.txt", atomically: true, encoding: .utf8)
        _ = try git(["add", "."])
        _ = try git(["commit", "-q", "-m", "one"])
        return (repo, try git(["rev-parse", "HEAD"]))
    }
}
