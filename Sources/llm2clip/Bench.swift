import ArgumentParser
import CEngine
import Formats
import Foundation
import NeuralNet
import TensorKit
import Models
import Tokenizers
import Training

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the engine's workloads (the PyTorch counterpart is bench/torch_engine.py; bench/compare.py runs both).",
        subcommands: [BenchEngine.self, BenchText.self, BenchVision.self, BenchTrainText.self, BenchTrainCLIP.self]
    )
}

struct BenchEngine: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "GEMM, row-wise kernels, attention, a ViT-B/16 block and a SmolLM2 block, median of repeated runs."
    )

    @Option(help: "Threads for the engine's kernels.") var threads = 2
    @Option(help: "Timed repetitions per workload (median reported).") var reps = 7
    @Option(help: "Untimed warm-up runs per workload.") var warmup = 2
    @Option(help: "Run only the workload with this exact name.") var only: String?
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() throws {
        Engine.threads = threads
        let workloads = EngineWorkloads.all.filter { only == nil || $0.name == only }
        if workloads.isEmpty { throw ValidationError("no workload named '\(only ?? "")'; names: \(EngineWorkloads.all.map { $0.name })") }
        let peak = ke_measure_fma_peak(Int32(threads))
        var rows: [[String: Any]] = []
        if !json { print("# llm2clip bench engine: threads=\(threads), kernels=\(Engine.kernelISA), FMA peak \(String(format: "%.1f", peak)) GFLOP/s") }
        for w in workloads {
            let ms = w.time(warmup: warmup, reps: reps)
            rows.append(["name": w.name, "ms": ms, "gflop": w.gflop.map { $0 as Any } ?? NSNull()])
            if !json {
                let rate = w.gflop.map { String(format: "%9.1f GFLOP/s", $0 / (ms / 1e3)) } ?? ""
                print(String(format: "%-36@ %10.3f ms  %@", w.name as NSString, ms, rate as NSString))
            }
        }
        if json {
            try printBenchJSON(suite: "engine", threads: threads, rows: rows, extra: ["peak_gflops": peak])
        }
    }
}

/// One timed workload: `setup` builds inputs and returns the closure to time.
struct Workload {
    let name: String
    let gflop: Double?
    let setup: () -> () -> Void

    func time(warmup: Int, reps: Int) -> Double {
        let body = setup()
        var times: [Double] = []
        for i in 0..<(warmup + reps) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            let t1 = DispatchTime.now().uptimeNanoseconds
            if i >= warmup { times.append(Double(t1 - t0) / 1e6) }
        }
        times.sort()
        return times[times.count / 2]
    }
}

enum EngineWorkloads {
    static let rowsN = 12608, rowsD = 768

    static func rand(_ shape: [Int], scale: Float = 1, seed: UInt64, grad: Bool = false) -> Tensor {
        var rng = RNG(seed: seed)
        let t = Tensor.randn(shape, std: scale, rng: &rng)
        return grad ? t.requiringGrad() : t
    }

    static func rowwise(_ name: String, params: Bool = false, _ f: @escaping (Tensor, Tensor?, Tensor?) -> Tensor) -> Workload {
        Workload(name: name, gflop: nil) {
            let x = rand([rowsN, rowsD], seed: 1, grad: true)
            let g = rand([rowsN, rowsD], seed: 2)
            let w = params ? (rand([rowsD], scale: 0.1, seed: 3) + 1).detach().requiringGrad() : nil
            let b = params ? rand([rowsD], scale: 0.1, seed: 4, grad: true) : nil
            return {
                x.zeroGrad(); w?.zeroGrad(); b?.zeroGrad()
                f(x, w, b).backward(g)
            }
        }
    }

