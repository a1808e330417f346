import Foundation
import Testing
import Datasets
import Evaluation
import Formats
import Models
import NeuralNet
import Scenes
import TensorKit
import Training

private func tempDir(_ name: String) -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("stage2-\(name)-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// Scenes images held in memory with their first short caption and the dense caption.
private func scenes(_ count: Int, seed: UInt64) -> ImageTextDataset {
    let samples = SceneDataset.generate(count: count, seed: seed).map {
        ImageTextSample(key: $0.key, image: .pixels(name: $0.key, image: $0.image), shortCaptions: [$0.shortCaptions[0]], longCaption: $0.denseCaption)
    }
    return ImageTextDataset(samples: samples, origin: "scenes(\(count), seed \(seed))")
}

/// A real (if simple) text feature: hashed bag of words, so captions of similar scenes get similar vectors.
private func bagOfWords(_ text: String, width: Int) -> [Float] {
    var v = [Float](repeating: 0, count: width)
    for w in text.lowercased().split(whereSeparator: { !$0.isLetter }) {
        var h: UInt64 = 1469598103934665603
        for b in w.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
        v[Int(h % UInt64(width))] += 1
    }
    return v
}

private func featureStore(_ data: ImageTextDataset, width: Int = 48) throws -> FeatureStore {
    let dir = tempDir("features")
    let identity = FeatureEncoderIdentity(model: "bag-of-words", modelHash: "bow\(width)", pooling: "hashed counts", template: "none",
                                          maxLength: 0, dimension: width)
    let texts = CaptionKey.texts(of: data)
    let w = try FeatureStoreWriter(directory: dir, identity: identity, expectedCount: texts.count)
    try w.append(keys: texts.map(\.key), vectors: Tensor(texts.flatMap { bagOfWords($0.text, width: width) }, shape: [texts.count, width]))
    try w.finish()
    return try FeatureStore(directory: dir)
}

private func tinyLearner(_ store: FeatureStore, seed: UInt64 = 0) -> LLM2CLIPLearner {
    var rng = RNG(seed: seed)
    return LLM2CLIPLearner(model: LLM2CLIPModel(LLM2CLIPConfig(eva02: .tiny, llmDim: store.identity.dimension), rng: &rng), features: [store])
}

@Suite struct CLIPObjectiveTests {
    @Test func lossOnHandMadeEmbeddings() {
        // Matching rows: logits 10·I, each direction's CE = log(1 + e^-10).
        let eye = Tensor([1, 0, 0, 1], shape: [2, 2])
        let scale = Tensor([logf(10)], shape: [])
        let matched = CLIPObjective.loss(images: eye, texts: eye, logitScale: scale).item()
        #expect(abs(Double(matched) - log(1 + exp(-10.0))) < 1e-6)
        // Swapped rows: every label sits on the 0 logit, the other on 10: CE = log(1 + e^10).
        let swapped = Tensor([0, 1, 1, 0], shape: [2, 2])
        let bad = CLIPObjective.loss(images: eye, texts: swapped, logitScale: scale).item()
        #expect(abs(Double(bad) - log(1 + exp(10.0))) < 1e-4)
        // Asymmetric 3×3 case computed here in double precision: the two directions differ.
        let img: [[Double]] = [[1, 0, 0], [0.6, 0.8, 0], [0, 0.6, 0.8]]
        let txt: [[Double]] = [[0.8, 0.6, 0], [0, 1, 0], [0, 0, 1]]
        let s = 2.5
        var logits = [[Double]](repeating: [0, 0, 0], count: 3)
        for i in 0..<3 { for j in 0..<3 { logits[i][j] = exp(s) * zip(img[i], txt[j]).map(*).reduce(0, +) } }
        func ce(_ rows: [[Double]]) -> Double {
            rows.enumerated().map { i, r in log(r.map(exp).reduce(0, +)) - r[i] }.reduce(0, +) / Double(rows.count)
        }
        let transposed = (0..<3).map { j in (0..<3).map { i in logits[i][j] } }
        let expected = (ce(logits) + ce(transposed)) / 2
        let got = CLIPObjective.loss(images: Tensor(img.flatMap { $0.map(Float.init) }, shape: [3, 3]),
                                     texts: Tensor(txt.flatMap { $0.map(Float.init) }, shape: [3, 3]),
                                     logitScale: Tensor([Float(s)], shape: [])).item()
        #expect(abs(Double(got) - expected) < 1e-4 * max(1, expected))
    }

    @Test func gradientOfTheLogitScaleAndEmbeddingsMatchesFiniteDifferences() {
        var rng = RNG(seed: 3)
        let img = Tensor.randn([4, 5], rng: &rng).requiringGrad(), txt = Tensor.randn([4, 5], rng: &rng).requiringGrad()
        let scale = Tensor([0.7], shape: []).requiringGrad()
        func f() -> Float { withNoGrad { CLIPObjective.loss(images: l2Normalize(img), texts: l2Normalize(txt), logitScale: scale).item() } }
        CLIPObjective.loss(images: l2Normalize(img), texts: l2Normalize(txt), logitScale: scale).backward()
        for t in [img, txt, scale] {
            let g = t.grad!.toArray()
            for i in 0..<t.count {
                let old = t.fptr[i]
                t.fptr[i] = old + 1e-2
                let up = f()
                t.fptr[i] = old - 1e-2
                let down = f()
                t.fptr[i] = old
                let numeric = (up - down) / 2e-2
                #expect(abs(numeric - g[i]) < 2e-3 + 2e-2 * abs(numeric), "index \(i): analytic \(g[i]) vs numeric \(numeric)")
            }
        }
    }

    @Test func logitScaleIsClampedToZeroAndLn100() {
        for (value, expected) in [(Float(5), logf(100)), (-1, 0), (3, 3), (logf(100), logf(100))] {
            let t = Tensor([value], shape: []).requiringGrad()
            CLIPObjective.clampLogitScale(t)
            #expect(abs(t.item() - expected) < 1e-6)
        }
    }
}

@Suite struct StageTwoOptimizerTests {
    @Test func parameterGroupsFollowTheReference() throws {
        var rng = RNG(seed: 0)
        let model = LLM2CLIPModel(LLM2CLIPConfig(eva02: .tiny, llmDim: 16), rng: &rng)
        let L = EVA02Config.tiny.layers
        let plan = ParameterGroups(named: model.trainableParameters(), visualLayers: L, layerDecay: 0.85, weightDecay: 0.05)
        func check(_ name: String, scale: Float, decay: Float) {
            guard let a = plan.assignment[name] else { Issue.record("no parameter \(name)"); return }
            #expect(abs(a.lrScale - scale) < 1e-6, "\(name): lr scale \(a.lrScale), expected \(scale)")
            #expect(a.weightDecay == decay, "\(name): weight decay \(a.weightDecay), expected \(decay)")
        }
        let d: Float = 0.85
        check("visual.cls_token", scale: powf(d, Float(L + 1)), decay: 0)
        check("visual.pos_embed", scale: powf(d, Float(L + 1)), decay: 0)
        check("visual.patch_embed.proj.weight", scale: powf(d, Float(L + 1)), decay: 0.05)
        check("visual.patch_embed.proj.bias", scale: powf(d, Float(L + 1)), decay: 0)
        check("visual.blocks.0.attn.q_proj.weight", scale: powf(d, Float(L)), decay: 0.05)
        check("visual.blocks.0.attn.q_proj.bias", scale: powf(d, Float(L)), decay: 0)
        check("visual.blocks.1.mlp.ffn_ln.weight", scale: powf(d, Float(L - 1)), decay: 0)
        check("visual.norm.weight", scale: 1, decay: 0)
        check("visual.head.weight", scale: 1, decay: 0.05)
        check("text.text_adaptor.0.fn.0.weight", scale: 1, decay: 0.05)
        check("text.text_adaptor.5.bias", scale: 1, decay: 0)
        check("logit_scale", scale: 1, decay: 0)
        #expect(plan.assignment.count == model.trainableParameters().count)
        #expect(plan.groups.reduce(0) { $0 + $1.params.count } == plan.assignment.count)

        // Hugging Face CLIP ViT names and the baseline's text tower.
        let base = CLIPBaselineModel(CLIPBaselineConfig(clip: .vitTiny, embedDim: 32, text: .textSmall), rng: &rng)
        let p2 = ParameterGroups(named: base.trainableParameters(), visualLayers: 2, layerDecay: 0.5, weightDecay: 0.1)
        #expect(p2.assignment["visual.vision_model.embeddings.patch_embedding.weight"]!.lrScale == 0.125)
        #expect(p2.assignment["visual.vision_model.embeddings.position_embedding.weight"]!.weightDecay == 0)
        #expect(p2.assignment["visual.vision_model.encoder.layers.1.mlp.fc1.weight"]! == (lrScale: 0.5, weightDecay: 0.1))
        #expect(p2.assignment["visual.visual_projection.weight"]!.lrScale == 1)
        #expect(p2.assignment["text_model.embeddings.position_embedding.weight"]!.weightDecay == 0)
        #expect(p2.assignment["text_model.embeddings.token_embedding.weight"]! == (lrScale: 1, weightDecay: 0.1))
    }

    @Test func warmupCosineSchedule() {
        let s = LRSchedule.warmupCosine(base: 1e-3, warmup: 10, total: 110)
        #expect(abs(s.rate(at: 0) - 1e-4) < 1e-9)
        #expect(abs(s.rate(at: 9) - 1e-3) < 1e-9)
        #expect(abs(s.rate(at: 10) - 1e-3) < 1e-9)
        #expect(abs(s.rate(at: 60) - 5e-4) < 1e-8)
        #expect(s.rate(at: 110) < 1e-10)
        #expect(s.rate(at: 500) < 1e-10)
        for k in 11..<110 { #expect(s.rate(at: k) <= s.rate(at: k - 1)) }
    }
}

@Suite(.serialized) struct CLIPTrainerTests {
    @Test func captionChoiceFollowsTheProbability() throws {
        let data = scenes(400, seed: 5)
        let store = try featureStore(data)
        for p in [0.0, 0.5, 1.0] {
            var cfg = CLIPTrainingConfig()
            cfg.longCaptionProbability = p
            let t = try CLIPTrainer(learner: tinyLearner(store), train: data, heldOut: nil, config: cfg, directory: tempDir("coin"))
            let picks = t.captions(for: data.samples, step: 3)
            let longs = Double(picks.filter(\.isLong).count) / Double(picks.count)
            #expect(abs(longs - p) < 0.08, "p \(p): \(longs) long")
            #expect(picks == t.captions(for: data.samples, step: 3))
            for (c, s) in zip(picks, data.samples) {
                #expect(c.isLong ? c.text == s.longCaption : c.text == s.shortCaptions[0])
            }
        }
    }

    @Test func rejectsBadSettingsWithClearErrors() throws {
        let data = scenes(8, seed: 1)
        let store = try featureStore(data)
        var cfg = CLIPTrainingConfig()
        cfg.batchSize = 1
        #expect(throws: TrainingError.self) { try CLIPTrainer(learner: tinyLearner(store), train: data, heldOut: nil, config: cfg, directory: tempDir("bad")) }
        cfg.batchSize = 4
        cfg.longCaptionProbability = 1.5
        #expect(throws: TrainingError.self) { try CLIPTrainer(learner: tinyLearner(store), train: data, heldOut: nil, config: cfg, directory: tempDir("bad")) }
        let missing = LLM2CLIPLearner(model: tinyLearner(store).model, features: [try featureStore(scenes(4, seed: 9))])
        #expect(throws: TrainingError.self) { try missing.encodeCaptions([SampleCaption(key: "nope#long", text: "x", isLong: true)]) }
    }

    @Test func resumedRunEqualsUninterruptedRun() throws {
        let data = scenes(24, seed: 2)
        let store = try featureStore(data)
        var cfg = CLIPTrainingConfig()
        cfg.steps = 6
        cfg.batchSize = 8
        cfg.warmupSteps = 2
        cfg.evalEvery = 0
        cfg.checkpointEvery = 0
        let straightDir = tempDir("straight")
        let straight = try CLIPTrainer(learner: tinyLearner(store), train: data, heldOut: nil, config: cfg, directory: straightDir)
        try straight.run()
        // Interrupted after 3 steps (a checkpoint), then a fresh process-like trainer resumes.
        let dir = tempDir("resumed")
        let first = try CLIPTrainer(learner: tinyLearner(store), train: data, heldOut: nil, config: cfg, directory: dir)
        for _ in 0..<3 { _ = try first.trainStep() }
        try first.saveCheckpoint()
        let second = try CLIPTrainer(learner: tinyLearner(store, seed: 99), train: data, heldOut: nil, config: cfg, directory: dir)
        #expect(second.step == 3)
        try second.run()
        let a = straight.learner.module.stateDict(), b = second.learner.module.stateDict()
        #expect(a.keys.sorted() == b.keys.sorted())
        for (k, t) in a {
            let same = t.toArray() == b[k]!.toArray()
            #expect(same, "\(k) differs after resume")
        }
        // The final model file loads back into the same values.
        let reloaded = try LLM2CLIPModel.load(path: second.modelPath)
        #expect(reloaded.logitScale.item() == (second.learner as! LLM2CLIPLearner).model.logitScale.item())
        // Other settings refuse to resume from this checkpoint.
        var other = cfg
        other.learningRate = 1
        #expect(throws: TrainingError.self) { try CLIPTrainer(learner: tinyLearner(store), train: data, heldOut: nil, config: other, directory: dir) }
    }

    @Test func tinyRunLearnsAndRetrievesFarAboveChance() throws {
        let data = scenes(64, seed: 3)
        let store = try featureStore(data)
        let learner = tinyLearner(store, seed: 1)
        let before = try CLIPTrainer.retrieval(learner: learner, data: data)
        var cfg = CLIPTrainingConfig()
        cfg.steps = 120
        cfg.batchSize = 32
        cfg.learningRate = 2e-3
        cfg.warmupSteps = 10
        cfg.evalEvery = 0
        cfg.checkpointEvery = 0
        let dir = tempDir("learn")
        let trainer = try CLIPTrainer(learner: learner, train: data, heldOut: data, config: cfg, directory: dir)
        var losses: [Double] = []
        var final: [String: RetrievalMetrics]?
        try trainer.run { r in
            if let l = r.loss { losses.append(l) }
            if let m = r.retrieval { final = m }
        }
        let early = losses.prefix(10).reduce(0, +) / 10, late = losses.suffix(10).reduce(0, +) / 10
        #expect(late < early - 0.5, "loss \(early) → \(late)")
        let long = try #require(final?["long"])
        // Chance R@5 over 64 images is 5/64 ≈ 7.8%.
        let r5 = (long.recall(.imageToText, at: 5)! + long.recall(.textToImage, at: 5)!) / 2
        let r5Before = (before["long"]!.recall(.imageToText, at: 5)! + before["long"]!.recall(.textToImage, at: 5)!) / 2
        #expect(r5 > 0.3, "long-caption R@5 \(r5) (before training \(r5Before))")
        let lines = try String(contentsOfFile: (dir as NSString).appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == cfg.steps + 1)
    }

    @Test func baselineSavesAndLoads() throws {
        var rng = RNG(seed: 4)
        let m = CLIPBaselineModel(CLIPBaselineConfig(eva02: .tiny), rng: &rng)
        let path = (tempDir("baseline") as NSString).appendingPathComponent("m.safetensors")
        try m.save(to: path)
        let back = try CLIPBaselineModel.load(path: path)
        let ids = [[49406, 320, 1746, 49407, 0, 0], [49406, 320, 49407, 0, 0, 0]]
        #expect(withNoGrad { m.encodeText(ids: ids).toArray() } == withNoGrad { back.encodeText(ids: ids).toArray() })
        // Padding after the end token does not change the embedding (columns are trimmed, attention is causal).
        let short = withNoGrad { m.encodeText(ids: [[49406, 320, 49407]]).toArray() }
        let padded = withNoGrad { m.encodeText(ids: [[49406, 320, 49407, 0, 0, 0, 0]]).toArray() }
        #expect(zip(short, padded).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(throws: ModelError.self) { try CLIPBaselineModel.load(path: try { () -> String in
            let p = (tempDir("notbaseline") as NSString).appendingPathComponent("x.safetensors")
            try writeSafetensors(["w": Tensor([1], shape: [1])], to: p)
            return p
        }()) }
    }
}

