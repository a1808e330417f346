// Finite-difference gradient checks for every differentiable TensorKit op.
// See TestSupport.swift for the helper and the reasoning behind its tolerances.

import Testing
import TensorKit

@Suite("Gradient checker self-test")
struct GradCheckSelfTests {
    /// x · detach(x) has analytic gradient x but true derivative 2x: the checker must notice.
    @Test func detectsAWrongGradient() {
        withKnownIssue("deliberately wrong gradient") {
            let rep = gradCheck([makeRandn([3, 4], seed: 1)], "wrong on purpose") { $0[0] * $0[0].detach() }
            #expect(rep.worst > 10)
        }
    }

    /// A gradient that is right except for one element's broadcast reduction is also caught.
    @Test func detectsAMissingBroadcastReduction() {
        withKnownIssue("deliberately wrong gradient") {
            // b's contribution through the detached copy is dropped for 2 of the 3 rows.
            gradCheck([makeRandn([3, 4], seed: 2), makeRandn([1, 4], seed: 3)], "wrong on purpose") {
                $0[0] * $0[1].detach() + $0[1] * $0[0].slice(axis: 0, 0, 1).detach()
            }
        }
    }

    @Test func passesWithMarginOnAnExactGradient() {
        let rep = gradCheck([makeRandn([3, 4], seed: 4)], "x³") { $0[0] * $0[0] * $0[0] }
        #expect(rep.worst < 0.5)
    }
}

@Suite("Gradient checks: elementwise")
struct ElementwiseGradChecks {
    @Test func addBroadcast() {
        gradCheck([makeRandn([3, 4], seed: 1), makeRandn([1, 4], seed: 2)], "add [3,4]+[1,4]") { $0[0] + $0[1] }
        gradCheck([makeRandn([3, 1], seed: 3), makeRandn([3, 4], seed: 4)], "add [3,1]+[3,4]") { $0[0] + $0[1] }
        gradCheck([makeRandn([2, 3, 4], seed: 5), makeRandn([4], seed: 6)], "add rank mismatch") { $0[0] + $0[1] }
    }

    @Test func subBroadcast() {
        gradCheck([makeRandn([3, 4], seed: 7), makeRandn([1, 4], seed: 8)], "sub [3,4]-[1,4]") { $0[0] - $0[1] }
        gradCheck([makeRandn([3, 1], seed: 9), makeRandn([3, 4], seed: 10)], "sub [3,1]-[3,4]") { $0[0] - $0[1] }
    }

    @Test func mulBroadcast() {
        gradCheck([makeRandn([3, 4], seed: 11), makeRandn([1, 4], seed: 12)], "mul [3,4]*[1,4]") { $0[0] * $0[1] }
        gradCheck([makeRandn([3, 1], seed: 13), makeRandn([3, 4], seed: 14)], "mul [3,1]*[3,4]") { $0[0] * $0[1] }
        gradCheck([makeRandn([3, 4], seed: 15)], "mul x*x (same tensor twice)") { $0[0] * $0[0] }
    }

    @Test func divBroadcast() {
        let den1 = awayFromZero([1, 4], seed: 17, minAbs: 0.5, maxAbs: 2)
        let den2 = awayFromZero([3, 4], seed: 19, minAbs: 0.5, maxAbs: 2)
        gradCheck([makeRandn([3, 4], seed: 16), den1], "div [3,4]/[1,4]") { $0[0] / $0[1] }
        gradCheck([makeRandn([3, 1], seed: 18), den2], "div [3,1]/[3,4]") { $0[0] / $0[1] }
    }

    @Test func scalarForms() {
        let x = makeRandn([3, 4], seed: 20)
        gradCheck([x], "x+s") { $0[0] + 1.5 }
        gradCheck([x], "s+x") { 1.5 + $0[0] }
        gradCheck([x], "x-s") { $0[0] - 0.7 }
        gradCheck([x], "s-x") { 0.7 - $0[0] }
        gradCheck([x], "x*s") { $0[0] * -2.5 }
        gradCheck([x], "s*x") { 3 * $0[0] }
        gradCheck([x], "x/s") { $0[0] / 4 }
        gradCheck([awayFromZero([3, 4], seed: 21, minAbs: 0.5)], "s/x") { 2 / $0[0] }
        gradCheck([x], "neg") { -$0[0] }
    }

    @Test func powOps() {
        let pos = makeUniform([3, 4], seed: 22, low: 0.5, high: 2)
        gradCheck([pos, makeUniform([3, 4], seed: 23, low: -1.5, high: 2)], "pow(tensor, tensor)") { pow($0[0], $0[1]) }
        gradCheck([pos, makeUniform([1, 4], seed: 24, low: -1, high: 2)], "pow broadcast exponent") { pow($0[0], $0[1]) }
        gradCheck([pos], "x.pow(2.5)") { $0[0].pow(2.5) }
        gradCheck([makeRandn([3, 4], seed: 25)], "x.pow(3)") { $0[0].pow(3) }
        gradCheck([pos], "x.pow(-0.5)") { $0[0].pow(-0.5) }
    }