    static let all: [Workload] = [
        Workload(name: "sgemm 1024x1024x1024", gflop: 2.0 * 1024 * 1024 * 1024 / 1e9) {
            let a = rand([1024, 1024], seed: 1), b = rand([1024, 1024], seed: 2)
            return { _ = matmul(a, b) }
        },
        Workload(name: "sgemm 12608x3072x768", gflop: 2.0 * 12608 * 3072 * 768 / 1e9) {
            let x = rand([12608, 768], seed: 1), w = rand([3072, 768], scale: 0.02, seed: 2)
            return { _ = linear(x, weight: w, bias: nil) }
        },
        rowwise("layernorm fwd+bwd [12608,768]", params: true) { x, w, b in layerNorm(x, weight: w, bias: b, eps: 1e-5) },
        rowwise("softmax fwd+bwd [12608,768]") { x, _, _ in softmax(x) },
        rowwise("gelu-erf fwd+bwd [12608,768]") { x, _, _ in x.gelu() },
        rowwise("gelu-tanh fwd+bwd [12608,768]") { x, _, _ in x.geluTanh() },
        Workload(name: "attention fwd+bwd 8x12x197x64", gflop: 3.0 * 4.0 * 8 * 12 * 197 * 197 * 64 / 1e9) {
            let q = rand([8, 12, 197, 64], seed: 1, grad: true), k = rand([8, 12, 197, 64], seed: 2, grad: true)
            let v = rand([8, 12, 197, 64], seed: 3, grad: true), g = rand([8, 12, 197, 64], seed: 4)
            return {
                q.zeroGrad(); k.zeroGrad(); v.zeroGrad()
                scaledDotProductAttention(q, k, v).backward(g)
            }
        },
        vitBlock(),
        llamaBlock(),
    ]

    static func vitBlock() -> Workload {
        let B = 8, T = 197, D = 768, H = 12, FF = 3072, hd = 64
        let lin = 2.0 * Double(B * T) * Double(D * 3 * D + D * D + D * FF + FF * D)
        let attn = 4.0 * Double(B * H * T * T * hd)
        return Workload(name: "vit-b16 block fwd+bwd 8x197x768", gflop: 3 * (lin + attn) / 1e9) {
            let x = rand([B, T, D], seed: 1, grad: true), g = rand([B, T, D], seed: 2)
            let ln1w = (rand([D], scale: 0.1, seed: 3) + 1).requiringGrad(), ln1b = rand([D], scale: 0.1, seed: 4, grad: true)
            let qkvW = rand([3 * D, D], scale: 0.02, seed: 5, grad: true), qkvB = rand([3 * D], scale: 0.02, seed: 6, grad: true)
            let projW = rand([D, D], scale: 0.02, seed: 7, grad: true), projB = rand([D], scale: 0.02, seed: 8, grad: true)
            let ln2w = (rand([D], scale: 0.1, seed: 9) + 1).requiringGrad(), ln2b = rand([D], scale: 0.1, seed: 10, grad: true)
            let fc1W = rand([FF, D], scale: 0.02, seed: 11, grad: true), fc1B = rand([FF], scale: 0.02, seed: 12, grad: true)
            let fc2W = rand([D, FF], scale: 0.02, seed: 13, grad: true), fc2B = rand([D], scale: 0.02, seed: 14, grad: true)
            let params = [x, ln1w, ln1b, qkvW, qkvB, projW, projB, ln2w, ln2b, fc1W, fc1B, fc2W, fc2B]
            return {
                for p in params { p.zeroGrad() }
                let a = layerNorm(x, weight: ln1w, bias: ln1b, eps: 1e-6)
                let qkv = linear(a, weight: qkvW, bias: qkvB).reshape([B, T, 3, H, hd]).permute([2, 0, 3, 1, 4])
                let parts = qkv.split([1, 1, 1], axis: 0).map { $0.squeeze(0) }
                let o = scaledDotProductAttention(parts[0], parts[1], parts[2])
                let h = x + linear(o.permute([0, 2, 1, 3]).reshape([B, T, D]), weight: projW, bias: projB)
                let m = layerNorm(h, weight: ln2w, bias: ln2b, eps: 1e-6)
                let out = h + linear(linear(m, weight: fc1W, bias: fc1B).gelu(), weight: fc2W, bias: fc2B)
                out.backward(g)
            }
        }
    }

