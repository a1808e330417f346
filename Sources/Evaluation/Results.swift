import Foundation

/// Everything measured for one model, keyed by benchmark name (e.g. `"flickr30k"`,
/// `"fashion-mnist"`). Serialises to JSON with sorted keys, so the same results give the same bytes.
///
/// ```swift
/// var r = EvaluationResult(model: "EVA02 + SmolLM2-CC")
/// r.retrieval["urban1k"] = try Retrieval.evaluate(images: img, texts: txt, textToImage: Retrieval.oneToOne(1000))
/// try r.jsonData().write(to: url)
/// ```
public struct EvaluationResult: Codable, Sendable, Equatable {
    public var model: String
    public var retrieval: [String: RetrievalMetrics]
    public var zeroShot: [String: ZeroShotMetrics]
    public var linearProbe: [String: LinearProbeResult]
    public var captionRetrieval: [String: CaptionRetrievalAccuracy]
    /// Any other number worth reporting (e.g. `"final-loss"`), as given.
    public var scalars: [String: Double]

    public init(model: String, retrieval: [String: RetrievalMetrics] = [:], zeroShot: [String: ZeroShotMetrics] = [:],
                linearProbe: [String: LinearProbeResult] = [:], captionRetrieval: [String: CaptionRetrievalAccuracy] = [:],
                scalars: [String: Double] = [:]) {
        self.model = model
        self.retrieval = retrieval
        self.zeroShot = zeroShot
        self.linearProbe = linearProbe
        self.captionRetrieval = captionRetrieval
        self.scalars = scalars
    }

    /// The value of one metric, or nil when it was not measured. Fractions stay fractions (0…1).
    public func value(_ metric: Metric) -> Double? {
        switch metric {
        case .recall(let b, let d, let k): return retrieval[b]?.recall(d, at: k)
        case .meanRank(let b, let d): return retrieval[b]?.meanRank(d)
        case .medianRank(let b, let d): return retrieval[b]?.medianRank(d)
        case .zeroShot(let b, let k): return zeroShot[b]?.accuracy(at: k)
        case .zeroShotMeanPerClass(let b): return zeroShot[b]?.meanPerClassAccuracy
        case .linearProbeTest(let b): return linearProbe[b]?.testAccuracy
        case .linearProbeTrain(let b): return linearProbe[b]?.trainAccuracy
        case .captionRetrievalShortToLong(let b): return captionRetrieval[b]?.shortToLong
        case .captionRetrievalLongToShort(let b): return captionRetrieval[b]?.longToShort
        case .captionRetrievalMean(let b): return captionRetrieval[b]?.mean
        case .scalar(let name): return scalars[name]
        }
    }

    /// Pretty-printed JSON with sorted keys.
    public func jsonData() throws -> Data { try reportEncoder().encode(self) }

    /// Reads what ``jsonData()`` wrote.
    public static func decode(from data: Data) throws -> EvaluationResult {
        try reportDecoder().decode(EvaluationResult.self, from: data)
    }
}

/// One number in an ``EvaluationResult``, named for table columns.
public enum Metric: Hashable, Sendable {
    /// R@k of a retrieval benchmark.
    case recall(String, RetrievalDirection, k: Int)
    case meanRank(String, RetrievalDirection)
    case medianRank(String, RetrievalDirection)
    /// Zero-shot top-k accuracy.
    case zeroShot(String, k: Int)
    case zeroShotMeanPerClass(String)
    case linearProbeTest(String)
    case linearProbeTrain(String)
    case captionRetrievalShortToLong(String)
    case captionRetrievalLongToShort(String)
    case captionRetrievalMean(String)
    /// An entry of ``EvaluationResult/scalars``.
    case scalar(String)

    /// True for accuracies and recalls (shown ×100 in percentage tables); false for ranks and scalars.
    public var isFraction: Bool {
        switch self {
        case .meanRank, .medianRank, .scalar: return false
        default: return true
        }
    }

    /// True when a smaller value is better (ranks).
    public var lowerIsBetter: Bool {
        switch self {
        case .meanRank, .medianRank: return true
        default: return false
        }
    }
}

/// A results table: rows are models, columns are metrics, as in the paper's tables. Renders as
/// Markdown and round-trips through JSON.
///
/// ```swift
/// let t = MetricsTable.retrieval(results, benchmarks: ["flickr30k", "coco", "urban1k"], k: 1)
/// print(t.markdown())
/// ```
public struct MetricsTable: Codable, Sendable, Equatable {
    public struct Column: Codable, Sendable, Equatable {
        public var title: String
        /// Marks the column whose smallest value is best (for ``MetricsTable/highlightBest``).
        public var lowerIsBetter: Bool
        public init(_ title: String, lowerIsBetter: Bool = false) {
            self.title = title
            self.lowerIsBetter = lowerIsBetter
        }
    }

    public struct Row: Codable, Sendable, Equatable {
        public var model: String
        /// One per column; nil renders as `—`.
        public var values: [Double?]
        public init(model: String, values: [Double?]) {
            self.model = model
            self.values = values
        }
    }

