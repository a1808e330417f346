import Foundation
import Datasets
import Evaluation
import Formats
import Images
import NeuralNet
import TensorKit

/// Settings of stage-2 CLIP training. The optimiser follows the reference (AdamW 0.9/0.999/1e-8,
/// weight decay 0.05 with the usual exemptions, layer-wise decay 0.85, clipping at 5, cosine
/// decay, short or long caption with probability 1/2); the learning rate, warm-up and batch are
/// scaled for training a small tower from scratch on a CPU (the reference fine-tunes a pretrained
/// EVA02-L at lr 1e-5, batch 4096, no warm-up).
public struct CLIPTrainingConfig: Codable, Equatable, Sendable {
    public var steps = 300
    public var batchSize = 64
    public var learningRate: Float = 1e-3
    public var warmupSteps = 20
    public var weightDecay: Float = 0.05
    public var layerDecay: Float = 0.85
    public var maxGradNorm: Float = 5
    /// Learning-rate factor for the parameters the learner took from a pretrained checkpoint
    /// (``StageTwoLearner/pretrainedParameters``); new parts keep the full rate.
    public var pretrainedLearningRateScale: Float = 1
    /// Probability that a sample's long caption is used in a step (otherwise a short one).
    public var longCaptionProbability = 0.5
    /// Short captions per image to choose from (0: all of them).
    public var shortCaptionsPerImage = 0
    public var seed: UInt64 = 0
    /// Evaluate retrieval on the held-out set every N steps (0: only at the end).
    public var evalEvery = 100
    /// Write a checkpoint every N steps (0: only at the end).
    public var checkpointEvery = 100
    public var threads = 0
    public init() {}
}

/// One line of `metrics.jsonl` of a stage-2 run.
public struct CLIPTrainingRecord: Codable, Sendable {
    public var step: Int
    public var loss: Double?
    public var learningRate: Double?
    public var gradNorm: Double?
    public var logitScale: Double?
    public var imagesPerSecond: Double?
    public var stepSeconds: Double?
    /// Held-out retrieval by caption kind ("short", "long").
    public var retrieval: [String: RetrievalMetrics]?
}

/// Trains a ``StageTwoLearner`` with the symmetric CLIP loss on an image–caption data set and
/// writes `checkpoint/` (model, optimiser and trainer state, atomically), `metrics.jsonl` and,
/// at the end, `model.safetensors`. Everything random in a step — the batch, the crops, the
/// caption choices — derives from (seed, step), so a resumed run equals an uninterrupted one.
///
/// ```swift
/// let trainer = try CLIPTrainer(learner: learner, train: trainSet, heldOut: evalSet, config: cfg, directory: "runs/clip")
/// try trainer.run { r in print(r.step, r.loss ?? 0) }
/// ```
public final class CLIPTrainer {
    public let learner: StageTwoLearner
    public let train: ImageTextDataset
    public let heldOut: ImageTextDataset?
    public let config: CLIPTrainingConfig
    public let directory: String
    public let parameterGroups: ParameterGroups
    public private(set) var step = 0
    let optimizer: AdamW
    let schedule: LRSchedule
    let loader: DataLoader<ImageTextDataset>
    let evalTransform: CLIPTransform

    public init(learner: StageTwoLearner, train: ImageTextDataset, heldOut: ImageTextDataset?, config: CLIPTrainingConfig,
                directory: String) throws {
        guard train.count >= 2 else { throw TrainingError.data("\(train.origin): need at least 2 images to train, found \(train.count)") }
        guard config.batchSize >= 2 else { throw TrainingError.data("batch size must be at least 2 (the loss contrasts rows), got \(config.batchSize)") }
        guard (0...1).contains(config.longCaptionProbability) else {
            throw TrainingError.data("long-caption probability must be in [0, 1], got \(config.longCaptionProbability)")
        }
        self.learner = learner
        self.train = train
        self.heldOut = heldOut
        self.config = config
        self.directory = directory
        parameterGroups = ParameterGroups(named: learner.module.trainableParameters(), visualLayers: learner.visualLayers,
                                          layerDecay: config.layerDecay, weightDecay: config.weightDecay,
                                          pretrained: learner.pretrainedParameters, pretrainedScale: config.pretrainedLearningRateScale)
        optimizer = AdamW(groups: parameterGroups.groups, learningRate: config.learningRate, weightDecay: config.weightDecay)
        schedule = .warmupCosine(base: config.learningRate, warmup: config.warmupSteps, total: config.steps)
        let transform = CLIPTransform(size: learner.imageSize)
        evalTransform = transform
        loader = DataLoader(train, batchSize: min(config.batchSize, train.count), transform: transform, mode: .train,
                            shuffle: true, seed: config.seed, dropLast: true,
                            threads: config.threads > 0 ? config.threads : Engine.threads, prefetch: 0)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try resumeIfPossible()
    }

