import Foundation
import Git
import Testing

struct MirrorTests {
    @Test func openOrCreateMirrorCreatesThenReopens() throws {
        try withTemporaryDirectory { root in
            let path = "\(root)/a/b/proj.git"
            let created = try Repository.openOrCreateMirror(path: path)
            #expect(created.isBare)
            #expect(created.path == path)
            #expect(try created.references(matching: "refs/*").isEmpty)
            let reopened = try Repository.openOrCreateMirror(path: path)
            #expect(reopened.isBare && reopened.path == path)

            // An empty directory becomes a mirror.
            try FileManager.default.createDirectory(atPath: "\(root)/empty", withIntermediateDirectories: true)
            #expect(try Repository.openOrCreateMirror(path: "\(root)/empty").isBare)

            // A plain file, a non-bare repository, or a directory with junk is refused.
            try Data("x".utf8).write(to: URL(fileURLWithPath: "\(root)/file"))
            #expect(throws: GitError.self) { try Repository.openOrCreateMirror(path: "\(root)/file") }
            let work = try Fixture.create(in: root, name: "work")
            let error = try #require(throws: GitError.self) { try Repository.openOrCreateMirror(path: work.path) }
            #expect(error.message.contains("not a bare mirror"))
            try FileManager.default.createDirectory(atPath: "\(root)/junk/x", withIntermediateDirectories: true)
            #expect(throws: GitError.self) { try Repository.openOrCreateMirror(path: "\(root)/junk") }
        }
    }

    @Test func initBareIsUsableByGit() throws {
        try withTemporaryDirectory { root in
            let repository = try Repository.initBare(at: "\(root)/new.git")
            #expect(repository.isBare)
            #expect(try runGit(["rev-parse", "--is-bare-repository"], in: "\(root)/new.git", home: root) == "true")
        }
    }

    @Test func commitAndSetReferenceLeaveHeadAndIndexAlone() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let base = try fixture.commit("base", files: ["a.txt": "a\n"])
            let headBefore = try fixture.git("symbolic-ref", "HEAD")
            let indexBefore = try Data(contentsOf: URL(fileURLWithPath: "\(fixture.path)/.git/index"))

            let repository = try Repository(path: fixture.path)
            let tree = try repository.applyDiff(
                "diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+A\n", onto: base)
            let author = Signature(name: "Phorge User", email: "user@example.org", time: 1_700_000_000, offsetMinutes: 60)
            let bot = Signature(name: "stepgate", email: "bot@example.org", time: 1_700_000_100, offsetMinutes: 0)
            let commit = try repository.commit(
                tree: tree, parents: [base], message: "D42: apply diff 7\n", author: author, committer: bot)
            // Deterministic: the same inputs give the same commit.
            #expect(
                try repository.commit(
                    tree: tree, parents: [base], message: "D42: apply diff 7\n", author: author, committer: bot) == commit)

            try repository.setReference(name: "refs/stepgate/phorge/D42/7", to: commit, force: false)
            #expect(try repository.reference("refs/stepgate/phorge/D42/7") == commit)

            let info = try repository.commit(commit)
            #expect(info.tree == tree)
            #expect(info.parents == [base])
            #expect(info.author == author)
            #expect(info.committer == bot)
            #expect(info.message == "D42: apply diff 7\n")
            #expect(try repository.blob(at: "a.txt", commit: commit) == Array("A\n".utf8))
            #expect(try fixture.git("cat-file", "-t", commit.description) == "commit")
            #expect(try fixture.git("show", "-s", "--format=%an <%ae> %at %ai", commit.description)
                == "Phorge User <user@example.org> 1700000000 2023-11-14 23:13:20 +0100")

            // HEAD, the branch, the index and the work tree are untouched.
            #expect(try fixture.git("symbolic-ref", "HEAD") == headBefore)
            #expect(try fixture.head() == base)
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(fixture.path)/.git/index")) == indexBefore)
            #expect(try fixture.git("status", "--porcelain") == "")
            #expect(try String(contentsOfFile: "\(fixture.path)/a.txt", encoding: .utf8) == "a\n")

            // An existing reference needs force.
            let exists = try #require(throws: GitError.self) {
                try repository.setReference(name: "refs/stepgate/phorge/D42/7", to: base, force: false)
            }
            #expect(exists.code == -4)
            try repository.setReference(name: "refs/stepgate/phorge/D42/7", to: base, force: true)
            #expect(try repository.reference("refs/stepgate/phorge/D42/7") == base)
            #expect(try repository.deleteReference(name: "refs/stepgate/phorge/D42/7"))
            #expect(try !repository.deleteReference(name: "refs/stepgate/phorge/D42/7"))
            #expect(try repository.reference("refs/stepgate/phorge/D42/7") == nil)

            // A root commit, and bad inputs.
            let root = try repository.commit(tree: tree, parents: [], message: "root\n", author: author)
            #expect(try repository.commit(root).parents.isEmpty)
            #expect(throws: GitError.self) {
                try repository.commit(tree: base, parents: [], message: "x", author: author)  // not a tree
            }
            #expect(throws: GitError.self) {
                try repository.setReference(name: "not a ref name", to: base, force: true)
            }
        }
    }
}
