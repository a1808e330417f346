/// Pillow's convolution resampling (`Image.resize(size, Image.BICUBIC, box)`), reproduced
/// operation for operation so that results are identical:
///
/// - separable: a horizontal pass over the rows the vertical pass needs, then a vertical pass;
/// - the bicubic kernel with a = -0.5 and support 2, widened by the scale factor when
///   downscaling (this is Pillow's antialiasing);
/// - per output sample, weights computed in double, normalised to sum 1, then rounded to int32
///   fixed point with 22 fractional bits; sums start at 0.5 (in fixed point), and the result is
///   shifted back and clamped to 0…255 after each pass.
public enum ResampleFilter: Sendable {
    /// Keys' cubic convolution with a = -0.5 (Pillow's `BICUBIC`, torchvision's
    /// `InterpolationMode.BICUBIC` on PIL images).
    case bicubic
    /// Triangle filter (Pillow's `BILINEAR`).
    case bilinear

    var support: Double {
        switch self {
        case .bicubic: return 2
        case .bilinear: return 1
        }
    }

    @inline(__always) func weight(_ x: Double) -> Double {
        let x = abs(x)
        switch self {
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        case .bilinear:
            return x < 1 ? 1 - x : 0
        }
    }
}

private let precisionBits = 22  // Pillow: 32 - 8 - 2

/// Fixed-point weights for one axis: output sample `i` reads `count[i]` input samples starting at
/// `first[i]`, weighted by `weights[i * taps ..< i * taps + count[i]]`.
struct ResampleCoefficients {
    var first: [Int]
    var count: [Int]
    var taps: Int
    var weights: [Int32]

    /// Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`. `in0`/`in1` are the box
    /// edges along this axis; Pillow keeps them in single precision.
    init(inSize: Int, in0: Float, in1: Float, outSize: Int, filter: ResampleFilter) {
        let scale = Double(in1 - in0) / Double(outSize)
        let filterScale = Swift.max(scale, 1)
        let support = filter.support * filterScale
        taps = Int(support.rounded(.up)) * 2 + 1
        first = [Int](repeating: 0, count: outSize)
        count = [Int](repeating: 0, count: outSize)
        weights = [Int32](repeating: 0, count: outSize * taps)
        var k = [Double](repeating: 0, count: taps)
        let ss = 1 / filterScale
        let one = Double(1 << precisionBits)
        for xx in 0..<outSize {
            let center = Double(in0) + (Double(xx) + 0.5) * scale
            var xmin = Int(center - support + 0.5)   // C's (int) truncates toward zero
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            var ww = 0.0
            for x in 0..<xmax {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for x in 0..<xmax where ww != 0 { k[x] /= ww }
            first[xx] = xmin
            count[xx] = xmax
            for x in 0..<xmax {
                let v = k[x]
                weights[xx * taps + x] = v < 0 ? Int32(-0.5 + v * one) : Int32(0.5 + v * one)
            }
        }
    }
}

@inline(__always) private func clip8(_ v: Int32) -> UInt8 {
    let s = v >> Int32(precisionBits)
    return s < 0 ? 0 : (s > 255 ? 255 : UInt8(s))
}

extension RGBImage {
    /// Resizes to `width`×`height` with Pillow's `Image.resize((width, height), filter, box)`
    /// semantics: `box` = (left, top, right, bottom) in source pixels (default: the whole image)
    /// is the region mapped onto the output; the filter may read pixels outside the box, within
    /// the image. Results equal Pillow 11/12 exactly.
    public func resized(width outW: Int, height outH: Int, filter: ResampleFilter = .bicubic,
                        box: (Float, Float, Float, Float)? = nil) -> RGBImage {
        precondition(outW > 0 && outH > 0, "resized: target size \(outW)x\(outH) must be positive")
        let box = box ?? (0, 0, Float(width), Float(height))
        precondition(box.0 >= 0 && box.1 >= 0 && box.2 <= Float(width) && box.3 <= Float(height)
                     && box.2 >= box.0 && box.3 >= box.1,
                     "resized: box \(box) must lie inside the \(width)x\(height) image")
        if outW == width && outH == height && box == (0, 0, Float(width), Float(height)) { return self }
        // Pillow's shortcut: an integer box of exactly the output size is a plain crop.
        if box.0 == box.0.rounded(.towardZero) && box.1 == box.1.rounded(.towardZero)
            && box.2 - box.0 == Float(outW) && box.3 - box.1 == Float(outH) {
            return cropped(x: Int(box.0), y: Int(box.1), width: outW, height: outH)
        }
        let needH = outW != width || box.0 != 0 || box.2 != Float(outW)
        let needV = outH != height || box.1 != 0 || box.3 != Float(outH)
        let vert = ResampleCoefficients(inSize: height, in0: box.1, in1: box.3, outSize: outH, filter: filter)
        var image = self
        var vFirst = vert.first
        if needH {
            let yFirst = vert.first[0]
            let yLast = vert.first[outH - 1] + vert.count[outH - 1]
            for i in 0..<outH { vFirst[i] -= yFirst }
            let horiz = ResampleCoefficients(inSize: width, in0: box.0, in1: box.2, outSize: outW, filter: filter)
            image = horizontalPass(horiz, rows: yFirst..<yLast)
        }
        if needV {
            image = image.verticalPass(vert, first: vFirst)
        }
        return image
    }

