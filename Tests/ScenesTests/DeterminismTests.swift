import Formats
import Images
import Scenes
import TensorKit
import Testing

/// The same seed gives the same bytes: pinned SHA-256 digests of rendered pixels and captions.
/// The renderer uses integer arithmetic only, so these hold on every machine; a change here
/// means the data set changed (bump `SceneDataset.version`).
@Suite struct DeterminismTests {
    /// A fixed scene with every shape, pattern and a gradient: pins the renderer alone.
    static let showcase = SceneDescription(objects: [
        SceneObject(shape: .circle, color: .red, size: .large, pattern: .striped(.white), cell: GridCell(index: 0)),
        SceneObject(shape: .square, color: .blue, size: .medium, pattern: .dotted(.yellow), cell: GridCell(index: 1)),
        SceneObject(shape: .triangle, color: .green, size: .small, cell: GridCell(index: 2)),
        SceneObject(shape: .star, color: .orange, size: .large, pattern: .outlined(.black), cell: GridCell(index: 3)),
        SceneObject(shape: .ring, color: .purple, size: .medium, cell: GridCell(index: 4)),
        SceneObject(shape: .cross, color: .cyan, size: .large, pattern: .checkered(.brown), cell: GridCell(index: 5)),
        SceneObject(shape: .diamond, color: .pink, size: .medium, cell: GridCell(index: 6)),
        SceneObject(shape: .heart, color: .red, size: .large, cell: GridCell(index: 7)),
        SceneObject(shape: .hexagon, color: .grey, size: .medium, pattern: .outlined(.yellow), cell: GridCell(index: 8)),
    ], background: .gradient(.white, .paleBlue, .diagonal))

    static let crescent = SceneDescription(objects: [
        SceneObject(shape: .crescent, color: .black, size: .large, pattern: .plain, cell: GridCell(index: 4)),
    ], background: .checkered(.paleYellow, .beige))

    @Test func showcaseRenderingIsPinned() {
        let a = SceneRenderer.render(Self.showcase, size: 64)
        let b = SceneRenderer.render(Self.showcase, size: 224)
        let c = SceneRenderer.render(Self.crescent, size: 96)
        #expect(SHA256.hex(of: a.pixels) == "efe5ae7e7325f41b1b3a65fb516c0776adfde24602165f4a1289b63cbb6dfd67")
        #expect(SHA256.hex(of: b.pixels) == "caf5c336b6927999e10b2925d7103e4589eb78695a613d3db6ca992f57fab43d")
        #expect(SHA256.hex(of: c.pixels) == "d6bbc357b135b1754d7e5831db3b17bd37b812a1bd4eb8b39ceef06fdf5d2426")
    }

    @Test func samplesArePinned() {
        let s0 = SceneDataset.sample(index: 0, seed: 1)
        let s7 = SceneDataset.sample(index: 7, seed: 1)
        let e3 = SceneDataset.sample(index: 3, seed: 2024, imageSize: 224, split: .eval, heldOutWording: true)
        #expect(s0.key == "train-00000000")
        #expect(e3.key == "eval-00000003")
        #expect(SHA256.hex(of: s0.image.pixels) == "8003fe2af82303cb809e73d03f784946c88ee13d021775bc52f94ed1b1420daa")
        #expect(SHA256.hex(of: s7.image.pixels) == "c3299638643b131a46229a81abb70ec1fb6744955ac9f1d90bd03caf76f12d28")
        #expect(SHA256.hex(of: e3.image.pixels) == "db2c95fecdff528f6e2c578c903f28501953d64d1e222093866bdb48e103c592")
        func text(_ s: SceneSample) -> String { (s.shortCaptions + [s.denseCaption]).joined(separator: "\n") }
        #expect(sha256(text(s0)) == "569172db48d11ff8303f312836d290ccca06ad5fc0d66cecb1861d2c6550fee3")
        #expect(sha256(text(s7)) == "4587d36d6686f579276ba2d5f4a6f689d29ca9e6643001308bd1e35f6909c313")
        #expect(sha256(text(e3)) == "9a16dde35b22772df7c597bf7baabb559f2af0acb40b06437572effb921c4919")
        #expect(s0.shortCaptions.first == "A red triangle and a grey triangle on a black background")
    }

    @Test func generationIsRepeatableAndThreadIndependent() {
        let a = SceneDataset.generate(count: 24, seed: 9, imageSize: 48, threads: 1)
        let b = SceneDataset.generate(count: 24, seed: 9, imageSize: 48, threads: 3)
        let c = SceneDataset.generate(count: 24, seed: 9, imageSize: 48)
        #expect(a == b)
        #expect(a == c)
        // Sample i depends only on (seed, split, i): a later window equals the tail.
        let tail = SceneDataset.generate(count: 8, seed: 9, imageSize: 48, start: 16, threads: 2)
        #expect(Array(a[16...]) == tail)
        #expect(a.map(\.index) == Array(0..<24))
    }

    @Test func seedsSplitsAndWordingAreIndependentStreams() {
        let train = SceneDataset.generateText(count: 20, seed: 5)
        let eval = SceneDataset.generateText(count: 20, seed: 5, split: .eval)
        let other = SceneDataset.generateText(count: 20, seed: 6)
        #expect(zip(train, eval).filter { $0.description == $1.description }.count == 0)
        #expect(zip(train, other).filter { $0.description == $1.description }.count == 0)
        // Held-out wording changes the words, never the scene.
        let heldOut = SceneDataset.generateText(count: 20, seed: 5, heldOutWording: true)
        #expect(zip(train, heldOut).allSatisfy { $0.description == $1.description && $0.denseCaption != $1.denseCaption })
    }
}