    @Test func unarySmooth() {
        let pos = makeUniform([3, 5], seed: 26, low: 0.5, high: 3)
        let x = makeRandn([3, 5], seed: 27, std: 1.5)
        gradCheck([pos], "sqrt") { $0[0].sqrt() }
        gradCheck([pos], "rsqrt") { $0[0].rsqrt() }
        gradCheck([x], "exp") { $0[0].exp() }
        gradCheck([pos], "log") { $0[0].log() }
        gradCheck([x], "square") { $0[0].square() }
        gradCheck([awayFromZero([3, 5], seed: 28, minAbs: 0.5)], "reciprocal") { $0[0].reciprocal() }
        gradCheck([x], "sigmoid") { $0[0].sigmoid() }
        gradCheck([x], "tanh") { $0[0].tanh() }
    }

    @Test func activations() {
        let x = makeRandn([4, 9], seed: 29, std: 2)
        gradCheck([x], "gelu") { $0[0].gelu() }
        gradCheck([x], "geluTanh") { $0[0].geluTanh() }
        gradCheck([x], "quickGelu") { $0[0].quickGelu() }
        gradCheck([x], "silu") { $0[0].silu() }
    }

    @Test func kinkedOps() {
        let x = awayFromZero([4, 6], seed: 30, minAbs: 0.15, maxAbs: 2)
        gradCheck([x], "relu") { $0[0].relu() }
        gradCheck([x], "abs") { $0[0].abs() }
        // clamp bounds at ±1; keep inputs ≥ 0.1 from the bounds too.
        let xc = Tensor(x.toArray().map { Swift.abs(Swift.abs($0) - 1) < 0.1 ? $0 * 1.3 : $0 }, shape: [4, 6])
        gradCheck([xc], "clamp") { $0[0].clamp(min: -1, max: 1) }
        gradCheck([xc], "clamp min only") { $0[0].clamp(min: -0.05) }
        // a, b differ by ≥ 0.1 everywhere.
        let a = makeRandn([3, 4], seed: 31)
        let delta = awayFromZero([3, 4], seed: 32, minAbs: 0.1, maxAbs: 1)
        let b = fresh(a + delta)
        gradCheck([a, b], "maximum") { maximum($0[0], $0[1]) }
        gradCheck([a, b], "minimum") { minimum($0[0], $0[1]) }
        // broadcast: b [1,4] chosen away from every element of a's columns.
        let a2 = Tensor([0.5, -1.2, 2.0, 0.1, -0.7, 1.4, -2.1, 0.9, 1.6, -0.3, 0.4, -1.5], shape: [3, 4])
        let b2 = Tensor([0.0, 0.2, -0.4, 1.2], shape: [1, 4])
        gradCheck([a2, b2], "maximum broadcast") { maximum($0[0], $0[1]) }
        gradCheck([a2, b2], "minimum broadcast") { minimum($0[0], $0[1]) }
    }
}

@Suite("Gradient checks: reductions")
struct ReductionGradChecks {
    @Test func sumOps() {
        let x = makeRandn([2, 3, 4], seed: 40)
        gradCheck([x], "sum all") { $0[0].sum() }
        gradCheck([x], "sum axis 1") { $0[0].sum(axis: 1) }
        gradCheck([x], "sum axis -1 keepDims") { $0[0].sum(axis: -1, keepDims: true) }
        gradCheck([x], "sum axes [0,2]") { $0[0].sum(axes: [0, 2]) }
        gradCheck([x], "sum axes [0,1] keepDims") { $0[0].sum(axes: [0, 1], keepDims: true) }
        gradCheck([x], "sum axis 0 (leading)") { $0[0].sum(axis: 0) }
    }

    @Test func meanOps() {
        let x = makeRandn([2, 3, 4], seed: 41)
        gradCheck([x], "mean all") { $0[0].mean() }
        gradCheck([x], "mean axis 1") { $0[0].mean(axis: 1) }
        gradCheck([x], "mean axes [0,2] keepDims") { $0[0].mean(axes: [0, 2], keepDims: true) }
    }

    @Test func maxOps() {
        let x = distinctValues([2, 3, 4], seed: 42)
        gradCheck([x], "max all") { $0[0].max() }
        gradCheck([x], "max axis -1") { $0[0].max(axis: -1) }
        gradCheck([x], "max axis 1 keepDims") { $0[0].max(axis: 1, keepDims: true) }
        gradCheck([x], "max axes [0,2]") { $0[0].max(axes: [0, 2]) }
    }

