import Foundation

/// A Hugging Face tokenizer pipeline: added tokens → normalizer → pre-tokenizer → model
/// (byte-level BPE, WordPiece or WordLevel) → post-processor, and a decoder for the way back.
/// Loaded from a `tokenizer.json`, or built from the tokenizer arrays of a GGUF file.
///
/// ```swift
/// let tok = try HuggingFaceTokenizer(tokenizerJSON: ".cache/assets/minilm/tokenizer.json")
/// tok.encode("Hello, world!", addSpecialTokens: true)   // [101, 7592, 1010, 2088, 999, 102]
/// ```
///
/// Thread-safe: the only mutable state is the per-word cache, behind a lock.
public final class HuggingFaceTokenizer: TextTokenizer, @unchecked Sendable {
    public let vocabularySize: Int
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    public let padTokenId: Int?
    public let unkTokenId: Int?
    /// `truncation.max_length` of the tokenizer.json, when it has one (all-MiniLM-L6-v2: 128).
    /// `encode` does not apply it (nor the file's fixed padding), like `AutoTokenizer`; pass it
    /// as `maxLength` to truncate the way the file says:
    ///
    /// ```swift
    /// let ids = tok.encode(text, addSpecialTokens: true, maxLength: tok.truncationMaxLength)
    /// ```
    public let truncationMaxLength: Int?
    /// `model_max_length` from tokenizer_config.json, when loaded from a folder that has one.
    public let modelMaxLength: Int?
    /// Where the tokenizer came from (a path or "GGUF metadata"), for messages.
    public let source: String

    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let model: TokenizerModel
    let postProcessor: PostProcessor?
    let decoder: Decoder?
    let added: AddedVocabulary

    private let cacheLock = NSLock()
    private var cache: [ExactString: [Int]] = [:]
    private static let cacheCapacity = 20_000
    private static let cacheMaxWordLength = 256

    init(source: String, normalizer: Normalizer?, preTokenizer: PreTokenizer?, model: TokenizerModel,
         postProcessor: PostProcessor?, decoder: Decoder?, addedTokens: [AddedToken],
         bos: Int?, eos: Int?, pad: Int?, unk: Int?, truncationMaxLength: Int?, modelMaxLength: Int?) {
        self.source = source
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        self.postProcessor = postProcessor
        self.decoder = decoder
        self.added = AddedVocabulary(addedTokens, normalizer: normalizer)
        self.bosTokenId = bos
        self.eosTokenId = eos
        self.padTokenId = pad
        self.unkTokenId = unk
        self.truncationMaxLength = truncationMaxLength
        self.modelMaxLength = modelMaxLength
        let vocab = model.vocab
        var count = vocab.count
        for (_, t) in added.byId where vocab[t.content] == nil { count += 1 }
        self.vocabularySize = count
    }

    // MARK: Encoding

    public func encode(_ text: String, addSpecialTokens: Bool, maxLength: Int?) -> [Int] {
        var ids = encodeContent(text, wantPieces: false).ids
        if let maxLength {
            let budget = max(0, maxLength - (addSpecialTokens ? postProcessor?.addedCount ?? 0 : 0))
            if ids.count > budget { ids.removeLast(ids.count - budget) }
        }
        if addSpecialTokens, let post = postProcessor {
            ids = post.apply(ids: ids, pieces: []).ids
        }
        return ids
    }

    public func encodeWithPieces(_ text: String, addSpecialTokens: Bool) -> (ids: [Int], pieces: [String]) {
        let content = encodeContent(text, wantPieces: true)
        if addSpecialTokens, let post = postProcessor {
            return post.apply(ids: content.ids, pieces: content.pieces)
        }
        return content
    }

    /// Ids (and optionally token strings) of the text, without the template.
    func encodeContent(_ text: String, wantPieces: Bool) -> (ids: [Int], pieces: [String]) {
        var ids: [Int] = []
        var pieces: [String] = []
        forEachWord(text) { addedId, word in
            if let addedId {
                ids.append(addedId)
                if wantPieces { pieces.append(String(String.UnicodeScalarView(word))) }
                return
            }
            let wordIds = tokenizeWord(word)
            ids += wordIds
            if wantPieces {
                for id in wordIds { pieces.append(model.token(forId: id) ?? "") }
            }
        }
        return (ids, pieces)
    }

