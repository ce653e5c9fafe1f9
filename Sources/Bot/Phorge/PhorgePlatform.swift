public import AsyncHTTPClient
import Foundation
import Git
public import Logging
public import ReviewClients
public import Runtime
import StatesLanguage
import Synchronization

/// A problem of the Phorge platform that is not a client or Git error (a diff without a base commit, a staging
/// area without the diff's tag).
public struct PhorgePlatformError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Phorge (Phabricator) behind the ``ReviewPlatform`` seam.
///
/// - Polling: per configured repository (the cursor scope, `rDEMO`), `differential.revision.search` with
///   `repositoryPHIDs`, `modifiedStart = cursor - overlap` (open statuses only on the very first poll), reviewers
///   attached, order `updated`, every page. The cursor is the newest `dateModified` seen (the server's clock).
///   Every write bumps `dateModified`, the bot's own comment and Harbormaster messages included: such re-reads are
///   harmless because a start is deduplicated per (server, revision, diff, workflow) and the snapshot only carries
///   what the server says about the current diff, its status and reviewers; the bot's own reviews and comments are
///   never counted.
/// - Revisions are materialised in the bot's mirror: the raw diff applied onto its base commit in memory, committed
///   under `refs/stepgate/phorge/D<N>/<diffID>` (deterministic: same diff, same commit), or fetched from the
///   staging area's `refs/tags/phabricator/diff/<diffID>` when `staging-url` is configured.
/// - Reports: Harbormaster results on the diff (lint messages for findings, a unit result, pass/fail on both
///   autotargets, which are created before anything is posted), then ONE comment transaction with the summary.
///   The comment is the commit point: `hasReported` looks for it; targets that already hold results are not sent
///   again, so a retry after a crash posts nothing twice.
/// - Approvals: a waiting `stepgate:approval` is decided by reviewers who accepted the current diff, or by a
///   comment line equal to `approval-command` (default `!stepgate approve`) written after the current diff.
public final class PhorgePlatform: ReviewPlatform {
    public let configuration: PhabricatorServerConfiguration
    public let client: ConduitClient
    /// Mirrors by their Phabricator repository name (callsign monogram `rDEMO` or PHID, as bot.yaml writes it).
    let mirrors: [String: MirrorConfiguration]
    public let pageSize: Int
    private let selfUser = Mutex<ConduitUser?>(nil)
    /// Scope (as configured) → repository PHID.
    private let repositoryPHIDs = Mutex<[String: String]>([:])
    /// User PHID → username.
    private let userNames = Mutex<[String: String]>([:])
    /// Revision PHID → (dateModified, diff PHID, users whose comment command approves the current diff).
    private let commandCache = Mutex<[String: (Int, String, [String])]>([:])
    /// Diffs this process could not materialise while polling (not retried by polls; ``fetchRevision`` still tries).
    private let unmaterialisable = Mutex<Set<Int>>([])

    public static let openStatuses = ["needs-review", "needs-revision", "changes-planned", "accepted", "draft"]
    public static let lintTargetKey = "arcanist.lint"
    public static let unitTargetKey = "arcanist.unit"

    /// - Throws: ``ReviewClients/ReviewClientError/configuration`` when the token file cannot be read.
    public init(
        configuration: PhabricatorServerConfiguration, repositories: [String: MirrorConfiguration], httpClient: HTTPClient,
        http: ReviewHTTPConfiguration = ReviewHTTPConfiguration(), pageSize: Int = 100, logger: Logger
    ) throws {
        self.configuration = configuration
        self.pageSize = min(max(pageSize, 1), 100)
        self.client = try ConduitClient(
            server: configuration.name, baseURL: configuration.url, credentials: ConduitCredentials(tokenFile: configuration.tokenFile),
            client: httpClient, configuration: http, logger: logger)
        var byName: [String: MirrorConfiguration] = [:]
        for mirror in repositories.values.sorted(by: { $0.key < $1.key }) {
            if let name = mirror.phabricatorRepository, byName[name] == nil { byName[name] = mirror }
        }
        self.mirrors = byName
    }

