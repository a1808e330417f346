import Foundation
import Formats
import NeuralNet
import TensorKit
import Tokenizers

extension LlamaConfig {
    /// The Hugging Face `config.json` object for this configuration.
    public var huggingFaceJSON: [String: Any] {
        var j: [String: Any] = [
            "architectures": [modelType == "mistral" ? "MistralForCausalLM" : "LlamaForCausalLM"], "model_type": modelType,
            "vocab_size": vocabSize, "hidden_size": hiddenSize, "intermediate_size": intermediateSize,
            "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kvHeads, "head_dim": headDim,
            "rms_norm_eps": Double(rmsNormEps), "rope_theta": Double(ropeTheta), "max_position_embeddings": maxPositionEmbeddings,
            "tie_word_embeddings": tieWordEmbeddings, "attention_bias": attentionBias, "mlp_bias": mlpBias,
            "hidden_act": "silu", "torch_dtype": "float32",
        ]
        if let b = bosTokenId { j["bos_token_id"] = b }
        if let e = eosTokenIds.first { j["eos_token_id"] = eosTokenIds.count == 1 ? e as Any : eosTokenIds as Any }
        if let s = ropeScaling {
            j["rope_scaling"] = ["rope_type": "llama3", "factor": Double(s.factor), "low_freq_factor": Double(s.lowFreqFactor),
                                 "high_freq_factor": Double(s.highFreqFactor), "original_max_position_embeddings": s.originalMaxPositionEmbeddings]
        } else if let f = linearRopeFactor {
            j["rope_scaling"] = ["rope_type": "linear", "factor": Double(f)]
        }
        return j
    }
}

/// Writes JSON atomically.
func writeJSONAtomically(_ object: Any, to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    let tmp = path + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: tmp, contents: data), rename(tmp, path) == 0 else {
        unlink(tmp)
        throw FormatError.writeFailed(file: path, reason: "could not write")
    }
}

extension LlamaForCausalLM {
    /// Writes the model as a Hugging Face folder: `config.json` and `model.safetensors` (LoRA
    /// adapters must be merged first; float32). Tokenizer files are written separately.
    public func saveHuggingFaceFolder(_ directory: String) throws {
        guard LoRA.adapterState(of: self).isEmpty else {
            throw ModelError.input("merge the LoRA adapters (LoRA.merge(into:)) before exporting a model folder")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var state: [String: Tensor] = [:]
        for (k, t) in namedParameters() { state[k] = t.dtype == .float32 ? t.detach() : t.to(.float32) }
        var cfg = config
        if lmHead == nil && !cfg.tieWordEmbeddings { cfg.tieWordEmbeddings = false }
        try writeSafetensors(state, to: (directory as NSString).appendingPathComponent("model.safetensors"), metadata: ["format": "pt"])
        try writeJSONAtomically(cfg.huggingFaceJSON, to: (directory as NSString).appendingPathComponent("config.json"))
    }
}

/// Hugging Face `tokenizer.json` files for tokenizers that came from GGUF metadata.
public enum TokenizerExport {
    /// Writes `tokenizer.json` (byte-level BPE with the pre-tokenizer the GGUF names) and
    /// `tokenizer_config.json` for the tokenizer in `gguf`'s metadata.
    public static func writeHuggingFaceFiles(from gguf: GGUFFile, to directory: String) throws {
        let m = gguf.metadata
        guard let tokens = m["tokenizer.ggml.tokens"]?.strings, let merges = m["tokenizer.ggml.merges"]?.strings else {
            throw ModelError.noTokenizer(path: gguf.path)
        }
        let types = m["tokenizer.ggml.token_type"]?.ints ?? []
        var vocab: [String: Int] = [:]
        for (i, t) in tokens.enumerated() { vocab[t] = i }
        var added: [[String: Any]] = []
        for (i, t) in tokens.enumerated() where i < types.count && (types[i] == 3 || types[i] == 4) {
            added.append(["id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                          "normalized": types[i] == 4, "special": types[i] == 3])
        }
        let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]
        let pre = m["tokenizer.ggml.pre"]?.string ?? "default"
        let preTokenizer: [String: Any]
        switch pre {
        case "smollm":
            preTokenizer = ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel]]
        case "llama-bpe", "llama3", "llama-v3":
            let regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
            var bl = byteLevel
            bl["use_regex"] = false
            preTokenizer = ["type": "Sequence", "pretokenizers": [["type": "Split", "pattern": ["Regex": regex], "behavior": "Isolated", "invert": false], bl]]
        case "default", "gpt2":
            preTokenizer = byteLevel
        default:
            throw ModelError.badConfig(file: gguf.path, key: "tokenizer.ggml.pre", detail: "'\(pre)' cannot be exported to tokenizer.json (smollm, llama-bpe, gpt2 can)")
        }
        var post: Any = ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true] as [String: Any]
        let addBOS = m["tokenizer.ggml.add_bos_token"]?.bool ?? false
        if addBOS, let b = m["tokenizer.ggml.bos_token_id"]?.int {
            post = ["type": "TemplateProcessing",
                    "single": [["SpecialToken": ["id": tokens[b], "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
                    "pair": [["SpecialToken": ["id": tokens[b], "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]],
                             ["Sequence": ["id": "B", "type_id": 1]]],
                    "special_tokens": [tokens[b]: ["id": tokens[b], "ids": [b], "tokens": [tokens[b]]]]] as [String: Any]
        }
        let json: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added, "normalizer": NSNull(),
            "pre_tokenizer": preTokenizer, "post_processor": post,
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                      "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": vocab, "merges": merges],
        ]
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try writeJSONAtomically(json, to: (directory as NSString).appendingPathComponent("tokenizer.json"))
        var config: [String: Any] = ["tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 8192, "add_bos_token": addBOS]
        if let b = m["tokenizer.ggml.bos_token_id"]?.int { config["bos_token"] = tokens[b] }
        if let e = m["tokenizer.ggml.eos_token_id"]?.int { config["eos_token"] = tokens[e] }
        if let p = m["tokenizer.ggml.padding_token_id"]?.int { config["pad_token"] = tokens[p] }
        if let t = m["tokenizer.chat_template"]?.string { config["chat_template"] = t }
        try writeJSONAtomically(config, to: (directory as NSString).appendingPathComponent("tokenizer_config.json"))
    }

    /// Copies `tokenizer.json` and the other tokenizer files of a Hugging Face folder.
    public static func copyHuggingFaceFiles(from source: String, to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
            let src = (source as NSString).appendingPathComponent(name), dst = (directory as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: src) else { continue }
            try? FileManager.default.removeItem(atPath: dst)
            try FileManager.default.copyItem(atPath: src, toPath: dst)
        }
    }
}

/// A JSON encoder with sorted keys: configs written into checkpoint metadata come out byte for
/// byte the same in every process (an unsorted encoder's key order varies from run to run), so
/// a seeded training run reproduces its checkpoint file exactly.
public let canonicalJSONEncoder: JSONEncoder = {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys]
    return e
}()
