import CEngine

// Fused layer norm, RMS norm, softmax and log-softmax over the last axis.

/// Layer normalisation over the last axis, with optional affine weight and bias.
public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
    let n = x.shape.last ?? 1
    let xc = x.detach().contiguous()
    let rows = xc.count / n
    let out = Tensor.empty(x.shape)
    let mean = Tensor.empty([rows]), rstd = Tensor.empty([rows])
    let w = weight?.detach().contiguous(), b = bias?.detach().contiguous()
    ke_layernorm_fwd(rows, n, xc.fptr, w?.fptr, b?.fptr, eps, out.fptr, mean.fptr, rstd.fptr)
    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    return record(out, inputs) { g in
        let gc = g.contiguous()
        let gx = Tensor.empty(x.shape)
        let gw = weight?.requiresGrad == true ? Tensor.empty([n]) : nil
        let gb = bias?.requiresGrad == true ? Tensor.empty([n]) : nil
        ke_layernorm_bwd(rows, n, xc.fptr, w?.fptr, mean.fptr, rstd.fptr, gc.fptr, gx.fptr, gw?.fptr, gb?.fptr)
        var grads: [Tensor?] = [gx]
        if let weight { grads.append(gw?.reshape(weight.shape)) }
        if let bias { grads.append(gb?.reshape(bias.shape)) }
        return grads
    }
}

/// RMS normalisation over the last axis (Llama): x · rsqrt(mean(x²) + eps) · weight.
public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float = 1e-5) -> Tensor {
    let n = x.shape.last ?? 1
    let xc = x.detach().contiguous()
    let rows = xc.count / n
    let out = Tensor.empty(x.shape)
    let rstd = Tensor.empty([rows])
    let w = weight?.detach().contiguous()
    ke_rmsnorm_fwd(rows, n, xc.fptr, w?.fptr, eps, out.fptr, rstd.fptr)
    let inputs = weight.map { [x, $0] } ?? [x]
    return record(out, inputs) { g in
        let gc = g.contiguous()
        let gx = Tensor.empty(x.shape)
        let gw = weight?.requiresGrad == true ? Tensor.empty([n]) : nil
        ke_rmsnorm_bwd(rows, n, xc.fptr, w?.fptr, rstd.fptr, gc.fptr, gx.fptr, gw?.fptr)
        var grads: [Tensor?] = [gx]
        if let weight { grads.append(gw?.reshape(weight.shape)) }
        return grads
    }
}

/// Softmax over the last axis, after adding an optional (broadcastable) additive mask.
public func softmax(_ x: Tensor, mask: Tensor? = nil) -> Tensor {
    rowwiseFromOutput(mask.map { x + $0 } ?? x, forward: ke_softmax_fwd, backward: ke_softmax_bwd)
}

/// Log-softmax over the last axis, after adding an optional additive mask.
public func logSoftmax(_ x: Tensor, mask: Tensor? = nil) -> Tensor {
    rowwiseFromOutput(mask.map { x + $0 } ?? x, forward: ke_log_softmax_fwd, backward: ke_log_softmax_bwd)
}

/// A last-axis map whose backward needs only its output (softmax, log-softmax).
private func rowwiseFromOutput(
    _ input: Tensor,
    forward: (Int, Int, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void,
    backward: @escaping (Int, Int, UnsafePointer<Float>?, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void
) -> Tensor {
    let n = input.shape.last ?? 1
    let xc = input.detach().contiguous()
    let out = Tensor.empty(input.shape)
    forward(xc.count / n, n, xc.fptr, out.fptr)
    let saved = out.detach()  // not `out`: the node is owned by `out`
    return record(out, [input]) { g in
        let gc = g.contiguous()
        let gx = Tensor.empty(saved.shape)
        backward(gc.count / n, n, saved.fptr, gc.fptr, gx.fptr)
        return [gx]
    }
}

/// Cross-entropy of `logits` [N, C] against class indices, averaged over non-ignored rows,
/// with optional label smoothing (PyTorch `F.cross_entropy` semantics).
///
/// ```swift
/// let loss = crossEntropy(logits, targets: [3, 0, -100], ignoreIndex: -100, labelSmoothing: 0.1)
/// ```
public func crossEntropy(_ logits: Tensor, targets: [Int], ignoreIndex: Int = -100, labelSmoothing: Float = 0) -> Tensor {
    precondition(logits.rank == 2 && logits.shape[0] == targets.count,
                 "crossEntropy: logits \(logits.shape) and \(targets.count) targets")
    let C = logits.shape[1]
    for t in targets where t != ignoreIndex {
        precondition(t >= 0 && t < C, "crossEntropy: target \(t) outside 0..<\(C)")
    }
    let lp = logSoftmax(logits)
    let valid = targets.filter { $0 != ignoreIndex }.count
    let lpd = lp.detach()
    let p = lpd.fptr
    var total: Double = 0
    let eps = labelSmoothing
    for (i, t) in targets.enumerated() where t != ignoreIndex {
        var rowSum: Double = 0
        for c in 0..<C { rowSum += Double(p[i * C + c]) }
        total -= Double(1 - eps) * Double(p[i * C + t]) + Double(eps) / Double(C) * rowSum
    }
    let out = Tensor.scalar(valid == 0 ? .nan : Float(total / Double(valid)))
    return record(out, [lp]) { g in
        let scale = g.item() / Float(Swift.max(valid, 1))
        let gl = Tensor.zeros([targets.count, C])
        let q = gl.fptr
        for (i, t) in targets.enumerated() where t != ignoreIndex {
            for c in 0..<C { q[i * C + c] = -scale * eps / Float(C) }
            q[i * C + t] -= scale * (1 - eps)
        }
        return [gl]
    }
}

/// x / max(‖x‖₂, eps) along `axis`.
public func l2Normalize(_ x: Tensor, axis: Int = -1, eps: Float = 1e-12) -> Tensor {
    let norm = x.square().sum(axes: [axis], keepDims: true).sqrt()
    return x / norm.clamp(min: eps)
}
