import Foundation
import Testing
import Formats
import Models
import NeuralNet
import TensorKit
import Tokenizers
import Training

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let goldens = root.appendingPathComponent("Tests/Goldens/mntp")
private let tinyLlamaPath = root.appendingPathComponent("Tests/Goldens/llm/tiny-llama").path

private func tokenizer() throws -> any TextTokenizer {
    try Tokenizers.load(tokenizerJSON: root.appendingPathComponent("Tests/Goldens/tokenizers/llama3-style/tokenizer.json").path)
}

/// A tiny random Llama sized to the Llama-3-style test tokenizer.
private func tinyModel(_ tok: any TextTokenizer, seed: UInt64 = 1) -> LlamaForCausalLM {
    var c = LlamaConfig(vocabSize: tok.vocabularySize, hiddenSize: 32, intermediateSize: 64, layers: 2, heads: 4, kvHeads: 2)
    c.tieWordEmbeddings = true
    var rng = RNG(seed: seed)
    let m = LlamaForCausalLM(c, rng: &rng)
    m.model.embedTokens.weight.assign(m.model.embedTokens.weight * 0.1)   // logits of a sensible size (N(0, 1) embeddings give CE ≈ 28)
    m.eval()
    return m
}

private let text = (0..<40).map { i in
    "the \(["red", "blue", "green", "yellow"][i % 4]) \(["cube", "ball", "ring"][i % 3]) is \(["left of", "above", "behind"][i % 3]) the \(["small", "large"][i % 2]) \(["box", "cone"][i % 2])."
}

private func rows(_ t: Tensor) -> [[Int]] {
    let a = t.toArray().map { Int($0) }, w = t.shape[1]
    return (0..<t.shape[0]).map { Array(a[($0 * w)..<(($0 + 1) * w)]) }
}

