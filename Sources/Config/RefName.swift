/// A Git ref name, and the branch it names when it lies under `refs/heads/`: the one place where
/// `refs/heads/` is added to a branch name or taken off a ref.
public struct RefName: Sendable, Hashable, Comparable, CustomStringConvertible {
    public static let branchPrefix = "refs/heads/"

    /// The full name (`refs/heads/main`, `refs/tags/v1`, `HEAD`).
    public let full: String

    /// A ref by its full name, as git passes it to hooks.
    public init(_ full: String) {
        self.full = full
    }

    /// The ref of a branch, given by its short name (`main`) or its full name (`refs/heads/main`).
    public static func branch(_ name: String) -> RefName {
        RefName(name.hasPrefix(branchPrefix) ? name : branchPrefix + name)
    }

    /// The branch's short name when the ref is a branch (`main` for `refs/heads/main`), else nil.
    public var branch: String? {
        full.hasPrefix(Self.branchPrefix) ? String(full.dropFirst(Self.branchPrefix.count)) : nil
    }

    /// A branch's short name from either spelling (`main` or `refs/heads/main`).
    public static func branchName(_ name: String) -> String {
        RefName.branch(name).branch ?? name
    }

    public var description: String { full }

    public static func < (a: RefName, b: RefName) -> Bool { a.full < b.full }
}
