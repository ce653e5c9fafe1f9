/// What a path or intrinsic function can see while it is evaluated: the effective input
/// (`$`), the context object (`$$`) and the variables in scope (`$name`).
public struct EvaluationScope: Sendable {
    public var input: JSON
    public var context: JSON
    public var variables: [String: JSON]
    /// Randomness for `States.MathRandom` and `States.UUID`, injected so that tests are deterministic.
    public var random: @Sendable () -> UInt64

    public init(
        input: JSON, context: JSON = .null, variables: [String: JSON] = [:],
        random: @escaping @Sendable () -> UInt64 = { UInt64.random(in: .min ... .max) }
    ) {
        self.input = input
        self.context = context
        self.variables = variables
        self.random = random
    }
}
