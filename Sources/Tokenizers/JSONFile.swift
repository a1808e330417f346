import Foundation

/// Reading `tokenizer.json`-style files with errors that name the file and the key path.
struct JSONFile {
    let file: String

    static func readObject(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError.fileNotFound(file: path)
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw TokenizerError.invalidJSON(file: path, detail: Self.describe(error))
        }
        guard let object = parsed as? [String: Any] else {
            throw TokenizerError.invalidJSON(file: path, detail: "the top level is not an object")
        }
        return object
    }

    private static func describe(_ error: Error) -> String {
        let ns = error as NSError
        if let detail = ns.userInfo[NSDebugDescriptionErrorKey] as? String { return detail }
        return ns.localizedDescription
    }

    // MARK: Typed accessors. `key` is the dotted path used in messages.

    func object(_ value: Any?, _ key: String) throws -> [String: Any] {
        guard let value, !(value is NSNull) else { throw TokenizerError.missingKey(file: file, key: key) }
        guard let o = value as? [String: Any] else { throw invalid(key, value, "an object") }
        return o
    }

    func optionalObject(_ value: Any?, _ key: String) throws -> [String: Any]? {
        guard let value, !(value is NSNull) else { return nil }
        guard let o = value as? [String: Any] else { throw invalid(key, value, "an object or null") }
        return o
    }

    func array(_ value: Any?, _ key: String) throws -> [Any] {
        guard let value, !(value is NSNull) else { throw TokenizerError.missingKey(file: file, key: key) }
        guard let a = value as? [Any] else { throw invalid(key, value, "an array") }
        return a
    }

    func string(_ value: Any?, _ key: String) throws -> String {
        guard let value, !(value is NSNull) else { throw TokenizerError.missingKey(file: file, key: key) }
        guard let s = value as? String else { throw invalid(key, value, "a string") }
        return s
    }

    func optionalString(_ value: Any?, _ key: String) throws -> String? {
        guard let value, !(value is NSNull) else { return nil }
        guard let s = value as? String else { throw invalid(key, value, "a string or null") }
        return s
    }

    func int(_ value: Any?, _ key: String) throws -> Int {
        guard let value, !(value is NSNull) else { throw TokenizerError.missingKey(file: file, key: key) }
        guard let i = Self.asInt(value) else { throw invalid(key, value, "an integer") }
        return i
    }

    func optionalInt(_ value: Any?, _ key: String) throws -> Int? {
        guard let value, !(value is NSNull) else { return nil }
        guard let i = Self.asInt(value) else { throw invalid(key, value, "an integer or null") }
        return i
    }

    func bool(_ value: Any?, _ key: String, default fallback: Bool) throws -> Bool {
        guard let value, !(value is NSNull) else { return fallback }
        guard let b = Self.asBool(value) else { throw invalid(key, value, "true or false") }
        return b
    }

    func optionalBool(_ value: Any?, _ key: String) throws -> Bool? {
        guard let value, !(value is NSNull) else { return nil }
        guard let b = Self.asBool(value) else { throw invalid(key, value, "true, false or null") }
        return b
    }

    func invalid(_ key: String, _ value: Any, _ expected: String) -> TokenizerError {
        .invalidValue(file: file, key: key, value: Self.render(value), expected: expected)
    }

    static func render(_ value: Any) -> String {
        if let s = value as? String { return "'\(s)'" }
        if JSONSerialization.isValidJSONObject([value]),
           let data = try? JSONSerialization.data(withJSONObject: [value], options: []),
           var text = String(data: data, encoding: .utf8) {
            text.removeFirst(); text.removeLast()
            return text.count > 80 ? String(text.prefix(80)) + "…" : text
        }
        return String(describing: value)
    }

    /// JSON booleans arrive as NSNumber; on Linux they also bridge to Int (and 0/1 to Bool),
    /// so booleans are told apart by their Objective-C type code.
    static func isBoolean(_ value: Any) -> Bool {
        if let n = value as? NSNumber { return String(cString: n.objCType) == "c" }
        return value is Bool
    }

    static func asInt(_ value: Any) -> Int? {
        if isBoolean(value) { return nil }
        if let i = value as? Int { return i }
        if let d = value as? Double, d.rounded() == d, abs(d) < 1e18 { return Int(d) }
        if let n = value as? NSNumber {
            let d = n.doubleValue
            if d.rounded() == d, abs(d) < 1e18 { return Int(d) }
        }
        return nil
    }

    static func asBool(_ value: Any) -> Bool? {
        guard isBoolean(value) else { return nil }
        return value as? Bool
    }
}

/// BOS/EOS/PAD/UNK token names and lengths from `tokenizer_config.json` / `special_tokens_map.json`.
struct SpecialTokenConfig {
    var bos: String?
    var eos: String?
    var pad: String?
    var unk: String?
    var modelMaxLength: Int?

    mutating func merge(from object: [String: Any], file: String) {
        func name(_ key: String) -> String? {
            if let s = object[key] as? String { return s }
            if let o = object[key] as? [String: Any], let s = o["content"] as? String { return s }
            return nil
        }
        bos = name("bos_token") ?? bos
        eos = name("eos_token") ?? eos
        pad = name("pad_token") ?? pad
        unk = name("unk_token") ?? unk
        if let v = object["model_max_length"], let n = v as? NSNumber, n.doubleValue < 1e12, !JSONFile.isBoolean(v) {
            modelMaxLength = n.intValue
        }
    }
}
