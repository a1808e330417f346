import Foundation

/// Bicubic resampling of [C, H, W] grids exactly as PyTorch's
/// `F.interpolate(mode="bicubic", align_corners=False)` (cubic convolution with A = -0.75,
/// border indices clamped, no antialiasing). Used to fit position-embedding tables to a new
/// image size; not differentiable.
///
/// ```swift
/// let grid = bicubicResize(table, toHeight: 24, width: 24)   // [C, 16, 16] → [C, 24, 24]
/// ```
public func bicubicResize(_ x: Tensor, toHeight outH: Int, width outW: Int) -> Tensor {
    precondition(x.rank == 3, "bicubicResize expects [C, H, W], got \(x.shape)")
    let src = x.detach().contiguous()
    let C = src.shape[0], inH = src.shape[1], inW = src.shape[2]
    let out = Tensor.empty([C, outH, outW])
    let A = -0.75
    func weights(_ t: Double) -> [Double] {
        let x1 = t + 1, x2 = 1 - t, x3 = 2 - t
        return [((A * x1 - 5 * A) * x1 + 8 * A) * x1 - 4 * A,
                ((A + 2) * t - (A + 3)) * t * t + 1,
                ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1,
                ((A * x3 - 5 * A) * x3 + 8 * A) * x3 - 4 * A]
    }
    // Source index and weights per output coordinate (PyTorch's area_pixel_compute_source_index).
    func taps(_ n: Int, _ inN: Int) -> [(Int, [Double])] {
        let scale = Double(inN) / Double(n)
        return (0..<n).map { o in
            let real = scale * (Double(o) + 0.5) - 0.5
            let i = Int(floor(real))
            return (i, weights(real - Double(i)))
        }
    }
    let ty = taps(outH, inH), tx = taps(outW, inW)
    let s = src.fptr, d = out.fptr
    for c in 0..<C {
        let base = c * inH * inW
        for oy in 0..<outH {
            let (iy, wy) = ty[oy]
            for ox in 0..<outW {
                let (ix, wx) = tx[ox]
                var acc = 0.0
                for ky in 0..<4 {
                    let yy = min(max(iy - 1 + ky, 0), inH - 1)
                    var row = 0.0
                    for kx in 0..<4 {
                        let xx = min(max(ix - 1 + kx, 0), inW - 1)
                        row += Double(s[base + yy * inW + xx]) * wx[kx]
                    }
                    acc += row * wy[ky]
                }
                d[(c * outH + oy) * outW + ox] = Float(acc)
            }
        }
    }
    return out
}
