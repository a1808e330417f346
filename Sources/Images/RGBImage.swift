import TensorKit

/// An 8-bit RGB image held in memory.
///
/// `pixels` is row-major and interleaved: the pixel at column `x`, row `y` occupies
/// `pixels[(y * width + x) * 3 ..< (y * width + x) * 3 + 3]` as (R, G, B). Row 0 is the top row.
/// There is no alpha channel and no colour management: values are what Pillow's
/// `Image.open(p).convert("RGB")` (after `ImageOps.exif_transpose`) gives.
///
/// ```swift
/// let image = try RGBImage(contentsOf: "photo.jpg")      // JPEG or PNG, EXIF orientation applied
/// let x = CLIPTransform(size: 224).eval(image)            // Tensor [3, 224, 224], normalised
/// try image.resized(width: 64, height: 48).writePNG(to: "thumb.png")
/// ```
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    /// height × width × 3 bytes, row-major RGB. May be edited in place; its count must stay
    /// `width * height * 3`.
    public var pixels: [UInt8] {
        didSet {
            precondition(pixels.count == width * height * 3,
                         "RGBImage: \(pixels.count) bytes do not make \(width)x\(height) RGB pixels")
        }
    }

    /// Wraps existing pixels; `pixels.count` must be `width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "RGBImage: negative size \(width)x\(height)")
        precondition(pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes do not make \(width)x\(height) RGB pixels")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image filled with one colour.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        var p = [UInt8](repeating: 0, count: width * height * 3)
        if fill != (0, 0, 0) {
            for i in 0..<(width * height) { p[3 * i] = fill.0; p[3 * i + 1] = fill.1; p[3 * i + 2] = fill.2 }
        }
        self.init(width: width, height: height, pixels: p)
    }

    /// The (R, G, B) value at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        get {
            precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) outside \(width)x\(height)")
            let i = (y * width + x) * 3
            return (pixels[i], pixels[i + 1], pixels[i + 2])
        }
        set {
            precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) outside \(width)x\(height)")
            let i = (y * width + x) * 3
            pixels[i] = newValue.0; pixels[i + 1] = newValue.1; pixels[i + 2] = newValue.2
        }
    }

    /// Largest absolute difference of any channel value between two images of the same size.
    public func maxAbsDifference(_ other: RGBImage) -> Int {
        precondition(width == other.width && height == other.height,
                     "maxAbsDifference: \(width)x\(height) vs \(other.width)x\(other.height)")
        var m = 0
        pixels.withUnsafeBufferPointer { a in
            other.pixels.withUnsafeBufferPointer { b in
                for i in 0..<a.count { m = Swift.max(m, abs(Int(a[i]) - Int(b[i]))) }
            }
        }
        return m
    }
}

// MARK: geometry

/// The eight ways EXIF orientation can ask for an image to be flipped or rotated, with Pillow's
/// names (`Image.Transpose`). Rotations are counter-clockwise.
public enum Transpose: Sendable, CaseIterable {
    case flipLeftRight, flipTopBottom, rotate90, rotate180, rotate270, transpose, transverse

    /// The operation `PIL.ImageOps.exif_transpose` applies for an EXIF Orientation value
    /// (nil for 1 and for values outside 2…8).
    public init?(exifOrientation: Int) {
        switch exifOrientation {
        case 2: self = .flipLeftRight
        case 3: self = .rotate180
        case 4: self = .flipTopBottom
        case 5: self = .transpose
        case 6: self = .rotate270
        case 7: self = .transverse
        case 8: self = .rotate90
        default: return nil
        }
    }
}

