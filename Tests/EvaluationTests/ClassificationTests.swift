import Foundation
import Testing
import TensorKit
import Evaluation

@Suite struct CaptionRetrievalTests {
    @Test func constructedCase() throws {
        // short: the four unit vectors. long: l0 = s0; l1 close to s0 (nearest short is s0, not s1);
        // l2 = s2; l3 halfway between s2 and s3 (a tie, which the lower index s2 wins).
        let short = Tensor([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], shape: [4, 4])
        let long = Tensor([1, 0, 0, 0, 0.9, 0.1, 0, 0, 0, 0, 1, 0, 0, 0, 0.5, 0.5], shape: [4, 4])
        // short→long: s0 → l0 (1 > .994), s1 → l1 (.11 > 0), s2 → l2 (1 > .707), s3 → l3: 4/4.
        // long→short: l0 → s0 ✓, l1 → s0 ✗, l2 → s2 ✓, l3 → s2 (tie, lower index) ✗: 2/4.
        let cra = try CaptionRetrieval.accuracy(short: short, long: long, chunkSize: 3)
        #expect(cra.shortToLong == 1)
        #expect(cra.longToShort == 0.5)
        #expect(cra.mean == 0.75)
        #expect(cra.count == 4)
    }

    @Test func rejectsMismatchedCounts() {
        #expect(throws: EvaluationError.self) {
            try CaptionRetrieval.accuracy(short: Tensor.zeros([3, 2]), long: Tensor.zeros([4, 2]))
        }
    }
}

@Suite struct PromptTemplateTests {
    @Test func openAITemplates() {
        let t = PromptTemplates.openAIImageNet
        #expect(t.count == 80)
        #expect(Set(t).count == 80)
        #expect(t.allSatisfy { $0.components(separatedBy: "{}").count == 2 })
        #expect(t.first == "a bad photo of a {}.")
        #expect(t.last == "a tattoo of the {}.")
        #expect(t.contains("a {} in a video game."))
        #expect(PromptTemplates.openAIImageNetSelected.count == 7)
        #expect(PromptTemplates.openAIImageNetSelected.allSatisfy { t.contains($0) })
        #expect(PromptTemplates.simple == ["a photo of a {}."])
        #expect(PromptTemplates.fill("a {} in a video game.", with: "Ankle boot") == "a Ankle boot in a video game.")
    }

    @Test func fashionMNIST() {
        #expect(ClassNames.fashionMNIST == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"])
    }
}

@Suite struct ZeroShotTests {
    /// A fake text encoder with fixed, unnormalised outputs; records the prompts it saw.
    final class FakeEncoder: @unchecked Sendable {
        var calls: [[String]] = []
        let table: [String: [Float]] = [
            "a cat.": [3, 0, 0], "the cat!": [0, 4, 0],
            "a dog.": [0, 0, 2], "the dog!": [0, -1, 0],
        ]
        func embed(_ prompts: [String]) throws -> Tensor {
            calls.append(prompts)
            return Tensor(prompts.flatMap { table[$0]! }, shape: [prompts.count, 3])
        }
    }