/// The optional input centring of the adapter (`text.text_adaptor.feature_mean`).
@Suite struct FeatureCentringTests {
    @Test func centredAdapterEqualsThePlainAdapterOnShiftedFeaturesAndRoundTrips() throws {
        let data = scenes(12, seed: 21)
        let store = try featureStore(data)
        var config = LLM2CLIPConfig(eva02: .tiny, llmDim: store.identity.dimension)
        config.adapterCentersInput = true
        var rng = RNG(seed: 3)
        let learner = LLM2CLIPLearner(model: LLM2CLIPModel(config, rng: &rng), features: [store])
        try learner.centreFeatures(on: store)
        // The centre is the mean of every stored vector.
        let all = try store.vectors(for: store.keys).toArray(), d = store.identity.dimension
        let mean = (0..<d).map { j in stride(from: j, to: all.count, by: d).map { all[$0] }.reduce(0, +) / Float(store.count) }
        let centre = try #require(learner.model.adaptor.featureMean)
        #expect(zip(centre.toArray(), mean).allSatisfy { abs($0 - $1) < 1e-5 })
        // It is a fixed statistic: not among the parameters the optimiser trains.
        #expect(!learner.module.trainableParameters().contains { $0.0 == "text.text_adaptor.feature_mean" })
        #expect(learner.module.namedParameters().contains { $0.0 == "text.text_adaptor.feature_mean" })

        // Same weights without centring, fed features minus the mean, give the same embeddings.
        var plainConfig = config
        plainConfig.adapterCentersInput = nil
        var rng2 = RNG(seed: 3)
        let plain = LLM2CLIPModel(plainConfig, rng: &rng2)
        let keys = Array(store.keys.prefix(5))
        let x = try store.vectors(for: keys)
        let shifted = Tensor(x.toArray().enumerated().map { $0.1 - mean[$0.0 % d] }, shape: x.shape)
        let a = withNoGrad { learner.model.encodeText(x).toArray() }, b = withNoGrad { plain.encodeText(shifted).toArray() }
        #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-5 })
        // Centring changes the result (the mean is far from zero for counts of words).
        let c = withNoGrad { plain.encodeText(x).toArray() }
        #expect(zip(a, c).contains { abs($0 - $1) > 1e-3 })

        // Saved and loaded (config in the metadata, the centre as a tensor) it embeds the same.
        let path = (tempDir("centred") as NSString).appendingPathComponent("m.safetensors")
        try learner.save(to: path, metadata: [:])
        let back = try LLM2CLIPModel.load(path: path)
        #expect(back.config.adapterCentersInput == true)
        #expect(withNoGrad { back.encodeText(x).toArray() } == a)

        // A model without centring cannot be centred.
        let notCentring = tinyLearner(store)
        #expect(throws: TrainingError.self) { try notCentring.centreFeatures(on: store) }
    }
}
