import Foundation
import Images

// The common data model every reader produces and the loader consumes.

/// Where a sample's image comes from: a file, encoded bytes held in memory (a member of a tar
/// shard), or pixels already decoded (Fashion-MNIST).
///
/// ```swift
/// let a = ImageSource.file("/data/cats/1.jpg")
/// let b = ImageSource.encoded(name: "00000.tar:000000001.jpg", bytes: jpegBytes)
/// let image = try a.load()          // RGBImage; errors are ImageError naming the file
/// print(b.name)                     // "00000.tar:000000001.jpg"
/// ```
public enum ImageSource: Sendable, Equatable {
    /// A JPEG or PNG file on disk.
    case file(String)
    /// A JPEG or PNG held in memory. `bytes` may be a slice of a larger buffer (for example a
    /// memory-mapped tar shard): use its own indices. `name` identifies it in errors.
    case encoded(name: String, bytes: Data)
    /// Pixels already decoded.
    case pixels(name: String, image: RGBImage)
    /// An 8-bit greyscale image stored row-major (`width * height` bytes, possibly a slice of a
    /// larger buffer); loaded as RGB with the grey value in all three channels.
    case grey(name: String, width: Int, height: Int, bytes: Data)

    /// The path or name used in messages (`shard.tar:key.jpg` for tar members).
    public var name: String {
        switch self {
        case .file(let p): return p
        case .encoded(let n, _), .pixels(let n, _), .grey(let n, _, _, _): return n
        }
    }

    /// The file path for ``file(_:)`` sources, nil otherwise.
    public var path: String? {
        if case .file(let p) = self { return p }
        return nil
    }

    /// Decodes the image (JPEG/PNG with EXIF orientation applied, as `RGBImage(contentsOf:)`).
    public func load() throws -> RGBImage {
        switch self {
        case .file(let p):
            return try RGBImage(contentsOf: p)
        case .encoded(let n, let bytes):
            return try RGBImage(data: bytes, name: n)
        case .pixels(_, let image):
            return image
        case .grey(let n, let w, let h, let bytes):
            guard bytes.count == w * h else {
                throw ImageError.corrupt(name: n, format: "grey", detail: "\(bytes.count) bytes for \(w)x\(h) pixels")
            }
            var rgb = [UInt8](repeating: 0, count: w * h * 3)
            var i = 0
            for v in bytes {
                rgb[i] = v; rgb[i + 1] = v; rgb[i + 2] = v
                i += 3
            }
            return RGBImage(width: w, height: h, pixels: rgb)
        }
    }
}

/// One image with its captions: the unit of every image–text data set.
///
/// Short captions are the ordinary alt-text / COCO-style ones (several per image in the retrieval
/// sets); the long caption is a dense, multi-sentence description (ShareGPT4V, Urban1k, DOCCI,
/// or the re-captioned training data LLM2CLIP uses). At least one of the two is present.
///
/// ```swift
/// let s = ImageTextSample(key: "000000042", image: .file("images/42.jpg"),
///                         shortCaptions: ["a dog on a beach"],
///                         longCaption: "A brown dog runs along a sandy beach at sunset, ...")
/// print(s.imagePath)        // "images/42.jpg"
/// ```
public struct ImageTextSample: Sendable, Equatable {
    /// A stable identifier: the manifest's `key` field, the tar member's key, the file name, ….
    public var key: String
    /// The image to load.
    public var image: ImageSource
    /// Zero or more short captions.
    public var shortCaptions: [String]
    /// The long caption, if the data set has one.
    public var longCaption: String?

    public init(key: String, image: ImageSource, shortCaptions: [String], longCaption: String? = nil) {
        self.key = key
        self.image = image
        self.shortCaptions = shortCaptions
        self.longCaption = longCaption
    }

    /// The image's path for files, or its name (`shard.tar:key.jpg`) for in-memory images.
    public var imagePath: String { image.name }

    /// Every caption of the sample: the short ones, then the long one.
    public var allCaptions: [String] { shortCaptions + (longCaption.map { [$0] } ?? []) }
}

/// The samples read from one manifest, shard list or evaluation folder, with the problems that
/// were skipped under ``ErrorPolicy/skip``.
///
/// ```swift
/// let train = try ImageTextDataset.readJSONL("data/train.jsonl", policy: .skip)
/// print(train.count, train.origin, train.skipped.count)
/// for e in train.skipped { print(e) }          // each names file, line and what to do
/// let first = train[0]                          // an ImageTextSample
/// ```
public struct ImageTextDataset: Sendable {
    public var samples: [ImageTextSample]
    /// What was read: the manifest path, the shard paths, or the root folder.
    public var origin: String
    /// Problems skipped while reading (always empty under ``ErrorPolicy/stop``).
    public var skipped: [DatasetError]

    public init(samples: [ImageTextSample], origin: String, skipped: [DatasetError] = []) {
        self.samples = samples
        self.origin = origin
        self.skipped = skipped
    }

