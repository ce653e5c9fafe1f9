/// A compiled state machine: states in an array, transitions resolved to indices, every path,
/// template and intrinsic parsed once. Built from a definition that validated.
public struct StateMachine: Sendable {
    public var comment: String?
    public var timeoutSeconds: Int?
    public internal(set) var states: [State]
    public internal(set) var startIndex: Int
    /// Index of each state by name.
    public internal(set) var indexByName: [String: Int]

    public var startAt: String { states[startIndex].name }

    public func state(named name: String) -> State? {
        indexByName[name].map { states[$0] }
    }
}

/// One state with the fields every state type may carry. A class, so that stepping through
/// a machine shares states instead of copying them.
public final class State: Sendable {
    public let name: String
    public let kind: Kind
    public let inputPath: PathField
    public let outputPath: PathField
    public let resultPath: ResultPathField
    public let parameters: PayloadTemplate?
    public let resultSelector: PayloadTemplate?
    public let assign: PayloadTemplate?
    public let retriers: [Retrier]
    public let catchers: [Catcher]
    /// The next state's index; nil for a terminal state.
    public let next: Int?
    /// Whether any expression of this state reads the context object (`$$`), so that the
    /// interpreter builds it only when someone looks.
    public let readsContext: Bool
    /// The state's JSONata-mode fields; nil for a JSONPath state.
    public let jsonata: JSONataSpec?

    public init(
        name: String, kind: Kind, inputPath: PathField = .whole, outputPath: PathField = .whole,
        resultPath: ResultPathField = .replace, parameters: PayloadTemplate? = nil, resultSelector: PayloadTemplate? = nil,
        assign: PayloadTemplate? = nil, retriers: [Retrier] = [], catchers: [Catcher] = [], next: Int? = nil,
        readsContext: Bool = false, jsonata: JSONataSpec? = nil
    ) {
        self.name = name
        self.kind = kind
        self.inputPath = inputPath
        self.outputPath = outputPath
        self.resultPath = resultPath
        self.parameters = parameters
        self.resultSelector = resultSelector
        self.assign = assign
        self.retriers = retriers
        self.catchers = catchers
        self.next = next
        self.readsContext = readsContext
        self.jsonata = jsonata
    }

    public enum Kind: Sendable {
        case pass(result: JSON?)
        case task(TaskSpec)
        case choice(rules: [ChoiceRule], defaultIndex: Int?)
        case wait(WaitSpec)
        case succeed
        case fail(FailSpec)
        case parallel(branches: [StateMachine])
        case map(MapSpec)
    }

    /// Pass, Choice, Succeed and Fail never wait on time or tasks.
    public var isImmediate: Bool {
        switch kind {
        case .pass, .choice, .succeed, .fail: return true
        default: return false
        }
    }

    /// Whether the state's output can be larger than its input (Choice, Wait and Succeed only
    /// select from their input).
    public var mayGrowPayload: Bool {
        switch kind {
        case .choice, .wait, .succeed: return false
        default: return true
        }
    }

    /// The AWS name of the state type, as history event types spell it.
    public var typeName: String {
        switch kind {
        case .pass: return "Pass"
        case .task: return "Task"
        case .choice: return "Choice"
        case .wait: return "Wait"
        case .succeed: return "Succeed"
        case .fail: return "Fail"
        case .parallel: return "Parallel"
        case .map: return "Map"
        }
    }
}

/// InputPath and OutputPath: absent means `$`, null means an empty object.
public enum PathField: Sendable {
    case whole
    case empty
    case path(JSONPath)
}

/// ResultPath: absent means `$` (the result replaces the input), null discards the result.
public enum ResultPathField: Sendable {
    case replace
    case discard
    case path(ReferencePath)
}

/// A value given literally or read from a path (`Seconds` / `SecondsPath` and the like).
public enum ValueSource<Literal: Sendable>: Sendable {
    case literal(Literal)
    case path(JSONPath)
    /// An intrinsic function in a `*Path` field (Fail's ErrorPath and CausePath allow them).
    case intrinsic(IntrinsicExpression)
}

