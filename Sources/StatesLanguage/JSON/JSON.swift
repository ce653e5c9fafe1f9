import Foundation

/// A JSON value as the States Language sees it.
///
/// Integers and doubles are kept apart so that output keeps the form it was written in
/// (`3` stays `3`, `3.5` stays `3.5`), but they compare and hash by numeric value, as
/// JSONPath comparisons and `States.ArrayUnique` need. Objects keep their key order,
/// because `States.JsonToString` and execution output print keys in insertion order.
public enum JSON: Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSON])
    case object(JSONObject)
}

extension JSON {
    /// The name AWS uses for this value's type in error causes.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    public var isNumber: Bool {
        switch self {
        case .int, .double: return true
        default: return false
        }
    }

    /// The numeric value of a number, or nil.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// The value of an integral number (`3` or `3.0`), or nil.
    public var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d):
            guard d.rounded() == d, abs(d) < 9.0e18 else { return nil }
            return Int(d)
        default: return nil
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var arrayValue: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Member lookup; nil when this is not an object or has no such key.
    public subscript(key: String) -> JSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// A number from a Double, as an integer when it is integral and fits.
    public static func number(_ d: Double) -> JSON {
        if d.rounded() == d, abs(d) < 9.0e15 { return .int(Int(d)) }
        return .double(d)
    }
}

extension JSON: Equatable {
    public static func == (lhs: JSON, rhs: JSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.int, .double), (.double, .int), (.double, .double):
            return lhs.doubleValue! == rhs.doubleValue!
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)): return a == b
        default: return false
        }
    }
}

extension JSON: Hashable {
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(b)
        case .int(let i): hasher.combine(Double(i))
        case .double(let d): hasher.combine(d)
        case .string(let s): hasher.combine(s)
        case .array(let a): hasher.combine(a)
        case .object(let o): hasher.combine(o)
        }
    }
}

extension JSON: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        var o = JSONObject()
        for (k, v) in elements { o[k] = v }
        self = .object(o)
    }
}

/// A JSON object that keeps its keys in insertion order.
///
/// Objects in state machines are small, so lookup is a linear scan over contiguous keys,
/// which beats hashing for the sizes seen in practice; a dictionary index is built only
/// for large objects.
public struct JSONObject: Sendable {
    /// Keys, values and the optional index live in one copy-on-write box, so that copying an
    /// object (which the interpreter does at every step) costs a single reference count.
    private final class Storage: @unchecked Sendable {
        // Mutated only through `JSONObject`'s mutating members after `makeUnique()`, so a
        // shared instance is never written to.
        var keys: [String]
        var values: [JSON]
        var index: [String: Int]?

        init(keys: [String] = [], values: [JSON] = [], index: [String: Int]? = nil) {
            self.keys = keys
            self.values = values
            self.index = index
        }

        static let empty = Storage()
    }

    private var storage: Storage

    private static let indexThreshold = 24

    public init() {
        storage = Storage.empty
    }

    public init(_ pairs: [(String, JSON)]) {
        self.init()
        reserveCapacity(pairs.count)
        for (k, v) in pairs { self[k] = v }
    }

    /// An object from keys known to be distinct and their values, in order (templates use it:
    /// their key array is built once and shared by every object they make).
    public init(uniqueKeys keys: [String], values: [JSON]) {
        precondition(keys.count == values.count, "one value per key")
        storage = Storage(keys: keys, values: values)
        if keys.count > Self.indexThreshold { rebuildIndex() }
    }

    public var keys: [String] { storage.keys }
    public var values: [JSON] { storage.values }
    public var count: Int { storage.keys.count }
    public var isEmpty: Bool { storage.keys.isEmpty }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            storage = Storage(keys: storage.keys, values: storage.values, index: storage.index)
        }
    }

    public mutating func reserveCapacity(_ n: Int) {
        makeUnique()
        storage.keys.reserveCapacity(n)
        storage.values.reserveCapacity(n)
    }

    public func position(of key: String) -> Int? {
        if let index = storage.index { return index[key] }
        let keys = storage.keys
        for i in keys.indices where keys[i] == key { return i }
        return nil
    }

    public subscript(key: String) -> JSON? {
        get {
            guard let i = position(of: key) else { return nil }
            return storage.values[i]
        }
        set {
            if let i = position(of: key) {
                makeUnique()
                if let newValue {
                    storage.values[i] = newValue
                } else {
                    storage.keys.remove(at: i)
                    storage.values.remove(at: i)
                    rebuildIndex()
                }
            } else if let newValue {
                makeUnique()
                storage.keys.append(key)
                storage.values.append(newValue)
                if storage.index != nil {
                    storage.index![key] = storage.keys.count - 1
                } else if storage.keys.count > Self.indexThreshold {
                    rebuildIndex()
                }
            }
        }
    }

    /// Appends a key known not to be present yet (parsers use it; duplicates keep the last value).
    public mutating func append(_ key: String, _ value: JSON) {
        self[key] = value
    }

    /// The members in order.
    public var pairs: Zip2Sequence<[String], [JSON]> { zip(storage.keys, storage.values) }

    private mutating func rebuildIndex() {
        guard storage.keys.count > Self.indexThreshold else {
            storage.index = nil
            return
        }
        var idx = [String: Int](minimumCapacity: storage.keys.count)
        for (i, k) in storage.keys.enumerated() { idx[k] = i }
        storage.index = idx
    }
}

extension JSONObject: Equatable {
    /// Objects are equal when they have the same members, whatever the order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (k, v) in lhs.pairs {
            guard let other = rhs[k], other == v else { return false }
        }
        return true
    }
}

extension JSONObject: Hashable {
    public func hash(into hasher: inout Hasher) {
        // Order-independent: combine the members' hashes commutatively.
        var acc = 0
        for (k, v) in pairs {
            var h = Hasher()
            h.combine(k)
            h.combine(v)
            acc ^= h.finalize()
        }
        hasher.combine(count)
        hasher.combine(acc)
    }
}
