import Dispatch
import Foundation
import Images
import TensorKit

/// Seeded, thread-independent shuffling.
///
/// ```swift
/// let p0 = Shuffle.permutation(count: 10, seed: 42, epoch: 0)   // the same on every run and machine
/// let p1 = Shuffle.permutation(count: 10, seed: 42, epoch: 1)   // a different order
/// ```
public enum Shuffle {
    /// SplitMix64's finaliser: a well-mixed 64-bit function of `x`.
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The seed of epoch `epoch` of a run seeded with `seed`.
    public static func epochSeed(seed: UInt64, epoch: Int) -> UInt64 {
        mix(seed ^ mix(UInt64(truncatingIfNeeded: epoch) &+ 0x5EED_0000_0000_0001))
    }

    /// A permutation of `0..<count` (Fisher–Yates driven by TensorKit's ``RNG`` seeded with
    /// ``epochSeed(seed:epoch:)``): fixed for a given (seed, epoch).
    public static func permutation(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var p = Array(0..<count)
        guard count > 1 else { return p }
        var rng = RNG(seed: epochSeed(seed: seed, epoch: epoch))
        for i in stride(from: count - 1, to: 0, by: -1) {
            p.swapAt(i, rng.nextInt(i + 1))
        }
        return p
    }
}

/// One batch from a ``DataLoader``.
///
/// ```swift
/// while let batch = try stream.next() {
///     batch.images            // Tensor [n, 3, S, S], normalised
///     batch.indices           // which samples of the data set, in row order
///     batch.shortCaptions     // [[String]] (image–text data sets)
/// }
/// ```
public struct Batch<Sample: Sendable>: @unchecked Sendable {
    /// [n, 3, S, S] float32: the transformed images, row k for `indices[k]`.
    public var images: Tensor
    /// The data-set index of each row.
    public var indices: [Int]
    /// The samples of each row.
    public var samples: [Sample]
    /// Images of this batch that could not be decoded (under ``ErrorPolicy/skip``); their
    /// samples are not in the batch, which is then smaller than the batch size.
    public var skipped: [DatasetError]
    /// The epoch and the batch's position in it (0-based).
    public var epoch: Int
    public var number: Int

    public var count: Int { indices.count }
}

extension Batch where Sample == ImageTextSample {
    /// The short captions of each row.
    public var shortCaptions: [[String]] { samples.map(\.shortCaptions) }
    /// The long caption of each row.
    public var longCaptions: [String?] { samples.map(\.longCaption) }
    /// The key of each row.
    public var keys: [String] { samples.map(\.key) }
}

extension Batch where Sample == LabeledImage {
    /// The label of each row.
    public var labels: [Int] { samples.map(\.label) }
}

/// Batches of preprocessed images from a data set, decoded by worker threads and prefetched on a
/// background thread.
///
/// - Order: in data-set order, or (with `shuffle`) ``Shuffle/permutation(count:seed:epoch:)`` —
///   epoch `e` of seed `s` is always the same permutation, whatever `threads` or `prefetch`.
/// - Images: ``Images/CLIPTransform`` eval (resize + centre crop) or train (random resized crop)
///   geometry, normalised. In train mode sample `i` of epoch `e` crops with
///   `RNG(seed: ImageBatcher.seed(Shuffle.epochSeed(seed: s ^ 0xC0FFEE, epoch: e), index: i))`, so
///   crops are also independent of batching and threads.
/// - Errors: an image that cannot be decoded either stops the epoch (``ErrorPolicy/stop``: `next()`
///   throws a ``DatasetError`` naming the image) or is left out of its batch and counted
///   (``ErrorPolicy/skip``: the batch's and the stream's `skipped`).
/// - Prefetch: a background thread fills a bounded queue of `prefetch` (default 2) batches while
///   the caller works on the current one; `prefetch: 0` loads each batch inside `next()`.
///
/// ```swift
/// let data = try ImageTextDataset.readJSONL("train.jsonl")
/// let loader = DataLoader(data, batchSize: 256, transform: CLIPTransform(size: 224), mode: .train,
///                         shuffle: true, seed: 1, dropLast: true, policy: .skip)
/// for epoch in 0..<4 {
///     let stream = loader.epoch(epoch)
///     while let batch = try stream.next() {
///         train(batch.images, batch.longCaptions)
///     }
///     print("skipped \(stream.skipped.count) images")
/// }
/// ```
public struct DataLoader<Dataset: ImageDataset>: Sendable {
    /// Which CLIPTransform geometry to use.
    public enum Mode: Sendable, Equatable {
        case eval
        case train
    }

