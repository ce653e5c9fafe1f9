import Foundation

/// A path or intrinsic function that could not be compiled.
public struct PathSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// A JSONPath as ASL allows it, compiled once into steps.
///
/// Roots: `$` (the effective input), `$$` (the context object), `$name` (a variable).
/// Steps: `.name`, `['name']`, `[0]`, `[-1]`, `[*]`, `.*`, `..name` / `..*` / `..[…]` (deep scan),
/// `[start:end:step]`, unions `[0,2]` / `['a','b']`, filters `[?(@.price < 10)]` and a trailing
/// `length()` as the Jayway library knows it.
public struct JSONPath: Sendable, Hashable, CustomStringConvertible {
    public enum Root: Sendable, Hashable {
        case input
        case context
        case variable(String)
    }

    public let root: Root
    let steps: [PathStep]
    /// No wildcard, deep scan, slice, union or filter: the path names at most one value.
    public let isDefinite: Bool
    /// The original text.
    public let description: String

    init(root: Root, steps: [PathStep], description: String) {
        self.root = root
        self.steps = steps
        self.description = description
        self.isDefinite = steps.allSatisfy(\.isDefinite)
    }

    public static func parse(_ text: String) throws(PathSyntaxError) -> JSONPath {
        var parser = PathParser(text)
        return try parser.parsePath()
    }

