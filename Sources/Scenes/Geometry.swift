/// Exact integer inside-tests for the ten shapes.
///
/// Coordinates are offsets (dx, dy) from the object's centre in a fixed-point frame in which the
/// object's radius is `r` (y grows downwards). Every test is integer arithmetic on Int64 — no
/// floating point, no libm — so a scene renders to the same bytes on every machine. Polygon
/// vertices are literals in thousandths of the radius.
struct ShapeTester {
    let kind: ShapeKind
    let r: Int64
    private let rr: Int64
    /// Polygon vertices scaled to `r` (triangle, star, the heart's lower part).
    private let xs: [Int64]
    private let ys: [Int64]
    /// Extra circles (heart lobes, the crescent's bite): centre offsets and squared radius.
    private let c1x: Int64, c1y: Int64, c2x: Int64, c2y: Int64, cr2: Int64

    /// Equilateral triangle, point up, centred on its bounding box.
    static let triangle: [(Int64, Int64)] = [(0, -866), (1000, 866), (-1000, 866)]
    /// Five-pointed star (outer radius 1000, inner 400), centred on its bounding box.
    static let star: [(Int64, Int64)] = [
        (0, -905), (235, -228), (951, -214), (380, 219), (588, 905),
        (0, 495), (-588, 905), (-380, 219), (-951, -214), (-235, -228),
    ]
    /// The heart's lower part; its top is covered by two lobes of radius 500 at (±450, -370).
    static let heartPoint: [(Int64, Int64)] = [(-930, -190), (930, -190), (0, 880)]

    init(_ kind: ShapeKind, radius r: Int64) {
        precondition(r > 0, "ShapeTester: radius must be positive")
        self.kind = kind
        self.r = r
        rr = r * r
        let table: [(Int64, Int64)]
        switch kind {
        case .triangle: table = ShapeTester.triangle
        case .star: table = ShapeTester.star
        case .heart: table = ShapeTester.heartPoint
        default: table = []
        }
        xs = table.map { $0.0 * r / 1000 }
        ys = table.map { $0.1 * r / 1000 }
        switch kind {
        case .heart:
            c1x = -450 * r / 1000; c1y = -370 * r / 1000
            c2x = 450 * r / 1000; c2y = -370 * r / 1000
            let lobe = 500 * r / 1000
            cr2 = lobe * lobe
        case .crescent:
            c1x = 450 * r / 1000; c1y = -200 * r / 1000
            c2x = 0; c2y = 0
            let bite = 800 * r / 1000
            cr2 = bite * bite
        default:
            c1x = 0; c1y = 0; c2x = 0; c2y = 0; cr2 = 0
        }
    }

    @inline(__always)
    func contains(_ dx: Int64, _ dy: Int64) -> Bool {
        let ax = dx < 0 ? -dx : dx, ay = dy < 0 ? -dy : dy
        if ax > r || ay > r { return false }
        switch kind {
        case .circle:
            return dx * dx + dy * dy <= rr
        case .ring:
            let d2 = dx * dx + dy * dy
            return d2 <= rr && 25 * d2 >= 9 * rr          // inner radius 0.6 r
        case .square:
            return 4 * max(ax, ay) <= 3 * r                // half side 0.75 r
        case .diamond:
            return 4 * ax + 3 * ay <= 3 * r                // half width 0.75 r, half height r
        case .cross:
            return (10 * ax <= 3 * r && 20 * ay <= 19 * r) || (10 * ay <= 3 * r && 20 * ax <= 19 * r)
        case .hexagon:
            return 1000 * ay <= 866 * r && 866 * ax + 500 * ay <= 866 * r
        case .triangle, .star:
            return insidePolygon(dx, dy)
        case .heart:
            let a = dx - c1x, b = dy - c1y, c = dx - c2x, d = dy - c2y
            return a * a + b * b <= cr2 || c * c + d * d <= cr2 || insidePolygon(dx, dy)
        case .crescent:
            let a = dx - c1x, b = dy - c1y
            return dx * dx + dy * dy <= rr && a * a + b * b > cr2
        }
    }

    /// Even–odd crossing test with exact integer cross products.
    @inline(__always)
    private func insidePolygon(_ px: Int64, _ py: Int64) -> Bool {
        var inside = false
        var j = xs.count - 1
        for i in 0..<xs.count {
            let ax = xs[j], ay = ys[j], bx = xs[i], by = ys[i]
            if (ay > py) != (by > py) {
                // Is the edge's crossing with the horizontal line through p to the right of p?
                let cross = (py - ay) * (bx - ax) - (px - ax) * (by - ay)
                if by > ay ? cross > 0 : cross < 0 { inside.toggle() }
            }
            j = i
        }
        return inside
    }
}

@inline(__always) func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

@inline(__always) func floorMod(_ a: Int64, _ b: Int64) -> Int64 {
    let m = a % b
    return m < 0 ? m + b : m
}
