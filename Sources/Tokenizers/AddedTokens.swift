import Foundation

/// An entry of a `tokenizer.json` `added_tokens` array (or a GGUF control / user-defined token).
struct AddedToken {
    var id: Int
    var content: String
    var special: Bool
    var lstrip = false
    var rstrip = false
    var singleWord = false
    var normalized = false
}

/// A trie over Unicode scalars with leftmost-longest matching.
struct ScalarTrie {
    private var children: [[UInt32: Int32]] = [[:]]
    private var terminal: [Int32] = [-1]  // added-token id or -1

    var isEmpty: Bool { children.count == 1 }

    mutating func insert(_ pattern: [Unicode.Scalar], id: Int) {
        guard !pattern.isEmpty else { return }
        var node = 0
        for s in pattern {
            if let next = children[node][s.value] {
                node = Int(next)
            } else {
                children.append([:])
                terminal.append(-1)
                let next = children.count - 1
                children[node][s.value] = Int32(next)
                node = next
            }
        }
        terminal[node] = Int32(id)
    }

    /// The longest pattern starting at `start`, as (end, id).
    func longestMatch(in s: [Unicode.Scalar], at start: Int) -> (end: Int, id: Int)? {
        var node = 0
        var best: (Int, Int)? = nil
        var i = start
        while i < s.count, let next = children[node][s[i].value] {
            node = Int(next)
            i += 1
            if terminal[node] >= 0 { best = (i, Int(terminal[node])) }
        }
        return best
    }
}

/// Added tokens, matched literally in the text before normalization (`normalized == false`) or
/// after it (`normalized == true`), like Hugging Face's `AddedVocabulary`.
final class AddedVocabulary {
    private(set) var byId: [Int: AddedToken] = [:]
    private(set) var byContent = VocabTable()
    private(set) var specialContents: Set<ExactString> = []
    private var rawTrie = ScalarTrie()
    private var normalizedTrie = ScalarTrie()
    /// Content of normalized tokens after normalization, when it differs.
    private var normalizedContent: [Int: String] = [:]

    init(_ tokens: [AddedToken], normalizer: Normalizer?) {
        for t in tokens where !t.content.isEmpty {
            byId[t.id] = t
            byContent[t.content] = t.id
            if t.special { specialContents.insert(ExactString(t.content)) }
        }
        for (id, t) in byId {
            if t.normalized {
                let pattern = normalizer?.apply(t.content) ?? t.content
                if pattern != t.content { normalizedContent[id] = pattern }
                normalizedTrie.insert(Array(pattern.unicodeScalars), id: id)
            } else {
                rawTrie.insert(Array(t.content.unicodeScalars), id: id)
            }
        }
    }

    var isEmpty: Bool { byId.isEmpty }
    var hasNormalizedTokens: Bool { !normalizedTrie.isEmpty }

    /// True when `token` is the content of a special added token (Hugging Face checks decode
    /// skipping by token text, not by id).
    func isSpecial(token: String) -> Bool {
        specialContents.contains(ExactString(token))
    }

    /// The token text for an id (the normalized form for normalized tokens, as Hugging Face does).
    func content(forId id: Int) -> String? {
        guard let t = byId[id] else { return nil }
        return normalizedContent[id] ?? t.content
    }

    /// Splits `s` around added tokens. Each piece is a range with the token id when it is one.
    func split(_ s: [Unicode.Scalar], normalizedPass: Bool) -> [(range: Range<Int>, id: Int?)] {
        let trie = normalizedPass ? normalizedTrie : rawTrie
        if s.isEmpty { return [] }
        if trie.isEmpty { return [(0..<s.count, nil)] }
        var out: [(range: Range<Int>, id: Int?)] = []
        var startOffset = 0
        var i = 0
        while i < s.count {
            guard let m = trie.longestMatch(in: s, at: i) else { i += 1; continue }
            var start = i
            var stop = m.end
            i = m.end  // matching resumes after this match even when it is rejected below
            let token = byId[m.id]!
            if token.singleWord {
                let startOK = start == 0 || !UnicodeSupport.isWordCharacter(s[start - 1])
                let stopOK = stop == s.count || !UnicodeSupport.isWordCharacter(s[stop])
                if !startOK || !stopOK { continue }
            }
            if token.lstrip {
                var k = start
                while k > 0 && UnicodeSupport.isWhiteSpace(s[k - 1].value) { k -= 1 }
                start = max(k, startOffset)
            }
            if token.rstrip {
                while stop < s.count && UnicodeSupport.isWhiteSpace(s[stop].value) { stop += 1 }
                i = max(i, stop)
            }
            if startOffset < start { out.append((startOffset..<start, nil)) }
            out.append((start..<stop, m.id))
            startOffset = stop
        }
        if startOffset < s.count { out.append((startOffset..<s.count, nil)) }
        return out
    }
}
