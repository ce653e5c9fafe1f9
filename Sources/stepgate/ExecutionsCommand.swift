import ArgumentParser
import Foundation
import Runtime
import StatesLanguage
import Store

/// `--store URL`, shared by the commands that read or write the durable store.
struct StoreOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The store: sqlite:///ABS/PATH.db, a path, or postgres://USER@HOST[:PORT]/DATABASE[?schema=NAME].",
            discussion: "Default: $STEPGATE_STORE, else sqlite://$HOME/.local/state/stepgate/stepgate.db."))
    var store: String?

    var url: String { store ?? StoreLocation.defaultURL() }

    /// Opens the store; any failure is one line and exit status 2.
    func open() -> any ExecutionStore {
        do { return try openStore(url: url) } catch { Terminal.fail(CLIFailure(message: error.message)) }
    }
}

/// `--policy FILE`: the server policy granting roles (the bot's or the hooks' configuration).
struct PolicyOptions: ParsableArguments {
    @Option(help: "The server policy (bot.yaml, hook configuration or a file with a 'roles' section); without it no role is granted.")
    var policy: String?

    /// The policy; a file that does not load is every problem on stderr and exit status 2.
    func load() -> RolePolicy {
        guard let policy else { return .empty }
        do { return try RolePolicy.load(path: policy) } catch {
            Terminal.printError(error.description)
            Foundation.exit(2)
        }
    }
}

/// The options of the commands that run stored executions again (`resume`, `redrive`).
struct StoredRunOptions: ParsableArguments {
    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var policyOptions: PolicyOptions
    @OptionGroup var sandboxOptions: SandboxOptions
    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    /// The front door over the store, granting roles from the policy, tasks in the sandbox.
    func runs() -> WorkflowRuns {
        let store = storeOptions.open()
        return WorkflowRuns(store: store, settings: runSettings(store: store, policy: policyOptions, sandbox: sandboxOptions))
    }
}

/// Runs a store call; a store failure is one line and exit status 2.
func storeCall<T>(_ body: () async throws(StoreError) -> T) async -> T {
    do { return try await body() } catch { Terminal.fail(CLIFailure(message: error.message)) }
}

