import Foundation
import Formats
import NeuralNet
import TensorKit

/// The shape of a BERT encoder, from a Hugging Face `config.json` (`model_type` "bert").
public struct BertConfig: Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var intermediateSize: Int
    public var maxPositionEmbeddings = 512
    public var typeVocabSize = 2
    public var layerNormEps: Float = 1e-12
    public var activation: Activation = .gelu

    public init(vocabSize: Int, hiddenSize: Int, layers: Int, heads: Int, intermediateSize: Int) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.heads = heads
        self.intermediateSize = intermediateSize
    }

    public init(configFile path: String) throws {
        let c = ConfigReader(json: try readJSONObject(path), file: path)
        let type = c.string("model_type") ?? "bert"
        guard type == "bert" else { throw ModelError.unsupportedArchitecture(file: path, found: type, supported: ["bert"]) }
        self.init(vocabSize: try c.int("vocab_size"), hiddenSize: try c.int("hidden_size"), layers: try c.int("num_hidden_layers"),
                  heads: try c.int("num_attention_heads"), intermediateSize: try c.int("intermediate_size"))
        maxPositionEmbeddings = try c.int("max_position_embeddings", default: 512)
        typeVocabSize = try c.int("type_vocab_size", default: 2)
        layerNormEps = Float(try c.double("layer_norm_eps", default: 1e-12))
        let act = c.string("hidden_act") ?? "gelu"
        guard let a = Activation(configName: act) else {
            throw ModelError.badConfig(file: path, key: "hidden_act", detail: "'\(act)' is not supported")
        }
        activation = a
        if let pe = c.string("position_embedding_type"), pe != "absolute" {
            throw ModelError.badConfig(file: path, key: "position_embedding_type", detail: "'\(pe)' is not supported (absolute is)")
        }
    }
}

/// Word, position and token-type embeddings followed by LayerNorm (keys under `embeddings.`).
public final class BertEmbeddings: Module {
    @Child("word_embeddings") public var word: Embedding
    @Child("position_embeddings") public var position: Embedding
    @Child("token_type_embeddings") public var tokenType: Embedding
    @Child("LayerNorm") public var norm: LayerNorm

    init(_ c: BertConfig, rng: inout RNG) {
        super.init()
        word = Embedding(c.vocabSize, c.hiddenSize, rng: &rng)
        position = Embedding(c.maxPositionEmbeddings, c.hiddenSize, rng: &rng)
        tokenType = Embedding(c.typeVocabSize, c.hiddenSize, rng: &rng)
        norm = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
    }
}

/// BERT's self-attention projections (`query`, `key`, `value`).
public final class BertSelfAttention: Module {
    @Child("query") public var query: Linear
    @Child("key") public var key: Linear
    @Child("value") public var value: Linear
    init(_ c: BertConfig, rng: inout RNG) {
        super.init()
        query = Linear(c.hiddenSize, c.hiddenSize, rng: &rng)
        key = Linear(c.hiddenSize, c.hiddenSize, rng: &rng)
        value = Linear(c.hiddenSize, c.hiddenSize, rng: &rng)
    }
}

/// A dense layer followed by a residual LayerNorm (`dense`, `LayerNorm`).
public final class BertResidualOutput: Module {
    @Child("dense") public var dense: Linear
    @Child("LayerNorm") public var norm: LayerNorm
    init(_ inF: Int, _ c: BertConfig, rng: inout RNG) {
        super.init()
        dense = Linear(inF, c.hiddenSize, rng: &rng)
        norm = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
    }
    func callAsFunction(_ x: Tensor, residual: Tensor) -> Tensor { norm(dense(x) + residual) }
}

/// `attention.self`, `attention.output`.
public final class BertAttention: Module {
    @Child("self") public var selfAttention: BertSelfAttention
    @Child("output") public var output: BertResidualOutput
    init(_ c: BertConfig, rng: inout RNG) {
        super.init()
        selfAttention = BertSelfAttention(c, rng: &rng)
        output = BertResidualOutput(c.hiddenSize, c, rng: &rng)
    }
}

/// One post-LN encoder layer: `attention`, `intermediate.dense`, `output`.
public final class BertLayer: Module {
    @Child("attention") public var attention: BertAttention
    @Child("intermediate") public var intermediate: BertIntermediate
    @Child("output") public var output: BertResidualOutput
    let heads: Int
    let activation: Activation

