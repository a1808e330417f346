import Formats
import Foundation

/// OpenAI CLIP's BPE tokenizer, as open_clip's `SimpleTokenizer` (open_clip_torch 3.2.0)
/// implements it: text cleaned (ftfy-style fixes, HTML unescape, whitespace collapse,
/// lower-case), split with CLIP's regex, byte-level BPE with a `</w>` end-of-word marker,
/// `<start_of_text>` (49406) and `<end_of_text>` (49407) around each text, and a 77-token
/// context that is zero-padded, or truncated with the last token forced to `<end_of_text>`.
///
/// ```swift
/// let clip = try CLIPTokenizer(vocabPath: ".cache/assets/openclip-vocab/bpe_simple_vocab_16e6.txt.gz")
/// clip.encode("a photo of a cat")          // [320, 1125, 539, 320, 2368]
/// let rows = clip(["a photo of a cat"])     // [[49406, 320, 1125, 539, 320, 2368, 49407, 0, …]] (77 wide)
/// ```
///
/// Thread-safe: the only mutable state is the per-word cache, behind a lock.
public final class CLIPTokenizer: TextTokenizer, @unchecked Sendable {
    public static let defaultContextLength = 77
    public static let startOfText = "<start_of_text>"
    public static let endOfText = "<end_of_text>"

    public let vocabularySize: Int
    /// `<start_of_text>`.
    public let startOfTextId: Int
    /// `<end_of_text>`.
    public let endOfTextId: Int
    public var bosTokenId: Int? { startOfTextId }
    public var eosTokenId: Int? { endOfTextId }
    /// open_clip pads with zeros (id 0 is the token "!"); the models locate the end of the text
    /// by the `<end_of_text>` id, not by the padding.
    public var padTokenId: Int? { 0 }

    private let encoder: VocabTable
    private let decoder: [Int: String]
    private let merges: [UInt64: BPEModel.MergeEntry]
    private let cacheLock = NSLock()
    private var cache: [ExactString: [Int]] = [:]
    private static let cacheCapacity = 50_000

    /// Reads `bpe_simple_vocab_16e6.txt.gz` (gzip or plain text).
    public init(vocabPath: String) throws {
        let data: Data
        do {
            data = try Gzip.readMaybeCompressed(path: vocabPath)
        } catch let error as CompressionError {
            throw TokenizerError.invalidVocabulary(file: vocabPath, detail: error.description)
        } catch {
            throw TokenizerError.fileNotFound(file: vocabPath)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokenizerError.invalidVocabulary(file: vocabPath, detail: "the merges text is not UTF-8")
        }
        // Line 0 is a version header; open_clip keeps the next 49152 - 256 - 2 merges.
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        let mergeLines = lines.dropFirst().prefix(49152 - 256 - 2)
        guard !mergeLines.isEmpty else {
            throw TokenizerError.invalidVocabulary(file: vocabPath, detail: "no merges found")
        }
        var mergePairs: [(String, String)] = []
        mergePairs.reserveCapacity(mergeLines.count)
        for (i, line) in mergeLines.enumerated() {
            let parts = line.split(whereSeparator: { PythonText.isSpace($0.value) })
            guard parts.count == 2 else {
                let shown = String(String.UnicodeScalarView(line.prefix(60)))
                throw TokenizerError.invalidVocabulary(file: vocabPath, detail: "line \(i + 2) is '\(shown)', expected two tokens")
            }
            mergePairs.append((String(String.UnicodeScalarView(parts[0])), String(String.UnicodeScalarView(parts[1]))))
        }
        var vocab: [String] = ByteLevelTable.byteToScalarInCLIPOrder.map { String($0) }
        vocab += vocab.map { $0 + "</w>" }
        for (a, b) in mergePairs { vocab.append(a + b) }
        vocab += [Self.startOfText, Self.endOfText]
        var encoder = VocabTable()
        for (i, t) in vocab.enumerated() { encoder[t] = i }  // later duplicates win, like dict(zip(…))
        var decoder: [Int: String] = [:]
        for (t, i) in encoder.entries { decoder[i] = t }
        var table: [UInt64: BPEModel.MergeEntry] = [:]
        for (rank, (a, b)) in mergePairs.enumerated() {
            guard let ia = encoder[a], let ib = encoder[b], let im = encoder[a + b] else { continue }
            table[UInt64(UInt32(ia)) << 32 | UInt64(UInt32(ib))] = BPEModel.MergeEntry(rank: Int32(rank), newId: Int32(im))
        }
        self.encoder = encoder
        self.decoder = decoder
        self.merges = table
        self.vocabularySize = encoder.count
        self.startOfTextId = encoder[Self.startOfText]!
        self.endOfTextId = encoder[Self.endOfText]!
    }

