import Foundation

// Small parsers for the text formats the readers use: JSON (with line numbers), JSONL lines and
// RFC-4180 CSV. Written here rather than with JSONSerialization so that every record knows the
// line it starts on and every syntax error says where it is.

// MARK: JSON

/// A parsed JSON value. Objects remember the line they start on.
indirect enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    var object: JSONObject? { if case .object(let o) = self { return o } else { return nil } }

    /// A short name of the value's type for messages.
    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Strings as themselves, numbers without a trailing ".0" when integral (for `key` fields).
    var scalarText: String? {
        switch self {
        case .string(let s): return s
        case .number(let d):
            if d.rounded() == d && abs(d) < 1e15 { return String(Int64(d)) }
            return String(d)
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }
}

struct JSONObject: Equatable {
    var fields: [String: JSONValue]
    /// 1-based line of the opening brace.
    var line: Int
    subscript(key: String) -> JSONValue? { fields[key] }
}

struct JSONSyntaxError: Error, CustomStringConvertible {
    var line: Int
    var column: Int
    var message: String
    var description: String { "line \(line), column \(column): \(message)" }
}

/// A recursive-descent JSON parser over UTF-8 bytes (RFC 8259; strict about control characters
/// in strings and trailing garbage, nesting limited to 512 levels).
struct JSONParser {
    private let b: UnsafeBufferPointer<UInt8>
    private var i = 0
    private var line: Int
    private var lineStart = 0
    private var depth = 0

    private init(_ b: UnsafeBufferPointer<UInt8>, firstLine: Int) {
        self.b = b
        self.line = firstLine
    }

    /// Parses one JSON document; `firstLine` numbers the first line (for JSONL).
    static func parse<C: ContiguousBytes>(_ bytes: C, firstLine: Int = 1) throws -> JSONValue {
        try bytes.withUnsafeBytes { raw in
            let buf = raw.bindMemory(to: UInt8.self)
            var p = JSONParser(buf, firstLine: firstLine)
            // A UTF-8 byte-order mark is allowed before the value.
            if buf.count >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF { p.i = 3 }
            p.skipSpace()
            let v = try p.value()
            p.skipSpace()
            if p.i < buf.count { throw p.error("unexpected text after the JSON value") }
            return v
        }
    }

    private func error(_ m: String) -> JSONSyntaxError {
        JSONSyntaxError(line: line, column: i - lineStart + 1, message: m)
    }

    private mutating func skipSpace() {
        while i < b.count {
            switch b[i] {
            case 0x20, 0x09, 0x0D: i += 1
            case 0x0A: i += 1; line += 1; lineStart = i
            default: return
            }
        }
    }

    private func describeHere() -> String {
        guard i < b.count else { return "the end of the text" }
        let c = b[i]
        if c >= 0x20 && c < 0x7F { return "'\(Character(UnicodeScalar(c)))'" }
        return String(format: "byte 0x%02X", c)
    }

