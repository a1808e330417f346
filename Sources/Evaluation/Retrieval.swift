import TensorKit

/// Which way a retrieval runs.
public enum RetrievalDirection: String, Codable, Sendable, CaseIterable {
    /// Each image queries all texts; a hit when any of its captions is ranked within k.
    case imageToText
    /// Each text queries all images; a hit when its image is ranked within k.
    case textToImage

    /// Short label for tables: `I→T` or `T→I`.
    public var shortLabel: String { self == .imageToText ? "I→T" : "T→I" }
}

/// Where the ground truth landed for every query, in both directions.
///
/// Ranks are 0-based: 0 means the ground truth was the top result. For image→text the rank of
/// an image is the best (smallest) rank among its captions. Rankings order by cosine similarity,
/// highest first; equal scores (bitwise equal floats) are ordered by lower index first, so the
/// result is deterministic.
public struct RetrievalRanks: Sendable, Equatable {
    /// One entry per image: the 0-based rank of its best-placed caption among all texts.
    public let imageToText: [Int]
    /// One entry per text: the 0-based rank of its image among all images.
    public let textToImage: [Int]

    public init(imageToText: [Int], textToImage: [Int]) {
        self.imageToText = imageToText
        self.textToImage = textToImage
    }

    /// The ranks of one direction.
    public func ranks(_ direction: RetrievalDirection) -> [Int] {
        direction == .imageToText ? imageToText : textToImage
    }

    /// R@k: the fraction (0…1) of queries whose ground truth is among the top `k` results.
    public func recall(_ direction: RetrievalDirection, at k: Int) -> Double {
        let r = ranks(direction)
        if r.isEmpty { return 0 }
        return Double(r.reduce(0) { $0 + ($1 < k ? 1 : 0) }) / Double(r.count)
    }

    /// Mean 1-based rank of the ground truth (1 = always first).
    public func meanRank(_ direction: RetrievalDirection) -> Double {
        let r = ranks(direction)
        if r.isEmpty { return 0 }
        return Double(r.reduce(0, +)) / Double(r.count) + 1
    }

    /// Median 1-based rank of the ground truth.
    public func medianRank(_ direction: RetrievalDirection) -> Double {
        ranks(direction).isEmpty ? 0 : median(ranks(direction)) + 1
    }

    /// The summary for reports: R@k for each `k`, mean and median rank, counts.
    public func metrics(ks: [Int] = [1, 5, 10]) -> RetrievalMetrics {
        RetrievalMetrics(
            ks: ks,
            imageToText: ks.map { recall(.imageToText, at: $0) },
            textToImage: ks.map { recall(.textToImage, at: $0) },
            imageToTextMeanRank: meanRank(.imageToText), imageToTextMedianRank: medianRank(.imageToText),
            textToImageMeanRank: meanRank(.textToImage), textToImageMedianRank: medianRank(.textToImage),
            imageCount: imageToText.count, textCount: textToImage.count)
    }
}

/// Retrieval scores of one benchmark: recalls as fractions (0…1), ranks 1-based.
public struct RetrievalMetrics: Codable, Sendable, Equatable {
    /// The cut-offs, e.g. [1, 5, 10].
    public var ks: [Int]
    /// R@k image→text, one per entry of `ks`.
    public var imageToText: [Double]
    /// R@k text→image, one per entry of `ks`.
    public var textToImage: [Double]
    public var imageToTextMeanRank: Double
    public var imageToTextMedianRank: Double
    public var textToImageMeanRank: Double
    public var textToImageMedianRank: Double
    public var imageCount: Int
    public var textCount: Int

    public init(ks: [Int], imageToText: [Double], textToImage: [Double],
                imageToTextMeanRank: Double, imageToTextMedianRank: Double,
                textToImageMeanRank: Double, textToImageMedianRank: Double,
                imageCount: Int, textCount: Int) {
        self.ks = ks
        self.imageToText = imageToText
        self.textToImage = textToImage
        self.imageToTextMeanRank = imageToTextMeanRank
        self.imageToTextMedianRank = imageToTextMedianRank
        self.textToImageMeanRank = textToImageMeanRank
        self.textToImageMedianRank = textToImageMedianRank
        self.imageCount = imageCount
        self.textCount = textCount
    }

    /// R@k in one direction, or nil when `k` was not evaluated.
    public func recall(_ direction: RetrievalDirection, at k: Int) -> Double? {
        guard let i = ks.firstIndex(of: k) else { return nil }
        return direction == .imageToText ? imageToText[i] : textToImage[i]
    }

    /// Mean 1-based rank in one direction.
    public func meanRank(_ direction: RetrievalDirection) -> Double {
        direction == .imageToText ? imageToTextMeanRank : textToImageMeanRank
    }

