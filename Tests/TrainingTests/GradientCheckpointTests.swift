import Foundation
import Testing
import Models
import NeuralNet
import TensorKit

/// A tiny random Llama (no tokenizer needed) with LoRA on every projection.
private func tinyLlama(layers: Int = 3, dropout: Float, hidden: Int = 32) throws -> LlamaForCausalLM {
    var c = LlamaConfig(vocabSize: 97, hiddenSize: hidden, intermediateSize: 2 * hidden, layers: layers, heads: 4, kvHeads: 2)
    c.tieWordEmbeddings = true
    var rng = RNG(seed: 21)
    let m = LlamaForCausalLM(c, rng: &rng)
    try LoRA.apply(LoRAConfig(rank: 4, alpha: 8, dropout: dropout), to: m, seed: 3)
    var r = RNG(seed: 5)
    for (k, p) in m.trainableParameters() where k.contains("lora_B") { p.assign(Tensor.randn(p.shape, rng: &r) * 0.2) }
    return m
}

private func ids(_ b: Int, _ t: Int, seed: UInt64) -> [[Int]] {
    var r = RNG(seed: seed)
    return (0..<b).map { _ in (0..<t).map { _ in r.nextInt(97) } }
}

/// Per-decoder-layer gradient checkpointing (`LlamaForCausalLM.gradientCheckpointing`).
@Suite(.serialized) struct GradientCheckpointTests {
    /// Gradients of every LoRA weight, with dropout 0.3, equal those without checkpointing; the
    /// dropout generator ends in the same state either way.
    @Test func gradientsEqualWithoutCheckpointing() throws {
        func gradients(_ on: Bool) throws -> (grads: [[Float]], loss: Float, after: [Float]) {
            let m = try tinyLlama(dropout: 0.3)
            m.gradientCheckpointing = on
            m.train()
            LoRA.seedDropout(of: m, 77)
            let input = ids(2, 12, seed: 9)
            let h = m.hiddenStates(ids: input, attentionMask: [[Int](repeating: 1, count: 12), [0, 0] + [Int](repeating: 1, count: 10)],
                                   direction: .bidirectional)
            let loss = (h * h).mean() + crossEntropy(m.logits(h.reshape([24, 32])), targets: input.flatMap { $0 })
            loss.backward()
            // The next draw of the dropout generator (the state after forward + backward).
            let probe = m.model.layers[0].attention.qProj
            let after = probe.loraDropoutSource!.snapshot() as! RNG
            var a = after
            return (m.trainableParameters().map { $0.1.grad?.toArray() ?? [] }, loss.item(), (0..<4).map { _ in a.nextFloat() })
        }
        let plain = try gradients(false), ckpt = try gradients(true)
        #expect(plain.loss == ckpt.loss)
        #expect(plain.after == ckpt.after, "dropout generator state differs after backward")
        #expect(plain.grads.count == 3 * 14 && plain.grads.allSatisfy { !$0.isEmpty })
        var worst: Float = 0, scale: Float = 0
        for (a, b) in zip(plain.grads, ckpt.grads) {
            #expect(a.count == b.count)
            for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)); scale = max(scale, abs(x)) }
        }
        #expect(scale > 1e-3)
        #expect(worst <= 1e-5, "max gradient difference \(worst) (max |g| \(scale))")
    }

    /// Without replaying the dropout state the re-run would draw other masks: the test above
    /// would catch it. This checks that dropout really changes the gradients here.
    @Test func dropoutMattersForTheseGradients() throws {
        func grads(seed: UInt64) throws -> [Float] {
            let m = try tinyLlama(dropout: 0.3)
            m.train()
            LoRA.seedDropout(of: m, seed)
            m.hiddenStates(ids: ids(1, 8, seed: 2), direction: .bidirectional).square().mean().backward()
            return m.trainableParameters().flatMap { $0.1.grad?.toArray() ?? [] }
        }
        #expect(try grads(seed: 1) != grads(seed: 2))
    }

    /// On a longer sequence the step's peak memory is lower with checkpointing.
    @Test func peakMemoryIsLower() throws {
        func peak(_ on: Bool) throws -> Int {
            let m = try tinyLlama(layers: 6, dropout: 0.05, hidden: 64)
            m.gradientCheckpointing = on
            m.train()
            let input = ids(2, 256, seed: 4)
            MemoryStats.resetThreadPeak()
            let base = MemoryStats.threadLiveBytes
            do {
                let h = m.hiddenStates(ids: input, direction: .bidirectional)
                h.square().mean().backward()
            }
            return MemoryStats.threadPeakBytes - base
        }
        let plain = try peak(false), ckpt = try peak(true)
        #expect(plain > 8 << 20, "the plain step should hold several MB of activations, held \(plain >> 20) MB")
        #expect(Double(ckpt) < 0.5 * Double(plain), "peak \(ckpt >> 10) kB with checkpointing vs \(plain >> 10) kB without")
    }
}
