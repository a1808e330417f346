import Foundation
import Datasets
import Formats
import Models
import NeuralNet
import TensorKit
import Tokenizers

/// One caption chosen for a training or evaluation row: its feature-store key and its text.
public struct SampleCaption: Sendable, Equatable {
    public var key: String
    public var text: String
    public var isLong: Bool
    public init(key: String, text: String, isLong: Bool) {
        self.key = key
        self.text = text
        self.isLong = isLong
    }
}

/// The two-tower model stage 2 trains, seen from the trainer: images and captions in, unit-length
/// embeddings out, a learnable logit scale, and a single-file checkpoint.
///
/// ```swift
/// let learner = LLM2CLIPLearner(model: model, features: [trainStore, evalStore])
/// let img = learner.encodeImages(pixels)            // [B, E]
/// let txt = try learner.encodeCaptions(captions)   // [B, E]
/// ```
public protocol StageTwoLearner: AnyObject {
    /// The whole trainable model (parameter names are checkpoint keys; the tower is `visual.*`).
    var module: Module { get }
    var logitScale: Tensor { get }
    /// Blocks of the image tower (for layer-wise learning-rate decay).
    var visualLayers: Int { get }
    var imageSize: Int { get }
    /// A short description for logs and reports.
    var kind: String { get }
    func encodeImages(_ pixels: Tensor) -> Tensor
    func encodeCaptions(_ captions: [SampleCaption]) throws -> Tensor
    func save(to path: String, metadata: [String: String]) throws
    /// Names of the parameters that came from a pretrained checkpoint (fine-tuned at
    /// ``CLIPTrainingConfig/pretrainedLearningRateScale``); empty when training from scratch.
    var pretrainedParameters: Set<String> { get set }
}

extension StageTwoLearner {
    /// Copies weights saved by `save` into this model's existing parameter tensors (so an
    /// optimiser holding them keeps working: resume). Every parameter must be present with its
    /// shape, and the file must hold nothing else.
    public func loadWeights(_ path: String) throws {
        let file = try SafetensorsFile(path: path)
        let params = module.namedParameters()
        var problems: [String] = []
        let own = Set(params.map(\.0))
        for (name, p) in params {
            guard file.names.contains(name) else { problems.append("missing \(name)"); continue }
            let t = try file.tensor(name)
            guard t.shape == p.shape else { problems.append("\(name) has shape \(t.shape), expected \(p.shape)"); continue }
            p.assign(t.to(.float32))
        }
        for name in file.names where !own.contains(name) { problems.append("unexpected \(name)") }
        if !problems.isEmpty {
            throw TrainingError.data("\(path) does not fit this model: \(problems.prefix(6).joined(separator: "; "))\(problems.count > 6 ? " (and \(problems.count - 6) more)" : "")")
        }
    }
}

extension StageTwoLearner {
    /// Starts this model from a pretrained checkpoint: copies every parameter whose name
    /// `select` accepts from the safetensors file at `path` (each must be there with its shape;
    /// all problems are reported at once) and records them in ``pretrainedParameters``.
    /// Returns the copied names.
    ///
    /// ```swift
    /// // A new LLM2CLIP model on a pretrained tower, with a fresh head as in the paper:
    /// try learner.initialise(from: "models/scenes-clip-base/model.safetensors") {
    ///     $0.hasPrefix("visual.") && !$0.hasPrefix("visual.head.")
    /// }
    /// ```
    @discardableResult
    public func initialise(from path: String, where select: (String) -> Bool) throws -> Set<String> {
        let file = try SafetensorsFile(path: path)
        var problems: [String] = []
        var copied: Set<String> = []
        for (name, p) in module.namedParameters() where select(name) {
            guard file.names.contains(name) else { problems.append("missing \(name)"); continue }
            let t = try file.tensor(name)
            guard t.shape == p.shape else { problems.append("\(name) has shape \(t.shape), the model needs \(p.shape)"); continue }
            p.assign(t.to(.float32))
            copied.insert(name)
        }
        if !problems.isEmpty {
            throw TrainingError.data("\(path): cannot start the model from it: \(problems.prefix(5).joined(separator: "; "))\(problems.count > 5 ? " (and \(problems.count - 5) more)" : "")")
        }
        pretrainedParameters.formUnion(copied)
        return copied
    }
}

func visualLayerCount(_ tower: Module) -> Int {
    if let eva = tower as? EVA02VisionTower { return eva.config.layers }
    if let clip = tower as? CLIPImageTower { return clip.config.layers }
    return 0
}

/// LLM2CLIP: the image tower and the text adapter over cached LLM caption features, looked up by
/// key in one or more feature stores (e.g. the training set's and the evaluation set's).
public final class LLM2CLIPLearner: StageTwoLearner {
    public let model: LLM2CLIPModel
    public let features: [FeatureStore]
    public var pretrainedParameters: Set<String> = []