    public var server: String { configuration.name }
    public var kind: TriggerContext.Kind { .phabricator }
    public var pollInterval: Duration { configuration.pollInterval }
    /// The configured `repositories` of the server entry, else every mirror naming a `phabricator-repository`.
    public var scopes: [String] {
        (configuration.repositories ?? mirrors.keys.sorted()).filter { mirrors[$0] != nil }
    }

    /// The bot's own user PHID (its comments and accepts are ignored).
    public var userPHID: String? { selfUser.withLock { $0?.phid } }

    public func prepare(logger: Logger) async throws {
        let me = try await client.whoami()
        selfUser.withLock { $0 = me }
        for name in configuration.repositories ?? [] where mirrors[name] == nil {
            logger.warning("repository has no entry under 'repositories' (phabricator-repository); not polled", metadata: ["repository": "\(name)"])
        }
        logger.info("signed in to Phorge", metadata: ["user": "\(me.userName)", "phid": "\(me.phid)"])
    }

    // MARK: - Polling

    /// The repository PHID of a scope (`rDEMO` → callsign `DEMO`; a `PHID-REPO-...` as is), cached.
    func repositoryPHID(_ scope: String) async throws -> String? {
        if let known = repositoryPHIDs.withLock({ $0[scope] }) { return known }
        let found: [DiffusionRepository]
        if scope.hasPrefix("PHID-") {
            found = try await client.searchRepositories(phids: [scope])
        } else if scope.hasPrefix("r"), scope.count > 1 {
            found = try await client.searchRepositories(callsigns: [String(scope.dropFirst())])
        } else {
            found = try await client.searchRepositories(callsigns: [scope])
        }
        guard let phid = found.first(where: { $0.phid == scope || $0.monogram == scope || $0.fields.callsign == scope })?.phid
            ?? found.first?.phid
        else { return nil }
        repositoryPHIDs.withLock { $0[scope] = phid }
        return phid
    }

    /// The search constraints for one repository: open revisions on the first poll, then every revision modified
    /// since `cursor - overlap` (closed ones included, so that closing cancels).
    public func constraints(repositoryPHID: String, cursor: String?) -> RevisionSearchConstraints {
        guard let cursor, let seconds = Int(cursor) else {
            return RevisionSearchConstraints(statuses: Self.openStatuses, repositoryPHIDs: [repositoryPHID])
        }
        let overlap = Int(configuration.overlap.components.seconds)
        return RevisionSearchConstraints(modifiedStart: max(0, seconds - overlap), repositoryPHIDs: [repositoryPHID])
    }

    public func poll(cursors: [String: String], logger: Logger) async throws -> PollBatch {
        var snapshots: [ReviewSnapshot] = []
        var next: [String: String] = [:]
        for scope in scopes {
            guard let mirror = mirrors[scope] else { continue }
            guard let repoPHID = try await repositoryPHID(scope) else {
                logger.warning("Phorge knows no such repository; not polled", metadata: ["repository": "\(scope)"])
                continue
            }
            let revisions = try await client.searchRevisions(
                constraints(repositoryPHID: repoPHID, cursor: cursors[scope]), attachReviewers: true, order: "updated",
                pageSize: pageSize)
            var newest = cursors[scope].flatMap { Int($0) }
            for r in revisions where newest == nil || r.fields.dateModified > newest! { newest = r.fields.dateModified }
            snapshots += try await self.snapshots(revisions, scope: scope, mirror: mirror, logger: logger)
            if let newest { next[scope] = String(newest) }
        }
        return PollBatch(snapshots: snapshots, cursors: next)
    }

