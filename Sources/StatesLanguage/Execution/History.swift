public import Foundation

/// One event of an execution's history, with AWS Step Functions' event types and fields.
///
/// Kept small (an execution of a long loop records hundreds of thousands): an event carries
/// one JSON payload (the input of entered and scheduled events, the output of the others)
/// and boxes the rarely used details.
public struct HistoryEvent: Sendable {
    public var id: Int
    /// Events are recorded one after another, so the previous event is always the one before.
    public var previousEventID: Int { id - 1 }
    public var timestamp: Date
    public var type: HistoryEventType
    public var stateName: String?
    var payload: JSON?
    var details: Details?

    final class Details: Sendable {
        let error: String?
        let cause: String?
        let resource: String?
        let index: Int?

        init(error: String?, cause: String?, resource: String?, index: Int?) {
            self.error = error
            self.cause = cause
            self.resource = resource
            self.index = index
        }
    }

    public init(
        id: Int, timestamp: Date, type: HistoryEventType, stateName: String? = nil,
        input: JSON? = nil, output: JSON? = nil, error: String? = nil, cause: String? = nil, resource: String? = nil,
        index: Int? = nil
    ) {
        self.id = id
        self.timestamp = timestamp
        self.type = type
        self.stateName = stateName
        self.payload = input ?? output
        if error != nil || cause != nil || resource != nil || index != nil {
            details = Details(error: error, cause: cause, resource: resource, index: index)
        }
    }

    /// The input, for entered and scheduled events.
    public var input: JSON? { type.carriesInput ? payload : nil }
    /// The output, for exited, succeeded and finished events.
    public var output: JSON? { type.carriesInput ? nil : payload }
    public var error: String? { details?.error }
    public var cause: String? { details?.cause }
    public var resource: String? { details?.resource }
    /// Map iteration index, or Parallel branch index.
    public var index: Int? { details?.index }

    /// The event as AWS's GetExecutionHistory shows it (`{"id", "type", "timestamp",
    /// "stateEnteredEventDetails": {...}}` and so on).
    public var json: JSON {
        var o = JSONObject()
        o["id"] = .int(id)
        o["previousEventId"] = .int(previousEventID)
        o["timestamp"] = .string(ISO8601.format(timestamp))
        o["type"] = .string(type.rawValue)
        var d = JSONObject()
        if let stateName { d["name"] = .string(stateName) }
        if let input { d["input"] = .string(input.serialized) }
        if let output { d["output"] = .string(output.serialized) }
        if let error { d["error"] = .string(error) }
        if let cause { d["cause"] = .string(cause) }
        if let resource { d["resource"] = .string(resource) }
        if let index { d["index"] = .int(index) }
        if !d.isEmpty { o[type.detailsKey] = .object(d) }
        return .object(o)
    }
}

public enum HistoryEventType: String, Sendable, CaseIterable {
    case executionStarted = "ExecutionStarted"
    case executionSucceeded = "ExecutionSucceeded"
    case executionFailed = "ExecutionFailed"
    case executionTimedOut = "ExecutionTimedOut"
    case executionAborted = "ExecutionAborted"
    case executionRedriven = "ExecutionRedriven"
    case passStateEntered = "PassStateEntered"
    case passStateExited = "PassStateExited"
    case taskStateEntered = "TaskStateEntered"
    case taskStateExited = "TaskStateExited"
    case taskScheduled = "TaskScheduled"
    case taskStarted = "TaskStarted"
    case taskSucceeded = "TaskSucceeded"
    case taskFailed = "TaskFailed"
    case taskTimedOut = "TaskTimedOut"
    case choiceStateEntered = "ChoiceStateEntered"
    case choiceStateExited = "ChoiceStateExited"
    case waitStateEntered = "WaitStateEntered"
    case waitStateExited = "WaitStateExited"
    case succeedStateEntered = "SucceedStateEntered"
    case succeedStateExited = "SucceedStateExited"
    case failStateEntered = "FailStateEntered"
    case parallelStateEntered = "ParallelStateEntered"
    case parallelStateExited = "ParallelStateExited"
    case parallelStateStarted = "ParallelStateStarted"
    case parallelStateSucceeded = "ParallelStateSucceeded"
    case parallelStateFailed = "ParallelStateFailed"
    case mapStateEntered = "MapStateEntered"
    case mapStateExited = "MapStateExited"
    case mapStateStarted = "MapStateStarted"
    case mapStateSucceeded = "MapStateSucceeded"
    case mapStateFailed = "MapStateFailed"
    case mapIterationStarted = "MapIterationStarted"
    case mapIterationSucceeded = "MapIterationSucceeded"
    case mapIterationFailed = "MapIterationFailed"