    /// Median 1-based rank in one direction.
    public func medianRank(_ direction: RetrievalDirection) -> Double {
        direction == .imageToText ? imageToTextMedianRank : textToImageMedianRank
    }
}

/// Image–text retrieval (the paper's R@1/5/10 on Flickr30k, COCO, ShareGPT4V, Urban-1k, DOCCI).
///
/// Inputs are an image-embedding matrix `[I, D]`, a text-embedding matrix `[T, D]` and
/// `textToImage` (`T` entries, the image each text describes; several texts may share an image,
/// every image needs at least one). Scores are cosine similarities: with `normalize: true`
/// (the default) every row is divided by its L2 norm first (zero rows stay zero); pass `false`
/// when the rows are already unit length (scores are then the plain dot products).
///
/// - image→text: an image is a hit at k when ANY of its captions is among its top k texts.
/// - text→image: a text is a hit at k when its image is among its top k images.
/// - ties: equal scores are ordered by lower index first (texts for image→text, images for
///   text→image), in both implementations. Identical embedding rows (bitwise, after
///   normalisation) always get identical scores: duplicates are folded before the product, since
///   BLAS may round the same dot product differently at different positions of a GEMM.
///
/// ```swift
/// let m = try Retrieval.evaluate(images: img, texts: txt, textToImage: (0..<1000).flatMap { [Int](repeating: $0, count: 5) })
/// print(m.recall(.imageToText, at: 1)!)
/// ```
public enum Retrieval {
    /// `textToImage` for a one-to-one set (text i describes image i).
    public static func oneToOne(_ count: Int) -> [Int] { Array(0..<count) }

    /// `textToImage` for sets with a fixed number of captions per image, stored image by image
    /// (Flickr30k and COCO: 5).
    public static func grouped(images: Int, captionsPerImage: Int) -> [Int] {
        (0..<images).flatMap { [Int](repeating: $0, count: captionsPerImage) }
    }

    /// R@k (both directions), mean and median rank, computed by ``ranks(images:texts:textToImage:normalize:chunkSize:)``.
    public static func evaluate(images: Tensor, texts: Tensor, textToImage: [Int], ks: [Int] = [1, 5, 10],
                                normalize: Bool = true, chunkSize: Int = 512) throws -> RetrievalMetrics {
        try ranks(images: images, texts: texts, textToImage: textToImage, normalize: normalize,
                  chunkSize: chunkSize).metrics(ks: ks)
    }

    /// Ground-truth ranks, computed block by block: `chunkSize` images (then texts) at a time are
    /// scored against the whole other side with one `matmul`, and only each row's rank is kept,
    /// so memory is O(chunkSize × max(I, T)) besides the inputs.
    public static func ranks(images: Tensor, texts: Tensor, textToImage: [Int], normalize: Bool = true,
                             chunkSize: Int = 512) throws -> RetrievalRanks {
        guard chunkSize > 0 else { throw EvaluationError.invalidInput("chunkSize must be positive, got \(chunkSize)") }
        let p = try prepare(images, texts, textToImage, normalize)
        let I = p.images.rows, T = p.texts.rows
        let imgT = p.images.tensor, txtT = p.texts.tensor
        // Without duplicates the distinct rows are the rows themselves: no second copy.
        let uniqueImg = p.distinctImages.rows == I ? imgT : p.distinctImages.tensor
        let uniqueTxt = p.distinctTexts.rows == T ? txtT : p.distinctTexts.tensor
        let UT = p.distinctTexts.rows

        // image → text: blocks of image rows against the distinct texts, [c, UT]; text t of
        // image row r scores s[r·UT + textIndex[t]].
        var imageRanks = [Int](repeating: 0, count: I)
        var row = [Float](repeating: 0, count: T)
        var start = 0
        while start < I {
            let end = min(start + chunkSize, I)
            let scores = matmul(imgT.slice(axis: 0, start, end), uniqueTxt.transposed())
            withElements(scores) { s in
                row.withUnsafeMutableBufferPointer { rowp in
                    for r in 0..<(end - start) {
                        let i = start + r
                        let block = s + r * UT
                        for t in 0..<T { rowp[t] = block[p.textIndex[t]] }
                        // The best-placed caption is the highest-scoring one (lowest index on ties);
                        // its rank is the image's rank. `captions[i]` is in ascending order.
                        var best = p.captions[i][0]
                        for j in p.captions[i].dropFirst() where rowp[j] > rowp[best] { best = j }
                        imageRanks[i] = rankOf(best, in: rowp.baseAddress!, count: T)
                    }
                }
            }
            start = end
        }

        // text → image: the distinct images against blocks of texts, [UI, c]; image i scores
        // s[imageIndex[i]·c + col].
        var textRanks = [Int](repeating: 0, count: T)
        start = 0
        while start < T {
            let end = min(start + chunkSize, T)
            let c = end - start
            let scores = matmul(uniqueImg, txtT.slice(axis: 0, start, end).transposed())
            withElements(scores) { s in
                var reference = [Float](repeating: 0, count: c)
                var target = [Int](repeating: 0, count: c)
                for col in 0..<c {
                    target[col] = textToImage[start + col]
                    reference[col] = s[p.imageIndex[target[col]] * c + col]
                }
                var count = [Int](repeating: 0, count: c)
                for i in 0..<I {
                    let scoresOfI = s + p.imageIndex[i] * c
                    for col in 0..<c {
                        let v = scoresOfI[col], ref = reference[col]
                        if v > ref || (v == ref && i < target[col]) { count[col] += 1 }
                    }
                }
                for col in 0..<c { textRanks[start + col] = count[col] }
            }
            start = end
        }
        return RetrievalRanks(imageToText: imageRanks, textToImage: textRanks)
    }

