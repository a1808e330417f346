import CEngine

/// An n-dimensional array of numbers with optional gradient tracking.
///
/// Tensors are views: `shape`, `strides` (in elements) and `offset` over a shared ``Storage``.
/// Reshape, permute, slice and expand make views without copying; ``contiguous()`` copies when a
/// kernel needs dense memory. Arithmetic is float32.
///
/// ```swift
/// let x = Tensor([1, 2, 3, 4], shape: [2, 2]).requiringGrad()
/// let y = (x * x).sum()
/// y.backward()
/// print(x.grad!.toArray())   // [2, 4, 6, 8]
/// ```
public final class Tensor: @unchecked Sendable {
    public let storage: Storage
    public let shape: [Int]
    public let strides: [Int]
    public let offset: Int
    /// Whether operations on this tensor are recorded for ``backward(_:retainGraph:)``.
    public internal(set) var requiresGrad: Bool = false
    /// Accumulated gradient of a leaf tensor after ``backward(_:retainGraph:)``.
    public var grad: Tensor?
    var node: GradNode?

    public init(storage: Storage, shape: [Int], strides: [Int]? = nil, offset: Int = 0) {
        self.storage = storage
        self.shape = shape
        self.strides = strides ?? Tensor.contiguousStrides(shape)
        self.offset = offset
    }

    /// Uninitialised float32 tensor.
    public static func empty(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        Tensor(storage: Storage(count: shape.reduce(1, *), dtype: dtype), shape: shape)
    }

