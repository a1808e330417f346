import Foundation
import Testing
import Datasets
import Formats
import Models
import NeuralNet
import TensorKit
import Tokenizers
import Training

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A tiny random Llama sized to the committed Llama-3-style test tokenizer.
private func tinyEncoder(seed: UInt64 = 1, layers: Int = 2) throws -> LLM2VecEncoder {
    let tok = try Tokenizers.load(tokenizerJSON: root.appendingPathComponent("Tests/Goldens/tokenizers/llama3-style/tokenizer.json").path)
    var c = LlamaConfig(vocabSize: tok.vocabularySize, hiddenSize: 32, intermediateSize: 64, layers: layers, heads: 4, kvHeads: 2)
    c.tieWordEmbeddings = true
    var rng = RNG(seed: seed)
    let m = LlamaForCausalLM(c, rng: &rng)
    m.eval()
    return LLM2VecEncoder(model: m, tokenizer: tok)
}

private let pairs = CaptionPairDataset(pairs: (0..<12).map { i in
    CaptionPair(short: "a \(["red", "blue", "green"][i % 3]) \(["cube", "ball"][i % 2]) number \(i)",
                long: "a large \(["red", "blue", "green"][i % 3]) \(["cube", "ball"][i % 2]) with \(i) stripes to the left of a small grey ring on a white floor")
}, origin: "test")

@Suite(.serialized) struct LoRATests {
    @Test func mergedModelEqualsBasePlusAdapter() throws {
        let enc = try tinyEncoder()
        let m = enc.model
        try LoRA.apply(LoRAConfig(rank: 4, alpha: 8, dropout: 0), to: m, seed: 3)
        var rng = RNG(seed: 5)
        for (k, p) in m.namedParameters() where k.contains("lora_B") {
            p.assign(Tensor.randn(p.shape, rng: &rng) * 0.1)
        }
        m.eval()
        let ids = [[5, 9, 33, 2, 7, 100, 3]]
        let withAdapter = withNoGrad { m.hiddenStates(ids: ids) }.toArray()
        LoRA.merge(into: m)
        #expect(LoRA.adapterState(of: m).isEmpty)
        let merged = withNoGrad { m.hiddenStates(ids: ids) }.toArray()
        var worst: Float = 0
        for (a, b) in zip(withAdapter, merged) { worst = max(worst, abs(a - b)) }
        #expect(worst < 1e-5, "merged vs adapter: \(worst)")
    }

    /// `layers` (PEFT's layers_to_transform) adapts only those blocks; the backward pass records
    /// nothing below them; the choice round-trips through adapter_config.json.
    @Test func adaptersOnTheTopLayersOnly() throws {
        let enc = try tinyEncoder()
        let config = LoRAConfig(rank: 4, alpha: 8, dropout: 0, layers: [1])
        let names = try LoRA.apply(config, to: enc.model)
        #expect(names.count == 7 && names.allSatisfy { $0.hasPrefix("model.layers.1.") })
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lora-top-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try LoRA.saveAdapter(of: enc.model, config: config, to: dir)
        let fresh = try tinyEncoder()
        let loaded = try LoRA.loadAdapter(into: fresh.model, from: dir)
        #expect(loaded.layers == [1])
        #expect(LoRA.adapterState(of: fresh.model).keys.allSatisfy { $0.contains(".layers.1.") })
    }

