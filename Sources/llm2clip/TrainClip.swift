import ArgumentParser
import Datasets
import Foundation
import Formats
import Models
import TensorKit
import Tokenizers
import Training

/// How a stage-2 model is put together from command-line choices (shared by train-clip and demo).
enum StageTwoSetup {
    static let defaultVocab = ".cache/assets/openclip-vocab/bpe_simple_vocab_16e6.txt.gz"

    /// Image tower names: EVA02 presets (`eva02-small`, …) and CLIP ViT presets (`vit-small`, …).
    static var towerNames: [String] { (EVA02Config.presets.keys.map { $0 } + CLIPTowerConfig.presets.keys.map { $0 }).sorted() }

    /// A fresh LLM2CLIP model (tower + adapter over `llmDim`-wide features) or plain-CLIP baseline.
    static func makeLearner(textTower: String, tower: String, embedDim: Int?, features: [FeatureStore], vocab: String,
                            initFrom: String?, seed: UInt64, centerFeatures: Bool = false,
                            textConfig: String = "text-small") throws -> StageTwoLearner {
        var rng = RNG(seed: seed)
        let learner: StageTwoLearner
        switch textTower {
        case "llm":
            guard let first = features.first else { throw ValidationError("--text-tower llm needs --features (a store written by cache-text)") }
            for s in features.dropFirst() where s.identity.dimension != first.identity.dimension {
                throw ValidationError("feature stores \(first.directory) and \(s.directory) have widths \(first.identity.dimension) and \(s.identity.dimension); cache both with the same encoder")
            }
            var config: LLM2CLIPConfig
            if let eva = EVA02Config.presets[tower] {
                config = LLM2CLIPConfig(eva02: eva, llmDim: first.identity.dimension)
            } else if let clip = CLIPTowerConfig.presets[tower] {
                config = LLM2CLIPConfig(clip: clip, embedDim: embedDim ?? 256, llmDim: first.identity.dimension)
            } else {
                throw ValidationError("unknown --tower '\(tower)'; choose one of \(towerNames.joined(separator: ", "))")
            }
            if centerFeatures { config.adapterCentersInput = true }
            let llm = LLM2CLIPLearner(model: LLM2CLIPModel(config, rng: &rng), features: features)
            // The first store holds the training captions.
            if centerFeatures { try llm.centreFeatures(on: first) }
            learner = llm
        case "clip":
            let config: CLIPBaselineConfig
            guard let text = CLIPTowerConfig.textPresets[textConfig] else {
                throw ValidationError("unknown --text-config '\(textConfig)'; choose one of \(CLIPTowerConfig.textPresets.keys.sorted().joined(separator: ", "))")
            }
            if let eva = EVA02Config.presets[tower] {
                config = CLIPBaselineConfig(eva02: eva, text: text)
            } else if let clip = CLIPTowerConfig.presets[tower] {
                config = CLIPBaselineConfig(clip: clip, embedDim: embedDim ?? 256, text: text)
            } else {
                throw ValidationError("unknown --tower '\(tower)'; choose one of \(towerNames.joined(separator: ", "))")
            }
            guard FileManager.default.fileExists(atPath: vocab) else {
                throw ValidationError("\(vocab): CLIP BPE vocabulary not found (scripts/assets.sh installs it; or pass --vocab)")
            }
            learner = CLIPBaselineLearner(model: CLIPBaselineModel(config, rng: &rng), tokenizer: try CLIPTokenizer(vocabPath: vocab))
        default:
            throw ValidationError("--text-tower must be 'llm' (LLM2CLIP over cached features) or 'clip' (plain CLIP baseline), not '\(textTower)'")
        }
        if let path = initFrom { try copyVisualWeights(from: path, into: learner) }
        return learner
    }

    /// Starts the image tower from another checkpoint's `visual.*` tensors (any LLM2CLIP or
    /// baseline file with the same tower); every tower tensor must be present with its shape.
    static func copyVisualWeights(from path: String, into learner: StageTwoLearner) throws {
        do { try learner.initialise(from: path) { $0.hasPrefix("visual.") } } catch { throw CommandFailure("\(error)") }
    }
}

