import Foundation
import StatesLanguage
import Testing

/// Runs a definition on a virtual clock with the given task handlers.
func execute(
    _ definition: JSON, input: JSON = [:], clock: VirtualClock = VirtualClock(),
    tasks: [String: InMemoryTaskExecutor.Handler] = [:], observer: (any ExecutionObserver)? = nil,
    random: @escaping @Sendable () -> UInt64 = { 0 }
) async throws -> ExecutionResult {
    let problems = DefinitionValidator.validate(definition).filter { $0.severity == .error }
    #expect(problems.isEmpty, "definition should validate: \(problems)")
    let machine = try StateMachineCompiler.compile(definition)
    let env = ExecutionEnvironment(clock: clock, tasks: InMemoryTaskExecutor(lambdas(tasks)), observer: observer, random: random)
    return await Interpreter(machine: machine, identity: ExecutionIdentity(executionID: "exec-1", name: "test"), environment: env)
        .run(input: input)
}

/// Task handlers by function name, keyed by the Lambda ARN the test definitions use.
func lambdas(_ tasks: [String: InMemoryTaskExecutor.Handler]) -> [String: InMemoryTaskExecutor.Handler] {
    Dictionary(uniqueKeysWithValues: tasks.map { ("arn:aws:lambda:us-east-1:123456789012:function:\($0.key)", $0.value) })
}

/// Counts calls, safely from concurrent tasks.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: Int] = [:]
    private var current = 0
    private(set) var peak = 0

    func bump(_ key: String = "") -> Int {
        lock.withLock {
            values[key, default: 0] += 1
            return values[key]!
        }
    }

    func count(_ key: String = "") -> Int { lock.withLock { values[key, default: 0] } }

    func enter() { lock.withLock { current += 1; peak = max(peak, current) } }
    func leave() { lock.withLock { current -= 1 } }
}

