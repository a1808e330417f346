import Foundation

/// The four classes the GPT-2 / Llama-3 style pre-tokenizer regexes distinguish:
/// `\p{L}`, `\p{N}`, `\s` and everything else.
enum ScalarClass: UInt8 {
    case letter, number, space, other
}

enum UnicodeSupport {
    /// ASCII classes, indexed by code point.
    static let asciiClass: [ScalarClass] = (0..<128).map { v -> ScalarClass in
        switch v {
        case 0x41...0x5A, 0x61...0x7A: return .letter
        case 0x30...0x39: return .number
        case 0x09...0x0D, 0x20: return .space
        default: return .other
        }
    }

    /// Unicode White_Space (what `\s` means in Oniguruma, Rust's `char::is_whitespace`,
    /// ICU and Python's `regex`).
    @inline(__always)
    static func isWhiteSpace(_ v: UInt32) -> Bool {
        switch v {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    @inline(__always)
    static func classify(_ s: Unicode.Scalar) -> ScalarClass {
        let v = s.value
        if v < 128 { return asciiClass[Int(v)] }
        if isWhiteSpace(v) { return .space }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }

    /// `\p{N}` / Rust's `char::is_numeric` (Nd, Nl, No).
    @inline(__always)
    static func isNumeric(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 128 { return v >= 0x30 && v <= 0x39 }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// Unicode punctuation (Pc, Pd, Ps, Pe, Pi, Pf, Po).
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// BERT's punctuation: any ASCII punctuation or symbol character, or Unicode punctuation.
    static func isBertPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 128 {
            return (v >= 33 && v <= 47) || (v >= 58 && v <= 64) || (v >= 91 && v <= 96) || (v >= 123 && v <= 126)
        }
        return isPunctuation(s)
    }

    /// "Other" general categories (Cc, Cf, Cn, Co, Cs), as BERT's `is_control` uses them.
    static func isOtherCategory(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate: return true
        default: return false
        }
    }

    /// Nonspacing mark (Mn).
    static func isNonspacingMark(_ s: Unicode.Scalar) -> Bool {
        s.properties.generalCategory == .nonspacingMark
    }

    /// Any combining mark (Mn, Mc, Me).
    static func isMark(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return true
        default: return false
        }
    }

