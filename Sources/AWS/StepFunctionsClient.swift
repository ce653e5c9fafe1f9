public import AsyncHTTPClient
public import Foundation
internal import Crypto
import NIOCore
import NIOHTTP1

/// A failed AWS call, as one line: the operation, AWS's error type and its message (never a credential).
public struct AWSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The API operation (`StartExecution`).
    public var operation: String
    /// AWS's error type (`ExecutionAlreadyExists`), or `Transport` when no answer came.
    public var type: String
    public var message: String
    /// The HTTP status, 0 when no answer came.
    public var status: Int

    public init(operation: String, type: String, message: String, status: Int) {
        self.operation = operation
        self.type = type
        self.message = message
        self.status = status
    }

    public var description: String { "Step Functions \(operation): \(type): \(message)" }
}

/// An execution as `DescribeExecution` reports it.
public struct StepFunctionsExecution: Sendable, Equatable {
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`.
    public var status: String
    public var executionArn: String
    public var stateMachineArn: String
    /// The output (JSON text) of a succeeded execution.
    public var output: String?
    public var error: String?
    public var cause: String?
}

/// One event of `GetExecutionHistory`: its id, AWS type and the event itself as JSON text.
public struct StepFunctionsHistoryEvent: Sendable, Equatable {
    public var id: Int
    public var type: String
    public var json: String
}

/// The AWS Step Functions API (JSON 1.0 over HTTPS, Signature V4) on AsyncHTTPClient: state machines with versions
/// and aliases, activities, executions started under an idempotent name and followed through `DescribeExecution`
/// and `GetExecutionHistory`, and the activity worker's calls.
public struct StepFunctionsClient: Sendable {
    public let endpoint: URL
    public let signer: SigV4Signer
    let http: HTTPClient

    /// - Parameter endpoint: default `https://states.REGION.amazonaws.com/`.
    public init(region: String, credentials: AWSCredentials, endpoint: URL? = nil, httpClient: HTTPClient) {
        self.endpoint = endpoint ?? URL(string: "https://states.\(region).amazonaws.com/")!
        signer = SigV4Signer(credentials: credentials, region: region, service: "states")
        http = httpClient
    }

    // MARK: State machines

    /// Creates a state machine, publishing its first version unless `publish` is false; returns its ARN and the
    /// version's.
    public func createStateMachine(
        name: String, definition: String, roleArn: String, versionDescription: String, publish: Bool = true
    ) async throws(AWSError) -> (stateMachineArn: String, versionArn: String?) {
        var body: [String: Any] = ["name": name, "definition": definition, "roleArn": roleArn, "publish": publish]
        if publish { body["versionDescription"] = versionDescription }
        let answer = try await call("CreateStateMachine", body)
        return (answer["stateMachineArn"] as? String ?? "", answer["stateMachineVersionArn"] as? String)
    }

    /// Replaces a state machine's definition and publishes it as a new version; returns the version's ARN.
    public func updateStateMachine(arn: String, definition: String, roleArn: String, versionDescription: String)
        async throws(AWSError) -> String?
    {
        let answer = try await call(
            "UpdateStateMachine",
            ["stateMachineArn": arn, "definition": definition, "roleArn": roleArn, "publish": true,
             "versionDescription": versionDescription])
        return answer["stateMachineVersionArn"] as? String
    }

    /// The definition of a state machine (or of one of its versions).
    public func describeStateMachine(arn: String) async throws(AWSError) -> (definition: String, roleArn: String) {
        let answer = try await call("DescribeStateMachine", ["stateMachineArn": arn])
        return (answer["definition"] as? String ?? "", answer["roleArn"] as? String ?? "")
    }

    /// The ARN of the state machine called `name`, if any.
    public func stateMachineArn(named name: String) async throws(AWSError) -> String? {
        var token: String?
        repeat {
            var body: [String: Any] = ["maxResults": 1000]
            if let token { body["nextToken"] = token }
            let answer = try await call("ListStateMachines", body)
            for machine in answer["stateMachines"] as? [[String: Any]] ?? [] where machine["name"] as? String == name {
                return machine["stateMachineArn"] as? String
            }
            token = answer["nextToken"] as? String
        } while token != nil
        return nil
    }

    /// Points the alias `name` of a state machine at `versionArn`, creating it when absent; returns its ARN.
    public func setAlias(name: String, stateMachineArn: String, versionArn: String) async throws(AWSError) -> String {
        let routing: [[String: Any]] = [["stateMachineVersionArn": versionArn, "weight": 100]]
        do {
            let answer = try await call("CreateStateMachineAlias", ["name": name, "routingConfiguration": routing])
            return answer["stateMachineAliasArn"] as? String ?? ""
        } catch where error.type == "ConflictException" || error.type == "ResourceAlreadyExists" {
            let arn = "\(stateMachineArn):\(name)"
            _ = try await call("UpdateStateMachineAlias", ["stateMachineAliasArn": arn, "routingConfiguration": routing])
            return arn
        }
    }

    // MARK: Executions

    /// Starts an execution under `name`. A name already used by an execution with the same input is not started
    /// again: its ARN is returned (AWS answers so itself for a running one; for an ended one this reads it back).
    public func startExecution(stateMachineArn: String, name: String, input: String) async throws(AWSError) -> String {
        do {
            let answer = try await call("StartExecution", ["stateMachineArn": stateMachineArn, "name": name, "input": input])
            return answer["executionArn"] as? String ?? ""
        } catch where error.type == "ExecutionAlreadyExists" {
            let base = stateMachineArn.split(separator: ":").prefix(7).joined(separator: ":")
            return base.replacingOccurrences(of: ":stateMachine:", with: ":execution:") + ":\(name)"
        }
    }

