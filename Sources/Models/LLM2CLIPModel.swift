import Foundation
import Formats
import NeuralNet
import TensorKit

/// One residual block of the text adapter: `x + fn(ln(x))` with `fn = Linear(d, 2d) → GELU(erf)
/// → Linear(2d, d)` (keys `ln`, `fn.0`, `fn.3`).
public final class AdaptorBlock: Module {
    @Child("ln") public var norm: LayerNorm
    @Child("fn") public var ffn: AdaptorFFN

    init(dim: Int, expansion: Int, rng: inout RNG) {
        super.init()
        norm = LayerNorm(dim, eps: 1e-5)
        ffn = AdaptorFFN(dim: dim, hidden: dim * expansion, rng: &rng)
    }
    func callAsFunction(_ x: Tensor) -> Tensor { x + ffn(norm(x)) }
}

/// `fn.0` (up) and `fn.3` (down); indices 1 and 2 are the parameter-free GELU and dropout.
public final class AdaptorFFN: Module {
    @Child("0") public var up: Linear
    @Child("3") public var down: Linear
    init(dim: Int, hidden: Int, rng: inout RNG) {
        super.init()
        up = Linear(dim, hidden, rng: &rng)
        down = Linear(hidden, dim, rng: &rng)
    }
    func callAsFunction(_ x: Tensor) -> Tensor { down(up(x).gelu()) }
}

/// LLM2CLIP's text adapter (`text_adaptor.0..3` blocks, `.4` final LayerNorm, `.5` projection):
/// optional input L2 normalisation, 4 pre-LN residual blocks with expansion 2, final LN, linear.
public final class LLM2CLIPTextAdaptor: Module {
    @Child("0") public var block0: AdaptorBlock
    @Child("1") public var block1: AdaptorBlock
    @Child("2") public var block2: AdaptorBlock
    @Child("3") public var block3: AdaptorBlock
    @Child("4") public var finalNorm: LayerNorm
    @Child("5") public var projection: Linear
    /// The training captions' mean LLM feature, subtracted before everything else when the
    /// model centres its input (key `feature_mean`; a fixed statistic, not trained). Not part of
    /// the original adapter: an option for LLMs whose raw features share a large common
    /// component (see ``LLM2CLIPConfig/adapterCentersInput``).
    @Param("feature_mean") public var featureMean: Tensor?
    public var normalizesInput: Bool

    public init(llmDim: Int, embedDim: Int, expansion: Int = 2, normalizesInput: Bool = true, centersInput: Bool = false,
                rng: inout RNG) {
        self.normalizesInput = normalizesInput
        super.init()
        featureMean = centersInput ? Tensor.zeros([llmDim]) : nil
        block0 = AdaptorBlock(dim: llmDim, expansion: expansion, rng: &rng)
        block1 = AdaptorBlock(dim: llmDim, expansion: expansion, rng: &rng)
        block2 = AdaptorBlock(dim: llmDim, expansion: expansion, rng: &rng)
        block3 = AdaptorBlock(dim: llmDim, expansion: expansion, rng: &rng)
        finalNorm = LayerNorm(llmDim, eps: 1e-5)
        projection = Linear(llmDim, embedDim, rng: &rng)
    }

    /// [N, llmDim] cached LLM features → [N, embedDim] (not normalised).
    public func callAsFunction(_ features: Tensor) -> Tensor {
        let centred = featureMean.map { features - $0 } ?? features
        var x = normalizesInput ? l2Normalize(centred, axis: -1) : centred
        for b in [block0, block1, block2, block3] { x = b(x) }
        return projection(finalNorm(x))
    }
}

/// `text.*` of an LLM2CLIP checkpoint (only the adapter: the LLM's features are cached).
public final class LLM2CLIPTextSide: Module {
    @Child("text_adaptor") public var adaptor: LLM2CLIPTextAdaptor
    init(_ a: LLM2CLIPTextAdaptor) {
        super.init()
        adaptor = a
    }
}

/// A CLIP ViT in the Hugging Face layout with a projection, as an LLM2CLIP image tower
/// (`vision_model.*`, `visual_projection.weight`).
public final class CLIPImageTower: Module, ImageTower {
    @Child("vision_model") public var vision: CLIPVisionTransformer
    @Child("visual_projection") public var projection: Linear
    public let config: CLIPTowerConfig
    public let outputDim: Int

