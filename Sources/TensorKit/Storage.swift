import CEngine

/// Element types a tensor can be stored in. Arithmetic always runs in `float32`; `float16` and
/// `bfloat16` are storage formats (weights on disk, caches) converted with ``Tensor/to(_:)``.
public enum DType: String, Sendable, CaseIterable {
    case float32, float16, bfloat16

    /// Bytes per element.
    public var size: Int { self == .float32 ? 4 : 2 }
}

/// A reference-counted block of memory behind one or more tensors (views share it).
///
/// Memory comes from the engine's caching allocator, or from outside (a memory-mapped file),
/// in which case `owner` keeps the mapping alive.
public final class Storage: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let byteCount: Int
    public let dtype: DType
    private let owner: AnyObject?
    private let fromAllocator: Bool

    /// Uninitialised storage for `count` elements of `dtype`.
    public init(count: Int, dtype: DType = .float32) {
        let bytes = max(count * dtype.size, 1)
        guard let p = ke_alloc(bytes) else {
            fatalError("TensorKit: out of memory allocating \(bytes) bytes")
        }
        base = p
        byteCount = bytes
        self.dtype = dtype
        owner = nil
        fromAllocator = true
    }

    /// Wraps memory owned by `owner` (for example a memory-mapped file); nothing is copied.
    public init(borrowing pointer: UnsafeMutableRawPointer, byteCount: Int, dtype: DType, owner: AnyObject) {
        base = pointer
        self.byteCount = byteCount
        self.dtype = dtype
        self.owner = owner
        fromAllocator = false
    }

    deinit {
        if fromAllocator { ke_free(base, byteCount) }
    }
}

/// Facts about the engine's memory, for tests and diagnostics.
public enum MemoryStats {
    /// Bytes currently handed out to live tensors.
    public static var liveBytes: Int { Int(ke_alloc_live_bytes()) }
    /// Bytes allocated minus bytes freed by the calling thread: a test's own footprint, unaffected
    /// by other tests running at the same time.
    public static var threadLiveBytes: Int { Int(ke_alloc_thread_live_bytes()) }
    /// The highest ``threadLiveBytes`` since the last ``resetThreadPeak()``: the calling thread's
    /// peak footprint over a computation.
    ///
    /// ```swift
    /// MemoryStats.resetThreadPeak()
    /// let base = MemoryStats.threadLiveBytes
    /// loss(model(x)).backward()
    /// print("peak", MemoryStats.threadPeakBytes - base)
    /// ```
    public static var threadPeakBytes: Int { Int(ke_alloc_thread_peak_bytes()) }
    /// Starts a new peak measurement at the current ``threadLiveBytes``.
    public static func resetThreadPeak() { ke_alloc_thread_peak_reset() }
    /// Bytes kept in the caching allocator's free lists for reuse.
    public static var cachedBytes: Int { Int(ke_alloc_cached_bytes()) }
    /// Returns all cached blocks to the operating system.
    public static func trimCache() { ke_alloc_trim() }
}

/// The engine's CPU settings.
public enum Engine {
    /// Threads used by every parallel kernel (defaults to the number of cores, or
    /// `LLM2CLIP_THREADS`). BLAS itself runs single-threaded so the two never oversubscribe.
    public static var threads: Int {
        get { Int(ke_num_threads()) }
        set { ke_set_num_threads(Int32(newValue)) }
    }
    /// `"avx2+fma"` when the vectorised kernels are active, otherwise `"portable"`.
    public static var kernelISA: String { String(cString: ke_kernel_isa()) }
}