    var checkpointDir: String { (directory as NSString).appendingPathComponent("checkpoint") }
    /// Where the final model is written.
    public var modelPath: String { (directory as NSString).appendingPathComponent("model.safetensors") }

    /// The caption each sample of a batch uses in step `s`: long with the configured probability
    /// (when the sample has one), else one of its short captions.
    public func captions(for samples: [ImageTextSample], step s: Int) -> [SampleCaption] {
        var rng = RNG(seed: TextTrainer.mix(config.seed &+ 7, s))
        return samples.map { sample in
            let wantLong = Double(rng.nextFloat()) < config.longCaptionProbability
            let shorts = config.shortCaptionsPerImage > 0 ? Array(sample.shortCaptions.prefix(config.shortCaptionsPerImage)) : sample.shortCaptions
            let pick = shorts.isEmpty ? 0 : rng.nextInt(shorts.count)
            if let long = sample.longCaption, wantLong || shorts.isEmpty {
                return SampleCaption(key: CaptionKey.long(sample.key), text: long, isLong: true)
            }
            return SampleCaption(key: CaptionKey.short(sample.key, pick), text: shorts[pick], isLong: false)
        }
    }

    /// One optimisation step; returns the loss and the gradient norm before clipping.
    public func trainStep() throws -> (loss: Float, gradNorm: Float) {
        let perEpoch = loader.batchesPerEpoch
        let epoch = step / perEpoch, number = step % perEpoch
        let batch = try loader.load(indices: loader.plan(epoch: epoch)[number], epoch: epoch, number: number)
        let texts = captions(for: batch.samples, step: step)
        learner.module.train()
        optimizer.zeroGrad()
        let img = learner.encodeImages(batch.images)
        let txt = try learner.encodeCaptions(texts)
        let loss = CLIPObjective.loss(images: img, texts: txt, logitScale: learner.logitScale)
        loss.backward()
        let params = parameterGroups.groups.flatMap(\.params)
        let norm = clipGradNorm(params, maxNorm: config.maxGradNorm)
        optimizer.learningRate = schedule.rate(at: step)
        optimizer.step()
        CLIPObjective.clampLogitScale(learner.logitScale)
        learner.module.eval()
        step += 1
        return (loss.item(), norm)
    }

    /// Held-out retrieval with short captions (each image's short captions, as configured) and
    /// with long captions, R@1/5/10 both ways.
    public func evaluate(batchSize: Int = 128) throws -> [String: RetrievalMetrics]? {
        guard let h = heldOut, h.count >= 2 else { return nil }
        return try CLIPTrainer.retrieval(learner: learner, data: h, shortCaptionsPerImage: config.shortCaptionsPerImage,
                                         transform: evalTransform, batchSize: batchSize)
    }

    /// Retrieval of `learner` on `data` (see ``evaluate(batchSize:)``).
    public static func retrieval(learner: StageTwoLearner, data: ImageTextDataset, shortCaptionsPerImage: Int = 0,
                                 transform: CLIPTransform? = nil, batchSize: Int = 128) throws -> [String: RetrievalMetrics] {
        let embeddings = try embed(learner: learner, data: data, shortCaptionsPerImage: shortCaptionsPerImage,
                                   transform: transform, batchSize: batchSize)
        var out: [String: RetrievalMetrics] = [:]
        if let s = embeddings.short {
            out["short"] = try Retrieval.evaluate(images: embeddings.images, texts: s.texts, textToImage: s.owners)
        }
        if let l = embeddings.long {
            out["long"] = try Retrieval.evaluate(images: embeddings.images, texts: l.texts, textToImage: l.owners)
        }
        return out
    }

