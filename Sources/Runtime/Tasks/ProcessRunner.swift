import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process to run: the program, its arguments and its complete environment.
struct ProcessSpec: Sendable {
    /// Absolute path of the program.
    var executable: String
    /// argv, argv[0] included.
    var arguments: [String]
    /// The whole environment (nothing is inherited).
    var environment: [String: String]
    var workingDirectory: String
    var stdin: [UInt8]?
    /// Real seconds before the process group is terminated.
    var timeout: Double?
    /// Real seconds of silence (nothing on stdout or stderr) before the group is terminated.
    var heartbeat: Double?
    /// Bytes kept of stdout and of stderr each; the rest is read and dropped.
    var outputLimit: Int = 1 << 20
    /// Seconds between SIGTERM and SIGKILL.
    var killGrace: Double = 2
    /// Whether `executable` is bwrap running the command in a sandbox (``SandboxLayout``): its
    /// JSON status (written to descriptor 3) names the sandbox's PID 1, and ending that process
    /// ends every process of the sandbox's PID namespace, `setsid` or not.
    var sandboxed = false
}

struct ProcessOutcome: Sendable {
    enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
    }
    enum Stop: Sendable, Equatable {
        case none
        case timeout
        case heartbeat
        case cancelled
    }
    var pid: pid_t
    var termination: Termination
    var stop: Stop
    var stdout: [UInt8]
    var stderr: [UInt8]
    var stdoutTruncated: Bool
    var stderrTruncated: Bool
    /// Sandboxed only: bwrap stopped before running the command (it could not build the sandbox).
    var sandboxSetupFailed = false
}

struct SpawnFailure: Error, CustomStringConvertible {
    var description: String
}

/// Lets an async caller interrupt the blocking loop: a byte written to a pipe it polls.
final class CancelSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var fds: [Int32] = [-1, -1]
    private var closed = false

    init() throws(SpawnFailure) {
        if !makePipe(&fds) { throw SpawnFailure(description: "pipe: \(String(cString: strerror(errno)))") }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    var readEnd: Int32 { fds[0] }

    func fire() {
        lock.withLock {
            guard !closed else { return }
            var b: UInt8 = 1
            _ = write(fds[1], &b, 1)
        }
    }

    func close() {
        lock.withLock {
            guard !closed else { return }
            closed = true
            _ = Glibc.close(fds[0])
            _ = Glibc.close(fds[1])
        }
    }
}

/// Creates a pipe whose ends are closed on exec. (`pipe2` is not visible to Swift without
/// _GNU_SOURCE, so the flag is set right after; spawns of this runner hold ``spawnLock`` so that
/// none of them inherits another's pipe in between.)
private func makePipe(_ fds: inout [Int32]) -> Bool {
    guard pipe(&fds) == 0 else { return false }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return true
}

private let spawnLock = NSLock()

private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32
private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

/// glibc's `posix_spawn_file_actions_addchdir_np` (2.29+), found at run time because the header
/// declares it only under _GNU_SOURCE.
private let addChdir: AddChdir? = libcSymbol("posix_spawn_file_actions_addchdir_np")
/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+).
private let addCloseFrom: AddCloseFrom? = libcSymbol("posix_spawn_file_actions_addclosefrom_np")

func libcSymbol<T>(_ name: String) -> T? {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
    return unsafeBitCast(symbol, to: T.self)
}

/// Runs processes in their own process group with posix_spawn, so that a timeout can kill
/// everything they started; a sandboxed process (``ProcessSpec/sandboxed``) is ended with its
/// whole PID namespace instead. The child inherits descriptors 0-2 only (and bwrap its status
/// pipe), whatever the server has open without close-on-exec.
enum ProcessRunner {
    private static let ignoreSIGPIPE: Void = {
        // Writing stdin to a child that has exited must fail with EPIPE, not kill the server.
        signal(SIGPIPE, SIG_IGN)
    }()

    /// Runs `spec` on a thread of its own (the loop blocks in poll), answering cancellation by
    /// terminating the process group (or the sandbox).
    static func run(_ spec: ProcessSpec) async throws -> ProcessOutcome {
        let cancel = try CancelSignal()
        defer { cancel.close() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ProcessOutcome, any Error>) in
                let thread = Thread {
                    do {
                        continuation.resume(returning: try runBlocking(spec, cancelFD: cancel.readEnd))
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                thread.name = "stepgate-command"
                thread.start()
            }
        } onCancel: {
            cancel.fire()
        }
    }

