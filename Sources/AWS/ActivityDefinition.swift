public import StatesLanguage

/// A definition AWS cannot be given, as one line (a `stepgate:` resource the AWS engine does not serve).
public struct ActivityDefinitionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The definition AWS runs for a stepgate definition.
///
/// Every Task whose resource stepgate serves (`stepgate:command`, `stepgate:http`) becomes a task of that resource's
/// activity: its `Resource` is the activity's ARN, and its `Parameters` (JSONata: `Arguments`) become an envelope
/// the worker unpacks:
///
/// ```json
/// {"stepgate": {"resource": "stepgate:command", "state": "Lint", "execution.$": "$$.Execution.Name",
///               "role": "ci-readonly", "timeoutSeconds": 600},
///  "parameters": {...the state's own Parameters, or "parameters.$": "$"...}}
/// ```
/// The role moves from `Credentials` (which AWS reserves for IAM roles) into the envelope; the worker grants it
/// under the server's policy exactly as a local run does. A served Task without a heartbeat gets
/// `HeartbeatSeconds` (``defaultHeartbeat``): a task whose worker vanished fails within a minute instead of
/// waiting out AWS's year-long default timeout. AWS's own resources (`arn:aws:...`) pass through untouched; any
/// other `stepgate:` resource is refused.
public enum ActivityDefinition {
    /// The resources served as activities.
    public static let servedResources = ["stepgate:command", "stepgate:http"]
    /// Seconds of `HeartbeatSeconds` given to a served Task without one.
    public static let defaultHeartbeat = 60

    /// The definition with every served Task pointed at `activities[resource]`.
    /// - Throws: ``ActivityDefinitionError`` for a `stepgate:` resource without an activity.
    public static func rewrite(_ definition: JSON, activities: [String: String]) throws(ActivityDefinitionError) -> JSON {
        guard var root = definition.objectValue else { throw ActivityDefinitionError(message: "a definition must be a JSON object") }
        let language = root["QueryLanguage"]?.stringValue ?? "JSONPath"
        if let states = root["States"] {
            root["States"] = try rewrite(states: states, language: language, activities: activities)
        }
        return .object(root)
    }

    /// The stepgate resources a definition's Tasks use, at any depth.
    public static func resources(in definition: JSON) -> Set<String> {
        var found = Set<String>()
        func visit(_ states: JSON?) {
            guard let all = states?.objectValue else { return }
            for (_, state) in all.pairs {
                if let r = state["Resource"]?.stringValue, r.hasPrefix("stepgate:") { found.insert(r) }
                for branch in state["Branches"]?.arrayValue ?? [] { visit(branch["States"]) }
                visit(state["ItemProcessor"]?["States"])
                visit(state["Iterator"]?["States"])
            }
        }
        visit(definition["States"])
        return found
    }

    static func rewrite(states: JSON, language: String, activities: [String: String]) throws(ActivityDefinitionError) -> JSON {
        guard var all = states.objectValue else { return states }
        for (name, value) in all.pairs {
            guard var state = value.objectValue else { continue }
            let stateLanguage = state["QueryLanguage"]?.stringValue ?? language
            if var branches = state["Branches"]?.arrayValue {
                for i in branches.indices {
                    guard var branch = branches[i].objectValue, let inner = branch["States"] else { continue }
                    branch["States"] = try rewrite(states: inner, language: stateLanguage, activities: activities)
                    branches[i] = .object(branch)
                }
                state["Branches"] = .array(branches)
            }
            for key in ["ItemProcessor", "Iterator"] {
                guard var processor = state[key]?.objectValue, let inner = processor["States"] else { continue }
                processor["States"] = try rewrite(states: inner, language: stateLanguage, activities: activities)
                state[key] = .object(processor)
            }
            if state["Type"]?.stringValue == "Task", let resource = state["Resource"]?.stringValue, resource.hasPrefix("stepgate:") {
                guard let activity = activities[resource] else {
                    throw ActivityDefinitionError(
                        message: "state \"\(name)\" uses \(resource), which the AWS engine does not serve (it serves \(servedResources.joined(separator: " and "))); run this workflow on the local engine")
                }
                state = served(state, name: name, resource: resource, activity: activity, jsonata: stateLanguage == "JSONata")
            }
            all[name] = .object(state)
        }
        return .object(all)
    }

    static func served(_ original: JSONObject, name: String, resource: String, activity: String, jsonata: Bool) -> JSONObject {
        var state = original
        var envelope = JSONObject()
        envelope["resource"] = .string(resource)
        envelope["state"] = .string(name)
        if jsonata {
            envelope["execution"] = "{% $states.context.Execution.Name %}"
        } else {
            envelope["execution.$"] = "$$.Execution.Name"
        }
        if let credentials = state["Credentials"]?.objectValue {
            if let role = credentials["RoleArn"] { envelope["role"] = role }
            if let path = credentials["RoleArn.$"] { envelope["role.$"] = path }
            state["Credentials"] = Optional<JSON>.none
        }
        for key in ["TimeoutSeconds", "HeartbeatSeconds"] {
            let field = key.prefix(1).lowercased() + key.dropFirst()
            if let value = state[key] { envelope[field] = value }
            if let path = state[key + "Path"] { envelope[field + ".$"] = path }
        }
        if state["HeartbeatSeconds"] == nil && state["HeartbeatSecondsPath"] == nil {
            let timeout = state["TimeoutSeconds"]?.intValue
            if timeout == nil || timeout! > defaultHeartbeat {
                state["HeartbeatSeconds"] = .int(defaultHeartbeat)
                envelope["heartbeatSeconds"] = .int(defaultHeartbeat)
            }
        }
        var payload = JSONObject()
        payload["stepgate"] = .object(envelope)
        if jsonata {
            payload["parameters"] = state["Arguments"] ?? "{% $states.input %}"
            state["Arguments"] = .object(payload)
        } else {
            if let parameters = state["Parameters"] {
                payload["parameters"] = parameters
            } else {
                payload["parameters.$"] = "$"
            }
            state["Parameters"] = .object(payload)
        }
        state["Resource"] = .string(activity)
        return state
    }
}
