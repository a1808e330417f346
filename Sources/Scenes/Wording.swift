import TensorKit

/// Which part of a caption a wording entry fills.
public enum WordingCategory: String, CaseIterable, Sendable {
    case color, backgroundTone, shape, size, pattern, position, relation, phrase
}

/// One concept with the words training captions use for it and the synonyms or paraphrases
/// kept for the evaluation split (``SceneCaptioner`` with held-out wording). No held-out
/// wording ever appears in a caption written with training wording.
public struct WordingEntry: Sendable, Equatable {
    public let category: WordingCategory
    /// The concept's canonical name ("red", "circle", "top left", "left of", …).
    public let concept: String
    public let train: [String]
    public let heldOut: [String]
}

/// The mapping table between training wording and held-out wording.
///
/// ```swift
/// WordingTable.entry(.color, "red")?.heldOut      // ["crimson", "scarlet"]
/// WordingTable.heldOutTerms                       // every held-out word or phrase
/// ```
public enum WordingTable {
    public static let entries: [WordingEntry] = {
        func e(_ c: WordingCategory, _ concept: String, _ train: [String], _ heldOut: [String]) -> WordingEntry {
            WordingEntry(category: c, concept: concept, train: train, heldOut: heldOut)
        }
        return [
            // Object colours.
            e(.color, "red", ["red"], ["crimson", "scarlet"]),
            e(.color, "orange", ["orange"], ["tangerine", "amber"]),
            e(.color, "yellow", ["yellow"], ["lemon", "golden"]),
            e(.color, "green", ["green"], ["emerald", "jade"]),
            e(.color, "blue", ["blue"], ["navy", "cobalt"]),
            e(.color, "purple", ["purple"], ["violet", "plum"]),
            e(.color, "pink", ["pink"], ["fuchsia", "magenta"]),
            e(.color, "brown", ["brown"], ["chocolate", "chestnut"]),
            e(.color, "black", ["black"], ["ebony", "jet-black"]),
            e(.color, "white", ["white"], ["ivory", "snow-white"]),
            e(.color, "grey", ["grey", "gray"], ["silver", "ash-coloured"]),
            e(.color, "cyan", ["cyan"], ["turquoise", "aqua"]),
            // Background tones.
            e(.backgroundTone, "white", ["white"], ["ivory", "snow-white"]),
            e(.backgroundTone, "light grey", ["light grey", "pale grey"], ["silvery", "dove-grey"]),
            e(.backgroundTone, "dark grey", ["dark grey"], ["charcoal", "slate"]),
            e(.backgroundTone, "black", ["black"], ["ebony", "jet-black"]),
            e(.backgroundTone, "beige", ["beige"], ["sand-coloured", "tan"]),
            e(.backgroundTone, "pale blue", ["pale blue", "light blue"], ["powder-blue", "sky-blue"]),
            e(.backgroundTone, "pale green", ["pale green", "light green"], ["mint", "sage"]),
            e(.backgroundTone, "pale yellow", ["pale yellow", "light yellow"], ["cream", "buttery"]),
            e(.backgroundTone, "pale pink", ["pale pink", "light pink"], ["blush", "rosy"]),
            e(.backgroundTone, "lavender", ["lavender"], ["lilac", "mauve"]),
            // Shapes.
            e(.shape, "circle", ["circle"], ["disk", "disc"]),
            e(.shape, "square", ["square"], ["box", "block"]),
            e(.shape, "triangle", ["triangle"], ["trigon", "three-cornered shape"]),
            e(.shape, "star", ["star"], ["pentagram", "five-pointed figure"]),
            e(.shape, "ring", ["ring"], ["hoop", "donut"]),
            e(.shape, "cross", ["cross"], ["plus sign", "plus symbol"]),
            e(.shape, "diamond", ["diamond"], ["rhombus", "lozenge"]),
            e(.shape, "heart", ["heart"], ["valentine", "love symbol"]),
            e(.shape, "hexagon", ["hexagon"], ["six-sided shape", "honeycomb cell"]),
            e(.shape, "crescent", ["crescent"], ["sickle", "moon shape"]),
            // Sizes.
            e(.size, "small", ["small", "little"], ["tiny", "miniature"]),
            e(.size, "medium", ["medium-sized", "medium"], ["mid-sized", "moderately sized"]),
            e(.size, "large", ["large", "big"], ["huge", "oversized"]),
            // Surface patterns (nouns: "with white stripes", "with a thick black outline").
            e(.pattern, "striped", ["stripes"], ["bands"]),
            e(.pattern, "dotted", ["dots", "spots"], ["speckles", "polka dots"]),
            e(.pattern, "checkered", ["checkered pattern", "checkerboard pattern"], ["chequered pattern", "harlequin pattern"]),
            e(.pattern, "outlined", ["outline", "border"], ["rim", "edging"]),
            // Grid positions.
            e(.position, "top left", ["in the top left corner", "at the top left"], ["in the upper-left area", "at the north-west corner"]),
            e(.position, "top", ["at the top", "at the top centre"], ["along the upper edge", "at the top middle"]),
            e(.position, "top right", ["in the top right corner", "at the top right"], ["in the upper-right area", "at the north-east corner"]),
            e(.position, "left", ["on the left", "at the left side"], ["along the left-hand edge", "on the western side"]),
            e(.position, "centre", ["in the centre", "in the center"], ["in the middle", "at the midpoint"]),
            e(.position, "right", ["on the right", "at the right side"], ["along the right-hand edge", "on the eastern side"]),
            e(.position, "bottom left", ["in the bottom left corner", "at the bottom left"], ["in the lower-left area", "at the south-west corner"]),
            e(.position, "bottom", ["at the bottom", "at the bottom centre"], ["along the lower edge", "at the bottom middle"]),
            e(.position, "bottom right", ["in the bottom right corner", "at the bottom right"], ["in the lower-right area", "at the south-east corner"]),
            // Relations between two objects.
            e(.relation, "left of", ["to the left of"], ["west of"]),
            e(.relation, "right of", ["to the right of"], ["east of"]),
            e(.relation, "above", ["above", "higher than"], ["north of"]),
            e(.relation, "below", ["below", "lower than"], ["south of"]),
            e(.relation, "above left", ["above and to the left of"], ["north-west of"]),
            e(.relation, "above right", ["above and to the right of"], ["north-east of"]),
            e(.relation, "below left", ["below and to the left of"], ["south-west of"]),
            e(.relation, "below right", ["below and to the right of"], ["south-east of"]),
            e(.relation, "next to", ["next to", "beside"], ["alongside", "adjacent to"]),
            // Other phrasing.
            e(.phrase, "image", ["image", "picture"], ["illustration", "rendering"]),
            e(.phrase, "shape", ["shape", "object"], ["figure", "item"]),
            e(.phrase, "shapes", ["shapes", "objects"], ["figures", "items"]),
            e(.phrase, "background", ["background"], ["backdrop"]),
            e(.phrase, "there is", ["there is", "we see"], ["one can spot", "one notices"]),
            e(.phrase, "sits", ["sits", "is placed"], ["rests", "is positioned"]),
            e(.phrase, "shows", ["shows", "contains"], ["depicts", "portrays"]),
            e(.phrase, "plain", ["plain", "solid"], ["uniform", "flat"]),
            e(.phrase, "geometric", ["simple geometric", "colourful geometric"], ["basic geometrical", "elementary geometrical"]),
            e(.phrase, "largest", ["largest", "biggest"], ["most prominent"]),
            e(.phrase, "smallest", ["smallest"], ["tiniest", "most diminutive"]),
            e(.phrase, "gradient", ["gradient", "smooth gradient"], ["blend", "gentle transition"]),
            e(.phrase, "gradient vertical", ["from top to bottom"], ["from the upper edge downwards"]),
            e(.phrase, "gradient horizontal", ["from left to right"], ["from the western edge eastwards"]),
            e(.phrase, "gradient diagonal", ["along the diagonal"], ["on a slant"]),
            e(.phrase, "stripes horizontal", ["horizontal"], ["lateral"]),
            e(.phrase, "stripes vertical", ["vertical"], ["upright"]),
            e(.phrase, "no overlap", ["None of them overlap.", "They do not overlap."],
              ["No two of them touch.", "Each stands apart from the rest."]),
            e(.phrase, "stand out", ["stand out", "catch the eye"], ["dominate", "grab attention"]),
            e(.phrase, "on its own", ["on its own", "by itself"], ["in isolation", "all alone"]),
            e(.phrase, "around", ["around it", "nearby"], ["in its vicinity", "close by"]),
        ]
    }()

