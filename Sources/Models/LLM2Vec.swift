import Foundation
import TensorKit
import Tokenizers

/// How a caption is wrapped before a decoder LLM embeds it (LLM2Vec's
/// `prepare_for_tokenization`). The caption (and an optional instruction before it) goes between
/// `prefix` and `suffix`; the pooled tokens are the caption's plus the suffix's.
public struct EmbeddingTemplate: Sendable, Equatable {
    public var name: String
    public var prefix: String
    public var suffix: String

    public init(name: String, prefix: String, suffix: String) {
        self.name = name
        self.prefix = prefix
        self.suffix = suffix
    }

    /// Llama-3 instruct: `<|start_header_id|>user<|end_header_id|>\n\n{text}<|eot_id|>` (the
    /// tokenizer adds `<|begin_of_text|>`).
    public static let llama3 = EmbeddingTemplate(name: "llama3", prefix: "<|start_header_id|>user<|end_header_id|>\n\n", suffix: "<|eot_id|>")
    /// ChatML (SmolLM2, Qwen): `<|im_start|>user\n{text}<|im_end|>`.
    public static let chatML = EmbeddingTemplate(name: "chatml", prefix: "<|im_start|>user\n", suffix: "<|im_end|>")
    /// No wrapper: the caption alone.
    public static let plain = EmbeddingTemplate(name: "plain", prefix: "", suffix: "")

    /// The wrapper a tokenizer's special tokens call for: Llama-3's header/eot form, ChatML, or none.
    public static func detect(_ tokenizer: any TextTokenizer) -> EmbeddingTemplate {
        if tokenizer.id(forToken: "<|start_header_id|>") != nil && tokenizer.id(forToken: "<|eot_id|>") != nil { return .llama3 }
        if tokenizer.id(forToken: "<|im_start|>") != nil && tokenizer.id(forToken: "<|im_end|>") != nil { return .chatML }
        return .plain
    }
}

/// Turns captions into vectors the way LLM2Vec (and so LLM2CLIP) does: the wrapped text runs
/// through the decoder with bidirectional attention, and the last hidden states (after the final
/// norm) are averaged over the caption tokens plus the end-of-turn token. The instruction, when
/// given, is attended to but not pooled; header tokens and BOS are never pooled. Vectors are not
/// normalised. Captions are sorted by length and batched; padding does not change any vector.
///
/// ```swift
/// let encoder = LLM2VecEncoder(model: llm, tokenizer: tok)
/// let vectors = try encoder.embed(["a red cube left of a blue ball"])      // [1, hidden]
/// let queries = try encoder.embed(captions, instruction: "Given a sentence, retrieve a detailed relevant sentence")
/// ```
public final class LLM2VecEncoder {
    public let model: LlamaForCausalLM
    public let tokenizer: any TextTokenizer
    public var template: EmbeddingTemplate
    /// Longest wrapped sequence, in tokens (the reference's 512).
    public var maxLength = 512
    /// Upper bound on padded tokens per forward batch.
    public var tokensPerBatch = 4096
    /// Upper bound on texts per batch.
    public var maxBatch = 32
    /// What joins an instruction and the caption: " " as llm2vec's `encode` does; the
    /// supervised training data of LLM2Vec / LLM2CLIP use "; ".
    public var instructionSeparator = " "
    /// States of the frozen bottom blocks, kept per sequence (see ``FrozenTrunkCache``); nil
    /// runs every block on every call.
    public var trunkCache: FrozenTrunkCache?

    public init(model: LlamaForCausalLM, tokenizer: any TextTokenizer, template: EmbeddingTemplate? = nil) {
        self.model = model
        self.tokenizer = tokenizer
        self.template = template ?? EmbeddingTemplate.detect(tokenizer)
    }

    /// Dimension of the vectors.
    public var dimension: Int { model.config.hiddenSize }

    /// The token ids of one wrapped text and how many trailing tokens are pooled.
    public func prepare(_ text: String, instruction: String? = nil) -> (ids: [Int], pooled: Int) {
        let caption = text.trimmingCharacters(in: .whitespacesAndNewlines)
        var body = caption
        if let i = instruction?.trimmingCharacters(in: .whitespacesAndNewlines), !i.isEmpty { body = i + instructionSeparator + caption }
        var ids = tokenizer.encode(template.prefix + body + template.suffix, addSpecialTokens: true)
        var pooled = tokenizer.encode(caption + template.suffix, addSpecialTokens: false).count
        if ids.count > maxLength {
            // Keep the end-of-turn suffix: drop caption tokens just before it.
            let suffixCount = tokenizer.encode(template.suffix, addSpecialTokens: false).count
            let cut = ids.count - maxLength
            ids.removeSubrange((ids.count - suffixCount - cut)..<(ids.count - suffixCount))
            pooled = max(0, pooled - cut)
        }
        return (ids, min(max(pooled, 1), ids.count))
    }

