import TensorKit

/// The captions of one scene.
public struct SceneCaptions: Equatable, Sendable {
    /// Short, COCO-like captions (8–20 words) about the one or two most salient objects, in
    /// several phrasings; they do not pin the whole scene down.
    public var short: [String]
    /// One dense caption: every object with its size, colour, shape, surface and position,
    /// relations between objects, and the background. Usually longer than CLIP's 77 tokens.
    public var dense: String
}

/// Writes captions from a ``SceneDescription``, with training wording or with the held-out
/// synonyms and paraphrases of ``WordingTable``.
///
/// ```swift
/// var rng = RNG(seed: 3)
/// let scene = SceneDescription.random(using: &rng)
/// let captions = SceneCaptioner.captions(for: scene, heldOutWording: false, rng: RNG(seed: 4))
/// captions.short[0]   // "A large red star in the top left corner of the picture"
/// ```
public enum SceneCaptioner {
    public static let shortCaptionCount = 5

    public static func captions(for scene: SceneDescription, heldOutWording: Bool, rng: RNG) -> SceneCaptions {
        precondition(!scene.objects.isEmpty, "SceneCaptioner: a scene needs at least one object")
        var w = CaptionWriter(scene: scene, lexicon: Lexicon(heldOut: heldOutWording, rng: rng))
        let short = w.shortCaptions()
        let dense = w.denseCaption()
        return SceneCaptions(short: short, dense: dense)
    }
}

private let numberWords = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

private func article(for phrase: String) -> String {
    guard let c = phrase.first else { return "a" }
    return "aeiou".contains(c) ? "an" : "a"
}

private func withArticle(_ phrase: String) -> String { article(for: phrase) + " " + phrase }

private func capitalized(_ s: String) -> String {
    guard let f = s.first else { return s }
    return f.uppercased() + s.dropFirst()
}

private struct CaptionWriter {
    let scene: SceneDescription
    var lx: Lexicon

    init(scene: SceneDescription, lexicon: Lexicon) {
        self.scene = scene
        self.lx = lexicon
    }

    // MARK: words

    mutating func color(_ c: SceneColor) -> String { lx.word(.color, c.name) }
    mutating func tone(_ t: BackgroundTone) -> String { lx.word(.backgroundTone, t.name) }
    mutating func shape(_ s: ShapeKind) -> String { lx.word(.shape, s.name) }
    mutating func size(_ s: ObjectSize) -> String { lx.word(.size, s.name) }
    mutating func position(_ c: GridCell) -> String { lx.word(.position, c.name) }
    mutating func p(_ concept: String) -> String { lx.phrase(concept) }

    /// "with white stripes", "with a thick black outline", … (nil when plain).
    mutating func surface(_ o: SceneObject) -> String? {
        switch o.pattern {
        case .plain: return nil
        case .striped(let c): return "with \(color(c)) \(lx.word(.pattern, "striped"))"
        case .dotted(let c): return "with \(color(c)) \(lx.word(.pattern, "dotted"))"
        case .checkered(let c):
            return "with " + withArticle("\(color(o.color)) and \(color(c)) \(lx.word(.pattern, "checkered"))")
        case .outlined(let c): return "with a thick \(color(c)) \(lx.word(.pattern, "outlined"))"
        }
    }

    /// "large red star with white stripes" (no article).
    mutating func describe(_ o: SceneObject, withSize: Bool = true, withSurface: Bool = true) -> String {
        var parts: [String] = []
        if withSize { parts.append(size(o.size)) }
        parts.append(color(o.color))
        parts.append(shape(o.shape))
        if withSurface, let s = surface(o) { parts.append(s) }
        return parts.joined(separator: " ")
    }

    /// "the red star".
    mutating func reference(_ o: SceneObject) -> String { "the \(color(o.color)) \(shape(o.shape))" }

    mutating func relation(_ o: SceneObject, to ref: SceneObject) -> String {
        let dr = o.cell.row - ref.cell.row, dc = o.cell.column - ref.cell.column
        let concept: String
        switch (dr.signum(), dc.signum()) {
        case (-1, -1): concept = "above left"
        case (-1, 0): concept = "above"
        case (-1, 1): concept = "above right"
        case (0, -1): concept = "left of"
        case (0, 1): concept = "right of"
        case (1, -1): concept = "below left"
        case (1, 0): concept = "below"
        case (1, 1): concept = "below right"
        default: concept = "next to"
        }
        return lx.anyWord(.relation, concept) + " " + reference(ref)
    }

    /// The whole background: "a plain white background", "a background with a smooth gradient
    /// from white to pale blue, running from top to bottom", …
    mutating func backgroundFull() -> String {
        let bgWord = p("background")
        switch scene.background {
        case .plain(let t):
            return withArticle("\(p("plain")) \(tone(t)) \(bgWord)")
        case .gradient(let a, let b, let dir):
            let d: String
            switch dir {
            case .vertical: d = p("gradient vertical")
            case .horizontal: d = p("gradient horizontal")
            case .diagonal: d = p("gradient diagonal")
            }
            return withArticle(bgWord) + " with " + withArticle("\(p("gradient")) from \(tone(a)) to \(tone(b))") + ", running \(d)"
        case .striped(let a, let b, let o):
            let orient = o == .horizontal ? p("stripes horizontal") : p("stripes vertical")
            return withArticle(bgWord) + " of \(tone(a)) and \(tone(b)) \(orient) \(lx.word(.pattern, "striped"))"
        case .checkered(let a, let b):
            return withArticle(bgWord) + " with " + withArticle("\(tone(a)) and \(tone(b)) \(lx.word(.pattern, "checkered"))")
        }
    }