    private static let index: [String: WordingEntry] = {
        var d: [String: WordingEntry] = [:]
        for e in entries { d[e.category.rawValue + "/" + e.concept] = e }
        return d
    }()

    /// The entry for a concept, nil when there is none.
    public static func entry(_ category: WordingCategory, _ concept: String) -> WordingEntry? {
        index[category.rawValue + "/" + concept]
    }

    /// Every held-out word or phrase (deduplicated, sorted).
    public static var heldOutTerms: [String] { Array(Set(entries.flatMap(\.heldOut))).sorted() }
    /// Every training word or phrase (deduplicated, sorted).
    public static var trainTerms: [String] { Array(Set(entries.flatMap(\.train))).sorted() }
}

extension SceneColor {
    /// Canonical English name ("red", …), the ``WordingTable`` concept.
    public var name: String {
        switch self {
        case .red: return "red"
        case .orange: return "orange"
        case .yellow: return "yellow"
        case .green: return "green"
        case .blue: return "blue"
        case .purple: return "purple"
        case .pink: return "pink"
        case .brown: return "brown"
        case .black: return "black"
        case .white: return "white"
        case .grey: return "grey"
        case .cyan: return "cyan"
        }
    }
}

extension BackgroundTone {
    public var name: String {
        switch self {
        case .white: return "white"
        case .lightGrey: return "light grey"
        case .darkGrey: return "dark grey"
        case .black: return "black"
        case .beige: return "beige"
        case .paleBlue: return "pale blue"
        case .paleGreen: return "pale green"
        case .paleYellow: return "pale yellow"
        case .palePink: return "pale pink"
        case .lavender: return "lavender"
        }
    }
}

