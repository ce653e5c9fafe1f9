import Foundation

/// The scope a Map state's fields are evaluated in: JSONPath's or JSONata's.
enum FieldScope {
    case jsonPath(EvaluationScope)
    case jsonata(JSONataScope)
}

/// One Map iteration as it ended: its result (nil when it never ran) and when it ran.
struct IterationOutcome: Sendable {
    var result: Result<JSON, ExecutionError>
    var started: Date
    var stopped: Date
}

/// Distributed Map as AWS runs it: ItemReader reads the items from a bucket, ItemBatcher groups
/// them, ResultWriter exports the results (AWS's manifest and result files) to a bucket.
extension ExecutionRun {
    func value(_ f: FieldValue, _ scope: FieldScope, field: String, state: State) throws(ExecutionError) -> JSON {
        switch (f, scope) {
        case (.constant(let v), _): return v
        case (.template(let t), .jsonPath(let s)): return try t.evaluate(in: s)
        case (.path(let p), .jsonPath(let s)):
            guard let v = p.evaluate(in: s) else {
                throw ExecutionError.runtime(
                    "An error occurred while executing the state '\(state.name)'. Invalid path '\(p)' : No results for path: \(bracketed(p))")
            }
            return v
        case (.jsonata(let t), .jsonata(let s)): return try t.evaluate(in: s, field: field, state: state.name)
        default:
            throw ExecutionError.runtime(
                "An error occurred while executing the state '\(state.name)'. The field '\(field)' does not belong to the state's query language")
        }
    }

    /// A whole number of at least `minimum` from a literal, a path or an expression.
    func integer(_ f: FieldValue?, _ scope: FieldScope, field: String, state: State, minimum: Int) throws(ExecutionError) -> Int? {
        guard let f else { return nil }
        let v = try value(f, scope, field: field, state: state)
        guard let n = Self.numeric(v)?.intValue, n >= minimum else {
            throw ExecutionError.runtime(
                "An error occurred while executing the state '\(state.name)'. The value of the field '\(field)' must be an integer greater than or equal to \(minimum), but was '\(v.serialized)'")
        }
        return n
    }

    /// A bucket and key (or prefix) from ItemReader's or ResultWriter's Parameters.
    private func location(_ f: FieldValue?, _ scope: FieldScope, field: String, state: State) throws(ExecutionError) -> JSONObject {
        guard let f else { return JSONObject() }
        let v = try value(f, scope, field: field, state: state)
        guard case .object(let o) = v else {
            throw ExecutionError.runtime(
                "An error occurred while executing the state '\(state.name)'. The \(field) must evaluate to an object with Bucket, but was \(v.typeName)")
        }
        return o
    }

    // MARK: - ItemReader

    func readItems(_ reader: ItemReaderSpec, _ scope: FieldScope, state: State) async throws(ExecutionError) -> [JSON] {
        func failed(_ cause: String) -> ExecutionError {
            .itemReaderFailed("An error occurred while executing the state '\(state.name)'. \(cause)")
        }
        let parameters = try location(reader.parameters, scope, field: "ItemReader.Parameters", state: state)
        guard let bucket = parameters["Bucket"]?.stringValue else { throw failed("The ItemReader names no Bucket") }
        guard let store = env.objects else { throw failed("No local directory is configured for the bucket '\(bucket)'") }
        let action = reader.resource.split(separator: ":").last.map(String.init) ?? ""
        var items: [JSON]
        switch action {
        case "listObjectsV2":
            let prefix = parameters["Prefix"]?.stringValue ?? ""
            let objects: [StoredObject]
            do { objects = try await store.listObjects(bucket: bucket, prefix: prefix) } catch {
                throw failed("Cannot list s3://\(bucket)/\(prefix): \(error)")
            }
            items = objects.map { o in
                .object(
                    JSONObject([
                        ("Etag", .string(o.etag)), ("Key", .string(o.key)), ("LastModified", .int(Int(o.lastModified.timeIntervalSince1970))),
                        ("Size", .int(o.size)), ("StorageClass", "STANDARD"),
                    ]))
            }
        case "getObject":
            guard let key = parameters["Key"]?.stringValue else { throw failed("The ItemReader names no Key") }
            let bytes: [UInt8]
            do { bytes = try await store.getObject(bucket: bucket, key: key) } catch {
                throw failed("Cannot read s3://\(bucket)/\(key): \(error)")
            }
            do {
                items = try ItemFormats.items(
                    bytes, inputType: reader.inputType, headerLocation: reader.csvHeaderLocation, headers: reader.csvHeaders,
                    delimiter: reader.csvDelimiter)
            } catch {
                throw failed("Cannot read items from s3://\(bucket)/\(key): \(error.message)")
            }
        default:
            throw failed("The ItemReader resource '\(reader.resource)' does not run locally (s3:getObject and s3:listObjectsV2 do)")
        }
        if let max = try integer(reader.maxItems, scope, field: "MaxItems", state: state, minimum: 0), max > 0, items.count > max {
            items.removeSubrange(max...)
        }
        return items
    }