public struct TaskSpec: Sendable {
    public var resource: String
    public var credentials: JSON?
    public var timeout: ValueSource<Int>?
    public var heartbeat: ValueSource<Int>?
}

public struct WaitSpec: Sendable {
    public enum Duration: Sendable {
        case seconds(Int)
        case secondsPath(JSONPath)
        case timestamp(String)
        case timestampPath(JSONPath)
    }
    public var duration: Duration
}

public struct FailSpec: Sendable {
    public var error: ValueSource<String>?
    public var cause: ValueSource<String>?
}

public struct MapSpec: Sendable {
    public var processor: StateMachine
    public var itemsPath: JSONPath?
    public var itemSelector: PayloadTemplate?
    public var maxConcurrency: ValueSource<Int>?
    public var toleratedFailureCount: ValueSource<Int>?
    public var toleratedFailurePercentage: ValueSource<Double>?
    /// Whether the processor contains states that wait on the outside world (Task, Wait, or
    /// nested Map/Parallel holding them): only then do iterations run concurrently.
    public var processorWaits: Bool
    /// A Distributed Map's item source, batching and result export.
    public var itemReader: ItemReaderSpec? = nil
    public var itemBatcher: ItemBatcherSpec? = nil
    public var resultWriter: ResultWriterSpec? = nil
    /// The Map Run's label; the state's name when absent.
    public var label: String? = nil
}

/// A field as the state's query language computes it: a constant, a JSONPath payload template,
/// a JSONPath `*Path` field, or a JSONata template.
public enum FieldValue: Sendable {
    case constant(JSON)
    case template(PayloadTemplate)
    case path(JSONPath)
    case jsonata(JSONataTemplate)
}

/// `ItemReader`: an S3 object (or a listing) whose items the Map iterates over.
public struct ItemReaderSpec: Sendable {
    /// `arn:aws:states:::s3:getObject` or `arn:aws:states:::s3:listObjectsV2`.
    public var resource: String
    /// Parameters (JSONPath) or Arguments (JSONata): `{"Bucket", "Key"}` or `{"Bucket", "Prefix"}`.
    public var parameters: FieldValue?
    /// ReaderConfig.InputType: JSON (the default), JSONL, CSV or MANIFEST.
    public var inputType: String
    public var csvHeaderLocation: String?
    public var csvHeaders: [String]?
    public var csvDelimiter: String?
    /// ReaderConfig.MaxItems (or MaxItemsPath); 0 means no limit.
    public var maxItems: FieldValue?
}

/// `ItemBatcher`: iterations receive `{"BatchInput": ..., "Items": [...]}`.
public struct ItemBatcherSpec: Sendable {
    public var maxItemsPerBatch: FieldValue?
    public var maxInputBytesPerBatch: FieldValue?
    public var batchInput: FieldValue?
}

/// `ResultWriter`: results exported to a bucket (Resource and Parameters) and/or shaped by WriterConfig.
public struct ResultWriterSpec: Sendable {
    public var resource: String?
    public var parameters: FieldValue?
    /// WriterConfig.Transformation: NONE, COMPACT or FLATTEN.
    public var transformation: String?
    /// WriterConfig.OutputType: JSON or JSONL.
    public var outputType: String?
}

public struct Retrier: Sendable {
    public var errorEquals: [String]
    public var intervalSeconds: Double = 1
    public var maxAttempts: Int = 3
    public var backoffRate: Double = 2
    public var maxDelaySeconds: Double?
    public var fullJitter = false
}

public struct Catcher: Sendable {
    public var errorEquals: [String]
    public var next: Int
    public var resultPath: ResultPathField = .replace
    public var assign: PayloadTemplate?
}

/// A top-level Choice rule: a condition, where to go, and what to assign.
public struct ChoiceRule: Sendable {
    public var condition: Condition
    public var next: Int
    public var assign: PayloadTemplate?
}

