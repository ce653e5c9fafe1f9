public import AsyncHTTPClient
import Config
import Foundation
import Git
public import Logging
public import ReviewClients
public import Runtime
import StatesLanguage
import Synchronization

/// A problem of the Phorge platform that is not a client or Git error. A refusal (``isRefusal``) is permanent: the
/// revision's diff cannot be run as it is (it does not apply, its base is outside the trusted branch's history), and
/// the revision is told so once instead of the run being retried.
public struct PhorgePlatformError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var isRefusal: Bool
    public init(_ message: String, refusal: Bool = false) {
        self.message = message
        self.isRefusal = refusal
    }
    public var description: String { message }
}

/// Phorge (Phabricator) behind the ``ReviewPlatform`` seam.
///
/// - Repositories are named in bot.yaml by callsign monogram (`rDEMO`), `R<id>`, PHID or short name, and resolved
///   through `diffusion.repository.search` (with their URIs and default branch).
/// - Polling: per configured repository, `differential.revision.search` with `repositoryPHIDs`,
///   `modifiedStart = cursor - overlap` (open statuses only on the very first poll), reviewers attached, order
///   `updated`, every page. The cursor is the newest `dateModified` seen (the server's clock). Every write bumps
///   `dateModified`, the bot's own included: a start is deduplicated per (server, revision, diff, workflow).
/// - The mirror: before a poll brings revisions in, the repository's branches are fetched into the bot's mirror from
///   `clone-url` or the clone URI Diffusion reports, with `git-username`/`git-password-file`.
/// - The target branch is decided server-side: the repository's `branch` in bot.yaml, else Diffusion's default
///   branch; never the diff's `onto`/`branch` refs, which the author's client supplies.
/// - Revisions are materialised in the mirror: the raw diff applied onto its base commit in memory (onto the target
///   branch's tip when the diff names no base, as `arc patch` does), committed under
///   `refs/stepgate/phorge/D<N>/<diffID>`, or fetched from the staging area. A base outside the target branch's
///   history, or a diff that does not apply, is refused (``ReviewSnapshot/refusal``).
/// - Reports: lint messages (findings), unit results (one per Task state) and pass/fail go to the bot's own build
///   target (the `build-plan` a Herald rule runs, its target waiting for a message), once per execution
///   (``OnceMarkers``); then ONE comment transaction with the summary, which is the commit point (`hasPosted`).
/// - Approvals: a waiting `stepgate:approval` is decided by reviewers who accepted the current diff, or by a
///   comment line equal to `approval-command` (default `!stepgate approve`) written after the current diff.
public final class PhorgePlatform: ReviewPlatform {
    public let configuration: PhabricatorServerConfiguration
    public let client: ConduitClient
    /// Mirrors by their Phabricator repository name (as bot.yaml writes it).
    let mirrors: [String: MirrorConfiguration]
    public let pageSize: Int
    let markers: any OnceMarkers
    let credentials: GitCredentials?
    private let selfUser = Mutex<ConduitUser?>(nil)
    /// Scope (as configured) → repository.
    private let repositories = Mutex<[String: DiffusionRepository]>([:])
    /// User PHID → username.
    private let userNames = Mutex<[String: String]>([:])
    /// Revision PHID → (dateModified, diff PHID, users whose comment command approves the current diff).
    private let commandCache = Mutex<[String: (Int, String, [String])]>([:])
    /// Diff ID → why it is refused (not tried again by this process).
    private let refusals = Mutex<[Int: String]>([:])
    /// Mirrors fetched during the current poll.
    private let refreshed = Mutex<Set<String>>([])
    private let planPHID = Mutex<String?>(nil)

    public static let openStatuses = ["needs-review", "needs-revision", "changes-planned", "accepted", "draft"]