    /// Embeds `texts` ([N, dimension], in input order). `progress` sees (done, total).
    public func embed(_ texts: [String], instruction: String? = nil, progress: ((Int, Int) -> Void)? = nil) throws -> Tensor {
        let prepared = texts.map { prepare($0, instruction: instruction) }
        return embed(prepared: prepared, progress: progress)
    }

    /// Embeds already-prepared sequences (see ``prepare(_:instruction:)``).
    public func embed(prepared: [(ids: [Int], pooled: Int)], progress: ((Int, Int) -> Void)? = nil) -> Tensor {
        let n = prepared.count, d = dimension
        let out = Tensor.zeros([n, d])
        let order = prepared.indices.sorted { prepared[$0].ids.count > prepared[$1].ids.count }
        var done = 0
        for range in batchRanges(lengths: order.map { prepared[$0].ids.count }) {
            let members = Array(order[range])
            let pooled = withNoGrad { embedWithGradient(prepared: members.map { prepared[$0] }) }
            withExtendedLifetime(pooled) {
                for (r, i) in members.enumerated() { (out.fptr + i * d).update(from: pooled.fptr + r * d, count: d) }
            }
            done += members.count
            progress?(done, n)
        }
        return out
    }

    /// How many decoder blocks, from the bottom, `self` and `other` share bit for bit (token
    /// embeddings included; 0 when those differ). A model after LoRA on its top N blocks shares
    /// all blocks below them with its base model.
    public func sharedBottomLayers(with other: LLM2VecEncoder) -> Int {
        func same(_ a: [(String, Tensor)], _ b: [(String, Tensor)]) -> Bool {
            guard a.count == b.count else { return false }
            for ((na, ta), (nb, tb)) in zip(a, b) {
                guard na == nb, ta.shape == tb.shape, ta.dtype == tb.dtype else { return false }
                let x = ta.contiguous(), y = tb.contiguous()
                let equal = withExtendedLifetime((x, y)) {
                    memcmp(x.storage.base + x.offset * x.dtype.size, y.storage.base + y.offset * y.dtype.size, x.count * x.dtype.size) == 0
                }
                if !equal { return false }
            }
            return true
        }
        let a = model.model, b = other.model.model
        guard model.config.hiddenSize == other.model.config.hiddenSize,
              same(a.embedTokens.namedParameters(), b.embedTokens.namedParameters()) else { return 0 }
        var n = 0
        while n < min(a.layers.count, b.layers.count), same(a.layers[n].namedParameters(), b.layers[n].namedParameters()) { n += 1 }
        return n
    }

    /// Embeds `texts` with this encoder and with `other` in one pass: the `sharedLayers` bottom
    /// blocks, which the two models must share (``sharedBottomLayers(with:)``), run once and only
    /// the blocks above them run for each model. Equal to calling ``embed(_:instruction:progress:)``
    /// on each encoder, at a fraction of the second model's cost. Both encoders must wrap texts
    /// the same way (tokenizer, template, maximum length).
    ///
    /// ```swift
    /// let raw = LLM2VecEncoder(model: base, tokenizer: tok), cc = LLM2VecEncoder(model: tuned, tokenizer: tok)
    /// let shared = raw.sharedBottomLayers(with: cc)                 // e.g. 20 of 30 after top-10 LoRA
    /// let (a, b) = try raw.embedSharingTrunk(captions, with: cc, sharedLayers: shared)
    /// ```
    public func embedSharingTrunk(_ texts: [String], with other: LLM2VecEncoder, sharedLayers: Int,
                                  progress: ((Int, Int) -> Void)? = nil) throws -> (Tensor, Tensor) {
        let prepared = texts.map { prepare($0) }
        guard prepared.map(\.ids) == texts.map({ other.prepare($0).ids }) else {
            throw ModelError.input("embedSharingTrunk: the two encoders wrap the texts differently (tokenizer, template or maxLength)")
        }
        let total = model.config.layers
        guard sharedLayers >= 0, sharedLayers < total, sharedLayers < other.model.config.layers else {
            throw ModelError.input("embedSharingTrunk: sharedLayers \(sharedLayers) must be below both models' block counts (\(total), \(other.model.config.layers))")
        }
        let actuallyShared = sharedBottomLayers(with: other)
        guard actuallyShared >= sharedLayers else {
            throw ModelError.input("embedSharingTrunk: the models share only their bottom \(actuallyShared) blocks, not \(sharedLayers)")
        }
        let n = prepared.count, d = dimension
        let outA = Tensor.zeros([n, d]), outB = Tensor.zeros([n, d])
        let order = prepared.indices.sorted { prepared[$0].ids.count > prepared[$1].ids.count }
        var done = 0
        for range in batchRanges(lengths: order.map { prepared[$0].ids.count }) {
            let members = Array(order[range])
            let batch = Self.padded(members.map { prepared[$0] }, pad: tokenizer.padTokenId ?? 0)
            withNoGrad {
                let trunk: Tensor? = sharedLayers == 0 ? nil
                    : model.hiddenStates(ids: batch.ids, attentionMask: batch.mask, direction: .bidirectional, layers: 0..<sharedLayers)
                for (encoder, out) in [(self, outA), (other, outB)] {
                    let m = encoder.model
                    let hidden = m.hiddenStates(ids: batch.ids, attentionMask: batch.mask, direction: .bidirectional,
                                                layers: sharedLayers..<m.config.layers, input: trunk)
                    let pooled = matmul(batch.pool, hidden).reshape([members.count, d])
                    withExtendedLifetime(pooled) {
                        for (r, i) in members.enumerated() { (out.fptr + i * d).update(from: pooled.fptr + r * d, count: d) }
                    }
                }
            }
            done += members.count
            progress?(done, n)
        }
        return (outA, outB)
    }