    // MARK: open_clip API

    /// Token ids of `text` without `<start_of_text>` / `<end_of_text>` (open_clip's `encode`).
    ///
    /// ```swift
    /// clip.encode("Hello, World!")   // [3306, 267, 1002, 256]
    /// ```
    public func encode(_ text: String) -> [Int] {
        encodeWithPieces(text, addSpecialTokens: false).ids
    }

    /// The `[texts.count, contextLength]` id matrix open_clip's tokenizer returns: each row is
    /// `<start_of_text> ids <end_of_text>`, zero-padded; a row that does not fit is cut to
    /// `contextLength` and its last id set to `<end_of_text>`.
    ///
    /// ```swift
    /// let rows = clip(["a dog", "a cat"], contextLength: 77)   // rows[0].count == 77
    /// ```
    public func callAsFunction(_ texts: [String], contextLength: Int = CLIPTokenizer.defaultContextLength) -> [[Int]] {
        texts.map { text in
            var ids = encode(text, addSpecialTokens: true, maxLength: contextLength)
            if ids.count < contextLength { ids += [Int](repeating: 0, count: contextLength - ids.count) }
            return ids
        }
    }

    // MARK: TextTokenizer

    /// With `addSpecialTokens`, `<start_of_text> … <end_of_text>`; with `maxLength`, open_clip's
    /// truncation (cut, then the last id forced to `<end_of_text>` when specials are added).
    public func encode(_ text: String, addSpecialTokens: Bool, maxLength: Int?) -> [Int] {
        var ids = encode(text)
        if addSpecialTokens { ids = [startOfTextId] + ids + [endOfTextId] }
        if let maxLength, ids.count > maxLength {
            ids.removeLast(ids.count - maxLength)
            if addSpecialTokens && maxLength > 0 { ids[maxLength - 1] = endOfTextId }
        }
        return ids
    }

