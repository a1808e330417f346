import Foundation
import Models
import NeuralNet
import TensorKit
import Tokenizers

/// LLM2Vec's masked next-token prediction (MNTP), the optional first step of stage 1: the
/// decoder runs with bidirectional attention on text whose tokens are partly masked, and the
/// token at a masked position i is predicted by the language-model head from the hidden state
/// at position i − 1 (the causal-LM shift is kept, so the head needs no new weights).
///
/// Masking follows the reference's collator: every non-special token is selected with
/// probability 0.2; a selected token becomes the mask token with probability 0.8, a uniformly
/// random token with 0.1, and stays unchanged with 0.1; only selected positions carry a label.
/// The mask token is the tokenizer's own (`<mask>`, `[MASK]`) or else `_` (Llama has none).
/// Text is tokenized per document, concatenated and cut into blocks of 512 tokens.
///
/// ```swift
/// let blocks = MaskedNextToken.blocks(documents: docs.map { tok.encode($0, addSpecialTokens: true) }, length: 512)
/// var rng = RNG(seed: 0)
/// let m = MaskedNextToken.mask(blocks[0], specialIds: tok.specialTokenIds, maskToken: try MaskedNextToken.maskToken(of: tok),
///                              vocabularySize: tok.vocabularySize, rng: &rng)
/// let loss = MaskedNextToken.loss(model: llm, inputs: [m.inputs], labels: [m.labels])
/// loss.backward()
/// ```
public enum MaskedNextToken {
    /// Label of positions that are not predicted (PyTorch's `ignore_index`).
    public static let ignoreIndex = -100
    /// Share of non-special tokens selected (the reference's `mlm_probability`).
    public static let defaultProbability: Float = 0.2

    /// A masked block: model inputs and, per position, the original token where it was selected
    /// (``ignoreIndex`` elsewhere).
    public struct Masked: Equatable, Sendable {
        public var inputs: [Int]
        public var labels: [Int]
    }

    /// The mask token id: the tokenizer's `<mask>` / `[MASK]` when it has one, else the token
    /// `_` (LLM2Vec's choice for tokenizers without a mask token).
    public static func maskToken(of tokenizer: any TextTokenizer) throws -> Int {
        for t in ["<mask>", "[MASK]", "<|mask|>"] {
            if let id = tokenizer.id(forToken: t), tokenizer.specialTokenIds.contains(id) { return id }
        }
        if let id = tokenizer.id(forToken: "_") { return id }
        let ids = tokenizer.encode("_", addSpecialTokens: false)
        guard ids.count == 1 else {
            throw TrainingError.data("the tokenizer has no mask token and `_` is not a single token (\(ids)); MNTP needs one of them")
        }
        return ids[0]
    }

    /// Selects and replaces tokens of `ids` (a pure function of its arguments and `rng`'s state).
    /// Tokens in `specialIds` are never selected. `vocabularySize` bounds the random replacements.
    public static func mask(_ ids: [Int], specialIds: Set<Int>, maskToken: Int, vocabularySize: Int,
                            probability: Float = defaultProbability, rng: inout RNG) -> Masked {
        var inputs = ids, labels = [Int](repeating: ignoreIndex, count: ids.count)
        for (i, t) in ids.enumerated() {
            let selected = rng.nextFloat() < probability
            guard selected, !specialIds.contains(t) else { continue }
            labels[i] = t
            let u = rng.nextFloat()
            if u < 0.8 {
                inputs[i] = maskToken
            } else if u < 0.9 {
                inputs[i] = rng.nextInt(vocabularySize)
            }
        }
        return Masked(inputs: inputs, labels: labels)
    }

    /// Concatenates tokenized documents and cuts them into blocks of `length` tokens; the short
    /// remainder is dropped (as the reference does), unless the text is shorter than one block,
    /// in which case it all becomes one shorter block.
    public static func blocks(documents: [[Int]], length: Int) -> [[Int]] {
        precondition(length > 1, "MNTP blocks need at least 2 tokens, got \(length)")
        let all = documents.flatMap { $0 }
        guard all.count >= length else { return all.count > 1 ? [all] : [] }
        return stride(from: 0, through: all.count - length, by: length).map { Array(all[$0..<($0 + length)]) }
    }

    /// Mean cross-entropy over labelled positions, where the label at position i is predicted
    /// from the bidirectional hidden state at i − 1 through the LM head. `inputs` and `labels`
    /// are B rows of one length. Only the positions with a label go through the head (the loss
    /// is that of the full [B, T − 1, vocab] logits with ignored rows, without computing them).
    /// Returns 0 (no gradient) when no position is labelled.
    public static func loss(model: LlamaForCausalLM, inputs: [[Int]], labels: [[Int]]) -> Tensor {
        precondition(inputs.count == labels.count && zip(inputs, labels).allSatisfy { $0.count == $1.count },
                     "MaskedNextToken.loss: inputs and labels must have the same shape")
        let T = inputs.first?.count ?? 0
        var rows: [Int] = [], targets: [Int] = []
        for (b, row) in labels.enumerated() {
            for t in 1..<max(T, 1) where row[t] != ignoreIndex {
                rows.append(b * T + t - 1)
                targets.append(row[t])
            }
        }
        guard !rows.isEmpty else { return Tensor.scalar(0) }
        let hidden = model.hiddenStates(ids: inputs, direction: .bidirectional)         // [B, T, D]
        let picked = indexSelect(hidden.reshape([inputs.count * T, hidden.shape[2]]), axis: 0, indices: rows)
        return crossEntropy(model.logits(picked), targets: targets)
    }
}

