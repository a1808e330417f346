import Testing
import TensorKit

/// A random stream the checkpointed body consumes (stands in for a dropout generator).
private final class Noise: RecomputationState {
    var rng: RNG
    var draws = 0
    init(_ seed: UInt64) { rng = RNG(seed: seed) }
    func snapshot() -> Any { rng }
    func restore(_ state: Any) { rng = state as! RNG }
    func mask(_ shape: [Int]) -> Tensor {
        draws += 1
        var r = rng
        let t = Tensor.uniform(shape, low: 0, high: 2, rng: &r)
        rng = r
        return t
    }
}

/// Equal up to float rounding of a different summation order (≤ 1e-6 relative to the largest value).
private func close(_ a: [Float], _ b: [Float]) -> Bool {
    guard a.count == b.count, !a.isEmpty else { return false }
    let scale = max(1, a.map(abs).max()!)
    return zip(a, b).allSatisfy { abs($0 - $1) <= 1e-6 * scale }
}

@Suite struct CheckpointTests {
    /// Two checkpointed blocks with parameters and random masks give the same loss, input
    /// gradient and parameter gradients as the plain graph, and leave the random state where
    /// the plain run leaves it.
    @Test func checkpointedGradientsEqualPlainOnes() {
        func run(_ ckpt: Bool) -> (loss: Float, gx: [Float], gw: [[Float]], next: Float, draws: Int) {
            var rng = RNG(seed: 1)
            let x = Tensor.randn([3, 8], rng: &rng).requiringGrad()
            let w1 = (Tensor.randn([8, 8], rng: &rng) * 0.5).requiringGrad(), w2 = (Tensor.randn([8, 8], rng: &rng) * 0.5).requiringGrad()
            let noise = Noise(42)
            func block(_ h: Tensor, _ w: Tensor) -> Tensor { (matmul(h, w) * noise.mask([3, 8])).tanh() + h }
            var h = x
            for w in [w1, w2] {
                h = ckpt ? checkpoint([h], parameters: [w], preserving: [noise]) { block($0[0], w) } : block(h, w)
            }
            let loss = (h * h).sum()
            loss.backward()
            var r = noise.rng
            return (loss.item(), x.grad!.toArray(), [w1.grad!.toArray(), w2.grad!.toArray()], r.nextFloat(), noise.draws)
        }
        let plain = run(false), ckpt = run(true)
        #expect(plain.loss == ckpt.loss)
        #expect(close(plain.gx, ckpt.gx))
        #expect(close(plain.gw[0], ckpt.gw[0]) && close(plain.gw[1], ckpt.gw[1]))
        #expect(plain.next == ckpt.next)
        #expect(plain.draws == 2 && ckpt.draws == 4)   // each block re-run once during backward
    }

    /// A block whose input needs no gradient still trains its parameters; without grad mode
    /// nothing is recorded.
    @Test func parametersTrainWhenTheInputIsFrozen() {
        var rng = RNG(seed: 2)
        let x = Tensor.randn([2, 4], rng: &rng)
        let w = Tensor.randn([4, 4], rng: &rng).requiringGrad()
        let y = checkpoint([x], parameters: [w]) { matmul($0[0], w).relu() }
        #expect(y.requiresGrad)
        y.sum().backward()
        let direct = w.grad!.toArray()
        w.zeroGrad()
        matmul(x, w).relu().sum().backward()
        #expect(close(direct, w.grad!.toArray()))
        let frozen = withNoGrad { checkpoint([x], parameters: [w]) { matmul($0[0], w) } }
        #expect(!frozen.requiresGrad)
    }

    /// The activations inside a checkpointed body are not kept between forward and backward.
    @Test func activationsAreNotKept() {
        var rng = RNG(seed: 3)
        let x = Tensor.randn([1 << 18], rng: &rng).requiringGrad()   // 1 MB
        func body(_ h: Tensor) -> Tensor {
            var y = h
            for _ in 0..<8 { y = (y * 0.9).tanh() }   // eight 1 MB intermediates (and their saved outputs)
            return y
        }
        let before = MemoryStats.threadLiveBytes
        let plain = body(x)
        let heldPlain = MemoryStats.threadLiveBytes - before
        let ckpt = checkpoint([x]) { body($0[0]) }
        let heldCkpt = MemoryStats.threadLiveBytes - before - heldPlain
        #expect(heldPlain >= 8 << 20, "plain graph held \(heldPlain >> 10) kB")
        #expect(heldCkpt <= 2 << 20, "checkpointed graph held \(heldCkpt >> 10) kB")
        ckpt.sum().backward()
        let g1 = x.grad!.toArray()
        x.zeroGrad()
        plain.sum().backward()
        #expect(close(g1, x.grad!.toArray()))
    }
}