@Suite struct TaskStateTests {
    @Test func dataFlowThroughATask() async throws {
        let definition: JSON = [
            "StartAt": "Call",
            "States": [
                "Call": [
                    "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:echo", "InputPath": "$.request",
                    "Parameters": ["value.$": "$.n", "label": "fixed"],
                    "ResultSelector": ["doubled.$": "States.MathAdd($.value, $.value)"],
                    "ResultPath": "$.result", "OutputPath": "$.result", "End": true,
                ]
            ],
        ]
        let seen = Counter()
        let result = try await execute(
            definition, input: ["request": ["n": 21], "other": true],
            tasks: [
                "echo": { request in
                    _ = seen.bump()
                    #expect(request.input == ["value": 21, "label": "fixed"])
                    #expect(request.stateName == "Call")
                    return request.input
                }
            ])
        #expect(result.status == .succeeded)
        #expect(result.output == ["doubled": 42])
        #expect(seen.count() == 1)
        let types = result.history.map(\.type)
        #expect(
            types == [
                .executionStarted, .taskStateEntered, .taskScheduled, .taskStarted, .taskSucceeded, .taskStateExited,
                .executionSucceeded,
            ])
        #expect(result.history.map(\.id) == Array(1...7))
        #expect(result.history.allSatisfy { $0.previousEventID == $0.id - 1 })
    }

    @Test func credentialsReachTheExecutor() async throws {
        let definition: JSON = [
            "StartAt": "Deploy",
            "States": [
                "Deploy": [
                    "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:deploy", "Credentials": ["RoleArn": "deploy-staging"],
                    "TimeoutSeconds": 60, "HeartbeatSeconds": 10, "End": true,
                ]
            ],
        ]
        let result = try await execute(
            definition,
            tasks: [
                "deploy": { request in
                    #expect(request.credentials == ["RoleArn": "deploy-staging"])
                    #expect(request.timeoutSeconds == 60)
                    #expect(request.heartbeatSeconds == 10)
                    return "ok"
                }
            ])
        #expect(result.output == "ok")
    }

    @Test func retryBacksOffThenSucceeds() async throws {
        let clock = VirtualClock()
        let start = clock.now()
        let attempts = Counter()
        let definition: JSON = [
            "StartAt": "Flaky",
            "States": [
                "Flaky": [
                    "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:flaky",
                    "Retry": [["ErrorEquals": ["Custom.Flake"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3]],
                    "End": true,
                ]
            ],
        ]
        let result = try await execute(
            definition, clock: clock,
            tasks: [
                "flaky": { request in
                    let n = attempts.bump()
                    #expect(request.attempt == n - 1)
                    if n < 4 { throw ExecutionError("Custom.Flake", "try \(n)") }
                    return ["attempts": .int(n)]
                }
            ])
        #expect(result.status == .succeeded)
        #expect(result.output == ["attempts": 4])
        // 1 + 2 + 4 seconds of backoff.
        #expect(clock.now().timeIntervalSince(start) == 7)
    }

    @Test func retryExhaustedThenCaught() async throws {
        let clock = VirtualClock()
        let start = clock.now()
        let definition: JSON = [
            "StartAt": "Flaky",
            "States": [
                "Flaky": [
                    "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:fail",
                    "Retry": [["ErrorEquals": ["States.ALL"], "IntervalSeconds": 10, "BackoffRate": 3, "MaxAttempts": 2, "MaxDelaySeconds": 15]],
                    "Catch": [
                        ["ErrorEquals": ["Other"], "Next": "Wrong"],
                        ["ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"],
                    ],
                    "End": true,
                ],
                "Wrong": ["Type": "Fail", "Error": "Wrong"],
                "Handled": ["Type": "Pass", "End": true],
            ],
        ]
        let result = try await execute(
            definition, input: ["keep": 1], clock: clock,
            tasks: ["fail": { _ in throw ExecutionError("Boom", "it broke") }])
        #expect(result.status == .succeeded)
        #expect(result.output == ["keep": 1, "error": ["Error": "Boom", "Cause": "it broke"]])
        // 10, then min(30, 15).
        #expect(clock.now().timeIntervalSince(start) == 25)
    }

    @Test func fullJitterUsesTheInjectedRandomness() async throws {
        let clock = VirtualClock()
        let start = clock.now()
        let definition: JSON = [
            "StartAt": "T",
            "States": [
                "T": [
                    "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:fail",
                    "Retry": [["ErrorEquals": ["States.ALL"], "IntervalSeconds": 10, "MaxAttempts": 1, "JitterStrategy": "FULL"]],
                    "End": true,
                ]
            ],
        ]
        let result = try await execute(
            definition, clock: clock, tasks: ["fail": { _ in throw ExecutionError("Boom", "") }], random: { 500_000 })
        #expect(result.status == .failed)
        #expect(result.error == "Boom")
        #expect(clock.now().timeIntervalSince(start) == 5)
    }

    @Test func taskFailedDoesNotMatchTimeout() async throws {
        let definition: JSON = [
            "StartAt": "Slow",
            "States": [
                "Slow": [
                    "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:slow", "TimeoutSeconds": 5,
                    "Catch": [
                        ["ErrorEquals": ["States.TaskFailed"], "Next": "Failed"],
                        ["ErrorEquals": ["States.Timeout"], "Next": "TimedOut"],
                    ],
                    "End": true,
                ],
                "Failed": ["Type": "Pass", "Result": "failed", "End": true],
                "TimedOut": ["Type": "Pass", "Result": "timed out", "End": true],
            ],
        ]
        let clock = VirtualClock()
        let start = clock.now()
        let result = try await execute(
            definition, clock: clock,
            tasks: [
                "slow": { _ in
                    try await clock.sleep(seconds: 60)
                    return "late"
                }
            ])
        #expect(result.output == "timed out")
        #expect(result.history.contains { $0.type == .taskTimedOut && $0.error == "States.Timeout" })
        #expect(clock.now().timeIntervalSince(start) == 5)
    }

    @Test func timeoutFromAPath() async throws {
        let clock = VirtualClock()
        let definition: JSON = [
            "StartAt": "Slow",
            "States": ["Slow": ["Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:slow", "TimeoutSecondsPath": "$.limit", "End": true]],
        ]
        let result = try await execute(
            definition, input: ["limit": 2], clock: clock,
            tasks: [
                "slow": { _ in
                    try await clock.sleep(seconds: 3)
                    return "late"
                }
            ])
        #expect(result.status == .failed)
        #expect(result.error == "States.Timeout")
    }

    @Test func runtimeErrorsAreNotCaught() async throws {
        let definition: JSON = [
            "StartAt": "T",
            "States": [
                "T": [
                    "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:ok", "OutputPath": "$.missing",
                    "Catch": [["ErrorEquals": ["States.ALL"], "Next": "Caught"]], "End": true,
                ],
                "Caught": ["Type": "Succeed"],
            ],
        ]
        let result = try await execute(definition, tasks: ["ok": { _ in ["present": true] }])
        #expect(result.status == .failed)
        #expect(result.error == "States.Runtime")
        #expect(result.cause?.contains("$.missing") == true)
    }

    @Test func anUnknownErrorTypeBecomesTaskFailed() async throws {
        struct Oops: Error {}
        let definition: JSON = ["StartAt": "T", "States": ["T": ["Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:x", "End": true]]]
        let result = try await execute(definition, tasks: ["x": { _ in throw Oops() }])
        #expect(result.error == "States.TaskFailed")
    }
}