    /// Server-neutral snapshots of revisions (their current diffs, files, reviewers), in few batched calls.
    func snapshots(_ revisions: [DifferentialRevision], scope: String, mirror: MirrorConfiguration, logger: Logger) async throws
        -> [ReviewSnapshot]
    {
        let current = revisions.filter { $0.fields.diffPHID != nil }
        guard !current.isEmpty else { return [] }
        let diffPHIDs = Array(Set(current.compactMap(\.fields.diffPHID))).sorted()
        var diffs: [String: DifferentialDiff] = [:]
        for chunk in diffPHIDs.chunked(100) {
            for d in try await client.searchDiffs(phids: chunk, pageSize: pageSize) { diffs[d.phid] = d }
        }
        let open = current.filter { Self.isOpen($0) }
        var files: [String: [String]] = [:]
        let openDiffs = Array(Set(open.compactMap(\.fields.diffPHID))).sorted()
        for chunk in openDiffs.chunked(100) {
            for c in try await client.searchChangesets(diffPHIDs: chunk, pageSize: pageSize) {
                guard let d = c.fields.diffPHID else { continue }
                files[d, default: []].append(c.path)
            }
        }
        var people = Set(current.compactMap(\.fields.authorPHID))
        for r in current { for v in r.reviewers ?? [] { people.insert(v.reviewerPHID) } }
        try await learnUsers(people)
        let me = userPHID
        var out: [ReviewSnapshot] = []
        for r in current {
            guard let diffPHID = r.fields.diffPHID, let diff = diffs[diffPHID] else {
                logger.warning("the revision's current diff was not found; skipped", metadata: ["review": "\(r.monogram)"])
                continue
            }
            let isOpen = Self.isOpen(r)
            var commanders: [String] = []
            if isOpen {
                commanders = try await commandApprovers(revision: r, diff: diff)
            }
            var commit: String?
            if isOpen, !unmaterialisable.withLock({ $0.contains(diff.id) }) {
                do {
                    commit = try await materialize(revision: r.id, title: r.fields.title, diff: diff, mirror: mirror, logger: logger)
                } catch let error as ReviewClientError where error.isTransient {
                    logger.warning(
                        "could not read the raw diff yet", metadata: ["review": "\(r.monogram)", "error": "\(error)"])
                } catch {
                    unmaterialisable.withLock { _ = $0.insert(diff.id) }
                    logger.warning(
                        "could not bring the diff into the mirror yet", metadata: ["review": "\(r.monogram)", "error": "\(error)"])
                }
            }
            out.append(
                snapshot(
                    revision: r, diff: diff, scope: scope, mirror: mirror, files: (files[diffPHID] ?? []).sorted(),
                    commandApprovers: commanders, commit: commit, me: me))
        }
        return out
    }

    static func isOpen(_ r: DifferentialRevision) -> Bool {
        !(r.fields.status.closed ?? false) && r.fields.status.value != "abandoned" && r.fields.status.value != "published"
    }

