import Foundation
import Git
import Testing

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Servers on 127.0.0.1

/// A child process serving git over the network, terminated by ``stop()`` (and waited for).
final class ServerProcess {
    let process: Process
    let port: Int

    init(process: Process, port: Int) {
        self.process = process
        self.port = port
    }

    /// SIGKILL: children started from a test thread inherit its blocked signal mask, which
    /// includes SIGTERM, so `terminate()` would not end them.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }

    /// `git daemon` exporting every repository below `basePath`.
    static func gitDaemon(basePath: String, home: String) throws -> ServerProcess {
        let port = try freePort()
        // The daemon binary itself (not the `git daemon` wrapper, which would outlive a SIGKILL
        // of the wrapper).
        let execPath = try runGit(["--exec-path"], in: basePath, home: home)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(execPath)/git-daemon")
        process.arguments = [
            "--export-all", "--base-path=\(basePath)", "--port=\(port)", "--reuseaddr",
            "--listen=127.0.0.1", basePath,
        ]
        process.environment = gitEnvironment(home: home)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let server = ServerProcess(process: process, port: port)
        do {
            try waitUntilListening(port: port)
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    /// `Support/git_http_server.py`: Basic authentication in front of `git http-backend`.
    static func gitHTTP(projectRoot: String, log: String, user: String, password: String, home: String, redirectTo: String? = nil) throws
        -> ServerProcess
    {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Support/git_http_server.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script, projectRoot, log]
        var environment = gitEnvironment(home: home)
        environment["GIT_TEST_USER"] = user
        environment["GIT_TEST_PASSWORD"] = password
        if let redirectTo { environment["GIT_TEST_REDIRECT_TO"] = redirectTo }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let server = { (port: Int) in ServerProcess(process: process, port: port) }
        // The script prints "PORT <n>" once it listens.
        var text = ""
        while !text.contains("\n") {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        guard text.hasPrefix("PORT "), let port = Int(text.dropFirst(5).prefix(while: { $0.isNumber })) else {
            server(0).stop()
            throw FixtureError(description: "git_http_server.py did not start: \(text)")
        }
        return server(port)
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw FixtureError(description: "socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
            bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
        }
    }
    guard bound else { throw FixtureError(description: "bind failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Waits (up to 10 s) until something accepts connections on 127.0.0.1:`port`.
func waitUntilListening(port: Int) throws {
    for _ in 0..<200 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        close(fd)
        if connected { return }
        usleep(50_000)
    }
    throw FixtureError(description: "nothing listens on port \(port)")
}

// MARK: - Fixtures

/// A source repository with `main` (two commits) and a Gerrit-style patch-set ref
/// `refs/changes/34/1234/2` on a commit that no branch contains.
struct ServedRepository {
    let fixture: Fixture
    /// The bare repository a server exports (`root/srv/proj.git`).
    let bare: String
    let main: ObjectID
    let patchSet: ObjectID

    static func create(in root: String) throws -> ServedRepository {
        let fixture = try Fixture.create(in: root, name: "work")
        try fixture.commit("first", files: ["a.txt": "a\n"])
        let main = try fixture.commit("second", files: ["a.txt": "b\n"])
        try fixture.git("checkout", "-q", "-b", "change")
        let patchSet = try fixture.commit("the change", files: ["b.txt": "new\n"])
        try fixture.git("checkout", "-q", "main")
        try fixture.git("update-ref", "refs/changes/34/1234/2", patchSet.description)
        try fixture.git("branch", "-q", "-D", "change")
        try FileManager.default.createDirectory(atPath: "\(root)/srv", withIntermediateDirectories: true)
        let bare = "\(root)/srv/proj.git"
        try runGit(["clone", "-q", "--mirror", fixture.path, bare], in: root, home: root)
        return ServedRepository(fixture: fixture, bare: bare, main: main, patchSet: patchSet)
    }
}

// MARK: - Tests

@Suite(.timeLimit(.minutes(1)))
struct FetchTests {
    @Test func gerritChangeRefs() {
        #expect(Repository.gerritChangeRef(change: 1234, patchSet: 2) == "refs/changes/34/1234/2")
        #expect(Repository.gerritChangeRef(change: 5, patchSet: 1) == "refs/changes/05/5/1")
        #expect(Repository.gerritChangeRef(change: 100, patchSet: 3) == "refs/changes/00/100/3")
        #expect(Repository.gerritChangeRef(change: 1207, patchSet: 10) == "refs/changes/07/1207/10")
        #expect(Repository.localPatchSetRef(change: 1234, patchSet: 2) == "refs/stepgate/changes/1234/2")
    }

    @Test func credentialsNeverShowThePassword() {
        let credentials = GitCredentials(username: "bot", password: "hunter2-secret")
        #expect(!credentials.description.contains("hunter2"))
        #expect(!String(reflecting: credentials).contains("hunter2"))
        var dumped = ""
        dump(credentials, to: &dumped)
        #expect(!dumped.contains("hunter2"))
    }

    @Test func fetchesBranchesFromFileURLIntoANewMirror() throws {
        try withTemporaryDirectory { root in
            let served = try ServedRepository.create(in: root)
            let mirror = try Repository.openOrCreateMirror(path: "\(root)/mirrors/proj.git")
            let fetched = try mirror.fetch(
                remoteURL: "file://\(served.bare)", refspecs: ["+refs/heads/*:refs/heads/*"], credentials: nil)
            #expect(fetched == [FetchedRef(remoteName: "refs/heads/main", localName: "refs/heads/main", target: served.main)])
            #expect(try mirror.reference("refs/heads/main") == served.main)
            #expect(try mirror.commit(served.main).summary == "second")
            // Nothing else was written: no FETCH_HEAD, no remote in the configuration.
            let fetchHead = (try? String(contentsOfFile: "\(root)/mirrors/proj.git/FETCH_HEAD", encoding: .utf8)) ?? ""
            #expect(fetchHead.isEmpty)
            let config = try String(contentsOfFile: "\(root)/mirrors/proj.git/config", encoding: .utf8)
            #expect(!config.contains("[remote"))

            // Fetching again changes nothing and still reports the refs.
            let again = try mirror.updateMirror(from: "file://\(served.bare)", credentials: nil)
            #expect(again.map(\.remoteName) == ["refs/heads/main"])
        }
    }

    @Test func fetchesAGerritPatchSetFromAPlainPath() throws {
        try withTemporaryDirectory { root in
            let served = try ServedRepository.create(in: root)
            let mirror = try Repository.initBare(at: "\(root)/mirror.git")
            let id = try mirror.fetchGerritPatchSet(
                serverGitURL: "\(root)/srv/", project: "proj.git", change: 1234, patchSet: 2, credentials: nil)
            #expect(id == served.patchSet)
            #expect(try mirror.reference("refs/stepgate/changes/1234/2") == served.patchSet)
            #expect(try mirror.commit(id).parents == [served.main])
            #expect(try mirror.blob(at: "b.txt", commit: id) == Array("new\n".utf8))

            let missing = try #require(throws: GitError.self) {
                try mirror.fetchGerritPatchSet(
                    serverGitURL: "\(root)/srv", project: "proj.git", change: 1234, patchSet: 3, credentials: nil)
            }
            #expect(missing.isNotFound)
            #expect(missing.message.contains("refs/changes/34/1234/3"))
        }
    }

    @Test func refspecWithoutDestinationDownloadsObjectsOnly() throws {
        try withTemporaryDirectory { root in
            let served = try ServedRepository.create(in: root)
            let mirror = try Repository.initBare(at: "\(root)/mirror.git")
            let fetched = try mirror.fetch(
                remoteURL: served.bare, refspecs: ["refs/changes/34/1234/2"], credentials: nil)
            #expect(fetched == [FetchedRef(remoteName: "refs/changes/34/1234/2", localName: nil, target: served.patchSet)])
            #expect(try mirror.commit(served.patchSet).summary == "the change")
            #expect(try mirror.references(matching: "refs/*").isEmpty)
        }
    }

    @Test func badRemoteAndBadRefspecFailClearly() throws {
        try withTemporaryDirectory { root in
            let mirror = try Repository.initBare(at: "\(root)/mirror.git")
            let noRepo = try #require(throws: GitError.self) {
                try mirror.fetch(remoteURL: "\(root)/nothing-here", refspecs: ["refs/heads/*:refs/heads/*"], credentials: nil)
            }
            #expect(noRepo.message.contains("\(root)/nothing-here"))
            let badSpec = try #require(throws: GitError.self) {
                try mirror.fetch(remoteURL: "\(root)/x", refspecs: ["refs/heads/*:refs/x/*:y"], credentials: nil)
            }
            #expect(badSpec.message.contains("invalid fetch refspec"))
        }
    }

    @Test func fetchesFromGitDaemon() throws {
        try withTemporaryDirectory { root in
            let served = try ServedRepository.create(in: root)
            let daemon = try ServerProcess.gitDaemon(basePath: "\(root)/srv", home: root)
            defer { daemon.stop() }
            let mirror = try Repository.openOrCreateMirror(path: "\(root)/mirror.git")
            let url = "git://127.0.0.1:\(daemon.port)/proj.git"
            let fetched = try mirror.fetch(
                remoteURL: url,
                refspecs: ["+refs/heads/*:refs/heads/*", "+refs/changes/*:refs/stepgate/gerrit/*"],
                credentials: nil)
            #expect(
                fetched == [
                    FetchedRef(
                        remoteName: "refs/changes/34/1234/2", localName: "refs/stepgate/gerrit/34/1234/2",
                        target: served.patchSet),
                    FetchedRef(remoteName: "refs/heads/main", localName: "refs/heads/main", target: served.main),
                ])
            #expect(try mirror.reference("refs/stepgate/gerrit/34/1234/2") == served.patchSet)
            #expect(try mirror.commit(served.patchSet).parents == [served.main])
        }
    }