    public var count: Int { samples.count }
    public subscript(i: Int) -> ImageTextSample { samples[i] }

    /// The (first short, long) caption pair of every sample that has both: stage-1 training data.
    public func captionPairs() -> CaptionPairDataset {
        let pairs = samples.compactMap { s -> CaptionPair? in
            guard let short = s.shortCaptions.first, let long = s.longCaption else { return nil }
            return CaptionPair(short: short, long: long, key: s.key)
        }
        return CaptionPairDataset(pairs: pairs, origin: origin)
    }
}

/// A short caption and a long caption of the same image: one row of stage 1's caption-contrastive
/// training.
///
/// ```swift
/// let p = CaptionPair(short: "a red bus", long: "A red double-decker bus waits at a stop ...")
/// ```
public struct CaptionPair: Sendable, Equatable {
    public var short: String
    public var long: String
    /// An identifier when the source has one (the `key` field), else nil.
    public var key: String?

    public init(short: String, long: String, key: String? = nil) {
        self.short = short
        self.long = long
        self.key = key
    }
}

/// Caption pairs read from a CSV or JSONL file.
///
/// ```swift
/// let pairs = try CaptionPairDataset.read("pairs.csv", policy: .skip)
/// for batch in pairs.batches(size: 64, seed: 1, epoch: 0) { ... }   // [[CaptionPair]]
/// ```
public struct CaptionPairDataset: Sendable {
    public var pairs: [CaptionPair]
    public var origin: String
    public var skipped: [DatasetError]

    public init(pairs: [CaptionPair], origin: String, skipped: [DatasetError] = []) {
        self.pairs = pairs
        self.origin = origin
        self.skipped = skipped
    }

    public var count: Int { pairs.count }
    public subscript(i: Int) -> CaptionPair { pairs[i] }

    /// The pairs in batches for one epoch: shuffled with ``Shuffle/permutation(count:seed:epoch:)``
    /// when `shuffle` is true (else in file order); the last short batch is dropped when `dropLast`.
    public func batches(size: Int, shuffle: Bool = true, seed: UInt64 = 0, epoch: Int = 0,
                        dropLast: Bool = false) -> [[CaptionPair]] {
        precondition(size > 0, "CaptionPairDataset.batches: size must be positive")
        let order = shuffle ? Shuffle.permutation(count: pairs.count, seed: seed, epoch: epoch) : Array(0..<pairs.count)
        var out: [[CaptionPair]] = []
        var start = 0
        while start < order.count {
            let end = min(start + size, order.count)
            if end - start < size && dropLast { break }
            out.append(order[start..<end].map { pairs[$0] })
            start = end
        }
        return out
    }
}

/// An image with a class label (classification and linear-probe evaluation).
///
/// ```swift
/// let x = LabeledImage(image: .file("val/n01440764/1.jpg"), label: 0)
/// ```
public struct LabeledImage: Sendable, Equatable {
    public var image: ImageSource
    /// Index into the data set's `classNames`.
    public var label: Int

    public init(image: ImageSource, label: Int) {
        self.image = image
        self.label = label
    }
}

/// Labelled images with their class names (label `i` is `classNames[i]`).
///
/// ```swift
/// let test = try LabeledImageDataset.readFashionMNIST(split: .test)
/// print(test.count, test.classNames[test[0].label])     // 10000 "Ankle boot"
/// let folders = try LabeledImageDataset.readImageFolder("imagenet/val")
/// ```
public struct LabeledImageDataset: Sendable {
    public var images: [LabeledImage]
    public var classNames: [String]
    public var origin: String
    public var skipped: [DatasetError]

    public init(images: [LabeledImage], classNames: [String], origin: String, skipped: [DatasetError] = []) {
        self.images = images
        self.classNames = classNames
        self.origin = origin
        self.skipped = skipped
    }

    public var count: Int { images.count }
    public subscript(i: Int) -> LabeledImage { images[i] }
}

// MARK: the loader's view of a data set

/// Anything the ``DataLoader`` can batch: indexed samples, each with an image.
///
/// ```swift
/// extension MyDataset: ImageDataset {
///     var count: Int { items.count }
///     subscript(i: Int) -> MyItem { items[i] }
///     func imageSource(at i: Int) -> ImageSource { .file(items[i].path) }
/// }
/// ```
public protocol ImageDataset: Sendable {
    associatedtype Sample: Sendable
    var count: Int { get }
    subscript(i: Int) -> Sample { get }
    /// The image of sample `i`.
    func imageSource(at i: Int) -> ImageSource
    /// A key naming sample `i` in errors (default: nil).
    func sampleKey(at i: Int) -> String?
}

extension ImageDataset {
    public func sampleKey(at i: Int) -> String? { nil }
}

extension ImageTextDataset: ImageDataset {
    public func imageSource(at i: Int) -> ImageSource { samples[i].image }
    public func sampleKey(at i: Int) -> String? { samples[i].key }
}

extension LabeledImageDataset: ImageDataset {
    public func imageSource(at i: Int) -> ImageSource { images[i].image }
}