@Suite(.serialized) struct MNTPTests {
    /// On 200,000 tokens: ≈ 20% of the non-special tokens selected, 80/10/10 mask/random/unchanged,
    /// special tokens never selected; the same seed gives the same masking.
    @Test func maskingStatistics() {
        var g = RNG(seed: 3)
        let special: Set<Int> = [0, 1, 2]
        let ids = (0..<200_000).map { i in i % 50 == 0 ? Int(i / 50 % 3) : 3 + g.nextInt(997) }
        var rng = RNG(seed: 11)
        let m = MaskedNextToken.mask(ids, specialIds: special, maskToken: 5, vocabularySize: 1000, rng: &rng)
        var again = RNG(seed: 11)
        #expect(MaskedNextToken.mask(ids, specialIds: special, maskToken: 5, vocabularySize: 1000, rng: &again) == m)
        var nonSpecial = 0, selected = 0, masked = 0, unchanged = 0, random = 0
        for (i, t) in ids.enumerated() {
            if special.contains(t) {
                #expect(m.labels[i] == MaskedNextToken.ignoreIndex && m.inputs[i] == t)
                continue
            }
            nonSpecial += 1
            guard m.labels[i] != MaskedNextToken.ignoreIndex else { #expect(m.inputs[i] == t); continue }
            #expect(m.labels[i] == t)
            selected += 1
            if m.inputs[i] == 5 && t != 5 { masked += 1 } else if m.inputs[i] == t { unchanged += 1 } else { random += 1 }
        }
        let share = Double(selected) / Double(nonSpecial)
        #expect(abs(share - 0.2) < 0.005, "selected \(share)")
        let s = Double(selected)
        #expect(abs(Double(masked) / s - 0.8) < 0.01, "mask \(Double(masked) / s)")
        #expect(abs(Double(random) / s - 0.1) < 0.01, "random \(Double(random) / s)")
        #expect(abs(Double(unchanged) / s - 0.1) < 0.01, "unchanged \(Double(unchanged) / s)")
    }

    @Test func blocksConcatenateAndDropTheRemainder() {
        let docs = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10, 11]]
        #expect(MaskedNextToken.blocks(documents: docs, length: 4) == [[1, 2, 3, 4], [5, 6, 7, 8]])
        #expect(MaskedNextToken.blocks(documents: docs, length: 11) == [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]])
        #expect(MaskedNextToken.blocks(documents: docs, length: 512) == [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]])   // shorter than one block
    }

    @Test func maskTokenIsUnderscoreWithoutAMaskToken() throws {
        let tok = try tokenizer()
        let id = try MaskedNextToken.maskToken(of: tok)
        #expect(tok.token(forId: id) == "_")
        #expect(tok.specialTokenIds.isSuperset(of: [0, 1, 2, 3, 4]))
    }

    /// Loss and gradients on the tiny Llama against transformers' LlamaForCausalLM with the
    /// causal mask removed (scripts/make_goldens_mntp.py).
    @Test func lossAndGradientsMatchPyTorch() throws {
        let golden = try SafetensorsFile(path: goldens.appendingPathComponent("mntp.safetensors").path)
        let inputs = rows(try golden.tensor("input_ids")), labels = rows(try golden.tensor("labels"))
        let m = try LlamaForCausalLM.load(path: tinyLlamaPath)
        m.unfreeze { $0 == "model.layers.0.self_attn.q_proj.weight" || $0 == "model.embed_tokens.weight" }
        let loss = MaskedNextToken.loss(model: m, inputs: inputs, labels: labels)
        let ref = try golden.tensor("loss").item()
        #expect(abs(loss.item() - ref) < 1e-4, "loss \(loss.item()) vs \(ref)")
        loss.backward()
        let params = Dictionary(uniqueKeysWithValues: m.namedParameters())
        for (key, name) in [("model.layers.0.self_attn.q_proj.weight", "grad_q_proj_0"), ("model.embed_tokens.weight", "grad_embed")] {
            let g = try #require(params[key]?.grad).toArray(), r = try golden.tensor(name).toArray()
            let scale = r.map(abs).max() ?? 1
            #expect(maxAbsDiff(g, r) <= 1e-4 * max(scale, 1), "\(key): \(maxAbsDiff(g, r)) (max |g| \(scale))")
        }
    }

    private func config(steps: Int) -> MNTPTrainingConfig {
        var c = MNTPTrainingConfig()
        c.steps = steps
        c.batchSize = 4
        c.blockLength = 32
        c.learningRate = 2e-2
        c.checkpointEvery = 0
        c.lora = LoRAConfig(rank: 4, alpha: 8, dropout: 0.05)
        c.seed = 5
        return c
    }

    @Test func fewStepsLowerTheLoss() throws {
        let tok = try tokenizer()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mntp-loss-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        let t = try MNTPTrainer(model: tinyModel(tok), tokenizer: tok, documents: text, config: config(steps: 30), directory: dir)
        #expect(t.blocks.count >= 4 && t.blocks.allSatisfy { $0.count == 32 })
        let probe = (0..<4).map { $0 }
        let before = probe.map { t.loss(atStep: $0) }.reduce(0, +)
        var records = 0
        try t.run { _ in records += 1 }
        let after = probe.map { t.loss(atStep: $0) }.reduce(0, +)
        #expect(records == 30)
        #expect(after < 0.9 * before, "MNTP loss \(before / 4) → \(after / 4)")
        let lines = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 30 && lines[0].contains("\"maskedTokens\""))
        #expect(FileManager.default.fileExists(atPath: dir + "/checkpoint/adapter_model.safetensors"))
    }

    /// Two steps, a checkpoint, a restart and two more equal four uninterrupted steps.
    @Test func resumeEqualsUninterrupted() throws {
        let tok = try tokenizer()
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mntp-resume-\(getpid())").path
        try? FileManager.default.removeItem(atPath: base)
        let straight = try MNTPTrainer(model: tinyModel(tok), tokenizer: tok, documents: text, config: config(steps: 4), directory: base + "/a")
        try straight.run()
        let first = try MNTPTrainer(model: tinyModel(tok), tokenizer: tok, documents: text, config: config(steps: 4), directory: base + "/b")
        for _ in 0..<2 { _ = first.trainStep() }
        try first.saveCheckpoint()
        let resumed = try MNTPTrainer(model: tinyModel(tok), tokenizer: tok, documents: text, config: config(steps: 4), directory: base + "/b")
        #expect(resumed.step == 2)
        try resumed.run()
        let a = straight.model.trainableParameters(), b = resumed.model.trainableParameters()
        #expect(a.map(\.0) == b.map(\.0) && !a.isEmpty)
        for ((k, x), (_, y)) in zip(a, b) { #expect(x.toArray() == y.toArray(), "\(k)") }
        var other = config(steps: 4)
        other.learningRate = 1e-3
        #expect(throws: TrainingError.self) {
            _ = try MNTPTrainer(model: tinyModel(tok), tokenizer: tok, documents: text, config: other, directory: base + "/b")
        }
    }

    @Test func documentsFromFileAndFolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mntp-docs-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        try "first line\n\n  \nsecond line\n".write(toFile: dir + "/b.txt", atomically: true, encoding: .utf8)
        try "zeroth\n".write(toFile: dir + "/sub/a.txt", atomically: true, encoding: .utf8)
        try "ignored".write(toFile: dir + "/notes.md", atomically: true, encoding: .utf8)
        #expect(try MaskedNextToken.documents(at: dir + "/b.txt") == ["first line", "second line"])
        #expect(try MaskedNextToken.documents(at: dir) == ["first line", "second line", "zeroth"])
        #expect(throws: TrainingError.self) { _ = try MaskedNextToken.documents(at: dir + "/missing.txt") }
    }
}

private func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
