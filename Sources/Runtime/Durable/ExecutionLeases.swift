public import Foundation
public import Store

/// How a process holds leases: its name in the store, and how long a lease lasts without a heartbeat.
///
/// A lease names who runs an execution (`execution:ID`) or polls a server (`poll:SERVER`) right now. The holder
/// renews it every third of ``ttl``; a process that dies (even by SIGKILL) stops renewing, and once ``ttl`` has
/// passed (at once, when the dead process was on the same host) another process may take the work over: the execution resumes from its checkpoint, and a task whose
/// result was recorded is answered from the record, never run again.
public struct LeaseSettings: Sendable {
    /// This process, as the store records it: host, pid and a random suffix.
    public var owner: String
    /// Seconds a lease lasts without a heartbeat.
    public var ttl: Double

    public init(owner: String = LeaseSettings.processOwner, ttl: Double = 30) {
        self.owner = owner
        self.ttl = ttl
    }

    /// The owner name of this process (the same for every lease it takes).
    public static let processOwner: String = {
        let host = ProcessInfo.processInfo.hostName
        return "\(host.isEmpty ? "localhost" : host):\(getpid()):\(UUID().uuidString.prefix(8).lowercased())"
    }()

    /// The lease name of an execution.
    public static func execution(_ id: String) -> String { "execution:\(id)" }

    /// Whether `owner` names a process of this host that no longer exists: its leases need not wait for their
    /// expiry (a `stepgate executions resume` right after a SIGKILL on the same machine).
    public static func isDeadLocalProcess(_ owner: String) -> Bool {
        let parts = owner.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 3, let pid = pid_t(parts[parts.count - 2]), pid > 0 else { return false }
        let host = parts.dropLast(2).joined(separator: ":")
        let ours = ProcessInfo.processInfo.hostName
        guard host == (ours.isEmpty ? "localhost" : ours) else { return false }
        if kill(pid, 0) != 0 { return errno == ESRCH }
        // A killed process nobody has reaped yet (a detached runner whose parent is gone) is a zombie: dead too.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state == "Z" || state == "X"
    }
}

/// Runs work under a lease of the store.
public enum Leases {
    /// Runs `body` while holding the lease `name`, renewing it every `ttl / 3`; returns nil at once (without
    /// running `body`) when another owner holds it. When a renewal finds the lease taken over (this process
    /// stalled past its expiry), `body` is cancelled and a `.conflict` error is thrown. A lease this call took is
    /// given back at the end; one the owner already held (a nested call) is left to the outer holder.
    public static func holding<T: Sendable>(
        _ name: String, in store: any ExecutionStore, settings: LeaseSettings,
        _ body: @escaping @Sendable () async throws(StoreError) -> T
    ) async throws(StoreError) -> T? {
        var claim = try await store.acquireLease(name, owner: settings.owner, ttl: settings.ttl)
        if case .held(let holder, _) = claim, LeaseSettings.isDeadLocalProcess(holder) {
            try await store.releaseLease(name, owner: holder)
            claim = try await store.acquireLease(name, owner: settings.owner, ttl: settings.ttl)
        }
        switch claim {
        case .held: return nil
        case .renewed: return try await body()
        case .acquired: break
        }
        let outcome = await withTaskGroup(of: Result<T, StoreError>?.self) { group in
            group.addTask {
                do throws(StoreError) { return .success(try await body()) } catch { return .failure(error) }
            }
            group.addTask {
                let interval = Duration.milliseconds(Int64(max(0.05, settings.ttl / 3) * 1000))
                while !Task.isCancelled {
                    do { try await Task.sleep(for: interval) } catch { return nil }
                    // A renewal that cannot reach the store is tried again; one that finds the lease gone stops the work.
                    if let held = try? await store.renewLease(name, owner: settings.owner, ttl: settings.ttl), !held {
                        return .failure(StoreError(.conflict, "lost the lease \(name): another process took it over"))
                    }
                }
                return nil
            }
            var first: Result<T, StoreError>?
            while let next = await group.next() {
                if let next {
                    first = next
                    break
                }
            }
            group.cancelAll()
            return first
        }
        try? await store.releaseLease(name, owner: settings.owner)
        switch outcome {
        case .success(let value)?: return value
        case .failure(let error)?: throw error
        case nil: throw StoreError(.database, "the work under lease \(name) was cancelled")
        }
    }

    /// Whether `name` is free for `owner`: nobody holds it, its holder let it expire, or `owner` holds it.
    public static func isFree(_ name: String, in store: any ExecutionStore, for owner: String, at now: Date = Date())
        async throws(StoreError) -> Bool
    {
        guard let lease = try await store.lease(name) else { return true }
        return lease.owner == owner || lease.owner.isEmpty || lease.expires <= now || LeaseSettings.isDeadLocalProcess(lease.owner)
    }
}
