import Foundation
import Datasets
import Evaluation
import Formats
import Models
import NeuralNet
import TensorKit
import Tokenizers

/// Settings of stage-1 caption-contrastive fine-tuning. Defaults follow the reference (LoRA
/// r 16 / alpha 32 / dropout 0.05, AdamW lr 2e-4 with linear decay, weight decay 0) scaled to one
/// CPU (batch 512 → 16 pairs, 10,000 steps → a few hundred, warm-up 300 → 10% of the steps).
public struct TextTrainingConfig: Codable, Equatable, Sendable {
    public var steps = 200
    public var batchSize = 16
    public var learningRate: Float = 2e-4
    public var warmupSteps = 20
    public var weightDecay: Float = 0
    public var maxGradNorm: Float = 1
    public var lora = LoRAConfig()
    public var seed: UInt64 = 0
    /// Evaluate caption-retrieval accuracy on the held-out pairs every N steps (0: only at the ends).
    public var evalEvery = 50
    /// Write a checkpoint every N steps (0: only at the end).
    public var checkpointEvery = 50
    /// Longest wrapped caption in tokens (the reference uses 512; shorter is faster on a CPU).
    public var maxLength = 512
    /// Sequences per forward pass with a graph (cached-embedding accumulation): all embeddings
    /// of a step are computed without a graph, the loss gives their gradients, then each micro-
    /// batch is re-run with its slice of those gradients. 0 runs the whole batch at once.
    public var microBatch = 0
    /// Re-run each decoder layer during backward instead of keeping its activations (see
    /// ``Models/LlamaForCausalLM/gradientCheckpointing``); same gradients, less memory.
    public var gradientCheckpointing = true
    /// Keep each micro-batch's graph instead of re-running it (no second forward pass; the
    /// activation memory of the whole batch, without padding). See
    /// ``CaptionContrastive/accumulateGradients(encoder:queries:positives:negatives:microBatch:dropoutSeed:keepGraphs:)``.
    public var keepGraphs = false
    /// Run the frozen bottom blocks (those below the LoRA adapters) once per distinct sequence
    /// and keep their states (``Models/FrozenTrunkCache``): later epochs and held-out
    /// evaluations then run only the adapted blocks.
    public var cacheFrozenBlocks = true
    /// Most memory the frozen-block states may take, in MiB (past it, new sequences are computed
    /// on every use).
    public var frozenCacheMegabytes = 4096
    /// Whether each pair (the reference) or each batch flips the query-direction coin.
    public var direction = CaptionContrastive.Direction.perPair
    /// Random batches (the reference) or batches of similar pairs (``Datasets/SimilarPairBatcher``),
    /// whose in-batch negatives are hard.
    public var batching = CaptionBatching.random
    public init() {}
}

extension TextTrainingConfig {
    enum CodingKeys: String, CodingKey {
        case steps, batchSize, learningRate, warmupSteps, weightDecay, maxGradNorm, lora, seed, evalEvery, checkpointEvery,
             maxLength, microBatch, gradientCheckpointing, keepGraphs, cacheFrozenBlocks, frozenCacheMegabytes, direction, batching
    }

    /// Reads a saved configuration; settings added after a checkpoint was written take the value
    /// that run had (gradient checkpointing on, no frozen-block cache).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var d = TextTrainingConfig()
        func read<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try read(.steps, &d.steps); try read(.batchSize, &d.batchSize); try read(.learningRate, &d.learningRate)
        try read(.warmupSteps, &d.warmupSteps); try read(.weightDecay, &d.weightDecay); try read(.maxGradNorm, &d.maxGradNorm)
        try read(.lora, &d.lora); try read(.seed, &d.seed); try read(.evalEvery, &d.evalEvery)
        try read(.checkpointEvery, &d.checkpointEvery); try read(.maxLength, &d.maxLength); try read(.microBatch, &d.microBatch)
        try read(.gradientCheckpointing, &d.gradientCheckpointing); try read(.keepGraphs, &d.keepGraphs)
        d.cacheFrozenBlocks = false
        try read(.cacheFrozenBlocks, &d.cacheFrozenBlocks); try read(.frozenCacheMegabytes, &d.frozenCacheMegabytes)
        try read(.direction, &d.direction); try read(.batching, &d.batching)
        self = d
    }
}

/// One line of the metrics log (`metrics.jsonl`).
public struct TextTrainingRecord: Codable, Sendable {
    public var step: Int
    public var loss: Double?
    public var learningRate: Double?
    public var gradNorm: Double?
    public var stepSeconds: Double?
    public var craShortToLong: Double?
    public var craLongToShort: Double?
}

