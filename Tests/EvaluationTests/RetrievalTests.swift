import Testing
import TensorKit
import Evaluation

/// 3 images, 6 captions (two each), 2-d, compared by plain dot product so every score is exact.
///
/// Scores (rows = images A, B, C; columns = t0…t5, captions of A, A, B, B, C, C):
///
///         t0    t1    t2    t3    t4    t5
///     A   .9     0    .5    .2    .8    .5
///     B   .1    -1    .5    .8    .3    .6
///     C  -.9     0   -.5   -.2   -.8   -.5
///
/// image→text: A ranks t0 first (rank 0); B ranks t3 first (0); C orders t1, t3, t2, t5, t4, t0
/// (t2 and t5 tie at −.5; t2 has the lower index) so its best caption t5 is at rank 3.
/// text→image: t0 → A first (0); t1 ties A and C at 0, A wins (0); t2 ties A and B at .5, A has
/// the lower index so B is second (1); t3 → B (0); t4 and t5 → C last (2, 2).
private let images = Tensor([1, 0, 0, 1, -1, 0], shape: [3, 2])
private let texts = Tensor([0.9, 0.1, 0, -1, 0.5, 0.5, 0.2, 0.8, 0.8, 0.3, 0.5, 0.6], shape: [6, 2])
private let captionImage = [0, 0, 1, 1, 2, 2]

@Suite struct RetrievalHandComputedTests {
    @Test(arguments: [1, 2, 4, 512])
    func threeImagesSixCaptions(chunk: Int) throws {
        let r = try Retrieval.ranks(images: images, texts: texts, textToImage: captionImage, normalize: false, chunkSize: chunk)
        #expect(r.imageToText == [0, 0, 3])
        #expect(r.textToImage == [0, 0, 1, 0, 2, 2])
        let naive = try Retrieval.ranksNaive(images: images, texts: texts, textToImage: captionImage, normalize: false)
        #expect(naive == r)
    }

    @Test func recallsAndRanks() throws {
        let m = try Retrieval.evaluate(images: images, texts: texts, textToImage: captionImage, ks: [1, 2, 4, 5],
                                       normalize: false)
        #expect(m.recall(.imageToText, at: 1) == 2.0 / 3)
        #expect(m.recall(.imageToText, at: 2) == 2.0 / 3)
        #expect(m.recall(.imageToText, at: 4) == 1)
        #expect(m.recall(.textToImage, at: 1) == 0.5)
        #expect(m.recall(.textToImage, at: 2) == 4.0 / 6)
        #expect(m.recall(.textToImage, at: 5) == 1)
        #expect(m.recall(.textToImage, at: 10) == nil)
        #expect(abs(m.imageToTextMeanRank - 2) < 1e-12)          // (1 + 1 + 4) / 3
        #expect(m.imageToTextMedianRank == 1)
        #expect(abs(m.textToImageMeanRank - 11.0 / 6) < 1e-12)   // (1+1+2+1+3+3) / 6
        #expect(m.textToImageMedianRank == 1.5)
        #expect(m.imageCount == 3 && m.textCount == 6)
    }

    @Test func normalisationMakesScaleIrrelevant() throws {
        // Scaling rows by positive factors changes dot products but not cosine rankings.
        var rng = RNG(seed: 3)
        let img = Tensor.randn([7, 5], rng: &rng), txt = Tensor.randn([14, 5], rng: &rng)
        let map = Retrieval.grouped(images: 7, captionsPerImage: 2)
        let scaleI = Tensor((0..<7).map { Float($0 + 1) * 3 }, shape: [7, 1])
        let scaleT = Tensor((0..<14).map { 1 / Float($0 + 2) }, shape: [14, 1])
        let a = try Retrieval.ranks(images: img, texts: txt, textToImage: map)
        let b = try Retrieval.ranks(images: img * scaleI, texts: txt * scaleT, textToImage: map)
        #expect(a == b)
    }

