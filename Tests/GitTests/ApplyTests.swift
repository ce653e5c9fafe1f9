import Foundation
import Git
import Testing

/// `git diff -M old new`, with the trailing newline `runGit` strips put back.
private func gitDiff(_ fixture: Fixture, _ old: ObjectID, _ new: ObjectID) throws -> String {
    try fixture.git("diff", "-M", old.description, new.description) + "\n"
}

private let lines = (1...20).map { "line \($0)\n" }.joined()

struct ApplyTests {
    /// Commits `change` on top of a base commit, then checks that applying `git diff base
    /// changed` to the base's tree gives exactly the changed commit's tree.
    private func roundTrip(
        base files: [String: String], _ change: (Fixture) throws -> Void
    ) throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let base = try fixture.commit("base", files: files)
            try change(fixture)
            let changed = try fixture.commit("changed")
            let patch = try gitDiff(fixture, base, changed)
            #expect(!patch.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)

            let repository = try Repository(path: fixture.path)
            let tree = try repository.applyDiff(patch, onto: base)
            #expect(tree == (try repository.commit(changed).tree), "patch:\n\(patch)")
        }
    }

    @Test func modifiedFile() throws {
        try roundTrip(base: ["a.txt": lines, "b.txt": "b\n"]) { fixture in
            try fixture.write("a.txt", lines.replacingOccurrences(of: "line 10\n", with: "line ten\nline 10.5\n"))
        }
    }

    @Test func addedFileInNewDirectory() throws {
        try roundTrip(base: ["a.txt": "a\n"]) { fixture in
            try fixture.write("src/deep/new.swift", "let x = 1\n")
        }
    }

    @Test func addedEmptyFileAndExecutable() throws {
        try roundTrip(base: ["a.txt": "a\n"]) { fixture in
            try fixture.write("empty.txt", "")
            try fixture.write("run.sh", "#!/bin/sh\necho hi\n", executable: true)
        }
    }

    /// libgit2 1.5 cannot parse these hunk-less sections itself (libgit2#5713).
    @Test func emptyFilesAddedAndDeletedBetweenOtherChanges() throws {
        try roundTrip(base: ["a.txt": "a\n", "empty-old": "", "z.txt": lines]) { fixture in
            try fixture.write("a-empty", "")
            try fixture.git("rm", "-q", "empty-old")
            try fixture.write("sub/empty", "")
            try fixture.write("z.txt", lines + "more\n")
        }
        try roundTrip(base: ["a.txt": "a\n"]) { fixture in
            try fixture.write("only-empty", "")
        }
    }

    @Test func emptyFileThatAlreadyExistsOrIsMissingFails() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let base = try fixture.commit("base", files: ["a.txt": "a\n"])
            let added = try fixture.commit("add", files: ["e": ""])
            let addPatch = try gitDiff(fixture, base, added)
            try fixture.git("rm", "-q", "e")
            let removed = try fixture.commit("remove")
            let removePatch = try gitDiff(fixture, added, removed)
            let repository = try Repository(path: fixture.path)
            let exists = try #require(throws: GitError.self) { try repository.applyDiff(addPatch, onto: added) }
            #expect(exists.isApplyFailure && exists.message == "patch does not apply to e: already exists in the base tree")
            let missing = try #require(throws: GitError.self) { try repository.applyDiff(removePatch, onto: base) }
            #expect(missing.isApplyFailure && missing.message.contains("does not exist"), "\(missing)")
        }
    }

    @Test func deletedFileEmptiesDirectory() throws {
        try roundTrip(base: ["a.txt": "a\n", "dir/gone.txt": lines]) { fixture in
            try fixture.git("rm", "-q", "dir/gone.txt")
        }
    }

    @Test func pureRename() throws {
        try roundTrip(base: ["old/name.txt": lines, "keep.txt": "k\n"]) { fixture in
            try FileManager.default.createDirectory(atPath: "\(fixture.path)/new", withIntermediateDirectories: true)
            try fixture.git("mv", "old/name.txt", "new/place.txt")
        }
    }

    @Test func renameWithEdits() throws {
        try roundTrip(base: ["name.txt": lines]) { fixture in
            try fixture.git("mv", "name.txt", "renamed.txt")
            try fixture.write("renamed.txt", lines.replacingOccurrences(of: "line 3\n", with: "line three\n"))
        }
    }

    @Test func modeChangeAndMissingFinalNewline() throws {
        try roundTrip(base: ["tool.sh": "#!/bin/sh\n", "text.txt": "no newline"]) { fixture in
            try fixture.git("update-index", "--chmod=+x", "tool.sh")
            try fixture.write("text.txt", "still no newline, but longer")
        }
    }

    @Test func everythingAtOnce() throws {
        try roundTrip(base: ["a.txt": lines, "b.txt": "b\n", "c/d.txt": "d\n", "r.txt": lines]) { fixture in
            try fixture.write("a.txt", lines.replacingOccurrences(of: "line 1\n", with: ""))
            try fixture.git("rm", "-q", "b.txt")
            try fixture.write("c/e.txt", "e\n")
            try fixture.git("mv", "r.txt", "c/r.txt")
        }
    }

    /// The shape of Phorge's `differential.getrawdiff` for a git repository: git headers, no
    /// `index` lines.
    @Test func phorgeStyleRawDiff() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let base = try fixture.commit("base", files: ["README": "hello\nworld\n", "old.txt": "bye\n"])
            let patch = """
                diff --git a/README b/README
                --- a/README
                +++ b/README
                @@ -1,2 +1,3 @@
                 hello
                -world
                +there
                +world
                diff --git a/added.txt b/added.txt
                new file mode 100644
                --- /dev/null
                +++ b/added.txt
                @@ -0,0 +1 @@
                +added
                diff --git a/old.txt b/old.txt
                deleted file mode 100644
                --- a/old.txt
                +++ /dev/null
                @@ -1 +0,0 @@
                -bye

                """
            let repository = try Repository(path: fixture.path)
            let tree = try repository.applyDiff(patch, onto: base)

            try fixture.write("README", "hello\nthere\nworld\n")
            try fixture.write("added.txt", "added\n")
            try fixture.git("rm", "-q", "old.txt")
            let expected = try fixture.commit("expected")
            #expect(tree == (try repository.commit(expected).tree))
        }
    }

    @Test func conflictingPatchNamesTheFile() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let base = try fixture.commit("base", files: ["ok.txt": "fine\n", "src/conflict.txt": lines])
            try fixture.write("src/conflict.txt", lines.replacingOccurrences(of: "line 5\n", with: "line FIVE\n"))
            let changed = try fixture.commit("changed")
            let patch = try gitDiff(fixture, base, changed)
            // Another history where that line was changed differently.
            try fixture.write("src/conflict.txt", lines.replacingOccurrences(of: "line 5\n", with: "line 5!\n"))
            let other = try fixture.commit("other")

            let repository = try Repository(path: fixture.path)
            let error = try #require(throws: GitError.self) { try repository.applyDiff(patch, onto: other) }
            #expect(error.isApplyFailure)
            #expect(error.message.hasPrefix("patch does not apply to src/conflict.txt: "), "\(error)")

            // Deleting or modifying a file the base lacks fails too.
            let empty = try fixture.commit("empty", files: [:])
            try fixture.git("rm", "-q", "-r", "src", "ok.txt")
            let bare = try fixture.commit("nothing left")
            let missing = try #require(throws: GitError.self) { try repository.applyDiff(patch, onto: bare) }
            #expect(missing.message.contains("src/conflict.txt"), "\(missing)")
            _ = empty
        }
    }

    @Test func addingAnExistingFileFails() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let base = try fixture.commit("base", files: ["a.txt": "a\n"])
            let added = try fixture.commit("add", files: ["new.txt": "new\n"])
            let patch = try gitDiff(fixture, base, added)
            let repository = try Repository(path: fixture.path)
            let error = try #require(throws: GitError.self) { try repository.applyDiff(patch, onto: added) }
            #expect(error.message.contains("new.txt"), "\(error)")
        }
    }

    @Test func garbageIsAnInvalidPatch() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let base = try fixture.commit("base", files: ["a.txt": "a\n"])
            let repository = try Repository(path: fixture.path)
            let error = try #require(throws: GitError.self) {
                try repository.applyDiff("diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@ nonsense\n-x\n+y\n+z\n", onto: base)
            }
            #expect(error.message.hasPrefix("invalid patch: ") || error.message.hasPrefix("patch does not apply"), "\(error)")
        }
    }
}
