import Datasets
import Evaluation
import Formats
import Foundation
import Images
import Models
import NeuralNet
import Scenes
import TensorKit
import Tokenizers
import Training

/// One fine-tuned model of the demo's comparison.
struct DemoRun {
    enum TextSide { case clip, raw, cc }
    let id: String
    let title: String
    let text: TextSide
    /// The cache a LLM2CLIP run reads ("raw" or "cc").
    var features: String? {
        switch text {
        case .clip: return nil
        case .raw: return "raw"
        case .cc: return "cc"
        }
    }

    static let all = [
        DemoRun(id: "clip", title: "CLIP, fine-tuned", text: .clip),
        DemoRun(id: "llm-raw", title: "LLM2CLIP, raw SmolLM2", text: .raw),
        DemoRun(id: "llm-cc", title: "LLM2CLIP, CC SmolLM2", text: .cc),
    ]
    static let baseTitle = "base CLIP (before fine-tuning)"
}

/// The demo's evaluation data: new images captioned in two wordings, and single-object scenes.
struct DemoEvaluationData {
    /// Split (a): training wording.
    let trainingWording: ImageTextDataset
    /// Split (b): the same images in held-out wording (sample keys prefixed `hw-`).
    let heldOutWording: ImageTextDataset
    let zeroShot: ImageTextDataset
    let zeroShotLabels: [Int]

    static let classNames: [String] = SceneColor.allCases.flatMap { c in ShapeKind.allCases.map { "\(c) \($0)" } }
    static let templates = ["a {}.", "a picture of a {}.", "an image of a {} on a plain background.",
                            "a simple drawing of a {}.", "there is a {} in the picture."]
    /// Every zero-shot prompt with its feature key, class-major.
    static let prompts: [(key: String, text: String)] = classNames.enumerated().flatMap { c, name in
        templates.enumerated().map { t, template in ("prompt-\(c)-\(t)", PromptTemplates.fill(template, with: name)) }
    }
}

/// The demo's stages, each writing into its own folder under `root` with a `done.json` marker.
final class DemoPipeline {
    let root: String
    let settings: DemoSettings
    let zoo: ModelZoo
    let llmPath: String
    let vocab: String
    let start = Date()
    var timings: [(String, Double)] = []

