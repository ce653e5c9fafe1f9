/// Turns a definition into a ``StateMachine``.
///
/// The validator reports every problem with its position; the compiler assumes a definition
/// that passed it, and still never traps on one that did not: anything it cannot use becomes
/// a ``DefinitionError`` naming the member.
public enum StateMachineCompiler {
    public struct DefinitionError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var path: [PathComponent]
        public var description: String { message }

        public var diagnostic: Diagnostic { Diagnostic(.error, message, at: path) }
    }

    /// Validates and compiles a located document; the diagnostics are located.
    public static func load(_ document: SourceDocument) -> Result<StateMachine, DiagnosticList> {
        let problems = DefinitionValidator.validate(document)
        if problems.contains(where: { $0.severity == .error }) {
            return .failure(DiagnosticList(problems))
        }
        do {
            return .success(try compile(document.value))
        } catch {
            return .failure(DiagnosticList([error.diagnostic.located(in: document.sourceMap)]))
        }
    }

    public static func compile(_ definition: JSON) throws(DefinitionError) -> StateMachine {
        guard case .object(let root) = definition else {
            throw DefinitionError(message: "a state machine definition must be a JSON object", path: [])
        }
        let jsonata = root["QueryLanguage"]?.stringValue == "JSONata"
        return try compileMachine(root, path: [], jsonataByDefault: jsonata)
    }

    static func compileMachine(
        _ root: JSONObject, path: [PathComponent], jsonataByDefault: Bool
    ) throws(DefinitionError) -> StateMachine {
        guard case .object(let statesObject)? = root["States"] else {
            throw DefinitionError(message: "\"States\" must be an object", path: path + [.key("States")])
        }
        guard let startAt = root["StartAt"]?.stringValue else {
            throw DefinitionError(message: "\"StartAt\" must be a string", path: path + [.key("StartAt")])
        }
        var indexByName: [String: Int] = [:]
        for (i, name) in statesObject.keys.enumerated() { indexByName[name] = i }
        guard let startIndex = indexByName[startAt] else {
            throw DefinitionError(message: "StartAt names \"\(startAt)\", which is not a state", path: path + [.key("StartAt")])
        }
        var states: [State] = []
        states.reserveCapacity(statesObject.count)
        for (name, value) in statesObject.pairs {
            let statePath = path + [.key("States"), .key(name)]
            guard case .object(let fields) = value else {
                throw DefinitionError(message: "state \"\(name)\" must be an object", path: statePath)
            }
            var c = StateCompiler(name: name, fields: fields, path: statePath, indexByName: indexByName)
            c.jsonataByDefault = jsonataByDefault
            if let ql = fields["QueryLanguage"]?.stringValue {
                c.isJSONata = ql == "JSONata"
            } else {
                c.isJSONata = jsonataByDefault
            }
            states.append(try c.compile())
        }
        var timeout: Int?
        if let t = root["TimeoutSeconds"] { timeout = t.intValue }
        return StateMachine(
            comment: root["Comment"]?.stringValue, timeoutSeconds: timeout, states: states, startIndex: startIndex,
            indexByName: indexByName)
    }
}

/// A list of diagnostics that can be thrown.
public struct DiagnosticList: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

private struct StateCompiler {
    typealias DefinitionError = StateMachineCompiler.DefinitionError
    let name: String
    let fields: JSONObject
    let path: [PathComponent]
    let indexByName: [String: Int]
    var readsContext = false
    var jsonataByDefault = false
    var isJSONata = false

    init(name: String, fields: JSONObject, path: [PathComponent], indexByName: [String: Int]) {
        self.name = name
        self.fields = fields
        self.path = path
        self.indexByName = indexByName
    }

    func fail(_ message: String, _ field: String? = nil) -> DefinitionError {
        DefinitionError(message: "state \"\(name)\": \(message)", path: field.map { path + [.key($0)] } ?? path)
    }