    public var title: String?
    /// Header of the first column.
    public var rowHeader: String
    public var columns: [Column]
    public var rows: [Row]
    /// Digits after the decimal point in Markdown.
    public var decimals: Int
    /// Bold the best value of each column in Markdown.
    public var highlightBest: Bool

    public init(title: String? = nil, rowHeader: String = "model", columns: [Column], rows: [Row] = [],
                decimals: Int = 1, highlightBest: Bool = false) {
        self.title = title
        self.rowHeader = rowHeader
        self.columns = columns
        self.rows = rows
        self.decimals = decimals
        self.highlightBest = highlightBest
    }

    /// A table of chosen metrics for several models. Fractions are shown as percentages
    /// (×100) when `percent` is true; `averageTitle` appends a column with the mean of each row
    /// (over the metric columns, only when all are present), like the paper's "avg".
    public init(results: [EvaluationResult], columns: [(title: String, metric: Metric)], title: String? = nil,
                percent: Bool = true, averageTitle: String? = nil, decimals: Int = 1, highlightBest: Bool = false) {
        var cols = columns.map { Column($0.title, lowerIsBetter: $0.metric.lowerIsBetter) }
        if let a = averageTitle { cols.append(Column(a)) }
        let rows = results.map { r -> Row in
            var values: [Double?] = columns.map { c in
                r.value(c.metric).map { percent && c.metric.isFraction ? $0 * 100 : $0 }
            }
            if averageTitle != nil {
                let present = values.compactMap { $0 }
                values.append(present.count == values.count && !present.isEmpty
                              ? present.reduce(0, +) / Double(present.count) : nil)
            }
            return Row(model: r.model, values: values)
        }
        self.init(title: title, columns: cols, rows: rows, decimals: decimals, highlightBest: highlightBest)
    }

    /// The paper's retrieval table: for each benchmark an `I→T` and a `T→I` R@k column (percent),
    /// plus the average of all of them.
    public static func retrieval(_ results: [EvaluationResult], benchmarks: [String], k: Int = 1,
                                 title: String? = nil, average: Bool = true) -> MetricsTable {
        let columns = benchmarks.flatMap { b in
            RetrievalDirection.allCases.map { d in (title: "\(b) \(d.shortLabel) R@\(k)", metric: Metric.recall(b, d, k: k)) }
        }
        return MetricsTable(results: results, columns: columns, title: title,
                            averageTitle: average ? "avg" : nil, highlightBest: true)
    }

    /// Appends a row (values in column order).
    public mutating func addRow(_ model: String, _ values: [Double?]) {
        rows.append(Row(model: model, values: values))
    }

    /// The value in a row and column, looked up by model name and column title.
    public func value(model: String, column: String) -> Double? {
        guard let r = rows.first(where: { $0.model == model }),
              let c = columns.firstIndex(where: { $0.title == column }), c < r.values.count else { return nil }
        return r.values[c]
    }

    /// A GitHub-flavoured Markdown table (numbers right-aligned), preceded by `**title**` if set.
    public func markdown() -> String {
        func cell(_ s: String) -> String {
            s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "|", with: "\\|")
                .replacingOccurrences(of: "\n", with: " ")
        }
        var best: [Double?] = []
        for (j, c) in columns.enumerated() {
            let vals = rows.compactMap { j < $0.values.count ? $0.values[j] : nil }.filter { $0.isFinite }
            best.append(c.lowerIsBetter ? vals.min() : vals.max())
        }
        var lines: [String] = []
        if let t = title { lines.append("**\(cell(t))**"); lines.append("") }
        lines.append("| " + ([cell(rowHeader)] + columns.map { cell($0.title) }).joined(separator: " | ") + " |")
        lines.append("|---|" + columns.map { _ in "---:|" }.joined())
        for r in rows {
            var cells = [cell(r.model)]
            for j in 0..<columns.count {
                guard j < r.values.count, let v = r.values[j] else { cells.append("—"); continue }
                let s = formatFixed(v, decimals: decimals)
                let isBest = highlightBest && rows.count > 1 && best[j].map { formatFixed($0, decimals: decimals) == s } == true
                cells.append(isBest ? "**\(s)**" : s)
            }
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Pretty-printed JSON with sorted keys (missing values are `null`).
    public func jsonData() throws -> Data { try reportEncoder().encode(self) }

    /// Reads what ``jsonData()`` wrote.
    public static func decode(from data: Data) throws -> MetricsTable {
        try reportDecoder().decode(MetricsTable.self, from: data)
    }
}

func reportEncoder() -> JSONEncoder {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    // Infinite or undefined numbers (e.g. a diverged loss) are written as strings instead of failing.
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return e
}

func reportDecoder() -> JSONDecoder {
    let d = JSONDecoder()
    d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return d
}

/// `value` with exactly `decimals` digits after the point, "-0.0" shown as "0.0"; non-finite as
/// "nan", "inf", "-inf". Locale-independent.
func formatFixed(_ value: Double, decimals: Int) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value > 0 ? "inf" : "-inf" }
    var s = String(format: "%.\(max(0, decimals))f", value)
    if s.hasPrefix("-"), s.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) { s.removeFirst() }
    return s
}
