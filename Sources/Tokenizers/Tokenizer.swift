// Tokenizers: text → token ids for the LLM2CLIP text towers, with no Python at run time.
//
// Public API (everything else in the module is internal):
//
//   protocol TextTokenizer: AnyObject, Sendable
//       var vocabularySize: Int
//       func encode(_ text: String, addSpecialTokens: Bool, maxLength: Int?) -> [Int]
//       func encode(_ text: String, addSpecialTokens: Bool) -> [Int]                (extension)
//       func encodeWithPieces(_ text: String, addSpecialTokens: Bool) -> (ids: [Int], pieces: [String])
//       func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String
//       func id(forToken: String) -> Int?
//       func token(forId: Int) -> String?
//       var bosTokenId: Int?, eosTokenId: Int?, padTokenId: Int?
//       func encodeBatch(_ texts: [String], addSpecialTokens: Bool = true, padding: BatchPadding = .longest,
//                        paddingSide: PaddingSide = .right, maxLength: Int? = nil, padId: Int? = nil)
//           -> BatchEncoding                                                         (extension)
//   enum PaddingSide { case left, right }
//   enum BatchPadding { case none, longest, toLength(Int) }
//   struct BatchEncoding { var ids: [[Int]]; var attentionMask: [[Int]] }
//
//   final class HuggingFaceTokenizer: TextTokenizer       -- tokenizer.json pipelines (byte-level BPE
//       init(tokenizerJSON:)                                  such as GPT-2 / Llama-3 / SmolLM2, and
//       init(ggufTokens:merges:tokenTypes:model:preTokenizer:  WordPiece such as BERT / MiniLM), or the
//            bosTokenId:eosTokenId:padTokenId:unkTokenId:      arrays of a GGUF file's metadata
//            addBOS:addEOS:source:)
//       unkTokenId, truncationMaxLength, modelMaxLength, source, specialTokenCount: Int?/Int/String
//       preTokenize(_:) -> [String]                            (the words the model sees, for debugging)
//       static supportedGGUFPreTokenizers: [String]
//   final class CLIPTokenizer: TextTokenizer              -- open_clip's SimpleTokenizer
//       init(vocabPath:), encode(_:), callAsFunction(_:contextLength:)
//   enum Tokenizers                                        -- loaders
//       load(tokenizerJSON:), load(folder:), clip(vocabPath:),
//       byteLevelBPE(tokens:merges:tokenTypes:preTokenizer:bosTokenId:eosTokenId:padTokenId:unkTokenId:addBOS:addEOS:source:)
//   enum TokenizerError: Error                             -- typed load errors naming file and key
//
// Truncation (`maxLength`) follows Hugging Face's `truncation=True, max_length=N`: the content is
// cut to N minus the number of special tokens the template adds, then the template is applied,
// so special tokens are kept. CLIP follows open_clip instead: cut to N and force the last token
// to <end_of_text>.

import Foundation

/// A tokenizer turning text into token ids and back.
///
/// ```swift
/// let tok: any TextTokenizer = try Tokenizers.load(folder: "all-MiniLM-L6-v2")
/// let ids = tok.encode("A photo of a cat", addSpecialTokens: true)   // [101, 1037, 6302, 1997, 1037, 4937, 102]
/// let text = tok.decode(ids, skipSpecialTokens: true)                 // "a photo of a cat"
/// ```
public protocol TextTokenizer: AnyObject, Sendable {
    /// Number of distinct tokens (model vocabulary plus added tokens): the embedding rows a model
    /// needs at least.
    var vocabularySize: Int { get }

    /// Token ids of `text`. With `addSpecialTokens` the tokenizer's template (BOS, `[CLS] … [SEP]`,
    /// `<start_of_text> … <end_of_text>`, …) is applied. With `maxLength` the result has at most
    /// that many ids (see the file header for how each tokenizer truncates).
    ///
    /// ```swift
    /// let ids = tok.encode("The capital of France is", addSpecialTokens: false, maxLength: 3)
    /// ```
    func encode(_ text: String, addSpecialTokens: Bool, maxLength: Int?) -> [Int]

    /// Ids with the token strings they stand for (byte-level spelling for byte-level BPE,
    /// `##` pieces for WordPiece), e.g. for debugging or offsets.
    ///
    /// ```swift
    /// let (ids, pieces) = tok.encodeWithPieces("Hello world", addSpecialTokens: false)  // pieces: ["Hello", "Ġworld"]
    /// ```
    func encodeWithPieces(_ text: String, addSpecialTokens: Bool) -> (ids: [Int], pieces: [String])

