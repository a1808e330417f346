/// The things a scene is made of: shapes, colours, sizes, grid cells, surface patterns and
/// background tones. Colours are fixed 8-bit RGB values; names and synonyms live in
/// ``WordingTable``.

/// The ten shapes of the scenes world. Each is drawn inside a circle of the object's radius.
public enum ShapeKind: Int, CaseIterable, Sendable, Hashable {
    case circle, square, triangle, star, ring, cross, diamond, heart, hexagon, crescent
}

/// The twelve object colours, each with one fixed RGB value.
public enum SceneColor: Int, CaseIterable, Sendable, Hashable {
    case red, orange, yellow, green, blue, purple, pink, brown, black, white, grey, cyan

    public var rgb: RGB8 {
        switch self {
        case .red: return RGB8(220, 38, 38)
        case .orange: return RGB8(245, 140, 28)
        case .yellow: return RGB8(247, 214, 36)
        case .green: return RGB8(38, 158, 62)
        case .blue: return RGB8(38, 78, 212)
        case .purple: return RGB8(128, 48, 172)
        case .pink: return RGB8(242, 118, 182)
        case .brown: return RGB8(128, 78, 38)
        case .black: return RGB8(18, 18, 18)
        case .white: return RGB8(250, 250, 250)
        case .grey: return RGB8(128, 128, 128)
        case .cyan: return RGB8(38, 200, 212)
        }
    }
}

/// The ten background tones: mostly pale, two dark, so that every object colour shows up on some.
public enum BackgroundTone: Int, CaseIterable, Sendable, Hashable {
    case white, lightGrey, darkGrey, black, beige, paleBlue, paleGreen, paleYellow, palePink, lavender

    public var rgb: RGB8 {
        switch self {
        case .white: return RGB8(244, 244, 244)
        case .lightGrey: return RGB8(204, 204, 204)
        case .darkGrey: return RGB8(66, 66, 66)
        case .black: return RGB8(12, 12, 12)
        case .beige: return RGB8(226, 210, 178)
        case .paleBlue: return RGB8(188, 214, 242)
        case .paleGreen: return RGB8(194, 230, 194)
        case .paleYellow: return RGB8(250, 240, 186)
        case .palePink: return RGB8(246, 208, 220)
        case .lavender: return RGB8(214, 198, 242)
        }
    }

    /// Dark tones pair only with dark tones in two-tone backgrounds (and light with light).
    public var isDark: Bool { self == .darkGrey || self == .black }
}

/// An 8-bit RGB colour.
public struct RGB8: Equatable, Hashable, Sendable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }

    /// Squared Euclidean distance in RGB.
    public func distanceSquared(_ o: RGB8) -> Int {
        let dr = Int(r) - Int(o.r), dg = Int(g) - Int(o.g), db = Int(b) - Int(o.b)
        return dr * dr + dg * dg + db * db
    }

    var packed: UInt32 { UInt32(r) << 16 | UInt32(g) << 8 | UInt32(b) }
}

/// Three size classes; the radius of each object is drawn from its class's range.
public enum ObjectSize: Int, CaseIterable, Sendable, Hashable, Comparable {
    case small, medium, large

    /// Radius range in scene units (``SceneDescription/units`` per image side; a grid cell is
    /// ``SceneDescription/units`` / 3 = 2048 wide).
    public var radiusRange: ClosedRange<Int> {
        switch self {
        case .small: return 430...510
        case .medium: return 620...720
        case .large: return 830...940
        }
    }

    public static func < (a: ObjectSize, b: ObjectSize) -> Bool { a.rawValue < b.rawValue }
}

/// A cell of the 3×3 grid: row 0 is the top, column 0 the left.
public struct GridCell: Equatable, Hashable, Sendable {
    public var row: Int
    public var column: Int
    public init(row: Int, column: Int) {
        precondition((0..<3).contains(row) && (0..<3).contains(column), "GridCell(\(row), \(column)) outside the 3×3 grid")
        self.row = row
        self.column = column
    }
    /// 0…8 in reading order.
    public var index: Int { row * 3 + column }
    public init(index: Int) { self.init(row: index / 3, column: index % 3) }
    public static let all: [GridCell] = (0..<9).map { GridCell(index: $0) }
    /// The centre cell.
    public var isCentre: Bool { row == 1 && column == 1 }
}

/// The surface of an object: a plain fill, or a pattern or outline in a second colour.
public enum ObjectPattern: Equatable, Hashable, Sendable {
    case plain
    /// Diagonal stripes.
    case striped(SceneColor)
    /// Polka dots.
    case dotted(SceneColor)
    /// A checkerboard of the object's colour and this one.
    case checkered(SceneColor)
    /// A thick rim in this colour.
    case outlined(SceneColor)

    /// The second colour, nil for ``plain``.
    public var secondColor: SceneColor? {
        switch self {
        case .plain: return nil
        case .striped(let c), .dotted(let c), .checkered(let c), .outlined(let c): return c
        }
    }
}