/// Settings of an MNTP run (LLM2Vec's defaults: LoRA r 16 / alpha 32 / dropout 0.05, AdamW
/// lr 5e-5 with linear decay and no warm-up, weight decay 0, 20% masking, 512-token blocks;
/// the batch of 32 blocks is scaled to one CPU).
///
/// ```swift
/// var cfg = MNTPTrainingConfig()
/// cfg.steps = 200; cfg.blockLength = 256
/// ```
public struct MNTPTrainingConfig: Codable, Equatable, Sendable {
    public var steps = 100
    /// Blocks per step.
    public var batchSize = 4
    public var blockLength = 512
    public var maskProbability: Float = MaskedNextToken.defaultProbability
    public var learningRate: Float = 5e-5
    public var warmupSteps = 0
    public var weightDecay: Float = 0
    public var maxGradNorm: Float = 1
    public var lora = LoRAConfig()
    public var seed: UInt64 = 0
    /// Write a checkpoint every N steps (0: only at the end).
    public var checkpointEvery = 50
    /// Re-run each decoder layer during backward instead of keeping its activations.
    public var gradientCheckpointing = true
    public init() {}
}

/// One line of an MNTP run's `metrics.jsonl`.
public struct MNTPTrainingRecord: Codable, Sendable {
    public var step: Int
    public var loss: Double
    public var learningRate: Double
    public var gradNorm: Double
    /// Labelled (selected) tokens in the step's batch.
    public var maskedTokens: Int
    public var stepSeconds: Double
}

/// Trains LoRA adapters with ``MaskedNextToken`` on plain text, with the conventions of
/// ``TextTrainer``: `checkpoint/` (adapter + optimizer + trainer state, atomic), exact resume
/// (each step's blocks, masks and dropout derive from (seed, step)), `metrics.jsonl`.
///
/// ```swift
/// let mntp = try MNTPTrainer(model: llm, tokenizer: tok, documents: lines, config: MNTPTrainingConfig(), directory: "runs/cc/mntp")
/// try mntp.run { print($0.step, $0.loss) }
/// LoRA.merge(into: llm)          // LLM2Vec merges the MNTP adapter before the contrastive one
/// ```
public final class MNTPTrainer {
    public let model: LlamaForCausalLM
    public let config: MNTPTrainingConfig
    public let directory: String
    /// The token blocks the run draws from.
    public let blocks: [[Int]]
    public let maskToken: Int
    public private(set) var step = 0
    let specialIds: Set<Int>
    let vocabularySize: Int
    let optimizer: AdamW
    let trainable: [(String, Tensor)]
    let schedule: LRSchedule

    public init(model: LlamaForCausalLM, tokenizer: any TextTokenizer, documents: [String], config: MNTPTrainingConfig,
                directory: String) throws {
        guard model.hasLanguageModelHead else {
            throw TrainingError.data("MNTP needs the model's language-model head (lm_head.weight or tied embeddings); this checkpoint has none")
        }
        let tokenized = documents.map { tokenizer.encode($0, addSpecialTokens: true) }
        let blocks = MaskedNextToken.blocks(documents: tokenized, length: config.blockLength)
        guard !blocks.isEmpty else {
            throw TrainingError.data("the MNTP text has \(tokenized.reduce(0) { $0 + $1.count }) tokens; give it at least 2 (ideally many blocks of \(config.blockLength))")
        }
        self.model = model
        self.config = config
        self.directory = directory
        self.blocks = blocks
        maskToken = try MaskedNextToken.maskToken(of: tokenizer)
        var special = tokenizer.specialTokenIds
        special.insert(maskToken)       // the reference registers `_` as the mask token, which makes it special
        specialIds = special
        vocabularySize = min(tokenizer.vocabularySize, model.config.vocabSize)
        model.gradientCheckpointing = config.gradientCheckpointing
        if LoRA.adapterState(of: model).isEmpty {
            try LoRA.apply(config.lora, to: model, seed: config.seed)
        }
        trainable = model.trainableParameters()
        optimizer = AdamW(groups: [ParamGroup(params: trainable.map(\.1), weightDecay: config.weightDecay)],
                          learningRate: config.learningRate, weightDecay: config.weightDecay)
        schedule = .warmupLinear(base: config.learningRate, warmup: config.warmupSteps, total: config.steps)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let current = config
        if let s = try TrainerFiles.resume(model: model, optimizer: optimizer, from: checkpointDir, sameSettings: { data in
            guard var saved = try? JSONDecoder().decode(MNTPTrainingConfig.self, from: data) else { return false }
            saved.gradientCheckpointing = current.gradientCheckpointing
            return saved == current
        }) { step = s }
    }