    mutating func compile() throws(DefinitionError) -> State {
        if isJSONata { return try compileJSONata() }
        guard let type = fields["Type"]?.stringValue else { throw fail("\"Type\" must be a string", "Type") }
        let kind: State.Kind
        switch type {
        case "Pass": kind = .pass(result: fields["Result"])
        case "Task": kind = .task(try taskSpec())
        case "Choice": kind = try choice()
        case "Wait": kind = .wait(try waitSpec())
        case "Succeed": kind = .succeed
        case "Fail": kind = .fail(try failSpec())
        case "Parallel": kind = .parallel(branches: try branches())
        case "Map": kind = .map(try mapSpec())
        default: throw fail("unknown state type \"\(type)\"", "Type")
        }
        let inputPath = try pathField("InputPath")
        let outputPath = try pathField("OutputPath")
        let resultPath = try resultPath(fields["ResultPath"], field: "ResultPath")
        let parameters = type != "Map" ? try template("Parameters") : nil
        let resultSelector = try template("ResultSelector")
        let assign = try template("Assign")
        let retriers = try retriers()
        let catchers = try catchers()
        var next: Int?
        if let n = fields["Next"]?.stringValue { next = try index(of: n, field: "Next") }
        return State(
            name: name, kind: kind, inputPath: inputPath, outputPath: outputPath, resultPath: resultPath,
            parameters: parameters, resultSelector: resultSelector, assign: assign, retriers: retriers,
            catchers: catchers, next: next, readsContext: readsContext)
    }

    // MARK: Fields

    func index(of target: String, field: String) throws(DefinitionError) -> Int {
        guard let i = indexByName[target] else { throw fail("\(field) names \"\(target)\", which is not a state", field) }
        return i
    }

    mutating func jsonPath(_ text: String, field: String) throws(DefinitionError) -> JSONPath {
        do {
            let p = try JSONPath.parse(text)
            if p.root == .context { readsContext = true }
            return p
        } catch {
            throw fail("\(field): invalid path \"\(text)\": \(error.message)", field)
        }
    }

    mutating func pathField(_ field: String) throws(DefinitionError) -> PathField {
        switch fields[field] {
        case nil: return .whole
        case .null?: return .empty
        case .string(let s)?: return .path(try jsonPath(s, field: field))
        default: throw fail("\(field) must be a string or null", field)
        }
    }

    func resultPath(_ value: JSON?, field: String) throws(DefinitionError) -> ResultPathField {
        switch value {
        case nil: return .replace
        case .null?: return .discard
        case .string(let s)?:
            do { return .path(try ReferencePath.parse(s)) } catch {
                throw fail("\(field): invalid reference path \"\(s)\": \(error.message)", field)
            }
        default: throw fail("\(field) must be a string or null", field)
        }
    }

    mutating func template(_ field: String, in object: JSONObject? = nil) throws(DefinitionError) -> PayloadTemplate? {
        guard let value = (object ?? fields)[field] else { return nil }
        if value.serialized.contains("$$") { readsContext = true }
        do { return try PayloadTemplate(value) } catch { throw fail("\(field): \(error.message)", field) }
    }

    mutating func valueSource(_ literal: String, _ pathField: String) throws(DefinitionError) -> ValueSource<Int>? {
        if let v = fields[literal] {
            guard let i = v.intValue else { throw fail("\(literal) must be an integer", literal) }
            return .literal(i)
        }
        if let p = fields[pathField]?.stringValue { return .path(try jsonPath(p, field: pathField)) }
        return nil
    }

    // MARK: State types

    mutating func taskSpec() throws(DefinitionError) -> TaskSpec {
        guard let resource = fields["Resource"]?.stringValue else { throw fail("\"Resource\" must be a string", "Resource") }
        return TaskSpec(
            resource: resource, credentials: fields["Credentials"],
            timeout: try valueSource("TimeoutSeconds", "TimeoutSecondsPath"),
            heartbeat: try valueSource("HeartbeatSeconds", "HeartbeatSecondsPath"))
    }

    mutating func waitSpec() throws(DefinitionError) -> WaitSpec {
        if let s = fields["Seconds"] {
            guard let i = s.intValue else { throw fail("Seconds must be an integer", "Seconds") }
            return WaitSpec(duration: .seconds(i))
        }
        if let p = fields["SecondsPath"]?.stringValue {
            return WaitSpec(duration: .secondsPath(try jsonPath(p, field: "SecondsPath")))
        }
        if let t = fields["Timestamp"]?.stringValue { return WaitSpec(duration: .timestamp(t)) }
        if let p = fields["TimestampPath"]?.stringValue {
            return WaitSpec(duration: .timestampPath(try jsonPath(p, field: "TimestampPath")))
        }
        throw fail("a Wait state needs Seconds, SecondsPath, Timestamp or TimestampPath")
    }