    /// Consecutive batches of sequences whose `lengths` are sorted longest first: each batch holds
    /// at most ``maxBatch`` sequences and, padded to its first (longest) one, at most
    /// ``tokensPerBatch`` tokens (a sequence longer than that goes alone).
    func batchRanges(lengths: [Int]) -> [Range<Int>] {
        Self.batchRanges(lengths: lengths, tokensPerBatch: tokensPerBatch, maxBatch: maxBatch)
    }

    static func batchRanges(lengths: [Int], tokensPerBatch: Int, maxBatch: Int) -> [Range<Int>] {
        var ranges: [Range<Int>] = [], start = 0
        while start < lengths.count {
            let longest = lengths[start]
            var end = start + 1
            while end < lengths.count, end - start < maxBatch, (end - start + 1) * longest <= tokensPerBatch { end += 1 }
            ranges.append(start..<end)
            start = end
        }
        return ranges
    }

    /// Left-padded ids, their key mask and the mean-pooling matrix [N, 1, T] of prepared sequences.
    static func padded(_ prepared: [(ids: [Int], pooled: Int)], pad: Int) -> (ids: [[Int]], mask: [[Int]], pool: Tensor) {
        let T = prepared.map(\.ids.count).max() ?? 1
        var ids: [[Int]] = [], mask: [[Int]] = [], weights = [Float](repeating: 0, count: prepared.count * T)
        for (r, p) in prepared.enumerated() {
            let padCount = T - p.ids.count
            ids.append(Array(repeating: pad, count: padCount) + p.ids)
            mask.append(Array(repeating: 0, count: padCount) + Array(repeating: 1, count: p.ids.count))
            for t in (T - p.pooled)..<T { weights[r * T + t] = 1 / Float(p.pooled) }
        }
        return (ids, mask, Tensor(weights, shape: [prepared.count, 1, T]))
    }

    /// Differentiable embeddings of prepared sequences (one padded, bidirectional forward; mean
    /// over each row's pooled tokens through a pooling matrix), [N, dim]. With a ``trunkCache``
    /// the frozen bottom blocks come from the cache and only the blocks above it run.
    public func embedWithGradient(prepared: [(ids: [Int], pooled: Int)]) -> Tensor {
        let batch = Self.padded(prepared, pad: tokenizer.padTokenId ?? 0)
        let hidden: Tensor   // [N, T, D]
        if let cache = trunkCache, cache.layers > 0 {
            precondition(cache.layers < model.config.layers, "trunkCache: \(cache.layers) cached blocks leave none of \(model.config.layers) to run")
            let trunk = cache.paddedStates(prepared.map(\.ids), length: batch.ids[0].count, in: model)
            hidden = model.hiddenStates(ids: batch.ids, attentionMask: batch.mask, direction: .bidirectional,
                                        layers: cache.layers..<model.config.layers, input: trunk)
        } else {
            hidden = model.hiddenStates(ids: batch.ids, attentionMask: batch.mask, direction: .bidirectional)
        }
        return matmul(batch.pool, hidden).reshape([prepared.count, hidden.shape[2]])
    }
}