    /// The pieces the model receives for `text`: added tokens as matched, everything else
    /// normalized and pre-tokenized (re-spelled in the byte alphabet for byte-level BPE), like
    /// Hugging Face's `pre_tokenizer.pre_tokenize_str` after the normalizer.
    ///
    /// ```swift
    /// tok.preTokenize("Hello  world!")   // ["Hello", "Ġ", "Ġworld", "!"] for GPT-2
    /// ```
    public func preTokenize(_ text: String) -> [String] {
        var out: [String] = []
        forEachWord(text) { _, word in out.append(String(String.UnicodeScalarView(word))) }
        return out
    }

    /// Added-token splitting, normalization and pre-tokenization; calls `body` with each
    /// added-token id (and its matched text) or each word for the model.
    private func forEachWord(_ text: String, _ body: (Int?, [Unicode.Scalar]) -> Void) {
        let scalars = Array(text.unicodeScalars)
        for segment in added.split(scalars, normalizedPass: false) {
            if let id = segment.id {
                body(id, Array(scalars[segment.range]))
                continue
            }
            var part = Array(scalars[segment.range])
            if let normalizer {
                part = Array(normalizer.apply(String(String.UnicodeScalarView(part))).unicodeScalars)
            }
            for sub in added.split(part, normalizedPass: true) {
                if let id = sub.id {
                    body(id, Array(part[sub.range]))
                    continue
                }
                let piece = Array(part[sub.range])
                for word in preTokenizer?.apply([piece]) ?? [piece] where !word.isEmpty {
                    body(nil, word)
                }
            }
        }
    }

    private func tokenizeWord(_ word: [Unicode.Scalar]) -> [Int] {
        if word.isEmpty { return [] }
        guard word.count <= Self.cacheMaxWordLength else { return model.tokenize(word) }
        let key = ExactString(String(String.UnicodeScalarView(word)))
        cacheLock.lock()
        let hit = cache[key]
        cacheLock.unlock()
        if let hit { return hit }
        let ids = model.tokenize(word)
        cacheLock.lock()
        if cache.count >= Self.cacheCapacity { cache.removeAll(keepingCapacity: true) }
        cache[key] = ids
        cacheLock.unlock()
        return ids
    }

    // MARK: Decoding and lookup

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard let t = added.content(forId: id) ?? model.token(forId: id) else { continue }
            if skipSpecialTokens && added.isSpecial(token: t) { continue }
            tokens.append(t)
        }
        if let decoder { return decoder.decode(tokens) }
        return tokens.joined(separator: " ")
    }

    public func id(forToken token: String) -> Int? {
        added.byContent[token] ?? model.vocab[token]
    }

    public func token(forId id: Int) -> String? {
        added.content(forId: id) ?? model.token(forId: id)
    }

    /// Number of tokens the post-processor adds to one sequence (e.g. 2 for `[CLS] $A [SEP]`).
    ///
    /// ```swift
    /// let room = 128 - tok.specialTokenCount   // content tokens that fit in 128
    /// ```
    public var specialTokenCount: Int { postProcessor?.addedCount ?? 0 }

    /// Added tokens flagged special, plus BOS/EOS/padding.
    public var specialTokenIds: Set<Int> {
        var ids = Set(added.byId.values.filter(\.special).map(\.id))
        for id in [bosTokenId, eosTokenId, padTokenId].compactMap({ $0 }) { ids.insert(id) }
        return ids
    }
}

// MARK: - Loading tokenizer.json

extension HuggingFaceTokenizer {
    /// Loads a Hugging Face `tokenizer.json`.
    ///
    /// ```swift
    /// let tok = try HuggingFaceTokenizer(tokenizerJSON: "Tests/Goldens/tokenizers/llama3-style/tokenizer.json")
    /// ```
    public convenience init(tokenizerJSON path: String) throws {
        try self.init(tokenizerJSON: path, config: SpecialTokenConfig())
    }

