import Foundation

/// Byte-pair encoding over the characters of a pre-tokenized word (Hugging Face `BPE` model).
/// Merges are applied lowest rank first (leftmost on ties), which is what both the Hugging Face
/// implementation and the original GPT-2 / CLIP loops produce for merge lists learned by BPE.
final class BPEModel {
    let vocab: VocabTable
    let idToToken: [Int: String]
    /// (left id << 32 | right id) → (rank, merged id)
    let merges: [UInt64: MergeEntry]
    let unkId: Int?
    let continuingSubwordPrefix: String?
    let endOfWordSuffix: String?
    let fuseUnk: Bool
    let ignoreMerges: Bool
    /// Single-character tokens by scalar, when no prefix/suffix decorates characters.
    private let charIds: [UInt32: Int32]
    private let plainCharacters: Bool

    struct MergeEntry {
        var rank: Int32
        var newId: Int32
    }

    init(vocab: VocabTable, merges: [(String, String)], unkToken: String?, continuingSubwordPrefix: String?,
         endOfWordSuffix: String?, fuseUnk: Bool, ignoreMerges: Bool, file: String) throws {
        self.vocab = vocab
        var reverse: [Int: String] = [:]
        reverse.reserveCapacity(vocab.count)
        for (t, i) in vocab.entries { reverse[i] = t }
        self.idToToken = reverse
        var table: [UInt64: MergeEntry] = [:]
        table.reserveCapacity(merges.count)
        let prefixLength = continuingSubwordPrefix?.unicodeScalars.count ?? 0
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = vocab[a] else {
                throw TokenizerError.invalidVocabulary(file: file, detail: "merge #\(rank) '\(a) \(b)': '\(a)' is not in the vocabulary")
            }
            guard let ib = vocab[b] else {
                throw TokenizerError.invalidVocabulary(file: file, detail: "merge #\(rank) '\(a) \(b)': '\(b)' is not in the vocabulary")
            }
            let merged = a + (prefixLength > 0 && UnicodeSupport.hasScalarPrefix(b, continuingSubwordPrefix!)
                ? String(String.UnicodeScalarView(b.unicodeScalars.dropFirst(prefixLength))) : b)
            guard let im = vocab[merged] else {
                throw TokenizerError.invalidVocabulary(file: file, detail: "merge #\(rank) '\(a) \(b)': the merged token '\(merged)' is not in the vocabulary")
            }
            let key = UInt64(UInt32(ia)) << 32 | UInt64(UInt32(ib))
            if table[key] == nil { table[key] = MergeEntry(rank: Int32(rank), newId: Int32(im)) }
        }
        self.merges = table
        if let unk = unkToken {
            guard let id = vocab[unk] else {
                throw TokenizerError.invalidValue(file: file, key: "model.unk_token", value: "'\(unk)'",
                                                  expected: "a token of the vocabulary")
            }
            self.unkId = id
        } else {
            self.unkId = nil
        }
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.endOfWordSuffix = endOfWordSuffix
        self.fuseUnk = fuseUnk
        self.ignoreMerges = ignoreMerges
        var chars: [UInt32: Int32] = [:]
        self.plainCharacters = (continuingSubwordPrefix ?? "").isEmpty && (endOfWordSuffix ?? "").isEmpty
        if plainCharacters {
            for (t, i) in vocab.entries {
                let scalars = t.unicodeScalars
                if scalars.count == 1 { chars[scalars.first!.value] = Int32(i) }
            }
        }
        self.charIds = chars
    }

    /// Token ids of one word.
    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        if word.isEmpty { return [] }
        if ignoreMerges, let id = vocab[String(String.UnicodeScalarView(word))] { return [id] }
        var symbols: [Int32] = []
        symbols.reserveCapacity(word.count)
        var pendingUnk: Int32? = nil
        for (i, s) in word.enumerated() {
            var id: Int32? = nil
            if plainCharacters {
                id = charIds[s.value]
            } else {
                var piece = String(s)
                if i > 0, let p = continuingSubwordPrefix { piece = p + piece }
                if i == word.count - 1, let suffix = endOfWordSuffix { piece += suffix }
                if let v = vocab[piece] { id = Int32(v) }
            }
            if let id {
                if let u = pendingUnk { symbols.append(u); pendingUnk = nil }
                symbols.append(id)
            } else if let unk = unkId {
                if pendingUnk != nil && !fuseUnk { symbols.append(pendingUnk!) }
                if pendingUnk == nil || !fuseUnk { pendingUnk = Int32(unk) }
            }
        }
        if let u = pendingUnk { symbols.append(u) }
        Self.mergeAll(&symbols, merges)
        return symbols.map { Int($0) }
    }

    /// Applies merges lowest rank first (leftmost on ties) until none applies.
    static func mergeAll(_ symbols: inout [Int32], _ merges: [UInt64: MergeEntry]) {
        if symbols.count < 2 { return }
        @inline(__always) func lookup(_ a: Int32, _ b: Int32) -> MergeEntry? {
            merges[UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))]
        }
        let none = MergeEntry(rank: .max, newId: -1)
        var pairs = [MergeEntry](repeating: none, count: symbols.count - 1)
        for i in 0..<(symbols.count - 1) { pairs[i] = lookup(symbols[i], symbols[i + 1]) ?? none }
        while !pairs.isEmpty {
            var best = 0
            var bestRank = pairs[0].rank
            for i in 1..<pairs.count where pairs[i].rank < bestRank {
                best = i
                bestRank = pairs[i].rank
            }
            if bestRank == .max { break }
            symbols[best] = pairs[best].newId
            symbols.remove(at: best + 1)
            pairs.remove(at: best)
            if best > 0 { pairs[best - 1] = lookup(symbols[best - 1], symbols[best]) ?? none }
            if best < pairs.count { pairs[best] = lookup(symbols[best], symbols[best + 1]) ?? none }
        }
    }
}

