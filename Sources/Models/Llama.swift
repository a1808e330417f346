import Foundation
import NeuralNet
import TensorKit

/// How a decoder's tokens may attend to each other.
public enum AttentionDirection: String, Sendable {
    /// The usual decoder mask: token i sees tokens ≤ i.
    case causal
    /// LLM2Vec's bidirectional mode: every token sees every non-padding token.
    case bidirectional
}

/// One Llama decoder layer (keys `self_attn.*`, `mlp.*`, `input_layernorm`,
/// `post_attention_layernorm`).
public final class LlamaDecoderLayer: Module {
    @Child("self_attn") public var attention: MultiHeadAttention
    @Child("mlp") public var mlp: GatedMLP
    @Child("input_layernorm") public var inputNorm: RMSNorm
    @Child("post_attention_layernorm") public var postAttentionNorm: RMSNorm

    public init(_ c: LlamaConfig, rng: inout RNG) {
        super.init()
        attention = MultiHeadAttention(dim: c.hiddenSize, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                                       bias: c.attentionBias, rng: &rng)
        attention.oProj.bias = c.attentionBias ? attention.oProj.bias : nil
        mlp = GatedMLP(dim: c.hiddenSize, hidden: c.intermediateSize, bias: c.mlpBias, rng: &rng)
        inputNorm = RMSNorm(c.hiddenSize, eps: c.rmsNormEps)
        postAttentionNorm = RMSNorm(c.hiddenSize, eps: c.rmsNormEps)
    }

    /// `cache`, when given, receives this step's keys and values and supplies the earlier ones.
    func callAsFunction(_ x: Tensor, mask: AttentionMask, rotary: (Tensor) -> Tensor, cache: LlamaKVCache.Layer?) -> Tensor {
        let h = inputNorm(x)
        let a = attention
        let B = x.shape[0], T = x.shape[1]
        var q = a.splitHeads(a.qProj(h), a.heads), k = a.splitHeads(a.kProj(h), a.kvHeads)
        var v = a.splitHeads(a.vProj(h), a.kvHeads)
        q = rotary(q)
        k = rotary(k)
        if let cache {
            (k, v) = cache.append(k, v)
        }
        let o = scaledDotProductAttention(q, k, v, mask: mask)
        let attended = a.oProj(o.permute([0, 2, 1, 3]).reshape([B, T, a.heads * a.headDim]))
        let x1 = x + attended
        return x1 + mlp(postAttentionNorm(x1))
    }

    /// The random state this layer's forward consumes: the LoRA dropout generators of its
    /// projections (usually one, shared by the whole model).
    var dropoutSources: [RecomputationState] {
        var seen = Set<ObjectIdentifier>(), out: [RecomputationState] = []
        for l in [attention.qProj, attention.kProj, attention.vProj, attention.oProj, mlp.gate, mlp.up, mlp.down] {
            guard l.loraA != nil, l.training, l.loraDropout > 0, let s = l.loraDropoutSource else { continue }
            if seen.insert(ObjectIdentifier(s)).inserted { out.append(s) }
        }
        return out
    }
}

/// The decoder stack without a head (Hugging Face `LlamaModel`, key prefix `model.` inside
/// ``LlamaForCausalLM``): `embed_tokens`, `layers.N`, `norm`.
public final class LlamaBackbone: Module {
    @Child("embed_tokens") public var embedTokens: Embedding
    @Child("layers") public var layers: [LlamaDecoderLayer]
    @Child("norm") public var norm: RMSNorm

    public init(_ c: LlamaConfig, rng: inout RNG) {
        super.init()
        embedTokens = Embedding(c.vocabSize, c.hiddenSize, rng: &rng)
        layers = (0..<c.layers).map { _ in LlamaDecoderLayer(c, rng: &rng) }
        norm = RMSNorm(c.hiddenSize, eps: c.rmsNormEps)
    }
}

/// Keys and values of earlier positions, for incremental decoding.
public final class LlamaKVCache {
    public final class Layer {
        var k: Tensor?
        var v: Tensor?
        /// Concatenates the new keys/values ([B, Hkv, T, D]) after the cached ones.
        func append(_ k: Tensor, _ v: Tensor) -> (Tensor, Tensor) {
            let nk = self.k.map { concat([$0, k], axis: 2) } ?? k.contiguous()
            let nv = self.v.map { concat([$0, v], axis: 2) } ?? v.contiguous()
            self.k = nk
            self.v = nv
            return (nk, nv)
        }
    }
    let layers: [Layer]
    /// Positions already processed.
    public internal(set) var length = 0
    public init(layers: Int) { self.layers = (0..<layers).map { _ in Layer() } }
}

