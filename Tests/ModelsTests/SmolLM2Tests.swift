import Foundation
import Testing
import Formats
import Models
import TensorKit
import Tokenizers

/// The real SmolLM2-135M-Instruct GGUF (Q4_1 weights, Q8_0 embeddings) against the reference
/// values of an independent forward pass (../shared/docs/assets.md) and transformers.
@Suite(.serialized) struct SmolLM2Tests {
    static let model: LlamaForCausalLM? = {
        guard let p = try? asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") else { return nil }
        return try? LlamaForCausalLM.load(path: p)
    }()

    @Test func configFromMetadata() throws {
        let g = try GGUFFile(path: try asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
        let c = try LlamaConfig(gguf: g)
        #expect(c.layers == 30 && c.hiddenSize == 576 && c.intermediateSize == 1536)
        #expect(c.heads == 9 && c.kvHeads == 3 && c.headDim == 64)
        #expect(c.ropeTheta == 100000 && c.rmsNormEps == 1e-5 && c.vocabSize == 49152)
        #expect(c.tieWordEmbeddings)
        let row = try g.tensor("token_embd.weight").slice(axis: 0, 504, 505).toArray()
        let ref: [Float] = [0.10960388, 0.01743698, -0.0946579, 0.08220291]
        #expect(maxAbsDiff(Array(row.prefix(4)), ref) < 1e-6)
    }

    @Test func nextTokenLogits() throws {
        let llm = try #require(Self.model)
        let logits = withNoGrad { llm.logits(llm.hiddenStates(ids: [[504, 3575, 282, 4649, 314]])) }
        let last = Array(logits.toArray().suffix(llm.config.vocabSize))
        let top = last.indices.sorted { last[$0] > last[$1] }.prefix(5)
        #expect(Array(top) == [7042, 260, 4528, 2250, 1315])
        #expect(abs(last[7042] - 17.371) < 0.01, "Paris logit \(last[7042])")
        #expect(abs(last[260] - 14.889) < 0.01)
    }

    @Test func greedyDecoding() throws {
        let llm = try #require(Self.model)
        let out = llm.generate(prompt: [504, 3575, 282, 4649, 314], maxTokens: 8)
        let golden = try goldenJSON("smollm2.json")
        let expected = try #require(golden["greedy_ids"] as? [Int])
        #expect(out == expected)
    }
}

/// The GGUF tokenizer exported as tokenizer.json (for merged fine-tuned models) tokenises like the original.
@Test func ggufTokenizerExportsToAnEquivalentTokenizerJSON() throws {
    let gguf = try GGUFFile(path: try asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-export-\(getpid())").path
    try TokenizerExport.writeHuggingFaceFiles(from: gguf, to: dir)
    let original = try Tokenizers.load(gguf: gguf), exported = try Tokenizers.load(folder: dir)
    let corpus = try JSONSerialization.jsonObject(with: Data(contentsOf: packageRoot.appendingPathComponent("Tests/Goldens/tokenizers/corpus.json")))
    let texts = (corpus as? [String: Any])?["strings"] as? [String] ?? []
    #expect(texts.count > 20)
    for t in texts + ["<|im_start|>user\nat  27 people<|im_end|>"] {
        #expect(exported.encode(t, addSpecialTokens: true) == original.encode(t, addSpecialTokens: true), "\(t.prefix(30))")
    }
    #expect(exported.eosTokenId == original.eosTokenId)
}
