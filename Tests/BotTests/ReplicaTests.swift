import Foundation
import NIOHTTP1
import ReviewFakes
import StatesLanguage
import Store
import StoreTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Several `stepgate bot` processes sharing one PostgreSQL store against the Gerrit fake: every trigger runs once
/// and is reported once, even when a replica is killed in the middle of its work.
@Suite(.serialized) struct ReplicaTests {
    /// The end-to-end world (a served repository, the Gerrit fake, bot.yaml) with a workflow whose one command task
    /// sleeps, then appends its execution id to a log (a task that completed twice appears twice there), `changes`
    /// open changes, and bot replicas sharing one PostgreSQL store, each with its own mirror and work directory (as on
    /// separate machines).
    struct Cluster {
        let world: EndToEndTests.World
        let storeURL: String
        let store: any ExecutionStore
        /// Where the tasks append their execution ids.
        let taskLog: String
        var processes: [Process] = []
        var dir: URL { world.dir }
        var fake: FakeServer { world.fake }

        static func make(changes: Int, taskSeconds: Double) async throws -> Cluster {
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("stepgate-replica-tasks-\(UUID().uuidString).log")
            let world = try await EndToEndTests.World.make(
                command: "sleep \(taskSeconds); echo \"$STEPGATE_EXECUTION_ID $PPID\" >> \(log.path); printf '{\"ok\":true,\"by\":%s}' $PPID",
                store: .postgres)
            // The world has change 1; changes 2... carry the same commit.
            try world.git(
                ["-C", world.work, "push", "-q", world.served]
                    + (2...max(2, changes)).map { String(format: "HEAD:refs/changes/%02d/%d/1", $0 % 100, $0) })
            for i in 2...max(2, changes) {
                try await world.fake.control(.POST, "changes", ["project": "demo", "subject": "c\(i)", "owner": "alice", "files": ["src/a.txt"]])
            }
            return Cluster(world: world, storeURL: world.storeURL, store: try openStore(url: world.storeURL), taskLog: log.path)
        }

        /// Writes replica `n`'s bot.yaml (the world's, on the shared store, with its own mirror and work directory);
        /// returns its path.
        func configure(_ n: Int, lease: String = "2s", pollInterval: String = "300ms") throws -> String {
            let replica = dir.appendingPathComponent("replica-\(n)")
            try FileManager.default.createDirectory(at: replica, withIntermediateDirectories: true)
            let config = try String(contentsOfFile: world.config, encoding: .utf8)
                .replacingOccurrences(of: "store: \(storeURL)", with: "store: \(storeURL)\nlease: \(lease)\nwork-directory: \(replica.path)")
                .replacingOccurrences(of: "\(dir.path)/mirror.git", with: "\(replica.path)/mirror.git")
                .replacingOccurrences(of: "poll-interval: 1s", with: "poll-interval: \(pollInterval)")
                // The tasks report to a log outside their checkout, which a sandboxed task could not write.
                + "\nsandbox: none\n"
            let path = dir.appendingPathComponent("bot-\(n).yaml").path
            try config.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        /// Starts replica `n` as `stepgate bot` (the long-running service).
        mutating func startReplica(_ n: Int, lease: String = "2s", pollInterval: String = "300ms") throws {
            let path = try configure(n, lease: lease, pollInterval: pollInterval)
            let replica = dir.appendingPathComponent("replica-\(n)")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: EndToEndTests.binary)
            p.arguments = ["bot", "--config", path, "--log-level", "info"]
            let log = replica.appendingPathComponent("stderr.log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            p.standardError = try FileHandle(forWritingTo: log)
            p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            try p.run()
            processes.append(p)
        }

        func vote(_ change: Int) async throws {
            try await fake.control(.POST, "changes/\(change)/votes", ["account": "alice", "label": "Code-Review", "value": 2])
        }

        /// Reviews the bot posted, by change number.
        func reviewsByChange() async throws -> [Int: Int] {
            let reviews = try await fake.control(.GET, "reviews") as? [[String: Any]] ?? []
            var counts: [Int: Int] = [:]
            for r in reviews { if let c = r["change"] as? Int { counts[c, default: 0] += 1 } }
            return counts
        }

        /// Which replicas (by process id) completed each execution's task, in order.
        func taskRuns() -> [String: [Int32]] {
            let text = (try? String(contentsOfFile: taskLog, encoding: .utf8)) ?? ""
            var runs: [String: [Int32]] = [:]
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count == 2, let pid = Int32(fields[1]) else { continue }
                runs[String(fields[0]), default: []].append(pid)
            }
            return runs
        }

