import Foundation
import TensorKit
import Tokenizers

/// A sentence-transformers model folder (a BERT encoder + pooling + optional normalisation, as
/// `modules.json` describes), e.g. all-MiniLM-L6-v2.
///
/// ```swift
/// let encoder = try SentenceEncoder.load(path: "all-MiniLM-L6-v2")
/// let v = try encoder.embed(["A man is eating food."])   // [1, 384], unit length
/// ```
public final class SentenceEncoder {
    public enum Pooling: String, Sendable { case mean, cls, max }

    public let model: BertModel
    public let tokenizer: any TextTokenizer
    public var pooling: Pooling
    public var normalize: Bool
    /// Longest input in tokens, including [CLS] and [SEP] (sentence-transformers' max_seq_length).
    public var maxLength: Int
    public var batchSize = 32

    public init(model: BertModel, tokenizer: any TextTokenizer, pooling: Pooling = .mean, normalize: Bool = true, maxLength: Int = 256) {
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalize = normalize
        self.maxLength = maxLength
    }

    public var dimension: Int { model.config.hiddenSize }

    /// Loads the BERT weights, the tokenizer and the sentence-transformers settings of a folder.
    public static func load(path: String) throws -> SentenceEncoder {
        let model = try BertModel.load(path: path)
        let tokenizer = try Tokenizers.load(folder: path)
        var pooling = Pooling.mean, normalize = false, maxLength = min(512, model.config.maxPositionEmbeddings)
        let modulesPath = (path as NSString).appendingPathComponent("modules.json")
        if let data = FileManager.default.contents(atPath: modulesPath),
           let modules = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] {
            for m in modules {
                let type = m["type"] as? String ?? ""
                if type.hasSuffix("Normalize") { normalize = true }
                if type.hasSuffix("Pooling"), let sub = m["path"] as? String {
                    let cfg = try readJSONObject(((path as NSString).appendingPathComponent(sub) as NSString).appendingPathComponent("config.json"))
                    if cfg["pooling_mode_cls_token"] as? Bool == true { pooling = .cls }
                    else if cfg["pooling_mode_max_tokens"] as? Bool == true { pooling = .max }
                    else { pooling = .mean }
                }
            }
        } else {
            normalize = true
        }
        let stConfig = (path as NSString).appendingPathComponent("sentence_bert_config.json")
        if FileManager.default.fileExists(atPath: stConfig), let n = try readJSONObject(stConfig)["max_seq_length"] as? Int {
            maxLength = min(n, model.config.maxPositionEmbeddings)
        }
        return SentenceEncoder(model: model, tokenizer: tokenizer, pooling: pooling, normalize: normalize, maxLength: maxLength)
    }

    /// Embeds `texts` ([N, dimension], input order).
    public func embed(_ texts: [String], progress: ((Int, Int) -> Void)? = nil) throws -> Tensor {
        let d = dimension
        let out = Tensor.zeros([texts.count, d])
        let order = texts.indices.sorted { texts[$0].count > texts[$1].count }
        var start = 0
        while start < order.count {
            let members = Array(order[start..<min(order.count, start + batchSize)])
            let enc = tokenizer.encodeBatch(members.map { texts[$0] }, addSpecialTokens: true, paddingSide: .right, maxLength: maxLength)
            let hidden = withNoGrad { model(ids: enc.ids, attentionMask: enc.attentionMask) }
            let T = enc.ids[0].count
            let h = hidden.fptr
            for (r, i) in members.enumerated() {
                let dst = out.fptr + i * d
                let valid = (0..<T).filter { enc.attentionMask[r][$0] != 0 }
                switch pooling {
                case .cls:
                    for j in 0..<d { dst[j] = h[(r * T) * d + j] }
                case .mean:
                    for t in valid { for j in 0..<d { dst[j] += h[(r * T + t) * d + j] } }
                    let inv = 1 / Float(max(valid.count, 1))
                    for j in 0..<d { dst[j] *= inv }
                case .max:
                    for j in 0..<d { dst[j] = -.infinity }
                    for t in valid { for j in 0..<d { dst[j] = max(dst[j], h[(r * T + t) * d + j]) } }
                }
                if normalize {
                    var s: Float = 0
                    for j in 0..<d { s += dst[j] * dst[j] }
                    let inv = 1 / max(s.squareRoot(), 1e-12)
                    for j in 0..<d { dst[j] *= inv }
                }
            }
            start += members.count
            progress?(start, texts.count)
        }
        return out
    }
}
