import CEngine

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Rotary position embeddings in the two layouts the models use.

/// Llama 3's frequency scaling for long contexts (`rope_scaling` with `rope_type: llama3`).
public struct Llama3RopeScaling: Sendable, Equatable {
    public var factor: Float
    public var lowFreqFactor: Float
    public var highFreqFactor: Float
    public var originalMaxPositionEmbeddings: Int
    public init(factor: Float, lowFreqFactor: Float, highFreqFactor: Float, originalMaxPositionEmbeddings: Int) {
        self.factor = factor
        self.lowFreqFactor = lowFreqFactor
        self.highFreqFactor = highFreqFactor
        self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
    }
}

/// Inverse frequencies 1/θ^(2i/d), optionally rescaled as Llama 3 does (float32, like transformers).
public func ropeInverseFrequencies(headDim: Int, theta: Float, scaling: Llama3RopeScaling? = nil) -> [Float] {
    var inv = (0..<(headDim / 2)).map { i -> Float in 1 / powf(theta, Float(2 * i) / Float(headDim)) }
    guard let s = scaling else { return inv }
    let old = Float(s.originalMaxPositionEmbeddings)
    let lowWavelen = old / s.lowFreqFactor, highWavelen = old / s.highFreqFactor
    inv = inv.map { f in
        let wavelen = 2 * Float.pi / f
        if wavelen < highWavelen { return f }
        if wavelen > lowWavelen { return f / s.factor }
        let smooth = (old / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor)
        return (1 - smooth) * f / s.factor + smooth * f
    }
    return inv
}

/// cos and sin tables [positions, headDim] for the "rotate half" layout (frequencies repeated
/// as two halves). The angle is float32 `position · invFreq`, as in transformers.
public func ropeTables(positions: [Int], inverseFrequencies inv: [Float]) -> (cos: Tensor, sin: Tensor) {
    let half = inv.count, d = 2 * half
    let c = Tensor.empty([positions.count, d]), s = Tensor.empty([positions.count, d])
    let pc = c.fptr, ps = s.fptr
    for (row, p) in positions.enumerated() {
        for i in 0..<half {
            let angle = Double(Float(p) * inv[i])
            let cv = Float(cos(angle)), sv = Float(sin(angle))
            pc[row * d + i] = cv; pc[row * d + half + i] = cv
            ps[row * d + i] = sv; ps[row * d + half + i] = sv
        }
    }
    return (c, s)
}

/// Llama-style rotary embedding: x·cos + rotate_half(x)·sin, where rotate_half(x) =
/// [-x₂, x₁] for the two halves of the last dim. `x` is [..., T, D]; tables are [T, D].
///
/// Fused (one pass forward, one backward) when `x` has rank ≤ 4, the tables broadcast to `x`'s
/// shape and do not require gradients; otherwise composed from views and elementwise ops.
public func applyRotaryHalf(_ x: Tensor, cos: Tensor, sin: Tensor) -> Tensor {
    let d = x.shape[x.rank - 1]
    if x.rank <= 4, d % 2 == 0, cos.shape == sin.shape, !cos.requiresGrad, !sin.requiresGrad,
       cos.rank <= x.rank, broadcastShapes(x.shape, cos.shape) == x.shape {
        return rotaryHalfFused(x, cos: cos, sin: sin)
    }
    return rotaryHalfComposite(x, cos: cos, sin: sin)
}

/// The composite form of ``applyRotaryHalf(_:cos:sin:)`` (reference for the fused kernel).
func rotaryHalfComposite(_ x: Tensor, cos: Tensor, sin: Tensor) -> Tensor {
    let d = x.shape[x.rank - 1]
    let halves = x.split([d / 2, d / 2], axis: -1)
    let rotated = concat([-halves[1], halves[0]], axis: -1)
    return x * cos + rotated * sin
}

/// EVA02's 2-D rotary tables [gridH·gridW, headDim]: half of each head encodes the row, half
/// the column; `ptSeqLen / gridSize` rescales positions to the pretraining grid; each frequency
/// appears twice in a row (interleaved pairs).
public func evaRopeTables(headDim: Int, gridH: Int, gridW: Int, ptSeqLen: Int, theta: Double = 10000)
    -> (cos: Tensor, sin: Tensor)
{
    let dim = headDim / 2
    let freqs = (0..<(dim / 2)).map { i in 1 / Foundation_pow(theta, Double(2 * i) / Double(dim)) }
    func axisAngles(_ n: Int) -> [[Double]] {
        (0..<n).map { i in
            let t = Double(i) / Double(n) * Double(ptSeqLen)
            return freqs.flatMap { [t * $0, t * $0] }
        }
    }
    let ah = axisAngles(gridH), aw = axisAngles(gridW)
    let n = gridH * gridW
    let c = Tensor.empty([n, headDim]), s = Tensor.empty([n, headDim])
    let pc = c.fptr, ps = s.fptr
    for h in 0..<gridH {
        for w in 0..<gridW {
            let row = (h * gridW + w) * headDim
            let angles = ah[h] + aw[w]
            for j in 0..<headDim {
                pc[row + j] = Float(cos(angles[j]))
                ps[row + j] = Float(sin(angles[j]))
            }
        }
    }
    return (c, s)
}

