internal import Foundation
internal import StatesLanguage
internal import Store

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// Starts recorded push executions as detached processes:
/// `EXECUTABLE hook run-push --git-dir DIR --store URL --execution ID` in a new session (so the
/// pusher's connection and git's hook pipes are not held open), stdin from /dev/null, stdout and
/// stderr to `<git-dir>/stepgate/log/<id>.log` (0600). An execution whose process dies is
/// finished by `stepgate executions resume --store URL`.
public struct DetachedProcessLauncher: PushJobLauncher {
    public let executable: String
    public let gitDirectory: String
    public let store: String
    public let configFile: String?

    public init(executable: String, gitDirectory: String, store: String, configFile: String?) {
        self.executable = executable
        self.gitDirectory = gitDirectory
        self.store = store
        self.configFile = configFile
    }

    public func logPath(_ id: String) -> String { "\(gitDirectory)/stepgate/log/\(id).log" }

    public func launch(executionID id: String) throws(HookFailure) {
        let log = logPath(id)
        let directory = (log as NSString).deletingLastPathComponent
        do {
            try PrivateFiles.createDirectories(directory)
            try PrivateFiles.createFile(log)
        } catch {
            throw HookFailure("cannot create the log file: \(error)")
        }
        // git's hook variables describe the push, not the runner; the runner gets an explicit --git-dir.
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("GIT_") }
        if let configFile { environment["STEPGATE_HOOK_CONFIG"] = configFile }
        try Spawn.detached(
            executable: executable,
            arguments: [executable, "hook", "run-push", "--git-dir", gitDirectory, "--store", store, "--execution", id],
            environment: environment, stdoutPath: log)
    }
}

enum Spawn {
    /// The process's open file descriptors (Linux: /proc/self/fd; elsewhere 3..<256).
    static func openDescriptors() -> [Int32] {
        if let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            return names.compactMap { Int32($0) }
        }
        return Array(3..<256)
    }

    /// posix_spawn with POSIX_SPAWN_SETSID (a new session, no controlling terminal), default
    /// signal dispositions and an empty signal mask; the child is not waited for.
    static func detached(executable: String, arguments: [String], environment: [String: String], stdoutPath: String) throws(HookFailure) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else is inherited: an inherited end of git's hook pipes would make the push
        // wait for the whole workflow.
        for fd in openDescriptors() where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        #if os(Linux)
            let setsid: Int32 = 0x80  // POSIX_SPAWN_SETSID (glibc ≥ 2.26)
        #else
            let setsid: Int32 = 0x400  // POSIX_SPAWN_SETSID on Darwin
        #endif
        let flags = Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF) | setsid
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid = pid_t()
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        if rc != 0 {
            throw HookFailure("cannot start \(executable): \(String(cString: strerror(rc)))")
        }
    }
}

/// Turns crashes and the time budget's hard limit into one line and a policy-driven exit
/// status, never a stack trace. For the short-lived hook processes only: the handlers exit.
public enum CrashGuard {
    nonisolated(unsafe) private static var crashMessage: [UInt8] = []
    nonisolated(unsafe) private static var crashStatus: Int32 = 1

    /// Installs handlers for SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE and SIGABRT that write
    /// `message` (one line) to stderr and exit with `status`.
    public static func install(message: String, status: Int32) {
        crashMessage = Array((message + "\n").utf8)
        crashStatus = status
        for sig in [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT] {
            _ = signal(sig) { _ in
                CrashGuard.crashMessage.withUnsafeBytes { raw in
                    _ = write(2, raw.baseAddress, raw.count)
                }
                _exit(CrashGuard.crashStatus)
            }
        }
    }

    /// After `seconds`, writes `message` and exits with `status`, whatever the process is
    /// doing (a hard backstop behind the cooperative deadline).
    public static func watchdog(seconds: Double, message: String, status: Int32) {
        let bytes = Array((message + "\n").utf8)
        let thread = Thread {
            Thread.sleep(forTimeInterval: seconds)
            bytes.withUnsafeBytes { raw in _ = write(2, raw.baseAddress, raw.count) }
            _exit(status)
        }
        thread.start()
    }
}
