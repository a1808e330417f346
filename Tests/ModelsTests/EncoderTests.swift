import Foundation
import Testing
import Formats
import Models
import TensorKit
import Tokenizers

private func rows(_ t: Tensor) -> [[Float]] {
    let d = t.shape[1], a = t.toArray()
    return (0..<t.shape[0]).map { Array(a[($0 * d)..<(($0 + 1) * d)]) }
}

/// LLM2Vec embeddings of the real SmolLM2 GGUF against transformers (scripts/make_goldens_llm.py).
@Suite(.serialized) struct LLM2VecTests {
    static let loaded: (LlamaForCausalLM, any TextTokenizer)? = {
        guard let p = try? asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
              case .decoder(let m, let t)? = try? TextModel.load(path: p) else { return nil }
        return (m, t)
    }()
    let golden: [String: Any]
    let outputs: SafetensorsFile
    let captions: [String]
    let instruction: String

    init() throws {
        golden = try goldenJSON("smollm2.json")
        outputs = try SafetensorsFile(path: llmGoldens.appendingPathComponent("smollm2_outputs.safetensors").path)
        captions = golden["captions"] as! [String]
        instruction = (golden["embedding"] as! [String: Any])["instruction"] as! String
    }

    @Test func templateAndPooledTokensMatchTheReference() throws {
        let (m, t) = try #require(Self.loaded)
        let enc = LLM2VecEncoder(model: m, tokenizer: t)
        #expect(enc.template == .chatML)
        for entry in golden["caption_tokens"] as! [[String: Any]] {
            let caption = entry["caption"] as! String
            let plain = enc.prepare(caption)
            #expect(plain.ids == entry["ids_plain"] as! [Int], "\(caption)")
            #expect(plain.pooled == entry["n_pooled"] as! Int)
            let instructed = enc.prepare(caption, instruction: instruction)
            #expect(instructed.ids == entry["ids_instruct"] as! [Int])
            #expect(instructed.pooled == entry["n_pooled"] as! Int)
        }
    }

    @Test(arguments: [false, true]) func embeddingsMatchTransformers(withInstruction: Bool) throws {
        let (m, t) = try #require(Self.loaded)
        let enc = LLM2VecEncoder(model: m, tokenizer: t)
        let ours = rows(try enc.embed(captions, instruction: withInstruction ? instruction : nil))
        let ref = rows(try outputs.tensor(withInstruction ? "embeddings_instruct" : "embeddings_plain"))
        for (i, (a, b)) in zip(ours, ref).enumerated() {
            let norm = b.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(maxAbsDiff(a, b) < 2e-3, "caption \(i): max abs diff \(maxAbsDiff(a, b)) (norm \(norm))")
        }
    }

    /// One batch with left padding gives each caption its one-at-a-time vector.
    @Test func batchedEqualsOneAtATime() throws {
        let (m, t) = try #require(Self.loaded)
        let enc = LLM2VecEncoder(model: m, tokenizer: t)
        let batched = rows(try enc.embed(captions))
        for (i, c) in captions.enumerated() {
            let alone = rows(try enc.embed([c]))[0]
            // Summation order differs with the batch shape (PyTorch itself shows 3.6e-4 here).
            #expect(maxAbsDiff(batched[i], alone) < 3e-4, "caption \(i): \(maxAbsDiff(batched[i], alone))")
        }
    }

