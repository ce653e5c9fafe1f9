public import StatesLanguage
internal import Yams

/// A YAML document that could not be read, with where the problem is (1-based line and column,
/// columns counted in Unicode scalars as libyaml counts them).
public struct YAMLSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var location: SourceLocation

    public init(message: String, location: SourceLocation) {
        self.message = message
        self.location = location
    }

    public var description: String { "\(location.line):\(location.column): \(message)" }
}

/// A JSON or YAML definition that could not be read: `FILE:LINE:COL: error: MESSAGE`.
public struct DocumentSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var fileName: String
    public var message: String
    public var location: SourceLocation

    public init(fileName: String, message: String, location: SourceLocation) {
        self.fileName = fileName
        self.message = message
        self.location = location
    }

    public var description: String { "\(fileName):\(location.line):\(location.column): error: \(message)" }

    /// The same problem as a located diagnostic about the whole document.
    public var diagnostic: Diagnostic {
        Diagnostic(.error, message, at: [], location: location)
    }
}

/// Reads YAML documents into the engine's JSON values, recording where every member came from.
///
/// Scalars follow the YAML 1.2 core schema, not YAML 1.1: only `true`/`false` (and their
/// capitalised forms) are booleans, so `on`, `yes` and `no` stay strings, which matters for a
/// key named `on`. `null`, `~` and an empty value are null; decimal, `0o` octal and `0x`
/// hexadecimal integers are integers; decimal floats are doubles; anything quoted, or written as
/// a literal or folded block, is a string. `.inf` and `.nan` have no JSON form and are errors.
/// Mapping keys must be scalars and are kept as their text. Anchors and aliases are resolved, as
/// are `<<` merge keys (explicit members win over merged ones, earlier merged mappings over later
/// ones). A stream with more than one document, or a mapping with a key twice, is an error.
public enum YAMLLoader {
    /// More nodes than this after alias expansion is refused (a "billion laughs" guard).
    static let maxNodes = 200_000
    /// Deeper nesting than this is refused (libyaml itself stops at 1000).
    static let maxDepth = 512

    /// Parses one YAML document into JSON values with positions.
    public static func parseDocument(_ text: String, fileName: String) throws(YAMLSyntaxError) -> SourceDocument {
        let root: Node?
        do {
            root = try Parser(yaml: text, resolver: .basic, constructor: .default, encoding: .utf8).singleRoot()
        } catch let error as YamlError {
            throw syntaxError(from: error, text: text)
        } catch {
            throw YAMLSyntaxError(message: "\(error)", location: SourceLocation(line: 1, column: 1))
        }
        guard let root else {
            throw YAMLSyntaxError(message: "empty document: expected a YAML value", location: SourceLocation(line: 1, column: 1))
        }
        // Aliases can make a small text expand into a huge tree; measure before building it.
        var sizes: [String: Int] = [:]
        if expandedSize(root, memo: &sizes, depth: 0) > maxNodes {
            throw YAMLSyntaxError(
                message: "document too large: more than \(maxNodes) values after expanding aliases",
                location: SourceLocation(line: max(1, root.mark?.line ?? 1), column: max(1, root.mark?.column ?? 1)))
        }
        var converter = Converter()
        let value = try converter.convert(root, path: [], key: nil, depth: 0)
        return SourceDocument(fileName: fileName, value: value, sourceMap: converter.map)
    }

    /// Parses a definition or configuration file, choosing the syntax by the file's extension:
    /// `.json` is JSON, `.yaml` and `.yml` are YAML; any other name is read as JSON when its
    /// first non-blank character is `{` or `[`, and as YAML otherwise.
    public static func parseDefinition(_ text: String, fileName: String) throws(DocumentSyntaxError) -> SourceDocument {
        if isJSON(text, fileName: fileName) {
            do {
                return try JSONParser.parseDocument(text, fileName: fileName)
            } catch {
                throw DocumentSyntaxError(fileName: fileName, message: error.message, location: error.location)
            }
        }
        do {
            return try parseDocument(text, fileName: fileName)
        } catch {
            throw DocumentSyntaxError(fileName: fileName, message: error.message, location: error.location)
        }
    }