/// Trains LoRA adapters on a decoder LLM with ``CaptionContrastive`` and writes checkpoints
/// (`checkpoint/`: adapter + optimizer state + trainer state, atomically) and `metrics.jsonl`.
/// A run resumed from its checkpoint continues exactly: each step's batch, coin flips,
/// negatives and dropout masks derive from (seed, step), and the optimizer state is restored.
///
/// ```swift
/// let trainer = try TextTrainer(encoder: enc, pairs: train, heldOut: eval, config: cfg, directory: "runs/cc")
/// try trainer.run { record in print(record.step, record.loss ?? 0) }
/// ```
public final class TextTrainer {
    public let encoder: LLM2VecEncoder
    public let pairs: CaptionPairDataset
    public let heldOut: CaptionPairDataset?
    public let config: TextTrainingConfig
    public let directory: String
    public private(set) var step = 0
    let optimizer: AdamW
    let trainable: [(String, Tensor)]
    let schedule: LRSchedule

    public init(encoder: LLM2VecEncoder, pairs: CaptionPairDataset, heldOut: CaptionPairDataset?, config: TextTrainingConfig,
                directory: String) throws {
        guard pairs.count >= 2 else { throw TrainingError.data("need at least 2 caption pairs to train, found \(pairs.count)") }
        self.encoder = encoder
        self.pairs = pairs
        self.heldOut = heldOut
        self.config = config
        self.directory = directory
        encoder.maxLength = config.maxLength
        encoder.model.gradientCheckpointing = config.gradientCheckpointing
        if LoRA.adapterState(of: encoder.model).isEmpty {
            try LoRA.apply(config.lora, to: encoder.model, seed: config.seed)
        }
        trainable = encoder.model.trainableParameters()
        encoder.trunkCache = nil
        if config.cacheFrozenBlocks {
            let frozen = encoder.frozenBottomLayers()
            if frozen > 0 && frozen < encoder.model.config.layers {
                encoder.trunkCache = FrozenTrunkCache(layers: frozen, capacityBytes: max(0, config.frozenCacheMegabytes) << 20)
            }
        }
        optimizer = AdamW(groups: [ParamGroup(params: trainable.map(\.1), weightDecay: config.weightDecay)],
                          learningRate: config.learningRate, weightDecay: config.weightDecay)
        schedule = .warmupLinear(base: config.learningRate, warmup: config.warmupSteps, total: config.steps)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try resumeIfPossible()
    }

    var checkpointDir: String { (directory as NSString).appendingPathComponent("checkpoint") }

    /// The pairs of step `s` (epochs reshuffle with the seed).
    func batch(at s: Int) -> [CaptionPair] {
        let perEpoch = max(1, pairs.count / config.batchSize)
        let epoch = s / perEpoch, index = s % perEpoch
        if epochBatches?.epoch != epoch {
            let dropLast = pairs.count >= config.batchSize
            switch config.batching {
            case .random:
                epochBatches = (epoch, pairs.batches(size: config.batchSize, shuffle: true, seed: config.seed, epoch: epoch, dropLast: dropLast))
            case .similar:
                if similarBatcher == nil { similarBatcher = SimilarPairBatcher(pairs) }
                let indices = similarBatcher!.batches(size: config.batchSize, seed: config.seed, epoch: epoch, dropLast: dropLast)
                epochBatches = (epoch, indices.map { $0.map { pairs[$0] } })
            }
        }
        let batches = epochBatches!.batches
        return batches[index % batches.count]
    }
    /// The shuffled batches of the last epoch asked for (one shuffle per epoch, not per step).
    private var epochBatches: (epoch: Int, batches: [[CaptionPair]])?
    private var similarBatcher: SimilarPairBatcher?

    static func mix(_ a: UInt64, _ b: Int) -> UInt64 { (a &+ 0x9E37_79B9_7F4A_7C15) &* 0xBF58_476D_1CE4_E5B9 ^ UInt64(b) &* 0x94D0_49BB_1331_11EB }

    typealias Prepared = [(ids: [Int], pooled: Int)]

    /// The wrapped queries, positives and negatives of step `s`.
    func sequences(at s: Int) -> (queries: Prepared, positives: Prepared, negatives: Prepared) {
        var rng = RNG(seed: TextTrainer.mix(config.seed, s))
        let triples = CaptionContrastive.triples(batch(at: s), rng: &rng, direction: config.direction)
        encoder.instructionSeparator = "; "
        defer { encoder.instructionSeparator = " " }
        return (triples.map { encoder.prepare($0.query, instruction: $0.instruction) },
                triples.map { encoder.prepare($0.positive) }, triples.map { encoder.prepare($0.negative) })
    }

