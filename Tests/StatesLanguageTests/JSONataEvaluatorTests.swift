import Foundation
import Testing

@testable import StatesLanguage

/// Evaluates a JSONata expression against an input (as `$states.input` and as `$`), returning
/// its JSON result, nil for undefined.
private func jsonata(_ expression: String, _ input: JSON = [:], variables: [String: JSON] = [:]) throws -> JSON? {
    let e = try JSONataExpression(expression)
    let scope = JSONataScope(
        states: JSONObject([("input", input)]), variables: variables, random: { 0x1234_5678_9abc_def0 },
        now: Date(timeIntervalSince1970: 1_700_000_000))
    let root = JSONataFrame(parent: nil) { name in
        if name == "states" { return JSONataValue(.object(scope.states)) }
        if let v = variables[name] { return JSONataValue(v) }
        return JSONataFunctions.table[name].map { .function($0) }
    }
    let evaluator = JSONataEvaluator(random: scope.random, now: scope.now)
    guard let v = try evaluator.evaluate(e, input: JSONataValue(input), root: root) else { return nil }
    return v.toJSON()
}

private func json(_ text: String) -> JSON { try! JSONParser.parse(text) }

private func errorCode(_ expression: String, _ input: JSON = [:]) -> String? {
    do {
        _ = try jsonata(expression, input)
        return nil
    } catch let e as JSONataError {
        return e.code
    } catch {
        return "other"
    }
}

@Suite struct JSONataOperatorTests {
    @Test func arithmeticAndPrecedence() throws {
        #expect(try jsonata("1 + 2 * 3") == 7)
        #expect(try jsonata("(1 + 2) * 3") == 9)
        #expect(try jsonata("7 % 4 - 10 / 4") == 0.5)
        #expect(try jsonata("-(2 + 3)") == -5)
        #expect(try jsonata("0.1 + 0.2 > 0.3") == true)
        #expect(try jsonata("1 + nothing") == nil)
        #expect(errorCode("1 + 'a'") == "T2002")
        #expect(errorCode("1 / 0") == "D1001")
    }

    @Test func comparisonAndBoolean() throws {
        #expect(try jsonata("1 = 1.0 and 'a' < 'b'") == true)
        #expect(try jsonata("[1,2] = [1,2]") == true)
        #expect(try jsonata("{'a':1} != {'a':1}") == false)
        #expect(try jsonata("nothing = nothing") == false)
        #expect(try jsonata("false or 'x'") == true)
        #expect(try jsonata("3 in [1,2,3]") == true)
        #expect(try jsonata("'b' in 'abc'") == false)
        #expect(errorCode("1 < 'a'") == "T2009")
        #expect(errorCode("{} < 1") == "T2010")
    }

    @Test func stringsConditionalsAndRanges() throws {
        #expect(try jsonata("'a' & 1 & true & nothing & [1]") == "a1true[1]")
        #expect(try jsonata("x > 1 ? 'big' : 'small'", ["x": 3]) == "big")
        #expect(try jsonata("x > 5 ? 'big'", ["x": 3]) == nil)
        #expect(try jsonata("[1..4]") == [1, 2, 3, 4])
        #expect(try jsonata("[0, 2..3, [9]]") == [0, 2, 3, [9]])
        #expect(try jsonata("x ?? 'default'") == "default")
    }

    @Test func variablesBlocksAndLambdas() throws {
        #expect(try jsonata("($a := 2; $b := $a * 3; $a + $b)") == 8)
        #expect(try jsonata("($double := function($x){ $x * 2 }; $double(21))") == 42)
        #expect(try jsonata("($fact := function($n){ $n <= 1 ? 1 : $n * $fact($n - 1) }; $fact(5))") == 120)
        #expect(try jsonata("($add := function($a, $b){$a + $b}; $inc := $add(?, 1); $inc(41))") == 42)
        #expect(try jsonata("'hello' ~> $uppercase()") == "HELLO")
        #expect(try jsonata("[1,2,3] ~> $map(function($v){$v * 10})") == [10, 20, 30])
        #expect(try jsonata("$myVar + 1", variables: ["myVar": 41]) == 42)
        #expect(try jsonata("$states.input.a", ["a": 5]) == 5)
        #expect(errorCode("$nope()") == "T1006")
    }
}

