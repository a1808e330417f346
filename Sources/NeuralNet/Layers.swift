import TensorKit

/// PyTorch's default initialisation for a layer with `fanIn` inputs: U(-1/√fanIn, 1/√fanIn).
func defaultUniform(_ shape: [Int], fanIn: Int, rng: inout RNG) -> Tensor {
    let bound = 1 / Float(max(fanIn, 1)).squareRoot()
    return Tensor.uniform(shape, low: -bound, high: bound, rng: &rng)
}

/// y = x Wᵀ + b with W of shape [out, in] (keys `weight`, `bias`).
public final class Linear: Module {
    @Param("weight") public var weight: Tensor
    @Param("bias") public var bias: Tensor?
    /// LoRA adapter (PEFT's names): `lora_A` [r, in] and `lora_B` [out, r]; see ``addLoRA(rank:alpha:dropout:rng:)``.
    @Child("lora_A") public var loraA: Linear?
    @Child("lora_B") public var loraB: Linear?
    /// alpha / r of the adapter.
    public internal(set) var loraScale: Float = 0
    public var loraDropout: Float = 0
    public var loraDropoutSource: DropoutSource?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout RNG) {
        super.init()
        weight = defaultUniform([outFeatures, inFeatures], fanIn: inFeatures, rng: &rng).requiringGrad()
        self.bias = bias ? defaultUniform([outFeatures], fanIn: inFeatures, rng: &rng).requiringGrad() : nil
        loraA = nil
        loraB = nil
    }

    /// With an adapter, `W x + b + scale · B A dropout(x)` as one fused op (``loraLinear``) when
    /// the weight is float32.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if let a = loraA, let b = loraB, weight.dtype == .float32 {
            let p = training ? loraDropout : 0
            let key = p > 0 ? (loraDropoutSource ?? DropoutSource(seed: 0)).nextKey() : 0
            return loraLinear(x, weight: weight, bias: bias, loraA: a.weight, loraB: b.weight, scale: loraScale,
                              dropout: p, dropoutKey: key)
        }
        let y = linear(x, weight: weight, bias: bias)
        guard let a = loraA, let b = loraB else { return y }
        let p = training ? loraDropout : 0
        let key = p > 0 ? (loraDropoutSource ?? DropoutSource(seed: 0)).nextKey() : 0
        return y + loraLinear(x, weight: nil, bias: nil, loraA: a.weight, loraB: b.weight, scale: loraScale, dropout: p, dropoutKey: key)
    }
}

/// Layer normalisation over the last axis (keys `weight`, `bias`).
public final class LayerNorm: Module {
    @Param("weight") public var weight: Tensor?
    @Param("bias") public var bias: Tensor?
    public let eps: Float

    public init(_ dim: Int, eps: Float = 1e-5, affine: Bool = true) {
        self.eps = eps
        super.init()
        weight = affine ? Tensor.ones([dim]).requiringGrad() : nil
        bias = affine ? Tensor.zeros([dim]).requiringGrad() : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, weight: weight, bias: bias, eps: eps) }
}

/// RMS normalisation over the last axis (key `weight`).
public final class RMSNorm: Module {
    @Param("weight") public var weight: Tensor
    public let eps: Float

    public init(_ dim: Int, eps: Float = 1e-5) {
        self.eps = eps
        super.init()
        weight = Tensor.ones([dim]).requiringGrad()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { rmsNorm(x, weight: weight, eps: eps) }
}

/// A lookup table of `count` vectors of size `dim` (key `weight`).
public final class Embedding: Module {
    @Param("weight") public var weight: Tensor

    public init(_ count: Int, _ dim: Int, rng: inout RNG) {
        super.init()
        weight = Tensor.randn([count, dim], rng: &rng).requiringGrad()
    }

    /// Vectors for `ids` laid out as `shape + [dim]`.
    public func callAsFunction(_ ids: [Int], shape: [Int]? = nil) -> Tensor {
        embedding(weight, ids: ids, idsShape: shape)
    }
}

/// Activation functions by the names configs use.
public enum Activation: String, Sendable, Codable {
    case gelu, geluTanh = "gelu_pytorch_tanh", quickGelu = "quick_gelu", silu, relu

