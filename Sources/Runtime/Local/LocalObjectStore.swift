import Crypto
import Foundation
public import StatesLanguage

/// S3 buckets as local directories, for the ItemReader and ResultWriter of a Distributed Map run
/// outside AWS: `s3://BUCKET/KEY` is the file KEY under the bucket's directory. Keys stay inside
/// their directory (no `..` segment, no leading `/`).
public struct LocalObjectStore: ObjectStore {
    /// Bucket name → directory.
    public let buckets: [String: String]

    public init(buckets: [String: String]) {
        self.buckets = buckets
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    func directory(_ bucket: String) throws(Failure) -> String {
        guard let directory = buckets[bucket] else {
            throw Failure(
                "the bucket '\(bucket)' has no local directory (map it under buckets in .stepgate/stepgate.yaml, or with --bucket \(bucket)=DIR)")
        }
        return directory
    }

    func path(_ bucket: String, _ key: String) throws(Failure) -> String {
        let segments = key.split(separator: "/", omittingEmptySubsequences: false)
        guard !key.isEmpty, !key.hasPrefix("/"), !segments.contains(".."), !key.contains("\0") else {
            throw Failure("the key '\(key)' does not name a file inside the bucket '\(bucket)'")
        }
        return try directory(bucket) + "/" + key
    }

    public func getObject(bucket: String, key: String) async throws -> [UInt8] {
        let file = try path(bucket, key)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue,
            let data = FileManager.default.contents(atPath: file)
        else {
            throw Failure("no object s3://\(bucket)/\(key) (looked for \(file))")
        }
        return Array(data)
    }

    public func listObjects(bucket: String, prefix: String) async throws -> [StoredObject] {
        let root = URL(fileURLWithPath: try directory(bucket)).standardizedFileURL
        guard let walker = FileManager.default.enumerator(
            at: root, includingPropertiesForKeys: [.isRegularFileKey, .fileSizeKey, .contentModificationDateKey])
        else { throw Failure("cannot list the directory \(root.path) of the bucket '\(bucket)'") }
        var objects: [StoredObject] = []
        let rootPath = root.path.hasSuffix("/") ? root.path : root.path + "/"
        while let url = walker.nextObject() as? URL {
            let values = try url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey, .contentModificationDateKey])
            guard values.isRegularFile == true else { continue }
            let full = url.standardizedFileURL.path
            guard full.hasPrefix(rootPath) else { continue }
            let key = String(full.dropFirst(rootPath.count))
            guard key.hasPrefix(prefix) else { continue }
            let bytes = FileManager.default.contents(atPath: full) ?? Data()
            let etag = "\"" + Insecure.MD5.hash(data: bytes).map { String(format: "%02x", $0) }.joined() + "\""
            objects.append(
                StoredObject(
                    key: key, size: values.fileSize ?? bytes.count, lastModified: values.contentModificationDate ?? Date(), etag: etag))
        }
        return objects.sorted { $0.key < $1.key }
    }

    public func putObject(bucket: String, key: String, bytes: [UInt8]) async throws {
        let file = URL(fileURLWithPath: try path(bucket, key))
        do {
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: file, options: .atomic)
        } catch {
            throw Failure("cannot write \(file.path): \(error.localizedDescription)")
        }
    }
}