    // MARK: - ItemBatcher

    /// Groups the iteration inputs into batches, `{"BatchInput": ..., "Items": [...]}`, each as large
    /// as MaxItemsPerBatch and MaxInputBytesPerBatch allow; also returns how many items each holds.
    func batch(_ inputs: [JSON], _ batcher: ItemBatcherSpec, _ scope: FieldScope, state: State) throws(ExecutionError) -> ([JSON], [Int]) {
        let maxItems = try integer(batcher.maxItemsPerBatch, scope, field: "MaxItemsPerBatch", state: state, minimum: 1) ?? Int.max
        let maxBytes = try integer(batcher.maxInputBytesPerBatch, scope, field: "MaxInputBytesPerBatch", state: state, minimum: 1)
            ?? JSON.payloadLimit
        let batchInput = try batcher.batchInput.map { (f) throws(ExecutionError) in try value(f, scope, field: "BatchInput", state: state) }
        func wrap(_ items: [JSON]) -> JSON {
            var o = JSONObject()
            if let batchInput { o["BatchInput"] = batchInput }
            o["Items"] = .array(items)
            return .object(o)
        }
        let emptySize = wrap([]).serialized.utf8.count
        var batches: [JSON] = []
        var sizes: [Int] = []
        var current: [JSON] = []
        var bytes = emptySize
        for input in inputs {
            let size = input.serialized.utf8.count + (current.isEmpty ? 0 : 1)
            if !current.isEmpty && (current.count >= maxItems || bytes + size > maxBytes) {
                batches.append(wrap(current))
                sizes.append(current.count)
                current = []
                bytes = emptySize
            }
            bytes += input.serialized.utf8.count + (current.isEmpty ? 0 : 1)
            current.append(input)
        }
        if !current.isEmpty {
            batches.append(wrap(current))
            sizes.append(current.count)
        }
        return (batches, sizes)
    }

    // MARK: - ResultWriter

