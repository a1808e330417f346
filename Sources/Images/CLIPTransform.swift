import TensorKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: torchvision geometry on RGBImage

extension RGBImage {
    /// torchvision `Resize(size)` with an int on a PIL image: the shorter side becomes `size` and
    /// the longer one `int(size * long / short)` (truncated), resampled with Pillow's filter.
    /// Returns the image itself when it already has that size.
    public func resizedShorterSide(to size: Int, filter: ResampleFilter = .bicubic) -> RGBImage {
        precondition(size > 0, "resizedShorterSide: size must be positive")
        let (w, h) = RGBImage.shorterSideSize(width: width, height: height, to: size)
        if w == width && h == height { return self }
        return resized(width: w, height: h, filter: filter)
    }

    /// The output size of torchvision's `Resize(size)` for a `width`×`height` image.
    public static func shorterSideSize(width: Int, height: Int, to size: Int) -> (width: Int, height: Int) {
        let short = Swift.min(width, height), long = Swift.max(width, height)
        let newLong = Int(Double(size * long) / Double(short))  // Python: int(size * long / short)
        return width <= height ? (size, newLong) : (newLong, size)
    }

    /// torchvision `CenterCrop((height, width))`: offsets `int(round((H - h) / 2))` with Python's
    /// round-half-to-even; a crop larger than the image is zero-padded as torchvision pads
    /// (left/top get the smaller half).
    public func centerCropped(width cw: Int, height ch: Int) -> RGBImage {
        if cw == width && ch == height { return self }
        func offset(_ size: Int, _ crop: Int) -> Int {
            if crop > size { return -((crop - size) / 2) }
            return Int((Double(size - crop) / 2).rounded(.toNearestOrEven))
        }
        return cropped(x: offset(width, cw), y: offset(height, ch), width: cw, height: ch)
    }

    /// `centerCropped(width: size, height: size)`.
    public func centerCropped(_ size: Int) -> RGBImage { centerCropped(width: size, height: size) }
}

// MARK: RandomResizedCrop

/// A crop rectangle in pixels (torchvision's `(i, j, h, w)` = (top, left, height, width)).
public struct CropBox: Equatable, Sendable, CustomStringConvertible {
    public var top: Int
    public var left: Int
    public var height: Int
    public var width: Int
    public init(top: Int, left: Int, height: Int, width: Int) {
        self.top = top; self.left = left; self.height = height; self.width = width
    }
    public var description: String { "(top \(top), left \(left), \(width)x\(height))" }
}

/// torchvision's `RandomResizedCrop(size, scale, ratio, interpolation=BICUBIC)` on a PIL image:
/// sample a box with area fraction in `scale` and aspect ratio (log-uniform) in `ratio`, up to 10
/// attempts, else the centre-crop fallback; then crop and resize the crop to size × size with
/// Pillow's filter (torchvision's `F.resized_crop` = `crop` then `resize`).
///
/// The sampling uses TensorKit's ``RNG``: the same seed gives the same crops on every machine
/// (they cannot equal torch's, whose generator differs).
public struct RandomResizedCrop: Sendable {
    public var size: Int
    public var scale: (Double, Double)
    public var ratio: (Double, Double)
    public var filter: ResampleFilter

    /// open_clip's training default: scale (0.9, 1.0), ratio (3/4, 4/3), bicubic.
    public init(size: Int, scale: (Double, Double) = (0.9, 1.0), ratio: (Double, Double) = (3.0 / 4.0, 4.0 / 3.0),
                filter: ResampleFilter = .bicubic) {
        precondition(size > 0, "RandomResizedCrop: size must be positive")
        precondition(scale.0 <= scale.1 && ratio.0 <= ratio.1 && ratio.0 > 0,
                     "RandomResizedCrop: scale and ratio must be (min, max) ranges")
        self.size = size
        self.scale = scale
        self.ratio = ratio
        self.filter = filter
    }

    /// torchvision's `RandomResizedCrop.get_params` for a `width`×`height` image.
    public func parameters(width: Int, height: Int, rng: inout RNG) -> CropBox {
        RandomResizedCrop.parameters(width: width, height: height, scale: scale, ratio: ratio, rng: &rng)
    }

