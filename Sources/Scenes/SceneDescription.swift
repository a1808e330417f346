import TensorKit

/// One object of a scene.
public struct SceneObject: Equatable, Hashable, Sendable {
    public var shape: ShapeKind
    public var color: SceneColor
    public var size: ObjectSize
    public var pattern: ObjectPattern
    /// The grid cell holding the object's centre.
    public var cell: GridCell
    /// Centre and radius in scene units (``SceneDescription/units`` per image side; y grows
    /// downwards). The shape fits in the circle of this radius, and the circle in its cell.
    public var centerX: Int
    public var centerY: Int
    public var radius: Int

    public init(shape: ShapeKind, color: SceneColor, size: ObjectSize, pattern: ObjectPattern = .plain,
                cell: GridCell, centerX: Int, centerY: Int, radius: Int) {
        self.shape = shape; self.color = color; self.size = size; self.pattern = pattern
        self.cell = cell; self.centerX = centerX; self.centerY = centerY; self.radius = radius
    }

    /// An object centred in `cell` with the middle radius of its size class.
    public init(shape: ShapeKind, color: SceneColor, size: ObjectSize, pattern: ObjectPattern = .plain, cell: GridCell) {
        let c = SceneDescription.cellCenter(cell)
        let r = size.radiusRange
        self.init(shape: shape, color: color, size: size, pattern: pattern, cell: cell,
                  centerX: c.x, centerY: c.y, radius: (r.lowerBound + r.upperBound) / 2)
    }
}

/// Direction of a two-tone gradient background (from the first tone to the second).
public enum GradientDirection: Int, CaseIterable, Sendable, Hashable {
    /// First tone at the top, second at the bottom.
    case vertical
    /// First tone on the left, second on the right.
    case horizontal
    /// First tone in the top-left corner, second in the bottom-right corner.
    case diagonal
}

/// Orientation of background stripes.
public enum StripeOrientation: Int, CaseIterable, Sendable, Hashable {
    case horizontal, vertical
}

/// What is behind the objects.
public enum SceneBackground: Equatable, Hashable, Sendable {
    case plain(BackgroundTone)
    case gradient(BackgroundTone, BackgroundTone, GradientDirection)
    /// Eight stripes alternating between the two tones.
    case striped(BackgroundTone, BackgroundTone, StripeOrientation)
    /// An 8×8 checkerboard of the two tones.
    case checkered(BackgroundTone, BackgroundTone)

    /// The tones that appear (one or two).
    public var tones: [BackgroundTone] {
        switch self {
        case .plain(let t): return [t]
        case .gradient(let a, let b, _), .striped(let a, let b, _), .checkered(let a, let b): return [a, b]
        }
    }
}

/// A whole scene: objects on a background. Rendering (``SceneRenderer``) and captions
/// (``SceneCaptioner``) both come from this value, so they always agree.
///
/// ```swift
/// var rng = RNG(seed: 7)
/// let scene = SceneDescription.random(using: &rng)
/// let image = SceneRenderer.render(scene, size: 64)
/// ```
public struct SceneDescription: Equatable, Hashable, Sendable {
    /// Scene units per image side. A grid cell is 2048 units wide; cell centres are at 1024,
    /// 3072 and 5120.
    public static let units = 6144
    /// Smallest distance (squared, RGB) between an object colour and the background tones, and
    /// between an object's two colours.
    public static let minimumContrastSquared = 100 * 100

    public var objects: [SceneObject]
    public var background: SceneBackground

    public init(objects: [SceneObject], background: SceneBackground) {
        self.objects = objects
        self.background = background
    }

    /// The centre of a grid cell in scene units.
    public static func cellCenter(_ cell: GridCell) -> (x: Int, y: Int) {
        let third = units / 3
        return (cell.column * third + third / 2, cell.row * third + third / 2)
    }

    /// Relative weights of 1, 2, … 6 objects in ``random(using:objectCountWeights:)``: scenes
    /// with several objects are more common so that dense captions are usually long.
    public static let defaultObjectCountWeights = [7, 10, 15, 20, 24, 24]