    public func encodeWithPieces(_ text: String, addSpecialTokens: Bool) -> (ids: [Int], pieces: [String]) {
        var ids: [Int] = []
        let cleaned = Array(CLIPTextCleaner.clean(text).unicodeScalars)
        for word in Self.splitWords(cleaned) {
            ids += bpe(word)
        }
        if addSpecialTokens { ids = [startOfTextId] + ids + [endOfTextId] }
        return (ids, ids.map { decoder[$0] ?? "" })
    }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            if skipSpecialTokens && (id == startOfTextId || id == endOfTextId) { continue }
            guard let t = decoder[id] else { continue }
            for s in t.unicodeScalars {
                if let b = ByteLevelTable.byte(for: s) { bytes.append(b) }
            }
        }
        return UnicodeSupport.replaceLiteral(UnicodeSupport.decodeLossy(bytes), "</w>", " ")
    }

    public func id(forToken token: String) -> Int? { encoder[token] }

    public func token(forId id: Int) -> String? { decoder[id] }

    // MARK: Internals

    /// CLIP's regex, `<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
    /// (case-insensitive), applied with `findall`: whitespace between matches is dropped.
    static func splitWords(_ s: [Unicode.Scalar]) -> [ArraySlice<Unicode.Scalar>] {
        var out: [ArraySlice<Unicode.Scalar>] = []
        let n = s.count
        let specials = [Array(startOfText.unicodeScalars), Array(endOfText.unicodeScalars)]
        var i = 0
        func lowerASCII(_ c: Unicode.Scalar) -> UInt32 {
            let v = c.value
            if v >= 0x41 && v <= 0x5A { return v + 32 }
            if v == 0x17F { return 0x73 }  // ſ case-folds to s
            if v == 0x212A { return 0x6B }  // Kelvin sign case-folds to k
            return v
        }
        outer: while i < n {
            if s[i] == "<" {
                for sp in specials where i + sp.count <= n {
                    var ok = true
                    for k in 0..<sp.count where lowerASCII(s[i + k]) != sp[k].value { ok = false; break }
                    if ok { out.append(s[i..<(i + sp.count)]); i += sp.count; continue outer }
                }
            }
            if s[i] == "'" && i + 1 < n {
                let c1 = lowerASCII(s[i + 1])
                var len = 0
                switch c1 {
                case 0x73, 0x74, 0x6D, 0x64: len = 2
                case 0x72, 0x76: if i + 2 < n && lowerASCII(s[i + 2]) == 0x65 { len = 3 }
                case 0x6C: if i + 2 < n && lowerASCII(s[i + 2]) == 0x6C { len = 3 }
                default: break
                }
                if len > 0 { out.append(s[i..<(i + len)]); i += len; continue }
            }
            let c = UnicodeSupport.classify(s[i])
            switch c {
            case .space:
                i += 1
            case .number:
                out.append(s[i..<(i + 1)]); i += 1
            case .letter, .other:
                var j = i + 1
                while j < n && UnicodeSupport.classify(s[j]) == c { j += 1 }
                out.append(s[i..<j]); i = j
            }
        }
        return out
    }

    private func bpe(_ word: ArraySlice<Unicode.Scalar>) -> [Int] {
        let key = ExactString(String(String.UnicodeScalarView(word)))
        cacheLock.lock()
        let hit = cache[key]
        cacheLock.unlock()
        if let hit { return hit }
        let ids: [Int]
        if let special = specialId(key.value) {
            ids = [special]
        } else {
            var bytes: [UInt8] = []
            for s in word { bytes.append(contentsOf: String(s).utf8) }
            var symbols = [Int32](repeating: 0, count: bytes.count)
            for (k, b) in bytes.enumerated() {
                let base = Int32(ByteLevelTable.clipIndexOfByte[Int(b)])
                symbols[k] = k == bytes.count - 1 ? base + 256 : base
            }
            BPEModel.mergeAll(&symbols, merges)
            ids = symbols.map { Int($0) }
        }
        cacheLock.lock()
        if cache.count >= Self.cacheCapacity { cache.removeAll(keepingCapacity: true) }
        cache[key] = ids
        cacheLock.unlock()
        return ids
    }

    /// The special tokens map to themselves in open_clip's BPE cache; the regex matches them
    /// case-insensitively, so the id lookup is on the lower-cased spelling.
    private func specialId(_ word: String) -> Int? {
        guard word.first == "<" else { return nil }
        if word == Self.startOfText { return startOfTextId }
        if word == Self.endOfText { return endOfTextId }
        return nil
    }
}

extension ByteLevelTable {
    /// The byte characters in the order `bytes_to_unicode()` lists them (printable bytes
    /// first, then the remapped ones), which is the order of CLIP's first 256 ids.
    static let byteToScalarInCLIPOrder: [Unicode.Scalar] = clipByteOrder.map { byteToScalar[Int($0)] }

    /// Bytes in CLIP id order.
    static let clipByteOrder: [UInt8] = {
        var printable: [UInt8] = []
        var rest: [UInt8] = []
        for b in 0...255 {
            let isPrintable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if isPrintable { printable.append(UInt8(b)) } else { rest.append(UInt8(b)) }
        }
        return printable + rest
    }()

    /// CLIP id (0…255) of each byte's character.
    static let clipIndexOfByte: [Int] = {
        var table = [Int](repeating: 0, count: 256)
        for (i, b) in clipByteOrder.enumerated() { table[Int(b)] = i }
        return table
    }()
}
