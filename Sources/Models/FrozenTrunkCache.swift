import Foundation
import TensorKit

/// The hidden states that a decoder's frozen bottom blocks give each sequence, kept so that
/// they are computed once per distinct sequence instead of once per use.
///
/// When LoRA adapts only the top blocks of an LLM (stage 1 with `--lora-top-layers N`), the
/// blocks below them never change during training, so a caption seen in a later epoch, or
/// embedded again for a held-out evaluation, needs only the adapted blocks. Attach a cache to an
/// ``LLM2VecEncoder`` and ``LLM2VecEncoder/embedWithGradient(prepared:)`` (and so every `embed`)
/// runs blocks `0..<layers` through it and only the blocks above with a graph.
///
/// ``fill(_:in:pad:tokensPerBatch:maxBatch:progress:)`` computes the states of a known set of
/// sequences up front in padded batches; a sequence met later is computed alone (batch of one,
/// no padding), so its state does not depend on which other sequences it came with. Either way
/// a resumed training run reads the same numbers an uninterrupted one did. The cache holds at
/// most `capacityBytes` of states; past that, new sequences are computed on every use and not kept.
///
/// The cache is valid only while blocks `0..<layers` and the token embeddings stay as they were:
/// drop it (`encoder.trunkCache = nil`) before changing them.
///
/// ```swift
/// try LoRA.apply(cfg, to: llm)                                   // adapters on the top 10 of 30 blocks
/// let encoder = LLM2VecEncoder(model: llm, tokenizer: tok)
/// encoder.trunkCache = FrozenTrunkCache(layers: encoder.frozenBottomLayers())   // 20
/// let e = encoder.embedWithGradient(prepared: batch)              // blocks 20..<30 with a graph
/// ```
public final class FrozenTrunkCache {
    /// How many bottom blocks the cached states have been through.
    public let layers: Int
    /// Most bytes of states kept.
    public let capacityBytes: Int
    /// Bytes of states kept now.
    public private(set) var bytes = 0
    /// Uses answered from the cache, and sequences whose states had to be computed.
    public private(set) var hits = 0, misses = 0
    private var states: [[Int]: Tensor] = [:]

    public init(layers: Int, capacityBytes: Int = 4 << 30) {
        precondition(layers >= 0 && capacityBytes >= 0, "FrozenTrunkCache: layers and capacity must not be negative")
        self.layers = layers
        self.capacityBytes = capacityBytes
    }

    /// Sequences kept.
    public var count: Int { states.count }

    /// The states [T, hidden] of `ids` after blocks `0..<layers` of `model` (bidirectional), from
    /// the cache or computed now (without a graph) and kept if there is room.
    public func states(of ids: [Int], in model: LlamaForCausalLM) -> Tensor {
        if let s = states[ids] { hits += 1; return s }
        misses += 1
        let s = withNoGrad {
            model.hiddenStates(ids: [ids], direction: .bidirectional, layers: 0..<layers)
                .reshape([ids.count, model.config.hiddenSize]).contiguous()
        }
        let size = s.count * s.dtype.size
        if bytes + size <= capacityBytes {
            states[ids] = s
            bytes += size
        }
        return s
    }

    /// Computes and keeps the states of every sequence not kept yet, in padded batches of
    /// similar lengths (about twice as fast as one at a time on a CPU). The batches depend only
    /// on the set of sequences, so the same set always gives the same numbers. Stops keeping
    /// when the capacity is reached. `progress` sees (done, total) distinct new sequences.
    public func fill(_ sequences: [[Int]], in model: LlamaForCausalLM, pad: Int, tokensPerBatch: Int = 4096, maxBatch: Int = 32,
                     progress: ((Int, Int) -> Void)? = nil) {
        var seen = Set<[Int]>()
        let todo = sequences.filter { !$0.isEmpty && states[$0] == nil && seen.insert($0).inserted }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.lexicographicallyPrecedes($1) }
        let d = model.config.hiddenSize
        for range in LLM2VecEncoder.batchRanges(lengths: todo.map(\.count), tokensPerBatch: tokensPerBatch, maxBatch: maxBatch) {
            let rows = Array(todo[range])
            let size = rows.reduce(0) { $0 + $1.count } * d * MemoryLayout<Float>.size
            guard bytes + size <= capacityBytes else { break }
            let batch = LLM2VecEncoder.padded(rows.map { ($0, 1) }, pad: pad)
            let T = rows[0].count
            let h = withNoGrad {
                model.hiddenStates(ids: batch.ids, attentionMask: batch.mask, direction: .bidirectional, layers: 0..<layers).contiguous()
            }
            withExtendedLifetime(h) {
                for (r, seq) in rows.enumerated() {
                    let s = Tensor.zeros([seq.count, d])
                    s.fptr.update(from: h.fptr + (r * T + T - seq.count) * d, count: seq.count * d)
                    states[seq] = s
                }
            }
            bytes += size
            progress?(range.upperBound, todo.count)
        }
    }

    /// Left-padded states [N, T, hidden] of sequences padded to `T` tokens (zeros at the padding,
    /// which the key mask hides and pooling skips).
    func paddedStates(_ rows: [[Int]], length T: Int, in model: LlamaForCausalLM) -> Tensor {
        let d = model.config.hiddenSize
        let out = Tensor.zeros([rows.count, T, d])
        for (r, ids) in rows.enumerated() {
            let s = states(of: ids, in: model)
            withExtendedLifetime(s) {
                (out.fptr + (r * T + T - ids.count) * d).update(from: s.fptr, count: ids.count * d)
            }
        }
        return out
    }
}

extension LLM2VecEncoder {
    /// How many decoder blocks from the bottom are frozen: no parameter in them (or in the
    /// token embeddings) takes gradients and none is a LoRA adapter. 0 when the embeddings
    /// train. These blocks can run once per sequence through a ``FrozenTrunkCache``.
    public func frozenBottomLayers() -> Int {
        func frozen(_ params: [(String, Tensor)]) -> Bool {
            params.allSatisfy { !$0.1.requiresGrad && !$0.0.contains(".lora_A.") && !$0.0.contains(".lora_B.") }
        }
        let m = model.model
        guard frozen(m.embedTokens.namedParameters()) else { return 0 }
        var n = 0
        while n < m.layers.count, frozen(m.layers[n].namedParameters()) { n += 1 }
        return n
    }
}