    private func horizontalPass(_ c: ResampleCoefficients, rows: Range<Int>) -> RGBImage {
        let outW = c.first.count
        var out = [UInt8](repeating: 0, count: outW * rows.count * 3)
        let half = Int32(1 << (precisionBits - 1))
        let taps = c.taps
        pixels.withUnsafeBufferPointer { src in
            c.weights.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { dst in
                    for (oy, y) in rows.enumerated() {
                        let row = src.baseAddress! + y * width * 3
                        let orow = dst.baseAddress! + oy * outW * 3
                        for xx in 0..<outW {
                            let k = w.baseAddress! + xx * taps
                            let p = row + c.first[xx] * 3
                            var s0 = half, s1 = half, s2 = half
                            for x in 0..<c.count[xx] {
                                let kx = k[x]
                                s0 &+= Int32(p[3 * x]) &* kx
                                s1 &+= Int32(p[3 * x + 1]) &* kx
                                s2 &+= Int32(p[3 * x + 2]) &* kx
                            }
                            orow[3 * xx] = clip8(s0); orow[3 * xx + 1] = clip8(s1); orow[3 * xx + 2] = clip8(s2)
                        }
                    }
                }
            }
        }
        return RGBImage(width: outW, height: rows.count, pixels: out)
    }

    private func verticalPass(_ c: ResampleCoefficients, first: [Int]) -> RGBImage {
        let outH = first.count
        let rowLen = width * 3
        var out = [UInt8](repeating: 0, count: rowLen * outH)
        let half = Int32(1 << (precisionBits - 1))
        let taps = c.taps
        var acc = [Int32](repeating: 0, count: rowLen)
        pixels.withUnsafeBufferPointer { src in
            c.weights.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { dst in
                    acc.withUnsafeMutableBufferPointer { a in
                        for yy in 0..<outH {
                            let k = w.baseAddress! + yy * taps
                            for i in 0..<rowLen { a[i] = half }
                            for y in 0..<c.count[yy] {
                                let ky = k[y]
                                let row = src.baseAddress! + (first[yy] + y) * rowLen
                                for i in 0..<rowLen { a[i] &+= Int32(row[i]) &* ky }
                            }
                            let orow = dst.baseAddress! + yy * rowLen
                            for i in 0..<rowLen { orow[i] = clip8(a[i]) }
                        }
                    }
                }
            }
        }
        return RGBImage(width: width, height: outH, pixels: out)
    }
}
