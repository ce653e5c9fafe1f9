import Foundation

/// Evaluates JSONata syntax trees, following jsonata-js's semantics for sequences, paths,
/// predicates and operators.
final class JSONataEvaluator {
    /// Randomness for `$random`, `$shuffle` and `$uuid`.
    let random: () -> UInt64
    /// The time `$now` and `$millis` report (fixed for one evaluation, as in jsonata-js).
    let now: Date
    private var depth = 0
    static let maxDepth = 400

    init(random: @escaping () -> UInt64, now: Date) {
        self.random = random
        self.now = now
    }

    /// Evaluates an expression against an input, with the given root bindings.
    func evaluate(_ expression: JSONataExpression, input: JSONataValue?, root: JSONataFrame) throws(JSONataError) -> JSONataValue? {
        root.bind("$", input)
        var result = try eval(expression.root, input, root)
        if case .array(let a)? = result, a.sequence {
            // a top-level sequence is an array
            var plain = a
            plain.sequence = false
            result = .array(plain)
        }
        return result
    }

    func eval(_ node: JSONataNode, _ input: JSONataValue?, _ env: JSONataFrame) throws(JSONataError) -> JSONataValue? {
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maxDepth {
            throw JSONataError("U1001", "Stack overflow error: Check for non-terminating recursive function.")
        }
        var result = try evalInner(node, input, env)
        if case .array(let a)? = result, a.sequence {
            if a.items.isEmpty {
                result = nil
            } else if a.items.count == 1 && !a.keepSingleton {
                result = a.items[0]
            }
        }
        return result
    }

    private func evalInner(_ node: JSONataNode, _ input: JSONataValue?, _ env: JSONataFrame) throws(JSONataError) -> JSONataValue? {
        switch node {
        case .path(let steps, let keep, let group):
            return try evalPath(steps, keep: keep, group: group, input, env)
        case .name(let n):
            return Self.lookup(input, n)
        case .string(let s): return .string(s)
        case .number(let d): return .number(d)
        case .bool(let b): return .bool(b)
        case .null: return .null
        case .regex(let r):
            return .function(JSONataFunction(name: "regex", arity: 1, body: .regex(r.regex)))
        case .variable(let name):
            if name.isEmpty { return input }
            return env.lookup(name)
        case .wildcard:
            var results: [JSONataValue] = []
            var target = input
            if case .array(let a)? = input, a.cons == false, a.sequence == false, !a.items.isEmpty, false { target = a.items[0] }
            if case .object(let o)? = target {
                for (_, v) in o.pairs {
                    if case .array(let arr) = v {
                        results += Self.flatten(arr.items)
                    } else {
                        results.append(v)
                    }
                }
            }
            return .sequence(results)
        case .descendant:
            guard let input else { return nil }
            var results: [JSONataValue] = []
            Self.descendants(input, &results)
            return results.count == 1 ? results[0] : .sequence(results)
        case .negate(let e):
            guard let v = try eval(e, input, env) else { return nil }
            guard case .number(let d) = v else {
                throw JSONataError("D1002", "Cannot negate a non-numeric value")
            }
            return .number(-d)
        case .array(let items):
            var out: [JSONataValue] = []
            for item in items {
                guard let v = try eval(item, input, env) else { continue }
                if case .array = item {
                    out.append(v)
                } else if case .array(let a) = v {
                    out += a.items
                } else {
                    out.append(v)
                }
            }
            var arr = JSONataArray(out)
            arr.cons = true
            return .array(arr)
        case .object(let pairs):
            return try evalGroup(pairs, input, env)
        case .binary(let op, let l, let r):
            return try evalBinary(op, l, r, input, env)
        case .condition(let c, let then, let otherwise):
            let cv = try eval(c, input, env)
            if Self.boolean(cv) == true { return try eval(then, input, env) }
            if let otherwise { return try eval(otherwise, input, env) }
            return nil
        case .block(let list):
            let frame = JSONataFrame(parent: env)
            var result: JSONataValue?
            for e in list { result = try eval(e, input, frame) }
            return result
        case .bind(let name, let e):
            let v = try eval(e, input, env)
            env.bind(name, v)
            return v
        case .lambda(let params, let body):
            return .function(
                JSONataFunction(name: "lambda", arity: params.count, body: .lambda(params: params, body: body, env: env, input: input)))
        case .call(let procNode, let argNodes):
            return try evalCall(procNode, argNodes, input, env, applyTo: nil)
        case .apply(let l, let r):
            let lhs = try eval(l, input, env)
            if case .call(let procNode, let argNodes) = r {
                return try evalCall(procNode, argNodes, input, env, applyTo: .some(lhs))
            }
            guard case .function(let f)? = try eval(r, input, env) else {
                throw JSONataError("T2006", "The right side of the function application operator ~> must be a function")
            }
            if case .function(let g)? = lhs {
                // composition
                let composed = JSONataFunction(name: "composed", arity: 1) { args, call throws(JSONataError) in
                    let inner = try call.evaluator.apply(g, [args.first ?? nil], input: call.input, env: call.env)
                    return try call.evaluator.apply(f, [inner], input: call.input, env: call.env)
                }
                return .function(composed)
            }
            return try apply(f, [lhs], input: input, env: env)
        case .sort:
            // only reached as a path step (see evalStep)
            return input
        case .decorated(let inner, let predicates, let group, let keepArray):
            var result = try eval(inner, input, env)
            for p in predicates { result = try evalFilter(p, result, env) }
            if let group { result = try evalGroup(group, result, env) }
            if keepArray, case .array(var a)? = result, a.sequence {
                a.keepSingleton = true
                result = .array(a)
            } else if keepArray, case .array(var a)? = result {
                a.sequence = true
                a.keepSingleton = true
                result = .array(a)
            }
            return result
        case .transform(let location, let update, let delete):
            return .function(
                JSONataFunction(name: "transform", arity: 1) { args, call throws(JSONataError) in
                    try call.evaluator.transform(args.first ?? nil, location, update, delete, env)
                })
        }
    }