    static func llamaBlock() -> Workload {
        let B = 8, T = 64, D = 576, H = 9, KV = 3, hd = 64, FF = 1536
        let lin = 2.0 * Double(B * T) * Double(D * H * hd + 2 * D * KV * hd + H * hd * D + 3 * D * FF)
        let attn = 4.0 * Double(B * H * T * T * hd)
        return Workload(name: "llama block fwd 8x64 smollm2", gflop: (lin + attn) / 1e9) {
            let x = rand([B, T, D], seed: 1)
            let inNorm = rand([D], scale: 0.1, seed: 2) + 1, postNorm = rand([D], scale: 0.1, seed: 3) + 1
            let qW = rand([H * hd, D], scale: 0.02, seed: 4), kW = rand([KV * hd, D], scale: 0.02, seed: 5)
            let vW = rand([KV * hd, D], scale: 0.02, seed: 6), oW = rand([D, H * hd], scale: 0.02, seed: 7)
            let gW = rand([FF, D], scale: 0.02, seed: 8), uW = rand([FF, D], scale: 0.02, seed: 9)
            let dW = rand([D, FF], scale: 0.02, seed: 10)
            let (cos, sin) = ropeTables(positions: Array(0..<T), inverseFrequencies: ropeInverseFrequencies(headDim: hd, theta: 100000))
            return {
                withNoGrad {
                    let a = rmsNorm(x, weight: inNorm, eps: 1e-5)
                    let q = applyRotaryHalf(linear(a, weight: qW, bias: nil).reshape([B, T, H, hd]).permute([0, 2, 1, 3]), cos: cos, sin: sin)
                    let k = applyRotaryHalf(linear(a, weight: kW, bias: nil).reshape([B, T, KV, hd]).permute([0, 2, 1, 3]), cos: cos, sin: sin)
                    let v = linear(a, weight: vW, bias: nil).reshape([B, T, KV, hd]).permute([0, 2, 1, 3])
                    let o = scaledDotProductAttention(q, k, v, mask: .causal)
                    let h = x + linear(o.permute([0, 2, 1, 3]).reshape([B, T, H * hd]), weight: oW, bias: nil)
                    let m = rmsNorm(h, weight: postNorm, eps: 1e-5)
                    _ = h + linear(linear(m, weight: gW, bias: nil).silu() * linear(m, weight: uW, bias: nil), weight: dW, bias: nil)
                }
            }
        }
    }
}

struct BenchText: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "text",
        abstract: "LLM2Vec caption embedding throughput of SmolLM2-135M on bench/captions.txt (PyTorch side: bench/torch_text.py)."
    )

    @Option(help: "Threads for the engine's kernels.") var threads = 2
    @Option(help: "Timed repetitions (median reported).") var reps = 3
    @Option(help: "Untimed warm-up runs.") var warmup = 1
    @Option(help: "Captions per forward batch (sorted by length, left padding).") var batch = 32
    @Option(help: "The SmolLM2 GGUF file.") var model = ".cache/assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    @Option(help: "One caption per line.") var captions = "bench/captions.txt"
    @Flag(help: "Print one JSON object instead of a table.") var json = false
    @Flag(help: "Gradient checkpointing per decoder layer (re-run each layer during backward).") var gradientCheckpointing = false

    func run() throws {
        Engine.threads = threads
        let (llm, tok, lines) = try loadBenchLLM(model: model, captions: captions)
        llm.gradientCheckpointing = gradientCheckpointing
        let encoder = LLM2VecEncoder(model: llm, tokenizer: tok, template: .chatML)
        encoder.maxBatch = batch
        encoder.tokensPerBatch = Int.max
        let prepared = lines.map { encoder.prepare($0) }
        let tokens = prepared.reduce(0) { $0 + $1.ids.count }
        let params = llm.namedParameters().filter { !$0.0.contains("embed_tokens") }.reduce(0) { $0 + $1.1.count }
        let gflop = 2.0 * Double(params) * Double(tokens) / 1e9
        let name = "smollm2-embed-\(lines.count)-captions"
        let w = Workload(name: name, gflop: gflop) { { _ = encoder.embed(prepared: prepared) } }
        let ms = w.time(warmup: warmup, reps: reps)
        if json {
            try printBenchJSON(suite: "text", threads: threads, rows: [["name": name, "ms": ms, "gflop": gflop, "tokens": tokens]])
        } else {
            print(String(format: "%-36@ %10.1f ms  %9.1f tokens/s  %7.1f GFLOP/s  (%d tokens)", name as NSString, ms,
                         Double(tokens) / (ms / 1e3), gflop / (ms / 1e3), tokens))
        }
    }
}