    public var dataset: Dataset
    public var batchSize: Int
    public var transform: CLIPTransform
    public var mode: Mode
    public var shuffle: Bool
    public var seed: UInt64
    /// Drop the last batch of an epoch when it is shorter than `batchSize`.
    public var dropLast: Bool
    /// Worker threads decoding the images of one batch.
    public var threads: Int
    /// Batches queued ahead of the consumer (0: no background thread).
    public var prefetch: Int
    public var policy: ErrorPolicy

    public init(_ dataset: Dataset, batchSize: Int, transform: CLIPTransform = CLIPTransform(size: 224),
                mode: Mode = .eval, shuffle: Bool = false, seed: UInt64 = 0, dropLast: Bool = false,
                threads: Int = Engine.threads, prefetch: Int = 2, policy: ErrorPolicy = .stop) {
        precondition(batchSize > 0, "DataLoader: batchSize must be positive")
        precondition(prefetch >= 0, "DataLoader: prefetch must be >= 0")
        self.dataset = dataset
        self.batchSize = batchSize
        self.transform = transform
        self.mode = mode
        self.shuffle = shuffle
        self.seed = seed
        self.dropLast = dropLast
        self.threads = Swift.max(1, threads)
        self.prefetch = prefetch
        self.policy = policy
    }

    /// The order samples are visited in during `epoch`.
    public func order(epoch: Int) -> [Int] {
        shuffle ? Shuffle.permutation(count: dataset.count, seed: seed, epoch: epoch) : Array(0..<dataset.count)
    }

    /// The sample indices of each batch of `epoch` (before any image is skipped).
    public func plan(epoch: Int) -> [[Int]] {
        let o = order(epoch: epoch)
        var out: [[Int]] = []
        var start = 0
        while start < o.count {
            let end = Swift.min(start + batchSize, o.count)
            if end - start < batchSize && dropLast { break }
            out.append(Array(o[start..<end]))
            start = end
        }
        return out
    }

    /// Batches per epoch.
    public var batchesPerEpoch: Int {
        dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
    }

    /// The seed of sample `index`'s training crop in `epoch`.
    public func cropSeed(epoch: Int, index: Int) -> UInt64 {
        ImageBatcher.seed(Shuffle.epochSeed(seed: seed ^ 0xC0FFEE, epoch: epoch), index: index)
    }

    /// Starts `epoch`: returns a stream whose `next()` yields its batches in order.
    public func epoch(_ epoch: Int) -> BatchStream<Dataset.Sample> {
        let batches = plan(epoch: epoch)
        let loader = self
        return BatchStream(count: batches.count, prefetch: prefetch) { b in
            try loader.load(indices: batches[b], epoch: epoch, number: b)
        }
    }