extension RGBImage {
    /// The image flipped or rotated exactly as Pillow's `Image.transpose(op)`.
    public func transposed(_ op: Transpose) -> RGBImage {
        let swaps = op == .rotate90 || op == .rotate270 || op == .transpose || op == .transverse
        let ow = swaps ? height : width, oh = swaps ? width : height
        let w = width, h = height
        var out = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<oh {
                    for x in 0..<ow {
                        // Source pixel (sx, sy) shown at (x, y) of the output.
                        let sx: Int, sy: Int
                        switch op {
                        case .flipLeftRight: sx = w - 1 - x; sy = y
                        case .flipTopBottom: sx = x; sy = h - 1 - y
                        case .rotate180: sx = w - 1 - x; sy = h - 1 - y
                        case .rotate90: sx = w - 1 - y; sy = x
                        case .rotate270: sx = y; sy = h - 1 - x
                        case .transpose: sx = y; sy = x
                        case .transverse: sx = w - 1 - y; sy = h - 1 - x
                        }
                        let s = (sy * w + sx) * 3, d = (y * ow + x) * 3
                        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }

    /// The `width`×`height` region whose top-left corner is at (`x`, `y`), with Pillow's
    /// `Image.crop` semantics: the box may extend past the image, and pixels outside it are black.
    public func cropped(x: Int, y: Int, width cw: Int, height ch: Int) -> RGBImage {
        precondition(cw >= 0 && ch >= 0, "cropped: negative size \(cw)x\(ch)")
        var out = [UInt8](repeating: 0, count: cw * ch * 3)
        let x0 = Swift.max(x, 0), x1 = Swift.min(x + cw, width)
        let y0 = Swift.max(y, 0), y1 = Swift.min(y + ch, height)
        if x0 < x1 && y0 < y1 {
            let n = (x1 - x0) * 3
            pixels.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for sy in y0..<y1 {
                        let s = (sy * width + x0) * 3, d = ((sy - y) * cw + (x0 - x)) * 3
                        (dst.baseAddress! + d).update(from: src.baseAddress! + s, count: n)
                    }
                }
            }
        }
        return RGBImage(width: cw, height: ch, pixels: out)
    }
}

// MARK: tensors

extension RGBImage {
    /// A float tensor [3, height, width] with values `pixel / 255` in [0, 1] (torchvision's
    /// `ToTensor`).
    public func toTensor() -> Tensor {
        let t = Tensor.empty([3, height, width])
        writeNormalized(into: t.fptr, mean: (0, 0, 0), std: (1, 1, 1))
        return t
    }

    /// Writes `(pixel / 255 - mean[c]) / std[c]` channel-major ([3, height, width]) into `out`,
    /// in float32 exactly as torchvision's `ToTensor` followed by `Normalize`.
    public func writeNormalized(into out: UnsafeMutablePointer<Float>,
                                mean: (Float, Float, Float), std: (Float, Float, Float)) {
        let plane = width * height
        let m = [mean.0, mean.1, mean.2], s = [std.0, std.1, std.2]
        pixels.withUnsafeBufferPointer { src in
            for c in 0..<3 {
                let mc = m[c], sc = s[c]
                let dst = out + c * plane
                if mc == 0 && sc == 1 {
                    for i in 0..<plane { dst[i] = Float(src[3 * i + c]) / 255 }
                } else {
                    for i in 0..<plane { dst[i] = (Float(src[3 * i + c]) / 255 - mc) / sc }
                }
            }
        }
    }

    /// The image shown by a [3, H, W] tensor of values in [0, 1] (clamped, then
    /// `round(v * 255)`); the inverse of ``toTensor()`` for 8-bit values.
    public init(tensor: Tensor) {
        precondition(tensor.rank == 3 && tensor.shape[0] == 3,
                     "RGBImage(tensor:) needs a [3, H, W] tensor, got \(tensor.shape)")
        let h = tensor.shape[1], w = tensor.shape[2]
        let values = tensor.toArray()
        var p = [UInt8](repeating: 0, count: w * h * 3)
        for c in 0..<3 {
            for i in 0..<(w * h) {
                let v = Swift.min(Swift.max(values[c * w * h + i], 0), 1)
                p[3 * i + c] = UInt8((v * 255).rounded())
            }
        }
        self.init(width: w, height: h, pixels: p)
    }
}
