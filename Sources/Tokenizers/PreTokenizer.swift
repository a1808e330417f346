import Foundation

/// How a split keeps the pieces a pattern matched (Hugging Face `SplitDelimiterBehavior`).
enum SplitBehavior: String {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"

    static let all = ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"]
}

/// The regular expressions the hand-written matchers reproduce exactly.
enum KnownPatterns {
    /// GPT-2's pre-tokenizer regex (also what `ByteLevel(use_regex=true)` uses).
    static let gpt2 = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    /// Llama-3's Split regex.
    static let llama3 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// Qwen2's variant of the Llama-3 regex (one digit per piece).
    static let qwen2 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
}

/// Finds the pieces of a scalar sequence a pattern matches. Like Hugging Face's
/// `Pattern::find_matches`, the result covers the whole input with ordered, contiguous ranges,
/// each flagged as matched or not.
enum SplitMatcher {
    case gpt2
    case llama3(maxDigits: Int)
    case literal([Unicode.Scalar])
    case regex(NSRegularExpression)
    case predicate(@Sendable (Unicode.Scalar) -> Bool)

    func findMatches(_ s: [Unicode.Scalar]) -> [(range: Range<Int>, isMatch: Bool)] {
        if s.isEmpty { return [(0..<0, false)] }
        switch self {
        case .gpt2:
            return Self.cover(Self.gpt2Ranges(s), count: s.count)
        case .llama3(let maxDigits):
            return Self.cover(Self.llama3Ranges(s, maxDigits: maxDigits), count: s.count)
        case .literal(let needle):
            return Self.cover(Self.literalRanges(s, needle), count: s.count)
        case .regex(let re):
            return Self.cover(Self.regexRanges(s, re), count: s.count)
        case .predicate(let p):
            var out: [(range: Range<Int>, isMatch: Bool)] = []
            var last = 0
            for i in 0..<s.count where p(s[i]) {
                if last < i { out.append((last..<i, false)) }
                out.append((i..<(i + 1), true))
                last = i + 1
            }
            if last < s.count { out.append((last..<s.count, false)) }
            return out
        }
    }

    /// Turns a list of match ranges into a full cover with the gaps flagged as non-matches.
    private static func cover(_ matches: [Range<Int>], count: Int) -> [(range: Range<Int>, isMatch: Bool)] {
        var out: [(range: Range<Int>, isMatch: Bool)] = []
        out.reserveCapacity(matches.count + 2)
        var prev = 0
        for m in matches {
            if prev != m.lowerBound { out.append((prev..<m.lowerBound, false)) }
            out.append((m, true))
            prev = m.upperBound
        }
        if prev != count { out.append((prev..<count, false)) }
        return out
    }

    // MARK: Hand-written matchers

    @inline(__always)
    private static func isSpaceChar(_ s: Unicode.Scalar) -> Bool { s.value == 0x20 }
    @inline(__always)
    private static func isCRLF(_ s: Unicode.Scalar) -> Bool { s.value == 0x0A || s.value == 0x0D }

