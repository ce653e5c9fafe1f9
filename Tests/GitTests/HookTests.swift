import Foundation
@testable import Git
import Testing

/// Reads pushed objects from inside a real pre-receive hook's quarantine.
///
/// The hook dumps its environment, then waits for a flag file. While it waits, the pushed
/// objects exist only in `objects/tmp_objdir-incoming-*`; the test opens the repository from the
/// dumped environment, reads them, then releases the hook, which rejects the push.
struct QuarantineTests {
    @Test(.timeLimit(.minutes(1)))
    func readsPushedObjectsFromQuarantine() throws {
        try withTemporaryDirectory { root in
            let server = try Fixture.create(in: root, name: "server.git", bare: true)
            let client = try Fixture.create(in: root, name: "client")
            let base = try client.commit("base", files: ["README": "base\n"])
            try client.git("remote", "add", "origin", server.path)
            try client.git("push", "-q", "origin", "main")
            let pushed = try client.commit(
                "add workflow", files: [".stepgate/workflows/deploy.asl.json": "{\"StartAt\":\"A\"}\n"])

            let signal = "\(root)/signal"
            try FileManager.default.createDirectory(atPath: signal, withIntermediateDirectories: false)
            let hook = """
                #!/bin/sh
                cat > "\(signal)/stdin.txt"
                pwd > "\(signal)/pwd.txt"
                env -0 > "\(signal)/env.tmp" && mv "\(signal)/env.tmp" "\(signal)/env.txt"
                i=0
                while [ ! -e "\(signal)/release" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
                echo "rejected by test hook" >&2
                exit 1

                """
            let hookPath = "\(server.path)/hooks/pre-receive"
            try Data(hook.utf8).write(to: URL(fileURLWithPath: hookPath))
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hookPath)

            let push = gitProcess(["push", "-q", "origin", "main"], in: client.path, home: root)
            push.standardOutput = FileHandle.nullDevice
            push.standardError = FileHandle.nullDevice
            try push.run()
            defer {
                // Whatever happened, let the hook finish and the push end.
                _ = FileManager.default.createFile(atPath: "\(signal)/release", contents: nil)
                push.waitUntilExit()
            }

            let deadline = Date().addingTimeInterval(20)
            while !FileManager.default.fileExists(atPath: "\(signal)/env.txt") && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.05)
            }
            let envData = try Data(contentsOf: URL(fileURLWithPath: "\(signal)/env.txt"))
            let hookDirectory = try String(contentsOfFile: "\(signal)/pwd.txt", encoding: .utf8)
                .trimmingCharacters(in: .newlines)
            let environment = Self.parse(envData, relativeTo: hookDirectory)
            #expect(environment["GIT_QUARANTINE_PATH"] != nil)
            let stdin = try String(contentsOfFile: "\(signal)/stdin.txt", encoding: .utf8)
            #expect(stdin == "\(base) \(pushed) refs/heads/main\n")

            // A plain open does not see the quarantined commit.
            let plain = try Repository(path: server.path)
            #expect(try plain.resolveIfPresent(pushed.description) == nil)
            let error = try #require(throws: GitError.self) { try plain.commit(pushed) }
            #expect(error.isNotFound)

            // Opening the way the hook sees the repository does.
            let repository = try Repository.openFromHookEnvironment(environment: environment)
            #expect(repository.isBare)
            #expect(try repository.resolve(pushed.description) == pushed)
            #expect(try repository.resolve("main") == base)  // refs are not updated yet
            #expect(try repository.commitsIntroduced(old: base, new: pushed).map(\.id) == [pushed])
            #expect(
                try repository.changedPaths(from: base, to: pushed).map(\.path) == [
                    ".stepgate/workflows/deploy.asl.json"
                ])
            #expect(
                try repository.blob(at: ".stepgate/workflows/deploy.asl.json", commit: pushed)
                    == Array("{\"StartAt\":\"A\"}\n".utf8))
            #expect(try repository.files(under: ".stepgate/workflows", commit: pushed).count == 1)

            // Release the hook: it rejects the push, and git drops the quarantine.
            _ = FileManager.default.createFile(atPath: "\(signal)/release", contents: nil)
            push.waitUntilExit()
            #expect(push.terminationStatus != 0)
            let after = try Repository(path: server.path)
            #expect(try after.resolveIfPresent(pushed.description) == nil)
            #expect(try after.resolve("main") == base)
        }
    }

    /// The hook runs this test binary again, filtered to ``hookProbe()``, so that
    /// ``Repository/openFromHookEnvironment()`` sees the real hook environment through
    /// `getenv` and takes the `GIT_REPOSITORY_OPEN_FROM_ENV` route.
    @Test(.timeLimit(.minutes(1)))
    func opensFromProcessEnvironmentInsideRealHook() throws {
        try withTemporaryDirectory { root in
            let server = try Fixture.create(in: root, name: "server.git", bare: true)
            let client = try Fixture.create(in: root, name: "client")
            try client.commit("base", files: ["README": "base\n"])
            try client.git("remote", "add", "origin", server.path)
            try client.git("push", "-q", "origin", "main")
            try client.git("checkout", "-q", "-b", "topic")
            let t1 = try client.commit("t1", files: ["a.txt": "1\n"])
            let t2 = try client.commit("t2", files: [".stepgate/workflows/x.asl.json": "{}\n"])

            let signal = "\(root)/signal"
            try FileManager.default.createDirectory(atPath: signal, withIntermediateDirectories: false)
            let testBinary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
            let hook = """
                #!/bin/sh
                cat > "\(signal)/stdin.txt"
                timeout 30 "\(testBinary)" --testing-library swift-testing \\
                    --filter "QuarantineTests/hookProbe" > "\(signal)/probe.log" 2>&1
                exit 1

                """
            let hookPath = "\(server.path)/hooks/pre-receive"
            try Data(hook.utf8).write(to: URL(fileURLWithPath: hookPath))
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hookPath)

            let push = gitProcess(["push", "-q", "origin", "topic"], in: client.path, home: root)
            push.environment?[Self.probeVariable] = signal
            push.standardOutput = FileHandle.nullDevice
            push.standardError = FileHandle.nullDevice
            try push.run()
            push.waitUntilExit()
            #expect(push.terminationStatus != 0)  // the hook rejects the push

            let report = try String(contentsOfFile: "\(signal)/probe.txt", encoding: .utf8)
            #expect(
                report == """
                    plan=fromEnvironment
                    introduced=\(t1),\(t2)
                    workflows=.stepgate/workflows/x.asl.json
                    blob={}

                    """)
            #expect(try Repository(path: server.path).resolveIfPresent(t2.description) == nil)
        }
    }

    static let probeVariable = "STEPGATE_GIT_TESTS_HOOK_PROBE"

    /// Does nothing unless run by the hook of ``opensFromProcessEnvironmentInsideRealHook()``.
    @Test func hookProbe() throws {
        guard let signal = ProcessInfo.processInfo.environment[Self.probeVariable] else { return }
        var report = ""
        do {
            let plan = Repository.hookOpenPlan(environment: ProcessInfo.processInfo.environment)
            report += "plan=\(plan == .fromEnvironment ? "fromEnvironment" : "explicit")\n"
            let line = try String(contentsOfFile: "\(signal)/stdin.txt", encoding: .utf8).split(separator: " ")
            let old = try #require(ObjectID(hex: String(line[0])))
            let new = try #require(ObjectID(hex: String(line[1])))
            let repository = try Repository.openFromHookEnvironment()
            let introduced = try repository.commitsIntroduced(old: old, new: new)
            report += "introduced=\(introduced.map(\.id.description).joined(separator: ","))\n"
            let workflows = try repository.files(under: ".stepgate/workflows", commit: new)
            report += "workflows=\(workflows.joined(separator: ","))\n"
            let blob = try repository.blob(at: ".stepgate/workflows/x.asl.json", commit: new) ?? []
            report += "blob=\(String(decoding: blob, as: UTF8.self))"
        } catch {
            report += "error=\(error)\n"
        }
        try Data(report.utf8).write(to: URL(fileURLWithPath: "\(signal)/probe.txt"))
    }

    @Test func openPlan() {
        let quarantine = "/srv/r.git/objects/tmp_objdir-incoming-x"
        // The test process has no GIT_QUARANTINE_PATH, so libgit2 would not see this one.
        #expect(
            Repository.hookOpenPlan(environment: [
                "GIT_DIR": "/srv/r.git", "GIT_QUARANTINE_PATH": quarantine, "GIT_OBJECT_DIRECTORY": quarantine,
                "GIT_ALTERNATE_OBJECT_DIRECTORIES": "/srv/r.git/objects:/srv/shared/objects",
            ])
                == .explicit(
                    gitDirectory: "/srv/r.git",
                    objectDirectories: [quarantine, "/srv/r.git/objects", "/srv/shared/objects"]))
        #expect(Repository.hookOpenPlan(environment: [:]) == .explicit(gitDirectory: ".", objectDirectories: []))
        #expect(
            Repository.hookOpenPlan(environment: ["GIT_WORK_TREE": "/w", "GIT_DIR": "/w/.git", "GIT_QUARANTINE_PATH": "/q"])
                == .explicit(gitDirectory: "/w/.git", objectDirectories: ["/q"]))
    }

    @Test func withoutQuarantineOpensGitDirectory() throws {
        try withTemporaryDirectory { root in
            let server = try Fixture.create(in: root, name: "server.git", bare: true)
            let repository = try Repository.openFromHookEnvironment(environment: ["GIT_DIR": server.path])
            #expect(repository.isBare)
            #expect(repository.path == server.path)

            let missing = "\(root)/missing.git"
            let error = try #require(throws: GitError.self) {
                try Repository.openFromHookEnvironment(environment: ["GIT_DIR": missing])
            }
            #expect(error.function == "git_repository_open_ext")
        }
    }

    /// Parses `env -0` output, making the repository paths absolute (the hook ran in another
    /// directory than the test).
    static func parse(_ data: Data, relativeTo directory: String) -> [String: String] {
        var environment: [String: String] = [:]
        for entry in data.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        func absolute(_ path: String) -> String {
            if path.hasPrefix("/") { return path }
            return path == "." ? directory : "\(directory)/\(path)"
        }
        for name in ["GIT_DIR", "GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY"] {
            if let value = environment[name] { environment[name] = absolute(value) }
        }
        if let alternates = environment["GIT_ALTERNATE_OBJECT_DIRECTORIES"] {
            environment["GIT_ALTERNATE_OBJECT_DIRECTORIES"] =
                alternates.split(separator: ":").map { absolute(String($0)) }.joined(separator: ":")
        }
        return environment
    }
}
