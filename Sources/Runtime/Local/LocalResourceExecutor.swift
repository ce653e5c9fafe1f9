public import Config
import Foundation
public import StatesLanguage

/// Runs the AWS resources of a definition locally, so that the same definition runs here and on
/// AWS: a Task state mocked by the test case (AWS Step Functions Local's MockConfigFile) answers
/// with its mocked response; a resource the map names runs as a command, an HTTP request or a
/// mocked response; stepgate's own resources go to `inner`; any other resource fails the
/// execution (`States.Runtime`), naming it, and never passes its input through.
///
/// The Lambda integration (`arn:aws:states:::lambda:invoke`) behaves as on AWS: a command or HTTP
/// endpoint receives `Payload`, and the result is `{"ExecutedVersion", "Payload", "StatusCode"}`;
/// the map is asked first for the function Parameters.FunctionName names, then for the integration.
/// Mocked responses are returned as written, as Step Functions Local returns them. `.sync` and
/// `.waitForTaskToken` resources finish with what their target answers.
public final class LocalResourceExecutor: TaskExecutor, @unchecked Sendable {
    public let resources: ResourceMap
    /// Mocked responses by state name.
    public let mocks: [String: MockedResponse]
    public let inner: any TaskExecutor
    private let lock = NSLock()
    /// Calls so far per state name, retries and Map iterations included.
    private var calls: [String: Int] = [:]

    public init(resources: ResourceMap, mocks: [String: MockedResponse] = [:], inner: any TaskExecutor) {
        self.resources = resources
        self.mocks = mocks
        self.inner = inner
    }

    public func execute(_ request: TaskRequest) async throws -> JSON {
        if let mock = mocks[request.stateName] {
            return try answer(mock, request, source: "The test case's mocked response")
        }
        // The Lambda integration names its function in Parameters: a mapping for the function
        // (its ARN or name, or a pattern) wins over one for the integration.
        if Self.lambdaIntegration(request.resource) != nil, let function = request.input["FunctionName"]?.stringValue,
            let target = resources.target(for: function)
        {
            return try await run(target, request)
        }
        if let target = resources.target(for: request.resource) {
            return try await run(target, request)
        }
        if request.resource.hasPrefix("stepgate:") { return try await inner.execute(request) }
        throw ExecutionError.runtime(
            "The resource \"\(request.resource)\" does not run locally: map it under resources in .stepgate/stepgate.yaml (or with --resources), or mock it with --mock")
    }

    private func nextCall(_ state: String) -> Int {
        lock.withLock {
            let n = calls[state, default: 0]
            calls[state] = n + 1
            return n
        }
    }

    private func answer(_ mock: MockedResponse, _ request: TaskRequest, source: String) throws -> JSON {
        let call = nextCall(request.stateName)
        switch mock.outcome(forInvocation: call) {
        case .returns(let value)?: return value
        case .throwing(let error, let cause)?: throw ExecutionError(error, cause)
        case nil:
            throw ExecutionError.runtime(
                "\(source) has no entry for call \(call) (calls count from 0, retries and Map iterations included)")
        }
    }

    private func run(_ target: ResourceTarget, _ request: TaskRequest) async throws -> JSON {
        let lambda = Self.lambdaIntegration(request.resource)
        let payload = lambda != nil ? request.input["Payload"] ?? .object(JSONObject()) : request.input
        var forwarded = request
        let result: JSON
        switch target {
        case .mock(let mock):
            return try answer(mock, request, source: "The mocked response of \(request.resource)")
        case .command(let argv, let env):
            forwarded.resource = StepgateTaskExecutor.commandResource
            forwarded.input = .object(
                JSONObject([
                    ("command", .array(argv.map(JSON.string))),
                    ("env", .object(JSONObject(env.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value)) }))),
                    ("stdin", .string(payload.serialized)),
                ]))
            result = try await inner.execute(forwarded)
        case .http(let url, let method, let headers):
            forwarded.resource = StepgateTaskExecutor.httpResource
            forwarded.input = .object(
                JSONObject([
                    ("url", .string(url)), ("method", .string(method)),
                    ("headers", .object(JSONObject(headers.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value)) }))),
                    ("body", payload),
                ]))
            result = try await inner.execute(forwarded)["body"] ?? .null
        }
        guard lambda == .invoke else { return result }
        return .object(JSONObject([("ExecutedVersion", "$LATEST"), ("Payload", result), ("StatusCode", 200)]))
    }

    enum LambdaIntegration { case invoke, callback }

    /// `arn:PARTITION:states:::lambda:invoke` (the result wrapped as AWS wraps it) or its
    /// `.waitForTaskToken` form (the result is what the callback sends).
    static func lambdaIntegration(_ resource: String) -> LambdaIntegration? {
        let parts = resource.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 7, parts[0] == "arn", parts[2] == "states", parts[5] == "lambda" else { return nil }
        switch parts[6] {
        case "invoke": return .invoke
        case "invoke.waitForTaskToken": return .callback
        default: return nil
        }
    }
}
