import Foundation
import NeuralNet
import TensorKit

/// The shape of an EVA02 vision tower as LLM2CLIP uses it.
public struct EVA02Config: Sendable, Equatable, Codable {
    public var imageSize: Int
    public var patchSize: Int
    public var width: Int
    public var layers: Int
    public var heads: Int
    public var mlpHidden: Int
    /// Output width of `head` (the CLIP embedding size).
    public var embedDim: Int
    /// Patch-grid side the rotary tables were pretrained at (positions are rescaled to it).
    public var ropePretrainGrid: Int
    public var layerNormEps: Float = 1e-6
    public var ropeTheta: Double = 10000

    public init(imageSize: Int, patchSize: Int, width: Int, layers: Int, heads: Int, mlpHidden: Int, embedDim: Int,
                ropePretrainGrid: Int? = nil) {
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.width = width
        self.layers = layers
        self.heads = heads
        self.mlpHidden = mlpHidden
        self.embedDim = embedDim
        self.ropePretrainGrid = ropePretrainGrid ?? imageSize / patchSize
    }

    public var grid: Int { imageSize / patchSize }
    public var headDim: Int { width / heads }

    /// EVA02-CLIP-L/14 at 336 px with LLM2CLIP's 1280-wide head.
    public static let l14_336 = EVA02Config(imageSize: 336, patchSize: 14, width: 1024, layers: 24, heads: 16, mlpHidden: 2730,
                                            embedDim: 1280, ropePretrainGrid: 16)
    /// EVA02-CLIP-L/14 at 224 px.
    public static let l14_224 = EVA02Config(imageSize: 224, patchSize: 14, width: 1024, layers: 24, heads: 16, mlpHidden: 2730,
                                            embedDim: 1280, ropePretrainGrid: 16)
    /// EVA02-CLIP-B/16 at 224 px.
    public static let b16 = EVA02Config(imageSize: 224, patchSize: 16, width: 768, layers: 12, heads: 12, mlpHidden: 2048,
                                        embedDim: 512, ropePretrainGrid: 16)
    /// A small tower for training from scratch on a CPU (64 px, 8 px patches, 6 blocks).
    public static let small = EVA02Config(imageSize: 64, patchSize: 8, width: 192, layers: 6, heads: 3, mlpHidden: 512,
                                          embedDim: 256)
    /// A very small tower for smoke runs and tests (64 px, 16 px patches, 2 blocks).
    public static let tiny = EVA02Config(imageSize: 64, patchSize: 16, width: 64, layers: 2, heads: 2, mlpHidden: 170,
                                         embedDim: 64)

    public static let presets: [String: EVA02Config] = [
        "eva02-l14-336": .l14_336, "eva02-l14-224": .l14_224, "eva02-b16": .b16, "eva02-small": .small, "eva02-tiny": .tiny,
    ]
}

/// EVA02 attention: q and v biases, no k bias (`q_proj`, `k_proj`, `v_proj`), 2-D rotary
/// embedding on the patch tokens (interleaved pairs), a LayerNorm (`inner_attn_ln`) before the
/// output projection (`proj`).
public final class EVA02Attention: Module {
    @Child("q_proj") public var q: Linear
    @Child("k_proj") public var k: Linear
    @Child("v_proj") public var v: Linear
    @Child("inner_attn_ln") public var innerNorm: LayerNorm
    @Child("proj") public var proj: Linear
    let heads: Int

    init(_ c: EVA02Config, rng: inout RNG) {
        heads = c.heads
        super.init()
        q = Linear(c.width, c.width, rng: &rng)
        k = Linear(c.width, c.width, bias: false, rng: &rng)
        v = Linear(c.width, c.width, rng: &rng)
        innerNorm = LayerNorm(c.width, eps: c.layerNormEps)
        proj = Linear(c.width, c.width, rng: &rng)
    }

    func callAsFunction(_ x: Tensor, cos: Tensor, sin: Tensor) -> Tensor {
        let B = x.shape[0], N = x.shape[1], D = x.shape[2], hd = D / heads
        func split(_ t: Tensor) -> Tensor { t.reshape([B, N, heads, hd]).permute([0, 2, 1, 3]) }
        // Rotary on patch tokens only; the class token passes through. The rotary and attention
        // outputs keep the [B, N, H, hd] memory order, so merging the heads below is a view.
        func rope(_ t: Tensor) -> Tensor { applyRotaryInterleaved(t, cos: cos, sin: sin, skipLeading: 1) }
        let o = scaledDotProductAttention(rope(split(q(x))), rope(split(k(x))), split(v(x)))
        return proj(innerNorm(o.permute([0, 2, 1, 3]).reshape([B, N, D])))
    }
}

/// SwiGLU with a LayerNorm before the down projection: `w3(ffn_ln(silu(w1 x) · w2 x))`.
public final class EVA02SwiGLU: Module {
    @Child("w1") public var w1: Linear
    @Child("w2") public var w2: Linear
    @Child("ffn_ln") public var norm: LayerNorm
    @Child("w3") public var w3: Linear

    init(_ c: EVA02Config, rng: inout RNG) {
        super.init()
        w1 = Linear(c.width, c.mlpHidden, rng: &rng)
        w2 = Linear(c.width, c.mlpHidden, rng: &rng)
        norm = LayerNorm(c.mlpHidden, eps: c.layerNormEps)
        w3 = Linear(c.mlpHidden, c.width, rng: &rng)
    }

    func callAsFunction(_ x: Tensor) -> Tensor { w3(norm(w1(x).silu() * w2(x))) }
}

/// A pre-LN EVA02 block (`norm1`, `attn`, `norm2`, `mlp`).
public final class EVA02Block: Module {
    @Child("norm1") public var norm1: LayerNorm
    @Child("attn") public var attention: EVA02Attention
    @Child("norm2") public var norm2: LayerNorm
    @Child("mlp") public var mlp: EVA02SwiGLU