    /// Runs the frozen bottom blocks once over every sequence the run will use (all steps' and the
    /// held-out captions) in padded batches, when the encoder has a ``Models/FrozenTrunkCache``.
    /// The set does not depend on where a run resumes, so neither do the numbers. The first step
    /// or evaluation calls it; call it before them to see progress. `progress` sees (done, total) distinct sequences.
    public func fillFrozenBlockCache(progress: ((Int, Int) -> Void)? = nil) {
        guard let cache = encoder.trunkCache, !frozenCacheFilled else { return }
        frozenCacheFilled = true
        var all: [[Int]] = []
        for s in 0..<config.steps {
            let (q, p, n) = sequences(at: s)
            all += q.map(\.ids) + p.map(\.ids) + n.map(\.ids)
        }
        if let h = heldOut { all += (h.pairs.map(\.short) + h.pairs.map(\.long)).map { encoder.prepare($0).ids } }
        cache.fill(all, in: encoder.model, pad: encoder.tokenizer.padTokenId ?? 0, tokensPerBatch: encoder.tokensPerBatch,
                   maxBatch: encoder.maxBatch, progress: progress)
    }
    private var frozenCacheFilled = false

    /// One optimisation step; returns (loss, grad norm).
    public func trainStep() -> (loss: Float, gradNorm: Float) {
        fillFrozenBlockCache()
        LoRA.seedDropout(of: encoder.model, TextTrainer.mix(config.seed &+ 1, step))
        let (q, p, n) = sequences(at: step)
        encoder.model.train()
        optimizer.zeroGrad()
        let loss = CaptionContrastive.accumulateGradients(encoder: encoder, queries: q, positives: p, negatives: n,
                                                          microBatch: config.microBatch, dropoutSeed: TextTrainer.mix(config.seed &+ 1, step),
                                                          keepGraphs: config.keepGraphs)
        let norm = clipGradNorm(trainable.map(\.1), maxNorm: config.maxGradNorm)
        optimizer.learningRate = schedule.rate(at: step)
        optimizer.step()
        step += 1
        encoder.model.eval()
        return (loss, norm)
    }

    /// Caption-retrieval accuracy of the current model on the held-out pairs.
    public func evaluate() throws -> CaptionRetrievalAccuracy? {
        guard let h = heldOut, h.count >= 2 else { return nil }
        fillFrozenBlockCache()
        encoder.model.eval()
        encoder.instructionSeparator = " "
        let shorts = try encoder.embed(h.pairs.map(\.short)), longs = try encoder.embed(h.pairs.map(\.long))
        return try CaptionRetrieval.accuracy(short: shorts, long: longs)
    }

    /// Trains to `config.steps`, evaluating and checkpointing as configured; `onRecord` sees every log line.
    public func run(onRecord: (TextTrainingRecord) -> Void = { _ in }) throws {
        if step == 0, let cra = try evaluate() {
            try log(TextTrainingRecord(step: 0, craShortToLong: cra.shortToLong, craLongToShort: cra.longToShort), onRecord)
        }
        while step < config.steps {
            let t0 = Date()
            let lr = schedule.rate(at: step)
            let (loss, norm) = trainStep()
            try log(TextTrainingRecord(step: step, loss: Double(loss), learningRate: Double(lr), gradNorm: Double(norm),
                                       stepSeconds: Date().timeIntervalSince(t0)), onRecord)
            if config.checkpointEvery > 0 && step % config.checkpointEvery == 0 { try saveCheckpoint() }
            if config.evalEvery > 0 && step % config.evalEvery == 0 && step < config.steps, let cra = try evaluate() {
                try log(TextTrainingRecord(step: step, craShortToLong: cra.shortToLong, craLongToShort: cra.longToShort), onRecord)
            }
        }
        try saveCheckpoint()
        if let cra = try evaluate() {
            try log(TextTrainingRecord(step: step, craShortToLong: cra.shortToLong, craLongToShort: cra.longToShort), onRecord)
        }
    }

    func log(_ r: TextTrainingRecord, _ onRecord: (TextTrainingRecord) -> Void) throws {
        try TrainerFiles.appendMetrics(r, directory: directory)
        onRecord(r)
    }

    /// Writes the adapter, the optimizer state and the step atomically (a new folder renamed over the old one).
    public func saveCheckpoint() throws {
        try TrainerFiles.saveCheckpoint(model: encoder.model, lora: config.lora, optimizer: optimizer, step: step, config: config,
                                        to: checkpointDir)
    }

    func resumeIfPossible() throws {
        let current = config
        let s = try TrainerFiles.resume(model: encoder.model, optimizer: optimizer, from: checkpointDir) { data in
            // Gradient checkpointing changes memory and time, not the result, and so does the
            // frozen-block cache's size: either setting resumes.
            guard var saved = try? JSONDecoder().decode(TextTrainingConfig.self, from: data) else { return false }
            saved.gradientCheckpointing = current.gradientCheckpointing
            saved.frozenCacheMegabytes = current.frozenCacheMegabytes
            return saved == current
        }
        if let s { step = s }
    }
}

public enum TrainingError: Error, CustomStringConvertible {
    case data(String)
    public var description: String {
        switch self { case .data(let s): return s }
    }
}
