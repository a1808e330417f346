import CEngine

/// Which keys each query may attend to.
public enum AttentionMask {
    /// Every query sees every key (bidirectional).
    case none
    /// Query i sees keys j ≤ i (aligned to the end when there are more keys than queries).
    case causal
    /// `keep` [B, S]: 1 for real tokens, 0 for padding; bidirectional otherwise.
    case keyPadding(Tensor)
    /// Causal and key padding together (a padded batch in a decoder).
    case causalKeyPadding(Tensor)
}

/// Scaled dot-product attention, fused: softmax(q kᵀ · scale + mask) v.
///
/// `q` is [B, H, T, D]; `k` and `v` are [B, Hkv, S, D] with H a multiple of Hkv (grouped-query
/// attention: query head h reads key/value head h / (H / Hkv)). Inputs may be strided views as
/// long as the last dim is dense. Rows whose keys are all masked give zeros.
///
/// ```swift
/// let out = scaledDotProductAttention(q, k, v, mask: .causal)   // [B, H, T, D]
/// ```
public func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: AttentionMask = .none,
                                      scale: Float? = nil) -> Tensor {
    precondition(q.rank == 4 && k.rank == 4 && v.rank == 4, "attention expects [B, H, T, D] tensors")
    let B = q.shape[0], H = q.shape[1], T = q.shape[2], D = q.shape[3]
    let Hkv = k.shape[1], S = k.shape[2]
    precondition(k.shape == [B, Hkv, S, D] && v.shape == k.shape && H % Hkv == 0,
                 "attention shapes q \(q.shape), k \(k.shape), v \(v.shape) do not fit")
    func dense(_ t: Tensor) -> Tensor { t.strides[3] == 1 ? t.detach() : t.detach().contiguous() }
    let qd = dense(q), kd = dense(k), vd = dense(v)
    var flags: Int32 = 0
    var keep: Tensor?
    switch mask {
    case .none: break
    case .causal: flags = 1
    case .keyPadding(let m): flags = 2; keep = m
    case .causalKeyPadding(let m): flags = 3; keep = m
    }
    if let m = keep { precondition(m.shape == [B, S], "key padding mask must be [B, S] = [\(B), \(S)], got \(m.shape)") }
    let keepC = keep?.detach().contiguous()
    var args = ke_attn_args()
    args.B = B; args.H = H; args.Hkv = Hkv; args.T = T; args.S = S; args.D = D
    args.q = UnsafePointer(qd.fptr); args.qs = (qd.strides[0], qd.strides[1], qd.strides[2])
    args.k = UnsafePointer(kd.fptr); args.ks = (kd.strides[0], kd.strides[1], kd.strides[2])
    args.v = UnsafePointer(vd.fptr); args.vs = (vd.strides[0], vd.strides[1], vd.strides[2])
    args.scale = scale ?? 1 / Float(D).squareRoot()
    args.flags = flags
    args.keep = keepC.map { UnsafePointer($0.fptr) }
    let needsGrad = GradMode.isEnabled && (q.requiresGrad || k.requiresGrad || v.requiresGrad)
    let probs = Tensor.empty([B, H, T, S])
    // The output (and in backward each input's gradient) takes the memory order of its input:
    // for q a permuted view of [B, T, H, D], `out.permute([0, 2, 1, 3]).reshape([B, T, H·D])`
    // is then a free view, and so are the gradients' way back through the head split.
    let out = Tensor.emptyOrdered([B, H, T, D], like: qd)
    args.os = (out.strides[0], out.strides[1], out.strides[2])
    ke_attention_fwd(&args, probs.fptr, out.fptr)
    if !needsGrad { return out }
    return record(out, [q, k, v]) { g in
        let gc = g.strides[3] == 1 ? g : g.contiguous()
        let gq = Tensor.emptyOrdered([B, H, T, D], like: qd)
        let gk = Tensor.emptyOrdered([B, Hkv, S, D], like: kd), gv = Tensor.emptyOrdered([B, Hkv, S, D], like: vd)
        var a = args
        a.gos = (gc.strides[0], gc.strides[1], gc.strides[2])
        a.gqs = (gq.strides[0], gq.strides[1], gq.strides[2])
        a.gks = (gk.strides[0], gk.strides[1], gk.strides[2])
        a.gvs = (gv.strides[0], gv.strides[1], gv.strides[2])
        // Keep the inputs alive while the kernel reads them.
        withExtendedLifetime((qd, kd, vd, keepC, gc)) {
            ke_attention_bwd(&a, probs.fptr, gc.fptr, gq.fptr, gk.fptr, gv.fptr)
        }
        return [gq, gk, gv]
    }
}

extension Tensor {
    /// An uninitialised tensor of `shape` whose memory order follows `like`'s strides (dims
    /// ordered by decreasing stride, the last dim dense), as PyTorch's `preserve_format`; dense
    /// row-major when `like` is not of that kind.
    static func emptyOrdered(_ shape: [Int], like t: Tensor) -> Tensor {
        let r = shape.count
        guard t.rank == r, r >= 2, t.strides[r - 1] == 1 else { return .empty(shape) }
        let order = (0..<r).sorted { (t.strides[$0], -$0) > (t.strides[$1], -$1) }
        if order == Array(0..<r) || order[r - 1] != r - 1 { return .empty(shape) }
        var inverse = [Int](repeating: 0, count: r)
        for (i, d) in order.enumerated() { inverse[d] = i }
        return withNoGrad { Tensor.empty(order.map { shape[$0] }).permute(inverse) }
    }
}
