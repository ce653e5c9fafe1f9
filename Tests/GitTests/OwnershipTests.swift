import Foundation
import Git
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// libgit2's owner check is a process-wide option, so everything that toggles it lives in this
/// one serialized suite and restores the setting before returning.
@Suite(.serialized)
struct OwnershipTests {
    @Test(.enabled(if: getuid() == 0, "needs root to chown a repository to another user"))
    func repositoryOwnedByAnotherUser() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root, name: "foreign.git", bare: true)
            #expect(chown(fixture.path, 12345, 12345) == 0)

            let error = try #require(throws: GitError.self) { try Repository(path: fixture.path) }
            #expect(error.isOwnershipFailure)
            #expect(!error.isNotFound)
            #expect(
                error.description
                    == "git_repository_open_ext: repository \(fixture.path) is owned by another user "
                    + "(libgit2 ownership check); add it to safe.directory or run as its owner")

            let wasEnabled = try Repository.ownerValidation()
            #expect(wasEnabled)
            try Repository.setOwnerValidation(false)
            defer { try? Repository.setOwnerValidation(wasEnabled) }
            #expect(try !Repository.ownerValidation())
            let repository = try Repository(path: fixture.path)
            #expect(repository.isBare)
        }
        #expect(try Repository.ownerValidation())
    }
}
