import Foundation
import Git
import Testing

struct ChangedPathTests {
    @Test func addedModifiedDeletedRenamedTypeChanged() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let long = (1...40).map { "line \($0) of a file long enough for rename detection\n" }.joined()
            let first = try fixture.commit(
                "first",
                files: ["a.txt": "a\n", "b.txt": "b\n", "dir/c.txt": long, "t.txt": "target\n"])
            try FileManager.default.removeItem(atPath: "\(fixture.path)/b.txt")
            try FileManager.default.moveItem(atPath: "\(fixture.path)/dir/c.txt", toPath: "\(fixture.path)/dir/d.txt")
            try FileManager.default.removeItem(atPath: "\(fixture.path)/t.txt")
            try FileManager.default.createSymbolicLink(atPath: "\(fixture.path)/t.txt", withDestinationPath: "a.txt")
            let second = try fixture.commit("second", files: ["a.txt": "A\n", "e.txt": "e\n"])
            let repository = try Repository(path: fixture.path)

            let changes = try repository.changedPaths(from: first, to: second)
            let byPath = Dictionary(uniqueKeysWithValues: changes.map { ($0.path, $0) })
            #expect(changes.count == 5)
            #expect(byPath["a.txt"]?.status == .modified)
            #expect(byPath["a.txt"]?.oldPath == "a.txt")
            #expect(byPath["b.txt"]?.status == .deleted)
            #expect(byPath["b.txt"]?.oldPath == "b.txt")
            #expect(byPath["b.txt"]?.newID == .zero)
            #expect(byPath["dir/d.txt"]?.status == .renamed)
            #expect(byPath["dir/d.txt"]?.oldPath == "dir/c.txt")
            #expect(byPath["e.txt"]?.status == .added)
            #expect(byPath["e.txt"]?.oldPath == nil)
            #expect(byPath["e.txt"]?.oldID == .zero)
            #expect(byPath["t.txt"]?.status == .typeChanged)
            // The IDs are blob IDs that can be compared with the tree's contents.
            #expect(byPath["a.txt"]?.newID == (try fixture.id(fixture.git("rev-parse", "HEAD:a.txt"))))

            // The same through CommitInfo (first parent).
            #expect(try repository.changedPaths(in: repository.commit(second)) == changes)
        }
    }

    @Test func rootCommitAgainstEmptyTree() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let first = try fixture.commit("first", files: ["a.txt": "a\n", "x/y/z.txt": "z\n"])
            let repository = try Repository(path: fixture.path)

            let changes = try repository.changedPaths(in: repository.commit(first))
            #expect(changes.map(\.path) == ["a.txt", "x/y/z.txt"])
            #expect(changes.allSatisfy { $0.status == .added && $0.oldPath == nil })
            #expect(try repository.changedPaths(from: nil, to: first) == changes)
        }
    }
}

struct TreeReadingTests {
    @Test func blobsAndFiles() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            try fixture.write("run.sh", "#!/bin/sh\n", executable: true)
            try FileManager.default.createSymbolicLink(atPath: "\(fixture.path)/link", withDestinationPath: "run.sh")
            let commit = try fixture.commit(
                "first",
                files: [
                    "README": "hello\n",
                    ".stepgate/stepgate.yaml": "version: 1\n",
                    ".stepgate/workflows/deploy.asl.json": "{}\n",
                    ".stepgate/workflows/nested/policy.asl.yaml": "a: 1\n",
                    ".stepgate/workflowsX/other.json": "{}\n",
                ])
            let repository = try Repository(path: fixture.path)

            #expect(try repository.blob(at: "README", commit: commit) == Array("hello\n".utf8))
            #expect(try repository.blob(at: ".stepgate/workflows/deploy.asl.json", commit: commit) == Array("{}\n".utf8))
            #expect(try repository.blob(at: "absent.txt", commit: commit) == nil)
            #expect(try repository.blob(at: "absent/deeper.txt", commit: commit) == nil)
            #expect(try repository.blob(at: ".stepgate/workflows", commit: commit) == nil)
            #expect(try repository.blob(at: "link", commit: commit) == Array("run.sh".utf8))