    /// Loads one batch synchronously (what the background thread does for each batch).
    public func load(indices: [Int], epoch: Int = 0, number: Int = 0) throws -> Batch<Dataset.Sample> {
        let n = indices.count
        let s = transform.size
        let plane = 3 * s * s
        let out = Tensor.empty([n, 3, s, s])
        let base = SendablePointer(out.fptr)
        let failures = FailureSlots(count: n)
        let transform = self.transform, mode = self.mode, dataset = self.dataset
        let loader = self
        let work: @Sendable (Int) -> Void = { k in
            let i = indices[k]
            let source = dataset.imageSource(at: i)
            do {
                let image = try source.load()
                let geometry: RGBImage
                switch mode {
                case .eval:
                    geometry = transform.evalImage(image)
                case .train:
                    var rng = RNG(seed: loader.cropSeed(epoch: epoch, index: i))
                    geometry = transform.trainImage(image, rng: &rng)
                }
                geometry.writeNormalized(into: base.pointer + k * plane, mean: transform.mean, std: transform.std)
            } catch let e as ImageError {
                failures.set(k, e)
            } catch {
                failures.set(k, .unreadable(path: source.name, reason: "\(error)"))
            }
        }
        let workers = Swift.min(threads, n)
        if workers <= 1 {
            for k in 0..<n { work(k) }
        } else {
            let next = TicketCounter()
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while true {
                    let k = next.take()
                    if k >= n { break }
                    work(k)
                }
            }
        }
        let failed = failures.all()
        if failed.isEmpty {
            return Batch(images: out, indices: indices, samples: indices.map { dataset[$0] }, skipped: [],
                         epoch: epoch, number: number)
        }
        let errors = failed.map { k, e in
            DatasetError(file: dataset.imageSource(at: indices[k]).name, key: dataset.sampleKey(at: indices[k]),
                         problem: .undecodableImage(e))
        }
        if policy == .stop { throw errors[0] }
        let bad = Set(failed.map(\.0))
        let keep = (0..<n).filter { !bad.contains($0) }
        let compact = Tensor.empty([keep.count, 3, s, s])
        withExtendedLifetime(out) {
            for (row, k) in keep.enumerated() {
                (compact.fptr + row * plane).update(from: out.fptr + k * plane, count: plane)
            }
        }
        let kept = keep.map { indices[$0] }
        return Batch(images: compact, indices: kept, samples: kept.map { dataset[$0] }, skipped: errors,
                     epoch: epoch, number: number)
    }
}

/// The batches of one epoch, in order. Created by ``DataLoader/epoch(_:)``; a background thread
/// produces them ahead into a bounded queue. Dropping the stream (or ``cancel()``) stops it.
///
/// ```swift
/// let stream = loader.epoch(0)
/// while let batch = try stream.next() { ... }
/// ```
public final class BatchStream<Sample: Sendable>: @unchecked Sendable {
    /// Batches planned for the epoch (empty batches — every image skipped — are not yielded).
    public let plannedBatches: Int
    /// Every image skipped so far in this epoch (``ErrorPolicy/skip``).
    public private(set) var skipped: [DatasetError] = []
    /// Batches yielded so far.
    public private(set) var delivered = 0

    private let queue: PrefetchQueue<Batch<Sample>>?
    private let produce: (Int) throws -> Batch<Sample>
    private var nextSync = 0
    private var done = false

    init(count: Int, prefetch: Int, produce: @escaping @Sendable (Int) throws -> Batch<Sample>) {
        plannedBatches = count
        self.produce = produce
        guard prefetch > 0 else {
            queue = nil
            return
        }
        let q = PrefetchQueue<Batch<Sample>>(capacity: prefetch)
        queue = q
        let thread = Thread {
            for b in 0..<count {
                if q.isCancelled { break }
                let r = Result { try produce(b) }
                if !q.put(r) { break }
                if case .failure = r { break }
            }
            q.finish()
        }
        thread.name = "llm2clip.prefetch"
        thread.stackSize = 16 << 20
        thread.start()
    }

    deinit { queue?.cancel() }

    /// The next batch, nil at the end of the epoch; throws the ``DatasetError`` that stopped it.
    public func next() throws -> Batch<Sample>? {
        while !done {
            let r: Result<Batch<Sample>, Error>
            if let queue {
                guard let item = queue.take() else { done = true; return nil }
                r = item
            } else {
                guard nextSync < plannedBatches else { done = true; return nil }
                r = Result { try produce(nextSync) }
                nextSync += 1
            }
            switch r {
            case .failure(let e):
                done = true
                queue?.cancel()
                throw e
            case .success(let batch):
                skipped += batch.skipped
                if batch.count == 0 { continue }
                delivered += 1
                return batch
            }
        }
        return nil
    }

    /// Stops producing; later `next()` calls return nil.
    public func cancel() {
        done = true
        queue?.cancel()
    }

    /// The most batches that were waiting in the queue at once (at most `prefetch`).
    public var peakQueued: Int { queue?.peak ?? 0 }
}

// MARK: captions for text-only passes

/// Which captions a text-only pass visits.
public enum CaptionSelection: Sendable, Equatable {
    /// Every short caption.
    case short
    /// Every long caption.
    case long
    /// Short captions then the long one, per sample.
    case all
}