    @Test func onlyAdaptersTrainAndTheyRoundTripThroughPEFTLayout() throws {
        let enc = try tinyEncoder()
        let names = try LoRA.apply(LoRAConfig(rank: 4, alpha: 8, dropout: 0), to: enc.model)
        #expect(names.count == 2 * 7)
        let trainable = enc.model.trainableParameters().map(\.0)
        #expect(!trainable.isEmpty && trainable.allSatisfy { $0.contains(".lora_A.") || $0.contains(".lora_B.") })
        var rng = RNG(seed: 9)
        for (_, p) in enc.model.trainableParameters() { p.assign(Tensor.randn(p.shape, rng: &rng)) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lora-\(getpid())").path
        try LoRA.saveAdapter(of: enc.model, config: LoRAConfig(rank: 4, alpha: 8, dropout: 0), to: dir)
        let keys = try SafetensorsFile(path: dir + "/adapter_model.safetensors").names
        #expect(keys.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"))
        let fresh = try tinyEncoder()
        try LoRA.loadAdapter(into: fresh.model, from: dir)
        let ids = [[5, 9, 33, 2]]
        enc.model.eval(); fresh.model.eval()
        #expect(withNoGrad { enc.model.hiddenStates(ids: ids) }.toArray() == withNoGrad { fresh.model.hiddenStates(ids: ids) }.toArray())
    }

    /// Finite differences through the tiny Llama's LoRA weights and the contrastive loss.
    @Test func gradientCheckThroughLoRAAndContrastiveLoss() throws {
        let enc = try tinyEncoder()
        try LoRA.apply(LoRAConfig(rank: 2, alpha: 4, dropout: 0), to: enc.model, seed: 1)
        var rng = RNG(seed: 2)
        for (_, p) in enc.model.trainableParameters() { p.assign(Tensor.randn(p.shape, rng: &rng) * 0.3) }
        enc.model.eval()
        var trng = RNG(seed: 4)
        let triples = CaptionContrastive.triples(Array(pairs.pairs.prefix(3)), rng: &trng)
        let prepared = triples.map { enc.prepare($0.query, instruction: $0.instruction) } + triples.map { enc.prepare($0.positive) }
            + triples.map { enc.prepare($0.negative) }
        func loss() -> Tensor {
            let e = enc.embedWithGradient(prepared: prepared)
            return CaptionContrastive.loss(queries: e.slice(axis: 0, 0, 3), positives: e.slice(axis: 0, 3, 6), negatives: e.slice(axis: 0, 6, 9))
        }
        enc.model.zeroGrad()
        loss().backward()
        let params = Dictionary(uniqueKeysWithValues: enc.model.trainableParameters())
        for key in ["model.layers.0.self_attn.q_proj.lora_A.weight", "model.layers.1.mlp.down_proj.lora_B.weight",
                    "model.layers.0.self_attn.v_proj.lora_B.weight"] {
            let p = try #require(params[key])
            let g = try #require(p.grad).toArray()
            var r = RNG(seed: 11)
            for _ in 0..<3 {
                let i = r.nextInt(p.count), x0 = p.fptr[i], h: Float = 2e-3   // the ×50 cosine makes the loss curve fast
                p.fptr[i] = x0 + h; let up = Double(withNoGrad { loss() }.item())
                p.fptr[i] = x0 - h; let dn = Double(withNoGrad { loss() }.item())
                p.fptr[i] = x0
                let numeric = Float((up - dn) / (2 * Double(h)))
                #expect(abs(numeric - g[i]) <= 3e-2 * max(abs(numeric), abs(g[i])) + 2e-3, "\(key)[\(i)] analytic \(g[i]) numeric \(numeric)")
            }
        }
    }
}

@Suite(.serialized) struct TextTrainerTests {
    private func config(steps: Int) -> TextTrainingConfig {
        var c = TextTrainingConfig()
        c.steps = steps
        c.batchSize = 4
        c.warmupSteps = 2
        c.evalEvery = 0
        c.checkpointEvery = 3
        c.lora = LoRAConfig(rank: 4, alpha: 8, dropout: 0.05)
        c.seed = 7
        return c
    }

    /// Three steps, a checkpoint, a fresh process-like restart and three more steps equal six
    /// uninterrupted steps.
    @Test func resumeEqualsUninterrupted() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-\(getpid())").path
        try? FileManager.default.removeItem(atPath: base)
        let straight = try TextTrainer(encoder: try tinyEncoder(), pairs: pairs, heldOut: nil, config: config(steps: 6), directory: base + "/a")
        try straight.run()
        var c3 = config(steps: 6)
        c3.checkpointEvery = 3
        let first = try TextTrainer(encoder: try tinyEncoder(), pairs: pairs, heldOut: nil, config: c3, directory: base + "/b")
        for _ in 0..<3 { _ = first.trainStep() }
        try first.saveCheckpoint()
        let resumed = try TextTrainer(encoder: try tinyEncoder(), pairs: pairs, heldOut: nil, config: c3, directory: base + "/b")
        #expect(resumed.step == 3)
        try resumed.run()
        let a = straight.encoder.model.trainableParameters(), b = resumed.encoder.model.trainableParameters()
        #expect(a.map(\.0) == b.map(\.0))
        for ((k, x), (_, y)) in zip(a, b) { #expect(x.toArray() == y.toArray(), "\(k)") }
    }

