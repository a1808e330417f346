import Foundation
import TensorKit

/// Anything that serves named tensors: one safetensors file, a sharded Hugging Face folder, or a
/// GGUF file (by its own tensor names). Models load through this protocol.
///
/// ```swift
/// let source = try SafetensorsFolder(path: "Llama-3.2-1B")
/// let w = try source.tensor("model.embed_tokens.weight")
/// ```
public protocol TensorSource: AnyObject {
    /// What the tensors come from (a file or folder path), for messages.
    var origin: String { get }
    /// All tensor names, sorted.
    var tensorNames: [String] { get }
    /// Shape (row-major) and storage type name of a tensor, without reading it.
    func describe(_ name: String) -> (shape: [Int], dtype: String)?
    /// The tensor as float32 or in its half-precision storage type.
    func tensor(_ name: String) throws -> Tensor
}

extension SafetensorsFile: TensorSource {
    public var origin: String { path }
    public var tensorNames: [String] { names }
    public func describe(_ name: String) -> (shape: [Int], dtype: String)? {
        entries[name].map { ($0.shape, $0.dtype) }
    }
}

extension GGUFFile: TensorSource {
    public var origin: String { path }
    public var tensorNames: [String] { names.sorted() }
    public func describe(_ name: String) -> (shape: [Int], dtype: String)? {
        info(name).map { ($0.shape, $0.type.name) }
    }
}

/// The weights of a Hugging Face model folder: `model.safetensors`, or shards listed by
/// `model.safetensors.index.json` (its `weight_map`), or every `*.safetensors` in the folder.
/// A path to a single `.safetensors` file also works.
public final class SafetensorsFolder: TensorSource {
    public let origin: String
    /// The shard files, in name order.
    public let files: [SafetensorsFile]
    private let owner: [String: Int]

    public init(path: String) throws {
        origin = path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FormatError.cannotOpen(file: path, reason: "no such file or folder")
        }
        if !isDir.boolValue {
            let f = try SafetensorsFile(path: path)
            files = [f]
            owner = Dictionary(uniqueKeysWithValues: f.names.map { ($0, 0) })
            return
        }
        let index = (path as NSString).appendingPathComponent("model.safetensors.index.json")
        var shardNames: [String]
        var weightMap: [String: String]? = nil
        if FileManager.default.fileExists(atPath: index) {
            guard let data = FileManager.default.contents(atPath: index),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let map = json["weight_map"] as? [String: String] else {
                throw FormatError.badHeader(file: index, detail: "expected a JSON object with a \"weight_map\" of tensor name → shard file")
            }
            weightMap = map
            shardNames = Array(Set(map.values)).sorted()
        } else {
            let all = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            shardNames = all.filter { $0.hasSuffix(".safetensors") && !$0.hasPrefix(".") }.sorted()
            if shardNames.contains("model.safetensors") { shardNames = ["model.safetensors"] }
            guard !shardNames.isEmpty else {
                throw FormatError.cannotOpen(file: path, reason: "the folder has no *.safetensors file (a Hugging Face model folder was expected)")
            }
        }
        var files: [SafetensorsFile] = []
        var owner: [String: Int] = [:]
        for (i, shard) in shardNames.enumerated() {
            let shardPath = (path as NSString).appendingPathComponent(shard)
            guard FileManager.default.fileExists(atPath: shardPath) else {
                throw FormatError.cannotOpen(file: shardPath, reason: "listed in model.safetensors.index.json but missing")
            }
            let f = try SafetensorsFile(path: shardPath)
            for name in f.names {
                if let prev = owner[name] {
                    throw FormatError.badTensor(file: shardPath, tensor: name, detail: "also present in \(files[prev].path)")
                }
                owner[name] = i
            }
            files.append(f)
        }
        if let map = weightMap {
            for (name, shard) in map.sorted(by: { $0.key < $1.key }) {
                guard let i = owner[name] else {
                    throw FormatError.missingTensor(file: (path as NSString).appendingPathComponent(shard), tensor: name)
                }
                guard (files[i].path as NSString).lastPathComponent == shard else {
                    throw FormatError.badTensor(file: index, tensor: name, detail: "index says \(shard) but it is in \(files[i].path)")
                }
            }
        }
        self.files = files
        self.owner = owner
    }

    public var tensorNames: [String] { owner.keys.sorted() }

    public func describe(_ name: String) -> (shape: [Int], dtype: String)? {
        owner[name].flatMap { files[$0].describe(name) }
    }

    public func tensor(_ name: String) throws -> Tensor {
        guard let i = owner[name] else { throw FormatError.missingTensor(file: origin, tensor: name) }
        return try files[i].tensor(name)
    }
}