    // MARK: Paths

    private func evalPath(
        _ steps: [JSONataStep], keep: Bool, group: [(JSONataNode, JSONataNode)]?, _ input: JSONataValue?, _ env: JSONataFrame
    ) throws(JSONataError) -> JSONataValue? {
        var inputSequence: [JSONataValue?]
        var firstIsVariable = false
        if case .variable = steps[0].node { firstIsVariable = true }
        if case .array(let a)? = input, !firstIsVariable {
            inputSequence = a.items.map { Optional($0) }
        } else {
            inputSequence = [input]
        }
        var result = JSONataArray([], sequence: true)
        for (i, step) in steps.enumerated() {
            if i == 0 && step.consArray {
                let v = try eval(step.node, .array(JSONataArray(inputSequence.compactMap { $0 }, sequence: true)), env)
                if case .array(let a)? = v {
                    result = a
                } else if let v {
                    result = JSONataArray([v], sequence: true)
                } else {
                    result = JSONataArray([], sequence: true)
                }
            } else {
                result = try evalStep(step, inputSequence, env, lastStep: i == steps.count - 1)
            }
            if result.items.isEmpty { break }
            inputSequence = result.items.map { Optional($0) }
        }
        if keep {
            if result.cons && !result.sequence {
                var s = JSONataArray(result.items, sequence: true)
                s.cons = false
                result = s
            }
            result.keepSingleton = true
            result.sequence = true
        }
        if let group { return try evalGroup(group, .array(result), env) }
        return .array(result)
    }

    private func evalStep(
        _ step: JSONataStep, _ input: [JSONataValue?], _ env: JSONataFrame, lastStep: Bool
    ) throws(JSONataError) -> JSONataArray {
        if case .sort(let terms) = step.node {
            var sorted = try sortItems(input.compactMap { $0 }, terms, env)
            var r = JSONataArray(sorted, sequence: true)
            for stage in step.stages {
                let f = try evalFilter(stage, .array(r), env)
                if case .array(let a)? = f { sorted = a.items } else { sorted = f.map { [$0] } ?? [] }
                r = JSONataArray(sorted, sequence: true)
            }
            return r
        }
        var results: [JSONataValue] = []
        for item in input {
            var res = try eval(step.node, item, env)
            for stage in step.stages { res = try evalFilter(stage, res, env) }
            if step.keepArray, case .array(var a)? = res, a.sequence {
                a.keepSingleton = true
                res = .array(a)
            }
            if let res { results.append(res) }
        }
        if lastStep, results.count == 1, case .array(let a) = results[0], !a.sequence {
            return a
        }
        var flat: [JSONataValue] = []
        for r in results {
            if case .array(let a) = r, !a.cons {
                flat += a.items
            } else {
                flat.append(r)
            }
        }
        return JSONataArray(flat, sequence: true)
    }

