// Autograd semantics: accumulation, no-grad, detach, retained graphs, very long graphs and
// memory release.

import Foundation
import Testing
import TensorKit

@Suite("Autograd semantics")
struct AutogradTests {
    @Test func gradientsAccumulateAcrossBackwardCalls() {
        let x = Tensor([1, 2, 3], shape: [3]).requiringGrad()
        (x * 3).sum().backward()
        #expect(x.grad!.toArray() == [3, 3, 3])
        (x * x).sum().backward()
        #expect(x.grad!.toArray() == [5, 7, 9])
        x.zeroGrad()
        #expect(x.grad == nil)
        (x * 2).sum().backward()
        #expect(x.grad!.toArray() == [2, 2, 2])
    }

    @Test func retainGraphAllowsSecondBackward() {
        let x = Tensor([1, -2], shape: [2]).requiringGrad()
        let y = (x * x * x).sum()
        y.backward(retainGraph: true)
        y.backward()
        #expect(x.grad!.toArray() == [6, 24])   // 2 · 3x²
    }

    @Test func backwardWithSeedAndLeafOutput() throws {
        let x = Tensor([1, 2, 3, 4], shape: [2, 2]).requiringGrad()
        let y = x * x
        y.backward(Tensor([1, 0, 2, -1], shape: [2, 2]))
        #expect(x.grad!.toArray() == [2, 0, 12, -8])
        // A non-scalar output without a seed is an error.
        #expect(throws: AutogradError.self) { try (x * 2).tryBackward() }
        // backward() on a leaf itself seeds its own grad.
        let s = Tensor.scalar(5).requiringGrad()
        s.backward()
        #expect(s.grad?.item() == 1)
    }

    @Test func sharedSubexpressionsSumTheirGradients() {
        let a = Tensor([2], shape: [1]).requiringGrad()
        let b = Tensor([3], shape: [1]).requiringGrad()
        let c = a * b
        let y = (c * c + c + a).sum()       // (ab)² + ab + a
        y.backward()
        #expect(a.grad!.item() == 2 * 6 * 3 + 3 + 1)
        #expect(b.grad!.item() == 2 * 6 * 2 + 2)
    }

    @Test func noGradScopeRecordsNothing() {
        let x = Tensor([1, 2], shape: [2]).requiringGrad()
        #expect(GradMode.isEnabled)
        let y = withNoGrad { () -> Tensor in
            #expect(!GradMode.isEnabled)
            let inner = withNoGrad { x * 2 }
            #expect(!GradMode.isEnabled)   // nested scope restores the outer (disabled) state
            return (inner + x).exp().sum()
        }
        #expect(GradMode.isEnabled)
        #expect(!y.requiresGrad)
        y.backward()
        #expect(x.grad == nil)
        // Ops on a tensor that doesn't require grad don't require grad either.
        let z = Tensor([1, 2], shape: [2])
        #expect(!(z * 2 + z).requiresGrad)
        #expect((z * x).requiresGrad)
    }

    @Test func noGradSurvivesThrow() {
        struct Boom: Error {}
        #expect(throws: Boom.self) { try withNoGrad { throw Boom() } }
        #expect(GradMode.isEnabled)
    }

    @Test func detachStopsGradient() {
        let x = Tensor([1, 2, 3], shape: [3]).requiringGrad()
        let d = x.detach()
        #expect(!d.requiresGrad && d.storage === x.storage)
        (x * d).sum().backward()          // d treated as a constant
        #expect(x.grad!.toArray() == [1, 2, 3])
        let y = (x * 2).detach()
        #expect(!y.requiresGrad)
        #expect(!((y * 3).requiresGrad))
    }
}

/// Very long graphs and memory accounting. Other suites run concurrently in the same process,
/// so the memory tests measure a large graph (~100 MB) and allow a few MB of noise; the
/// long-chain tests (which allocate ~10 MB of small blocks) live in this serialized suite so
/// they never overlap the memory measurements.
@Suite("Large graphs and memory", .serialized)
struct LargeGraphTests {
    static let mb = 1 << 20