@Suite struct ParallelAndMapTests {
    @Test func parallelCollectsBranchOutputsInOrder() async throws {
        let definition: JSON = [
            "StartAt": "Both",
            "States": [
                "Both": [
                    "Type": "Parallel",
                    "Branches": [
                        ["StartAt": "A", "States": ["A": ["Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:slow", "End": true]]],
                        ["StartAt": "B", "States": ["B": ["Type": "Pass", "Result": "b", "End": true]]],
                    ],
                    "End": true,
                ]
            ],
        ]
        let clock = VirtualClock()
        let result = try await execute(
            definition, clock: clock,
            tasks: [
                "slow": { _ in
                    try await clock.sleep(seconds: 1)
                    return "a"
                }
            ])
        #expect(result.output == ["a", "b"])
        #expect(result.history.contains { $0.type == .parallelStateSucceeded })
    }

    @Test func aFailingBranchFailsTheParallelWithItsError() async throws {
        let definition: JSON = [
            "StartAt": "Both",
            "States": [
                "Both": [
                    "Type": "Parallel",
                    "Branches": [
                        ["StartAt": "A", "States": ["A": ["Type": "Pass", "End": true]]],
                        ["StartAt": "B", "States": ["B": ["Type": "Fail", "Error": "Branch.Broke", "Cause": "no"]]],
                    ],
                    "Catch": [["ErrorEquals": ["Branch.Broke"], "Next": "Recovered"]],
                    "End": true,
                ],
                "Recovered": ["Type": "Pass", "End": true],
            ],
        ]
        let result = try await execute(definition)
        #expect(result.output == ["Error": "Branch.Broke", "Cause": "no"])
    }

    @Test func mapRespectsMaxConcurrency() async throws {
        let gauge = Counter()
        let clock = VirtualClock()
        let definition: JSON = [
            "StartAt": "Each",
            "States": [
                "Each": [
                    "Type": "Map", "MaxConcurrency": 2,
                    "ItemSelector": ["index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value"],
                    "ItemProcessor": ["StartAt": "Work", "States": ["Work": ["Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:work", "End": true]]],
                    "End": true,
                ]
            ],
        ]
        let result = try await execute(
            definition, input: ["a", "b", "c", "d", "e"], clock: clock,
            tasks: [
                "work": { request in
                    gauge.enter()
                    defer { gauge.leave() }
                    for _ in 0..<20 { await Task.yield() }
                    return request.input
                }
            ])
        #expect(result.status == .succeeded)
        #expect(result.output?.arrayValue?.count == 5)
        #expect(result.output?.arrayValue?[3] == ["index": 3, "value": "d"])
        #expect(gauge.peak <= 2)
    }