    /// The member of an AWS history event that carries this type's details.
    var detailsKey: String {
        let raw = rawValue
        if raw.hasSuffix("StateEntered") { return "stateEnteredEventDetails" }
        if raw.hasSuffix("StateExited") { return "stateExitedEventDetails" }
        if raw.hasPrefix("MapIteration") { return "mapIterationStartedEventDetails" }
        if raw == "MapStateStarted" { return "mapStateStartedEventDetails" }
        let first = raw.prefix(1).lowercased() + raw.dropFirst()
        return first + "EventDetails"
    }

    /// Whether the event's payload is an input (entered, scheduled, started events).
    var carriesInput: Bool {
        switch self {
        case .executionStarted, .taskScheduled, .passStateEntered, .taskStateEntered, .choiceStateEntered,
            .waitStateEntered, .succeedStateEntered, .failStateEntered, .parallelStateEntered, .mapStateEntered:
            return true
        default:
            return false
        }
    }

    static func entered(_ kind: State.Kind) -> HistoryEventType {
        switch kind {
        case .pass: return .passStateEntered
        case .task: return .taskStateEntered
        case .choice: return .choiceStateEntered
        case .wait: return .waitStateEntered
        case .succeed: return .succeedStateEntered
        case .fail: return .failStateEntered
        case .parallel: return .parallelStateEntered
        case .map: return .mapStateEntered
        }
    }

    static func exited(_ kind: State.Kind) -> HistoryEventType? {
        switch kind {
        case .pass: return .passStateExited
        case .task: return .taskStateExited
        case .choice: return .choiceStateExited
        case .wait: return .waitStateExited
        case .succeed: return .succeedStateExited
        case .fail: return nil
        case .parallel: return .parallelStateExited
        case .map: return .mapStateExited
        }
    }
}

/// Where an execution is between two top-level transitions: enough to resume it.
public struct Checkpoint: Sendable, Equatable {
    /// The state about to be entered (nil when the execution has finished).
    public var stateName: String?
    /// Its raw input.
    public var input: JSON
    /// The variables in the top-level scope.
    public var variables: [String: JSON]
    /// How many history events had been recorded.
    public var eventCount: Int
    /// How many top-level transitions have happened.
    public var transitions: Int

    public init(stateName: String?, input: JSON, variables: [String: JSON], eventCount: Int, transitions: Int) {
        self.stateName = stateName
        self.input = input
        self.variables = variables
        self.eventCount = eventCount
        self.transitions = transitions
    }
}

/// Receives the history as it is written and a checkpoint after every top-level transition.
/// Called synchronously from the interpreter; implementations that persist must be quick or
/// hand off the work.
public protocol ExecutionObserver: Sendable {
    func record(_ event: HistoryEvent)
    func checkpoint(_ checkpoint: Checkpoint)
}

/// RFC 3339 timestamps as AWS prints them (UTC, milliseconds) and as ASL accepts them.
public enum ISO8601 {
    /// `2024-01-02T03:04:05.678Z`, the form AWS prints and the context object carries.
    ///
    /// Computed directly (days to civil date) rather than through a date formatter: every
    /// persisted history event carries one, and building a formatter costs far more than this.
    public static func format(_ date: Date) -> String {
        let totalMillis = Int((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = totalMillis / 1000
        var millis = totalMillis % 1000
        if millis < 0 {
            millis += 1000
            seconds -= 1
        }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(secondOfDay / 3600, 2) + ":"
            + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2) + "." + pad(millis, 3) + "Z"
    }

    /// Parses an RFC 3339 timestamp as ASL requires: date, `T`, time, and a zone (`Z` or an offset).
    public static func parse(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: text) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: text)
    }
}