    /// Gradient checkpointing (with LoRA dropout and cached-embedding micro-batches) trains to
    /// the same weights as without, and a checkpoint written with one setting resumes with the other.
    @Test func checkpointingOnOrOffTrainsTheSame() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-ckpt-\(getpid())").path
        try? FileManager.default.removeItem(atPath: base)
        func trained(_ on: Bool, _ dir: String) throws -> TextTrainer {
            var c = config(steps: 3)
            c.microBatch = 5
            c.gradientCheckpointing = on
            let t = try TextTrainer(encoder: try tinyEncoder(), pairs: pairs, heldOut: nil, config: c, directory: base + dir)
            try t.run()
            return t
        }
        let off = try trained(false, "/off"), on = try trained(true, "/on")
        #expect(on.encoder.model.gradientCheckpointing && !off.encoder.model.gradientCheckpointing)
        for ((k, x), (_, y)) in zip(off.encoder.model.trainableParameters(), on.encoder.model.trainableParameters()) {
            let d = zip(x.toArray(), y.toArray()).map { abs($0 - $1) }.max() ?? 0
            #expect(d <= 1e-5, "\(k): \(d)")
        }
        var c = config(steps: 3)
        c.microBatch = 5
        c.gradientCheckpointing = true
        let resumed = try TextTrainer(encoder: try tinyEncoder(), pairs: pairs, heldOut: nil, config: c, directory: base + "/off")
        #expect(resumed.step == 3)
    }

    @Test func lossGoesDownOnASmallSet() throws {
        var c = config(steps: 12)
        c.learningRate = 5e-3
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-loss-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        let t = try TextTrainer(encoder: try tinyEncoder(), pairs: pairs, heldOut: pairs, config: c, directory: dir)
        var losses: [Double] = [], cra: [Double] = []
        try t.run { r in
            if let l = r.loss { losses.append(l) }
            if let s = r.craShortToLong, let l = r.craLongToShort { cra.append((s + l) / 2) }
        }
        #expect(losses.count == 12 && cra.count == 2)
        let early = losses.prefix(3).reduce(0, +) / 3, late = losses.suffix(3).reduce(0, +) / 3
        #expect(late < early, "loss \(early) → \(late)")
        #expect(FileManager.default.fileExists(atPath: dir + "/metrics.jsonl"))
    }
}

/// Gives the LoRA adapters of `encoder` seeded random values, so that their gradients are not trivially zero.
private func randomizeAdapters(of encoder: LLM2VecEncoder) {
    var rng = RNG(seed: 6)
    for (_, p) in encoder.model.trainableParameters() { p.assign(Tensor.randn(p.shape, rng: &rng) * 0.2) }
}

/// The prepared queries, positives and negatives of one seeded contrastive batch of six pairs.
private func contrastiveBatch(for encoder: LLM2VecEncoder) -> (queries: [(ids: [Int], pooled: Int)],
                                                               positives: [(ids: [Int], pooled: Int)],
                                                               negatives: [(ids: [Int], pooled: Int)]) {
    var rng = RNG(seed: 8)
    let t = CaptionContrastive.triples(Array(pairs.pairs.prefix(6)), rng: &rng)
    return (t.map { encoder.prepare($0.query, instruction: $0.instruction) }, t.map { encoder.prepare($0.positive) },
            t.map { encoder.prepare($0.negative) })
}