    /// Unit-length image embeddings of every image and text embeddings of its short and long
    /// captions (with the image each caption belongs to), without a graph.
    public static func embed(learner: StageTwoLearner, data: ImageTextDataset, shortCaptionsPerImage: Int = 0,
                             transform: CLIPTransform? = nil, batchSize: Int = 128) throws
        -> (images: Tensor, short: (texts: Tensor, owners: [Int])?, long: (texts: Tensor, owners: [Int])?) {
        let t = transform ?? CLIPTransform(size: learner.imageSize)
        let loader = DataLoader(data, batchSize: batchSize, transform: t, mode: .eval, prefetch: 1)
        learner.module.eval()
        return try withNoGrad {
            var rows: [Tensor] = []
            let stream = loader.epoch(0)
            while let b = try stream.next() { rows.append(learner.encodeImages(b.images)) }
            let images = concat(rows, axis: 0)
            var shorts: [SampleCaption] = [], shortOwners: [Int] = []
            var longs: [SampleCaption] = [], longOwners: [Int] = []
            for (i, s) in data.samples.enumerated() {
                let n = shortCaptionsPerImage > 0 ? min(shortCaptionsPerImage, s.shortCaptions.count) : s.shortCaptions.count
                for j in 0..<n {
                    shorts.append(SampleCaption(key: CaptionKey.short(s.key, j), text: s.shortCaptions[j], isLong: false))
                    shortOwners.append(i)
                }
                if let l = s.longCaption {
                    longs.append(SampleCaption(key: CaptionKey.long(s.key), text: l, isLong: true))
                    longOwners.append(i)
                }
            }
            func encode(_ c: [SampleCaption]) throws -> Tensor {
                var parts: [Tensor] = []
                for start in stride(from: 0, to: c.count, by: batchSize) {
                    parts.append(try learner.encodeCaptions(Array(c[start..<min(c.count, start + batchSize)])))
                }
                return concat(parts, axis: 0)
            }
            return (images, shorts.isEmpty ? nil : (try encode(shorts), shortOwners),
                    longs.isEmpty ? nil : (try encode(longs), longOwners))
        }
    }

    /// Trains to `config.steps`, evaluating and checkpointing as configured, then writes the model.
    public func run(onRecord: (CLIPTrainingRecord) -> Void = { _ in }) throws {
        while step < config.steps {
            let t0 = Date()
            let lr = schedule.rate(at: step)
            let (loss, norm) = try trainStep()
            let seconds = Date().timeIntervalSince(t0)
            try log(CLIPTrainingRecord(step: step, loss: Double(loss), learningRate: Double(lr), gradNorm: Double(norm),
                                       logitScale: Double(learner.logitScale.item()),
                                       imagesPerSecond: Double(loader.batchSize) / seconds, stepSeconds: seconds), onRecord)
            if config.checkpointEvery > 0 && step % config.checkpointEvery == 0 && step < config.steps { try saveCheckpoint() }
            if config.evalEvery > 0 && step % config.evalEvery == 0 && step < config.steps, let r = try evaluate() {
                try log(CLIPTrainingRecord(step: step, retrieval: r), onRecord)
            }
        }
        try saveCheckpoint()
        try learner.save(to: modelPath, metadata: ["step": "\(step)"])
        if let r = try evaluate() { try log(CLIPTrainingRecord(step: step, retrieval: r), onRecord) }
    }

    func log(_ r: CLIPTrainingRecord, _ onRecord: (CLIPTrainingRecord) -> Void) throws {
        try TrainerFiles.appendMetrics(r, directory: directory)
        onRecord(r)
    }

    /// Writes the model, the optimiser state and the step atomically (a new folder renamed over the old one).
    public func saveCheckpoint() throws {
        try TrainerFiles.saveCheckpoint(optimizer: optimizer, step: step, config: config, to: checkpointDir) { tmp in
            try learner.save(to: (tmp as NSString).appendingPathComponent("model.safetensors"), metadata: ["step": "\(step)"])
        }
    }

    func resumeIfPossible() throws {
        let trainerPath = (checkpointDir as NSString).appendingPathComponent("trainer.json")
        guard let data = FileManager.default.contents(atPath: trainerPath) else { return }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let s = json["step"] as? Int else {
            throw TrainingError.data("\(trainerPath) is not a valid trainer state; delete \(checkpointDir) to start over")
        }
        if let c = json["config"] as? String, let saved = try? JSONDecoder().decode(CLIPTrainingConfig.self, from: Data(c.utf8)), saved != config {
            throw TrainingError.data("\(checkpointDir) was written with different settings; use another --out or the same settings to resume")
        }
        do {
            try learner.loadWeights((checkpointDir as NSString).appendingPathComponent("model.safetensors"))
        } catch {
            throw TrainingError.data("\(checkpointDir)/model.safetensors does not fit this model (\(error)); use another --out or the same model settings")
        }
        try TrainerFiles.loadOptimizer(optimizer, from: checkpointDir)
        step = s
    }
}