    @Test func oneToOneIdentity() throws {
        // Each text equals its image (plus a little noise): perfect retrieval both ways.
        var rng = RNG(seed: 4)
        let img = Tensor.randn([20, 16], rng: &rng)
        let txt = img + Tensor.randn([20, 16], std: 0.01, rng: &rng)
        let m = try Retrieval.evaluate(images: img, texts: txt, textToImage: Retrieval.oneToOne(20), chunkSize: 3)
        #expect(m.imageToText == [1, 1, 1] && m.textToImage == [1, 1, 1])
        #expect(m.imageToTextMeanRank == 1 && m.textToImageMedianRank == 1)
    }

    @Test func groupedMapping() {
        #expect(Retrieval.grouped(images: 2, captionsPerImage: 3) == [0, 0, 0, 1, 1, 1])
        #expect(Retrieval.oneToOne(3) == [0, 1, 2])
    }

    @Test func rejectsBadInputs() {
        #expect(throws: EvaluationError.self) {   // dimensions differ
            try Retrieval.ranks(images: Tensor.zeros([2, 3]), texts: Tensor.zeros([2, 4]), textToImage: [0, 1])
        }
        #expect(throws: EvaluationError.self) {   // wrong map length
            try Retrieval.ranks(images: Tensor.zeros([2, 3]), texts: Tensor.zeros([3, 3]), textToImage: [0, 1])
        }
        #expect(throws: EvaluationError.self) {   // image out of range
            try Retrieval.ranks(images: Tensor.zeros([2, 3]), texts: Tensor.zeros([2, 3]), textToImage: [0, 2])
        }
        #expect(throws: EvaluationError.self) {   // image 1 has no caption
            try Retrieval.ranks(images: Tensor.zeros([2, 3]), texts: Tensor.zeros([2, 3]), textToImage: [0, 0])
        }
        #expect(throws: EvaluationError.self) {   // not a matrix
            try Retrieval.ranks(images: Tensor.zeros([6]), texts: Tensor.zeros([2, 3]), textToImage: [0, 0])
        }
        #expect(throws: EvaluationError.self) {
            try Retrieval.ranks(images: Tensor.zeros([1, 3]), texts: Tensor.zeros([1, 3]), textToImage: [0], chunkSize: 0)
        }
    }

    @Test func duplicatedEmbeddingsTieExactly() throws {
        // Image 37 is a copy of image 3 and texts equal their images (one-to-one), so image 3 and
        // image 37 both score t3 and t37 equally (bitwise, wherever they fall in a GEMM block).
        // Lower index first: t3 before t37 and image 3 before image 37.
        var rng = RNG(seed: 21)
        var v = Tensor.randn([40, 24], rng: &rng).toArray()
        for k in 0..<24 { v[37 * 24 + k] = v[3 * 24 + k] }
        let img = Tensor(v, shape: [40, 24]), txt = Tensor(v, shape: [40, 24])
        for chunk in [1, 7, 40] {
            let r = try Retrieval.ranks(images: img, texts: txt, textToImage: Retrieval.oneToOne(40), chunkSize: chunk)
            #expect(r.imageToText[3] == 0 && r.imageToText[37] == 1)
            #expect(r.textToImage[3] == 0 && r.textToImage[37] == 1)
            #expect(r.imageToText.enumerated().allSatisfy { $0.offset == 37 || $0.element == 0 })
            #expect(try Retrieval.ranksNaive(images: img, texts: txt, textToImage: Retrieval.oneToOne(40)) == r)
        }
    }

    @Test func allEqualScoresFollowIndexOrder() throws {
        // Every score ties: rankings are pure index order.
        let img = Tensor.ones([3, 2]), txt = Tensor.ones([4, 2])
        let r = try Retrieval.ranks(images: img, texts: txt, textToImage: [2, 0, 1, 2], chunkSize: 2)
        // image 0's caption is t1 (rank 1), image 1's is t2 (2), image 2's best is t0 (0).
        #expect(r.imageToText == [1, 2, 0])
        #expect(r.textToImage == [2, 0, 1, 2])
        #expect(try Retrieval.ranksNaive(images: img, texts: txt, textToImage: [2, 0, 1, 2]) == r)
    }
}