    mutating func failSpec() throws(DefinitionError) -> FailSpec {
        var spec = FailSpec()
        if let e = fields["Error"]?.stringValue {
            spec.error = .literal(e)
        } else if let p = fields["ErrorPath"]?.stringValue {
            spec.error = try pathOrIntrinsic(p, field: "ErrorPath")
        }
        if let c = fields["Cause"]?.stringValue {
            spec.cause = .literal(c)
        } else if let p = fields["CausePath"]?.stringValue {
            spec.cause = try pathOrIntrinsic(p, field: "CausePath")
        }
        return spec
    }

    mutating func pathOrIntrinsic(_ text: String, field: String) throws(DefinitionError) -> ValueSource<String> {
        guard text.hasPrefix("States.") else { return .path(try jsonPath(text, field: field)) }
        if text.contains("$$") { readsContext = true }
        do { return .intrinsic(try IntrinsicExpression.parse(text)) } catch {
            throw fail("\(field): invalid intrinsic function \"\(text)\": \(error.message)", field)
        }
    }

    func branches() throws(DefinitionError) -> [StateMachine] {
        guard case .array(let list)? = fields["Branches"] else { throw fail("\"Branches\" must be an array", "Branches") }
        var result: [StateMachine] = []
        for (i, b) in list.enumerated() {
            guard case .object(let o) = b else { throw fail("each branch must be an object", "Branches") }
            result.append(try StateMachineCompiler.compileMachine(
                o, path: path + [.key("Branches"), .index(i)], jsonataByDefault: jsonataByDefault))
        }
        return result
    }

    mutating func mapSpec() throws(DefinitionError) -> MapSpec {
        let processorField = fields["ItemProcessor"] != nil ? "ItemProcessor" : "Iterator"
        guard case .object(let p)? = fields[processorField] else {
            throw fail("a Map state needs an ItemProcessor (or Iterator) object", processorField)
        }
        let processor = try StateMachineCompiler.compileMachine(
            p, path: path + [.key(processorField)], jsonataByDefault: jsonataByDefault)
        var itemsPath: JSONPath?
        if let s = fields["ItemsPath"]?.stringValue { itemsPath = try jsonPath(s, field: "ItemsPath") }
        let selector = try template(fields["ItemSelector"] != nil ? "ItemSelector" : "Parameters")
        var maxConcurrency: ValueSource<Int>? = try valueSource("MaxConcurrency", "MaxConcurrencyPath")
        if case .literal(0)? = maxConcurrency { maxConcurrency = nil }
        var percentage: ValueSource<Double>?
        if let v = fields["ToleratedFailurePercentage"] {
            guard let d = v.doubleValue else { throw fail("ToleratedFailurePercentage must be a number", "ToleratedFailurePercentage") }
            percentage = .literal(d)
        } else if let p = fields["ToleratedFailurePercentagePath"]?.stringValue {
            percentage = .path(try jsonPath(p, field: "ToleratedFailurePercentagePath"))
        }
        var spec = MapSpec(
            processor: processor, itemsPath: itemsPath, itemSelector: selector, maxConcurrency: maxConcurrency,
            toleratedFailureCount: try valueSource("ToleratedFailureCount", "ToleratedFailureCountPath"),
            toleratedFailurePercentage: percentage, processorWaits: processor.waitsOnTheWorld)
        try distributedFields(into: &spec)
        return spec
    }