    /// A tensor holding `values` (row-major) with the given shape.
    public convenience init(_ values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *),
                     "Tensor(values:shape:): \(values.count) values do not fill shape \(shape)")
        self.init(storage: Storage(count: values.count), shape: shape)
        values.withUnsafeBufferPointer { buf in
            if let b = buf.baseAddress { fptr.update(from: b, count: values.count) }
        }
    }

    /// A 1-D tensor of `values`.
    public convenience init(_ values: [Float]) { self.init(values, shape: [values.count]) }

    /// A 0-dimensional tensor.
    public static func scalar(_ value: Float) -> Tensor { Tensor([value], shape: []) }

    public static func full(_ shape: [Int], _ value: Float) -> Tensor {
        let t = empty(shape)
        ke_fill(t.fptr, t.count, value)
        return t
    }
    public static func zeros(_ shape: [Int]) -> Tensor { full(shape, 0) }
    public static func ones(_ shape: [Int]) -> Tensor { full(shape, 1) }
    public static func zeros(like t: Tensor) -> Tensor { zeros(t.shape) }

    /// 0, 1, ..., n-1 (times `step`, plus `start`).
    public static func arange(_ n: Int, start: Float = 0, step: Float = 1) -> Tensor {
        let t = empty([n])
        for i in 0..<n { t.fptr[i] = start + Float(i) * step }
        return t
    }

    /// Uniform samples in [low, high).
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, rng: inout RNG) -> Tensor {
        let t = empty(shape)
        for i in 0..<t.count { t.fptr[i] = low + (high - low) * rng.nextFloat() }
        return t
    }

    /// Normal samples with the given mean and standard deviation.
    public static func randn(_ shape: [Int], mean: Float = 0, std: Float = 1, rng: inout RNG) -> Tensor {
        let t = empty(shape)
        for i in 0..<t.count { t.fptr[i] = mean + std * rng.nextNormal() }
        return t
    }

    // MARK: facts

    public var rank: Int { shape.count }
    public var count: Int { shape.reduce(1, *) }
    public var dtype: DType { storage.dtype }

    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= shape[i]
        }
        return s
    }

    /// True when elements are laid out densely in row-major order.
    public var isContiguous: Bool {
        var expected = 1
        for i in stride(from: rank - 1, through: 0, by: -1) where shape[i] != 1 {
            if strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }

    /// Pointer to the first float32 element. The tensor must be float32.
    public var fptr: UnsafeMutablePointer<Float> {
        precondition(dtype == .float32, "Tensor is \(dtype); convert with .to(.float32) before computing")
        return storage.base.assumingMemoryBound(to: Float.self) + offset
    }

    /// Normalises a possibly negative axis.
    @inline(__always) public func axis(_ a: Int) -> Int {
        let r = a < 0 ? a + rank : a
        precondition(r >= 0 && r < Swift.max(rank, 1), "axis \(a) out of range for shape \(shape)")
        return r
    }

    // MARK: reading values

    /// All elements in row-major order.
    public func toArray() -> [Float] {
        let c = dtype == .float32 ? self : to(.float32)
        let t = c.isContiguous ? c : c.contiguous()
        return Array(UnsafeBufferPointer(start: t.fptr, count: t.count))
    }

    /// The single value of a one-element tensor.
    public func item() -> Float {
        precondition(count == 1, "item() needs a one-element tensor, got shape \(shape)")
        return toArray()[0]
    }

    /// The element at a full index.
    public subscript(_ index: Int...) -> Float {
        precondition(index.count == rank, "index \(index) does not match shape \(shape)")
        var o = 0
        for (i, k) in index.enumerated() {
            precondition(k >= 0 && k < shape[i], "index \(index) out of range for shape \(shape)")
            o += k * strides[i]
        }
        if dtype == .float32 { return fptr[o] }
        return detachedFloat32Element(o)
    }

    private func detachedFloat32Element(_ o: Int) -> Float {
        let one = Tensor(storage: storage, shape: [1], strides: [1], offset: offset + o)
        return one.to(.float32).toArray()[0]
    }

    // MARK: gradient flags

    /// Marks a leaf tensor as a parameter whose gradient is wanted; returns `self`.
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        precondition(node == nil, "requiringGrad() applies to leaf tensors; use detach() first")
        requiresGrad = flag
        return self
    }

    /// The same data with no gradient history.
    public func detach() -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset)
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }

    // MARK: copies and dtype

    /// A dense row-major copy (or `self` when already dense). Differentiable.
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let out = Tensor.empty(shape, dtype: .float32)
        copyStrided(from: self, into: out)
        return record(out, [self]) { g in [g] }
    }

    /// Converts the element type (float32 ↔ float16 / bfloat16). Not differentiable.
    public func to(_ target: DType) -> Tensor {
        if target == dtype { return self }
        let src = dtype == .float32 ? (isContiguous ? self : contiguous()) : self
        precondition(src.isContiguous || dtype == .float32, "converting a strided \(dtype) view is not supported")
        let n = count
        let out = Tensor.empty(shape, dtype: target)
        let srcRaw = src.storage.base + src.offset * dtype.size
        switch (dtype, target) {
        case (.float32, .float16):
            ke_f32_to_f16(srcRaw.assumingMemoryBound(to: Float.self), out.storage.base.assumingMemoryBound(to: UInt16.self), n)
        case (.float32, .bfloat16):
            ke_f32_to_bf16(srcRaw.assumingMemoryBound(to: Float.self), out.storage.base.assumingMemoryBound(to: UInt16.self), n)
        case (.float16, .float32):
            ke_f16_to_f32(srcRaw.assumingMemoryBound(to: UInt16.self), out.fptr, n)
        case (.bfloat16, .float32):
            ke_bf16_to_f32(srcRaw.assumingMemoryBound(to: UInt16.self), out.fptr, n)
        default:
            return to(.float32).to(target)
        }
        return out
    }
}

/// Copies `src` (any strides, same shape) into `dst` (any strides).
func copyStrided(from src: Tensor, into dst: Tensor) {
    precondition(src.shape == dst.shape, "copy: shape \(src.shape) vs \(dst.shape)")
    if src.count == 0 { return }
    let shape = src.shape.map { CLong($0) }
    let ss = src.strides.map { CLong($0) }
    let ds = dst.strides.map { CLong($0) }
    ke_copy_strided(Int32(src.rank), shape, src.fptr, ss, dst.fptr, ds)
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values = count <= 16 ? "\(toArray())" : "\(Array(toArray().prefix(8)))…"
        return "Tensor(shape: \(shape), \(values)\(requiresGrad ? ", requiresGrad" : ""))"
    }
}

extension Tensor {
    /// Overwrites this tensor's values with `source`'s (same element count; converted to
    /// float32 and made dense first). Not differentiable: for loading weights and states in place.
    ///
    /// ```swift
    /// param.assign(loadedTensor)
    /// ```
    public func assign(_ source: Tensor) {
        precondition(source.count == count, "assign: \(source.shape) into \(shape)")
        precondition(isContiguous && dtype == .float32, "assign: the destination must be a dense float32 tensor")
        let src = (source.dtype == .float32 ? source : source.to(.float32)).contiguous()
        withExtendedLifetime(src) { fptr.update(from: src.fptr, count: count) }
    }
}