    /// The same ranks by the obvious method: the full `[I, T]` similarity matrix, every row and
    /// column fully sorted (score descending, lower index first on ties). O(I·T) memory; kept as
    /// the reference the chunked version is tested against.
    public static func ranksNaive(images: Tensor, texts: Tensor, textToImage: [Int],
                                  normalize: Bool = true) throws -> RetrievalRanks {
        let p = try prepare(images, texts, textToImage, normalize)
        let I = p.images.rows, T = p.texts.rows
        let UT = p.distinctTexts.rows
        let distinct = matmul(p.distinctImages.tensor, p.distinctTexts.tensor.transposed()).toArray()
        var sim = [Float](repeating: 0, count: I * T)
        for i in 0..<I { for t in 0..<T { sim[i * T + t] = distinct[p.imageIndex[i] * UT + p.textIndex[t]] } }

        var imageRanks = [Int](repeating: 0, count: I)
        for i in 0..<I {
            let row = Array(sim[(i * T)..<((i + 1) * T)])
            let order = (0..<T).sorted { a, b in row[a] > row[b] || (row[a] == row[b] && a < b) }
            imageRanks[i] = order.firstIndex { textToImage[$0] == i }!
        }
        var textRanks = [Int](repeating: 0, count: T)
        for t in 0..<T {
            let column = (0..<I).map { sim[$0 * T + t] }
            let order = (0..<I).sorted { a, b in column[a] > column[b] || (column[a] == column[b] && a < b) }
            textRanks[t] = order.firstIndex(of: textToImage[t])!
        }
        return RetrievalRanks(imageToText: imageRanks, textToImage: textRanks)
    }

    private struct Prepared {
        var images: FloatMatrix
        var texts: FloatMatrix
        /// For every image, its captions in ascending order.
        var captions: [[Int]]
        var distinctImages: FloatMatrix
        var imageIndex: [Int]
        var distinctTexts: FloatMatrix
        var textIndex: [Int]
    }

    /// Checks shapes and the caption map; normalises (optionally) and finds the distinct rows.
    private static func prepare(_ images: Tensor, _ texts: Tensor, _ textToImage: [Int], _ normalize: Bool)
        throws -> Prepared {
        var img = try FloatMatrix(images, "images")
        var txt = try FloatMatrix(texts, "texts")
        guard img.cols == txt.cols else {
            throw EvaluationError.invalidInput("image embeddings are \(img.cols)-d but text embeddings are \(txt.cols)-d")
        }
        guard img.rows > 0, txt.rows > 0 else {
            throw EvaluationError.invalidInput("retrieval needs at least one image and one text (got \(img.rows) and \(txt.rows))")
        }
        guard textToImage.count == txt.rows else {
            throw EvaluationError.invalidInput("textToImage has \(textToImage.count) entries for \(txt.rows) texts")
        }
        var captions = [[Int]](repeating: [], count: img.rows)
        for (t, i) in textToImage.enumerated() {
            guard i >= 0 && i < img.rows else {
                throw EvaluationError.invalidInput("text \(t) points to image \(i), outside 0..<\(img.rows)")
            }
            captions[i].append(t)
        }
        if let lonely = captions.firstIndex(where: { $0.isEmpty }) {
            throw EvaluationError.invalidInput("image \(lonely) has no caption (every image needs at least one)")
        }
        if normalize {
            img = img.rowNormalized()
            txt = txt.rowNormalized()
        }
        let (ui, ii) = img.distinctRows()
        let (ut, ti) = txt.distinctRows()
        return Prepared(images: img, texts: txt, captions: captions, distinctImages: ui, imageIndex: ii,
                        distinctTexts: ut, textIndex: ti)
    }
}