    static func runBlocking(_ spec: ProcessSpec, cancelFD: Int32) throws(SpawnFailure) -> ProcessOutcome {
        _ = ignoreSIGPIPE
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        var inPipe: [Int32] = [-1, -1]
        var statusPipe: [Int32] = [-1, -1]
        func fail(_ what: String, _ code: Int32 = errno) -> SpawnFailure {
            SpawnFailure(description: "\(what): \(String(cString: strerror(code)))")
        }
        // Held from creating the pipes until the child has its copies (see makePipe), not longer.
        spawnLock.lock()
        var locked = true
        defer { if locked { spawnLock.unlock() } }
        guard makePipe(&outPipe), makePipe(&errPipe) else { throw fail("pipe") }
        if spec.stdin != nil, !makePipe(&inPipe) { throw fail("pipe") }
        if spec.sandboxed, !makePipe(&statusPipe) { throw fail("pipe") }
        func closeAll() {
            for fd in outPipe + errPipe + inPipe + statusPipe where fd >= 0 { close(fd) }
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if spec.stdin != nil {
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        // (glibc clears close-on-exec when a descriptor is duplicated onto itself.)
        if spec.sandboxed { posix_spawn_file_actions_adddup2(&actions, statusPipe[1], Int32(SandboxLayout.statusDescriptor)) }
        let firstClosed: Int32 = spec.sandboxed ? Int32(SandboxLayout.statusDescriptor) + 1 : 3
        if let addCloseFrom {
            _ = addCloseFrom(&actions, firstClosed)
        } else {
            for fd in openDescriptors() where fd >= firstClosed { posix_spawn_file_actions_addclose(&actions, fd) }
        }
        guard let addchdir = addChdir else {
            closeAll()
            throw SpawnFailure(description: "this C library lacks posix_spawn_file_actions_addchdir_np (glibc 2.29 or later is needed)")
        }
        _ = addchdir(&actions, spec.workingDirectory)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU] {
            sigaddset(&defaults, s)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let argv = spec.arguments.map { strdup($0) } + [nil]
        let envp = spec.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, spec.executable, &actions, &attributes, argv, envp)
        spawnLock.unlock()
        locked = false
        // The child's ends belong to the child now.
        close(outPipe[1])
        close(errPipe[1])
        if spec.stdin != nil { close(inPipe[0]) }
        if spec.sandboxed { close(statusPipe[1]) }
        if rc != 0 {
            close(outPipe[0])
            close(errPipe[0])
            if spec.stdin != nil { close(inPipe[1]) }
            if spec.sandboxed { close(statusPipe[0]) }
            throw fail("cannot run \(spec.executable)", rc)
        }
        defer {
            close(outPipe[0])
            close(errPipe[0])
        }
        var loop = OutputLoop(
            spec: spec, pid: pid, stdoutFD: outPipe[0], stderrFD: errPipe[0], stdinFD: spec.stdin != nil ? inPipe[1] : -1,
            cancelFD: cancelFD, statusFD: spec.sandboxed ? statusPipe[0] : -1)
        return loop.run()
    }

    /// The process's open file descriptors (Linux: /proc/self/fd; elsewhere 3..<256).
    static func openDescriptors() -> [Int32] {
        if let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            return names.compactMap { Int32($0) }
        }
        return Array(3..<256)
    }
}

/// The poll loop: reads both outputs, feeds stdin, watches the deadlines and the child.
private struct OutputLoop {
    let spec: ProcessSpec
    let pid: pid_t
    let stdoutFD: Int32
    let stderrFD: Int32
    var stdinFD: Int32
    let cancelFD: Int32
    /// The child is a sandbox: what bwrap reports about it.
    var status: SandboxStatus?

    var stdout: [UInt8] = []
    var stderr: [UInt8] = []
    var stdoutTruncated = false
    var stderrTruncated = false
    var stdoutOpen = true
    var stderrOpen = true
    var stdinOffset = 0
    var exited = false

