import Foundation
import Testing
import Formats
import NeuralNet
import TensorKit

private let goldens = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Goldens/engine")

private func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.toArray(), b.toArray()).map { Swift.abs($0 - $1) }.max() ?? 0
}

/// A small two-level model to exercise key naming.
private final class Block: Module {
    @Child("norm") var norm: LayerNorm
    @Child("mlp") var mlp: MLP
    init(rng: inout RNG) {
        super.init()
        norm = LayerNorm(4)
        mlp = MLP(inFeatures: 4, hidden: 8, rng: &rng)
    }
}

private final class Tiny: Module {
    @Child("layers") var layers: [Block]
    @Param("scale") var scale: Tensor
    init(rng: inout RNG) {
        super.init()
        layers = [Block(rng: &rng), Block(rng: &rng)]
        scale = Tensor.ones([1]).requiringGrad()
    }
}

@Suite struct ModuleTests {
    @Test func dottedNamesFollowDeclaredKeys() {
        var rng = RNG(seed: 1)
        let m = Tiny(rng: &rng)
        let names = m.namedParameters().map { $0.0 }
        #expect(names.contains("layers.0.norm.weight"))
        #expect(names.contains("layers.1.mlp.fc2.bias"))
        #expect(names.contains("scale"))
        #expect(names.count == 2 * (2 + 4) + 1)
        #expect(m.stateDict()["layers.0.mlp.fc1.weight"]?.shape == [8, 4])
    }

    @Test func freezingByName() {
        var rng = RNG(seed: 1)
        let m = Tiny(rng: &rng)
        m.freeze(matching: { $0.hasPrefix("layers.0.") })
        let trainable = m.trainableParameters().map { $0.0 }
        #expect(!trainable.contains { $0.hasPrefix("layers.0.") })
        #expect(trainable.contains("layers.1.norm.bias"))
        m.unfreeze()
        #expect(m.trainableParameters().count == m.namedParameters().count)
    }

    @Test func strictLoadReportsEveryProblemAtOnce() throws {
        var rng = RNG(seed: 1)
        let m = Tiny(rng: &rng)
        var state = m.stateDict()
        state.removeValue(forKey: "scale")
        state.removeValue(forKey: "layers.1.norm.bias")
        state["layers.0.mlp.fc1.weight"] = Tensor.zeros([4, 8])
        state["extra.weight"] = Tensor.zeros([1])
        do {
            try m.load(stateDict: state)
            Issue.record("load should have thrown")
        } catch let e as StateDictError {
            #expect(e.missing.sorted() == ["layers.1.norm.bias", "scale"])
            #expect(e.unexpected == ["extra.weight"])
            #expect(e.misShaped.count == 1 && e.misShaped[0].key == "layers.0.mlp.fc1.weight")
            #expect(e.misShaped[0].expected == [8, 4] && e.misShaped[0].found == [4, 8])
            #expect(e.description.contains("extra.weight"))
        }
    }

    @Test func loadReplacesValuesAndKeepsTrainableFlags() throws {
        var rng = RNG(seed: 1)
        let a = Tiny(rng: &rng), b = Tiny(rng: &rng)
        b.freeze(matching: { $0 == "scale" })
        try b.load(stateDict: a.stateDict())
        for ((na, ta), (nb, tb)) in zip(a.namedParameters(), b.namedParameters()) {
            #expect(na == nb)
            #expect(ta.toArray() == tb.toArray())
        }
        #expect(b.scale.requiresGrad == false)
        #expect(b.layers[0].norm.weight!.requiresGrad)
    }

    @Test func linearMatchesManualProduct() {
        var rng = RNG(seed: 3)
        let l = Linear(3, 2, rng: &rng)
        let x = Tensor([1, 2, 3], shape: [1, 3])
        let y = l(x).toArray()
        let w = l.weight.toArray(), b = l.bias!.toArray()
        for o in 0..<2 {
            let expected = w[o * 3] * 1 + w[o * 3 + 1] * 2 + w[o * 3 + 2] * 3 + b[o]
            #expect(Swift.abs(y[o] - expected) < 1e-5)
        }
        let bound = 1 / Float(3).squareRoot()
        #expect(w.allSatisfy { Swift.abs($0) <= bound })
    }

    @Test func attentionModuleRunsAndBackpropagates() {
        var rng = RNG(seed: 4)
        let attn = MultiHeadAttention(dim: 16, heads: 4, kvHeads: 2, rng: &rng)
        let x = Tensor.randn([2, 5, 16], rng: &rng)
        let keep = Tensor([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], shape: [2, 5])
        let y = attn(x, mask: .keyPadding(keep))
        #expect(y.shape == [2, 5, 16])
        y.sum().backward()
        #expect(attn.qProj.weight.grad != nil)
        #expect(attn.kProj.weight.shape == [8, 16])
    }
}