    private mutating func value() throws -> JSONValue {
        guard i < b.count else { throw error("expected a value, found the end of the text") }
        switch b[i] {
        case UInt8(ascii: "{"): return try objectValue()
        case UInt8(ascii: "["): return try arrayValue()
        case UInt8(ascii: "\""): return .string(try stringValue())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try numberValue())
        default: throw error("expected a value, found \(describeHere())")
        }
    }

    private mutating func literal(_ word: String) throws {
        for c in word.utf8 {
            guard i < b.count, b[i] == c else { throw error("invalid literal (expected \(word))") }
            i += 1
        }
    }

    private mutating func enter() throws {
        depth += 1
        if depth > 512 { throw error("nesting deeper than 512 levels") }
    }

    private mutating func objectValue() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        let startLine = line
        i += 1
        var fields: [String: JSONValue] = [:]
        skipSpace()
        if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; return .object(JSONObject(fields: fields, line: startLine)) }
        while true {
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw error("expected a quoted field name, found \(describeHere())") }
            let k = try stringValue()
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { throw error("expected ':' after field name \"\(k)\", found \(describeHere())") }
            i += 1
            skipSpace()
            fields[k] = try value()
            skipSpace()
            guard i < b.count else { throw error("unterminated object (expected ',' or '}')") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; break }
            throw error("expected ',' or '}', found \(describeHere())")
        }
        return .object(JSONObject(fields: fields, line: startLine))
    }

    private mutating func arrayValue() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if i < b.count && b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value())
            skipSpace()
            guard i < b.count else { throw error("unterminated array (expected ',' or ']')") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "]") { i += 1; break }
            throw error("expected ',' or ']', found \(describeHere())")
        }
        return .array(items)
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }

    private mutating func stringValue() throws -> String {
        i += 1  // opening quote
        let start = i
        // Fast path: no escapes.
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
                i += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw error("raw control character in a string (escape it, e.g. \\n)") }
            i += 1
        }
        var bytes = Array(b[start..<i])
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return String(decoding: bytes, as: UTF8.self)
            }
            if c < 0x20 { throw error("raw control character in a string (escape it, e.g. \\n)") }
            if c != UInt8(ascii: "\\") { bytes.append(c); i += 1; continue }
            i += 1
            guard i < b.count else { break }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): bytes.append(0x22)
            case UInt8(ascii: "\\"): bytes.append(0x5C)
            case UInt8(ascii: "/"): bytes.append(0x2F)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    // A high surrogate should be followed by \uDC00–\uDFFF.
                    if i + 6 <= b.count && b[i] == UInt8(ascii: "\\") && b[i + 1] == UInt8(ascii: "u") {
                        let save = i
                        i += 2
                        let low = try hex4()
                        if low >= 0xDC00 && low < 0xE000 {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            i = save
                            scalar = 0xFFFD
                        }
                    } else {
                        scalar = 0xFFFD
                    }
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    scalar = 0xFFFD
                }
                bytes.append(contentsOf: Array(String(Character(UnicodeScalar(scalar)!)).utf8))
            default:
                i -= 1
                throw error("invalid escape \\\(Character(UnicodeScalar(e)))")
            }
        }
        throw error("unterminated string")
    }

    private mutating func numberValue() throws -> Double {
        let start = i
        if b[i] == UInt8(ascii: "-") { i += 1 }
        var digits = 0
        while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1; digits += 1 }
        if digits == 0 { throw error("invalid number") }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var frac = 0
            while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1; frac += 1 }
            if frac == 0 { throw error("invalid number (no digits after '.')") }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            var exp = 0
            while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1; exp += 1 }
            if exp == 0 { throw error("invalid number (no digits in the exponent)") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
        guard let d = Double(text) else { throw error("invalid number \(text)") }
        return d
    }
}

// MARK: lines

/// One line of a text file: 1-based number and bytes without the line break (a trailing `\r`
/// is removed too).
struct TextLine {
    var number: Int
    var bytes: ArraySlice<UInt8>

    var isBlank: Bool { bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 } }
}

enum TextLines {
    /// Splits `data` on `\n`; a final line without a break is included; a UTF-8 BOM is dropped.
    static func split(_ data: Data) -> [TextLine] {
        var all = [UInt8](data)
        if all.count >= 3 && all[0] == 0xEF && all[1] == 0xBB && all[2] == 0xBF { all.removeFirst(3) }
        var out: [TextLine] = []
        var start = 0, number = 1
        for (k, c) in all.enumerated() where c == 0x0A {
            var end = k
            if end > start && all[end - 1] == 0x0D { end -= 1 }
            out.append(TextLine(number: number, bytes: all[start..<end]))
            number += 1
            start = k + 1
        }
        if start < all.count {
            var end = all.count
            if all[end - 1] == 0x0D { end -= 1 }
            out.append(TextLine(number: number, bytes: all[start..<end]))
        }
        return out
    }
}

// MARK: CSV

/// One CSV record: its fields and the line it starts on.
struct CSVRecord {
    var fields: [String]
    var line: Int
}