    convenience init(tokenizerJSON path: String, config: SpecialTokenConfig) throws {
        let root = try JSONFile.readObject(path)
        let j = JSONFile(file: path)
        let loader = PipelineLoader(j: j)
        let normalizer = try loader.normalizer(root["normalizer"], "normalizer")
        let preTokenizer = try loader.preTokenizer(root["pre_tokenizer"], "pre_tokenizer")
        let model = try loader.model(try j.object(root["model"], "model"), "model")
        let vocab = model.vocab
        var addedTokens: [AddedToken] = []
        if let list = root["added_tokens"], !(list is NSNull) {
            for (i, item) in try j.array(list, "added_tokens").enumerated() {
                let key = "added_tokens[\(i)]"
                let o = try j.object(item, key)
                let special = try j.bool(o["special"], key + ".special", default: false)
                addedTokens.append(AddedToken(
                    id: try j.int(o["id"], key + ".id"),
                    content: try j.string(o["content"], key + ".content"),
                    special: special,
                    lstrip: try j.bool(o["lstrip"], key + ".lstrip", default: false),
                    rstrip: try j.bool(o["rstrip"], key + ".rstrip", default: false),
                    singleWord: try j.bool(o["single_word"], key + ".single_word", default: false),
                    normalized: try j.bool(o["normalized"], key + ".normalized", default: !special)))
            }
        }
        let post = try loader.postProcessor(root["post_processor"], "post_processor", vocab: vocab, added: addedTokens)
        let decoder = try loader.decoder(root["decoder"], "decoder")
        var truncation: Int? = nil
        if let t = try j.optionalObject(root["truncation"], "truncation") {
            truncation = try j.optionalInt(t["max_length"], "truncation.max_length")
        }
        var filePad: Int? = nil
        if let p = try j.optionalObject(root["padding"], "padding") {
            filePad = try j.optionalInt(p["pad_id"], "padding.pad_id")
        }
        func lookup(_ name: String?) -> Int? {
            guard let name else { return nil }
            if let t = addedTokens.first(where: { $0.content == name }) { return t.id }
            return vocab[name]
        }
        var unk: Int? = lookup(config.unk)
        if unk == nil {
            switch model {
            case .bpe(let m): unk = m.unkId
            case .wordPiece(let m): unk = m.unkId
            case .wordLevel(let m): unk = m.unkId
            }
        }
        self.init(source: path, normalizer: normalizer, preTokenizer: preTokenizer, model: model,
                  postProcessor: post, decoder: decoder, addedTokens: addedTokens,
                  bos: lookup(config.bos), eos: lookup(config.eos), pad: lookup(config.pad) ?? filePad, unk: unk,
                  truncationMaxLength: truncation, modelMaxLength: config.modelMaxLength)
    }
}

/// Builds pipeline components from tokenizer.json objects.
struct PipelineLoader {
    let j: JSONFile

    private func type(_ o: [String: Any], _ key: String) throws -> String {
        try j.string(o["type"], key + ".type")
    }

