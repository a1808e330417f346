import Formats
import Foundation

/// Errors from loading a tokenizer. Every case names the file (or the GGUF metadata key) and,
/// where it applies, the offending key and value; `description` says what to do about it.
///
/// ```swift
/// do {
///     let tok = try Tokenizers.load(tokenizerJSON: "model/tokenizer.json")
/// } catch let error as TokenizerError {
///     print(error)   // "model/tokenizer.json: pre_tokenizer type 'Foo' is not supported; ..."
/// }
/// ```
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The file does not exist or cannot be read.
    case fileNotFound(file: String)
    /// The file is not valid JSON (or its top level is not an object).
    case invalidJSON(file: String, detail: String)
    /// A required key is absent. `key` is a dotted path such as `model.vocab`.
    case missingKey(file: String, key: String)
    /// A key holds a value of the wrong kind or out of range.
    case invalidValue(file: String, key: String, value: String, expected: String)
    /// A component (`model`, `normalizer`, `pre_tokenizer`, `post_processor`, `decoder`,
    /// `tokenizer.ggml.pre`, ...) names a type this module does not implement.
    case unsupportedType(file: String, component: String, type: String, supported: [String])
    /// The vocabulary or merges are inconsistent (a merge naming an unknown token, a gzip stream
    /// that does not decompress, ...).
    case invalidVocabulary(file: String, detail: String)

    public var description: String {
        switch self {
        case .fileNotFound(let f):
            return "\(f): no such file or not readable. Check the path; for the test assets run `bash scripts/assets.sh`."
        case .invalidJSON(let f, let d):
            return "\(f): not valid JSON (\(d)). Re-download the file; it may be truncated or an HTML error page."
        case .missingKey(let f, let k):
            return "\(f): required key '\(k)' is missing. The file is not a Hugging Face tokenizer.json of a supported kind."
        case .invalidValue(let f, let k, let v, let e):
            return "\(f): key '\(k)' has value \(v); expected \(e)."
        case .unsupportedType(let f, let c, let t, let s):
            return "\(f): \(c) type '\(t)' is not supported; supported: \(s.joined(separator: ", ")). "
                + "Convert the tokenizer to one of these or extend the Tokenizers module."
        case .invalidVocabulary(let f, let d):
            return "\(f): invalid vocabulary (\(d)). Re-download the file."
        }
    }
}