    public static func == (lhs: JSONPath, rhs: JSONPath) -> Bool { lhs.description == rhs.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    /// The value this path selects in `scope`: nil when a definite path matches nothing; an
    /// indefinite path always yields `.array(matches)`, possibly empty.
    @inline(__always)
    public func evaluate(in scope: EvaluationScope) -> JSON? {
        switch root {
        case .input: return evaluate(on: scope.input, root: scope.input)
        case .context: return evaluate(on: scope.context, root: scope.input)
        case .variable(let name):
            guard let value = scope.variables[name] else { return isDefinite ? nil : .array([]) }
            return evaluate(on: value, root: scope.input)
        }
    }

    /// Applies the steps to `value`, the root already resolved.
    public func evaluate(on value: JSON) -> JSON? {
        evaluate(on: value, root: value)
    }

    func evaluate(on value: JSON, root: JSON) -> JSON? {
        if isDefinite {
            var current = value
            for step in steps {
                switch step {
                case .member(let key):
                    guard case .object(let o) = current, let next = o[key] else { return nil }
                    current = next
                case .index(let i):
                    guard case .array(let a) = current else { return nil }
                    let j = i < 0 ? a.count + i : i
                    guard j >= 0, j < a.count else { return nil }
                    current = a[j]
                case .length:
                    switch current {
                    case .array(let a): current = .int(a.count)
                    case .object(let o): current = .int(o.count)
                    case .string(let s): current = .int(s.count)
                    default: return nil
                    }
                default:
                    return nil  // not reached: definite paths hold only the cases above
                }
            }
            return current
        }
        var nodes = [value]
        for (n, step) in steps.enumerated() {
            var next: [JSON] = []
            next.reserveCapacity(nodes.count)
            let isLast = n == steps.count - 1
            for node in nodes { step.apply(to: node, root: root, isLast: isLast, into: &next) }
            nodes = next
        }
        return .array(nodes)
    }
}

/// One step of a compiled path.
indirect enum PathStep: Sendable {
    case member(String)
    case index(Int)
    case length
    case wildcard
    case names([String])
    case indices([Int])
    case slice(Int?, Int?, Int?)
    case filter(FilterExpression)
    /// `..` followed by a step: the step applied to the node and every descendant, in document order.
    case scan(PathStep)

    var isDefinite: Bool {
        switch self {
        case .member, .index, .length: return true
        default: return false
        }
    }

    func apply(to node: JSON, root: JSON, isLast: Bool, into out: inout [JSON]) {
        switch self {
        case .member(let key):
            if case .object(let o) = node, let v = o[key] { out.append(v) }
        case .index(let i):
            if case .array(let a) = node {
                let j = i < 0 ? a.count + i : i
                if j >= 0, j < a.count { out.append(a[j]) }
            }
        case .length:
            switch node {
            case .array(let a): out.append(.int(a.count))
            case .object(let o): out.append(.int(o.count))
            case .string(let s): out.append(.int(s.count))
            default: break
            }
        case .wildcard:
            switch node {
            case .array(let a): out.append(contentsOf: a)
            case .object(let o): out.append(contentsOf: o.values)
            default: break
            }
        case .names(let keys):
            guard case .object(let o) = node else { return }
            if isLast {
                // Jayway gathers several properties at the end of a path into one object.
                var picked = JSONObject()
                for k in keys { if let v = o[k] { picked[k] = v } }
                out.append(.object(picked))
            } else {
                for k in keys { if let v = o[k] { out.append(v) } }
            }
        case .indices(let idx):
            guard case .array(let a) = node else { return }
            for i in idx {
                let j = i < 0 ? a.count + i : i
                if j >= 0, j < a.count { out.append(a[j]) }
            }
        case .slice(let start, let end, let step):
            guard case .array(let a) = node else { return }
            let n = a.count
            let st = step ?? 1
            guard st != 0 else { return }
            func clamp(_ v: Int?, _ def: Int) -> Int {
                guard var v else { return def }
                if v < 0 { v += n }
                return st > 0 ? min(max(v, 0), n) : min(max(v, -1), n - 1)
            }
            if st > 0 {
                var i = clamp(start, 0)
                let e = clamp(end, n)
                while i < e { out.append(a[i]); i += st }
            } else {
                var i = clamp(start, n - 1)
                let e = clamp(end, -1)
                while i > e { out.append(a[i]); i += st }
            }
        case .filter(let f):
            switch node {
            case .array(let a):
                for e in a where f.matches(e, root: root) { out.append(e) }
            case .object:
                if f.matches(node, root: root) { out.append(node) }
            default: break
            }
        case .scan(let inner):
            func walk(_ v: JSON) {
                inner.apply(to: v, root: root, isLast: isLast, into: &out)
                switch v {
                case .array(let a): for e in a { walk(e) }
                case .object(let o): for e in o.values { walk(e) }
                default: break
                }
            }
            // `..*` and `..[*]` list every descendant, not the starting node itself.
            if case .wildcard = inner {
                Self.descendants(of: node, into: &out)
            } else {
                walk(node)
            }
        }
    }

    static func descendants(of node: JSON, into out: inout [JSON]) {
        switch node {
        case .array(let a): for e in a { out.append(e); descendants(of: e, into: &out) }
        case .object(let o): for e in o.values { out.append(e); descendants(of: e, into: &out) }
        default: break
        }
    }
}

// MARK: - Filters

/// A compiled filter predicate `?(…)`.
indirect enum FilterExpression: Sendable {
    enum Operand: Sendable {
        case current(JSONPath)  // @…, the root already resolved to the element
        case root(JSONPath)  // $…
        case literal(JSON)
    }
    enum Comparison: Sendable { case eq, ne, lt, le, gt, ge }

    case and(FilterExpression, FilterExpression)
    case or(FilterExpression, FilterExpression)
    case not(FilterExpression)
    case exists(Operand)
    case compare(Operand, Comparison, Operand)

    func matches(_ element: JSON, root: JSON) -> Bool {
        switch self {
        case .and(let a, let b): return a.matches(element, root: root) && b.matches(element, root: root)
        case .or(let a, let b): return a.matches(element, root: root) || b.matches(element, root: root)
        case .not(let a): return !a.matches(element, root: root)
        case .exists(let o):
            guard let v = Self.value(o, element, root) else { return false }
            if case .literal = o { return v != .bool(false) && v != .null }
            if case .array(let a) = v, !Self.isDefinite(o) { return !a.isEmpty }
            return true
        case .compare(let l, let op, let r):
            let lv = Self.value(l, element, root)
            let rv = Self.value(r, element, root)
            guard let lv, let rv else { return op == .ne && !(lv == nil && rv == nil) }
            switch op {
            case .eq: return lv == rv
            case .ne: return lv != rv
            case .lt, .le, .gt, .ge:
                let order: Int
                if let a = lv.doubleValue, let b = rv.doubleValue {
                    order = a < b ? -1 : (a == b ? 0 : 1)
                } else if case .string(let a) = lv, case .string(let b) = rv {
                    order = a < b ? -1 : (a == b ? 0 : 1)
                } else {
                    return false
                }
                switch op {
                case .lt: return order < 0
                case .le: return order <= 0
                case .gt: return order > 0
                default: return order >= 0
                }
            }
        }
    }

    private static func isDefinite(_ o: Operand) -> Bool {
        switch o {
        case .current(let p), .root(let p): return p.isDefinite
        case .literal: return true
        }
    }

    private static func value(_ o: Operand, _ element: JSON, _ root: JSON) -> JSON? {
        switch o {
        case .current(let p): return p.evaluate(on: element, root: root)
        case .root(let p): return p.evaluate(on: root, root: root)
        case .literal(let v): return v
        }
    }
}

// MARK: - Parser

struct PathParser {
    let text: String
    let chars: [Character]
    var pos = 0