@inline(__always) private func Foundation_pow(_ a: Double, _ b: Double) -> Double { pow(a, b) }

/// EVA02-style rotary embedding with interleaved pairs: (x₀, x₁) → (x₀·cos − x₁·sin, x₁·cos + x₀·sin).
/// `x` is [..., N, D]; tables are [N − skipLeading, D]: the first `skipLeading` tokens (a class
/// token) pass through unrotated. One fused kernel each way; the result keeps `x`'s memory order
/// (a permuted view of [B, N, H, D] stays one), so no copy is made around the head split.
public func applyRotaryInterleaved(_ x: Tensor, cos: Tensor, sin: Tensor, skipLeading skip: Int = 0) -> Tensor {
    precondition(x.rank >= 2, "applyRotaryInterleaved: x must be [..., N, D], got \(x.shape)")
    let N = x.shape[x.rank - 2], D = x.shape[x.rank - 1]
    precondition(D % 2 == 0 && skip >= 0 && skip <= N && cos.shape == [N - skip, D] && sin.shape == cos.shape,
                 "applyRotaryInterleaved: x \(x.shape), skip \(skip) and tables \(cos.shape)/\(sin.shape) do not fit")
    // As [B, H, N, D] with a dense last dim (a view when x is rank 4 or dense).
    func asRank4(_ t: Tensor) -> Tensor {
        if t.rank == 4 && t.strides[3] == 1 { return t }
        let c = t.contiguous()
        let outer = c.count / Swift.max(N * D, 1)
        return Tensor(storage: c.storage, shape: [1, outer, N, D], strides: nil, offset: c.offset)
    }
    let c = cos.detach().contiguous(), s = sin.detach().contiguous()
    func run(_ input: Tensor, backward: Bool) -> Tensor {
        let x4 = asRank4(input.detach())
        let y4 = Tensor.emptyOrdered(x4.shape, like: x4)
        let xs = x4.strides.map { CLong($0) }, ys = y4.strides.map { CLong($0) }
        withExtendedLifetime((x4, c, s)) {
            ke_rope_interleaved(x4.shape[0], x4.shape[1], N, D, x4.fptr, xs, y4.fptr, ys, c.fptr, s.fptr, skip,
                                backward ? 1 : 0)
        }
        if input.rank == 4 { return y4 }
        return Tensor(storage: y4.storage, shape: input.shape, strides: nil, offset: y4.offset)
    }
    let y = run(x, backward: false)
    return record(y, [x]) { g in [run(g, backward: true)] }
}

private func rotaryHalfFused(_ x: Tensor, cos: Tensor, sin: Tensor) -> Tensor {
    let shape = x.shape, d = shape[shape.count - 1]
    let xd = x.strides[x.rank - 1] == 1 ? x.detach() : x.detach().contiguous()
    // Tables dense and in one layout; read through broadcast strides (0 on broadcast dims).
    var c = cos.detach(), s = sin.detach()
    if !c.isContiguous { c = c.contiguous() }
    if !s.isContiguous { s = s.contiguous() }
    let lead = 4 - shape.count
    let shape4 = [Int](repeating: 1, count: lead) + shape
    let xs4 = [Int](repeating: 0, count: lead) + xd.strides
    let cs4 = [Int](repeating: 0, count: lead) + c.broadcastStrides(to: shape)
    let out = Tensor.empty(shape)
    let xsC = [CLong(xs4[0]), CLong(xs4[1]), CLong(xs4[2])], csC = [CLong(cs4[0]), CLong(cs4[1]), CLong(cs4[2])]
    ke_rope_half(shape4[0], shape4[1], shape4[2], d, xd.fptr, xsC, c.fptr, s.fptr, csC, out.fptr, 0)
    return record(out, [x]) { g in
        let gc = g.contiguous()
        let st = Tensor.contiguousStrides(shape4)
        let gs = [CLong(st[0]), CLong(st[1]), CLong(st[2])]
        let gx = Tensor.empty(shape)
        withExtendedLifetime((c, s)) {
            ke_rope_half(shape4[0], shape4[1], shape4[2], d, gc.fptr, gs, c.fptr, s.fptr, csC, gx.fptr, 1)
        }
        return [gx]
    }
}