    /// ItemReader, ItemBatcher, ResultWriter and Label, in the state's query language.
    mutating func distributedFields(into spec: inout MapSpec) throws(DefinitionError) {
        spec.label = fields["Label"]?.stringValue
        let arguments = isJSONata ? "Arguments" : "Parameters"
        if case .object(let reader)? = fields["ItemReader"] {
            guard let resource = reader["Resource"]?.stringValue else { throw fail("ItemReader needs a Resource", "ItemReader") }
            let config = reader["ReaderConfig"]?.objectValue ?? JSONObject()
            spec.itemReader = ItemReaderSpec(
                resource: resource, parameters: try field(reader, arguments, template: true, in: "ItemReader"),
                inputType: config["InputType"]?.stringValue ?? "JSON", csvHeaderLocation: config["CSVHeaderLocation"]?.stringValue,
                csvHeaders: config["CSVHeaders"]?.arrayValue?.compactMap(\.stringValue), csvDelimiter: config["CSVDelimiter"]?.stringValue,
                maxItems: try field(config, "MaxItems", template: false, in: "ItemReader"))
        }
        if case .object(let batcher)? = fields["ItemBatcher"] {
            spec.itemBatcher = ItemBatcherSpec(
                maxItemsPerBatch: try field(batcher, "MaxItemsPerBatch", template: false, in: "ItemBatcher"),
                maxInputBytesPerBatch: try field(batcher, "MaxInputBytesPerBatch", template: false, in: "ItemBatcher"),
                batchInput: try field(batcher, "BatchInput", template: true, in: "ItemBatcher"))
        }
        if case .object(let writer)? = fields["ResultWriter"] {
            let config = writer["WriterConfig"]?.objectValue
            spec.resultWriter = ResultWriterSpec(
                resource: writer["Resource"]?.stringValue, parameters: try field(writer, arguments, template: true, in: "ResultWriter"),
                transformation: config?["Transformation"]?.stringValue, outputType: config?["OutputType"]?.stringValue)
        }
    }

    /// A member of `object` as a ``FieldValue``: its `name` + "Path" form (JSONPath), a JSONata
    /// template, a payload template (`template`) or a constant.
    mutating func field(_ object: JSONObject, _ name: String, template: Bool, in owner: String) throws(DefinitionError) -> FieldValue? {
        if isJSONata {
            guard let v = object[name] else { return nil }
            do { return .jsonata(try JSONataTemplate(v)) } catch {
                throw fail("\(owner).\(name): invalid JSONata expression: \(error.message)", owner)
            }
        }
        if let p = object[name + "Path"]?.stringValue { return .path(try jsonPath(p, field: owner)) }
        guard let v = object[name] else { return nil }
        guard template else { return .constant(v) }
        if v.serialized.contains("$$") { readsContext = true }
        do { return .template(try PayloadTemplate(v)) } catch { throw fail("\(owner).\(name): \(error.message)", owner) }
    }

    mutating func choice() throws(DefinitionError) -> State.Kind {
        guard case .array(let list)? = fields["Choices"] else { throw fail("\"Choices\" must be an array", "Choices") }
        var rules: [ChoiceRule] = []
        for (i, r) in list.enumerated() {
            guard case .object(let o) = r else { throw fail("each choice rule must be an object", "Choices") }
            guard let next = o["Next"]?.stringValue else { throw fail("choice rule \(i) needs Next", "Choices") }
            let condition = try self.condition(o, at: "Choices[\(i)]")
            let assign = try template("Assign", in: o)
            rules.append(ChoiceRule(condition: condition, next: try index(of: next, field: "Choices"), assign: assign))
        }
        var defaultIndex: Int?
        if let d = fields["Default"]?.stringValue { defaultIndex = try index(of: d, field: "Default") }
        return .choice(rules: rules, defaultIndex: defaultIndex)
    }

    mutating func condition(_ o: JSONObject, at where_: String) throws(DefinitionError) -> Condition {
        if case .array(let list)? = o["And"] ?? o["Or"] {
            var parts: [Condition] = []
            for item in list {
                guard case .object(let sub) = item else { throw fail("\(where_): And/Or takes rule objects", "Choices") }
                parts.append(try condition(sub, at: where_))
            }
            return o["And"] != nil ? .and(parts) : .or(parts)
        }
        if case .object(let sub)? = o["Not"] { return .not(try condition(sub, at: where_)) }
        guard let variable = o["Variable"]?.stringValue else { throw fail("\(where_): a comparison needs Variable", "Choices") }
        let v = try jsonPath(variable, field: "Choices")
        for (key, operand) in o.pairs where key != "Variable" && key != "Next" && key != "Assign" && key != "Comment" {
            if let test = try comparison(key, operand, at: where_) { return .test(variable: v, test) }
        }
        throw fail("\(where_): no comparison operator", "Choices")
    }