    init(spec: ProcessSpec, pid: pid_t, stdoutFD: Int32, stderrFD: Int32, stdinFD: Int32, cancelFD: Int32, statusFD: Int32) {
        self.spec = spec
        self.pid = pid
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
        self.stdinFD = stdinFD
        self.cancelFD = cancelFD
        if statusFD >= 0 { status = SandboxStatus(fd: statusFD, bwrap: pid) }
        for fd in [stdoutFD, stderrFD, stdinFD, statusFD] where fd >= 0 {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Whether the child has exited (without reaping it, so its pid keeps naming the group).
    mutating func childHasExited() -> Bool {
        if exited { return true }
        var info = siginfo_t()
        if waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0, info._sifields._sigchld.si_pid == pid {
            exited = true
        }
        return exited
    }

    mutating func run() -> ProcessOutcome {
        let start = Self.now()
        let deadline = spec.timeout.map { start + $0 }
        var lastOutput = start
        var stop = ProcessOutcome.Stop.none
        var drainDeadline: Double?
        while true {
            if drainDeadline == nil, childHasExited() {
                // Whatever the command left running goes with it: its process group, or its sandbox.
                endLeftovers()
                drainDeadline = Self.now() + 1
            }
            if !stdoutOpen && !stderrOpen && exited { break }
            let now = Self.now()
            if let d = drainDeadline, now >= d { break }
            if drainDeadline == nil {
                if let deadline, now >= deadline { stop = .timeout; break }
                if let h = spec.heartbeat, now - lastOutput >= h { stop = .heartbeat; break }
            }
            var wait = 0.1
            // Both pipes closed: the child is exiting; look again soon rather than sleeping
            // through the poll interval (a short command would otherwise cost up to 100 ms).
            if !stdoutOpen && !stderrOpen { wait = 0.0005 }
            if let deadline { wait = min(wait, deadline - now) }
            if let h = spec.heartbeat { wait = min(wait, lastOutput + h - now) }
            var fds: [pollfd] = []
            if stdoutOpen { fds.append(pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)) }
            if stderrOpen { fds.append(pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0)) }
            fds.append(pollfd(fd: cancelFD, events: Int16(POLLIN), revents: 0))
            if stdinFD >= 0 { fds.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
            if let s = status, s.isOpen { fds.append(pollfd(fd: s.fd, events: Int16(POLLIN), revents: 0)) }
            let n = poll(&fds, nfds_t(fds.count), wait < 0.001 ? 1 : Int32(max(0, wait) * 1000) + 1)
            if n < 0 && errno != EINTR { break }
            var cancelled = false
            for p in fds where p.revents != 0 {
                if p.fd == cancelFD {
                    cancelled = true
                } else if p.fd == stdinFD {
                    feedStdin()
                } else if p.fd == status?.fd {
                    status?.read()
                } else if read(from: p.fd) {
                    lastOutput = Self.now()
                }
            }
            if cancelled { stop = .cancelled; break }
        }
        if stdinFD >= 0 { close(stdinFD); stdinFD = -1 }
        if stop != .none { terminate() }
        if status != nil {
            // Return only once nothing of the sandbox is left.
            endLeftovers()
            status?.awaitEnd(seconds: 5)
        }
        // Read what is already buffered, without waiting for stragglers.
        while stdoutOpen, read(from: stdoutFD) {}
        while stderrOpen, read(from: stderrFD) {}
        var waitStatus: Int32 = 0
        while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
        var termination: ProcessOutcome.Termination =
            waitStatus & 0x7f == 0 ? .exited((waitStatus >> 8) & 0xff) : .signaled(waitStatus & 0x7f)
        var setupFailed = false
        if var s = status {
            s.read()
            if let code = s.exitCode { termination = .exited(code) } else { setupFailed = stop == .none }
            s.close()
        }
        return ProcessOutcome(
            pid: pid, termination: termination, stop: stop, stdout: stdout, stderr: stderr,
            stdoutTruncated: stdoutTruncated, stderrTruncated: stderrTruncated, sandboxSetupFailed: setupFailed)
    }

    /// Kills what is left once the command is over: the process group, or the whole sandbox.
    mutating func endLeftovers() {
        if status != nil {
            status?.awaitInit(seconds: 1)
            status?.initProcess?.kill()
        }
        killpg(pid, SIGKILL)
    }

    /// SIGTERM, then SIGKILL after the grace period (or at once when the command has gone): to
    /// the process group, or for a sandbox to the command's session and then the sandbox's PID 1,
    /// which takes every process of its namespace with it.
    mutating func terminate() {
        if status != nil {
            status?.awaitInit(seconds: 1)
            if let initProcess = status?.initProcess, !initProcess.isGone {
                // bwrap's PID 1 leads the command's session (--new-session); processes that left it
                // get no SIGTERM, only the end of the namespace.
                killpg(initProcess.pid, SIGTERM)
            }
        } else {
            killpg(pid, SIGTERM)
        }
        let until = Self.now() + spec.killGrace
        while Self.now() < until, !childHasExited() {
            usleep(20_000)
        }
        status?.initProcess?.kill()
        killpg(pid, SIGKILL)
    }

    /// Reads what is available from `fd`; true when bytes arrived. Marks EOF.
    mutating func read(from fd: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            let chunk = buffer[0..<n]
            if fd == stdoutFD {
                append(chunk, to: &stdout, truncated: &stdoutTruncated)
            } else {
                append(chunk, to: &stderr, truncated: &stderrTruncated)
            }
            return true
        }
        if n == 0 || (errno != EAGAIN && errno != EINTR) {
            if fd == stdoutFD { stdoutOpen = false } else { stderrOpen = false }
        }
        return false
    }

    func append(_ chunk: ArraySlice<UInt8>, to buffer: inout [UInt8], truncated: inout Bool) {
        let room = spec.outputLimit - buffer.count
        if room >= chunk.count {
            buffer.append(contentsOf: chunk)
        } else {
            if room > 0 { buffer.append(contentsOf: chunk.prefix(room)) }
            truncated = true
        }
    }

    mutating func feedStdin() {
        guard let input = spec.stdin, stdinFD >= 0 else { return }
        if stdinOffset < input.count {
            let n = input.withUnsafeBytes { Glibc.write(stdinFD, $0.baseAddress! + stdinOffset, input.count - stdinOffset) }
            if n > 0 { stdinOffset += n } else if n < 0 && errno != EAGAIN && errno != EINTR { stdinOffset = input.count }
        }
        if stdinOffset >= input.count {
            close(stdinFD)
            stdinFD = -1
        }
    }
}
