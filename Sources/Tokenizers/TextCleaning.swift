import Foundation

/// The text cleaning open_clip's `SimpleTokenizer` applies (clean="lower"):
/// `ftfy.fix_text` → `html.unescape` twice → strip → whitespace collapse → `str.lower()`.
///
/// ftfy's mojibake repair (re-decoding text that was decoded with the wrong codec) is not
/// reproduced; everything else ftfy does by default is: HTML entities (when the line has no
/// '<'), C1 controls as Windows-1252, Latin ligatures, full/half-width forms, curly quotes,
/// line breaks, terminal escapes, control characters, NFC — repeated until nothing changes.
enum CLIPTextCleaner {
    static func clean(_ text: String) -> String {
        var t = Ftfy.fixText(text)
        t = HTMLEntities.pythonUnescape(HTMLEntities.pythonUnescape(t))
        return PythonText.lower(PythonText.collapseWhitespace(t))
    }
}

/// Python `str` behaviours the CLIP reference relies on.
enum PythonText {
    /// `str.isspace()`: bidirectional class WS, B or S, or category Zs.
    static func isSpace(_ v: UInt32) -> Bool {
        switch v {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// `" ".join(text.split())` (which also strips).
    static func collapseWhitespace(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        for s in text.unicodeScalars {
            if isSpace(s.value) {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" "); pendingSpace = false }
                out.append(s)
            }
        }
        return String(out)
    }

