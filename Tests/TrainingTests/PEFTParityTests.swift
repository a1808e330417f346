import Foundation
import Testing
import Formats
import Models
import NeuralNet
import TensorKit
import Training

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let lora = root.appendingPathComponent("Tests/Goldens/lora")
private let tinyLlama = root.appendingPathComponent("Tests/Goldens/llm/tiny-llama").path

private func rows(_ t: Tensor) -> [[Int]] {
    let a = t.toArray().map { Int($0) }, w = t.shape[1]
    return (0..<t.shape[0]).map { Array(a[($0 * w)..<(($0 + 1) * w)]) }
}

private func maxDiffValid(_ a: Tensor, _ b: Tensor, mask: [[Int]]) -> Float {
    let d = a.shape.last!, x = a.toArray(), y = b.toArray()
    var worst: Float = 0
    for (r, row) in mask.enumerated() {
        for (t, m) in row.enumerated() where m != 0 {
            for j in 0..<d { worst = max(worst, abs(x[(r * row.count + t) * d + j] - y[(r * row.count + t) * d + j])) }
        }
    }
    return worst
}

/// PEFT 0.21 interoperability and the contrastive objective against PyTorch
/// (scripts/make_goldens_lora.py).
@Suite(.serialized) struct PEFTParityTests {
    @Test func adapterSavedByPEFTLoadsAndMatches() throws {
        let out = try SafetensorsFile(path: lora.appendingPathComponent("lora_outputs.safetensors").path)
        let ids = rows(try out.tensor("input_ids")), mask = rows(try out.tensor("attention_mask"))
        let m = try LlamaForCausalLM.load(path: tinyLlama)
        let base = withNoGrad { m.hiddenStates(ids: ids, attentionMask: mask) }
        #expect(maxDiffValid(base, try out.tensor("hidden_base"), mask: mask) < 1e-4)
        let cfg = try LoRA.loadAdapter(into: m, from: lora.appendingPathComponent("peft-adapter").path)
        #expect(cfg.rank == 4 && cfg.alpha == 8)
        m.eval()
        let adapted = withNoGrad { m.hiddenStates(ids: ids, attentionMask: mask) }
        #expect(maxDiffValid(adapted, try out.tensor("hidden_with_adapter"), mask: mask) < 1e-4)
        LoRA.merge(into: m)
        let merged = withNoGrad { m.hiddenStates(ids: ids, attentionMask: mask) }
        #expect(maxDiffValid(merged, try out.tensor("hidden_merged"), mask: mask) < 1e-4)
        let q = m.model.layers[0].attention.qProj.weight
        #expect(maxAbsDiff(q.toArray(), try out.tensor("merged_q_proj_0").toArray()) < 1e-5)
    }

    /// Loss and gradients of the ×50 cosine objective through the bidirectional tiny Llama.
    @Test func contrastiveLossAndGradientsMatchPyTorch() throws {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: lora.appendingPathComponent("contrastive.json"))) as! [String: Any]
        let golden = try SafetensorsFile(path: lora.appendingPathComponent("contrastive.safetensors").path)
        let m = try LlamaForCausalLM.load(path: tinyLlama)
        m.unfreeze { $0 == "model.layers.0.self_attn.q_proj.weight" || $0 == "model.embed_tokens.weight" }
        let pool = json["pool_last_n"] as! [String: [Int]]
        func embed(_ name: String) -> Tensor {
            let seqs = json[name] as! [[Int]], ns = pool[name]!
            return concat(zip(seqs, ns).map { ids, n in
                let h = m.hiddenStates(ids: [ids], direction: .bidirectional)
                return h.slice(axis: 1, ids.count - n, ids.count).mean(axes: [1])
            }, axis: 0)
        }
        let q = embed("queries")
        let loss = CaptionContrastive.loss(queries: q, positives: embed("positives"), negatives: embed("negatives"))
        let refLoss = try golden.tensor("loss").item()
        #expect(abs(loss.item() - refLoss) < 1e-4, "loss \(loss.item()) vs \(refLoss)")
        #expect(maxAbsDiff(q.toArray(), try golden.tensor("embeddings_q").toArray()) < 1e-4)
        loss.backward()
        let params = Dictionary(uniqueKeysWithValues: m.namedParameters())
        for (key, name) in [("model.layers.0.self_attn.q_proj.weight", "grad_q_proj_0"), ("model.embed_tokens.weight", "grad_embed")] {
            let g = try #require(params[key]?.grad).toArray(), ref = try golden.tensor(name).toArray()
            let scale = ref.map(abs).max() ?? 1
            #expect(maxAbsDiff(g, ref) <= 1e-4 * max(scale, 1), "\(key): \(maxAbsDiff(g, ref)) (max |g| \(scale))")
        }
    }

    /// An adapter written by this project, loaded by Python `peft` (`make_goldens_lora.py
    /// --verify-swift Tests/Goldens/lora/swift-adapter --record`), gave the same outputs; the
    /// adapter written now is byte-identical to the one verified.
    @Test func adapterWrittenHereWasVerifiedByPEFT() throws {
        let out = try SafetensorsFile(path: lora.appendingPathComponent("lora_outputs.safetensors").path)
        let ids = rows(try out.tensor("input_ids")), mask = rows(try out.tensor("attention_mask"))
        let m = try LlamaForCausalLM.load(path: tinyLlama)
        try LoRA.apply(LoRAConfig(rank: 4, alpha: 8, dropout: 0), to: m, seed: 21)
        var rng = RNG(seed: 22)
        for (_, p) in m.trainableParameters() { p.assign(Tensor.randn(p.shape, rng: &rng) * 0.1) }
        m.eval()
        let dir = ProcessInfo.processInfo.environment["LLM2CLIP_WRITE_GOLDENS"] == "1"
            ? lora.appendingPathComponent("swift-adapter").path
            : FileManager.default.temporaryDirectory.appendingPathComponent("swift-adapter-\(getpid())").path
        try LoRA.saveAdapter(of: m, config: LoRAConfig(rank: 4, alpha: 8, dropout: 0), to: dir, baseModel: "Tests/Goldens/llm/tiny-llama",
                             taskType: "CAUSAL_LM")
        try writeSafetensors(["hidden_with_adapter": withNoGrad { m.hiddenStates(ids: ids, attentionMask: mask) }],
                             to: dir + "/swift_outputs.safetensors")
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: lora.appendingPathComponent("swift-adapter-verified.json"))) as! [String: Any]
        #expect((record["max_abs_diff"] as? Double ?? 1) < 1e-4)
        #expect(record["adapter_sha256"] as? String == (try SHA256.hex(ofFile: dir + "/adapter_model.safetensors")))
    }
}

private func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    var m: Float = 0
    for (x, y) in zip(a, b) { m = max(m, abs(x - y)) }
    return m
}
