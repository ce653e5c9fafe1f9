import Foundation

/// A JSONata value. JSONata numbers are doubles; "undefined" (nothing) is Swift's nil, so
/// evaluation returns `JSONataValue?`.
indirect enum JSONataValue {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array(JSONataArray)
    case object(JSONataObject)
    case function(JSONataFunction)
}

/// An array, or a sequence (JSONata's flattening result list) when `sequence` is set.
struct JSONataArray {
    var items: [JSONataValue]
    /// A sequence: collapses to its item when it holds one, to nothing when empty.
    var sequence = false
    /// A sequence that stays an array even with one item (`a[]`).
    var keepSingleton = false
    /// Built by an array constructor: path steps do not flatten it.
    var cons = false

    init(_ items: [JSONataValue] = [], sequence: Bool = false) {
        self.items = items
        self.sequence = sequence
    }
}

/// An object that keeps its keys in insertion order.
struct JSONataObject {
    private(set) var keys: [String] = []
    private var values: [String: JSONataValue] = [:]

    init() {}

    subscript(key: String) -> JSONataValue? {
        get { values[key] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    var count: Int { keys.count }
    var pairs: [(String, JSONataValue)] { keys.map { ($0, values[$0]!) } }
}

/// A callable: a lambda closing over its environment, or a built-in function.
final class JSONataFunction {
    enum Body {
        case lambda(params: [String], body: JSONataNode, env: JSONataFrame, input: JSONataValue?)
        case native(([JSONataValue?], JSONataCall) throws(JSONataError) -> JSONataValue?)
        case regex(NSRegularExpression)
        case partial(JSONataFunction, [JSONataValue??])
    }
    let name: String
    let body: Body
    /// How many arguments higher-order functions pass to it.
    let arity: Int

    init(name: String, arity: Int, body: Body) {
        self.name = name
        self.arity = arity
        self.body = body
    }
}

/// What a built-in sees besides its arguments.
struct JSONataCall {
    let evaluator: JSONataEvaluator
    let input: JSONataValue?
    let env: JSONataFrame
}

/// A JSONata runtime error: a JSONata error code and message.
public struct JSONataError: Error, Sendable, CustomStringConvertible {
    public var code: String
    public var message: String
    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }
}

/// A scope of variable bindings.
final class JSONataFrame {
    var bindings: [String: JSONataValue] = [:]
    let parent: JSONataFrame?
    /// Root frames resolve unknown names here (Step Functions variables, `$states`).
    let external: ((String) -> JSONataValue?)?

    init(parent: JSONataFrame?, external: ((String) -> JSONataValue?)? = nil) {
        self.parent = parent
        self.external = external
    }

    func lookup(_ name: String) -> JSONataValue? {
        var f: JSONataFrame? = self
        while let frame = f {
            if let v = frame.bindings[name] { return v }
            if let ext = frame.external, let v = ext(name) { return v }
            f = frame.parent
        }
        return nil
    }

    func bind(_ name: String, _ value: JSONataValue?) {
        bindings[name] = value
        if value == nil { bindings.removeValue(forKey: name) }
    }
}

extension JSONataValue {
    init(_ json: JSON) {
        switch json {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .number(Double(i))
        case .double(let d): self = .number(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(JSONataArray(a.map(JSONataValue.init)))
        case .object(let o):
            var obj = JSONataObject()
            for (k, v) in o.pairs { obj[k] = JSONataValue(v) }
            self = .object(obj)
        }
    }

    /// The JSON form; nil when the value holds a function.
    func toJSON() -> JSON? {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number(let d): return .number(d)
        case .string(let s): return .string(s)
        case .array(let a):
            var out: [JSON] = []
            out.reserveCapacity(a.items.count)
            for v in a.items {
                if case .function = v { continue }
                guard let j = v.toJSON() else { return nil }
                out.append(j)
            }
            return .array(out)
        case .object(let o):
            var out = JSONObject()
            for (k, v) in o.pairs {
                if case .function = v { continue }
                guard let j = v.toJSON() else { return nil }
                out[k] = j
            }
            return .object(out)
        case .function: return nil
        }
    }

    var isFunction: Bool {
        if case .function = self { return true }
        return false
    }

    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        case .function: return "function"
        }
    }

    static func sequence(_ items: [JSONataValue]) -> JSONataValue {
        .array(JSONataArray(items, sequence: true))
    }
}

/// JSONata deep equality.
func jsonataEqual(_ a: JSONataValue?, _ b: JSONataValue?) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case (.null?, .null?): return true
    case (.bool(let x)?, .bool(let y)?): return x == y
    case (.number(let x)?, .number(let y)?): return x == y
    case (.string(let x)?, .string(let y)?): return x == y
    case (.array(let x)?, .array(let y)?):
        guard x.items.count == y.items.count else { return false }
        for i in x.items.indices where !jsonataEqual(x.items[i], y.items[i]) { return false }
        return true
    case (.object(let x)?, .object(let y)?):
        guard x.count == y.count else { return false }
        for (k, v) in x.pairs where !jsonataEqual(v, y[k]) { return false }
        return true
    case (.function(let x)?, .function(let y)?): return x === y
    default: return false
    }
}