    @Test func toleratedFailuresAndTheThreshold() async throws {
        func definition(_ tolerance: JSON) -> JSON {
            let base: JSON = [
                "Type": "Map",
                "ItemProcessor": [
                    "StartAt": "Check",
                    "States": [
                        "Check": [
                            "Type": "Choice", "Choices": [["Variable": "$", "NumericGreaterThan": 2, "Next": "Bad"]],
                            "Default": "Good",
                        ],
                        "Bad": ["Type": "Fail", "Error": "TooBig"],
                        "Good": ["Type": "Pass", "End": true],
                    ],
                ],
                "End": true,
            ]
            var map = base.objectValue!
            for (k, v) in tolerance.objectValue!.pairs { map[k] = v }
            return ["StartAt": "M", "States": ["M": .object(map)]]
        }
        let input: JSON = [1, 2, 3, 4]
        let within = try await execute(definition(["ToleratedFailureCount": 2]), input: input)
        #expect(within.status == .succeeded)
        #expect(within.output?.arrayValue?[2]["Error"] == "TooBig")
        let over = try await execute(definition(["ToleratedFailurePercentage": 25]), input: input)
        #expect(over.error == "States.ExceedToleratedFailureThreshold")
        let intolerant = try await execute(definition([:]), input: input)
        #expect(intolerant.error == "TooBig")
    }

    @Test func variablesAssignedInsideAMapStayThere() async throws {
        let definition: JSON = [
            "StartAt": "Set",
            "States": [
                "Set": ["Type": "Pass", "Assign": ["greeting": "outer"], "Next": "Each"],
                "Each": [
                    "Type": "Map",
                    "ItemProcessor": [
                        "StartAt": "Inner",
                        "States": [
                            "Inner": [
                                "Type": "Pass", "Assign": ["local": "inner"], "Parameters": ["seen.$": "$greeting"],
                                "End": true,
                            ]
                        ],
                    ],
                    "Next": "After",
                ],
                "After": ["Type": "Pass", "Parameters": ["greeting.$": "$greeting", "items.$": "$"], "End": true],
            ],
        ]
        let result = try await execute(definition, input: [1])
        #expect(result.output == ["greeting": "outer", "items": [["seen": "outer"]]])
    }
}

@Suite struct TimeAndHistoryTests {
    @Test func waitStatesTakeVirtualTime() async throws {
        let clock = VirtualClock(start: Date(timeIntervalSince1970: 1_700_000_000))
        let definition: JSON = [
            "StartAt": "Short",
            "States": [
                "Short": ["Type": "Wait", "Seconds": 30, "Next": "Until"],
                "Until": ["Type": "Wait", "TimestampPath": "$.at", "End": true],
            ],
        ]
        let result = try await execute(definition, input: ["at": "2023-11-14T23:00:00Z"], clock: clock)
        #expect(result.status == .succeeded)
        #expect(clock.now() == ISO8601DateFormatter().date(from: "2023-11-14T23:00:00Z"))
    }

    @Test func executionTimeout() async throws {
        let definition: JSON = [
            "StartAt": "Long", "TimeoutSeconds": 10,
            "States": ["Long": ["Type": "Wait", "Seconds": 60, "End": true]],
        ]
        let result = try await execute(definition)
        #expect(result.status == .timedOut)
        #expect(result.error == "States.Timeout")
        #expect(result.history.last?.type == .executionTimedOut)
    }

    @Test func contextObject() async throws {
        let definition: JSON = [
            "StartAt": "Look",
            "States": [
                "Look": [
                    "Type": "Pass",
                    "Parameters": ["state.$": "$$.State.Name", "execution.$": "$$.Execution.Id", "input.$": "$$.Execution.Input.x"],
                    "End": true,
                ]
            ],
        ]
        let result = try await execute(definition, input: ["x": 7])
        #expect(result.output == ["state": "Look", "execution": "exec-1", "input": 7])
    }

