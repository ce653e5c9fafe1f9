internal import CLibgit2

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

// libgit2 1.5 cannot read an HTTP answer that ends by the server closing the connection (no Content-Length, not
// chunked): it reports "unexpected EOF". PHP's built-in web server answers git's smart HTTP that way, so a Phorge
// served by it cannot be fetched through libgit2. git itself reads such answers: a fetch that fails so is done
// again by `git fetch`, the credentials handed over through a credential helper that reads them from the
// environment (never the command line).

extension GitError {
    /// libgit2 could not read an HTTP answer delimited by the connection closing.
    var isUnreadableHTTPAnswer: Bool { message.contains("unexpected EOF") }
}

extension Repository {
    /// Fetches with the `git` command: `git ls-remote` for what the remote advertises, then `git fetch` of the
    /// refspecs into this repository. Same results and errors as ``fetch(remoteURL:refspecs:credentials:)``.
    func fetchWithGitCommand(remoteURL: String, refspecs: [String], credentials: GitCredentials?) throws(GitError)
        -> [FetchedRef]
    {
        let safeURL = redactedURL(remoteURL)
        var environment = [
            "PATH": "/usr/local/bin:/usr/bin:/bin", "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": "/nonexistent", "GIT_ASKPASS": "", "SSH_ASKPASS": "",
        ]
        if let credentials {
            environment["STEPGATE_GIT_USERNAME"] = credentials.username
            environment["STEPGATE_GIT_PASSWORD"] = credentials.password
            environment["GIT_CONFIG_COUNT"] = "1"
            environment["GIT_CONFIG_KEY_0"] = "credential.helper"
            environment["GIT_CONFIG_VALUE_0"] =
                #"!f() { test "$1" = get && printf 'username=%s\npassword=%s\n' "$STEPGATE_GIT_USERNAME" "$STEPGATE_GIT_PASSWORD"; }; f"#
        }
        func run(_ arguments: [String]) throws(GitError) -> String {
            let (status, output) = try runGit(arguments, environment: environment)
            guard status == 0 else {
                var text = output.trimmingSuffix()
                if let password = credentials?.password, !password.isEmpty { text = text.replacing(password, with: "<redacted>") }
                if text.lowercased().contains("authentication failed") || text.contains("could not read Username") {
                    throw GitError.authenticationFailure(safeURL: safeURL, credentials: credentials, function: "git \(arguments[0])")
                }
                throw GitError(
                    code: -1, errorClass: Int32(GIT_ERROR_NET.rawValue),
                    message: "fetch from \(safeURL) failed: \(text.split(separator: "\n").last.map(String.init) ?? text)",
                    function: "git \(arguments[0])")
            }
            return output
        }
        let parsed = try Self.parseRefspecs(refspecs)
        defer { for spec in parsed { git_refspec_free(spec) } }
        var advertised: [(name: String, target: ObjectID)] = []
        for line in try run(["ls-remote", remoteURL]).split(separator: "\n") {
            let fields = line.split(separator: "\t", maxSplits: 1)
            guard fields.count == 2, let id = ObjectID(hex: String(fields[0])) else { continue }
            advertised.append((String(fields[1]), id))
        }
        _ = try run(["--git-dir", path, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remoteURL] + refspecs)
        return try Self.fetchedRefs(advertised, refspecs: parsed)
    }

    /// Runs `git ARGUMENTS` with exactly `environment`; returns its exit status and its output (stdout and stderr).
    private func runGit(_ arguments: [String], environment: [String: String]) throws(GitError) -> (Int32, String) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw GitError(code: -1, errorClass: Int32(GIT_ERROR_OS.rawValue), message: "pipe failed: errno \(errno)", function: "pipe")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        let argv = (["git"] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, "git", &actions, nil, argv, envp)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw GitError(
                code: -1, errorClass: Int32(GIT_ERROR_OS.rawValue), message: "cannot run git: errno \(rc)", function: "posix_spawnp")
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n > 0 {
                output += buffer[0..<n]
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        close(fds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), String(decoding: output, as: UTF8.self))
    }
}

extension String {
    fileprivate func trimmingSuffix() -> String {
        var text = self
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return text
    }
}