/// A CSV syntax problem: the line the bad record starts on and what is wrong.
struct CSVSyntaxError {
    var line: Int
    var message: String
}

/// RFC-4180 CSV: comma-separated fields; a field in double quotes may hold commas, line breaks
/// and doubled quotes (`""` → `"`); records end with LF or CRLF; blank lines are ignored; a
/// UTF-8 BOM is dropped. A quote inside an unquoted field is kept as a character (as Python's
/// `csv` does). A stray character after a closing quote, or a quote that never closes, makes the
/// record an error; parsing resumes on the next line.
enum CSVParser {
    static func parse(_ data: Data) -> (records: [CSVRecord], errors: [CSVSyntaxError]) {
        var bytes = [UInt8](data)
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { bytes.removeFirst(3) }
        var records: [CSVRecord] = []
        var errors: [CSVSyntaxError] = []
        let n = bytes.count
        var i = 0
        var line = 1
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), lf: UInt8 = 0x0A, cr: UInt8 = 0x0D

        // Skips to just after the next line break (for error recovery).
        func skipLine() {
            while i < n && bytes[i] != lf { i += 1 }
            if i < n { i += 1; line += 1 }
        }

        recordLoop: while i < n {
            let recordLine = line
            var fields: [String] = []
            var field: [UInt8] = []
            // Blank line.
            if bytes[i] == lf { i += 1; line += 1; continue }
            if bytes[i] == cr && i + 1 < n && bytes[i + 1] == lf { i += 2; line += 1; continue }
            fieldLoop: while true {
                field.removeAll(keepingCapacity: true)
                if i < n && bytes[i] == quote {
                    i += 1
                    var closed = false
                    while i < n {
                        let c = bytes[i]
                        if c == quote {
                            if i + 1 < n && bytes[i + 1] == quote { field.append(quote); i += 2; continue }
                            i += 1
                            closed = true
                            break
                        }
                        if c == lf { line += 1 }
                        field.append(c)
                        i += 1
                    }
                    if !closed {
                        errors.append(CSVSyntaxError(line: recordLine, message: "a quoted field opened on line \(recordLine) never closes"))
                        break recordLoop
                    }
                    // After the closing quote: a comma, a line break or the end.
                    if i < n && bytes[i] != comma && bytes[i] != lf && !(bytes[i] == cr && (i + 1 == n || bytes[i + 1] == lf)) {
                        errors.append(CSVSyntaxError(line: line, message: "unexpected character after a closing quote in field \(fields.count + 1)"))
                        skipLine()
                        continue recordLoop
                    }
                } else {
                    while i < n && bytes[i] != comma && bytes[i] != lf {
                        if bytes[i] == cr && (i + 1 == n || bytes[i + 1] == lf) { break }
                        field.append(bytes[i])
                        i += 1
                    }
                }
                fields.append(String(decoding: field, as: UTF8.self))
                if i < n && bytes[i] == comma { i += 1; continue fieldLoop }
                // End of record.
                if i < n && bytes[i] == cr { i += 1 }
                if i < n && bytes[i] == lf { i += 1; line += 1 }
                break fieldLoop
            }
            records.append(CSVRecord(fields: fields, line: recordLine))
        }
        return (records, errors)
    }
}

// MARK: strings

extension String {
    /// Without leading and trailing whitespace and line breaks (fast when there are none, which
    /// is the common case for captions).
    var datasetTrimmed: String {
        func space(_ c: Unicode.Scalar) -> Bool {
            c.value < 0x80 ? (c.value == 0x20 || (c.value >= 0x09 && c.value <= 0x0D)) : c.properties.isWhitespace
        }
        let u = unicodeScalars
        guard let first = u.first, let last = u.last else { return self }
        if !space(first) && !space(last) { return self }
        guard let start = u.firstIndex(where: { !space($0) }) else { return "" }
        let end = u.lastIndex(where: { !space($0) })!
        return String(u[start...end])
    }
}
