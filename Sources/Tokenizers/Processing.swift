import Foundation

/// One element of a TemplateProcessing template.
enum TemplatePiece: Equatable {
    case sequenceA
    case sequenceB
    case special(String)
}

/// Post-processors (what `addSpecialTokens` adds around the content).
indirect enum PostProcessor {
    /// `special` maps a template special-token name to its ids and tokens.
    case template(single: [TemplatePiece], special: [String: (ids: [Int], tokens: [String])])
    /// `[CLS] $A [SEP]` (BertProcessing) and `<s> $A </s>` (RobertaProcessing).
    case wrap(prefix: (token: String, id: Int), suffix: (token: String, id: Int))
    /// No change to ids (ByteLevel only trims offsets).
    case identity
    case sequence([PostProcessor])

    static let supportedTypes = ["TemplateProcessing", "BertProcessing", "RobertaProcessing", "ByteLevel", "Sequence"]

    /// How many tokens `apply` adds to a single sequence.
    var addedCount: Int {
        switch self {
        case .template(let single, let special):
            return single.reduce(0) { n, p in
                if case .special(let name) = p { return n + (special[name]?.ids.count ?? 0) }
                return n
            }
        case .wrap: return 2
        case .identity: return 0
        case .sequence(let steps): return steps.reduce(0) { $0 + $1.addedCount }
        }
    }

    func apply(ids: [Int], pieces: [String]) -> (ids: [Int], pieces: [String]) {
        switch self {
        case .template(let single, let special):
            var outIds: [Int] = []
            var outPieces: [String] = []
            outIds.reserveCapacity(ids.count + 4)
            for p in single {
                switch p {
                case .sequenceA, .sequenceB:
                    outIds += ids; outPieces += pieces
                case .special(let name):
                    if let s = special[name] { outIds += s.ids; outPieces += s.tokens }
                }
            }
            return (outIds, outPieces)
        case .wrap(let prefix, let suffix):
            return ([prefix.id] + ids + [suffix.id], [prefix.token] + pieces + [suffix.token])
        case .identity:
            return (ids, pieces)
        case .sequence(let steps):
            var current = (ids: ids, pieces: pieces)
            for step in steps { current = step.apply(ids: current.ids, pieces: current.pieces) }
            return current
        }
    }
}

/// Decoders (token strings back to text).
indirect enum Decoder {
    case byteLevel
    case wordPiece(prefix: String, cleanup: Bool)
    case bpe(suffix: String)
    case replace(SplitMatcher, String)
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case byteFallback
    case sequence([Decoder])

    static let supportedTypes = ["ByteLevel", "WordPiece", "BPEDecoder", "Replace", "Fuse", "Strip", "ByteFallback", "Sequence"]

    func decode(_ tokens: [String]) -> String {
        decodeChain(tokens).joined()
    }

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            bytes.reserveCapacity(tokens.count * 4)
            for t in tokens {
                var tokenBytes: [UInt8] = []
                var allMapped = true
                for s in t.unicodeScalars {
                    guard let b = ByteLevelTable.byte(for: s) else { allMapped = false; break }
                    tokenBytes.append(b)
                }
                if allMapped { bytes += tokenBytes } else { bytes += Array(t.utf8) }
            }
            return [UnicodeSupport.decodeLossy(bytes)]
        case .wordPiece(let prefix, let cleanup):
            return tokens.enumerated().map { i, token in
                var t = token
                if i != 0 {
                    if UnicodeSupport.hasScalarPrefix(t, prefix) {
                        t = String(String.UnicodeScalarView(t.unicodeScalars.dropFirst(prefix.unicodeScalars.count)))
                    } else {
                        t = " " + t
                    }
                }
                return cleanup ? Self.wordPieceCleanup(t) : t
            }
        case .bpe(let suffix):
            return tokens.enumerated().map { i, t in
                UnicodeSupport.replaceLiteral(t, suffix, i == tokens.count - 1 ? "" : " ")
            }
        case .replace(let matcher, let content):
            return tokens.map { t in
                let s = Array(t.unicodeScalars)
                var out = String.UnicodeScalarView()
                for m in matcher.findMatches(s) {
                    if m.isMatch { out.append(contentsOf: content.unicodeScalars) } else { out.append(contentsOf: s[m.range]) }
                }
                return String(out)
            }
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { t in
                let chars = Array(t.unicodeScalars)
                var startCut = 0
                for i in 0..<min(start, chars.count) {
                    if chars[i] == content { startCut = i + 1 } else { break }
                }
                var stopCut = chars.count
                for i in 0..<min(stop, chars.count) {
                    let index = chars.count - i - 1
                    if chars[index] == content { stopCut = index } else { break }
                }
                if stopCut < startCut { return "" }
                return String(String.UnicodeScalarView(chars[startCut..<stopCut]))
            }
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(validatingUTF8: pending.map { CChar(bitPattern: $0) } + [0]), !pending.contains(0) {
                    out.append(s)
                } else {
                    out.append(contentsOf: Array(repeating: "\u{FFFD}", count: pending.count))
                }
                pending.removeAll()
            }
            for t in tokens {
                let u = Array(t.utf8)
                if u.count == 6 && t.hasPrefix("<0x") && t.hasSuffix(">"),
                   let b = UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16) {
                    pending.append(b)
                } else {
                    flush()
                    out.append(t)
                }
            }
            flush()
            return out
        case .sequence(let steps):
            var current = tokens
            for step in steps { current = step.decodeChain(current) }
            return current
        }
    }

    static func wordPieceCleanup(_ s: String) -> String {
        guard s.utf8.contains(0x20) else { return s }
        var t = s
        for (a, b) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                       (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            t = UnicodeSupport.replaceLiteral(t, a, b)
        }
        return t
    }
}