struct TrainClip: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-clip",
        abstract: "Stage 2: train an image tower and the text adapter against cached LLM caption features (or the plain-CLIP baseline).",
        discussion: """
        --text-tower llm (default) trains LLM2CLIP: the image tower, the residual MLP adapter over \
        the frozen LLM's cached caption features (--features, written by cache-text) and the logit \
        scale. --text-tower clip trains the plain-CLIP baseline instead: the same image tower with a \
        77-token CLIP text transformer from scratch. Each sample uses its long caption with \
        probability --long-prob, else a short one. AdamW (no decay on biases, norms, position \
        embedding, class token, logit scale), layer-wise lr decay on the tower, warm-up + cosine, \
        clipping 5, logit scale clamped to [0, ln 100]. Output: checkpoint/ (run the same command \
        again to resume), metrics.jsonl, model.safetensors.
        """)

    @Option(help: "Training images with captions: a manifest, web-dataset shards or a scenes folder.") var data: String
    @Option(help: "Held-out images with captions for retrieval evaluation.") var eval: String?
    @Option(help: "Feature store of the training captions (cache-text output); needed for --text-tower llm.") var features: String?
    @Option(help: "Feature store of the held-out captions.") var evalFeatures: String?
    @Option(help: "llm (LLM2CLIP over cached features) or clip (plain-CLIP baseline).") var textTower = "llm"
    @Option(help: "Image tower preset (eva02-small, eva02-tiny, vit-small, … eva02-l14-336).") var tower = "eva02-small"
    @Option(help: "Text transformer preset of the plain-CLIP baseline (text-small, text-mini, text-b).") var textConfig = "text-small"
    @Option(help: "Embedding width for CLIP ViT towers (EVA02 presets carry their own).") var embedDim: Int?
    @Option(name: .customLong("init"), help: "Start the image tower from this checkpoint's visual.* weights.") var initFrom: String?
    @Option(help: "Output folder.") var out: String
    @Option(help: "Optimisation steps.") var steps = 300
    @Option(help: "Images per step.") var batchSize = 64
    @Option(help: "Peak learning rate (the reference fine-tunes a pretrained tower at 1e-5; from scratch needs more).") var lr: Float = 1e-3
    @Option(help: "Warm-up steps.") var warmup = 20
    @Option(help: "Weight decay.") var weightDecay: Float = 0.05
    @Option(help: "Learning-rate factor for the weights taken from --init (new parts keep the full rate).") var pretrainedLrScale: Float = 1
    @Option(help: "Layer-wise learning-rate decay on the image tower.") var layerDecay: Float = 0.85
    @Option(help: "Probability of training on a sample's long caption.") var longProb = 0.5
    @Option(help: "Short captions per image to use (0: all).") var shortCaptions = 0
    @Flag(help: "Centre the LLM features on the training captions' mean before the adapter (not in the original recipe; helps raw or briefly tuned features of small LLMs).") var centerFeatures = false
    @Option(help: "Evaluate every N steps (0: only at the end).") var evalEvery = 100
    @Option(help: "Checkpoint every N steps.") var checkpointEvery = 100
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "CLIP BPE vocabulary (for --text-tower clip).") var vocab = StageTwoSetup.defaultVocab
    @Option(help: "The LLM given to cache-text; recorded in the model (after checking it made --features) so that `search` can embed queries.") var textModel: String?

    func run() throws {
        let train = try CaptionData.read(data).imageText(data)
        let held = try eval.map { try CaptionData.read($0).imageText($0) }
        var stores: [FeatureStore] = []
        if textTower == "llm" {
            guard let f = features else { throw ValidationError("--text-tower llm needs --features (run cache-text on --data first)") }
            do {
                stores.append(try FeatureStore(directory: f))
                if let e = evalFeatures { stores.append(try FeatureStore(directory: e, expecting: stores[0].identity)) }
            } catch { throw CommandFailure("\(error)") }
        }
        var cfg = CLIPTrainingConfig()
        cfg.steps = steps; cfg.batchSize = batchSize; cfg.learningRate = lr; cfg.warmupSteps = warmup
        cfg.weightDecay = weightDecay; cfg.layerDecay = layerDecay; cfg.pretrainedLearningRateScale = pretrainedLrScale; cfg.longCaptionProbability = longProb
        cfg.shortCaptionsPerImage = shortCaptions; cfg.evalEvery = evalEvery; cfg.checkpointEvery = checkpointEvery; cfg.seed = seed
        let learner = try StageTwoSetup.makeLearner(textTower: textTower, tower: tower, embedDim: embedDim, features: stores,
                                                    vocab: vocab, initFrom: initFrom, seed: seed,
                                                    centerFeatures: centerFeatures && textTower == "llm", textConfig: textConfig)
        if let tm = textModel, let l = learner as? LLM2CLIPLearner {
            guard try FeatureEncoderIdentity.fingerprint(path: tm) == stores[0].identity.modelHash else {
                throw ValidationError("--text-model \(tm) did not make the features in \(features ?? ""): they come from \(stores[0].identity.model)")
            }
            l.textEncoderPath = absolutePath(tm)
        }
        let trainer: CLIPTrainer
        do { trainer = try CLIPTrainer(learner: learner, train: train, heldOut: held, config: cfg, directory: out) } catch {
            throw CommandFailure("\(error)")
        }
        FileHandle.standardError.write(Data("train-clip: \(learner.kind); \(train.count) training images\(held.map { ", \($0.count) held out" } ?? ""); step \(trainer.step)/\(steps)\n".utf8))
        let start = Date()
        try trainStageTwo(trainer, label: "train-clip")
        FileHandle.standardError.write(Data("train-clip: done in \(formatDuration(Date().timeIntervalSince(start))); model in \(trainer.modelPath)\n".utf8))
    }
}

/// Runs a stage-2 trainer with a progress bar (loss, images/s, ETA) and prints evaluations.
func trainStageTwo(_ trainer: CLIPTrainer, label: String, quiet: Bool = false) throws {
    let bar = ProgressBar(total: trainer.config.steps, label: label, unit: "steps")
    try trainer.run { r in
        if let loss = r.loss {
            bar.detail = String(format: "loss %.3f, %.0f images/s, scale %.1f", loss, r.imagesPerSecond ?? 0, exp(r.logitScale ?? 0))
            bar.update(r.step)
        }
        if let ret = r.retrieval, !quiet {
            let parts = ret.keys.sorted().map { k -> String in
                let m = ret[k]!
                return "\(k) R@1 I→T \(fmt(m.recall(.imageToText, at: 1) ?? 0))% T→I \(fmt(m.recall(.textToImage, at: 1) ?? 0))%"
            }
            FileHandle.standardError.write(Data("\nstep \(r.step): \(parts.joined(separator: "; "))\n".utf8))
        }
    }
}
