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

/// The project's shipped models (`models/`): each in its own folder with a model card
/// (`README.md`) that names every file with its SHA-256. Opening the zoo checks the hashes, so a
/// truncated or changed file is refused before anything runs on it.
///
/// ```swift
/// let zoo = try ModelZoo(directory: "models")
/// let base = try CLIPBaselineModel.load(path: zoo.baseCLIP)
/// try LoRA.loadAdapter(into: smollm2, from: zoo.ccAdapter)
/// ```
struct ModelZoo {
    static let baseCLIPFolder = "scenes-clip-base"
    static let ccAdapterFolder = "smollm2-cc-adapter"

    let directory: String
    /// SHA-256 of every zoo file, by path relative to the zoo (checked against the cards on opening).
    private(set) var hashes: [String: String] = [:]

    /// The base scenes CLIP (plain-CLIP layout: `visual.*`, `text_model.*`, `text_projection`, `logit_scale`).
    var baseCLIP: String { file(Self.baseCLIPFolder, "model.safetensors") }
    /// The caption-contrastive LoRA adapter of SmolLM2-135M-Instruct (PEFT folder).
    var ccAdapter: String { (directory as NSString).appendingPathComponent(Self.ccAdapterFolder) }

    init(directory: String) throws {
        self.directory = directory
        for (folder, names) in [(Self.baseCLIPFolder, ["model.safetensors"]),
                                (Self.ccAdapterFolder, ["adapter_model.safetensors", "adapter_config.json"])] {
            for name in names {
                hashes["\(folder)/\(name)"] = try Self.verify(file(folder, name), card: file(folder, "README.md"))
            }
        }
    }

    func file(_ parts: String...) -> String { parts.reduce(directory) { ($0 as NSString).appendingPathComponent($1) } }

    /// The SHA-256 that `card` lists for the file named `name` (a line holding `` `name` `` and 64 hex digits).
    static func listedHash(of name: String, card: String) throws -> String {
        guard let text = try? String(contentsOfFile: card, encoding: .utf8) else {
            throw CommandFailure("\(card): model card not found; the zoo folder is incomplete (git checkout models/, or rebuild it with scripts/build-zoo.sh)")
        }
        for line in text.split(whereSeparator: \.isNewline) where line.contains("`\(name)`") {
            let words = line.split { !$0.isHexDigit }
            if let h = words.first(where: { $0.count == 64 }) { return String(h).lowercased() }
        }
        throw CommandFailure("\(card): no SHA-256 listed for `\(name)` (expected a line with `\(name)` and its 64-digit hash)")
    }

    /// Checks `path` against the hash its model card lists; returns that hash.
    @discardableResult
    static func verify(_ path: String, card: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CommandFailure("\(path): not found; the zoo folder is incomplete (git checkout models/, or rebuild it with scripts/build-zoo.sh)")
        }
        let expected = try listedHash(of: (path as NSString).lastPathComponent, card: card)
        let actual = try SHA256.hex(ofFile: path)
        guard actual == expected else {
            throw CommandFailure("\(path): SHA-256 \(actual) differs from \(expected) in \(card); the file is damaged or was replaced (git checkout it, or update the card if you rebuilt it)")
        }
        return actual
    }
}

struct Zoo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The model zoo: check the shipped files against their cards, or store a trained model in half precision for it.",
        subcommands: [ZooCheck.self, ZooMeasure.self, ZooExport.self])
}

struct ZooCheck: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Check every zoo file against the SHA-256 in its model card.")
    @Option(help: "The zoo folder.") var zoo = "models"
    func run() throws {
        let z = try ModelZoo(directory: zoo)
        print("zoo \(z.directory): every file matches its card")
    }
}