struct BenchVision: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vision",
        abstract: "ViT-B/16-224 image embedding at batch 8 (PyTorch side: bench/torch_vision.py)."
    )

    @Option(help: "Threads for the engine's kernels.") var threads = 2
    @Option(help: "Timed repetitions (median reported).") var reps = 7
    @Option(help: "Untimed warm-up runs.") var warmup = 2
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() throws {
        Engine.threads = threads
        var c = CLIPTowerConfig(hiddenSize: 768, intermediateSize: 3072, layers: 12, heads: 12)
        c.imageSize = 224
        c.patchSize = 16
        c.activation = .quickGelu
        var rng = RNG(seed: 0)
        let tower = withNoGrad { CLIPImageTower(c, embedDim: 512, rng: &rng) }
        tower.freeze()
        let B = 8, T = 197, D = 768
        let pixels = Tensor.randn([B, 3, 224, 224], rng: &rng)
        let linear = 2.0 * Double(B * T) * Double(12 * (4 * D * D + 2 * D * 3072))
        let attention = 4.0 * Double(B * 12 * T * T * 64) * 12
        let gflop = (linear + attention) / 1e9
        let name = "vit-b16-224 embed batch 8"
        let w = Workload(name: name, gflop: gflop) { { _ = withNoGrad { tower.embed(pixels) } } }
        let ms = w.time(warmup: warmup, reps: reps)
        if json {
            try printBenchJSON(suite: "vision", threads: threads, rows: [["name": name, "ms": ms, "gflop": gflop, "images": B]])
        } else {
            print(String(format: "%-36@ %10.1f ms  %7.1f images/s  %7.1f GFLOP/s", name as NSString, ms, Double(B) / (ms / 1e3), gflop / (ms / 1e3)))
        }
    }
}

struct BenchTrainText: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-text",
        abstract: "One stage-1 training step of SmolLM2-135M with LoRA on 32 captions of ~64 tokens (PyTorch side: bench/torch_train_text.py)."
    )

    @Option(help: "Threads for the engine's kernels.") var threads = 2
    @Option(help: "Timed steps (median reported).") var reps = 3
    @Option(help: "Untimed warm-up steps.") var warmup = 1
    @Option(help: "The SmolLM2 GGUF file.") var model = ".cache/assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    @Option(help: "One caption per line.") var captions = "bench/captions.txt"
    @Flag(help: "Print one JSON object instead of a table.") var json = false
    @Flag(help: "Gradient checkpointing per decoder layer (re-run each layer during backward).") var gradientCheckpointing = false

    func run() throws {
        Engine.threads = threads
        let (llm, tok, lines) = try loadBenchLLM(model: model, captions: captions)
        llm.gradientCheckpointing = gradientCheckpointing
        let encoder = LLM2VecEncoder(model: llm, tokenizer: tok, template: .chatML)
        // The 32 captions whose wrapped length is closest to 64 tokens, in file order (as the torch side).
        let prepared = lines.map { encoder.prepare($0) }
        let chosen = prepared.indices.sorted { (abs(prepared[$0].ids.count - 64), $0) < (abs(prepared[$1].ids.count - 64), $1) }
            .prefix(32).sorted()
        let batch = chosen.map { prepared[$0] }
        let tokens = batch.reduce(0) { $0 + $1.ids.count }
        try LoRA.apply(LoRAConfig(rank: 16, alpha: 32, dropout: 0.05), to: llm, seed: 0)
        let params = llm.trainableParameters().map(\.1)
        let opt = AdamW(groups: [ParamGroup(params: params)], learningRate: 2e-4, weightDecay: 0)
        llm.train()
        let base = llm.namedParameters().filter { !$0.0.contains("embed_tokens") && !$0.0.contains("lora_") }.reduce(0) { $0 + $1.1.count }
        let gflop = 3.0 * 2.0 * Double(base) * Double(tokens) / 1e9
        let name = "smollm2-lora-train-step-32x64" + (gradientCheckpointing ? "-ckpt" : "")
        var peak = 0
        let w = Workload(name: name, gflop: gflop) {
            {
                MemoryStats.resetThreadPeak()
                let base = MemoryStats.threadLiveBytes
                defer { peak = max(peak, MemoryStats.threadPeakBytes - base) }
                let e = encoder.embedWithGradient(prepared: batch)
                let q = l2Normalize(e.slice(axis: 0, 0, 16), axis: -1), p = l2Normalize(e.slice(axis: 0, 16, 32), axis: -1)
                let loss = crossEntropy(matmul(q, p.transposed()) * 50, targets: Array(0..<16))
                loss.backward()
                opt.step()
                opt.zeroGrad()
            }
        }
        let ms = w.time(warmup: warmup, reps: reps)
        if json {
            try printBenchJSON(suite: "train-text", threads: threads,
                               rows: [["name": name, "ms": ms, "gflop": gflop, "tokens": tokens, "peak_mb": Double(peak) / 1e6]])
        } else {
            print(String(format: "%-41@ %10.1f ms  %7.1f GFLOP/s  (%d tokens, step peak %.0f MB)", name as NSString, ms, gflop / (ms / 1e3),
                         tokens, Double(peak) / 1e6))
        }
    }
}