    @Test func logsumexpOps() {
        let x = makeRandn([2, 3, 4], seed: 43, std: 2)
        gradCheck([x], "logsumexp -1") { $0[0].logsumexp(axis: -1) }
        gradCheck([x], "logsumexp 1 keepDims") { $0[0].logsumexp(axis: 1, keepDims: true) }
        gradCheck([x], "logsumexp [0,2]") { $0[0].logsumexp(axes: [0, 2]) }
    }

    @Test func sumToOp() {
        gradCheck([makeRandn([2, 3, 4], seed: 44)], "sumTo [3,1]") { $0[0].sumTo([3, 1]) }
    }
}

@Suite("Gradient checks: matmul and linear")
struct MatmulGradChecks {
    @Test func matmul2D() {
        gradCheck([makeRandn([3, 4], seed: 50), makeRandn([4, 5], seed: 51)], "matmul 2D") { matmul($0[0], $0[1]) }
    }

    @Test func matmulBatched() {
        gradCheck([makeRandn([2, 3, 4], seed: 52), makeRandn([2, 4, 5], seed: 53)], "batched") { matmul($0[0], $0[1]) }
        gradCheck([makeRandn([2, 3, 4], seed: 54), makeRandn([4, 5], seed: 55)], "batched @ 2D") { matmul($0[0], $0[1]) }
        gradCheck([makeRandn([3, 4], seed: 56), makeRandn([2, 4, 5], seed: 57)], "2D @ batched") { matmul($0[0], $0[1]) }
        gradCheck([makeRandn([2, 1, 3, 4], seed: 58), makeRandn([1, 3, 4, 2], seed: 59)], "broadcast batch") {
            matmul($0[0], $0[1])
        }
    }

    @Test func matmulTransposedOperand() {
        // b stored as [5,4] and used transposed: a view, not a copy.
        gradCheck([makeRandn([3, 4], seed: 60), makeRandn([5, 4], seed: 61)], "a @ bᵀ") { matmul($0[0], $0[1].transposed()) }
        gradCheck([makeRandn([4, 3], seed: 62), makeRandn([4, 5], seed: 63)], "aᵀ @ b") { matmul($0[0].transposed(), $0[1]) }
        gradCheck([makeRandn([2, 5, 4], seed: 64), makeRandn([2, 3, 5], seed: 65)], "batched aᵀ bᵀ") {
            matmul($0[0].transposed(1, 2), $0[1].transposed(1, 2))
        }
    }

    @Test func linearOps() {
        let x = makeRandn([2, 3, 4], seed: 66)
        let w = makeRandn([5, 4], seed: 67, std: 0.5)
        let b = makeRandn([5], seed: 68)
        gradCheck([x, w, b], "linear with bias") { linear($0[0], weight: $0[1], bias: $0[2]) }
        gradCheck([x, w], "linear without bias") { linear($0[0], weight: $0[1], bias: nil) }
        gradCheck([makeRandn([4, 3], seed: 69), w, b], "linear with transposed (strided) input") {
            linear($0[0].transposed(), weight: $0[1], bias: $0[2])
        }
    }
}

@Suite("Gradient checks: normalisation and losses")
struct NormGradChecks {
    @Test func layerNormOp() {
        let x = makeRandn([3, 7], seed: 70, std: 1.5, mean: 0.3)
        let w = makeRandn([7], seed: 71, std: 0.2, mean: 1)
        let b = makeRandn([7], seed: 72, std: 0.1)
        gradCheck([x, w, b], "layerNorm") { layerNorm($0[0], weight: $0[1], bias: $0[2], eps: 1e-5) }
        gradCheck([x], "layerNorm no affine") { layerNorm($0[0], weight: nil, bias: nil, eps: 1e-5) }
    }

    @Test func rmsNormOp() {
        let x = makeRandn([3, 7], seed: 73)
        let w = makeRandn([7], seed: 74, std: 0.2, mean: 1)
        gradCheck([x, w], "rmsNorm") { rmsNorm($0[0], weight: $0[1], eps: 1e-5) }
        gradCheck([x], "rmsNorm no weight") { rmsNorm($0[0], weight: nil, eps: 1e-5) }
    }

    @Test func softmaxOps() {
        let x = makeRandn([2, 3, 5], seed: 75, std: 2)
        var m = [Float](repeating: 0, count: 10)
        m[3] = -1e9; m[5] = -1e9; m[9] = -Float.greatestFiniteMagnitude
        let mask = Tensor(m, shape: [2, 1, 5])
        gradCheck([x], "softmax") { softmax($0[0]) }
        let rep = gradCheck([x], "softmax with mask") { softmax($0[0], mask: mask) }
        _ = rep
        // Masked positions have zero probability and zero gradient.
        let xl = fresh(x).requiringGrad()
        let y = softmax(xl, mask: mask)
        // (The engine's exp saturates at e^-87 ≈ 1.6e-38 instead of underflowing to 0.)
        #expect(y[0, 1, 3] < 1e-30 && y[1, 2, 4] < 1e-30 && y[1, 0, 0] < 1e-30)
        (y * makeRandn([2, 3, 5], seed: 76)).sum().backward()
        #expect(Swift.abs(xl.grad![0, 2, 3]) < 1e-30 && Swift.abs(xl.grad![1, 0, 0]) < 1e-30)
        let rows = y.sum(axis: -1).toArray()
        expectClose(rows, [Float](repeating: 1, count: 6), tol: 1e-6, "softmax rows sum to 1")
    }

