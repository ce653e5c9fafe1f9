/// Why a ref or branch pattern was refused.
public struct RefPatternError: Error, Sendable, Equatable, CustomStringConvertible {
    public var pattern: String
    public var message: String

    public var description: String { "invalid pattern '\(pattern)': \(message)" }
}

/// A glob over `/`-separated names: Git refs (`refs/heads/release/*`) and branch names
/// (`release/**`).
///
/// - `*` matches any run of characters inside one path segment (possibly none), never `/`.
/// - `**`, which must be a whole segment, matches any number of segments: none when it begins
///   the pattern or sits between two segments (`refs/**/main` matches `refs/main`), one or more
///   when it ends the pattern (`refs/heads/**` matches `refs/heads/a/b` but not `refs/heads`).
/// - Everything else matches itself, case-sensitively.
///
/// A pattern must not be empty, begin or end with `/`, contain `//`, `..`, spaces, control
/// characters or any of `~ ^ : ? [ \` (Git forbids them in ref names, and `?` and `[` are not
/// glob syntax here), and no segment may begin with `.`. The JSON Schema's `glob` pattern says
/// exactly the same.
public struct RefPattern: Sendable, Hashable, CustomStringConvertible {
    public let glob: String
    private let segments: [Segment]

    private enum Segment: Sendable, Hashable {
        case any  // **
        case glob([Unicode.Scalar])
        case literal(String)
    }

    public init(_ glob: String) throws(RefPatternError) {
        if let problem = Self.problem(in: glob) { throw RefPatternError(pattern: glob, message: problem) }
        self.glob = glob
        segments = glob.split(separator: "/", omittingEmptySubsequences: false).map { s -> Segment in
            if s == "**" { return .any }
            if s.contains("*") { return .glob(Array(s.unicodeScalars)) }
            return .literal(String(s))
        }
    }

    public var description: String { glob }

    /// What is wrong with a pattern, or nil when it is valid.
    public static func problem(in glob: String) -> String? {
        if glob.isEmpty { return "a pattern must not be empty" }
        for scalar in glob.unicodeScalars {
            if scalar.value <= 0x20 || scalar.value == 0x7F { return "a pattern must not contain spaces or control characters" }
            if "~^:?[\\".unicodeScalars.contains(scalar) { return "a pattern must not contain '\(scalar)'" }
        }
        if glob.contains("..") { return "a pattern must not contain '..'" }
        for segment in glob.split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty { return "a pattern must not begin or end with '/' or contain '//'" }
            if segment == "**" { continue }
            if segment.contains("**") { return "'**' must be a whole path segment" }
            if segment.hasPrefix(".") { return "a path segment must not begin with '.'" }
        }
        return nil
    }

    /// Whether `ref` (a full ref name, or a branch name for branch patterns) matches.
    public func matches(_ ref: String) -> Bool {
        let parts = ref.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        return Self.match(segments[...], parts[...])
    }

    private static func match(_ pattern: ArraySlice<Segment>, _ parts: ArraySlice<String>) -> Bool {
        guard let first = pattern.first else { return parts.isEmpty }
        switch first {
        case .any:
            let rest = pattern.dropFirst()
            if rest.isEmpty { return !parts.isEmpty }
            var tail = parts
            while true {
                if match(rest, tail) { return true }
                guard !tail.isEmpty else { return false }
                tail = tail.dropFirst()
            }
        case .literal(let s):
            guard let part = parts.first, part == s else { return false }
            return match(pattern.dropFirst(), parts.dropFirst())
        case .glob(let g):
            guard let part = parts.first, wildcard(g, Array(part.unicodeScalars)) else { return false }
            return match(pattern.dropFirst(), parts.dropFirst())
        }
    }

    /// `*` matches any run of scalars; everything else matches itself.
    private static func wildcard(_ p: [Unicode.Scalar], _ s: [Unicode.Scalar]) -> Bool {
        var pi = 0, si = 0
        var star = -1, mark = 0
        while si < s.count {
            if pi < p.count, p[pi] != "*", p[pi] == s[si] {
                pi += 1
                si += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi
                mark = si
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                si = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
