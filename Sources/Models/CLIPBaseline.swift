import Foundation
import Formats
import NeuralNet
import TensorKit

/// What a plain-CLIP baseline is made of: the same image tower choices as LLM2CLIP and a
/// 77-token CLIP text transformer trained jointly from scratch. Stored as JSON in the
/// checkpoint's metadata.
public struct CLIPBaselineConfig: Codable, Sendable, Equatable {
    /// "eva02" or "clip".
    public var towerKind: String
    public var eva02: EVA02Config?
    public var clip: CLIPTowerConfig?
    public var text: CLIPTowerConfig
    public var embedDim: Int

    /// A baseline with an EVA02 image tower (its head gives the embedding width).
    public init(eva02: EVA02Config, text: CLIPTowerConfig = .textSmall) {
        towerKind = "eva02"
        self.eva02 = eva02
        self.text = text
        embedDim = eva02.embedDim
    }

    /// A baseline with a CLIP ViT image tower and a projection to `embedDim`.
    public init(clip: CLIPTowerConfig, embedDim: Int, text: CLIPTowerConfig = .textSmall) {
        towerKind = "clip"
        self.clip = clip
        self.text = text
        self.embedDim = embedDim
    }
}

/// The image tower a config names: EVA02 (its own head) or a CLIP ViT with a projection.
func makeImageTower(kind: String, eva02: EVA02Config?, clip: CLIPTowerConfig?, embedDim: Int, rng: inout RNG) -> Module {
    if kind == "clip", let c = clip { return CLIPImageTower(c, embedDim: embedDim, rng: &rng) }
    return EVA02VisionTower(eva02 ?? .tiny, rng: &rng)
}

/// Plain CLIP: an image tower and a causal 77-token text transformer pooled at the end-of-text
/// token, both trained from scratch with the CLIP loss — the baseline LLM2CLIP is compared with.
/// Keys: `visual.*` (as in LLM2CLIP checkpoints), `text_model.*` and `text_projection.weight`
/// (Hugging Face CLIP names), `logit_scale`.
///
/// ```swift
/// var rng = RNG(seed: 0)
/// let model = CLIPBaselineModel(CLIPBaselineConfig(eva02: .small), rng: &rng)
/// let ids = tokenizer(["a red circle"])                 // CLIPTokenizer, 77 ids per row
/// let txt = model.encodeText(ids: ids)                  // [1, 256], unit length
/// ```
public final class CLIPBaselineModel: Module {
    @Child("visual") public var visualModule: Module
    @Child("text_model") public var textModel: CLIPTextTransformer
    @Child("text_projection") public var textProjection: Linear
    @Param("logit_scale") public var logitScale: Tensor
    public let config: CLIPBaselineConfig

    public var visual: any ImageTower { visualModule as! any ImageTower }

    public init(_ config: CLIPBaselineConfig, rng: inout RNG) {
        self.config = config
        super.init()
        visualModule = makeImageTower(kind: config.towerKind, eva02: config.eva02, clip: config.clip, embedDim: config.embedDim, rng: &rng)
        textModel = CLIPTextTransformer(config.text, rng: &rng)
        textProjection = Linear(config.text.hiddenSize, config.embedDim, bias: false, rng: &rng)
        logitScale = Tensor([logf(1 / 0.07)], shape: []).requiringGrad()
    }

    /// Image embeddings [B, E]; unit length unless `normalize` is false.
    public func encodeImage(_ pixels: Tensor, normalize: Bool = true) -> Tensor {
        let e = visual.embed(pixels)
        return normalize ? l2Normalize(e, axis: -1) : e
    }

    /// Text embeddings [N, E] of token rows (CLIP tokenizer output: start, tokens, end, zero
    /// padding). Columns after the last end-of-text token of the batch are dropped first: with
    /// causal attention they cannot change the pooled state.
    public func encodeText(ids: [[Int]], normalize: Bool = true) -> Tensor {
        precondition(!ids.isEmpty, "encodeText needs at least one row")
        let eos = config.text.eosTokenId
        let used = ids.map { row in (row.firstIndex(of: eos) ?? row.count - 1) + 1 }.max() ?? 1
        let trimmed = ids.map { Array($0.prefix(used)) }
        let e = textProjection(textModel(ids: trimmed).pooled)
        return normalize ? l2Normalize(e, axis: -1) : e
    }

    /// Writes one safetensors file with the config as JSON metadata (atomically).
    public func save(to path: String, metadata extra: [String: String] = [:]) throws {
        var meta = extra
        meta["format"] = "clip-baseline"
        meta["clip_baseline_config"] = String(decoding: try canonicalJSONEncoder.encode(config), as: UTF8.self)
        try writeSafetensors(stateDict(), to: path, metadata: meta)
    }

    /// Loads a checkpoint written by ``save(to:metadata:)``.
    public static func load(path: String) throws -> CLIPBaselineModel {
        let file = try SafetensorsFile(path: path)
        guard let json = file.metadata["clip_baseline_config"] else {
            throw ModelError.badConfig(file: path, key: "__metadata__.clip_baseline_config",
                                       detail: "missing: this is not a plain-CLIP baseline written by `llm2clip train-clip --text-tower clip`")
        }
        let config: CLIPBaselineConfig
        do { config = try JSONDecoder().decode(CLIPBaselineConfig.self, from: Data(json.utf8)) } catch {
            throw ModelError.badConfig(file: path, key: "__metadata__.clip_baseline_config", detail: "not a valid baseline config: \(error)")
        }
        var state: [String: Tensor] = [:]
        for name in file.names { state[name] = try file.tensor(name) }
        var rng = RNG(seed: 0)
        let model = withNoGrad { CLIPBaselineModel(config, rng: &rng) }
        do { try model.load(stateDict: state, strict: true) } catch let e as StateDictError {
            throw ModelError.weights(file: path, detail: "checkpoint does not match the plain-CLIP layout: \(e)")
        }
        return model
    }
}