    /// The snapshot of one revision (pure apart from the user-name cache).
    func snapshot(
        revision r: DifferentialRevision, diff: DifferentialDiff, scope: String, mirror: MirrorConfiguration, files: [String],
        commandApprovers: [String], commit: String?, me: String?
    ) -> ReviewSnapshot {
        let names = userNames.withLock { $0 }
        var reviewersJSON = JSONObject()
        var accepted: [String] = []
        var people: [String: ReviewerIdentity] = [:]
        for v in (r.reviewers ?? []).sorted(by: { $0.reviewerPHID < $1.reviewerPHID }) where v.reviewerPHID != me {
            let identity = ReviewerIdentity(id: v.reviewerPHID, username: names[v.reviewerPHID])
            let name = identity.description
            reviewersJSON[name] = .string(v.status)
            if v.status == "accepted" {
                accepted.append(name)
                people[name] = identity
            }
        }
        for phid in commandApprovers {
            let identity = ReviewerIdentity(id: phid, username: names[phid])
            people[identity.description] = identity
        }
        accepted.sort()
        let branch = targetBranch(diff: diff, mirror: mirror)
        let target = ReviewTarget(
            server: server, platform: .phabricator, repository: mirror.key, project: scope, reviewID: r.monogram,
            reviewNumber: r.id, revisionNumber: diff.id, revisionID: diff.phid)
        let base = configuration.url.hasSuffix("/") ? String(configuration.url.dropLast()) : configuration.url
        let author = r.fields.authorPHID.map { names[$0] ?? $0 }
        let event: JSON = .object(
            JSONObject([
                ("trigger", "phabricator"), ("server", .string(server)), ("repository", .string(mirror.key)),
                ("branch", .string(branch)),
                (
                    "revision",
                    .object(
                        JSONObject([
                            ("id", .int(r.id)), ("phid", .string(r.phid)), ("title", .string(r.fields.title)),
                            ("author", author.map(JSON.string) ?? .null), ("uri", .string(r.fields.uri ?? "\(base)/\(r.monogram)")),
                            ("status", .string(r.fields.status.value)),
                        ]))
                ),
                (
                    "diff",
                    .object(
                        JSONObject([
                            ("id", .int(diff.id)), ("phid", .string(diff.phid)), ("revision", commit.map(JSON.string) ?? .null),
                            ("base", diff.baseCommit.map(JSON.string) ?? .null),
                        ]))
                ),
                ("status", .string(r.fields.status.value)),
                ("reviewers", .object(reviewersJSON)),
                ("files", .array(files.map(JSON.string))),
            ]))
        var voters: [String: [String: Int]] = [:]
        if !accepted.isEmpty { voters["accepted"] = Dictionary(uniqueKeysWithValues: accepted.map { ($0, 1) }) }
        if !commandApprovers.isEmpty {
            voters["command"] = Dictionary(
                commandApprovers.map { (ReviewerIdentity(id: $0, username: names[$0]).description, 1) }, uniquingKeysWith: { a, _ in a })
        }
        let ownerIdentity = r.fields.authorPHID.map { ReviewerIdentity(id: $0, username: names[$0]) }
        return ReviewSnapshot(
            target: target, branch: branch, isOpen: Self.isOpen(r), status: r.fields.status.value, labels: [:],
            labelVoters: voters, approvers: accepted, files: files, revisionSHA: commit, updated: String(r.fields.dateModified),
            event: event, people: people, owner: ownerIdentity)
    }

    /// The branch the revision targets: the diff's `onto` ref, else its `branch` ref when the mirror has that branch,
    /// else the mirror's default branch (HEAD), else `main`.
    func targetBranch(diff: DifferentialDiff, mirror: MirrorConfiguration) -> String {
        func strip(_ s: String) -> String { s.hasPrefix("refs/heads/") ? String(s.dropFirst("refs/heads/".count)) : s }
        if let onto = diff.fields.refs?.first(where: { $0.type == "onto" }), let name = onto.name ?? onto.identifier, !name.isEmpty {
            return strip(name)
        }
        let repository = try? Repository.openOrCreateMirror(path: mirror.path)
        if let name = diff.branch.map(strip), !name.isEmpty, let repository, (try? repository.reference("refs/heads/" + name)) != nil {
            return name
        }
        return Self.defaultBranch(mirrorPath: mirror.path) ?? "main"
    }

    /// The branch a bare repository's HEAD names.
    static func defaultBranch(mirrorPath: String) -> String? {
        guard let data = FileManager.default.contents(atPath: (mirrorPath as NSString).appendingPathComponent("HEAD")) else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("ref: refs/heads/") else { return nil }
        return String(text.dropFirst("ref: refs/heads/".count))
    }

    /// Resolves user PHIDs to usernames (cached; unknown ones stay PHIDs).
    func learnUsers(_ phids: Set<String>) async throws {
        let missing = userNames.withLock { names in phids.filter { names[$0] == nil && $0.hasPrefix("PHID-USER-") } }.sorted()
        guard !missing.isEmpty else { return }
        for chunk in missing.chunked(100) {
            let users = try await client.searchUsers(phids: chunk)
            userNames.withLock { names in for u in users { names[u.phid] = u.fields.username } }
        }
    }