    init(_ text: String) {
        self.text = text
        self.chars = Array(text)
    }

    func fail(_ why: String) -> PathSyntaxError {
        PathSyntaxError("Invalid JSONPath '\(text)': \(why)")
    }

    var atEnd: Bool { pos >= chars.count }
    var current: Character? { pos < chars.count ? chars[pos] : nil }

    mutating func parsePath() throws(PathSyntaxError) -> JSONPath {
        guard current == "$" else { throw fail("a path starts with '$'") }
        pos += 1
        var root = JSONPath.Root.input
        if current == "$" {
            pos += 1
            root = .context
        } else if let c = current, c != ".", c != "[" {
            let start = pos
            while let c = current, c != ".", c != "[" { pos += 1 }
            let name = String(chars[start..<pos])
            guard name.first.map({ $0.isLetter || $0 == "_" }) == true,
                name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" })
            else { throw fail("invalid variable name '\(name)'") }
            root = .variable(name)
        }
        let steps = try parseSteps()
        return JSONPath(root: root, steps: steps, description: text)
    }

    mutating func parseSteps() throws(PathSyntaxError) -> [PathStep] {
        var steps: [PathStep] = []
        while let c = current {
            if c == "." {
                pos += 1
                if current == "[" {
                    // `.[0]` reads as `[0]`, as AWS's JSONPath implementation has it.
                    steps.append(try parseBracket())
                    try parseAfterBracket(into: &steps)
                } else if current == "." {
                    pos += 1
                    if current == "[" {
                        steps.append(.scan(try parseBracket()))
                    } else if current == "*" {
                        pos += 1
                        steps.append(.scan(.wildcard))
                    } else {
                        steps.append(.scan(.member(try parseName())))
                    }
                } else if current == "*" {
                    pos += 1
                    steps.append(.wildcard)
                } else {
                    let name = try parseName()
                    if name == "length()" {
                        guard atEnd else { throw fail("length() must end the path") }
                        steps.append(.length)
                    } else {
                        steps.append(.member(name))
                    }
                }
            } else if c == "[" {
                steps.append(try parseBracket())
                try parseAfterBracket(into: &steps)
            } else {
                throw fail("unexpected '\(c)' at offset \(pos)")
            }
        }
        return steps
    }

    /// A name or `*` right after `]` reads as if a "." came first (`$.a[0]b` is `$.a[0].b`), as
    /// AWS's JSONPath implementation has it.
    mutating func parseAfterBracket(into steps: inout [PathStep]) throws(PathSyntaxError) {
        guard let c = current, c != ".", c != "[" else { return }
        if c == "*" {
            pos += 1
            steps.append(.wildcard)
        } else {
            steps.append(.member(try parseName()))
        }
    }

    mutating func parseName() throws(PathSyntaxError) -> String {
        let start = pos
        while let c = current, c != ".", c != "[" {
            if c == "]" || c == " " || c == "'" { throw fail("unexpected '\(c)' in a name") }
            pos += 1
        }
        guard pos > start else { throw fail("empty name at offset \(start)") }
        return String(chars[start..<pos])
    }

    mutating func skipSpaces() {
        while let c = current, c == " " { pos += 1 }
    }

    mutating func expect(_ ch: Character) throws(PathSyntaxError) {
        guard current == ch else { throw fail("expected '\(ch)' at offset \(pos)") }
        pos += 1
    }