    /// A vaguer background: "a white background", "a white and pale blue background".
    mutating func backgroundShort() -> String {
        let tones = scene.background.tones
        if tones.count == 1 || lx.chance(50) { return withArticle("\(tone(tones[0])) \(p("background"))") }
        return withArticle("\(tone(tones[0])) and \(tone(tones[1])) \(p("background"))")
    }

    // MARK: short captions

    mutating func shortCaptions() -> [String] {
        let salient = scene.objectsBySalience
        let a = salient[0]
        let b: SceneObject? = salient.count > 1 ? salient[1] : nil
        let n = scene.objects.count
        var kinds = [0, 2, 3, 5, 6]                 // usable with one object
        if b != nil { kinds += [1, 4, 7] }
        for i in stride(from: kinds.count - 1, to: 0, by: -1) { kinds.swapAt(i, lx.rng.nextInt(i + 1)) }
        var out: [String] = []
        for kind in kinds.prefix(SceneCaptioner.shortCaptionCount) {
            lx.newCaption()
            let text: String
            switch kind {
            case 0:
                text = withArticle(describe(a, withSurface: false)) + " \(position(a.cell)) of the \(p("image"))"
            case 1:
                text = withArticle(describe(a, withSize: false, withSurface: false)) + " and "
                    + withArticle(describe(b!, withSize: false, withSurface: false)) + " on \(backgroundShort())"
            case 2:
                let tail = n == 1 ? p("on its own") : "among other \(p("shapes"))"
                text = withArticle(p("image")) + " of " + withArticle(describe(a, withSize: false)) + " " + tail
            case 3:
                if n == 1 {
                    text = "a single \(p("geometric")) \(p("shape")) on \(backgroundShort()): " + withArticle(describe(a, withSurface: false))
                } else {
                    text = "\(numberWords[n]) \(p("geometric")) \(p("shapes")) on \(backgroundShort()), the \(p("largest")) being "
                        + withArticle(describe(a, withSize: false, withSurface: false))
                }
            case 4:
                text = "in this \(p("image")), " + withArticle(describe(a, withSurface: false)) + " \(lx.anyWord(.relation, "next to")) "
                    + withArticle(describe(b!, withSize: false, withSurface: false))
            case 5:
                let base = "\(p("there is")) " + withArticle(describe(a, withSurface: false)) + " \(position(a.cell))"
                text = n == 1 ? base + " and nothing else" : base + " with other \(p("shapes")) \(p("around"))"
            case 6:
                let s = surface(a) ?? "in a \(p("plain")) colour"
                text = withArticle(describe(a, withSize: false, withSurface: false)) + " \(s) on \(backgroundShort())"
            default:
                text = "two \(p("shapes")) \(p("stand out")): " + withArticle(describe(a, withSize: false, withSurface: false))
                    + " and " + withArticle(describe(b!, withSize: false, withSurface: false))
            }
            out.append(capitalized(text))
        }
        return out
    }

    // MARK: dense caption

    mutating func denseCaption() -> String {
        lx.newCaption()
        let objects = scene.objectsInReadingOrder
        let n = objects.count
        var sentences: [String] = []
        let group = n == 1 ? "a single \(p("geometric")) \(p("shape"))" : "\(numberWords[n]) \(p("geometric")) \(p("shapes"))"
        switch lx.rng.nextInt(3) {
        case 0: sentences.append("This \(p("image")) \(p("shows")) \(group) on \(backgroundFull()).")
        case 1: sentences.append(capitalized(group) + " \(n == 1 ? "is" : "are") arranged on \(backgroundFull()) in this \(p("image")).")
        default: sentences.append("The \(p("image")) \(p("shows")) \(backgroundFull()) with \(group) on it.")
        }
        for (i, o) in objects.enumerated() {
            let d = withArticle(describe(o))
            let pos = position(o.cell)
            let clause = i == 0 ? "" : ", " + relation(o, to: objects[lx.rng.nextInt(i)])
            switch lx.rng.nextInt(3) {
            case 0: sentences.append(capitalized(pos) + ", \(p("there is")) \(d)\(clause).")
            case 1: sentences.append(capitalized(d) + " \(p("sits")) \(pos)\(clause).")
            default: sentences.append(capitalized(pos) + " \(p("sits")) \(d)\(clause).")
            }
        }
        if n >= 2 {
            let bySize = objects.sorted { $0.radius > $1.radius }
            let big = bySize[0], small = bySize[n - 1]
            if big.radius > small.radius {
                sentences.append("The \(p("largest")) \(p("shape")) is \(reference(big)), and the \(p("smallest")) is \(reference(small)).")
            }
            sentences.append(p("no overlap"))
        } else {
            sentences.append("Apart from it, the \(p("image")) is empty.")
        }
        return sentences.joined(separator: " ")
    }
}
