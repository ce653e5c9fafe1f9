import Foundation
import Testing

@testable import StatesLanguage

/// Definitions as people publish them: what AWS accepts must validate and run, what it refuses
/// must not.
@Suite struct RealWorldDefinitionTests {
    static func validate(_ text: String) -> [Diagnostic] {
        DefinitionValidator.validate(text: text, fileName: "test.asl.json")
    }

    static func errors(_ text: String) -> [String] {
        validate(text).filter { $0.severity == .error }.map(\.message)
    }

    static func task(_ resource: String, extra: String = "") -> String {
        #"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "\#(resource)"\#(extra), "End": true}}}"#
    }

    static func pass(parameters: String) -> String {
        #"{"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": \#(parameters), "End": true}}}"#
    }

    static func run(_ text: String, input: JSON) async throws -> ExecutionResult {
        let machine = try StateMachineCompiler.load(try JSONParser.parseDocument(text, fileName: "t.asl.json")).get()
        let interpreter = Interpreter(
            machine: machine, identity: ExecutionIdentity(executionID: "e", name: "e"),
            environment: ExecutionEnvironment(clock: VirtualClock()))
        return await interpreter.run(input: input)
    }

    // MARK: A dot before a bracket

    static let dottedBrackets = [
        "$.[0]", "$.[*].key", "$.Items.[0].Name", "$.[?(@.OU > 0)]", "$.Reservations[0].Instances[0]InstanceId",
        "$.a[0]*",
    ]

    @Test(arguments: dottedBrackets)
    func aDotBeforeABracketIsAPath(_ path: String) {
        #expect(Self.errors(Self.pass(parameters: #"{"v.$": "\#(path)"}"#)) == [])
        #expect(throws: Never.self) { try JSONPath.parse(path) }
    }

    @Test func aDotBeforeABracketInsideAnIntrinsicArgument() {
        #expect(Self.errors(Self.pass(parameters: #"{"v.$": "States.StringToJson($.[0].body)"}"#)) == [])
        #expect(Self.errors(#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "ResultPath": "$.[0]", "End": true}}}"#) == [])
    }

