import Foundation
import Formats
import NeuralNet
import TensorKit

/// One tower's shape in the Hugging Face CLIP layout (`vision_config` or `text_config`).
public struct CLIPTowerConfig: Sendable, Equatable, Codable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var activation: Activation = .quickGelu
    public var layerNormEps: Float = 1e-5
    // vision
    public var imageSize = 224
    public var patchSize = 16
    // text
    public var vocabSize = 49408
    public var maxPositions = 77
    public var eosTokenId = 49407

    public init(hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layers = layers
        self.heads = heads
    }

    /// A vision tower preset.
    public static func vision(width: Int, layers: Int, heads: Int, image: Int, patch: Int, activation: Activation = .quickGelu) -> CLIPTowerConfig {
        var c = CLIPTowerConfig(hiddenSize: width, intermediateSize: 4 * width, layers: layers, heads: heads)
        c.imageSize = image
        c.patchSize = patch
        c.activation = activation
        return c
    }

    /// OpenAI CLIP ViT-L/14 at 224 px.
    public static let vitL14 = vision(width: 1024, layers: 24, heads: 16, image: 224, patch: 14)
    /// OpenAI CLIP ViT-L/14 at 336 px.
    public static let vitL14_336 = vision(width: 1024, layers: 24, heads: 16, image: 336, patch: 14)
    /// OpenAI CLIP ViT-B/16 at 224 px.
    public static let vitB16 = vision(width: 768, layers: 12, heads: 12, image: 224, patch: 16)
    /// A small ViT for training from scratch on a CPU (64 px, 8 px patches, 6 layers, width 192).
    public static let vitSmall = vision(width: 192, layers: 6, heads: 3, image: 64, patch: 8, activation: .gelu)
    /// A very small ViT for smoke runs and tests.
    public static let vitTiny = vision(width: 64, layers: 2, heads: 2, image: 64, patch: 16, activation: .gelu)
    /// The 77-token CLIP text transformer of the ViT-B models (width 512, 12 layers, 8 heads).
    public static let textB = CLIPTowerConfig(hiddenSize: 512, intermediateSize: 2048, layers: 12, heads: 8)
    /// A small text transformer for training the plain-CLIP baseline from scratch on a CPU.
    public static let textSmall: CLIPTowerConfig = {
        var c = CLIPTowerConfig(hiddenSize: 256, intermediateSize: 1024, layers: 4, heads: 4)
        c.activation = .gelu
        return c
    }()
    /// A narrower text transformer (width 192, 4 layers, 3 heads): the scenes model zoo's, whose
    /// 49,408-row token table is most of its size.
    public static let textMini: CLIPTowerConfig = {
        var c = CLIPTowerConfig(hiddenSize: 192, intermediateSize: 768, layers: 4, heads: 3)
        c.activation = .gelu
        return c
    }()

    /// Named text-transformer presets (`--text-config` values).
    public static let textPresets: [String: CLIPTowerConfig] = ["text-small": textSmall, "text-mini": textMini, "text-b": textB]

    /// Named presets (`--tower` values).
    public static let presets: [String: CLIPTowerConfig] = [
        "vit-l14": vitL14, "vit-l14-336": vitL14_336, "vit-b16": vitB16, "vit-small": vitSmall, "vit-tiny": vitTiny,
    ]

    init(json: [String: Any], file: String, key: String) throws {
        let c = ConfigReader(json: json, file: file)
        func k(_ s: String) -> String { "\(key).\(s)" }
        do {
            self.init(hiddenSize: try c.int("hidden_size"), intermediateSize: try c.int("intermediate_size"),
                      layers: try c.int("num_hidden_layers"), heads: try c.int("num_attention_heads"))
        } catch ModelError.badConfig(let f, let key2, let d) {
            throw ModelError.badConfig(file: f, key: k(key2), detail: d)
        }
        let act = c.string("hidden_act") ?? "quick_gelu"
        guard let a = Activation(configName: act) else { throw ModelError.badConfig(file: file, key: k("hidden_act"), detail: "'\(act)' is not supported") }
        activation = a
        layerNormEps = Float(try c.double("layer_norm_eps", default: 1e-5))
        imageSize = try c.int("image_size", default: 224)
        patchSize = try c.int("patch_size", default: 16)
        vocabSize = try c.int("vocab_size", default: 49408)
        maxPositions = try c.int("max_position_embeddings", default: 77)
        eosTokenId = try c.int("eos_token_id", default: 49407)
    }
}

/// Self-attention with the CLIP key names (`q_proj`, `k_proj`, `v_proj`, `out_proj`, all with bias).
public final class CLIPAttention: Module {
    @Child("q_proj") public var q: Linear
    @Child("k_proj") public var k: Linear
    @Child("v_proj") public var v: Linear
    @Child("out_proj") public var out: Linear
    let heads: Int