    @Test func backwardThroughVeryLongChain() {
        let n = 100_000
        let x = Tensor([1, 2], shape: [2]).requiringGrad()
        let c = Tensor([0.5], shape: [1]).requiringGrad()
        var y = x
        for _ in 0..<n { y = y + c }             // tensor-tensor ops, broadcast c
        #expect(y.toArray() == [50_001, 50_002])
        y.sum().backward()
        #expect(x.grad!.toArray() == [1, 1])
        #expect(c.grad!.item() == Float(2 * n))

        // Multiplicative chain with a scalar: d/dx = k^n.
        let k: Float = 1.0000001
        let x2 = Tensor.scalar(1).requiringGrad()
        var z = x2
        for _ in 0..<n { z = z * k }
        z.backward()
        let expected = Float(Foundation_pow(Double(k), Double(n)))
        #expect(Swift.abs(x2.grad!.item() - expected) < 1e-3 * expected)
        #expect(Swift.abs(z.item() - expected) < 1e-3 * expected)
    }

    /// Dropping a 200,000-node graph (binary tensor-tensor ops, which form no retain cycle)
    /// without calling backward. Run in a child process (exit test) because the failure mode is
    /// a stack overflow (SIGSEGV) that would take the whole test run down.
    @Test func droppingVeryLongGraphWithoutBackward() async {
        do {
            await #expect(processExitsWith: .success) {
                let x = Tensor([1], shape: [1]).requiringGrad()
                let one = Tensor([1], shape: [1]), zero = Tensor([0], shape: [1])
                let before = MemoryStats.liveBytes
                do {
                    var y = x
                    for _ in 0..<100_000 { y = y * one + zero }
                    if !y.requiresGrad || y.item() != 1 { exit(2) }
                }
                if MemoryStats.liveBytes - before > (1 << 20) { exit(3) }   // graph not freed
                (x * one).sum().backward()
                if x.grad?.item() != 1 { exit(4) }
            }
        }
    }

    /// The same, for a graph small enough not to overflow even with recursive release: all of
    /// its memory is returned.
    @Test func droppingModerateGraphWithoutBackwardFreesIt() {
        let x = Tensor([1], shape: [1]).requiringGrad()
        let one = Tensor([1], shape: [1]), zero = Tensor([0], shape: [1])
        let big = Tensor.zeros([1 << 14])            // 64 KB per intermediate
        let before = MemoryStats.threadLiveBytes
        var held = 0
        do {
            var y = x + big
            for _ in 0..<500 { y = y * one + zero }
            // 1000 intermediates of 64 KB; the 500 inputs of `*` are saved for its backward (the
            // products, inputs of `+`, are not: a node keeps its inputs' nodes, not their data).
            #expect(y.requiresGrad && y[12345] == 1)
            held = MemoryStats.threadLiveBytes - before
        }
        let after = MemoryStats.threadLiveBytes - before
        #expect(held > 30 * Self.mb, "held \(held / Self.mb) MB")
        #expect(after < 1 << 20, "graph not released: \(after) bytes")
    }

    @Test func retainedGraphOnVeryLongChainStillWorks() {
        let x = Tensor.scalar(3).requiringGrad()
        var y = x
        for _ in 0..<100_000 { y = y + 0 }
        y.backward(retainGraph: true)
        y.backward()
        #expect(x.grad!.item() == 2)
    }


    @Test func memoryReturnsAfterBackwardAndRelease() {
        let before = MemoryStats.threadLiveBytes
        var peak = 0, afterBackward = 0
        do {
            var rng = RNG(seed: 3)
            let x = Tensor.randn([1 << 20], rng: &rng).requiringGrad()   // 4 MB
            var y = x
            for _ in 0..<12 { y = (y * 0.9).tanh() }    // each step keeps one 4 MB tensor alive (tanh's output, x*0.9's input)
            let loss = y.sum()
            y = x
            peak = MemoryStats.threadLiveBytes - before
            loss.backward()
            afterBackward = MemoryStats.threadLiveBytes - before
            #expect(x.grad!.toArray().allSatisfy { $0.isFinite && $0 > 0 })
        }
        let after = MemoryStats.threadLiveBytes - before
        #expect(peak > 45 * Self.mb, "graph should hold ≈52 MB, held \(peak / Self.mb) MB")
        // After backward only x, x.grad (8 MB) and a little else survive.
        #expect(afterBackward < 8 * Self.mb + 5 * Self.mb, "after backward \(afterBackward / Self.mb) MB")
        #expect(after < 5 * Self.mb, "after release \(after / Self.mb) MB")
    }

    @Test func memoryReturnsAfterDroppingGraphWithoutBackward() {
        let before = MemoryStats.threadLiveBytes
        var peak = 0
        do {
            var rng = RNG(seed: 4)
            let x = Tensor.randn([1 << 20], rng: &rng).requiringGrad()
            var y = x
            let k = Tensor([0.9], shape: [1])
            for _ in 0..<12 { y = y * k + y }       // binary ops: no retain cycle; `*` saves y (4 MB per step)
            peak = MemoryStats.threadLiveBytes - before
            #expect(y.requiresGrad)
        }
        let after = MemoryStats.threadLiveBytes - before
        #expect(peak > 45 * Self.mb)
        #expect(after < 5 * Self.mb, "after release \(after / Self.mb) MB")
    }

    /// Every op built on `unaryOp` (scalar arithmetic x+s, x*s, -x, exp, log, gelu, tanh, …) and
    /// the ops that save their output (pow(a, b), max, logsumexp, softmax, logSoftmax) capture
    /// the output tensor in the backward closure stored on that same tensor's node:
    /// out → node → closure → out. The cycle is only broken by backward(); a graph dropped
    /// without backward leaks, together with everything upstream of it. Binary tensor-tensor
    /// ops and layerNorm are the control cases that must (and do) release.
    @Test(arguments: ["binary", "layerNorm", "mulScalar", "gelu", "exp", "tanh", "softmax", "max"])
    func droppedGraphReleasesMemory(_ op: String) {
        let check = {
            let before = MemoryStats.threadLiveBytes
            do {
                var rng = RNG(seed: 6)
                let x = Tensor.randn([1 << 20], rng: &rng).requiringGrad()   // 4 MB
                let half = Tensor([0.5], shape: [1])
                var y = x * half
                for _ in 0..<8 {
                    switch op {
                    case "binary": y = y * half + y
                    case "layerNorm": y = layerNorm(y.reshape([256, 4096]), weight: nil, bias: nil).reshape([-1])
                    case "mulScalar": y = y * 0.9
                    case "exp": y = (y * 0.1).exp()
                    case "sigmoid": y = y.sigmoid()
                    case "tanh": y = y.tanh()
                    case "softmax": y = softmax(y.reshape([256, 4096])).reshape([-1])
                    case "max": y = y.reshape([1024, 1024]).max(axis: 1, keepDims: true).expand([1024, 1024]).reshape([-1]) * 1
                    default: y = y.gelu()
                    }
                }
                #expect(y.requiresGrad)
            }
            let after = MemoryStats.threadLiveBytes - before
            #expect(after < 5 * Self.mb, "\(op): \(after / Self.mb) MB still live after dropping the graph")
        }
        check()
    }

    @Test func noGradKeepsNoActivations() {
        let before = MemoryStats.threadLiveBytes
        var rng = RNG(seed: 5)
        let x = Tensor.randn([1 << 20], rng: &rng).requiringGrad()
        let y = withNoGrad { () -> Tensor in
            var y = x
            for _ in 0..<12 { y = (y * 0.9).tanh() }
            return y
        }
        let held = MemoryStats.threadLiveBytes - before
        // x and y: 8 MB (plus noise); none of the 24 intermediates.
        #expect(held < 8 * Self.mb + 5 * Self.mb, "held \(held / Self.mb) MB")
        #expect(!y.requiresGrad)
    }
}

#if canImport(Glibc)
import Glibc
private func Foundation_pow(_ a: Double, _ b: Double) -> Double { Glibc.pow(a, b) }
#else
import Darwin
private func Foundation_pow(_ a: Double, _ b: Double) -> Double { Darwin.pow(a, b) }
#endif

@Suite("Graph memory")
struct GraphMemoryTests {
    /// A node keeps its inputs' nodes, not their tensors: an intermediate that no backward rule
    /// saved is freed once the forward code drops it, and the gradient still flows through it.
    @Test func unsavedIntermediatesAreFreed() {
        let x = Tensor([1, 2, 3], shape: [3]).requiringGrad()
        weak var weakH: Tensor?
        let y: Tensor = {
            let h = x + x          // its output is needed by no backward rule below
            weakH = h
            return (h + x).reshape([1, 3])
        }()
        #expect(weakH == nil)
        y.sum().backward()
        #expect(x.grad!.toArray() == [3, 3, 3])
    }
}
