import Testing

@testable import StatesLanguage

private func json(_ text: String) -> JSON { try! JSONParser.parse(text) }

@Suite struct TemplatePayloadTests {
    let scope = EvaluationScope(
        input: json(#"{"a": {"b": 1, "list": [1, 2, 3]}, "name": "x"}"#),
        context: json(#"{"Execution": {"Name": "run"}, "Map": {"Item": {"Index": 2, "Value": "v"}}}"#),
        variables: ["total": 7, "cfg": ["mode": "fast"]])

    @Test func constantTemplateIsReturnedAsIs() throws {
        let t = try PayloadTemplate(json(#"{"Comment": "c", "n": [1, {"k": "v"}], "o": {"p": null}}"#))
        #expect(t.isConstant)
        #expect(try t.evaluate(in: scope) == json(#"{"Comment": "c", "n": [1, {"k": "v"}], "o": {"p": null}}"#))
    }

    @Test func pathsContextVariablesAndIntrinsics() throws {
        let t = try PayloadTemplate(
            json(
                #"""
                {"fixed": 1,
                 "b.$": "$.a.b",
                 "all.$": "$",
                 "items.$": "$.a.list[*]",
                 "exec.$": "$$.Execution.Name",
                 "index.$": "$$.Map.Item.Index",
                 "total.$": "$total",
                 "mode.$": "$cfg.mode",
                 "sum.$": "States.MathAdd($.a.b, $total)",
                 "msg.$": "States.Format('{} ran {}', $.name, $$.Execution.Name)",
                 "nested": {"deep.$": "$.a.list[1]", "plain": "keep.$ not", "arr": [{"x.$": "$.name"}, 3, "$.name"]}
                }
                """#))
        #expect(!t.isConstant)
        let out = try t.evaluate(in: scope)
        let expected = json(
            #"""
            {"fixed": 1, "b": 1, "all": {"a": {"b": 1, "list": [1, 2, 3]}, "name": "x"}, "items": [1, 2, 3],
             "exec": "run", "index": 2, "total": 7, "mode": "fast", "sum": 8, "msg": "x ran run",
             "nested": {"deep": 2, "plain": "keep.$ not", "arr": [{"x": "x"}, 3, "$.name"]}}
            """#)
        #expect(out == expected)
        // Output keys keep the template's order, `.$` dropped.
        #expect(out.objectValue?.keys.prefix(4) == ["fixed", "b", "all", "items"])
    }

    @Test func arraysOfTemplates() throws {
        let t = try PayloadTemplate(json(#"[{"v.$": "$.name"}, [{"w.$": "$.a.b"}]]"#))
        #expect(try t.evaluate(in: scope) == json(#"[{"v": "x"}, [{"w": 1}]]"#))
    }

    @Test func missingPathIsRuntimeError() throws {
        let t = try PayloadTemplate(json(#"{"outer": {"value.$": "$.no_such"}}"#))
        do throws(ExecutionError) {
            _ = try t.evaluate(in: EvaluationScope(input: ["int-literal": 0]))
            Issue.record("expected a failure")
        } catch {
            #expect(error.error == "States.Runtime")
            #expect(
                error.cause
                    == #"The JSONPath '$.no_such' specified for the field 'value.$' could not be found in the input '{"int-literal":0}'"#
            )
        }
        let ctx = try PayloadTemplate(json(#"{"value.$": "$$.Execution.Input.nope"}"#))
        #expect(throws: ExecutionError.self) { try ctx.evaluate(in: EvaluationScope(input: [:], context: ["Execution": ["Input": [:]]])) }
        let variable = try PayloadTemplate(json(#"{"value.$": "$undefinedVar"}"#))
        #expect(throws: ExecutionError.self) { try variable.evaluate(in: EvaluationScope(input: [:])) }
    }

    @Test func intrinsicErrorsCarryTheField() throws {
        let t = try PayloadTemplate(json(#"{"value.$": "States.Base64Decode($.missing)"}"#))
        do throws(ExecutionError) {
            _ = try t.evaluate(in: EvaluationScope(input: [:]))
            Issue.record("expected a failure")
        } catch {
            #expect(error.error == "States.Runtime")
            #expect(error.cause == "The JsonPath argument for the field 'value.$' could not be found in the input '{}'")
        }
        let bad = try PayloadTemplate(json(#"{"r.$": "States.ArrayRange(1, 2, 0)"}"#))
        #expect(throws: ExecutionError.self) { try bad.evaluate(in: scope) }
    }

    @Test func emptyIndefiniteMatchIsEmptyArray() throws {
        let t = try PayloadTemplate(json(#"{"item.$": "$.items[*].itemValue", "f.$": "$.a.list[?(@ > 5)]"}"#))
        #expect(try t.evaluate(in: scope) == json(#"{"item": [], "f": []}"#))
    }

    @Test(arguments: [
        #"{"lorem.$": "ipsum"}"#,
        #"{"n.$": 1}"#,
        #"{"n.$": null}"#,
        #"{"n.$": {"a": "$.b"}}"#,
        #"{"n.$": ["$.a"]}"#,
        #"{"n.$": "$.a["}"#,
        #"{"n.$": "States.Nope()"}"#,
        #"{"n.$": "States.Format('bad \\\" escape')"}"#,
        #"{"outer": {"inner": [{"n.$": "not a path"}]}}"#,
    ])
    func rejectsBadTemplates(_ text: String) {
        #expect(throws: PathSyntaxError.self) { try PayloadTemplate(json(text)) }
    }

    @Test func rejectionNamesTheField() {
        do throws(PathSyntaxError) {
            _ = try PayloadTemplate(json(#"{"lorem.$": "ipsum"}"#))
        } catch {
            #expect(error.message.contains("'lorem.$'"))
            #expect(error.message.contains("must be a valid JSONPath or a valid intrinsic function call"))
        }
    }

    @Test func scalarTemplates() throws {
        #expect(try PayloadTemplate("text").evaluate(in: scope) == "text")
        #expect(try PayloadTemplate(5).evaluate(in: scope) == 5)
        #expect(try PayloadTemplate(nil).isConstant)
    }
}
