import Foundation

/// The JSONata function library, plus Step Functions' additions ($partition, $range, $hash,
/// $random with a seed, $uuid, $parse).
enum JSONataFunctions {
    typealias Args = [JSONataValue?]
    typealias Impl = (Args, JSONataCall) throws(JSONataError) -> JSONataValue?

    /// name → (arity for higher-order calls, implementation)
    nonisolated(unsafe) static let table: [String: JSONataFunction] = {
        var t: [String: JSONataFunction] = [:]
        func add(_ name: String, _ arity: Int, _ impl: @escaping Impl) {
            t[name] = JSONataFunction(name: name, arity: arity, body: .native(impl))
        }
        // MARK: strings
        add("string", 1) { a, c throws(JSONataError) in
            let v = a.isEmpty ? c.input : a[0]
            guard let v else { return nil }
            if case .function = v { return .string("") }
            if case .number(let d) = v, !d.isFinite {
                throw JSONataError("D3001", "Attempting to invoke string function on Infinity or NaN")
            }
            let pretty = Self.bool(a, 1) ?? false
            if case .string = v { return v }
            return .string(JSONataEvaluator.stringify(v, pretty: pretty))
        }
        add("length", 1) { a, c throws(JSONataError) in
            guard let s = try Self.stringArg(a, 0, "length", context: c) else { return nil }
            return .number(Double(s.unicodeScalars.count))
        }
        add("substring", 3) { a, c throws(JSONataError) in
            guard let s = try Self.stringArg(a, 0, "substring", context: c) else { return nil }
            let chars = Array(s.unicodeScalars)
            guard let startD = try Self.numberArg(a, 1, "substring") else { return nil }
            var start = Int(startD.rounded(.toNearestOrEven))
            if start < 0 { start = max(0, chars.count + start) }
            var end = chars.count
            if let lenD = try Self.numberArg(a, 2, "substring") {
                let len = Int(lenD.rounded(.toNearestOrEven))
                if len <= 0 { return .string("") }
                end = min(chars.count, start + len)
            }
            if start >= chars.count || start >= end { return .string("") }
            var out = String.UnicodeScalarView()
            out.append(contentsOf: chars[start..<end])
            return .string(String(out))
        }
        add("substringBefore", 2) { a, c throws(JSONataError) in
            guard let s = try Self.stringArg(a, 0, "substringBefore", context: c) else { return nil }
            guard let chars = try Self.stringArg(a, 1, "substringBefore") else { return .string(s) }
            guard let r = s.range(of: chars) else { return .string(s) }
            return .string(String(s[..<r.lowerBound]))
        }
        add("substringAfter", 2) { a, c throws(JSONataError) in
            guard let s = try Self.stringArg(a, 0, "substringAfter", context: c) else { return nil }
            guard let chars = try Self.stringArg(a, 1, "substringAfter") else { return .string(s) }
            guard let r = s.range(of: chars) else { return .string(s) }
            return .string(String(s[r.upperBound...]))
        }
        add("uppercase", 1) { a, c throws(JSONataError) in
            try Self.stringArg(a, 0, "uppercase", context: c).map { .string($0.uppercased()) }
        }
        add("lowercase", 1) { a, c throws(JSONataError) in
            try Self.stringArg(a, 0, "lowercase", context: c).map { .string($0.lowercased()) }
        }
        add("trim", 1) { a, c throws(JSONataError) in
            guard let s = try Self.stringArg(a, 0, "trim", context: c) else { return nil }
            let parts = s.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
            return .string(parts.joined(separator: " "))
        }
        add("pad", 3) { a, _ throws(JSONataError) in
            guard let s = try Self.stringArg(a, 0, "pad") else { return nil }
            guard let w = try Self.numberArg(a, 1, "pad") else { return .string(s) }
            var padChar = try Self.stringArg(a, 2, "pad") ?? " "
            if padChar.isEmpty { padChar = " " }
            let width = Int(w)
            let len = s.unicodeScalars.count
            let need = abs(width) - len
            guard need > 0 else { return .string(s) }
            var padding = ""
            let padScalars = Array(padChar.unicodeScalars)
            var i = 0
            while padding.unicodeScalars.count < need {
                padding.unicodeScalars.append(padScalars[i % padScalars.count])
                i += 1
            }
            return .string(width > 0 ? s + padding : padding + s)
        }
        add("contains", 2) { a, c throws(JSONataError) in
            guard let s = try Self.stringArg(a, 0, "contains", context: c) else { return nil }
            switch a.count > 1 ? a[1] : nil {
            case .string(let p)?: return .bool(p.isEmpty || s.contains(p))
            case .function(let f)?:
                guard case .regex(let re) = f.body else { throw Self.argError("contains", 2) }
                return .bool(re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil)
            default: throw Self.argError("contains", 2)
            }
        }
        add("split", 3) { a, c throws(JSONataError) in
            guard let s = try Self.stringArg(a, 0, "split", context: c) else { return nil }
            var limit = Int.max
            if let l = try Self.numberArg(a, 2, "split") {
                guard l >= 0 else { throw JSONataError("D3020", "Third argument of split function must evaluate to a positive number") }
                limit = Int(l)
            }
            var parts: [String] = []
            switch a.count > 1 ? a[1] : nil {
            case .string(let sep)?:
                if sep.isEmpty {
                    parts = s.map { String($0) }
                } else {
                    parts = s.components(separatedBy: sep)
                }
            case .function(let f)?:
                guard case .regex(let re) = f.body else { throw Self.argError("split", 2) }
                var last = s.startIndex
                for m in re.matches(in: s, range: NSRange(s.startIndex..., in: s)) {
                    guard let r = Range(m.range, in: s) else { continue }
                    parts.append(String(s[last..<r.lowerBound]))
                    last = r.upperBound
                }
                parts.append(String(s[last...]))
            default: throw Self.argError("split", 2)
            }
            return .array(JSONataArray(parts.prefix(limit).map { .string($0) }))
        }
        add("join", 2) { a, _ throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            let items = Self.arrayOf(v)
            var strs: [String] = []
            for i in items {
                guard case .string(let s) = i else { throw Self.argError("join", 1) }
                strs.append(s)
            }
            let sep = try Self.stringArg(a, 1, "join") ?? ""
            return .string(strs.joined(separator: sep))
        }
        add("replace", 4) { a, c throws(JSONataError) in
            guard let s = try Self.stringArg(a, 0, "replace") else { return nil }
            var limit = Int.max
            if let l = try Self.numberArg(a, 3, "replace") {
                guard l >= 0 else { throw JSONataError("D3011", "Fourth argument of replace function must evaluate to a positive number") }
                limit = Int(l)
            }
            let replacement = a.count > 2 ? a[2] : nil
            switch a.count > 1 ? a[1] : nil {
            case .string(let p)?:
                guard !p.isEmpty else { throw JSONataError("D3010", "Second argument of replace function cannot be an empty string") }
                guard case .string(let r)? = replacement else { throw Self.argError("replace", 3) }
                var out = ""
                var rest = Substring(s)
                var n = 0
                while n < limit, let range = rest.range(of: p) {
                    out += rest[..<range.lowerBound]
                    out += r
                    rest = rest[range.upperBound...]
                    n += 1
                }
                return .string(out + rest)
            case .function(let f)?:
                guard case .regex(let re) = f.body else { throw Self.argError("replace", 2) }
                var out = ""
                var last = s.startIndex
                var n = 0
                for m in re.matches(in: s, range: NSRange(s.startIndex..., in: s)) {
                    guard n < limit, let r = Range(m.range, in: s) else { break }
                    if r.isEmpty { throw JSONataError("D1004", "Regular expression matches zero length string") }
                    out += s[last..<r.lowerBound]
                    switch replacement {
                    case .string(let template)?:
                        out += Self.substitute(template, m, in: s)
                    case .function(let rf)?:
                        let matchObj = Self.matchObject(m, in: s)
                        guard case .string(let rs)? = try c.evaluator.callback(rf, [matchObj], env: c.env) else {
                            throw JSONataError("D3012", "Attempted to replace a matched string with a non-string value")
                        }
                        out += rs
                    default: throw Self.argError("replace", 3)
                    }
                    last = r.upperBound
                    n += 1
                }
                return .string(out + s[last...])
            default: throw Self.argError("replace", 2)
            }
        }
        add("match", 3) { a, _ throws(JSONataError) in
            guard let s = try Self.stringArg(a, 0, "match") else { return nil }
            guard case .function(let f)? = a.count > 1 ? a[1] : nil, case .regex(let re) = f.body else {
                throw Self.argError("match", 2)
            }
            var limit = Int.max
            if let l = try Self.numberArg(a, 2, "match") { limit = Int(l) }
            let ms = re.matches(in: s, range: NSRange(s.startIndex..., in: s)).prefix(limit)
            return .sequence(ms.map { Self.matchObject($0, in: s) })
        }
        add("base64encode", 1) { a, _ throws(JSONataError) in
            try Self.stringArg(a, 0, "base64encode").map { .string(Data($0.utf8).base64EncodedString()) }
        }
        add("base64decode", 1) { a, _ throws(JSONataError) in
            guard let s = try Self.stringArg(a, 0, "base64decode") else { return nil }
            guard let d = Data(base64Encoded: s), let r = String(data: d, encoding: .utf8) else { return nil }
            return .string(r)
        }
        add("encodeUrlComponent", 1) { a, _ throws(JSONataError) in
            guard let s = try Self.stringArg(a, 0, "encodeUrlComponent") else { return nil }
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-_.!~*'()")
            return s.addingPercentEncoding(withAllowedCharacters: allowed).map { .string($0) }
        }
        add("encodeUrl", 1) { a, _ throws(JSONataError) in
            guard let s = try Self.stringArg(a, 0, "encodeUrl") else { return nil }
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-_.!~*'();/?:@&=+$,#")
            return s.addingPercentEncoding(withAllowedCharacters: allowed).map { .string($0) }
        }
        add("decodeUrlComponent", 1) { a, _ throws(JSONataError) in
            try Self.stringArg(a, 0, "decodeUrlComponent").flatMap { $0.removingPercentEncoding }.map { .string($0) }
        }
        add("decodeUrl", 1) { a, _ throws(JSONataError) in
            try Self.stringArg(a, 0, "decodeUrl").flatMap { $0.removingPercentEncoding }.map { .string($0) }
        }
        add("eval", 2) { a, c throws(JSONataError) in
            guard let text = try Self.stringArg(a, 0, "eval") else { return nil }
            let expr: JSONataExpression
            do { expr = try JSONataExpression(text) } catch {
                throw JSONataError("D3120", "Syntax error in expression passed to function eval: \(error)")
            }
            let input = a.count > 1 ? a[1] : c.input
            return try c.evaluator.eval(expr.root, input, JSONataFrame(parent: c.env))
        }
        add("formatBase", 2) { a, _ throws(JSONataError) in
            guard let n = try Self.numberArg(a, 0, "formatBase") else { return nil }
            let radix = Int(try Self.numberArg(a, 1, "formatBase") ?? 10)
            guard (2...36).contains(radix) else {
                throw JSONataError("D3100", "The radix of the formatBase function must be between 2 and 36")
            }
            return .string(String(Int(n.rounded(.toNearestOrEven)), radix: radix))
        }
        add("formatNumber", 3) { a, _ throws(JSONataError) in
            guard let n = try Self.numberArg(a, 0, "formatNumber") else { return nil }
            guard let picture = try Self.stringArg(a, 1, "formatNumber") else { throw Self.argError("formatNumber", 2) }
            return .string(Self.formatNumber(n, picture))
        }
        // MARK: numbers
        add("number", 1) { a, c throws(JSONataError) in
            let v = a.isEmpty ? c.input : a[0]
            switch v {
            case nil: return nil
            case .number?: return v
            case .bool(let b)?: return .number(b ? 1 : 0)
            case .string(let s)?:
                if let d = Self.parseNumber(s) { return .number(d) }
                throw JSONataError("D3030", "Unable to cast value to a number: \(JSONataEvaluator.stringify(v!))")
            default:
                throw JSONataError("D3030", "Unable to cast value to a number: \(JSONataEvaluator.stringify(v!))")
            }
        }
        add("abs", 1) { a, c throws(JSONataError) in try Self.numberArg(a, 0, "abs").map { .number(abs($0)) } }
        add("floor", 1) { a, c throws(JSONataError) in try Self.numberArg(a, 0, "floor").map { .number($0.rounded(.down)) } }
        add("ceil", 1) { a, c throws(JSONataError) in try Self.numberArg(a, 0, "ceil").map { .number($0.rounded(.up)) } }
        add("round", 2) { a, _ throws(JSONataError) in
            guard let n = try Self.numberArg(a, 0, "round") else { return nil }
            let precision = Int(try Self.numberArg(a, 1, "round") ?? 0)
            let scale = pow(10.0, Double(precision))
            var v = (n * scale)
            // round half to even, as jsonata-js does
            v = v.rounded(.toNearestOrEven)
            return .number(v / scale)
        }
        add("power", 2) { a, _ throws(JSONataError) in
            guard let b = try Self.numberArg(a, 0, "power"), let e = try Self.numberArg(a, 1, "power") else { return nil }
            let r = pow(b, e)
            guard r.isFinite else {
                throw JSONataError("D3061", "The power function has resulted in a value that cannot be represented as a JSON number")
            }
            return .number(r)
        }
        add("sqrt", 1) { a, _ throws(JSONataError) in
            guard let n = try Self.numberArg(a, 0, "sqrt") else { return nil }
            guard n >= 0 else { throw JSONataError("D3060", "The sqrt function cannot be applied to a negative number: \(n)") }
            return .number(n.squareRoot())
        }
        add("random", 1) { a, c throws(JSONataError) in
            // Step Functions: an optional seed makes the result reproducible.
            if let seedValue = a.first ?? nil {
                guard case .number(let seed) = seedValue else { throw Self.argError("random", 1) }
                var r = JavaRandom(seed: Int64(seed))
                let hi = Int64(r.next(26))
                let lo = Int64(r.next(27))
                return .number(Double((hi << 27) + lo) / Double(Int64(1) << 53))
            }
            return .number(Double(c.evaluator.random() >> 11) / Double(UInt64(1) << 53))
        }
        add("sum", 1) { a, _ throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            return .number(try Self.numbers(v, "sum").reduce(0, +))
        }
        add("max", 1) { a, _ throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            return try Self.numbers(v, "max").max().map { .number($0) }
        }
        add("min", 1) { a, _ throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            return try Self.numbers(v, "min").min().map { .number($0) }
        }
        add("average", 1) { a, _ throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            let ns = try Self.numbers(v, "average")
            guard !ns.isEmpty else { return nil }
            return .number(ns.reduce(0, +) / Double(ns.count))
        }
        // MARK: booleans
        add("boolean", 1) { a, c throws(JSONataError) in
            let v = a.isEmpty ? c.input : a[0]
            return JSONataEvaluator.boolean(v).map { .bool($0) }
        }
        add("not", 1) { a, c throws(JSONataError) in
            let v = a.isEmpty ? c.input : a[0]
            return JSONataEvaluator.boolean(v).map { .bool(!$0) }
        }
        add("exists", 1) { a, _ throws(JSONataError) in
            guard a.count == 1 else { throw Self.argError("exists", 1) }
            return .bool(a[0] != nil)
        }
        // MARK: arrays
        add("count", 1) { a, _ throws(JSONataError) in
            guard let v = a.first ?? nil else { return .number(0) }
            return .number(Double(Self.arrayOf(v).count))
        }
        add("append", 2) { a, _ throws(JSONataError) in
            JSONataEvaluator.append(a.first ?? nil, a.count > 1 ? a[1] : nil)
        }
        add("sort", 2) { a, c throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            let items = Self.arrayOf(v)
            if items.count <= 1 { return .array(JSONataArray(items)) }
            if case .function(let f)? = a.count > 1 ? a[1] : nil {
                let sorted = try JSONataEvaluator.mergeSort(items) { (x, y) throws(JSONataError) -> Bool in
                    JSONataEvaluator.boolean(try c.evaluator.callback(f, [x, y], env: c.env)) == true
                }
                return .array(JSONataArray(sorted))
            }
            if items.allSatisfy({ if case .number = $0 { return true } else { return false } }) {
                let sorted = try JSONataEvaluator.mergeSort(items) { (x, y) throws(JSONataError) -> Bool in
                    if case .number(let p) = x, case .number(let q) = y { return p > q }
                    return false
                }
                return .array(JSONataArray(sorted))
            }
            if items.allSatisfy({ if case .string = $0 { return true } else { return false } }) {
                let sorted = try JSONataEvaluator.mergeSort(items) { (x, y) throws(JSONataError) -> Bool in
                    if case .string(let p) = x, case .string(let q) = y {
                        return q.unicodeScalars.lexicographicallyPrecedes(p.unicodeScalars)
                    }
                    return false
                }
                return .array(JSONataArray(sorted))
            }
            throw JSONataError("D3070", "The single argument form of the sort function can only be applied to an array of strings or an array of numbers")
        }
        add("reverse", 1) { a, _ throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            return .array(JSONataArray(Self.arrayOf(v).reversed()))
        }
        add("shuffle", 1) { a, c throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            var items = Self.arrayOf(v)
            if items.count > 1 {
                for i in stride(from: items.count - 1, to: 0, by: -1) {
                    let j = Int(c.evaluator.random() % UInt64(i + 1))
                    items.swapAt(i, j)
                }
            }
            return .array(JSONataArray(items))
        }
        add("distinct", 1) { a, _ throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            guard case .array(let arr) = v else { return v }
            var out: [JSONataValue] = []
            for x in arr.items where !out.contains(where: { jsonataEqual($0, x) }) { out.append(x) }
            return .array(JSONataArray(out))
        }
        add("zip", 2) { a, _ throws(JSONataError) in
            let arrays = a.map { $0.map(Self.arrayOf) ?? [] }
            let n = arrays.map(\.count).min() ?? 0
            var out: [JSONataValue] = []
            for i in 0..<n { out.append(.array(JSONataArray(arrays.map { $0[i] }))) }
            return .array(JSONataArray(out))
        }
        // MARK: objects
        add("keys", 1) { a, _ throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            var keys: [String] = []
            for item in Self.arrayOf(v) {
                if case .object(let o) = item {
                    for k in o.keys where !keys.contains(k) { keys.append(k) }
                }
            }
            return .sequence(keys.map { .string($0) })
        }
        add("lookup", 2) { a, _ throws(JSONataError) in
            guard let key = try Self.stringArg(a, 1, "lookup") else { return nil }
            return JSONataEvaluator.lookup(a.first ?? nil, key)
        }
        add("spread", 1) { a, _ throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            var out: [JSONataValue] = []
            for item in Self.arrayOf(v) {
                if case .object(let o) = item {
                    for (k, x) in o.pairs {
                        var one = JSONataObject()
                        one[k] = x
                        out.append(.object(one))
                    }
                } else {
                    out.append(item)
                }
            }
            return .sequence(out)
        }
        add("merge", 1) { a, _ throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            var out = JSONataObject()
            for item in Self.arrayOf(v) {
                guard case .object(let o) = item else { throw Self.argError("merge", 1) }
                for (k, x) in o.pairs { out[k] = x }
            }
            return .object(out)
        }
        add("each", 2) { a, c throws(JSONataError) in
            guard case .object(let o)? = a.first ?? nil else { return nil }
            guard case .function(let f)? = a.count > 1 ? a[1] : nil else { throw Self.argError("each", 2) }
            var out: [JSONataValue] = []
            for (k, x) in o.pairs {
                if let r = try c.evaluator.callback(f, [x, .string(k), .object(o)], env: c.env) { out.append(r) }
            }
            return .sequence(out)
        }
        add("sift", 2) { a, c throws(JSONataError) in
            guard case .object(let o)? = a.first ?? nil else { return nil }
            guard case .function(let f)? = a.count > 1 ? a[1] : nil else { throw Self.argError("sift", 2) }
            var out = JSONataObject()
            for (k, x) in o.pairs
            where JSONataEvaluator.boolean(try c.evaluator.callback(f, [x, .string(k), .object(o)], env: c.env)) == true {
                out[k] = x
            }
            return out.count == 0 ? nil : .object(out)
        }
        add("type", 1) { a, _ throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            return .string(v.typeName)
        }
        add("error", 1) { a, _ throws(JSONataError) in
            let msg = try Self.stringArg(a, 0, "error") ?? "$error() function evaluated"
            throw JSONataError("D3137", msg)
        }
        add("assert", 2) { a, _ throws(JSONataError) in
            guard case .bool(let b)? = a.first ?? nil else {
                throw JSONataError("T0410", "Argument 1 of function assert does not match function signature")
            }
            if !b { throw JSONataError("D3141", try Self.stringArg(a, 1, "assert") ?? "$assert() statement failed") }
            return nil
        }
        // MARK: higher-order
        add("map", 2) { a, c throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            guard case .function(let f)? = a.count > 1 ? a[1] : nil else { throw Self.argError("map", 2) }
            let items = Self.arrayOf(v)
            var out: [JSONataValue] = []
            for (i, x) in items.enumerated() {
                if let r = try c.evaluator.callback(f, [x, .number(Double(i)), .array(JSONataArray(items))], env: c.env) {
                    out.append(r)
                }
            }
            return .sequence(out)
        }
        add("filter", 2) { a, c throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            guard case .function(let f)? = a.count > 1 ? a[1] : nil else { throw Self.argError("filter", 2) }
            let items = Self.arrayOf(v)
            var out: [JSONataValue] = []
            for (i, x) in items.enumerated()
            where JSONataEvaluator.boolean(
                try c.evaluator.callback(f, [x, .number(Double(i)), .array(JSONataArray(items))], env: c.env)) == true
            {
                out.append(x)
            }
            return .sequence(out)
        }
        add("single", 2) { a, c throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            let items = Self.arrayOf(v)
            var found: JSONataValue?
            var count = 0
            for (i, x) in items.enumerated() {
                var ok = true
                if case .function(let f)? = a.count > 1 ? a[1] : nil {
                    ok = JSONataEvaluator.boolean(
                        try c.evaluator.callback(f, [x, .number(Double(i)), .array(JSONataArray(items))], env: c.env)) == true
                }
                if ok {
                    count += 1
                    found = x
                }
            }
            if count > 1 { throw JSONataError("D3138", "The $single() function expected exactly 1 matching result.  Instead it matched more.") }
            if count == 0 { throw JSONataError("D3139", "The $single() function expected exactly 1 matching result.  Instead it matched 0.") }
            return found
        }
        add("reduce", 3) { a, c throws(JSONataError) in
            guard let v = a.first ?? nil else { return nil }
            guard case .function(let f)? = a.count > 1 ? a[1] : nil else { throw Self.argError("reduce", 2) }
            guard f.arity >= 2 || f.name != "lambda" else {
                throw JSONataError("D3050", "The second argument of reduce function must be a function with at least two arguments")
            }
            let items = Self.arrayOf(v)
            var acc: JSONataValue?
            var start = 0
            if a.count > 2, let initial = a[2] {
                acc = initial
            } else if !items.isEmpty {
                acc = items[0]
                start = 1
            }
            var i = start
            while i < items.count {
                acc = try c.evaluator.callback(f, [acc, items[i], .number(Double(i)), .array(JSONataArray(items))], env: c.env)
                i += 1
            }
            return acc
        }
        // MARK: date/time
        add("now", 2) { _, c throws(JSONataError) in .string(Self.iso(c.evaluator.now)) }
        add("millis", 0) { _, c throws(JSONataError) in
            .number((c.evaluator.now.timeIntervalSince1970 * 1000).rounded(.down))
        }
        add("fromMillis", 3) { a, _ throws(JSONataError) in
            guard let ms = try Self.numberArg(a, 0, "fromMillis") else { return nil }
            return .string(Self.iso(Date(timeIntervalSince1970: ms / 1000)))
        }
        add("toMillis", 2) { a, _ throws(JSONataError) in
            guard let s = try Self.stringArg(a, 0, "toMillis") else { return nil }
            guard let d = Self.parseDate(s) else {
                throw JSONataError("D3110", "Unable to parse timestamp: \(s)")
            }
            return .number((d.timeIntervalSince1970 * 1000).rounded())
        }
        // MARK: Step Functions
        add("partition", 2) { a, _ throws(JSONataError) in
            guard case .array(let arr)? = a.first ?? nil else { throw Self.argError("partition", 1) }
            guard case .number(let n)? = a.count > 1 ? a[1] : nil, n >= 1, n.rounded() == n else {
                throw Self.argError("partition", 2)
            }
            let size = Int(n)
            var out: [JSONataValue] = []
            var i = 0
            while i < arr.items.count {
                out.append(.array(JSONataArray(Array(arr.items[i..<min(i + size, arr.items.count)]))))
                i += size
            }
            return .array(JSONataArray(out))
        }
        add("range", 3) { a, _ throws(JSONataError) in
            guard let s = try Self.numberArg(a, 0, "range"), let e = try Self.numberArg(a, 1, "range"),
                let st = try Self.numberArg(a, 2, "range")
            else { throw Self.argError("range", 1) }
            guard s.rounded() == s, e.rounded() == e, st.rounded() == st, st != 0 else { throw Self.argError("range", 3) }
            var out: [JSONataValue] = []
            var x = s
            while (st > 0 ? x <= e : x >= e) && out.count <= 1000 {
                out.append(.number(x))
                x += st
            }
            guard out.count <= 1000 else {
                throw JSONataError("D3010", "The $range function may produce at most 1000 items")
            }
            return .sequence(out)
        }
        add("hash", 2) { a, _ throws(JSONataError) in
            guard let data = try Self.stringArg(a, 0, "hash"), let algorithm = try Self.stringArg(a, 1, "hash") else {
                throw Self.argError("hash", 1)
            }
            let bytes = Array(data.utf8)
            let digest: [UInt8]
            switch algorithm {
            case "MD5": digest = Digest.md5(bytes)
            case "SHA-1": digest = Digest.sha1(bytes)
            case "SHA-256": digest = Digest.sha256(bytes)
            case "SHA-384": digest = Digest.sha384(bytes)
            case "SHA-512": digest = Digest.sha512(bytes)
            default: throw JSONataError("D3010", "Unsupported hash algorithm: \(algorithm)")
            }
            return .string(Digest.hex(digest))
        }
        add("uuid", 0) { _, c throws(JSONataError) in
            .string(IntrinsicCall.uuid(c.evaluator.random(), c.evaluator.random()))
        }
        add("parse", 1) { a, _ throws(JSONataError) in
            guard let s = try Self.stringArg(a, 0, "parse") else { throw Self.argError("parse", 1) }
            do { return JSONataValue(try JSONParser.parse(s)) } catch {
                throw JSONataError("D3010", "The argument of $parse is not valid JSON: \(s)")
            }
        }
        return t
    }()