struct BenchTrainCLIP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-clip",
        abstract: "One stage-2 training step (EVA02 tower + text adapter, CLIP loss, AdamW) on a batch of images and cached LLM features (PyTorch side: bench/torch_train_clip.py)."
    )

    @Option(help: "Threads for the engine's kernels.") var threads = 2
    @Option(help: "Timed steps (median reported).") var reps = 7
    @Option(help: "Untimed warm-up steps.") var warmup = 2
    @Option(help: "Vision tower preset: small (the demo's) or tiny.") var tower = "small"
    @Option(help: "Images (and captions) per step.") var batch = 64
    @Option(help: "Width of the cached LLM features (576 = SmolLM2-135M).") var llmDim = 576
    @Option(help: "Write the initial model here (LLM2CLIPModel.save), the inputs to PATH.inputs.safetensors and the first steps' loss and gradient norms to PATH.json, for bench/torch_train_clip.py --check.")
    var saveWeights: String?
    @Option(help: "Print the time of forward, backward and optimiser separately for this many steps (profiling aid).")
    var phases = 0
    @Flag(help: "Print one JSON object instead of a table.") var json = false

    func run() throws {
        Engine.threads = threads
        let cfg: EVA02Config
        switch tower {
        case "small": cfg = .small
        case "tiny": cfg = .tiny
        default: throw ValidationError("--tower must be small or tiny, got '\(tower)'")
        }
        let setup = TrainCLIPStep(tower: cfg, llmDim: llmDim, batch: batch, seed: 0)
        if let path = saveWeights { return try setup.writeCheck(to: path) }
        if phases > 0 { return setup.printPhases(steps: phases, warmup: warmup) }
        let name = "eva02-\(tower)-clip-train-step-\(batch)"
        let gflop = setup.gflop
        let w = Workload(name: name, gflop: gflop) { { _ = setup.step() } }
        let ms = w.time(warmup: warmup, reps: reps)
        if json {
            // The FMA peak measured now tells how much of a shared machine the run had.
            try printBenchJSON(suite: "train-clip", threads: threads, rows: [["name": name, "ms": ms, "gflop": gflop, "images": batch]],
                               extra: ["peak_gflops": ke_measure_fma_peak(Int32(threads))])
        } else {
            print(String(format: "%-36@ %10.1f ms  %7.1f images/s  %7.1f GFLOP/s", name as NSString, ms,
                         Double(batch) / (ms / 1e3), gflop / (ms / 1e3)))
        }
    }
}

/// One stage-2 training step of LLM2CLIP on random inputs: l2-normalised image and text
/// embeddings, the CLIP loss with the learnable logit scale, backward, gradient clipping at 5,
/// AdamW (lr 1e-5, weight decay 0.05 on matrices only), the logit-scale clamp.
final class TrainCLIPStep {
    let model: LLM2CLIPModel
    let pixels: Tensor, features: Tensor
    let params: [Tensor]
    let optimizer: AdamW
    let config: EVA02Config, batch: Int, llmDim: Int
    static let maxGradNorm: Float = 5

    init(tower: EVA02Config, llmDim: Int, batch: Int, seed: UInt64) {
        config = tower
        self.batch = batch
        self.llmDim = llmDim
        var rng = RNG(seed: seed)
        model = withNoGrad { LLM2CLIPModel(LLM2CLIPConfig(eva02: tower, llmDim: llmDim), rng: &rng) }
        model.train()
        var inputRNG = RNG(seed: seed + 1)
        pixels = Tensor.randn([batch, 3, tower.imageSize, tower.imageSize], rng: &inputRNG)
        features = Tensor.randn([batch, llmDim], rng: &inputRNG)
        let named = model.trainableParameters()
        params = named.map(\.1)
        // The trainer's grouping (weight decay on matrices only, reference §3) with a flat learning rate.
        let groups = ParameterGroups(named: named, visualLayers: tower.layers, layerDecay: 1, weightDecay: 0.05).groups
        optimizer = AdamW(groups: groups, learningRate: 1e-5, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05)
    }