    /// The number of values `node` stands for once aliases are expanded, capped just above
    /// `maxNodes`. Subtrees are remembered by position and kind, so an alias repeated a million
    /// times is measured once.
    static func expandedSize(_ node: Node, memo: inout [String: Int], depth: Int) -> Int {
        let cap = maxNodes + 1
        guard depth <= maxDepth else { return 1 }
        let children: [Node]
        let kind: String
        switch node {
        case .scalar, .alias: return 1
        case .sequence(let s):
            children = Array(s)
            kind = "s"
        case .mapping(let m):
            children = m.flatMap { [$0.key, $0.value] }
            kind = "m"
        }
        let id = node.mark.map { "\(kind)\($0.line):\($0.column)" }
        if let id, let known = memo[id] { return known }
        var total = 1
        for child in children {
            total = min(cap, total + expandedSize(child, memo: &memo, depth: depth + 1))
            if total >= cap { break }
        }
        if let id { memo[id] = total }
        return total
    }

    static func isJSON(_ text: String, fileName: String) -> Bool {
        let lower = fileName.lowercased()
        if lower.hasSuffix(".json") { return true }
        if lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") { return false }
        for scalar in text.unicodeScalars {
            switch scalar {
            case " ", "\t", "\n", "\r", "\u{FEFF}": continue
            case "{", "[": return true
            default: return false
            }
        }
        return false
    }

    // MARK: - Errors from Yams