    /// The PHIDs of users (never the bot) whose comment since the current diff holds the approval command;
    /// cached per (revision, dateModified).
    func commandApprovers(revision r: DifferentialRevision, diff: DifferentialDiff) async throws -> [String] {
        let command = configuration.approvalCommand.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !command.isEmpty else { return [] }
        if let cached = commandCache.withLock({ $0[r.phid] }), cached.0 == r.fields.dateModified, cached.1 == diff.phid {
            return cached.2
        }
        let since = diff.fields.dateCreated ?? 0
        let me = userPHID
        let transactions = try await client.searchTransactions(objectIdentifier: r.phid, limit: 200)
        var authors = Set<String>()
        for t in transactions where t.authorPHID != nil && t.authorPHID != me && (t.dateCreated ?? 0) >= since {
            guard let text = t.text else { continue }
            let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            if lines.contains(command) { authors.insert(t.authorPHID!) }
        }
        try await learnUsers(authors)
        let voters = authors.sorted()
        commandCache.withLock { $0[r.phid] = (r.fields.dateModified, diff.phid, voters) }
        return voters
    }

    public func approvalVoters(in snapshot: ReviewSnapshot) -> [ApprovalVoter] {
        let accepted = Set((snapshot.labelVoters["accepted"] ?? [:]).keys)
        let commanded = Set((snapshot.labelVoters["command"] ?? [:]).keys)
        return accepted.union(commanded).sorted().compactMap { name in
            snapshot.people[name].map { ApprovalVoter($0, byCommand: !accepted.contains(name)) }
        }
    }

    // MARK: - Git

    /// The local ref a materialised diff is kept under: `refs/stepgate/phorge/D12/34`.
    public static func localRef(revision: Int, diff: Int) -> String { "refs/stepgate/phorge/D\(revision)/\(diff)" }

    /// The staging area's URL for a mirror: `staging-url` with `{repository}` replaced by the Phorge repository
    /// name (`rDEMO` without its `r`), else as written.
    func stagingURL(for mirror: MirrorConfiguration) -> String? {
        guard let url = configuration.stagingURL else { return nil }
        let name = mirror.phabricatorRepository.map { $0.hasPrefix("r") && !$0.hasPrefix("PHID-") ? String($0.dropFirst()) : $0 } ?? mirror.key
        return url.replacingOccurrences(of: "{repository}", with: name)
    }

    public func refreshMirror(_ mirror: MirrorConfiguration, logger: Logger) async throws {
        // The mirror is kept by whoever serves the repository (Diffusion's mirroring, a push hook); the bot only
        // makes sure it exists. Revisions come in through their raw diffs or the staging area.
        _ = try Repository.openOrCreateMirror(path: mirror.path)
    }

    /// Brings diff `diff` of revision `revision` into the mirror (once; the ref is kept) and returns its commit.
    func materialize(revision: Int, title: String?, diff: DifferentialDiff, mirror: MirrorConfiguration, logger: Logger) async throws
        -> String
    {
        let ref = Self.localRef(revision: revision, diff: diff.id)
        let repository = try Repository.openOrCreateMirror(path: mirror.path)
        if let existing = try repository.reference(ref) { return existing.description }
        if let staging = stagingURL(for: mirror) {
            _ = try repository.fetch(
                remoteURL: staging, refspecs: ["+refs/tags/phabricator/diff/\(diff.id):\(ref)"], credentials: nil)
            guard let id = try repository.reference(ref) else {
                throw PhorgePlatformError("the staging area \(staging) has no refs/tags/phabricator/diff/\(diff.id)")
            }
            logger.debug("fetched the diff from the staging area", metadata: ["commit": "\(id)"])
            return id.description
        }
        guard let baseText = diff.baseCommit, let base = ObjectID(hex: baseText) else {
            throw PhorgePlatformError("diff \(diff.id) names no base commit; configure staging-url")
        }
        let raw = try await client.rawDiff(diffID: diff.id)
        let tree = try repository.applyDiff(raw, onto: base)
        let when = diff.fields.dateCreated ?? 0
        let signature = Signature(name: "stepgate", email: "stepgate@localhost", time: when, offsetMinutes: 0)
        let message = "D\(revision) diff \(diff.id)" + (title.map { ": \($0)" } ?? "") + "\n"
        let commit = try repository.commit(tree: tree, parents: [base], message: message, author: signature)
        try repository.setReference(name: ref, to: commit, force: true, logMessage: "stepgate: D\(revision) diff \(diff.id)")
        logger.debug("applied the raw diff onto its base", metadata: ["commit": "\(commit)", "base": "\(baseText)"])
        return commit.description
    }

