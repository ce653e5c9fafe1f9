/// A position in a source text: 1-based line and column (columns count Unicode scalars).
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "\(line):\(column)" }
}

/// One step of a path into a JSON document.
public enum PathComponent: Sendable, Hashable, CustomStringConvertible {
    case key(String)
    case index(Int)

    public var description: String {
        switch self {
        case .key(let k): return k
        case .index(let i): return String(i)
        }
    }
}

/// Where each member of a parsed document came from, keyed by its path from the root.
///
/// A member has two positions: its key (where "unknown field" points) and its value (where
/// "wrong type" points). Array elements and the root have only a value position.
public struct SourceMap: Sendable {
    public struct Entry: Sendable {
        public var key: SourceLocation?
        public var value: SourceLocation
    }

    private var entries: [[PathComponent]: Entry] = [:]

    public init() {}

    public mutating func record(_ path: [PathComponent], key: SourceLocation?, value: SourceLocation) {
        entries[path] = Entry(key: key, value: value)
    }

    public func entry(_ path: [PathComponent]) -> Entry? { entries[path] }

    /// The position of a member's value, or of its nearest recorded ancestor.
    public func valueLocation(_ path: [PathComponent]) -> SourceLocation? {
        var p = path
        while true {
            if let e = entries[p] { return e.value }
            if p.isEmpty { return nil }
            p.removeLast()
        }
    }

    /// The position of a member's key (falling back to its value, then to its ancestors).
    public func keyLocation(_ path: [PathComponent]) -> SourceLocation? {
        if let e = entries[path] { return e.key ?? e.value }
        return valueLocation(path)
    }

    public var isEmpty: Bool { entries.isEmpty }
}

/// A parsed definition or configuration document: its value, where each part came from,
/// and the name to put in front of diagnostics.
public struct SourceDocument: Sendable {
    public var fileName: String
    public var value: JSON
    public var sourceMap: SourceMap

    public init(fileName: String, value: JSON, sourceMap: SourceMap = SourceMap()) {
        self.fileName = fileName
        self.value = value
        self.sourceMap = sourceMap
    }
}

/// A problem found in a document, with the path of the member it is about.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        case error
        case warning
    }

    public var severity: Severity
    public var message: String
    /// The member the problem is about (for example `States/Fetch/Next`).
    public var path: [PathComponent]
    /// Whether the problem is about the member's key (unknown or misplaced field) rather than its value.
    public var pointsAtKey: Bool
    /// Filled from the document's source map when the diagnostic is located.
    public var location: SourceLocation?

    public init(
        _ severity: Severity = .error, _ message: String, at path: [PathComponent], pointsAtKey: Bool = false,
        location: SourceLocation? = nil
    ) {
        self.severity = severity
        self.message = message
        self.path = path
        self.pointsAtKey = pointsAtKey
        self.location = location
    }

    /// `LINE:COL: error: MESSAGE` (the CLI adds the file name in front).
    public var description: String {
        let loc = location.map { "\($0.line):\($0.column): " } ?? ""
        return "\(loc)\(severity.rawValue): \(message)"
    }

    /// Fills in `location` from a source map.
    public func located(in map: SourceMap) -> Diagnostic {
        var d = self
        if d.location == nil {
            d.location = pointsAtKey ? map.keyLocation(path) : map.valueLocation(path)
        }
        return d
    }

    /// `FILE:LINE:COL: error: MESSAGE`, the form every command prints.
    public func formatted(file: String) -> String {
        let loc = location ?? SourceLocation(line: 1, column: 1)
        return "\(file):\(loc.line):\(loc.column): \(severity.rawValue): \(message)"
    }
}