    init(root: String, settings: DemoSettings, zoo: ModelZoo, llmPath: String, vocab: String) {
        self.root = root
        self.settings = settings
        self.zoo = zoo
        self.llmPath = llmPath
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
        // Hashed when the zoo was opened.
        let baseHash = zoo.hashes["\(ModelZoo.baseCLIPFolder)/model.safetensors"]!
        let adapterHash = zoo.hashes["\(ModelZoo.ccAdapterFolder)/adapter_model.safetensors"]!

        // 1. Data: fine-tuning images, evaluation images in two wordings, single-object scenes.
        let dataPrint = try fingerprint(["fine_tune": s.fineTuneImages, "eval": s.evalImages, "zero_shot": s.zeroShotImages,
                                         "seed": s.seed, "max_objects": s.maxObjects, "version": SceneDataset.version])
        try stage("data", dir: path("data"), fingerprint: dataPrint) { try writeData() }
        let fineTune = try readSplit("fine-tune")
        let eval = try readEvaluationData()

        // 2. The CC LLM as the paper releases it: SmolLM2 with the zoo's adapter merged (a Hugging
        // Face folder, so that `search` and `cache-text` can use it), then the caches of the raw
        // and the CC features of every caption and prompt.
        let llmHash = try FeatureEncoderIdentity.fingerprint(path: llmPath)
        try stage("merge the CC adapter into SmolLM2", dir: path("cc-llm"), fingerprint: try fingerprint(["llm": llmHash, "adapter": adapterHash])) {
            try mergeAdapter()
        }
        let ccHash = try FeatureEncoderIdentity.fingerprint(path: ccPath)
        let cachePrint = try fingerprint(["llm": llmHash, "cc": ccHash, "max_length": s.maxLength, "data": dataPrint])
        let cacheSets: [(String, [(key: String, text: String)])] = [
            ("fine-tune", CaptionKey.texts(of: fineTune)), ("eval-a", CaptionKey.texts(of: eval.trainingWording)),
            ("eval-b", CaptionKey.texts(of: eval.heldOutWording)), ("prompts", DemoEvaluationData.prompts),
        ]
        try stage("cache raw and CC SmolLM2 features", dir: path("features"), fingerprint: cachePrint) {
            try cacheFeatures(llmHash: llmHash, ccHash: ccHash, sets: cacheSets)
        }
        var stores: [String: [String: FeatureStore]] = [:]
        for kind in ["raw", "cc"] {
            for (name, _) in cacheSets { stores[kind, default: [:]][name] = try FeatureStore(directory: path("features", kind, name)) }
        }

        // 3. The base CLIP, before fine-tuning.
        var results: [UInt64: [String: EvaluationResult]] = [:]
        var examples: [String: (images: Tensor, long: Tensor)] = [:]
        let evalPrint = try fingerprint(["base": baseHash, "data": dataPrint])
        try stage("evaluate the base CLIP", dir: path("eval", "base"), fingerprint: evalPrint) {
            let learner = try baseLearner()
            let r = try evaluate(learner, title: DemoRun.baseTitle, run: nil, stores: nil, eval: eval)
            try r.result.jsonData().write(to: URL(fileURLWithPath: path("eval", "base", "result.json")), options: .atomic)
        }
        let baseResult = try EvaluationResult.decode(from: Data(contentsOf: URL(fileURLWithPath: path("eval", "base", "result.json"))))

        // 4. Three fine-tuned models per seed, from the same base tower, with equal budgets.
        for seed in s.seeds {
            for run in DemoRun.all {
                let dir = path("stage2", "seed-\(seed)", run.id)
                var cfg = CLIPTrainingConfig()
                cfg.steps = s.stage2Steps
                cfg.batchSize = min(s.stage2Batch, fineTune.count)
                cfg.learningRate = s.stage2LearningRate
                cfg.pretrainedLearningRateScale = s.pretrainedLearningRateScale
                cfg.layerDecay = s.stage2LayerDecay
                cfg.longCaptionProbability = s.longCaptionProbability
                cfg.warmupSteps = max(1, s.stage2Steps / 10)
                cfg.evalEvery = 0
                cfg.checkpointEvery = max(10, s.stage2Steps / 3)
                cfg.seed = seed
                let learner = try makeLearner(run, seed: seed, stores: stores)
                var items: [String: Any] = ["config": String(decoding: try sortedEncoder.encode(cfg), as: UTF8.self), "base": baseHash, "data": dataPrint]
                if run.features != nil {
                    // What only the LLM2CLIP runs depend on.
                    items["cache"] = cachePrint
                    items["center"] = s.centerFeatures
                    items["fresh_head"] = s.freshImageHead
                }
                let runPrint = try fingerprint(items)
                try stage("fine-tune \(run.title) (seed \(seed))", dir: dir, fingerprint: runPrint) {
                    let trainer = try CLIPTrainer(learner: learner, train: fineTune, heldOut: nil, config: cfg, directory: dir)
                    try trainStageTwo(trainer, label: "\(run.id) seed \(seed)", quiet: true)
                }
                try learner.loadWeights((dir as NSString).appendingPathComponent("model.safetensors"))
                let t0 = Date()
                let r = try evaluate(learner, title: run.title, run: run, stores: stores[run.features ?? ""], eval: eval)
                timings.append(("evaluate \(run.title) (seed \(seed))", Date().timeIntervalSince(t0)))
                results[seed, default: [:]][run.id] = r.result
                if seed == s.seeds[0] { examples[run.id] = r.longA }
            }
        }

        // 5. Report.
        let report = DemoReport(root: root, settings: s, base: baseResult, results: results, timings: timings,
                                totalSeconds: Date().timeIntervalSince(start), eval: eval.trainingWording, longEmbeddings: examples)
        try report.write()
        print(report.table(split: "a").markdown())
        print(report.table(split: "b").markdown())
        if s.seeds.count > 1 { print(report.seedSpreadMarkdown()) }
        print("Report: \(path("report", "index.html")) (and report.md); total \(formatDuration(Date().timeIntervalSince(start)))")
    }

