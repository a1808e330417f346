import TensorKit

/// Zero-shot classification scores. Accuracies are fractions (0…1).
public struct ZeroShotMetrics: Codable, Sendable, Equatable {
    /// The cut-offs evaluated, e.g. [1, 5].
    public var ks: [Int]
    /// Top-k accuracy, one per entry of `ks`.
    public var topK: [Double]
    /// Top-1 accuracy per class (nil for a class with no examples).
    public var perClassAccuracy: [Double?]
    /// Number of examples per class.
    public var perClassCount: [Int]
    /// Mean of the per-class top-1 accuracies over classes with examples ("balanced accuracy").
    public var meanPerClassAccuracy: Double
    /// Number of examples.
    public var count: Int

    public init(ks: [Int], topK: [Double], perClassAccuracy: [Double?], perClassCount: [Int],
                meanPerClassAccuracy: Double, count: Int) {
        self.ks = ks
        self.topK = topK
        self.perClassAccuracy = perClassAccuracy
        self.perClassCount = perClassCount
        self.meanPerClassAccuracy = meanPerClassAccuracy
        self.count = count
    }

    /// Top-k accuracy, or nil when `k` was not evaluated.
    public func accuracy(at k: Int) -> Double? {
        ks.firstIndex(of: k).map { topK[$0] }
    }

    /// Top-1 accuracy (nil when 1 is not among `ks`).
    public var top1: Double? { accuracy(at: 1) }
    /// Top-5 accuracy (nil when 5 is not among `ks`).
    public var top5: Double? { accuracy(at: 5) }
}

/// Zero-shot classification with any text encoder.
///
/// The class embedding of a class is the normalised mean, over prompt templates, of the normalised
/// text embeddings of the filled-in templates; logits are `100 · image · classesᵀ` with normalised
/// images. The text encoder is a closure, so the CLIP text tower and an LLM plus adapter plug in
/// the same way.
///
/// ```swift
/// let classes = try ZeroShot.classifier(classNames: ClassNames.fashionMNIST,
///                                       templates: PromptTemplates.openAIImageNet) { try model.encodeTexts($0) }
/// let m = try ZeroShot.evaluate(images: imageEmbeddings, classifier: classes, labels: labels)
/// print(m.top1!, m.top5!)
/// ```
public enum ZeroShot {
    /// The logit scale used at inference.
    public static let logitScale: Float = 100

    /// Class embeddings `[C, D]`, each of unit length: for each class, `embedTexts` is called once
    /// with every template filled in with the class name (so it must return `[templates.count, D]`);
    /// the rows are normalised, averaged and the mean normalised again.
    public static func classifier(classNames: [String], templates: [String] = PromptTemplates.openAIImageNet,
                                  embedTexts: ([String]) throws -> Tensor) throws -> Tensor {
        guard !classNames.isEmpty, !templates.isEmpty else {
            throw EvaluationError.invalidInput("zero-shot needs at least one class name and one template")
        }
        if let bad = templates.first(where: { !$0.contains(PromptTemplates.placeholder) }) {
            throw EvaluationError.invalidInput("template \"\(bad)\" has no {} for the class name")
        }
        var dim = -1
        var rows: [Float] = []
        for name in classNames {
            let prompts = templates.map { PromptTemplates.fill($0, with: name) }
            let e = try FloatMatrix(try embedTexts(prompts), "text embeddings of \"\(name)\"")
            guard e.rows == templates.count else {
                throw EvaluationError.invalidInput("embedTexts returned \(e.rows) rows for \(templates.count) prompts of \"\(name)\"")
            }
            if dim < 0 { dim = e.cols }
            guard e.cols == dim else {
                throw EvaluationError.invalidInput("embedTexts returned \(e.cols)-d rows for \"\(name)\", earlier classes were \(dim)-d")
            }
            let n = e.rowNormalized()
            var mean = [Double](repeating: 0, count: dim)
            for r in 0..<n.rows { for c in 0..<dim { mean[c] += Double(n.data[r * dim + c]) } }
            let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
            rows += mean.map { norm > 0 ? Float($0 / norm) : 0 }
        }
        return Tensor(rows, shape: [classNames.count, dim])
    }

