public import Foundation

/// The passage of time as an execution sees it, injected so that Wait states and timeouts
/// take no real time in tests.
public protocol ExecutionClock: Sendable {
    func now() -> Date
    /// Suspends for `seconds` (Wait states, retry intervals).
    func sleep(seconds: Double) async throws
    /// Runs `body`, failing with ``ExecutionClockTimeout`` when it takes longer than `seconds`.
    func withTimeout<T: Sendable>(
        seconds: Double, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T
}

/// Thrown by ``ExecutionClock/withTimeout(seconds:_:)`` when the time is up.
public struct ExecutionClockTimeout: Error, Sendable {}

/// Real time.
public struct SystemClock: ExecutionClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(seconds: Double) async throws {
        guard seconds > 0 else { return }
        try await Task.sleep(nanoseconds: UInt64(min(seconds, 1e9) * 1_000_000_000))
    }

    public func withTimeout<T: Sendable>(
        seconds: Double, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(min(seconds, 1e9) * 1_000_000_000))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw ExecutionClockTimeout() }
            return value
        }
    }
}

/// Virtual time for tests and local runs: sleeping advances the clock at once.
///
/// A task that wants to "take" time calls ``sleep(seconds:)`` on the same clock; a timeout
/// fires when the virtual time its body consumed exceeds the limit, which makes timeouts
/// deterministic.
public final class VirtualClock: ExecutionClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    public init(start: Date = Date(timeIntervalSince1970: 1_700_000_000)) {
        current = start
    }

    public func now() -> Date {
        lock.withLock { current }
    }

    public func advance(by seconds: Double) {
        lock.withLock { current += seconds }
    }

    private func set(_ date: Date) {
        lock.withLock { current = date }
    }

    public func sleep(seconds: Double) async throws {
        try Task.checkCancellation()
        if seconds > 0 { advance(by: seconds) }
    }

    public func withTimeout<T: Sendable>(
        seconds: Double, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let start = now()
        let value = try await body()
        if now().timeIntervalSince(start) > seconds {
            // Report the timeout at the deadline, not at the moment the body returned.
            set(start + seconds)
            throw ExecutionClockTimeout()
        }
        return value
    }
}

/// What a Task state asks its executor to do.
public struct TaskRequest: Sendable {
    public var resource: String
    /// The effective parameters (after InputPath and Parameters).
    public var input: JSON
    /// ASL's `Credentials` field as written (the role the task asks for).
    public var credentials: JSON?
    public var timeoutSeconds: Int?
    public var heartbeatSeconds: Int?
    public var stateName: String
    public var executionID: String
    /// A key unique within the execution and identical when the execution is replayed: the
    /// state's position (with Map and Parallel indices) and the attempt number. A durable
    /// runtime uses it to return a finished task's result instead of running it again.
    public var key: String
    /// The attempt, starting at 0.
    public var attempt: Int
    /// The context object as the task saw it.
    public var context: JSON

    public init(
        resource: String, input: JSON, credentials: JSON? = nil, timeoutSeconds: Int? = nil, heartbeatSeconds: Int? = nil,
        stateName: String, executionID: String, key: String, attempt: Int = 0, context: JSON = .null
    ) {
        self.resource = resource
        self.input = input
        self.credentials = credentials
        self.timeoutSeconds = timeoutSeconds
        self.heartbeatSeconds = heartbeatSeconds
        self.stateName = stateName
        self.executionID = executionID
        self.key = key
        self.attempt = attempt
        self.context = context
    }
}

/// Carries out Task states. Failures are thrown as ``ExecutionError`` (any other error becomes
/// `States.TaskFailed`).
public protocol TaskExecutor: Sendable {
    func execute(_ request: TaskRequest) async throws -> JSON
}

/// An executor that knows no resource: every task fails.
public struct NoTaskExecutor: TaskExecutor {
    public init() {}
    public func execute(_ request: TaskRequest) async throws -> JSON {
        throw ExecutionError("States.TaskFailed", "no task executor is configured for resource '\(request.resource)'")
    }
}

/// An executor backed by closures, one per resource (tests, local runs).
public struct InMemoryTaskExecutor: TaskExecutor {
    public typealias Handler = @Sendable (TaskRequest) async throws -> JSON
    private let handlers: [String: Handler]

    public init(_ handlers: [String: Handler]) {
        self.handlers = handlers
    }

    public func execute(_ request: TaskRequest) async throws -> JSON {
        guard let h = handlers[request.resource] else {
            throw ExecutionError("States.TaskFailed", "unknown resource '\(request.resource)'")
        }
        return try await h(request)
    }
}

/// An object in a bucket, as S3's ListObjectsV2 describes it.
public struct StoredObject: Sendable, Hashable {
    public var key: String
    public var size: Int
    public var lastModified: Date
    /// The entity tag, quoted as S3 writes it.
    public var etag: String

    public init(key: String, size: Int, lastModified: Date, etag: String) {
        self.key = key
        self.size = size
        self.lastModified = lastModified
        self.etag = etag
    }
}

/// The S3 buckets a Distributed Map reads items from (ItemReader) and writes results to
/// (ResultWriter), injected so that the engine itself reads and writes nothing. A failure is
/// thrown as any error; the engine reports it as `States.ItemReaderFailed` or
/// `States.ResultWriterFailed`.
public protocol ObjectStore: Sendable {
    func getObject(bucket: String, key: String) async throws -> [UInt8]
    /// Every object whose key starts with `prefix`, in key order.
    func listObjects(bucket: String, prefix: String) async throws -> [StoredObject]
    func putObject(bucket: String, key: String, bytes: [UInt8]) async throws
}
