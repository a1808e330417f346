// Golden tests against PyTorch references produced by scripts/make_goldens.py
// (float64 references cast to float32; loss = Σ out·r; "grad.*" = d loss / d input).
// Tolerance: max |a − b| ≤ 1e-4 · max(1, max |b|) unless noted.

import Foundation
import Testing
import TensorKit
import Formats

@Suite("Goldens: ops.safetensors")
struct OpsGoldenTests {
    let g: Golden
    init() throws { g = try Golden("ops.safetensors") }

    /// Runs `f` on fresh leaves, backprops Σ out·r and returns (out, grads).
    func run(_ inputs: [Tensor], r: Tensor, _ f: ([Tensor]) -> Tensor) -> (Tensor, [Tensor?]) {
        let leaves = inputs.map { fresh($0).requiringGrad() }
        let out = f(leaves)
        (out * r).sum().backward()
        return (out, leaves.map { $0.grad })
    }

    @Test(arguments: ["gelu_erf", "gelu_tanh", "quick_gelu", "silu"])
    func activation(_ name: String) throws {
        let fn: (Tensor) -> Tensor
        switch name {
        case "gelu_erf": fn = { $0.gelu() }
        case "gelu_tanh": fn = { $0.geluTanh() }
        case "quick_gelu": fn = { $0.quickGelu() }
        default: fn = { $0.silu() }
        }
        let (out, grads) = run([try g.t("\(name).x")], r: try g.t("\(name).r")) { fn($0[0]) }
        expectClose(out, try g.t("\(name).out"), "\(name).out")
        expectClose(try #require(grads[0]), try g.t("\(name).grad"), "\(name).grad")
    }

    @Test func layerNormGolden() throws {
        let (out, grads) = run([try g.t("layer_norm.x"), try g.t("layer_norm.weight"), try g.t("layer_norm.bias")],
                               r: try g.t("layer_norm.r")) { layerNorm($0[0], weight: $0[1], bias: $0[2], eps: 1e-5) }
        expectClose(out, try g.t("layer_norm.out"), "layer_norm.out")
        expectClose(try #require(grads[0]), try g.t("layer_norm.grad.x"), "layer_norm.grad.x")
        expectClose(try #require(grads[1]), try g.t("layer_norm.grad.weight"), "layer_norm.grad.weight")
        expectClose(try #require(grads[2]), try g.t("layer_norm.grad.bias"), "layer_norm.grad.bias")
    }

    @Test func rmsNormGolden() throws {
        let (out, grads) = run([try g.t("rms_norm.x"), try g.t("rms_norm.weight")], r: try g.t("rms_norm.r")) {
            rmsNorm($0[0], weight: $0[1], eps: 1e-5)
        }
        expectClose(out, try g.t("rms_norm.out"), "rms_norm.out")
        expectClose(try #require(grads[0]), try g.t("rms_norm.grad.x"), "rms_norm.grad.x")
        expectClose(try #require(grads[1]), try g.t("rms_norm.grad.weight"), "rms_norm.grad.weight")
    }

    @Test func softmaxGolden() throws {
        let mask = try g.t("softmax.mask")
        #expect(mask.shape == [3, 1, 9])
        let (out, grads) = run([try g.t("softmax.x")], r: try g.t("softmax.r")) { softmax($0[0], mask: mask) }
        expectClose(out, try g.t("softmax.out"), "softmax.out")
        expectClose(try #require(grads[0]), try g.t("softmax.grad.x"), "softmax.grad.x")
    }

    @Test func logSoftmaxGolden() throws {
        let (out, grads) = run([try g.t("log_softmax.x")], r: try g.t("log_softmax.r")) { logSoftmax($0[0]) }
        expectClose(out, try g.t("log_softmax.out"), "log_softmax.out")
        expectClose(try #require(grads[0]), try g.t("log_softmax.grad.x"), "log_softmax.grad.x")
    }

    @Test func crossEntropyGolden() throws {
        let targets = try g.ints("cross_entropy.targets")
        #expect(targets == [3, 0, 9, -100, 5, 3])
        let logits = fresh(try g.t("cross_entropy.logits")).requiringGrad()
        let loss = crossEntropy(logits, targets: targets, ignoreIndex: -100, labelSmoothing: 0.1)
        loss.backward()
        expectClose(loss.reshape([1]), try g.t("cross_entropy.loss"), "cross_entropy.loss")
        expectClose(try #require(logits.grad), try g.t("cross_entropy.grad.logits"), "cross_entropy.grad.logits")
    }

    func ropeCase(_ prefix: String, computed inv: [Float], rel: Float) throws {
        let positions = try g.ints("\(prefix).positions")
        let stored = try g.t("\(prefix).inv_freq").toArray()
        // Our float32 inverse frequencies agree with transformers' float32 ones to ~1 ulp.
        expectClose(inv, stored, tol: 1e-6 * Swift.max(1, maxAbs(stored)), "\(prefix).inv_freq")
        for (which, invFreq) in [("stored inv_freq", stored), ("computed inv_freq", inv)] {
            let (c, s) = ropeTables(positions: positions, inverseFrequencies: invFreq)
            let (out, grads) = run([try g.t("\(prefix).x")], r: try g.t("\(prefix).r")) {
                applyRotaryHalf($0[0], cos: c, sin: s)
            }
            expectClose(out, try g.t("\(prefix).out"), rel: rel, "\(prefix).out (\(which))")
            expectClose(try #require(grads[0]), try g.t("\(prefix).grad.x"), rel: rel, "\(prefix).grad.x (\(which))")
        }
    }

    @Test func ropePlainGolden() throws {
        try ropeCase("rope_plain", computed: ropeInverseFrequencies(headDim: 16, theta: 10000), rel: 1e-4)
    }

    @Test func ropeLlama3Golden() throws {
        let scaling = Llama3RopeScaling(factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192)
        let inv = ropeInverseFrequencies(headDim: 64, theta: 500000, scaling: scaling)
        // Angles reach 5000 rad at position 5000; the reference uses the same float32 product
        // Float(pos)·invFreq, but a 1-ulp difference in an inverse frequency (powf vs torch's
        // pow) moves such an angle by up to ~5000·6e-8 ≈ 3e-4 rad — hence 3e-4 here.
        try ropeCase("rope_llama3", computed: inv, rel: 3e-4)
    }

    @Test(arguments: [("rope_eva", 4), ("rope_eva336", 6)])
    func ropeEvaGolden(_ prefix: String, _ grid: Int) throws {
        let (c, s) = evaRopeTables(headDim: 16, gridH: grid, gridW: grid, ptSeqLen: 16)
        let (out, grads) = run([try g.t("\(prefix).x")], r: try g.t("\(prefix).r")) {
            applyRotaryInterleaved($0[0], cos: c, sin: s)
        }
        expectClose(out, try g.t("\(prefix).out"), "\(prefix).out")
        expectClose(try #require(grads[0]), try g.t("\(prefix).grad.x"), "\(prefix).grad.x")
    }

    @Test(arguments: ["none", "causal", "padding"])
    func attentionGolden(_ kind: String) throws {
        let pre = "attn_\(kind)"
        let mask: AttentionMask
        switch kind {
        case "causal": mask = .causal
        case "padding": mask = .keyPadding(try g.t("\(pre).mask"))
        default: mask = .none
        }
        let (out, grads) = run([try g.t("\(pre).q"), try g.t("\(pre).k"), try g.t("\(pre).v")], r: try g.t("\(pre).r")) {
            scaledDotProductAttention($0[0], $0[1], $0[2], mask: mask)
        }
        expectClose(out, try g.t("\(pre).out"), "\(pre).out")
        for (i, n) in ["q", "k", "v"].enumerated() {
            expectClose(try #require(grads[i]), try g.t("\(pre).grad.\(n)"), "\(pre).grad.\(n)")
        }
    }

    @Test func patchEmbedGolden() throws {
        let (out, grads) = run([try g.t("patch_embed.x"), try g.t("patch_embed.weight"), try g.t("patch_embed.bias")],
                               r: try g.t("patch_embed.r")) { patchEmbedConv($0[0], weight: $0[1], bias: $0[2]) }
        expectClose(out, try g.t("patch_embed.out"), "patch_embed.out")
        expectClose(try #require(grads[0]), try g.t("patch_embed.grad.x"), "patch_embed.grad.x")
        expectClose(try #require(grads[1]), try g.t("patch_embed.grad.weight"), "patch_embed.grad.weight")
        expectClose(try #require(grads[2]), try g.t("patch_embed.grad.bias"), "patch_embed.grad.bias")
    }

    /// The comparison rejects a 0.1 % relative error and a wrong activation variant.
    @Test func toleranceRejectsSmallErrors() throws {
        let x = try g.t("gelu_erf.x"), want = try g.t("gelu_erf.out")
        expectClose(x.gelu(), want, "gelu erf")
        withKnownIssue("0.1 % scaled output") {
            expectClose(x.gelu() * 1.001, want, "gelu × 1.001")
        }
        withKnownIssue("silu is not gelu") {
            expectClose(x.silu(), want, "silu vs gelu")
        }
    }

    /// Every tensor in the file is used by one of the tests above.
    @Test func coversEveryCase() throws {
        let prefixes = Set(g.file.names.map { String($0.split(separator: ".")[0]) })
        let tested: Set<String> = ["gelu_erf", "gelu_tanh", "quick_gelu", "silu", "layer_norm", "rms_norm", "softmax",
                                   "log_softmax", "cross_entropy", "rope_llama3", "rope_plain", "rope_eva", "rope_eva336",
                                   "attn_none", "attn_causal", "attn_padding", "patch_embed"]
        #expect(prefixes == tested)
    }
}

@Suite("Goldens: transformer_block.safetensors")
struct TransformerBlockGoldenTests {
    static let paramNames = [
        "ln1.weight", "ln1.bias",
        "attn.q_proj.weight", "attn.q_proj.bias", "attn.k_proj.weight", "attn.k_proj.bias",
        "attn.v_proj.weight", "attn.v_proj.bias", "attn.o_proj.weight", "attn.o_proj.bias",
        "ln2.weight", "ln2.bias",
        "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
    ]

    @Test func preLNBlockForwardAndBackward() throws {
        let g = try Golden("transformer_block.safetensors")
        let B = 2, T = 7, D = 32, H = 4, hd = 8
        let x = try g.t("x").requiringGrad()
        #expect(x.shape == [B, T, D])
        let mask = try g.t("mask")
        let r = try g.t("r")
        var p: [String: Tensor] = [:]
        for n in Self.paramNames { p[n] = try g.t(n).requiringGrad() }
        func lin(_ t: Tensor, _ name: String) -> Tensor {
            linear(t, weight: p[name + ".weight"]!, bias: p[name + ".bias"]!)
        }
        func heads(_ t: Tensor) -> Tensor { t.reshape([B, T, H, hd]).permute([0, 2, 1, 3]) }

        let a = layerNorm(x, weight: p["ln1.weight"]!, bias: p["ln1.bias"]!, eps: 1e-5)
        let q = heads(lin(a, "attn.q_proj")), k = heads(lin(a, "attn.k_proj")), v = heads(lin(a, "attn.v_proj"))
        let o = scaledDotProductAttention(q, k, v, mask: .keyPadding(mask)).permute([0, 2, 1, 3]).reshape([B, T, D])
        let h = x + lin(o, "attn.o_proj")
        let m = layerNorm(h, weight: p["ln2.weight"]!, bias: p["ln2.bias"]!, eps: 1e-5)
        let out = h + lin(lin(m, "mlp.fc1").gelu(), "mlp.fc2")
        (out * r).sum().backward()

        expectClose(out, try g.t("out"), "out")
        expectClose(try #require(x.grad), try g.t("grad.x"), "grad.x")
        for n in Self.paramNames {
            expectClose(try #require(p[n]!.grad, "grad of \(n)"), try g.t("grad." + n), "grad.\(n)")
        }
    }
}
