import ArgumentParser
import Datasets
import Evaluation
import Formats
import Foundation
import Models
import NeuralNet
import Scenes
import TensorKit
import Tokenizers
import Training

/// Sizes and budgets of one demo run; stored next to each stage's output so a rerun with the
/// same settings skips finished stages and a rerun with other settings redoes them.
struct DemoSettings: Codable, Equatable {
    var trainImages = 600
    var evalImages = 1000
    /// Most objects per scene (the full world has up to 6). Two keep the dense captions near 60
    /// tokens, so caching and learning fit the 20-minute budget.
    var maxObjects = 2
    var seed: UInt64 = 1
    var stage1Steps = 12
    var stage1Batch = 16
    var stage1MicroBatch = 16
    var stage1LearningRate: Float = 5e-4
    /// LoRA on the top N decoder blocks only (the backward pass stops below them; 0: all blocks).
    var stage1TopLayers = 10
    var maxLength = 192
    var stage2Steps = 120
    var stage2Batch = 64
    var stage2LearningRate: Float = 3e-4
    /// No layer-wise decay: the towers start from scratch (the reference's 0.85 is for fine-tuning).
    var stage2LayerDecay: Float = 1.0
    /// Centre the LLM features before the adapter (SmolLM2's features share one large direction;
    /// without this the LLM2CLIP runs sit at the chance loss for ~100 steps).
    var centerFeatures = true
    var tower = "eva02-small"
    var textTower = "text-small"

    static let quick: DemoSettings = {
        var s = DemoSettings()
        s.trainImages = 48
        s.evalImages = 48
        s.stage1Steps = 2
        s.stage1Batch = 4
        s.stage1MicroBatch = 4
        s.maxLength = 96
        s.stage2Steps = 12
        s.stage2Batch = 16
        s.tower = "eva02-tiny"
        return s
    }()
}

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The whole LLM2CLIP recipe on one machine: data, stage 1, caches, three CLIPs, evaluation and a report.",
        discussion: """
        1. generates the scenes data set (a training split and an evaluation split with held-out wording);
        2. stage 1: caption-contrastive LoRA fine-tuning of SmolLM2 on the training captions;
        3. caches the raw and the fine-tuned (CC) SmolLM2 features of every caption;
        4. trains three models with the same image tower, data and budget: plain CLIP (77-token text
           transformer from scratch), LLM2CLIP over raw SmolLM2 features, LLM2CLIP over CC features;
        5. evaluates short- and long-caption retrieval (R@1/5/10 both ways) and the text encoders'
           caption-retrieval accuracy, and writes report/ (Markdown, HTML with SVG charts, JSON).
        Finished stages are skipped when their output is valid, so an interrupted demo continues.
        """)

    @Option(help: "Output folder (data, models, caches, report).") var out = "demo-run"
    @Flag(help: "A smoke run of a few minutes: tiny data, few steps, the smallest tower.") var quick = false
    @Option(help: "SmolLM2 (or another Llama-family LLM): GGUF file or Hugging Face folder.") var model = ".cache/assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    @Option(help: "CLIP BPE vocabulary for the plain-CLIP baseline.") var vocab = StageTwoSetup.defaultVocab
    @Option(help: "Training images.") var trainImages: Int?
    @Option(help: "Evaluation images (held-out wording).") var evalImages: Int?
    @Option(help: "Most objects per scene (1–6).") var maxObjects: Int?
    @Option(help: "Stage-1 steps.") var stage1Steps: Int?
    @Option(help: "Stage-1 caption pairs per step.") var stage1Batch: Int?
    @Option(help: "Stage-2 steps per model.") var stage2Steps: Int?
    @Option(help: "Stage-2 images per step.") var stage2Batch: Int?
    @Option(help: "Stage-2 peak learning rate.") var stage2Lr: Float?
    @Option(help: "Image tower preset for all three models.") var tower: String?
    @Option(help: "Seed of the data and the training runs.") var seed: UInt64?

    func run() throws {
        var s = quick ? DemoSettings.quick : DemoSettings()
        if let v = trainImages { s.trainImages = v }
        if let v = evalImages { s.evalImages = v }
        if let v = maxObjects {
            guard SceneDataset.maxObjectsRange.contains(v) else { throw ValidationError("--max-objects must be in \(SceneDataset.maxObjectsRange), got \(v)") }
            s.maxObjects = v
        }
        if let v = stage1Steps { s.stage1Steps = v }
        if let v = stage1Batch { s.stage1Batch = v }
        if let v = stage2Steps { s.stage2Steps = v }
        if let v = stage2Batch { s.stage2Batch = v }
        if let v = stage2Lr { s.stage2LearningRate = v }
        if let v = tower { s.tower = v }
        if let v = seed { s.seed = v }
        guard s.trainImages >= 4, s.evalImages >= 2 else { throw ValidationError("the demo needs at least 4 training and 2 evaluation images") }
        guard FileManager.default.fileExists(atPath: model) else {
            throw ValidationError("\(model): model not found; `bash scripts/assets.sh` installs SmolLM2 (or pass --model)")
        }
        guard FileManager.default.fileExists(atPath: vocab) else {
            throw ValidationError("\(vocab): CLIP vocabulary not found; `bash scripts/assets.sh` installs it (or pass --vocab)")
        }
        let pipeline = DemoPipeline(root: out, settings: s, modelPath: model, vocab: vocab)
        try pipeline.run()
    }
}