    @Test func logSoftmaxOps() {
        let x = makeRandn([3, 6], seed: 77, std: 2)
        gradCheck([x], "logSoftmax") { logSoftmax($0[0]) }
        // An additive mask with moderate values (a -1e9 entry would make the output ~-1e9,
        // whose float32 rounding swamps any finite difference).
        let mask = Tensor([0, 0.5, -3, 0, 1, -0.25], shape: [6])
        gradCheck([x], "logSoftmax with mask") { logSoftmax($0[0], mask: mask) }
    }

    @Test func crossEntropyOps() {
        let logits = makeRandn([5, 4], seed: 78, std: 2)
        let targets = [3, 0, -100, 2, 3]
        gradCheck([logits], "crossEntropy") { crossEntropy($0[0], targets: [1, 0, 2, 3, 3]) }
        gradCheck([logits], "crossEntropy ignore+smoothing") {
            crossEntropy($0[0], targets: targets, ignoreIndex: -100, labelSmoothing: 0.1)
        }
        gradCheck([logits], "crossEntropy custom ignore") {
            crossEntropy($0[0], targets: [1, 7, 2, 7, 0], ignoreIndex: 7, labelSmoothing: 0.2)
        }
        // Ignored row gets exactly zero gradient.
        let l = fresh(logits).requiringGrad()
        crossEntropy(l, targets: targets, ignoreIndex: -100, labelSmoothing: 0.1).backward()
        #expect(l.grad!.toArray()[8..<12].allSatisfy { $0 == 0 })
    }

    @Test func l2NormalizeOp() {
        let x = makeRandn([3, 5], seed: 79)
        gradCheck([x], "l2Normalize -1") { l2Normalize($0[0], axis: -1) }
        gradCheck([x], "l2Normalize 0") { l2Normalize($0[0], axis: 0) }
        let n = l2Normalize(x).square().sum(axis: -1).toArray()
        expectClose(n, [1, 1, 1], tol: 1e-5, "unit norms")
    }
}

@Suite("Gradient checks: indexing")
struct IndexingGradChecks {
    @Test func embeddingOp() {
        let w = makeRandn([6, 4], seed: 80)
        let ids = [2, 0, 2, 5, 2, 1]
        gradCheck([w], "embedding with repeated ids") { embedding($0[0], ids: ids, idsShape: [2, 3]) }
        let wl = fresh(w).requiringGrad()
        let e = embedding(wl, ids: ids, idsShape: [2, 3])
        #expect(e.shape == [2, 3, 4])
        #expect(e[1, 0, 2] == w[5, 2])
        e.sum().backward()
        // Row 2 used 3 times, rows 3 and 4 never.
        let g = wl.grad!
        #expect(g[2, 0] == 3 && g[3, 1] == 0 && g[4, 3] == 0 && g[0, 0] == 1)
    }

    @Test func indexSelectOp() {
        let x = makeRandn([2, 5, 3], seed: 81)
        gradCheck([x], "indexSelect axis 1") { indexSelect($0[0], axis: 1, indices: [4, 1, 1, 0]) }
        gradCheck([x], "indexSelect axis 0") { indexSelect($0[0], axis: 0, indices: [1, 1, 0]) }
        gradCheck([x], "indexSelect axis -1") { indexSelect($0[0], axis: -1, indices: [2, 0]) }
        let y = indexSelect(x, axis: 1, indices: [4, 1])
        #expect(y.shape == [2, 2, 3])
        #expect(y[1, 0, 2] == x[1, 4, 2] && y[0, 1, 1] == x[0, 1, 1])
    }

    @Test func gatherLastOp() {
        let x = makeRandn([2, 3, 5], seed: 82)
        let idx = [0, 4, 4, 1, 2, 3, 0, 0, 1, 2, 3, 4, 4, 4, 0, 1, 1, 2]
        gradCheck([x], "gatherLast") { gatherLast($0[0], index: idx, indexShape: [2, 3, 3]) }
        let y = gatherLast(x, index: idx, indexShape: [2, 3, 3])
        #expect(y[0, 0, 1] == x[0, 0, 4] && y[1, 2, 2] == x[1, 2, 2])
    }

    @Test func whereOp() {
        let cond = Tensor([1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1], shape: [3, 4])
        gradCheck([makeRandn([3, 4], seed: 83), makeRandn([1, 4], seed: 84)], "where broadcast b") {
            `where`(cond, $0[0], $0[1])
        }
        let c2 = Tensor([1, 0, 1, 1], shape: [4])
        gradCheck([makeRandn([3, 1], seed: 85), makeRandn([3, 4], seed: 86)], "where broadcast cond and a") {
            `where`(c2, $0[0], $0[1])
        }
    }