    // MARK: Helpers

    static func argError(_ name: String, _ n: Int) -> JSONataError {
        JSONataError("T0410", "Argument \(n) of function \"\(name)\" does not match function signature")
    }

    static func stringArg(_ a: Args, _ i: Int, _ name: String, context: JSONataCall? = nil) throws(JSONataError) -> String? {
        var v: JSONataValue?
        if i < a.count {
            v = a[i]
        } else if i == 0, let context {
            v = context.input
            if v == nil { return nil }
            guard case .string = v else { throw argError(name, 1) }
        }
        switch v {
        case nil: return nil
        case .string(let s)?: return s
        case .array(let arr)? where arr.items.count == 1:
            if case .string(let s) = arr.items[0] { return s }
            throw argError(name, i + 1)
        default: throw argError(name, i + 1)
        }
    }

    static func numberArg(_ a: Args, _ i: Int, _ name: String) throws(JSONataError) -> Double? {
        guard i < a.count, let v = a[i] else { return nil }
        switch v {
        case .number(let d): return d
        case .array(let arr) where arr.items.count == 1:
            if case .number(let d) = arr.items[0] { return d }
            throw argError(name, i + 1)
        default: throw argError(name, i + 1)
        }
    }

    static func bool(_ a: Args, _ i: Int) -> Bool? {
        guard i < a.count, case .bool(let b)? = a[i] else { return nil }
        return b
    }