    init(_ c: BertConfig, rng: inout RNG) {
        heads = c.heads
        activation = c.activation
        super.init()
        attention = BertAttention(c, rng: &rng)
        intermediate = BertIntermediate(c, rng: &rng)
        output = BertResidualOutput(c.intermediateSize, c, rng: &rng)
    }

    func callAsFunction(_ x: Tensor, mask: AttentionMask) -> Tensor {
        let B = x.shape[0], T = x.shape[1], H = x.shape[2], d = H / heads
        let s = attention.selfAttention
        func split(_ t: Tensor) -> Tensor { t.reshape([B, T, heads, d]).permute([0, 2, 1, 3]) }
        let o = scaledDotProductAttention(split(s.query(x)), split(s.key(x)), split(s.value(x)), mask: mask)
        let a = attention.output(o.permute([0, 2, 1, 3]).reshape([B, T, H]), residual: x)
        return output(activation(intermediate.dense(a)), residual: a)
    }
}

/// `intermediate.dense`.
public final class BertIntermediate: Module {
    @Child("dense") public var dense: Linear
    init(_ c: BertConfig, rng: inout RNG) {
        super.init()
        dense = Linear(c.hiddenSize, c.intermediateSize, rng: &rng)
    }
}

/// `encoder.layer.N`.
public final class BertEncoder: Module {
    @Child("layer") public var layers: [BertLayer]
    init(_ c: BertConfig, rng: inout RNG) {
        super.init()
        layers = (0..<c.layers).map { _ in BertLayer(c, rng: &rng) }
    }
}

/// A BERT encoder in the Hugging Face `BertModel` layout (keys `embeddings.*`, `encoder.layer.N.*`;
/// a `bert.` prefix and the unused `pooler.*` are accepted when loading).
///
/// ```swift
/// let bert = try BertModel.load(path: "all-MiniLM-L6-v2")
/// let hidden = bert(ids: [[101, 7592, 102]])     // [1, 3, 384]
/// ```
public final class BertModel: Module {
    @Child("embeddings") public var embeddings: BertEmbeddings
    @Child("encoder") public var encoder: BertEncoder
    public let config: BertConfig

    public init(_ config: BertConfig, rng: inout RNG) {
        self.config = config
        super.init()
        embeddings = BertEmbeddings(config, rng: &rng)
        encoder = BertEncoder(config, rng: &rng)
    }

    /// Last hidden states [B, T, hidden]. `attentionMask` marks real tokens (1) and padding (0).
    public func callAsFunction(ids: [[Int]], attentionMask: [[Int]]? = nil, tokenTypes: [[Int]]? = nil) -> Tensor {
        let B = ids.count, T = ids.first?.count ?? 0
        precondition(B > 0 && T > 0 && T <= config.maxPositionEmbeddings && ids.allSatisfy { $0.count == T },
                     "BERT input must be B rows of equal length 1...\(config.maxPositionEmbeddings)")
        let flat = ids.flatMap { $0 }
        var x = embeddings.word(flat, shape: [B, T])
        x = x + embeddings.position(Array(0..<T), shape: [1, T])
        x = x + embeddings.tokenType(tokenTypes?.flatMap { $0 } ?? Array(repeating: 0, count: B * T), shape: [B, T])
        x = embeddings.norm(x)
        var mask = AttentionMask.none
        if let m = attentionMask, m.contains(where: { $0.contains(0) }) {
            mask = .keyPadding(Tensor(m.flatMap { $0.map(Float.init) }, shape: [B, T]))
        }
        for layer in encoder.layers { x = layer(x, mask: mask) }
        return x
    }

    /// Loads `config.json` and the safetensors weights of a Hugging Face folder.
    public static func load(path: String) throws -> BertModel {
        let config = try BertConfig(configFile: (path as NSString).appendingPathComponent("config.json"))
        let source = try SafetensorsFolder(path: path)
        var state: [String: Tensor] = [:]
        for name in source.tensorNames {
            let key = name.hasPrefix("bert.") ? String(name.dropFirst(5)) : name
            if key.hasPrefix("pooler.") || key.hasSuffix("position_ids") || key.hasPrefix("cls.") { continue }
            state[key] = try source.tensor(name)
        }
        var rng = RNG(seed: 0)
        let model = withNoGrad { BertModel(config, rng: &rng) }
        do { try model.load(stateDict: state, strict: true) } catch let e as StateDictError {
            throw ModelError.weights(file: source.origin, detail: "weights do not match config.json: \(e)")
        }
        model.freeze()
        return model
    }
}