    @Test func maskedFillOp() {
        let mask = Tensor([1, 0, 0, 1, 0, 1], shape: [2, 3])
        let x = makeRandn([2, 3], seed: 87)
        gradCheck([x], "maskedFill") { $0[0].maskedFill(mask, -5) }
        let xl = fresh(x).requiringGrad()
        let y = xl.maskedFill(mask, -5)
        #expect(y.toArray()[0] == -5 && y.toArray()[1] == x.toArray()[1])
        y.sum().backward()
        #expect(xl.grad!.toArray() == [0, 1, 1, 0, 1, 0])
    }

    @Test func dropoutOp() {
        let x = makeRandn([4, 8], seed: 88)
        let p: Float = 0.3
        gradCheck([x], "dropout (fixed seed)") { xs in
            var rng = RNG(seed: 99)
            return dropout(xs[0], p: p, rng: &rng)
        }
        // Same seed → same mask.
        var r1 = RNG(seed: 5), r2 = RNG(seed: 5)
        let y1 = dropout(x, p: p, rng: &r1).toArray(), y2 = dropout(x, p: p, rng: &r2).toArray()
        #expect(y1 == y2)
        // Different seed → different mask (overwhelmingly likely for 32 elements).
        var r3 = RNG(seed: 6)
        #expect(dropout(x, p: p, rng: &r3).toArray() != y1)
        // Gradient equals mask * 1/(1-p), and the mask is what the forward used.
        let xl = fresh(x).requiringGrad()
        var r4 = RNG(seed: 5)
        let y = dropout(xl, p: p, rng: &r4)
        y.sum().backward()
        let g = xl.grad!.toArray(), xv = x.toArray(), yv = y.toArray()
        let scale = 1 / (1 - p)
        var zeros = 0
        for i in 0..<g.count {
            #expect(g[i] == 0 || Swift.abs(g[i] - scale) < 1e-6)
            if g[i] == 0 { zeros += 1; #expect(yv[i] == 0) } else { #expect(Swift.abs(yv[i] - xv[i] * scale) < 1e-5) }
        }
        #expect(zeros > 0 && zeros < g.count)
        // Eval mode and p = 0 are identity (same object).
        var r5 = RNG(seed: 1)
        #expect(dropout(x, p: p, training: false, rng: &r5) === x)
        #expect(dropout(x, p: 0, rng: &r5) === x)
    }

    @Test func patchEmbedOps() {
        let x = makeRandn([2, 2, 4, 6], seed: 89)
        let w = makeRandn([3, 2, 2, 2], seed: 90, std: 0.5)
        let b = makeRandn([3], seed: 91, std: 0.1)
        gradCheck([x, w, b], "patchEmbed") { patchEmbed($0[0], weight: $0[1], bias: $0[2]) }
        gradCheck([x, w], "patchEmbedConv no bias") { patchEmbedConv($0[0], weight: $0[1], bias: nil) }
        // Shapes and a hand-computed element: token (h=1, w=2) of batch 1, out channel 2.
        let t = patchEmbed(x, weight: w, bias: b)
        #expect(t.shape == [2, 6, 3])
        var acc = b[2]
        for c in 0..<2 { for i in 0..<2 { for j in 0..<2 { acc += x[1, c, 2 + i, 4 + j] * w[2, c, i, j] } } }
        #expect(Swift.abs(t[1, 5, 2] - acc) < 1e-5)
        let conv = patchEmbedConv(x, weight: w, bias: b)
        #expect(conv.shape == [2, 3, 2, 3])
        #expect(Swift.abs(conv[1, 2, 1, 2] - acc) < 1e-5)
    }
}

@Suite("Gradient checks: attention and RoPE")
struct AttentionGradChecks {
    static let B = 2, H = 4, Hkv = 2, T = 3, D = 4

    func inputs(seed: UInt64, S: Int = 3) -> [Tensor] {
        [makeRandn([Self.B, Self.H, Self.T, Self.D], seed: seed),
         makeRandn([Self.B, Self.Hkv, S, Self.D], seed: seed + 1),
         makeRandn([Self.B, Self.Hkv, S, Self.D], seed: seed + 2)]
    }

    @Test func attentionNone() {
        gradCheck(inputs(seed: 100), "attention none GQA") { scaledDotProductAttention($0[0], $0[1], $0[2], mask: .none) }
    }

    @Test func attentionCausal() {
        gradCheck(inputs(seed: 103), "attention causal GQA") { scaledDotProductAttention($0[0], $0[1], $0[2], mask: .causal) }
        gradCheck(inputs(seed: 106, S: 5), "attention causal, more keys than queries") {
            scaledDotProductAttention($0[0], $0[1], $0[2], mask: .causal)
        }
    }