    static func arrayOf(_ v: JSONataValue) -> [JSONataValue] {
        if case .array(let a) = v { return a.items }
        return [v]
    }

    static func numbers(_ v: JSONataValue, _ name: String) throws(JSONataError) -> [Double] {
        var out: [Double] = []
        for x in arrayOf(v) {
            guard case .number(let d) = x else { throw argError(name, 1) }
            out.append(d)
        }
        return out
    }

    /// A number in JSON syntax (what `$number` accepts), plus hex/octal/binary prefixes.
    static func parseNumber(_ s: String) -> Double? {
        let t = s
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where t.hasPrefix(prefix) {
            return Int(t.dropFirst(2), radix: radix).map(Double.init)
        }
        guard case .some(let j) = try? JSONParser.parse(t), let d = j.doubleValue else { return nil }
        return d
    }

    static func iso(_ d: Date) -> String { ISO8601.format(d) }

    static func parseDate(_ s: String) -> Date? {
        if let d = ISO8601.parse(s) { return d }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        for p in ["yyyy-MM-dd", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss.SSS"] {
            f.dateFormat = p
            if let d = f.date(from: s) { return d }
        }
        return nil
    }

    static func matchObject(_ m: NSTextCheckingResult, in s: String) -> JSONataValue {
        var o = JSONataObject()
        let r = Range(m.range, in: s)!
        o["match"] = .string(String(s[r]))
        o["index"] = .number(Double(s.unicodeScalars.distance(from: s.unicodeScalars.startIndex, to: r.lowerBound)))
        var groups: [JSONataValue] = []
        if m.numberOfRanges > 1 {
            for g in 1..<m.numberOfRanges {
                if let gr = Range(m.range(at: g), in: s) { groups.append(.string(String(s[gr]))) } else { groups.append(.string("")) }
            }
        }
        o["groups"] = .array(JSONataArray(groups))
        return .object(o)
    }

