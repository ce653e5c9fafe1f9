internal import CLibgit2

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// A failure reported by libgit2 (or by this module's own file-system work), with the message
/// copied at the failing call.
///
/// libgit2 keeps its last error in thread-local state that the next call overwrites, so every
/// wrapper reads it synchronously, right after the failing call, and stores a copy here.
///
/// `code` is libgit2's return code (`-3` not found, `-36` owner mismatch, ...), `errorClass` its
/// error class (`GIT_ERROR_ODB` is 9, `GIT_ERROR_OS` is 2, ...). Compare them with the named
/// statics rather than with raw numbers where one exists:
///
///     catch let error where error.isNotFound { ... }
public struct GitError: Error, Sendable, CustomStringConvertible {
    /// The libgit2 return code, always negative.
    public let code: Int32
    /// The libgit2 error class (`git_error_t`), or 0 when libgit2 set none.
    public let errorClass: Int32
    /// The human-readable message (libgit2's, or a clearer translation of it).
    public let message: String
    /// The C function (or wrapper operation) that failed.
    public let function: String

    public init(code: Int32, errorClass: Int32, message: String, function: String) {
        self.code = code
        self.errorClass = errorClass
        self.message = message
        self.function = function
    }

    /// One line: `function: message`.
    public var description: String { "\(function): \(message)" }

    /// libgit2's `GIT_ENOTFOUND`: the object, reference, revision or path does not exist.
    public static let notFoundCode: Int32 = -3
    /// libgit2's `GIT_EOWNER`: the repository is owned by another user.
    public static let ownerMismatchCode: Int32 = -36

    /// True when something looked up does not exist (and not for the ownership check, which
    /// libgit2 1.5.1 also reports with code -3).
    public var isNotFound: Bool { code == GitError.notFoundCode && !isOwnershipFailure }

    /// True when libgit2 refused to open a repository owned by another user (CVE-2022-24765).
    public var isOwnershipFailure: Bool {
        code == GitError.ownerMismatchCode
            || (code == GitError.notFoundCode && errorClass == Int32(GIT_ERROR_CONFIG.rawValue)
                && (message.contains("safe.directory") || message.contains(GitError.ownershipMarker)))
    }

    static let ownershipMarker = "is owned by another user (libgit2 ownership check)"
    static func ownershipMessage(path: String) -> String {
        "repository \(path) \(ownershipMarker); "
            + "add it to safe.directory or run as its owner"
    }
}

extension GitError {
    /// Builds an error from `git_error_last()`; call it immediately after the failing call.
    static func last(code: Int32, function: String) -> GitError {
        guard let last = git_error_last() else {
            return GitError(code: code, errorClass: 0, message: "libgit2 error \(code)", function: function)
        }
        let message = last.pointee.message.map { String(cString: $0) } ?? "libgit2 error \(code)"
        return GitError(code: code, errorClass: last.pointee.klass, message: message, function: function)
    }

    /// An error for a failing POSIX call (used while materialising trees).
    static func posix(_ function: String, path: String, errno err: Int32) -> GitError {
        let reason = String(cString: strerror(err))
        return GitError(
            code: -1, errorClass: Int32(GIT_ERROR_OS.rawValue), message: "\(path): \(reason)", function: function)
    }

    /// The error libgit2 1.5.1 gives for a repository owned by someone else is
    /// "-3 / CONFIG: config value 'safe.directory' was not found" (later versions: `GIT_EOWNER`).
    /// Both are turned into a message that says what actually happened.
    func translatingOwnership(path: String) -> GitError {
        let legacy =
            code == GitError.notFoundCode && errorClass == Int32(GIT_ERROR_CONFIG.rawValue)
            && message.contains("safe.directory")
        guard legacy || code == GitError.ownerMismatchCode else { return self }
        return GitError(
            code: code, errorClass: errorClass, message: GitError.ownershipMessage(path: path), function: function)
    }
}

/// Throws the last libgit2 error when `rc` is negative.
@inline(__always)
func check(_ rc: Int32, _ function: StaticString) throws(GitError) {
    if rc < 0 { throw GitError.last(code: rc, function: "\(function)") }
}

/// The once-only `git_libgit2_init()` (reference counted by libgit2; never shut down).
enum LibGit2 {
    private static let initResult: Int32 = git_libgit2_init()
    static func bootstrap() { _ = initResult }
}
