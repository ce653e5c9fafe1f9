import Config
import Foundation
import Git
import Runtime
import Testing

/// The trust rules on real repositories made with the git CLI: what counts as an edit of
/// `.stepgate/`, which commit judges a push, which branch a local `--rev` stands for.
@Suite struct TrustRulesTests {
    /// A non-bare repository with `main` holding a trusted `.stepgate/`.
    struct Repo {
        let path: String
        let env = ["PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"]

        init() throws {
            path = try makeTemporaryDirectory("trust")
            try git("init", "-q", "-b", "main")
            try write(".stepgate/stepgate.yaml", "version: 1\nworkflows: {}\n")
            try write(".stepgate/workflows/check.asl.json", #"{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}"#)
            try write("src/a.txt", "a\n")
            try commit("trusted")
        }

        @discardableResult
        func git(_ arguments: String...) throws -> String {
            let r = try runProgram("/usr/bin/git", arguments, in: path, environment: env)
            guard r.status == 0 else { throw TestFailure("git \(arguments): \(r.stderr)") }
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func write(_ file: String, _ text: String) throws {
            let url = URL(fileURLWithPath: path).appendingPathComponent(file)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }

        @discardableResult
        func commit(_ message: String) throws -> ObjectID {
            try git("add", "-A")
            try git("-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-q", "--allow-empty", "-m", message)
            return try id("HEAD")
        }

        func id(_ revision: String) throws -> ObjectID {
            guard let id = ObjectID(hex: try git("rev-parse", revision + "^{commit}")) else { throw TestFailure("no \(revision)") }
            return id
        }

        func edits(_ checkout: ObjectID, trusted: String = "main") throws -> Bool {
            try TrustRules.editsStepgate(checkout: checkout, trusted: try id(trusted), in: try Repository(path: path))
        }
    }

    // MARK: - What counts as an edit of .stepgate/

    @Test func aChangeOfCodeOnlyDoesNotEditStepgate() throws {
        let repo = try Repo()
        defer { try? FileManager.default.removeItem(atPath: repo.path) }
        try repo.git("checkout", "-q", "-b", "change")
        try repo.write("src/a.txt", "changed\n")
        #expect(try repo.edits(try repo.commit("code")) == false)
    }

    @Test func aChangeWhoseTargetMovedOnSinceItsBaseDoesNotEditStepgate() throws {
        let repo = try Repo()
        defer { try? FileManager.default.removeItem(atPath: repo.path) }
        try repo.git("checkout", "-q", "-b", "change")
        try repo.write("src/a.txt", "changed\n")
        let change = try repo.commit("code")
        try repo.git("checkout", "-q", "main")
        try repo.write(".stepgate/workflows/new.asl.json", #"{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}"#)
        try repo.commit("the trusted branch adds a workflow")
        #expect(try repo.edits(change) == false)
    }

    @Test func directEditsCount() throws {
        let repo = try Repo()
        defer { try? FileManager.default.removeItem(atPath: repo.path) }
        try repo.git("checkout", "-q", "-b", "change")
        try repo.write(".stepgate/workflows/check.asl.json", #"{"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}"#)
        #expect(try repo.edits(try repo.commit("edit")) == true)
    }

    /// Change B sits on change A, which edits `.stepgate/`; B's own file list names no `.stepgate/`
    /// file, but its checkout carries A's edit.
    @Test func aRelationChainCarriesItsParentsEdit() throws {
        let repo = try Repo()
        defer { try? FileManager.default.removeItem(atPath: repo.path) }
        try repo.git("checkout", "-q", "-b", "change")
        try repo.write(".stepgate/workflows/check.asl.json", #"{"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}"#)
        try repo.commit("A: edit the workflow")
        try repo.write("src/b.txt", "b\n")
        let b = try repo.commit("B: code only")
        #expect(try repo.edits(b) == true)
    }

    @Test func aMergeBringingInAnEditCounts() throws {
        let repo = try Repo()
        defer { try? FileManager.default.removeItem(atPath: repo.path) }
        try repo.git("checkout", "-q", "-b", "side")
        try repo.write(".stepgate/workflows/side.asl.json", #"{"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}"#)
        try repo.commit("side edits .stepgate")
        try repo.git("checkout", "-q", "-b", "change", "main")
        try repo.write("src/m.txt", "m\n")
        try repo.commit("code")
        try repo.git("-c", "user.name=T", "-c", "user.email=t@example.org", "merge", "-q", "--no-ff", "-m", "merge side", "side")
        #expect(try repo.edits(try repo.id("HEAD")) == true)
    }

    @Test func aRenameOutOfStepgateCounts() throws {
        let repo = try Repo()
        defer { try? FileManager.default.removeItem(atPath: repo.path) }
        try repo.git("checkout", "-q", "-b", "change")
        try repo.git("mv", ".stepgate/workflows/check.asl.json", "src/check.asl.json")
        #expect(try repo.edits(try repo.commit("move it out")) == true)
    }

    /// A case-insensitive checkout merges `.STEPGATE/` into `.stepgate/`; other file systems also
    /// ignore invisible code points and trailing dots.
    @Test(arguments: [".STEPGATE", ".StepGate", ".stepgate\u{200C}", ".stepgate."])
    func variantsThatACheckoutMayMergeCount(_ name: String) throws {
        let repo = try Repo()
        defer { try? FileManager.default.removeItem(atPath: repo.path) }
        try repo.git("checkout", "-q", "-b", "change")
        try repo.write("\(name)/workflows/check.asl.json", #"{"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}"#)
        #expect(try repo.edits(try repo.commit("variant")) == true)
    }

    @Test func aNameThatOnlyResemblesStepgateIsNotAnEdit() throws {
        let repo = try Repo()
        defer { try? FileManager.default.removeItem(atPath: repo.path) }
        try repo.git("checkout", "-q", "-b", "change")
        try repo.write(".stepgates/notes.txt", "n\n")
        try repo.write("stepgate/notes.txt", "n\n")
        #expect(try repo.edits(try repo.commit("look-alikes")) == false)
    }

    // MARK: - Which commit judges a push

    @Test func aPushIsJudgedByTheRefsTipBeforeItOrTheDefaultBranch() throws {
        let repo = try Repo()
        defer { try? FileManager.default.removeItem(atPath: repo.path) }
        let main = try repo.id("main")
        let opened = try Repository(path: repo.path)
        let other = try repo.commit("other")
        // An update: the old tip.
        let update = try TrustRules.trustedSideOfPush(in: opened, ref: .branch("main"), old: other, defaultBranch: nil)
        #expect(update.commit == other && update.branch == "main")
        // A creation: the default branch (HEAD names main).
        try repo.git("update-ref", "refs/heads/main", main.description)
        let created = try TrustRules.trustedSideOfPush(in: opened, ref: .branch("feature/x"), old: .zero, defaultBranch: nil)
        #expect(created.commit == main && created.branch == "main")
        // The default branch created by this same push is not trusted: what it held before is.
        let alongside = try TrustRules.trustedSideOfPush(
            in: opened, ref: .branch("feature/x"), old: .zero, defaultBranch: nil, pushedAlongside: [.branch("main"): other])
        #expect(alongside.commit == other)
        // HEAD names a branch that does not exist while a branch holds a configuration: refused.
        try repo.git("symbolic-ref", "HEAD", "refs/heads/trunk")
        #expect(throws: TrustRefusal.self) {
            _ = try TrustRules.trustedSideOfPush(in: opened, ref: .branch("feature/y"), old: .zero, defaultBranch: nil)
        }
        // ... unless the operator names the default branch.
        let configured = try TrustRules.trustedSideOfPush(in: opened, ref: .branch("feature/y"), old: .zero, defaultBranch: "main")
        #expect(configured.commit == main)
    }

    @Test func theFirstPushOfAnEmptyRepositoryHasNothingToTrust() throws {
        let dir = try makeTemporaryDirectory("empty")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runProgram("/usr/bin/git", ["init", "-q", "--bare", dir + "/e.git"])
        #expect(r.status == 0)
        let side = try TrustRules.trustedSideOfPush(
            in: try Repository(path: dir + "/e.git"), ref: .branch("main"), old: .zero, defaultBranch: nil)
        #expect(side.commit == nil)
    }

    // MARK: - Which branch a local --rev stands for

    @Test func aRevisionIsItsBranchOnlyWhenItResolvesToTheBranchTip() throws {
        let repo = try Repo()
        defer { try? FileManager.default.removeItem(atPath: repo.path) }
        let opened = try Repository(path: repo.path)
        let main = try repo.id("main")
        #expect(try TrustRules.branch(ofRevision: "main", resolvedTo: main, in: opened) == "main")
        #expect(try TrustRules.branch(ofRevision: "refs/heads/main", resolvedTo: main, in: opened) == "main")
        // A tag spelled like the branch wins git's lookup and leads elsewhere: not the branch.
        try repo.write("evil.txt", "x\n")
        let evil = try repo.commit("evil")
        try repo.git("reset", "-q", "--hard", main.description)
        try repo.git("tag", "main", evil.description)
        let resolved = try opened.resolve("main")
        #expect(resolved == evil)
        #expect(try TrustRules.branch(ofRevision: "main", resolvedTo: resolved, in: opened) == nil)
        #expect(try TrustRules.branch(ofRevision: "main~0", resolvedTo: main, in: opened) == nil)
    }
}
