import CEngine

// Matrix products through BLAS. Transposed views go to BLAS as transposed operands, no copy.

/// How BLAS should read the last two dims of a tensor: (transposed?, leading dimension), or nil
/// when a copy is needed.
private func gemmLayout(_ t: Tensor) -> (trans: Int32, ld: Int)? {
    let r = t.rank
    let rows = t.shape[r - 2], cols = t.shape[r - 1]
    let sr = t.strides[r - 2], sc = t.strides[r - 1]
    if sc == 1 || cols == 1 {
        let ld = rows == 1 ? max(cols, 1) : sr
        if ld >= max(cols, 1) { return (0, ld) }
    }
    if sr == 1 || rows == 1 {
        let ld = cols == 1 ? max(rows, 1) : sc
        if ld >= max(rows, 1) { return (1, ld) }
    }
    return nil
}

private func gemmReady(_ t: Tensor) -> (Tensor, Int32, Int) {
    if let l = gemmLayout(t) { return (t, l.trans, l.ld) }
    let c = t.detach().contiguous()
    return (c, 0, c.shape[c.rank - 1])
}

/// Batched or plain matrix product `a @ b` over the last two dims, broadcasting batch dims.
///
/// ```swift
/// let y = matmul(x, w.transposed())   // no copy of w
/// ```
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.rank >= 2 && b.rank >= 2, "matmul needs rank ≥ 2 operands, got \(a.shape) and \(b.shape)")
    let M = a.shape[a.rank - 2], K = a.shape[a.rank - 1], N = b.shape[b.rank - 1]
    precondition(b.shape[b.rank - 2] == K, "matmul: inner sizes differ in \(a.shape) @ \(b.shape)")
    let out: Tensor
    if b.rank == 2, a.rank > 2, a.isContiguous {
        // Fold the batch into rows: one large GEMM.
        let a2 = a.detach().reshape([-1, K])
        out = Tensor.empty(Array(a.shape.dropLast()) + [N])
        gemm2D(a2, b, into: out.fptr, ldc: N)
    } else {
        let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
        let batch = broadcastShapes(batchA, batchB)
        let (ar, ta, lda) = gemmReady(a.detach().expand(batch + [M, K]))
        let (br, tb, ldb) = gemmReady(b.detach().expand(batch + [K, N]))
        out = Tensor.empty(batch + [M, N])
        let count = batch.reduce(1, *)
        var offA = [CLong](repeating: 0, count: count), offB = offA, offC = offA
        let bs = batch.count
        for i in 0..<count {
            var rem = i, oa = 0, ob = 0
            for d in stride(from: bs - 1, through: 0, by: -1) {
                let k = rem % batch[d]
                rem /= batch[d]
                oa += k * ar.strides[d]
                ob += k * br.strides[d]
            }
            offA[i] = oa; offB[i] = ob; offC[i] = i * M * N
        }
        if count > 0 && M > 0 && N > 0 {
            ke_sgemm_batched(count, ta, tb, M, N, K, 1, ar.fptr, offA, lda, br.fptr, offB, ldb, 0, out.fptr, offC, N)
        }
    }
    return record(out, [a, b]) { g in
        [a.requiresGrad ? matmul(g, b.detach().transposed()).sumTo(a.shape) : nil,
         b.requiresGrad ? matmulGradB(a.detach(), g, bShape: b.shape) : nil]
    }
}

/// dL/db for `a @ b`: aᵀ @ g summed over broadcast batch dims.
private func matmulGradB(_ a: Tensor, _ g: Tensor, bShape: [Int]) -> Tensor {
    if bShape.count == 2 {
        let K = a.shape[a.rank - 1], N = g.shape[g.rank - 1]
        let a2 = a.contiguous().reshape([-1, K]), g2 = g.contiguous().reshape([-1, N])
        return matmul(a2.transposed(), g2)
    }
    return matmul(a.transposed(), g).sumTo(bShape)
}

