import Foundation
import Testing
import Formats
import Models
import TensorKit

/// Tiny random-initialised models saved by transformers 5.24 (scripts/make_goldens_llm.py).
@Suite struct LlamaTests {
    let outputs: SafetensorsFile
    let model: LlamaForCausalLM

    init() throws {
        outputs = try SafetensorsFile(path: llmGoldens.appendingPathComponent("tiny_llama_outputs.safetensors").path)
        model = try LlamaForCausalLM.load(path: llmGoldens.appendingPathComponent("tiny-llama").path)
    }

    private func batch() throws -> (ids: [[Int]], mask: [[Int]]) {
        let ids = try outputs.tensor("input_ids").toArray().map { Int($0) }
        let mask = try outputs.tensor("attention_mask").toArray().map { Int($0) }
        return (stride(from: 0, to: ids.count, by: 12).map { Array(ids[$0..<($0 + 12)]) },
                stride(from: 0, to: mask.count, by: 12).map { Array(mask[$0..<($0 + 12)]) })
    }

    /// Compares only the positions that are real tokens.
    private func expectValidClose(_ ours: Tensor, _ ref: Tensor, mask: [[Int]], tol: Float, _ what: String) {
        let d = ours.shape.last!
        let a = ours.toArray(), b = ref.toArray()
        var worst: Float = 0
        for (r, row) in mask.enumerated() {
            for (t, m) in row.enumerated() where m != 0 {
                let base = (r * row.count + t) * d
                worst = max(worst, maxAbsDiff(Array(a[base..<(base + d)]), Array(b[base..<(base + d)])))
            }
        }
        #expect(worst < tol, "\(what): max abs difference \(worst)")
    }

    @Test func configFromShardedFolder() {
        let c = model.config
        #expect(c.heads == 4 && c.kvHeads == 2 && c.headDim == 16 && c.tieWordEmbeddings)
        #expect(c.ropeScaling == Llama3RopeScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 16))
        #expect(model.lmHead == nil && model.hasLanguageModelHead)
    }

    @Test func causalHiddenStatesAndLogits() throws {
        let (ids, mask) = try batch()
        let (h, logits) = withNoGrad { () -> (Tensor, Tensor) in
            let h = model.hiddenStates(ids: ids, attentionMask: mask, direction: .causal)
            return (h, model.logits(h))
        }
        expectValidClose(h, try outputs.tensor("hidden_causal"), mask: mask, tol: 1e-4, "causal hidden")
        expectValidClose(logits, try outputs.tensor("logits_causal"), mask: mask, tol: 1e-4, "causal logits")
    }

    @Test func bidirectionalHiddenStates() throws {
        let (ids, mask) = try batch()
        let h = withNoGrad { model.hiddenStates(ids: ids, attentionMask: mask, direction: .bidirectional) }
        expectValidClose(h, try outputs.tensor("hidden_bidirectional"), mask: mask, tol: 1e-4, "bidirectional hidden")
    }

    /// LLM2Vec's property: with bidirectional attention, a padded batch (either side) gives each
    /// row what it gives alone.
    @Test(arguments: [true, false]) func paddedBatchEqualsOneAtATime(leftPadding: Bool) throws {
        let rows = [[5, 9, 33, 2, 7, 100, 3], [44, 8, 1], [250, 17, 17, 17, 60]]
        let T = rows.map(\.count).max()!
        var ids: [[Int]] = [], mask: [[Int]] = []
        for r in rows {
            let pad = Array(repeating: 0, count: T - r.count)
            ids.append(leftPadding ? pad + r : r + pad)
            let m = Array(repeating: 1, count: r.count)
            mask.append(leftPadding ? pad + m : m + pad)
        }
        let batched = withNoGrad { model.hiddenStates(ids: ids, attentionMask: mask, direction: .bidirectional) }.toArray()
        for (i, r) in rows.enumerated() {
            let alone = withNoGrad { model.hiddenStates(ids: [r], direction: .bidirectional) }.toArray()
            let start = leftPadding ? T - r.count : 0
            let slice = Array(batched[((i * T + start) * 64)..<((i * T + start + r.count) * 64)])
            #expect(maxAbsDiff(slice, alone) < 1e-5, "row \(i)")
        }
    }

    @Test func kvCacheDecodingMatchesFullForward() throws {
        let prompt = [3, 77, 140, 9]
        let generated = model.generate(prompt: prompt, maxTokens: 6)
        // Re-run greedily without a cache: each step recomputes the whole sequence.
        var seq = prompt, expected: [Int] = []
        for _ in 0..<6 {
            let logits = withNoGrad { model.logits(model.hiddenStates(ids: [seq])) }.toArray().suffix(256)
            let next = Array(logits).indices.max { logits[logits.startIndex + $0] < logits[logits.startIndex + $1] }!
            expected.append(next)
            seq.append(next)
        }
        #expect(generated == expected)
    }

    /// Mistral with head_dim 32 ≠ hidden / heads (as Mistral-Nemo), untied head, bf16 weights
    /// kept in bf16 and widened at compute time.
    @Test func mistralWithExplicitHeadDimInBFloat16() throws {
        let out = try SafetensorsFile(path: llmGoldens.appendingPathComponent("tiny_mistral_outputs.safetensors").path)
        let m = try LlamaForCausalLM.load(path: llmGoldens.appendingPathComponent("tiny-mistral").path)
        #expect(m.config.modelType == "mistral" && m.config.headDim == 32 && m.lmHead != nil)
        #expect(m.model.layers[0].attention.qProj.weight.dtype == .bfloat16)
        let ids = try out.tensor("input_ids").toArray().map { Int($0) }
        let (h, logits) = withNoGrad { () -> (Tensor, Tensor) in
            let h = m.hiddenStates(ids: [ids])
            return (h, m.logits(h))
        }
        #expect(maxAbsDiff(h.toArray(), try out.tensor("hidden_causal").toArray()) < 1e-4)
        #expect(maxAbsDiff(logits.toArray(), try out.tensor("logits_causal").toArray()) < 1e-4)
    }

    @Test func mismatchedWeightsNameEveryKey() throws {
        var c = model.config
        c.layers = 3
        #expect { try LlamaForCausalLM.load(config: c, source: SafetensorsFolder(path: llmGoldens.appendingPathComponent("tiny-llama").path)) } throws: { e in
            guard let err = e as? ModelError, case .weights(_, let d) = err else { return false }
            return d.contains("model.layers.2.self_attn.q_proj.weight")
        }
    }

    @Test func unsupportedArchitectureIsNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llm2clip-arch-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(#"{"model_type": "gpt_neox", "hidden_size": 8}"#.utf8).write(to: dir.appendingPathComponent("config.json"))
        #expect { try LlamaForCausalLM.load(path: dir.path) } throws: { e in
            guard let err = e as? ModelError, case .unsupportedArchitecture(_, let found, _) = err else { return false }
            return found == "gpt_neox"
        }
    }
}