    // MARK: data

    func writeData() throws {
        let s = settings
        try writeScenes(path("data", "fine-tune"), count: s.fineTuneImages, seed: s.seed, split: .train, heldOutWording: false, maxObjects: s.maxObjects)
        try writeScenes(path("data", "eval-a"), count: s.evalImages, seed: s.seed &+ 1, split: .eval, heldOutWording: false, maxObjects: s.maxObjects)
        try writeScenes(path("data", "eval-b"), count: s.evalImages, seed: s.seed &+ 1, split: .eval, heldOutWording: true, maxObjects: s.maxObjects)
        try writeScenes(path("data", "zero-shot"), count: s.zeroShotImages, seed: s.seed &+ 2, split: .eval, heldOutWording: false, maxObjects: 1)
    }

    func writeScenes(_ dir: String, count: Int, seed: UInt64, split: SceneSplit, heldOutWording: Bool, maxObjects: Int) throws {
        try writeSceneFolder(dir, count: count, seed: seed, split: split, heldOutWording: heldOutWording, maxObjects: maxObjects)
        say("wrote \(count) \(split.rawValue) scenes\(heldOutWording ? " (held-out wording)" : "") to \(dir)")
    }

    /// A split with each image's first short caption and its dense caption; `keyPrefix` keeps
    /// feature keys apart when two splits share images.
    func readSplit(_ name: String, keyPrefix: String = "") throws -> ImageTextDataset {
        var d = try ImageTextDataset.readManifest(path("data", name, "manifest.jsonl"))
        d.samples = d.samples.map {
            ImageTextSample(key: keyPrefix + $0.key, image: $0.image, shortCaptions: Array($0.shortCaptions.prefix(1)), longCaption: $0.longCaption)
        }
        return d
    }

    func readEvaluationData() throws -> DemoEvaluationData {
        let zs = try readSplit("zero-shot")
        let labels = (0..<zs.count).map { i -> Int in
            let object = SceneDataset.describe(index: i, seed: settings.seed &+ 2, split: .eval, maxObjects: 1).description.objects[0]
            return object.color.rawValue * ShapeKind.allCases.count + object.shape.rawValue
        }
        return DemoEvaluationData(trainingWording: try readSplit("eval-a"), heldOutWording: try readSplit("eval-b", keyPrefix: "hw-"),
                                  zeroShot: zs, zeroShotLabels: labels)
    }

    // MARK: caches

    /// The merged CC model's Hugging Face folder.
    var ccPath: String { path("cc-llm", "model") }

    /// SmolLM2 with the zoo's CC adapter merged into its weights, written as a Hugging Face folder.
    func mergeAdapter() throws {
        guard case .decoder(let llm, _) = try loadTextModel(llmPath) else {
            throw CommandFailure("\(llmPath) is not a decoder LLM; the demo needs SmolLM2-135M-Instruct, the model the zoo's CC adapter was trained on")
        }
        let config: LoRAConfig
        do { config = try LoRA.loadAdapter(into: llm, from: zoo.ccAdapter) } catch {
            throw CommandFailure("\(zoo.ccAdapter): cannot apply the CC adapter to \(llmPath): \(error)")
        }
        try exportMergedModel(llm, lora: config, base: llmPath, out: path("cc-llm"))
    }

    /// SmolLM2 as it comes (raw) and the merged CC model.
    func loadEncoders() throws -> (raw: LLM2VecEncoder, cc: LLM2VecEncoder) {
        guard case .decoder(let raw, let tok) = try loadTextModel(llmPath), case .decoder(let cc, let ccTok) = try loadTextModel(ccPath) else {
            throw CommandFailure("\(llmPath) is not a decoder LLM; the demo needs SmolLM2-135M-Instruct, the model the zoo's CC adapter was trained on")
        }
        let encoders = (LLM2VecEncoder(model: raw, tokenizer: tok), LLM2VecEncoder(model: cc, tokenizer: ccTok))
        encoders.0.maxLength = settings.maxLength
        encoders.1.maxLength = settings.maxLength
        return encoders
    }

