public import StatesLanguage
public import Store

/// Appends one `task.run` entry to an audit log for every task it runs: for executions that are
/// not durable (push gates), whose tasks ``DurableExecutions`` does not record. A task whose
/// entry cannot be written fails (the log must not miss a call).
public struct AuditingTaskExecutor: TaskExecutor {
    public let inner: any TaskExecutor
    public let audit: AuditLog
    /// Who acts ("stepgate", or the hook's pusher).
    public let actor: String
    public let repository: String
    public let revision: String
    /// Applied to every field of the entry.
    public let redactor: Redactor

    public init(inner: any TaskExecutor, audit: AuditLog, actor: String = "stepgate", repository: String, revision: String, redactor: Redactor) {
        self.inner = inner
        self.audit = audit
        self.actor = actor
        self.repository = repository
        self.revision = revision
        self.redactor = redactor
    }

    public func execute(_ request: TaskRequest) async throws -> JSON {
        let outcome: Result<JSON, any Error>
        do { outcome = .success(try await inner.execute(request)) } catch { outcome = .failure(error) }
        let result: String
        switch outcome {
        case .success: result = "succeeded"
        case .failure(let e as ExecutionError): result = "failed: \(e.error)"
        case .failure(is CancellationError): result = "cancelled"
        case .failure: result = "failed: States.TaskFailed"
        }
        let entry = AuditEntry(
            actor: actor, repository: repository, revision: revision, role: request.credentials?["RoleArn"]?.stringValue ?? "",
            action: "task.run", target: "\(request.resource) (state \(request.stateName), execution \(request.executionID))",
            result: result)
        let redactor = self.redactor
        do {
            try await audit.append(entry, redact: { redactor.redact($0) })
        } catch {
            throw ExecutionError.runtime("the audit log cannot be written: \(error.message)")
        }
        return try outcome.get()
    }
}