    public func fetchRevision(_ snapshot: ReviewSnapshot, into mirror: MirrorConfiguration, logger: Logger) async throws -> String {
        let target = snapshot.target
        let repository = try Repository.openOrCreateMirror(path: mirror.path)
        if let existing = try repository.reference(Self.localRef(revision: target.reviewNumber, diff: target.revisionNumber)) {
            return existing.description
        }
        guard let diff = try await client.searchDiffs(ids: [target.revisionNumber]).first(where: { $0.id == target.revisionNumber })
        else {
            throw PhorgePlatformError("Phorge has no diff \(target.revisionNumber)")
        }
        return try await materialize(revision: target.reviewNumber, title: nil, diff: diff, mirror: mirror, logger: logger)
    }

    // MARK: - Reporting

    public func isCurrent(_ target: ReviewTarget, logger: Logger) async throws -> Bool {
        guard
            let r = try await client.searchRevisions(
                RevisionSearchConstraints(ids: [target.reviewNumber]), attachReviewers: false, order: "newest", pageSize: 1
            ).first(where: { $0.id == target.reviewNumber })
        else { return false }
        return Self.isOpen(r) && r.fields.diffPHID == target.revisionID
    }

    public func hasReported(executionID: String, on target: ReviewTarget, logger: Logger) async throws -> Bool {
        var me = userPHID
        if me == nil { me = try await client.whoami().phid }
        guard let me else { return false }
        let mine = try await client.searchTransactions(objectIdentifier: target.reviewID, authorPHIDs: [me])
        return mine.contains { $0.authorPHID == me && ($0.text?.contains(executionID) ?? false) }
    }

    /// Harbormaster's lint severity for a finding's.
    static func lintSeverity(_ severity: String) -> String {
        switch severity.lowercased() {
        case "error": "error"
        case "warning": "warning"
        default: "advice"
        }
    }

    static func lint(_ f: ReviewFinding, workflow: String) -> HarbormasterLintResult {
        let first = f.message.split(whereSeparator: \.isNewline).first.map(String.init) ?? f.message
        let name = first.count > 120 ? String(first.prefix(120)) + "…" : first
        return HarbormasterLintResult(
            name: name.isEmpty ? "stepgate finding" : name, code: "stepgate.\(workflow)", severity: lintSeverity(f.severity),
            path: f.path.hasPrefix("/") ? String(f.path.dropFirst()) : f.path, line: f.line, char: f.line == nil ? nil : 1,
            description: f.message + (f.endLine.map { end in end > (f.line ?? end) ? " (lines \(f.line ?? 1)-\(end))" : "" } ?? ""))
    }

