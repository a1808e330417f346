// Shape operations. Reshape, permute, slice, expand, squeeze and unsqueeze are views; concat and
// friends copy. All are differentiable.

extension Tensor {
    /// Same data, new shape (one dimension may be -1). A view when the layout allows it.
    public func reshape(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            s[i] = count / known
        }
        precondition(s.reduce(1, *) == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        if s == shape { return self }
        let src = isContiguous ? self : contiguous()
        let out = Tensor(storage: src.storage, shape: s, strides: nil, offset: src.offset)
        let inShape = shape
        return record(out, [src]) { g in [g.reshape(inShape)] }
    }

    /// Flattens dims `start...end` into one.
    public func flatten(from start: Int = 0, to end: Int = -1) -> Tensor {
        let a = axis(start), b = axis(end)
        let merged = shape[a...b].reduce(1, *)
        return reshape(Array(shape[..<a]) + [merged] + Array(shape[(b + 1)...]))
    }

    /// Reorders dimensions (a view).
    public func permute(_ dims: [Int]) -> Tensor {
        precondition(dims.count == rank && Set(dims) == Set(0..<rank), "permute \(dims) invalid for rank \(rank)")
        let out = Tensor(storage: storage, shape: dims.map { shape[$0] }, strides: dims.map { strides[$0] }, offset: offset)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, d) in dims.enumerated() { inverse[d] = i }
        return record(out, [self]) { g in [g.permute(inverse)] }
    }

    /// Swaps two dimensions (a view).
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        var d = Array(0..<rank)
        d.swapAt(axis(a), axis(b))
        return permute(d)
    }

    /// Elements `start..<end` along `axis` (a view).
    public func slice(axis ax: Int, _ start: Int, _ end: Int) -> Tensor {
        let a = axis(ax)
        precondition(start >= 0 && end <= shape[a] && start <= end, "slice \(start)..<\(end) out of range for dim \(a) of \(shape)")
        var s = shape
        s[a] = end - start
        let out = Tensor(storage: storage, shape: s, strides: strides, offset: offset + start * strides[a])
        let inShape = shape
        return record(out, [self]) { g in
            let full = Tensor.zeros(inShape)
            let region = Tensor(storage: full.storage, shape: s, strides: full.strides, offset: start * full.strides[a])
            copyStrided(from: g.detach(), into: region)
            return [full]
        }
    }

    /// Broadcasts size-1 dims to `target` without copying.
    public func expand(_ target: [Int]) -> Tensor {
        if target == shape { return self }
        let out = Tensor(storage: storage, shape: target, strides: broadcastStrides(to: target), offset: offset)
        let inShape = shape
        return record(out, [self]) { g in [g.sumTo(inShape)] }
    }

    public func unsqueeze(_ ax: Int) -> Tensor {
        let a = ax < 0 ? ax + rank + 1 : ax
        var s = shape
        s.insert(1, at: a)
        return reshape(s)
    }

    public func squeeze(_ ax: Int) -> Tensor {
        let a = axis(ax)
        precondition(shape[a] == 1, "squeeze: dim \(a) of \(shape) is not 1")
        var s = shape
        s.remove(at: a)
        return reshape(s)
    }

    /// Splits along `axis` into pieces of the given sizes (views).
    public func split(_ sizes: [Int], axis ax: Int) -> [Tensor] {
        let a = axis(ax)
        precondition(sizes.reduce(0, +) == shape[a], "split sizes \(sizes) do not add up to dim \(a) of \(shape)")
        var start = 0
        return sizes.map { n in
            defer { start += n }
            return slice(axis: a, start, start + n)
        }
    }

    /// Splits along `axis` into `n` equal pieces.
    public func chunk(_ n: Int, axis ax: Int) -> [Tensor] {
        let a = axis(ax)
        precondition(shape[a] % n == 0, "chunk: dim \(a) of \(shape) is not divisible by \(n)")
        return split([Int](repeating: shape[a] / n, count: n), axis: a)
    }
}

/// Joins tensors along an existing axis.
public func concat(_ tensors: [Tensor], axis ax: Int) -> Tensor {
    precondition(!tensors.isEmpty, "concat of no tensors")
    let first = tensors[0]
    let a = first.axis(ax)
    var shape = first.shape
    shape[a] = tensors.reduce(0) { $0 + $1.shape[a] }
    for t in tensors {
        precondition(t.rank == first.rank && zip(t.shape, first.shape).enumerated().allSatisfy { $0.offset == a || $0.element.0 == $0.element.1 },
                     "concat: shapes \(tensors.map { $0.shape }) differ off axis \(a)")
    }
    let out = Tensor.empty(shape)
    var start = 0
    for t in tensors {
        var s = shape
        s[a] = t.shape[a]
        let region = Tensor(storage: out.storage, shape: s, strides: out.strides, offset: start * out.strides[a])
        copyStrided(from: t, into: region)
        start += t.shape[a]
    }
    let sizes = tensors.map { $0.shape[a] }
    return record(out, tensors) { g in g.split(sizes, axis: a) }
}

/// Joins tensors along a new axis.
public func stack(_ tensors: [Tensor], axis ax: Int = 0) -> Tensor {
    concat(tensors.map { $0.unsqueeze(ax) }, axis: ax)
}