    mutating func comparison(_ key: String, _ operand: JSON, at where_: String) throws(DefinitionError) -> ComparisonTest? {
        func flag() throws(DefinitionError) -> Bool {
            guard let b = operand.boolValue else { throw fail("\(where_): \(key) takes true or false", "Choices") }
            return b
        }
        switch key {
        case "IsNull": return .isNull(try flag())
        case "IsPresent": return .isPresent(try flag())
        case "IsNumeric": return .isNumeric(try flag())
        case "IsString": return .isString(try flag())
        case "IsBoolean": return .isBoolean(try flag())
        case "IsTimestamp": return .isTimestamp(try flag())
        case "StringMatches":
            guard let s = operand.stringValue else { throw fail("\(where_): StringMatches takes a string", "Choices") }
            return .stringMatches(StringPattern(s))
        default: break
        }
        var op = key
        var isPath = false
        if op.hasSuffix("Path") {
            isPath = true
            op.removeLast(4)
        }
        for kind in [ComparisonTest.Kind.string, .numeric, .boolean, .timestamp] where op.hasPrefix(kind.rawValue) {
            guard let relation = ComparisonTest.Relation(rawValue: String(op.dropFirst(kind.rawValue.count))) else {
                return nil
            }
            if kind == .boolean && relation != .equals { return nil }
            if isPath {
                guard let p = operand.stringValue else { throw fail("\(where_): \(key) takes a path", "Choices") }
                return .compare(kind, relation, .path(try jsonPath(p, field: "Choices")))
            }
            return .compare(kind, relation, .literal(operand))
        }
        return nil
    }

    func retriers() throws(DefinitionError) -> [Retrier] {
        guard case .array(let list)? = fields["Retry"] else { return [] }
        var result: [Retrier] = []
        for item in list {
            guard case .object(let o) = item else { throw fail("each retrier must be an object", "Retry") }
            var r = Retrier(errorEquals: errorNames(o["ErrorEquals"]))
            if let v = o["IntervalSeconds"]?.doubleValue { r.intervalSeconds = v }
            if let v = o["MaxAttempts"]?.intValue { r.maxAttempts = v }
            if let v = o["BackoffRate"]?.doubleValue { r.backoffRate = v }
            if let v = o["MaxDelaySeconds"]?.doubleValue { r.maxDelaySeconds = v }
            r.fullJitter = o["JitterStrategy"]?.stringValue == "FULL"
            result.append(r)
        }
        return result
    }

    mutating func catchers() throws(DefinitionError) -> [Catcher] {
        guard case .array(let list)? = fields["Catch"] else { return [] }
        var result: [Catcher] = []
        for item in list {
            guard case .object(let o) = item else { throw fail("each catcher must be an object", "Catch") }
            guard let next = o["Next"]?.stringValue else { throw fail("a catcher needs Next", "Catch") }
            var c = Catcher(errorEquals: errorNames(o["ErrorEquals"]), next: try index(of: next, field: "Catch"))
            c.resultPath = try resultPath(o["ResultPath"], field: "Catch")
            c.assign = try template("Assign", in: o)
            result.append(c)
        }
        return result
    }

    // MARK: JSONata

    func jsonataTemplate(_ field: String, in object: JSONObject? = nil) throws(DefinitionError) -> JSONataTemplate? {
        guard let value = (object ?? fields)[field] else { return nil }
        do { return try JSONataTemplate(value) } catch {
            throw fail("\(field): invalid JSONata expression: \(error.message)", field)
        }
    }

