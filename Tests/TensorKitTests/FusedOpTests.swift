// Value tests (against the composite ops they replace) and finite-difference gradient checks for
// the fused training kernels: counter-based dropout, LoRA linear, rotary (rotate half), SwiGLU.

import Testing
import TensorKit

@Suite("Fused training ops")
struct FusedOpTests {
    /// The counter-based mask: same key → same mask, different key → different mask, rate ≈ p,
    /// kept elements scaled by 1/(1 − p), and independent of the thread count.
    @Test func counterBasedDropout() {
        let x = makeRandn([300, 257], seed: 1)
        let p: Float = 0.3
        let y1 = dropout(x, p: p, key: 42).toArray(), y2 = dropout(x, p: p, key: 42).toArray()
        #expect(y1 == y2)
        #expect(dropout(x, p: p, key: 43).toArray() != y1)
        let xv = x.toArray()
        var dropped = 0
        for i in 0..<xv.count {
            if y1[i] == 0 { dropped += 1 } else { #expect(Swift.abs(y1[i] - xv[i] / (1 - p)) <= 1e-6 * Swift.abs(xv[i]) + 1e-7) }
        }
        let rate = Double(dropped) / Double(xv.count)
        #expect(Swift.abs(rate - 0.3) < 0.01, "drop rate \(rate)")
        let saved = Engine.threads
        Engine.threads = 1
        let single = dropout(x, p: p, key: 42).toArray()
        Engine.threads = saved
        #expect(single == y1)
        // Backward applies the same mask.
        let xl = fresh(x).requiringGrad()
        dropout(xl, p: p, key: 42).sum().backward()
        let g = xl.grad!.toArray()
        for i in 0..<g.count { #expect((g[i] == 0) == (y1[i] == 0 && xv[i] != 0) || xv[i] == 0) }
        gradCheck([makeRandn([5, 7], seed: 2)], "dropout(key)") { dropout($0[0], p: 0.4, key: 7) }
    }

    /// The reference: base linear plus scale · B A dropout(x) from separate ops.
    func loraReference(_ x: Tensor, _ w: Tensor?, _ b: Tensor?, _ a: Tensor, _ bb: Tensor, scale: Float, p: Float, key: UInt64) -> Tensor {
        let xd = dropout(x, p: p, key: key)
        let delta = linear(linear(xd, weight: a, bias: nil), weight: bb, bias: nil) * scale
        if let w { return linear(x, weight: w, bias: b) + delta }
        if let b { return delta + b }
        return delta
    }

    @Test func loraLinearMatchesComposition() {
        // Rows enough for several row blocks of the fused dropout kernels (blocks of 32 rows).
        let x = makeRandn([3, 50, 24], seed: 10)
        let w = makeRandn([20, 24], seed: 11, std: 0.3), bias = makeRandn([20], seed: 12)
        let a = makeRandn([4, 24], seed: 13, std: 0.3), bb = makeRandn([20, 4], seed: 14, std: 0.3)
        for (p, useW, useBias) in [(Float(0), true, true), (0.25, true, false), (0.25, false, true), (0.1, false, false)] {
            let inputs = [fresh(x).requiringGrad(), fresh(w).requiringGrad(), fresh(bias).requiringGrad(),
                          fresh(a).requiringGrad(), fresh(bb).requiringGrad()]
            let refInputs = inputs.map { fresh($0).requiringGrad() }
            let y = loraLinear(inputs[0], weight: useW ? inputs[1] : nil, bias: useBias ? inputs[2] : nil,
                               loraA: inputs[3], loraB: inputs[4], scale: 1.5, dropout: p, dropoutKey: 99)
            let yr = loraReference(refInputs[0], useW ? refInputs[1] : nil, useBias ? refInputs[2] : nil,
                                   refInputs[3], refInputs[4], scale: 1.5, p: p, key: 99)
            expectClose(y, yr, rel: 1e-5, "loraLinear p \(p) weight \(useW) bias \(useBias)")
            let r = makeRandn(y.shape, seed: 15)
            (y * r).sum().backward()
            (yr * r).sum().backward()
            for i in [0, 3, 4] + (useW ? [1] : []) + (useBias ? [2] : []) {
                expectClose(inputs[i].grad!, refInputs[i].grad!, rel: 1e-4, "grad \(i), p \(p)")
            }
        }
    }

    @Test func loraLinearGradients() {
        let x = makeRandn([2, 3, 5], seed: 20)
        let w = makeRandn([4, 5], seed: 21, std: 0.5), bias = makeRandn([4], seed: 22)
        let a = makeRandn([2, 5], seed: 23, std: 0.5), bb = makeRandn([4, 2], seed: 24, std: 0.5)
        gradCheck([x, w, bias, a, bb], "loraLinear with dropout") { t in
            loraLinear(t[0], weight: t[1], bias: t[2], loraA: t[3], loraB: t[4], scale: 2, dropout: 0.3, dropoutKey: 5)
        }
        gradCheck([x, a, bb], "loraLinear without base or dropout") { t in
            loraLinear(t[0], weight: nil, bias: nil, loraA: t[1], loraB: t[2], scale: 0.5)
        }
    }

    /// A frozen base weight gets no gradient, and only the adapter's gradients are computed.
    @Test func loraLinearFrozenBase() {
        let x = makeRandn([6, 5], seed: 30).requiringGrad()
        let w = makeRandn([4, 5], seed: 31)
        let a = makeRandn([2, 5], seed: 32).requiringGrad(), bb = makeRandn([4, 2], seed: 33).requiringGrad()
        loraLinear(x, weight: w, bias: nil, loraA: a, loraB: bb, scale: 1, dropout: 0.2, dropoutKey: 1).sum().backward()
        #expect(w.grad == nil && x.grad != nil && a.grad != nil && bb.grad != nil)
    }

    @Test func rotaryFusedMatchesComposite() {
        // [B, T, H, D] projections viewed as [B, H, T, D] (strided), tables [B, 1, T, D] as in Llama.
        let inv = ropeInverseFrequencies(headDim: 8, theta: 10000)
        let (c, s) = ropeTables(positions: [0, 1, 2, 3, 4, 0, 0, 1, 2, 3], inverseFrequencies: inv)
        let c4 = c.reshape([2, 1, 5, 8]), s4 = s.reshape([2, 1, 5, 8])
        let base = makeRandn([2, 5, 3, 8], seed: 40)
        let x = fresh(base).requiringGrad(), xr = fresh(base).requiringGrad()
        let y = applyRotaryHalf(x.permute([0, 2, 1, 3]), cos: c4, sin: s4)
        // Composite reference: x·cos + rotate_half(x)·sin from views and elementwise ops.
        let v = xr.permute([0, 2, 1, 3])
        let halves = v.split([4, 4], axis: -1)
        let yr = v * c4 + concat([-halves[1], halves[0]], axis: -1) * s4
        expectClose(y, yr, rel: 1e-6, "fused rotary")
        let r = makeRandn(y.shape, seed: 41)
        (y * r).sum().backward()
        (yr * r).sum().backward()
        expectClose(x.grad!, xr.grad!, rel: 1e-6, "fused rotary gradient")
        gradCheck([makeRandn([2, 5, 3, 8], seed: 42)], "fused rotary, strided input, broadcast tables") {
            applyRotaryHalf($0[0].permute([0, 2, 1, 3]), cos: c4, sin: s4)
        }
    }

    @Test func swiGLU() {
        let g = makeRandn([4, 9], seed: 50, std: 2), u = makeRandn([4, 9], seed: 51)
        expectClose(siluMul(g, u), g.silu() * u, rel: 1e-6, "siluMul")
        gradCheck([g, u], "siluMul") { siluMul($0[0], $0[1]) }
    }
}
