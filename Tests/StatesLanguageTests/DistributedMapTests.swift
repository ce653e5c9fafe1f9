import Foundation
import Testing

@testable import StatesLanguage

/// Buckets in memory: what an ItemReader reads and a ResultWriter writes.
final class MemoryObjectStore: ObjectStore, @unchecked Sendable {
    private let lock = NSLock()
    private var objects: [String: [String: [UInt8]]]

    init(_ objects: [String: [String: String]] = [:]) {
        self.objects = objects.mapValues { $0.mapValues { Array($0.utf8) } }
    }

    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    func getObject(bucket: String, key: String) async throws -> [UInt8] {
        guard let bytes = lock.withLock({ objects[bucket]?[key] }) else { throw Missing(description: "no s3://\(bucket)/\(key)") }
        return bytes
    }

    func listObjects(bucket: String, prefix: String) async throws -> [StoredObject] {
        lock.withLock {
            (objects[bucket] ?? [:]).filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }.map {
                StoredObject(key: $0.key, size: $0.value.count, lastModified: Date(timeIntervalSince1970: 1_700_000_000), etag: "\"e\"")
            }
        }
    }

    func putObject(bucket: String, key: String, bytes: [UInt8]) async throws {
        lock.withLock { objects[bucket, default: [:]][key] = bytes }
    }

    func text(_ bucket: String, _ key: String) -> String? {
        lock.withLock { objects[bucket]?[key].map { String(decoding: $0, as: UTF8.self) } }
    }

    func keys(_ bucket: String) -> [String] { lock.withLock { (objects[bucket] ?? [:]).keys.sorted() } }
}

@Suite struct DistributedMapTests {
    static func run(
        _ text: String, input: JSON = [:], store: MemoryObjectStore?, tasks: [String: InMemoryTaskExecutor.Handler] = [:]
    ) async throws -> ExecutionResult {
        let document = try JSONParser.parseDocument(text, fileName: "m.asl.json")
        let problems = DefinitionValidator.validate(document).filter { $0.severity == .error }
        #expect(problems.isEmpty, "\(problems)")
        let machine = try StateMachineCompiler.compile(document.value)
        let counter = Counter()
        let env = ExecutionEnvironment(
            clock: VirtualClock(), tasks: InMemoryTaskExecutor(tasks), random: { UInt64(counter.bump()) }, objects: store)
        return await Interpreter(machine: machine, identity: ExecutionIdentity(executionID: "exec-1", name: "test"), environment: env)
            .run(input: input)
    }

