import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What bwrap reports on its JSON status descriptor (`--json-status-fd`): first
/// `{"child-pid": N, ...}`, N being the sandbox's PID 1 as the server sees it, then, once the
/// command has run, `{"exit-code": C}`. No exit code means bwrap never started the command.
struct SandboxStatus {
    let fd: Int32
    /// The bwrap process the runner started.
    let bwrap: pid_t
    private(set) var isOpen = true
    private var text: [UInt8] = []
    private(set) var initProcess: SandboxInit?
    private(set) var exitCode: Int32?

    init(fd: Int32, bwrap: pid_t) {
        self.fd = fd
        self.bwrap = bwrap
    }

    /// Reads what is available (the descriptor is non-blocking) and picks out the two numbers.
    mutating func read() {
        guard isOpen else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                text += buffer[0..<n]
                continue
            }
            if n == 0 || (errno != EAGAIN && errno != EINTR) { isOpen = false }
            break
        }
        if initProcess == nil, let pid = Self.number(after: "\"child-pid\"", in: text) {
            initProcess = SandboxInit(pid: pid_t(pid))
        }
        if exitCode == nil, let code = Self.number(after: "\"exit-code\"", in: text) {
            exitCode = Int32(truncatingIfNeeded: code)
        }
    }

    /// Waits (at most `seconds`) until bwrap has named the sandbox's PID 1 or closed the
    /// descriptor; bwrap writes the PID right after creating the process.
    mutating func awaitInit(seconds: Double) {
        let until = Date().addingTimeInterval(seconds)
        read()
        while initProcess == nil, isOpen, Date() < until {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, 20)
            read()
        }
    }

    /// Waits (at most `seconds`) until the sandbox's PID 1 has exited, which the kernel lets happen
    /// only after every other process of its PID namespace is gone.
    func awaitEnd(seconds: Double) {
        initProcess?.awaitExit(seconds: seconds)
    }

    mutating func close() {
        initProcess?.close()
        _ = Glibc.close(fd)
        isOpen = false
    }

    /// The integer after `key` and a colon in `text`.
    static func number(after key: String, in text: [UInt8]) -> Int? {
        let k = Array(key.utf8)
        guard text.count > k.count else { return nil }
        for start in 0...(text.count - k.count) where text[start..<start + k.count].elementsEqual(k) {
            var i = start + k.count
            while i < text.count, text[i] == UInt8(ascii: " ") || text[i] == UInt8(ascii: ":") { i += 1 }
            var negative = false
            if i < text.count, text[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            var value = 0
            var digits = 0
            while i < text.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[i]) {
                value = value * 10 + Int(text[i] - UInt8(ascii: "0"))
                digits += 1
                i += 1
            }
            // A number at the very end may still be growing.
            guard digits > 0, i < text.count else { return nil }
            return negative ? -value : value
        }
        return nil
    }
}

private typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
private typealias PidfdSendSignal = @convention(c) (Int32, Int32, UnsafeMutableRawPointer?, UInt32) -> Int32
private let pidfdOpen: PidfdOpen? = libcSymbol("pidfd_open")
private let pidfdSendSignal: PidfdSendSignal? = libcSymbol("pidfd_send_signal")

/// The sandbox's PID 1 (bwrap's reaper), held through a pidfd where the C library has them, so
/// that a signal never reaches a later process that was given the same number.
struct SandboxInit {
    let pid: pid_t
    private(set) var pidfd: Int32 = -1

    init(pid: pid_t) {
        self.pid = pid
        if let pidfdOpen { pidfd = pidfdOpen(pid, 0) }
        // Make sure the number still names bwrap's process, not a newcomer.
        if Self.command(of: pid) != "bwrap", pidfd >= 0 {
            _ = Glibc.close(pidfd)
            pidfd = -2
        }
    }

    /// Whether it has exited (a zombie counts: its namespace is empty by then).
    var isGone: Bool {
        if pidfd == -2 { return true }
        if pidfd >= 0 {
            var p = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            return poll(&p, 1, 0) > 0
        }
        return Self.command(of: pid) != "bwrap" || Self.state(of: pid).map { $0 == "Z" || $0 == "X" } ?? true
    }

    /// SIGKILL: the kernel then kills every process of the sandbox's PID namespace.
    func kill() {
        if pidfd >= 0, let pidfdSendSignal {
            _ = pidfdSendSignal(pidfd, SIGKILL, nil, 0)
        } else if pidfd == -1, !isGone {
            _ = Glibc.kill(pid, SIGKILL)
        }
    }

    func awaitExit(seconds: Double) {
        if pidfd >= 0 {
            var p = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, Int32(seconds * 1000))
            return
        }
        let until = Date().addingTimeInterval(seconds)
        while !isGone, Date() < until { usleep(2_000) }
    }

    mutating func close() {
        if pidfd >= 0 { _ = Glibc.close(pidfd) }
        pidfd = -2
    }

    private static func stat(of pid: pid_t) -> String? {
        try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    }

    static func command(of pid: pid_t) -> String? {
        guard let s = stat(of: pid), let open = s.firstIndex(of: "("), let close = s.lastIndex(of: ")") else { return nil }
        return String(s[s.index(after: open)..<close])
    }

    static func state(of pid: pid_t) -> Character? {
        guard let s = stat(of: pid), let close = s.lastIndex(of: ")"), s.distance(from: close, to: s.endIndex) > 2 else { return nil }
        return s[s.index(close, offsetBy: 2)]
    }
}