    /// Forward FLOPs ×3 of the GEMMs (tower linears, patch embedding, attention, adapter, logits).
    var gflop: Double {
        let c = config, T = c.grid * c.grid + 1, B = Double(batch), D = Double(c.width), F = Double(c.mlpHidden)
        let perBlock = 4 * D * D + 3 * D * F
        let tower = 2 * B * Double(T) * Double(c.layers) * perBlock + 4 * B * Double(c.layers) * Double(T * T) * D
            + 2 * B * Double(c.grid * c.grid) * D * Double(3 * c.patchSize * c.patchSize) + 2 * B * D * Double(c.embedDim)
        let L = Double(llmDim)
        let adapter = 2 * B * (4 * 2 * L * 2 * L + L * Double(c.embedDim))
        let logits = 2 * B * B * Double(c.embedDim)
        return 3 * (tower + adapter + logits) / 1e9
    }

    func forward() -> Tensor {
        let img = model.encodeImage(pixels), txt = model.encodeText(features)
        return CLIPObjective.loss(images: img, texts: txt, logitScale: model.logitScale)
    }

    /// One full step; returns (loss, gradient norm before clipping).
    @discardableResult
    func step() -> (Float, Float) {
        let loss = forward()
        loss.backward()
        let norm = clipGradNorm(params, maxNorm: Self.maxGradNorm)
        optimizer.step()
        CLIPObjective.clampLogitScale(model.logitScale)
        optimizer.zeroGrad()
        return (loss.item(), norm)
    }

    func printPhases(steps: Int, warmup: Int) {
        for _ in 0..<warmup { step() }
        func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e6 }
        var f: [Double] = [], b: [Double] = [], o: [Double] = []
        for _ in 0..<steps {
            let t0 = now()
            let loss = forward()
            let t1 = now()
            loss.backward()
            let t2 = now()
            clipGradNorm(params, maxNorm: Self.maxGradNorm)
            optimizer.step()
            CLIPObjective.clampLogitScale(model.logitScale)
            optimizer.zeroGrad()
            let t3 = now()
            f.append(t1 - t0); b.append(t2 - t1); o.append(t3 - t2)
        }
        func med(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }
        print(String(format: "forward %.1f ms  backward %.1f ms  clip+adamw %.1f ms  (median of %d)", med(f), med(b), med(o), steps))
    }

    /// The equivalence check's reference: initial weights, inputs, and three steps' losses and
    /// gradient norms (per parameter for the first step).
    func writeCheck(to path: String) throws {
        try model.save(to: path)
        try writeSafetensors(["pixels": pixels, "features": features], to: path + ".inputs.safetensors")
        var losses: [Double] = [], norms: [Double] = []
        var perParam: [String: Double] = [:]
        for i in 0..<3 {
            let loss = forward()
            loss.backward()
            if i == 0 {
                for (name, p) in model.namedParameters() {
                    if let g = p.grad { perParam[name] = Double(withNoGrad { g.square().sum().item() }).squareRoot() }
                }
            }
            let norm = clipGradNorm(params, maxNorm: Self.maxGradNorm)
            optimizer.step()
            CLIPObjective.clampLogitScale(model.logitScale)
            optimizer.zeroGrad()
            losses.append(Double(loss.item()))
            norms.append(Double(norm))
        }
        let obj: [String: Any] = ["losses": losses, "grad_norms": norms, "param_grad_norms": perParam,
                                  "logit_scale_after": Double(model.logitScale.item()), "batch": batch]
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .prettyPrinted])
        try data.write(to: URL(fileURLWithPath: path + ".json"))
        print("wrote \(path), \(path).inputs.safetensors, \(path).json; losses \(losses), grad norms \(norms)")
    }
}

/// The decoder LLM and the caption lines the text benchmarks share.
func loadBenchLLM(model: String, captions: String) throws -> (LlamaForCausalLM, any TextTokenizer, [String]) {
    guard FileManager.default.fileExists(atPath: model) else { throw ValidationError("missing \(model): run `bash scripts/assets.sh smollm2`") }
    guard let text = FileManager.default.contents(atPath: captions) else { throw ValidationError("cannot read \(captions)") }
    let lines = String(decoding: text, as: UTF8.self).split(whereSeparator: \.isNewline).map(String.init)
        .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    guard case .decoder(let llm, let tok) = try TextModel.load(path: model) else { throw ValidationError("\(model) is not a decoder LLM") }
    return (llm, tok, lines)
}

/// The one-line JSON object `bench/compare.py` reads.
func printBenchJSON(suite: String, threads: Int, rows: [[String: Any]], extra: [String: Any] = [:]) throws {
    var obj: [String: Any] = ["suite": suite, "impl": "swift", "threads": threads, "kernels": Engine.kernelISA, "rows": rows]
    obj.merge(extra) { _, new in new }
    let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}
