public import Foundation
public import StatesLanguage

/// The lifecycle of a stored execution.
public enum ExecutionStatus: String, Sendable, CaseIterable {
    case running = "RUNNING"
    case succeeded = "SUCCEEDED"
    case failed = "FAILED"
    case timedOut = "TIMED_OUT"
    case aborted = "ABORTED"
}

/// What a caller provides to create an execution row.
public struct NewExecution: Sendable {
    public var id: String
    public var workflow: String
    public var repository: String?
    public var revision: String?
    public var trigger: JSON
    public var input: JSON
    public var definition: String
    public var started: Date
    /// How the run was assembled (see the Runtime's run plan), kept to rebuild it on resume.
    public var plan: JSON?

    public init(
        id: String, workflow: String, repository: String? = nil, revision: String? = nil, trigger: JSON = .null,
        input: JSON, definition: String, started: Date = Date(), plan: JSON? = nil
    ) {
        self.plan = plan
        self.id = id
        self.workflow = workflow
        self.repository = repository
        self.revision = revision
        self.trigger = trigger
        self.input = input
        self.definition = definition
        self.started = started
    }
}

/// A stored execution.
public struct ExecutionRecord: Sendable, Equatable {
    public var id: String
    public var workflow: String
    public var repository: String?
    public var revision: String?
    public var trigger: JSON
    public var input: JSON
    public var status: ExecutionStatus
    public var output: JSON?
    public var error: String?
    public var cause: String?
    public var started: Date
    public var finished: Date?
    public var definition: String
    /// SHA-256 of the definition text, hex.
    public var definitionHash: String
    /// How the run was assembled; nil for executions started without one.
    public var plan: JSON?
    /// How many times the execution was redriven (AWS's `redriveCount`).
    public var redriveCount: Int = 0
}

/// How an execution ended, as written to its row.
public struct ExecutionEnding: Sendable {
    public var status: ExecutionStatus
    public var output: JSON?
    public var error: String?
    public var cause: String?
    public var finished: Date

    public init(status: ExecutionStatus, output: JSON? = nil, error: String? = nil, cause: String? = nil, finished: Date = Date()) {
        self.status = status
        self.output = output
        self.error = error
        self.cause = cause
        self.finished = finished
    }
}

/// One history event as stored: its number, AWS type and the AWS-shaped JSON.
public struct StoredEvent: Sendable, Equatable {
    public var seq: Int
    public var type: String
    public var json: JSON

    public init(seq: Int, type: String, json: JSON) {
        self.seq = seq
        self.type = type
        self.json = json
    }
}

/// The latest checkpoint of an execution: the engine's own ``Checkpoint``, as stored.
public typealias StoredCheckpoint = Checkpoint

/// A finished task as remembered for replay.
public enum TaskOutcome: Sendable, Equatable {
    case succeeded(JSON)
    case failed(error: String, cause: String)
}

/// The result of claiming a dedupe key.
public enum DedupeClaim: Sendable, Equatable {
    /// The key was free and now maps to the caller's execution.
    case claimed
    /// The key was already taken, by this execution.
    case existing(executionID: String)
}

/// A bot's polling position on one server and project.
public struct PollCursor: Sendable, Equatable {
    public var server: String
    public var project: String
    public var cursor: String
    public var updated: Date
}

public enum ApprovalStatus: String, Sendable, CaseIterable {
    case pending
    case approved
    case rejected
    case timedOut = "timed-out"
}

/// A human decision a task waits for.
public struct ApprovalRecord: Sendable, Equatable {
    public var executionID: String
    public var taskKey: String
    public var token: String
    public var message: String
    /// Empty: anyone may decide.
    public var approvers: [String]
    /// How many distinct approvers must approve.
    public var required: Int
    /// Identities that may not decide (the owner of the change under review).
    public var excluded: [String]
    /// Who approved so far (distinct voters, in order).
    public var approvedBy: [String]
    public var status: ApprovalStatus
    public var decidedBy: String?
    public var comment: String?
    public var created: Date
    public var deadline: Date
    public var decided: Date?
}

/// An interim message from `stepgate:comment`.
public struct CommentRecord: Sendable, Equatable {
    public var id: Int
    public var executionID: String
    public var taskKey: String
    public var message: String
    public var delivered: Bool
    public var created: Date
}