    mutating func compileJSONata() throws(DefinitionError) -> State {
        guard let type = fields["Type"]?.stringValue else { throw fail("\"Type\" must be a string", "Type") }
        var spec = JSONataSpec()
        spec.output = try jsonataTemplate("Output")
        spec.assign = try jsonataTemplate("Assign")
        let kind: State.Kind
        switch type {
        case "Pass": kind = .pass(result: nil)
        case "Succeed": kind = .succeed
        case "Task":
            guard let resource = fields["Resource"]?.stringValue else { throw fail("\"Resource\" must be a string", "Resource") }
            spec.arguments = try jsonataTemplate("Arguments")
            spec.timeoutSeconds = try jsonataTemplate("TimeoutSeconds")
            spec.heartbeatSeconds = try jsonataTemplate("HeartbeatSeconds")
            kind = .task(TaskSpec(resource: resource, credentials: fields["Credentials"], timeout: nil, heartbeat: nil))
        case "Choice":
            guard case .array(let list)? = fields["Choices"] else { throw fail("\"Choices\" must be an array", "Choices") }
            for (i, r) in list.enumerated() {
                guard case .object(let o) = r else { throw fail("each choice rule must be an object", "Choices") }
                guard let next = o["Next"]?.stringValue else { throw fail("choice rule \(i) needs Next", "Choices") }
                guard let condition = try jsonataTemplate("Condition", in: o) else {
                    throw fail("choice rule \(i) needs a Condition", "Choices")
                }
                spec.rules.append(
                    JSONataChoiceRule(
                        condition: condition, next: try index(of: next, field: "Choices"),
                        output: try jsonataTemplate("Output", in: o), assign: try jsonataTemplate("Assign", in: o)))
            }
            var defaultIndex: Int?
            if let d = fields["Default"]?.stringValue { defaultIndex = try index(of: d, field: "Default") }
            kind = .choice(rules: [], defaultIndex: defaultIndex)
        case "Wait":
            spec.seconds = try jsonataTemplate("Seconds")
            spec.timestamp = try jsonataTemplate("Timestamp")
            if spec.seconds == nil && spec.timestamp == nil { throw fail("a Wait state needs Seconds or Timestamp") }
            kind = .wait(WaitSpec(duration: .seconds(0)))
        case "Fail":
            spec.error = try jsonataTemplate("Error")
            spec.cause = try jsonataTemplate("Cause")
            kind = .fail(FailSpec())
        case "Parallel":
            spec.arguments = try jsonataTemplate("Arguments")
            kind = .parallel(branches: try branches())
        case "Map":
            let processorField = fields["ItemProcessor"] != nil ? "ItemProcessor" : "Iterator"
            guard case .object(let p)? = fields[processorField] else {
                throw fail("a Map state needs an ItemProcessor (or Iterator) object", processorField)
            }
            let processor = try StateMachineCompiler.compileMachine(
                p, path: path + [.key(processorField)], jsonataByDefault: jsonataByDefault)
            spec.items = try jsonataTemplate("Items")
            spec.arguments = try jsonataTemplate("Arguments")
            spec.itemSelector = try jsonataTemplate("ItemSelector")
            spec.maxConcurrency = try jsonataTemplate("MaxConcurrency")
            spec.toleratedFailureCount = try jsonataTemplate("ToleratedFailureCount")
            spec.toleratedFailurePercentage = try jsonataTemplate("ToleratedFailurePercentage")
            var mapSpec = MapSpec(
                processor: processor, itemsPath: nil, itemSelector: nil, maxConcurrency: nil, toleratedFailureCount: nil,
                toleratedFailurePercentage: nil, processorWaits: processor.waitsOnTheWorld)
            try distributedFields(into: &mapSpec)
            kind = .map(mapSpec)
        default: throw fail("unknown state type \"\(type)\"", "Type")
        }
        let retriers = try retriers()
        var catchers: [Catcher] = []
        if case .array(let list)? = fields["Catch"] {
            for item in list {
                guard case .object(let o) = item else { throw fail("each catcher must be an object", "Catch") }
                guard let next = o["Next"]?.stringValue else { throw fail("a catcher needs Next", "Catch") }
                catchers.append(Catcher(errorEquals: errorNames(o["ErrorEquals"]), next: try index(of: next, field: "Catch")))
                spec.catchers.append(
                    JSONataCatch(output: try jsonataTemplate("Output", in: o), assign: try jsonataTemplate("Assign", in: o)))
            }
        }
        var next: Int?
        if let n = fields["Next"]?.stringValue { next = try index(of: n, field: "Next") }
        return State(
            name: name, kind: kind, retriers: retriers, catchers: catchers, next: next, readsContext: true, jsonata: spec)
    }

    func errorNames(_ value: JSON?) -> [String] {
        value?.arrayValue?.compactMap(\.stringValue) ?? []
    }
}

extension StateMachine {
    /// Whether running this machine may wait on tasks or time.
    var waitsOnTheWorld: Bool {
        states.contains { s in
            switch s.kind {
            case .task, .wait: return true
            case .parallel(let branches): return branches.contains { $0.waitsOnTheWorld }
            case .map(let m): return m.processorWaits
            default: return false
            }
        }
    }
}