    init(dim: Int, heads: Int, rng: inout RNG) {
        self.heads = heads
        super.init()
        q = Linear(dim, dim, rng: &rng)
        k = Linear(dim, dim, rng: &rng)
        v = Linear(dim, dim, rng: &rng)
        out = Linear(dim, dim, rng: &rng)
    }

    func callAsFunction(_ x: Tensor, mask: AttentionMask) -> Tensor {
        let B = x.shape[0], T = x.shape[1], D = x.shape[2], hd = D / heads
        func split(_ t: Tensor) -> Tensor { t.reshape([B, T, heads, hd]).permute([0, 2, 1, 3]) }
        let o = scaledDotProductAttention(split(q(x)), split(k(x)), split(v(x)), mask: mask)
        return out(o.permute([0, 2, 1, 3]).reshape([B, T, D]))
    }
}

/// A pre-LN CLIP encoder layer (`self_attn`, `layer_norm1`, `mlp.fc1/fc2`, `layer_norm2`).
public final class CLIPEncoderLayer: Module {
    @Child("self_attn") public var attention: CLIPAttention
    @Child("layer_norm1") public var norm1: LayerNorm
    @Child("mlp") public var mlp: MLP
    @Child("layer_norm2") public var norm2: LayerNorm

    init(_ c: CLIPTowerConfig, rng: inout RNG) {
        super.init()
        attention = CLIPAttention(dim: c.hiddenSize, heads: c.heads, rng: &rng)
        norm1 = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
        mlp = MLP(inFeatures: c.hiddenSize, hidden: c.intermediateSize, activation: c.activation, rng: &rng)
        norm2 = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
    }

    func callAsFunction(_ x: Tensor, mask: AttentionMask) -> Tensor {
        let h = x + attention(norm1(x), mask: mask)
        return h + mlp(norm2(h))
    }
}

/// `encoder.layers.N`.
public final class CLIPEncoder: Module {
    @Child("layers") public var layers: [CLIPEncoderLayer]
    init(_ c: CLIPTowerConfig, rng: inout RNG) {
        super.init()
        layers = (0..<c.layers).map { _ in CLIPEncoderLayer(c, rng: &rng) }
    }
    func callAsFunction(_ x: Tensor, mask: AttentionMask) -> Tensor {
        var h = x
        for l in layers { h = l(h, mask: mask) }
        return h
    }
}

/// `embeddings.class_embedding`, `embeddings.patch_embedding` (no bias), `embeddings.position_embedding`.
public final class CLIPVisionEmbeddings: Module {
    @Param("class_embedding") public var classEmbedding: Tensor
    @Child("patch_embedding") public var patch: PatchConv
    @Child("position_embedding") public var position: Embedding

    init(_ c: CLIPTowerConfig, rng: inout RNG) {
        super.init()
        let n = (c.imageSize / c.patchSize) * (c.imageSize / c.patchSize)
        classEmbedding = (Tensor.randn([c.hiddenSize], rng: &rng) * 0.02).requiringGrad()
        patch = PatchConv(channels: 3, width: c.hiddenSize, patch: c.patchSize, bias: false, rng: &rng)
        position = Embedding(n + 1, c.hiddenSize, rng: &rng)
        position.weight = (position.weight * 0.02).detach().requiringGrad()
    }
}

/// A convolution whose stride equals its kernel (ViT patch embedding; key `weight` [O, C, P, P]
/// and optional `bias`).
public final class PatchConv: Module {
    @Param("weight") public var weight: Tensor
    @Param("bias") public var bias: Tensor?

    public init(channels: Int, width: Int, patch: Int, bias: Bool, rng: inout RNG) {
        super.init()
        let fanIn = channels * patch * patch
        let bound = 1 / Float(fanIn).squareRoot()
        weight = Tensor.uniform([width, channels, patch, patch], low: -bound, high: bound, rng: &rng).requiringGrad()
        self.bias = bias ? Tensor.uniform([width], low: -bound, high: bound, rng: &rng).requiringGrad() : nil
    }

    /// [B, C, H, W] → [B, (H/P)·(W/P), width].
    public func callAsFunction(_ x: Tensor) -> Tensor { patchEmbed(x, weight: weight, bias: bias) }
}

/// The CLIP vision transformer (`vision_model.*` in `CLIPVisionModel` / `CLIPModel`).
public final class CLIPVisionTransformer: Module {
    @Child("embeddings") public var embeddings: CLIPVisionEmbeddings
    @Child("pre_layrnorm") public var preNorm: LayerNorm
    @Child("encoder") public var encoder: CLIPEncoder
    @Child("post_layernorm") public var postNorm: LayerNorm
    public let config: CLIPTowerConfig

