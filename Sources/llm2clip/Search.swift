import ArgumentParser
import Datasets
import Formats
import Foundation
import Images
import Models
import TensorKit
import Tokenizers
import Training

/// A trained stage-2 model as `search` uses it: images to unit vectors, query texts to unit vectors.
enum SearchModel {
    /// The model and the frozen text encoder that embeds queries as the training captions were.
    case llm2clip(LLM2CLIPModel, features: ([String]) throws -> Tensor)
    case baseline(CLIPBaselineModel, CLIPTokenizer)

    var imageSize: Int {
        switch self {
        case .llm2clip(let m, _): return m.visual.imageSize
        case .baseline(let m, _): return m.visual.imageSize
        }
    }

    func embedImages(_ pixels: Tensor) -> Tensor {
        withNoGrad {
            switch self {
            case .llm2clip(let m, _): return m.encodeImage(pixels)
            case .baseline(let m, _): return m.encodeImage(pixels)
            }
        }
    }

    func embedTexts(_ texts: [String]) throws -> Tensor {
        switch self {
        case .llm2clip(let m, let embed):
            let features = try embed(texts)
            return withNoGrad { m.encodeText(features) }
        case .baseline(let m, let tok):
            return withNoGrad { m.encodeText(ids: tok(texts, contextLength: m.config.text.maxPositions)) }
        }
    }

    /// Loads an LLM2CLIP checkpoint (with the LLM that made its training features) or a
    /// plain-CLIP baseline written by train-clip / demo.
    static func load(_ path: String, textModel: String?, vocab: String) throws -> SearchModel {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: path) } catch { throw CommandFailure("cannot read --model \(path): \(error)") }
        if file.metadata["format"] == "clip-baseline" {
            guard FileManager.default.fileExists(atPath: vocab) else {
                throw ValidationError("\(vocab): CLIP vocabulary not found (scripts/assets.sh installs it; or pass --vocab)")
            }
            return .baseline(try CLIPBaselineModel.load(path: path), try CLIPTokenizer(vocabPath: vocab))
        }
        let model = try LLM2CLIPModel.load(path: path)
        var identity: FeatureEncoderIdentity?
        if let json = file.metadata["text_features"] { identity = try? JSONDecoder().decode(FeatureEncoderIdentity.self, from: Data(json.utf8)) }
        guard let encoderPath = textModel ?? file.metadata["text_encoder_path"] else {
            throw ValidationError("\(path) does not name the LLM whose features it was trained on; pass --text-model (the model given to cache-text)")
        }
        if let id = identity {
            let hash = try FeatureEncoderIdentity.fingerprint(path: encoderPath)
            guard hash == id.modelHash else {
                throw CommandFailure("--text-model \(encoderPath) is not the encoder \(path) was trained with (\(id.model)); queries would land in another space")
            }
        }
        let textModel = try loadTextModel(encoderPath)
        guard textModel.dimension == model.config.llmDim else {
            throw CommandFailure("\(encoderPath) gives \(textModel.dimension)-wide features; \(path) expects \(model.config.llmDim)")
        }
        let instruction = identity?.instruction
        switch textModel {
        case .decoder(let llm, let tok):
            let enc = LLM2VecEncoder(model: llm, tokenizer: tok)
            if let id = identity, id.maxLength > 0 { enc.maxLength = id.maxLength }
            return .llm2clip(model, features: { try enc.embed($0, instruction: instruction) })
        case .sentenceEncoder:
            return .llm2clip(model, features: { try textModel.embed($0, instruction: instruction) })
        }
    }
}

/// An embedding index of an image folder: unit vectors, the files they came from, and what made them.
struct ImageIndex {
    var paths: [String]
    var vectors: Tensor
    var modelHash: String

