import Foundation
import Testing
import Images

/// Locations of the committed goldens and the installed real-photo assets.
enum Paths {
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }   // Tests/ImagesTests/Support.swift → root
        return url.path
    }()
    static let goldens = packageRoot + "/Tests/Goldens/images"
    static let assets = packageRoot + "/.cache/assets/skimage-data"

    static func golden(_ rel: String) -> String { goldens + "/" + rel }

    /// The path of a scikit-image photo; records a failure telling how to install it when missing.
    static func asset(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        let p = assets + "/" + name
        if FileManager.default.fileExists(atPath: p) { return p }
        Issue.record("missing test asset \(p): run `bash scripts/assets.sh skimage-data`", sourceLocation: sourceLocation)
        return nil
    }

    static func temp(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llm2clip-images-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }
}

/// `Tests/Goldens/images/manifest.json`, written by `scripts/make_goldens_images.py`.
struct Manifest: Decodable {
    struct Decode: Decodable {
        var input: String
        var expected: String
        var pillow_mode: String
        var width: Int
        var height: Int
        var crc32: UInt32
        var pillow_convert_rgb_crc32: UInt32?
    }
    struct Photo: Decodable {
        var asset: String
        var pillow_mode: String
        var width: Int
        var height: Int
        var crc32: UInt32
        var sample: String
        var sample_step: Int
    }
    struct Eval: Decodable {
        var asset: String?
        var input: String?
        var size: Int
        var expected: String
    }
    struct ResizedCrop: Decodable {
        var asset: String
        var box: [Int]
        var size: Int
        var expected: String
    }
    struct ResizeBox: Decodable {
        var input: String
        var size: [Int]
        var box: [Float]?
        var filter: String
        var expected: String
    }
    var pillow: String
    var pillow_libjpeg_turbo: String
    var torchvision: String
    var decode: [Decode]
    var photos: [Photo]
    var eval: [Eval]
    var resized_crop: [ResizedCrop]
    var resize_box: [ResizeBox]

    static func load() throws -> Manifest {
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.golden("manifest.json")))
        return try JSONDecoder().decode(Manifest.self, from: data)
    }
}

/// zlib's CRC-32 (the manifest's checksum of each full expected RGB array).
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var table = [UInt32](repeating: 0, count: 256)
    for i in 0..<256 {
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        table[i] = c
    }
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
    return crc ^ 0xFFFF_FFFF
}

/// Reads an expected RGB golden (an 8-bit RGB PNG written by Pillow).
func expectedImage(_ rel: String) throws -> RGBImage {
    try RGBImage(contentsOf: Paths.golden(rel), applyOrientation: false)
}

/// Every `step`-th pixel in both directions (numpy's `a[::step, ::step]`).
func subsample(_ image: RGBImage, step: Int) -> RGBImage {
    let w = (image.width + step - 1) / step, h = (image.height + step - 1) / step
    var out = RGBImage(width: w, height: h)
    for y in 0..<h { for x in 0..<w { out[x, y] = image[x * step, y * step] } }
    return out
}

/// Number of channel values that differ.
func differingValues(_ a: RGBImage, _ b: RGBImage) -> Int {
    zip(a.pixels, b.pixels).reduce(0) { $0 + ($1.0 != $1.1 ? 1 : 0) }
}

/// Seconds taken by `body` (monotonic clock).
func seconds(_ body: () throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}