struct ExecutionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "executions",
        abstract: "Durable executions kept in the store: list, show, start, resume, redrive, approve, reject.",
        discussion: """
            The store defaults to $STEPGATE_STORE, else sqlite://$HOME/.local/state/stepgate/stepgate.db; \
            --store overrides both. Errors are one line on stderr with a non-zero exit status.
            """,
        subcommands: [List.self, Show.self, Start.self, Resume.self, Redrive.self, Approve.self, Reject.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List executions, newest first.")
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Only executions with this status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT).")
        var status: String?
        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        func run() async throws {
            var filter: ExecutionStatus?
            if let status {
                guard let s = ExecutionStatus(rawValue: status.uppercased()) else {
                    Terminal.fail(CLIFailure(message: "unknown status '\(status)'"))
                }
                filter = s
            }
            let store = storeOptions.open()
            let list = await storeCall { () async throws(StoreError) in try await store.executions(status: filter) }
            switch format {
            case .json:
                writeStdout(JSON.array(list.map(ExecutionText.summaryJSON)).serialized + "\n")
            case .text:
                if list.isEmpty { writeStdout("no executions in \(store.path)\n"); return }
                var out = ""
                for e in list {
                    out += [e.id, e.status.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0), e.workflow,
                        ExecutionText.time(e.started), e.error ?? ""].joined(separator: "  ")
                        .trimmingCharacters(in: .whitespaces) + "\n"
                }
                writeStdout(out)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one execution: the outcome first (failed state, error, cause), then its history.")
        @Argument(help: "The execution id.")
        var id: String
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        func run() async throws {
            let store = storeOptions.open()
            let id = self.id
            guard let record = await storeCall({ () async throws(StoreError) in try await store.execution(id: id) }) else {
                Terminal.fail(CLIFailure(message: "\(store.path): no execution \(id)", exitCode: 1))
            }
            let events = await storeCall { () async throws(StoreError) in try await store.events(executionID: id) }
            let approvals = await storeCall { () async throws(StoreError) in try await store.approvals(executionID: id) }
            let comments = await storeCall { () async throws(StoreError) in try await store.comments(executionID: id) }
            switch format {
            case .json:
                writeStdout(
                    ExecutionText.detailJSON(record, events: events, approvals: approvals, comments: comments).serialized + "\n")
            case .text:
                writeStdout(ExecutionText.detail(record, events: events, approvals: approvals, comments: comments))
            }
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a durable local execution and run it to its end.",
            discussion: """
                Every transition is written to the store, so an execution whose process dies is finished by \
                `stepgate executions resume`. Task resources: stepgate:command and stepgate:http (in the current \
                directory, no roles granted), stepgate:comment and stepgate:approval (decided with \
                `stepgate executions approve|reject ID`). The execution id is printed on stderr at once. \
                Exit status 0 when the execution succeeds, 1 when it fails, 2 on bad input or a store error.
                """)
        @Option(help: "The definition file (*.asl.json or *.asl.yaml).")
        var definition: String
        @Option(help: "The execution input as JSON text.")
        var input: String?
        @Option(help: "The workflow name recorded with the execution (default: the file name).")
        var workflow: String?
        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var policyOptions: PolicyOptions
        @OptionGroup var sandboxOptions: SandboxOptions
        @Option(help: "Output format: text or json (one result object with the id).")
        var format: OutputFormat = .text

        func run() async throws {
            let text: String
            do { text = try Terminal.readText(definition, what: "definition file") } catch { Terminal.fail(error) }
            if case .failure(let list) = Terminal.loadDefinition(definition) {
                for d in list.diagnostics { Terminal.printError(d.formatted(file: definition)) }
                throw ExitCode(2)
            }
            var inputValue = JSON.object(JSONObject())
            if let input {
                do { inputValue = try Terminal.parseInput(input, origin: "--input") } catch { Terminal.fail(error) }
            }
            let store = storeOptions.open()
            let runs = WorkflowRuns(store: store, settings: runSettings(store: store, policy: policyOptions, sandbox: sandboxOptions))
            let cwd = FileManager.default.currentDirectoryPath
            let request = RunRequest(
                kind: .manual, repository: nil, trusted: .none(), definition: .file(path: definition, text: text),
                workflow: workflow ?? URL(fileURLWithPath: definition).lastPathComponent, checkout: .directory(cwd),
                event: .object(JSONObject([("trigger", .string("local"))])), input: inputValue,
                repositoryName: URL(fileURLWithPath: cwd).lastPathComponent)
            Terminal.printError("stepgate: execution \(request.id) started (store \(store.path))")
            let started = Date()
            let outcome = await storeCall { () async throws(StoreError) in try await runs.start(request) }
            ExecutionText.printResult(id: request.id, outcome.result, format: format, wallTime: Date().timeIntervalSince(started))
            if outcome.result.status != .succeeded { throw ExitCode(1) }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume executions left RUNNING (after a crash) and run them to their end.",
            discussion: """
                Each execution continues from its last checkpoint with the definition it started with; \
                tasks that had finished are not run again. Prints one line per execution. Exit status 0 \
                when every resumed execution succeeded (or none was left), 1 when one failed, 2 on a store error.
                """)
        @Argument(help: "Resume only this execution.")
        var id: String?
        @OptionGroup var options: StoredRunOptions

        func run() async throws {
            let (runs, format) = (options.runs(), options.format)
            let resumed: [RunOutcome]
            if let id {
                resumed = [await storeCall { () async throws(StoreError) in try await runs.resume(id: id) }]
            } else {
                resumed = await storeCall { () async throws(StoreError) in try await runs.resumeIncomplete() }
            }
            if resumed.isEmpty && format == .text { writeStdout("no incomplete executions\n") }
            ExecutionText.printOutcomes(resumed, format: format)
            if resumed.contains(where: { $0.result.status != .succeeded }) { throw ExitCode(1) }
        }
    }

    struct Redrive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Redrive an ended execution from the state it failed in (AWS's RedriveExecution).",
            discussion: """
                A FAILED, TIMED_OUT or ABORTED execution (within 14 days of its end, up to 1,000 times) continues \
                from the state it failed in, with the same id, definition and input: the steps that succeeded are \
                not run again, the failed state and what follows are. Its roles are granted anew by --policy before \
                anything changes (a refusal leaves the execution as it was); the redrive is audited. An execution \
                started by a review is reported again by the bot once it ends. Prints one line; exit status 0 when \
                the redriven execution succeeds, 1 when it fails or cannot be redriven, 2 on a store error.
                """)
        @Argument(help: "The execution id.")
        var id: String
        @Option(help: "Who redrives, as the audit log records it (default: $USER).")
        var by: String?
        @OptionGroup var options: StoredRunOptions

        func run() async throws {
            let runs = options.runs()
            let who = by ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown"
            let outcome: RunOutcome
            do { outcome = try await runs.redrive(id: id, actor: who) } catch let error as NotRedrivable {
                Terminal.fail(CLIFailure(message: "execution \(id) cannot be redriven: \(error.reason)", exitCode: 1))
            } catch let error as StoreError {
                Terminal.fail(CLIFailure(message: error.message))
            }
            if outcome.refused {
                Terminal.fail(
                    CLIFailure(
                        message: "execution \(id) was not redriven: \(outcome.result.error ?? ""): \(outcome.result.cause ?? "")",
                        exitCode: 1))
            }
            ExecutionText.printOutcomes([outcome], format: options.format)
            if outcome.result.status != .succeeded { throw ExitCode(1) }
        }
    }

    struct Decision: ParsableArguments {
        @Argument(help: "The execution id (or the approval's token).")
        var id: String
        @Option(help: "Who decides (default: $USER). Checked against the approval's approvers.")
        var by: String?
        @Option(help: "A comment passed to the workflow with the decision.")
        var comment: String?
        @Option(help: "Only the approval of this task key (when an execution waits on several).")
        var task: String?
        @OptionGroup var storeOptions: StoreOptions

        func decide(approve: Bool) async {
            let store = storeOptions.open()
            let who = by ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown"
            let action = approve ? "approval.approve" : "approval.reject"
            let entry = AuditEntry(
                actor: who, action: action, target: "execution \(id)", result: approve ? "approved" : "rejected")
            let (id, task, comment) = (self.id, self.task, self.comment)
            let decided = await storeCall { () async throws(StoreError) in
                try await store.decideApproval(
                    executionID: id, taskKey: task, approve: approve, by: who, comment: comment, audit: entry)
            }
            for a in decided {
                writeStdout("\(a.executionID): \(a.status.rawValue) by \(who) (\(a.message))\n")
            }
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve an execution's pending stepgate:approval.")
        @OptionGroup var decision: Decision
        func run() async throws { await decision.decide(approve: true) }
    }

    struct Reject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject an execution's pending stepgate:approval.")
        @OptionGroup var decision: Decision
        func run() async throws { await decision.decide(approve: false) }
    }
}