    /// The Map's output under a ResultWriter: the exported results' location when it writes to a
    /// bucket, else the results shaped by WriterConfig.
    func writeResults(
        _ writer: ResultWriterSpec, _ scope: FieldScope, state: State, label: String?, inputs: [JSON],
        outcomes: [IterationOutcome?]
    ) async throws(ExecutionError) -> JSON {
        func failed(_ cause: String) -> ExecutionError {
            ExecutionError("States.ResultWriterFailed", "An error occurred while executing the state '\(state.name)'. \(cause)")
        }
        let identity = interpreter.identity
        let runID = IntrinsicCall.uuid(env.random(), env.random())
        let run = "\(identity.stateMachineName)/\(label ?? state.name)"
        let mapRunArn = "\(identity.stateMachineID):mapRun:\(run):\(runID)"
        let transformation = writer.transformation ?? (writer.resource == nil ? "COMPACT" : "NONE")

        // One record per iteration, by status, in iteration order.
        var byStatus: [String: [JSON]] = ["SUCCEEDED": [], "FAILED": [], "PENDING": []]
        for (i, outcome) in outcomes.enumerated() {
            guard let outcome else {
                byStatus["PENDING"]!.append(.object(JSONObject([("Input", .string(inputs[i].serialized)), ("Status", "PENDING")])))
                continue
            }
            let name = IntrinsicCall.uuid(env.random(), env.random())
            var record = JSONObject()
            record["ExecutionArn"] = .string("\(identity.stateMachineID):execution:\(run):\(name)")
            record["Input"] = .string(inputs[i].serialized)
            record["InputDetails"] = ["Included": true]
            record["Name"] = .string(name)
            switch outcome.result {
            case .success(let output):
                if transformation != "NONE" {
                    byStatus["SUCCEEDED"]!.append(contentsOf: transformation == "FLATTEN" ? (output.arrayValue ?? [output]) : [output])
                    continue
                }
                record["Output"] = .string(output.serialized)
                record["OutputDetails"] = ["Included": true]
                record["RedriveCount"] = 0
                record["RedriveStatus"] = "NOT_REDRIVABLE"
                record["RedriveStatusReason"] = "Execution is SUCCEEDED and cannot be redriven"
            case .failure(let e):
                record["Error"] = .string(e.error)
                record["Cause"] = .string(e.causeIsAbsent ? "" : e.cause)
                record["RedriveCount"] = 0
                record["RedriveStatus"] = "REDRIVABLE"
            }
            record["StartDate"] = .string(ISO8601.format(outcome.started))
            record["StateMachineArn"] = .string("\(identity.stateMachineID):stateMachine:\(run)")
            record["Status"] = .string(outcome.result.isSuccess ? "SUCCEEDED" : "FAILED")
            record["StopDate"] = .string(ISO8601.format(outcome.stopped))
            byStatus[outcome.result.isSuccess ? "SUCCEEDED" : "FAILED"]!.append(.object(record))
        }

        guard writer.resource != nil else {
            // WriterConfig alone shapes the output the next state sees.
            return .array(byStatus["SUCCEEDED"]! + byStatus["FAILED"]!)
        }
        let parameters = try location(writer.parameters, scope, field: "ResultWriter.Parameters", state: state)
        guard let bucket = parameters["Bucket"]?.stringValue else { throw failed("The ResultWriter names no Bucket") }
        guard let store = env.objects else { throw failed("No local directory is configured for the bucket '\(bucket)'") }
        var base = parameters["Prefix"]?.stringValue ?? ""
        while base.hasSuffix("/") { base.removeLast() }
        base = base.isEmpty ? runID : "\(base)/\(runID)"
        var files = JSONObject()
        for status in ["FAILED", "PENDING", "SUCCEEDED"] {
            let records = byStatus[status]!
            guard !records.isEmpty else {
                files[status] = .array([])
                continue
            }
            let text = writer.outputType == "JSONL"
                ? records.map(\.serialized).joined(separator: "\n") + "\n" : JSON.array(records).serialized
            let key = "\(base)/\(status)_0.json"
            let bytes = Array(text.utf8)
            do { try await store.putObject(bucket: bucket, key: key, bytes: bytes) } catch {
                throw failed("Cannot write s3://\(bucket)/\(key): \(error)")
            }
            files[status] = .array([.object(JSONObject([("Key", .string(key)), ("Size", .int(bytes.count))]))])
        }
        let manifest: JSON = .object(
            JSONObject([("DestinationBucket", .string(bucket)), ("MapRunArn", .string(mapRunArn)), ("ResultFiles", .object(files))]))
        let manifestKey = "\(base)/manifest.json"
        do { try await store.putObject(bucket: bucket, key: manifestKey, bytes: Array(manifest.serialized.utf8)) } catch {
            throw failed("Cannot write s3://\(bucket)/\(manifestKey): \(error)")
        }
        return .object(
            JSONObject([
                ("MapRunArn", .string(mapRunArn)),
                ("ResultWriterDetails", .object(JSONObject([("Bucket", .string(bucket)), ("Key", .string(manifestKey))]))),
            ]))
    }
}

extension Result {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