    /// Text of `ids`. Unknown ids are skipped; with `skipSpecialTokens`, special tokens are too.
    ///
    /// ```swift
    /// let text = tok.decode([504, 3575, 282, 4649, 314], skipSpecialTokens: true)  // "The capital of France is"
    /// ```
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String

    /// Id of a token string (as spelled in the vocabulary, e.g. "Ġworld" or "##ing").
    ///
    /// ```swift
    /// let eot = tok.id(forToken: "<|im_end|>")   // 2 for SmolLM2
    /// ```
    func id(forToken token: String) -> Int?

    /// Token string of an id, as spelled in the vocabulary.
    ///
    /// ```swift
    /// let piece = tok.token(forId: 101)   // "[CLS]" for BERT
    /// ```
    func token(forId id: Int) -> String?

    /// Beginning-of-sequence id, when the tokenizer has one.
    var bosTokenId: Int? { get }
    /// End-of-sequence id, when the tokenizer has one.
    var eosTokenId: Int? { get }
    /// Padding id, when the tokenizer has one.
    var padTokenId: Int? { get }
    /// Ids of the special tokens (BOS/EOS/padding, chat-template markers and other added tokens
    /// flagged special): the tokens masked language modelling never selects.
    ///
    /// ```swift
    /// let special = tok.specialTokenIds        // SmolLM2: <|endoftext|>, <|im_start|>, <|im_end|>, …
    /// ```
    var specialTokenIds: Set<Int> { get }
}

extension TextTokenizer {
    /// The named ids (BOS, EOS, padding) a tokenizer without a special-token table has.
    public var specialTokenIds: Set<Int> { Set([bosTokenId, eosTokenId, padTokenId].compactMap { $0 }) }

    /// Token ids of `text` without truncation.
    ///
    /// ```swift
    /// let ids = tok.encode("A photo of a cat", addSpecialTokens: true)
    /// ```
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        encode(text, addSpecialTokens: addSpecialTokens, maxLength: nil)
    }

    /// Encodes several texts, truncates each to `maxLength` (keeping template tokens), and pads
    /// them to a common length. Padding uses `padId`, else the tokenizer's pad id, else its EOS
    /// id, else 0; pads get attention-mask 0.
    ///
    /// ```swift
    /// let batch = tok.encodeBatch(["a cat", "a photo of a dog"], paddingSide: .left, maxLength: 16)
    /// // batch.ids[0] == [pad, pad, …, ids of "a cat"], batch.attentionMask[0] == [0, 0, …, 1, 1]
    /// ```
    public func encodeBatch(_ texts: [String], addSpecialTokens: Bool = true, padding: BatchPadding = .longest,
                            paddingSide: PaddingSide = .right, maxLength: Int? = nil,
                            padId: Int? = nil) -> BatchEncoding {
        let sequences = texts.map { encode($0, addSpecialTokens: addSpecialTokens, maxLength: maxLength) }
        let target: Int
        switch padding {
        case .none: target = 0
        case .longest: target = sequences.map(\.count).max() ?? 0
        case .toLength(let n): target = n
        }
        let pad = padId ?? padTokenId ?? eosTokenId ?? 0
        var ids: [[Int]] = []
        var masks: [[Int]] = []
        ids.reserveCapacity(sequences.count)
        masks.reserveCapacity(sequences.count)
        for s in sequences {
            let missing = max(0, target - s.count)
            let fill = [Int](repeating: pad, count: missing)
            let zeros = [Int](repeating: 0, count: missing)
            let ones = [Int](repeating: 1, count: s.count)
            switch paddingSide {
            case .right:
                ids.append(s + fill); masks.append(ones + zeros)
            case .left:
                ids.append(fill + s); masks.append(zeros + ones)
            }
        }
        return BatchEncoding(ids: ids, attentionMask: masks)
    }
}

/// Which end of a sequence receives padding.
///
/// ```swift
/// let batch = tok.encodeBatch(texts, paddingSide: .left)   // decoder-only models pad on the left
/// ```
public enum PaddingSide: Sendable {
    case left, right
}

/// How `encodeBatch` pads.
///
/// ```swift
/// tok.encodeBatch(texts, padding: .toLength(77))   // every row at least 77 long
/// ```
public enum BatchPadding: Sendable, Equatable {
    /// Rows keep their own lengths.
    case none
    /// Rows are padded to the longest row.
    case longest
    /// Rows are padded to this length (longer rows are left as they are; use `maxLength` to cut).
    case toLength(Int)
}