    @Test func templateAveragingByHand() throws {
        let enc = FakeEncoder()
        let cls = try ZeroShot.classifier(classNames: ["cat", "dog"], templates: ["a {}.", "the {}!"], embedTexts: enc.embed)
        #expect(enc.calls == [["a cat.", "the cat!"], ["a dog.", "the dog!"]])
        // cat: mean of (1,0,0) and (0,1,0), normalised: (1/√2, 1/√2, 0) — not (0.6, 0.8, 0), the
        // normalised mean of the raw vectors. dog: mean of (0,0,1) and (0,−1,0) → (0, −1/√2, 1/√2).
        let h = Float(0.5).squareRoot()
        let expected: [Float] = [h, h, 0, 0, -h, h]
        #expect(cls.shape == [2, 3])
        #expect(zip(cls.toArray(), expected).allSatisfy { abs($0 - $1) < 1e-6 })

        // Images: (1,1,0) → logits (100, −50); (0,0,5) → (0, 70.7); (1,0,0) → (70.7, 0).
        let images = Tensor([1, 1, 0, 0, 0, 5, 1, 0, 0], shape: [3, 3])
        let logits = try ZeroShot.logits(images: images, classifier: cls).toArray()
        let want: [Float] = [100, -50, 0, 100 * h, 100 * h, 0]
        #expect(zip(logits, want).allSatisfy { abs($0 - $1) < 1e-4 })
        #expect(try ZeroShot.predict(images: images, classifier: cls) == [0, 1, 0])

        let m = try ZeroShot.evaluate(images: images, classifier: cls, labels: [0, 1, 1])
        #expect(m.top1 == 2.0 / 3)
        #expect(m.top5 == 1)   // only two classes
        #expect(m.perClassAccuracy == [1, 0.5])
        #expect(m.perClassCount == [1, 2])
        #expect(m.meanPerClassAccuracy == 0.75)
        #expect(m.count == 3)

        // The one-call form gives the same.
        let m2 = try ZeroShot.evaluate(images: images, labels: [0, 1, 1], classNames: ["cat", "dog"],
                                       templates: ["a {}.", "the {}!"], embedTexts: FakeEncoder().embed)
        #expect(m2 == m)
    }

    @Test func topKWithTies() throws {
        // Label 2 ties with class 1 (lower index ranks first): rank 1 → top-1 miss, top-2 hit.
        // Label 0 is the unique maximum. Label 3 is last of four.
        let logits = Tensor([1, 2, 2, 0,
                             5, 1, 1, 1,
                             3, 2, 1, 0], shape: [3, 4])
        let m = try ZeroShot.score(logits: logits, labels: [2, 0, 3], ks: [1, 2, 4])
        let expected: [Double] = [1.0 / 3, 2.0 / 3, 1]
        #expect(m.topK == expected)
        #expect(m.perClassAccuracy == [1, nil, 0, 0])
        #expect(m.meanPerClassAccuracy == 1.0 / 3)
        #expect(m.top5 == nil)
    }

    @Test func rejectsBadInputs() {
        let enc = FakeEncoder()
        #expect(throws: EvaluationError.self) {   // no placeholder
            try ZeroShot.classifier(classNames: ["cat"], templates: ["a cat."], embedTexts: enc.embed)
        }
        #expect(throws: EvaluationError.self) {   // encoder returns the wrong number of rows
            try ZeroShot.classifier(classNames: ["cat"], templates: ["a {}."]) { _ in Tensor.zeros([2, 3]) }
        }
        #expect(throws: EvaluationError.self) {   // label out of range
            try ZeroShot.score(logits: Tensor.zeros([1, 2]), labels: [2])
        }
        #expect(throws: EvaluationError.self) {   // dimension mismatch
            try ZeroShot.logits(images: Tensor.zeros([1, 4]), classifier: Tensor.zeros([2, 3]))
        }
    }
}

@Suite struct LinearProbeTests {
    /// Gaussian blobs around well separated centres.
    static func blobs(classes: Int, perClass: Int, dim: Int, spread: Float, seed: UInt64) -> (Tensor, [Int]) {
        var rng = RNG(seed: seed)
        var centres: [[Float]] = []
        for c in 0..<classes {
            var v = [Float](repeating: 0, count: dim)
            v[c % dim] = c < dim ? 1 : -1
            centres.append(v)
        }
        var x: [Float] = [], y: [Int] = []
        for i in 0..<(classes * perClass) {
            let c = i % classes
            x += centres[c].map { $0 + spread * rng.nextNormal() }
            y.append(c)
        }
        return (Tensor(x, shape: [y.count, dim]), y)
    }

