import Foundation
import Testing
import Datasets

@Suite struct SimilarPairBatchesTests {
    /// Four topics with words of their own, eight pairs each, listed interleaved.
    let topics = [["red", "circle", "apple"], ["blue", "square", "ocean"], ["green", "star", "forest"], ["black", "heart", "night"]]
    var dataset: CaptionPairDataset {
        let pairs = (0..<32).map { i -> CaptionPair in
            let t = topics[i % 4], n = i / 4
            return CaptionPair(short: "a \(t[0]) \(t[1])", long: "The picture shows a \(t[0]) \(t[1]) near the \(t[2]), number \(n).")
        }
        return CaptionPairDataset(pairs: pairs, origin: "topics")
    }

    @Test func batchesOfSimilarPairsGatherOneTopicEach() {
        let batcher = SimilarPairBatcher(dataset)
        for epoch in 0..<3 {
            let batches = batcher.batches(size: 8, seed: 7, epoch: epoch)
            #expect(batches.count == 4 && batches.allSatisfy { $0.count == 8 })
            #expect(batches.flatMap { $0 }.sorted() == Array(0..<32))
            for b in batches { #expect(Set(b.map { $0 % 4 }).count == 1, "batch \(b) mixes topics") }
        }
        // Random batches of the same data mix topics; the similar ones are closer within a batch.
        func meanSimilarity(_ batches: [[Int]]) -> Float {
            var s: Float = 0, n: Float = 0
            for b in batches { for i in b { for j in b where i < j { s += batcher.similarity(i, j); n += 1 } } }
            return s / n
        }
        let random = Array(Shuffle.permutation(count: 32, seed: 7, epoch: 0)).chunked(8)
        #expect(meanSimilarity(batcher.batches(size: 8, seed: 7, epoch: 0)) > meanSimilarity(random) + 0.2)
    }

    @Test func batchesAreSeededAndCoverEveryPairOnce() {
        let batcher = SimilarPairBatcher(dataset)
        let a = batcher.batches(size: 5, seed: 1, epoch: 0)
        #expect(a == batcher.batches(size: 5, seed: 1, epoch: 0))
        #expect(a != batcher.batches(size: 5, seed: 1, epoch: 1))
        #expect(a.map(\.count) == [5, 5, 5, 5, 5, 5, 2])
        #expect(a.flatMap { $0 }.sorted() == Array(0..<32))
        let dropped = batcher.batches(size: 5, seed: 1, epoch: 0, dropLast: true)
        #expect(dropped.map(\.count) == Array(repeating: 5, count: 6))
        // Pools of 10 (two batches of 5) still place every pair once.
        let pooled = batcher.batches(size: 5, seed: 1, epoch: 0, pool: 10)
        #expect(pooled.flatMap { $0 }.sorted() == Array(0..<32) && pooled.map(\.count) == [5, 5, 5, 5, 5, 5, 2])
    }

    @Test func similarityIsTheCosineOfTFIDFVectors() {
        let ds = CaptionPairDataset(pairs: [CaptionPair(short: "a red cube", long: "A red cube."),
                                            CaptionPair(short: "A RED cube", long: "a red Cube!"),
                                            CaptionPair(short: "blue sky", long: "Blue sky")], origin: "t")
        let batcher = SimilarPairBatcher(ds)
        #expect(batcher.vocabularySize == 5)
        #expect(abs(batcher.similarity(0, 1) - 1) < 1e-6)
        #expect(batcher.similarity(0, 2) == 0)
        #expect(abs(batcher.similarity(2, 2) - 1) < 1e-6)
    }
}

private extension Array {
    func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
