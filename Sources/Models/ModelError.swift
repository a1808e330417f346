import Foundation

/// Errors from configuring or loading a model. Each names the file and the key or value at fault
/// and says what to do.
public enum ModelError: Error, CustomStringConvertible {
    case cannotRead(path: String, reason: String)
    case badConfig(file: String, key: String, detail: String)
    case unsupportedArchitecture(file: String, found: String, supported: [String])
    case weights(file: String, detail: String)
    case noTokenizer(path: String)
    case input(String)

    public var description: String {
        switch self {
        case .cannotRead(let p, let r): return "\(p): \(r)"
        case .badConfig(let f, let k, let d): return "\(f): config key '\(k)': \(d)"
        case .unsupportedArchitecture(let f, let found, let sup):
            return "\(f): architecture '\(found)' is not supported (supported: \(sup.joined(separator: ", ")))"
        case .weights(let f, let d): return "\(f): \(d)"
        case .noTokenizer(let p):
            return "\(p): no tokenizer found (expected tokenizer.json in the model folder, or tokenizer metadata in the GGUF file)"
        case .input(let d): return d
        }
    }
}

/// Reads a JSON object from a file, with errors that name the file.
func readJSONObject(_ path: String) throws -> [String: Any] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ModelError.cannotRead(path: path, reason: "no such file or not readable")
    }
    guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw ModelError.cannotRead(path: path, reason: "not a JSON object")
    }
    return obj
}

/// Typed access to a decoded `config.json`, with errors that name the key.
struct ConfigReader {
    let json: [String: Any]
    let file: String

    func has(_ key: String) -> Bool { json[key] != nil && !(json[key] is NSNull) }

    func int(_ key: String) throws -> Int {
        guard let v = json[key] else { throw ModelError.badConfig(file: file, key: key, detail: "missing (an integer is required)") }
        if let n = v as? Int { return n }
        if let d = v as? Double, d == d.rounded() { return Int(d) }
        throw ModelError.badConfig(file: file, key: key, detail: "expected an integer, found \(v)")
    }
    func int(_ key: String, default d: Int) throws -> Int { has(key) ? try int(key) : d }
    func intOrNil(_ key: String) throws -> Int? { has(key) ? try int(key) : nil }

    func double(_ key: String, default d: Double? = nil) throws -> Double {
        guard has(key) else {
            if let d { return d }
            throw ModelError.badConfig(file: file, key: key, detail: "missing (a number is required)")
        }
        if let n = json[key] as? Double { return n }
        if let n = json[key] as? Int { return Double(n) }
        throw ModelError.badConfig(file: file, key: key, detail: "expected a number, found \(json[key]!)")
    }
    func bool(_ key: String, default d: Bool) throws -> Bool {
        guard has(key) else { return d }
        if let b = json[key] as? Bool { return b }
        throw ModelError.badConfig(file: file, key: key, detail: "expected true or false, found \(json[key]!)")
    }
    func string(_ key: String) -> String? { json[key] as? String }
    /// An id that may be an integer or a list of integers (eos_token_id).
    func ids(_ key: String) -> [Int] {
        if let n = json[key] as? Int { return [n] }
        if let a = json[key] as? [Int] { return a }
        return []
    }
}
