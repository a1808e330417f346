import Foundation
import Datasets
import Evaluation
import Formats
import Models
import NeuralNet
import TensorKit
import Tokenizers

/// LLM2Vec's supervised contrastive objective on caption pairs, as LLM2CLIP uses it (stage 1).
///
/// For each (short, long) pair a coin picks the direction: the short caption queries for its long
/// caption (instruction ``shortQueryInstruction``) or the reverse (``longQueryInstruction``);
/// the negative is the other-side caption of a random other row. Queries are
/// `"{instruction}; {caption}"` with the instruction attended to but not pooled; documents carry
/// no instruction. Loss: cross-entropy of 50 · cos(query, [positives; negatives]) against the
/// query's own positive.
public enum CaptionContrastive {
    public static let shortQueryInstruction = "Given a sentence, retrieve a detailed relevant sentence"
    public static let longQueryInstruction = "Given a detailed sentence, retrieve a short relevant sentence"
    public static let scale: Float = 50

    /// One training example: texts and the instruction of the query.
    public struct Triple: Equatable, Sendable {
        public var query: String
        public var instruction: String
        public var positive: String
        public var negative: String
    }

    /// Where the coin that picks a query's direction is flipped.
    public enum Direction: String, Codable, Sendable, CaseIterable {
        /// Each pair flips its own coin (the reference): a batch mixes short and long queries, so a
        /// query's candidates are of both lengths.
        case perPair = "per-pair"
        /// One coin per batch: every query in a batch has the same length class and all its
        /// candidates the other one, so the loss compares content, not caption length.
        case perBatch = "per-batch"
    }

    /// Builds the batch's triples (seeded: the same rng state gives the same directions and negatives).
    public static func triples(_ pairs: [CaptionPair], rng: inout RNG, direction: Direction = .perPair) -> [Triple] {
        let batchCoin = direction == .perBatch ? rng.nextFloat() < 0.5 : false
        return pairs.indices.map { i in
            let shortQuery = direction == .perBatch ? batchCoin : rng.nextFloat() < 0.5
            var j = pairs.count > 1 ? rng.nextInt(pairs.count - 1) : 0
            if pairs.count > 1 && j >= i { j += 1 }
            let p = pairs[i], other = pairs[j]
            return shortQuery
                ? Triple(query: p.short, instruction: shortQueryInstruction, positive: p.long, negative: other.long)
                : Triple(query: p.long, instruction: longQueryInstruction, positive: p.short, negative: other.short)
        }
    }

    /// The hard-negative NLL: queries [B, D], positives [B, D], negatives [B, D] (any scale).
    public static func loss(queries: Tensor, positives: Tensor, negatives: Tensor, scale: Float = CaptionContrastive.scale) -> Tensor {
        let q = l2Normalize(queries, axis: -1)
        let docs = l2Normalize(concat([positives, negatives], axis: 0), axis: -1)
        let scores = matmul(q, docs.transposed()) * scale
        return crossEntropy(scores, targets: Array(0..<queries.shape[0]))
    }
}

extension CaptionContrastive {
    /// Computes the contrastive loss of (queries, positives, negatives) and accumulates its
    /// gradients into the encoder's trainable parameters; returns the loss.
    ///
    /// With `microBatch` > 0 the activation memory is that of `microBatch` sequences, whatever
    /// the batch (cached-embedding gradient accumulation): every embedding is first computed
    /// without a graph; the loss's gradient with respect to each embedding is taken; then each
    /// micro-batch is re-run with a graph and back-propagated from its slice of that gradient.
    /// Dropout masks are re-drawn identically in both passes (the dropout generator is reseeded
    /// per micro-batch from `dropoutSeed`). Without dropout the gradients equal one big batch's;
    /// with dropout they equal it in expectation (masks are drawn per micro-batch).
    ///
    /// With `keepGraphs` the micro-batches (same length groups) run once, each with its graph
    /// kept, and one backward pass follows the loss: no second forward pass (a third less compute
    /// on a CPU) for the activation memory of the whole batch (without its padding). Gradients
    /// equal the two-pass ones.
    ///
    /// A sequence listed more than once (a negative that is another row's positive) is embedded
    /// once per step, so it also shares one dropout mask.
    @discardableResult
    public static func accumulateGradients(encoder: LLM2VecEncoder, queries: [(ids: [Int], pooled: Int)],
                                           positives: [(ids: [Int], pooled: Int)], negatives: [(ids: [Int], pooled: Int)],
                                           microBatch: Int, dropoutSeed: UInt64, keepGraphs: Bool = false) -> Float {
        // A caption that appears twice in a step (a negative is another row's caption) runs once;
        // its embedding is shared by every place it appears and so are their gradients.
        let listed = queries + positives + negatives, B = queries.count
        var all: [(ids: [Int], pooled: Int)] = [], slot: [[Int]: Int] = [:], place: [Int] = []
        for s in listed {
            if let k = slot[s.ids] { place.append(k) } else { slot[s.ids] = all.count; place.append(all.count); all.append(s) }
        }
        let shared = all.count < listed.count
        func lossOf(_ unique: Tensor) -> Tensor {
            let e = shared ? indexSelect(unique, axis: 0, indices: place) : unique
            return loss(queries: e.slice(axis: 0, 0, B), positives: e.slice(axis: 0, B, 2 * B), negatives: e.slice(axis: 0, 2 * B, 3 * B))
        }
        let chunk = microBatch > 0 ? microBatch : all.count
        if chunk >= all.count {
            LoRA.seedDropout(of: encoder.model, dropoutSeed)
            let l = lossOf(encoder.embedWithGradient(prepared: all))
            l.backward()
            return l.item()
        }
        // Micro-batches of similar lengths (less padding); `order` lists sequences by length.
        let order = all.indices.sorted { (all[$0].ids.count, $0) < (all[$1].ids.count, $1) }
        let groups = stride(from: 0, to: order.count, by: chunk).map { Array(order[$0..<min(order.count, $0 + chunk)]) }
        func embedGroup(_ k: Int) -> Tensor {
            LoRA.seedDropout(of: encoder.model, dropoutSeed &+ UInt64(k) &* 0x9E37_79B9)
            return encoder.embedWithGradient(prepared: groups[k].map { all[$0] })
        }
        // Pass 1: embeddings without a graph (back in batch order), then their gradients from the loss.
        var inverse = [Int](repeating: 0, count: order.count)
        for (pos, i) in order.enumerated() { inverse[i] = pos }
        if keepGraphs {
            let l = lossOf(indexSelect(concat(groups.indices.map { embedGroup($0) }, axis: 0), axis: 0, indices: inverse))
            l.backward()
            return l.item()
        }
        let sorted = withNoGrad { concat(groups.indices.map { embedGroup($0) }, axis: 0) }
        let cached = indexSelect(sorted, axis: 0, indices: inverse).detach().requiringGrad()
        let l = lossOf(cached)
        l.backward()
        let g = cached.grad!
        // Pass 2: each micro-batch with a graph, seeded by its rows of the embedding gradient.
        for k in groups.indices {
            embedGroup(k).backward(indexSelect(g, axis: 0, indices: groups[k]).contiguous())
        }
        return l.item()
    }
}
