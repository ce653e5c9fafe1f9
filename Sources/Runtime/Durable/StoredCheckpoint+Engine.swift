public import StatesLanguage
public import Store

extension StoredCheckpoint {
    public init(_ c: Checkpoint) {
        self.init(
            stateName: c.stateName, input: c.input, variables: c.variables, eventCount: c.eventCount,
            transitions: c.transitions)
    }

    /// The engine's checkpoint for this stored one.
    public func checkpoint() -> Checkpoint {
        Checkpoint(
            stateName: stateName, input: input, variables: variables, eventCount: eventCount, transitions: transitions)
    }
}