/// The demo's stages, each writing into its own folder under `root` with a `done.json` marker.
final class DemoPipeline {
    let root: String
    let settings: DemoSettings
    let modelPath: String
    let vocab: String
    let start = Date()
    var timings: [(String, Double)] = []

    init(root: String, settings: DemoSettings, modelPath: String, vocab: String) {
        self.root = root
        self.settings = settings
        self.modelPath = modelPath
        self.vocab = vocab
    }

    func path(_ parts: String...) -> String { parts.reduce(root) { ($0 as NSString).appendingPathComponent($1) } }

    func say(_ s: String) { FileHandle.standardError.write(Data("demo: \(s)\n".utf8)) }

    /// Runs `body` unless `dir/done.json` records the same `fingerprint`. An interrupted stage
    /// with the same settings (`dir/settings.json`) continues from its checkpoint; a folder made
    /// with other settings is removed first.
    func stage(_ name: String, dir: String, fingerprint: String, _ body: () throws -> Void) throws {
        let marker = (dir as NSString).appendingPathComponent("done.json")
        let started = (dir as NSString).appendingPathComponent("settings.json")
        if let data = FileManager.default.contents(atPath: marker), String(decoding: data, as: UTF8.self) == fingerprint {
            say("\(name): already done (\(dir))")
            return
        }
        if FileManager.default.fileExists(atPath: dir) {
            let same = FileManager.default.contents(atPath: started).map { String(decoding: $0, as: UTF8.self) == fingerprint } ?? false
            if same && !FileManager.default.fileExists(atPath: marker) {
                say("\(name): continuing an interrupted run in \(dir)")
            } else {
                say("\(name): settings changed; redoing \(dir)")
                try FileManager.default.removeItem(atPath: dir)
            }
        }
        let t0 = Date()
        say("\(name) …")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(fingerprint.utf8).write(to: URL(fileURLWithPath: started), options: .atomic)
        try body()
        try Data(fingerprint.utf8).write(to: URL(fileURLWithPath: marker), options: .atomic)
        let dt = Date().timeIntervalSince(t0)
        timings.append((name, dt))
        say("\(name): done in \(formatDuration(dt))")
    }