    /// Sends Harbormaster results to the diff's autotargets (created first), skipping targets that already hold
    /// results (a retry after a crash, or a second workflow on the same diff); returns the findings to list in the
    /// comment: those on files the diff does not touch, or all of them when the lint target was not sent to.
    func sendResults(
        findings: [ReviewFinding], workflow: String, succeeded: Bool, unit: [HarbormasterUnitResult], on target: ReviewTarget,
        logger: Logger
    ) async throws -> [ReviewFinding] {
        let targets = try await client.queryAutotargets(diffPHID: target.revisionID, targetKeys: [Self.lintTargetKey, Self.unitTargetKey])
        let done = Set(try await client.searchBuildTargets(phids: Array(targets.values).sorted()).filter(\.isComplete).map(\.phid))
        let files = Set(try await client.searchChangesets(diffPHIDs: [target.revisionID]).map(\.path))
        let lint = findings.map { Self.lint($0, workflow: workflow) }
        let lintFails = !succeeded || findings.contains { $0.severity.lowercased() == "error" }
        if let lintTarget = targets[Self.lintTargetKey], !done.contains(lintTarget) {
            try await client.sendMessage(buildTargetPHID: lintTarget, type: lintFails ? .fail : .pass, lint: lint)
        } else {
            logger.debug("the lint target already holds results; findings go into the comment")
            if let unitTarget = targets[Self.unitTargetKey], !done.contains(unitTarget) {
                try await client.sendMessage(buildTargetPHID: unitTarget, type: succeeded ? .pass : .fail, unit: unit)
            }
            return findings
        }
        if let unitTarget = targets[Self.unitTargetKey], !done.contains(unitTarget) {
            try await client.sendMessage(buildTargetPHID: unitTarget, type: succeeded ? .pass : .fail, unit: unit)
        }
        return findings.filter { !files.contains($0.path) }
    }

    static func list(_ findings: [ReviewFinding]) -> String {
        findings.map { "- \($0.path)\($0.line.map { ":\($0)" } ?? ""): \($0.message)" }.joined(separator: "\n")
    }

    /// Unit results: one per Task state (name = the state, pass|fail, the error and cause as details); an execution
    /// that ran no task (a role denial, a missing definition) gets one for the workflow.
    static func units(_ report: OutcomeReport) -> [HarbormasterUnitResult] {
        func details(_ error: String?, _ cause: String?) -> String? {
            let parts = [error, cause.map { String($0.prefix(2000)) }].compactMap { $0 }
            return parts.isEmpty ? nil : parts.joined(separator: ": ")
        }
        var units = report.tasks.map { task in
            HarbormasterUnitResult(
                name: task.state, result: task.succeeded ? "pass" : "fail", namespace: "stepgate/\(report.workflow)",
                engine: "stepgate", details: details(task.error, task.cause))
        }
        if units.isEmpty || (!report.succeeded && !report.tasks.contains { !$0.succeeded }) {
            units.append(
                HarbormasterUnitResult(
                    name: report.succeeded ? report.workflow : (report.failedState ?? report.workflow),
                    result: report.succeeded ? "pass" : "fail", namespace: "stepgate/\(report.workflow)", engine: "stepgate",
                    duration: report.duration, details: details(report.error, report.cause)))
        }
        return units
    }

    public func report(_ report: OutcomeReport, on target: ReviewTarget, logger: Logger) async throws {
        let elsewhere = try await sendResults(
            findings: report.findings, workflow: report.workflow, succeeded: report.succeeded, unit: Self.units(report),
            on: target, logger: logger)
        var message = report.message
        if elsewhere.count < report.findings.count {
            message += "\nFindings are shown inline as lint results of diff \(target.revisionNumber)."
        }
        if !elsewhere.isEmpty { message += "\n\nFindings not shown inline:\n" + Self.list(elsewhere) }
        try await client.comment(revision: target.reviewID, message)
    }

    public func postFindings(_ findings: [ReviewFinding], message: String, on target: ReviewTarget, logger: Logger) async throws {
        // The diff's lint target is kept for the workflows' results: validation problems are listed in the comment.
        try await client.comment(revision: target.reviewID, message + "\n\n" + Self.list(findings))
    }

    public func postNotice(_ message: String, on target: ReviewTarget, logger: Logger) async throws {
        try await client.comment(revision: target.reviewID, Self.phorgeWording(message))
    }

    /// The engine speaks of patch sets; Phorge has diffs.
    static func phorgeWording(_ message: String) -> String {
        message.replacingOccurrences(of: "superseded by patch set ", with: "superseded by diff ")
            .replacingOccurrences(of: "on patch set ", with: "on diff ")
            .replacingOccurrences(of: "(a vote was removed)", with: "(the revision is no longer in a triggering status)")
    }
}

extension Array {
    func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