        /// SIGKILLs replica `index` and every process under it at once, as a machine or container dies.
        func kill(_ index: Int) {
            let root = processes[index].processIdentifier
            // Stopped first, so that no task it starts after the process tree is read outlives it (a task started
            // between the read and the kills would finish on its own and look like a task run twice).
            Glibc.kill(root, SIGSTOP)
            let tree = [root] + Self.descendants(of: root)
            for pid in tree { Glibc.kill(pid, SIGKILL) }
            processes[index].waitUntilExit()
        }

        /// Whether a process whose command line contains `marker` runs under replica `index`.
        func runs(_ marker: String, under index: Int) -> Bool {
            Self.descendants(of: processes[index].processIdentifier).contains { pid in
                guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
                return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ").contains(marker)
            }
        }

        static func descendants(of root: pid_t) -> [pid_t] {
            var parent: [pid_t: pid_t] = [:]
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { continue }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                if fields.count > 1, let ppid = pid_t(fields[1]) { parent[pid] = ppid }
            }
            var found: [pid_t] = []
            var frontier: Set<pid_t> = [root]
            while !frontier.isEmpty {
                let next = parent.filter { frontier.contains($0.value) }.map(\.key)
                found += next
                frontier = Set(next)
            }
            return found
        }

        func stop() {
            for p in processes where p.isRunning { Glibc.kill(p.processIdentifier, SIGTERM) }
            let deadline = Date().addingTimeInterval(10)
            for p in processes {
                while p.isRunning && Date() < deadline { usleep(20_000) }
                if p.isRunning { Glibc.kill(p.processIdentifier, SIGKILL) }
            }
            world.stop()
            try? FileManager.default.removeItem(atPath: taskLog)
        }