    public static func parameters(width: Int, height: Int, scale: (Double, Double), ratio: (Double, Double),
                                  rng: inout RNG) -> CropBox {
        let area = Double(width * height)
        let logRatio = (log(ratio.0), log(ratio.1))
        for _ in 0..<10 {
            let targetArea = area * (scale.0 + (scale.1 - scale.0) * rng.nextDouble())
            let aspect = exp(logRatio.0 + (logRatio.1 - logRatio.0) * rng.nextDouble())
            let w = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let i = rng.nextInt(height - h + 1)
                let j = rng.nextInt(width - w + 1)
                return CropBox(top: i, left: j, height: h, width: w)
            }
        }
        return fallback(width: width, height: height, ratio: ratio)
    }

    /// The centre crop torchvision falls back to after 10 failed attempts: the whole image, or
    /// its largest centred part whose aspect ratio is clamped into `ratio`.
    public static func fallback(width: Int, height: Int, ratio: (Double, Double)) -> CropBox {
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratio.0 {
            w = width
            h = Int((Double(w) / ratio.0).rounded(.toNearestOrEven))
        } else if inRatio > ratio.1 {
            h = height
            w = Int((Double(h) * ratio.1).rounded(.toNearestOrEven))
        }
        return CropBox(top: (height - h) / 2, left: (width - w) / 2, height: h, width: w)
    }

    /// Samples a box and returns the size × size crop.
    public func callAsFunction(_ image: RGBImage, rng: inout RNG) -> RGBImage {
        apply(parameters(width: image.width, height: image.height, rng: &rng), to: image)
    }

    /// Crops `box` out of `image` and resizes it to size × size (torchvision `F.resized_crop`).
    public func apply(_ box: CropBox, to image: RGBImage) -> RGBImage {
        let crop = image.cropped(x: box.left, y: box.top, width: box.width, height: box.height)
        if crop.width == size && crop.height == size { return crop }
        return crop.resized(width: size, height: size, filter: filter)
    }
}

// MARK: CLIP preprocessing

/// The preprocessing CLIP / open_clip apply before the vision tower.
///
/// - eval: `Resize(S, BICUBIC)` (shorter side), `CenterCrop(S)`, `ToTensor()`,
///   `Normalize(mean, std)`;
/// - train: `RandomResizedCrop(S, scale=(0.9, 1.0), BICUBIC)`, `ToTensor()`, `Normalize`.
///
/// ```swift
/// let clip = CLIPTransform(size: 224)
/// let x = clip.eval(try RGBImage(contentsOf: "cat.jpg"))        // [3, 224, 224]
/// var rng = RNG(seed: 7)
/// let y = clip.train(try RGBImage(contentsOf: "cat.jpg"), rng: &rng)
/// ```
public struct CLIPTransform: Sendable {
    /// OpenAI CLIP's normalisation (also open_clip's `OPENAI_DATASET_MEAN` / `_STD`).
    public static let openAIMean: (Float, Float, Float) = (0.48145466, 0.4578275, 0.40821073)
    public static let openAIStd: (Float, Float, Float) = (0.26862954, 0.26130258, 0.27577711)

    public var size: Int
    public var mean: (Float, Float, Float)
    public var std: (Float, Float, Float)
    public var filter: ResampleFilter
    /// RandomResizedCrop's area range for training (open_clip's default (0.9, 1.0)).
    public var trainScale: (Double, Double)
    /// RandomResizedCrop's aspect-ratio range for training (torchvision's default (3/4, 4/3)).
    public var trainRatio: (Double, Double)

    public init(size: Int = 224, mean: (Float, Float, Float) = CLIPTransform.openAIMean,
                std: (Float, Float, Float) = CLIPTransform.openAIStd, filter: ResampleFilter = .bicubic,
                trainScale: (Double, Double) = (0.9, 1.0), trainRatio: (Double, Double) = (3.0 / 4.0, 4.0 / 3.0)) {
        precondition(size > 0, "CLIPTransform: size must be positive")
        self.size = size
        self.mean = mean
        self.std = std
        self.filter = filter
        self.trainScale = trainScale
        self.trainRatio = trainRatio
    }

    /// The training crop for the current settings.
    public var randomCrop: RandomResizedCrop {
        RandomResizedCrop(size: size, scale: trainScale, ratio: trainRatio, filter: filter)
    }

    /// The eval geometry only (resize shorter side, centre crop): the 8-bit image that
    /// `ToTensor` would see.
    public func evalImage(_ image: RGBImage) -> RGBImage {
        image.resizedShorterSide(to: size, filter: filter).centerCropped(size)
    }

    /// The training geometry only (random resized crop).
    public func trainImage(_ image: RGBImage, rng: inout RNG) -> RGBImage {
        randomCrop(image, rng: &rng)
    }

    /// Eval preprocessing → normalised [3, S, S] tensor.
    public func eval(_ image: RGBImage) -> Tensor { normalized(evalImage(image)) }

    /// Training preprocessing → normalised [3, S, S] tensor.
    public func train(_ image: RGBImage, rng: inout RNG) -> Tensor { normalized(trainImage(image, rng: &rng)) }

    /// `ToTensor` + `Normalize(mean, std)` of an image of any size → [3, H, W].
    public func normalized(_ image: RGBImage) -> Tensor {
        let t = Tensor.empty([3, image.height, image.width])
        image.writeNormalized(into: t.fptr, mean: mean, std: std)
        return t
    }
}