    /// A distributed Map whose processor is a Pass state with `parameters` (or the item as is).
    static func map(_ fields: String, processor: String = #"{"Type": "Pass", "End": true}"#, query: String = "JSONPath") -> String {
        #"""
        {"QueryLanguage": "\#(query)", "StartAt": "M", "States": {"M": {"Type": "Map", \#(fields), "End": true,
          "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                            "StartAt": "P", "States": {"P": \#(processor)}}}}}
        """#
    }

    static func reader(_ key: String, _ config: String = "{}") -> String {
        #""ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": \#(config), "Parameters": {"Bucket": "in", "Key": "\#(key)"}}"#
    }

    // MARK: ItemReader

    @Test func readsAJSONArray() async throws {
        let store = MemoryObjectStore(["in": ["items.json": #"[{"n": 1}, {"n": 2}]"#]])
        let result = try await Self.run(Self.map(Self.reader("items.json")), store: store)
        #expect(result.output == [["n": 1], ["n": 2]])
    }

    @Test func readsJSONLines() async throws {
        let store = MemoryObjectStore(["in": ["items.jsonl": "{\"n\": 1}\r\n\n{\"n\": 2}\n\"three\"\n"]])
        let result = try await Self.run(Self.map(Self.reader("items.jsonl", #"{"InputType": "JSONL"}"#)), store: store)
        #expect(result.output == [["n": 1], ["n": 2], "three"])
    }

    @Test func readsCSVRowsAsObjectsOfStrings() async throws {
        let csv = "\u{FEFF}id,name,note\n1,ann,\"a, \"\"quoted\"\" note\"\n2,bob\n"
        let store = MemoryObjectStore(["in": ["items.csv": csv, "given.csv": "1|x\n2|y\n"]])
        let first = try await Self.run(Self.map(Self.reader("items.csv", #"{"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"}"#)), store: store)
        #expect(first.output == [["id": "1", "name": "ann", "note": "a, \"quoted\" note"], ["id": "2", "name": "bob", "note": ""]])
        let given = try await Self.run(
            Self.map(Self.reader("given.csv", #"{"InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["id", "v"], "CSVDelimiter": "PIPE"}"#)),
            store: store)
        #expect(given.output == [["id": "1", "v": "x"], ["id": "2", "v": "y"]])
    }

    @Test func listsObjectsUnderAPrefix() async throws {
        let store = MemoryObjectStore(["in": ["logs/a.txt": "aa", "logs/b.txt": "b", "other/c": "c"]])
        let text = Self.map(
            #""ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": "in", "Prefix": "logs/"}}"#,
            processor: #"{"Type": "Pass", "Parameters": {"key.$": "$.Key", "size.$": "$.Size", "class.$": "$.StorageClass"}, "End": true}"#)
        let result = try await Self.run(text, store: store)
        #expect(result.output == [["key": "logs/a.txt", "size": 2, "class": "STANDARD"], ["key": "logs/b.txt", "size": 1, "class": "STANDARD"]])
    }

    @Test func maxItemsLimitsTheItemsAndZeroMeansNoLimit() async throws {
        let store = MemoryObjectStore(["in": ["items.json": "[1, 2, 3, 4]"]])
        let two = try await Self.run(Self.map(Self.reader("items.json", #"{"MaxItems": 2}"#)), store: store)
        #expect(two.output == [1, 2])
        let all = try await Self.run(Self.map(Self.reader("items.json", #"{"MaxItems": 0}"#)), store: store)
        #expect(all.output == [1, 2, 3, 4])
        let fromPath = try await Self.run(Self.map(Self.reader("items.json", #"{"MaxItemsPath": "$.max"}"#)), input: ["max": 3], store: store)
        #expect(fromPath.output == [1, 2, 3])
    }

    @Test func theReaderParametersReadTheInput() async throws {
        let store = MemoryObjectStore(["in": ["2024/items.json": "[\"x\"]"]])
        let text = Self.map(
            #""ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket.$": "$.bucket", "Key.$": "States.Format('{}/items.json', $.year)"}}"#)
        let result = try await Self.run(text, input: ["bucket": "in", "year": "2024"], store: store)
        #expect(result.output == ["x"])
    }

    @Test(arguments: [
        ("missing.json", "{}", "Cannot read s3://in/missing.json"),
        ("object.json", "{}", "holds an object, not a JSON array"),
        ("bad.jsonl", #"{"InputType": "JSONL"}"#, "line 2 of the object is not valid JSON"),
        ("object.json", #"{"InputType": "MANIFEST"}"#, "InputType MANIFEST cannot be read locally"),
    ])
    func readerFailuresAreItemReaderFailed(_ key: String, _ config: String, _ cause: String) async throws {
        let store = MemoryObjectStore(["in": ["object.json": "{}", "bad.jsonl": "1\n{\n"]])
        let result = try await Self.run(Self.map(Self.reader(key, config)), store: store)
        #expect(result.status == .failed)
        #expect(result.error == "States.ItemReaderFailed")
        #expect(result.cause?.contains(cause) == true, "\(result.cause ?? "")")
    }

    @Test func withoutBucketsTheReaderSaysWhichBucket() async throws {
        let result = try await Self.run(Self.map(Self.reader("items.json")), store: nil)
        #expect(result.error == "States.ItemReaderFailed")
        #expect(result.cause?.contains("No local directory is configured for the bucket 'in'") == true)
    }

    // MARK: ItemBatcher

    @Test func batchesByCountWithBatchInput() async throws {
        let store = MemoryObjectStore(["in": ["items.json": "[1, 2, 3, 4, 5]"]])
        let text = Self.map(Self.reader("items.json") + #", "ItemBatcher": {"MaxItemsPerBatch": 2, "BatchInput": {"run.$": "$.run"}}"#)
        let result = try await Self.run(text, input: ["run": "r"], store: store)
        #expect(
            result.output == [
                ["BatchInput": ["run": "r"], "Items": [1, 2]], ["BatchInput": ["run": "r"], "Items": [3, 4]],
                ["BatchInput": ["run": "r"], "Items": [5]],
            ])
    }

    @Test func batchesByBytes() async throws {
        // {"Items":[]} is 12 bytes; "aaaa" adds 6, a second adds 7.
        let text = Self.map(#""ItemsPath": "$.items", "ItemBatcher": {"MaxInputBytesPerBatch": 25}"#)
        let result = try await Self.run(text, input: ["items": ["aaaa", "bbbb", "cccc"]], store: nil)
        #expect(result.output == [["Items": ["aaaa", "bbbb"]], ["Items": ["cccc"]]])
    }

    @Test func aFailedBatchCountsEachOfItsItems() async throws {
        let store = MemoryObjectStore(["in": ["items.json": "[1, 2, 3, 4]"]])
        let processor = #"{"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f", "End": true}"#
        let failFirst: InMemoryTaskExecutor.Handler = { r in
            if r.input["Items"]?.arrayValue?.first == 1 { throw ExecutionError("Boom", "first batch") }
            return r.input
        }
        let within = Self.map(Self.reader("items.json") + #", "ItemBatcher": {"MaxItemsPerBatch": 2}, "ToleratedFailureCount": 2"#, processor: processor)
        let tolerated = try await Self.run(within, store: store, tasks: ["arn:aws:lambda:us-east-1:123456789012:function:f": failFirst])
        #expect(tolerated.status == .succeeded)
        let beyond = Self.map(Self.reader("items.json") + #", "ItemBatcher": {"MaxItemsPerBatch": 2}, "ToleratedFailureCount": 1"#, processor: processor)
        let failed = try await Self.run(beyond, store: store, tasks: ["arn:aws:lambda:us-east-1:123456789012:function:f": failFirst])
        #expect(failed.error == "States.ExceedToleratedFailureThreshold")
    }

    // MARK: ResultWriter

    @Test func exportsTheManifestAndResultFiles() async throws {
        let store = MemoryObjectStore(["in": ["items.json": "[1, 2, 3]"]])
        let processor = #"{"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f", "End": true}"#
        let text = Self.map(
            Self.reader("items.json") + #", "Label": "Fan", "ToleratedFailurePercentage": 50, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "out", "Prefix": "runs/"}}"#,
            processor: processor)
        let result = try await Self.run(
            text, store: store,
            tasks: ["arn:aws:lambda:us-east-1:123456789012:function:f": { r in
                if r.input == 2 { throw ExecutionError("Odd", "two") }
                return ["doubled": .int((r.input.intValue ?? 0) * 2)]
            }])
        #expect(result.status == .succeeded)
        let output = try #require(result.output)
        let manifestKey = try #require(output["ResultWriterDetails"]?["Key"]?.stringValue)
        #expect(output["ResultWriterDetails"]?["Bucket"] == "out")
        #expect(manifestKey.hasPrefix("runs/") && manifestKey.hasSuffix("/manifest.json"))
        #expect(output["MapRunArn"]?.stringValue?.contains(":mapRun:local/Fan:") == true)
        let manifest = try JSONParser.parse(try #require(store.text("out", manifestKey)))
        #expect(manifest["DestinationBucket"] == "out")
        #expect(manifest["MapRunArn"] == output["MapRunArn"])
        #expect(manifest["ResultFiles"]?["PENDING"] == [])
        let succeededKey = try #require(manifest["ResultFiles"]?["SUCCEEDED"]?[index: 0]?["Key"]?.stringValue)
        let succeeded = try JSONParser.parse(try #require(store.text("out", succeededKey)))
        #expect(succeeded.arrayValue?.count == 2)
        #expect(succeeded[index: 0]?["Status"] == "SUCCEEDED")
        #expect(succeeded[index: 0]?["Input"] == "1")
        #expect(succeeded[index: 0]?["Output"] == #"{"doubled":2}"#)
        #expect(succeeded[index: 0]?["StateMachineArn"]?.stringValue?.hasSuffix(":stateMachine:local/Fan") == true)
        let failedKey = try #require(manifest["ResultFiles"]?["FAILED"]?[index: 0]?["Key"]?.stringValue)
        let failed = try JSONParser.parse(try #require(store.text("out", failedKey)))
        #expect(failed[index: 0]?["Error"] == "Odd")
        #expect(failed[index: 0]?["Cause"] == "two")
        #expect(failed[index: 0]?["Status"] == "FAILED")
        #expect(manifest["ResultFiles"]?["SUCCEEDED"]?[index: 0]?["Size"]?.intValue == store.text("out", succeededKey)?.utf8.count)
    }

    @Test func resultsAreWrittenEvenWhenTheMapFails() async throws {
        let store = MemoryObjectStore(["in": ["items.json": "[1]"]])
        let text = Self.map(
            Self.reader("items.json") + #", "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "out"}}"#,
            processor: #"{"Type": "Fail", "Error": "Nope", "Cause": "no"}"#)
        let result = try await Self.run(text, store: store)
        #expect(result.error == "Nope")
        #expect(store.keys("out").contains { $0.hasSuffix("/FAILED_0.json") })
        #expect(store.keys("out").contains { $0.hasSuffix("/manifest.json") })
    }

    @Test(arguments: [
        ("COMPACT", JSON.array([[1, 2], [3]])),
        ("FLATTEN", JSON.array([1, 2, 3])),
    ])
    func writerConfigShapesTheOutput(_ transformation: String, _ expected: JSON) async throws {
        let text = Self.map(
            #""ItemsPath": "$.items", "ResultWriter": {"WriterConfig": {"OutputType": "JSON", "Transformation": "\#(transformation)"}}"#)
        let result = try await Self.run(text, input: ["items": [[1, 2], [3]]], store: nil)
        #expect(result.output == expected)
    }

    @Test func writerConfigNoneGivesTheExecutionRecords() async throws {
        let text = Self.map(#""ItemsPath": "$.items", "ResultWriter": {"WriterConfig": {"OutputType": "JSON", "Transformation": "NONE"}}"#)
        let result = try await Self.run(text, input: ["items": ["a"]], store: nil)
        #expect(result.output?[index: 0]?["Output"] == "\"a\"")
        #expect(result.output?[index: 0]?["Status"] == "SUCCEEDED")
    }

    @Test func jsonlResultFilesHoldOneRecordALine() async throws {
        let store = MemoryObjectStore()
        let text = Self.map(
            #""ItemsPath": "$.items", "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "out", "Prefix": "p"}, "WriterConfig": {"OutputType": "JSONL", "Transformation": "COMPACT"}}"#)
        _ = try await Self.run(text, input: ["items": [1, 2]], store: store)
        let key = try #require(store.keys("out").first { $0.hasSuffix("SUCCEEDED_0.json") })
        #expect(store.text("out", key) == "1\n2\n")
    }

    // MARK: JSONata

    @Test func jsonataMapsReadBatchAndWriteToo() async throws {
        let store = MemoryObjectStore(["in": ["items.json": "[1, 2, 3]"]])
        let text = Self.map(
            #"""
            "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"MaxItems": "{% $states.input.max %}"},
                           "Arguments": {"Bucket": "in", "Key": "{% 'items' & '.json' %}"}},
            "ItemBatcher": {"MaxItemsPerBatch": "{% 2 %}", "BatchInput": {"tag": "{% $states.input.tag %}"}}
            """#,
            query: "JSONata")
        let result = try await Self.run(text, input: ["max": 3, "tag": "t"], store: store)
        #expect(result.output == [["BatchInput": ["tag": "t"], "Items": [1, 2]], ["BatchInput": ["tag": "t"], "Items": [3]]])
    }
}

extension JSON {
    /// The element at `index` of an array.
    fileprivate subscript(index index: Int) -> JSON? {
        guard case .array(let a) = self, a.indices.contains(index) else { return nil }
        return a[index]
    }
}