    static func regexMatch(_ re: NSRegularExpression, _ s: String, from: Int) -> JSONataValue? {
        guard let m = re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) else { return nil }
        return matchObject(m, in: s)
    }

    /// `$0`, `$1`… in a replacement string; `$$` is a dollar.
    static func substitute(_ template: String, _ m: NSTextCheckingResult, in s: String) -> String {
        var out = ""
        let chars = Array(template)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "$" && i + 1 < chars.count {
                if chars[i + 1] == "$" {
                    out.append("$")
                    i += 2
                    continue
                }
                if let d = chars[i + 1].wholeNumberValue {
                    if d < m.numberOfRanges, let r = Range(m.range(at: d), in: s) { out += s[r] }
                    i += 2
                    continue
                }
            }
            out.append(c)
            i += 1
        }
        return out
    }

    /// A minimal `$formatNumber`: decimal pictures like `#,##0.00`.
    static func formatNumber(_ n: Double, _ picture: String) -> String {
        let parts = picture.split(separator: ".", maxSplits: 1).map(String.init)
        let intPart = parts.first ?? ""
        let fracPart = parts.count > 1 ? parts[1] : ""
        let minFrac = fracPart.filter { $0 == "0" }.count
        let maxFrac = fracPart.filter { $0 == "0" || $0 == "#" }.count
        let grouping = intPart.contains(",")
        let minInt = intPart.filter { $0 == "0" }.count
        let scale = pow(10.0, Double(maxFrac))
        let rounded = (abs(n) * scale).rounded(.toNearestOrEven) / scale
        var s = String(format: "%.\(maxFrac)f", rounded)
        if maxFrac > minFrac, s.contains(".") {
            while s.hasSuffix("0") && s.split(separator: ".")[1].count > minFrac { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        var pieces = s.split(separator: ".", maxSplits: 1).map(String.init)
        while pieces[0].count < minInt { pieces[0] = "0" + pieces[0] }
        if grouping {
            var g = ""
            for (i, ch) in pieces[0].reversed().enumerated() {
                if i > 0 && i % 3 == 0 { g.append(",") }
                g.append(ch)
            }
            pieces[0] = String(g.reversed())
        }
        return (n < 0 ? "-" : "") + pieces.joined(separator: ".")
    }
}
