import TensorKit

/// Caption-retrieval accuracy (CRA) of a text encoder, the stage-1 metric: over (short, long)
/// caption pairs of the same images, how often a caption's partner is its nearest neighbour.
/// Fractions in 0…1.
public struct CaptionRetrievalAccuracy: Codable, Sendable, Equatable {
    /// Fraction of short captions whose own long caption is the nearest of all long captions.
    public var shortToLong: Double
    /// Fraction of long captions whose own short caption is the nearest of all short captions.
    public var longToShort: Double
    /// Mean of the two directions.
    public var mean: Double
    /// Number of pairs.
    public var count: Int

    public init(shortToLong: Double, longToShort: Double, count: Int) {
        self.shortToLong = shortToLong
        self.longToShort = longToShort
        self.mean = (shortToLong + longToShort) / 2
        self.count = count
    }
}

/// Caption-retrieval accuracy.
///
/// ```swift
/// let cra = try CaptionRetrieval.accuracy(short: encoder(shorts), long: encoder(longs))
/// print(cra.shortToLong, cra.longToShort, cra.mean)
/// ```
public enum CaptionRetrieval {
    /// CRA of `short` `[N, D]` against `long` `[N, D]` (row i of both describe the same image),
    /// by cosine similarity (rows are normalised unless `normalize` is false). A caption counts
    /// only when its partner ranks first; equal scores are ordered by lower index first, as in
    /// ``Retrieval``. Computed chunk by chunk (memory O(chunkSize × N)).
    public static func accuracy(short: Tensor, long: Tensor, normalize: Bool = true,
                                chunkSize: Int = 512) throws -> CaptionRetrievalAccuracy {
        guard short.rank == 2, long.rank == 2, short.shape[0] == long.shape[0] else {
            throw EvaluationError.invalidInput("short \(short.shape) and long \(long.shape) captions must be [N, D] matrices with the same N")
        }
        let n = short.shape[0]
        let r = try Retrieval.ranks(images: short, texts: long, textToImage: Retrieval.oneToOne(n),
                                    normalize: normalize, chunkSize: chunkSize)
        return CaptionRetrievalAccuracy(shortToLong: r.recall(.imageToText, at: 1),
                                        longToShort: r.recall(.textToImage, at: 1), count: n)
    }
}
