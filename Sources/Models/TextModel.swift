import Foundation
import Formats
import TensorKit
import Tokenizers

/// A text model as the command line meets it: a decoder LLM (embedded with LLM2Vec pooling, and
/// able to generate) or a sentence encoder (its own pooling), each with its tokenizer.
///
/// ```swift
/// let model = try TextModel.load(path: "SmolLM2-135M-Instruct.Q4_1.gguf")
/// let vectors = try model.embed(["a photo of a cat"])
/// ```
public enum TextModel {
    case decoder(LlamaForCausalLM, any TextTokenizer)
    case sentenceEncoder(SentenceEncoder)

    /// Loads a GGUF file or a Hugging Face folder (Llama/Mistral decoders, BERT sentence encoders).
    public static func load(path: String) throws -> TextModel {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelError.cannotRead(path: path, reason: "no such file or folder")
        }
        if path.lowercased().hasSuffix(".gguf") {
            let gguf = try GGUFFile(path: path)
            return .decoder(try LlamaForCausalLM.load(gguf: gguf), try ggufTokenizer(gguf))
        }
        let configPath = (path as NSString).appendingPathComponent("config.json")
        let json = try readJSONObject(configPath)
        let type = json["model_type"] as? String ?? "?"
        switch type {
        case "bert": return .sentenceEncoder(try SentenceEncoder.load(path: path))
        case _ where LlamaConfig.supportedModelTypes.contains(type):
            let tok: any TextTokenizer
            do { tok = try Tokenizers.load(folder: path) } catch { throw ModelError.noTokenizer(path: path) }
            return .decoder(try LlamaForCausalLM.load(path: path), tok)
        default:
            throw ModelError.unsupportedArchitecture(file: configPath, found: type, supported: LlamaConfig.supportedModelTypes + ["bert"])
        }
    }

    public var tokenizer: any TextTokenizer {
        switch self {
        case .decoder(_, let t): return t
        case .sentenceEncoder(let s): return s.tokenizer
        }
    }

    public var dimension: Int {
        switch self {
        case .decoder(let m, _): return m.config.hiddenSize
        case .sentenceEncoder(let s): return s.dimension
        }
    }

    /// A one-line description of how texts are embedded (stored with saved vectors).
    public var recipe: String {
        switch self {
        case .decoder(_, let t): return "llm2vec-mean-bidirectional template=\(EmbeddingTemplate.detect(t).name) max_length=512"
        case .sentenceEncoder(let s): return "sentence-transformers pooling=\(s.pooling.rawValue) normalize=\(s.normalize) max_length=\(s.maxLength)"
        }
    }

    /// Embeds texts: LLM2Vec pooling for decoders (with an optional instruction), the model's
    /// own pooling for sentence encoders.
    public func embed(_ texts: [String], instruction: String? = nil, progress: ((Int, Int) -> Void)? = nil) throws -> Tensor {
        switch self {
        case .decoder(let m, let t): return try LLM2VecEncoder(model: m, tokenizer: t).embed(texts, instruction: instruction, progress: progress)
        case .sentenceEncoder(let s): return try s.embed(texts, progress: progress)
        }
    }

    /// The tokenizer stored in a GGUF file's metadata.
    public static func ggufTokenizer(_ gguf: GGUFFile) throws -> any TextTokenizer {
        guard gguf.metadata["tokenizer.ggml.model"] != nil else { throw ModelError.noTokenizer(path: gguf.path) }
        return try Tokenizers.load(gguf: gguf)
    }
}
