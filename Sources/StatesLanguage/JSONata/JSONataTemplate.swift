import Foundation

/// A JSONata-mode field value: JSON in which strings of the form `{% expression %}` are
/// JSONata expressions, parsed once when the machine is compiled.
public struct JSONataTemplate: Sendable {
    indirect enum Node: Sendable {
        case constant(JSON)
        case expression(JSONataExpression)
        case array([Node])
        case object([(String, Node)])
    }
    let root: Node

    public init(_ value: JSON) throws(JSONataError) {
        root = try Self.compile(value)
    }

    /// The expression a string holds, or nil when it is a plain string.
    static func expressionText(_ s: String) -> String? {
        guard s.hasPrefix("{%"), s.hasSuffix("%}"), s.count >= 4 else { return nil }
        return String(s.dropFirst(2).dropLast(2))
    }

    static func compile(_ value: JSON) throws(JSONataError) -> Node {
        switch value {
        case .string(let s):
            guard let text = expressionText(s) else { return .constant(value) }
            return .expression(try JSONataExpression(text))
        case .array(let items):
            var nodes: [Node] = []
            var dynamic = false
            for i in items {
                let n = try compile(i)
                if case .constant = n {} else { dynamic = true }
                nodes.append(n)
            }
            return dynamic ? .array(nodes) : .constant(value)
        case .object(let o):
            var members: [(String, Node)] = []
            var dynamic = false
            for (k, v) in o.pairs {
                let n = try compile(v)
                if case .constant = n {} else { dynamic = true }
                members.append((k, n))
            }
            return dynamic ? .object(members) : .constant(value)
        default:
            return .constant(value)
        }
    }

    public var isConstant: Bool {
        if case .constant = root { return true }
        return false
    }

    /// The single expression this template is, if it is one.
    var expression: JSONataExpression? {
        if case .expression(let e) = root { return e }
        return nil
    }

    /// Evaluates the template; `field` and `state` name it in error causes.
    func evaluate(in scope: JSONataScope, field: String, state: String) throws(ExecutionError) -> JSON {
        try Self.evaluate(root, scope, field: field, state: state)
    }

    /// `field` grows with the members it descends into (`Output/result`), as AWS names the field
    /// of a failing expression.
    private static func evaluate(_ node: Node, _ scope: JSONataScope, field: String, state: String) throws(ExecutionError) -> JSON {
        switch node {
        case .constant(let v): return v
        case .array(let items):
            var out: [JSON] = []
            out.reserveCapacity(items.count)
            for (i, item) in items.enumerated() { out.append(try evaluate(item, scope, field: "\(field)/\(i)", state: state)) }
            return .array(out)
        case .object(let members):
            var out = JSONObject()
            out.reserveCapacity(members.count)
            for (k, n) in members { out[k] = try evaluate(n, scope, field: "\(field)/\(k)", state: state) }
            return .object(out)
        case .expression(let e):
            let value: JSONataValue?
            let text = e.source.trimmingCharacters(in: .whitespacesAndNewlines)
            do { value = try scope.evaluate(e) } catch {
                throw ExecutionError.queryEvaluationError(
                    "An error occurred while executing the state '\(state)'. The JSONata expression '\(text)' specified for the field '\(field)' threw an error during evaluation. \(error.code): \(error.message)")
            }
            guard let value else {
                throw ExecutionError.queryEvaluationError(
                    "An error occurred while executing the state '\(state)'. The JSONata expression '\(text)' specified for the field '\(field)' returned nothing (undefined).")
            }
            guard let json = value.toJSON() else {
                throw ExecutionError.queryEvaluationError(
                    "An error occurred while executing the state '\(state)'. The JSONata expression '\(text)' specified for the field '\(field)' returned an unsupported result type.")
            }
            return json
        }
    }

    /// The expression's text without its delimiters and surrounding blanks, when the template is one.
    var expressionText: String? {
        expression?.source.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// What JSONata expressions of one state see: `$states` and the execution's variables.
struct JSONataScope {
    var states: JSONObject
    var variables: [String: JSON]
    var random: @Sendable () -> UInt64
    var now: Date

    func evaluate(_ e: JSONataExpression) throws(JSONataError) -> JSONataValue? {
        var statesValue: JSONataValue?
        let states = self.states
        let variables = self.variables
        let root = JSONataFrame(parent: nil) { name in
            if name == "states" {
                if statesValue == nil { statesValue = JSONataValue(.object(states)) }
                return statesValue
            }
            if let v = variables[name] { return JSONataValue(v) }
            return JSONataFunctions.table[name].map { .function($0) }
        }
        let evaluator = JSONataEvaluator(random: random, now: now)
        return try evaluator.evaluate(e, input: nil, root: root)
    }
}