    @Test func aDotBeforeABracketSelectsWhatTheBracketSelects() async throws {
        let text = Self.pass(
            parameters: #"""
                {"first.$": "$.[0].Name", "names.$": "$.[*].Name", "big.$": "$.[?(@.OU > 1)].Name",
                 "body.$": "States.StringToJson($.[1].body)", "glued.$": "$.[1]Name"}
                """#)
        let input: JSON = [["Name": "a", "OU": 1, "body": "{}"], ["Name": "b", "OU": 2, "body": "{\"k\": [1]}"]]
        let result = try await Self.run(text, input: input)
        #expect(result.status == .succeeded)
        #expect(
            result.output == ["first": "a", "names": ["a", "b"], "big": ["b"], "body": ["k": [1]], "glued": "b"])
    }

    @Test(arguments: ["$.", "$.[", "$..", "$.a.", "$.[0]."])
    func aDotStillNeedsSomethingAfterIt(_ path: String) {
        #expect(!Self.errors(Self.pass(parameters: #"{"v.$": "\#(path)"}"#)).isEmpty)
    }

    // MARK: ReaderConfig.MaxItems

    static func distributedMap(readerConfig: String) -> String {
        #"""
        {"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
          "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": \#(readerConfig),
                         "Parameters": {"Bucket": "b", "Key": "k.json"}},
          "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                            "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}}
        """#
    }

    @Test func maxItemsZeroMeansNoLimit() {
        #expect(Self.errors(Self.distributedMap(readerConfig: #"{"InputType": "JSON", "MaxItems": 0}"#)) == [])
        #expect(Self.errors(Self.distributedMap(readerConfig: #"{"InputType": "JSON", "MaxItems": -1}"#)).count == 1)
    }

    // MARK: Deploy-time placeholders

    @Test func aResourcePlaceholderWithoutAValueIsOneLocatedDiagnosticNamingTheKey() throws {
        let text = """
            {"StartAt": "Hello",
             "States": {
               "Hello": {"Type": "Task", "Resource": "${HelloFunctionArn}", "End": true}}}
            """
        let d = Self.validate(text)
        #expect(d.count == 1)
        #expect(d.first?.location == SourceLocation(line: 3, column: 42))
        let message = try #require(d.first?.message)
        #expect(message.contains("placeholder ${HelloFunctionArn}, which has no value"))
        #expect(message.contains("--substitute HelloFunctionArn=VALUE"))
        #expect(!message.contains("not a valid resource ARN"))
    }

    @Test func pseudoParametersAlwaysHaveValues() {
        #expect(Self.errors(Self.task("arn:${AWS::Partition}:states:::sns:publish")) == [])
        #expect(Self.errors(Self.task("arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:aws-sdk:s3:getObject")) == [])
        // The ARN is still checked with their values standing in.
        #expect(Self.errors(Self.task("arn:${AWS::Partition}:states:::sns:publishh")).count == 1)
    }

    @Test func everyMissingKeyOfAResourceIsNamedInOneDiagnostic() throws {
        let errors = Self.errors(Self.task("arn:${Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${Name}"))
        #expect(errors.count == 1)
        let message = try #require(errors.first)
        #expect(message.contains("placeholders ${Partition}, ${Name}, which have no value"))
        #expect(message.split(separator: "holds").last?.contains("AWS::") == false)
    }

    @Test func placeholdersOutsideAResourceAreStrings() {
        let text = Self.task(
            "arn:aws:states:::dynamodb:putItem", extra: #", "Parameters": {"TableName": "${DDBTable}", "Item": {"id": {"S.$": "$.id"}}}"#)
        #expect(Self.validate(text).isEmpty)
    }

    @Test func substitutedDefinitionsValidate() throws {
        let text = """
            {"StartAt": "Hello",
             "States": {"Hello": {"Type": "Task", "Resource": "${HelloFunctionArn}", "End": true}}}
            """
        let document = try JSONParser.parseDocument(text, fileName: "d.asl.json")
        let substituted = DefinitionSubstitutions(["HelloFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:hello"])
            .apply(to: document)
        #expect(DefinitionValidator.validate(substituted).isEmpty)
        #expect(
            substituted.value["States"]?["Hello"]?["Resource"] == "arn:aws:lambda:us-east-1:123456789012:function:hello")
    }

    @Test func substitutionReplacesOnlyKeysWithValues() {
        let s = DefinitionSubstitutions(["A": "1", "var.prefix": "p", "AWS::Region": "eu-west-1"])
        #expect(s.apply(to: "${A}-${B}-${var.prefix}:${AWS::Region}") == "1-${B}-p:eu-west-1")
        #expect(s.apply(to: "${!A} ${} ${a b} $A {A}") == "${!A} ${} ${a b} $A {A}")
        #expect(DefinitionSubstitutions.keys(in: "x${A}y${Fn::Select}${A}") == ["A", "Fn::Select"])
        #expect(DefinitionSubstitutions([:]).withPseudoParameters.apply(to: "arn:${AWS::Partition}") == "arn:aws")
        #expect(DefinitionSubstitutions(["AWS::Partition": "aws-cn"]).withPseudoParameters.apply(to: "${AWS::Partition}") == "aws-cn")
    }

    // MARK: Duplicate keys

    @Test func aKeyWrittenTwiceInOneObjectIsRefused() {
        let text = """
            {"StartAt": "P",
             "States": {"P": {"Type": "Pass", "End": true, "Type": "Succeed"}}}
            """
        let d = Self.validate(text)
        #expect(d.count == 1)
        #expect(d.first?.message.contains("duplicate key \"Type\"") == true)
        #expect(d.first?.location == SourceLocation(line: 2, column: 48))
    }

    @Test func aFieldAndItsPathFormInOnePayloadTemplateAreRefused() {
        let errors = Self.errors(
            Self.pass(parameters: #"{"slack": {"channel.$": "$.c", "channel": "x", "ok": 1}, "other.$": "$.o"}"#))
        #expect(errors.count == 1)
        #expect(errors.first?.contains(#""channel.$" and "channel" both set the field "channel""#) == true)
    }

    // MARK: JSONata syntax

    @Test(arguments: ["{% 10 + * 2 %}", "{% 420. %}", "{% $.store.book[?(@.price < 10)].title %}", "{% $sum(1, 2 %}"])
    func jsonataThatDoesNotParseIsRefused(_ expression: String) {
        let text = #"{"QueryLanguage": "JSONata", "StartAt": "X", "States": {"X": {"Type": "Pass", "Output": {"v": [{"w": "\#(expression)"}]}, "End": true}}}"#
        let errors = Self.errors(text)
        #expect(errors.count == 1, "\(errors)")
    }

    @Test(arguments: ["{%10%}", "{% $states.input%}", "10 %}", " {% not an expression %} "])
    func jsonataDelimitersNeedNoSpaces(_ value: String) {
        let text = #"{"QueryLanguage": "JSONata", "StartAt": "X", "States": {"X": {"Type": "Pass", "Output": "\#(value)", "End": true}}}"#
        #expect(Self.errors(text) == [])
    }

    @Test func aJSONataMapMayIterateOverItsArguments() async throws {
        let text = """
            {"QueryLanguage": "JSONata", "StartAt": "M",
             "States": {"M": {"Type": "Map", "Arguments": "{% $states.input.list[kind = 'tool'] %}",
                              "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Output": "{% $states.input.name %}", "End": true}}},
                              "End": true}}}
            """
        #expect(Self.errors(text) == [])
        let input: JSON = ["list": [["kind": "tool", "name": "a"], ["kind": "text", "name": "b"], ["kind": "tool", "name": "c"]]]
        let result = try await Self.run(text, input: input)
        #expect(result.output == ["a", "c"])
    }

    // MARK: ResultWriter

    static func writer(_ resultWriter: String) -> String {
        #"""
        {"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ResultWriter": \#(resultWriter),
          "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                            "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}}
        """#
    }

    @Test(arguments: [
        (#"{}"#, "ResultWriter needs WriterConfig, or Resource and Parameters"),
        (#"{"Resource": "arn:aws:states:::s3:putObject"}"#, "has a Resource but no Parameters"),
        (#"{"Parameters": {"Bucket": "b"}}"#, "has Parameters but no Resource"),
        (#"{"WriterConfig": {}}"#, "needs the field \"OutputType\""),
        (#"{"WriterConfig": {"OutputType": "CSV", "Transformation": "FLATTEN"}}"#, "OutputType must be one of JSON, JSONL"),
        (#"{"WriterConfig": {"OutputType": "JSON", "Transformation": "FLAT"}}"#, "Transformation must be one of"),
        (#"{"WriterConfig": {"OutputType": "JSON", "Format": "x"}}"#, "unknown field \"Format\""),
    ])
    func aResultWriterNeedsItsRequiredFields(_ writer: String, _ expected: String) {
        let errors = Self.errors(Self.writer(writer))
        #expect(errors.count == 1 && errors[0].contains(expected), "\(errors)")
    }

    @Test(arguments: [
        #"{"WriterConfig": {"OutputType": "JSONL", "Transformation": "NONE"}}"#,
        #"{"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "b", "Prefix": "p"}}"#,
        #"{"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "b"}, "WriterConfig": {"OutputType": "JSON", "Transformation": "COMPACT"}}"#,
    ])
    func resultWriterCombinationsAWSAccepts(_ writer: String) {
        #expect(Self.errors(Self.writer(writer)) == [])
    }

    // MARK: Fail paths

    @Test(arguments: ["States.StringToJson($.s)", "States.MathAdd($.a, $.b)", "States.Array($.a)", "States.ArrayLength($.a)"])
    func errorAndCausePathsCallOnlyFunctionsReturningAString(_ call: String) {
        let text = #"{"StartAt": "F", "States": {"F": {"Type": "Fail", "ErrorPath": "\#(call)", "CausePath": "$.c"}}}"#
        let errors = Self.errors(text)
        #expect(errors.count == 1 && errors[0].contains("only intrinsic functions that return a string"), "\(errors)")
    }

    @Test(arguments: [
        "States.Format('{}', $.a)", "States.JsonToString($.a)", "States.ArrayGetItem($.a, 0)", "States.Base64Encode($.a)",
        "States.Base64Decode($.a)", "States.Hash($.a, 'SHA-256')", "States.UUID()",
    ])
    func errorAndCausePathsMayCallStringFunctions(_ call: String) {
        let text = #"{"StartAt": "F", "States": {"F": {"Type": "Fail", "ErrorPath": "\#(call)", "CausePath": "\#(call)"}}}"#
        #expect(Self.errors(text) == [])
    }

    // MARK: Lambda function ARNs

    @Test(arguments: [
        "arn:aws:lambda:us-east-1:123456789012:function:f:", "arn:aws:lambda:us-east-1:123456789012:function:f:$*#$7485",
        "arn:aws:lambda:us-east-1:123456789012:function:", "arn:aws:lambda:us-east-1:123456789012:function:f:1:2",
    ])
    func malformedLambdaFunctionARNsAreRefused(_ arn: String) {
        #expect(Self.errors(Self.task(arn)).count == 1)
    }

    @Test(arguments: [
        "arn:aws:lambda:us-east-1:123456789012:function:f", "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
        "arn:aws:lambda:us-east-1:123456789012:function:my-fn_2:live", "arn:aws:lambda:us-east-1:123456789012:function:f:7",
        "arn:aws-cn:lambda:cn-north-1:123456789012:function:f",
    ])
    func lambdaFunctionARNsAWSAccepts(_ arn: String) {
        #expect(Self.errors(Self.task(arn)) == [])
    }
}