    @Test func attentionKeyPadding() {
        let keep = Tensor([1, 1, 1, 1, 0, 0], shape: [2, 3])
        gradCheck(inputs(seed: 109), "attention keyPadding GQA") {
            scaledDotProductAttention($0[0], $0[1], $0[2], mask: .keyPadding(keep))
        }
    }

    @Test func attentionCausalKeyPadding() {
        let keep = Tensor([1, 1, 0, 1, 1, 1], shape: [2, 3])
        gradCheck(inputs(seed: 112), "attention causalKeyPadding GQA") {
            scaledDotProductAttention($0[0], $0[1], $0[2], mask: .causalKeyPadding(keep))
        }
    }

    @Test func fullyMaskedRowsGiveZeros() {
        let ins = inputs(seed: 118)
        let keep = Tensor([1, 1, 0, 0, 0, 0], shape: [2, 3])   // batch 1: every key is padding
        let q = fresh(ins[0]).requiringGrad(), k = fresh(ins[1]).requiringGrad(), v = fresh(ins[2]).requiringGrad()
        let out = scaledDotProductAttention(q, k, v, mask: .keyPadding(keep))
        #expect(out.slice(axis: 0, 1, 2).toArray().allSatisfy { $0 == 0 })
        #expect(out.slice(axis: 0, 0, 1).toArray().contains { $0 != 0 })
        (out * makeRandn(out.shape, seed: 119)).sum().backward()
        #expect(q.grad!.slice(axis: 0, 1, 2).toArray().allSatisfy { $0 == 0 })
        #expect(v.grad!.slice(axis: 0, 1, 2).toArray().allSatisfy { $0 == 0 })
        // Padded keys of batch 0 get (essentially) no gradient either — the engine's exp
        // saturates at e^-87 rather than 0, hence "tiny" rather than exactly 0.
        #expect(k.grad!.slice(axis: 0, 0, 1).slice(axis: 2, 2, 3).toArray().allSatisfy { Swift.abs($0) < 1e-30 })
        #expect(v.grad!.slice(axis: 0, 0, 1).slice(axis: 2, 2, 3).toArray().allSatisfy { Swift.abs($0) < 1e-30 })
    }

    @Test func attentionCustomScaleAndStridedInputs() {
        // q/k/v as permuted views of [B,T,H,D] tensors (dense last dim), as models produce them.
        let q = makeRandn([2, 3, 4, 4], seed: 115), k = makeRandn([2, 3, 2, 4], seed: 116), v = makeRandn([2, 3, 2, 4], seed: 117)
        gradCheck([q, k, v], "attention strided, scale 0.3") {
            scaledDotProductAttention($0[0].permute([0, 2, 1, 3]), $0[1].permute([0, 2, 1, 3]), $0[2].permute([0, 2, 1, 3]),
                                      mask: .causal, scale: 0.3)
        }
    }

    /// Reference attention from primitive ops (GQA by repeating kv heads), compared forward.
    @Test func attentionMatchesComposedOps() {
        let ins = inputs(seed: 120)
        let (q, k, v) = (ins[0], ins[1], ins[2])
        let keep = Tensor([1, 1, 1, 1, 1, 0], shape: [2, 3])
        let rep = Self.H / Self.Hkv
        let kk = indexSelect(k, axis: 1, indices: (0..<Self.H).map { $0 / rep })
        let vv = indexSelect(v, axis: 1, indices: (0..<Self.H).map { $0 / rep })
        var causal = [Float](repeating: 0, count: 9)
        for i in 0..<3 { for j in 0..<3 where j > i { causal[i * 3 + j] = -1e30 } }
        let pad = Tensor(keep.toArray().map { $0 == 1 ? 0 : -1e30 }, shape: [2, 1, 1, 3])
        let cases: [(AttentionMask, Tensor?)] = [
            (.none, nil), (.causal, Tensor(causal, shape: [3, 3])), (.keyPadding(keep), pad),
            (.causalKeyPadding(keep), pad + Tensor(causal, shape: [3, 3])),
        ]
        for (m, add) in cases {
            let s = matmul(q, kk.transposed()) * (1 / Float(Self.D).squareRoot())
            let ref = matmul(softmax(s, mask: add), vv)
            expectClose(scaledDotProductAttention(q, k, v, mask: m), ref, rel: 1e-5, "attention \(m)")
        }
    }