    func evalFilter(_ predicate: JSONataNode, _ input: JSONataValue?, _ env: JSONataFrame) throws(JSONataError) -> JSONataValue? {
        let items: [JSONataValue?]
        if case .array(let a)? = input {
            items = a.items.map { Optional($0) }
        } else {
            items = [input]
        }
        var results: [JSONataValue] = []
        if case .number(let d) = predicate {
            var index = Int(d.rounded(.down))
            if index < 0 { index += items.count }
            if index >= 0 && index < items.count, let item = items[index] {
                if case .array = item { return item }
                results.append(item)
            }
            return .sequence(results)
        }
        for (index, item) in items.enumerated() {
            var res = try eval(predicate, item, env)
            if case .number? = res { res = .array(JSONataArray([res!])) }
            if case .array(let a)? = res, !a.items.isEmpty, a.items.allSatisfy({ if case .number = $0 { return true } else { return false } }) {
                for case .number(let n) in a.items {
                    var ii = Int(n.rounded(.down))
                    if ii < 0 { ii += items.count }
                    if ii == index, let item { results.append(item) }
                }
            } else if Self.boolean(res) == true, let item {
                results.append(item)
            }
        }
        return .sequence(results)
    }

    func sortItems(_ items: [JSONataValue], _ terms: [JSONataSortTerm], _ env: JSONataFrame) throws(JSONataError) -> [JSONataValue] {
        var keyed: [(JSONataValue, [JSONataValue?])] = []
        for item in items {
            var keys: [JSONataValue?] = []
            for t in terms { keys.append(try eval(t.expression, item, env)) }
            keyed.append((item, keys))
        }
        var failure: JSONataError?
        let sorted = try Self.mergeSort(keyed) { (a, b) throws(JSONataError) -> Bool in
            // true when a must come after b
            for (i, t) in terms.enumerated() {
                let x = a.1[i]
                let y = b.1[i]
                if x == nil && y == nil { continue }
                if x == nil { return true }
                if y == nil { return false }
                var cmp = 0
                switch (x!, y!) {
                case (.number(let p), .number(let q)): cmp = p == q ? 0 : (p < q ? -1 : 1)
                case (.string(let p), .string(let q)):
                    cmp = p == q ? 0 : (p.unicodeScalars.lexicographicallyPrecedes(q.unicodeScalars) ? -1 : 1)
                default:
                    failure = JSONataError("T2008", "The expressions within an order-by clause must evaluate to numeric or string values")
                    throw failure!
                }
                if cmp == 0 { continue }
                return t.descending ? cmp < 0 : cmp > 0
            }
            return false
        }
        return sorted.map(\.0)
    }

    /// A stable merge sort; `swap(a, b)` says a belongs after b.
    static func mergeSort<T>(_ items: [T], _ swap: (T, T) throws(JSONataError) -> Bool) throws(JSONataError) -> [T] {
        if items.count < 2 { return items }
        let mid = items.count / 2
        let l = try mergeSort(Array(items[..<mid]), swap)
        let r = try mergeSort(Array(items[mid...]), swap)
        var out: [T] = []
        out.reserveCapacity(items.count)
        var i = 0
        var j = 0
        while i < l.count && j < r.count {
            if try swap(l[i], r[j]) {
                out.append(r[j])
                j += 1
            } else {
                out.append(l[i])
                i += 1
            }
        }
        out += l[i...]
        out += r[j...]
        return out
    }

    func evalGroup(_ pairs: [(JSONataNode, JSONataNode)], _ input: JSONataValue?, _ env: JSONataFrame) throws(JSONataError) -> JSONataValue? {
        var items: [JSONataValue?]
        if case .array(let a)? = input {
            items = a.items.map { Optional($0) }
        } else {
            items = [input]
        }
        if items.isEmpty { items = [nil] }
        var groupKeys: [String] = []
        var groups: [String: (data: JSONataValue?, index: Int)] = [:]
        for item in items {
            for (pi, pair) in pairs.enumerated() {
                let key = try eval(pair.0, item, env)
                guard let key else { continue }
                guard case .string(let k) = key else {
                    throw JSONataError("T1003", "Key in object structure must evaluate to a string; got: \(key.typeName)")
                }
                if let existing = groups[k] {
                    if existing.index != pi {
                        throw JSONataError("D1009", "Multiple key definitions evaluate to same key: \(k)")
                    }
                    groups[k] = (Self.append(existing.data, item), pi)
                } else {
                    groups[k] = (item, pi)
                    groupKeys.append(k)
                }
            }
        }
        var result = JSONataObject()
        for k in groupKeys {
            let g = groups[k]!
            if let v = try eval(pairs[g.index].1, g.data, env) { result[k] = v }
        }
        return .object(result)
    }

