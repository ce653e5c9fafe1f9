import Foundation
import Git
import Testing

struct ObjectIDTests {
    @Test func parsesAndFormatsHex() throws {
        let hex = "0123456789abcdef0123456789ABCDEF01234567"
        let id = try #require(ObjectID(hex: hex))
        #expect(id.description == hex.lowercased())
        #expect(id.bytes.count == 20)
        #expect(id.bytes.first == 0x01 && id.bytes.last == 0x67)
        #expect(ObjectID(bytes: id.bytes) == id)
        #expect(!id.isZero)
    }

    @Test(arguments: ["", "abc", String(repeating: "g", count: 40), String(repeating: "a", count: 41)])
    func rejectsInvalidHex(_ text: String) {
        #expect(ObjectID(hex: text) == nil)
    }

    @Test func zero() throws {
        #expect(ObjectID.zero.isZero)
        #expect(ObjectID.zero.description == String(repeating: "0", count: 40))
        #expect(try #require(ObjectID(hex: String(repeating: "0", count: 40))) == .zero)
        #expect(ObjectID(bytes: [UInt8](repeating: 0, count: 19)) == nil)
    }
}

struct RepositoryOpenTests {
    @Test func opensNonBareAndResolvesRevisions() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let first = try fixture.commit("first", files: ["a.txt": "a\n"])
            let second = try fixture.commit("second", files: ["a.txt": "b\n"])

            let repository = try Repository(path: fixture.path)
            #expect(!repository.isBare)
            #expect(repository.path.hasSuffix("/repo/.git"))
            #expect(try repository.resolve("HEAD") == second)
            #expect(try repository.resolve("main") == second)
            #expect(try repository.resolve("HEAD~1") == first)
            #expect(try repository.resolve(first.description) == first)
            #expect(try repository.resolve(String(first.description.prefix(10))) == first)
            #expect(try repository.resolveIfPresent("no-such-branch") == nil)
            #expect(try repository.reference("refs/heads/main") == second)
            #expect(try repository.reference("HEAD") == second)
            #expect(try repository.reference("refs/heads/nope") == nil)
        }
    }

    @Test func badRevisionNamesIt() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            try fixture.commit("first")
            let repository = try Repository(path: fixture.path)
            let error = try #require(throws: GitError.self) { try repository.resolve("no-such-rev") }
            #expect(error.isNotFound)
            #expect(error.function == "git_revparse_single")
            #expect(error.description.contains("'no-such-rev'"))
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func opensBareAndListsReferences() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let first = try fixture.commit("first", files: ["a.txt": "a\n"])
            try fixture.git("branch", "feature/x")
            let second = try fixture.commit("second", files: ["a.txt": "b\n"])
            try fixture.git("tag", "-a", "-m", "release", "v1", first.description)
            try runGit(["clone", "-q", "--bare", fixture.path, "\(root)/bare.git"], in: root, home: root)

            let repository = try Repository(path: "\(root)/bare.git")
            #expect(repository.isBare)
            #expect(repository.path.hasSuffix("/bare.git"))
            #expect(try repository.resolve("HEAD") == second)
            #expect(try repository.resolve("v1") == first)  // peeled through the annotated tag

            let heads = try repository.references(matching: "refs/heads/*")
            #expect(heads.map(\.name) == ["refs/heads/feature/x", "refs/heads/main"])
            #expect(heads.map(\.target) == [first, second])
            let tags = try repository.references(matching: "refs/tags/*")
            #expect(tags.map(\.name) == ["refs/tags/v1"])
            #expect(tags.first?.target != first)  // the tag object itself, not peeled
        }
    }

    @Test func missingRepositoryFails() throws {
        try withTemporaryDirectory { root in
            let error = try #require(throws: GitError.self) { try Repository(path: "\(root)/absent") }
            #expect(error.function == "git_repository_open_ext")
            #expect(!error.isOwnershipFailure)
        }
    }

    @Test func unbornHeadIsNotPresent() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root, bare: true)
            let repository = try Repository(path: fixture.path)
            #expect(try repository.resolveIfPresent("HEAD") == nil)
            #expect(try repository.references(matching: "refs/*").isEmpty)
        }
    }
}
