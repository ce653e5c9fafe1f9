public import Config
public import Git

/// One commit of a repository read through libgit2, as ``Config/StepgateDirectory`` reads revisions.
public struct GitRevision: RevisionFiles {
    public let repository: Repository
    public let commit: ObjectID

    public init(repository: Repository, commit: ObjectID) {
        self.repository = repository
        self.commit = commit
    }

    public var label: String { commit.short }

    public func blob(at path: String) throws(RevisionReadError) -> [UInt8]? {
        do { return try repository.blob(at: path, commit: commit) } catch { throw RevisionReadError(error.description) }
    }

    public func files(under directory: String) throws(RevisionReadError) -> [String] {
        do { return try repository.files(under: directory, commit: commit) } catch {
            throw RevisionReadError(error.description)
        }
    }
}