/// A Llama-family decoder with its language-model head (Hugging Face `LlamaForCausalLM`,
/// `MistralForCausalLM`): keys `model.*` and `lm_head.weight` (absent when the embeddings are
/// tied, and absent in embedding-only checkpoints such as LLM2CLIP's released CC model).
///
/// ```swift
/// let llm = try LlamaForCausalLM.load(path: "SmolLM2-135M-Instruct.Q4_1.gguf")
/// let hidden = llm.hiddenStates(ids: [[504, 3575, 282, 4649, 314]])      // [1, 5, 576]
/// let logits = llm.logits(hidden)                                         // [1, 5, 49152]
/// ```
public final class LlamaForCausalLM: Module {
    @Child("model") public var model: LlamaBackbone
    @Child("lm_head") public var lmHead: Linear?
    public let config: LlamaConfig
    /// Per-frequency divisors from a GGUF `rope_freqs` tensor (Llama 3.1+ GGUF files).
    public var ropeFrequencyFactors: [Float]? = nil
    /// Gradient checkpointing per decoder layer: when on (and a graph is being recorded, without
    /// a KV cache), each layer keeps only its input between forward and backward and is re-run
    /// during backward (see ``TensorKit/checkpoint(_:parameters:preserving:_:)``); LoRA dropout
    /// masks are replayed exactly, so gradients equal those without checkpointing. Activation
    /// memory falls from every layer's intermediates to one [B, T, hidden] tensor per layer, for
    /// about one more forward pass of compute.
    ///
    /// ```swift
    /// llm.gradientCheckpointing = true
    /// let loss = someLoss(llm.hiddenStates(ids: batch, direction: .bidirectional))
    /// loss.backward()
    /// ```
    public var gradientCheckpointing = false

    public init(_ config: LlamaConfig, rng: inout RNG) {
        self.config = config
        super.init()
        model = LlamaBackbone(config, rng: &rng)
        lmHead = config.tieWordEmbeddings ? nil : Linear(config.hiddenSize, config.vocabSize, bias: false, rng: &rng)
    }

    /// Whether next-token logits are available (a head, or tied embeddings).
    public var hasLanguageModelHead: Bool { lmHead != nil || config.tieWordEmbeddings }

    private var cachedInverseFrequencies: [Float]?
    func inverseFrequencies() -> [Float] {
        if let f = cachedInverseFrequencies { return f }
        var inv = ropeInverseFrequencies(headDim: config.headDim, theta: config.ropeTheta, scaling: config.ropeScaling)
        if let factors = ropeFrequencyFactors, factors.count == inv.count {
            inv = zip(inv, factors).map { $0 / $1 }
        }
        if let lin = config.linearRopeFactor { inv = inv.map { $0 / lin } }
        cachedInverseFrequencies = inv
        return inv
    }

    /// Last hidden states after the final norm, [B, T, hidden].
    ///
    /// - `ids`: B rows of T token ids (already padded to one length).
    /// - `attentionMask`: 1 for real tokens, 0 for padding (left or right); nil means no padding.
    /// - `direction`: causal, or bidirectional with only the key-padding mask (LLM2Vec).
    ///
    /// Positions count real tokens only, so each row gives the same result as running it alone.
    ///
    /// - `layers`: run only these decoder blocks (default all). A range that stops before the
    ///   last block returns that block's output without the final norm.
    /// - `input`: the [B, T, hidden] input of `layers.lowerBound` (an earlier call's output for
    ///   the same ids and mask) instead of the token embeddings.
    ///
    /// ```swift
    /// let trunk = llm.hiddenStates(ids: ids, attentionMask: mask, direction: .bidirectional, layers: 0..<20)
    /// let last = llm.hiddenStates(ids: ids, attentionMask: mask, direction: .bidirectional,
    ///                             layers: 20..<llm.config.layers, input: trunk)   // = the full pass
    /// ```
    public func hiddenStates(ids: [[Int]], attentionMask: [[Int]]? = nil, direction: AttentionDirection = .causal,
                             cache: LlamaKVCache? = nil, layers: Range<Int>? = nil, input: Tensor? = nil) -> Tensor {
        let blocks = layers ?? 0..<model.layers.count
        precondition(blocks.lowerBound >= 0 && blocks.upperBound <= model.layers.count && !blocks.isEmpty,
                     "hiddenStates: layers \(blocks) outside 0..<\(model.layers.count)")
        precondition(cache == nil || blocks == 0..<model.layers.count, "hiddenStates: a KV cache needs all layers")
        precondition(input == nil || blocks.lowerBound > 0, "hiddenStates: an input replaces the embeddings only above block 0")
        let B = ids.count, T = ids.first?.count ?? 0
        precondition(B > 0 && T > 0 && ids.allSatisfy { $0.count == T }, "hiddenStates: ids must be B rows of equal, non-zero length")
        let start = cache?.length ?? 0
        var positions: [Int] = []
        positions.reserveCapacity(B * T)
        var keep: Tensor? = nil
        if let mask = attentionMask {
            precondition(cache == nil, "hiddenStates: a KV cache with padding is not supported")
            precondition(mask.count == B && mask.allSatisfy { $0.count == T }, "hiddenStates: attention mask must match ids")
            for row in mask {
                var p = 0
                for m in row { positions.append(m != 0 ? p : 0); if m != 0 { p += 1 } }
            }
            if mask.contains(where: { $0.contains(0) }) { keep = Tensor(mask.flatMap { $0.map(Float.init) }, shape: [B, T]) }
        } else {
            for _ in 0..<B { positions += (start..<(start + T)) }
        }
        let mask: AttentionMask
        switch (direction, keep) {
        case (.causal, nil): mask = .causal
        case (.causal, let k?): mask = .causalKeyPadding(k)
        case (.bidirectional, nil): mask = .none
        case (.bidirectional, let k?): mask = .keyPadding(k)
        }
        let inv = inverseFrequencies()
        var (cosT, sinT) = ropeTables(positions: positions, inverseFrequencies: inv)
        cosT = cosT.reshape([B, 1, T, config.headDim])
        sinT = sinT.reshape([B, 1, T, config.headDim])
        let rotary: (Tensor) -> Tensor = { applyRotaryHalf($0, cos: cosT, sin: sinT) }
        var x: Tensor
        if let input {
            precondition(input.shape == [B, T, config.hiddenSize], "hiddenStates: input \(input.shape) is not [\(B), \(T), \(config.hiddenSize)]")
            x = input
        } else {
            precondition(blocks.lowerBound == 0, "hiddenStates: layers \(blocks) start above block 0 but no input was given")
            x = model.embedTokens(ids.flatMap { $0 }, shape: [B, T])
        }
        let checkpointed = gradientCheckpointing && cache == nil && GradMode.isEnabled
        for i in blocks {
            let layer = model.layers[i]
            if checkpointed {
                x = checkpoint([x], parameters: layer.parameters(), preserving: layer.dropoutSources) { xs in
                    layer(xs[0], mask: mask, rotary: rotary, cache: nil)
                }
            } else {
                x = layer(x, mask: mask, rotary: rotary, cache: cache?.layers[i])
            }
        }
        cache?.length += T
        return blocks.upperBound == model.layers.count ? model.norm(x) : x
    }

