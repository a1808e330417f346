import Foundation
import Testing
import TensorKit
import Images

@Suite struct EncodeTests {
    @Test func pngRoundTripIsExact() throws {
        var rng = RNG(seed: 21)
        for (w, h) in [(1, 1), (17, 5), (64, 48), (3, 200)] {
            let pixels = (0..<(w * h * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let image = RGBImage(width: w, height: h, pixels: pixels)
            let path = Paths.temp("roundtrip-\(w)x\(h).png")
            try image.writePNG(to: path)
            #expect(try RGBImage(contentsOf: path) == image)
            #expect(try RGBImage(data: try image.pngData(compressionLevel: 1)) == image)
        }
        // A real photo survives too.
        if let p = Paths.asset("coffee.png") {
            let photo = try RGBImage(contentsOf: p)
            #expect(try RGBImage(data: try photo.pngData()) == photo)
        }
    }

    @Test func rgbaRoundTrip() throws {
        let image = RGBImage(width: 2, height: 2, pixels: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        let alpha: [UInt8] = [0, 85, 170, 255]
        let path = Paths.temp("rgba.png")
        try image.writePNG(to: path, alpha: alpha)
        #expect(try RGBImage(contentsOf: path) == image)   // alpha dropped on read
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(data[25] == 6)   // IHDR colour type: RGBA
    }

    @Test func atomicWriteLeavesNoTemporaryAndKeepsOldFileOnFailure() throws {
        let path = Paths.temp("atomic.png")
        let a = RGBImage(width: 4, height: 4, fill: (200, 10, 10))
        try a.writePNG(to: path)
        let dir = (path as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { !$0.contains(".tmp-") })
        // Writing into a folder that does not exist fails with a typed error naming the path.
        let bad = Paths.temp("no-such-folder/x.png")
        #expect(throws: ImageError.self) { try a.writePNG(to: bad) }
        do { try a.writePNG(to: bad) } catch let e as ImageError {
            #expect(e.name == bad)
        }
        #expect(try RGBImage(contentsOf: path) == a)
    }
}

@Suite struct BatchTests {
    private func photoPaths() -> [String] {
        ["astronaut.png", "chelsea.png", "rocket.jpg", "camera.png", "coffee.png"].compactMap { Paths.asset($0) }
    }

    @Test func batchEqualsOneAtATime() throws {
        let paths = photoPaths()
        try #require(paths.count == 5)
        let clip = CLIPTransform(size: 64)
        let batch = try ImageBatcher(transform: clip, threads: 2).tensor(paths)
        #expect(batch.shape == [5, 3, 64, 64])
        let v = batch.toArray()
        for (i, p) in paths.enumerated() {
            let one = clip.eval(try RGBImage(contentsOf: p)).toArray()
            #expect(Array(v[(i * one.count)..<((i + 1) * one.count)]) == one, "\(p)")
        }
        // Training crops do not depend on the thread count.
        let t1 = ImageBatcher(transform: clip, threads: 1).load(paths, mode: .train(seed: 3)).tensor.toArray()
        let t2 = ImageBatcher(transform: clip, threads: 2).load(paths, mode: .train(seed: 3)).tensor.toArray()
        let t3 = ImageBatcher(transform: clip, threads: 2).load(paths, mode: .train(seed: 4)).tensor.toArray()
        #expect(t1 == t2)
        #expect(t1 != t3)
    }

    @Test func batchReportsEveryFailureWithItsPath() throws {
        var paths = photoPaths()
        try #require(paths.count == 5)
        let missing = Paths.temp("missing-from-batch.jpg")
        let empty = Paths.temp("empty-in-batch.png")
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        paths.insert(missing, at: 1)
        paths.append(empty)
        let batcher = ImageBatcher(transform: CLIPTransform(size: 32), threads: 2)
        let r = batcher.load(paths)
        #expect(r.failures.map(\.index) == [1, 6])
        #expect(r.failures.map(\.path) == [missing, empty])
        #expect(r.failures[0].error == .fileNotFound(path: missing))
        #expect(r.failures[1].error == .empty(name: empty))
        #expect(r.tensor.shape == [7, 3, 32, 32])
        do {
            _ = try batcher.tensor(paths)
            Issue.record("expected a batch error")
        } catch let e as ImageError {
            guard case .batchFailed(let errors) = e else { Issue.record("\(e)"); return }
            #expect(errors.count == 2)
            #expect(e.description.contains(missing) && e.description.contains(empty))
        }
    }

    /// Decode + eval transform of a 512×512 photo; prints the time (the machine is shared, so the
    /// bound is loose).
    @Test func performance() throws {
        guard let p = Paths.asset("astronaut.png"), let j = Paths.asset("rocket.jpg") else { return }
        let clip = CLIPTransform(size: 224)
        var report = [String]()
        for path in [p, j] {
            _ = clip.eval(try RGBImage(contentsOf: path))   // warm-up
            var times = [Double]()
            var decode = [Double]()
            for _ in 0..<7 {
                var image: RGBImage?
                decode.append(try seconds { image = try RGBImage(contentsOf: path) })
                times.append(try seconds { _ = clip.eval(try RGBImage(contentsOf: path)) })
                _ = image
            }
            let med = times.sorted()[3] * 1000, dec = decode.sorted()[3] * 1000
            let image = try RGBImage(contentsOf: path)
            report.append("\((path as NSString).lastPathComponent) \(image.width)x\(image.height): decode \(String(format: "%.2f", dec)) ms, decode+eval \(String(format: "%.2f", med)) ms")
            #expect(med < 250, "decode + eval took \(med) ms")
        }
        print("performance (median of 7):\n  " + report.joined(separator: "\n  "))
    }
}
