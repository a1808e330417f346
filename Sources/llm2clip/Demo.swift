import ArgumentParser
import Foundation
import Scenes

/// Sizes and budgets of one demo run; stored next to each stage's output so a rerun with the
/// same settings skips finished stages and a rerun with other settings redoes them.
struct DemoSettings: Codable, Equatable {
    /// Fresh fine-tuning images (each with one short and one dense caption).
    var fineTuneImages = 1000
    /// New evaluation images; split (a) captions them in the training wording, split (b) in the
    /// held-out wording (synonyms no text tower was trained on).
    var evalImages = 1000
    /// Single-object images for zero-shot colour × shape classification.
    var zeroShotImages = 600
    /// Most objects per scene: 3 makes most dense captions longer than CLIP's 77 tokens
    /// (73% are cut) while keeping the LLM caching inside the budget.
    var maxObjects = 3
    /// Seed of the data.
    var seed: UInt64 = 1
    /// Seeds of the fine-tuning stage (one set of three fine-tuned models per seed).
    var seeds: [UInt64] = [1]
    var maxLength = 192
    var stage2Steps = 100
    var stage2Batch = 64
    /// Peak learning rate of the new parts (adapter, image head); the pretrained ones get
    /// `pretrainedLearningRateScale` times it, with layer-wise decay on the tower.
    var stage2LearningRate: Float = 1e-3
    var pretrainedLearningRateScale: Float = 0.1
    var stage2LayerDecay: Float = 0.85
    var longCaptionProbability = 0.5
    /// Centre the LLM features on the fine-tuning captions' mean before the adapter (SmolLM2's
    /// features share one large direction).
    var centerFeatures = true
    /// Give the LLM2CLIP models a new image head (as the paper does: the tower's output space is
    /// the base CLIP's, made for its own text tower); off keeps the base CLIP's head.
    var freshImageHead = true

    static let quick: DemoSettings = {
        var s = DemoSettings()
        s.fineTuneImages = 48
        s.evalImages = 48
        s.zeroShotImages = 24
        s.maxLength = 160
        s.stage2Steps = 6
        s.stage2Batch = 16
        return s
    }()
}

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The LLM2CLIP recipe as the paper runs it: fine-tune a pretrained CLIP against a caption-contrastive LLM, and compare.",
        discussion: """
        Starts from the project's model zoo (--zoo): a base scenes CLIP (image tower + 77-token text \
        tower, pretrained on short captions) and the caption-contrastive (CC) LoRA adapter of SmolLM2.
        1. makes a fresh fine-tuning set and new evaluation images (the 3-object scenes world);
        2. caches the raw and the CC SmolLM2 features of every caption (the CC model shares the raw \
        model's unadapted blocks, which run once for both);
        3. fine-tunes three models from the same base image tower with equal data and budget: CLIP \
        with its own text tower (dense captions cut at 77 tokens), LLM2CLIP over raw SmolLM2, \
        LLM2CLIP over CC SmolLM2 (new adapter and image head);
        4. evaluates them and the base CLIP on split (a), training wording, and split (b), held-out \
        wording: short- and long-caption retrieval R@1/5/10 both ways, the text encoders' \
        caption-retrieval accuracy, zero-shot colour × shape classification; writes report/ \
        (Markdown, HTML with charts and retrieved examples, JSON) and prints the table.
        Finished stages are skipped when their output is valid, so an interrupted demo continues. \
        scripts/demo.sh --from-scratch rebuilds the zoo first.
        """)

    @Option(help: "Output folder (data, caches, models, report).") var out = "demo-run"
    @Flag(help: "A smoke run of a few minutes: tiny data and few steps.") var quick = false
    @Option(help: "The model zoo folder (scenes-clip-base/, smollm2-cc-adapter/).") var zoo = "models"
    @Option(help: "SmolLM2-135M-Instruct (the LLM the zoo's CC adapter belongs to): GGUF file or Hugging Face folder.")
    var model = ".cache/assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    @Option(help: "CLIP BPE vocabulary.") var vocab = StageTwoSetup.defaultVocab
    @Option(help: "Fine-tuning images.") var fineTuneImages: Int?
    @Option(help: "Evaluation images (each split).") var evalImages: Int?
    @Option(help: "Single-object images for zero-shot classification.") var zeroShotImages: Int?
    @Option(help: "Most objects per scene (1–6).") var maxObjects: Int?
    @Option(help: "Stage-2 steps per model.") var stage2Steps: Int?
    @Option(help: "Stage-2 images per step.") var stage2Batch: Int?
    @Option(help: "Stage-2 peak learning rate of the new parts.") var stage2Lr: Float?
    @Option(help: "Learning-rate factor of the pretrained parts.") var pretrainedLrScale: Float?
    @Option(help: "Seed of the data.") var seed: UInt64?
    @Flag(help: "Start the LLM2CLIP models' image head from the base CLIP's instead of a new one.") var keepImageHead = false
    @Option(help: "Seeds of the fine-tuning stage, comma-separated (e.g. 1,2,3): the comparison is repeated for each.")
    var seeds: String?

    func run() throws {
        var s = quick ? DemoSettings.quick : DemoSettings()
        if let v = fineTuneImages { s.fineTuneImages = v }
        if let v = evalImages { s.evalImages = v }
        if let v = zeroShotImages { s.zeroShotImages = v }
        if let v = maxObjects {
            guard SceneDataset.maxObjectsRange.contains(v) else { throw ValidationError("--max-objects must be in \(SceneDataset.maxObjectsRange), got \(v)") }
            s.maxObjects = v
        }
        if let v = stage2Steps { s.stage2Steps = v }
        if let v = stage2Batch { s.stage2Batch = v }
        if let v = stage2Lr { s.stage2LearningRate = v }
        if let v = pretrainedLrScale { s.pretrainedLearningRateScale = v }
        if let v = seed { s.seed = v }
        if keepImageHead { s.freshImageHead = false }
        if let list = seeds {
            let parsed = list.split(separator: ",").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
            guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else { throw ValidationError("--seeds takes comma-separated integers, got '\(list)'") }
            s.seeds = parsed.map { $0! }
            guard Set(s.seeds).count == s.seeds.count else { throw ValidationError("--seeds lists a seed twice: '\(list)'") }
        }
        guard s.fineTuneImages >= 4, s.evalImages >= 2, s.zeroShotImages >= 2 else {
            throw ValidationError("the demo needs at least 4 fine-tuning, 2 evaluation and 2 zero-shot images")
        }
        guard s.stage2Steps >= 1, s.stage2Batch >= 2 else { throw ValidationError("--stage2-steps must be ≥ 1 and --stage2-batch ≥ 2") }
        guard FileManager.default.fileExists(atPath: model) else {
            throw ValidationError("\(model): model not found; `bash scripts/assets.sh` installs SmolLM2 (or pass --model)")
        }
        guard FileManager.default.fileExists(atPath: vocab) else {
            throw ValidationError("\(vocab): CLIP vocabulary not found; `bash scripts/assets.sh` installs it (or pass --vocab)")
        }
        let models: ModelZoo
        do { models = try ModelZoo(directory: zoo) } catch { throw CommandFailure("\(error)") }
        let pipeline = DemoPipeline(root: out, settings: s, zoo: models, llmPath: model, vocab: vocab)
        try pipeline.run()
    }
}