    static func syntaxError(from error: YamlError, text: String) -> YAMLSyntaxError {
        func located(_ message: String, _ mark: Mark) -> YAMLSyntaxError {
            YAMLSyntaxError(message: message, location: SourceLocation(line: max(1, mark.line), column: max(1, mark.column)))
        }
        func describe(_ context: YamlError.Context?, _ problem: String) -> String {
            guard let context else { return problem }
            return "\(problem) (\(context.text) at \(context.mark.line):\(context.mark.column))"
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _):
            return located(describe(context, problem), mark)
        case .composer(let context, let problem, let mark, _):
            if problem == "but found another document" {
                return located("a file holds one YAML document, but found another document", mark)
            }
            return located(describe(context, problem), mark)
        case .reader(let problem, let offset, _, _):
            return YAMLSyntaxError(message: problem, location: location(ofCharacterOffset: offset ?? 0, in: text))
        case .duplicatedKeysInMapping(let duplicates, let context):
            let key = duplicates.first ?? ""
            let first = SourceLocation(line: max(1, context.mark.line), column: max(1, context.mark.column))
            let second = secondOccurrence(of: key, firstAt: first, in: text) ?? first
            return YAMLSyntaxError(message: "duplicate key '\(key)'", location: second)
        default:
            return YAMLSyntaxError(message: "\(error)", location: SourceLocation(line: 1, column: 1))
        }
    }

    /// Where the `offset`th Character of `text` is.
    static func location(ofCharacterOffset offset: Int, in text: String) -> SourceLocation {
        var line = 1
        var column = 1
        var seen = 0
        for ch in text {
            if seen >= offset { break }
            seen += 1
            if ch == "\n" || ch == "\r\n" || ch == "\r" {
                line += 1
                column = 1
            } else {
                column += ch.unicodeScalars.count
            }
        }
        return SourceLocation(line: line, column: column)
    }

    /// Yams reports a duplicate key at its first occurrence; diagnostics point at the second.
    /// The first key is renamed in a copy of the text, which is parsed again to find the
    /// mapping that held it and the other key of the same name there. Nil when that fails.
    static func secondOccurrence(of key: String, firstAt mark: SourceLocation, in text: String) -> SourceLocation? {
        let marker = "zz-stepgate-duplicate-zz-"
        var scalars = Array(text.unicodeScalars)
        guard let start = scalarOffset(line: mark.line, column: mark.column, in: scalars), start < scalars.count else {
            return nil
        }
        var insertAt = start
        if scalars[start] == "\"" || scalars[start] == "'" { insertAt += 1 }
        scalars.insert(contentsOf: marker.unicodeScalars, at: insertAt)
        var renamed = String.UnicodeScalarView()
        renamed.append(contentsOf: scalars)
        let shift = marker.unicodeScalars.count
        func adjusted(_ m: Mark) -> SourceLocation {
            if m.line == mark.line, m.column > mark.column { return SourceLocation(line: m.line, column: m.column - shift) }
            return SourceLocation(line: m.line, column: m.column)
        }
        do {
            guard let root = try Parser(yaml: String(renamed), resolver: .basic, encoding: .utf8).singleRoot() else {
                return nil
            }
            return findSibling(of: marker + key, original: key, in: root, depth: 0).map { adjusted($0) }
        } catch YamlError.duplicatedKeysInMapping(let duplicates, let context) where duplicates.contains(key) {
            // A third occurrence: the second one is now the first Yams sees.
            return adjusted(context.mark)
        } catch {
            return nil
        }
    }

    private static func findSibling(of renamed: String, original: String, in node: Node, depth: Int) -> Mark? {
        guard depth < maxDepth else { return nil }
        switch node {
        case .mapping(let mapping):
            if mapping.contains(where: { $0.key.scalar?.string == renamed }) {
                return mapping.first(where: { $0.key.scalar?.string == original })?.key.mark
            }
            for (k, v) in mapping {
                if let m = findSibling(of: renamed, original: original, in: k, depth: depth + 1) { return m }
                if let m = findSibling(of: renamed, original: original, in: v, depth: depth + 1) { return m }
            }
            return nil
        case .sequence(let sequence):
            for element in sequence {
                if let m = findSibling(of: renamed, original: original, in: element, depth: depth + 1) { return m }
            }
            return nil
        default:
            return nil
        }
    }

    /// The index in `scalars` of a 1-based line and column, counting line breaks as libyaml does.
    static func scalarOffset(line: Int, column: Int, in scalars: [Unicode.Scalar]) -> Int? {
        var l = 1
        var i = 0
        while l < line {
            guard i < scalars.count else { return nil }
            let s = scalars[i]
            i += 1
            if s == "\r" {
                if i < scalars.count, scalars[i] == "\n" { i += 1 }
                l += 1
            } else if s == "\n" || s == "\u{85}" || s == "\u{2028}" || s == "\u{2029}" {
                l += 1
            }
        }
        let target = i + column - 1
        return target <= scalars.count ? target : nil
    }
}

// MARK: - Nodes to JSON

private struct Converter {
    var map = SourceMap()
    var nodes = 0

    static let core = "tag:yaml.org,2002:"

    mutating func convert(_ node: Node, path: [PathComponent], key: SourceLocation?, depth: Int) throws(YAMLSyntaxError) -> JSON {
        let here = Self.location(node.mark)
        map.record(path, key: key, value: here)
        nodes += 1
        if nodes > YAMLLoader.maxNodes {
            throw YAMLSyntaxError(message: "document too large: more than \(YAMLLoader.maxNodes) values after expanding aliases", location: here)
        }
        if depth > YAMLLoader.maxDepth {
            throw YAMLSyntaxError(message: "document nested more than \(YAMLLoader.maxDepth) levels deep", location: here)
        }
        switch node {
        case .scalar(let scalar):
            return try Self.scalarValue(scalar, at: here)
        case .alias:
            // Yams resolves aliases while composing; an unresolved one is an error.
            throw YAMLSyntaxError(message: "unresolved alias", location: here)
        case .sequence(let sequence):
            var array: [JSON] = []
            array.reserveCapacity(sequence.count)
            var p = path
            for element in sequence {
                p.append(.index(array.count))
                array.append(try convert(element, path: p, key: nil, depth: depth + 1))
                p.removeLast()
            }
            return .array(array)
        case .mapping(let mapping):
            let members = try effectiveMembers(of: mapping, depth: depth)
            var object = JSONObject()
            object.reserveCapacity(members.count)
            var p = path
            for member in members {
                p.append(.key(member.key))
                object.append(member.key, try convert(member.value, path: p, key: member.keyLocation, depth: depth + 1))
                p.removeLast()
            }
            return .object(object)
        }
    }