    /// - Parameter markers: where results sent to a build target are recorded (the bot's store; in memory by default).
    /// - Throws: ``ReviewClients/ReviewClientError/configuration`` when the token or git password file cannot be read.
    public init(
        configuration: PhabricatorServerConfiguration, repositories: [String: MirrorConfiguration], httpClient: HTTPClient,
        http: ReviewHTTPConfiguration = ReviewHTTPConfiguration(), pageSize: Int = 100,
        markers: any OnceMarkers = MemoryMarkers(), logger: Logger
    ) throws {
        self.configuration = configuration
        self.pageSize = min(max(pageSize, 1), 100)
        self.markers = markers
        var http = http
        http.readTimeout = configuration.requestTimeout
        self.client = try ConduitClient(
            server: configuration.name, baseURL: configuration.url, credentials: ConduitCredentials(tokenFile: configuration.tokenFile),
            client: httpClient, configuration: http, logger: logger)
        if let username = configuration.gitUsername, let file = configuration.gitPasswordFile {
            let password = try readSecretFile(file, what: "git password", server: configuration.name)
            self.credentials = GitCredentials(username: username, password: password)
        } else {
            self.credentials = nil
        }
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
        // A build plan that does not exist is an operator's mistake: say so before polling, not at every report.
        if let plan = try await buildPlanPHID() {
            logger.info("reporting to the build plan's targets", metadata: ["plan": "\(plan)"])
        }
    }

    // MARK: - Repositories

    /// The repository a scope names: `rDEMO` (callsign), `R12` (ID), `PHID-REPO-...`, or a short name (a bare
    /// callsign is tried too); with its URIs and default branch, cached for the process.
    public func repository(_ scope: String) async throws -> DiffusionRepository? {
        if let known = repositories.withLock({ $0[scope] }) { return known }
        var found: [DiffusionRepository] = []
        if scope.hasPrefix("PHID-") {
            found = try await client.searchRepositories(phids: [scope], attachURIs: true).filter { $0.phid == scope }
        } else if scope.count > 1, scope.first == "R", let id = Int(scope.dropFirst()) {
            found = try await client.searchRepositories(ids: [id], attachURIs: true).filter { $0.id == id }
        } else {
            if scope.count > 1, scope.first == "r", scope.dropFirst().allSatisfy({ $0.isUppercase || $0.isNumber }) {
                let callsign = String(scope.dropFirst())
                found = try await client.searchRepositories(callsigns: [callsign], attachURIs: true)
                    .filter { $0.fields.callsign == callsign }
            }
            if found.isEmpty {
                found = try await client.searchRepositories(shortNames: [scope], attachURIs: true)
                    .filter { $0.fields.shortName == scope }
            }
            if found.isEmpty, scope.allSatisfy({ $0.isUppercase || $0.isNumber }) {
                found = try await client.searchRepositories(callsigns: [scope], attachURIs: true)
                    .filter { $0.fields.callsign == scope }
            }
        }
        guard let repository = found.first else { return nil }
        repositories.withLock { $0[scope] = repository }
        return repository
    }

    /// The branch revisions of a repository target, decided server-side: `branch` in bot.yaml, else Diffusion's
    /// default branch (Phorge's own default for Git is `master`). Never the diff's refs.
    static func targetBranch(mirror: MirrorConfiguration, repository: DiffusionRepository?) -> String {
        RefName.branchName(mirror.branch ?? repository?.fields.defaultBranch ?? "master")
    }