@Suite struct OptimizerTests {
    @Test func adamWMatchesPyTorch() throws {
        let f = try SafetensorsFile(path: goldens.appendingPathComponent("adamw.safetensors").path)
        let p = try f.tensor("p0").copy().detach().requiringGrad()
        let opt = AdamW(groups: [ParamGroup(params: [p])], learningRate: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1)
        for step in 1...3 {
            p.grad = try f.tensor("g\(step)").copy().detach()
            opt.step()
            let expected = try f.tensor("p\(step)")
            #expect(maxAbsDiff(p, expected) < 1e-6, "step \(step)")
        }
    }

    @Test func sgdMomentumMatchesPyTorch() throws {
        let f = try SafetensorsFile(path: goldens.appendingPathComponent("adamw.safetensors").path)
        let p = try f.tensor("sgd.p0").copy().detach().requiringGrad()
        let opt = SGD(groups: [ParamGroup(params: [p])], learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        for step in 1...3 {
            p.grad = try f.tensor("g\(step)").copy().detach()
            opt.step()
            #expect(maxAbsDiff(p, try f.tensor("sgd.p\(step)")) < 1e-6, "step \(step)")
        }
    }

    @Test func parameterGroupsScaleLearningRateAndDecay() {
        let a = Tensor([1, 1], shape: [2]).requiringGrad(), b = Tensor([1, 1], shape: [2]).requiringGrad()
        let opt = SGD(groups: [ParamGroup(params: [a], lrScale: 1, weightDecay: 0), ParamGroup(params: [b], lrScale: 0.5, weightDecay: 0)],
                      learningRate: 0.1)
        a.grad = Tensor([1, 1], shape: [2]); b.grad = Tensor([1, 1], shape: [2])
        opt.step()
        #expect(a.toArray() == [0.9, 0.9])
        #expect(b.toArray() == [0.95, 0.95])
    }

    @Test func adamWStateRoundTripContinuesExactly() throws {
        func run(split: Bool) throws -> [Float] {
            var rng = RNG(seed: 9)
            let p = Tensor.randn([6], rng: &rng).requiringGrad()
            var opt = AdamW(groups: [ParamGroup(params: [p])], learningRate: 1e-2)
            for s in 0..<6 {
                if split && s == 3 {
                    let state = opt.stateTensors()
                    let saved = p.copy().detach().requiringGrad()
                    opt = AdamW(groups: [ParamGroup(params: [saved])], learningRate: 1e-2)
                    try opt.loadState(state)
                    return try continueRun(opt, saved, from: s, rng: &rng)
                }
                p.grad = Tensor.randn([6], rng: &rng)
                opt.step()
            }
            return p.toArray()
        }
        func continueRun(_ opt: AdamW, _ p: Tensor, from: Int, rng: inout RNG) throws -> [Float] {
            for _ in from..<6 {
                p.grad = Tensor.randn([6], rng: &rng)
                opt.step()
            }
            return p.toArray()
        }
        #expect(try run(split: false) == run(split: true))
    }

    @Test func schedules() {
        let cos = LRSchedule.warmupCosine(base: 1, warmup: 10, total: 110)
        #expect(Swift.abs(cos.rate(at: 0) - 0.1) < 1e-6)
        #expect(Swift.abs(cos.rate(at: 9) - 1) < 1e-6)
        #expect(Swift.abs(cos.rate(at: 60) - 0.5) < 1e-6)
        #expect(Swift.abs(cos.rate(at: 110)) < 1e-6)
        let lin = LRSchedule.warmupLinear(base: 2, warmup: 4, total: 8)
        #expect(lin.rate(at: 2) == 1)
        #expect(lin.rate(at: 4) == 2)
        #expect(lin.rate(at: 6) == 1)
        #expect(lin.rate(at: 8) == 0)
    }

    @Test func gradientClippingBoundsTheGlobalNorm() {
        let a = Tensor([0, 0], shape: [2]).requiringGrad(), b = Tensor([0], shape: [1]).requiringGrad()
        a.grad = Tensor([3, 0], shape: [2]); b.grad = Tensor([4], shape: [1])
        let norm = clipGradNorm([a, b], maxNorm: 1)
        #expect(Swift.abs(norm - 5) < 1e-5)
        let after = (a.grad!.toArray() + b.grad!.toArray()).map { $0 * $0 }.reduce(0, +).squareRoot()
        #expect(Swift.abs(after - 1) < 1e-4)
        let untouched = clipGradNorm([a, b], maxNorm: 10)
        #expect(untouched < 10 && Swift.abs(a.grad!.toArray()[0] - 0.6) < 1e-4)
    }
}