    /// Caches the raw and the CC model's features of every set in `features/{raw,cc}/<set>`.
    /// Blocks the two models share bit for bit (all below the LoRA-adapted ones) run once.
    /// An interrupted run continues: texts already in a store are not embedded again.
    func cacheFeatures(llmHash: String, ccHash: String, sets: [(String, [(key: String, text: String)])]) throws {
        let (raw, cc) = try loadEncoders()
        let recipe = TextModel.decoder(raw.model, raw.tokenizer).recipe, template = EmbeddingTemplate.detect(raw.tokenizer).name
        let name = (llmPath as NSString).lastPathComponent
        let identities = [
            FeatureEncoderIdentity(model: name, modelHash: llmHash, pooling: recipe, template: template, maxLength: settings.maxLength,
                                   dimension: raw.model.config.hiddenSize),
            FeatureEncoderIdentity(model: "\(name) + \(ModelZoo.ccAdapterFolder) (merged)", modelHash: ccHash, pooling: recipe,
                                   template: EmbeddingTemplate.detect(cc.tokenizer).name, maxLength: settings.maxLength,
                                   dimension: cc.model.config.hiddenSize),
        ]
        let layers = raw.model.config.layers
        let shared = min(raw.sharedBottomLayers(with: cc), layers - 1)
        say("the CC model shares its bottom \(shared) of \(layers) blocks with the raw model; they run once for both caches")
        for (set, texts) in sets {
            let writers = try zip(["raw", "cc"], identities).map { kind, identity in
                try FeatureStoreWriter(directory: path("features", kind, set), identity: identity, expectedCount: texts.count)
            }
            let todo = texts.filter { t in writers.contains { !$0.contains(t.key) } }
            let bar = ProgressBar(total: todo.count, label: "cache \(set)", unit: "texts")
            var done = 0
            for first in stride(from: 0, to: todo.count, by: 256) {
                let part = Array(todo[first..<min(todo.count, first + 256)])
                let (rawVectors, ccVectors) = try raw.embedSharingTrunk(part.map(\.text), with: cc, sharedLayers: shared) { d, _ in
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

    // MARK: models

    func baseLearner() throws -> CLIPBaselineLearner {
        let model: CLIPBaselineModel
        do { model = try CLIPBaselineModel.load(path: zoo.baseCLIP) } catch { throw CommandFailure("\(zoo.baseCLIP): \(error)") }
        let learner = CLIPBaselineLearner(model: model, tokenizer: try CLIPTokenizer(vocabPath: vocab))
        learner.pretrainedParameters = Set(model.namedParameters().map(\.0))
        return learner
    }

    /// A fresh learner for `run`, started from the base CLIP: CLIP takes all its weights; LLM2CLIP
    /// takes the image tower without its head and the logit scale, and gets a new adapter and head.
    func makeLearner(_ run: DemoRun, seed: UInt64, stores: [String: [String: FeatureStore]]) throws -> StageTwoLearner {
        let base = try baseLearner()
        guard let kind = run.features else { return base }
        guard let eva = base.model.config.eva02 else {
            throw CommandFailure("\(zoo.baseCLIP): the demo's LLM2CLIP models need an EVA02 base tower")
        }
        let s = stores[kind]!
        var config = LLM2CLIPConfig(eva02: eva, llmDim: s["fine-tune"]!.identity.dimension)
        config.adapterCentersInput = settings.centerFeatures ? true : nil
        var rng = RNG(seed: seed &* 0x9E37_79B9_7F4A_7C15 ^ 0x11A2)
        let learner = LLM2CLIPLearner(model: LLM2CLIPModel(config, rng: &rng),
                                      features: ["fine-tune", "eval-a", "eval-b", "prompts"].map { s[$0]! })
        if settings.centerFeatures { try learner.centreFeatures(on: s["fine-tune"]!) }
        let freshHead = settings.freshImageHead
        try learner.initialise(from: zoo.baseCLIP) { name in
            (name.hasPrefix("visual.") && !(freshHead && name.hasPrefix("visual.head."))) || name == "logit_scale"
        }
        learner.textEncoderPath = absolutePath(kind == "raw" ? llmPath : ccPath)
        return learner
    }

    // MARK: evaluation

    /// Retrieval on both splits, the text side's caption-retrieval accuracy on both, zero-shot.
    func evaluate(_ learner: StageTwoLearner, title: String, run: DemoRun?, stores: [String: FeatureStore]?, eval: DemoEvaluationData) throws
        -> (result: EvaluationResult, longA: (images: Tensor, long: Tensor)) {
        var result = EvaluationResult(model: title)
        var longA: (images: Tensor, long: Tensor)?
        for (split, data, store) in [("a", eval.trainingWording, "eval-a"), ("b", eval.heldOutWording, "eval-b")] {
            let e = try CLIPTrainer.embed(learner: learner, data: data, shortCaptionsPerImage: 1)
            guard let sh = e.short, let lo = e.long else { throw CommandFailure("the evaluation split (\(split)) needs short and long captions") }
            result.retrieval["\(split)-short"] = try Retrieval.evaluate(images: e.images, texts: sh.texts, textToImage: sh.owners)
            result.retrieval["\(split)-long"] = try Retrieval.evaluate(images: e.images, texts: lo.texts, textToImage: lo.owners)
            if let st = stores?[store] {
                // The LLM features the adapter reads.
                result.captionRetrieval[split] = try CaptionRetrieval.accuracy(short: try st.vectors(for: data.samples.map { CaptionKey.short($0.key, 0) }),
                                                                               long: try st.vectors(for: data.samples.map { CaptionKey.long($0.key) }))
            } else {
                result.captionRetrieval[split] = try CaptionRetrieval.accuracy(short: sh.texts, long: lo.texts)
            }
            if split == "a" { longA = (e.images, lo.texts) }
        }
        let images = try embedImages(learner, eval.zeroShot)
        let keys = Dictionary(uniqueKeysWithValues: DemoEvaluationData.prompts.map { ($0.text, $0.key) })
        result.zeroShot["colour-shape"] = try ZeroShot.evaluate(images: images, labels: eval.zeroShotLabels, classNames: DemoEvaluationData.classNames,
                                                                templates: DemoEvaluationData.templates) { prompts in
            try withNoGrad {
                if let llm = learner as? LLM2CLIPLearner {
                    return llm.model.encodeText(try llm.vectors(prompts.map { keys[$0]! }))
                }
                return try learner.encodeCaptions(prompts.map { SampleCaption(key: "", text: $0, isLong: false) })
            }
        }
        return (result, longA!)
    }

    /// Unit-length embeddings of every image of `data` (no captions needed).
    func embedImages(_ learner: StageTwoLearner, _ data: ImageTextDataset) throws -> Tensor {
        let loader = DataLoader(data, batchSize: 128, transform: CLIPTransform(size: learner.imageSize), mode: .eval, prefetch: 1)
        learner.module.eval()
        return try withNoGrad {
            var rows: [Tensor] = []
            let stream = loader.epoch(0)
            while let b = try stream.next() { rows.append(learner.encodeImages(b.images)) }
            return concat(rows, axis: 0)
        }
    }
}

/// A scenes folder (manifest and JPEGs, no web-dataset shards) of samples `0 ..< count`, made 256 at a time.
func writeSceneFolder(_ dir: String, count: Int, seed: UInt64, split: SceneSplit, heldOutWording: Bool, maxObjects: Int) throws {
    var options = SceneExportOptions()
    options.webDataset = false
    let exporter = try SceneExporter(directory: dir, options: options)
    for start in stride(from: 0, to: count, by: 256) {
        try exporter.add(SceneDataset.generate(count: min(256, count - start), seed: seed, split: split, heldOutWording: heldOutWording,
                                               start: start, maxObjects: maxObjects))
    }
    _ = try exporter.finish(info: SceneGenerationInfo(seed: seed, count: count, imageSize: SceneDataset.defaultImageSize, split: split,
                                                      heldOutWording: heldOutWording, maxObjects: maxObjects))
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