    /// `scale · normalize(images) · classifierᵀ`, `[N, C]`. `classifier` is used as given (rows
    /// from ``classifier(classNames:templates:embedTexts:)`` are already unit length).
    public static func logits(images: Tensor, classifier: Tensor, scale: Float = logitScale,
                              normalize: Bool = true) throws -> Tensor {
        var img = try FloatMatrix(images, "image embeddings")
        let cls = try FloatMatrix(classifier, "classifier")
        guard img.cols == cls.cols else {
            throw EvaluationError.invalidInput("image embeddings are \(img.cols)-d but class embeddings are \(cls.cols)-d")
        }
        if normalize { img = img.rowNormalized() }
        let raw = matmul(img.tensor, cls.tensor.transposed()).toArray()
        return Tensor(raw.map { $0 * scale }, shape: [img.rows, cls.rows])
    }

    /// Top-1 predicted class of every image (ties: lower class index).
    public static func predict(images: Tensor, classifier: Tensor, normalize: Bool = true) throws -> [Int] {
        let l = try logits(images: images, classifier: classifier, normalize: normalize)
        let c = l.shape[1]
        let v = l.toArray()
        return (0..<l.shape[0]).map { i in
            var best = 0
            for j in 1..<max(c, 1) where v[i * c + j] > v[i * c + best] { best = j }
            return best
        }
    }

    /// Top-k and per-class accuracy of `images` `[N, D]` with true `labels` (N entries in 0..<C).
    /// A label counts as within the top k when fewer than k classes rank before it (higher logit,
    /// or equal logit and lower class index).
    public static func evaluate(images: Tensor, classifier: Tensor, labels: [Int], ks: [Int] = [1, 5],
                                normalize: Bool = true) throws -> ZeroShotMetrics {
        let l = try logits(images: images, classifier: classifier, normalize: normalize)
        return try score(logits: l, labels: labels, ks: ks)
    }

    /// Builds the classifier from `classNames` and `templates` with `embedTexts`, then evaluates.
    public static func evaluate(images: Tensor, labels: [Int], classNames: [String],
                                templates: [String] = PromptTemplates.openAIImageNet, ks: [Int] = [1, 5],
                                embedTexts: ([String]) throws -> Tensor) throws -> ZeroShotMetrics {
        let cls = try classifier(classNames: classNames, templates: templates, embedTexts: embedTexts)
        return try evaluate(images: images, classifier: cls, labels: labels, ks: ks)
    }

    /// Top-k and per-class accuracy from any logits `[N, C]` (also used by the linear probe).
    public static func score(logits: Tensor, labels: [Int], ks: [Int] = [1, 5]) throws -> ZeroShotMetrics {
        let m = try FloatMatrix(logits, "logits")
        let n = m.rows, c = m.cols
        guard labels.count == n else {
            throw EvaluationError.invalidInput("\(labels.count) labels for \(n) examples")
        }
        if let bad = labels.first(where: { $0 < 0 || $0 >= c }) {
            throw EvaluationError.invalidInput("label \(bad) outside 0..<\(c)")
        }
        var hits = [Int](repeating: 0, count: ks.count)
        var classHits = [Int](repeating: 0, count: c), classCount = [Int](repeating: 0, count: c)
        m.data.withUnsafeBufferPointer { p in
            for i in 0..<n {
                let y = labels[i]
                let rank = rankOf(y, in: p.baseAddress! + i * c, count: c)
                for (j, k) in ks.enumerated() where rank < k { hits[j] += 1 }
                classCount[y] += 1
                if rank == 0 { classHits[y] += 1 }
            }
        }
        let perClass: [Double?] = (0..<c).map { classCount[$0] > 0 ? Double(classHits[$0]) / Double(classCount[$0]) : nil }
        let present = perClass.compactMap { $0 }
        return ZeroShotMetrics(
            ks: ks, topK: hits.map { n > 0 ? Double($0) / Double(n) : 0 },
            perClassAccuracy: perClass, perClassCount: classCount,
            meanPerClassAccuracy: present.isEmpty ? 0 : present.reduce(0, +) / Double(present.count), count: n)
    }
}