struct ZooExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Copy a safetensors file with its floating-point tensors stored as float16 (metadata kept), and print its SHA-256.")
    @Option(help: "Input safetensors file.") var input: String
    @Option(help: "Output safetensors file (written atomically).") var output: String

    func run() throws {
        let file = try SafetensorsFile(path: input)
        var state: [String: Tensor] = [:]
        for name in file.names {
            let t = try file.tensor(name)
            state[name] = [.float32, .bfloat16].contains(t.dtype) ? t.to(.float16) : t
        }
        try FileManager.default.createDirectory(atPath: (output as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        // JSON-valued metadata (configs) re-encoded with sorted keys, so that the same weights
        // always give the same file.
        let metadata = file.metadata.mapValues { value -> String in
            guard value.hasPrefix("{"), let object = try? JSONSerialization.jsonObject(with: Data(value.utf8)),
                  let canonical = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return value }
            return String(decoding: canonical, as: UTF8.self)
        }
        try writeSafetensors(state, to: output, metadata: metadata)
        print("\(output): \(state.count) tensors, sha256 \(try SHA256.hex(ofFile: output))")
    }
}

/// Re-measures each zoo model's key metric on a small slice of new data (what its card's
/// `zoo-test-metric` line records and the zoo test checks).
struct ZooMeasure: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measure",
        abstract: "Re-measure the zoo models' key metrics on a small slice of new scenes (evaluation split, seed 1002).",
        discussion: """
        base CLIP: short-caption text→image R@1 over the first --slice new scenes (training wording). \
        CC adapter: caption-retrieval accuracy (mean of both directions) of SmolLM2 with the adapter \
        merged, over the first --slice (short, dense) caption pairs, next to raw SmolLM2's.
        """)
    @Option(help: "The zoo folder.") var zoo = "models"
    @Option(help: "SmolLM2-135M-Instruct, the CC adapter's base model.") var model = ".cache/assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    @Option(help: "CLIP BPE vocabulary.") var vocab = StageTwoSetup.defaultVocab
    @Option(help: "Scenes (and caption pairs) to measure on.") var slice = 200
    @Flag(help: "Print JSON.") var json = false

    static let seed: UInt64 = 1002
    static let maxObjects = 3

    func run() throws {
        let z = try ModelZoo(directory: zoo)
        guard slice >= 2 else { throw ValidationError("--slice must be at least 2") }
        // Base CLIP.
        let base = try CLIPBaselineModel.load(path: z.baseCLIP)
        let learner = CLIPBaselineLearner(model: base, tokenizer: try CLIPTokenizer(vocabPath: vocab))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-measure-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSceneFolder(dir, count: slice, seed: Self.seed, split: .eval, heldOutWording: false, maxObjects: Self.maxObjects)
        let retrieval = try CLIPTrainer.retrieval(learner: learner, data: try ImageTextDataset.readManifest(dir + "/manifest.jsonl"),
                                                  shortCaptionsPerImage: 1)
        let r1 = retrieval["short"]?.recall(.textToImage, at: 1) ?? 0
        // CC adapter.
        guard case .decoder(let llm, let tok) = try loadTextModel(model) else { throw CommandFailure("\(model) is not a decoder LLM") }
        let texts = SceneDataset.generateText(count: slice, seed: Self.seed, split: .eval, maxObjects: Self.maxObjects)
        let encoder = LLM2VecEncoder(model: llm, tokenizer: tok)
        encoder.maxLength = 192
        func cra() throws -> CaptionRetrievalAccuracy {
            try CaptionRetrieval.accuracy(short: encoder.embed(texts.map { $0.shortCaptions[0] }), long: encoder.embed(texts.map(\.denseCaption)))
        }
        let raw = try cra()
        try LoRA.loadAdapter(into: llm, from: z.ccAdapter)
        LoRA.merge(into: llm)
        let cc = try cra()
        if json {
            try printJSON(["slice": slice, "base_clip_short_t2i_r1": r1, "cc_cra_mean": cc.mean, "raw_cra_mean": raw.mean,
                           "cc_cra_short_to_long": cc.shortToLong, "cc_cra_long_to_short": cc.longToShort])
        } else {
            print(String(format: "base CLIP: short T→I R@1 %.1f%% over %d new scenes (chance %.1f%%)", r1 * 100, slice, 100 / Double(slice)))
            print(String(format: "CC adapter: CRA %.1f%% (s→l %.1f, l→s %.1f) vs raw SmolLM2 %.1f%% over %d new pairs",
                         cc.mean * 100, cc.shortToLong * 100, cc.longToShort * 100, raw.mean * 100, slice))
        }
    }
}