    // MARK: Operators

    private func evalBinary(
        _ op: String, _ l: JSONataNode, _ r: JSONataNode, _ input: JSONataValue?, _ env: JSONataFrame
    ) throws(JSONataError) -> JSONataValue? {
        switch op {
        case "and":
            guard Self.boolean(try eval(l, input, env)) == true else { return .bool(false) }
            return .bool(Self.boolean(try eval(r, input, env)) == true)
        case "or":
            if Self.boolean(try eval(l, input, env)) == true { return .bool(true) }
            return .bool(Self.boolean(try eval(r, input, env)) == true)
        case "??":
            if let v = try eval(l, input, env) { return v }
            return try eval(r, input, env)
        case "?:":
            let v = try eval(l, input, env)
            if Self.boolean(v) == true { return v }
            return try eval(r, input, env)
        default: break
        }
        let lhs = try eval(l, input, env)
        let rhs = try eval(r, input, env)
        switch op {
        case "+", "-", "*", "/", "%":
            if let lhs, !Self.isNumber(lhs) {
                throw JSONataError("T2001", "The left side of the \"\(op)\" operator must evaluate to a number")
            }
            if let rhs, !Self.isNumber(rhs) {
                throw JSONataError("T2002", "The right side of the \"\(op)\" operator must evaluate to a number")
            }
            guard case .number(let a)? = lhs, case .number(let b)? = rhs else { return nil }
            let v: Double
            switch op {
            case "+": v = a + b
            case "-": v = a - b
            case "*": v = a * b
            case "/": v = a / b
            default: v = a.truncatingRemainder(dividingBy: b)
            }
            guard v.isFinite else { throw JSONataError("D1001", "Number out of range: \(v)") }
            return .number(v)
        case "=":
            guard lhs != nil, rhs != nil else { return .bool(false) }
            return .bool(jsonataEqual(lhs, rhs))
        case "!=":
            guard lhs != nil, rhs != nil else { return .bool(false) }
            return .bool(!jsonataEqual(lhs, rhs))
        case "<", "<=", ">", ">=":
            let comparable: (JSONataValue?) -> Bool = { v in
                switch v {
                case nil, .number?, .string?: return true
                default: return false
                }
            }
            guard comparable(lhs), comparable(rhs) else {
                throw JSONataError(
                    "T2010", "The expressions either side of operator \"\(op)\" must evaluate to numeric or string values")
            }
            guard let lhs, let rhs else { return nil }
            let order: Int
            switch (lhs, rhs) {
            case (.number(let a), .number(let b)): order = a == b ? 0 : (a < b ? -1 : 1)
            case (.string(let a), .string(let b)):
                order = a == b ? 0 : (Array(a.utf16).lexicographicallyPrecedes(Array(b.utf16)) ? -1 : 1)
            default:
                throw JSONataError(
                    "T2009", "The values \(Self.stringify(lhs)) and \(Self.stringify(rhs)) either side of operator \"\(op)\" must be of the same data type")
            }
            switch op {
            case "<": return .bool(order < 0)
            case "<=": return .bool(order <= 0)
            case ">": return .bool(order > 0)
            default: return .bool(order >= 0)
            }
        case "&":
            return .string(Self.stringOf(lhs) + Self.stringOf(rhs))
        case "..":
            if let lhs, Self.integer(lhs) == nil {
                throw JSONataError("T2003", "The left side of the range operator (..) must evaluate to an integer")
            }
            if let rhs, Self.integer(rhs) == nil {
                throw JSONataError("T2004", "The right side of the range operator (..) must evaluate to an integer")
            }
            guard let lhs, let rhs, let a = Self.integer(lhs), let b = Self.integer(rhs) else { return nil }
            if a > b { return nil }
            guard b - a < 10_000_000 else {
                throw JSONataError("D2014", "The size of the sequence allocated by the range operator (..) must not exceed 1e7")
            }
            return .array(JSONataArray((a...b).map { .number(Double($0)) }))
        case "in":
            guard let lhs, let rhs else { return .bool(false) }
            let list: [JSONataValue]
            if case .array(let a) = rhs { list = a.items } else { list = [rhs] }
            return .bool(list.contains { jsonataEqual($0, lhs) })
        default:
            throw JSONataError("S0201", "Unknown operator \(op)")
        }
    }