    /// `\w` as the Rust `regex` crate defines it (Alphabetic, marks, decimal digits,
    /// connector punctuation, join controls).
    static func isWordCharacter(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 128 {
            return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || v == 0x5F
        }
        if v == 0x200C || v == 0x200D { return true }
        if s.properties.isAlphabetic { return true }
        switch s.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    /// The CJK ideograph blocks BERT pads with spaces.
    static func isChineseCharacter(_ v: UInt32) -> Bool {
        switch v {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// Per-scalar full lower-case mapping without context (as Rust's `char::to_lowercase`,
    /// which the Hugging Face normalizers apply one character at a time).
    static func lowercasedPerScalar(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars {
            let v = s.value
            if v < 128 {
                if v >= 0x41 && v <= 0x5A { out.append(Unicode.Scalar(v + 32)!) } else { out.append(s) }
            } else {
                let mapped = s.properties.lowercaseMapping
                out.append(contentsOf: mapped.unicodeScalars)
            }
        }
        return String(out)
    }

    static func nfc(_ s: String) -> String { s.precomposedStringWithCanonicalMapping }
    static func nfd(_ s: String) -> String { s.decomposedStringWithCanonicalMapping }
    static func nfkc(_ s: String) -> String { s.precomposedStringWithCompatibilityMapping }
    static func nfkd(_ s: String) -> String { s.decomposedStringWithCompatibilityMapping }

    /// Decodes UTF-8 with U+FFFD for each maximal invalid subsequence (as Rust's
    /// `String::from_utf8_lossy` and Python's `errors="replace"`).
    static func decodeLossy(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}

/// GPT-2's reversible byte ↔ printable-character mapping.
enum ByteLevelTable {
    /// The character standing for each byte.
    static let byteToScalar: [Unicode.Scalar] = {
        var mapping = [UInt32](repeating: 0, count: 256)
        var printable = [Bool](repeating: false, count: 256)
        for b in 0x21...0x7E { printable[b] = true }
        for b in 0xA1...0xAC { printable[b] = true }
        for b in 0xAE...0xFF { printable[b] = true }
        var n: UInt32 = 0
        for b in 0..<256 {
            if printable[b] {
                mapping[b] = UInt32(b)
            } else {
                mapping[b] = 256 + n
                n += 1
            }
        }
        return mapping.map { Unicode.Scalar($0)! }
    }()

    /// Inverse table indexed by scalar value (all values are below 324); -1 when not a byte char.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (b, s) in byteToScalar.enumerated() { table[Int(s.value)] = Int16(b) }
        return table
    }()

    @inline(__always)
    static func byte(for s: Unicode.Scalar) -> UInt8? {
        let v = s.value
        guard v < 324 else { return nil }
        let b = scalarToByte[Int(v)]
        return b < 0 ? nil : UInt8(b)
    }

    /// Maps UTF-8 bytes to their byte-level spelling.
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var view = String.UnicodeScalarView()
        for b in bytes { view.append(byteToScalar[Int(b)]) }
        return String(view)
    }

    /// True when every character of `token` is a byte-level character.
    static func isByteLevelSpelled(_ token: String) -> Bool {
        token.unicodeScalars.allSatisfy { byte(for: $0) != nil }
    }
}

/// A string compared and hashed by its exact UTF-8 bytes. Swift's `String` equality follows
/// canonical equivalence ("é" == "e\u{301}"), but token vocabularies are byte-exact maps.
struct ExactString: Hashable {
    let value: String

    init(_ value: String) {
        var v = value
        v.makeContiguousUTF8()
        self.value = v
    }

    func hash(into hasher: inout Hasher) {
        var v = value
        v.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    static func == (a: ExactString, b: ExactString) -> Bool {
        a.value.utf8.elementsEqual(b.value.utf8)
    }
}

/// A byte-exact token → id table.
struct VocabTable {
    private(set) var table: [ExactString: Int] = [:]

    init() {}

    init(_ pairs: [(String, Int)]) {
        table.reserveCapacity(pairs.count)
        for (t, i) in pairs { table[ExactString(t)] = i }
    }

    var count: Int { table.count }

    subscript(_ token: String) -> Int? {
        get { table[ExactString(token)] }
        set { table[ExactString(token)] = newValue }
    }

    var entries: [(token: String, id: Int)] { table.map { ($0.key.value, $0.value) } }
}

extension UnicodeSupport {
    /// Replaces every occurrence of `pattern` (compared scalar by scalar, left to right,
    /// non-overlapping) with `replacement`.
    static func replaceLiteral(_ text: String, _ pattern: String, _ replacement: String) -> String {
        let pat = Array(pattern.unicodeScalars)
        guard !pat.isEmpty else { return text }
        let hay = Array(text.unicodeScalars)
        guard hay.count >= pat.count else { return text }
        var out = String.UnicodeScalarView()
        var i = 0
        var changed = false
        while i < hay.count {
            if hay[i] == pat[0] && i + pat.count <= hay.count {
                var ok = true
                for j in 1..<pat.count where hay[i + j] != pat[j] { ok = false; break }
                if ok {
                    out.append(contentsOf: replacement.unicodeScalars)
                    i += pat.count
                    changed = true
                    continue
                }
            }
            out.append(hay[i])
            i += 1
        }
        return changed ? String(out) : text
    }

    /// `text` starts with `prefix`, compared scalar by scalar.
    static func hasScalarPrefix(_ text: String, _ prefix: String) -> Bool {
        var a = text.unicodeScalars.makeIterator()
        for p in prefix.unicodeScalars {
            guard let s = a.next(), s == p else { return false }
        }
        return true
    }
}
