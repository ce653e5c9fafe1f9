import Foundation

/// A compiled payload template: the value of Parameters, ResultSelector, ItemSelector, the legacy
/// Map Parameters, or a JSONPath-mode Assign.
///
/// Keys ending in `.$` take a path (`$.x`, `$$.x`, `$var.x`) or an intrinsic function call, and
/// lose their `.$` in the output. Objects nested in objects or arrays are templates too. Parts
/// without any `.$` key are kept as constants and returned as they are.
public struct PayloadTemplate: Sendable, Hashable {
    let root: TemplateNode
    let source: JSON

    public init(_ template: JSON) throws(PathSyntaxError) {
        self.source = template
        self.root = try TemplateNode.compile(template, location: "")
    }

    public static func == (lhs: PayloadTemplate, rhs: PayloadTemplate) -> Bool { lhs.source == rhs.source }
    public func hash(into hasher: inout Hasher) { hasher.combine(source) }

    /// Whether the template holds no path or intrinsic at all (its value is the template itself).
    public var isConstant: Bool {
        if case .constant = root { return true }
        return false
    }

    public func evaluate(in scope: EvaluationScope) throws(ExecutionError) -> JSON {
        try root.evaluate(in: scope)
    }
}

extension TemplateNode.Member {
    func evaluate(in scope: EvaluationScope) throws(ExecutionError) -> JSON {
        switch dynamic {
        case .path(let p)?:
            guard let v = p.evaluate(in: scope) else {
                throw .runtime(
                    "The JSONPath '\(p.description)' specified for the field '\(field)' could not be found in the input '\(scope.input.serialized)'"
                )
            }
            return v
        case .intrinsic(let f)?:
            return try f.evaluate(in: scope, field: field)
        case nil:
            return try node?.evaluate(in: scope) ?? .null
        }
    }
}

indirect enum TemplateNode: Sendable {
    enum Dynamic: Sendable {
        case path(JSONPath)
        case intrinsic(IntrinsicExpression)
    }
    struct Member: Sendable {
        var key: String  // output key, `.$` dropped
        var field: String  // the key as written, for error causes
        var node: TemplateNode?  // nil when `dynamic` is set
        var dynamic: Dynamic?
    }

    case constant(JSON)
    /// `keys` holds the output keys when they are distinct, so that every evaluation shares one
    /// key array and builds only the values.
    case object([Member], keys: [String]?)
    case array([TemplateNode])

    static func compile(_ value: JSON, location: String) throws(PathSyntaxError) -> TemplateNode {
        switch value {
        case .object(let o):
            var members: [Member] = []
            members.reserveCapacity(o.count)
            var dynamic = false
            for (k, v) in o.pairs {
                if k.hasSuffix(".$") {
                    guard case .string(let text) = v else {
                        throw PathSyntaxError(
                            "The value for the field '\(k)' must be a valid JSONPath or a valid intrinsic function call")
                    }
                    let d: Dynamic
                    do {
                        if IntrinsicExpression.looksLikeCall(text) {
                            d = .intrinsic(try IntrinsicExpression.parse(text))
                        } else {
                            d = .path(try JSONPath.parse(text))
                        }
                    } catch {
                        throw PathSyntaxError(
                            "The value for the field '\(k)' must be a valid JSONPath or a valid intrinsic function call: \(error.message)"
                        )
                    }
                    members.append(Member(key: String(k.dropLast(2)), field: k, node: nil, dynamic: d))
                    dynamic = true
                } else {
                    let node = try compile(v, location: location + "/" + k)
                    if case .constant = node {} else { dynamic = true }
                    members.append(Member(key: k, field: k, node: node, dynamic: nil))
                }
            }
            let keys = members.map(\.key)
            return dynamic ? .object(members, keys: Set(keys).count == keys.count ? keys : nil) : .constant(value)
        case .array(let a):
            var nodes: [TemplateNode] = []
            nodes.reserveCapacity(a.count)
            var dynamic = false
            for v in a {
                let node = try compile(v, location: location)
                if case .constant = node {} else { dynamic = true }
                nodes.append(node)
            }
            return dynamic ? .array(nodes) : .constant(value)
        default:
            return .constant(value)
        }
    }

    func evaluate(in scope: EvaluationScope) throws(ExecutionError) -> JSON {
        switch self {
        case .constant(let v): return v
        case .array(let nodes):
            var out: [JSON] = []
            out.reserveCapacity(nodes.count)
            for n in nodes { out.append(try n.evaluate(in: scope)) }
            return .array(out)
        case .object(let members, let keys?):
            var values: [JSON] = []
            values.reserveCapacity(members.count)
            for m in members { values.append(try m.evaluate(in: scope)) }
            return .object(JSONObject(uniqueKeys: keys, values: values))
        case .object(let members, nil):
            var o = JSONObject()
            o.reserveCapacity(members.count)
            for m in members { o.append(m.key, try m.evaluate(in: scope)) }
            return .object(o)
        }
    }
}
