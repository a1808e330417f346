import Foundation
import Formats
import Testing
import Tokenizers

/// Paths relative to the package root (found from this file's location).
enum ScenesPaths {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let vocab = packageRoot.appendingPathComponent(".cache/assets/openclip-vocab/bpe_simple_vocab_16e6.txt.gz").path

    /// A fresh empty folder under the temporary directory.
    static func tempFolder(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("llm2clip-scenes-\(getpid())-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }
}

struct MissingAsset: Error, CustomStringConvertible {
    let path: String
    var description: String { "missing \(path): run `bash scripts/assets.sh` to install the CLIP vocabulary" }
}

/// The real OpenAI CLIP tokenizer (loaded once).
enum CLIPVocab {
    static let tokenizer: Result<CLIPTokenizer, Error> = {
        guard FileManager.default.fileExists(atPath: ScenesPaths.vocab) else { return .failure(MissingAsset(path: ScenesPaths.vocab)) }
        return Result { try Tokenizers.clip(vocabPath: ScenesPaths.vocab) }
    }()
}

/// Runs a program and returns (status, stdout, stderr).
func run(_ executable: String, _ arguments: [String], in directory: String? = nil) throws -> (Int32, String, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

func sha256(_ text: String) -> String { SHA256.hex(of: Array(text.utf8)) }

/// Whole-word (or whole-phrase) occurrence, case-insensitive: "tan" is not found in "distance".
func containsPhrase(_ text: String, _ phrase: String) -> Bool {
    let t = Array(text.lowercased().unicodeScalars), p = Array(phrase.lowercased().unicodeScalars)
    guard !p.isEmpty, t.count >= p.count else { return false }
    func isWordChar(_ c: Unicode.Scalar) -> Bool { c.properties.isAlphabetic || c == "-" || ("0"..."9").contains(c) }
    var i = 0
    while i + p.count <= t.count {
        if Array(t[i..<(i + p.count)]) == p {
            let before = i == 0 || !isWordChar(t[i - 1])
            let after = i + p.count == t.count || !isWordChar(t[i + p.count])
            if before && after { return true }
        }
        i += 1
    }
    return false
}