public indirect enum Condition: Sendable {
    case and([Condition])
    case or([Condition])
    case not(Condition)
    case test(variable: JSONPath, ComparisonTest)
}

public enum ComparisonTest: Sendable {
    public enum Operand: Sendable {
        case literal(JSON)
        case path(JSONPath)
    }
    public enum Kind: String, Sendable {
        case string = "String"
        case numeric = "Numeric"
        case boolean = "Boolean"
        case timestamp = "Timestamp"
    }
    public enum Relation: String, Sendable {
        case equals = "Equals"
        case lessThan = "LessThan"
        case greaterThan = "GreaterThan"
        case lessThanEquals = "LessThanEquals"
        case greaterThanEquals = "GreaterThanEquals"
    }
    case compare(Kind, Relation, Operand)
    case stringMatches(StringPattern)
    case isNull(Bool)
    case isPresent(Bool)
    case isNumeric(Bool)
    case isString(Bool)
    case isBoolean(Bool)
    case isTimestamp(Bool)
}

/// A `StringMatches` pattern: `*` matches any run of characters; `\*` and `\\` are literal.
public struct StringPattern: Sendable {
    enum Piece: Sendable, Equatable {
        case literal([Unicode.Scalar])
        case star
    }
    let pieces: [Piece]

    public init(_ pattern: String) {
        var pieces: [Piece] = []
        var literal: [Unicode.Scalar] = []
        var escaped = false
        for s in pattern.unicodeScalars {
            if escaped {
                literal.append(s)
                escaped = false
            } else if s == "\\" {
                escaped = true
            } else if s == "*" {
                if !literal.isEmpty { pieces.append(.literal(literal)) }
                literal = []
                if pieces.last != .star { pieces.append(.star) }
            } else {
                literal.append(s)
            }
        }
        if escaped { literal.append("\\") }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        self.pieces = pieces
    }

    public func matches(_ text: String) -> Bool {
        let t = Array(text.unicodeScalars)
        return Self.match(pieces[...], t[...])
    }

    private static func match(_ p: ArraySlice<Piece>, _ t: ArraySlice<Unicode.Scalar>) -> Bool {
        guard let first = p.first else { return t.isEmpty }
        switch first {
        case .literal(let lit):
            guard t.count >= lit.count, t.prefix(lit.count).elementsEqual(lit) else { return false }
            return match(p.dropFirst(), t.dropFirst(lit.count))
        case .star:
            let rest = p.dropFirst()
            if rest.isEmpty { return true }
            var start = t.startIndex
            while start <= t.endIndex {
                if match(rest, t[start...]) { return true }
                start += 1
            }
            return false
        }
    }
}

/// The fields of a state whose QueryLanguage is JSONata, each a template whose `{% %}` strings
/// are compiled JSONata expressions.
public struct JSONataSpec: Sendable {
    public var arguments: JSONataTemplate?
    public var output: JSONataTemplate?
    public var assign: JSONataTemplate?
    // Map
    public var items: JSONataTemplate?
    public var itemSelector: JSONataTemplate?
    public var maxConcurrency: JSONataTemplate?
    public var toleratedFailureCount: JSONataTemplate?
    public var toleratedFailurePercentage: JSONataTemplate?
    // Task
    public var timeoutSeconds: JSONataTemplate?
    public var heartbeatSeconds: JSONataTemplate?
    // Wait
    public var seconds: JSONataTemplate?
    public var timestamp: JSONataTemplate?
    // Fail
    public var error: JSONataTemplate?
    public var cause: JSONataTemplate?
    // Choice
    public var rules: [JSONataChoiceRule] = []
    /// Output and Assign of each catcher, in the order of the state's catchers.
    public var catchers: [JSONataCatch] = []

    public init() {}
}

public struct JSONataChoiceRule: Sendable {
    public var condition: JSONataTemplate
    public var next: Int
    public var output: JSONataTemplate?
    public var assign: JSONataTemplate?
}

public struct JSONataCatch: Sendable {
    public var output: JSONataTemplate?
    public var assign: JSONataTemplate?
}
