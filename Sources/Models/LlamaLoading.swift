import Foundation
import Formats
import NeuralNet
import TensorKit

extension LlamaForCausalLM {
    /// Loads a Llama-family model from a Hugging Face folder (`config.json` + safetensors,
    /// sharded or not) or a GGUF file. Half-precision matrices stay in their storage type and
    /// are widened per layer at compute time; GGUF quantised tensors are dequantised to float32.
    ///
    /// ```swift
    /// let llm = try LlamaForCausalLM.load(path: "models/Llama-3.2-1B-Instruct")
    /// ```
    public static func load(path: String, keepHalfPrecision: Bool = true) throws -> LlamaForCausalLM {
        if path.lowercased().hasSuffix(".gguf") { return try load(gguf: GGUFFile(path: path)) }
        let configPath = (path as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw ModelError.cannotRead(path: path, reason: "expected a Hugging Face model folder with config.json, or a .gguf file")
        }
        let config = try LlamaConfig(configFile: configPath)
        let weights = try SafetensorsFolder(path: path)
        return try load(config: config, source: weights, keepHalfPrecision: keepHalfPrecision)
    }

    /// Builds the model from a config and Hugging Face-named tensors. Checkpoints of the bare
    /// `LlamaModel` (no `model.` prefix, no head) are accepted too.
    public static func load(config: LlamaConfig, source: TensorSource, keepHalfPrecision: Bool = true) throws -> LlamaForCausalLM {
        var state: [String: Tensor] = [:]
        let names = source.tensorNames
        let bare = !names.contains { $0.hasPrefix("model.") } && names.contains("embed_tokens.weight")
        for name in names where !name.hasSuffix("rotary_emb.inv_freq") {
            state[bare ? "model." + name : name] = try source.tensor(name)
        }
        return try build(config: config, state: state, origin: source.origin, keepHalfPrecision: keepHalfPrecision)
    }

    static func build(config: LlamaConfig, state: [String: Tensor], origin: String, keepHalfPrecision: Bool) throws -> LlamaForCausalLM {
        var config = config
        // A head-less checkpoint (LLM2CLIP's CC model) is an embedding model: keep it head-less.
        let hasHead = state["lm_head.weight"] != nil
        if !hasHead && !config.tieWordEmbeddings { config.tieWordEmbeddings = false }
        var rng = RNG(seed: 0)
        let model = withNoGrad { LlamaForCausalLM(config, rng: &rng) }
        if !hasHead { model.lmHead = nil }
        do {
            try model.load(stateDict: state, strict: true, keepHalfPrecision: keepHalfPrecision)
        } catch let e as StateDictError {
            throw ModelError.weights(file: origin, detail: "weights do not match config.json: \(e)")
        }
        model.freeze()
        return model
    }

    /// Loads a GGUF file: llama.cpp tensor names are mapped to the Hugging Face layout and the
    /// Q/K projection rows are un-permuted from llama.cpp's rotary layout.
    public static func load(gguf: GGUFFile) throws -> LlamaForCausalLM {
        let config = try LlamaConfig(gguf: gguf)
        var state: [String: Tensor] = [:]
        var unknown: [String] = []
        var ropeFactors: [Float]? = nil
        for name in gguf.names {
            if name == "rope_freqs.weight" { ropeFactors = try gguf.tensor(name).to(.float32).toArray(); continue }
            guard let hf = huggingFaceName(llamaCppName: name) else { unknown.append(name); continue }
            var t = try gguf.tensor(name)
            if hf.hasSuffix("q_proj.weight") { t = unpermuteRotaryRows(t, heads: config.heads) }
            if hf.hasSuffix("k_proj.weight") { t = unpermuteRotaryRows(t, heads: config.kvHeads) }
            state[hf] = t
        }
        guard unknown.isEmpty else {
            throw ModelError.weights(file: gguf.path, detail: "tensors with no Llama mapping: \(unknown.prefix(8).joined(separator: ", "))")
        }
        let model = try build(config: config, state: state, origin: gguf.path, keepHalfPrecision: true)
        model.ropeFrequencyFactors = ropeFactors
        return model
    }

    /// The Hugging Face name of a llama.cpp tensor name, or nil when it has none.
    public static func huggingFaceName(llamaCppName name: String) -> String? {
        switch name {
        case "token_embd.weight": return "model.embed_tokens.weight"
        case "output_norm.weight": return "model.norm.weight"
        case "output.weight": return "lm_head.weight"
        default: break
        }
        let parts = name.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blk", let layer = Int(parts[1]) else { return nil }
        let table = [
            "attn_norm.weight": "input_layernorm.weight",
            "ffn_norm.weight": "post_attention_layernorm.weight",
            "attn_q.weight": "self_attn.q_proj.weight", "attn_q.bias": "self_attn.q_proj.bias",
            "attn_k.weight": "self_attn.k_proj.weight", "attn_k.bias": "self_attn.k_proj.bias",
            "attn_v.weight": "self_attn.v_proj.weight", "attn_v.bias": "self_attn.v_proj.bias",
            "attn_output.weight": "self_attn.o_proj.weight",
            "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
            "ffn_down.weight": "mlp.down_proj.weight",
        ]
        return table[parts[2]].map { "model.layers.\(layer).\($0)" }
    }
}

/// Undoes llama.cpp's reordering of Q/K projection rows: within each head, llama.cpp stores the
/// rotary pairs interleaved (row 2i + s), Hugging Face as two halves (row s·D/2 + i).
public func unpermuteRotaryRows(_ w: Tensor, heads: Int) -> Tensor {
    let rows = w.shape[0], cols = w.count / rows
    let headDim = rows / heads
    let f = w.dtype == .float32 ? w : w.to(.float32)
    return f.reshape([heads, headDim / 2, 2, cols]).permute([0, 2, 1, 3]).contiguous().reshape(w.shape)
}
