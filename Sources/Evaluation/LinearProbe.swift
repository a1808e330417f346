#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorKit

/// Settings of the linear probe. The defaults are the reference's: SGD with momentum 0.9, no
/// weight decay, learning rate 0.1, batch 1024, 50 epochs.
public struct LinearProbeConfig: Codable, Sendable, Equatable {
    public var learningRate: Float
    public var momentum: Float
    /// L2 penalty added to the gradient of every parameter (weights and biases), as PyTorch's SGD does.
    public var weightDecay: Float
    public var batchSize: Int
    public var epochs: Int
    /// Seeds the shuffling of the training set (each epoch sees a new permutation).
    public var seed: UInt64
    /// L2-normalise the features first (train and test alike), as CLIP features are used.
    public var normalizeFeatures: Bool

    public init(learningRate: Float = 0.1, momentum: Float = 0.9, weightDecay: Float = 0, batchSize: Int = 1024,
                epochs: Int = 50, seed: UInt64 = 0, normalizeFeatures: Bool = true) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.batchSize = batchSize
        self.epochs = epochs
        self.seed = seed
        self.normalizeFeatures = normalizeFeatures
    }
}

/// A trained softmax-regression classifier on frozen features: `logits = x · weight + bias`.
public struct LinearClassifier: Sendable {
    /// `[D, C]`, row-major.
    public var weight: [Float]
    /// `[C]`.
    public var bias: [Float]
    public var featureCount: Int
    public var classCount: Int
    /// Whether inputs are L2-normalised before the product (copied from the config).
    public var normalizeFeatures: Bool
    /// Mean training cross-entropy of every epoch.
    public var epochLosses: [Double]

    /// Logits `[N, C]` of features `[N, D]`.
    public func logits(_ features: Tensor) throws -> Tensor {
        var x = try FloatMatrix(features, "features")
        guard x.cols == featureCount else {
            throw EvaluationError.invalidInput("features are \(x.cols)-d, the probe was trained on \(featureCount)-d")
        }
        if normalizeFeatures { x = x.rowNormalized() }
        return LinearProbe.affine(x.tensor, weight: weight, bias: bias, d: featureCount, c: classCount)
    }

    /// Predicted class of every row (ties: lower class index).
    public func predict(_ features: Tensor) throws -> [Int] {
        let l = try logits(features).toArray()
        return (0..<(l.count / classCount)).map { i in
            var best = 0
            for j in 1..<classCount where l[i * classCount + j] > l[i * classCount + best] { best = j }
            return best
        }
    }

    /// Top-1 accuracy (0…1) on labelled features.
    public func accuracy(_ features: Tensor, labels: [Int]) throws -> Double {
        let p = try predict(features)
        guard p.count == labels.count else {
            throw EvaluationError.invalidInput("\(labels.count) labels for \(p.count) examples")
        }
        if p.isEmpty { return 0 }
        return Double(zip(p, labels).filter { $0 == $1 }.count) / Double(p.count)
    }
}

/// Linear-probe result: top-1 accuracies as fractions (0…1).
public struct LinearProbeResult: Codable, Sendable, Equatable {
    public var trainAccuracy: Double
    public var testAccuracy: Double
    /// Mean training cross-entropy of every epoch.
    public var epochLosses: [Double]
    public var featureCount: Int
    public var classCount: Int
    public var trainCount: Int
    public var testCount: Int
    public var config: LinearProbeConfig

    public init(trainAccuracy: Double, testAccuracy: Double, epochLosses: [Double], featureCount: Int,
                classCount: Int, trainCount: Int, testCount: Int, config: LinearProbeConfig) {
        self.trainAccuracy = trainAccuracy
        self.testAccuracy = testAccuracy
        self.epochLosses = epochLosses
        self.featureCount = featureCount
        self.classCount = classCount
        self.trainCount = trainCount
        self.testCount = testCount
        self.config = config
    }
}

