import Foundation
import Scenes
import Testing

/// `maxObjects` cuts the world down to simpler scenes (the demo's knob for a small budget).
@Suite struct SceneComplexityTests {
    @Test func maxObjectsBoundsEveryScene() {
        for cap in SceneDataset.maxObjectsRange {
            let texts = SceneDataset.generateText(count: 120, seed: 5, maxObjects: cap)
            let counts = texts.map(\.description.objects.count)
            #expect(counts.allSatisfy { (1...cap).contains($0) }, "maxObjects \(cap): counts \(Set(counts).sorted())")
            // Every allowed count occurs (the weights are all positive).
            #expect(Set(counts) == Set(1...cap), "maxObjects \(cap): counts seen \(Set(counts).sorted())")
        }
    }

    @Test func fullWorldIsTheDefaultAndSmallerWorldsHaveShorterCaptions() {
        // maxObjects 6 keeps the full weights, so the pinned data set is unchanged.
        #expect(SceneDataset.objectCountWeights(maxObjects: 6) == SceneDescription.defaultObjectCountWeights)
        #expect(SceneDataset.generateText(count: 20, seed: 9) == SceneDataset.generateText(count: 20, seed: 9, maxObjects: 6))
        let full = SceneDataset.generateText(count: 200, seed: 9).map(\.denseCaption.count).reduce(0, +)
        let two = SceneDataset.generateText(count: 200, seed: 9, maxObjects: 2).map(\.denseCaption.count).reduce(0, +)
        #expect(Double(two) < 0.7 * Double(full), "dense characters: \(two) with ≤2 objects vs \(full) in the full world")
        // The same index still gives the same pixels and captions for the same cap.
        #expect(SceneDataset.sample(index: 3, seed: 9, maxObjects: 2) == SceneDataset.generate(count: 1, seed: 9, start: 3, maxObjects: 2)[0])
    }

    @Test func generationInfoRecordsTheCap() throws {
        let root = try ScenesPaths.tempFolder("complexity")
        defer { try? FileManager.default.removeItem(atPath: root) }
        var options = SceneExportOptions()
        options.webDataset = false
        let exporter = try SceneExporter(directory: root, options: options)
        try exporter.add(SceneDataset.generate(count: 3, seed: 2, maxObjects: 1))
        _ = try exporter.finish(info: SceneGenerationInfo(seed: 2, count: 3, imageSize: 64, split: .train, heldOutWording: false, maxObjects: 1))
        let info = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/scenes.json"))) as! [String: Any]
        #expect(info["max_objects"] as? Int == 1)
    }
}