/// How executions read on a terminal and in JSON.
enum ExecutionText {
    static func time(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    static func summaryJSON(_ e: ExecutionRecord) -> JSON {
        var o = JSONObject()
        o["id"] = .string(e.id)
        o["workflow"] = .string(e.workflow)
        o["status"] = .string(e.status.rawValue)
        o["repository"] = e.repository.map(JSON.string) ?? .null
        o["revision"] = e.revision.map(JSON.string) ?? .null
        o["started"] = .string(time(e.started))
        o["redriveCount"] = .int(e.redriveCount)
        o["finished"] = e.finished.map { .string(time($0)) } ?? .null
        if e.status != .succeeded && e.status != .running {
            o["error"] = e.error.map(JSON.string) ?? .null
            o["cause"] = e.cause.map(JSON.string) ?? .null
        }
        return .object(o)
    }

    /// The details object of an AWS-shaped event (`stateEnteredEventDetails` and the like).
    static func details(_ event: StoredEvent) -> JSON? {
        guard case .object(let o) = event.json else { return nil }
        for (k, v) in o.pairs where k.hasSuffix("EventDetails") { return v }
        return nil
    }

    /// The state the execution failed in: the last failed task's state, else the last state entered
    /// and never left.
    static func failedState(_ events: [StoredEvent]) -> String? {
        var open: [String] = []
        var failedTask: String?
        for e in events {
            let name = details(e)?["name"]?.stringValue
            if e.type.hasSuffix("StateEntered"), let name {
                open.append(name)
            } else if e.type.hasSuffix("StateExited"), let name, let i = open.lastIndex(of: name) {
                open.remove(at: i)
            } else if e.type == "TaskFailed" || e.type == "TaskTimedOut", let name {
                failedTask = name
            } else if e.type == "TaskSucceeded" {
                failedTask = nil
            }
        }
        return open.last ?? failedTask
    }

    static func detailJSON(
        _ e: ExecutionRecord, events: [StoredEvent], approvals: [ApprovalRecord], comments: [CommentRecord]
    ) -> JSON {
        var o = summaryJSON(e).objectValue ?? JSONObject()
        if e.status == .failed || e.status == .timedOut {
            o["failedState"] = failedState(events).map(JSON.string) ?? .null
        }
        o["output"] = e.output ?? .null
        o["input"] = e.input
        o["trigger"] = e.trigger
        o["definitionHash"] = .string(e.definitionHash)
        o["approvals"] = .array(
            approvals.map { a in
                .object(
                    JSONObject([
                        ("task", .string(a.taskKey)), ("message", .string(a.message)),
                        ("approvers", .array(a.approvers.map(JSON.string))), ("status", .string(a.status.rawValue)),
                        ("decidedBy", a.decidedBy.map(JSON.string) ?? .null), ("comment", a.comment.map(JSON.string) ?? .null),
                        ("deadline", .string(time(a.deadline))),
                    ]))
            })
        o["comments"] = .array(
            comments.map { c in
                .object(JSONObject([("id", .int(c.id)), ("message", .string(c.message)), ("delivered", .bool(c.delivered))]))
            })
        o["history"] = .array(events.map(\.json))
        return .object(o)
    }

    static func detail(_ e: ExecutionRecord, events: [StoredEvent], approvals: [ApprovalRecord], comments: [CommentRecord]) -> String {
        var lines = ["execution \(e.id): \(e.status.rawValue)"]
        if e.status == .failed || e.status == .timedOut {
            lines.append("  failed state: \(failedState(events) ?? "(none)")")
            lines.append("  error: \(e.error ?? "(none)")")
            if let cause = e.cause { lines.append("  cause: \(cause)") }
        }
        lines.append("  workflow: \(e.workflow)")
        if e.redriveCount > 0 { lines.append("  redriven: \(e.redriveCount) time(s)") }
        if let r = e.repository { lines.append("  repository: \(r)" + (e.revision.map { " @ \($0)" } ?? "")) }
        lines.append("  started: \(time(e.started))" + (e.finished.map { ", finished: \(time($0))" } ?? ""))
        if let output = e.output { lines.append("  output: \(short(output.serialized, 200))") }
        for a in approvals {
            var line = "  approval \(a.status.rawValue): \(a.message) (task \(a.taskKey), deadline \(time(a.deadline))"
            if !a.approvers.isEmpty { line += ", approvers: \(a.approvers.joined(separator: ", "))" }
            if let by = a.decidedBy { line += ", by \(by)" }
            lines.append(line + ")")
        }
        for c in comments { lines.append("  comment #\(c.id)\(c.delivered ? "" : " (not delivered)"): \(c.message)") }
        lines.append("history:")
        var depth = 0
        for ev in events {
            let d = details(ev)
            if ev.type.hasSuffix("StateExited") || ev.type.hasSuffix("Succeeded") && ev.type.hasPrefix("MapIteration") {
                depth = max(0, depth - 1)
            }
            var line = "  " + String(repeating: "  ", count: depth) + "#\(ev.seq) \(ev.type)"
            if let name = d?["name"]?.stringValue { line += " \(name)" }
            if let r = d?["resource"]?.stringValue { line += " [\(r)]" }
            if let input = d?["input"]?.stringValue { line += "  in: \(short(input, 80))" }
            if let output = d?["output"]?.stringValue { line += "  out: \(short(output, 80))" }
            if let error = d?["error"]?.stringValue { line += "  error: \(error)" }
            if let cause = d?["cause"]?.stringValue { line += "  cause: \(short(cause, 160))" }
            lines.append(line)
            if ev.type.hasSuffix("StateEntered") && !ev.type.hasPrefix("Fail") && !ev.type.hasPrefix("Succeed") { depth += 1 }
            if ev.type.hasPrefix("SucceedStateEntered") { depth += 0 }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func short(_ s: String, _ limit: Int) -> String {
        s.count <= limit ? s : String(s.prefix(limit - 1)) + "…"
    }

    /// One line (or one JSON object in an array) per resumed or redriven execution.
    static func printOutcomes(_ outcomes: [RunOutcome], format: OutputFormat) {
        switch format {
        case .json:
            writeStdout(
                JSON.array(
                    outcomes.map { r in
                        var o = r.result.json.objectValue ?? JSONObject()
                        o["id"] = .string(r.id)
                        return .object(o)
                    }
                ).serialized + "\n")
        case .text:
            for r in outcomes {
                var line = "\(r.id): \(r.result.status.rawValue)"
                if r.result.status != .succeeded {
                    line += " \(r.result.error ?? "")" + (r.result.cause.map { ": \($0)" } ?? "")
                }
                writeStdout(line + "\n")
            }
        }
    }

    static func printResult(id: String, _ result: ExecutionResult, format: OutputFormat, wallTime: TimeInterval) {
        switch format {
        case .json:
            var o = result.json.objectValue ?? JSONObject()
            o["id"] = .string(id)
            writeStdout(JSON.object(o).serialized + "\n")
        case .text:
            writeStdout(HistoryRenderer.render(result, executionName: id, wallTime: wallTime))
        }
    }
}

/// The front door's settings for local durable executions: roles from `--policy`, tasks in the
/// sandbox `--sandbox` (or the policy's setting) says, the store's files hidden from them.
func runSettings(store: any ExecutionStore, policy: PolicyOptions, sandbox: SandboxOptions) -> WorkflowRuns.Settings {
    var settings = WorkflowRuns.Settings(policy: policy.load())
    settings.sandbox = sandbox.resolve(
        policyFile: policy.policy, protecting: store.privateFiles + [policy.policy].compactMap { $0 })
    return settings
}