    // MARK: Functions

    private func evalCall(
        _ procNode: JSONataNode, _ argNodes: [JSONataNode?], _ input: JSONataValue?, _ env: JSONataFrame,
        applyTo: JSONataValue??
    ) throws(JSONataError) -> JSONataValue? {
        let proc = try eval(procNode, input, env)
        var args: [JSONataValue?] = []
        if let applyTo { args.append(applyTo) }
        var placeholders: [Int] = []
        for a in argNodes {
            if let a {
                args.append(try eval(a, input, env))
            } else {
                placeholders.append(args.count)
                args.append(nil)
            }
        }
        guard case .function(let f)? = proc else {
            throw JSONataError("T1006", "Attempted to invoke a non-function")
        }
        if !placeholders.isEmpty {
            let bound: [JSONataValue??] = args.enumerated().map { i, v in placeholders.contains(i) ? nil : .some(v) }
            return .function(JSONataFunction(name: f.name, arity: placeholders.count, body: .partial(f, bound)))
        }
        return try apply(f, args, input: input, env: env)
    }

    func apply(_ f: JSONataFunction, _ args: [JSONataValue?], input: JSONataValue?, env: JSONataFrame) throws(JSONataError) -> JSONataValue? {
        switch f.body {
        case .lambda(let params, let body, let closure, let captured):
            let frame = JSONataFrame(parent: closure)
            for (i, p) in params.enumerated() { frame.bind(p, i < args.count ? args[i] : nil) }
            return try eval(body, captured, frame)
        case .native(let impl):
            return try impl(args, JSONataCall(evaluator: self, input: input, env: env))
        case .regex(let re):
            guard case .string(let s)? = args.first ?? nil else { return nil }
            return JSONataFunctions.regexMatch(re, s, from: 0)
        case .partial(let inner, let bound):
            var full: [JSONataValue?] = []
            var k = 0
            for b in bound {
                if let b {
                    full.append(b)
                } else {
                    full.append(k < args.count ? args[k] : nil)
                    k += 1
                }
            }
            return try apply(inner, full, input: input, env: env)
        }
    }

    /// Calls a function from a higher-order built-in, passing as many arguments as it takes.
    func callback(_ f: JSONataFunction, _ args: [JSONataValue?], env: JSONataFrame) throws(JSONataError) -> JSONataValue? {
        let n = max(1, min(f.arity, args.count))
        return try apply(f, Array(args.prefix(n)), input: nil, env: env)
    }

    func transform(
        _ value: JSONataValue?, _ location: JSONataNode, _ update: JSONataNode, _ delete: JSONataNode?, _ env: JSONataFrame
    ) throws(JSONataError) -> JSONataValue? {
        // Rebuild the value, applying the update to every object the location selects.
        guard let value else { return nil }
        let selected = try eval(location, value, env)
        var targets: [JSONataValue] = []
        if case .array(let a)? = selected { targets = a.items } else if let selected { targets = [selected] }
        func rebuild(_ v: JSONataValue) throws(JSONataError) -> JSONataValue {
            var out = v
            switch v {
            case .array(var a):
                for i in a.items.indices { a.items[i] = try rebuild(a.items[i]) }
                out = .array(a)
            case .object(var o):
                for (k, child) in o.pairs { o[k] = try rebuild(child) }
                out = .object(o)
            default: return v
            }
            guard targets.contains(where: { jsonataEqual($0, v) }), case .object(var o) = out else { return out }
            if let upd = try eval(update, v, env) {
                guard case .object(let u) = upd else {
                    throw JSONataError("T2011", "The insert/update clause of the transform expression must evaluate to an object")
                }
                for (k, x) in u.pairs { o[k] = x }
            }
            if let delete, let del = try eval(delete, v, env) {
                let names: [JSONataValue]
                if case .array(let a) = del { names = a.items } else { names = [del] }
                for case .string(let n) in names { o[n] = nil }
            }
            return .object(o)
        }
        return try rebuild(value)
    }

