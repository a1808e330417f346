import CEngine

// Broadcasting binary operations and unary maps, with their gradients.

/// The shape two shapes broadcast to (NumPy rules).
public func broadcastShapes(_ a: [Int], _ b: [Int]) -> [Int] {
    let n = max(a.count, b.count)
    var out = [Int](repeating: 1, count: n)
    for i in 0..<n {
        let da = i < n - a.count ? 1 : a[i - (n - a.count)]
        let db = i < n - b.count ? 1 : b[i - (n - b.count)]
        precondition(da == db || da == 1 || db == 1, "shapes \(a) and \(b) cannot be broadcast together")
        out[i] = max(da, db)
    }
    return out
}

extension Tensor {
    /// Strides that read this tensor as if expanded to `target` (0 on broadcast dims).
    func broadcastStrides(to target: [Int]) -> [Int] {
        let lead = target.count - rank
        precondition(lead >= 0, "cannot broadcast shape \(shape) to \(target)")
        var s = [Int](repeating: 0, count: target.count)
        for i in 0..<rank {
            if shape[i] == target[lead + i] { s[lead + i] = strides[i] } else {
                precondition(shape[i] == 1, "cannot broadcast shape \(shape) to \(target)")
            }
        }
        return s
    }

    /// Sums a gradient of a broadcast result back to `target` shape.
    public func sumTo(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        var axes: [Int] = Array(0..<lead)
        for i in 0..<target.count where target[i] == 1 && shape[lead + i] != 1 { axes.append(lead + i) }
        let s = axes.isEmpty ? self : sum(axes: axes, keepDims: true)
        return s.reshape(target)
    }
}

@inline(__always)
func binaryKernel(_ op: Int32, _ a: Tensor, _ b: Tensor) -> Tensor {
    let shape = broadcastShapes(a.shape, b.shape)
    let out = Tensor.empty(shape)
    let sa = a.broadcastStrides(to: shape).map { CLong($0) }
    let sb = b.broadcastStrides(to: shape).map { CLong($0) }
    let sh = shape.map { CLong($0) }
    ke_binary(op, Int32(shape.count), sh, a.fptr, sa, b.fptr, sb, out.fptr)
    return out
}

@inline(__always)
func unaryKernel(_ op: Int32, _ x: Tensor, _ p0: Float = 0, _ p1: Float = 0) -> Tensor {
    let xc = x.isContiguous ? x : x.detach().contiguous()
    let out = Tensor.empty(x.shape)
    ke_unary(op, xc.count, xc.fptr, out.fptr, p0, p1)
    return out
}

@inline(__always)
func unaryBackward(_ op: Int32, x: Tensor?, y: Tensor?, g: Tensor, _ p0: Float = 0, _ p1: Float = 0) -> Tensor {
    let gc = g.contiguous()
    let xc = x.map { $0.contiguous() }
    let yc = y.map { $0.contiguous() }
    let out = Tensor.empty(gc.shape)
    ke_unary_backward(op, gc.count, xc?.fptr, yc?.fptr, gc.fptr, out.fptr, p0, p1)
    return out
}

/// Applies a unary map; `usesOutput` saves the result for the derivative instead of the input.
func unaryOp(_ x: Tensor, _ op: Int32, _ p0: Float = 0, _ p1: Float = 0, usesOutput: Bool = false) -> Tensor {
    let y = unaryKernel(op, x, p0, p1)
    // Save a detached alias, never `y` itself: the node is owned by `y` (no retain cycle).
    let saved = usesOutput ? y.detach() : nil
    let input = usesOutput ? nil : x.detach()
    return record(y, [x]) { g in
        [unaryBackward(op, x: input, y: saved, g: g, p0, p1)]
    }
}

// MARK: binary arithmetic

public func + (a: Tensor, b: Tensor) -> Tensor {
    let out = binaryKernel(Int32(KE_ADD), a, b)
    let sa = a.shape, sb = b.shape   // shapes only: the operands themselves need not stay alive
    return record(out, [a, b]) { g in [g.sumTo(sa), g.sumTo(sb)] }
}

public func - (a: Tensor, b: Tensor) -> Tensor {
    let out = binaryKernel(Int32(KE_SUB), a, b)
    let sa = a.shape, sb = b.shape, bGrad = b.requiresGrad
    return record(out, [a, b]) { g in [g.sumTo(sa), bGrad ? (-g).sumTo(sb) : nil] }
}

public func * (a: Tensor, b: Tensor) -> Tensor {
    let out = binaryKernel(Int32(KE_MUL), a, b)
    return record(out, [a, b]) { g in
        [a.requiresGrad ? (g * b.detach()).sumTo(a.shape) : nil,
         b.requiresGrad ? (g * a.detach()).sumTo(b.shape) : nil]
    }
}

public func / (a: Tensor, b: Tensor) -> Tensor {
    let out = binaryKernel(Int32(KE_DIV), a, b)
    return record(out, [a, b]) { g in
        let bd = b.detach()
        return [a.requiresGrad ? (g / bd).sumTo(a.shape) : nil,
                b.requiresGrad ? (-(g * a.detach()) / (bd * bd)).sumTo(b.shape) : nil]
    }
}