    public init(_ c: CLIPTowerConfig, embedDim: Int, rng: inout RNG) {
        config = c
        outputDim = embedDim
        super.init()
        vision = CLIPVisionTransformer(c, rng: &rng)
        projection = Linear(c.hiddenSize, embedDim, bias: false, rng: &rng)
    }
    public var imageSize: Int { config.imageSize }
    public func embed(_ pixels: Tensor) -> Tensor { projection(vision(pixels).pooled) }
}

/// What an LLM2CLIP model is made of; stored as JSON in the checkpoint's metadata.
public struct LLM2CLIPConfig: Codable, Sendable, Equatable {
    /// "eva02" or "clip".
    public var towerKind: String
    public var eva02: EVA02Config?
    public var clip: CLIPTowerConfig?
    /// Width of the cached LLM features (2048 for Llama-3.2-1B, 576 for SmolLM2-135M).
    public var llmDim: Int
    public var embedDim: Int
    public var adapterNormalizesInput = true
    public var adapterExpansion = 2
    /// Subtract the training captions' mean feature (stored as `text.text_adaptor.feature_mean`)
    /// before the input normalisation. Off (nil) in the original recipe, whose CC-tuned LLM
    /// features are already spread out; raw or briefly tuned features of a small LLM share a
    /// large common direction, and centring them lets stage 2 start learning at once.
    public var adapterCentersInput: Bool?

    public init(eva02: EVA02Config, llmDim: Int) {
        towerKind = "eva02"
        self.eva02 = eva02
        self.llmDim = llmDim
        embedDim = eva02.embedDim
    }

    public init(clip: CLIPTowerConfig, embedDim: Int, llmDim: Int) {
        towerKind = "clip"
        self.clip = clip
        self.llmDim = llmDim
        self.embedDim = embedDim
    }
}

/// LLM2CLIP: an image tower and a text adapter over cached LLM caption features, with a
/// learnable logit scale. Checkpoints use the original key names (`visual.*`,
/// `text.text_adaptor.*`, `logit_scale`).
///
/// ```swift
/// let model = try LLM2CLIPModel.load(path: "llm2clip.safetensors")
/// let img = model.encodeImage(pixels)               // [B, E], unit length
/// let txt = model.encodeText(llmFeatures)           // [N, E], unit length
/// let scores = matmul(img, txt.transposed())
/// ```
public final class LLM2CLIPModel: Module {
    @Child("visual") public var visualModule: Module
    @Child("text") public var text: LLM2CLIPTextSide
    @Param("logit_scale") public var logitScale: Tensor
    public let config: LLM2CLIPConfig

    public var visual: any ImageTower { visualModule as! any ImageTower }
    public var adaptor: LLM2CLIPTextAdaptor { text.adaptor }

    public init(_ config: LLM2CLIPConfig, rng: inout RNG) {
        self.config = config
        super.init()
        visualModule = makeImageTower(kind: config.towerKind, eva02: config.eva02, clip: config.clip, embedDim: config.embedDim, rng: &rng)
        text = LLM2CLIPTextSide(LLM2CLIPTextAdaptor(llmDim: config.llmDim, embedDim: config.embedDim,
                                                    expansion: config.adapterExpansion,
                                                    normalizesInput: config.adapterNormalizesInput,
                                                    centersInput: config.adapterCentersInput ?? false, rng: &rng))
        logitScale = Tensor([logf(1 / 0.07)], shape: []).requiringGrad()
    }

    /// Image embeddings [B, E]; unit length unless `normalize` is false.
    public func encodeImage(_ pixels: Tensor, normalize: Bool = true) -> Tensor {
        let e = visual.embed(pixels)
        return normalize ? l2Normalize(e, axis: -1) : e
    }

