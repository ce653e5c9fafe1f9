import Foundation
import Testing

@testable import StatesLanguage

@Suite struct ValidationTests {
    static func validate(_ text: String) -> [Diagnostic] {
        DefinitionValidator.validate(text: text, fileName: "test.asl.json")
    }

    static func messages(_ text: String) -> [String] { validate(text).map(\.message) }

    // MARK: Locations

    @Test func diagnosticsPointAtKeysAndValuesInDocumentOrder() throws {
        let text = """
            {
              "StartAt": "Fetch",
              "States": {
                "Fetch": {
                  "Type": "Task",
                  "Resources": "arn:aws:lambda:us-east-1:123456789012:function:f",
                  "Next": "Missing"
                },
                "Orphan": {"Type": "Succeed"}
              }
            }
            """
        let document = try JSONParser.parseDocument(text, fileName: "flow.asl.json")
        let diagnostics = DefinitionValidator.validate(document)
        let lines = diagnostics.map { $0.formatted(file: document.fileName) }
        #expect(
            lines == [
                "flow.asl.json:4:5: error: state \"Fetch\": missing required field \"Resource\"",
                "flow.asl.json:6:7: error: state \"Fetch\": unknown field \"Resources\" (did you mean \"Resource\"?)",
                "flow.asl.json:7:15: error: state \"Fetch\": Next names \"Missing\", which is not a state",
                "flow.asl.json:9:5: error: state \"Orphan\" is unreachable from StartAt",
            ])
        #expect(diagnostics[1].pointsAtKey)
        #expect(!diagnostics[2].pointsAtKey)
        #expect(diagnostics[1].path == [.key("States"), .key("Fetch"), .key("Resources")])
    }

    @Test func badValuesAreLocatedAtTheValue() throws {
        let text = """
            {"StartAt": "W",
             "States": {
               "W": {"Type": "Wait",
                     "Timestamp": "2016-13-05T21:29:29Z",
                     "End": true}}}
            """
        let d = Self.validate(text)
        #expect(d.count == 1)
        #expect(d.first?.location == SourceLocation(line: 4, column: 23))
        #expect(d.first?.message.contains("RFC 3339") == true)
    }

    @Test func unlocatedValidationKeepsPaths() {
        let definition: JSON = ["StartAt": "A", "States": ["A": ["Type": "Pass", "Next": "B"]]]
        let d = DefinitionValidator.validate(definition)
        #expect(d.allSatisfy { $0.location == nil })
        #expect(d.contains { $0.message == "state \"A\": Next names \"B\", which is not a state" && $0.path == [.key("States"), .key("A"), .key("Next")] })
    }

    // MARK: Many problems at once

    @Test func reportsEveryProblemAtOnce() {
        let text = """
            {
              "StartAt": "Start",
              "Bogus": 1,
              "TimeoutSeconds": 0,
              "States": {
                "Start": {"Type": "Pass", "Resource": "x", "Next": "Check"},
                "Check": {"Type": "Choice", "Choices": [
                    {"Variable": "$.n", "NumericEquals": "one", "Next": "Work"},
                    {"Variable": "nope", "StringEquals": "a", "BooleanEquals": true, "Next": "Gone"},
                    {"Not": {"Variable": "$.x", "IsNull": true, "Next": "Work"}, "Next": "Work"}
                  ], "Next": "Work"},
                "Work": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
                         "TimeoutSeconds": 10, "HeartbeatSeconds": 20, "Result": 1,
                         "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"], "BackoffRate": 0.5}],
                         "Catch": [{"ErrorEquals": [], "Next": "Nowhere"}],
                         "Next": "Done", "End": true},
                "Done": {"Type": "Succeed", "Next": "Start"},
                "Sleep": {"Type": "Wait", "Seconds": -1, "SecondsPath": "$.s", "End": true},
                "Fan": {"Type": "Parallel", "Branches": [{"StartAt": "In", "States": {"In": {"Type": "Pass", "Next": "Done"}}}], "End": true},
                "Each": {"Type": "Map", "ItemsPath": "$..x[", "MaxConcurrency": -2, "Label": "a b", "End": true},
                "Stop": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"},
                "Vars": {"Type": "Pass", "Assign": {"1bad": 1, "ok.$": "States.Nope(1)"}, "Parameters": {"p.$": "States.Format('x\\\\q')"}, "End": true}
              }
            }
            """
        let m = Self.messages(text)
        let expected = [
            "unknown top-level field \"Bogus\"",
            "TimeoutSeconds must be a positive integer, not 0",
            "state \"Start\": field \"Resource\" is not allowed in a Pass state",
            "state \"Check\": field \"Next\" is not allowed in a Choice state",
            "choice rule: NumericEquals must be a number, not a string",
            "choice rule: Variable \"nope\" is not a valid path",
            "choice rule: has more than one comparison operator",
            "choice rule: field \"Next\" is only allowed in a top-level choice rule",
            "Next names \"Gone\", which is not a state",
            "state \"Work\": field \"Result\" is not allowed in a Task state",
            "HeartbeatSeconds (20) must be smaller than TimeoutSeconds (10)",
            "retrier 0: a rule with \"States.ALL\" must be the last one",
            "retrier 1: BackoffRate must be at least 1.0",
            "catcher 0: ErrorEquals must not be empty",
            "Next names \"Nowhere\", which is not a state",
            "state \"Work\": has both Next and \"End\": true",
            "state \"Done\": field \"Next\" is not allowed in a Succeed state",
            "state \"Sleep\": Seconds must be at least 0, not -1",
            "a Wait state takes only one of",
            "state \"In\": Next names \"Done\", which is not a state in this branch",
            "state \"Each\": a Map state needs \"ItemProcessor\"",
            "ItemsPath \"$..x[\" is not a valid path",
            "MaxConcurrency must be at least 0, not -2",
            "Label contains the invalid character U+0020",
            "state \"Stop\": Error and ErrorPath cannot both be set",
            "\"1bad\" is not a valid variable name",
            "unknown intrinsic function \"States.Nope\"",
            "illegal escape \"\\q\"",
            "state \"Sleep\" is unreachable from StartAt",
            "state \"Fan\" is unreachable from StartAt",
        ]
        for e in expected {
            #expect(m.contains { $0.contains(e) }, "missing diagnostic containing: \(e)\nall: \(m.joined(separator: "\n"))")
        }
        // Located and in document order.
        let located = Self.validate(text).compactMap(\.location)
        #expect(located == located.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
    }

    // MARK: Robustness

    @Test(arguments: [
        "[]", "1", "\"x\"", "null", "true",
    ])
    func nonObjectRootGivesOneDiagnostic(_ text: String) {
        let d = Self.validate(text)
        #expect(d.count == 1)
        #expect(d.first?.message.contains("must be a JSON object") == true)
    }

    @Test func wrongTypesEverywhereNeverTrap() {
        let shapes: [String] = [
            #"{"StartAt": 1, "States": []}"#,
            #"{"StartAt": "A", "States": {}}"#,
            #"{"StartAt": "A", "States": {"A": "Pass"}}"#,
            #"{"StartAt": "A", "States": {"A": {"Type": 3}}}"#,
            #"{"StartAt": "A", "States": {"A": {"Type": "Nope", "End": true}}}"#,
            #"{"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": {}, "Default": 1}}}"#,
            #"{"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [1, [], {"And": {}}, {"Or": [1]}, {"Not": []}]}}}"#,
            #"{"StartAt": "A", "States": {"A": {"Type": "Parallel", "Branches": "x", "End": "yes"}}}"#,
            #"{"StartAt": "A", "States": {"A": {"Type": "Parallel", "Branches": [1, {"StartAt": [], "States": 2}], "End": true}}}"#,
            #"{"StartAt": "A", "States": {"A": {"Type": "Map", "ItemProcessor": [], "Iterator": 1, "End": true, "ItemReader": 1, "ItemBatcher": [], "ResultWriter": "x"}}}"#,
            #"{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": {}, "Retry": {}, "Catch": [1, {"ErrorEquals": "x", "Next": 2}], "End": true}}}"#,
            #"{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Credentials": [], "TimeoutSeconds": 1.5, "HeartbeatSeconds": "x", "End": true}}}"#,
            #"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"a.$": 1, "b": [{"c.$": null}]}, "Assign": [], "ResultPath": 5, "End": true}}}"#,
            #"{"StartAt": "A", "QueryLanguage": 7, "States": {"A": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": {"x": "{% ( %}"}, "Assign": {"v": "{%"}, "End": true}}}"#,
            #"{"StartAt": "A", "States": {"A": {"Type": "Fail", "Error": 1, "CausePath": ["x"]}}}"#,
            #"{"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": "5", "Timestamp": 1, "End": true}}}"#,
        ]
        for text in shapes {
            let d = Self.validate(text)
            #expect(!d.isEmpty, "expected problems in \(text)")
            #expect(d.allSatisfy { $0.location != nil })
        }
    }

    /// Every member of every corpus definition replaced by values of the wrong type, one at a time.
    @Test func mutatedCorpusDefinitionsNeverTrap() throws {
        var files = try ValidationCorpusTests.caseFiles("invalid")
        files += try ValidationCorpusTests.caseFiles("cases").enumerated().filter { $0.offset % 20 == 0 }.map(\.element)
        let replacements: [JSON] = [.null, .int(-1), .string("{% x"), .array([]), .object(JSONObject())]
        var runs = 0
        for url in files {
            guard let definition = try ValidationCorpusTests.load(url)["definition"] else { continue }
            var paths: [[PathComponent]] = []
            collectPaths(definition, [], into: &paths)
            for p in paths {
                for r in replacements {
                    _ = DefinitionValidator.validate(replacing(definition, at: p[...], with: r))
                    runs += 1
                }
            }
        }
        #expect(runs > 10_000)
    }

    private func collectPaths(_ v: JSON, _ path: [PathComponent], into out: inout [[PathComponent]]) {
        out.append(path)
        switch v {
        case .object(let o): for (k, c) in o.pairs { collectPaths(c, path + [.key(k)], into: &out) }
        case .array(let a): for (i, c) in a.enumerated() { collectPaths(c, path + [.index(i)], into: &out) }
        default: break
        }
    }

    private func replacing(_ v: JSON, at path: ArraySlice<PathComponent>, with r: JSON) -> JSON {
        guard let first = path.first else { return r }
        switch (v, first) {
        case (.object(var o), .key(let k)):
            o[k] = replacing(o[k] ?? .null, at: path.dropFirst(), with: r)
            return .object(o)
        case (.array(var a), .index(let i)):
            a[i] = replacing(a[i], at: path.dropFirst(), with: r)
            return .array(a)
        default: return v
        }
    }

    // MARK: Rules

    @Test func queryLanguageRules() {
        let jsonata = #"""
            {"QueryLanguage": "JSONata", "StartAt": "A", "States": {
              "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Arguments": {"x": "{% $states.input %}"},
                    "Output": "{% $states.result %}", "Assign": {"v": "{% 1 %}"}, "TimeoutSeconds": "{% 5 %}", "Next": "C"},
              "C": {"Type": "Choice", "Choices": [{"Condition": "{% $v = 1 %}", "Next": "M"}], "Default": "M"},
              "M": {"Type": "Map", "Items": "{% [1,2] %}", "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}
            }}
            """#
        #expect(Self.messages(jsonata) == [])
        let mixed = #"""
            {"QueryLanguage": "JSONata", "StartAt": "A", "States": {
              "A": {"Type": "Pass", "InputPath": "$.x", "Next": "C"},
              "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": "D"}], "Default": "D"},
              "D": {"Type": "Pass", "QueryLanguage": "JSONPath", "Output": 1, "End": true}
            }}
            """#
        let m = Self.messages(mixed)
        #expect(m.contains { $0.contains("\"InputPath\" is not allowed with QueryLanguage \"JSONata\"") })
        #expect(m.contains { $0.contains("choice rule: missing required field \"Condition\"") })
        #expect(m.contains { $0.contains("QueryLanguage cannot be \"JSONPath\"") })
        #expect(m.contains { $0.contains("field \"Output\" is only allowed with QueryLanguage \"JSONata\"") })
    }

    @Test func duplicateNamesAndCrossBranchTransitions() {
        let text = #"""
            {"StartAt": "P", "States": {
              "P": {"Type": "Parallel", "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}}}], "Next": "Y"},
              "Y": {"Type": "Pass", "End": true},
              "X": {"Type": "Pass", "End": true}
            }}
            """#
        let m = Self.messages(text)
        #expect(m.contains { $0.contains("state name \"X\" is used more than once") })
        #expect(m.contains { $0.contains("Next names \"Y\", which is not a state in this branch") })
    }

    @Test func acceptsWellFormedDefinition() {
        let text = #"""
            {"Comment": "ok", "Version": "1.0", "TimeoutSeconds": 60, "StartAt": "A", "States": {
              "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"f.$": "States.Format('{} \\'q\\'', $.a)", "g.$": "$$.Execution.Id", "h.$": "$v.x[0]"},
                    "ResultSelector": {"r.$": "$.Payload"}, "ResultPath": "$.out['k'][0]", "Credentials": {"RoleArn": "arn:aws:iam::123456789012:role/r"},
                    "TimeoutSeconds": 30, "HeartbeatSeconds": 10,
                    "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 0, "BackoffRate": 1.5, "MaxDelaySeconds": 5, "JitterStrategy": "FULL"},
                              {"ErrorEquals": ["States.ALL"]}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "F"}], "Next": "C"},
              "C": {"Type": "Choice", "Choices": [
                      {"And": [{"Variable": "$.a", "StringMatches": "x*"}, {"Not": {"Variable": "$.b", "TimestampLessThan": "2020-01-01T00:00:00.5+02:00"}}], "Next": "W"},
                      {"Variable": "$.c", "NumericGreaterThanEqualsPath": "$.d", "Next": "W", "Assign": {"seen": true}}],
                    "Default": "F"},
              "W": {"Type": "Wait", "TimestampPath": "$.when", "Next": "M"},
              "M": {"Type": "Map", "ItemsPath": "$.items", "ItemSelector": {"v.$": "$$.Map.Item.Value"}, "MaxConcurrency": 2,
                    "ToleratedFailurePercentage": 12.5, "Label": "Batch_1",
                    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                                      "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}, "End": true},
              "F": {"Type": "Fail", "ErrorPath": "$.err.Error", "CausePath": "States.Format('{}', $.err.Cause)"}
            }}
            """#
        #expect(Self.messages(text) == [])
    }

    @Test func taskResources() {
        func problems(_ resource: String) -> [String] {
            Self.messages(#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "\#(resource)", "End": true}}}"#)
        }
        #expect(problems("stepgate:command") == [])
        #expect(problems("arn:aws:states:::aws-sdk:dynamodb:query") == [])
        #expect(problems("arn:aws:states:::lambda:invoke.waitForTaskToken") == [])
        #expect(problems("arn:aws:states:us-east-1:123456789012:activity:a") == [])
        #expect(problems("stepgate:nope").count == 1)
        #expect(problems("${lambdaArn").count == 1)
        #expect(problems("arn:aws:states:::dynamodb:query").first?.contains("aws-sdk:dynamodb:query") == true)
    }

    // MARK: Syntax helpers

    @Test(arguments: [
        "$", "$$", "$.a", "$.a.b[0]", "$[*]", "$..a", "$.a[1:3]", "$.a[-1:]", "$['x y']", "$[\"q\"]", "$.a[?(@.b > 1)]",
        "$.items[0,1]", "$$.Map.Item.Value", "$var", "$var.x[2]", "$.input-foo-bar", "$['Test\\\"\"Name\"']",
    ])
    func validPaths(_ path: String) {
        #expect(ValidationPathSyntax.problem(in: path) == nil)
    }

    @Test(arguments: ["", "a", ".a", "..a", "$.", "$...", "$[", "$[]", "$.a[x]", "()", "bug$.x", "$.a b", "$['x]", "$.a[1:2:3:4]"])
    func invalidPaths(_ path: String) {
        #expect(ValidationPathSyntax.problem(in: path) != nil)
    }

    @Test func referencePaths() {
        for ok in ["$", "$.a", "$.a[0].b", "$['a b']"] {
            #expect(ValidationPathSyntax.problem(in: ok, allowing: .resultPath) == nil, "\(ok)")
        }
        for bad in ["$$.x", "$v", "$..a", "$.a[*]", "$.a[?(@.x)]", "$.a[1:2]", "$.a[0,1]", "$.*"] {
            #expect(ValidationPathSyntax.problem(in: bad, allowing: .resultPath) != nil, "\(bad)")
        }
    }

    @Test(arguments: [
        "States.UUID()", "States.Array()", "States.Format('a {} b', $.x)", "States.Format('it\\'s {}', $v)",
        "States.MathAdd(States.ArrayLength($$.Execution.Input.m),-1)", "States.JsonMerge($.a, $.b, false)",
        "States.Array('Foo', 2020, $.someJson, null)", "States.MathRandom(1, 10, 3)", "States.StringSplit('a\nb', '\n')",
        "States.Format('\\{\\} \\\\', $.items[0,1])",
    ])
    func validIntrinsics(_ call: String) {
        #expect(ValidationIntrinsicSyntax.problem(in: call) == nil)
    }

    @Test(arguments: [
        "States.Nope()", "States.UUID(1)", "States.Format()", "States.MathAdd(1)", "States.Format('x'", "States.Format('x)",
        "States.Format('a' 'b')", "States.Format('\\\"')", "States.Array(1,)", "States.Array(,1)", "States.Array(@)",
        "States.Array(1) x", "States.ArrayLength($.)",
    ])
    func invalidIntrinsics(_ call: String) {
        #expect(ValidationIntrinsicSyntax.problem(in: call) != nil)
    }

    @Test func timestamps() {
        for ok in ["2016-03-14T01:59:00Z", "2016-03-14T01:59:00.123456789Z", "2016-03-14T01:59:00+05:30", "2016-02-29T00:00:00Z"] {
            #expect(ValidationTimestampSyntax.isValid(ok), "\(ok)")
        }
        for bad in ["2016-13-05T21:29:29Z", "2016-12-05T25:29:29Z", "2016-12-05 21:29:29Z", "2016-12-05T21:29:29", "2015-02-29T00:00:00Z", "2016-03-14t01:59:00z", "2016-03-14T01:59:00.Z"] {
            #expect(!ValidationTimestampSyntax.isValid(bad), "\(bad)")
        }
    }

    @Test func jsonataStrings() {
        #expect(ValidationJSONataSyntax.problem(in: "{% $x[0] & 'a)' %}") == nil)
        #expect(ValidationJSONataSyntax.problem(in: "{% %}") != nil)
        #expect(ValidationJSONataSyntax.problem(in: "{% $f( %}") != nil)
        #expect(ValidationJSONataSyntax.problem(in: "{% 1") != nil)
    }
}
