import Dispatch
import Images
import TensorKit

/// Which half of the scenes world a sample belongs to. The splits draw from different random
/// streams, so a train and an eval set with the same seed share no scene.
public enum SceneSplit: String, CaseIterable, Sendable {
    case train, eval

    var streamTag: UInt64 { self == .train ? 0x7472_6169_6E00_0001 : 0x6576_616C_0000_0002 }
}

/// The text side of a sample (no pixels): what ``SceneDataset/describe(index:seed:split:heldOutWording:)``
/// returns for caption statistics.
public struct SceneText: Equatable, Sendable {
    public let index: Int
    public let key: String
    public let description: SceneDescription
    public let shortCaptions: [String]
    public let denseCaption: String
}

/// One image with its captions.
public struct SceneSample: Equatable, Sendable {
    public let index: Int
    /// A file-name-safe key, unique within a data set: "train-00000042".
    public let key: String
    public let image: RGBImage
    public let shortCaptions: [String]
    public let denseCaption: String
    public let description: SceneDescription
}

/// The procedural image–caption data set.
///
/// Sample `i` depends only on (seed, split, i): samples can be made in any order, in parallel,
/// or resumed from any index, and the same arguments give the same bytes on every machine.
///
/// ```swift
/// let train = SceneDataset.generate(count: 1000, seed: 1, imageSize: 64)
/// let eval = SceneDataset.generate(count: 200, seed: 1, imageSize: 64, split: .eval, heldOutWording: true)
/// train[0].shortCaptions      // five short captions
/// train[0].denseCaption       // one long caption
/// ```
public enum SceneDataset {
    /// Bumped whenever any sample's content changes (scene sampling, rendering or wording).
    public static let version = 1
    public static let defaultImageSize = 64

    /// "train-00000042".
    public static func key(index: Int, split: SceneSplit) -> String {
        let digits = String(index)
        return split.rawValue + "-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// The seed of sample `index`: SplitMix64 steps over (seed, split, index).
    public static func sampleSeed(index: Int, seed: UInt64, split: SceneSplit) -> UInt64 {
        func mix(_ x: UInt64) -> UInt64 {
            var z = x &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return mix(mix(mix(seed) ^ split.streamTag) ^ UInt64(index))
    }

    /// The most objects a scene can hold (``SceneDescription/defaultObjectCountWeights``).
    public static let maxObjectsRange = 1...SceneDescription.defaultObjectCountWeights.count

    /// The relative weights of 1 … `maxObjects` objects: the default weights cut at `maxObjects`.
    /// Fewer objects give simpler pictures and shorter dense captions (a smaller world to learn).
    ///
    /// ```swift
    /// SceneDataset.objectCountWeights(maxObjects: 2)                       // [7, 10]
    /// let small = SceneDataset.generate(count: 600, seed: 1, maxObjects: 2)  // 1 or 2 objects each
    /// ```
    public static func objectCountWeights(maxObjects: Int) -> [Int] {
        precondition(maxObjectsRange.contains(maxObjects), "SceneDataset: maxObjects \(maxObjects) outside \(maxObjectsRange)")
        return Array(SceneDescription.defaultObjectCountWeights.prefix(maxObjects))
    }

    /// The scene and captions of sample `index`, without rendering. Scenes hold 1 … `maxObjects`
    /// objects (default 6, the full world).
    public static func describe(index: Int, seed: UInt64, split: SceneSplit = .train, heldOutWording: Bool = false,
                                maxObjects: Int = 6) -> SceneText {
        precondition(index >= 0, "SceneDataset: negative index \(index)")
        let s = sampleSeed(index: index, seed: seed, split: split)
        var sceneRNG = RNG(seed: s)
        let scene = SceneDescription.random(using: &sceneRNG, objectCountWeights: objectCountWeights(maxObjects: maxObjects))
        // A separate stream for the words, so the wording option never changes the scene.
        let captions = SceneCaptioner.captions(for: scene, heldOutWording: heldOutWording, rng: RNG(seed: s ^ 0xC0FF_EE00_CAB1_E5ED))
        return SceneText(index: index, key: key(index: index, split: split), description: scene,
                         shortCaptions: captions.short, denseCaption: captions.dense)
    }

    /// Sample `index`, rendered at `imageSize`×`imageSize`.
    public static func sample(index: Int, seed: UInt64, imageSize: Int = defaultImageSize, split: SceneSplit = .train,
                              heldOutWording: Bool = false, maxObjects: Int = 6) -> SceneSample {
        let t = describe(index: index, seed: seed, split: split, heldOutWording: heldOutWording, maxObjects: maxObjects)
        return SceneSample(index: index, key: t.key, image: SceneRenderer.render(t.description, size: imageSize),
                           shortCaptions: t.shortCaptions, denseCaption: t.denseCaption, description: t.description)
    }

    /// Samples `start ..< start + count`, made on up to `threads` threads (nil: all cores) and
    /// returned in index order. The result does not depend on the thread count.
    public static func generate(count: Int, seed: UInt64, imageSize: Int = defaultImageSize, split: SceneSplit = .train,
                                heldOutWording: Bool = false, start: Int = 0, maxObjects: Int = 6,
                                threads: Int? = nil) -> [SceneSample] {
        precondition(count >= 0 && start >= 0, "SceneDataset.generate: negative count or start")
        precondition(SceneRenderer.sizeRange.contains(imageSize), "SceneDataset.generate: image size \(imageSize) outside \(SceneRenderer.sizeRange)")
        return parallelMap(count: count, threads: threads) { i in
            sample(index: start + i, seed: seed, imageSize: imageSize, split: split, heldOutWording: heldOutWording,
                   maxObjects: maxObjects)
        }
    }

    /// The text of samples `start ..< start + count` (no rendering), in index order.
    public static func generateText(count: Int, seed: UInt64, split: SceneSplit = .train, heldOutWording: Bool = false,
                                    start: Int = 0, maxObjects: Int = 6, threads: Int? = nil) -> [SceneText] {
        precondition(count >= 0 && start >= 0, "SceneDataset.generateText: negative count or start")
        return parallelMap(count: count, threads: threads) { i in
            describe(index: start + i, seed: seed, split: split, heldOutWording: heldOutWording, maxObjects: maxObjects)
        }
    }
}

/// `body(0..<count)` on up to `threads` threads, results in index order. Worker w takes indices
/// w, w + threads, …; every result lands in its own slot, so the output does not depend on the
/// thread count or on timing.
func parallelMap<T>(count: Int, threads: Int?, _ body: (Int) -> T) -> [T] {
    guard count > 0 else { return [] }
    let workers = max(1, min(threads ?? ProcessInfoCores.count, count))
    if workers == 1 { return (0..<count).map(body) }
    let slots = UnsafeMutablePointer<T?>.allocate(capacity: count)
    slots.initialize(repeating: nil, count: count)
    defer { slots.deinitialize(count: count); slots.deallocate() }
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        for i in stride(from: w, to: count, by: workers) { slots[i] = body(i) }
    }
    return (0..<count).map { slots[$0]! }
}

enum ProcessInfoCores {
    static let count: Int = {
        #if canImport(Glibc)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        return max(1, Int(sysconf(_SC_NPROCESSORS_ONLN)))
        #endif
    }()
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
