import CEngine

// Sum, mean, max and logsumexp over any set of axes.

extension Tensor {
    /// Moves `axes` last and returns a dense [outer, inner] view plus the reduced shapes.
    private func rowsForReduction(_ axes: [Int]) -> (rows: Tensor, outer: Int, inner: Int, keptShape: [Int], keepDimsShape: [Int]) {
        let red = Set(axes.map { axis($0) })
        let kept = (0..<rank).filter { !red.contains($0) }
        let order = kept + red.sorted()
        let moved = (order == Array(0..<rank) ? self : detach().permute(order)).contiguous()
        let inner = red.reduce(1) { $0 * shape[$1] }
        let outer = count / Swift.max(inner, 1)
        var keepDims = shape
        for a in red { keepDims[a] = 1 }
        return (moved, outer, inner, kept.map { shape[$0] }, keepDims)
    }

    private func reduceKernel(_ kind: Int32, axes: [Int], keepDims: Bool) -> (Tensor, [Int]) {
        let red = Set(axes.map { axis($0) })
        if kind == 0, isContiguous, red == Set(0..<red.count), red.count < rank {
            // Leading axes of a dense tensor (a bias gradient): column sums, no transposed copy.
            let inner = red.reduce(1) { $0 * shape[$1] }, outer = count / Swift.max(inner, 1)
            var kd = shape
            for a in red { kd[a] = 1 }
            let out = Tensor.empty(keepDims ? kd : Array(shape[red.count...]))
            if inner == 0 { ke_fill(out.fptr, out.count, 0) } else { ke_sum_cols(inner, outer, fptr, out.fptr, 0) }
            return (out, kd)
        }
        let r = rowsForReduction(axes)
        let out = Tensor.empty(keepDims ? r.keepDimsShape : r.keptShape)
        if r.inner == 0 {
            ke_fill(out.fptr, out.count, kind == 0 ? 0 : -.infinity)
        } else {
            ke_reduce_rows(kind, r.outer, r.inner, r.rows.fptr, out.fptr)
        }
        return (out, r.keepDimsShape)
    }

    /// Sum over `axes` (all when empty).
    public func sum(axes: [Int] = [], keepDims: Bool = false) -> Tensor {
        let ax = axes.isEmpty ? Array(0..<rank) : axes
        if rank == 0 { return self }
        let (out, kd) = reduceKernel(0, axes: ax, keepDims: keepDims)
        let inShape = shape
        return record(out, [self]) { g in [g.reshape(kd).expand(inShape)] }
    }

    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    /// Mean over `axes` (all when empty).
    public func mean(axes: [Int] = [], keepDims: Bool = false) -> Tensor {
        let ax = axes.isEmpty ? Array(0..<rank) : axes
        let n = ax.reduce(1) { $0 * shape[axis($1)] }
        return sum(axes: ax, keepDims: keepDims) * (1 / Float(Swift.max(n, 1)))
    }

    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// Maximum over `axes`; the gradient is shared equally among tied maxima.
    public func max(axes: [Int] = [], keepDims: Bool = false) -> Tensor {
        let ax = axes.isEmpty ? Array(0..<rank) : axes
        let (out, kd) = reduceKernel(1, axes: ax, keepDims: keepDims)
        let inShape = shape
        let od = out.detach(), xd = detach()
        return record(out, [self]) { g in
            let hit = greaterEqualMask(xd, od.reshape(kd))
            let ties = hit.sum(axes: ax, keepDims: true)
            return [g.reshape(kd).expand(inShape) * hit / ties]
        }
    }

    public func max(axis: Int, keepDims: Bool = false) -> Tensor { max(axes: [axis], keepDims: keepDims) }

    /// log Σ exp over `axes`, computed stably.
    public func logsumexp(axes: [Int], keepDims: Bool = false) -> Tensor {
        let (out, kd) = reduceKernel(2, axes: axes, keepDims: keepDims)
        let od = out.detach(), xd = detach()
        return record(out, [self]) { g in
            let w = (xd - od.reshape(kd)).exp()
            return [g.reshape(kd) * w]
        }
    }

    public func logsumexp(axis: Int, keepDims: Bool = false) -> Tensor { logsumexp(axes: [axis], keepDims: keepDims) }
}
