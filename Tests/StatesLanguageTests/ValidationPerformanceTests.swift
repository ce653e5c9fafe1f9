import Foundation
import StatesLanguage
import Testing

/// Validation must stay linear: a 500-state definition well under 20 ms in a release build.
@Suite struct ValidationPerformanceTests {
    static func bigDefinition(states n: Int) -> String {
        var parts: [String] = []
        for i in 0..<n {
            let next = i + 1 < n ? "\"Next\": \"S\(i + 1)\"" : "\"End\": true"
            switch i % 4 {
            case 0:
                parts.append(
                    "\"S\(i)\": {\"Type\": \"Task\", \"Resource\": \"arn:aws:states:::lambda:invoke\", \"Parameters\": {\"a.$\": \"States.Format('{} {}', $.x, $$.Execution.Id)\", \"b.$\": \"$.items[0].name\"}, \"ResultPath\": \"$.r\(i)\", \"Retry\": [{\"ErrorEquals\": [\"States.ALL\"], \"MaxAttempts\": 2}], \"Catch\": [{\"ErrorEquals\": [\"States.ALL\"], \"Next\": \"S\(n - 1)\"}], \(next)}"
                )
            case 1:
                let target = i + 1 < n ? "S\(i + 1)" : "S0"
                parts.append(
                    "\"S\(i)\": {\"Type\": \"Choice\", \"Choices\": [{\"Variable\": \"$.v\", \"NumericEquals\": \(i), \"Next\": \"\(target)\"}, {\"And\": [{\"Variable\": \"$.s\", \"StringEquals\": \"x\"}, {\"Variable\": \"$.t\", \"IsPresent\": true}], \"Next\": \"\(target)\"}], \"Default\": \"\(target)\"}"
                )
            case 2:
                parts.append("\"S\(i)\": {\"Type\": \"Pass\", \"Result\": {\"k\": \(i)}, \"Assign\": {\"v\(i)\": 1}, \(next)}")
            default:
                parts.append("\"S\(i)\": {\"Type\": \"Wait\", \"Seconds\": 1, \(next)}")
            }
        }
        return "{\"StartAt\": \"S0\", \"States\": {\(parts.joined(separator: ",\n"))}}"
    }

    @Test func fiveHundredStatesIsFast() throws {
        let text = Self.bigDefinition(states: 500)
        let document = try JSONParser.parseDocument(text, fileName: "big.asl.json")
        #expect(DefinitionValidator.validate(document).isEmpty)
        var best = Double.infinity
        for _ in 0..<5 {
            let start = Date()
            _ = DefinitionValidator.validate(document)
            best = min(best, Date().timeIntervalSince(start))
        }
        print("validating 500 states: \(String(format: "%.2f", best * 1000)) ms (best of 5)")
        #if DEBUG
            #expect(best < 0.2)
        #else
            #expect(best < 0.02)
        #endif
        // Linear growth: four times the states should not take much more than four times as long.
        let big = try JSONParser.parseDocument(Self.bigDefinition(states: 2000), fileName: "big.asl.json")
        var bestBig = Double.infinity
        for _ in 0..<3 {
            let start = Date()
            _ = DefinitionValidator.validate(big)
            bestBig = min(bestBig, Date().timeIntervalSince(start))
        }
        #expect(bestBig < best * 10, "2000 states took \(bestBig)s vs \(best)s for 500")
    }
}