    // MARK: Helpers

    static func lookup(_ input: JSONataValue?, _ key: String) -> JSONataValue? {
        switch input {
        case .array(let a)?:
            var out: [JSONataValue] = []
            for item in a.items {
                guard let r = lookup(item, key) else { continue }
                if case .array(let ra) = r { out += ra.items } else { out.append(r) }
            }
            return .sequence(out)
        case .object(let o)?:
            return o[key]
        default:
            return nil
        }
    }

    static func flatten(_ items: [JSONataValue]) -> [JSONataValue] {
        var out: [JSONataValue] = []
        for v in items {
            if case .array(let a) = v { out += flatten(a.items) } else { out.append(v) }
        }
        return out
    }

    static func descendants(_ v: JSONataValue, _ out: inout [JSONataValue]) {
        switch v {
        case .array(let a):
            for x in a.items { descendants(x, &out) }
        case .object(let o):
            out.append(v)
            for (_, x) in o.pairs { descendants(x, &out) }
        default:
            out.append(v)
        }
    }

    static func append(_ a: JSONataValue?, _ b: JSONataValue?) -> JSONataValue? {
        guard let a else { return b }
        guard let b else { return a }
        var items: [JSONataValue] = []
        if case .array(let x) = a { items = x.items } else { items = [a] }
        if case .array(let y) = b { items += y.items } else { items.append(b) }
        return .array(JSONataArray(items))
    }

    /// JSONata truthiness; nil for undefined.
    static func boolean(_ v: JSONataValue?) -> Bool? {
        guard let v else { return nil }
        switch v {
        case .null: return false
        case .bool(let b): return b
        case .number(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .object(let o): return o.count > 0
        case .function: return false
        case .array(let a):
            if a.items.count == 1 { return boolean(a.items[0]) }
            return a.items.contains { boolean($0) == true }
        }
    }

    static func isNumber(_ v: JSONataValue) -> Bool {
        if case .number = v { return true }
        return false
    }

    static func integer(_ v: JSONataValue) -> Int? {
        guard case .number(let d) = v, d.rounded() == d, abs(d) < 9e15 else { return nil }
        return Int(d)
    }

    /// `$string` of a value: strings as they are, others as JSON.
    static func stringOf(_ v: JSONataValue?) -> String {
        guard let v else { return "" }
        if case .string(let s) = v { return s }
        return stringify(v)
    }

    static func stringify(_ v: JSONataValue, pretty: Bool = false) -> String {
        var out = ""
        write(v, &out, pretty: pretty, indent: 0)
        return out
    }

    static func formatNumber(_ d: Double) -> String {
        if d.rounded() == d && abs(d) < 1e21 {
            if abs(d) < 9e15 { return String(Int(d)) }
        }
        // 15 significant digits, as jsonata-js does (toPrecision(15), trailing zeros dropped)
        let p = Double(String(format: "%.15g", d)) ?? d
        return "\(p)"
    }

    private static func write(_ v: JSONataValue, _ out: inout String, pretty: Bool, indent: Int) {
        switch v {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d): out += formatNumber(d)
        case .string(let s): out += JSON.string(s).serialized
        case .function: out += "\"\""
        case .array(let a):
            let items = a.items.filter { !$0.isFunction }
            if items.isEmpty {
                out += "[]"
                return
            }
            out += "["
            for (i, x) in items.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: " ", count: indent + 2) }
                write(x, &out, pretty: pretty, indent: indent + 2)
            }
            if pretty { out += "\n" + String(repeating: " ", count: indent) }
            out += "]"
        case .object(let o):
            let pairs = o.pairs.filter { !$0.1.isFunction }
            if pairs.isEmpty {
                out += "{}"
                return
            }
            out += "{"
            for (i, (k, x)) in pairs.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: " ", count: indent + 2) }
                out += JSON.string(k).serialized + ":"
                if pretty { out += " " }
                write(x, &out, pretty: pretty, indent: indent + 2)
            }
            if pretty { out += "\n" + String(repeating: " ", count: indent) }
            out += "}"
        }
    }
}

extension JSONataFunction {
    convenience init(
        name: String, arity: Int, _ impl: @escaping ([JSONataValue?], JSONataCall) throws(JSONataError) -> JSONataValue?
    ) {
        self.init(name: name, arity: arity, body: .native(impl))
    }
}