    var checkpointDir: String { (directory as NSString).appendingPathComponent("checkpoint") }

    /// The block indices of step `s` (each epoch reshuffles with the seed).
    func batch(at s: Int) -> [Int] {
        let size = min(config.batchSize, blocks.count)
        let perEpoch = max(1, blocks.count / size)
        let epoch = s / perEpoch, index = s % perEpoch
        var rng = RNG(seed: TextTrainer.mix(config.seed &+ 2, epoch))
        var order = Array(blocks.indices)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(i + 1)) }
        return Array(order[(index * size)..<(index * size + size)])
    }

    /// The masked batch of step `s`.
    func maskedBatch(at s: Int) -> [MaskedNextToken.Masked] {
        var rng = RNG(seed: TextTrainer.mix(config.seed, s))
        return batch(at: s).map {
            MaskedNextToken.mask(blocks[$0], specialIds: specialIds, maskToken: maskToken, vocabularySize: vocabularySize,
                                 probability: config.maskProbability, rng: &rng)
        }
    }

    /// One optimisation step; returns (loss, grad norm, labelled tokens).
    public func trainStep() -> (loss: Float, gradNorm: Float, maskedTokens: Int) {
        let masked = maskedBatch(at: step)
        LoRA.seedDropout(of: model, TextTrainer.mix(config.seed &+ 1, step))
        model.train()
        optimizer.zeroGrad()
        let loss = MaskedNextToken.loss(model: model, inputs: masked.map(\.inputs), labels: masked.map(\.labels))
        if loss.requiresGrad { loss.backward() }
        let norm = clipGradNorm(trainable.map(\.1), maxNorm: config.maxGradNorm)
        optimizer.learningRate = schedule.rate(at: step)
        optimizer.step()
        step += 1
        model.eval()
        let count = masked.reduce(0) { n, m in n + m.labels.dropFirst().filter { $0 != MaskedNextToken.ignoreIndex }.count }
        return (loss.item(), norm, count)
    }

    /// The loss of step `s`'s masked batch without training (evaluation mode).
    public func loss(atStep s: Int) -> Float {
        let masked = maskedBatch(at: s)
        model.eval()
        return withNoGrad { MaskedNextToken.loss(model: model, inputs: masked.map(\.inputs), labels: masked.map(\.labels)).item() }
    }

    /// Trains to `config.steps`, checkpointing as configured; `onRecord` sees every log line.
    public func run(onRecord: (MNTPTrainingRecord) -> Void = { _ in }) throws {
        while step < config.steps {
            let t0 = Date()
            let lr = schedule.rate(at: step)
            let (loss, norm, count) = trainStep()
            let r = MNTPTrainingRecord(step: step, loss: Double(loss), learningRate: Double(lr), gradNorm: Double(norm),
                                       maskedTokens: count, stepSeconds: Date().timeIntervalSince(t0))
            try TrainerFiles.appendMetrics(r, directory: directory)
            onRecord(r)
            if config.checkpointEvery > 0 && step % config.checkpointEvery == 0 && step < config.steps { try saveCheckpoint() }
        }
        try saveCheckpoint()
    }

    /// Writes the adapter, the optimizer state and the step atomically.
    public func saveCheckpoint() throws {
        try TrainerFiles.saveCheckpoint(model: model, lora: config.lora, optimizer: optimizer, step: step, config: config, to: checkpointDir)
    }
}

extension MaskedNextToken {
    /// The documents of an MNTP text: the non-blank lines of a plain-text file, or of every `.txt`
    /// file under a folder (sorted by path), like the reference's line-per-example text loader.
    ///
    /// ```swift
    /// let docs = try MaskedNextToken.documents(at: "data/wikitext.txt")
    /// ```
    public static func documents(at path: String) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw TrainingError.data("\(path): no such file or folder; give a plain-text file or a folder of .txt files")
        }
        var files = [path]
        if isDir.boolValue {
            let items = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
            files = items.filter { $0.lowercased().hasSuffix(".txt") }.sorted().map { (path as NSString).appendingPathComponent($0) }
            guard !files.isEmpty else { throw TrainingError.data("\(path): the folder holds no .txt files") }
        }
        var docs: [String] = []
        for f in files {
            guard let data = FileManager.default.contents(atPath: f) else { throw TrainingError.data("\(f): cannot read the file") }
            guard let text = String(data: data, encoding: .utf8) else { throw TrainingError.data("\(f): not UTF-8 text") }
            docs += text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        }
        guard !docs.isEmpty else { throw TrainingError.data("\(path): no text (every line is blank)") }
        return docs
    }
}