    func model(_ o: [String: Any], _ key: String) throws -> TokenizerModel {
        var kind = try j.optionalString(o["type"], key + ".type")
        if kind == nil {
            // Older files omit the type: infer it from the fields.
            if o["merges"] != nil { kind = "BPE" } else if o["continuing_subword_prefix"] != nil { kind = "WordPiece" } else { kind = "WordLevel" }
        }
        guard TokenizerModel.supportedTypes.contains(kind!) else {
            throw TokenizerError.unsupportedType(file: j.file, component: key, type: kind!, supported: TokenizerModel.supportedTypes)
        }
        let vocabObject = try j.object(o["vocab"], key + ".vocab")
        var pairs: [(String, Int)] = []
        pairs.reserveCapacity(vocabObject.count)
        for (t, v) in vocabObject {
            guard let id = JSONFile.asInt(v) else { throw j.invalid("\(key).vocab['\(t)']", v, "an integer id") }
            pairs.append((t, id))
        }
        let vocab = VocabTable(pairs)
        switch kind! {
        case "BPE":
            if try j.bool(o["byte_fallback"], key + ".byte_fallback", default: false) {
                throw TokenizerError.invalidValue(file: j.file, key: key + ".byte_fallback", value: "true",
                                                  expected: "false (byte-fallback BPE, as in SentencePiece conversions, is not supported)")
            }
            var merges: [(String, String)] = []
            let list = try j.array(o["merges"], key + ".merges")
            merges.reserveCapacity(list.count)
            for (i, item) in list.enumerated() {
                if let s = item as? String {
                    let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                    guard parts.count == 2 else { throw j.invalid("\(key).merges[\(i)]", item, "\"left right\" (two tokens separated by one space)") }
                    merges.append((String(parts[0]), String(parts[1])))
                } else if let a = item as? [Any], a.count == 2, let l = a[0] as? String, let r = a[1] as? String {
                    merges.append((l, r))
                } else {
                    throw j.invalid("\(key).merges[\(i)]", item, "\"left right\" or [\"left\", \"right\"]")
                }
            }
            return .bpe(try BPEModel(
                vocab: vocab, merges: merges,
                unkToken: try j.optionalString(o["unk_token"], key + ".unk_token"),
                continuingSubwordPrefix: try j.optionalString(o["continuing_subword_prefix"], key + ".continuing_subword_prefix"),
                endOfWordSuffix: try j.optionalString(o["end_of_word_suffix"], key + ".end_of_word_suffix"),
                fuseUnk: try j.bool(o["fuse_unk"], key + ".fuse_unk", default: false),
                ignoreMerges: try j.bool(o["ignore_merges"], key + ".ignore_merges", default: false),
                file: j.file))
        case "WordPiece":
            return .wordPiece(try WordPieceModel(
                vocab: vocab,
                unkToken: try j.optionalString(o["unk_token"], key + ".unk_token") ?? "[UNK]",
                prefix: try j.optionalString(o["continuing_subword_prefix"], key + ".continuing_subword_prefix") ?? "##",
                maxInputCharsPerWord: try j.optionalInt(o["max_input_chars_per_word"], key + ".max_input_chars_per_word") ?? 100,
                file: j.file))
        case "WordLevel":
            return .wordLevel(WordLevelModel(vocab: vocab, unkToken: try j.optionalString(o["unk_token"], key + ".unk_token")))
        default:
            throw TokenizerError.unsupportedType(file: j.file, component: key, type: kind!, supported: TokenizerModel.supportedTypes)
        }
    }

    func normalizer(_ value: Any?, _ key: String) throws -> Normalizer? {
        guard let o = try j.optionalObject(value, key) else { return nil }
        let t = try type(o, key)
        switch t {
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "StripAccents": return .stripAccents
        case "Strip":
            return .strip(left: try j.bool(o["strip_left"], key + ".strip_left", default: true),
                          right: try j.bool(o["strip_right"], key + ".strip_right", default: true))
        case "Prepend":
            return .prepend(try j.string(o["prepend"], key + ".prepend"))
        case "Replace":
            return .replace(try replacePattern(o["pattern"], key + ".pattern"), try j.string(o["content"], key + ".content"))
        case "BertNormalizer":
            let lowercase = try j.bool(o["lowercase"], key + ".lowercase", default: true)
            return .bert(cleanText: try j.bool(o["clean_text"], key + ".clean_text", default: true),
                         handleChineseChars: try j.bool(o["handle_chinese_chars"], key + ".handle_chinese_chars", default: true),
                         stripAccents: try j.optionalBool(o["strip_accents"], key + ".strip_accents") ?? lowercase,
                         lowercase: lowercase)
        case "Sequence":
            let list = try j.array(o["normalizers"], key + ".normalizers")
            return .sequence(try list.enumerated().compactMap { try normalizer($1, "\(key).normalizers[\($0)]") })
        default:
            throw TokenizerError.unsupportedType(file: j.file, component: key, type: t, supported: Normalizer.supportedTypes)
        }
    }

    private func replacePattern(_ value: Any?, _ key: String) throws -> ReplacePattern {
        let o = try j.object(value, key)
        if let s = o["String"] { return .literal(try j.string(s, key + ".String")) }
        if let r = o["Regex"] { return .regex(try compile(try j.string(r, key + ".Regex"), key + ".Regex")) }
        throw j.invalid(key, o, "{\"String\": …} or {\"Regex\": …}")
    }

