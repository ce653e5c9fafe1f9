import Crypto
import Foundation
import Runtime
import StatesLanguage
import Store
import Synchronization

/// The activity worker: serves the tasks AWS hands out for stepgate's activities.
extension StepFunctionsEngine {

    /// Polls `activity` for as long as the process lives, running each task received to its end.
    func serve(activity: String, worker: Int) async {
        let name = "stepgate-\(ProcessInfo.processInfo.processIdentifier)-\(worker)"
        var failures = 0
        while true {
            do {
                if let task = try await client.activityTask(activityArn: activity, workerName: name) {
                    failures = 0
                    guard let run = runs.withLock({ $0.latest }) else { continue }
                    await handle(token: task.token, input: task.input, run: run)
                }
            } catch {
                failures += 1
                try? await Task.sleep(for: .milliseconds(min(30_000, 500 << min(failures, 6))))
            }
        }
    }

    /// Runs one activity task through the task executor of its execution and answers AWS: success with the result,
    /// or failure with the task's error and cause. Every run is recorded with its audit entry.
    func handle(token: String, input: String, run: RemoteRun) async {
        guard let payload = try? JSONParser.parse(input), let envelope = payload["stepgate"]?.objectValue,
            let resource = envelope["resource"]?.stringValue, let state = envelope["state"]?.stringValue,
            let name = envelope["execution"]?.stringValue
        else {
            await answer(token, .failed(error: "stepgate.InvalidTask", cause: "the activity task was not sent by a definition stepgate rewrote"))
            return
        }
        guard let id = (try? await run.store.dedupeKey(Self.executionKey(name))) ?? nil else {
            await answer(
                token, .failed(error: "stepgate.UnknownExecution", cause: "no execution in \(run.store.path) is the AWS execution \(name)"))
            return
        }
        let executor: any TaskExecutor
        if let following = runs.withLock({ $0.active[id] }) {
            executor = following.tasks
        } else {
            switch await run.executorOf(id) {
            case .success(let e): executor = e
            case .failure(let refusal):
                await answer(token, .failed(error: refusal.error, cause: refusal.cause))
                return
            }
        }
        let request = TaskRequest(
            resource: resource, input: payload["parameters"] ?? .object(JSONObject()),
            credentials: envelope["role"].map { JSON.object(JSONObject([("RoleArn", $0)])) },
            timeoutSeconds: envelope["timeoutSeconds"]?.intValue, heartbeatSeconds: envelope["heartbeatSeconds"]?.intValue,
            stateName: state, executionID: id, key: "aws:\(state):\(Self.digest(token))")
        let outcome = await withTaskGroup(of: TaskOutcome?.self) { group in
            group.addTask {
                do { return .succeeded(try await executor.execute(request)) } catch let e as ExecutionError {
                    return .failed(error: e.error, cause: e.cause)
                } catch {
                    return .failed(error: "States.TaskFailed", cause: String(describing: error))
                }
            }
            if let beat = request.heartbeatSeconds, beat > 0 {
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(max(500, beat * 1000 / 3)))
                        if Task.isCancelled { break }
                        try? await self.client.sendTaskHeartbeat(token: token)
                    }
                    return nil
                }
            }
            var outcome: TaskOutcome?
            for await next in group where next != nil {
                outcome = next
                group.cancelAll()
            }
            return outcome ?? .failed(error: "States.TaskFailed", cause: "the task ended without a result")
        }
        let record = try? await run.store.execution(id: id)
        let result: String
        switch outcome {
        case .succeeded: result = "succeeded"
        case .failed(let e, _): result = "failed: \(e)"
        }
        let entry = AuditEntry(
            actor: "stepgate", repository: record?.repository ?? run.repository, revision: record?.revision ?? "",
            role: request.credentials?["RoleArn"]?.stringValue ?? "", action: "task.run",
            target: "\(resource) (state \(state), execution \(id), AWS activity task)", result: result)
        try? await run.store.recordTaskResult(executionID: id, key: request.key, outcome: outcome, audit: entry)
        await answer(token, outcome)
    }

    /// The most a task's output may be on AWS (256 KiB).
    static let outputLimit = 262_144

    /// Tells AWS how a task went (a few attempts on transport errors).
    func answer(_ token: String, _ outcome: TaskOutcome) async {
        switch outcome {
        case .succeeded(let value):
            let text = value.serialized
            if text.utf8.count > Self.outputLimit {
                await answer(
                    token,
                    .failed(
                        error: "States.DataLimitExceeded",
                        cause: "the task's result is \(text.utf8.count) bytes; AWS Step Functions takes at most \(Self.outputLimit)"))
                return
            }
            _ = try? await retrying { () async throws(AWSError) in try await self.client.sendTaskSuccess(token: token, output: text) }
        case .failed(let error, let cause):
            _ = try? await retrying { () async throws(AWSError) in
                try await self.client.sendTaskFailure(token: token, error: error, cause: cause)
            }
        }
    }

    static func digest(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
    }
}