@Suite struct JSONataPathTests {
    let orders = json(
        """
        {"orders":[{"id":1,"items":[{"sku":"a","qty":2},{"sku":"b","qty":1}]},
                   {"id":2,"items":[{"sku":"a","qty":5}]}],
         "single":[7], "nested":[[1,2],[3]]}
        """)

    @Test func sequencesFlattenAndCollapse() throws {
        #expect(try jsonata("orders.items.sku", orders) == ["a", "b", "a"])
        #expect(try jsonata("orders[0].id", orders) == 1)
        #expect(try jsonata("orders.id", orders) == [1, 2])
        #expect(try jsonata("orders[id=2].items.sku", orders) == "a")
        #expect(try jsonata("orders[id=2].items.sku[]", orders) == ["a"])
        #expect(try jsonata("single", orders) == [7])
        #expect(try jsonata("nested", orders) == [[1, 2], [3]])
        #expect(try jsonata("nested.$", orders) == [1, 2, 3])
        #expect(try jsonata("missing.path", orders) == nil)
        #expect(try jsonata("$sum(orders.items.qty)", orders) == 8)
        #expect(try jsonata("orders.items[-1].sku", orders) == ["b", "a"])
        #expect(try jsonata("(orders.items)[-1].sku", orders) == "a")
    }

    @Test func wildcardsDescendantsAndConstructors() throws {
        #expect(try jsonata("*", ["a": 1, "b": [2, 3]]) == [1, 2, 3])
        #expect(try jsonata("**.qty", orders) == [2, 1, 5])
        #expect(try jsonata("orders.{'id': id, 'n': $count(items)}", orders) == json(#"[{"id":1,"n":2},{"id":2,"n":1}]"#))
        #expect(try jsonata("orders.[id]", orders) == [[1], [2]])
        #expect(try jsonata("orders.items{sku: $sum(qty)}", orders) == json(#"{"a":7,"b":1}"#))
        #expect(try jsonata("`odd name`", ["odd name": 1]) == 1)
    }

    @Test func orderBy() throws {
        #expect(try jsonata("orders.items^(>qty).sku", orders) == ["a", "a", "b"])
        #expect(try jsonata("orders.items^(sku, qty).qty", orders) == [2, 5, 1])
    }
}

@Suite struct JSONataFunctionTests {
    @Test func stringFunctions() throws {
        #expect(try jsonata("$string(1.5)") == "1.5")
        #expect(try jsonata("$string({'a':[1,true]})") == #"{"a":[1,true]}"#)
        #expect(try jsonata("$length('héllo')") == 5)
        #expect(try jsonata("$substring('hello world', -5, 3)") == "wor")
        #expect(try jsonata("$substringBefore('a-b-c', '-') & $substringAfter('a-b-c', '-')") == "ab-c")
        #expect(try jsonata("$trim('  a \n b  ')") == "a b")
        #expect(try jsonata("$pad('7', -3, '0')") == "007")
        #expect(try jsonata("$split('a,b,c', ',', 2)") == ["a", "b"])
        #expect(try jsonata("$join(['a','b'], '+')") == "a+b")
        #expect(try jsonata("$replace('abcabc', 'b', 'X', 1)") == "aXcabc")
        #expect(try jsonata("$replace('hello world', /(o)/, '[$1]')") == "hell[o] w[o]rld")
        #expect(try jsonata("$contains('hello$world', /^hello\\$/)") == true)
        #expect(try jsonata("$match('a1b22', /\\d+/).match") == ["1", "22"])
        #expect(try jsonata("$base64decode($base64encode('hi'))") == "hi")
        #expect(try jsonata("$eval('1 + x', {'x': 2})") == 3)
        #expect(try jsonata("$formatNumber(1234.5, '#,##0.00')") == "1,234.50")
    }

