import Images

/// Draws a ``SceneDescription`` into an ``RGBImage``.
///
/// Anti-aliased by supersampling: each pixel averages `supersampling`² samples on a regular
/// grid, each sample taking the colour of the topmost object covering it (or the background).
/// All arithmetic is exact integer arithmetic (sample positions, shape tests, gradients, the
/// rounded average), so the same scene gives the same bytes on every machine and in every
/// thread.
///
/// ```swift
/// let image = SceneRenderer.render(scene, size: 64)           // 64×64, 4×4 samples per pixel
/// try image.writePNG(to: "scene.png")
/// ```
public enum SceneRenderer {
    public static let defaultSupersampling = 4
    /// Image sizes the renderer accepts.
    public static let sizeRange = 8...1024

    public static func render(_ scene: SceneDescription, size: Int, supersampling k: Int = SceneRenderer.defaultSupersampling) -> RGBImage {
        precondition(sizeRange.contains(size), "SceneRenderer: size \(size) outside \(sizeRange)")
        precondition((1...8).contains(k), "SceneRenderer: supersampling \(k) outside 1...8")
        let n = size * k                           // samples per side
        let g = Int64(2 * n)                       // sample u = 2 s + 1 lies at u / g of the side
        let units = Int64(SceneDescription.units)
        var samples = [UInt32](repeating: 0, count: n * n)
        samples.withUnsafeMutableBufferPointer { buf in
            paintBackground(scene.background, n: n, into: buf)
            for object in scene.objects {
                paint(object, n: n, g: g, units: units, into: buf)
            }
        }
        return resolve(samples, size: size, k: k)
    }

    private static func paintBackground(_ bg: SceneBackground, n: Int, into buf: UnsafeMutableBufferPointer<UInt32>) {
        let g = 2 * n
        switch bg {
        case .plain(let t):
            let c = t.rgb.packed
            for i in 0..<buf.count { buf[i] = c }
        case .gradient(let a, let b, let dir):
            let ca = a.rgb, cb = b.rgb
            // Position t of a sample along the gradient, out of `span`.
            func mix(_ t: Int, _ span: Int) -> UInt32 {
                func ch(_ x: UInt8, _ y: UInt8) -> UInt32 {
                    UInt32((Int(x) * (span - t) + Int(y) * t + span / 2) / span)
                }
                return ch(ca.r, cb.r) << 16 | ch(ca.g, cb.g) << 8 | ch(ca.b, cb.b)
            }
            switch dir {
            case .vertical:
                for sy in 0..<n {
                    let c = mix(2 * sy + 1, g)
                    for sx in 0..<n { buf[sy * n + sx] = c }
                }
            case .horizontal:
                let row = (0..<n).map { mix(2 * $0 + 1, g) }
                for sy in 0..<n { for sx in 0..<n { buf[sy * n + sx] = row[sx] } }
            case .diagonal:
                let ramp = (0..<(2 * n - 1)).map { mix(2 * $0 + 2, 2 * g) }   // (u + v) = 2 (sx + sy) + 2
                for sy in 0..<n { for sx in 0..<n { buf[sy * n + sx] = ramp[sx + sy] } }
            }
        case .striped(let a, let b, let orientation):
            let ca = a.rgb.packed, cb = b.rgb.packed
            for sy in 0..<n {
                for sx in 0..<n {
                    let s = orientation == .horizontal ? sy : sx
                    buf[sy * n + sx] = ((2 * s + 1) * 8 / g) & 1 == 0 ? ca : cb
                }
            }
        case .checkered(let a, let b):
            let ca = a.rgb.packed, cb = b.rgb.packed
            for sy in 0..<n {
                let by = (2 * sy + 1) * 8 / g
                for sx in 0..<n {
                    buf[sy * n + sx] = (((2 * sx + 1) * 8 / g) + by) & 1 == 0 ? ca : cb
                }
            }
        }
    }

    private static func paint(_ o: SceneObject, n: Int, g: Int64, units: Int64, into buf: UnsafeMutableBufferPointer<UInt32>) {
        // Offsets are measured in units of 1 / (units × g) of the image side: a sample at
        // u / g and a centre at cx / units differ by (u × units − cx × g).
        let cx = Int64(o.centerX), cy = Int64(o.centerY)
        let r = Int64(o.radius) * g
        let outer = ShapeTester(o.shape, radius: r)
        let inner: ShapeTester? = {
            if case .outlined = o.pattern { return ShapeTester(o.shape, radius: r * 3 / 4) }
            return nil
        }()
        let main = o.color.rgb.packed
        let second = o.pattern.secondColor?.rgb.packed ?? main
        let stripe = max(r / 3, 1), cell = max(r / 2, 1)
        // Sample index s covers u = 2 s + 1; keep those with |u × units − cx × g| ≤ r.
        func range(_ c: Int64) -> ClosedRange<Int> {
            let lo = ((c * g - r) / units - 1) / 2 - 1
            let hi = ((c * g + r) / units) / 2 + 1
            return max(Int(lo), 0)...min(Int(hi), n - 1)
        }
        let xr = range(cx), yr = range(cy)
        guard xr.lowerBound <= xr.upperBound, yr.lowerBound <= yr.upperBound else { return }
        for sy in yr {
            let dy = Int64(2 * sy + 1) * units - cy * g
            for sx in xr {
                let dx = Int64(2 * sx + 1) * units - cx * g
                guard outer.contains(dx, dy) else { continue }
                let useSecond: Bool
                switch o.pattern {
                case .plain: useSecond = false
                case .striped: useSecond = floorDiv(dx + dy, stripe) & 1 != 0
                case .dotted:
                    let mx = floorMod(dx + cell / 2, cell) - cell / 2
                    let my = floorMod(dy + cell / 2, cell) - cell / 2
                    useSecond = 100 * (mx * mx + my * my) <= 9 * cell * cell
                case .checkered: useSecond = (floorDiv(dx, cell) + floorDiv(dy, cell)) & 1 != 0
                case .outlined: useSecond = !inner!.contains(dx, dy)
                }
                buf[sy * n + sx] = useSecond ? second : main
            }
        }
    }

    private static func resolve(_ samples: [UInt32], size: Int, k: Int) -> RGBImage {
        let n = size * k, count = UInt32(k * k), half = count / 2
        var pixels = [UInt8](repeating: 0, count: size * size * 3)
        samples.withUnsafeBufferPointer { s in
            pixels.withUnsafeMutableBufferPointer { p in
                for y in 0..<size {
                    for x in 0..<size {
                        var r: UInt32 = 0, g: UInt32 = 0, b: UInt32 = 0
                        for j in 0..<k {
                            let row = (y * k + j) * n + x * k
                            for i in 0..<k {
                                let c = s[row + i]
                                r += c >> 16; g += (c >> 8) & 0xFF; b += c & 0xFF
                            }
                        }
                        let o = (y * size + x) * 3
                        p[o] = UInt8((r + half) / count)
                        p[o + 1] = UInt8((g + half) / count)
                        p[o + 2] = UInt8((b + half) / count)
                    }
                }
            }
        }
        return RGBImage(width: size, height: size, pixels: pixels)
    }
}
