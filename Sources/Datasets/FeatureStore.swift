import Foundation
import Formats
import TensorKit

/// Who made a cache of text features, and how. A cache is only reused by the same encoder and
/// recipe; anything else is refused.
public struct FeatureEncoderIdentity: Codable, Equatable, Sendable, CustomStringConvertible {
    /// The model file or folder name, for messages.
    public var model: String
    /// SHA-256 of the model file (see ``FeatureEncoderIdentity/fingerprint(path:)``).
    public var modelHash: String
    /// How token states become one vector (e.g. "llm2vec-mean-bidirectional").
    public var pooling: String
    /// The chat wrapper / template name.
    public var template: String
    public var maxLength: Int
    public var dimension: Int
    /// Instruction placed before each text, if any.
    public var instruction: String?

    public init(model: String, modelHash: String, pooling: String, template: String, maxLength: Int, dimension: Int,
                instruction: String? = nil) {
        self.model = model
        self.modelHash = modelHash
        self.pooling = pooling
        self.template = template
        self.maxLength = maxLength
        self.dimension = dimension
        self.instruction = instruction
    }

    public var description: String {
        "\(model) (sha256 \(modelHash.prefix(12))…, \(pooling), template \(template), max \(maxLength), dim \(dimension)"
            + (instruction.map { ", instruction \"\($0)\"" } ?? "") + ")"
    }

    /// A content hash of a model file, or of a folder's `config.json` and weight files. Files up
    /// to 1 GiB are hashed whole; larger ones by their size and first and last 64 MiB.
    public static func fingerprint(path: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FormatError.cannotOpen(file: path, reason: "no such file or folder")
        }
        var files = [path]
        if isDir.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            files = names.filter { $0 == "config.json" || $0.hasSuffix(".safetensors") || $0.hasSuffix(".json") && $0.contains("index") }
                .sorted().map { (path as NSString).appendingPathComponent($0) }
        }
        var h = SHA256()
        for f in files {
            guard let fh = FileHandle(forReadingAtPath: f) else { throw FormatError.cannotOpen(file: f, reason: "cannot read") }
            defer { try? fh.close() }
            let size = (try? FileManager.default.attributesOfItem(atPath: f)[.size] as? Int) ?? 0
            h.update(Array(((f as NSString).lastPathComponent + ":\(size)\n").utf8))
            let window = 64 << 20
            if size <= 1 << 30 {
                while let chunk = try fh.read(upToCount: 4 << 20), !chunk.isEmpty { h.update(chunk) }
            } else {
                if let head = try fh.read(upToCount: window) { h.update(head) }
                try fh.seek(toOffset: UInt64(size - window))
                if let tail = try fh.read(upToCount: window) { h.update(tail) }
            }
        }
        return h.hexDigest()
    }
}

/// Errors of the feature store; each names the folder and says what to do.
public enum FeatureStoreError: Error, CustomStringConvertible, Equatable {
    case stale(directory: String, found: FeatureEncoderIdentity, wanted: FeatureEncoderIdentity)
    case corrupt(directory: String, detail: String)
    case missingKey(directory: String, key: String)
    case incomplete(directory: String, missing: Int)
    case badInput(String)

    public var description: String {
        switch self {
        case .stale(let d, let found, let wanted):
            return "\(d): this cache was made by \(found), not \(wanted). Delete the folder (or choose another --out) to extract again."
        case .corrupt(let d, let detail): return "\(d): feature store is damaged: \(detail). Delete the folder and extract again."
        case .missingKey(let d, let k): return "\(d): no feature for '\(k)'. Was the cache made from this data set? Run cache-text again."
        case .incomplete(let d, let n): return "\(d): extraction has not finished (\(n) texts missing). Run cache-text again to resume."
        case .badInput(let s): return s
        }
    }
}

/// The on-disk description of a store (`store.json`), rewritten atomically after each shard.
struct StoreManifest: Codable {
    var version = 1
    var identity: FeatureEncoderIdentity
    var shards: [Shard]
    /// Keys expected in total (set when extraction starts; completion = all present).
    var expectedCount: Int?
    struct Shard: Codable { var file: String; var count: Int }
}

