import Foundation

/// How stage 1 groups caption pairs into batches.
public enum CaptionBatching: String, Codable, Sendable, CaseIterable {
    /// Shuffled pairs, cut into batches in order (the reference).
    case random
    /// Batches of pairs whose captions share words (``SimilarPairBatcher``): a batch's other rows,
    /// and so its in-batch negatives, describe similar content.
    case similar
}

/// Groups caption pairs into batches of similar pairs, for hard in-batch negatives.
///
/// Each pair is a TF-IDF vector of the words of both its captions (lower-cased runs of letters
/// and digits; inverse document frequency over the pairs; L2-normalised). Each epoch the pairs
/// are shuffled with ``Shuffle/permutation(count:seed:epoch:)`` and cut into pools of at most
/// `pool` pairs; within a pool, the first pair not yet placed starts a batch and takes the
/// `size − 1` unplaced pairs of the pool nearest to it by cosine (ties: earlier in the shuffle).
/// A batch is ordered anchor first, then by falling similarity. The pool bounds the cost
/// (pairs × pool word products per epoch) and keeps each epoch's batches a fresh draw.
///
/// With random batches a contrastive loss soon separates a batch's 16 unrelated captions and
/// its gradient fades, while retrieval among a thousand captions still confuses near
/// neighbours; similar batches keep those neighbours in the loss.
///
/// ```swift
/// let batcher = SimilarPairBatcher(pairs)
/// for batch in batcher.batches(size: 16, seed: 1, epoch: 0) { ... }   // [[Int]], indices into pairs
/// ```
public struct SimilarPairBatcher: Sendable {
    /// Sparse unit vectors: (word index, weight) sorted by word index, one per pair.
    let vectors: [[(word: Int, weight: Float)]]
    /// Distinct words over all pairs.
    public let vocabularySize: Int

    public init(_ dataset: CaptionPairDataset) {
        var index: [Substring: Int] = [:]
        var documents: [[Int: Float]] = []
        documents.reserveCapacity(dataset.count)
        var documentFrequency: [Int] = []
        for pair in dataset.pairs {
            var counts: [Int: Float] = [:]
            for word in Self.words(pair.short + " " + pair.long) {
                let w: Int
                if let known = index[word] { w = known } else {
                    w = index.count
                    index[word] = w
                    documentFrequency.append(0)
                }
                if counts[w] == nil { documentFrequency[w] += 1 }
                counts[w, default: 0] += 1
            }
            documents.append(counts)
        }
        let n = Float(max(1, dataset.count))
        // scikit-learn's smoothed idf: ln((1 + n) / (1 + df)) + 1.
        let idf = documentFrequency.map { log((1 + n) / (1 + Float($0))) + 1 }
        vectors = documents.map { counts in
            var v = counts.map { (word: $0.key, weight: $0.value * idf[$0.key]) }.sorted { $0.word < $1.word }
            let norm = v.reduce(0) { $0 + $1.weight * $1.weight }.squareRoot()
            if norm > 0 { for i in v.indices { v[i].weight /= norm } }
            return v
        }
        vocabularySize = index.count
    }

    /// Lower-cased runs of letters and digits.
    static func words(_ text: String) -> [Substring] {
        text.lowercased().split { !($0.isLetter || $0.isNumber) }
    }

    /// Cosine similarity of pairs `a` and `b`.
    public func similarity(_ a: Int, _ b: Int) -> Float {
        let x = vectors[a], y = vectors[b]
        var i = 0, j = 0, s: Float = 0
        while i < x.count && j < y.count {
            if x[i].word == y[j].word { s += x[i].weight * y[j].weight; i += 1; j += 1 } else if x[i].word < y[j].word { i += 1 } else { j += 1 }
        }
        return s
    }

    /// One epoch's batches as indices into the pairs: every pair once; all batches have `size`
    /// pairs except possibly the last, which `dropLast` drops.
    public func batches(size: Int, seed: UInt64, epoch: Int, pool: Int = 4096, dropLast: Bool = false) -> [[Int]] {
        precondition(size > 0 && pool > 0, "SimilarPairBatcher.batches: size and pool must be positive")
        let order = Shuffle.permutation(count: vectors.count, seed: seed, epoch: epoch)
        // Pools hold whole batches, so only the last pool can end in a short batch.
        let poolSize = max(size, pool / size * size)
        var out: [[Int]] = []
        var dense = [Float](repeating: 0, count: vocabularySize)
        var start = 0
        while start < order.count {
            let members = Array(order[start..<min(start + poolSize, order.count)])
            var placed = [Bool](repeating: false, count: members.count)
            for a in members.indices where !placed[a] {
                placed[a] = true
                let anchor = vectors[members[a]]
                for (w, x) in anchor { dense[w] = x }
                var candidates: [(score: Float, position: Int)] = []
                candidates.reserveCapacity(members.count)
                for b in members.indices where !placed[b] {
                    var s: Float = 0
                    for (w, y) in vectors[members[b]] { s += dense[w] * y }
                    candidates.append((s, b))
                }
                for (w, _) in anchor { dense[w] = 0 }
                candidates.sort { $0.score != $1.score ? $0.score > $1.score : $0.position < $1.position }
                var batch = [members[a]]
                for c in candidates.prefix(size - 1) {
                    placed[c.position] = true
                    batch.append(members[c.position])
                }
                if batch.count == size || !dropLast { out.append(batch) }
            }
            start += members.count
        }
        return out
    }
}