    public init(_ c: CLIPTowerConfig, rng: inout RNG) {
        config = c
        super.init()
        embeddings = CLIPVisionEmbeddings(c, rng: &rng)
        preNorm = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
        encoder = CLIPEncoder(c, rng: &rng)
        postNorm = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
    }

    /// Last hidden states [B, 1 + patches, hidden] and the pooled (post-layernorm CLS) output.
    public func callAsFunction(_ pixels: Tensor) -> (lastHidden: Tensor, pooled: Tensor) {
        let B = pixels.shape[0], D = config.hiddenSize
        let patches = embeddings.patch(pixels)
        let n = patches.shape[1]
        let cls = embeddings.classEmbedding.reshape([1, 1, D]).expand([B, 1, D])
        var pos = embeddings.position.weight
        if pos.shape[0] != n + 1 { pos = interpolatedPositions(pos, tokens: n + 1, hasClassToken: true) }
        var x = concat([cls, patches], axis: 1) + pos.reshape([1, n + 1, D])
        x = preNorm(x)
        x = encoder(x, mask: .none)
        let pooled = postNorm(x.slice(axis: 1, 0, 1).reshape([B, D]))
        return (x, pooled)
    }
}

/// The CLIP text transformer (`text_model.*`): causal attention, final layer norm, pooled at
/// the end-of-text token (the highest id in legacy configs with eos_token_id 2, else the first
/// `eos_token_id`).
public final class CLIPTextTransformer: Module {
    @Child("embeddings") public var embeddings: CLIPTextEmbeddings
    @Child("encoder") public var encoder: CLIPEncoder
    @Child("final_layer_norm") public var finalNorm: LayerNorm
    public let config: CLIPTowerConfig

    public init(_ c: CLIPTowerConfig, rng: inout RNG) {
        config = c
        super.init()
        embeddings = CLIPTextEmbeddings(c, rng: &rng)
        encoder = CLIPEncoder(c, rng: &rng)
        finalNorm = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
    }

    /// Position of the pooled token in each row.
    public func poolPositions(_ ids: [[Int]]) -> [Int] {
        ids.map { row in
            if config.eosTokenId == 2 { return row.indices.max { row[$0] < row[$1] } ?? 0 }
            return row.firstIndex(of: config.eosTokenId) ?? row.count - 1
        }
    }

    public func callAsFunction(ids: [[Int]], attentionMask: [[Int]]? = nil) -> (lastHidden: Tensor, pooled: Tensor) {
        let B = ids.count, T = ids[0].count, D = config.hiddenSize
        precondition(T <= config.maxPositions, "CLIP text input of \(T) tokens exceeds \(config.maxPositions)")
        var x = embeddings.token(ids.flatMap { $0 }, shape: [B, T]) + embeddings.position(Array(0..<T), shape: [1, T])
        var mask = AttentionMask.causal
        if let m = attentionMask, m.contains(where: { $0.contains(0) }) {
            mask = .causalKeyPadding(Tensor(m.flatMap { $0.map(Float.init) }, shape: [B, T]))
        }
        x = finalNorm(encoder(x, mask: mask))
        let pos = poolPositions(ids)
        let pooled = indexSelect(x.reshape([B * T, D]), axis: 0, indices: pos.enumerated().map { $0.offset * T + $0.element })
        return (x, pooled)
    }
}

/// `embeddings.token_embedding`, `embeddings.position_embedding`.
public final class CLIPTextEmbeddings: Module {
    @Child("token_embedding") public var token: Embedding
    @Child("position_embedding") public var position: Embedding
    init(_ c: CLIPTowerConfig, rng: inout RNG) {
        super.init()
        token = Embedding(c.vocabSize, c.hiddenSize, rng: &rng)
        token.weight = (token.weight * 0.02).detach().requiringGrad()
        position = Embedding(c.maxPositions, c.hiddenSize, rng: &rng)
        position.weight = (position.weight * 0.01).detach().requiringGrad()
    }
}