    /// Parses `[…]`, `pos` on the `[`.
    mutating func parseBracket() throws(PathSyntaxError) -> PathStep {
        pos += 1
        skipSpaces()
        guard let c = current else { throw fail("unterminated '['") }
        if c == "*" {
            pos += 1
            skipSpaces()
            try expect("]")
            return .wildcard
        }
        if c == "?" {
            pos += 1
            skipSpaces()
            try expect("(")
            let expr = try parseOr()
            skipSpaces()
            try expect(")")
            skipSpaces()
            try expect("]")
            return .filter(expr)
        }
        if c == "'" || c == "\"" {
            var names: [String] = []
            while true {
                skipSpaces()
                guard let q = current, q == "'" || q == "\"" else { throw fail("expected a quoted name") }
                names.append(try parseQuoted())
                skipSpaces()
                if current == "," {
                    pos += 1
                    continue
                }
                try expect("]")
                break
            }
            return names.count == 1 ? .member(names[0]) : .names(names)
        }
        // Numbers: index, union of indices, or slice.
        var parts: [Int?] = []
        var separators: [Character] = []
        while true {
            skipSpaces()
            parts.append(try parseOptionalInt())
            skipSpaces()
            guard let s = current else { throw fail("unterminated '['") }
            if s == "]" {
                pos += 1
                break
            }
            guard s == ":" || s == "," else { throw fail("unexpected '\(s)' in brackets") }
            separators.append(s)
            pos += 1
        }
        if separators.isEmpty {
            guard let i = parts[0] else { throw fail("empty brackets") }
            return .index(i)
        }
        if separators.allSatisfy({ $0 == "," }) {
            let idx = parts.compactMap { $0 }
            guard idx.count == parts.count else { throw fail("empty union member") }
            return .indices(idx)
        }
        guard separators.allSatisfy({ $0 == ":" }), parts.count <= 3 else { throw fail("invalid slice") }
        return .slice(parts[0], parts[1], parts.count == 3 ? parts[2] : nil)
    }

    mutating func parseOptionalInt() throws(PathSyntaxError) -> Int? {
        let start = pos
        if current == "-" { pos += 1 }
        while let c = current, c.isASCII, c.isNumber { pos += 1 }
        if pos == start { return nil }
        guard let v = Int(String(chars[start..<pos])) else { throw fail("invalid number") }
        return v
    }

    /// A quoted name; `pos` on the opening quote. `\'` (or `\"`) stands for the quote itself;
    /// other backslashes are kept as written (AWS matches `$['a\"b']` against the key `a\"b`).
    mutating func parseQuoted() throws(PathSyntaxError) -> String {
        let quote = chars[pos]
        pos += 1
        var out = ""
        while let c = current {
            if c == "\\", pos + 1 < chars.count, chars[pos + 1] == quote {
                out.append(quote)
                pos += 2
                continue
            }
            if c == quote {
                pos += 1
                return out
            }
            out.append(c)
            pos += 1
        }
        throw fail("unterminated string")
    }

    // Filter grammar: or := and ('||' and)*; and := unary ('&&' unary)*; unary := '!' unary | primary.

    mutating func parseOr() throws(PathSyntaxError) -> FilterExpression {
        var lhs = try parseAnd()
        while true {
            skipSpaces()
            guard match("||") else { return lhs }
            lhs = .or(lhs, try parseAnd())
        }
    }

    mutating func parseAnd() throws(PathSyntaxError) -> FilterExpression {
        var lhs = try parseUnary()
        while true {
            skipSpaces()
            guard match("&&") else { return lhs }
            lhs = .and(lhs, try parseUnary())
        }
    }

    mutating func parseUnary() throws(PathSyntaxError) -> FilterExpression {
        skipSpaces()
        if current == "!", pos + 1 < chars.count, chars[pos + 1] != "=" {
            pos += 1
            return .not(try parseUnary())
        }
        if current == "(" {
            pos += 1
            let e = try parseOr()
            skipSpaces()
            try expect(")")
            return e
        }
        let lhs = try parseOperand()
        skipSpaces()
        let ops: [(String, FilterExpression.Comparison)] = [
            ("==", .eq), ("!=", .ne), ("<=", .le), (">=", .ge), ("<", .lt), (">", .gt),
        ]
        for (token, op) in ops where match(token) {
            skipSpaces()
            return .compare(lhs, op, try parseOperand())
        }
        return .exists(lhs)
    }

