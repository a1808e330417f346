import CEngine
import TensorKit

/// A set of parameters sharing optimiser settings. `lrScale` multiplies the optimiser's
/// learning rate (layer-wise decay); `weightDecay` replaces the default when set.
public struct ParamGroup {
    public var params: [Tensor]
    public var lrScale: Float
    public var weightDecay: Float?
    public var name: String
    public init(params: [Tensor], lrScale: Float = 1, weightDecay: Float? = nil, name: String = "") {
        self.params = params
        self.lrScale = lrScale
        self.weightDecay = weightDecay
        self.name = name
    }
}

/// State shared by the optimisers: groups, the current learning rate and the step count.
public protocol Optimizer: AnyObject {
    var groups: [ParamGroup] { get }
    var learningRate: Float { get set }
    var stepCount: Int { get }
    func step()
    /// Optimiser buffers as named tensors (for checkpoints) and their restoration.
    func stateTensors() -> [String: Tensor]
    func loadState(_ state: [String: Tensor]) throws
}

extension Optimizer {
    /// Clears every parameter's gradient.
    public func zeroGrad() { for g in groups { for p in g.params { p.zeroGrad() } } }
}

public enum OptimizerError: Error, CustomStringConvertible {
    case stateMismatch(String)
    public var description: String { "optimizer state does not match the parameters: \(self.detail)" }
    var detail: String { if case .stateMismatch(let s) = self { return s }; return "" }
}

/// AdamW with decoupled weight decay, as `torch.optim.AdamW` computes it.
///
/// ```swift
/// let opt = AdamW(groups: [ParamGroup(params: model.parameters())], learningRate: 1e-3, weightDecay: 0.05)
/// loss.backward(); opt.step(); opt.zeroGrad()
/// ```
public final class AdamW: Optimizer {
    public private(set) var groups: [ParamGroup]
    public var learningRate: Float
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    public private(set) var stepCount = 0
    private var m: [[Tensor]], v: [[Tensor]]

    public init(groups: [ParamGroup], learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999,
                eps: Float = 1e-8, weightDecay: Float = 0.01) {
        self.groups = groups
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        m = groups.map { $0.params.map { Tensor.zeros($0.shape) } }
        v = groups.map { $0.params.map { Tensor.zeros($0.shape) } }
    }

    public func step() {
        stepCount += 1
        let bc1 = 1 - powf(beta1, Float(stepCount)), bc2 = 1 - powf(beta2, Float(stepCount))
        for (gi, group) in groups.enumerated() {
            let lr = learningRate * group.lrScale, wd = group.weightDecay ?? weightDecay
            for (pi, p) in group.params.enumerated() {
                guard let g = p.grad else { continue }
                precondition(p.isContiguous, "AdamW: parameter must be dense")
                let gc = g.contiguous()
                ke_adamw_step(p.count, p.fptr, gc.fptr, m[gi][pi].fptr, v[gi][pi].fptr, lr, beta1, beta2, eps, wd, bc1, bc2)
            }
        }
    }

    public func stateTensors() -> [String: Tensor] {
        var out: [String: Tensor] = ["step": Tensor.scalar(Float(stepCount))]
        for gi in 0..<groups.count {
            for pi in 0..<groups[gi].params.count {
                out["\(gi).\(pi).exp_avg"] = m[gi][pi]
                out["\(gi).\(pi).exp_avg_sq"] = v[gi][pi]
            }
        }
        return out
    }

    public func loadState(_ state: [String: Tensor]) throws {
        guard let s = state["step"] else { throw OptimizerError.stateMismatch("no 'step' entry") }
        for gi in 0..<groups.count {
            for pi in 0..<groups[gi].params.count {
                for (name, dst) in [("exp_avg", m[gi][pi]), ("exp_avg_sq", v[gi][pi])] {
                    guard let t = state["\(gi).\(pi).\(name)"], t.shape == dst.shape else {
                        throw OptimizerError.stateMismatch("entry \(gi).\(pi).\(name) is missing or mis-shaped")
                    }
                    let src = t.to(.float32).contiguous()
                    withExtendedLifetime(src) { dst.fptr.update(from: src.fptr, count: dst.count) }
                }
            }
        }
        stepCount = Int(s.item())
    }
}