    private func compile(_ pattern: String, _ key: String) throws -> NSRegularExpression {
        do {
            return try NSRegularExpression(pattern: pattern, options: [])
        } catch {
            throw TokenizerError.invalidValue(file: j.file, key: key, value: "'\(pattern)'",
                                              expected: "a regular expression ICU can compile")
        }
    }

    private func splitMatcher(_ value: Any?, _ key: String) throws -> SplitMatcher {
        let o = try j.object(value, key)
        if let s = o["String"] {
            return .literal(Array(try j.string(s, key + ".String").unicodeScalars))
        }
        if let r = o["Regex"] {
            let pattern = try j.string(r, key + ".Regex")
            switch pattern {
            case KnownPatterns.gpt2: return .gpt2
            case KnownPatterns.llama3: return .llama3(maxDigits: 3)
            case KnownPatterns.qwen2: return .llama3(maxDigits: 1)
            default: return .regex(try compile(pattern, key + ".Regex"))
            }
        }
        throw j.invalid(key, o, "{\"String\": …} or {\"Regex\": …}")
    }

    private func behavior(_ value: Any?, _ key: String, default fallback: SplitBehavior) throws -> SplitBehavior {
        guard let s = try j.optionalString(value, key) else { return fallback }
        guard let b = SplitBehavior(rawValue: s) else {
            throw TokenizerError.invalidValue(file: j.file, key: key, value: "'\(s)'", expected: "one of " + SplitBehavior.all.joined(separator: ", "))
        }
        return b
    }

