import CEngine

/// A linear layer with a LoRA adapter, fused into one differentiable op:
///
///     y = x Wᵀ + b + scale · (dropout(x) Aᵀ) Bᵀ
///
/// with `weight` W [out, in] (nil: no base term), `loraA` A [r, in], `loraB` B [out, r]. This
/// is PEFT's LoRA forward: the dropout acts on the adapter's input `x` (not on the rank-r side),
/// with a counter-based mask keyed by `dropoutKey` (the mask of ``dropout(_:p:key:)``), redrawn
/// in the backward pass instead of stored, and applied one block of rows at a time so that the
/// dropped-out input never exists as a whole tensor. Only the rank-r product `dropout(x) Aᵀ` is
/// saved besides `x`; the adapter's contribution is accumulated straight into the output by
/// the GEMM, and the input gradient `g W + mask ⊙ (scale · g B) A` is built in one buffer. Gradients are computed
/// only for inputs that require them (a frozen W gets none).
///
/// ```swift
/// let y = loraLinear(x, weight: w, bias: nil, loraA: a, loraB: b, scale: 2, dropout: 0.05, dropoutKey: key)
/// ```
public func loraLinear(_ x: Tensor, weight: Tensor?, bias: Tensor?, loraA: Tensor, loraB: Tensor, scale: Float,
                       dropout p: Float = 0, dropoutKey key: UInt64 = 0) -> Tensor {
    let r = loraA.shape[0], inF = loraA.shape[1], outF = loraB.shape[0]
    precondition(loraA.rank == 2 && loraB.rank == 2 && loraB.shape[1] == r,
                 "loraLinear: adapter shapes A \(loraA.shape), B \(loraB.shape) do not fit")
    precondition(x.shape.last == inF, "loraLinear: input \(x.shape) does not end in \(inF)")
    precondition(p >= 0 && p < 1, "loraLinear: dropout probability must be in [0, 1), got \(p)")
    if let w = weight {
        precondition(w.shape == [outF, inF], "loraLinear: weight \(w.shape) is not [\(outF), \(inF)]")
        precondition(w.dtype == .float32, "loraLinear: the base weight must be float32 (add linear(...) for half weights)")
    }
    if let b = bias { precondition(b.count == outF, "loraLinear: bias \(b.shape) does not have \(outF) elements") }
    let x2 = (x.isContiguous ? x.detach() : x.detach().contiguous()).reshape([-1, inF])
    let rows = x2.shape[0], n = rows * inF
    precondition(p == 0 || n < 1 << 32, "loraLinear: \(n) input elements exceed the dropout counter")
    let w = weight.map { $0.isContiguous ? $0.detach() : $0.detach().contiguous() }
    let a = loraA.isContiguous ? loraA.detach() : loraA.detach().contiguous()
    let b = loraB.isContiguous ? loraB.detach() : loraB.detach().contiguous()
    let out = Tensor.empty(Array(x.shape.dropLast()) + [outF])
    let u = Tensor.empty([rows, r])
    if rows > 0 {
        var beta: Float = 0
        if let bias {
            let bc = bias.detach().contiguous()
            let po = out.fptr, pb = bc.fptr
            for row in 0..<rows { (po + row * outF).update(from: pb, count: outF) }
            beta = 1
        }
        if let w {
            ke_sgemm(0, 1, rows, outF, inF, 1, x2.fptr, inF, w.fptr, inF, beta, out.fptr, outF)
            beta = 1
        }
        if p > 0 {
            ke_lora_down(rows, inF, r, x2.fptr, a.fptr, key, p, u.fptr)
        } else {
            ke_sgemm(0, 1, rows, r, inF, 1, x2.fptr, inF, a.fptr, inF, 0, u.fptr, r)
        }
        ke_sgemm(0, 1, rows, outF, r, scale, u.fptr, r, b.fptr, r, beta, out.fptr, outF)
    }
    var inputs = [x, loraA, loraB]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    let xShape = x.shape
    return record(out, inputs) { g in
        let g2 = g.contiguous().reshape([-1, outF])
        let needX = x.requiresGrad, needA = loraA.requiresGrad, needB = loraB.requiresGrad
        var gx: Tensor? = nil, gA: Tensor? = nil, gB: Tensor? = nil, gW: Tensor? = nil, gBias: Tensor? = nil
        // t = scale · g B: the gradient of the rank-r activations.
        let t = Tensor.empty([rows, r])
        if needX || needA {
            ke_sgemm(0, 0, rows, r, outF, scale, g2.fptr, outF, b.fptr, r, 0, t.fptr, r)
        }
        if needX {
            let buf = Tensor.empty([rows, inF])
            if p > 0 {
                ke_lora_up_masked(rows, inF, r, t.fptr, a.fptr, key, p, buf.fptr)
            } else {
                ke_sgemm(0, 0, rows, inF, r, 1, t.fptr, r, a.fptr, inF, 0, buf.fptr, inF)
            }
            if let w { ke_sgemm(0, 0, rows, inF, outF, 1, g2.fptr, outF, w.fptr, inF, 1, buf.fptr, inF) }
            gx = buf.reshape(xShape)
        }
        if needA {
            let ga = Tensor.empty([r, inF])
            if p > 0 {
                ke_lora_grad_a(rows, inF, r, t.fptr, x2.fptr, key, p, ga.fptr)
            } else {
                ke_sgemm(1, 0, r, inF, rows, 1, t.fptr, r, x2.fptr, inF, 0, ga.fptr, inF)
            }
            gA = ga.reshape(loraA.shape)
        }
        if needB {
            let gb = Tensor.empty([outF, r])
            ke_sgemm(1, 0, outF, r, rows, scale, g2.fptr, outF, u.fptr, r, 0, gb.fptr, r)
            gB = gb.reshape(loraB.shape)
        }
        if let weight, weight.requiresGrad {
            let gw = Tensor.empty([outF, inF])
            ke_sgemm(1, 0, outF, inF, rows, 1, g2.fptr, outF, x2.fptr, inF, 0, gw.fptr, inF)
            gW = gw
        }
        if let bias, bias.requiresGrad {
            let gbias = Tensor.empty([outF])
            ke_sum_cols(rows, outF, g2.fptr, gbias.fptr, 0)
            gBias = gbias.reshape(bias.shape)
        }
        var grads: [Tensor?] = [gx, gA, gB]
        if weight != nil { grads.append(gW) }
        if bias != nil { grads.append(gBias) }
        return grads
    }
}