    @Test func numericAndBooleanFunctions() throws {
        #expect(try jsonata("$number('12.5') + $abs(-1) + $floor(1.7) + $ceil(1.2)") == 16.5)
        #expect(try jsonata("$round(2.5) + $round(3.5) + $round(1.2345, 2)") == 7.23)
        #expect(try jsonata("$power(2, 10) + $sqrt(16)") == 1028)
        #expect(try jsonata("[$max([1,5,3]), $min([4,2]), $average([1,2,3])]") == [5, 2, 2])
        #expect(try jsonata("$boolean([]) or $boolean('')") == false)
        #expect(try jsonata("$not(0) and $exists(0) and $not($exists(nothing))") == true)
        #expect(errorCode("$number('abc')") == "D3030")
        let r = try jsonata("$random()")
        #expect(r?.doubleValue.map { $0 >= 0 && $0 < 1 } == true)
    }

    @Test func arrayAndObjectFunctions() throws {
        #expect(try jsonata("$count([1,2,3]) + $count(nothing) + $count(5)") == 4)
        #expect(try jsonata("$append([1], 2)") == [1, 2])
        #expect(try jsonata("$sort([3,1,2])") == [1, 2, 3])
        #expect(try jsonata("$sort(['b','a'], function($a,$b){ $a < $b })") == ["b", "a"])
        #expect(try jsonata("$reverse([1,2])") == [2, 1])
        #expect(try jsonata("$distinct([1,1,2])") == [1, 2])
        #expect(try jsonata("$zip([1,2],[3,4])") == [[1, 3], [2, 4]])
        #expect(try jsonata("$keys({'a':1,'b':2})") == ["a", "b"])
        #expect(try jsonata("$lookup({'a':1}, 'a')") == 1)
        #expect(try jsonata("$merge([{'a':1},{'b':2}])") == json(#"{"a":1,"b":2}"#))
        #expect(try jsonata("$spread({'a':1,'b':2})") == json(#"[{"a":1},{"b":2}]"#))
        #expect(try jsonata("$each({'a':1}, function($v,$k){$k & $v})") == "a1")
        #expect(try jsonata("$sift({'a':1,'b':2}, function($v){$v > 1})") == json(#"{"b":2}"#))
        #expect(try jsonata("$type([]) & $type(1) & $type(nothing)") == "arraynumber")
        #expect(try jsonata("$filter([1,2,3,4], function($v){$v % 2 = 0})") == [2, 4])
        #expect(try jsonata("$reduce([1,2,3], function($a,$b){$a+$b}, 10)") == 16)
        #expect(try jsonata("$single([1,2,3], function($v){$v = 2})") == 2)
        #expect(errorCode("$error('boom')") == "D3137")
        #expect(errorCode("$assert(false, 'no')") == "D3141")
    }

    @Test func stepFunctionsFunctions() throws {
        #expect(try jsonata("$partition([1,2,3], 2)") == [[1, 2], [3]])
        #expect(try jsonata("$range(0, 10, 3)") == [0, 3, 6, 9])
        #expect(try jsonata("$range(1, 9, 9)") == 1)
        #expect(try jsonata("$hash('abc', 'SHA-256')") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try jsonata("$parse('{\"a\": [1, 2.5]}')") == json(#"{"a":[1,2.5]}"#))
        #expect(try jsonata("$random(42) = $random(42)") == true)
        #expect(try jsonata("$length($uuid())") == 36)
        #expect(try jsonata("$toMillis('1970-01-01T00:00:01.000Z')") == 1000)
        #expect(try jsonata("$fromMillis(1000)") == "1970-01-01T00:00:01.000Z")
        #expect(try jsonata("$now()") == "2023-11-14T22:13:20.000Z")
    }

    @Test func syntaxErrors() {
        #expect(throws: JSONataError.self) { try JSONataExpression("1 +") }
        #expect(throws: JSONataError.self) { try JSONataExpression("'unterminated") }
        #expect(throws: JSONataError.self) { try JSONataExpression("(1; 2") }
    }
}
