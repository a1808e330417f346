import ArgumentParser
import Datasets
import Formats
import Foundation
import Models
import NeuralNet
import TensorKit
import Tokenizers
import Training

extension CaptionContrastive.Direction: ExpressibleByArgument {}
extension CaptionBatching: ExpressibleByArgument {}

struct FinetuneText: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune-text",
        abstract: "Stage 1: caption-contrastive LoRA fine-tuning of a decoder LLM (the LLM2Vec recipe LLM2CLIP uses).",
        discussion: """
        Trains LoRA adapters (r 16, alpha 32, dropout 0.05 on q/k/v/o/gate/up/down) with the \
        supervised contrastive loss on (short, long) caption pairs: AdamW lr 2e-4, linear decay \
        after warm-up, weight decay 0 — the reference's settings, with the batch (512 → 16) and the \
        step count (10,000 → 200) scaled to one CPU. Caption-retrieval accuracy on held-out pairs is \
        measured before training and every --eval-every steps. Output: checkpoint/ (resumable: run \
        the same command again), metrics.jsonl, adapter/ (PEFT layout) and model/ (the merged model \
        as a Hugging Face folder with tokenizer.json, ready for cache-text).

        With --mntp TEXT, masked next-token prediction runs first (LLM2Vec's recipe: 20% of the \
        tokens masked, bidirectional attention, 512-token blocks, its own LoRA at lr 5e-5 for \
        --mntp-steps steps; output in mntp/ with its own checkpoint and metrics.jsonl), and its \
        adapter is merged into the weights before the contrastive adapter is added. \
        Gradient checkpointing (on by default) re-runs each decoder layer during backward instead \
        of keeping its activations: same gradients, much less memory, some extra time. With \
        --lora-top-layers N the blocks below the adapters are frozen: each distinct caption runs \
        through them once and their output is kept (--frozen-cache-mb bounds it), so later epochs \
        and held-out evaluations cost only the N adapted blocks.

        --direction per-batch (not the reference's choice) flips the short/long query coin once \
        per step instead of once per pair: every candidate then has the other length class, and \
        the loss has to compare content. On small CPU budgets the per-pair coin's first and \
        easiest move is to make long and short captions look alike, and the loss stalls at its \
        chance level; see the README's stage-1 section for the measured runs.

        --batching similar (not the reference's choice either) builds each batch from pairs whose \
        captions share words (TF-IDF cosine, nearest neighbours of a random anchor), so the \
        in-batch negatives are near misses rather than unrelated captions.
        """)

    @Option(help: "Decoder LLM: GGUF file or Hugging Face folder.") var model: String
    @Option(help: "Caption pairs (CSV/JSONL), an image–caption manifest, or a scenes folder (uses its pairs.csv).") var pairs: String
    @Option(help: "Held-out caption pairs for caption-retrieval accuracy (default: the last --eval-count pairs of --pairs).") var evalPairs: String?
    @Option(help: "Pairs held out from --pairs when --eval-pairs is not given.") var evalCount = 200
    @Option(help: "Output folder.") var out: String
    @Option(help: "Optimisation steps.") var steps = 200
    @Option(help: "Caption pairs per step.") var batchSize = 16
    @Option(help: "Peak learning rate.") var lr: Float = 2e-4
    @Option(help: "Warm-up steps (default: 10% of the steps).") var warmup: Int?
    @Option(help: "LoRA rank.") var loraRank = 16
    @Option(help: "LoRA alpha.") var loraAlpha: Float = 32
    @Option(help: "LoRA dropout.") var loraDropout: Float = 0.05
    @Option(help: "Adapt only the top N decoder blocks (0: all). The backward pass stops below them.") var loraTopLayers = 0
    @Option(help: "Longest wrapped caption in tokens.") var maxLength = 512
    @Option(help: "Sequences per forward pass with a graph (cached-embedding accumulation bounds activation memory; 0: whole batch).") var microBatch = 8
    @Flag(inversion: .prefixedNo, help: "Keep each micro-batch's graph (one forward pass per step; memory of the whole batch) instead of recomputing it (cached-embedding accumulation: bounded memory, a second forward pass).") var keepGraphs = false
    @Option(help: "Evaluate every N steps (0: only before and after).") var evalEvery = 50
    @Option(help: "Checkpoint every N steps.") var checkpointEvery = 25
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "MNTP text to train on first: a plain-text file (one document per line) or a folder of .txt files.") var mntp: String?
    @Option(help: "MNTP steps (with --mntp).") var mntpSteps = 100
    @Option(help: "MNTP blocks per step.") var mntpBatchSize = 4
    @Option(help: "MNTP block length in tokens.") var mntpBlockLength = 512
    @Option(help: "MNTP learning rate.") var mntpLr: Float = 5e-5
    @Flag(inversion: .prefixedNo, help: "Re-run each decoder layer during backward instead of keeping its activations (less memory, same gradients).")
    var gradientCheckpointing = true
    @Flag(inversion: .prefixedNo, help: "Run the frozen blocks below the LoRA adapters (see --lora-top-layers) once per distinct caption and keep their states: later epochs and evaluations run only the adapted blocks.")
    var cacheFrozenBlocks = true
    @Option(help: "Most memory for the kept frozen-block states, in MiB.") var frozenCacheMb = 4096
    @Option(help: "Query-direction coin: per-pair (the reference) or per-batch (all queries of a step short, or all long).")
    var direction = CaptionContrastive.Direction.perPair
    @Option(help: "Batches: random (the reference) or similar (pairs that share words, for hard in-batch negatives).")
    var batching = CaptionBatching.random

    func validate() throws {
        if mntp == nil { return }
        guard mntpSteps > 0, mntpBatchSize > 0 else { throw ValidationError("--mntp-steps and --mntp-batch-size must be positive") }
        guard mntpBlockLength >= 2 else { throw ValidationError("--mntp-block-length must be at least 2 tokens") }
    }

    func run() throws {
        let mntpDocuments: [String]?
        do { mntpDocuments = try mntp.map { try MaskedNextToken.documents(at: $0) } } catch { throw CommandFailure("\(error)") }
        guard case .decoder(let llm, let tok) = try loadTextModel(model) else {
            throw ValidationError("\(model) is a sentence encoder; finetune-text needs a decoder LLM")
        }
        var all = try CaptionData.read(pairs, checkImages: false).pairs
        var held: CaptionPairDataset
        if let e = evalPairs {
            held = try CaptionData.read(e, checkImages: false).pairs
        } else {
            guard all.count > evalCount + 2 else { throw CommandFailure("\(pairs): \(all.count) pairs are too few to hold out \(evalCount)") }
            held = CaptionPairDataset(pairs: Array(all.pairs.suffix(evalCount)), origin: all.origin + " (held out)")
            all.pairs.removeLast(evalCount)
        }
        var cfg = TextTrainingConfig()
        cfg.steps = steps; cfg.batchSize = batchSize; cfg.learningRate = lr; cfg.warmupSteps = warmup ?? max(1, steps / 10)
        let depth = llm.config.layers
        guard loraTopLayers >= 0 && loraTopLayers <= depth else { throw ValidationError("--lora-top-layers must be in 0...\(depth)") }
        cfg.lora = LoRAConfig(rank: loraRank, alpha: loraAlpha, dropout: loraDropout,
                              layers: loraTopLayers == 0 ? nil : Array((depth - loraTopLayers)..<depth))
        cfg.maxLength = maxLength; cfg.microBatch = microBatch; cfg.keepGraphs = keepGraphs; cfg.evalEvery = evalEvery; cfg.checkpointEvery = checkpointEvery; cfg.seed = seed
        cfg.gradientCheckpointing = gradientCheckpointing
        cfg.cacheFrozenBlocks = cacheFrozenBlocks; cfg.frozenCacheMegabytes = frozenCacheMb; cfg.direction = direction; cfg.batching = batching
        let start = Date()
        if let docs = mntpDocuments { try runMNTP(llm: llm, tokenizer: tok, documents: docs) }
        let encoder = LLM2VecEncoder(model: llm, tokenizer: tok)
        let trainer: TextTrainer
        do { trainer = try TextTrainer(encoder: encoder, pairs: all, heldOut: held, config: cfg, directory: out) } catch {
            throw CommandFailure("\(error)")
        }
        FileHandle.standardError.write(Data("finetune-text: \(all.count) training pairs, \(held.count) held out; step \(trainer.step)/\(steps)\n".utf8))
        if let cache = encoder.trunkCache {
            let fill = ProgressBar(total: 1, label: "frozen blocks 0..<\(cache.layers)", unit: "captions")
            trainer.fillFrozenBlockCache { done, total in fill.total = total; fill.update(done) }
            FileHandle.standardError.write(Data(String(format: "\nfinetune-text: frozen-block states of %d captions kept (%.0f MiB)\n",
                                                       cache.count, Double(cache.bytes) / 1_048_576).utf8))
        }
        let bar = ProgressBar(total: steps, label: "finetune-text", unit: "steps")
        try trainer.run { r in
            if let s = r.craShortToLong, let l = r.craLongToShort {
                FileHandle.standardError.write(Data("\nstep \(r.step): caption-retrieval accuracy short→long \(fmt(s))%, long→short \(fmt(l))%\n".utf8))
            }
            if let loss = r.loss {
                bar.detail = String(format: "loss %.4f, %.1f s/step", loss, r.stepSeconds ?? 0)
                bar.update(r.step)
            }
        }
        if let cache = encoder.trunkCache {
            FileHandle.standardError.write(Data(String(format: "\nfinetune-text: blocks 0..<%d ran once per caption: %d kept (%.0f MiB), %d reuses\n",
                                                       cache.layers, cache.count, Double(cache.bytes) / 1_048_576, cache.hits).utf8))
            encoder.trunkCache = nil
        }
        // Final artefacts: the adapter (PEFT layout) and the merged model folder for cache-text.
        try exportMergedModel(llm, lora: cfg.lora, base: model, out: out)
        let folder = (out as NSString).appendingPathComponent("model")
        FileHandle.standardError.write(Data("finetune-text: done in \(formatDuration(Date().timeIntervalSince(start))); merged model in \(folder)\n".utf8))
    }

    /// MNTP with its own LoRA in `out/mntp` (resumable), then its adapter merged into `llm`.
    func runMNTP(llm: LlamaForCausalLM, tokenizer: any TextTokenizer, documents: [String]) throws {
        var mc = MNTPTrainingConfig()
        mc.steps = mntpSteps; mc.batchSize = mntpBatchSize; mc.blockLength = mntpBlockLength; mc.learningRate = mntpLr
        mc.lora = LoRAConfig(rank: loraRank, alpha: loraAlpha, dropout: loraDropout)
        mc.seed = seed; mc.checkpointEvery = checkpointEvery; mc.gradientCheckpointing = gradientCheckpointing
        let dir = (out as NSString).appendingPathComponent("mntp")
        let trainer: MNTPTrainer
        do { trainer = try MNTPTrainer(model: llm, tokenizer: tokenizer, documents: documents, config: mc, directory: dir) } catch {
            throw CommandFailure("\(error)")
        }
        FileHandle.standardError.write(Data("finetune-text: MNTP on \(documents.count) documents, \(trainer.blocks.count) blocks of ≤ \(mntpBlockLength) tokens (mask token \(trainer.maskToken)); step \(trainer.step)/\(mntpSteps)\n".utf8))
        let bar = ProgressBar(total: mntpSteps, label: "mntp", unit: "steps")
        try trainer.run { r in
            bar.detail = String(format: "loss %.4f, %.1f s/step", r.loss, r.stepSeconds)
            bar.update(r.step)
        }
        try LoRA.saveAdapter(of: llm, config: mc.lora, to: (dir as NSString).appendingPathComponent("adapter"), baseModel: model)
        LoRA.merge(into: llm)
        FileHandle.standardError.write(Data("\nfinetune-text: MNTP adapter merged into the base weights\n".utf8))
    }
}

/// Writes the trained adapter (PEFT layout) and the merged model as a Hugging Face folder with a
/// tokenizer, ready for cache-text.
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
