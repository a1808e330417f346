import Foundation
import Formats

extension HuggingFaceTokenizer {
    /// GGUF `tokenizer.ggml.pre` values this module understands (see `init(ggufTokens:…)`).
    ///
    /// ```swift
    /// guard HuggingFaceTokenizer.supportedGGUFPreTokenizers.contains(pre) else { … }
    /// ```
    public static let supportedGGUFPreTokenizers = [
        "default", "gpt2", "smollm",
        "llama-bpe", "llama3", "llama-v3", "falcon3", "dbrx", "smaug-bpe",
        "qwen2", "deepseek-r1-qwen",
    ]

    /// Builds a byte-level BPE tokenizer from the tokenizer arrays of a GGUF file's metadata,
    /// the way Hugging Face transformers does when it loads a tokenizer from a GGUF file
    /// (`AutoTokenizer.from_pretrained(dir, gguf_file=…)`):
    ///
    /// * tokens not spelled in GPT-2's byte alphabet are re-spelled through it;
    /// * control tokens (type 3) become special added tokens and user-defined ones (type 4) plain
    ///   added tokens, both matched literally in the text;
    /// * `preTokenizer` (`tokenizer.ggml.pre`) picks the split: "gpt2"/"default" → the GPT-2 regex,
    ///   "smollm" → digits one by one, then the GPT-2 regex, "llama-bpe"/"llama3"/… → the
    ///   Llama-3 regex, "qwen2" → the Qwen2 regex. (For "smollm" this follows llama.cpp and
    ///   SmolLM2's own tokenizer.json; transformers 5.24's GGUF loader skips the digit split, which
    ///   changes ids only where a number follows several spaces or a non-ASCII numeric such as
    ///   "½" follows a space);
    /// * `addBOS`/`addEOS` (`tokenizer.ggml.add_bos_token`/`add_eos_token`) wrap the content.
    ///
    /// `source` names the file in error messages.
    ///
    /// ```swift
    /// let tok = try HuggingFaceTokenizer(ggufTokens: tokens, merges: merges, tokenTypes: types,
    ///                                    preTokenizer: "smollm", bosTokenId: 1, eosTokenId: 2,
    ///                                    padTokenId: 2, addBOS: false, addEOS: false)
    /// tok.encode("The capital of France is", addSpecialTokens: true)   // [504, 3575, 282, 4649, 314]
    /// ```
    public convenience init(ggufTokens tokens: [String], merges: [String], tokenTypes: [Int],
                            model: String = "gpt2", preTokenizer: String,
                            bosTokenId: Int? = nil, eosTokenId: Int? = nil, padTokenId: Int? = nil,
                            unkTokenId: Int? = nil, addBOS: Bool = false, addEOS: Bool = false,
                            source: String = "GGUF metadata") throws {
        guard model == "gpt2" else {
            throw TokenizerError.unsupportedType(file: source, component: "tokenizer.ggml.model", type: model,
                                                 supported: ["gpt2"])
        }
        guard tokenTypes.isEmpty || tokenTypes.count == tokens.count else {
            throw TokenizerError.invalidValue(file: source, key: "tokenizer.ggml.token_type",
                                              value: "\(tokenTypes.count) entries",
                                              expected: "one per token (\(tokens.count))")
        }
        for (key, id) in [("tokenizer.ggml.bos_token_id", bosTokenId), ("tokenizer.ggml.eos_token_id", eosTokenId),
                          ("tokenizer.ggml.padding_token_id", padTokenId), ("tokenizer.ggml.unknown_token_id", unkTokenId)] {
            if let id, id < 0 || id >= tokens.count {
                throw TokenizerError.invalidValue(file: source, key: key, value: "\(id)",
                                                  expected: "a token id below \(tokens.count)")
            }
        }
        let split: PreTokenizer
        switch preTokenizer {
        case "default", "gpt2":
            split = .byteLevel(addPrefixSpace: false, useRegex: true)
        case "smollm":
            split = .sequence([.digits(individual: true), .byteLevel(addPrefixSpace: false, useRegex: true)])
        case "llama-bpe", "llama3", "llama-v3", "falcon3", "dbrx", "smaug-bpe":
            split = .sequence([.split(.llama3(maxDigits: 3), .isolated, invert: false),
                               .byteLevel(addPrefixSpace: false, useRegex: false)])
        case "qwen2", "deepseek-r1-qwen":
            split = .sequence([.split(.llama3(maxDigits: 1), .isolated, invert: false),
                               .byteLevel(addPrefixSpace: false, useRegex: false)])
        default:
            throw TokenizerError.unsupportedType(file: source, component: "tokenizer.ggml.pre", type: preTokenizer,
                                                 supported: Self.supportedGGUFPreTokenizers)
        }

        var pairs: [(String, Int)] = []
        pairs.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() {
            pairs.append((ByteLevelTable.isByteLevelSpelled(t) ? t : ByteLevelTable.encode(Array(t.utf8)), i))
        }
        let vocab = VocabTable(pairs)  // later duplicates win, as in a Python dict
        var mergePairs: [(String, String)] = []
        mergePairs.reserveCapacity(merges.count)
        for (i, m) in merges.enumerated() {
            let parts = m.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw TokenizerError.invalidValue(file: source, key: "tokenizer.ggml.merges[\(i)]", value: "'\(m)'",
                                                  expected: "two tokens separated by one space")
            }
            mergePairs.append((String(parts[0]), String(parts[1])))
        }
        let bpe = try BPEModel(vocab: vocab, merges: mergePairs, unkToken: nil, continuingSubwordPrefix: nil,
                               endOfWordSuffix: nil, fuseUnk: false, ignoreMerges: false, file: source)