/// Logistic regression (softmax regression) on frozen features, trained with mini-batch SGD.
///
/// Weights and biases start at zero; each epoch visits the training set in a fresh seeded
/// permutation in batches of `batchSize` (the last one smaller); the loss is the mean
/// cross-entropy of the batch; the update is PyTorch's SGD (`buf = momentum·buf + grad`,
/// `p -= lr·buf`). Deterministic for a given seed.
///
/// ```swift
/// let r = try LinearProbe.evaluate(trainFeatures: xtr, trainLabels: ytr, testFeatures: xte, testLabels: yte)
/// print(r.testAccuracy)
/// ```
public enum LinearProbe {
    /// Trains a classifier. `classCount` defaults to `max(label) + 1`.
    public static func train(features: Tensor, labels: [Int], classCount: Int? = nil,
                             config: LinearProbeConfig = LinearProbeConfig()) throws -> LinearClassifier {
        var x = try FloatMatrix(features, "training features")
        let n = x.rows, d = x.cols
        guard labels.count == n, n > 0 else {
            throw EvaluationError.invalidInput("\(labels.count) labels for \(n) training examples (need at least one)")
        }
        let c = classCount ?? ((labels.max() ?? 0) + 1)
        if let bad = labels.first(where: { $0 < 0 || $0 >= c }) {
            throw EvaluationError.invalidInput("label \(bad) outside 0..<\(c)")
        }
        guard config.batchSize > 0, config.epochs >= 0 else {
            throw EvaluationError.invalidInput("batch size must be positive and epochs non-negative")
        }
        if config.normalizeFeatures { x = x.rowNormalized() }

        var w = [Float](repeating: 0, count: d * c), b = [Float](repeating: 0, count: c)
        var vw = w, vb = b
        var rng = RNG(seed: config.seed)
        var order = Array(0..<n)
        var losses: [Double] = []
        let lr = config.learningRate, mu = config.momentum, wd = config.weightDecay

        for _ in 0..<config.epochs {
            for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(i + 1)) }
            var epochLoss = 0.0
            var start = 0
            while start < n {
                let end = min(start + config.batchSize, n)
                let bsz = end - start
                var xb = [Float](repeating: 0, count: bsz * d)
                for r in 0..<bsz {
                    let src = order[start + r] * d
                    for k in 0..<d { xb[r * d + k] = x.data[src + k] }
                }
                let xt = Tensor(xb, shape: [bsz, d])
                // Softmax probabilities minus one-hot targets, over the batch size: dLoss/dLogits.
                var g = affine(xt, weight: w, bias: b, d: d, c: c).toArray()
                for r in 0..<bsz {
                    let y = labels[order[start + r]]
                    var m = -Float.infinity
                    for j in 0..<c { m = max(m, g[r * c + j]) }
                    var sum: Float = 0
                    for j in 0..<c { let e = expf(g[r * c + j] - m); g[r * c + j] = e; sum += e }
                    epochLoss -= Double(logf(max(g[r * c + y] / sum, Float.leastNormalMagnitude)))
                    for j in 0..<c { g[r * c + j] = (g[r * c + j] / sum - (j == y ? 1 : 0)) / Float(bsz) }
                }
                let gw = matmul(xt.transposed(), Tensor(g, shape: [bsz, c])).toArray()
                for j in 0..<(d * c) {
                    vw[j] = mu * vw[j] + gw[j] + wd * w[j]
                    w[j] -= lr * vw[j]
                }
                for j in 0..<c {
                    var gb: Float = 0
                    for r in 0..<bsz { gb += g[r * c + j] }
                    vb[j] = mu * vb[j] + gb + wd * b[j]
                    b[j] -= lr * vb[j]
                }
                start = end
            }
            losses.append(epochLoss / Double(n))
        }
        return LinearClassifier(weight: w, bias: b, featureCount: d, classCount: c,
                                normalizeFeatures: config.normalizeFeatures, epochLosses: losses)
    }

    /// Trains on the training set and reports top-1 accuracy on both sets.
    public static func evaluate(trainFeatures: Tensor, trainLabels: [Int], testFeatures: Tensor, testLabels: [Int],
                                classCount: Int? = nil, config: LinearProbeConfig = LinearProbeConfig()) throws -> LinearProbeResult {
        let c = classCount ?? (max(trainLabels.max() ?? 0, testLabels.max() ?? 0) + 1)
        let model = try train(features: trainFeatures, labels: trainLabels, classCount: c, config: config)
        if let bad = testLabels.first(where: { $0 < 0 || $0 >= c }) {
            throw EvaluationError.invalidInput("test label \(bad) outside 0..<\(c)")
        }
        return LinearProbeResult(
            trainAccuracy: try model.accuracy(trainFeatures, labels: trainLabels),
            testAccuracy: try model.accuracy(testFeatures, labels: testLabels),
            epochLosses: model.epochLosses, featureCount: model.featureCount, classCount: c,
            trainCount: trainLabels.count, testCount: testLabels.count, config: config)
    }

    /// `x · W + b` for `x` `[N, D]`, `W` `[D, C]` row-major.
    static func affine(_ x: Tensor, weight: [Float], bias: [Float], d: Int, c: Int) -> Tensor {
        let out = matmul(x, Tensor(weight, shape: [d, c]))
        let p = out.fptr
        for r in 0..<x.shape[0] { for j in 0..<c { p[r * c + j] += bias[j] } }
        return out
    }
}