    /// Length of an English contraction suffix (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`) at `i`,
    /// which holds an apostrophe; 0 when none matches.
    private static func contractionLength(_ s: [Unicode.Scalar], _ i: Int, caseInsensitive: Bool) -> Int {
        let n = s.count
        guard i + 1 < n else { return 0 }
        func lower(_ k: Int) -> UInt32 {
            let v = s[k].value
            guard caseInsensitive else { return v }
            if v >= 0x41 && v <= 0x5A { return v + 32 }
            if v == 0x17F { return 0x73 }  // ſ case-folds to s
            return v
        }
        let c1 = lower(i + 1)
        switch c1 {
        case 0x73, 0x74, 0x6D, 0x64: return 2  // s t m d
        case 0x72, 0x76:  // re ve
            if i + 2 < n && lower(i + 2) == 0x65 { return 3 }
            return 0
        case 0x6C:  // ll
            if i + 2 < n && lower(i + 2) == 0x6C { return 3 }
            return 0
        default:
            return 0
        }
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    static func gpt2Ranges(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        let n = s.count
        var cls = [ScalarClass](repeating: .other, count: n)
        for i in 0..<n { cls[i] = UnicodeSupport.classify(s[i]) }
        var out: [Range<Int>] = []
        out.reserveCapacity(n / 3 + 1)
        var i = 0
        func run(from j: Int, _ c: ScalarClass) -> Int {
            var k = j
            while k < n && cls[k] == c { k += 1 }
            return k
        }
        while i < n {
            if s[i].value == 0x27 {
                let len = contractionLength(s, i, caseInsensitive: false)
                if len > 0 { out.append(i..<(i + len)); i += len; continue }
            }
            // ` ?X+` for X in letters, numbers, other.
            let spaced = isSpaceChar(s[i]) && i + 1 < n && cls[i + 1] != .space
            if spaced {
                let end = run(from: i + 1, cls[i + 1])
                out.append(i..<end); i = end; continue
            }
            if cls[i] != .space {
                let end = run(from: i, cls[i])
                out.append(i..<end); i = end; continue
            }
            // Whitespace: `\s+(?!\S)` then `\s+`.
            let end = run(from: i, .space)
            if end == n || end - i == 1 {
                out.append(i..<end); i = end
            } else {
                out.append(i..<(end - 1)); i = end - 1
            }
        }
        return out
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    static func llama3Ranges(_ s: [Unicode.Scalar], maxDigits: Int) -> [Range<Int>] {
        let n = s.count
        var cls = [ScalarClass](repeating: .other, count: n)
        for i in 0..<n { cls[i] = UnicodeSupport.classify(s[i]) }
        var out: [Range<Int>] = []
        out.reserveCapacity(n / 3 + 1)
        func run(from j: Int, _ c: ScalarClass) -> Int {
            var k = j
            while k < n && cls[k] == c { k += 1 }
            return k
        }
        var i = 0
        while i < n {
            let c = cls[i]
            if s[i].value == 0x27 {
                let len = contractionLength(s, i, caseInsensitive: true)
                if len > 0 { out.append(i..<(i + len)); i += len; continue }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if c == .letter {
                let end = run(from: i, .letter)
                out.append(i..<end); i = end; continue
            }
            if c != .number && !isCRLF(s[i]) && i + 1 < n && cls[i + 1] == .letter {
                let end = run(from: i + 1, .letter)
                out.append(i..<end); i = end; continue
            }
            // \p{N}{1,maxDigits}
            if c == .number {
                var end = i
                while end < n && end - i < maxDigits && cls[end] == .number { end += 1 }
                out.append(i..<end); i = end; continue
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            var otherStart = -1
            if c == .other { otherStart = i } else if isSpaceChar(s[i]) && i + 1 < n && cls[i + 1] == .other { otherStart = i + 1 }
            if otherStart >= 0 {
                var end = run(from: otherStart, .other)
                while end < n && isCRLF(s[end]) { end += 1 }
                out.append(i..<end); i = end; continue
            }
            // c is whitespace here.
            let wsEnd = run(from: i, .space)
            // `\s*[\r\n]+`: ends right after the last CR/LF of the whitespace run.
            var lastBreak = -1
            var k = wsEnd - 1
            while k >= i {
                if isCRLF(s[k]) { lastBreak = k; break }
                k -= 1
            }
            if lastBreak >= 0 {
                out.append(i..<(lastBreak + 1)); i = lastBreak + 1; continue
            }
            if wsEnd == n || wsEnd - i == 1 {
                out.append(i..<wsEnd); i = wsEnd
            } else {
                out.append(i..<(wsEnd - 1)); i = wsEnd - 1
            }
        }
        return out
    }

    private static func literalRanges(_ s: [Unicode.Scalar], _ needle: [Unicode.Scalar]) -> [Range<Int>] {
        guard !needle.isEmpty, needle.count <= s.count else { return [] }
        var out: [Range<Int>] = []
        var i = 0
        let last = s.count - needle.count
        while i <= last {
            var ok = true
            for j in 0..<needle.count where s[i + j] != needle[j] { ok = false; break }
            if ok { out.append(i..<(i + needle.count)); i += needle.count } else { i += 1 }
        }
        return out
    }

    /// Runs an ICU regex over the scalars, mapping its UTF-16 ranges back to scalar indices.
    /// Empty matches become split points, as they do with Oniguruma in Hugging Face tokenizers.
    private static func regexRanges(_ s: [Unicode.Scalar], _ re: NSRegularExpression) -> [Range<Int>] {
        var utf16ToScalar: [Int] = []
        utf16ToScalar.reserveCapacity(s.count * 2 + 1)
        for (i, sc) in s.enumerated() {
            utf16ToScalar.append(i)
            if sc.value > 0xFFFF { utf16ToScalar.append(i) }
        }
        utf16ToScalar.append(s.count)
        let text = String(String.UnicodeScalarView(s))
        let ns = text as NSString
        var out: [Range<Int>] = []
        for m in re.matches(in: text, options: [], range: NSRange(location: 0, length: ns.length)) {
            let lo = utf16ToScalar[m.range.location]
            let hi = utf16ToScalar[m.range.location + m.range.length]
            out.append(lo..<hi)
        }
        return out
    }
}

/// Applies a split behaviour to a full cover of matches; returns the kept, non-empty ranges.
func applySplitBehavior(_ matches: [(range: Range<Int>, isMatch: Bool)], _ behavior: SplitBehavior) -> [Range<Int>] {
    var pieces: [Range<Int>] = []
    switch behavior {
    case .isolated:
        pieces = matches.map { $0.range }
    case .removed:
        pieces = matches.filter { !$0.isMatch }.map { $0.range }
    case .contiguous:
        var previous = false
        for m in matches {
            if m.isMatch == previous, let last = pieces.last {
                pieces[pieces.count - 1] = last.lowerBound..<m.range.upperBound
            } else {
                pieces.append(m.range)
            }
            previous = m.isMatch
        }
    case .mergedWithPrevious:
        var previous = false
        for m in matches {
            if m.isMatch && !previous, let last = pieces.last {
                pieces[pieces.count - 1] = last.lowerBound..<m.range.upperBound
            } else {
                pieces.append(m.range)
            }
            previous = m.isMatch
        }
    case .mergedWithNext:
        var previous = false
        for m in matches.reversed() {
            if m.isMatch && !previous, let last = pieces.last {
                pieces[pieces.count - 1] = m.range.lowerBound..<last.upperBound
            } else {
                pieces.append(m.range)
            }
            previous = m.isMatch
        }
        pieces.reverse()
    }
    return pieces.filter { !$0.isEmpty }
}

/// A pre-tokenizer step: splits each piece of text further (and, for `byteLevel`, re-spells
/// it in GPT-2's byte alphabet).
indirect enum PreTokenizer {
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(SplitMatcher, SplitBehavior, invert: Bool)
    case digits(individual: Bool)
    case bert
    case whitespace
    case whitespaceSplit
    case punctuation(SplitBehavior)
    case sequence([PreTokenizer])

    static let supportedTypes = ["ByteLevel", "Split", "Digits", "BertPreTokenizer", "Whitespace",
                                 "WhitespaceSplit", "Punctuation", "Sequence"]

    func apply(_ pieces: [[Unicode.Scalar]]) -> [[Unicode.Scalar]] {
        switch self {
        case .sequence(let steps):
            var current = pieces
            for step in steps { current = step.apply(current) }
            return current
        case .byteLevel(let addPrefixSpace, let useRegex):
            var out: [[Unicode.Scalar]] = []
            out.reserveCapacity(pieces.count * 4)
            for var piece in pieces {
                if addPrefixSpace && piece.first?.value != 0x20 { piece.insert(" ", at: 0) }
                if useRegex {
                    for r in SplitMatcher.gpt2Ranges(piece) { out.append(Self.byteSpell(piece[r])) }
                } else {
                    out.append(Self.byteSpell(piece[...]))
                }
            }
            return out
        case .split(let matcher, let behavior, let invert):
            return splitEach(pieces, behavior) { s in
                let m = matcher.findMatches(s)
                return invert ? m.map { ($0.range, !$0.isMatch) } : m
            }
        case .digits(let individual):
            return splitEach(pieces, individual ? .isolated : .contiguous) {
                SplitMatcher.predicate { UnicodeSupport.isNumeric($0) }.findMatches($0)
            }
        case .bert:
            let spaced = splitEach(pieces, .removed) {
                SplitMatcher.predicate { UnicodeSupport.isWhiteSpace($0.value) }.findMatches($0)
            }
            return splitEach(spaced, .isolated) {
                SplitMatcher.predicate { UnicodeSupport.isBertPunctuation($0) }.findMatches($0)
            }
        case .whitespaceSplit:
            return splitEach(pieces, .removed) {
                SplitMatcher.predicate { UnicodeSupport.isWhiteSpace($0.value) }.findMatches($0)
            }
        case .whitespace:
            // `\w+|[^\w\s]+`, keeping the matches and dropping the rest.
            return splitEach(pieces, .removed) { s in
                var out: [(range: Range<Int>, isMatch: Bool)] = []
                var i = 0
                while i < s.count {
                    let isWord = UnicodeSupport.isWordCharacter(s[i])
                    let isSpace = !isWord && UnicodeSupport.isWhiteSpace(s[i].value)
                    var j = i + 1
                    while j < s.count {
                        let w = UnicodeSupport.isWordCharacter(s[j])
                        let sp = !w && UnicodeSupport.isWhiteSpace(s[j].value)
                        if w != isWord || sp != isSpace { break }
                        j += 1
                    }
                    // Word runs and punctuation runs are kept (not matches of the inverted pattern).
                    out.append((i..<j, isSpace))
                    i = j
                }
                return out.isEmpty ? [(0..<0, false)] : out
            }
        case .punctuation(let behavior):
            return splitEach(pieces, behavior) {
                SplitMatcher.predicate { UnicodeSupport.isBertPunctuation($0) }.findMatches($0)
            }
        }
    }

    private func splitEach(_ pieces: [[Unicode.Scalar]], _ behavior: SplitBehavior,
                           _ find: ([Unicode.Scalar]) -> [(range: Range<Int>, isMatch: Bool)]) -> [[Unicode.Scalar]] {
        var out: [[Unicode.Scalar]] = []
        out.reserveCapacity(pieces.count * 2)
        for piece in pieces {
            for r in applySplitBehavior(find(piece), behavior) { out.append(Array(piece[r])) }
        }
        return out
    }

    private static func byteSpell(_ piece: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(piece.count * 2)
        for s in piece {
            let v = s.value
            if v < 0x80 {
                out.append(ByteLevelTable.byteToScalar[Int(v)])
            } else {
                for b in String(s).utf8 { out.append(ByteLevelTable.byteToScalar[Int(b)]) }
            }
        }
        return out
    }
}