    static func images(in folder: String) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: folder) else {
            throw ValidationError("--images \(folder): no such folder")
        }
        var out: [String] = []
        while let rel = walker.nextObject() as? String {
            let lower = rel.lowercased()
            if lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") || lower.hasSuffix(".png") {
                out.append((folder as NSString).appendingPathComponent(rel))
            }
        }
        return out.sorted()
    }

    /// A file list signature: names and sizes (a changed folder rebuilds the index).
    static func signature(_ paths: [String]) -> String {
        var h = SHA256()
        for p in paths {
            let size = (try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? -1
            h.update(Array("\(p):\(size)\n".utf8))
        }
        return h.hexDigest()
    }

    static func load(_ path: String, expectModel hash: String, paths: [String]) -> ImageIndex? {
        guard let file = try? SafetensorsFile(path: path), file.metadata["model"] == hash,
              file.metadata["files"] == signature(paths), let v = try? file.tensor("embeddings"), v.shape.first == paths.count else { return nil }
        return ImageIndex(paths: paths, vectors: v, modelHash: hash)
    }

    func save(_ path: String) throws {
        let list = String(decoding: try JSONSerialization.data(withJSONObject: paths), as: UTF8.self)
        try writeSafetensors(["embeddings": vectors], to: path,
                             metadata: ["format": "llm2clip-image-index", "model": modelHash, "files": ImageIndex.signature(paths), "paths": list])
    }
}

struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search a folder of images with text queries using a trained LLM2CLIP (or plain-CLIP) model.",
        discussion: """
        The first run embeds every JPEG/PNG under --images and stores the index (default \
        <images>/.llm2clip-index.safetensors); later runs reuse it while the model and the files \
        are unchanged. Each query prints the top --top images with cosine scores.
        """)

    @Option(help: "Trained model (model.safetensors from train-clip or demo).") var model: String
    @Option(help: "Folder of images to search.") var images: String
    @Option(help: "Index file (default: <images>/.llm2clip-index.safetensors).") var index: String?
    @Option(help: "The LLM that made the model's training features (default: the path recorded in the model).") var textModel: String?
    @Option(help: "CLIP BPE vocabulary (plain-CLIP models).") var vocab = StageTwoSetup.defaultVocab
    @Option(name: [.customShort("k"), .long], help: "Results per query.") var top = 5
    @Flag(help: "Print JSON lines.") var json = false
    @Flag(help: "Rebuild the index even if it is up to date.") var rebuild = false
    @Argument(help: "Text queries.") var queries: [String]

    func run() throws {
        guard !queries.isEmpty else { throw ValidationError("give at least one text query") }
        guard top > 0 else { throw ValidationError("--top must be positive") }
        let m = try SearchModel.load(model, textModel: textModel, vocab: vocab)
        let files = try ImageIndex.images(in: images)
        guard !files.isEmpty else { throw CommandFailure("--images \(images): no .jpg, .jpeg or .png files inside") }
        let indexPath = index ?? (images as NSString).appendingPathComponent(".llm2clip-index.safetensors")
        let hash = try FeatureEncoderIdentity.fingerprint(path: model)
        var idx = rebuild ? nil : ImageIndex.load(indexPath, expectModel: hash, paths: files)
        if idx == nil {
            let batcher = ImageBatcher(transform: CLIPTransform(size: m.imageSize))
            let bar = ProgressBar(total: files.count, label: "index", unit: "images")
            var rows: [Tensor] = []
            for start in stride(from: 0, to: files.count, by: 64) {
                let part = Array(files[start..<min(files.count, start + 64)])
                let pixels: Tensor
                do { pixels = try batcher.tensor(part) } catch { throw CommandFailure("\(error)") }
                rows.append(m.embedImages(pixels))
                bar.update(start + part.count)
            }
            let built = ImageIndex(paths: files, vectors: concat(rows, axis: 0).contiguous(), modelHash: hash)
            try built.save(indexPath)
            idx = built
        }
        let index = idx!
        let q = try m.embedTexts(queries)
        let scores = withNoGrad { matmul(q, index.vectors.transposed()) }.contiguous()
        let n = index.paths.count, k = min(top, n)
        for (qi, text) in queries.enumerated() {
            var ranked = (0..<n).map { ($0, scores.fptr[qi * n + $0]) }
            ranked.sort { $0.1 > $1.1 }
            let hits = ranked.prefix(k)
            if json {
                try printJSON(["query": text, "results": hits.map { ["path": index.paths[$0.0], "score": Double($0.1)] }])
            } else {
                print("\(text)")
                for (rank, hit) in hits.enumerated() { print(String(format: "  %2d. %.4f  ", rank + 1, hit.1) + index.paths[hit.0]) }
            }
        }
    }
}