/// Cached-embedding accumulation in micro-batches gives the gradients of one big batch.
@Test func cachedEmbeddingAccumulationEqualsOneBigBatch() throws {
    func gradients(microBatch: Int, keepGraphs: Bool = false) throws -> [[Float]] {
        let enc = try tinyEncoder(seed: 4)
        try LoRA.apply(LoRAConfig(rank: 4, alpha: 8, dropout: 0), to: enc.model, seed: 5)   // dropout masks follow the micro-batch layout
        randomizeAdapters(of: enc)
        enc.model.train()
        let (q, p, n) = contrastiveBatch(for: enc)
        enc.model.zeroGrad()
        CaptionContrastive.accumulateGradients(encoder: enc, queries: q, positives: p, negatives: n, microBatch: microBatch, dropoutSeed: 99,
                                                  keepGraphs: keepGraphs)
        return enc.model.trainableParameters().map { $0.1.grad?.toArray() ?? [] }
    }
    let big = try gradients(microBatch: 0)
    for small in [try gradients(microBatch: 4), try gradients(microBatch: 4, keepGraphs: true)] {
        #expect(big.count == small.count && !big.isEmpty)
        var worst: Float = 0, scale: Float = 0
        for (a, b) in zip(big, small) {
            for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)); scale = max(scale, abs(x)) }
        }
        #expect(scale > 0)
        #expect(worst <= 1e-5 * max(1, scale), "max gradient difference \(worst) (max |g| \(scale))")
    }
}

/// The frozen bottom blocks' states kept per sequence give the embeddings and LoRA gradients of
/// running every block, and are reused across calls.
@Test func frozenTrunkCacheGivesTheSameEmbeddingsAndGradients() throws {
    func run(cached: Bool) throws -> (embeddings: [Float], grads: [[Float]], encoder: LLM2VecEncoder) {
        let enc = try tinyEncoder(seed: 4, layers: 3)
        try LoRA.apply(LoRAConfig(rank: 4, alpha: 8, dropout: 0.1, layers: [2]), to: enc.model, seed: 5)
        randomizeAdapters(of: enc)
        #expect(enc.frozenBottomLayers() == 2)
        if cached { enc.trunkCache = FrozenTrunkCache(layers: enc.frozenBottomLayers()) }
        enc.model.train()
        let (q, p, n) = contrastiveBatch(for: enc)
        enc.model.zeroGrad()
        CaptionContrastive.accumulateGradients(encoder: enc, queries: q, positives: p, negatives: n, microBatch: 4, dropoutSeed: 99)
        enc.model.eval()
        let e = try enc.embed(pairs.pairs.map(\.long))
        return (e.toArray(), enc.model.trainableParameters().map { $0.1.grad?.toArray() ?? [] }, enc)
    }
    let full = try run(cached: false), cached = try run(cached: true)
    let de = zip(full.embeddings, cached.embeddings).map { abs($0 - $1) }.max() ?? 1
    #expect(de <= 1e-5, "embeddings differ by \(de)")
    var worst: Float = 0, scale: Float = 0
    for (a, b) in zip(full.grads, cached.grads) {
        for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)); scale = max(scale, abs(x)) }
    }
    #expect(scale > 0 && worst <= 1e-5 * max(1, scale), "max gradient difference \(worst) (max |g| \(scale))")
    let cache = try #require(cached.encoder.trunkCache)
    #expect(cache.layers == 2 && cache.count > 0 && cache.hits > 0 && cache.bytes > 0)
    // A cache that cannot hold anything still gives the same numbers.
    let enc = cached.encoder
    enc.trunkCache = FrozenTrunkCache(layers: 2, capacityBytes: 0)
    let again = try enc.embed(pairs.pairs.map(\.long)).toArray()
    #expect(again == cached.embeddings)
    #expect(enc.trunkCache?.count == 0 && enc.trunkCache?.misses == pairs.count)
}

@Test func frozenBottomLayersStopAtTheFirstAdapter() throws {
    let all = try tinyEncoder(layers: 3)
    try LoRA.apply(LoRAConfig(rank: 2, alpha: 4, dropout: 0), to: all.model, seed: 1)
    #expect(all.frozenBottomLayers() == 0)
    let top = try tinyEncoder(layers: 3)
    try LoRA.apply(LoRAConfig(rank: 2, alpha: 4, dropout: 0, layers: [1, 2]), to: top.model, seed: 1)
    #expect(top.frozenBottomLayers() == 1)
}

