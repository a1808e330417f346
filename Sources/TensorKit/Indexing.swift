import CEngine
// Embedding lookup, index-select, gather, where / masked fill, dropout and patch embedding.

/// Rows of `weight` [V, D] for each id; the result has shape `idsShape + [D]`.
/// The gradient scatters-adds into the table.
public func embedding(_ weight: Tensor, ids: [Int], idsShape: [Int]? = nil) -> Tensor {
    if weight.dtype != .float32 {
        // A frozen half-precision table: widen only the rows that are looked up.
        precondition(weight.isContiguous && weight.rank == 2, "embedding: a half-precision table must be a dense matrix")
        let d = weight.shape[1], v = weight.shape[0]
        let out = Tensor.empty((idsShape ?? [ids.count]) + [d])
        let src = (weight.storage.base + weight.offset * 2).assumingMemoryBound(to: UInt16.self)
        for (i, id) in ids.enumerated() {
            precondition(id >= 0 && id < v, "embedding: id \(id) outside the table of \(v) rows")
            if weight.dtype == .float16 { ke_f16_to_f32(src + id * d, out.fptr + i * d, d) }
            else { ke_bf16_to_f32(src + id * d, out.fptr + i * d, d) }
        }
        return out
    }
    return indexSelect(weight, axis: 0, indices: ids).reshape((idsShape ?? [ids.count]) + [weight.shape[1]])
}

/// Slices of `x` along `axis` at `indices` (with repeats).
public func indexSelect(_ x: Tensor, axis ax: Int, indices: [Int]) -> Tensor {
    let a = x.axis(ax)
    let moved = (a == 0 ? x.detach() : x.detach().transposed(0, a)).contiguous()
    let rows = moved.shape[0], rowSize = moved.count / max(rows, 1)
    var outShape = moved.shape
    outShape[0] = indices.count
    let out = Tensor.empty(outShape)
    let src = moved.fptr, dst = out.fptr
    for (i, r) in indices.enumerated() {
        precondition(r >= 0 && r < rows, "index \(r) out of range 0..<\(rows) on axis \(a) of \(x.shape)")
        (dst + i * rowSize).update(from: src + r * rowSize, count: rowSize)
    }
    let result = a == 0 ? out : out.transposed(0, a)
    let xShape = x.shape
    let wrapped = Tensor(storage: result.storage, shape: result.shape, strides: result.strides, offset: result.offset)
    return record(wrapped, [x]) { g in
        let gm = (a == 0 ? g : g.transposed(0, a)).contiguous()
        var accShape = xShape
        accShape.swapAt(0, a)
        let acc = Tensor.zeros(accShape)
        let gp = gm.fptr, ap = acc.fptr
        for (i, r) in indices.enumerated() {
            let d = ap + r * rowSize, s = gp + i * rowSize
            for j in 0..<rowSize { d[j] += s[j] }
        }
        return [a == 0 ? acc : acc.transposed(0, a).contiguous()]
    }
}

/// `out[..., j] = x[..., index[..., j]]` along the last axis (torch.gather with dim=-1).
/// `index` holds integer values and has the shape of the result.
public func gatherLast(_ x: Tensor, index: [Int], indexShape: [Int]) -> Tensor {
    let n = x.shape[x.rank - 1]
    let k = indexShape.last ?? 1
    precondition(Array(indexShape.dropLast()) == Array(x.shape.dropLast()) && index.count == indexShape.reduce(1, *),
                 "gatherLast: index shape \(indexShape) does not fit \(x.shape)")
    let xc = x.detach().contiguous()
    let out = Tensor.empty(indexShape)
    let rows = index.count / max(k, 1)
    let src = xc.fptr, dst = out.fptr
    for r in 0..<rows {
        for j in 0..<k {
            let c = index[r * k + j]
            precondition(c >= 0 && c < n, "gatherLast: index \(c) outside 0..<\(n)")
            dst[r * k + j] = src[r * n + c]
        }
    }
    let xShape = x.shape
    return record(out, [x]) { g in
        let gc = g.contiguous()
        let acc = Tensor.zeros(xShape)
        let gp = gc.fptr, ap = acc.fptr
        for r in 0..<rows { for j in 0..<k { ap[r * n + index[r * k + j]] += gp[r * k + j] } }
        return [acc]
    }
}

