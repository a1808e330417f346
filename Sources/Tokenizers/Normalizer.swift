import Foundation

/// What a `Replace` normalizer looks for.
enum ReplacePattern {
    case literal(String)
    case regex(NSRegularExpression)
}

/// Text normalizers as found in Hugging Face `tokenizer.json` files.
indirect enum Normalizer {
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case stripAccents
    case strip(left: Bool, right: Bool)
    case prepend(String)
    case replace(ReplacePattern, String)
    case bert(cleanText: Bool, handleChineseChars: Bool, stripAccents: Bool, lowercase: Bool)
    case sequence([Normalizer])

    static let supportedTypes = ["NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents", "Strip",
                                 "Prepend", "Replace", "BertNormalizer", "Sequence"]

    func apply(_ text: String) -> String {
        switch self {
        case .nfc: return UnicodeSupport.nfc(text)
        case .nfd: return UnicodeSupport.nfd(text)
        case .nfkc: return UnicodeSupport.nfkc(text)
        case .nfkd: return UnicodeSupport.nfkd(text)
        case .lowercase: return UnicodeSupport.lowercasedPerScalar(text)
        case .stripAccents:
            var view = String.UnicodeScalarView()
            for s in text.unicodeScalars where !UnicodeSupport.isMark(s) { view.append(s) }
            return String(view)
        case .strip(let left, let right):
            var scalars = Array(text.unicodeScalars)
            if right { while let l = scalars.last, UnicodeSupport.isWhiteSpace(l.value) { scalars.removeLast() } }
            if left {
                var k = 0
                while k < scalars.count && UnicodeSupport.isWhiteSpace(scalars[k].value) { k += 1 }
                scalars.removeFirst(k)
            }
            return String(String.UnicodeScalarView(scalars))
        case .prepend(let p):
            return text.isEmpty ? text : p + text
        case .replace(let pattern, let content):
            switch pattern {
            case .literal(let needle):
                guard !needle.isEmpty else { return text }
                return UnicodeSupport.replaceLiteral(text, needle, content)
            case .regex(let re):
                let ns = text as NSString
                return re.stringByReplacingMatches(in: text, options: [], range: NSRange(location: 0, length: ns.length),
                                                   withTemplate: NSRegularExpression.escapedTemplate(for: content))
            }
        case .bert(let clean, let chinese, let strip, let lower):
            var scalars: [Unicode.Scalar] = []
            scalars.reserveCapacity(text.unicodeScalars.count)
            for s in text.unicodeScalars {
                let v = s.value
                if clean {
                    // Drop NUL, U+FFFD and "other" characters (Cc, Cf, Cn, Co, Cs) except tab, LF
                    // and CR; then turn every whitespace character into a plain space.
                    if v == 0 || v == 0xFFFD { continue }
                    if v != 0x09 && v != 0x0A && v != 0x0D {
                        let isOther = v < 0x80 ? (v < 0x20 || v == 0x7F) : UnicodeSupport.isOtherCategory(s)
                        if isOther { continue }
                    }
                    if UnicodeSupport.isWhiteSpace(v) { scalars.append(" "); continue }
                }
                scalars.append(s)
            }
            if chinese {
                var padded: [Unicode.Scalar] = []
                padded.reserveCapacity(scalars.count)
                for s in scalars {
                    if UnicodeSupport.isChineseCharacter(s.value) {
                        padded.append(" "); padded.append(s); padded.append(" ")
                    } else {
                        padded.append(s)
                    }
                }
                scalars = padded
            }
            var result = String(String.UnicodeScalarView(scalars))
            if strip {
                let decomposed = UnicodeSupport.nfd(result)
                var view = String.UnicodeScalarView()
                for s in decomposed.unicodeScalars where !UnicodeSupport.isNonspacingMark(s) { view.append(s) }
                result = String(view)
            }
            if lower { result = UnicodeSupport.lowercasedPerScalar(result) }
            return result
        case .sequence(let steps):
            var t = text
            for step in steps { t = step.apply(t) }
            return t
        }
    }
}
