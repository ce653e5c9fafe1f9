import Foundation
import Git
import Testing

/// Ranges are checked as pre-receive sees them: the pushed commits exist in the repository,
/// but the refs still hold their old values (set back with `update-ref`).
struct CommitsIntroducedTests {
    @Test func readsCommitMetadata() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let first = try fixture.commit("first", files: ["a.txt": "a\n"])
            let second = try fixture.commit("Second line summary\n\nBody text.\n", files: ["a.txt": "b\n"])
            let repository = try Repository(path: fixture.path)

            let info = try repository.commit(second)
            #expect(info.id == second)
            #expect(info.parents == [first])
            #expect(info.tree == (try fixture.id(fixture.git("rev-parse", "HEAD^{tree}"))))
            #expect(info.summary == "Second line summary")
            #expect(info.message == "Second line summary\n\nBody text.\n")
            #expect(info.author == Signature(name: "t", email: "t@example.org", time: 1_700_000_000, offsetMinutes: 60))
            #expect(info.committer == info.author)
            #expect(try repository.commit(first).parents.isEmpty)

            let missing = try #require(ObjectID(hex: String(repeating: "ab", count: 20)))
            let error = try #require(throws: GitError.self) { try repository.commit(missing) }
            #expect(error.isNotFound)
        }
    }

    @Test func fastForward() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            try fixture.commit("c1")
            let c2 = try fixture.commit("c2")
            let c3 = try fixture.commit("c3")
            let c4 = try fixture.commit("c4")
            try fixture.git("update-ref", "refs/heads/main", c2.description)
            let repository = try Repository(path: fixture.path)

            #expect(try repository.commitsIntroduced(old: c2, new: c4).map(\.id) == [c3, c4])
            // Post-receive: the ref already points at the new tip, so only `old` may be hidden.
            try fixture.git("update-ref", "refs/heads/main", c4.description)
            #expect(try repository.commitsIntroduced(old: c2, new: c4).isEmpty)
            #expect(try repository.commitsIntroduced(old: c2, new: c4, excluding: .oldOnly).map(\.id) == [c3, c4])
        }
    }

    @Test func branchCreationExcludesCommitsOnOtherRefs() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            try fixture.commit("c1")
            let c2 = try fixture.commit("c2")
            try fixture.git("branch", "release/1.0")  // at c2, nested ref name
            let c3 = try fixture.commit("c3")
            let c4 = try fixture.commit("c4")
            try fixture.git("update-ref", "refs/heads/main", c2.description)
            try fixture.git("branch", "-q", "-D", "release/1.0")
            try fixture.git("update-ref", "refs/heads/release/1.0", c2.description)
            try fixture.git("checkout", "-q", "--detach", c2.description)
            let repository = try Repository(path: fixture.path)

            #expect(try repository.commitsIntroduced(old: .zero, new: c4).map(\.id) == [c3, c4])
            // A branch created at an existing commit brings nothing new.
            #expect(try repository.commitsIntroduced(old: .zero, new: c2).isEmpty)
            // Without hiding refs, a creation lists the whole history.
            #expect(try repository.commitsIntroduced(old: .zero, new: c4, excluding: .oldOnly).count == 4)
        }
    }

    @Test func deletionIntroducesNothing() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let c1 = try fixture.commit("c1")
            let repository = try Repository(path: fixture.path)
            #expect(try repository.commitsIntroduced(old: c1, new: .zero).isEmpty)
            #expect(try repository.commitsIntroduced(old: c1, new: .zero, excluding: .oldOnly).isEmpty)
        }
    }

    @Test func forcePush() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let c1 = try fixture.commit("c1")
            try fixture.commit("c2")
            let c3 = try fixture.commit("c3")
            try fixture.git("checkout", "-q", "-b", "rewrite", c1.description)
            let x1 = try fixture.commit("x1")
            let x2 = try fixture.commit("x2")
            try fixture.git("checkout", "-q", "main")
            try fixture.git("branch", "-q", "-D", "rewrite")
            let repository = try Repository(path: fixture.path)

            // main is at c3; the push replaces it with x2, which does not contain c3.
            #expect(try repository.resolve("main") == c3)
            #expect(try repository.commitsIntroduced(old: c3, new: x2).map(\.id) == [x1, x2])
            #expect(try repository.commitsIntroduced(old: c3, new: x2, excluding: .oldOnly).map(\.id) == [x1, x2])
        }
    }

    @Test func mergeRange() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root)
            let m0 = try fixture.commit("m0", files: ["base.txt": "base\n"])
            try fixture.git("checkout", "-q", "-b", "side")
            let s1 = try fixture.commit("s1", files: ["side.txt": "1\n"])
            let s2 = try fixture.commit("s2", files: ["side.txt": "2\n"])
            try fixture.git("checkout", "-q", "main")
            let m1 = try fixture.commit("m1", files: ["main.txt": "1\n"])
            try fixture.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
            let merge = try fixture.head()
            try fixture.git("update-ref", "refs/heads/main", m1.description)
            let repository = try Repository(path: fixture.path)
            #expect(try repository.commit(merge).parents == [m1, s2])

            // The side branch is still a ref: only the merge commit is new.
            #expect(try repository.commitsIntroduced(old: m1, new: merge).map(\.id) == [merge])
            // Without it, its commits come in too, parents before children.
            try fixture.git("branch", "-q", "-D", "side")
            let introduced = try repository.commitsIntroduced(old: m1, new: merge).map(\.id)
            #expect(introduced == [s1, s2, merge])
            #expect(!introduced.contains(m0))
        }
    }

    @Test func thousandCommitRange() throws {
        try withTemporaryDirectory { root in
            let fixture = try Fixture.create(in: root, bare: true)
            let count = 1001
            var stream = ""
            for index in 1...count {
                let message = "commit \(index)\n"
                let content = "version \(index)\n"
                stream += "commit refs/heads/main\nmark :\(index)\n"
                stream += "committer t <t@example.org> \(1_700_000_000 + index) +0000\n"
                stream += "data \(message.utf8.count)\n\(message)"
                stream += "M 644 inline src/deep/data.txt\ndata \(content.utf8.count)\n\(content)\n"
            }
            let streamPath = "\(root)/stream.txt"
            try Data(stream.utf8).write(to: URL(fileURLWithPath: streamPath))
            try runGit(["fast-import", "--quiet"], in: fixture.path, home: root, stdin: streamPath)

            let repository = try Repository(path: fixture.path)
            let tip = try repository.resolve("main")
            let first = try repository.resolve("main~1000")
            try fixture.git("update-ref", "refs/heads/main", first.description)

            let commits = try repository.commitsIntroduced(old: first, new: tip)
            #expect(commits.count == 1000)
            let inOrder = commits.map(\.summary).elementsEqual((2...count).map { "commit \($0)" })
            #expect(inOrder, "oldest first")
            #expect(commits.first?.parents == [first])
            #expect(commits.last?.id == tip)
            let ordered = zip(commits.dropFirst(), commits).allSatisfy { $0.parents == [$1.id] }
            #expect(ordered)
            #expect(try repository.blob(at: "src/deep/data.txt", commit: tip) == Array("version 1001\n".utf8))
        }
    }
}