/// A random caption map in which every image has at least one caption.
private func randomMap(images: Int, texts: Int, rng: inout RNG) -> [Int] {
    var map = Array(0..<images)
    for i in stride(from: images - 1, to: 0, by: -1) { map.swapAt(i, rng.nextInt(i + 1)) }
    for _ in images..<texts { map.append(rng.nextInt(images)) }
    for i in stride(from: texts - 1, to: 0, by: -1) { map.swapAt(i, rng.nextInt(i + 1)) }
    return map
}

/// Copies some rows over others so that bitwise-equal scores (ties) occur.
private func withDuplicates(_ t: Tensor, copies: Int, rng: inout RNG) -> Tensor {
    var v = t.toArray()
    let n = t.shape[0], d = t.shape[1]
    for _ in 0..<copies {
        let src = rng.nextInt(n), dst = rng.nextInt(n)
        for k in 0..<d { v[dst * d + k] = v[src * d + k] }
    }
    return Tensor(v, shape: t.shape)
}

@Suite struct RetrievalDifferentialTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var images: Int, texts: Int, dim: Int, chunk: Int
        var testDescription: String { "I=\(images) T=\(texts) D=\(dim) chunk=\(chunk)" }
    }

    static let cases: [Case] = [
        Case(images: 1, texts: 1, dim: 3, chunk: 1),
        Case(images: 5, texts: 5, dim: 4, chunk: 2),
        Case(images: 17, texts: 40, dim: 8, chunk: 7),
        Case(images: 33, texts: 165, dim: 16, chunk: 13),
        Case(images: 64, texts: 64, dim: 32, chunk: 64),
        Case(images: 50, texts: 250, dim: 24, chunk: 1000),
        Case(images: 120, texts: 300, dim: 12, chunk: 37),
    ]

    @Test(arguments: cases)
    func chunkedEqualsNaiveOnGaussianData(c: Case) throws {
        var rng = RNG(seed: UInt64(c.images * 1000 + c.texts))
        let img = withDuplicates(Tensor.randn([c.images, c.dim], rng: &rng), copies: c.images / 5, rng: &rng)
        var txt = withDuplicates(Tensor.randn([c.texts, c.dim], rng: &rng), copies: c.texts / 5, rng: &rng)
        // Some texts equal an image exactly: their scores against duplicated images tie too.
        if c.images > 2 && c.texts > 2 {
            var v = txt.toArray()
            let iv = img.toArray()
            for k in 0..<c.dim { v[k] = iv[k]; v[c.dim + k] = iv[k] }
            txt = Tensor(v, shape: txt.shape)
        }
        let map = randomMap(images: c.images, texts: c.texts, rng: &rng)
        let chunked = try Retrieval.ranks(images: img, texts: txt, textToImage: map, chunkSize: c.chunk)
        let naive = try Retrieval.ranksNaive(images: img, texts: txt, textToImage: map)
        #expect(chunked == naive)
    }

    @Test(arguments: cases)
    func chunkedEqualsNaiveWithManyTies(c: Case) throws {
        // Small integer vectors compared by dot product: exact scores, ties everywhere.
        var rng = RNG(seed: UInt64(c.images * 7 + c.texts * 3 + 1))
        let img = Tensor((0..<(c.images * c.dim)).map { _ in Float(rng.nextInt(3)) - 1 }, shape: [c.images, c.dim])
        let txt = Tensor((0..<(c.texts * c.dim)).map { _ in Float(rng.nextInt(3)) - 1 }, shape: [c.texts, c.dim])
        let map = randomMap(images: c.images, texts: c.texts, rng: &rng)
        let chunked = try Retrieval.ranks(images: img, texts: txt, textToImage: map, normalize: false, chunkSize: c.chunk)
        let naive = try Retrieval.ranksNaive(images: img, texts: txt, textToImage: map, normalize: false)
        #expect(chunked == naive)
        // Chunk size does not change anything.
        let other = try Retrieval.ranks(images: img, texts: txt, textToImage: map, normalize: false, chunkSize: 3)
        #expect(other == chunked)
    }
}