/// SGD with momentum (PyTorch semantics: no dampening, optional weight decay added to the gradient).
public final class SGD: Optimizer {
    public private(set) var groups: [ParamGroup]
    public var learningRate: Float
    public let momentum: Float, weightDecay: Float
    public private(set) var stepCount = 0
    private var buffers: [[Tensor?]]

    public init(groups: [ParamGroup], learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
        self.groups = groups
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        buffers = groups.map { $0.params.map { _ in nil } }
    }

    public func step() {
        stepCount += 1
        for (gi, group) in groups.enumerated() {
            let lr = learningRate * group.lrScale, wd = group.weightDecay ?? weightDecay
            for (pi, p) in group.params.enumerated() {
                guard let g = p.grad else { continue }
                let gc = g.contiguous()
                let n = p.count, pp = p.fptr, gp = gc.fptr
                var d = [Float](repeating: 0, count: n)
                for i in 0..<n { d[i] = gp[i] + wd * pp[i] }
                if momentum != 0 {
                    let buf: Tensor
                    if let b = buffers[gi][pi] {
                        buf = b
                        let bp = buf.fptr
                        for i in 0..<n { bp[i] = momentum * bp[i] + d[i] }
                    } else {
                        buf = Tensor(d, shape: p.shape)
                        buffers[gi][pi] = buf
                    }
                    let bp = buf.fptr
                    for i in 0..<n { d[i] = bp[i] }
                }
                for i in 0..<n { pp[i] -= lr * d[i] }
            }
        }
    }

    public func stateTensors() -> [String: Tensor] {
        var out: [String: Tensor] = ["step": Tensor.scalar(Float(stepCount))]
        for gi in 0..<groups.count {
            for pi in 0..<groups[gi].params.count { if let b = buffers[gi][pi] { out["\(gi).\(pi).momentum_buffer"] = b } }
        }
        return out
    }

    public func loadState(_ state: [String: Tensor]) throws {
        guard let s = state["step"] else { throw OptimizerError.stateMismatch("no 'step' entry") }
        for gi in 0..<groups.count {
            for pi in 0..<groups[gi].params.count {
                buffers[gi][pi] = state["\(gi).\(pi).momentum_buffer"].map { $0.to(.float32).copy() }
            }
        }
        stepCount = Int(s.item())
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Learning-rate schedules as functions of the step (0-based).
public enum LRSchedule: Sendable {
    /// Linear warm-up from 0 to `base` over `warmup` steps, then cosine decay to `minimum` at `total`.
    case warmupCosine(base: Float, warmup: Int, total: Int, minimum: Float = 0)
    /// Linear warm-up, then linear decay to 0 at `total` (transformers' linear schedule).
    case warmupLinear(base: Float, warmup: Int, total: Int)
    case constant(Float)

    public func rate(at step: Int) -> Float {
        switch self {
        case .constant(let v): return v
        case .warmupCosine(let base, let warmup, let total, let minimum):
            if step < warmup { return base * Float(step + 1) / Float(warmup) }
            let progress = Float(step - warmup) / Float(max(1, total - warmup))
            let c = 0.5 * (1 + cosf(Float.pi * min(progress, 1)))
            return minimum + (base - minimum) * c
        case .warmupLinear(let base, let warmup, let total):
            if step < warmup { return base * Float(step) / Float(max(1, warmup)) }
            return base * max(0, Float(total - step) / Float(max(1, total - warmup)))
        }
    }
}

/// Scales gradients so that their global L2 norm is at most `maxNorm` (PyTorch's
/// `clip_grad_norm_`); returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ params: [Tensor], maxNorm: Float) -> Float {
    var total: Double = 0
    withNoGrad {
        for p in params { if let g = p.grad { total += Double(g.square().sum().item()) } }
    }
    let norm = Float(total.squareRoot())
    let coef = maxNorm / (norm + 1e-6)
    if coef < 1 {
        for p in params { if let g = p.grad { p.grad = withNoGrad { g * coef } } }
    }
    return norm
}