    @Test func fetchesOverHTTPWithBasicAuthentication() throws {
        let password = "s3cret-Pa55word"
        try withTemporaryDirectory { root in
            let served = try ServedRepository.create(in: root)
            let log = "\(root)/http.log"
            let server = try ServerProcess.gitHTTP(
                projectRoot: "\(root)/srv", log: log, user: "stepgate-bot", password: password, home: root)
            defer { server.stop() }
            let base = "http://127.0.0.1:\(server.port)"
            let mirror = try Repository.openOrCreateMirror(path: "\(root)/mirror.git")

            // The right password.
            let id = try mirror.fetchGerritPatchSet(
                serverGitURL: base, project: "proj.git", change: 1234, patchSet: 2,
                credentials: GitCredentials(username: "stepgate-bot", password: password))
            #expect(id == served.patchSet)
            #expect(try mirror.reference("refs/stepgate/changes/1234/2") == served.patchSet)
            #expect(try mirror.blob(at: "b.txt", commit: id) == Array("new\n".utf8))

            // A wrong password: a clear error without the password, and no endless retries.
            try Data().write(to: URL(fileURLWithPath: log))
            let wrong = "wrong-\(password)"
            let error = try #require(throws: GitError.self) {
                try mirror.fetch(
                    remoteURL: "\(base)/proj.git", refspecs: ["+refs/heads/*:refs/heads/*"],
                    credentials: GitCredentials(username: "stepgate-bot", password: wrong))
            }
            #expect(error.isAuthenticationFailure)
            #expect(error.message == "authentication failed for \(base)/proj.git")
            #expect(!error.description.contains(wrong) && !error.description.contains(password))
            let requests = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
            #expect(requests.allSatisfy { $0.hasPrefix("401 ") })
            #expect((1...3).contains(requests.count))

            // No credentials at all.
            let anonymous = try #require(throws: GitError.self) {
                try mirror.fetch(remoteURL: "\(base)/proj.git", refspecs: ["refs/heads/main"], credentials: nil)
            }
            #expect(anonymous.isAuthenticationFailure)
            #expect(anonymous.message.contains("none were given"))