/// Fits a [1 + n, D] (or [n, D]) position table to `tokens` positions by bicubic resampling of
/// its square patch grid (the class-token row is kept).
public func interpolatedPositions(_ table: Tensor, tokens: Int, hasClassToken: Bool) -> Tensor {
    let D = table.shape[table.rank - 1]
    let flat = table.reshape([-1, D])
    let extra = hasClassToken ? 1 : 0
    let old = flat.shape[0] - extra, new = tokens - extra
    let g0 = Int(Double(old).squareRoot().rounded()), g1 = Int(Double(new).squareRoot().rounded())
    precondition(g0 * g0 == old && g1 * g1 == new, "position tables must cover square grids (\(old) → \(new) patches)")
    let grid = flat.slice(axis: 0, extra, flat.shape[0]).transposed().contiguous().reshape([D, g0, g0])
    let resized = bicubicResize(grid, toHeight: g1, width: g1).reshape([D, new]).transposed()
    let parts = hasClassToken ? [flat.slice(axis: 0, 0, 1).detach(), resized] : [resized]
    return concat(parts, axis: 0).contiguous()
}

/// A Hugging Face `CLIPModel` (both towers and projections) or `CLIPVisionModel` (vision only).
///
/// ```swift
/// let clip = try CLIPModel.load(path: "clip-vit-base-patch16")
/// let img = clip.imageEmbeddings(pixels)              // [B, projection_dim], not normalised
/// ```
public final class CLIPModel: Module {
    @Child("vision_model") public var vision: CLIPVisionTransformer
    @Child("text_model") public var text: CLIPTextTransformer?
    @Child("visual_projection") public var visualProjection: Linear?
    @Child("text_projection") public var textProjection: Linear?
    @Param("logit_scale") public var logitScale: Tensor?
    public let projectionDim: Int?

    public init(vision: CLIPTowerConfig, text: CLIPTowerConfig?, projectionDim: Int?, rng: inout RNG) {
        self.projectionDim = projectionDim
        super.init()
        self.vision = CLIPVisionTransformer(vision, rng: &rng)
        self.text = text.map { CLIPTextTransformer($0, rng: &rng) }
        if let p = projectionDim {
            visualProjection = Linear(vision.hiddenSize, p, bias: false, rng: &rng)
            textProjection = text.map { Linear($0.hiddenSize, p, bias: false, rng: &rng) }
            logitScale = Tensor([logf(1 / 0.07)], shape: []).requiringGrad()
        }
    }

    /// Image embeddings: the projected pooled output when the model has a projection, else the pooled output.
    public func imageEmbeddings(_ pixels: Tensor) -> Tensor {
        let pooled = vision(pixels).pooled
        return visualProjection.map { $0(pooled) } ?? pooled
    }

    /// Text embeddings (projected when the model has a projection).
    public func textEmbeddings(ids: [[Int]], attentionMask: [[Int]]? = nil) -> Tensor {
        guard let t = text else { preconditionFailure("this CLIP checkpoint has no text tower") }
        let pooled = t(ids: ids, attentionMask: attentionMask).pooled
        return textProjection.map { $0(pooled) } ?? pooled
    }

    /// Loads a Hugging Face CLIP folder (`CLIPModel`, `CLIPVisionModel`,
    /// `CLIPVisionModelWithProjection` checkpoints).
    public static func load(path: String) throws -> CLIPModel {
        let configPath = (path as NSString).appendingPathComponent("config.json")
        let json = try readJSONObject(configPath)
        let type = json["model_type"] as? String ?? "?"
        let visionJSON: [String: Any], textJSON: [String: Any]?
        switch type {
        case "clip":
            guard let v = json["vision_config"] as? [String: Any] else {
                throw ModelError.badConfig(file: configPath, key: "vision_config", detail: "missing")
            }
            visionJSON = v
            textJSON = json["text_config"] as? [String: Any]
        case "clip_vision_model":
            visionJSON = json
            textJSON = nil
        default:
            throw ModelError.unsupportedArchitecture(file: configPath, found: type, supported: ["clip", "clip_vision_model"])
        }
        let vision = try CLIPTowerConfig(json: visionJSON, file: configPath, key: "vision_config")
        let text = try textJSON.map { try CLIPTowerConfig(json: $0, file: configPath, key: "text_config") }
        let source = try SafetensorsFolder(path: path)
        var state: [String: Tensor] = [:]
        for name in source.tensorNames where !name.hasSuffix("position_ids") {
            state[name] = try source.tensor(name)
        }
        let projection = state["visual_projection.weight"]?.shape[0]
        var rng = RNG(seed: 0)
        let model = withNoGrad {
            CLIPModel(vision: vision, text: state.keys.contains { $0.hasPrefix("text_model.") } ? text : nil,
                      projectionDim: projection, rng: &rng)
        }
        if state["text_projection.weight"] == nil { model.textProjection = nil }
        if state["logit_scale"] == nil { model.logitScale = nil }
        do { try model.load(stateDict: state, strict: true) } catch let e as StateDictError {
            throw ModelError.weights(file: source.origin, detail: "weights do not match config.json: \(e)")
        }
        model.freeze()
        return model
    }
}