public func + (a: Tensor, s: Float) -> Tensor { unaryOp(a, Int32(KE_ADD_SCALAR), s) }
public func + (s: Float, a: Tensor) -> Tensor { a + s }
public func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
public func - (s: Float, a: Tensor) -> Tensor { (-a) + s }
public func * (a: Tensor, s: Float) -> Tensor { unaryOp(a, Int32(KE_MUL_SCALAR), s) }
public func * (s: Float, a: Tensor) -> Tensor { a * s }
public func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }
public func / (s: Float, a: Tensor) -> Tensor { a.reciprocal() * s }
public prefix func - (a: Tensor) -> Tensor { unaryOp(a, Int32(KE_NEG)) }

/// Elementwise maximum (gradient to `a` where a ≥ b, else to `b`).
public func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
    let out = binaryKernel(Int32(KE_MAX), a, b)
    return record(out, [a, b]) { g in
        let pick = greaterEqualMask(a.detach(), b.detach())
        return [a.requiresGrad ? (g * pick).sumTo(a.shape) : nil,
                b.requiresGrad ? (g * (1 - pick)).sumTo(b.shape) : nil]
    }
}

/// Elementwise minimum (gradient to `a` where a ≤ b, else to `b`).
public func minimum(_ a: Tensor, _ b: Tensor) -> Tensor {
    let out = binaryKernel(Int32(KE_MIN), a, b)
    return record(out, [a, b]) { g in
        let pick = greaterEqualMask(b.detach(), a.detach())
        return [a.requiresGrad ? (g * pick).sumTo(a.shape) : nil,
                b.requiresGrad ? (g * (1 - pick)).sumTo(b.shape) : nil]
    }
}

/// 1 where a ≥ b, else 0 (broadcast shape). Not differentiable.
public func greaterEqualMask(_ a: Tensor, _ b: Tensor) -> Tensor {
    let shape = broadcastShapes(a.shape, b.shape)
    let ae = a.expand(shape).contiguous(), be = b.expand(shape).contiguous()
    let out = Tensor.empty(shape)
    let n = out.count
    let pa = ae.fptr, pb = be.fptr, po = out.fptr
    for i in 0..<n { po[i] = pa[i] >= pb[i] ? 1 : 0 }
    return out
}

/// a raised to b elementwise.
public func pow(_ a: Tensor, _ b: Tensor) -> Tensor {
    let out = binaryKernel(Int32(KE_POW), a, b)
    let od = out.detach()
    return record(out, [a, b]) { g in
        let ad = a.detach(), bd = b.detach()
        return [a.requiresGrad ? (g * bd * pow(ad, bd - 1)).sumTo(a.shape) : nil,
                b.requiresGrad ? (g * od * ad.log()).sumTo(b.shape) : nil]
    }
}

// MARK: unary maps

extension Tensor {
    public func exp() -> Tensor { unaryOp(self, Int32(KE_EXP), usesOutput: true) }
    public func log() -> Tensor { unaryOp(self, Int32(KE_LOG)) }
    public func sqrt() -> Tensor { unaryOp(self, Int32(KE_SQRT), usesOutput: true) }
    public func rsqrt() -> Tensor { unaryOp(self, Int32(KE_RSQRT), usesOutput: true) }
    public func abs() -> Tensor { unaryOp(self, Int32(KE_ABS)) }
    public func square() -> Tensor { unaryOp(self, Int32(KE_SQUARE)) }
    public func reciprocal() -> Tensor { unaryOp(self, Int32(KE_RECIPROCAL), usesOutput: true) }
    public func pow(_ p: Float) -> Tensor { unaryOp(self, Int32(KE_POW_SCALAR), p) }
    /// Limits values to [low, high]; the gradient passes only inside the range.
    public func clamp(min low: Float = -.infinity, max high: Float = .infinity) -> Tensor {
        unaryOp(self, Int32(KE_CLAMP), low, high)
    }
    public func relu() -> Tensor { unaryOp(self, Int32(KE_RELU)) }
    /// GELU with the exact erf form (PyTorch `approximate='none'`).
    public func gelu() -> Tensor { unaryOp(self, Int32(KE_GELU_ERF)) }
    /// GELU with the tanh approximation (PyTorch `approximate='tanh'`).
    public func geluTanh() -> Tensor { unaryOp(self, Int32(KE_GELU_TANH)) }
    /// OpenAI CLIP's x·σ(1.702x).
    public func quickGelu() -> Tensor { unaryOp(self, Int32(KE_QUICK_GELU)) }
    public func silu() -> Tensor { unaryOp(self, Int32(KE_SILU)) }
    public func sigmoid() -> Tensor { unaryOp(self, Int32(KE_SIGMOID), usesOutput: true) }
    public func tanh() -> Tensor { unaryOp(self, Int32(KE_TANH), usesOutput: true) }
}

/// SwiGLU, Llama's gate: `silu(gate) * up`, fused (one pass each way; only the two inputs are
/// saved, not silu(gate)).
public func siluMul(_ gate: Tensor, _ up: Tensor) -> Tensor {
    guard gate.shape == up.shape else { return gate.silu() * up }
    let g = gate.isContiguous ? gate.detach() : gate.detach().contiguous()
    let u = up.isContiguous ? up.detach() : up.detach().contiguous()
    let out = Tensor.empty(gate.shape)
    ke_swiglu_fwd(out.count, g.fptr, u.fptr, out.fptr)
    return record(out, [gate, up]) { gy in
        let gc = gy.contiguous()
        let gg = Tensor.empty(g.shape), gu = Tensor.empty(u.shape)
        ke_swiglu_bwd(gc.count, g.fptr, u.fptr, gc.fptr, gg.fptr, gu.fptr)
        return [gg, gu]
    }
}
