import Foundation
import Testing
import Datasets
import Formats
import TensorKit

private let identity = FeatureEncoderIdentity(model: "tiny.gguf", modelHash: "abc123", pooling: "mean", template: "chatml",
                                              maxLength: 512, dimension: 4)

/// A deterministic "encoder": the vector of a key depends only on the key.
private func vectors(_ keys: [String]) -> Tensor {
    Tensor(keys.flatMap { k -> [Float] in
        let h = k.unicodeScalars.reduce(7) { ($0 &* 31 &+ Int($1.value)) % 10007 }
        return (0..<4).map { Float((h * ($0 + 3)) % 101) / 100 }
    }, shape: [keys.count, 4])
}

private let allKeys = (0..<23).map { "img\($0)#s0" }
private let killDir = "/tmp/llm2clip-featurestore-kill-test"

private func freshDir(_ name: String) -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("llm2clip-fs-\(name)-\(getpid())").path
    try? FileManager.default.removeItem(atPath: d)
    return d
}

/// Extracts `keys` in batches of 3 into `dir`, skipping keys already stored.
private func extract(_ dir: String, keys: [String], stopAfterBatches: Int? = nil) throws {
    let w = try FeatureStoreWriter(directory: dir, identity: identity, shardSize: 5, expectedCount: keys.count)
    let todo = keys.filter { !w.contains($0) }
    var batches = 0
    for start in stride(from: 0, to: todo.count, by: 3) {
        if let s = stopAfterBatches, batches == s { exit(9) }   // killed mid-extraction
        let b = Array(todo[start..<min(todo.count, start + 3)])
        try w.append(keys: b, vectors: vectors(b))
        batches += 1
    }
    try w.finish()
}

@Suite(.serialized) struct FeatureStoreTests {
    @Test func roundTripAndLookup() throws {
        let dir = freshDir("rt")
        try extract(dir, keys: allKeys)
        let store = try FeatureStore(directory: dir, expecting: identity)
        #expect(store.count == 23)
        let keys = ["img5#s0", "img0#s0", "img22#s0"]
        #expect(try store.vectors(for: keys).toArray() == vectors(keys).toArray())
        #expect(throws: FeatureStoreError.missingKey(directory: dir, key: "nope")) { try store.vectors(for: ["nope"]) }
    }

    /// A child process is killed after 4 batches (2 shards written, 2 vectors buffered and
    /// lost); a second run resumes, and the store equals an uninterrupted one.
    @Test func survivesAKillAndResumes() async throws {
        try? FileManager.default.removeItem(atPath: killDir)
        await #expect(processExitsWith: .exitCode(9)) {
            try extract(killDir, keys: allKeys, stopAfterBatches: 4)
        }
        #expect(throws: FeatureStoreError.incomplete(directory: killDir, missing: 13)) { try FeatureStore(directory: killDir) }
        try extract(killDir, keys: allKeys)
        let resumed = try FeatureStore(directory: killDir, expecting: identity)
        let reference = freshDir("uninterrupted")
        try extract(reference, keys: allKeys)
        let full = try FeatureStore(directory: reference)
        #expect(resumed.keys == full.keys)
        #expect(try resumed.vectors(for: allKeys).toArray() == full.vectors(for: allKeys).toArray())
    }

    @Test func refusesAStoreMadeByAnotherEncoder() throws {
        let dir = freshDir("stale")
        try extract(dir, keys: Array(allKeys.prefix(6)))
        var other = identity
        other.modelHash = "def456"
        #expect { try FeatureStoreWriter(directory: dir, identity: other) } throws: { e in
            guard case FeatureStoreError.stale(let d, let found, let wanted) = e else { return false }
            return d == dir && found == identity && wanted == other && "\(e)".contains("Delete the folder")
        }
        #expect(throws: FeatureStoreError.self) { try FeatureStore(directory: dir, expecting: other) }
    }

    @Test func damagedStoreIsReported() throws {
        let dir = freshDir("damaged")
        try extract(dir, keys: Array(allKeys.prefix(6)))
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: dir + "/store.json"))
        #expect { try FeatureStore(directory: dir) } throws: { e in
            guard case FeatureStoreError.corrupt(let d, _) = e else { return false }
            return d == dir
        }
    }

    @Test func fingerprintChangesWithContent() throws {
        let a = freshDir("fp") + ".bin"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: a))
        let h1 = try FeatureEncoderIdentity.fingerprint(path: a)
        try Data([1, 2, 4]).write(to: URL(fileURLWithPath: a))
        #expect(try FeatureEncoderIdentity.fingerprint(path: a) != h1)
    }
}
