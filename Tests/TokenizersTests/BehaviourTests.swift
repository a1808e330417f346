import Foundation
import Testing
import Tokenizers

@Suite struct CLIPBehaviourTests {
    func clip() throws -> CLIPTokenizer {
        try Tokenizers.clip(vocabPath: try requireAsset("openclip-vocab/bpe_simple_vocab_16e6.txt.gz"))
    }

    @Test func longInputIsCutTo77WithEndOfTextLast() throws {
        let tok = try clip()
        let text = Array(repeating: "a photo of a small brown dog running on the beach,", count: 20).joined(separator: " ")
        let raw = tok.encode(text)
        #expect(raw.count > 200)
        let row = tok([text])[0]
        #expect(row.count == 77)
        #expect(row[0] == 49406)
        #expect(row[76] == 49407)
        #expect(Array(row[1..<76]) == Array(raw[0..<75]))
        #expect(tok.encode(text, addSpecialTokens: true, maxLength: 77) == row)
    }

    @Test func shortInputIsZeroPadded() throws {
        let tok = try clip()
        let row = tok(["a photo of a cat"])[0]
        #expect(Array(row[0..<7]) == [49406, 320, 1125, 539, 320, 2368, 49407])
        #expect(row[7...].allSatisfy { $0 == 0 })
        #expect(tok.decode(tok.encode("a photo of a cat"), skipSpecialTokens: true) == "a photo of a cat ")
    }

    @Test func cleaningFollowsOpenCLIP() throws {
        let tok = try clip()
        // html.unescape, whitespace collapse and lower-casing happen before splitting.
        #expect(tok.encode("  A   PHOTO &amp;\tTHE\nCAT  ") == tok.encode("a photo & the cat"))
        #expect(tok.encode("\u{201C}quoted\u{201D}") == tok.encode("\"quoted\""))
    }
}

@Suite struct BatchTests {
    @Test func paddingAndTruncationOnBothSides() throws {
        let tok = try Tokenizers.load(tokenizerJSON: TestPaths.golden("llama3-style/tokenizer.json"))
        let texts = ["a", "a photo of a cat sitting on a table"]
        let long = tok.encode(texts[1], addSpecialTokens: true)
        let right = tok.encodeBatch(texts, paddingSide: .right, padId: 1)
        #expect(right.ids[1] == long)
        #expect(right.ids[0].count == long.count && right.ids[0].suffix(long.count - 2).allSatisfy { $0 == 1 })
        #expect(right.attentionMask[0] == [1, 1] + [Int](repeating: 0, count: long.count - 2))
        let left = tok.encodeBatch(texts, paddingSide: .left, maxLength: 4, padId: 1)
        #expect(left.ids[1] == Array(long.prefix(4)))
        #expect(left.ids[0] == [1, 1] + tok.encode("a", addSpecialTokens: true))
        #expect(left.attentionMask[0] == [0, 0, 1, 1])
        let fixed = tok.encodeBatch(texts, padding: .toLength(20), padId: 1)
        #expect(fixed.ids.allSatisfy { $0.count == max(20, long.count) || $0.count == 20 })
        let ragged = tok.encodeBatch(texts, padding: .none)
        #expect(ragged.ids[0].count == 2 && ragged.attentionMask[0] == [1, 1])
    }

    @Test func truncationKeepsTemplateTokens() throws {
        let tok = try Tokenizers.load(tokenizerJSON: TestPaths.golden("llama3-style/tokenizer.json"))
        let bos = try #require(tok.id(forToken: "<|begin_of_text|>"))
        let ids = tok.encode("one two three four five six seven", addSpecialTokens: true, maxLength: 3)
        #expect(ids.count == 3 && ids[0] == bos)
        #expect(Array(ids[1...]) == Array(tok.encode("one two three four five six seven", addSpecialTokens: false).prefix(2)))
    }
}

@Suite struct PreTokenizerTests {
    /// Writes a tokenizer.json whose only job is pre-tokenization (WordLevel model, empty vocab).
    func splitter(pattern: String, behavior: String = "Isolated", dir: URL) throws -> HuggingFaceTokenizer {
        let json: [String: Any] = [
            "version": "1.0", "added_tokens": [], "normalizer": NSNull(), "post_processor": NSNull(), "decoder": NSNull(),
            "pre_tokenizer": ["type": "Split", "pattern": ["Regex": pattern], "behavior": behavior, "invert": false],
            "model": ["type": "WordLevel", "vocab": [String: Int](), "unk_token": NSNull()],
        ]
        let url = dir.appendingPathComponent(UUID().uuidString + ".json")
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return try Tokenizers.load(tokenizerJSON: url.path)
    }

    /// Deterministic pseudo-random strings over the characters that matter to the regexes.
    func randomStrings(count: Int, seed: UInt64) -> [String] {
        let alphabet: [String] = ["a", "b", "Z", "é", "ß", "Ж", "東", "ア", "1", "7", "٣", "²", "½", " ", " ", " ", "  ",
                                  "\t", "\n", "\r", "\r\n", "\u{A0}", "\u{3000}", "'", "'s", "'T", "'re", "'LL", "'ve",
                                  "'m", "'d", "!", "?", ".", ",", "-", "(", "😀", "\u{301}", "\u{200D}", "#", "ſ"]
        var state = seed
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        return (0..<count).map { _ in
            (0..<Int(next() % 24)).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] }.joined()
        }
    }

    /// The hand-written GPT-2 and Llama-3 matchers split exactly like the same regex run by ICU.
    @Test(arguments: [
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#,
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
    ])
    func handWrittenMatcherEqualsRegex(pattern: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fast = try splitter(pattern: pattern, dir: dir)
        let icu = try splitter(pattern: "(?:" + pattern + ")", dir: dir)  // not recognised → NSRegularExpression
        var mismatches = 0
        for s in randomStrings(count: 3000, seed: 42) {
            let a = fast.preTokenize(s), b = icu.preTokenize(s)
            if a.count != b.count || !zip(a, b).allSatisfy(sameBytes) {
                mismatches += 1
                if mismatches <= 5 { Issue.record("'\(shown(s))': hand-written \(a.map(shown)) vs ICU \(b.map(shown))") }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func llama3SplitExamples() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let tok = try splitter(pattern: #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#, dir: dir)
        // Expected values from tokenizers 0.23.3 (Oniguruma).
        #expect(tok.preTokenize("it'ſ X'S 'Ll") == ["it", "'ſ", " X", "'S", " '", "Ll"])
        #expect(tok.preTokenize("a \n\n  b\r\n\t c  ") == ["a", " \n\n", " ", " b", "\r\n", "\t", " c", "  "])
        #expect(tok.preTokenize("12345 x²½") == ["123", "45", " x", "²½"])
        #expect(tok.preTokenize("hi!!\n\nthere") == ["hi", "!!\n\n", "there"])
    }
}
