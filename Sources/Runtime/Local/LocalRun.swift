public import Config
public import StatesLanguage

/// How a definition's AWS parts run here, beside what its workflow in `.stepgate/stepgate.yaml`
/// says: placeholder values, resources and mocked responses, and S3 buckets as directories.
/// The command line fills it from its flags; a workflow's own values apply underneath.
public struct LocalRun: Sendable {
    /// Placeholder values winning over the workflow's `substitutions`.
    public var substitutions: DefinitionSubstitutions
    /// Resources winning over the workflow's `resources`.
    public var resources: ResourceMap
    /// Mocked responses by state name (a MockConfigFile test case).
    public var mocks: [String: MockedResponse]
    /// Bucket name → absolute directory.
    public var buckets: [String: String]

    public init(
        substitutions: DefinitionSubstitutions = DefinitionSubstitutions(), resources: ResourceMap = ResourceMap(),
        mocks: [String: MockedResponse] = [:], buckets: [String: String] = [:]
    ) {
        self.substitutions = substitutions
        self.resources = resources
        self.mocks = mocks
        self.buckets = buckets
    }
}
