import Foundation
import Testing
import Tokenizers

/// Typed load errors name the file and the offending key or type.
@Suite struct ErrorTests {
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-errors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    func write(_ name: String, json: [String: Any]) throws -> String {
        let url = dir.appendingPathComponent(name)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return url.path
    }

    /// A valid minimal byte-level BPE tokenizer.json, with parts replaced.
    func tokenizerJSON(model: [String: Any]? = nil, preTokenizer: Any? = nil, normalizer: Any? = nil) -> [String: Any] {
        [
            "version": "1.0",
            "added_tokens": [["id": 3, "content": "<s>", "special": true, "lstrip": false, "rstrip": false,
                              "single_word": false, "normalized": false]],
            "normalizer": normalizer ?? NSNull(),
            "pre_tokenizer": preTokenizer ?? ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
            "post_processor": NSNull(),
            "decoder": ["type": "ByteLevel"],
            "model": model ?? ["type": "BPE", "vocab": ["a": 0, "b": 1, "ab": 2, "<s>": 3], "merges": ["a b"],
                               "ignore_merges": false],
        ]
    }

    @Test func minimalTokenizerLoads() throws {
        let tok = try Tokenizers.load(tokenizerJSON: try write("ok.json", json: tokenizerJSON()))
        #expect(tok.encode("ab<s>ba", addSpecialTokens: true) == [2, 3, 1, 0])
        #expect(tok.decode([2, 3, 1, 0], skipSpecialTokens: true) == "abba")
    }

    @Test func missingTokenizerJSON() throws {
        let path = dir.appendingPathComponent("absent/tokenizer.json").path
        #expect(throws: TokenizerError.fileNotFound(file: path)) { try Tokenizers.load(tokenizerJSON: path) }
        #expect(throws: TokenizerError.fileNotFound(file: path)) { try Tokenizers.load(folder: dir.appendingPathComponent("absent").path) }
        #expect(TokenizerError.fileNotFound(file: path).description.contains(path))
    }

    @Test func badJSON() throws {
        let path = try write("bad.json", "{\"model\": {\"type\": \"BPE\", ")
        let error = try #require(throws: TokenizerError.self) { try Tokenizers.load(tokenizerJSON: path) }
        guard case .invalidJSON(let file, _) = error else { Issue.record("expected invalidJSON, got \(error)"); return }
        #expect(file == path)
        #expect(error.description.contains(path))
    }

    @Test func unknownModelType() throws {
        let path = try write("unigram.json", json: tokenizerJSON(model: ["type": "Unigram", "vocab": [["a", 0.0]]]))
        let error = try #require(throws: TokenizerError.self) { try Tokenizers.load(tokenizerJSON: path) }
        #expect(error == .unsupportedType(file: path, component: "model", type: "Unigram", supported: ["BPE", "WordPiece", "WordLevel"]))
        #expect(error.description.contains("Unigram") && error.description.contains(path))
    }

    @Test func unknownPreTokenizer() throws {
        let nested: [String: Any] = ["type": "Sequence", "pretokenizers": [["type": "Metaspace", "replacement": "▁"]]]
        let path = try write("metaspace.json", json: tokenizerJSON(preTokenizer: nested))
        let error = try #require(throws: TokenizerError.self) { try Tokenizers.load(tokenizerJSON: path) }
        guard case .unsupportedType(let file, let component, let type, let supported) = error else {
            Issue.record("expected unsupportedType, got \(error)"); return
        }
        #expect(file == path && component == "pre_tokenizer.pretokenizers[0]" && type == "Metaspace")
        #expect(supported.contains("ByteLevel") && supported.contains("Split"))
    }

    @Test func unknownNormalizer() throws {
        let path = try write("precompiled.json", json: tokenizerJSON(normalizer: ["type": "Precompiled", "precompiled_charsmap": ""]))
        let error = try #require(throws: TokenizerError.self) { try Tokenizers.load(tokenizerJSON: path) }
        guard case .unsupportedType(_, "normalizer", "Precompiled", _) = error else { Issue.record("got \(error)"); return }
    }

    @Test func mergeWithUnknownToken() throws {
        let model: [String: Any] = ["type": "BPE", "vocab": ["a": 0, "b": 1], "merges": ["a c"]]
        let path = try write("merge.json", json: tokenizerJSON(model: model))
        let error = try #require(throws: TokenizerError.self) { try Tokenizers.load(tokenizerJSON: path) }
        guard case .invalidVocabulary(let file, let detail) = error else { Issue.record("got \(error)"); return }
        #expect(file == path && detail.contains("'c'"))
    }

    @Test func wrongValueKind() throws {
        let model: [String: Any] = ["type": "BPE", "vocab": ["a": 0], "merges": [], "ignore_merges": "yes"]
        let path = try write("kind.json", json: tokenizerJSON(model: model))
        let error = try #require(throws: TokenizerError.self) { try Tokenizers.load(tokenizerJSON: path) }
        guard case .invalidValue(_, "model.ignore_merges", _, _) = error else { Issue.record("got \(error)"); return }
    }

    @Test func corruptGzipVocabulary() throws {
        // A gzip header followed by garbage.
        let url = dir.appendingPathComponent("bpe_simple_vocab_16e6.txt.gz")
        try Data([0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02]).write(to: url)
        let error = try #require(throws: TokenizerError.self) { try Tokenizers.clip(vocabPath: url.path) }
        guard case .invalidVocabulary(let file, _) = error else { Issue.record("expected invalidVocabulary, got \(error)"); return }
        #expect(file == url.path)
        // A real vocabulary cut in half is also reported, not silently accepted.
        let real = try Data(contentsOf: URL(fileURLWithPath: try requireAsset("openclip-vocab/bpe_simple_vocab_16e6.txt.gz")))
        let cut = dir.appendingPathComponent("cut.txt.gz")
        try real.prefix(real.count / 2).write(to: cut)
        let error2 = try #require(throws: TokenizerError.self) { try Tokenizers.clip(vocabPath: cut.path) }
        guard case .invalidVocabulary = error2 else { Issue.record("expected invalidVocabulary, got \(error2)"); return }
    }

    @Test func missingCLIPVocabulary() throws {
        let path = dir.appendingPathComponent("none.txt.gz").path
        #expect(throws: TokenizerError.fileNotFound(file: path)) { try Tokenizers.clip(vocabPath: path) }
    }

    @Test func unknownGGUFPreTokenizer() throws {
        let error = try #require(throws: TokenizerError.self) {
            try HuggingFaceTokenizer(ggufTokens: ["a", "b", "ab"], merges: ["a b"], tokenTypes: [1, 1, 1],
                                     preTokenizer: "mystery-pre", source: "model.gguf")
        }
        guard case .unsupportedType("model.gguf", "tokenizer.ggml.pre", "mystery-pre", let supported) = error else {
            Issue.record("got \(error)"); return
        }
        #expect(supported.contains("smollm") && supported.contains("llama-bpe"))
        #expect(error.description.contains("smollm"))
        #expect(throws: TokenizerError.self) {
            try HuggingFaceTokenizer(ggufTokens: ["a"], merges: [], tokenTypes: [1], model: "llama", preTokenizer: "default")
        }
    }
}
