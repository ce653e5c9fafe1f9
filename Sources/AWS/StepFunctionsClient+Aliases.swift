extension StepFunctionsClient {
    /// The ARN of the alias `name` of a state machine when it exists; nil when it does not.
    public func aliasExists(stateMachineArn: String, name: String) async throws(AWSError) -> String? {
        let arn = "\(stateMachineArn):\(name)"
        do {
            let answer = try await call("DescribeStateMachineAlias", ["stateMachineAliasArn": arn])
            return answer["stateMachineAliasArn"] as? String ?? arn
        } catch {
            if error.type == "ResourceNotFound" || error.type == "StateMachineDoesNotExist" { return nil }
            throw error
        }
    }
}