    func preTokenizer(_ value: Any?, _ key: String) throws -> PreTokenizer? {
        guard let o = try j.optionalObject(value, key) else { return nil }
        let t = try type(o, key)
        switch t {
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: try j.bool(o["add_prefix_space"], key + ".add_prefix_space", default: true),
                              useRegex: try j.bool(o["use_regex"], key + ".use_regex", default: true))
        case "Split":
            return .split(try splitMatcher(o["pattern"], key + ".pattern"),
                          try behavior(o["behavior"], key + ".behavior", default: .isolated),
                          invert: try j.bool(o["invert"], key + ".invert", default: false))
        case "Digits":
            return .digits(individual: try j.bool(o["individual_digits"], key + ".individual_digits", default: false))
        case "BertPreTokenizer": return .bert
        case "Whitespace": return .whitespace
        case "WhitespaceSplit": return .whitespaceSplit
        case "Punctuation":
            return .punctuation(try behavior(o["behavior"], key + ".behavior", default: .isolated))
        case "Sequence":
            let list = try j.array(o["pretokenizers"], key + ".pretokenizers")
            return .sequence(try list.enumerated().compactMap { try preTokenizer($1, "\(key).pretokenizers[\($0)]") })
        default:
            throw TokenizerError.unsupportedType(file: j.file, component: key, type: t, supported: PreTokenizer.supportedTypes)
        }
    }

    func postProcessor(_ value: Any?, _ key: String, vocab: VocabTable, added: [AddedToken]) throws -> PostProcessor? {
        guard let o = try j.optionalObject(value, key) else { return nil }
        let t = try type(o, key)
        func tokenPair(_ v: Any?, _ k: String) throws -> (token: String, id: Int) {
            let a = try j.array(v, k)
            guard a.count == 2, let s = a[0] as? String, let id = JSONFile.asInt(a[1]) else {
                throw j.invalid(k, a, "[\"token\", id]")
            }
            return (s, id)
        }
        switch t {
        case "TemplateProcessing":
            var special: [String: (ids: [Int], tokens: [String])] = [:]
            if let map = try j.optionalObject(o["special_tokens"], key + ".special_tokens") {
                for (name, entry) in map {
                    let k = "\(key).special_tokens['\(name)']"
                    let e = try j.object(entry, k)
                    let ids = try j.array(e["ids"], k + ".ids").map { v -> Int in
                        guard let i = JSONFile.asInt(v) else { throw j.invalid(k + ".ids", v, "an integer id") }
                        return i
                    }
                    let tokens = try j.array(e["tokens"], k + ".tokens").map { try j.string($0, k + ".tokens") }
                    special[name] = (ids, tokens)
                }
            }
            let single = try templatePieces(o["single"], key + ".single")
            for p in single {
                if case .special(let name) = p, special[name] == nil {
                    throw TokenizerError.invalidValue(file: j.file, key: key + ".special_tokens", value: "(no '\(name)')",
                                                      expected: "an entry for every special token the template uses")
                }
            }
            return .template(single: single, special: special)
        case "BertProcessing", "RobertaProcessing":
            return .wrap(prefix: try tokenPair(o["cls"], key + ".cls"), suffix: try tokenPair(o["sep"], key + ".sep"))
        case "ByteLevel":
            return .identity
        case "Sequence":
            let list = try j.array(o["processors"], key + ".processors")
            return .sequence(try list.enumerated().compactMap {
                try postProcessor($1, "\(key).processors[\($0)]", vocab: vocab, added: added)
            })
        default:
            throw TokenizerError.unsupportedType(file: j.file, component: key, type: t, supported: PostProcessor.supportedTypes)
        }
    }

    /// Template pieces, in the serialized form (`[{"SpecialToken": {"id": …}}, {"Sequence": {"id": "A"}}]`)
    /// or the string form (`"[CLS] $A [SEP]"`, `"$0"`, `"<s>:0 $A:0"`).
    private func templatePieces(_ value: Any?, _ key: String) throws -> [TemplatePiece] {
        if let s = value as? String {
            return try s.split(separator: " ").map { try piece(fromString: String($0), key) }
        }
        let list = try j.array(value, key)
        return try list.enumerated().map { i, item in
            let k = "\(key)[\(i)]"
            if let s = item as? String { return try piece(fromString: s, k) }
            let o = try j.object(item, k)
            if let st = o["SpecialToken"] {
                return .special(try j.string(try j.object(st, k + ".SpecialToken")["id"], k + ".SpecialToken.id"))
            }
            if let sq = o["Sequence"] {
                let id = try j.string(try j.object(sq, k + ".Sequence")["id"], k + ".Sequence.id")
                return id == "B" ? .sequenceB : .sequenceA
            }
            throw j.invalid(k, o, "{\"SpecialToken\": …} or {\"Sequence\": …}")
        }
    }

    private func piece(fromString s: String, _ key: String) throws -> TemplatePiece {
        let name = s.split(separator: ":", maxSplits: 1).first.map(String.init) ?? s
        if name.hasPrefix("$") {
            let rest = name.dropFirst()
            return rest == "B" || rest == "1" ? .sequenceB : .sequenceA
        }
        return .special(name)
    }

    func decoder(_ value: Any?, _ key: String) throws -> Decoder? {
        guard let o = try j.optionalObject(value, key) else { return nil }
        let t = try type(o, key)
        switch t {
        case "ByteLevel": return .byteLevel
        case "WordPiece":
            return .wordPiece(prefix: try j.optionalString(o["prefix"], key + ".prefix") ?? "##",
                              cleanup: try j.bool(o["cleanup"], key + ".cleanup", default: true))
        case "BPEDecoder":
            return .bpe(suffix: try j.optionalString(o["suffix"], key + ".suffix") ?? "</w>")
        case "Replace":
            let matcher: SplitMatcher
            switch try replacePattern(o["pattern"], key + ".pattern") {
            case .literal(let s): matcher = .literal(Array(s.unicodeScalars))
            case .regex(let re): matcher = .regex(re)
            }
            return .replace(matcher, try j.string(o["content"], key + ".content"))
        case "Fuse": return .fuse
        case "Strip":
            let content = try j.string(o["content"], key + ".content")
            guard content.unicodeScalars.count == 1 else { throw j.invalid(key + ".content", content, "one character") }
            return .strip(content: content.unicodeScalars.first!,
                          start: try j.optionalInt(o["start"], key + ".start") ?? 0,
                          stop: try j.optionalInt(o["stop"], key + ".stop") ?? 0)
        case "ByteFallback": return .byteFallback
        case "Sequence":
            let list = try j.array(o["decoders"], key + ".decoders")
            return .sequence(try list.enumerated().compactMap { try decoder($1, "\(key).decoders[\($0)]") })
        default:
            throw TokenizerError.unsupportedType(file: j.file, component: key, type: t, supported: Decoder.supportedTypes)
        }
    }
}
