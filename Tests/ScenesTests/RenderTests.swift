import Images
import Scenes
import TensorKit
import Testing

@Suite struct RenderTests {
    /// Pixels that differ from the empty background, inside and outside the object's box.
    func changedPixels(_ object: SceneObject, background: SceneBackground, size: Int) -> (inside: Int, outside: Int) {
        let empty = SceneRenderer.render(SceneDescription(objects: [], background: background), size: size)
        let full = SceneRenderer.render(SceneDescription(objects: [object], background: background), size: size)
        let u = SceneDescription.units
        let x0 = (object.centerX - object.radius) * size / u - 1, x1 = (object.centerX + object.radius) * size / u + 1
        let y0 = (object.centerY - object.radius) * size / u - 1, y1 = (object.centerY + object.radius) * size / u + 1
        var inside = 0, outside = 0
        for y in 0..<size {
            for x in 0..<size where empty[x, y] != full[x, y] {
                if x >= x0 && x <= x1 && y >= y0 && y <= y1 { inside += 1 } else { outside += 1 }
            }
        }
        return (inside, outside)
    }

    @Test(arguments: ShapeKind.allCases)
    func everyShapeIsVisibleWhereItIs(_ shape: ShapeKind) {
        for size in ObjectSize.allCases {
            let o = SceneObject(shape: shape, color: .red, size: size, cell: GridCell(index: 4))
            let (inside, outside) = changedPixels(o, background: .plain(.white), size: 64)
            // The object's box at 64 px is about (2 r × 64 / 6144)² pixels; every shape covers a good part of it.
            let side = 2 * o.radius * 64 / SceneDescription.units
            #expect(inside >= side * side / 4, "\(shape) \(size): only \(inside) pixels changed")
            #expect(outside == 0, "\(shape) \(size): \(outside) pixels changed outside its box")
        }
    }

    @Test func patternsShowTheirSecondColour() {
        for pattern in [ObjectPattern.striped(.white), .dotted(.white), .checkered(.white), .outlined(.white)] {
            let o = SceneObject(shape: .square, color: .blue, size: .large, pattern: pattern, cell: GridCell(index: 4))
            let image = SceneRenderer.render(SceneDescription(objects: [o], background: .plain(.black)), size: 128)
            var white = 0, blue = 0
            for y in 0..<128 {
                for x in 0..<128 {
                    let p = image[x, y]
                    if p == (250, 250, 250) { white += 1 }
                    if p == (38, 78, 212) { blue += 1 }
                }
            }
            #expect(white > 50 && blue > 50, "\(pattern): \(white) white, \(blue) blue pixels")
        }
    }

    @Test func randomScenesShowEveryObject() {
        for t in SceneDataset.generateText(count: 40, seed: 11) {
            for o in t.description.objects {
                let bg = t.description.background
                // Each object alone on the scene's background changes pixels in its box.
                let (inside, outside) = changedPixels(o, background: bg, size: 64)
                #expect(inside > 20, "\(t.key): \(o.shape) changed \(inside) pixels")
                #expect(outside == 0)
            }
            let cells = t.description.objects.map(\.cell)
            #expect(Set(cells).count == cells.count, "\(t.key): two objects share a cell")
        }
    }

    @Test func antiAliasedEdgesAndExactFills() {
        let o = SceneObject(shape: .circle, color: .black, size: .large, cell: GridCell(index: 4))
        let image = SceneRenderer.render(SceneDescription(objects: [o], background: .plain(.white)), size: 64)
        var levels = Set<UInt8>()
        for y in 0..<64 { for x in 0..<64 { levels.insert(image[x, y].0) } }
        #expect(levels.contains(18) && levels.contains(244))
        #expect(levels.count > 6, "edges should blend: \(levels.sorted())")
        #expect(image[32, 32] == (18, 18, 18))
        #expect(image[0, 0] == (244, 244, 244))
    }

    @Test func backgroundsCoverTheirTones() {
        let g = SceneRenderer.render(SceneDescription(objects: [], background: .gradient(.white, .black, .vertical)), size: 64)
        #expect(g[10, 0].0 > 230 && g[10, 63].0 < 30 && g[0, 20] == g[63, 20])
        let h = SceneRenderer.render(SceneDescription(objects: [], background: .gradient(.white, .black, .horizontal)), size: 64)
        #expect(h[0, 10].0 > 230 && h[63, 10].0 < 30 && h[20, 0] == h[20, 63])
        let c = SceneRenderer.render(SceneDescription(objects: [], background: .checkered(.white, .black)), size: 64)
        #expect(c[3, 3] == (244, 244, 244) && c[11, 3] == (12, 12, 12) && c[11, 11] == (244, 244, 244))
        let s = SceneRenderer.render(SceneDescription(objects: [], background: .striped(.white, .black, .vertical)), size: 64)
        #expect(s[3, 3] == (244, 244, 244) && s[11, 40] == (12, 12, 12))
    }
}