    struct Member {
        var key: String
        var keyLocation: SourceLocation
        var value: Node
    }

    /// A mapping's members in order, with `<<` merge keys expanded in place.
    mutating func effectiveMembers(of mapping: Node.Mapping, depth: Int) throws(YAMLSyntaxError) -> [Member] {
        guard depth <= YAMLLoader.maxDepth else {
            throw YAMLSyntaxError(message: "document nested more than \(YAMLLoader.maxDepth) levels deep", location: Self.location(mapping.mark))
        }
        var explicit = Set<String>()
        for (k, _) in mapping where !Self.isMergeKey(k) {
            if let s = k.scalar { explicit.insert(s.string) }
        }
        var members: [Member] = []
        var present = Set<String>()
        for (k, v) in mapping {
            if Self.isMergeKey(k) {
                let sources: [Node]
                switch v {
                case .mapping: sources = [v]
                case .sequence(let seq): sources = Array(seq)
                default:
                    throw YAMLSyntaxError(message: "a '<<' merge key needs a mapping or a list of mappings", location: Self.location(v.mark))
                }
                for source in sources {
                    guard case .mapping(let merged) = source else {
                        throw YAMLSyntaxError(message: "a '<<' merge key needs a mapping or a list of mappings", location: Self.location(source.mark))
                    }
                    nodes += 1
                    if nodes > YAMLLoader.maxNodes {
                        throw YAMLSyntaxError(message: "document too large: more than \(YAMLLoader.maxNodes) values after expanding aliases", location: Self.location(source.mark))
                    }
                    for m in try effectiveMembers(of: merged, depth: depth + 1)
                    where !explicit.contains(m.key) && !present.contains(m.key) {
                        members.append(m)
                        present.insert(m.key)
                    }
                }
                continue
            }
            guard case .scalar(let keyScalar) = k else {
                throw YAMLSyntaxError(message: "mapping keys must be strings, found a \(Self.kind(of: k))", location: Self.location(k.mark))
            }
            members.append(Member(key: keyScalar.string, keyLocation: Self.location(k.mark), value: v))
            present.insert(keyScalar.string)
        }
        return members
    }

    static func isMergeKey(_ node: Node) -> Bool {
        guard case .scalar(let s) = node else { return false }
        // Yams resolves (and so rewrites) the tags of mapping keys while checking for duplicates,
        // so an untagged plain `<<` may carry the `str` tag by now.
        let tag = s.tag.rawValue
        return s.string == "<<" && s.style == .plain && (tag.isEmpty || tag == core + "merge" || tag == core + "str")
    }

    static func kind(of node: Node) -> String {
        switch node {
        case .scalar: return "scalar"
        case .mapping: return "mapping"
        case .sequence: return "sequence"
        case .alias: return "alias"
        }
    }

    static func location(_ mark: Mark?) -> SourceLocation {
        guard let mark else { return SourceLocation(line: 1, column: 1) }
        return SourceLocation(line: max(1, mark.line), column: max(1, mark.column))
    }

    // MARK: Scalars (YAML 1.2 core schema)

