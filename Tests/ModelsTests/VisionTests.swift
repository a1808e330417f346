import Foundation
import Testing
import Formats
import Models
import NeuralNet
import TensorKit

let visionGoldens = packageRoot.appendingPathComponent("Tests/Goldens/vision")

private func ids2D(_ t: Tensor) -> [[Int]] {
    let a = t.toArray().map { Int($0) }, w = t.shape[1]
    return (0..<t.shape[0]).map { Array(a[($0 * w)..<(($0 + 1) * w)]) }
}

/// Tiny random-initialised transformers CLIP models (scripts/make_goldens_vision.py).
@Suite struct CLIPTowerTests {
    @Test(arguments: ["quick_gelu", "gelu"]) func visionAndTextMatchTransformers(activation: String) throws {
        let model = try CLIPModel.load(path: visionGoldens.appendingPathComponent("clip-\(activation)").path)
        let out = try SafetensorsFile(path: visionGoldens.appendingPathComponent("clip-\(activation)_outputs.safetensors").path)
        let pixels = try out.tensor("pixel_values")
        let (last, pooled) = withNoGrad { model.vision(pixels) }
        #expect(maxAbsDiff(last.toArray(), try out.tensor("vision_last_hidden").toArray()) < 1e-4)
        #expect(maxAbsDiff(pooled.toArray(), try out.tensor("vision_pooled").toArray()) < 1e-4)
        #expect(maxAbsDiff(withNoGrad { model.imageEmbeddings(pixels) }.toArray(), try out.tensor("image_embeds").toArray()) < 1e-4)

        let ids = ids2D(try out.tensor("input_ids")), mask = ids2D(try out.tensor("attention_mask"))
        let text = try #require(model.text)
        let (tLast, tPooled) = withNoGrad { text(ids: ids, attentionMask: mask) }
        // Compare the valid (unpadded) positions of the last hidden state.
        let ref = try out.tensor("text_last_hidden").toArray(), ours = tLast.toArray()
        let d = text.config.hiddenSize
        var worst: Float = 0
        for (r, row) in mask.enumerated() {
            for (t, m) in row.enumerated() where m != 0 {
                let o = (r * row.count + t) * d
                worst = max(worst, maxAbsDiff(Array(ours[o..<(o + d)]), Array(ref[o..<(o + d)])))
            }
        }
        #expect(worst < 1e-4, "text hidden \(worst)")
        #expect(maxAbsDiff(tPooled.toArray(), try out.tensor("text_pooled").toArray()) < 1e-4)
        #expect(maxAbsDiff(withNoGrad { model.textEmbeddings(ids: ids, attentionMask: mask) }.toArray(),
                           try out.tensor("text_embeds").toArray()) < 1e-4)
        #expect(abs(try #require(model.logitScale).item() - out.tensor("logit_scale").item()) < 1e-6)
    }
}

/// The tiny EVA02 LLM2CLIP model against the PyTorch reference in scripts/make_goldens_vision.py.
@Suite struct EVA02Tests {
    static let config: LLM2CLIPConfig = {
        let eva = EVA02Config(imageSize: 56, patchSize: 14, width: 64, layers: 2, heads: 4, mlpHidden: 170, embedDim: 24, ropePretrainGrid: 4)
        return LLM2CLIPConfig(eva02: eva, llmDim: 32)
    }()
    let outputs: SafetensorsFile

    init() throws {
        outputs = try SafetensorsFile(path: visionGoldens.appendingPathComponent("eva02-tiny_outputs.safetensors").path)
    }

    func model(_ file: String = "eva02-tiny.safetensors") throws -> LLM2CLIPModel {
        try LLM2CLIPModel.load(path: visionGoldens.appendingPathComponent(file).path, config: Self.config)
    }