    /// `str.lower()`: full lower-case mappings, with Greek final sigma.
    static func lower(_ text: String) -> String {
        let s = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        for (i, c) in s.enumerated() {
            let v = c.value
            if v < 128 {
                out.append(v >= 0x41 && v <= 0x5A ? Unicode.Scalar(v + 32)! : c)
            } else if v == 0x3A3 {
                out.append(isFinalSigma(s, i) ? "\u{3C2}" : "\u{3C3}")
            } else {
                out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return String(out)
    }

    private static func isFinalSigma(_ s: [Unicode.Scalar], _ i: Int) -> Bool {
        var j = i - 1
        while j >= 0 && s[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0 && s[j].properties.isCased else { return false }
        j = i + 1
        while j < s.count && s[j].properties.isCaseIgnorable { j += 1 }
        return j == s.count || !s[j].properties.isCased
    }
}

/// The deterministic fixers of `ftfy.fix_text` (ftfy 6.3, default configuration).
enum Ftfy {
    static func fixText(_ text: String) -> String {
        // ftfy works line by line; once a line contains '<' it stops decoding HTML entities for
        // the rest of the text (its "auto" setting is switched off for good).
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var unescape = true
        var start = 0
        while start < scalars.count {
            var end = start
            while end < scalars.count && scalars[end] != "\n" { end += 1 }
            if end < scalars.count { end += 1 }
            let segment = Array(scalars[start..<end])
            if unescape && segment.contains("<") { unescape = false }
            out.append(contentsOf: fixSegment(segment, unescape: unescape))
            start = end
        }
        return String(out)
    }

    private static func fixSegment(_ segment: [Unicode.Scalar], unescape: Bool) -> [Unicode.Scalar] {
        // Printable ASCII (plus tab and newline) without '&' is left unchanged by every fixer.
        if segment.allSatisfy({ ($0.value >= 0x20 && $0.value < 0x7F && $0 != "&") || $0 == "\t" || $0 == "\n" }) {
            return segment
        }
        var t = segment
        while true {
            let original = t
            if unescape { t = Array(HTMLEntities.ftfyUnescape(String(String.UnicodeScalarView(t))).unicodeScalars) }
            t = fixC1Controls(t)
            t = t.flatMap { ligatures[$0.value] ?? [$0] }
            t = t.flatMap { widthMap[$0.value] ?? [$0] }
            t = t.map { uncurl($0) }
            t = fixLineBreaks(t)
            t = removeTerminalEscapes(t)
            t = t.filter { !isRemovedControl($0.value) }
            t = Array(UnicodeSupport.nfc(String(String.UnicodeScalarView(t))).unicodeScalars)
            if t == original { return t }
        }
    }

    /// C1 controls U+0080…U+009F read as Windows-1252 (undefined bytes keep their code point).
    static let windows1252: [UInt32: UInt32] = [
        0x80: 0x20AC, 0x82: 0x201A, 0x83: 0x0192, 0x84: 0x201E, 0x85: 0x2026, 0x86: 0x2020, 0x87: 0x2021,
        0x88: 0x02C6, 0x89: 0x2030, 0x8A: 0x0160, 0x8B: 0x2039, 0x8C: 0x0152, 0x8E: 0x017D, 0x91: 0x2018,
        0x92: 0x2019, 0x93: 0x201C, 0x94: 0x201D, 0x95: 0x2022, 0x96: 0x2013, 0x97: 0x2014, 0x98: 0x02DC,
        0x99: 0x2122, 0x9A: 0x0161, 0x9B: 0x203A, 0x9C: 0x0153, 0x9E: 0x017E, 0x9F: 0x0178,
    ]

    private static func fixC1Controls(_ t: [Unicode.Scalar]) -> [Unicode.Scalar] {
        t.map { s in
            guard s.value >= 0x80 && s.value <= 0x9F, let m = windows1252[s.value] else { return s }
            return Unicode.Scalar(m)!
        }
    }

    private static let ligatures: [UInt32: [Unicode.Scalar]] = {
        let table: [(UInt32, String)] = [
            (0x0132, "IJ"), (0x0133, "ij"), (0x0149, "\u{02BC}n"), (0x01F1, "DZ"), (0x01F2, "Dz"), (0x01F3, "dz"),
            (0x01C4, "D\u{017D}"), (0x01C5, "D\u{017E}"), (0x01C6, "d\u{017E}"), (0x01C7, "LJ"), (0x01C8, "Lj"),
            (0x01C9, "lj"), (0x01CA, "NJ"), (0x01CB, "Nj"), (0x01CC, "nj"), (0xFB00, "ff"), (0xFB01, "fi"),
            (0xFB02, "fl"), (0xFB03, "ffi"), (0xFB04, "ffl"), (0xFB05, "\u{017F}t"), (0xFB06, "st"),
        ]
        var d: [UInt32: [Unicode.Scalar]] = [:]
        for (k, v) in table { d[k] = Array(v.unicodeScalars) }
        return d
    }()

    /// Half- and full-width forms (U+FF01…U+FFEF) to their NFKC form; U+3000 to a space.
    private static let widthMap: [UInt32: [Unicode.Scalar]] = {
        var d: [UInt32: [Unicode.Scalar]] = [0x3000: [" "]]
        for v in UInt32(0xFF01)..<UInt32(0xFFF0) {
            guard let s = Unicode.Scalar(v) else { continue }
            let original = String(s)
            let alternate = UnicodeSupport.nfkc(original)
            if !alternate.unicodeScalars.elementsEqual(original.unicodeScalars) { d[v] = Array(alternate.unicodeScalars) }
        }
        return d
    }()

    private static func uncurl(_ s: Unicode.Scalar) -> Unicode.Scalar {
        switch s.value {
        case 0x02BC, 0x2018...0x201B: return "'"
        case 0x201C...0x201F: return "\""
        default: return s
        }
    }

    private static func fixLineBreaks(_ t: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(t.count)
        var i = 0
        while i < t.count {
            let v = t[i].value
            if v == 0x0D && i + 1 < t.count && t[i + 1].value == 0x0A {
                out.append("\n"); i += 2; continue
            }
            if v == 0x0D || v == 0x2028 || v == 0x2029 || v == 0x85 { out.append("\n") } else { out.append(t[i]) }
            i += 1
        }
        return out
    }

    /// Removes ANSI escapes `ESC [ (digits|;)* letter`.
    private static func removeTerminalEscapes(_ t: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard t.contains("\u{1B}") else { return t }
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < t.count {
            if t[i] == "\u{1B}" && i + 1 < t.count && t[i + 1] == "[" {
                var j = i + 2
                while j < t.count && (t[j] == ";" || (t[j].value >= 0x30 && t[j].value <= 0x39)) { j += 1 }
                if j < t.count && ((t[j].value >= 0x41 && t[j].value <= 0x5A) || (t[j].value >= 0x61 && t[j].value <= 0x7A)) {
                    i = j + 1
                    continue
                }
            }
            out.append(t[i])
            i += 1
        }
        return out
    }

    private static func isRemovedControl(_ v: UInt32) -> Bool {
        switch v {
        case 0x00...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFC: return true
        default: return false
        }
    }
}

/// HTML character references: Python's `html.unescape` and ftfy's stricter variant.
/// Named references cover HTML 4 (with HTML5's values) plus `&apos;`; HTML5's other
/// ~2000 rarely used names are left undecoded.
enum HTMLEntities {
    static let named: [String: String] = {
        let table =
        "QUOT=22 quot=22 AMP=26 amp=26 apos=27 LT=3C lt=3C GT=3E gt=3E nbsp=A0 iexcl=A1 cent=A2 pound=A3 " +
        "curren=A4 yen=A5 brvbar=A6 sect=A7 uml=A8 COPY=A9 copy=A9 ordf=AA laquo=AB not=AC shy=AD REG=AE " +
        "reg=AE macr=AF deg=B0 plusmn=B1 sup2=B2 sup3=B3 acute=B4 micro=B5 para=B6 middot=B7 cedil=B8 " +
        "sup1=B9 ordm=BA raquo=BB frac14=BC frac12=BD frac34=BE iquest=BF Agrave=C0 Aacute=C1 Acirc=C2 " +
        "Atilde=C3 Auml=C4 Aring=C5 AElig=C6 Ccedil=C7 Egrave=C8 Eacute=C9 Ecirc=CA Euml=CB Igrave=CC " +
        "Iacute=CD Icirc=CE Iuml=CF ETH=D0 Ntilde=D1 Ograve=D2 Oacute=D3 Ocirc=D4 Otilde=D5 Ouml=D6 " +
        "times=D7 Oslash=D8 Ugrave=D9 Uacute=DA Ucirc=DB Uuml=DC Yacute=DD THORN=DE szlig=DF agrave=E0 " +
        "aacute=E1 acirc=E2 atilde=E3 auml=E4 aring=E5 aelig=E6 ccedil=E7 egrave=E8 eacute=E9 ecirc=EA " +
        "euml=EB igrave=EC iacute=ED icirc=EE iuml=EF eth=F0 ntilde=F1 ograve=F2 oacute=F3 ocirc=F4 " +
        "otilde=F5 ouml=F6 divide=F7 oslash=F8 ugrave=F9 uacute=FA ucirc=FB uuml=FC yacute=FD thorn=FE " +
        "yuml=FF OElig=152 oelig=153 Scaron=160 scaron=161 Yuml=178 fnof=192 circ=2C6 tilde=2DC Alpha=391 " +
        "Beta=392 Gamma=393 Delta=394 Epsilon=395 Zeta=396 Eta=397 Theta=398 Iota=399 Kappa=39A " +
        "Lambda=39B Mu=39C Nu=39D Xi=39E Omicron=39F Pi=3A0 Rho=3A1 Sigma=3A3 Tau=3A4 Upsilon=3A5 Phi=3A6 " +
        "Chi=3A7 Psi=3A8 Omega=3A9 alpha=3B1 beta=3B2 gamma=3B3 delta=3B4 epsilon=3B5 zeta=3B6 eta=3B7 " +
        "theta=3B8 iota=3B9 kappa=3BA lambda=3BB mu=3BC nu=3BD xi=3BE omicron=3BF pi=3C0 rho=3C1 " +
        "sigmaf=3C2 sigma=3C3 tau=3C4 upsilon=3C5 phi=3C6 chi=3C7 psi=3C8 omega=3C9 thetasym=3D1 " +
        "upsih=3D2 piv=3D6 ensp=2002 emsp=2003 thinsp=2009 zwnj=200C zwj=200D lrm=200E rlm=200F " +
        "ndash=2013 mdash=2014 lsquo=2018 rsquo=2019 sbquo=201A ldquo=201C rdquo=201D bdquo=201E " +
        "dagger=2020 Dagger=2021 bull=2022 hellip=2026 permil=2030 prime=2032 Prime=2033 lsaquo=2039 " +
        "rsaquo=203A oline=203E frasl=2044 euro=20AC image=2111 weierp=2118 real=211C trade=2122 " +
        "alefsym=2135 larr=2190 uarr=2191 rarr=2192 darr=2193 harr=2194 crarr=21B5 lArr=21D0 uArr=21D1 " +
        "rArr=21D2 dArr=21D3 hArr=21D4 forall=2200 part=2202 exist=2203 empty=2205 nabla=2207 isin=2208 " +
        "notin=2209 ni=220B prod=220F sum=2211 minus=2212 lowast=2217 radic=221A prop=221D infin=221E " +
        "ang=2220 and=2227 or=2228 cap=2229 cup=222A int=222B there4=2234 sim=223C cong=2245 asymp=2248 " +
        "ne=2260 equiv=2261 le=2264 ge=2265 sub=2282 sup=2283 nsub=2284 sube=2286 supe=2287 oplus=2295 " +
        "otimes=2297 perp=22A5 sdot=22C5 lceil=2308 rceil=2309 lfloor=230A rfloor=230B loz=25CA " +
        "spades=2660 clubs=2663 hearts=2665 diams=2666 lang=27E8 rang=27E9"
        var d: [String: String] = [:]
        for entry in table.split(separator: " ") {
            let parts = entry.split(separator: "=")
            d[String(parts[0])] = String(Unicode.Scalar(UInt32(parts[1], radix: 16)!)!)
        }
        return d
    }()

    /// Names HTML5 decodes even without the closing semicolon (the Latin-1 set).
    static let legacy: Set<String> = {
        var s = Set<String>()
        for (name, value) in named {
            let v = value.unicodeScalars.first!.value
            if (v >= 0xA0 && v <= 0xFF) || ["amp", "lt", "gt", "quot", "AMP", "LT", "GT", "QUOT", "COPY", "REG"].contains(name) {
                s.insert(name)
            }
        }
        return s
    }()

    /// ftfy's entity table: every `&name;`, plus all-caps spellings of lower-case names that do
    /// not already mean something else (decoded to the upper-case character).
    static let ftfyEntities: [String: String] = {
        var d: [String: String] = [:]
        for (name, value) in named { d["&" + name + ";"] = value }
        for (name, value) in named where name == name.lowercased() {
            let upper = "&" + name.uppercased() + ";"
            if d[upper] == nil && pythonUnescape(upper) == upper { d[upper] = value.uppercased() }
        }
        return d
    }()

    private static func isAlnum(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A)
    }

    /// ftfy's `unescape_html`: `&#?[0-9A-Za-z]{1,24};` decoded when known.
    static func ftfyUnescape(_ text: String) -> String {
        guard text.unicodeScalars.contains("&") else { return text }
        let s = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < s.count {
            if s[i] == "&" {
                var j = i + 1
                if j < s.count && s[j] == "#" { j += 1 }
                let runStart = j
                while j < s.count && isAlnum(s[j]) && j - runStart < 24 { j += 1 }
                if j > runStart && j < s.count && s[j] == ";" {
                    let entity = String(String.UnicodeScalarView(s[i...j]))
                    var replacement = entity
                    if let v = ftfyEntities[entity] {
                        replacement = v
                    } else if s[i + 1] == "#" {
                        let decoded = pythonUnescape(entity)
                        if !decoded.unicodeScalars.contains(";") { replacement = decoded }
                    }
                    out.append(contentsOf: replacement.unicodeScalars)
                    i = j + 1
                    continue
                }
            }
            out.append(s[i])
            i += 1
        }
        return String(out)
    }

    /// Python's `html.unescape`.
    static func pythonUnescape(_ text: String) -> String {
        guard text.unicodeScalars.contains("&") else { return text }
        let s = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 0x30 && c.value <= 0x39 }
        func isHex(_ c: Unicode.Scalar) -> Bool { c.properties.isASCIIHexDigit }
        while i < s.count {
            guard s[i] == "&", i + 1 < s.count else { out.append(s[i]); i += 1; continue }
            if s[i + 1] == "#" {
                var j = i + 2
                var hex = false
                if j < s.count && isDigit(s[j]) {
                    while j < s.count && isDigit(s[j]) { j += 1 }
                } else if j + 1 < s.count && (s[j] == "x" || s[j] == "X") && isHex(s[j + 1]) {
                    hex = true
                    j += 1
                    while j < s.count && isHex(s[j]) { j += 1 }
                } else {
                    out.append(s[i]); i += 1; continue
                }
                let digits = String(String.UnicodeScalarView(s[(i + (hex ? 3 : 2))..<j]))
                if j < s.count && s[j] == ";" { j += 1 }
                out.append(contentsOf: numericReference(digits, hex: hex).unicodeScalars)
                i = j
                continue
            }
            // Named: up to 32 characters outside [\t\n\f <&#;], then an optional ';'.
            var j = i + 1
            while j < s.count && j - (i + 1) < 32 {
                let v = s[j].value
                if v == 0x09 || v == 0x0A || v == 0x0C || v == 0x20 || v == 0x3C || v == 0x26 || v == 0x23 || v == 0x3B { break }
                j += 1
            }
            if j == i + 1 { out.append(s[i]); i += 1; continue }
            var name = String(String.UnicodeScalarView(s[(i + 1)..<j]))
            let hasSemicolon = j < s.count && s[j] == ";"
            if hasSemicolon { j += 1 }
            let full = hasSemicolon ? name + ";" : name
            if let v = lookup(full) {
                out.append(contentsOf: v.unicodeScalars)
            } else {
                // The longest known prefix (at least two characters), the rest kept verbatim.
                let chars = Array(full.unicodeScalars)
                var replaced = false
                var x = chars.count - 1
                while x > 1 {
                    name = String(String.UnicodeScalarView(chars[0..<x]))
                    if let v = lookup(name) {
                        out.append(contentsOf: v.unicodeScalars)
                        out.append(contentsOf: chars[x...])
                        replaced = true
                        break
                    }
                    x -= 1
                }
                if !replaced {
                    out.append("&")
                    out.append(contentsOf: full.unicodeScalars)
                }
            }
            i = j
        }
        return String(out)
    }

    /// Looks a name up the way Python's `html5` table answers: "name;" for every entity,
    /// "name" only for the legacy ones.
    private static func lookup(_ key: String) -> String? {
        if key.hasSuffix(";") { return named[String(key.dropLast())] }
        return legacy.contains(key) ? named[key] : nil
    }

    private static func numericReference(_ digits: String, hex: Bool) -> String {
        // Values beyond Unicode only need to be recognised as such.
        var value: UInt64 = 0
        for c in digits.unicodeScalars {
            let d = UInt64(Int(String(c), radix: hex ? 16 : 10) ?? 0)
            value = value * (hex ? 16 : 10) + d
            if value > 0x10FFFF { value = 0x110000; break }
        }
        let v = UInt32(value)
        if let m = invalidCharrefs[v] { return m }
        if (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF { return "\u{FFFD}" }
        if (v >= 0x1 && v <= 0x8) || (v >= 0xE && v <= 0x1F) || (v >= 0x7F && v <= 0x9F) || (v >= 0xFDD0 && v <= 0xFDEF)
            || v == 0xB || (v & 0xFFFE) == 0xFFFE {
            return ""
        }
        return String(Unicode.Scalar(v)!)
    }

    private static let invalidCharrefs: [UInt32: String] = {
        var d: [UInt32: String] = [0x00: "\u{FFFD}", 0x0D: "\r"]
        for v in UInt32(0x80)...UInt32(0x9F) {
            d[v] = String(Unicode.Scalar(Ftfy.windows1252[v] ?? v)!)
        }
        return d
    }()
}