    /// Text embeddings [N, E] from cached LLM features [N, llmDim]; unit length unless `normalize` is false.
    public func encodeText(_ llmFeatures: Tensor, normalize: Bool = true) -> Tensor {
        precondition(llmFeatures.shape.last == config.llmDim,
                     "LLM features have width \(llmFeatures.shape.last ?? 0) but the adapter expects \(config.llmDim)")
        let e = adaptor(llmFeatures)
        return normalize ? l2Normalize(e, axis: -1) : e
    }

    /// exp(logit_scale) · image · textᵀ for unit-length embeddings: [images, texts].
    public func logits(images: Tensor, texts: Tensor) -> Tensor {
        matmul(images, texts.transposed()) * logitScale.exp()
    }

    /// Writes the model as one safetensors file with the original key names and the config as
    /// JSON metadata (atomically).
    public func save(to path: String, metadata extra: [String: String] = [:]) throws {
        let json = String(decoding: try canonicalJSONEncoder.encode(config), as: UTF8.self)
        var meta = extra
        meta["format"] = "llm2clip"
        meta["llm2clip_config"] = json
        try writeSafetensors(stateDict(), to: path, metadata: meta)
    }

    /// Loads a checkpoint written by ``save(to:metadata:)`` or converted from an original `.pt`
    /// (`scripts/convert_llm2clip_checkpoint.py`). Without config metadata the shapes decide,
    /// assuming 64-wide attention heads (true of EVA02-B and -L); pass `config` to override.
    public static func load(path: String, config override: LLM2CLIPConfig? = nil) throws -> LLM2CLIPModel {
        let file = try SafetensorsFile(path: path)
        var state: [String: Tensor] = [:]
        for name in file.names { state[name] = try file.tensor(name) }
        state = EVA02VisionTower.renameOriginalKeys(state, prefix: "visual.")
        let config: LLM2CLIPConfig
        if let o = override {
            config = o
        } else if let json = file.metadata["llm2clip_config"] {
            do { config = try JSONDecoder().decode(LLM2CLIPConfig.self, from: Data(json.utf8)) } catch {
                throw ModelError.badConfig(file: path, key: "__metadata__.llm2clip_config", detail: "not a valid LLM2CLIP config: \(error)")
            }
        } else {
            config = try inferConfig(state, file: path)
        }
        var rng = RNG(seed: 0)
        let model = withNoGrad { LLM2CLIPModel(config, rng: &rng) }
        do { try model.load(stateDict: state, strict: true) } catch let e as StateDictError {
            throw ModelError.weights(file: path, detail: "checkpoint does not match the LLM2CLIP layout: \(e)")
        }
        return model
    }

    /// Reads an EVA02 LLM2CLIP config from tensor shapes.
    static func inferConfig(_ state: [String: Tensor], file: String) throws -> LLM2CLIPConfig {
        func shape(_ k: String) throws -> [Int] {
            guard let t = state[k] else { throw ModelError.weights(file: file, detail: "missing tensor '\(k)' (an LLM2CLIP EVA02 checkpoint was expected)") }
            return t.shape
        }
        let patch = try shape("visual.patch_embed.proj.weight")
        let width = patch[0], p = patch[2]
        let tokens = try shape("visual.pos_embed")[1]
        let grid = Int(Double(tokens - 1).squareRoot().rounded())
        guard grid * grid == tokens - 1 else { throw ModelError.weights(file: file, detail: "visual.pos_embed has \(tokens) rows, not 1 + a square grid") }
        let layers = Set(state.keys.compactMap { k -> Int? in
            guard k.hasPrefix("visual.blocks.") else { return nil }
            return Int(k.dropFirst("visual.blocks.".count).split(separator: ".")[0])
        }).count
        let mlp = try shape("visual.blocks.0.mlp.w1.weight")[0]
        let embed = try shape("visual.head.weight")[0]
        let llm = try shape("text.text_adaptor.0.ln.weight")[0]
        guard width % 64 == 0 else {
            throw ModelError.weights(file: file, detail: "width \(width) is not a multiple of 64; the head count cannot be inferred (save the model with its config)")
        }
        let eva = EVA02Config(imageSize: grid * p, patchSize: p, width: width, layers: layers, heads: width / 64, mlpHidden: mlp,
                              embedDim: embed, ropePretrainGrid: 16)
        return LLM2CLIPConfig(eva02: eva, llmDim: llm)
    }
}