    @Test func rotaryHalf() {
        let inv = ropeInverseFrequencies(headDim: 6, theta: 10000)
        let (c, s) = ropeTables(positions: [0, 3, 7], inverseFrequencies: inv)
        let x = makeRandn([2, 3, 6], seed: 130)
        gradCheck([x], "applyRotaryHalf") { applyRotaryHalf($0[0], cos: c, sin: s) }
        // Position 0 is the identity; rotation preserves the norm of each (i, i+half) pair.
        let y = applyRotaryHalf(x, cos: c, sin: s)
        expectClose(y.slice(axis: 1, 0, 1).toArray(), x.slice(axis: 1, 0, 1).toArray(), tol: 1e-6, "pos 0 identity")
        for i in 0..<3 {
            let nx = x[1, 2, i] * x[1, 2, i] + x[1, 2, i + 3] * x[1, 2, i + 3]
            let ny = y[1, 2, i] * y[1, 2, i] + y[1, 2, i + 3] * y[1, 2, i + 3]
            #expect(Swift.abs(nx - ny) < 1e-4)
        }
    }

    @Test func rotaryInterleaved() {
        let (c, s) = evaRopeTables(headDim: 8, gridH: 2, gridW: 2, ptSeqLen: 4)
        let x = makeRandn([2, 4, 8], seed: 131)
        gradCheck([x], "applyRotaryInterleaved") { applyRotaryInterleaved($0[0], cos: c, sin: s) }
        let y = applyRotaryInterleaved(x, cos: c, sin: s)
        // Pair (x0, x1) → (x0 cos − x1 sin, x1 cos + x0 sin).
        let (x0, x1) = (x[1, 3, 2], x[1, 3, 3])
        let (cs, sn) = (c[3, 2], s[3, 2])
        #expect(Swift.abs(y[1, 3, 2] - (x0 * cs - x1 * sn)) < 1e-5)
        #expect(Swift.abs(y[1, 3, 3] - (x1 * cs + x0 * sn)) < 1e-5)
    }
}

/// The fused kernels behind EVA02's attention: interleaved rotary with a skipped class token and
/// attention whose outputs and gradients keep their inputs' memory order.
@Suite("Fused rotary and attention layouts")
struct FusedRotaryAttentionTests {
    /// The composite form the fused rotary kernel replaced (split the pairs, rotate, concat).
    func compositeRotary(_ x: Tensor, cos: Tensor, sin: Tensor, skip: Int) -> Tensor {
        let n = x.shape[x.rank - 2], d = x.shape[x.rank - 1]
        let parts = x.split([skip, n - skip], axis: x.rank - 2)
        let p = parts[1]
        let pairs = p.reshape(Array(p.shape.dropLast()) + [d / 2, 2]).split([1, 1], axis: -1)
        let rotated = concat([-pairs[1], pairs[0]], axis: -1).reshape(p.shape)
        return concat([parts[0], p * cos + rotated * sin], axis: x.rank - 2)
    }

    @Test func rotaryMatchesCompositeWithClassTokenAndStridedInput() {
        let (c, s) = evaRopeTables(headDim: 8, gridH: 2, gridW: 2, ptSeqLen: 4)   // 4 patch tokens
        // [B, N, H, D] buffer viewed as [B, H, N, D], N = 1 class token + 4 patches.
        let base = makeRandn([2, 5, 3, 8], seed: 150)
        let g = makeRandn([2, 3, 5, 8], seed: 151)
        let x1 = fresh(base).requiringGrad(), x2 = fresh(base).requiringGrad()
        let fused = applyRotaryInterleaved(x1.permute([0, 2, 1, 3]), cos: c, sin: s, skipLeading: 1)
        let ref = compositeRotary(x2.permute([0, 2, 1, 3]), cos: c, sin: s, skip: 1)
        expectClose(fused, ref, rel: 1e-6, "fused rotary forward")
        // The class token passes through; the output keeps the [B, N, H, D] memory order.
        expectClose(fused.slice(axis: 2, 0, 1).toArray(), base.permute([0, 2, 1, 3]).slice(axis: 2, 0, 1).toArray(), tol: 0)
        #expect(fused.permute([0, 2, 1, 3]).isContiguous)
        fused.backward(g)
        ref.backward(g)
        expectClose(x1.grad!, x2.grad!, rel: 1e-6, "fused rotary backward")
        gradCheck([base], "applyRotaryInterleaved skip 1, strided") {
            applyRotaryInterleaved($0[0].permute([0, 2, 1, 3]), cos: c, sin: s, skipLeading: 1)
        }
        // Rank 3 and a skip of 0 go through the same kernel.
        let x3 = makeRandn([3, 4, 8], seed: 152)
        expectClose(applyRotaryInterleaved(x3, cos: c, sin: s), compositeRotary(x3, cos: c, sin: s, skip: 0), rel: 1e-6)
    }