    @Test func payloadLimit() async throws {
        let big = String(repeating: "a", count: 300_000)
        let definition: JSON = ["StartAt": "Big", "States": ["Big": ["Type": "Pass", "Result": .string(big), "End": true]]]
        let result = try await execute(definition)
        #expect(result.error == "States.DataLimitExceeded")
    }
}

/// Collects checkpoints, as a durable store would.
final class CheckpointRecorder: ExecutionObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var saved: [Checkpoint] = []
    private var events: [HistoryEvent] = []

    func record(_ event: HistoryEvent) { lock.withLock { events.append(event) } }
    func checkpoint(_ checkpoint: Checkpoint) { lock.withLock { saved.append(checkpoint) } }
    var checkpoints: [Checkpoint] { lock.withLock { saved } }
    var recorded: [HistoryEvent] { lock.withLock { events } }
}

@Suite struct CheckpointTests {
    static let definition: JSON = [
        "StartAt": "First",
        "States": [
            "First": ["Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:step", "Parameters": ["n": 1], "ResultPath": "$.first", "Assign": ["seen.$": "$"], "Next": "Second"],
            "Second": ["Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:step", "Parameters": ["n": 2], "ResultPath": "$.second", "Next": "Third"],
            "Third": ["Type": "Pass", "Parameters": ["first.$": "$.first", "second.$": "$.second", "seen.$": "$seen"], "End": true],
        ],
    ]

    @Test func everyTopLevelTransitionIsCheckpointed() async throws {
        let recorder = CheckpointRecorder()
        let result = try await execute(Self.definition, tasks: ["step": { $0.input }], observer: recorder)
        #expect(result.status == .succeeded)
        #expect(recorder.checkpoints.map(\.stateName) == ["Second", "Third", nil])
        #expect(recorder.recorded.count == result.history.count)
    }

    @Test func resumingFromACheckpointSkipsWhatWasDone() async throws {
        let recorder = CheckpointRecorder()
        let calls = Counter()
        let tasks: [String: InMemoryTaskExecutor.Handler] = [
            "step": { request in
                _ = calls.bump(request.input["n"]!.serialized)
                return request.input
            }
        ]
        let full = try await execute(Self.definition, tasks: tasks, observer: recorder)
        #expect(calls.count("1") == 1 && calls.count("2") == 1)

        // Resume from the checkpoint taken before "Second", as after a crash there.
        let checkpoint = recorder.checkpoints[0]
        #expect(checkpoint.stateName == "Second")
        #expect(checkpoint.variables["seen"] == ["n": 1])
        let machine = try StateMachineCompiler.compile(Self.definition)
        let resumed = await Interpreter(
            machine: machine, identity: ExecutionIdentity(executionID: "exec-1", name: "test"),
            environment: ExecutionEnvironment(clock: VirtualClock(), tasks: InMemoryTaskExecutor(lambdas(tasks)))
        ).resume(from: checkpoint, executionInput: [:], startTime: Date())
        #expect(resumed.output == full.output)
        #expect(calls.count("1") == 1, "the first task finished before the checkpoint and must not run again")
        #expect(calls.count("2") == 2)
        #expect(resumed.history.first?.id == checkpoint.eventCount + 1)
    }
}

@Suite struct TimestampFormatTests {
    @Test(arguments: [0.0, 1_700_000_000.123, 951_782_400.5, -86_400.25, 4_102_444_799.999, 1_709_251_199.0])
    func matchesFoundationsFormatter(seconds: Double) async throws {
        // The history's timestamps against Foundation's ISO 8601 formatter, through an execution.
        let clock = VirtualClock(start: Date(timeIntervalSince1970: seconds))
        let result = try await execute(["StartAt": "A", "States": ["A": ["Type": "Succeed"]]], clock: clock)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let expected = formatter.string(from: Date(timeIntervalSince1970: seconds))
        #expect(result.history.first?.json["timestamp"] == .string(expected))
    }
}
