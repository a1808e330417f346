import Dispatch
import TensorKit

/// Decodes and preprocesses many image files in parallel into one N×3×S×S tensor.
///
/// Worker threads (`DispatchQueue.concurrentPerform`) each take whole files. Training crops are
/// drawn from a per-file generator seeded by `(seed, index)`, so a batch is the same whatever
/// the thread count or scheduling.
///
/// ```swift
/// let batcher = ImageBatcher(transform: CLIPTransform(size: 224))
/// let x = try batcher.tensor(paths)                        // throws if any file fails
/// let r = batcher.load(paths, mode: .train(seed: 42))      // or keep going past failures
/// for f in r.failures { print(f.error) }                   // each names its path
/// ```
public struct ImageBatcher: Sendable {
    public enum Mode: Sendable, Equatable {
        case eval
        /// Random resized crops; file `i` uses `RNG(seed: ImageBatcher.seed(seed, index: i))`.
        case train(seed: UInt64)
    }

    /// One file that could not be used.
    public struct Failure: Sendable, Equatable {
        public var index: Int
        public var path: String
        public var error: ImageError
    }

    /// The batch; rows of failed files are zero.
    public struct Result: Sendable {
        public var tensor: Tensor
        public var failures: [Failure]
    }

    public var transform: CLIPTransform
    public var threads: Int

    public init(transform: CLIPTransform, threads: Int = Engine.threads) {
        self.transform = transform
        self.threads = Swift.max(1, threads)
    }

    /// The seed of file `index`'s generator in ``Mode/train(seed:)``.
    public static func seed(_ seed: UInt64, index: Int) -> UInt64 {
        seed &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15
    }

    /// Decodes and transforms every file; failures are collected, not thrown.
    public func load(_ paths: [String], mode: Mode = .eval) -> Result {
        let s = transform.size
        let plane = 3 * s * s
        let out = Tensor.zeros([paths.count, 3, s, s])
        let base = UnsafeMutableSendablePointer(out.fptr)
        let errors = ErrorSlots(count: paths.count)
        let transform = self.transform
        let workers = Swift.min(threads, Swift.max(paths.count, 1))
        let next = AtomicCounter()
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let i = next.increment()
                if i >= paths.count { break }
                do {
                    let image = try RGBImage(contentsOf: paths[i])
                    let geometry: RGBImage
                    switch mode {
                    case .eval:
                        geometry = transform.evalImage(image)
                    case .train(let seed):
                        var rng = RNG(seed: ImageBatcher.seed(seed, index: i))
                        geometry = transform.trainImage(image, rng: &rng)
                    }
                    geometry.writeNormalized(into: base.pointer + i * plane, mean: transform.mean, std: transform.std)
                } catch let e as ImageError {
                    errors.set(i, e)
                } catch {
                    errors.set(i, .unreadable(path: paths[i], reason: "\(error)"))
                }
            }
        }
        let failures = errors.all().map { Failure(index: $0.0, path: paths[$0.0], error: $0.1) }
        return Result(tensor: out, failures: failures)
    }

    /// Decodes and transforms every file, or throws ``ImageError/batchFailed(_:)`` listing each
    /// file that failed (or that file's own error when only one did).
    public func tensor(_ paths: [String], mode: Mode = .eval) throws -> Tensor {
        let r = load(paths, mode: mode)
        if r.failures.count == 1 { throw r.failures[0].error }
        if !r.failures.isEmpty { throw ImageError.batchFailed(r.failures.map(\.error)) }
        return r.tensor
    }
}

private struct UnsafeMutableSendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ p: UnsafeMutablePointer<Float>) { pointer = p }
}

private final class ErrorSlots: @unchecked Sendable {
    private var slots: [ImageError?]
    private let lock = Lock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ e: ImageError) { lock.locked { slots[i] = e } }
    func all() -> [(Int, ImageError)] {
        lock.locked { slots.enumerated().compactMap { i, e in e.map { (i, $0) } } }
    }
}