    /// A copy whose top blocks differ shares the rest; one pass over the shared trunk gives
    /// both models' embeddings exactly as two separate passes do.
    @Test func sharedTrunkEmbeddingEqualsTwoPasses() throws {
        let (m, t) = try #require(Self.loaded)
        let p = try asset("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard case .decoder(let copy, _) = try TextModel.load(path: p) else { Issue.record("not a decoder"); return }
        let a = LLM2VecEncoder(model: m, tokenizer: t), b = LLM2VecEncoder(model: copy, tokenizer: t)
        let L = m.config.layers
        #expect(a.sharedBottomLayers(with: b) == L)
        // Change one weight in each of the top three blocks (as LoRA on the top three would).
        for i in (L - 3)..<L {
            let w = copy.model.layers[i].namedParameters().first { $0.0.hasSuffix("q_proj.weight") }!.1
            w.fptr[7] += 0.25
        }
        #expect(a.sharedBottomLayers(with: b) == L - 3)
        let (ea, eb) = try a.embedSharingTrunk(captions, with: b, sharedLayers: L - 3)
        let (ra, rb) = (rows(try a.embed(captions)), rows(try b.embed(captions)))
        for (i, (x, y)) in zip(rows(ea), ra).enumerated() { #expect(maxAbsDiff(x, y) < 1e-5, "model a, caption \(i): \(maxAbsDiff(x, y))") }
        for (i, (x, y)) in zip(rows(eb), rb).enumerated() { #expect(maxAbsDiff(x, y) < 1e-5, "model b, caption \(i): \(maxAbsDiff(x, y))") }
        // The changed blocks really change the vectors, and a trunk that is not shared is refused.
        #expect(zip(rows(eb), ra).contains { maxAbsDiff($0, $1) > 1e-4 })
        #expect(throws: ModelError.self) { try a.embedSharingTrunk(captions, with: b, sharedLayers: L - 2) }
        #expect(throws: ModelError.self) { try a.embedSharingTrunk(captions, with: b, sharedLayers: L) }
    }

    @Test func queryKeyRowsAreUnpermuted() throws {
        let (m, _) = try #require(Self.loaded)
        let attn = m.model.layers[0].attention
        for (w, name) in [(attn.qProj.weight, "q_proj_layer0"), (attn.kProj.weight, "k_proj_layer0")] {
            let ours = w.slice(axis: 0, 0, 8).slice(axis: 1, 0, 8).contiguous().toArray()
            #expect(maxAbsDiff(ours, try outputs.tensor(name).toArray()) < 1e-6, "\(name)")
        }
    }

    @Test func fullLogitsMatch() throws {
        let (m, _) = try #require(Self.loaded)
        let ids = golden["prompt_ids"] as! [Int]
        let logits = withNoGrad { m.logits(m.hiddenStates(ids: [ids])) }.toArray().suffix(m.config.vocabSize)
        #expect(maxAbsDiff(Array(logits), try outputs.tensor("last_logits").toArray()) < 5e-3)
    }
}

/// all-MiniLM-L6-v2 against sentence-transformers.
@Suite(.serialized) struct SentenceEncoderTests {
    @Test func embeddingsMatchSentenceTransformers() throws {
        let encoder = try SentenceEncoder.load(path: try asset("minilm"))
        #expect(encoder.pooling == .mean && encoder.normalize && encoder.maxLength == 256)
        let golden = try goldenJSON("minilm.json")
        let sentences = golden["sentences"] as! [String]
        #expect(sentences.count >= 20)
        let expectedIds = golden["token_ids"] as! [[Int]]
        // Token ids as the model sees them (truncated to 256 with [SEP] kept).
        for (s, ids) in zip(sentences, expectedIds) {
            let ours = encoder.tokenizer.encodeBatch([s], addSpecialTokens: true, maxLength: 256).ids[0]
            #expect(ours == ids, "\(s.prefix(40))")
        }
        let ours = rows(try encoder.embed(sentences))
        let ref = rows(try SafetensorsFile(path: llmGoldens.appendingPathComponent("minilm_embeddings.safetensors").path).tensor("embeddings"))
        var worst: Float = 0
        for (a, b) in zip(ours, ref) { worst = max(worst, maxAbsDiff(a, b)) }
        #expect(worst < 1e-4, "max abs difference \(worst)")
    }

    @Test func tokenStatesOfTheFirstSentence() throws {
        let bert = try BertModel.load(path: try asset("minilm"))
        let out = try SafetensorsFile(path: llmGoldens.appendingPathComponent("minilm_embeddings.safetensors").path)
        let ids = try out.tensor("input_ids_0").toArray().map { Int($0) }
        let h = withNoGrad { bert(ids: [ids]) }
        #expect(maxAbsDiff(h.toArray(), try out.tensor("token_embeddings_0").toArray()) < 1e-4)
    }
}