    @Test(arguments: ["eva02-tiny.safetensors", "eva02-tiny-evanames.safetensors"])
    func towerMatchesReference(file: String) throws {
        let m = try model(file)
        let tower = try #require(m.visual as? EVA02VisionTower)
        let pixels = try outputs.tensor("pixel_values")
        let tokens = withNoGrad { tower.tokens(pixels) }
        #expect(maxAbsDiff(tokens.toArray(), try outputs.tensor("tokens_final").toArray()) < 1e-4)
        let emb = withNoGrad { m.encodeImage(pixels, normalize: false) }
        #expect(maxAbsDiff(emb.toArray(), try outputs.tensor("image_embeds").toArray()) < 1e-4)
    }

    /// 84 px input on a 56 px checkpoint: bicubic position-table interpolation and new rotary tables.
    @Test func otherImageSizeInterpolatesPositions() throws {
        let m = try model()
        let tower = try #require(m.visual as? EVA02VisionTower)
        let table = interpolatedPositions(tower.posEmbed, tokens: 37, hasClassToken: true)
        #expect(maxAbsDiff(table.toArray(), try outputs.tensor("pos_embed_84").toArray()) < 1e-5)
        let emb = withNoGrad { m.encodeImage(try! outputs.tensor("pixel_values_84"), normalize: false) }
        #expect(maxAbsDiff(emb.toArray(), try outputs.tensor("image_embeds_84").toArray()) < 1e-4)
    }

    @Test func adapterMatchesReference() throws {
        let m = try model()
        let feats = try outputs.tensor("llm_features")
        #expect(maxAbsDiff(withNoGrad { m.encodeText(feats, normalize: false) }.toArray(), try outputs.tensor("adapter_out").toArray()) < 1e-5)
        m.adaptor.normalizesInput = false
        #expect(maxAbsDiff(withNoGrad { m.encodeText(feats, normalize: false) }.toArray(), try outputs.tensor("adapter_out_no_l2").toArray()) < 1e-5)
        m.adaptor.normalizesInput = true
        let logits = withNoGrad { m.logits(images: m.encodeImage(try! outputs.tensor("pixel_values")), texts: m.encodeText(feats)) }
        #expect(maxAbsDiff(logits.toArray(), try outputs.tensor("logits_per_image").toArray()) < 1e-3)
    }

    @Test func saveLoadRoundTripIsBitExact() throws {
        let m = try model()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("llm2clip-roundtrip-\(getpid()).safetensors").path
        try m.save(to: path)
        let again = try LLM2CLIPModel.load(path: path)   // config from the metadata
        #expect(again.config == Self.config)
        let pixels = try outputs.tensor("pixel_values"), feats = try outputs.tensor("llm_features")
        #expect(withNoGrad { m.encodeImage(pixels) }.toArray() == withNoGrad { again.encodeImage(pixels) }.toArray())
        #expect(withNoGrad { m.encodeText(feats) }.toArray() == withNoGrad { again.encodeText(feats) }.toArray())
        #expect(m.logitScale.item() == again.logitScale.item())
    }

    @Test func missingAndMisShapedKeysAreReported() throws {
        let src = try SafetensorsFile(path: visionGoldens.appendingPathComponent("eva02-tiny.safetensors").path)
        var state: [String: Tensor] = [:]
        for n in src.names { state[n] = try src.tensor(n) }
        state["visual.head.weight"] = nil
        state["text.text_adaptor.5.bias"] = Tensor.zeros([7])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("llm2clip-broken-\(getpid()).safetensors").path
        try writeSafetensors(state, to: path)
        #expect { try LLM2CLIPModel.load(path: path, config: Self.config) } throws: { e in
            guard let err = e as? ModelError, case .weights(let f, let d) = err else { return false }
            return f == path && d.contains("visual.head.weight") && d.contains("text.text_adaptor.5.bias")
        }
    }
}