    /// A random scene. Objects sit in distinct grid cells (so they never overlap), each colour
    /// contrasts with the background, and no two objects share both shape and colour.
    public static func random(using rng: inout RNG,
                              objectCountWeights: [Int] = SceneDescription.defaultObjectCountWeights) -> SceneDescription {
        precondition(!objectCountWeights.isEmpty && objectCountWeights.count <= 9 && objectCountWeights.allSatisfy { $0 >= 0 }
                     && objectCountWeights.reduce(0, +) > 0, "objectCountWeights must give 1…9 objects non-negative weights")
        let background = randomBackground(using: &rng)
        let count = 1 + pickWeighted(objectCountWeights, using: &rng)
        var cells = GridCell.all
        for i in stride(from: cells.count - 1, to: 0, by: -1) { cells.swapAt(i, rng.nextInt(i + 1)) }
        let tones = background.tones
        let usable = SceneColor.allCases.filter { c in
            tones.allSatisfy { c.rgb.distanceSquared($0.rgb) >= minimumContrastSquared }
        }
        var objects: [SceneObject] = []
        var used = Set<Int>()
        for cell in cells.prefix(count) {
            var shape = ShapeKind.allCases[rng.nextInt(ShapeKind.allCases.count)]
            var color = usable[rng.nextInt(usable.count)]
            for _ in 0..<20 where used.contains(shape.rawValue * 16 + color.rawValue) {
                shape = ShapeKind.allCases[rng.nextInt(ShapeKind.allCases.count)]
                color = usable[rng.nextInt(usable.count)]
            }
            used.insert(shape.rawValue * 16 + color.rawValue)
            let size = ObjectSize.allCases[rng.nextInt(3)]
            let range = size.radiusRange
            let radius = range.lowerBound + rng.nextInt(range.count)
            let c = cellCenter(cell)
            let slack = max(units / 6 - radius - 48, 0)
            let jx = rng.nextInt(2 * slack + 1) - slack, jy = rng.nextInt(2 * slack + 1) - slack
            let pattern = randomPattern(for: color, usable: usable, using: &rng)
            objects.append(SceneObject(shape: shape, color: color, size: size, pattern: pattern, cell: cell,
                                       centerX: c.x + jx, centerY: c.y + jy, radius: radius))
        }
        return SceneDescription(objects: objects, background: background)
    }

    static func pickWeighted(_ weights: [Int], using rng: inout RNG) -> Int {
        var r = rng.nextInt(weights.reduce(0, +))
        for (i, w) in weights.enumerated() {
            if r < w { return i }
            r -= w
        }
        return weights.count - 1
    }

    static func randomBackground(using rng: inout RNG) -> SceneBackground {
        let tones = BackgroundTone.allCases
        let first = tones[rng.nextInt(tones.count)]
        func partner() -> BackgroundTone {
            let same = tones.filter { $0 != first && $0.isDark == first.isDark }
            return same[rng.nextInt(same.count)]
        }
        switch pickWeighted([50, 22, 12, 16], using: &rng) {
        case 0: return .plain(first)
        case 1: return .gradient(first, partner(), GradientDirection.allCases[rng.nextInt(3)])
        case 2: return .striped(first, partner(), StripeOrientation.allCases[rng.nextInt(2)])
        default: return .checkered(first, partner())
        }
    }

    static func randomPattern(for color: SceneColor, usable: [SceneColor], using rng: inout RNG) -> ObjectPattern {
        let kind = pickWeighted([45, 14, 14, 12, 15], using: &rng)
        if kind == 0 { return .plain }
        let partners = usable.filter { $0 != color && $0.rgb.distanceSquared(color.rgb) >= minimumContrastSquared }
        guard !partners.isEmpty else { return .plain }
        let second = partners[rng.nextInt(partners.count)]
        switch kind {
        case 1: return .striped(second)
        case 2: return .dotted(second)
        case 3: return .checkered(second)
        default: return .outlined(second)
        }
    }
}

extension SceneDescription {
    /// Objects ordered by salience: larger first, then closer to the image centre, then reading
    /// order. Short captions talk about the first one or two.
    public var objectsBySalience: [SceneObject] {
        let mid = SceneDescription.units / 2
        return objects.enumerated().sorted { a, b in
            if a.element.radius != b.element.radius { return a.element.radius > b.element.radius }
            let da = abs(a.element.centerX - mid) + abs(a.element.centerY - mid)
            let db = abs(b.element.centerX - mid) + abs(b.element.centerY - mid)
            if da != db { return da < db }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// Objects in reading order of their cells (top row first, left to right).
    public var objectsInReadingOrder: [SceneObject] {
        objects.sorted { $0.cell.index < $1.cell.index }
    }
}