    @Test func separableDataReachesFullAccuracy() throws {
        let (xtr, ytr) = Self.blobs(classes: 4, perClass: 150, dim: 8, spread: 0.1, seed: 1)
        let (xte, yte) = Self.blobs(classes: 4, perClass: 50, dim: 8, spread: 0.1, seed: 2)
        let cfg = LinearProbeConfig(batchSize: 64, epochs: 20, seed: 5)
        let r = try LinearProbe.evaluate(trainFeatures: xtr, trainLabels: ytr, testFeatures: xte, testLabels: yte, config: cfg)
        #expect(r.trainAccuracy == 1)
        #expect(r.testAccuracy == 1)
        #expect(r.classCount == 4 && r.featureCount == 8 && r.trainCount == 600 && r.testCount == 200)
        #expect(r.epochLosses.count == 20)
        #expect(r.epochLosses.last! < r.epochLosses.first!)
        #expect(r.epochLosses.last! < 0.1)
    }

    @Test func defaultSettings() throws {
        // The reference settings (batch 1024, 50 epochs, lr 0.1, momentum 0.9) on 2,000 examples.
        let cfg = LinearProbeConfig()
        #expect(cfg.batchSize == 1024 && cfg.epochs == 50 && cfg.learningRate == 0.1 && cfg.momentum == 0.9 && cfg.weightDecay == 0)
        let (x, y) = Self.blobs(classes: 10, perClass: 200, dim: 16, spread: 0.15, seed: 3)
        let model = try LinearProbe.train(features: x, labels: y)
        #expect(try model.accuracy(x, labels: y) > 0.99)
    }

    @Test func twoStepsByHand() throws {
        // One example x = 1, label 0, two classes, batch 1, no normalisation.
        // Step 1: logits (0, 0), p = (½, ½), grad = (−½, ½) for w and b → w = b = (0.05, −0.05).
        // Step 2: logits (0.1, −0.1), p₀ = σ(0.2), grad = (p₀ − 1, 1 − p₀);
        //         buf = 0.9·(−½) + (p₀ − 1) → w₀ = 0.05 − 0.1·buf.
        let cfg = LinearProbeConfig(batchSize: 1, epochs: 2, normalizeFeatures: false)
        let m = try LinearProbe.train(features: Tensor([1], shape: [1, 1]), labels: [0], classCount: 2, config: cfg)
        let p0 = 1 / (1 + exp(-0.2))
        let buf = 0.9 * -0.5 + (p0 - 1)
        let w0 = 0.05 - 0.1 * buf
        #expect(abs(Double(m.weight[0]) - w0) < 1e-6)
        #expect(abs(Double(m.weight[1]) + w0) < 1e-6)
        #expect(abs(Double(m.bias[0]) - w0) < 1e-6)
        #expect(abs(m.epochLosses[0] - log(2)) < 1e-6)
        #expect(abs(m.epochLosses[1] - -log(p0)) < 1e-6)
    }

    @Test func seededAndDeterministic() throws {
        let (x, y) = Self.blobs(classes: 3, perClass: 40, dim: 5, spread: 0.5, seed: 9)
        let cfg = LinearProbeConfig(batchSize: 16, epochs: 3, seed: 11)
        let a = try LinearProbe.train(features: x, labels: y, config: cfg)
        let b = try LinearProbe.train(features: x, labels: y, config: cfg)
        #expect(a.weight == b.weight && a.bias == b.bias)
        var other = cfg
        other.seed = 12
        let c = try LinearProbe.train(features: x, labels: y, config: other)
        #expect(c.weight != a.weight)
    }

    @Test func rejectsBadInputs() {
        #expect(throws: EvaluationError.self) {
            try LinearProbe.train(features: Tensor.zeros([2, 3]), labels: [0])
        }
        #expect(throws: EvaluationError.self) {
            try LinearProbe.train(features: Tensor.zeros([2, 3]), labels: [0, 3], classCount: 2)
        }
        #expect(throws: EvaluationError.self) {
            try LinearProbe.evaluate(trainFeatures: Tensor.zeros([2, 3]), trainLabels: [0, 1],
                                     testFeatures: Tensor.zeros([1, 4]), testLabels: [0])
        }
    }
}
