/// min / median / p90 / max / mean of a list of counts.
public struct CountSummary: Equatable, Sendable {
    public var min: Int
    public var median: Double
    public var p90: Int
    public var max: Int
    public var mean: Double

    public init(_ values: [Int]) {
        guard !values.isEmpty else { self.init(min: 0, median: 0, p90: 0, max: 0, mean: 0); return }
        let v = values.sorted()
        let n = v.count
        let median = n % 2 == 1 ? Double(v[n / 2]) : Double(v[n / 2 - 1] + v[n / 2]) / 2
        // Nearest-rank 90th percentile.
        let rank = Swift.max(1, (90 * n + 99) / 100)
        self.init(min: v[0], median: median, p90: v[rank - 1], max: v[n - 1],
                  mean: Double(v.reduce(0, +)) / Double(n))
    }

    public init(min: Int, median: Double, p90: Int, max: Int, mean: Double) {
        self.min = min; self.median = median; self.p90 = p90; self.max = max; self.mean = mean
    }
}

/// Length statistics of a set of captions, the numbers the scenes world is tuned for.
///
/// ```swift
/// let clip = try Tokenizers.clip(vocabPath: vocab)
/// let texts = SceneDataset.generateText(count: 500, seed: 1)
/// let stats = CaptionStatistics(texts) { clip.encode($0).count }
/// stats.denseTokens.median      // ≥ 100
/// stats.denseTruncatedFraction  // share that a 77-token CLIP context cuts
/// ```
public struct CaptionStatistics: Equatable, Sendable {
    public var images: Int
    /// Words (whitespace-separated) per short caption.
    public var shortWords: CountSummary
    /// Tokens per short caption (no start/end tokens).
    public var shortTokens: CountSummary
    /// Words per dense caption.
    public var denseWords: CountSummary
    /// Tokens per dense caption (no start/end tokens).
    public var denseTokens: CountSummary
    /// Share of dense captions with more than 77 tokens.
    public var denseOver77Fraction: Double
    /// Share of dense captions that CLIP's 77-token context truncates (tokens + start + end > 77).
    public var denseTruncatedFraction: Double

    /// `tokenCount` gives the number of tokens of a text without special tokens (for CLIP:
    /// `clip.encode(text).count`).
    public init(shortCaptions: [[String]], denseCaptions: [String], tokenCount: (String) -> Int) {
        precondition(shortCaptions.count == denseCaptions.count, "CaptionStatistics: one list of short captions per dense caption")
        func words(_ s: String) -> Int { s.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).count }
        let allShort = shortCaptions.flatMap { $0 }
        let denseTok = denseCaptions.map(tokenCount)
        images = denseCaptions.count
        shortWords = CountSummary(allShort.map(words))
        shortTokens = CountSummary(allShort.map(tokenCount))
        denseWords = CountSummary(denseCaptions.map(words))
        denseTokens = CountSummary(denseTok)
        let n = Double(Swift.max(denseTok.count, 1))
        denseOver77Fraction = Double(denseTok.filter { $0 > 77 }.count) / n
        denseTruncatedFraction = Double(denseTok.filter { $0 + 2 > 77 }.count) / n
    }

    public init(_ texts: [SceneText], tokenCount: (String) -> Int) {
        self.init(shortCaptions: texts.map(\.shortCaptions), denseCaptions: texts.map(\.denseCaption), tokenCount: tokenCount)
    }

    public init(_ samples: [SceneSample], tokenCount: (String) -> Int) {
        self.init(shortCaptions: samples.map(\.shortCaptions), denseCaptions: samples.map(\.denseCaption), tokenCount: tokenCount)
    }
}