    public init(model: LLM2CLIPModel, features: [FeatureStore]) {
        self.model = model
        self.features = features
    }

    public var module: Module { model }
    public var logitScale: Tensor { model.logitScale }
    public var visualLayers: Int { visualLayerCount(model.visualModule) }
    public var imageSize: Int { model.visual.imageSize }
    public var kind: String { "LLM2CLIP (adapter over \(features.first?.identity.model ?? "cached") features)" }

    public func encodeImages(_ pixels: Tensor) -> Tensor { model.encodeImage(pixels) }

    public func encodeCaptions(_ captions: [SampleCaption]) throws -> Tensor {
        model.encodeText(try vectors(captions.map(\.key)))
    }

    /// Cached LLM features of `keys`, from whichever store holds each (rows in order).
    public func vectors(_ keys: [String]) throws -> Tensor {
        if let store = features.first(where: { s in keys.allSatisfy { s.contains($0) } }) {
            return try store.vectors(for: keys)
        }
        var rows: [Tensor] = []
        for k in keys {
            guard let store = features.first(where: { $0.contains(k) }) else {
                throw TrainingError.data("caption feature '\(k)' is in none of the feature stores (\(features.map(\.directory).joined(separator: ", "))); run cache-text on the data set that holds it")
            }
            rows.append(try store.vectors(for: [k]))
        }
        return concat(rows, axis: 0)
    }

    /// Sets the adapter's input centre (``LLM2CLIPTextAdaptor/featureMean``) to the mean of every
    /// vector in `store` (the training captions' store). The model must have been made with
    /// ``LLM2CLIPConfig/adapterCentersInput`` on.
    ///
    /// ```swift
    /// var config = LLM2CLIPConfig(eva02: .small, llmDim: 576)
    /// config.adapterCentersInput = true
    /// let learner = LLM2CLIPLearner(model: LLM2CLIPModel(config, rng: &rng), features: [train, eval])
    /// try learner.centreFeatures(on: train)
    /// ```
    public func centreFeatures(on store: FeatureStore) throws {
        guard let mean = model.adaptor.featureMean else {
            throw TrainingError.data("this LLM2CLIP model does not centre its input features (adapterCentersInput is off)")
        }
        let keys = store.keys
        guard !keys.isEmpty else { throw TrainingError.data("\(store.directory): empty feature store; nothing to centre on") }
        var sum = [Double](repeating: 0, count: mean.count)
        for start in stride(from: 0, to: keys.count, by: 1024) {
            let rows = try store.vectors(for: Array(keys[start..<min(keys.count, start + 1024)])).toArray()
            for (i, v) in rows.enumerated() { sum[i % sum.count] += Double(v) }
        }
        mean.assign(Tensor(sum.map { Float($0 / Double(keys.count)) }, shape: [mean.count]))
    }

    /// The text encoder that produced the features, when known; saved in the checkpoint so
    /// that `llm2clip search` can embed queries the same way.
    public var textEncoderPath: String?

    /// Saves the model with the feature encoder's identity (and path, if known) as metadata.
    public func save(to path: String, metadata: [String: String]) throws {
        var meta = metadata
        if let identity = features.first?.identity {
            meta["text_features"] = String(decoding: try canonicalJSONEncoder.encode(identity), as: UTF8.self)
        }
        if let p = textEncoderPath { meta["text_encoder_path"] = p }
        try model.save(to: path, metadata: meta)
    }
}

/// Plain CLIP: the image tower and a CLIP text transformer on CLIP-tokenised captions (77
/// tokens: long captions are cut, as CLIP does).
public final class CLIPBaselineLearner: StageTwoLearner {
    public let model: CLIPBaselineModel
    public let tokenizer: CLIPTokenizer
    public var pretrainedParameters: Set<String> = []

    public init(model: CLIPBaselineModel, tokenizer: CLIPTokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    public var module: Module { model }
    public var logitScale: Tensor { model.logitScale }
    public var visualLayers: Int { visualLayerCount(model.visualModule) }
    public var imageSize: Int { model.visual.imageSize }
    public var kind: String { "plain CLIP (77-token text transformer)" }

    public func encodeImages(_ pixels: Tensor) -> Tensor { model.encodeImage(pixels) }

    public func encodeCaptions(_ captions: [SampleCaption]) throws -> Tensor {
        model.encodeText(ids: tokenizer(captions.map(\.text), contextLength: model.config.text.maxPositions))
    }

    public func save(to path: String, metadata: [String: String]) throws { try model.save(to: path, metadata: metadata) }
}