/// C[M,N] = A[M,K] @ B[K,N] (+ C when `accumulate`).
private func gemm2D(_ a: Tensor, _ b: Tensor, into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
    let (ar, ta, lda) = gemmReady(a)
    let (br, tb, ldb) = gemmReady(b)
    let M = a.shape[0], K = a.shape[1], N = b.shape[1]
    ke_sgemm(ta, tb, M, N, K, 1, ar.fptr, lda, br.fptr, ldb, accumulate ? 1 : 0, c, ldc)
}

/// A fully connected layer `x @ weightᵀ + bias` in the PyTorch layout (weight is [out, in]),
/// with the bias folded into the GEMM.
///
/// ```swift
/// let y = linear(x, weight: w, bias: b)   // x [..., in] → y [..., out]
/// ```
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let inF = weight.shape[1], outF = weight.shape[0]
    precondition(x.shape.last == inF, "linear: input \(x.shape) does not end in \(inF) (weight \(weight.shape))")
    if weight.dtype != .float32 { return linearHalfWeight(x, weight: weight, bias: bias) }
    let x2 = (x.isContiguous ? x.detach() : x.detach().contiguous()).reshape([-1, inF])
    let rows = x2.shape[0]
    let out = Tensor.empty(Array(x.shape.dropLast()) + [outF])
    if let b = bias {
        let bc = b.detach().contiguous()
        let po = out.fptr, pb = bc.fptr
        for r in 0..<rows { (po + r * outF).update(from: pb, count: outF) }
    }
    gemm2D(x2, weight.detach().transposed(), into: out.fptr, ldc: outF, accumulate: bias != nil)
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return record(out, inputs) { g in
        let g2 = g.contiguous().reshape([-1, outF])
        var grads: [Tensor?] = []
        grads.append(x.requiresGrad ? matmul(g2, weight.detach()).reshape(x.shape) : nil)
        grads.append(weight.requiresGrad ? matmul(g2.transposed(), x2) : nil)
        if let b = bias {
            grads.append(b.requiresGrad ? g2.sum(axes: [0]).reshape(b.shape) : nil)
        }
        return grads
    }
}

/// `linear` with a frozen float16/bfloat16 weight: the weight is widened to float32 one panel
/// of output rows at a time, so a full float32 copy never exists in the forward pass.
private func linearHalfWeight(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let inF = weight.shape[1], outF = weight.shape[0]
    precondition(weight.isContiguous, "linear: a half-precision weight must be dense")
    precondition(!weight.requiresGrad, "linear: half-precision weights are frozen storage; train a float32 copy instead")
    let x2 = (x.isContiguous ? x.detach() : x.detach().contiguous()).reshape([-1, inF])
    let rows = x2.shape[0]
    let out = Tensor.empty(Array(x.shape.dropLast()) + [outF])
    if let b = bias {
        let bc = b.detach().contiguous().to(.float32)
        let po = out.fptr, pb = bc.fptr
        for r in 0..<rows { (po + r * outF).update(from: pb, count: outF) }
    }
    let panel = max(1, min(outF, (1 << 20) / max(inF, 1)))
    let buffer = Tensor.empty([panel, inF])
    let src = (weight.storage.base + weight.offset * 2).assumingMemoryBound(to: UInt16.self)
    var r0 = 0
    while r0 < outF {
        let n = min(panel, outF - r0)
        if weight.dtype == .float16 { ke_f16_to_f32(src + r0 * inF, buffer.fptr, n * inF) }
        else { ke_bf16_to_f32(src + r0 * inF, buffer.fptr, n * inF) }
        ke_sgemm(0, 1, rows, n, inF, 1, x2.fptr, inF, buffer.fptr, inF, bias == nil ? 0 : 1, out.fptr + r0, outF)
        r0 += n
    }
    let inputs = bias.map { [x, $0] } ?? [x]
    return record(out, inputs) { g in
        let g2 = g.contiguous().reshape([-1, outF])
        var grads: [Tensor?] = [x.requiresGrad ? matmul(g2, weight.to(.float32)).reshape(x.shape) : nil]
        if let b = bias { grads.append(b.requiresGrad ? g2.sum(axes: [0]).reshape(b.shape) : nil) }
        return grads
    }
}