/// Greedy longest-match-first WordPiece (BERT).
final class WordPieceModel {
    let vocab: VocabTable
    let idToToken: [Int: String]
    let unkId: Int
    let prefix: String
    let maxInputCharsPerWord: Int

    init(vocab: VocabTable, unkToken: String, prefix: String, maxInputCharsPerWord: Int, file: String) throws {
        self.vocab = vocab
        var reverse: [Int: String] = [:]
        for (t, i) in vocab.entries { reverse[i] = t }
        self.idToToken = reverse
        guard let unk = vocab[unkToken] else {
            throw TokenizerError.invalidValue(file: file, key: "model.unk_token", value: "'\(unkToken)'",
                                              expected: "a token of the vocabulary")
        }
        self.unkId = unk
        self.prefix = prefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
    }

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        if word.isEmpty { return [] }
        if word.count > maxInputCharsPerWord { return [unkId] }
        var out: [Int] = []
        var start = 0
        while start < word.count {
            var end = word.count
            var found: Int? = nil
            while start < end {
                var piece = String(String.UnicodeScalarView(word[start..<end]))
                if start > 0 { piece = prefix + piece }
                if let id = vocab[piece] { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unkId] }
            out.append(id)
            start = end
        }
        return out
    }
}

/// Whole-word lookup (Hugging Face `WordLevel`).
final class WordLevelModel {
    let vocab: VocabTable
    let idToToken: [Int: String]
    let unkId: Int?

    init(vocab: VocabTable, unkToken: String?) {
        self.vocab = vocab
        var reverse: [Int: String] = [:]
        for (t, i) in vocab.entries { reverse[i] = t }
        self.idToToken = reverse
        self.unkId = unkToken.flatMap { vocab[$0] }
    }

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        if word.isEmpty { return [] }
        if let id = vocab[String(String.UnicodeScalarView(word))] { return [id] }
        return unkId.map { [$0] } ?? []
    }
}

/// The model stage of a Hugging Face pipeline.
enum TokenizerModel {
    case bpe(BPEModel)
    case wordPiece(WordPieceModel)
    case wordLevel(WordLevelModel)

    static let supportedTypes = ["BPE", "WordPiece", "WordLevel"]

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        switch self {
        case .bpe(let m): return m.tokenize(word)
        case .wordPiece(let m): return m.tokenize(word)
        case .wordLevel(let m): return m.tokenize(word)
        }
    }

    var vocab: VocabTable {
        switch self {
        case .bpe(let m): return m.vocab
        case .wordPiece(let m): return m.vocab
        case .wordLevel(let m): return m.vocab
        }
    }

    func token(forId id: Int) -> String? {
        switch self {
        case .bpe(let m): return m.idToToken[id]
        case .wordPiece(let m): return m.idToToken[id]
        case .wordLevel(let m): return m.idToToken[id]
        }
    }
}
