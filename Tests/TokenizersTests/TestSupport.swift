import Foundation
import Testing
import Tokenizers

/// Paths relative to the package root (found from this file's location).
enum TestPaths {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let goldens = packageRoot.appendingPathComponent("Tests/Goldens/tokenizers")
    static let assets = packageRoot.appendingPathComponent(".cache/assets")

    static func golden(_ name: String) -> String { goldens.appendingPathComponent(name).path }
}

/// A test input that is not on disk.
struct MissingTestFile: Error, CustomStringConvertible {
    let path: String
    let hint: String
    var description: String { "missing \(path): \(hint)" }
}

/// Path of a real asset under .cache/assets; fails the test with what to run when it is absent.
func requireAsset(_ relative: String) throws -> String {
    let path = TestPaths.assets.appendingPathComponent(relative).path
    guard FileManager.default.fileExists(atPath: path) else {
        throw MissingTestFile(path: path, hint: "run `bash scripts/assets.sh` to install the test assets")
    }
    return path
}

func requireGolden(_ name: String) throws -> Data {
    let path = TestPaths.golden(name)
    guard let data = FileManager.default.contents(atPath: path) else {
        throw MissingTestFile(path: path, hint: "regenerate with `source scripts/python-env.sh && python3 scripts/make_goldens_tokenizers.py`")
    }
    return data
}

// MARK: Golden file shapes (written by scripts/make_goldens_tokenizers.py)

struct Corpus: Decodable {
    let strings: [String]
    static func load() throws -> [String] { try JSONDecoder().decode(Corpus.self, from: requireGolden("corpus.json")).strings }
}

struct HFGolden: Decodable {
    struct Case: Decodable {
        let index: Int
        let ids: [Int]
        let ids_special: [Int]
        let pieces_special: [String]
        let decode: String
        let decode_skip_special: String
        /// SmolLM2 only: ids with `tokenizer.ggml.pre = smollm` read as llama.cpp does (digits split).
        let ids_digit_split: [Int]?
    }
    struct Batch: Decodable {
        let name: String
        let indices: [Int]
        let add_special_tokens: Bool
        let padding_side: String
        let max_length: Int?
        let ids: [[Int]]
        let attention_mask: [[Int]]
    }
    let tokenizer: String
    /// Inputs of files that do not use corpus.json (the pipeline variants).
    let strings: [String]?
    let cases: [Case]
    let batches: [Batch]
    let pad_id: Int?
    let vocab_size: Int

    static func load(_ name: String) throws -> HFGolden { try JSONDecoder().decode(HFGolden.self, from: requireGolden(name)) }
}

struct CLIPGolden: Decodable {
    struct Case: Decodable {
        let index: Int
        let ids: [Int]
        let context77: [Int]
        let decode: String
    }
    struct Context16: Decodable {
        let indices: [Int]
        let ids: [[Int]]
    }
    let cases: [Case]
    let context16: Context16
    let vocab_size: Int
    let sot_id: Int
    let eot_id: Int

    static func load() throws -> CLIPGolden { try JSONDecoder().decode(CLIPGolden.self, from: requireGolden("clip.json")) }
}

/// Byte-exact string equality (Swift's `==` treats canonically equivalent strings as equal).
func sameBytes(_ a: String, _ b: String) -> Bool { Array(a.utf8) == Array(b.utf8) }

/// A printable form of a corpus string for messages.
func shown(_ s: String) -> String {
    let escaped = s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
    return escaped.count > 70 ? String(escaped.prefix(70)) + "…" : escaped
}

/// Compares a tokenizer with a Hugging Face golden file, recording one issue per mismatch.
/// Returns the number of mismatching checks.
/// `override` replaces the expected ids of a case (with and without specials); its pieces are
/// then not compared.
@discardableResult
func checkHFParity(_ tok: some TextTokenizer, _ golden: HFGolden, corpus: [String],
                   override: (HFGolden.Case) -> (ids: [Int], idsSpecial: [Int])? = { _ in nil },
                   sourceLocation: SourceLocation = #_sourceLocation) -> Int {
    var failures = 0
    func fail(_ message: String) {
        failures += 1
        if failures <= 25 { Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation) }
    }
    for c in golden.cases {
        let text = corpus[c.index]
        let replaced = override(c)
        let expectedIds = replaced?.ids ?? c.ids
        let expectedSpecial = replaced?.idsSpecial ?? c.ids_special
        let plain = tok.encode(text, addSpecialTokens: false)
        if plain != expectedIds { fail("\(golden.tokenizer) #\(c.index) '\(shown(text))' ids\n  got      \(plain.prefix(40))\n  expected \(expectedIds.prefix(40))") }
        let (special, pieces) = tok.encodeWithPieces(text, addSpecialTokens: true)
        if special != expectedSpecial { fail("\(golden.tokenizer) #\(c.index) '\(shown(text))' ids with specials\n  got      \(special.prefix(40))\n  expected \(expectedSpecial.prefix(40))") }
        if tok.encode(text, addSpecialTokens: true) != expectedSpecial { fail("\(golden.tokenizer) #\(c.index) encode != encodeWithPieces ids") }
        if replaced == nil && (!zip(pieces, c.pieces_special).allSatisfy({ sameBytes($0, $1) }) || pieces.count != c.pieces_special.count) {
            fail("\(golden.tokenizer) #\(c.index) '\(shown(text))' pieces\n  got      \(pieces.prefix(20))\n  expected \(c.pieces_special.prefix(20))")
        }
        let decoded = tok.decode(c.ids_special, skipSpecialTokens: false)
        if !sameBytes(decoded, c.decode) { fail("\(golden.tokenizer) #\(c.index) decode\n  got      '\(shown(decoded))'\n  expected '\(shown(c.decode))'") }
        let skipped = tok.decode(c.ids_special, skipSpecialTokens: true)
        if !sameBytes(skipped, c.decode_skip_special) { fail("\(golden.tokenizer) #\(c.index) decode skipping specials\n  got      '\(shown(skipped))'\n  expected '\(shown(c.decode_skip_special))'") }
    }
    for b in golden.batches {
        let batch = tok.encodeBatch(b.indices.map { corpus[$0] }, addSpecialTokens: b.add_special_tokens, padding: .longest,
                                    paddingSide: b.padding_side == "left" ? .left : .right, maxLength: b.max_length,
                                    padId: golden.pad_id)
        if batch.ids != b.ids { fail("\(golden.tokenizer) batch \(b.name) ids\n  got      \(batch.ids)\n  expected \(b.ids)") }
        if batch.attentionMask != b.attention_mask { fail("\(golden.tokenizer) batch \(b.name) attention mask\n  got      \(batch.attentionMask)\n  expected \(b.attention_mask)") }
    }
    return failures
}