        func log(_ n: Int) -> String {
            (try? String(contentsOfFile: dir.appendingPathComponent("replica-\(n)/stderr.log").path, encoding: .utf8)) ?? ""
        }

    }

    @Test func threeReplicasOneKilledEveryChangeReviewedOnceNoTaskTwice() async throws {
        var cluster = try await Cluster.make(changes: 30, taskSeconds: 2)
        defer { cluster.stop() }
        for n in 0..<3 { try cluster.startReplica(n) }
        for change in 1...30 { try await cluster.vote(change) }

        // Kill the replica running the most tasks (processes under it), once it runs some and before every change
        // is reviewed.
        var victim: Int?
        let killBy = Date().addingTimeInterval(60)
        while victim == nil && Date() < killBy {
            let busy = cluster.processes.map { Cluster.descendants(of: $0.processIdentifier).count }
            if let most = busy.max(), most >= 4, let index = busy.firstIndex(of: most) {
                let reviewed = try await cluster.reviewsByChange().count
                #expect(reviewed < 30, "every change was reviewed before a replica could be killed")
                cluster.kill(index)
                victim = index
            } else {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        let killed = try #require(victim, "no replica ever ran two tasks at once: \(cluster.log(0))")

        // The survivors take the killed replica's executions over once its leases expire.
        let deadline = Date().addingTimeInterval(120)
        var reviews: [Int: Int] = [:]
        while Date() < deadline {
            reviews = try await cluster.reviewsByChange()
            if reviews.count == 30 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        try await Task.sleep(for: .seconds(3))  // room for a duplicate to show up
        reviews = try await cluster.reviewsByChange()
        let survivors = (0..<3).filter { $0 != killed }.map { cluster.log($0) }.joined(separator: "\n---\n")
        #expect(reviews.count == 30, "changes reviewed: \(reviews.keys.sorted()); \(survivors)")
        #expect(reviews.values.allSatisfy { $0 == 1 }, "reviews per change: \(reviews.filter { $0.value != 1 })")
        let runs = cluster.taskRuns()
        #expect(runs.count == 30, "executions whose task completed: \(runs.count)")
        let executions = try await cluster.store.executions(status: nil)
        #expect(executions.count == 30 && executions.allSatisfy { $0.status == .succeeded }, "\(executions.map(\.status))")
        // No task runs again once its success is recorded. The one run that may repeat is the killed replica's,
        // when the SIGKILL fell between the task's end and the store recording it (at-least-once, as AWS's
        // activities): then a survivor runs it again and records its own result.
        let killedPID = cluster.processes[killed].processIdentifier
        for execution in executions {
            let completions = runs[execution.id] ?? []
            let recordedBy = execution.output?["by"]?.intValue.map(Int32.init)
            #expect(recordedBy != nil && completions.last == recordedBy, "\(execution.id): completed by \(completions), recorded by \(recordedBy as Any)")
            #expect(
                completions.count == 1 || (completions.count == 2 && completions[0] == killedPID && recordedBy != killedPID),
                "\(execution.id) ran again after its success was recorded: completed by \(completions), recorded by \(recordedBy as Any), killed \(killedPID)")
        }
    }


    /// One replica polls the review and cancels the execution (a newer patch set) while another runs its task: the
    /// task stops within seconds, the execution ends ABORTED, and the change is told once.
    @Test func aCancellationSeenByOneReplicaStopsTheTaskAnotherRuns() async throws {
        var cluster = try await Cluster.make(changes: 1, taskSeconds: 47)
        defer { cluster.stop() }
        try await cluster.vote(1)
        // Replica 0 polls at its start, then not for ten minutes: it claims the change and runs its task.
        try cluster.startReplica(0, pollInterval: "600s")
        let started = try await cluster.world.waitUntil(timeout: 30) { cluster.runs("sleep 47", under: 0) }
        #expect(started, "the task never started: \(cluster.log(0))")
        try cluster.world.write("src/b.txt", "b2\n")
        try cluster.world.commit("the change, second version")
        try cluster.world.git(["-C", cluster.world.work, "push", "-q", cluster.world.served, "HEAD:refs/changes/01/1/2"])
        try await cluster.fake.control(.POST, "changes/1/patchsets", ["files": ["src/a.txt", "src/b.txt"]])
        // Replica 1 polls once and cancels the execution replica 0 runs.
        let (status, _, log) = try cluster.world.stepgate(["bot", "--config", try cluster.configure(1), "--once", "--log-level", "debug"])
        #expect(status == 0, "\(log)")
        let stopped = try await cluster.world.waitUntil(timeout: 5) { !cluster.runs("sleep 47", under: 0) }
        #expect(stopped, "the task ran on after its execution was cancelled: \(cluster.log(0))")
        let executions = try await cluster.store.executions(status: nil)
        #expect(executions.map(\.status) == [.aborted], "\(executions.map(\.status))")
        try await Task.sleep(for: .seconds(1))
        let messages = (try await cluster.fake.control(.GET, "reviews?change=1") as? [[String: Any]] ?? [])
            .map(EndToEndTests.World.message)
        #expect(messages.count == 1 && messages.first?.contains("was cancelled") == true, "\(messages)")
        #expect(cluster.taskRuns().isEmpty, "the cancelled task completed")
    }

    /// A notice is posted by one process at a time: while another replica holds it (the lease `notice:KEY`), a
    /// replica leaves it alone, and once that lease is gone the notice is posted, once.
    @Test func aNoticeAnotherReplicaHoldsIsLeftToIt() async throws {
        let world = try await EndToEndTests.World.make(store: .postgres)
        defer { world.stop() }
        let store = try world.store()
        try world.trust(
            [
                ".stepgate/workflows/check.asl.json": """
                {"StartAt": "Say", "States": {
                  "Say": {"Type": "Task", "Resource": "stepgate:comment", "Parameters": {"message": "deploying to staging"},
                          "ResultPath": null, "Next": "Work"},
                  "Work": {"Type": "Task", "Resource": "stepgate:command", "Parameters": {"command": ["true"]}, "End": true}}}
                """
            ], "a workflow that comments")
        try await world.vote("alice")
        // Every post fails at first: the comment's notice stays in the outbox.
        try await world.fake.fault(["kind": "status", "status": 500, "count": 20, "path": "/review$", "method": "POST"])
        _ = try world.runOnce()
        try await world.fake.control(.DELETE, "faults")
        let notice = try #require(try await store.unpostedBotNotices(server: "review").first)
        let lease = "notice:\(notice.key)"
        #expect(try await store.acquireLease(lease, owner: "elsewhere:4242:replica", ttl: 60) == .acquired)
        var (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        var said = try await world.reviews(change: 1).map(EndToEndTests.World.message).filter { $0.contains("deploying to staging") }
        #expect(said.isEmpty, "posted while another replica held it: \(log)")
        #expect(["pending", "posting"].contains(try await store.botNotice(key: notice.key)?.state ?? ""))
        try await store.releaseLease(lease, owner: "elsewhere:4242:replica")
        (status, log) = try world.runOnce()
        #expect(status == 0, "\(log)")
        _ = try world.runOnce()
        said = try await world.reviews(change: 1).map(EndToEndTests.World.message).filter { $0.contains("deploying to staging") }
        #expect(said.count == 1, "\(said) \(log)")
        #expect(try await store.botNotice(key: notice.key)?.state == "posted")
    }
}