            #expect(try repository.entryKind(at: "README", commit: commit) == .file)
            #expect(try repository.entryKind(at: "run.sh", commit: commit) == .executable)
            #expect(try repository.entryKind(at: "link", commit: commit) == .symlink)
            #expect(try repository.entryKind(at: ".stepgate", commit: commit) == .directory)
            #expect(try repository.entryKind(at: "nope", commit: commit) == nil)

            let workflows = [".stepgate/workflows/deploy.asl.json", ".stepgate/workflows/nested/policy.asl.yaml"]
            #expect(try repository.files(under: ".stepgate/workflows", commit: commit) == workflows)
            #expect(try repository.files(under: ".stepgate/workflows/", commit: commit) == workflows)
            #expect(try repository.files(under: "nope", commit: commit).isEmpty)
            #expect(try repository.files(under: "README", commit: commit).isEmpty)
            #expect(
                try repository.files(under: "", commit: commit) == [
                    ".stepgate/stepgate.yaml", ".stepgate/workflows/deploy.asl.json",
                    ".stepgate/workflows/nested/policy.asl.yaml", ".stepgate/workflowsX/other.json",
                    "README", "link", "run.sh",
                ])
        }
    }
}

struct MaterializeTests {
    @Test func writesFilesDirectoriesModesAndSymlinks() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            try fixture.write("bin/run.sh", "#!/bin/sh\necho hi\n", executable: true)
            try FileManager.default.createSymbolicLink(
                atPath: "\(fixture.path)/bin/link", withDestinationPath: "run.sh")
            let first = try fixture.commit(
                "first", files: ["README": "hello\n", "a/b/c/deep.txt": "deep\n", "empty.txt": ""])
            // A submodule entry (gitlink) that must be skipped.
            try fixture.git("update-index", "--add", "--cacheinfo", "160000,\(first),vendor/sub")
            try fixture.git("commit", "-q", "-m", "add submodule")
            let commit = try fixture.head()
            // Leave HEAD on the older commit with an unrelated staged change to prove neither moves.
            try fixture.git("checkout", "-q", "--detach", first.description)
            try fixture.write("staged.txt", "staged\n")
            try fixture.git("add", "staged.txt")
            let headBefore = try fixture.git("rev-parse", "HEAD")
            let indexBefore = try Data(contentsOf: URL(fileURLWithPath: "\(fixture.path)/.git/index"))
            let statusBefore = try fixture.git("status", "--porcelain")

            let repository = try Repository(path: fixture.path)
            let output = "\(root)/out/not/yet/created"
            try repository.materialize(commit: commit, into: output)

            let files = FileManager.default
            #expect(try String(contentsOfFile: "\(output)/README", encoding: .utf8) == "hello\n")
            #expect(try String(contentsOfFile: "\(output)/a/b/c/deep.txt", encoding: .utf8) == "deep\n")
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(output)/empty.txt")).isEmpty)
            #expect(files.isExecutableFile(atPath: "\(output)/bin/run.sh"))
            #expect(!files.isExecutableFile(atPath: "\(output)/README"))
            #expect(try files.destinationOfSymbolicLink(atPath: "\(output)/bin/link") == "run.sh")
            #expect(!files.fileExists(atPath: "\(output)/vendor/sub"))
            #expect(!files.fileExists(atPath: "\(output)/.git"))

            #expect(try fixture.git("rev-parse", "HEAD") == headBefore)
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(fixture.path)/.git/index")) == indexBefore)
            #expect(try fixture.git("status", "--porcelain") == statusBefore)
        }
    }

    @Test func worksOnBareRepositoryAndRefusesNonEmptyDirectory() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let commit = try fixture.commit("first", files: ["x/y.txt": "y\n"])
            try runGit(["clone", "-q", "--bare", fixture.path, "\(root)/bare.git"], in: root, home: root)
            let repository = try Repository(path: "\(root)/bare.git")

            let output = "\(root)/out"
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: false)
            try repository.materialize(commit: commit, into: output)
            #expect(try String(contentsOfFile: "\(output)/x/y.txt", encoding: .utf8) == "y\n")
            #expect(!FileManager.default.fileExists(atPath: "\(root)/bare.git/index"))

            let error = try #require(throws: GitError.self) { try repository.materialize(commit: commit, into: output) }
            #expect(error.description.contains("not empty"))
        }
    }
}