/// With LoRA on the top block only, the trainer keeps the frozen blocks' states; it trains to the
/// weights of a run without the cache, and a resumed run equals an uninterrupted one bit for bit.
@Test func frozenBlockCacheTrainsTheSameAndResumesExactly() throws {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-trunk-\(getpid())").path
    try? FileManager.default.removeItem(atPath: base)
    func config(cache: Bool) -> TextTrainingConfig {
        var c = TextTrainingConfig()
        c.steps = 6; c.batchSize = 4; c.warmupSteps = 2; c.evalEvery = 3; c.checkpointEvery = 3; c.seed = 7
        c.lora = LoRAConfig(rank: 4, alpha: 8, dropout: 0.05, layers: [2])
        c.cacheFrozenBlocks = cache
        return c
    }
    let plain = try TextTrainer(encoder: try tinyEncoder(layers: 3), pairs: pairs, heldOut: pairs, config: config(cache: false), directory: base + "/plain")
    #expect(plain.encoder.trunkCache == nil)
    try plain.run()
    let straight = try TextTrainer(encoder: try tinyEncoder(layers: 3), pairs: pairs, heldOut: pairs, config: config(cache: true), directory: base + "/a")
    #expect(straight.encoder.trunkCache?.layers == 2)
    try straight.run()
    for ((k, x), (_, y)) in zip(plain.encoder.model.trainableParameters(), straight.encoder.model.trainableParameters()) {
        let d = zip(x.toArray(), y.toArray()).map { abs($0 - $1) }.max() ?? 1
        #expect(d <= 1e-5, "\(k): \(d)")
    }
    let first = try TextTrainer(encoder: try tinyEncoder(layers: 3), pairs: pairs, heldOut: pairs, config: config(cache: true), directory: base + "/b")
    for _ in 0..<3 { _ = first.trainStep() }
    try first.saveCheckpoint()
    let resumed = try TextTrainer(encoder: try tinyEncoder(layers: 3), pairs: pairs, heldOut: pairs, config: config(cache: true), directory: base + "/b")
    #expect(resumed.step == 3)
    try resumed.run()
    for ((k, x), (_, y)) in zip(straight.encoder.model.trainableParameters(), resumed.encoder.model.trainableParameters()) {
        #expect(x.toArray() == y.toArray(), "\(k)")
    }
    // A checkpoint written without the cache does not resume with it (numbers would differ in rounding).
    #expect(throws: (any Error).self) {
        try TextTrainer(encoder: try tinyEncoder(layers: 3), pairs: pairs, heldOut: pairs, config: config(cache: true), directory: base + "/plain")
    }
}

/// A configuration saved before the newer settings existed reads with the values that run had.
@Test func olderTrainingConfigDecodesWithTheSettingsItRanWith() throws {
    let old = #"{"steps":80,"batchSize":16,"learningRate":0.0003,"warmupSteps":8,"weightDecay":0,"maxGradNorm":1,"#
        + #""lora":{"rank":16,"alpha":32,"dropout":0.05,"targetModules":["q_proj"]},"seed":0,"evalEvery":50,"checkpointEvery":25,"#
        + #""maxLength":512,"microBatch":8,"keepGraphs":true}"#
    let c = try JSONDecoder().decode(TextTrainingConfig.self, from: Data(old.utf8))
    #expect(c.steps == 80 && c.learningRate == 3e-4 && c.keepGraphs && c.gradientCheckpointing && !c.cacheFrozenBlocks)
    #expect(c.direction == .perPair && c.batching == .random)
    let now = try JSONDecoder().decode(TextTrainingConfig.self, from: JSONEncoder().encode(TextTrainingConfig()))
    #expect(now == TextTrainingConfig())
    var changed = TextTrainingConfig()
    changed.direction = .perBatch
    changed.batching = .similar
    #expect(try JSONDecoder().decode(TextTrainingConfig.self, from: JSONEncoder().encode(changed)) == changed)
}