    init(_ c: EVA02Config, rng: inout RNG) {
        super.init()
        norm1 = LayerNorm(c.width, eps: c.layerNormEps)
        attention = EVA02Attention(c, rng: &rng)
        norm2 = LayerNorm(c.width, eps: c.layerNormEps)
        mlp = EVA02SwiGLU(c, rng: &rng)
    }

    func callAsFunction(_ x: Tensor, cos: Tensor, sin: Tensor) -> Tensor {
        let h = x + attention(norm1(x), cos: cos, sin: sin)
        return h + mlp(norm2(h))
    }
}

/// `patch_embed.proj`.
public final class EVA02PatchEmbed: Module {
    @Child("proj") public var proj: PatchConv
    init(_ c: EVA02Config, rng: inout RNG) {
        super.init()
        proj = PatchConv(channels: 3, width: c.width, patch: c.patchSize, bias: true, rng: &rng)
    }
}

/// Common interface of the image towers an LLM2CLIP model can hold.
public protocol ImageTower: Module {
    /// Input side in pixels the tower was configured for.
    var imageSize: Int { get }
    /// Width of the output embedding.
    var outputDim: Int { get }
    /// [B, 3, H, W] normalised pixels → [B, outputDim] (not normalised).
    func embed(_ pixels: Tensor) -> Tensor
}

/// The EVA02 vision tower in LLM2CLIP's layout (keys `cls_token`, `pos_embed`, `patch_embed.proj`,
/// `blocks.N.*`, `norm`, `head`); images of another size than configured get a bicubically
/// interpolated position table and rotary tables for their grid.
///
/// ```swift
/// var rng = RNG(seed: 0)
/// let tower = EVA02VisionTower(.small, rng: &rng)
/// let emb = tower.embed(pixels)     // [B, 256]
/// ```
public final class EVA02VisionTower: Module, ImageTower {
    @Param("cls_token") public var clsToken: Tensor
    @Param("pos_embed") public var posEmbed: Tensor
    @Child("patch_embed") public var patchEmbed: EVA02PatchEmbed
    @Child("blocks") public var blocks: [EVA02Block]
    @Child("norm") public var norm: LayerNorm
    @Child("head") public var head: Linear
    public let config: EVA02Config
    private var ropeCache: [Int: (Tensor, Tensor)] = [:]
    private let ropeLock = NSLock()

    public init(_ c: EVA02Config, rng: inout RNG) {
        config = c
        super.init()
        clsToken = (Tensor.randn([1, 1, c.width], rng: &rng) * 0.02).detach().requiringGrad()
        posEmbed = (Tensor.randn([1, c.grid * c.grid + 1, c.width], rng: &rng) * 0.02).detach().requiringGrad()
        patchEmbed = EVA02PatchEmbed(c, rng: &rng)
        blocks = (0..<c.layers).map { _ in EVA02Block(c, rng: &rng) }
        norm = LayerNorm(c.width, eps: c.layerNormEps)
        head = Linear(c.width, c.embedDim, rng: &rng)
    }

    public var imageSize: Int { config.imageSize }
    public var outputDim: Int { config.embedDim }

    /// Rotary tables for a grid side (cached).
    func rope(grid: Int) -> (Tensor, Tensor) {
        ropeLock.lock()
        defer { ropeLock.unlock() }
        if let t = ropeCache[grid] { return t }
        let t = evaRopeTables(headDim: config.headDim, gridH: grid, gridW: grid, ptSeqLen: config.ropePretrainGrid, theta: config.ropeTheta)
        ropeCache[grid] = t
        return t
    }

    /// Tokens after the final norm, [B, 1 + patches, width].
    public func tokens(_ pixels: Tensor) -> Tensor {
        precondition(pixels.rank == 4 && pixels.shape[1] == 3, "EVA02 expects [B, 3, H, W] pixels, got \(pixels.shape)")
        precondition(pixels.shape[2] == pixels.shape[3] && pixels.shape[2] % config.patchSize == 0,
                     "EVA02 expects square images whose side is a multiple of \(config.patchSize), got \(pixels.shape)")
        let B = pixels.shape[0], D = config.width
        let grid = pixels.shape[2] / config.patchSize
        let patches = patchEmbed.proj(pixels)
        var pos = posEmbed
        if pos.shape[1] != grid * grid + 1 {
            pos = interpolatedPositions(pos, tokens: grid * grid + 1, hasClassToken: true).reshape([1, grid * grid + 1, D])
        }
        var x = concat([clsToken.expand([B, 1, D]), patches], axis: 1) + pos
        let (cos, sin) = rope(grid: grid)
        for b in blocks { x = b(x, cos: cos, sin: sin) }
        return norm(x)
    }

    public func embed(_ pixels: Tensor) -> Tensor {
        let t = tokens(pixels)
        return head(t.slice(axis: 1, 0, 1).reshape([t.shape[0], config.width]))
    }

    /// Accepts the original EVA names `attn.q_bias` / `attn.v_bias` for the q/v biases.
    public static func renameOriginalKeys(_ state: [String: Tensor], prefix: String = "") -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (k, v) in state {
            var key = k
            if k.hasPrefix(prefix + "blocks.") {
                if k.hasSuffix(".attn.q_bias") { key = String(k.dropLast("q_bias".count)) + "q_proj.bias" }
                if k.hasSuffix(".attn.v_bias") { key = String(k.dropLast("v_bias".count)) + "v_proj.bias" }
            }
            if k.hasSuffix("rope.freqs_cos") || k.hasSuffix("rope.freqs_sin") { continue }
            out[key] = v
        }
        return out
    }
}