    public init?(configName: String) {
        switch configName {
        case "gelu", "gelu_new_erf": self = .gelu
        case "gelu_pytorch_tanh", "gelu_new", "gelu_fast": self = .geluTanh
        case "quick_gelu": self = .quickGelu
        case "silu", "swish": self = .silu
        case "relu": self = .relu
        default: return nil
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .gelu: return x.gelu()
        case .geluTanh: return x.geluTanh()
        case .quickGelu: return x.quickGelu()
        case .silu: return x.silu()
        case .relu: return x.relu()
        }
    }
}

/// Two-layer perceptron `fc2(act(fc1(x)))` (keys configurable, `fc1`/`fc2` by default).
public final class MLP: Module {
    @Child("fc1") public var fc1: Linear
    @Child("fc2") public var fc2: Linear
    public let activation: Activation

    public init(inFeatures: Int, hidden: Int, outFeatures: Int? = nil, activation: Activation = .gelu, rng: inout RNG) {
        self.activation = activation
        super.init()
        fc1 = Linear(inFeatures, hidden, rng: &rng)
        fc2 = Linear(hidden, outFeatures ?? inFeatures, rng: &rng)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { fc2(activation(fc1(x))) }
}

/// Llama's gated MLP `down(silu(gate(x)) * up(x))` (keys `gate_proj`, `up_proj`, `down_proj`).
public final class GatedMLP: Module {
    @Child("gate_proj") public var gate: Linear
    @Child("up_proj") public var up: Linear
    @Child("down_proj") public var down: Linear

    public init(dim: Int, hidden: Int, bias: Bool = false, rng: inout RNG) {
        super.init()
        gate = Linear(dim, hidden, bias: bias, rng: &rng)
        up = Linear(dim, hidden, bias: bias, rng: &rng)
        down = Linear(hidden, dim, bias: bias, rng: &rng)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { down(siluMul(gate(x), up(x))) }
}

/// Multi-head attention with separate q/k/v/o projections (keys `q_proj`, `k_proj`, `v_proj`,
/// `o_proj`) and grouped-query support (`kvHeads` ≤ `heads`).
///
/// ```swift
/// let attn = MultiHeadAttention(dim: 64, heads: 4, rng: &rng)
/// let y = attn(x, mask: .keyPadding(keep))   // x [B, T, 64]
/// ```
public final class MultiHeadAttention: Module {
    @Child("q_proj") public var qProj: Linear
    @Child("k_proj") public var kProj: Linear
    @Child("v_proj") public var vProj: Linear
    @Child("o_proj") public var oProj: Linear
    public let heads: Int, kvHeads: Int, headDim: Int

    public init(dim: Int, heads: Int, kvHeads: Int? = nil, headDim: Int? = nil, bias: Bool = true, rng: inout RNG) {
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.headDim = headDim ?? dim / heads
        super.init()
        qProj = Linear(dim, heads * self.headDim, bias: bias, rng: &rng)
        kProj = Linear(dim, self.kvHeads * self.headDim, bias: bias, rng: &rng)
        vProj = Linear(dim, self.kvHeads * self.headDim, bias: bias, rng: &rng)
        oProj = Linear(heads * self.headDim, dim, bias: bias, rng: &rng)
    }

    /// Splits [B, T, n·D] into [B, n, T, D].
    public func splitHeads(_ x: Tensor, _ n: Int) -> Tensor {
        x.reshape([x.shape[0], x.shape[1], n, headDim]).permute([0, 2, 1, 3])
    }

    /// `rotary` (if given) is applied to queries and keys in [B, H, T, D] layout.
    public func callAsFunction(_ x: Tensor, mask: AttentionMask = .none, rotary: ((Tensor) -> Tensor)? = nil) -> Tensor {
        var q = splitHeads(qProj(x), heads), k = splitHeads(kProj(x), kvHeads)
        let v = splitHeads(vProj(x), kvHeads)
        if let r = rotary { q = r(q); k = r(k) }
        let o = scaledDotProductAttention(q, k, v, mask: mask)
        return oProj(o.permute([0, 2, 1, 3]).reshape([x.shape[0], x.shape[1], heads * headDim]))
    }
}
