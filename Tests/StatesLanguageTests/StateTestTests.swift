import Foundation
import Testing

@testable import StatesLanguage

/// One state alone, as AWS's TestState API runs it.
@Suite struct StateTestTests {
    static let lambda = "arn:aws:lambda:us-east-1:123456789012:function:f"

    static func test(
        _ text: String, state: String, input: JSON, variables: [String: JSON] = [:],
        handler: @escaping InMemoryTaskExecutor.Handler = { $0.input }
    ) async throws -> StateTestResult {
        let machine = try StateMachineCompiler.load(try JSONParser.parseDocument(text, fileName: "t.asl.json")).get()
        let env = ExecutionEnvironment(clock: VirtualClock(), tasks: InMemoryTaskExecutor([lambda: handler]))
        let interpreter = Interpreter(machine: machine, identity: ExecutionIdentity(executionID: "e", name: "e"), environment: env)
        return try #require(await interpreter.testState(named: state, input: input, variables: variables))
    }

    static let taskMachine = #"""
        {"StartAt": "Call", "States": {
          "Call": {"Type": "Task", "Resource": "\#(lambda)", "InputPath": "$.req", "Parameters": {"n.$": "$.n", "v.$": "$limit"},
                   "ResultSelector": {"twice.$": "States.MathAdd($.n, $.n)"}, "ResultPath": "$.res", "OutputPath": "$.res",
                   "Assign": {"last.$": "$.twice"},
                   "Retry": [{"ErrorEquals": ["Flaky"], "MaxAttempts": 2}],
                   "Catch": [{"ErrorEquals": ["Broken"], "ResultPath": "$.error", "Next": "Recover"}],
                   "Next": "Done"},
          "Recover": {"Type": "Pass", "Next": "Done"},
          "Done": {"Type": "Succeed"}}}
        """#

    @Test func debugShowsTheDataAfterEachStep() async throws {
        let r = try await Self.test(Self.taskMachine, state: "Call", input: ["req": ["n": 4]], variables: ["limit": 9])
        #expect(r.status == .succeeded)
        #expect(r.nextState == "Done")
        #expect(r.output == ["twice": 8])
        let data = r.json(level: .debug)["inspectionData"]
        #expect(data?["input"] == ["req": ["n": 4]])
        #expect(data?["afterInputPath"] == ["n": 4])
        #expect(data?["afterParameters"] == ["n": 4, "v": 9])
        #expect(data?["result"] == ["n": 4, "v": 9])
        #expect(data?["afterResultSelector"] == ["twice": 8])
        #expect(data?["afterResultPath"] == ["req": ["n": 4], "res": ["twice": 8]])
        #expect(data?["variables"] == ["last": 8, "limit": 9])
        #expect(data?["request"] == nil)
    }

    @Test func infoShowsTheOutcomeOnlyAndTraceTheTask() async throws {
        let r = try await Self.test(Self.taskMachine, state: "Call", input: ["req": ["n": 1]], variables: ["limit": 1])
        #expect(r.json(level: .info) == ["status": "SUCCEEDED", "output": ["twice": 2], "nextState": "Done"])
        let trace = r.json(level: .trace)["inspectionData"]
        #expect(trace?["request"] == ["resource": .string(Self.lambda), "input": ["n": 1, "v": 1]])
        #expect(trace?["response"] == ["n": 1, "v": 1])
    }

    @Test func aRetriableErrorIsNotRetried() async throws {
        let calls = Counter()
        let r = try await Self.test(Self.taskMachine, state: "Call", input: ["req": ["n": 1]], variables: ["limit": 1]) { _ in
            _ = calls.bump()
            throw ExecutionError("Flaky", "try again")
        }
        #expect(r.status == .retriable)
        #expect(r.error == "Flaky")
        #expect(r.cause == "try again")
        #expect(r.nextState == nil)
        #expect(calls.count() == 1)
    }

    @Test func aCaughtErrorGivesTheCatchersOutputAndNext() async throws {
        let r = try await Self.test(Self.taskMachine, state: "Call", input: ["req": ["n": 1]], variables: ["limit": 1]) { _ in
            throw ExecutionError("Broken", "gone")
        }
        #expect(r.status == .caughtError)
        #expect(r.nextState == "Recover")
        #expect(r.output == ["req": ["n": 1], "error": ["Error": "Broken", "Cause": "gone"]])
    }

    @Test func anUncaughtErrorFails() async throws {
        let r = try await Self.test(Self.taskMachine, state: "Call", input: ["req": ["n": 1]], variables: ["limit": 1]) { _ in
            throw ExecutionError("Other", "x")
        }
        #expect(r.status == .failed)
        #expect(r.json(level: .info) == ["status": "FAILED", "error": "Other", "cause": "x"])
    }

    @Test func choiceFailAndNestedStates() async throws {
        let text = #"""
            {"StartAt": "Pick", "States": {
              "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Each"}], "Default": "Stop"},
              "Each": {"Type": "Map", "ItemsPath": "$.items", "End": true,
                       "ItemProcessor": {"StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "Parameters": {"x.$": "$"}, "End": true}}}},
              "Stop": {"Type": "Fail", "Error": "Small", "Cause": "too small"}}}
            """#
        let pick = try await Self.test(text, state: "Pick", input: ["n": 2])
        #expect(pick.status == .succeeded && pick.nextState == "Each")
        let stop = try await Self.test(text, state: "Stop", input: [:])
        #expect(stop.status == .failed && stop.error == "Small" && stop.cause == "too small")
        let inner = try await Self.test(text, state: "Inner", input: 5)
        #expect(inner.output == ["x": 5])
        #expect(inner.json(level: .debug)["inspectionData"]?["afterParameters"] == ["x": 5])
        let map = try await Self.test(text, state: "Each", input: ["items": [1, 2]])
        #expect(map.output == [["x": 1], ["x": 2]])
    }

    @Test func jsonataStatesShowTheirArguments() async throws {
        let text = #"""
            {"QueryLanguage": "JSONata", "StartAt": "Call", "States": {
              "Call": {"Type": "Task", "Resource": "\#(Self.lambda)", "Arguments": {"n": "{% $states.input.n + 1 %}"},
                       "Output": "{% $states.result.n * 10 %}", "End": true}}}
            """#
        let r = try await Self.test(text, state: "Call", input: ["n": 1])
        #expect(r.output == 20)
        let data = r.json(level: .debug)["inspectionData"]
        #expect(data?["afterArguments"] == ["n": 2])
        #expect(data?["result"] == ["n": 2])
    }

    @Test func anUnknownStateIsNil() async throws {
        let machine = try StateMachineCompiler.compile(["StartAt": "A", "States": ["A": ["Type": "Succeed"]]])
        let interpreter = Interpreter(machine: machine, identity: ExecutionIdentity(executionID: "e", name: "e"), environment: ExecutionEnvironment())
        #expect(await interpreter.testState(named: "B", input: [:]) == nil)
    }
}