/// Ids and attention masks of a batch (1 for real tokens, 0 for padding).
///
/// ```swift
/// let batch = tok.encodeBatch(["a", "b c"])
/// for (row, mask) in zip(batch.ids, batch.attentionMask) { print(row, mask) }
/// ```
public struct BatchEncoding: Sendable, Equatable {
    public var ids: [[Int]]
    public var attentionMask: [[Int]]

    public init(ids: [[Int]], attentionMask: [[Int]]) {
        self.ids = ids
        self.attentionMask = attentionMask
    }
}

/// Loaders for the tokenizers this module supports.
///
/// ```swift
/// let bert = try Tokenizers.load(folder: ".cache/assets/minilm")
/// let llama = try Tokenizers.load(tokenizerJSON: "Llama-3.2-1B/tokenizer.json")
/// let clip = try Tokenizers.clip(vocabPath: "bpe_simple_vocab_16e6.txt.gz")
/// ```
public enum Tokenizers {
    /// Loads a Hugging Face `tokenizer.json` (byte-level BPE, WordPiece or WordLevel pipelines).
    /// Without a `tokenizer_config.json`, the pad id comes from the file's `padding` section and
    /// BOS/EOS are unknown.
    ///
    /// ```swift
    /// let tok = try Tokenizers.load(tokenizerJSON: "model/tokenizer.json")
    /// ```
    public static func load(tokenizerJSON path: String) throws -> HuggingFaceTokenizer {
        try HuggingFaceTokenizer(tokenizerJSON: path)
    }

    /// Loads `tokenizer.json` from a model folder, taking the BOS, EOS, PAD and UNK token names and
    /// `model_max_length` from `tokenizer_config.json` (or `special_tokens_map.json`) when present.
    ///
    /// ```swift
    /// let tok = try Tokenizers.load(folder: ".cache/assets/minilm")
    /// tok.padTokenId   // 0 ([PAD])
    /// ```
    public static func load(folder: String) throws -> HuggingFaceTokenizer {
        let base = URL(fileURLWithPath: folder)
        let jsonPath = base.appendingPathComponent("tokenizer.json").path
        var config = SpecialTokenConfig()
        for name in ["special_tokens_map.json", "tokenizer_config.json"] {
            let path = base.appendingPathComponent(name).path
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let object = try JSONFile.readObject(path)
            config.merge(from: object, file: path)
        }
        return try HuggingFaceTokenizer(tokenizerJSON: jsonPath, config: config)
    }

    /// A byte-level BPE tokenizer from the `tokenizer.ggml.*` arrays of a GGUF file (see
    /// `HuggingFaceTokenizer.init(ggufTokens:…)` for what each argument means). `source` names
    /// the file in error messages.
    ///
    /// ```swift
    /// let tok = try Tokenizers.byteLevelBPE(tokens: tokens, merges: merges, tokenTypes: types,
    ///                                       preTokenizer: "smollm", bosTokenId: 1, eosTokenId: 2, padTokenId: 2)
    /// ```
    public static func byteLevelBPE(tokens: [String], merges: [String], tokenTypes: [Int], preTokenizer: String,
                                    bosTokenId: Int? = nil, eosTokenId: Int? = nil, padTokenId: Int? = nil,
                                    unkTokenId: Int? = nil, addBOS: Bool = false, addEOS: Bool = false,
                                    source: String = "GGUF metadata") throws -> HuggingFaceTokenizer {
        try HuggingFaceTokenizer(ggufTokens: tokens, merges: merges, tokenTypes: tokenTypes, preTokenizer: preTokenizer,
                                 bosTokenId: bosTokenId, eosTokenId: eosTokenId, padTokenId: padTokenId,
                                 unkTokenId: unkTokenId, addBOS: addBOS, addEOS: addEOS, source: source)
    }

    /// open_clip's CLIP tokenizer from `bpe_simple_vocab_16e6.txt.gz` (gzip or plain text).
    ///
    /// ```swift
    /// let clip = try Tokenizers.clip(vocabPath: ".cache/assets/openclip-vocab/bpe_simple_vocab_16e6.txt.gz")
    /// let rows = clip(["a diagram", "a dog"])   // 2 × 77, zero-padded
    /// ```
    public static func clip(vocabPath: String) throws -> CLIPTokenizer {
        try CLIPTokenizer(vocabPath: vocabPath)
    }
}
