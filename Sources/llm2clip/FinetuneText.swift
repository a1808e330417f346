import ArgumentParser
import Datasets
import Formats
import Foundation
import Models
import NeuralNet
import TensorKit
import Training

struct FinetuneText: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune-text",
        abstract: "Stage 1: caption-contrastive LoRA fine-tuning of a decoder LLM (the LLM2Vec recipe LLM2CLIP uses).",
        discussion: """
        Trains LoRA adapters (r 16, alpha 32, dropout 0.05 on q/k/v/o/gate/up/down) with the
        supervised contrastive loss on (short, long) caption pairs: AdamW lr 2e-4, linear decay
        after warm-up, weight decay 0 — the reference's settings, with the batch (512 → 16) and the
        step count (10,000 → 200) scaled to one CPU. Caption-retrieval accuracy on held-out pairs is
        measured before training and every --eval-every steps. Output: checkpoint/ (resumable: run
        the same command again), metrics.jsonl, adapter/ (PEFT layout) and model/ (the merged model
        as a Hugging Face folder with tokenizer.json, ready for cache-text).
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
    @Option(help: "MNTP pre-training text (not implemented yet; the reference calls its effect small).") var mntp: String?

    func run() throws {
        if mntp != nil { throw ValidationError("--mntp is not implemented yet (the supervised contrastive stage is what matters; see the README)") }
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
        let encoder = LLM2VecEncoder(model: llm, tokenizer: tok)
        let trainer: TextTrainer
        do { trainer = try TextTrainer(encoder: encoder, pairs: all, heldOut: held, config: cfg, directory: out) } catch {
            throw CommandFailure("\(error)")
        }
        FileHandle.standardError.write(Data("finetune-text: \(all.count) training pairs, \(held.count) held out; step \(trainer.step)/\(steps)\n".utf8))
        let bar = ProgressBar(total: steps, label: "finetune-text", unit: "steps")
        let start = Date()
        try trainer.run { r in
            if let s = r.craShortToLong, let l = r.craLongToShort {
                FileHandle.standardError.write(Data("\nstep \(r.step): caption-retrieval accuracy short→long \(fmt(s))%, long→short \(fmt(l))%\n".utf8))
            }
            if let loss = r.loss {
                bar.detail = String(format: "loss %.4f, %.1f s/step", loss, r.stepSeconds ?? 0)
                bar.update(r.step)
            }
        }
        // Final artefacts: the adapter (PEFT layout) and the merged model folder for cache-text.
        try LoRA.saveAdapter(of: llm, config: cfg.lora, to: (out as NSString).appendingPathComponent("adapter"), baseModel: model)
        LoRA.merge(into: llm)
        let folder = (out as NSString).appendingPathComponent("model")
        try llm.saveHuggingFaceFolder(folder)
        if model.lowercased().hasSuffix(".gguf") {
            try TokenizerExport.writeHuggingFaceFiles(from: GGUFFile(path: model), to: folder)
        } else {
            try TokenizerExport.copyHuggingFaceFiles(from: model, to: folder)
        }
        FileHandle.standardError.write(Data("finetune-text: done in \(formatDuration(Date().timeIntervalSince(start))); merged model in \(folder)\n".utf8))
    }
}