            // A password inside the URL never reaches a message either.
            let inURL = try #require(throws: GitError.self) {
                try mirror.fetch(
                    remoteURL: "http://stepgate-bot:\(wrong)@127.0.0.1:\(server.port)/proj.git",
                    refspecs: ["refs/heads/main"], credentials: nil)
            }
            #expect(inURL.isAuthenticationFailure)
            #expect(!inURL.description.contains(wrong))
            #expect(inURL.message.contains("http://stepgate-bot@127.0.0.1:\(server.port)/proj.git"))
        }
    }

    @Test func credentialsGoOnlyToTheConfiguredServer() throws {
        let password = "s3cret-Pa55word"
        try withTemporaryDirectory { root in
            _ = try ServedRepository.create(in: root)
            let realLog = "\(root)/real.log"
            let real = try ServerProcess.gitHTTP(
                projectRoot: "\(root)/srv", log: realLog, user: "stepgate-bot", password: password, home: root)
            defer { real.stop() }
            // The configured server redirects to another host (localhost is not 127.0.0.1), which
            // asks for the credentials.
            let redirecting = try ServerProcess.gitHTTP(
                projectRoot: "\(root)/srv", log: "\(root)/redirect.log", user: "stepgate-bot", password: password, home: root,
                redirectTo: "http://localhost:\(real.port)")
            defer { redirecting.stop() }
            let mirror = try Repository.openOrCreateMirror(path: "\(root)/mirror.git")
            let error = try #require(throws: GitError.self) {
                try mirror.fetch(
                    remoteURL: "http://127.0.0.1:\(redirecting.port)/proj.git", refspecs: ["+refs/heads/*:refs/heads/*"],
                    credentials: GitCredentials(username: "stepgate-bot", password: password))
            }
            #expect(error.isAuthenticationFailure)
            #expect(
                error.message.contains("http://localhost:\(real.port) asked for the credentials, which are only for http://127.0.0.1:\(redirecting.port)"),
                "\(error.message)")
            #expect(!error.description.contains(password))
            // The server logs a request after answering it.
            for _ in 0..<100 where !FileManager.default.fileExists(atPath: realLog) { usleep(20_000) }
            let requests = try String(contentsOfFile: realLog, encoding: .utf8).split(separator: "\n")
            #expect(!requests.isEmpty, "the redirect was followed")
            #expect(requests.allSatisfy { $0.hasSuffix(" -") }, "\(requests)")
        }
    }
}
