import Foundation
import TensorKit

/// LoRA (low-rank adaptation) on the linear layers of any ``Module``, in PEFT's layout:
/// `W x + (alpha / r) · B A x` with `A` [r, in] (Kaiming-uniform) and `B` [out, r] (zeros), keys
/// `<layer>.lora_A.weight` / `<layer>.lora_B.weight`. Only the adapters train.
///
/// ```swift
/// let config = LoRAConfig(rank: 16, alpha: 32, dropout: 0.05)
/// let names = try LoRA.apply(config, to: llm, seed: 0)      // wraps q/k/v/o/gate/up/down projections
/// // … train …
/// try LoRA.saveAdapter(of: llm, config: config, to: "out/adapter")   // adapter_model.safetensors + adapter_config.json
/// LoRA.merge(into: llm)                                          // W += (alpha/r) B A; adapters removed
/// ```
public struct LoRAConfig: Codable, Equatable, Sendable {
    public var rank: Int
    public var alpha: Float
    public var dropout: Float
    /// Last key component of the linear layers to wrap.
    public var targetModules: [String]
    /// Only the blocks with these indices (the N of a `layers.N.` key; PEFT's
    /// `layers_to_transform`); nil: every block. Adapting only the top blocks makes the backward
    /// pass stop there (the frozen blocks below record no graph).
    public var layers: [Int]?

    public static let defaultTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    public init(rank: Int = 16, alpha: Float = 32, dropout: Float = 0.05, targetModules: [String] = LoRAConfig.defaultTargets,
                layers: [Int]? = nil) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targetModules = targetModules
        self.layers = layers
    }

    /// Whether the layer at dotted `key` lies in ``layers``.
    func includes(key: String) -> Bool {
        guard let layers else { return true }
        let parts = key.split(separator: ".")
        for i in parts.indices.dropLast() where parts[i] == "layers" {
            if let n = Int(parts[i + 1]) { return layers.contains(n) }
        }
        return false
    }
}

/// Errors reading or applying adapters; each names the file or key.
public enum LoRAError: Error, CustomStringConvertible {
    case noTargets([String])
    case badAdapter(file: String, detail: String)

    public var description: String {
        switch self {
        case .noTargets(let t): return "no linear layer matches the LoRA targets \(t)"
        case .badAdapter(let f, let d): return "\(f): \(d)"
        }
    }
}

/// The source of the LoRA dropout masks of one model (shared by its adapted layers, so that a
/// model's masks depend only on its own seed). Each adapted layer call takes the next key of a
/// seeded sequence; the mask itself is counter-based (``dropout(_:p:key:)``), drawn in C and
/// redrawn from the key in the backward pass. As a ``RecomputationState`` it lets gradient
/// checkpointing replay a layer's keys (hence its masks) exactly when the layer is re-run.
///
/// ```swift
/// let source = DropoutSource(seed: 1)
/// let saved = source.snapshot()
/// // … forward takes keys …
/// source.restore(saved)          // the same keys, the same masks again
/// ```
public final class DropoutSource: RecomputationState, @unchecked Sendable {
    private let lock = NSLock()
    private var rng: RNG
    public init(seed: UInt64) { rng = RNG(seed: seed) }
    public func reseed(_ seed: UInt64) { lock.lock(); rng = RNG(seed: seed); lock.unlock() }
    /// The key sequence's current state.
    public func snapshot() -> Any { lock.lock(); defer { lock.unlock() }; return rng }
    /// Puts back a state from ``snapshot()``.
    public func restore(_ state: Any) {
        guard let r = state as? RNG else { preconditionFailure("DropoutSource.restore: expected an RNG state, got \(type(of: state))") }
        lock.lock(); rng = r; lock.unlock()
    }
    /// The key of the next mask.
    public func nextKey() -> UInt64 {
        lock.lock(); defer { lock.unlock() }
        return rng.next()
    }
}

public enum LoRA {
    /// Reseeds the dropout generator of `module`'s adapters.
    public static func seedDropout(of module: Module, _ seed: UInt64) {
        for (_, l) in targets(in: module, config: LoRAConfig(targetModules: allLinearNames(module))) { l.loraDropoutSource?.reseed(seed) }
    }

    /// Every linear layer whose key's last component is a target, with its dotted key.
    public static func targets(in module: Module, config: LoRAConfig) -> [(String, Linear)] {
        var out: [(String, Linear)] = []
        func walk(_ m: Module, _ prefix: String) {
            for (k, child) in m.namedChildren() {
                let key = prefix.isEmpty ? k : prefix + "." + k
                if let l = child as? Linear, config.targetModules.contains(String(k.split(separator: ".").last ?? "")) {
                    if config.includes(key: key) { out.append((key, l)) }
                } else if !(child is Linear) {
                    walk(child, key)
                }
            }
        }
        walk(module, "")
        return out
    }

    /// Adds adapters to the target layers, freezes every other parameter, and returns the
    /// wrapped layer keys.
    @discardableResult
    public static func apply(_ config: LoRAConfig, to module: Module, seed: UInt64 = 0) throws -> [String] {
        let layers = targets(in: module, config: config)
        guard !layers.isEmpty else { throw LoRAError.noTargets(config.targetModules) }
        module.freeze()
        var rng = RNG(seed: seed)
        let source = DropoutSource(seed: seed &+ 1)
        for (_, l) in layers {
            let out = l.weight.shape[0], inF = l.weight.shape[1]
            let a = Linear(inF, config.rank, bias: false, rng: &rng)   // U(±1/√in) = PEFT's kaiming_uniform(a=√5)
            let b = Linear(config.rank, out, bias: false, rng: &rng)
            b.weight = Tensor.zeros([out, config.rank]).requiringGrad()
            l.loraA = a
            l.loraB = b
            l.loraScale = config.alpha / Float(config.rank)
            l.loraDropout = config.dropout
            l.loraDropoutSource = source
        }
        return layers.map(\.0)
    }

    /// Folds every adapter into its base weight (W += scale · B A) and removes the adapters.
    public static func merge(into module: Module) {
        for (_, l) in targets(in: module, config: LoRAConfig(targetModules: allLinearNames(module))) {
            guard let a = l.loraA, let b = l.loraB else { continue }
            let delta = withNoGrad { matmul(b.weight, a.weight) * l.loraScale }
            let w = l.weight.dtype == .float32 ? l.weight : l.weight.to(.float32)
            l.weight = withNoGrad { (w + delta).contiguous() }.detach()
            l.loraA = nil
            l.loraB = nil
            l.loraScale = 0
        }
    }

    static func allLinearNames(_ module: Module) -> [String] {
        var names = Set<String>()
        func walk(_ m: Module) {
            for (k, c) in m.namedChildren() {
                if c is Linear { names.insert(String(k.split(separator: ".").last ?? "")) } else { walk(c) }
            }
        }
        walk(module)
        return Array(names)
    }

    /// Adapter tensors keyed as PEFT saves them (`base_model.model.` + the module key).
    public static func adapterState(of module: Module) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (k, t) in module.namedParameters() where k.contains(".lora_A.") || k.contains(".lora_B.") {
            out["base_model.model." + k] = t.detach()
        }
        return out
    }
}
