import Foundation
import Formats
import TensorKit

/// The shape of a Llama-family decoder (Llama 2/3/3.1/3.2, Mistral, Mistral-Nemo, SmolLM2),
/// read from a Hugging Face `config.json` or from GGUF metadata.
///
/// ```swift
/// let config = try LlamaConfig(configFile: "Llama-3.2-1B/config.json")
/// print(config.layers, config.headDim)
/// ```
public struct LlamaConfig: Sendable, Equatable {
    public var modelType = "llama"
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    /// Per-head width; explicit in Mistral-Nemo and Llama 3.2 configs, else hidden / heads.
    public var headDim: Int
    public var rmsNormEps: Float = 1e-5
    public var ropeTheta: Float = 10000
    public var ropeScaling: Llama3RopeScaling? = nil
    /// Linear position scaling ("linear" rope type): positions are divided by this factor.
    public var linearRopeFactor: Float? = nil
    public var maxPositionEmbeddings = 4096
    public var tieWordEmbeddings = false
    public var attentionBias = false
    public var mlpBias = false
    public var bosTokenId: Int? = nil
    public var eosTokenIds: [Int] = []

    public init(vocabSize: Int, hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int,
                kvHeads: Int? = nil, headDim: Int? = nil) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.headDim = headDim ?? hiddenSize / heads
    }

    /// Architectures this config describes (`model_type` values).
    public static let supportedModelTypes = ["llama", "mistral"]

    /// Reads a Hugging Face `config.json`.
    public init(configFile path: String) throws {
        let c = ConfigReader(json: try readJSONObject(path), file: path)
        let type = c.string("model_type") ?? "llama"
        guard LlamaConfig.supportedModelTypes.contains(type) else {
            throw ModelError.unsupportedArchitecture(file: path, found: type, supported: LlamaConfig.supportedModelTypes)
        }
        let hidden = try c.int("hidden_size"), heads = try c.int("num_attention_heads")
        guard heads > 0, hidden > 0 else { throw ModelError.badConfig(file: path, key: "num_attention_heads", detail: "must be positive") }
        self.init(vocabSize: try c.int("vocab_size"), hiddenSize: hidden, intermediateSize: try c.int("intermediate_size"),
                  layers: try c.int("num_hidden_layers"), heads: heads,
                  kvHeads: try c.int("num_key_value_heads", default: heads), headDim: try c.intOrNil("head_dim"))
        modelType = type
        guard self.heads % kvHeads == 0 else {
            throw ModelError.badConfig(file: path, key: "num_key_value_heads", detail: "\(kvHeads) does not divide num_attention_heads \(self.heads)")
        }
        rmsNormEps = Float(try c.double("rms_norm_eps", default: 1e-6))
        maxPositionEmbeddings = try c.int("max_position_embeddings", default: 4096)
        tieWordEmbeddings = try c.bool("tie_word_embeddings", default: false)
        attentionBias = try c.bool("attention_bias", default: false)
        mlpBias = try c.bool("mlp_bias", default: false)
        bosTokenId = try c.intOrNil("bos_token_id")
        eosTokenIds = c.ids("eos_token_id")
        if let act = c.string("hidden_act"), act != "silu" {
            throw ModelError.badConfig(file: path, key: "hidden_act", detail: "'\(act)' is not supported for Llama-family models (silu is)")
        }
        // transformers 5 keeps rope settings in `rope_parameters`; 4.x in rope_theta + rope_scaling.
        var rope = (c.json["rope_scaling"] as? [String: Any]) ?? [:]
        if let params = c.json["rope_parameters"] as? [String: Any] { rope.merge(params) { _, new in new } }
        let r = ConfigReader(json: rope, file: path)
        ropeTheta = Float(try r.has("rope_theta") ? r.double("rope_theta") : c.double("rope_theta", default: 10000))
        let ropeType = (rope["rope_type"] as? String) ?? (rope["type"] as? String) ?? "default"
        switch ropeType {
        case "default": break
        case "llama3":
            ropeScaling = Llama3RopeScaling(factor: Float(try r.double("factor")), lowFreqFactor: Float(try r.double("low_freq_factor")),
                                            highFreqFactor: Float(try r.double("high_freq_factor")),
                                            originalMaxPositionEmbeddings: try r.int("original_max_position_embeddings"))
        case "linear":
            linearRopeFactor = Float(try r.double("factor"))
        default:
            throw ModelError.badConfig(file: path, key: "rope_scaling.rope_type",
                                       detail: "'\(ropeType)' is not supported (default, linear and llama3 are)")
        }
    }

    /// Reads the `llama.*` (or `mistral.*`) keys of GGUF metadata.
    public init(gguf: GGUFFile) throws {
        let m = gguf.metadata
        let arch = m["general.architecture"]?.string ?? "?"
        guard arch == "llama" || arch == "mistral" else {
            throw ModelError.unsupportedArchitecture(file: gguf.path, found: arch, supported: ["llama", "mistral"])
        }
        func int(_ k: String) throws -> Int {
            guard let v = m["\(arch).\(k)"]?.int else {
                throw ModelError.badConfig(file: gguf.path, key: "\(arch).\(k)", detail: "missing from the GGUF metadata")
            }
            return v
        }
        let hidden = try int("embedding_length"), heads = try int("attention.head_count")
        let vocab = m["\(arch).vocab_size"]?.int ?? m["tokenizer.ggml.tokens"]?.array?.count
            ?? gguf.info("token_embd.weight")?.shape[0] ?? 0
        self.init(vocabSize: vocab, hiddenSize: hidden, intermediateSize: try int("feed_forward_length"),
                  layers: try int("block_count"), heads: heads,
                  kvHeads: m["\(arch).attention.head_count_kv"]?.int ?? heads,
                  headDim: m["\(arch).attention.key_length"]?.int ?? m["\(arch).rope.dimension_count"]?.int)
        modelType = arch
        rmsNormEps = Float(m["\(arch).attention.layer_norm_rms_epsilon"]?.double ?? 1e-5)
        ropeTheta = Float(m["\(arch).rope.freq_base"]?.double ?? 10000)
        maxPositionEmbeddings = m["\(arch).context_length"]?.int ?? 4096
        tieWordEmbeddings = gguf.info("output.weight") == nil
        attentionBias = gguf.info("blk.0.attn_q.bias") != nil
        bosTokenId = m["tokenizer.ggml.bos_token_id"]?.int
        eosTokenIds = m["tokenizer.ggml.eos_token_id"]?.int.map { [$0] } ?? []
        if let type = m["\(arch).rope.scaling.type"]?.string, type == "linear", let f = m["\(arch).rope.scaling.factor"]?.double {
            linearRopeFactor = Float(f)
        }
        // Llama 3.1+ GGUF files carry the llama3 rescaling as a `rope_freqs` tensor of
        // per-frequency divisors instead of parameters; it is applied in `ropeInverseFrequencies`.
    }
}
