import Foundation

// Harbormaster as an external build system sees it: the build plan an operator set up (run by a Herald rule on
// every new diff), the build it started for a diff, and that build's targets, which wait for a message.

/// A status object `{"value": "building", "name": ...}` of Harbormaster.
public struct HarbormasterStatus: Decodable, Hashable, Sendable {
    public var value: String
    public var name: String?
}

/// A buildable from `harbormaster.buildable.search`: the object (a diff) builds run for.
public struct HarbormasterBuildable: Decodable, Hashable, Sendable {
    public struct Fields: Decodable, Hashable, Sendable {
        /// The diff (`PHID-DIFF-...`) or commit built.
        public var objectPHID: String
        /// The revision of a diff.
        public var containerPHID: String?
        public var buildableStatus: HarbormasterStatus?
    }
    public var id: Int
    public var phid: String
    public var fields: Fields
}

/// A build from `harbormaster.build.search`: one run of a build plan for a buildable.
public struct HarbormasterBuild: Decodable, Hashable, Sendable {
    public struct Fields: Decodable, Hashable, Sendable {
        public var buildablePHID: String
        public var buildPlanPHID: String
        /// `building`, `passed`, `failed`, `aborted`, ...
        public var buildStatus: HarbormasterStatus?
        public var name: String?
        public var dateCreated: Int?
    }
    public var id: Int
    public var phid: String
    public var fields: Fields
}

/// A build plan from `harbormaster.buildplan.search`.
public struct HarbormasterBuildPlan: Decodable, Hashable, Sendable {
    public struct Fields: Decodable, Hashable, Sendable {
        public var name: String
        public var status: HarbormasterStatus?
    }
    public var id: Int
    public var phid: String
    public var fields: Fields
}

extension ConduitClient {
    /// `harbormaster.buildplan.search` by IDs or PHIDs (every plan when both are nil).
    public func searchBuildPlans(ids: [Int]? = nil, phids: [String]? = nil) async throws -> [HarbormasterBuildPlan] {
        try await search(
            "harbormaster.buildplan.search", constraints: IDPHIDConstraints(ids: ids, phids: phids),
            as: HarbormasterBuildPlan.self)
    }

    /// `harbormaster.buildable.search` by the objects built (diff PHIDs).
    public func searchBuildables(objectPHIDs: [String]) async throws -> [HarbormasterBuildable] {
        guard !objectPHIDs.isEmpty else { return [] }
        return try await search(
            "harbormaster.buildable.search", constraints: BuildableConstraints(objectPHIDs: objectPHIDs),
            as: HarbormasterBuildable.self)
    }

    /// `harbormaster.build.search` by buildables, optionally only builds of some plans (newest first).
    public func searchBuilds(buildablePHIDs: [String], planPHIDs: [String]? = nil) async throws -> [HarbormasterBuild] {
        guard !buildablePHIDs.isEmpty else { return [] }
        return try await search(
            "harbormaster.build.search", constraints: BuildConstraints(buildables: buildablePHIDs, plans: planPHIDs),
            order: "newest", as: HarbormasterBuild.self)
    }

    /// `harbormaster.target.search` by builds.
    public func searchBuildTargets(buildPHIDs: [String]) async throws -> [HarbormasterBuildTarget] {
        guard !buildPHIDs.isEmpty else { return [] }
        return try await search(
            "harbormaster.target.search", constraints: TargetConstraints(buildPHIDs: buildPHIDs),
            as: HarbormasterBuildTarget.self)
    }

    struct IDPHIDConstraints: Encodable, Sendable {
        var ids: [Int]?
        var phids: [String]?
    }
    struct BuildableConstraints: Encodable, Sendable { var objectPHIDs: [String] }
    struct BuildConstraints: Encodable, Sendable {
        var buildables: [String]
        var plans: [String]?
    }
    struct TargetConstraints: Encodable, Sendable { var buildPHIDs: [String] }
}
