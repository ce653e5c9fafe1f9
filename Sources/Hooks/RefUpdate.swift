public import Git

/// One line of pre-receive/post-receive input (`<old> <new> <ref>`), or the update hook's
/// three arguments.
public struct RefUpdate: Sendable, Hashable {
    public var old: ObjectID
    public var new: ObjectID
    public var ref: String

    public init(old: ObjectID, new: ObjectID, ref: String) {
        self.old = old
        self.new = new
        self.ref = ref
    }

    public var isCreation: Bool { old.isZero }
    public var isDeletion: Bool { new.isZero }

    /// A malformed line of hook input.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Parses the standard input of pre-receive and post-receive, as githooks(5) describes it:
    /// one `<old-value> SP <new-value> SP <ref-name> LF` per ref. Blank lines are ignored.
    public static func parse(hookInput text: String) throws(ParseError) -> [RefUpdate] {
        var updates: [RefUpdate] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.hasSuffix("\r") ? line.dropLast() : line
            if trimmed.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            let parts = trimmed.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, let old = ObjectID(hex: String(parts[0])), let new = ObjectID(hex: String(parts[1])),
                !parts[2].isEmpty
            else {
                throw ParseError(description: "hook input line \(number + 1) is not '<old> <new> <ref>'")
            }
            updates.append(RefUpdate(old: old, new: new, ref: String(parts[2])))
        }
        return updates
    }

    /// The update hook's arguments: `<ref-name> <old-value> <new-value>`.
    public static func parse(updateArguments arguments: [String]) throws(ParseError) -> RefUpdate {
        guard arguments.count == 3, let old = ObjectID(hex: arguments[1]), let new = ObjectID(hex: arguments[2]),
            !arguments[0].isEmpty
        else {
            throw ParseError(description: "the update hook expects <ref> <old> <new>, got \(arguments.count) argument(s)")
        }
        return RefUpdate(old: old, new: new, ref: arguments[0])
    }
}

/// Makes text from pushed content (messages, causes, paths) safe to print as one line on the
/// pusher's terminal: newlines become spaces, other control characters (escape sequences
/// included) are dropped.
func oneLine(_ text: String) -> String {
    var out = String.UnicodeScalarView()
    var lastWasSpace = false
    for scalar in text.unicodeScalars {
        if scalar == "\n" || scalar == "\r" || scalar == "\t" {
            if !lastWasSpace { out.append(" ") }
            lastWasSpace = true
            continue
        }
        if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) { continue }
        out.append(scalar)
        lastWasSpace = scalar == " "
    }
    var s = String(out)
    while s.hasSuffix(" ") { s.removeLast() }
    if s.count > 2000 { s = String(s.prefix(2000)) + "…" }
    return s
}
