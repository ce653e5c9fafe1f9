/// A runtime error in an execution, named as AWS Step Functions names it.
///
/// `error` is the name Retry and Catch match on (`States.TaskFailed`, or any name a task or a
/// Fail state chooses); `cause` is the human-readable detail.
public struct ExecutionError: Error, Sendable, Hashable, CustomStringConvertible {
    public var error: String
    public var cause: String

    public init(_ error: String, _ cause: String) {
        self.error = error
        self.cause = cause
    }

    public var description: String { "\(error): \(cause)" }

    // The errors the States Language predefines.
    public static func runtime(_ cause: String) -> ExecutionError { .init("States.Runtime", cause) }
    public static func taskFailed(_ cause: String) -> ExecutionError { .init("States.TaskFailed", cause) }
    public static func timeout(_ cause: String) -> ExecutionError { .init("States.Timeout", cause) }
    public static func heartbeatTimeout(_ cause: String) -> ExecutionError { .init("States.HeartbeatTimeout", cause) }
    public static func noChoiceMatched(_ cause: String) -> ExecutionError { .init("States.NoChoiceMatched", cause) }
    public static func intrinsicFailure(_ cause: String) -> ExecutionError { .init("States.IntrinsicFailure", cause) }
    public static func parameterPathFailure(_ cause: String) -> ExecutionError { .init("States.ParameterPathFailure", cause) }
    public static func resultPathMatchFailure(_ cause: String) -> ExecutionError { .init("States.ResultPathMatchFailure", cause) }
    public static func branchFailed(_ cause: String) -> ExecutionError { .init("States.BranchFailed", cause) }
    public static func itemReaderFailed(_ cause: String) -> ExecutionError { .init("States.ItemReaderFailed", cause) }
    public static func exceedToleratedFailureThreshold(_ cause: String) -> ExecutionError {
        .init("States.ExceedToleratedFailureThreshold", cause)
    }
    /// The execution was stopped from outside (its task was cancelled).
    public static let cancelled = ExecutionError("States.Runtime", "The execution was cancelled")
    public static func queryEvaluationError(_ cause: String) -> ExecutionError { .init("States.QueryEvaluationError", cause) }
}