    public func describeExecution(arn: String) async throws(AWSError) -> StepFunctionsExecution {
        let answer = try await call("DescribeExecution", ["executionArn": arn])
        return StepFunctionsExecution(
            status: answer["status"] as? String ?? "", executionArn: answer["executionArn"] as? String ?? arn,
            stateMachineArn: answer["stateMachineArn"] as? String ?? "", output: answer["output"] as? String,
            error: answer["error"] as? String, cause: answer["cause"] as? String)
    }

    /// The events of an execution's history after event `known` (all of them by default), oldest first.
    public func executionHistory(arn: String, after known: Int = 0) async throws(AWSError) -> [StepFunctionsHistoryEvent] {
        // Newest first, so that a follower asking again reads only the pages with new events: it stops at
        // the first page holding an event it has (a server that ignores reverseOrder answers all events).
        var events: [StepFunctionsHistoryEvent] = []
        var token: String?
        var reachedKnown = false
        repeat {
            var body: [String: Any] = ["executionArn": arn, "maxResults": 1000, "reverseOrder": true]
            if let token { body["nextToken"] = token }
            let answer = try await call("GetExecutionHistory", body)
            for event in answer["events"] as? [[String: Any]] ?? [] {
                guard let id = (event["id"] as? NSNumber)?.intValue else { continue }
                if id <= known {
                    reachedKnown = true
                    continue
                }
                let json = (try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys])).map {
                    String(decoding: $0, as: UTF8.self)
                }
                events.append(StepFunctionsHistoryEvent(id: id, type: event["type"] as? String ?? "", json: json ?? "{}"))
            }
            token = answer["nextToken"] as? String
        } while token != nil && !reachedKnown
        return events.sorted { $0.id < $1.id }
    }

    // MARK: Activities

    /// Creates (or finds: AWS answers the same ARN for the same name) an activity.
    public func createActivity(name: String) async throws(AWSError) -> String {
        try await call("CreateActivity", ["name": name])["activityArn"] as? String ?? ""
    }

    /// Long-polls for a task of `activityArn`; nil when none came within AWS's poll time.
    public func activityTask(activityArn: String, workerName: String) async throws(AWSError) -> (token: String, input: String)? {
        let answer = try await call("GetActivityTask", ["activityArn": activityArn, "workerName": workerName], timeout: .seconds(70))
        guard let token = answer["taskToken"] as? String, !token.isEmpty else { return nil }
        return (token, answer["input"] as? String ?? "{}")
    }

    public func sendTaskSuccess(token: String, output: String) async throws(AWSError) {
        _ = try await call("SendTaskSuccess", ["taskToken": token, "output": output])
    }

    public func sendTaskFailure(token: String, error: String, cause: String) async throws(AWSError) {
        _ = try await call(
            "SendTaskFailure", ["taskToken": token, "error": String(error.prefix(256)), "cause": String(cause.prefix(32768))])
    }

    public func sendTaskHeartbeat(token: String) async throws(AWSError) {
        _ = try await call("SendTaskHeartbeat", ["taskToken": token])
    }

    // MARK: The wire

    /// One signed call; an error answer is an ``AWSError`` with AWS's type and message.
    func call(_ operation: String, _ body: [String: Any], timeout: TimeAmount = .seconds(30)) async throws(AWSError)
        -> [String: Any]
    {
        let data: [UInt8]
        do { data = Array(try JSONSerialization.data(withJSONObject: body)) } catch {
            throw AWSError(operation: operation, type: "InvalidRequest", message: "\(error)", status: 0)
        }
        let headers: [(String, String)] = [
            ("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", "AWSStepFunctions.\(operation)"),
        ]
        var request = HTTPClientRequest(url: endpoint.absoluteString)
        request.method = .POST
        for (name, value) in headers + signer.sign(method: "POST", url: endpoint, headers: headers, body: data) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: data))
        let status: Int
        let bytes: ByteBuffer
        let errorType: String?
        do {
            let response = try await http.execute(request, timeout: timeout)
            status = Int(response.status.code)
            errorType = response.headers.first(name: "x-amzn-ErrorType")
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw AWSError(
                operation: operation, type: "Transport", message: "no answer from \(endpoint.absoluteString): \(error)", status: 0)
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any]
        guard (200..<300).contains(status) else {
            // AWS names the error in a header (`Type:detail`) and in `__type` (`namespace#Type`).
            var type = "HTTP\(status)"
            if let full = object?["__type"] as? String ?? errorType?.split(separator: ":").first.map(String.init),
                let last = full.split(separator: "#").last, !last.isEmpty
            {
                type = String(last)
            }
            let message = object?["message"] as? String ?? object?["Message"] as? String ?? "HTTP status \(status)"
            throw AWSError(operation: operation, type: type, message: message, status: status)
        }
        return object ?? [:]
    }
}

/// Names AWS accepts, derived from stepgate's own (`[A-Za-z0-9-_]`, at most 80 characters).
public enum StepFunctionsNames {
    /// A name that is the same for the same `key` and differs for different keys: a readable prefix of the key and
    /// 16 hex digits of its SHA-256. Starting an execution under it twice starts it once.
    public static func idempotent(_ key: String, maxLength: Int = 80) -> String {
        let digest = SHA256.hash(data: Data(key.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
        let readable = String(key.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "-" })
        return String(readable.prefix(max(0, maxLength - 17))) + "-" + digest
    }
}