/// Finite differences through a tiny EVA02 LLM2CLIP model: pixels and a parameter of every kind.
@Test func gradientCheckThroughTinyEVA02() throws {
    var rng = RNG(seed: 3)
    let eva = EVA02Config(imageSize: 16, patchSize: 8, width: 16, layers: 1, heads: 2, mlpHidden: 24, embedDim: 8)
    let m = LLM2CLIPModel(LLM2CLIPConfig(eva02: eva, llmDim: 12), rng: &rng)
    let pixels = Tensor.randn([2, 3, 16, 16], rng: &rng).requiringGrad()
    let feats = Tensor.randn([3, 12], rng: &rng)
    let weights = Tensor.randn([2, 3], rng: &rng)
    func loss() -> Tensor { (m.logits(images: m.encodeImage(pixels), texts: m.encodeText(feats)) * weights).sum() }
    m.zeroGrad()
    loss().backward()
    let params = Dictionary(uniqueKeysWithValues: m.namedParameters())
    let checked = ["visual.patch_embed.proj.weight", "visual.pos_embed", "visual.cls_token", "visual.blocks.0.attn.q_proj.weight",
                   "visual.blocks.0.attn.k_proj.weight", "visual.blocks.0.attn.inner_attn_ln.weight", "visual.blocks.0.mlp.w1.weight",
                   "visual.blocks.0.mlp.ffn_ln.bias", "visual.head.weight", "text.text_adaptor.0.fn.0.weight",
                   "text.text_adaptor.5.weight", "logit_scale"]
    var targets: [(String, Tensor)] = checked.map { ($0, params[$0]!) }
    targets.append(("pixels", pixels))
    for (name, t) in targets {
        let grad = try #require(t.grad, "\(name) has no gradient").toArray()
        let p = t.fptr
        var r = RNG(seed: 9)
        for _ in 0..<4 {
            let i = r.nextInt(t.count)
            let x0 = p[i], h: Float = 2e-3   // small: cls and position rows start near zero, where LayerNorm curves fast
            p[i] = x0 + h
            let up = Double(withNoGrad { loss() }.item())
            p[i] = x0 - h
            let down = Double(withNoGrad { loss() }.item())
            p[i] = x0
            let numeric = Float((up - down) / (2 * Double(h)))
            #expect(abs(numeric - grad[i]) <= 2e-2 * max(abs(numeric), abs(grad[i])) + 5e-3,
                    "\(name)[\(i)]: analytic \(grad[i]) numeric \(numeric)")
        }
    }
}

@Suite struct PresetTests {
    @Test func presetsHaveTheirPublishedShapes() {
        #expect(EVA02Config.l14_336.grid == 24 && EVA02Config.l14_336.headDim == 64 && EVA02Config.l14_336.mlpHidden == 2730)
        #expect(EVA02Config.l14_224.grid == 16 && EVA02Config.b16.grid == 14)
        #expect(CLIPTowerConfig.vitL14_336.imageSize / CLIPTowerConfig.vitL14_336.patchSize == 24)
        #expect(CLIPTowerConfig.vitB16.hiddenSize == 768 && CLIPTowerConfig.vitB16.intermediateSize == 3072)
        for (name, c) in EVA02Config.presets { #expect(c.width % c.heads == 0 && c.imageSize % c.patchSize == 0, "\(name)") }
        for (name, c) in CLIPTowerConfig.presets { #expect(c.hiddenSize % c.heads == 0 && c.imageSize % c.patchSize == 0, "\(name)") }
    }

    /// A small preset runs end to end and its position table adapts to another image size.
    @Test func smallTowersRunAtTheirSizeAndAnother() {
        var rng = RNG(seed: 1)
        let eva = EVA02VisionTower(.tiny, rng: &rng)
        let vit = CLIPImageTower(.vitTiny, embedDim: 32, rng: &rng)
        for side in [64, 96] {
            let x = Tensor.randn([1, 3, side, side], rng: &rng)
            #expect(withNoGrad { eva.embed(x) }.shape == [1, 64])
            #expect(withNoGrad { vit.embed(x) }.shape == [1, 32])
        }
    }
}