    /// Next-token logits [..., vocab] from hidden states (the LM head, or the tied embedding).
    public func logits(_ hidden: Tensor) -> Tensor {
        if let head = lmHead { return head(hidden) }
        precondition(config.tieWordEmbeddings, "this checkpoint has no language-model head (lm_head.weight)")
        return linear(hidden, weight: model.embedTokens.weight, bias: nil)
    }

    /// Greedy or sampled continuation of `prompt` (token ids), stopping at any of `stopIds` or
    /// after `maxTokens`. `onToken` sees each new id as it is produced.
    public func generate(prompt: [Int], maxTokens: Int, sampler: TokenSampler = .greedy, stopIds: Set<Int> = [],
                         onToken: (Int) -> Void = { _ in }) -> [Int] {
        precondition(!prompt.isEmpty, "generate: the prompt has no tokens")
        return withNoGrad {
            var sampler = sampler
            let cache = LlamaKVCache(layers: config.layers)
            var out: [Int] = []
            var input = prompt
            for _ in 0..<maxTokens {
                let h = hiddenStates(ids: [input], cache: cache)
                let last = h.slice(axis: 1, h.shape[1] - 1, h.shape[1])
                let next = sampler.pick(logits(last).toArray())
                out.append(next)
                onToken(next)
                if stopIds.contains(next) { break }
                input = [next]
            }
            return out
        }
    }
}

/// How the next token is chosen from logits.
public struct TokenSampler: Sendable {
    public var temperature: Float
    public var topP: Float
    var rng: RNG

    /// Always the most likely token.
    public static let greedy = TokenSampler(temperature: 0, topP: 1, seed: 0)

    /// Temperature sampling restricted to the smallest set of tokens whose probability reaches
    /// `topP` (nucleus sampling). Temperature 0 is greedy.
    public init(temperature: Float, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topP = topP
        rng = RNG(seed: seed)
    }

    mutating func pick(_ logits: [Float]) -> Int {
        var best = 0
        for i in logits.indices where logits[i] > logits[best] { best = i }
        if temperature <= 0 { return best }
        let m = logits[best]
        var probs = logits.enumerated().map { ($0.offset, Double(expf(($0.element - m) / temperature))) }
        let total = probs.reduce(0) { $0 + $1.1 }
        probs.sort { $0.1 > $1.1 }
        var kept: [(Int, Double)] = []
        var mass = 0.0
        for p in probs {
            kept.append(p)
            mass += p.1 / total
            if mass >= Double(topP) { break }
        }
        let r = Double(rng.nextFloat()) * kept.reduce(0) { $0 + $1.1 }
        var acc = 0.0
        for (id, p) in kept {
            acc += p
            if r < acc { return id }
        }
        return kept.last!.0
    }
}