    @Test func attentionKeepsHeadMajorLayoutAndMatchesDense() {
        let B = 2, T = 5, H = 3, D = 4
        let q = makeRandn([B, T, H, D], seed: 160), k = makeRandn([B, T, H, D], seed: 161), v = makeRandn([B, T, H, D], seed: 162)
        let out = scaledDotProductAttention(q.permute([0, 2, 1, 3]), k.permute([0, 2, 1, 3]), v.permute([0, 2, 1, 3]))
        #expect(out.permute([0, 2, 1, 3]).isContiguous)   // merging the heads is a view
        let dense = scaledDotProductAttention(q.permute([0, 2, 1, 3]).contiguous(), k.permute([0, 2, 1, 3]).contiguous(),
                                              v.permute([0, 2, 1, 3]).contiguous())
        #expect(dense.isContiguous)
        expectClose(out, dense, rel: 1e-6, "permuted vs dense inputs")
        // Heads merged after attention: the incoming gradient is a strided view, the input
        // gradients are written in [B, T, H, D] order.
        gradCheck([q, k, v], "attention with merged heads") {
            scaledDotProductAttention($0[0].permute([0, 2, 1, 3]), $0[1].permute([0, 2, 1, 3]), $0[2].permute([0, 2, 1, 3]))
                .permute([0, 2, 1, 3]).reshape([B, T, H * D])
        }
        // Grouped-query, causal, with gradients into permuted leaves.
        let kq = makeRandn([B, T, 1, D], seed: 163), vq = makeRandn([B, T, 1, D], seed: 164)
        gradCheck([q, kq, vq], "attention GQA causal with merged heads") {
            scaledDotProductAttention($0[0].permute([0, 2, 1, 3]), $0[1].permute([0, 2, 1, 3]), $0[2].permute([0, 2, 1, 3]),
                                      mask: .causal).permute([0, 2, 1, 3]).reshape([B, T, H * D])
        }
    }

    @Test func columnSumsOfLeadingAxes() {
        let x = makeRandn([7, 3, 5], seed: 170)
        let rows = x.reshape([21, 5]).toArray()
        var expected = [Float](repeating: 0, count: 5)
        for r in 0..<21 { for c in 0..<5 { expected[c] += rows[r * 5 + c] } }
        expectClose(x.sum(axes: [0, 1]).toArray(), expected, tol: 1e-5, "sum over leading axes")
        #expect(x.sum(axes: [0, 1], keepDims: true).shape == [1, 1, 5])
        gradCheck([x], "sum over leading axes") { $0[0].sum(axes: [0, 1]) }
    }
}

@Suite("Gradient checks: views and joins")
struct ViewGradChecks {
    let x = makeRandn([2, 3, 4], seed: 140)

    @Test func reshapeAndFlatten() {
        gradCheck([x], "reshape") { $0[0].reshape([4, -1]) }
        gradCheck([x], "reshape of permuted (copying)") { $0[0].permute([2, 0, 1]).reshape([-1]) }
        gradCheck([x], "flatten") { $0[0].flatten(from: 1) }
        gradCheck([x], "unsqueeze/squeeze") { $0[0].unsqueeze(1).squeeze(1).unsqueeze(-1) }
    }

    @Test func permuteTransposed() {
        gradCheck([x], "permute") { $0[0].permute([2, 0, 1]) }
        gradCheck([x], "transposed") { $0[0].transposed(0, 2) }
    }

    @Test func sliceOp() {
        gradCheck([x], "slice axis 1") { $0[0].slice(axis: 1, 1, 3) }
        gradCheck([x], "slice axis -1 of permuted") { $0[0].permute([1, 0, 2]).slice(axis: -1, 1, 2) }
    }

    @Test func expandOp() {
        gradCheck([makeRandn([3, 1], seed: 141)], "expand [3,1]→[2,3,4]") { $0[0].expand([2, 3, 4]) }
    }

    @Test func splitChunk() {
        gradCheck([x], "split") { xs in
            let p = xs[0].split([1, 3], axis: 2)
            return p[0] * 2 + p[1].sum(axis: 2, keepDims: true)
        }
        gradCheck([x], "chunk") { xs in
            let p = xs[0].chunk(2, axis: -1)
            return p[0] * p[1]
        }
        gradCheck([x], "split using only one piece") { $0[0].split([2, 1], axis: 1)[1] }
    }

    @Test func concatStack() {
        let y = makeRandn([2, 2, 4], seed: 142)
        gradCheck([x, y], "concat axis 1") { concat([$0[0], $0[1]], axis: 1) }
        gradCheck([x, x], "stack axis 1") { stack([$0[0], $0[1]], axis: 1) }
        gradCheck([x], "stack with itself, axis -1") { stack([$0[0], $0[0] * 2], axis: -1) }
        let c = concat([x, y], axis: 1)
        #expect(c.shape == [2, 5, 4])
        #expect(c[1, 4, 3] == y[1, 1, 3] && c[0, 2, 1] == x[0, 2, 1])
        let s = stack([x, x * 2], axis: 1)
        #expect(s.shape == [2, 2, 3, 4])
        #expect(s[1, 1, 2, 3] == 2 * x[1, 2, 3])
    }

    @Test func contiguousCopy() {
        gradCheck([x], "contiguous") { $0[0].transposed(0, 1).contiguous() }
        gradCheck([x], "copy") { $0[0].permute([2, 1, 0]).copy() }
    }
}