/// `condition ? a : b` elementwise with broadcasting; `condition` is 0 / non-zero.
public func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
    let shape = broadcastShapes(condition.shape, broadcastShapes(a.shape, b.shape))
    let c = condition.detach().expand(shape).contiguous()
    let ae = a.detach().expand(shape).contiguous(), be = b.detach().expand(shape).contiguous()
    let out = Tensor.empty(shape)
    let pc = c.fptr, pa = ae.fptr, pb = be.fptr, po = out.fptr
    for i in 0..<out.count { po[i] = pc[i] != 0 ? pa[i] : pb[i] }
    return record(out, [a, b]) { g in
        let zero = Tensor.zeros([])
        return [a.requiresGrad ? `where`(c, g, zero).sumTo(a.shape) : nil,
                b.requiresGrad ? `where`(c, zero, g).sumTo(b.shape) : nil]
    }
}

extension Tensor {
    /// Replaces elements where `mask` is non-zero by `value` (gradient 0 there).
    public func maskedFill(_ mask: Tensor, _ value: Float) -> Tensor {
        `where`(mask, Tensor.scalar(value), self)
    }
}

/// Inverted dropout: zeroes each element with probability `p` and scales the rest by 1/(1-p).
/// Identity when `training` is false or `p` is 0.
public func dropout(_ x: Tensor, p: Float, training: Bool = true, rng: inout RNG) -> Tensor {
    guard training, p > 0 else { return x }
    precondition(p < 1, "dropout probability must be below 1, got \(p)")
    return dropout(x, p: p, key: rng.next())
}

/// Dropout with a counter-based mask: element i of `x` (row-major) is dropped with probability
/// `p` according to a hash of (i, `key`) alone, so the same key redraws the same mask (the
/// backward pass does so instead of storing it), whatever the thread count. Kept elements are
/// scaled by 1/(1 − p).
public func dropout(_ x: Tensor, p: Float, key: UInt64) -> Tensor {
    guard p > 0 else { return x }
    precondition(p < 1, "dropout probability must be below 1, got \(p)")
    precondition(x.count < 1 << 32, "dropout: \(x.count) elements exceed the mask counter")
    let xc = x.isContiguous ? x.detach() : x.detach().contiguous()
    let out = Tensor.empty(x.shape)
    ke_dropout(xc.count, xc.fptr, out.fptr, key, p)
    return record(out, [x]) { g in
        let gc = g.contiguous()
        let gx = Tensor.empty(gc.shape)
        ke_dropout(gc.count, gc.fptr, gx.fptr, key, p)
        return [gx]
    }
}

/// Non-overlapping patch embedding (a convolution whose stride equals its kernel), as ViTs
/// use it: `x` [B, C, H, W], `weight` [O, C, P, P] → [B, (H/P)·(W/P), O] tokens in row-major
/// patch order. ``patchEmbedConv(_:weight:bias:)`` gives the Conv2d layout [B, O, H/P, W/P].
public func patchEmbed(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let B = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    let O = weight.shape[0], P = weight.shape[2]
    precondition(weight.shape == [O, C, P, weight.shape[3]] && weight.shape[3] == P && H % P == 0 && W % P == 0,
                 "patchEmbed: image \(x.shape) with kernel \(weight.shape) needs square patches dividing the image")
    let h = H / P, w = W / P
    let cols = x.reshape([B, C, h, P, w, P]).permute([0, 2, 4, 1, 3, 5]).contiguous().reshape([B * h * w, C * P * P])
    return linear(cols, weight: weight.reshape([O, C * P * P]), bias: bias).reshape([B, h * w, O])
}

/// Patch embedding in the Conv2d output layout [B, O, H/P, W/P].
public func patchEmbedConv(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let P = weight.shape[2]
    let tokens = patchEmbed(x, weight: weight, bias: bias)
    return tokens.transposed(1, 2).reshape([x.shape[0], weight.shape[0], x.shape[2] / P, x.shape[3] / P])
}