/// One caption of one sample.
public struct CaptionItem: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The sample's k-th short caption.
        case short(Int)
        case long
    }
    /// Index of the sample in the data set.
    public var sample: Int
    public var key: String
    public var kind: Kind
    public var text: String
}

/// Batches of captions in data-set order (no images decoded): the input of stage 1.5's caption
/// embedding cache.
///
/// ```swift
/// for batch in dataset.captions(.all, batchSize: 64) {
///     let vectors = try encoder.encode(batch.map(\.text))
///     for (item, v) in zip(batch, vectors) { store(item.key, item.kind, v) }
/// }
/// ```
public struct CaptionBatches: Sequence, IteratorProtocol, Sendable {
    let samples: [ImageTextSample]
    let selection: CaptionSelection
    let batchSize: Int
    private var sample = 0
    private var pending: [CaptionItem] = []

    init(samples: [ImageTextSample], selection: CaptionSelection, batchSize: Int) {
        precondition(batchSize > 0, "captions: batchSize must be positive")
        self.samples = samples
        self.selection = selection
        self.batchSize = batchSize
    }

    public mutating func next() -> [CaptionItem]? {
        while pending.count < batchSize && sample < samples.count {
            let s = samples[sample]
            if selection != .long {
                for (k, t) in s.shortCaptions.enumerated() {
                    pending.append(CaptionItem(sample: sample, key: s.key, kind: .short(k), text: t))
                }
            }
            if selection != .short, let l = s.longCaption {
                pending.append(CaptionItem(sample: sample, key: s.key, kind: .long, text: l))
            }
            sample += 1
        }
        if pending.isEmpty { return nil }
        let n = Swift.min(batchSize, pending.count)
        let out = Array(pending.prefix(n))
        pending.removeFirst(n)
        return out
    }
}

extension ImageTextDataset {
    /// The data set's captions in batches of `batchSize`, in sample order.
    public func captions(_ selection: CaptionSelection = .all, batchSize: Int = 64) -> CaptionBatches {
        CaptionBatches(samples: samples, selection: selection, batchSize: batchSize)
    }
}

// MARK: concurrency helpers

/// A bounded FIFO between the prefetch thread and the consumer.
final class PrefetchQueue<T>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Result<T, Error>] = []
    private var finished = false
    private var cancelled = false
    private(set) var peak = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = Swift.max(1, capacity) }

    var isCancelled: Bool {
        condition.lock(); defer { condition.unlock() }
        return cancelled
    }

    /// Waits for room, then appends; false when cancelled (the item is dropped).
    func put(_ item: Result<T, Error>) -> Bool {
        condition.lock(); defer { condition.unlock() }
        while items.count >= capacity && !cancelled { condition.wait() }
        if cancelled { return false }
        items.append(item)
        peak = Swift.max(peak, items.count)
        condition.broadcast()
        return true
    }

    func finish() {
        condition.lock(); defer { condition.unlock() }
        finished = true
        condition.broadcast()
    }

    /// Waits for an item; nil once the producer has finished (or was cancelled) and nothing is left.
    func take() -> Result<T, Error>? {
        condition.lock(); defer { condition.unlock() }
        while items.isEmpty && !finished && !cancelled { condition.wait() }
        if items.isEmpty || cancelled { return nil }
        let item = items.removeFirst()
        condition.broadcast()
        return item
    }

    func cancel() {
        condition.lock(); defer { condition.unlock() }
        cancelled = true
        items.removeAll()
        condition.broadcast()
    }
}

private struct SendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ p: UnsafeMutablePointer<Float>) { pointer = p }
}

/// Hands out 0, 1, 2, … to competing threads.
private final class TicketCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take() -> Int {
        lock.lock(); defer { lock.unlock() }
        let v = value
        value += 1
        return v
    }
}

private final class FailureSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [ImageError?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ e: ImageError) {
        lock.lock(); defer { lock.unlock() }
        slots[i] = e
    }
    func all() -> [(Int, ImageError)] {
        lock.lock(); defer { lock.unlock() }
        return slots.enumerated().compactMap { i, e in e.map { (i, $0) } }
    }
}