/// Writes text features to sharded safetensors files (`shard-NNNNN.safetensors`, tensor
/// `features` [n, dim], its keys in the metadata) plus `store.json`. Each shard is written
/// atomically and only then recorded in `store.json`, so an interrupted extraction resumes at
/// the first unrecorded shard; a folder made by another encoder or recipe is refused.
///
/// ```swift
/// let writer = try FeatureStoreWriter(directory: "cache/cc", identity: id, expectedCount: texts.count)
/// let todo = keys.filter { !writer.contains($0) }
/// try writer.append(keys: batchKeys, vectors: batchVectors)   // [n, dim]
/// try writer.finish()
/// ```
public final class FeatureStoreWriter {
    public let directory: String
    public let identity: FeatureEncoderIdentity
    public let shardSize: Int
    private var manifest: StoreManifest
    private var done: Set<String> = []
    private var pendingKeys: [String] = []
    private var pending: [Float] = []

    public init(directory: String, identity: FeatureEncoderIdentity, shardSize: Int = 4096, expectedCount: Int? = nil) throws {
        guard shardSize > 0 else { throw FeatureStoreError.badInput("shard size must be positive") }
        self.directory = directory
        self.identity = identity
        self.shardSize = shardSize
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let manifestPath = (directory as NSString).appendingPathComponent("store.json")
        if FileManager.default.fileExists(atPath: manifestPath) {
            let existing = try FeatureStore.readManifest(directory)
            guard existing.identity == identity else {
                throw FeatureStoreError.stale(directory: directory, found: existing.identity, wanted: identity)
            }
            manifest = existing
            for s in existing.shards {
                let file = try SafetensorsFile(path: (directory as NSString).appendingPathComponent(s.file))
                done.formUnion(try FeatureStore.keys(of: file, directory: directory))
            }
        } else {
            manifest = StoreManifest(identity: identity, shards: [])
        }
        if let e = expectedCount { manifest.expectedCount = e }
        try writeManifest()
    }

    /// Keys already stored (from earlier runs or this one), excluding the unflushed buffer.
    public var storedCount: Int { done.count }

    /// Whether `key` is stored or buffered.
    public func contains(_ key: String) -> Bool { done.contains(key) || pendingKeys.contains(key) }

    /// Adds vectors [n, dim] for `keys`; full shards are written as they fill.
    public func append(keys: [String], vectors: Tensor) throws {
        guard vectors.rank == 2, vectors.shape[0] == keys.count, vectors.shape[1] == identity.dimension else {
            throw FeatureStoreError.badInput("vectors \(vectors.shape) do not match \(keys.count) keys of dimension \(identity.dimension)")
        }
        pendingKeys += keys
        pending += vectors.toArray()
        while pendingKeys.count >= shardSize { try flush(count: shardSize) }
    }

    /// Writes the last partial shard.
    public func finish() throws {
        if !pendingKeys.isEmpty { try flush(count: pendingKeys.count) }
        try writeManifest()
    }

    private func flush(count: Int) throws {
        let d = identity.dimension
        let keys = Array(pendingKeys.prefix(count))
        let values = Array(pending.prefix(count * d))
        let name = String(format: "shard-%05d.safetensors", manifest.shards.count)
        let keysJSON = String(decoding: try JSONSerialization.data(withJSONObject: keys), as: UTF8.self)
        try writeSafetensors(["features": Tensor(values, shape: [count, d])], to: (directory as NSString).appendingPathComponent(name),
                             metadata: ["keys": keysJSON, "format": "llm2clip-text-features"])
        manifest.shards.append(.init(file: name, count: count))
        try writeManifest()
        done.formUnion(keys)
        pendingKeys.removeFirst(count)
        pending.removeFirst(count * d)
    }

    private func writeManifest() throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try enc.encode(manifest)
        let path = (directory as NSString).appendingPathComponent("store.json")
        let tmp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: data), rename(tmp, path) == 0 else {
            unlink(tmp)
            throw FormatError.writeFailed(file: path, reason: String(cString: strerror(errno)))
        }
    }
}

