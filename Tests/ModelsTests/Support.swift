import Foundation
import Testing
import TensorKit

/// The package root (tests locate goldens and cached assets from their own path).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let llmGoldens = packageRoot.appendingPathComponent("Tests/Goldens/llm")

/// A real asset installed by `scripts/assets.sh`; a clear failure when it is absent.
func asset(_ relative: String) throws -> String {
    let p = packageRoot.appendingPathComponent(".cache/assets").appendingPathComponent(relative).path
    guard FileManager.default.fileExists(atPath: p) else {
        Issue.record("missing asset \(p): run `bash scripts/assets.sh` (scripts/test.sh does it)")
        throw CancellationError()
    }
    return p
}

func goldenJSON(_ name: String) throws -> [String: Any] {
    let data = try Data(contentsOf: llmGoldens.appendingPathComponent(name))
    return try JSONSerialization.jsonObject(with: data) as! [String: Any]
}

/// Largest absolute difference between two equally long arrays.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    var m: Float = 0
    for (x, y) in zip(a, b) { m = max(m, abs(x - y)) }
    return m
}