        var addedTokens: [AddedToken] = []
        var addedIds = Set<Int>()
        for (i, t) in tokens.enumerated() where i < tokenTypes.count && tokenTypes[i] == 3 {
            // Control tokens outside the byte alphabet are llama.cpp mislabels; transformers skips them.
            guard ByteLevelTable.isByteLevelSpelled(t), !t.isEmpty, let id = vocab[t] else { continue }
            addedTokens.append(AddedToken(id: id, content: t, special: true))
            addedIds.insert(id)
        }
        for (i, t) in tokens.enumerated() where i < tokenTypes.count && tokenTypes[i] == 4 {
            guard !t.isEmpty, let id = vocab[t], !addedIds.contains(id) else { continue }
            addedTokens.append(AddedToken(id: id, content: t, special: false))
            addedIds.insert(id)
        }
        // The named special tokens are special in transformers even when not typed as control.
        for id in [bosTokenId, eosTokenId, unkTokenId, padTokenId].compactMap({ $0 }) where !addedIds.contains(id) {
            let t = tokens[id]
            guard ByteLevelTable.isByteLevelSpelled(t), !t.isEmpty, vocab[t] == id else { continue }
            addedTokens.append(AddedToken(id: id, content: t, special: true))
            addedIds.insert(id)
        }

        var template: [TemplatePiece] = []
        var special: [String: (ids: [Int], tokens: [String])] = [:]
        if addBOS, let bos = bosTokenId {
            template.append(.special("bos"))
            special["bos"] = ([bos], [tokens[bos]])
        }
        template.append(.sequenceA)
        if addEOS, let eos = eosTokenId {
            template.append(.special("eos"))
            special["eos"] = ([eos], [tokens[eos]])
        }
        self.init(source: source, normalizer: nil, preTokenizer: split, model: .bpe(bpe),
                  postProcessor: .template(single: template, special: special), decoder: .byteLevel,
                  addedTokens: addedTokens, bos: bosTokenId, eos: eosTokenId, pad: padTokenId, unk: unkTokenId,
                  truncationMaxLength: nil, modelMaxLength: nil)
    }
}

extension Tokenizers {
    /// The byte-level BPE tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata.
    ///
    /// ```swift
    /// let tok = try Tokenizers.load(gguf: GGUFFile(path: "SmolLM2-135M-Instruct.Q4_1.gguf"))
    /// tok.encode("The capital of France is", addSpecialTokens: true)   // [504, 3575, 282, 4649, 314]
    /// ```
    public static func load(gguf: GGUFFile) throws -> HuggingFaceTokenizer {
        let m = gguf.metadata
        guard let model = m["tokenizer.ggml.model"]?.string else {
            throw TokenizerError.missingKey(file: gguf.path, key: "tokenizer.ggml.model")
        }
        guard let tokens = m["tokenizer.ggml.tokens"]?.strings else {
            throw TokenizerError.missingKey(file: gguf.path, key: "tokenizer.ggml.tokens")
        }
        guard let merges = m["tokenizer.ggml.merges"]?.strings else {
            throw TokenizerError.missingKey(file: gguf.path, key: "tokenizer.ggml.merges")
        }
        return try HuggingFaceTokenizer(
            ggufTokens: tokens, merges: merges,
            tokenTypes: m["tokenizer.ggml.token_type"]?.ints ?? [],
            model: model,
            preTokenizer: m["tokenizer.ggml.pre"]?.string ?? "default",
            bosTokenId: m["tokenizer.ggml.bos_token_id"]?.int,
            eosTokenId: m["tokenizer.ggml.eos_token_id"]?.int,
            padTokenId: m["tokenizer.ggml.padding_token_id"]?.int,
            unkTokenId: m["tokenizer.ggml.unknown_token_id"]?.int,
            addBOS: m["tokenizer.ggml.add_bos_token"]?.bool ?? false,
            addEOS: m["tokenizer.ggml.add_eos_token"]?.bool ?? false,
            source: gguf.path)
    }
}
