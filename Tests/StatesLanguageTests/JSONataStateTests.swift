import Foundation
import StatesLanguage
import Testing

private func json(_ text: String) -> JSON { try! JSONParser.parse(text) }

@Suite struct JSONataStateTests {
    @Test func passOutputAndAssign() async throws {
        let definition = json(
            """
            {"QueryLanguage":"JSONata","StartAt":"A","States":{
              "A":{"Type":"Pass","Assign":{"total":"{% $sum($states.input.values) %}"},
                   "Output":{"n":"{% $count($states.input.values) %}","literal":"{ not % jsonata }"},"Next":"B"},
              "B":{"Type":"Pass","Output":"{% $merge([$states.input, {'total': $total}]) %}","End":true}}}
            """)
        let r = try await execute(definition, input: ["values": [1, 2, 3]])
        #expect(r.status == .succeeded)
        #expect(r.output == json(#"{"n":3,"literal":"{ not % jsonata }","total":6}"#))
    }

    @Test func undefinedResultIsAQueryEvaluationError() async throws {
        let definition = json(
            #"{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":{"x":"{% $nothing %}"},"End":true}}}"#)
        let r = try await execute(definition)
        #expect(r.status == .failed)
        #expect(r.error == "States.QueryEvaluationError")
    }

    @Test func choiceConditionsRuleOutputAndDefault() async throws {
        let definition = json(
            """
            {"QueryLanguage":"JSONata","StartAt":"C","States":{
              "C":{"Type":"Choice","Choices":[
                  {"Condition":"{% $states.input.n > 10 %}","Next":"Big","Output":{"size":"big"}}],
                "Default":"Small","Output":{"size":"small"},"Assign":{"seen":true}},
              "Big":{"Type":"Succeed"},
              "Small":{"Type":"Pass","Output":"{% $states.input.size & ':' & $string($seen) %}","End":true}}}
            """)
        #expect(try await execute(definition, input: ["n": 20]).output == ["size": "big"])
        #expect(try await execute(definition, input: ["n": 1]).output == "small:true")
        let notBoolean = json(
            """
            {"QueryLanguage":"JSONata","StartAt":"C","States":{"C":{"Type":"Choice",
              "Choices":[{"Condition":"{% 'yes' %}","Next":"D"}],"Default":"D"},"D":{"Type":"Succeed"}}}
            """)
        #expect(try await execute(notBoolean).error == "States.QueryEvaluationError")
    }

    @Test func taskArgumentsResultAndCatch() async throws {
        let definition = json(
            """
            {"QueryLanguage":"JSONata","StartAt":"T","States":{
              "T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:double",
                   "Arguments":{"x":"{% $states.input.x %}"},
                   "Output":{"doubled":"{% $states.result.y %}","input":"{% $states.input.x %}"},
                   "Assign":{"last":"{% $states.result.y %}"},"Next":"F"},
              "F":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:boom",
                   "Catch":[{"ErrorEquals":["States.ALL"],"Next":"Done",
                             "Output":{"err":"{% $states.errorOutput.Error %}","last":"{% $last %}"}}],"End":true},
              "Done":{"Type":"Succeed"}}}
            """)
        let r = try await execute(
            definition, input: ["x": 21],
            tasks: [
                "double": { req in ["y": .int((req.input["x"]?.intValue ?? 0) * 2)] },
                "boom": { _ in throw ExecutionError("Custom.Error", "boom") },
            ])
        #expect(r.status == .succeeded)
        #expect(r.output == json(#"{"err":"Custom.Error","last":42}"#))
    }

    @Test func mapItemsSelectorAndParallelArguments() async throws {
        let definition = json(
            """
            {"QueryLanguage":"JSONata","StartAt":"M","States":{
              "M":{"Type":"Map","Items":"{% $states.input.xs %}","MaxConcurrency":"{% 1 %}",
                   "ItemSelector":{"v":"{% $states.context.Map.Item.Value * 10 %}","i":"{% $states.context.Map.Item.Index %}"},
                   "ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","Output":"{% $states.input.v + $states.input.i %}","End":true}}},
                   "Output":"{% $sum($states.result) %}","Next":"Par"},
              "Par":{"Type":"Parallel","Arguments":{"n":"{% $states.input %}"},
                     "Branches":[{"StartAt":"B1","States":{"B1":{"Type":"Pass","Output":"{% $states.input.n + 1 %}","End":true}}},
                                 {"StartAt":"B2","States":{"B2":{"Type":"Pass","Output":"{% $states.input.n * 2 %}","End":true}}}],
                     "End":true}}}
            """)
        let r = try await execute(definition, input: ["xs": [1, 2]])
        #expect(r.status == .succeeded)
        #expect(r.output == [32, 62])  // (10+0) + (20+1) = 31, then 31+1 and 31*2
        let notArray = json(
            #"{"QueryLanguage":"JSONata","StartAt":"M","States":{"M":{"Type":"Map","Items":"{% 5 %}","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}"#)
        #expect(try await execute(notArray).error == "States.QueryEvaluationError")
    }

    @Test func waitFailAndMixedLanguages() async throws {
        let wait = json(
            #"{"QueryLanguage":"JSONata","StartAt":"W","States":{"W":{"Type":"Wait","Seconds":"{% $states.input.s %}","End":true}}}"#)
        let clock = VirtualClock()
        let start = clock.now()
        _ = try await execute(wait, input: ["s": 30], clock: clock)
        #expect(clock.now().timeIntervalSince(start) == 30)
        let badStamp = json(
            #"{"QueryLanguage":"JSONata","StartAt":"W","States":{"W":{"Type":"Wait","Timestamp":"{% 'not a date' %}","End":true}}}"#)
        #expect(try await execute(badStamp).error == "States.QueryEvaluationError")
        let fail = json(
            #"{"QueryLanguage":"JSONata","StartAt":"F","States":{"F":{"Type":"Fail","Error":"{% 'E.' & $states.input.code %}","Cause":"{% $string($states.input) %}"}}}"#)
        let r = try await execute(fail, input: ["code": 7])
        #expect(r.error == "E.7")
        #expect(r.cause == #"{"code":7}"#)
        let mixed = json(
            """
            {"StartAt":"J","States":{
              "J":{"Type":"Pass","Parameters":{"a.$":"$.x"},"Assign":{"v":1},"Next":"N"},
              "N":{"QueryLanguage":"JSONata","Type":"Pass","Output":"{% $states.input.a + $v %}","End":true}}}
            """)
        #expect(try await execute(mixed, input: ["x": 41]).output == 42)
    }
}