extension ShapeKind {
    public var name: String {
        switch self {
        case .circle: return "circle"
        case .square: return "square"
        case .triangle: return "triangle"
        case .star: return "star"
        case .ring: return "ring"
        case .cross: return "cross"
        case .diamond: return "diamond"
        case .heart: return "heart"
        case .hexagon: return "hexagon"
        case .crescent: return "crescent"
        }
    }
}

extension ObjectSize {
    public var name: String {
        switch self {
        case .small: return "small"
        case .medium: return "medium"
        case .large: return "large"
        }
    }
}

extension GridCell {
    /// "top left", "top", …, "centre", …, "bottom right".
    public var name: String {
        ["top left", "top", "top right", "left", "centre", "right", "bottom left", "bottom", "bottom right"][index]
    }
}

/// Picks words from the ``WordingTable`` for one caption: training or held-out wording, a
/// random variant per concept that then stays fixed within the caption (an object called
/// "crimson" once is not "scarlet" two sentences later).
struct Lexicon {
    let heldOut: Bool
    var rng: RNG
    private var memo: [String: String] = [:]

    init(heldOut: Bool, rng: RNG) {
        self.heldOut = heldOut
        self.rng = rng
    }

    /// Starts a new caption: variants may change.
    mutating func newCaption() { memo.removeAll(keepingCapacity: true) }

    mutating func word(_ category: WordingCategory, _ concept: String) -> String {
        let key = category.rawValue + "/" + concept
        if let w = memo[key] { return w }
        guard let entry = WordingTable.entry(category, concept) else {
            preconditionFailure("WordingTable has no \(category) entry \(concept)")
        }
        let options = heldOut ? entry.heldOut : entry.train
        let w = options[rng.nextInt(options.count)]
        memo[key] = w
        return w
    }

    /// A fresh pick for this use only (not remembered).
    mutating func anyWord(_ category: WordingCategory, _ concept: String) -> String {
        guard let entry = WordingTable.entry(category, concept) else {
            preconditionFailure("WordingTable has no \(category) entry \(concept)")
        }
        let options = heldOut ? entry.heldOut : entry.train
        return options[rng.nextInt(options.count)]
    }

    mutating func phrase(_ concept: String) -> String { word(.phrase, concept) }

    mutating func pick<T>(_ options: [T]) -> T { options[rng.nextInt(options.count)] }

    mutating func chance(_ percent: Int) -> Bool { rng.nextInt(100) < percent }
}