    static func scalarValue(_ scalar: Node.Scalar, at location: SourceLocation) throws(YAMLSyntaxError) -> JSON {
        let text = scalar.string
        let tag = scalar.tag.rawValue
        let plain = scalar.style == .plain || scalar.style == .any
        if tag.isEmpty || tag == "!" {
            // No tag: plain scalars are resolved, everything else is a string. (libyaml gives
            // quoted scalars the `str` tag; "!" is the non-specific tag, also a string.)
            guard plain, tag.isEmpty else { return .string(text) }
            return try resolvePlain(text, at: location)
        }
        switch tag {
        case core + "str":
            return .string(text)
        case core + "null":
            guard isNull(text) else { throw mismatch(text, "null", location) }
            return .null
        case core + "bool":
            guard let b = bool(text) else { throw mismatch(text, "bool", location) }
            return .bool(b)
        case core + "int":
            guard let i = integer(text) else { throw mismatch(text, "int", location) }
            return i
        case core + "float":
            if let i = integer(text), let d = i.doubleValue { return .double(d) }
            guard let f = try float(text, at: location) else { throw mismatch(text, "float", location) }
            return f
        default:
            throw YAMLSyntaxError(message: "unsupported YAML tag '\(tag)'", location: location)
        }
    }

    static func mismatch(_ text: String, _ type: String, _ location: SourceLocation) -> YAMLSyntaxError {
        YAMLSyntaxError(message: "'\(text)' is not a valid !!\(type)", location: location)
    }

    static func resolvePlain(_ text: String, at location: SourceLocation) throws(YAMLSyntaxError) -> JSON {
        if isNull(text) { return .null }
        if let b = bool(text) { return .bool(b) }
        if let i = integer(text) { return i }
        if let f = try float(text, at: location) { return f }
        return .string(text)
    }

    static func isNull(_ text: String) -> Bool {
        text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
    }

    static func bool(_ text: String) -> Bool? {
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: return nil
        }
    }

    /// `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`; decimal integers too large for Int become doubles.
    static func integer(_ text: String) -> JSON? {
        let u = Array(text.utf8)
        guard !u.isEmpty else { return nil }
        if u.count > 2, u[0] == UInt8(ascii: "0"), u[1] == UInt8(ascii: "o") || u[1] == UInt8(ascii: "x") {
            let radix = u[1] == UInt8(ascii: "o") ? 8 : 16
            guard let v = Int(String(decoding: u[2...], as: UTF8.self), radix: radix),
                !u[2...].contains(UInt8(ascii: "-")), !u[2...].contains(UInt8(ascii: "+"))
            else { return nil }
            return .int(v)
        }
        var i = 0
        if u[0] == UInt8(ascii: "-") || u[0] == UInt8(ascii: "+") { i = 1 }
        guard i < u.count, u[i...].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        if let v = Int(text) { return .int(v) }
        return Double(text).map { .double($0) }
    }

    /// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`; `.inf` and `.nan` are refused.
    static func float(_ text: String, at location: SourceLocation) throws(YAMLSyntaxError) -> JSON? {
        let u = Array(text.utf8)
        var i = 0
        if i < u.count, u[i] == UInt8(ascii: "-") || u[i] == UInt8(ascii: "+") { i += 1 }
        let rest = String(decoding: u[i...], as: UTF8.self)
        if [".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"].contains(rest) {
            throw YAMLSyntaxError(message: "'\(text)' has no JSON equivalent; quote it to make it a string", location: location)
        }
        func digits() -> Int {
            let start = i
            while i < u.count, u[i] >= UInt8(ascii: "0"), u[i] <= UInt8(ascii: "9") { i += 1 }
            return i - start
        }
        let intDigits = digits()
        var fracDigits = 0
        if i < u.count, u[i] == UInt8(ascii: ".") {
            i += 1
            fracDigits = digits()
        } else if intDigits == 0 {
            return nil
        }
        guard intDigits > 0 || fracDigits > 0 else { return nil }
        if i < u.count, u[i] == UInt8(ascii: "e") || u[i] == UInt8(ascii: "E") {
            i += 1
            if i < u.count, u[i] == UInt8(ascii: "-") || u[i] == UInt8(ascii: "+") { i += 1 }
            guard digits() > 0 else { return nil }
        }
        guard i == u.count, let d = Double(text.hasPrefix("+") ? String(text.dropFirst()) : text), d.isFinite else {
            return nil
        }
        return .double(d)
    }
}