    // MARK: - Polling

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
        refreshed.withLock { $0.removeAll() }
        var snapshots: [ReviewSnapshot] = []
        var next: [String: String] = [:]
        for scope in scopes {
            guard let mirror = mirrors[scope] else { continue }
            guard let repository = try await repository(scope) else {
                logger.warning("Phorge knows no such repository; not polled", metadata: ["repository": "\(scope)"])
                continue
            }
            let revisions = try await client.searchRevisions(
                constraints(repositoryPHID: repository.phid, cursor: cursors[scope]), attachReviewers: true, order: "updated",
                pageSize: pageSize)
            var newest = cursors[scope].flatMap { Int($0) }
            for r in revisions where newest == nil || r.fields.dateModified > newest! { newest = r.fields.dateModified }
            snapshots += try await self.snapshots(revisions, scope: scope, repository: repository, mirror: mirror, logger: logger)
            if let newest { next[scope] = String(newest) }
        }
        return PollBatch(snapshots: snapshots, cursors: next)
    }

    /// Server-neutral snapshots of revisions (their current diffs, files, reviewers), in few batched calls.
    func snapshots(
        _ revisions: [DifferentialRevision], scope: String, repository: DiffusionRepository, mirror: MirrorConfiguration,
        logger: Logger
    ) async throws -> [ReviewSnapshot] {
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
        if !open.isEmpty { try refresh(mirror, repository: repository, scope: scope, logger: logger) }
        var people = Set(current.compactMap(\.fields.authorPHID))
        for r in current { for v in r.reviewers ?? [] { people.insert(v.reviewerPHID) } }
        try await learnUsers(people)
        let me = userPHID
        let branch = Self.targetBranch(mirror: mirror, repository: repository)
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
            var materialized: Materialized?
            var refusal = refusals.withLock { $0[diff.id] }
            if isOpen, refusal == nil {
                do {
                    materialized = try await materialize(
                        revision: r.id, title: r.fields.title, diff: diff, mirror: mirror, branch: branch, logger: logger)
                } catch let error as PhorgePlatformError where error.isRefusal {
                    refusals.withLock { $0[diff.id] = error.message }
                    refusal = error.message
                    logger.warning("the diff is refused", metadata: ["review": "\(r.monogram)", "error": "\(error)"])
                } catch {
                    logger.warning(
                        "could not bring the diff into the mirror yet", metadata: ["review": "\(r.monogram)", "error": "\(error)"])
                }
            }
            var snapshot = snapshot(
                revision: r, diff: diff, scope: scope, mirror: mirror, branch: branch, files: (files[diffPHID] ?? []).sorted(),
                commandApprovers: commanders, materialized: materialized, me: me)
            snapshot.refusal = refusal
            out.append(snapshot)
        }
        return out
    }

    static func isOpen(_ r: DifferentialRevision) -> Bool {
        !(r.fields.status.closed ?? false) && r.fields.status.value != "abandoned" && r.fields.status.value != "published"
    }

    /// The snapshot of one revision (pure apart from the user-name cache).
    func snapshot(
        revision r: DifferentialRevision, diff: DifferentialDiff, scope: String, mirror: MirrorConfiguration, branch: String,
        files: [String], commandApprovers: [String], materialized: Materialized?, me: String?
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
                            ("id", .int(diff.id)), ("phid", .string(diff.phid)),
                            ("revision", materialized.map { JSON.string($0.commit) } ?? .null),
                            ("base", (materialized?.base ?? diff.baseCommit).map(JSON.string) ?? .null),
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
            labelVoters: voters, approvers: accepted, files: files, revisionSHA: materialized?.commit,
            updated: String(r.fields.dateModified), event: event, people: people, owner: ownerIdentity)
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

    /// Fetches the repository's branches into the mirror (once per poll): from `clone-url`, else the clone URI
    /// Diffusion reports (HTTP(S) first), with the bot's git credentials.
    func refresh(_ mirror: MirrorConfiguration, repository: DiffusionRepository, scope: String, logger: Logger) throws {
        if refreshed.withLock({ $0.contains(mirror.key) }) { return }
        guard let url = mirror.cloneURL ?? repository.cloneURIs.first else {
            throw PhorgePlatformError(
                "Phorge reports no clone URI for \(scope) (it serves HTTP only with diffusion.allow-http-auth); "
                    + "set clone-url for repository \(mirror.key)")
        }
        let fetched = try Repository.openOrCreateMirror(path: mirror.path).fetch(
            remoteURL: url, refspecs: ["+refs/heads/*:refs/heads/*"], credentials: credentials)
        refreshed.withLock { _ = $0.insert(mirror.key) }
        logger.debug("fetched the repository's branches", metadata: ["repository": "\(scope)", "branches": "\(fetched.count)"])
    }

    public func refreshMirror(_ mirror: MirrorConfiguration, logger: Logger) async throws {
        guard let scope = mirror.phabricatorRepository, let repository = try await repository(scope) else {
            _ = try Repository.openOrCreateMirror(path: mirror.path)
            return
        }
        try refresh(mirror, repository: repository, scope: scope, logger: logger)
    }

    /// A diff brought into the mirror.
    struct Materialized: Sendable, Hashable {
        /// The commit the tasks check out.
        var commit: String
        /// The commit it was applied onto (the diff's base, or the target branch's tip for a diff without one).
        var base: String
        /// Whether the diff named no base commit and was applied onto the target branch's tip.
        var ontoTip: Bool
    }

    static func short(_ id: String) -> String { String(id.prefix(12)) }

    /// Brings diff `diff` of revision `revision` into the mirror (once; the ref is kept), after checking that its
    /// base is in the history of the target branch's tip.
    /// - Throws: a refusal (``PhorgePlatformError/isRefusal``) when the base is outside that history or the diff does
    ///   not apply; client and Git errors otherwise.
    func materialize(
        revision: Int, title: String?, diff: DifferentialDiff, mirror: MirrorConfiguration, branch: String, logger: Logger
    ) async throws -> Materialized {
        let ref = Self.localRef(revision: revision, diff: diff.id)
        let repository = try Repository.openOrCreateMirror(path: mirror.path)
        guard let tip = try repository.reference(RefName.branch(branch).full) else {
            throw PhorgePlatformError("the mirror has no branch \(branch) (the branch this repository's revisions target)")
        }
        let what = "diff \(diff.id) of D\(revision)"
        func requireInHistory(_ base: ObjectID) throws {
            guard try TrustRules.baseIsTrusted(base, tip: tip, in: repository) else {
                throw PhorgePlatformError(
                    "stepgate: \(what) is not run: its base commit \(Self.short(base.description)) is not in the history of "
                        + "\(branch), the branch this repository's revisions target. Rebase the change onto \(branch) and "
                        + "update the revision.", refusal: true)
            }
        }
        if let existing = try repository.reference(ref) {
            let base = try diff.baseCommit.flatMap(ObjectID.init(hex:)) ?? repository.commit(existing).parents.first ?? tip
            try requireInHistory(base)
            return Materialized(commit: existing.description, base: base.description, ontoTip: diff.baseCommit == nil)
        }
        if let staging = stagingURL(for: mirror) {
            guard let base = diff.baseCommit.flatMap(ObjectID.init(hex:)) else {
                throw PhorgePlatformError("stepgate: \(what) is not run: it names no base commit", refusal: true)
            }
            try requireInHistory(base)
            _ = try repository.fetch(
                remoteURL: staging, refspecs: ["+refs/tags/phabricator/diff/\(diff.id):\(ref)"], credentials: credentials)
            guard let id = try repository.reference(ref) else {
                throw PhorgePlatformError("the staging area \(staging) has no refs/tags/phabricator/diff/\(diff.id)")
            }
            logger.debug("fetched the diff from the staging area", metadata: ["commit": "\(id)"])
            return Materialized(commit: id.description, base: base.description, ontoTip: false)
        }
        let base: ObjectID
        let ontoTip: Bool
        if let text = diff.baseCommit {
            guard let id = ObjectID(hex: text) else {
                throw PhorgePlatformError("stepgate: \(what) is not run: its base commit '\(text)' is not a commit ID", refusal: true)
            }
            try requireInHistory(id)
            (base, ontoTip) = (id, false)
        } else {
            (base, ontoTip) = (tip, true)
        }
        let raw = try await client.rawDiff(diffID: diff.id)
        let tree: ObjectID
        do {
            tree = try repository.applyDiff(raw, onto: base)
        } catch {
            let onto = ontoTip ? "the tip of \(branch) (\(Self.short(base.description))), as it names no base commit"
                : "its base commit \(Self.short(base.description))"
            throw PhorgePlatformError(
                "stepgate: \(what) is not run: it does not apply onto \(onto): \(error.message). Update the revision with a "
                    + "diff that applies.", refusal: true)
        }
        let when = diff.fields.dateCreated ?? 0
        let signature = Signature(name: "stepgate", email: "stepgate@localhost", time: when, offsetMinutes: 0)
        let message = "D\(revision) diff \(diff.id)" + (title.map { ": \($0)" } ?? "") + "\n"
        let commit = try repository.commit(tree: tree, parents: [base], message: message, author: signature)
        try repository.setReference(name: ref, to: commit, force: true, logMessage: "stepgate: D\(revision) diff \(diff.id)")
        logger.debug(
            "applied the raw diff", metadata: ["commit": "\(commit)", "base": "\(base)", "ontoTip": "\(ontoTip)"])
        return Materialized(commit: commit.description, base: base.description, ontoTip: ontoTip)
    }

    public func fetchRevision(_ snapshot: ReviewSnapshot, into mirror: MirrorConfiguration, logger: Logger) async throws -> String {
        let target = snapshot.target
        if let existing = try Repository.openOrCreateMirror(path: mirror.path).reference(
            Self.localRef(revision: target.reviewNumber, diff: target.revisionNumber))
        {
            return existing.description
        }
        guard let diff = try await client.searchDiffs(ids: [target.revisionNumber]).first(where: { $0.id == target.revisionNumber })
        else {
            throw PhorgePlatformError("Phorge has no diff \(target.revisionNumber)")
        }
        try await refreshMirror(mirror, logger: logger)
        return try await materialize(
            revision: target.reviewNumber, title: nil, diff: diff, mirror: mirror, branch: snapshot.branch, logger: logger
        ).commit
    }

    public func isPermanent(_ error: any Error) -> Bool { (error as? PhorgePlatformError)?.isRefusal == true }

    // MARK: - Reporting

    public func isCurrent(_ target: ReviewTarget, logger: Logger) async throws -> Bool {
        guard
            let r = try await client.searchRevisions(
                RevisionSearchConstraints(ids: [target.reviewNumber]), attachReviewers: false, order: "newest", pageSize: 1
            ).first(where: { $0.id == target.reviewNumber })
        else { return false }
        return Self.isOpen(r) && r.fields.diffPHID == target.revisionID
    }

    /// The request timeout and 5 s: Conduit takes no deadline, so a write is given the time PHP needs to finish one.
    public var settleWindow: Duration { client.http.configuration.readTimeout + .seconds(5) }

    public func hasPosted(_ mark: String, on target: ReviewTarget, logger: Logger) async throws -> Bool {
        var me = userPHID
        if me == nil { me = try await client.whoami().phid }
        guard let me else { return false }
        let mine = try await client.searchTransactions(objectIdentifier: target.reviewID, authorPHIDs: [me])
        return mine.contains { $0.authorPHID == me && OutcomeReport.contains(mark, in: $0.text ?? "") }
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

    /// The PHID of the configured build plan (`build-plan`: PHID, ID or name), cached; nil without one.
    func buildPlanPHID() async throws -> String? {
        guard let plan = configuration.buildPlan else { return nil }
        if let known = planPHID.withLock({ $0 }) { return known }
        let plans: [HarbormasterBuildPlan]
        if plan.hasPrefix("PHID-") {
            plans = try await client.searchBuildPlans(phids: [plan])
        } else if let id = Int(plan) {
            plans = try await client.searchBuildPlans(ids: [id])
        } else {
            plans = try await client.searchBuildPlans().filter { $0.fields.name == plan }
        }
        guard let found = plans.first else {
            throw PhorgePlatformError("Phorge has no build plan \(plan) (build-plan of server \(server))")
        }
        planPHID.withLock { $0 = found.phid }
        return found.phid
    }

    /// The bot's own build target for a diff: the target of the newest build the configured plan started for it
    /// (found through its buildable), the one waiting for a message when there is one.
    /// - Throws: a (transient) error while the plan's build has no target yet: the report is tried again later.
    func ownBuildTarget(diffPHID: String, logger: Logger) async throws -> HarbormasterBuildTarget? {
        guard let plan = try await buildPlanPHID() else { return nil }
        let buildables = try await client.searchBuildables(objectPHIDs: [diffPHID]).filter { $0.fields.objectPHID == diffPHID }
        let builds = try await client.searchBuilds(buildablePHIDs: buildables.map(\.phid), planPHIDs: [plan])
            .filter { $0.fields.buildPlanPHID == plan }
        guard let build = builds.max(by: { $0.id < $1.id }) else { return nil }
        let targets = try await client.searchBuildTargets(buildPHIDs: [build.phid]).sorted { $0.id < $1.id }
        if let waiting = targets.last(where: \.isWaiting) { return waiting }
        if targets.isEmpty, ["building", "pending", "inactive"].contains(build.fields.buildStatus?.value ?? "building") {
            throw PhorgePlatformError("build \(build.phid) of the build plan has no target yet")
        }
        return targets.last
    }

    /// What happened to the results of one execution: sent to the bot's build target, or to be listed in the comment.
    enum Delivery: Equatable {
        /// Sent (now or before a crash) to this build target.
        case sent(String)
        /// Not sent: no plan, no build for the diff, or the target holds another execution's (or system's) results.
        case notSent(String?)
    }

    /// Sends lint messages, unit results and pass/fail to the bot's own build target, once per execution and target:
    /// the markers hold `<execution> sending` before the message and `<execution> sent` after it. A send interrupted
    /// in between (a crash, an error) is resolved by the target's status: no longer waiting, the message landed;
    /// still waiting, it is sent again.
    func sendResults(_ report: OutcomeReport, on target: ReviewTarget, logger: Logger) async throws -> Delivery {
        guard let buildTarget = try await ownBuildTarget(diffPHID: target.revisionID, logger: logger) else {
            return .notSent(configuration.buildPlan.map {
                "No build of plan \($0) was found for diff \(target.revisionNumber) (is the Herald rule that runs it set up?)."
            })
        }
        let key = "phorge-target|\(server)|\(buildTarget.phid)"
        switch try await markers.marker(key) {
        case "\(report.executionID) sent"?:
            return .sent(buildTarget.phid)
        case "\(report.executionID) sending"? where !buildTarget.isWaiting:
            try await markers.setMarker(key, "\(report.executionID) sent")
            return .sent(buildTarget.phid)
        case "\(report.executionID) sending"?:
            logger.info("sending the results again: the build target still waits for them")
        case .some(let other):
            logger.debug("the build target already holds results", metadata: ["marker": "\(other)"])
            return .notSent(nil)
        case nil:
            guard buildTarget.isWaiting else {
                logger.debug("the build target is not waiting for results", metadata: ["status": "\(buildTarget.fields.status.value)"])
                return .notSent(nil)
            }
        }
        try await markers.setMarker(key, "\(report.executionID) sending")
        let failing = !report.succeeded || report.findings.contains { $0.severity.lowercased() == "error" }
        try await client.sendMessage(
            buildTargetPHID: buildTarget.phid, type: failing ? .fail : .pass, unit: Self.units(report),
            lint: report.findings.map { Self.lint($0, workflow: report.workflow) })
        try await markers.setMarker(key, "\(report.executionID) sent")
        return .sent(buildTarget.phid)
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
        var message = report.message
        if let note = try await rawDiffNote(target) { message += "\n" + note }
        let delivery = try await sendResults(report, on: target, logger: logger)
        var elsewhere = report.findings
        switch delivery {
        case .sent:
            let files = Set(try await client.searchChangesets(diffPHIDs: [target.revisionID]).map(\.path))
            elsewhere = report.findings.filter { !files.contains($0.path) }
            if elsewhere.count < report.findings.count {
                message += "\nFindings are shown inline, as lint messages of the stepgate build of diff \(target.revisionNumber)."
            }
        case .notSent(let why):
            if let why { message += "\n" + why }
        }
        if !elsewhere.isEmpty { message += "\n\nFindings not shown inline:\n" + Self.list(elsewhere) }
        try await client.comment(revision: target.reviewID, message)
    }

    /// For a diff that named no base commit: what it was applied onto (the commit under the local ref's parent).
    func rawDiffNote(_ target: ReviewTarget) async throws -> String? {
        guard let diff = try await client.searchDiffs(ids: [target.revisionNumber]).first(where: { $0.id == target.revisionNumber }),
            diff.baseCommit == nil, let mirror = mirrors[target.project]
        else { return nil }
        let branch = Self.targetBranch(mirror: mirror, repository: try await repository(target.project))
        let local = try Repository.openOrCreateMirror(path: mirror.path)
        let onto = try local.reference(Self.localRef(revision: target.reviewNumber, diff: target.revisionNumber))
            .flatMap { try local.commit($0).parents.first }
        return "Diff \(target.revisionNumber) names no base commit: it was applied onto the tip of \(branch)"
            + (onto.map { " (\(Self.short($0.description)))" } ?? "") + "."
    }

    public func postFindings(_ findings: [ReviewFinding], message: String, on target: ReviewTarget, logger: Logger) async throws {
        // The build target is kept for the workflows' results: validation problems are listed in the comment.
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