    mutating func match(_ token: String) -> Bool {
        let t = Array(token)
        guard pos + t.count <= chars.count, Array(chars[pos..<pos + t.count]) == t else { return false }
        pos += t.count
        return true
    }

    mutating func parseOperand() throws(PathSyntaxError) -> FilterExpression.Operand {
        skipSpaces()
        guard let c = current else { throw fail("missing operand in filter") }
        switch c {
        case "@", "$":
            let start = pos
            pos += 1
            var depth = 0
            var quote: Character? = nil
            while let d = current {
                if let q = quote {
                    if d == q { quote = nil }
                } else if d == "'" || d == "\"" {
                    quote = d
                } else if d == "[" {
                    depth += 1
                } else if d == "]" {
                    if depth == 0 { break }
                    depth -= 1
                } else if depth == 0, " =!<>&|)".contains(d) {
                    break
                }
                pos += 1
            }
            var sub = String(chars[start..<pos])
            let isCurrent = c == "@"
            if isCurrent { sub = "$" + sub.dropFirst() }
            let path = try JSONPath.parse(sub)
            guard path.root == .input || !isCurrent else { throw fail("invalid '@' path") }
            return isCurrent ? .current(path) : .root(path)
        case "'", "\"":
            return .literal(.string(try parseQuoted()))
        default:
            let start = pos
            while let d = current, d.isLetter || d.isNumber || d == "-" || d == "+" || d == "." { pos += 1 }
            let word = String(chars[start..<pos])
            switch word {
            case "true": return .literal(.bool(true))
            case "false": return .literal(.bool(false))
            case "null": return .literal(.null)
            default:
                if let i = Int(word) { return .literal(.int(i)) }
                if let d = Double(word) { return .literal(.double(d)) }
                throw fail("invalid operand '\(word)' in filter")
            }
        }
    }
}

// MARK: - Reference paths

/// A reference path, as ResultPath takes it: `$`, `$.a.b`, `$['a']`, `$.a[0]`.
public struct ReferencePath: Sendable, Hashable, CustomStringConvertible {
    enum Step: Sendable, Hashable {
        case member(String)
        case index(Int)
    }

    let steps: [Step]
    public let description: String

    public static func parse(_ text: String) throws(PathSyntaxError) -> ReferencePath {
        let path = try JSONPath.parse(text)
        guard path.root == .input else {
            throw PathSyntaxError("Invalid reference path '\(text)': it must start with '$'")
        }
        var steps: [Step] = []
        for s in path.steps {
            switch s {
            case .member(let k): steps.append(.member(k))
            case .index(let i) where i >= 0: steps.append(.index(i))
            default: throw PathSyntaxError("Invalid reference path '\(text)': it must select a single node")
            }
        }
        return ReferencePath(steps: steps, description: text)
    }

    /// Puts `value` at this path inside `target`, creating missing intermediate objects.
    public func assign(_ value: JSON, into target: JSON) throws(ExecutionError) -> JSON {
        if steps.isEmpty { return value }
        var result = target
        guard put(value, into: &result, at: 0) else {
            throw .resultPathMatchFailure("Unable to apply ReferencePath \(description) to input \(target.serialized)")
        }
        return result
    }

    private func put(_ value: JSON, into node: inout JSON, at i: Int) -> Bool {
        if i == steps.count {
            node = value
            return true
        }
        switch steps[i] {
        case .member(let key):
            guard case .object(var o) = node else { return false }
            node = .null  // keep the object's storage uniquely referenced
            var child: JSON
            if i + 1 == steps.count {
                child = value
            } else {
                child = o[key] ?? .object(JSONObject())
                if o[key] != nil { o[key] = .null }
                guard put(value, into: &child, at: i + 1) else {
                    return false
                }
            }
            o[key] = child
            node = .object(o)
            return true
        case .index(let idx):
            guard case .array(var a) = node, idx < a.count else { return false }
            node = .null
            var child = a[idx]
            a[idx] = .null
            guard put(value, into: &child, at: i + 1) else { return false }
            a[idx] = child
            node = .array(a)
            return true
        }
    }
}