    func fingerprint(_ items: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: items, options: [.sortedKeys]), as: UTF8.self)
    }

    func run() throws {
        let s = settings
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        // 1. Data.
        let trainDir = path("data", "train"), evalDir = path("data", "eval")
        // Every later stage's fingerprint includes this one, so new data redoes them all.
        let dataPrint = try fingerprint(["train": s.trainImages, "eval": s.evalImages, "seed": s.seed, "max_objects": s.maxObjects])
        try stage("data", dir: path("data"), fingerprint: dataPrint) {
            try writeScenes(trainDir, count: s.trainImages, seed: s.seed, split: .train, heldOutWording: false)
            try writeScenes(evalDir, count: s.evalImages, seed: s.seed &+ 1, split: .eval, heldOutWording: true)
        }
        let train = try trimmed(ImageTextDataset.readManifest((trainDir as NSString).appendingPathComponent("manifest.jsonl")))
        let eval = try trimmed(ImageTextDataset.readManifest((evalDir as NSString).appendingPathComponent("manifest.jsonl")))

        // 2. Stage 1 on the training captions.
        let ccDir = path("stage1")
        let ccModel = (ccDir as NSString).appendingPathComponent("model")
        let modelHash = try FeatureEncoderIdentity.fingerprint(path: modelPath)
        try stage("stage 1 (caption-contrastive LoRA on \((modelPath as NSString).lastPathComponent))", dir: ccDir,
                  fingerprint: try fingerprint(["model": modelHash, "steps": s.stage1Steps, "batch": s.stage1Batch, "lr": Double(s.stage1LearningRate), "top_layers": s.stage1TopLayers,
                                                "max_length": s.maxLength, "data": dataPrint, "seed": s.seed])) {
            try runStageOne(pairs: train.captionPairs(), out: ccDir)
        }

        // 3. Caches: raw and CC features of the training and evaluation captions.
        // One stage: the CC model differs from the raw one only in its LoRA-adapted top blocks,
        // so the blocks below them run once for both caches.
        let rawHash = try FeatureEncoderIdentity.fingerprint(path: modelPath)
        let ccHash = try FeatureEncoderIdentity.fingerprint(path: ccModel)
        try stage("cache raw and CC features", dir: path("features"),
                  fingerprint: try fingerprint(["raw": rawHash, "cc": ccHash, "max_length": s.maxLength, "data": dataPrint])) {
            try cacheFeatures(raw: (modelPath, rawHash), cc: (ccModel, ccHash), data: [("train", train), ("eval", eval)])
        }
        var stores: [String: (train: FeatureStore, eval: FeatureStore)] = [:]
        for name in ["raw", "cc"] {
            stores[name] = (try FeatureStore(directory: path("features", name, "train")),
                            try FeatureStore(directory: path("features", name, "eval")))
        }

        // 4. Three stage-2 models with equal budgets.
        let runs: [(id: String, title: String, textTower: String, features: String?)] = [
            ("clip", "plain CLIP", "clip", nil),
            ("llm-raw", "LLM2CLIP, raw SmolLM2", "llm", "raw"),
            ("llm-cc", "LLM2CLIP, CC SmolLM2", "llm", "cc"),
        ]
        var learners: [String: StageTwoLearner] = [:]
        for r in runs {
            let dir = path("stage2", r.id)
            let featureStores = r.features.map { [stores[$0]!.train, stores[$0]!.eval] } ?? []
            let learner = try StageTwoSetup.makeLearner(textTower: r.textTower, tower: s.tower, embedDim: nil, features: featureStores,
                                                        vocab: vocab, initFrom: nil, seed: s.seed,
                                                        centerFeatures: s.centerFeatures && r.features != nil)
            if let f = r.features, let l = learner as? LLM2CLIPLearner { l.textEncoderPath = absolutePath(f == "raw" ? modelPath : ccModel) }
            var cfg = CLIPTrainingConfig()
            cfg.steps = s.stage2Steps
            cfg.batchSize = min(s.stage2Batch, train.count)
            cfg.learningRate = s.stage2LearningRate
            cfg.layerDecay = s.stage2LayerDecay
            cfg.warmupSteps = max(1, s.stage2Steps / 10)
            cfg.evalEvery = 0
            cfg.checkpointEvery = max(10, s.stage2Steps / 3)
            cfg.seed = s.seed
            try stage("stage 2: \(r.title)", dir: dir, fingerprint: try fingerprint(["config": String(decoding: try sortedEncoder.encode(cfg), as: UTF8.self), "tower": s.tower, "data": dataPrint, "center": s.centerFeatures,
                                                                                              "features": r.features.map { stores[$0]!.train.identity.modelHash } ?? "none"])) {
                let trainer = try CLIPTrainer(learner: learner, train: train, heldOut: nil, config: cfg, directory: dir)
                try trainStageTwo(trainer, label: r.id, quiet: true)
            }
            try learner.loadWeights((dir as NSString).appendingPathComponent("model.safetensors"))
            learners[r.id] = learner
        }

        // 5. Evaluation and report.
        say("evaluating on \(eval.count) held-out images …")
        let t0 = Date()
        var results: [EvaluationResult] = []
        var embeddings: [String: (images: Tensor, long: Tensor)] = [:]
        for r in runs {
            let learner = learners[r.id]!
            let e = try CLIPTrainer.embed(learner: learner, data: eval, shortCaptionsPerImage: 1)
            var result = EvaluationResult(model: r.title)
            if let sh = e.short { result.retrieval["short"] = try Retrieval.evaluate(images: e.images, texts: sh.texts, textToImage: sh.owners) }
            if let lo = e.long { result.retrieval["long"] = try Retrieval.evaluate(images: e.images, texts: lo.texts, textToImage: lo.owners) }
            // The training split too: fitting vs transfer.
            let t = try CLIPTrainer.embed(learner: learner, data: train, shortCaptionsPerImage: 1)
            if let sh = t.short { result.retrieval["train-short"] = try Retrieval.evaluate(images: t.images, texts: sh.texts, textToImage: sh.owners) }
            if let lo = t.long { result.retrieval["train-long"] = try Retrieval.evaluate(images: t.images, texts: lo.texts, textToImage: lo.owners) }
            // Caption-retrieval accuracy of the text side the model learns from.
            if let f = r.features {
                let keys = eval.samples.map { CaptionKey.short($0.key, 0) }, longKeys = eval.samples.map { CaptionKey.long($0.key) }
                result.captionRetrieval["text"] = try CaptionRetrieval.accuracy(short: try stores[f]!.eval.vectors(for: keys),
                                                                                long: try stores[f]!.eval.vectors(for: longKeys))
            } else if let sh = e.short, let lo = e.long, sh.owners == lo.owners {
                result.captionRetrieval["text"] = try CaptionRetrieval.accuracy(short: sh.texts, long: lo.texts)
            }
            results.append(result)
            if let lo = e.long { embeddings[r.id] = (e.images, lo.texts) }
        }
        timings.append(("evaluation", Date().timeIntervalSince(t0)))
        let report = DemoReport(root: root, settings: s, runs: runs.map { ($0.id, $0.title) }, results: results, timings: timings,
                                totalSeconds: Date().timeIntervalSince(start), eval: eval, longEmbeddings: embeddings)
        try report.write()
        print(report.table.markdown())
        print("Report: \(path("report", "index.html")) (and report.md); total \(formatDuration(Date().timeIntervalSince(start)))")
    }

    /// The demo uses each image's first short caption and its long caption.
    func trimmed(_ d: ImageTextDataset) -> ImageTextDataset {
        var out = d
        out.samples = d.samples.map { ImageTextSample(key: $0.key, image: $0.image, shortCaptions: Array($0.shortCaptions.prefix(1)), longCaption: $0.longCaption) }
        return out
    }

    func writeScenes(_ dir: String, count: Int, seed: UInt64, split: SceneSplit, heldOutWording: Bool) throws {
        var options = SceneExportOptions()
        options.webDataset = false
        let exporter = try SceneExporter(directory: dir, options: options)
        var done = 0
        while done < count {
            let n = min(256, count - done)
            try exporter.add(SceneDataset.generate(count: n, seed: seed, split: split, heldOutWording: heldOutWording, start: done,
                                                   maxObjects: settings.maxObjects))
            done += n
        }
        _ = try exporter.finish(info: SceneGenerationInfo(seed: seed, count: count, imageSize: SceneDataset.defaultImageSize, split: split,
                                                          heldOutWording: heldOutWording, maxObjects: settings.maxObjects))
        say("wrote \(count) \(split.rawValue) scenes to \(dir)")
    }

    func runStageOne(pairs: CaptionPairDataset, out: String) throws {
        let s = settings
        guard case .decoder(let llm, let tok) = try loadTextModel(modelPath) else {
            throw CommandFailure("\(modelPath) is not a decoder LLM; the demo's stage 1 needs one (SmolLM2)")
        }
        var cfg = TextTrainingConfig()
        cfg.steps = s.stage1Steps
        cfg.batchSize = min(s.stage1Batch, pairs.count)
        cfg.learningRate = s.stage1LearningRate
        cfg.warmupSteps = max(1, s.stage1Steps / 10)
        cfg.maxLength = s.maxLength
        cfg.microBatch = s.stage1MicroBatch
        cfg.evalEvery = 0
        cfg.checkpointEvery = max(5, s.stage1Steps / 4)
        cfg.seed = s.seed
        cfg.keepGraphs = true
        let depth = llm.config.layers
        if s.stage1TopLayers > 0 && s.stage1TopLayers < depth {
            cfg.lora.layers = Array((depth - s.stage1TopLayers)..<depth)
        }
        let encoder = LLM2VecEncoder(model: llm, tokenizer: tok)
        let trainer = try TextTrainer(encoder: encoder, pairs: pairs, heldOut: nil, config: cfg, directory: out)
        let bar = ProgressBar(total: cfg.steps, label: "stage 1", unit: "steps")
        try trainer.run { r in
            if let loss = r.loss {
                bar.detail = String(format: "loss %.3f, %.1f s/step", loss, r.stepSeconds ?? 0)
                bar.update(r.step)
            }
        }
        try exportMergedModel(llm, lora: cfg.lora, base: modelPath, out: out)
    }

    /// Caches the raw and the CC model's features of every caption in `features/{raw,cc}/<split>`.
    /// Blocks the two models share bit for bit (all below the LoRA-adapted ones) run once.
    /// An interrupted run continues: captions already in a store are not embedded again.
    func cacheFeatures(raw: (path: String, hash: String), cc: (path: String, hash: String), data: [(String, ImageTextDataset)]) throws {
        var encoders: [LLM2VecEncoder] = []
        var identities: [FeatureEncoderIdentity] = []
        for (encoderPath, hash) in [raw, cc] {
            guard case .decoder(let llm, let tok) = try loadTextModel(encoderPath) else {
                throw CommandFailure("\(encoderPath) is not a decoder LLM")
            }
            let encoder = LLM2VecEncoder(model: llm, tokenizer: tok)
            encoder.maxLength = settings.maxLength
            encoders.append(encoder)
            identities.append(FeatureEncoderIdentity(model: (encoderPath as NSString).lastPathComponent, modelHash: hash,
                                                     pooling: TextModel.decoder(llm, tok).recipe, template: EmbeddingTemplate.detect(tok).name,
                                                     maxLength: settings.maxLength, dimension: llm.config.hiddenSize, instruction: nil))
        }
        let (rawEncoder, ccEncoder) = (encoders[0], encoders[1])
        let layers = rawEncoder.model.config.layers
        let shared = min(rawEncoder.sharedBottomLayers(with: ccEncoder), layers - 1)
        say("the CC model shares its bottom \(shared) of \(layers) blocks with the raw model; they run once for both caches")
        for (name, d) in data {
            let texts = CaptionKey.texts(of: d)
            let writers = try zip(["raw", "cc"], identities).map { kind, identity in
                try FeatureStoreWriter(directory: path("features", kind, name), identity: identity, expectedCount: texts.count)
            }
            let todo = texts.filter { t in writers.contains { !$0.contains(t.key) } }
            let bar = ProgressBar(total: todo.count, label: "cache \(name)", unit: "captions")
            let chunk = 256
            var done = 0
            for startIndex in stride(from: 0, to: todo.count, by: chunk) {
                let part = Array(todo[startIndex..<min(todo.count, startIndex + chunk)])
                let (rawVectors, ccVectors) = try rawEncoder.embedSharingTrunk(part.map(\.text), with: ccEncoder, sharedLayers: shared) { d, _ in
                    bar.update(done + d)
                }
                for (writer, vectors) in zip(writers, [rawVectors, ccVectors]) {
                    let missing = part.indices.filter { !writer.contains(part[$0].key) }
                    let rows = missing.count == part.count ? vectors : indexSelect(vectors, axis: 0, indices: missing)
                    try writer.append(keys: missing.map { part[$0].key }, vectors: rows)
                }
                done += part.count
                bar.update(done)
            }
            for writer in writers { try writer.finish() }
        }
    }
}

/// Writes the trained adapter (PEFT layout) and the merged model as a Hugging Face folder with a
/// tokenizer, ready for cache-text (shared by finetune-text and the demo).
func exportMergedModel(_ llm: LlamaForCausalLM, lora: LoRAConfig, base: String, out: String) throws {
    try LoRA.saveAdapter(of: llm, config: lora, to: (out as NSString).appendingPathComponent("adapter"), baseModel: base)
    LoRA.merge(into: llm)
    let folder = (out as NSString).appendingPathComponent("model")
    try llm.saveHuggingFaceFolder(folder)
    if base.lowercased().hasSuffix(".gguf") {
        try TokenizerExport.writeHuggingFaceFiles(from: GGUFFile(path: base), to: folder)
    } else {
        try TokenizerExport.copyHuggingFaceFiles(from: base, to: folder)
    }
}

/// `path` made absolute against the current directory.
func absolutePath(_ path: String) -> String {
    path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
}

/// A JSON encoder with a stable key order (fingerprints compare encoded settings as text).
let sortedEncoder: JSONEncoder = {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys]
    return e
}()