/// A finished (or partial) store opened for reading: vectors are views of memory-mapped shards.
///
/// ```swift
/// let store = try FeatureStore(directory: "cache/cc", expecting: id)
/// let v = try store.vectors(for: ["img0#long", "img1#s0"])     // [2, dim]
/// ```
public final class FeatureStore {
    public let directory: String
    public let identity: FeatureEncoderIdentity
    private let shards: [Tensor]
    private let index: [String: (shard: Int, row: Int)]
    public let expectedCount: Int?

    public init(directory: String, expecting wanted: FeatureEncoderIdentity? = nil, requireComplete: Bool = true) throws {
        self.directory = directory
        let manifest = try FeatureStore.readManifest(directory)
        if let w = wanted, w != manifest.identity {
            throw FeatureStoreError.stale(directory: directory, found: manifest.identity, wanted: w)
        }
        identity = manifest.identity
        expectedCount = manifest.expectedCount
        var shards: [Tensor] = [], index: [String: (Int, Int)] = [:]
        for (i, s) in manifest.shards.enumerated() {
            let file = try SafetensorsFile(path: (directory as NSString).appendingPathComponent(s.file))
            let t = try file.tensor("features")
            guard t.shape == [s.count, manifest.identity.dimension] else {
                throw FeatureStoreError.corrupt(directory: directory, detail: "\(s.file) holds \(t.shape), store.json says [\(s.count), \(manifest.identity.dimension)]")
            }
            for (row, k) in try FeatureStore.keys(of: file, directory: directory).enumerated() { index[k] = (i, row) }
            shards.append(t)
        }
        self.shards = shards
        self.index = index
        if requireComplete, let e = expectedCount, index.count < e {
            throw FeatureStoreError.incomplete(directory: directory, missing: e - index.count)
        }
    }

    public var count: Int { index.count }
    public var keys: [String] { index.keys.sorted() }
    public func contains(_ key: String) -> Bool { index[key] != nil }

    /// The vectors of `keys`, [keys.count, dim].
    public func vectors(for keys: [String]) throws -> Tensor {
        let d = identity.dimension
        let out = Tensor.empty([keys.count, d])
        for (i, k) in keys.enumerated() {
            guard let (s, r) = index[k] else { throw FeatureStoreError.missingKey(directory: directory, key: k) }
            (out.fptr + i * d).update(from: shards[s].fptr + r * d, count: d)
        }
        return out
    }

    static func readManifest(_ directory: String) throws -> StoreManifest {
        let path = (directory as NSString).appendingPathComponent("store.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FeatureStoreError.corrupt(directory: directory, detail: "store.json is missing (not a feature store, or never started)")
        }
        do { return try JSONDecoder().decode(StoreManifest.self, from: data) } catch {
            throw FeatureStoreError.corrupt(directory: directory, detail: "store.json cannot be read: \(error)")
        }
    }

    static func keys(of file: SafetensorsFile, directory: String) throws -> [String] {
        guard let json = file.metadata["keys"], let keys = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String] else {
            throw FeatureStoreError.corrupt(directory: directory, detail: "\(file.path) has no key list in its metadata")
        }
        return keys
    }
}

/// Names of caption features in a store: `<sample key>#s<i>` for the i-th short caption and
/// `<sample key>#long` for the long one.
public enum CaptionKey {
    public static func short(_ sample: String, _ i: Int) -> String { "\(sample)#s\(i)" }
    public static func long(_ sample: String) -> String { "\(sample)#long" }

    /// Every (feature key, text) of a data set, in sample order.
    public static func texts(of dataset: ImageTextDataset) -> [(key: String, text: String)] {
        var out: [(String, String)] = []
        for s in dataset.samples {
            for (i, c) in s.shortCaptions.enumerated() { out.append((short(s.key, i), c)) }
            if let l = s.longCaption { out.append((long(s.key), l)) }
        }
        return out
    }

    /// Every (feature key, text) of a caption-pair set (`pair<i>` or the pair's key).
    public static func texts(of pairs: CaptionPairDataset) -> [(key: String, text: String)] {
        pairs.pairs.enumerated().flatMap { i, p -> [(String, String)] in
            let k = p.key ?? "pair\(i)"
            return [(short(k, 0), p.short), (long(k), p.long)]
        }
    }
}
